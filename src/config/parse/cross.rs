//! Checks across tables, once every table has been read: duplicate routers, an address
//! held twice, one router per leader name, pathways and clients naming a leader that no
//! router serves (or an interface they must not take over).

use super::*;

/// What the cross-checks need to know about a `[[vrrp]]` besides its config (the values
/// are the config's: the record only says where they were written). Kept apart from the
/// config and dropped once the checks are done: the configs' vector is what the runtime
/// keeps, so it must not carry these fields' slots. Compact, because the checks hold one
/// per router at once: as [`Set`]s, each value with its own copy and its own path string,
/// they were ~550 bytes a router, 2 MB of a reload's peak at 4,000 routers.
pub(super) struct RouterRec {
    /// N of the router's path `vrrp[N]`.
    pub(super) number: u32,
    /// Both present and valid: the router takes part in cross-checks. Value:
    /// `RouterConfig::interface`.
    pub(super) interface: Option<Mark<()>>,
    pub(super) vrid: Option<Mark<u8>>,
    /// One per `RouterConfig::vrrs_leader`, in its order.
    pub(super) leaders: Box<[Mark<()>]>,
    /// `name`, when set and valid (unique across the file: see `cross_check`). Value:
    /// `RouterConfig::name`.
    pub(super) name: Option<Mark<()>>,
    pub(super) vips: Box<[Mark<IpAddr>]>,
    /// `[[track]]` objects its `track` entries name (checked once all objects are known).
    pub(super) objects: Vec<Set<String>>,
}

/// A key of a `[[vrrp]]` whose values the cross-checks compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RouterKey {
    Interface,
    Vrid,
    Name,
    VrrsLeader,
    Ipv4,
    Ipv6,
}

impl RouterKey {
    fn as_str(self) -> &'static str {
        match self {
            RouterKey::Interface => "interface",
            RouterKey::Vrid => "vrid",
            RouterKey::Name => "name",
            RouterKey::VrrsLeader => "vrrs-leader",
            RouterKey::Ipv4 => "ipv4",
            RouterKey::Ipv6 => "ipv6",
        }
    }
}

/// Where a router's value was written: the start of its span (all a position needs) and
/// its key, with the element's number in a list. Its path is made when a message needs it.
#[derive(Clone, Copy)]
pub(super) struct Mark<T> {
    pub(super) value: T,
    pub(super) start: Option<u32>,
    pub(super) key: RouterKey,
    /// 1-based number in the key's array; 0 for the key's own value.
    pub(super) element: u32,
}

impl<T> Mark<T> {
    pub(super) fn new(e: &Entry<'_>, key: RouterKey, value: T) -> Mark<T> {
        Mark {
            value,
            start: e.span.as_ref().and_then(|s| u32::try_from(s.start).ok()),
            key,
            element: e.number,
        }
    }

    pub(super) fn span(&self) -> Span {
        self.start.map(|s| s as usize..s as usize)
    }
}

impl Mark<()> {
    /// A key's own value at `span`.
    pub(super) fn at(span: &Span, key: RouterKey) -> Mark<()> {
        Mark {
            value: (),
            start: span.as_ref().and_then(|s| u32::try_from(s.start).ok()),
            key,
            element: 0,
        }
    }
}

impl RouterRec {
    /// `vrrp[N]`.
    pub(super) fn path(&self) -> String {
        format!("vrrp[{}]", self.number)
    }

    /// The key path of one of its values: `vrrp[N].interface`, `vrrp[N].ipv4[2]`.
    pub(super) fn path_of<T>(&self, m: &Mark<T>) -> String {
        match m.element {
            0 => format!("vrrp[{}].{}", self.number, m.key.as_str()),
            n => format!("vrrp[{}].{}[{n}]", self.number, m.key.as_str()),
        }
    }
}

/// N of a list element's path `…[N]` (0 when it is not one): a router's number.
pub(super) fn element_number(path: &str) -> u32 {
    path.strip_suffix(']')
        .and_then(|p| p.rsplit_once('['))
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(0)
}

/// Leader name → the router claiming it (its config and record), and where.
type Leaders<'r> = HashMap<&'r str, (&'r RouterConfig, &'r RouterRec, &'r Mark<()>)>;

/// The first holder of an address: a router's VIP or a pathway's address.
#[derive(Clone, Copy)]
enum Holder<'r> {
    Router(&'r RouterRec, &'r Mark<IpAddr>),
    Pathway(&'r Set<IpAddr>),
}

impl Holder<'_> {
    fn span(&self) -> Span {
        match self {
            Holder::Router(_, m) => m.span(),
            Holder::Pathway(s) => s.span.clone(),
        }
    }

    fn path(&self) -> String {
        match self {
            Holder::Router(r, m) => r.path_of(*m),
            Holder::Pathway(s) => s.path.clone(),
        }
    }
}

impl Checker<'_> {
    /// `configs` and `routers` are the file's routers, one record per config.
    pub(super) fn cross_check(
        &mut self,
        configs: &[RouterConfig],
        routers: &[RouterRec],
        pathways: &[PathwayRec],
        clients: &[ClientRec],
    ) {
        self.duplicate_routers(configs, routers);
        self.router_names(configs, routers);
        self.shared_addresses(routers, pathways);
        let leaders = self.leader_names(configs, routers);
        self.pathway_references(pathways, &leaders);
        self.client_references(configs, routers, clients, &leaders);
    }

    /// Router names: one router per name.
    fn router_names(&mut self, configs: &[RouterConfig], routers: &[RouterRec]) {
        let mut names: HashMap<&str, (&RouterRec, &Mark<()>)> = HashMap::new();
        for (c, r) in configs.iter().zip(routers) {
            let (Some(name), Some(n)) = (&c.name, &r.name) else {
                continue;
            };
            match names.get(name.as_str()) {
                Some((first_router, first)) => {
                    let first_at = self.at(&first.span());
                    let why = format!(
                        "router name `{name}` is already used by {} at {first_at}",
                        first_router.path_of(*first)
                    );
                    self.error(&n.span(), &r.path_of(n), why);
                }
                None => {
                    names.insert(name.as_str(), (r, n));
                }
            }
        }
    }

    /// Duplicate (interface, vrid).
    fn duplicate_routers(&mut self, configs: &[RouterConfig], routers: &[RouterRec]) {
        let mut ids: HashMap<(&str, u8), (&RouterConfig, &RouterRec)> =
            HashMap::with_capacity(routers.len());
        for (c, r) in configs.iter().zip(routers) {
            let (Some(_), Some(v)) = (&r.interface, &r.vrid) else {
                continue;
            };
            let interface = c.interface.as_str();
            match ids.get(&(interface, v.value)) {
                Some((first_config, first)) => {
                    let first_at = first_config.location.clone();
                    self.error(
                        &v.span(),
                        &r.path_of(v),
                        format!(
                            "virtual router ({interface}, vrid {}) is already defined by {} at {first_at}",
                            v.value,
                            first.path()
                        ),
                    );
                }
                None => {
                    ids.insert((interface, v.value), (c, r));
                }
            }
        }
    }

    /// One address, one owner: two routers (or a router and a pathway) holding the same
    /// address on one host would fight over it.
    fn shared_addresses(&mut self, routers: &[RouterRec], pathways: &[PathwayRec]) {
        let vips = routers.iter().map(|r| r.vips.len()).sum::<usize>();
        let mut owners: HashMap<IpAddr, Holder<'_>> = HashMap::with_capacity(vips);
        let all_addresses = routers
            .iter()
            .flat_map(|r| r.vips.iter().map(move |m| (m.value, Holder::Router(r, m))))
            .chain(
                pathways
                    .iter()
                    .flat_map(|p| p.addresses.iter().map(|a| (a.value, Holder::Pathway(a)))),
            );
        for (address, holder) in all_addresses {
            match owners.get(&address) {
                Some(first) => {
                    let first_at = self.at(&first.span());
                    self.error(
                        &holder.span(),
                        &holder.path(),
                        format!(
                            "address {address} is already used by {} at {first_at}",
                            first.path()
                        ),
                    );
                }
                None => {
                    owners.insert(address, holder);
                }
            }
        }
    }

    /// Leader names: one router per name.
    fn leader_names<'r>(
        &mut self,
        configs: &'r [RouterConfig],
        routers: &'r [RouterRec],
    ) -> Leaders<'r> {
        let mut leaders: Leaders<'r> = HashMap::new();
        for (c, r) in configs.iter().zip(routers) {
            for (name, l) in c.vrrs_leader.iter().zip(r.leaders.iter()) {
                match leaders.get(name.as_str()) {
                    Some((_, first, first_mark)) => {
                        let first_at = self.at(&first_mark.span());
                        self.error(
                            &l.span(),
                            &r.path_of(l),
                            format!(
                                "leader name `{name}` is already claimed by {} at {first_at}",
                                first.path()
                            ),
                        );
                    }
                    None => {
                        leaders.insert(name.as_str(), (c, r, l));
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
                    Some((config, router, _)) => {
                        if let (Some(i), Some(ri)) = (&p.interface, &router.interface)
                            && i.value == config.interface
                        {
                            let at = self.at(&ri.span());
                            self.error(
                                &i.span,
                                &i.path,
                                format!(
                                    "a pathway cannot be on `{}`, the interface of its leader's router {} ({} at {at})",
                                    i.value,
                                    router.path(),
                                    router.path_of(ri)
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
        configs: &[RouterConfig],
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
                && let Some((config, r)) = configs
                    .iter()
                    .zip(routers)
                    .find(|(rc, r)| r.interface.is_some() && rc.interface == i.value)
            {
                let at = &config.location;
                self.error(
                    &i.span,
                    &i.path,
                    format!(
                        "an interface-state client cannot control `{}`: {} at {at} runs VRRP on it",
                        i.value,
                        r.path()
                    ),
                );
            }
        }
    }
}
