//! keepalived `virtual_ipaddress` and `unicast_peer` → a router's VIPs and unicast peers.

use super::*;

impl Cx<'_> {
    pub(super) fn unicast(&mut self, r: &mut Router, peers: Vec<(IpAddr, Location)>) {
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
            match w.text.as_str() {
                "dev" => dev = it.next().map(|d| d.text.clone()),
                "scope" => {
                    if let Some(s) = it.next()
                        && s.text != "global"
                    {
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
                "label" | "brd" | "peer" | "preferred_lft" | "track_group" => {
                    let val = it.next().map(|x| x.text.clone()).unwrap_or_default();
                    self.d.warn(
                        w.loc.clone(),
                        format!("{a} {} {val}: not kept (no equivalent)", w.text),
                    );
                    r.note(
                        "",
                        format!(
                            "{}: {a} {} {val}: not kept (netvrrp adds the address without it)",
                            w.loc, w.text
                        ),
                    );
                }
                "home" | "-nodad" | "nodad" | "mngtmpaddr" | "noprefixroute" | "autojoin"
                | "no_track" | "use_vmac" => {
                    self.d.warn(
                        w.loc.clone(),
                        format!("{a} {}: not kept (no equivalent)", w.text),
                    );
                    r.note("", format!("{}: {a} {}: not kept", w.loc, w.text));
                }
                other => {
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
