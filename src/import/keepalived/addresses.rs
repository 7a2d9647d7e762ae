//! keepalived `virtual_ipaddress` and `unicast_peer` → a router's VIPs and unicast peers.

use super::*;

impl Cx<'_> {
    /// The instance's VIPs onto its router, saying which came from another family or from
    /// virtual_ipaddress_excluded.
    pub(super) fn place_vips(
        &mut self,
        vips: &[(IpNet, Location, bool)],
        family: Family,
        r: &mut Router,
    ) {
        for (a, loc, excluded) in vips {
            let fam = match a {
                IpNet::V4(_) => Family::Ipv4,
                IpNet::V6(_) => Family::Ipv6,
            };
            if fam != family {
                self.d.warn(
                    loc.clone(),
                    format!(
                        "{a}: an {fam} address in an {family} instance: netvrrp runs a separate {fam} election for it on the same VRID"
                    ),
                );
                r.note(
                    fam.as_str(),
                    format!(
                        "{loc}: {a} came from an {family} instance: netvrrp elects {fam} on its own (same VRID, same settings)"
                    ),
                );
            } else if *excluded {
                r.note(
                    fam.as_str(),
                    format!(
                        "{loc}: {a} was in virtual_ipaddress_excluded: netvrrp advertises every VIP, so a keepalived peer sees one more address"
                    ),
                );
            }
            match a {
                IpNet::V4(n) => r.ipv4.push(*n),
                IpNet::V6(n) => r.ipv6.push(*n),
            }
        }
    }

    /// `family`: the instance's; keepalived skips a peer of the other family ("MUST be of
    /// the same family"), and so does the import, saying so.
    pub(super) fn unicast(
        &mut self,
        r: &mut Router,
        family: Family,
        mut peers: Vec<(IpAddr, Location)>,
    ) {
        peers.retain(|(a, loc)| {
            let fam = if a.is_ipv4() {
                Family::Ipv4
            } else {
                Family::Ipv6
            };
            if fam == family {
                return true;
            }
            self.d.warn(
                loc.clone(),
                format!("unicast_peer {a}: an {fam} peer in an {family} instance: keepalived skips it (the families must match); not translated"),
            );
            r.note(
                "unicast-peers",
                format!("{loc}: unicast_peer {a}: not translated: keepalived skips a peer of the other family"),
            );
            false
        });
        if peers.is_empty() {
            return;
        }
        let mut ok = true;
        for (a, loc) in &peers {
            if let IpAddr::V6(v6) = a
                && (v6.segments()[0] & 0xffc0) != 0xfe80
            {
                self.d.warn(
                    loc.clone(),
                    format!("unicast_peer {a}: netvrrp's IPv6 unicast peers are link-local addresses; the router stays multicast"),
                );
                ok = false;
            }
        }
        // Whether every family has a peer is checked once both families of a VRID are
        // together (merge_instances).
        let wanted: Vec<IpAddr> = peers
            .iter()
            .map(|(a, _)| *a)
            .filter(|a| match a {
                IpAddr::V4(_) => !r.ipv4.is_empty(),
                IpAddr::V6(_) => !r.ipv6.is_empty(),
            })
            .collect();
        if ok {
            for a in wanted {
                if !r.unicast_peers.contains(&a) {
                    r.unicast_peers.push(a);
                }
            }
            if !r.ipv6.is_empty() {
                r.note("unicast-peers", "keepalived peers need `unicast_ttl 255` for IPv6 (netvrrp drops adverts with a lower hop limit)");
            }
        } else {
            let list: Vec<String> = peers.iter().map(|(a, _)| a.to_string()).collect();
            r.note(
                "unicast-peers",
                format!(
                    "unicast_peer {} not translated (see the warnings): multicast",
                    list.join(" ")
                ),
            );
        }
    }

    pub(super) fn vip(
        &mut self,
        v: &Statement,
        excluded: bool,
        r: &mut Router,
        vips: &mut Vec<(IpNet, Location, bool)>,
        vip_dev: &mut Vec<(String, IpNet, Location)>,
    ) {
        let Some(first) = v.words.first() else { return };
        let text = first.text.as_str();
        let parsed = if text.split('/').next().is_some_and(|a| a.contains(':')) {
            parse_v6(text).map(IpNet::V6)
        } else {
            parse_v4(text).map(IpNet::V4)
        };
        let a = match parsed {
            Ok(a) => a,
            Err(e) => {
                self.d.error(first.loc.clone(), e);
                return;
            }
        };
        let mut dev = None;
        let mut it = v.args().iter();
        while let Some(w) = it.next() {
            let opt = w.text.as_str();
            let takes_value = matches!(
                opt,
                "dev" | "scope" | "label" | "brd" | "peer" | "preferred_lft" | "track_group"
            );
            // keepalived skips the whole address ("No dev parameter specified for ...").
            let val = match it.clone().next() {
                Some(x) if takes_value => {
                    it.next();
                    Some(x)
                }
                None if takes_value => {
                    self.d
                        .error(w.loc.clone(), format!("{a}: `{opt}` needs a value"));
                    return;
                }
                _ => None,
            };
            match (opt, val) {
                ("dev", Some(d)) => dev = Some(d.text.clone()),
                ("scope", Some(s)) => {
                    if s.text != "global" {
                        self.d.warn(
                            s.loc.clone(),
                            format!("{a} scope {}: netvrrp adds VIPs with scope global", s.text),
                        );
                        r.note(
                            "",
                            format!("{}: {a} scope {}: not kept (scope global)", s.loc, s.text),
                        );
                    }
                }
                (_, Some(x)) => {
                    let val = &x.text;
                    self.d.warn(
                        w.loc.clone(),
                        format!("{a} {opt} {val}: not kept (no equivalent)"),
                    );
                    r.note(
                        "",
                        format!(
                            "{}: {a} {opt} {val}: not kept (netvrrp adds the address without it)",
                            w.loc
                        ),
                    );
                }
                (
                    "home" | "-nodad" | "nodad" | "mngtmpaddr" | "noprefixroute" | "autojoin"
                    | "no_track" | "use_vmac",
                    None,
                ) => {
                    self.d.warn(
                        w.loc.clone(),
                        format!("{a} {opt}: not kept (no equivalent)"),
                    );
                    r.note("", format!("{}: {a} {opt}: not kept", w.loc));
                }
                (other, None) => {
                    // One error per address: what follows an unknown word cannot be read.
                    self.d
                        .error(w.loc.clone(), format!("`{other}`: unknown address option"));
                    break;
                }
            }
        }
        match dev {
            Some(dev) if dev != r.interface && !r.interface.is_empty() => {
                vip_dev.push((dev, a, first.loc.clone()));
            }
            _ => vips.push((a, first.loc.clone(), excluded)),
        }
    }
}
