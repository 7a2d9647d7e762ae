//! One `[[vrrp]]` table: its keys, addresses, VRRS leader names, peers and unicast peers,
//! resolved against `[defaults]` into a [`RouterConfig`].

use super::*;

impl Checker<'_> {
    pub(super) fn router(
        &mut self,
        r: &Reader<'_>,
        defaults: &Settings,
    ) -> (RouterConfig, RouterRec) {
        let elsewhere: Vec<(&str, &str)> = vec![
            (
                "leader",
                "VRRS leader names of a router go in `vrrs-leader`",
            ),
            (
                "mac",
                "a [[vrrp]] always uses the VRRP virtual MAC; `mac` belongs in [[vrrs.pathway]]",
            ),
        ];
        let allowed: Vec<&str> = DEFAULT_KEYS
            .iter()
            .chain(ROUTER_ONLY_KEYS)
            .copied()
            .collect();
        self.check_keys(r, &allowed, &elsewhere);

        let own = self.settings(r);
        let name = r.entry("name").and_then(|e| {
            let s = self.string(&e)?;
            match crate::config::router_name::problem(s) {
                Some(why) => {
                    self.error(&e.span, &e.path, why);
                    None
                }
                None => Some((s.to_string(), Mark::new(&e, RouterKey::Name, ()))),
            }
        });
        let interface = self.required_interface(r);
        let vrid = self.required(r, "vrid").and_then(|e| {
            self.int_as::<u8>(&e, VRID_RANGE, "vrid")
                .map(|v| Mark::new(&e, RouterKey::Vrid, v))
        });

        // In the order of the keys' errors: version and interval, addresses, leader names,
        // tracking, peers.
        let (version, version_known) = self.router_version(r, &own, defaults);
        let (vips, ipv4, ipv6) = self.router_addresses(r, &own, defaults, version, version_known);
        let (leader_names, leaders) = self.router_leaders(r);
        let leader_family = self.router_leader_family(r, &ipv4, &ipv6);
        let (track, objects) = self.track_entries(r);
        let peers = self.router_peers(r);
        let unicast_peers = self.unicast_peers(r, &ipv4, &ipv6, !peers.is_empty());
        let router_advertisements = self.router_advertisements(r, &ipv6);

        let config = RouterConfig {
            name: name.as_ref().map(|(n, _)| n.clone()),
            interface: interface
                .as_ref()
                .map(|i| i.value.clone())
                .unwrap_or_default(),
            vrid: vrid.as_ref().map_or(0, |v| v.value),
            version,
            priority: pick(&own.priority, &defaults.priority, DEFAULT_PRIORITY),
            advertisement_interval_ms: pick(&own.interval, &defaults.interval, DEFAULT_INTERVAL_MS),
            preempt: pick(&own.preempt, &defaults.preempt, DEFAULT_PREEMPT),
            preempt_delay_ms: pick(
                &own.preempt_delay,
                &defaults.preempt_delay,
                DEFAULT_PREEMPT_DELAY_MS,
            ),
            accept_mode: pick(&own.accept_mode, &defaults.accept_mode, DEFAULT_ACCEPT_MODE),
            checksum_with_ipv4_pseudoheader: pick(
                &own.checksum,
                &defaults.checksum,
                DEFAULT_CHECKSUM_PSEUDOHEADER,
            ),
            shutdown: pick(&own.shutdown, &defaults.shutdown, DEFAULT_SHUTDOWN),
            garp_bursts: pick(&own.garp_bursts, &defaults.garp_bursts, DEFAULT_GARP_BURSTS),
            garp_burst_interval_ms: pick(
                &own.garp_interval,
                &defaults.garp_interval,
                DEFAULT_GARP_BURST_INTERVAL_MS,
            ),
            ipv4,
            ipv6,
            vrrs_leader: leader_names,
            vrrs_leader_family: leader_family,
            track,
            peers,
            unicast_peers,
            router_advertisements: router_advertisements.map(Box::new),
            location: self.at(&r.tbl.span()),
        };
        let rec = RouterRec {
            number: element_number(&r.path),
            interface: interface.map(|i| Mark::at(&i.span, RouterKey::Interface)),
            vrid,
            leaders: leaders.into_boxed_slice(),
            name: name.map(|(_, m)| m),
            vips: vips.into_boxed_slice(),
            objects,
        };
        (config, rec)
    }

    /// The router's version (its own, else `[defaults]`', else the built-in one), whether
    /// it is known (no invalid version key decides it), and its interval checked against it.
    fn router_version(
        &mut self,
        r: &Reader<'_>,
        own: &Settings,
        defaults: &Settings,
    ) -> (Version, bool) {
        let version = pick(&own.version, &defaults.version, DEFAULT_VERSION);
        // The router's own version key wins; only when it is absent does [defaults]' count.
        let version_known = if own.version.is_some() || own.version_invalid {
            !own.version_invalid
        } else {
            !defaults.version_invalid
        };
        if let Some(interval) = pick_set(&own.interval, &defaults.interval)
            && version_known
        {
            let user = own.interval.is_none().then_some(r.path.as_str());
            let interval = interval.clone();
            self.check_interval(&interval, version, user);
        }
        (version, version_known)
    }

    /// `ipv4` and `ipv6`: the VIPs (with their positions) and the prefixes of each family.
    fn router_addresses(
        &mut self,
        r: &Reader<'_>,
        own: &Settings,
        defaults: &Settings,
        version: Version,
        version_known: bool,
    ) -> (Vec<Mark<IpAddr>>, Vec<Ipv4Net>, Vec<Ipv6Net>) {
        let mut vips: Vec<Mark<IpAddr>> = Vec::new();
        // Counts written elements, valid or not, so that a router whose only address is
        // malformed is not also told it has no address.
        let mut written = 0usize;
        let mut address_key_error = false;
        let mut ipv4 = Vec::new();
        if let Some(e) = r.entry("ipv4") {
            match self.strings(&e) {
                Some(list) => {
                    written += list.len();
                    // Exact: the lists live on in the running configuration (and `vips`
                    // would otherwise take four slots per router at the reload's peak).
                    vips.reserve_exact(list.len());
                    ipv4.reserve_exact(list.len());
                    for (el, s) in list {
                        match parse_v4(s) {
                            Ok(net) => {
                                vips.push(Mark::new(&el, RouterKey::Ipv4, IpAddr::V4(net.addr())));
                                ipv4.push(net);
                            }
                            Err(m) => self.error(&el.span, &el.path, m),
                        }
                    }
                }
                None => address_key_error = true,
            }
        }
        let mut ipv6 = Vec::new();
        if let Some(e) = r.entry("ipv6") {
            match self.strings(&e) {
                Some(list) => {
                    written += list.len();
                    if !list.is_empty() && version_known && version == Version::V2 {
                        let source = match pick_set(&own.version, &defaults.version) {
                            Some(v) => {
                                format!(" (set by {} at {})", v.path, self.at(&v.span))
                            }
                            // Unreachable today (the built-in default is 3), kept for safety.
                            None => String::new(),
                        };
                        self.error(
                            &e.span,
                            &e.path,
                            format!(
                                "IPv6 needs VRRP version 3, but this router uses version 2{source}"
                            ),
                        );
                    }
                    vips.reserve_exact(list.len());
                    ipv6.reserve_exact(list.len());
                    for (el, s) in list {
                        match parse_v6(s) {
                            Ok(net) => {
                                vips.push(Mark::new(&el, RouterKey::Ipv6, IpAddr::V6(net.addr())));
                                ipv6.push(net);
                            }
                            Err(m) => self.error(&el.span, &el.path, m),
                        }
                    }
                }
                None => address_key_error = true,
            }
        }
        if written == 0 && !address_key_error {
            self.error(
                &r.tbl.span(),
                &r.path,
                "a virtual router needs at least one address in `ipv4` or `ipv6`",
            );
        }
        (vips, ipv4, ipv6)
    }

    /// `vrrs-leader`: the leader names, each once, and where each was written.
    fn router_leaders(&mut self, r: &Reader<'_>) -> (Vec<String>, Vec<Mark<()>>) {
        let mut leaders: Vec<Set<String>> = Vec::new();
        let mut marks = Vec::new();
        if let Some(e) = r.entry("vrrs-leader")
            && let Some(list) = self.strings(&e)
        {
            for (el, s) in list {
                if let Some(first) = leaders.iter().find(|l| l.value == s) {
                    let first = format!("{} ({})", self.at(&first.span), first.path);
                    self.error(
                        &el.span,
                        &el.path,
                        format!("leader name `{s}` is listed twice (first at {first})"),
                    );
                } else if let Some(set) = self.leader_name(&el, s) {
                    leaders.push(set);
                    marks.push(Mark::new(&el, RouterKey::VrrsLeader, ()));
                }
            }
        }
        (leaders.into_iter().map(|l| l.value).collect(), marks)
    }

    /// `vrrs-leader-family`: which instance the leader names follow.
    fn router_leader_family(
        &mut self,
        r: &Reader<'_>,
        ipv4: &[Ipv4Net],
        ipv6: &[Ipv6Net],
    ) -> Option<Family> {
        let mut leader_family = None;
        if let Some(e) = r.entry("vrrs-leader-family")
            && let Some(s) = self.string(&e)
        {
            let family = match s {
                "ipv4" => Some(Family::Ipv4),
                "ipv6" => Some(Family::Ipv6),
                _ => {
                    self.error(
                        &e.span,
                        &e.path,
                        format!("unknown family `{s}` (expected \"ipv4\" or \"ipv6\")"),
                    );
                    None
                }
            };
            if let Some(family) = family {
                let has = match family {
                    Family::Ipv4 => !ipv4.is_empty(),
                    Family::Ipv6 => !ipv6.is_empty(),
                };
                if r.entry("vrrs-leader").is_none() {
                    self.error(
                        &e.span,
                        &e.path,
                        "vrrs-leader-family has no effect without vrrs-leader",
                    );
                } else if !has {
                    self.error(
                        &e.span,
                        &e.path,
                        format!("this router has no {family} address, so it has no {family} instance for its leader names to follow"),
                    );
                }
                leader_family = Some(family);
            }
        }
        leader_family
    }

    /// `peers`: the sources adverts are accepted from (empty: any).
    fn router_peers(&mut self, r: &Reader<'_>) -> Vec<IpAddr> {
        let mut peers = Vec::new();
        if let Some(e) = r.entry("peers")
            && let Some(list) = self.strings(&e)
        {
            for (el, s) in list {
                match s.parse::<IpAddr>() {
                    Ok(a) => peers.push(a),
                    Err(_) => self.error(&el.span, &el.path, format!("`{s}` is not an IP address")),
                }
            }
        }
        peers
    }

    /// `unicast-peers`: addresses of the router's families, IPv6 ones link-local (adverts
    /// come from and go to link-locals, as in multicast mode), every family of the router
    /// covered (the mode is per router, not per family), no duplicates, and not together with
    /// `peers` (the unicast peers already are the only ones heard).
    pub(super) fn unicast_peers(
        &mut self,
        r: &Reader<'_>,
        ipv4: &[Ipv4Net],
        ipv6: &[Ipv6Net],
        has_peers: bool,
    ) -> Vec<IpAddr> {
        let Some(e) = r.entry("unicast-peers") else {
            return Vec::new();
        };
        let Some(list) = self.strings(&e) else {
            return Vec::new();
        };
        if has_peers {
            self.error(
                &e.span,
                &e.path,
                "`unicast-peers` and `peers` cannot be combined: in unicast mode only the \
                 unicast peers are heard; drop `peers`",
            );
        }
        if list.is_empty() {
            self.error(
                &e.span,
                &e.path,
                "`unicast-peers` is empty: list the peers, or remove the key for multicast",
            );
        }
        let mut out: Vec<IpAddr> = Vec::new();
        // Families written, valid or not: a bad IPv6 peer is not also "no IPv6 peer".
        let mut written = [false; 2];
        for (el, s) in list {
            let a = match s.parse::<IpAddr>() {
                Ok(a) => {
                    written[usize::from(a.is_ipv6())] = true;
                    a
                }
                Err(_) => {
                    self.error(&el.span, &el.path, format!("`{s}` is not an IP address"));
                    continue;
                }
            };
            let problem = match a {
                _ if out.contains(&a) => Some(format!("`{a}` is listed twice")),
                IpAddr::V4(v)
                    if v.is_multicast()
                        || v.is_broadcast()
                        || v.is_unspecified()
                        || v.is_loopback() =>
                {
                    Some(format!("`{a}` is not a unicast address of a peer"))
                }
                IpAddr::V6(v) if (v.segments()[0] & 0xffc0) != 0xfe80 => Some(format!(
                    "`{a}` is not a link-local address: IPv6 adverts are sent between \
                     link-local addresses (use the peer's fe80:: address on this link)"
                )),
                IpAddr::V4(_) if ipv4.is_empty() => Some(format!(
                    "`{a}` is an IPv4 peer but this router has no `ipv4` address"
                )),
                IpAddr::V6(_) if ipv6.is_empty() => Some(format!(
                    "`{a}` is an IPv6 peer but this router has no `ipv6` address"
                )),
                _ => None,
            };
            match problem {
                Some(m) => self.error(&el.span, &el.path, m),
                None => out.push(a),
            }
        }
        let some_written = written.iter().any(|w| *w);
        for (missing, family) in [
            (!ipv4.is_empty() && !written[0], "IPv4"),
            (!ipv6.is_empty() && !written[1], "IPv6"),
        ] {
            if missing && some_written {
                self.error(
                    &e.span,
                    &e.path,
                    format!(
                        "the router has {family} addresses but `unicast-peers` lists no {family} \
                         peer: unicast mode covers the whole router, list its {family} peers too"
                    ),
                );
            }
        }
        out
    }
}
