//! Checks across tables, once every table has been read: duplicate routers, an address
//! held twice, one router per leader name, pathways and clients naming a leader that no
//! router serves (or an interface they must not take over).

use super::*;

/// Leader name → the router claiming it, and where.
type Leaders<'r> = HashMap<&'r str, (&'r RouterRec, &'r Set<String>)>;

impl Checker<'_> {
    pub(super) fn cross_check(
        &mut self,
        routers: &[RouterRec],
        pathways: &[PathwayRec],
        clients: &[ClientRec],
    ) {
        self.duplicate_routers(routers);
        self.router_names(routers);
        self.shared_addresses(routers, pathways);
        let leaders = self.leader_names(routers);
        self.pathway_references(pathways, &leaders);
        self.client_references(routers, clients, &leaders);
    }

    /// Router names: one router per name.
    fn router_names(&mut self, routers: &[RouterRec]) {
        let mut names: HashMap<&str, &Set<String>> = HashMap::new();
        for n in routers.iter().filter_map(|r| r.name.as_ref()) {
            match names.get(n.value.as_str()) {
                Some(first) => {
                    let first_at = self.at(&first.span);
                    let why = format!(
                        "router name `{}` is already used by {} at {first_at}",
                        n.value, first.path
                    );
                    self.error(&n.span, &n.path, why);
                }
                None => {
                    names.insert(n.value.as_str(), n);
                }
            }
        }
    }

    /// Duplicate (interface, vrid).
    fn duplicate_routers(&mut self, routers: &[RouterRec]) {
        let mut ids: HashMap<(&str, u8), &RouterRec> = HashMap::new();
        for r in routers {
            let (Some(i), Some(v)) = (&r.interface, &r.vrid) else {
                continue;
            };
            match ids.get(&(i.value.as_str(), v.value)) {
                Some(first) => {
                    let first_at = self.at_router(first);
                    self.error(
                        &v.span,
                        &v.path,
                        format!(
                            "virtual router ({}, vrid {}) is already defined by {} at {first_at}",
                            i.value, v.value, first.path
                        ),
                    );
                }
                None => {
                    ids.insert((i.value.as_str(), v.value), r);
                }
            }
        }
    }

    /// One address, one owner: two routers (or a router and a pathway) holding the same
    /// address on one host would fight over it.
    fn shared_addresses(&mut self, routers: &[RouterRec], pathways: &[PathwayRec]) {
        let mut owners: HashMap<IpAddr, &Set<IpAddr>> = HashMap::new();
        let all_addresses = routers
            .iter()
            .flat_map(|r| r.vips.iter())
            .chain(pathways.iter().flat_map(|p| p.addresses.iter()));
        for a in all_addresses {
            match owners.get(&a.value) {
                Some(first) => {
                    let first_at = self.at(&first.span);
                    self.error(
                        &a.span,
                        &a.path,
                        format!(
                            "address {} is already used by {} at {first_at}",
                            a.value, first.path
                        ),
                    );
                }
                None => {
                    owners.insert(a.value, a);
                }
            }
        }
    }

    /// Leader names: one router per name.
    fn leader_names<'r>(&mut self, routers: &'r [RouterRec]) -> Leaders<'r> {
        // Leader names: one router per name.
        let mut leaders: Leaders<'r> = HashMap::new();
        for r in routers {
            for l in &r.leaders {
                match leaders.get(l.value.as_str()) {
                    Some((first, first_set)) => {
                        let first_at = self.at(&first_set.span);
                        self.error(
                            &l.span,
                            &l.path,
                            format!(
                                "leader name `{}` is already claimed by {} at {first_at}",
                                l.value, first.path
                            ),
                        );
                    }
                    None => {
                        leaders.insert(l.value.as_str(), (r, l));
                    }
                }
            }
        }
        leaders
    }

    /// Pathways: a leader some router serves, not on that router's interface, one pathway
    /// per (leader, interface), one MAC per interface.
    fn pathway_references(&mut self, pathways: &[PathwayRec], leaders: &Leaders<'_>) {
        let mut pathway_ids: HashMap<(&str, &str), &PathwayRec> = HashMap::new();
        let mut pathway_macs: HashMap<(&str, MacAddr), &Set<MacAddr>> = HashMap::new();
        for p in pathways {
            if let Some(l) = &p.leader {
                match leaders.get(l.value.as_str()) {
                    None => self.error(
                        &l.span,
                        &l.path,
                        format!(
                            "no [[vrrp]] serves leader `{}` (add it to a router's vrrs-leader)",
                            l.value
                        ),
                    ),
                    Some((router, _)) => {
                        if let (Some(i), Some(ri)) = (&p.interface, &router.interface)
                            && i.value == ri.value
                        {
                            let at = self.at(&ri.span);
                            self.error(
                                &i.span,
                                &i.path,
                                format!(
                                    "a pathway cannot be on `{}`, the interface of its leader's router {} ({} at {at})",
                                    i.value, router.path, ri.path
                                ),
                            );
                        }
                    }
                }
            }
            if let (Some(l), Some(i)) = (&p.leader, &p.interface) {
                match pathway_ids.get(&(l.value.as_str(), i.value.as_str())) {
                    Some(first) => {
                        let first_at =
                            self.at(&first.interface.as_ref().and_then(|f| f.span.clone()));
                        self.error(
                            &i.span,
                            &i.path,
                            format!(
                                "leader `{}` already has a pathway on `{}`: {} at {first_at}",
                                l.value, i.value, first.path
                            ),
                        );
                    }
                    None => {
                        pathway_ids.insert((l.value.as_str(), i.value.as_str()), p);
                    }
                }
            }
            if let (Some(i), Some(m)) = (&p.interface, &p.mac) {
                match pathway_macs.get(&(i.value.as_str(), m.value)) {
                    Some(first) => {
                        let first_at = self.at(&first.span);
                        self.error(
                            &m.span,
                            &m.path,
                            format!(
                                "MAC {} is already used on `{}` by {} at {first_at}",
                                m.value, i.value, first.path
                            ),
                        );
                    }
                    None => {
                        pathway_macs.insert((i.value.as_str(), m.value), m);
                    }
                }
            }
        }
    }

    /// Clients: a leader some router serves, and never a router's own interface.
    fn client_references(
        &mut self,
        routers: &[RouterRec],
        clients: &[ClientRec],
        leaders: &Leaders<'_>,
    ) {
        for c in clients {
            if let Some(l) = &c.leader
                && !leaders.contains_key(l.value.as_str())
            {
                self.error(
                    &l.span,
                    &l.path,
                    format!(
                        "no [[vrrp]] serves leader `{}` (add it to a router's vrrs-leader)",
                        l.value
                    ),
                );
            }
            // Taking a router's own interface down while it is Backup would stop it from
            // ever hearing adverts or becoming Master again.
            if let Some(i) = &c.interface
                && let Some(r) = routers
                    .iter()
                    .find(|r| r.interface.as_ref().is_some_and(|ri| ri.value == i.value))
            {
                let at = self.at_router(r);
                self.error(
                    &i.span,
                    &i.path,
                    format!(
                        "an interface-state client cannot control `{}`: {} at {at} runs VRRP on it",
                        i.value, r.path
                    ),
                );
            }
        }
    }

    pub(super) fn at_router(&self, r: &RouterRec) -> Location {
        let (line, column) = r.at;
        Location {
            file: self.src.file.to_string(),
            line,
            column,
        }
    }
}
