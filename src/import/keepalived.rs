//! keepalived.conf(5) → the import model. Translates by meaning: where keepalived and
//! netvrrp differ (weights, FAULT, default version, garp timing) the router gets a comment
//! that says what changed; what has no equivalent is a comment and a warning.

mod addresses;
mod globals;
mod groups;
mod merge;
mod track;

use super::keepalived_lex::{self, Statement, Word};
use super::model::{Client, Imported, Pathway, Router, Settings, TrackEntry, TrackObject};
use super::render::{string, strings};
use super::{Diags, Dialect};
use crate::config::{Location, parse_v4, parse_v6};
use crate::types::Family;
use ipnet::IpNet;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use merge::merge_instances;

/// keepalived's own default for `vrrp_version` (keepalived.conf(5), global_defs).
const KEEPALIVED_DEFAULT_VERSION: u8 = 2;
/// keepalived sends its second set of gratuitous ARPs this long after becoming master
/// (`vrrp_garp_master_delay`, default 5 s).
const KEEPALIVED_GARP_DELAY_MS: u32 = 5000;
/// The largest decrement netvrrp takes (a priority moves by 254 at the most); keepalived's
/// FAULT (weight 0) is `fault = true`, not a decrement.
const MAX_DECREMENT: u8 = 254;
/// netvrrp's `rise` / `fall` and exec `interval-ms` / `timeout-ms` ranges (netvrrp.toml(5)).
const RISE_FALL_MAX: i64 = 100;
const CHECK_MS_MIN: u32 = 10;
/// The kernel's process name (comm) holds at most 15 bytes.
const COMM_MAX: usize = 15;

/// vrrp_instance keywords netvrrp has no equivalent for, and why (the comment and the
/// warning say it).
const INSTANCE_SKIPS: &[(&[&str], &str)] = &[
    (
        &["unicast_src_ip", "mcast_src_ip"],
        "netvrrp sends from the parent's primary IPv4 address (IPv6: its link-local)",
    ),
    (
        &[
            "garp_master_repeat",
            "garp_master_refresh",
            "garp_master_refresh_repeat",
            "garp_lower_prio_delay",
            "garp_lower_prio_repeat",
            "garp_extra_if",
        ],
        "netvrrp sends one gratuitous ARP/NA per address per burst and no refresh",
    ),
    (
        &["authentication"],
        "removed from VRRP by RFC 3768; netvrrp sends none, so keepalived peers that use it drop netvrrp's adverts: remove it there first",
    ),
    (
        &["dont_track_primary"],
        "netvrrp always stops the router while its interface is down",
    ),
    (
        &["old_unicast_checksum"],
        "netvrrp computes the RFC checksum (with the IPv4 pseudo-header) only",
    ),
];

pub fn import(path: &Path, d: &mut Diags) -> Option<Imported> {
    let top = keepalived_lex::read(path, d)?;
    Some(translate(&top, &path.display().to_string(), d))
}

/// Translate statements already read (the entry point of the unit tests).
pub fn translate(top: &[Statement], source: &str, d: &mut Diags) -> Imported {
    let mut imp = Imported {
        daemon: "keepalived",
        flag: Dialect::Keepalived.flag(),
        source: source.to_string(),
        ..Imported::default()
    };
    let mut cx = Cx {
        d,
        version: KEEPALIVED_DEFAULT_VERSION,
        objects: BTreeMap::new(),
        groups: Vec::new(),
    };
    // global_defs, track objects and sync groups first: instances refer to them wherever
    // they are written.
    for st in top {
        match st.keyword() {
            "global_defs" => cx.global_defs(st, &mut imp),
            "vrrp_script" => cx.object(st, "exec", &mut imp),
            "vrrp_track_process" => cx.object(st, "process", &mut imp),
            "track_file" | "vrrp_track_file" => cx.object(st, "file", &mut imp),
            "vrrp_sync_group" => cx.sync_group(st),
            _ => {}
        }
    }
    if imp.defaults.version.is_none() {
        imp.defaults.version = Some(cx.version);
        imp.defaults_notes.push((
            "version",
            format!(
                "keepalived's default VRRP version is {KEEPALIVED_DEFAULT_VERSION} (netvrrp's is 3); kept for the peers"
            ),
        ));
    }
    // keepalived computes the VRRPv3/IPv4 checksum over the IPv4 pseudo-header (since
    // 1.3.6; `old_unicast_checksum` is the exception, warned about where it is set), which
    // is netvrrp's default too.
    imp.defaults_notes.push((
        "checksum-with-ipv4-pseudoheader",
        "VRRPv3 checksum: keepalived includes the IPv4 pseudo-header, as netvrrp does by default (checksum-with-ipv4-pseudoheader = true)"
            .to_string(),
    ));
    if imp.defaults.garp_burst_interval.is_none() && imp.defaults.garp_bursts != Some(1) {
        imp.defaults.garp_burst_interval = Some(KEEPALIVED_GARP_DELAY_MS);
        imp.defaults_notes.push((
            "garp-burst-interval",
            "keepalived sends its second set of gratuitous ARP/NA 5 s after becoming master"
                .to_string(),
        ));
    }
    let mut insts = Vec::new();
    for st in top {
        match st.keyword() {
            "global_defs" | "vrrp_script" | "vrrp_track_process" | "track_file"
            | "vrrp_track_file" | "vrrp_sync_group" => {}
            "vrrp_instance" => {
                if let Some(i) = cx.instance(st, &imp.defaults) {
                    insts.push(i);
                }
            }
            other => {
                let what = match other {
                    "virtual_server" | "virtual_server_group" | "real_server" => {
                        "load balancing (LVS) is not netvrrp's job"
                    }
                    "static_ipaddress" | "static_routes" | "static_rules" => {
                        "static addresses, routes and rules belong to the network configuration"
                    }
                    "bfd_instance" => "BFD has no equivalent",
                    _ => "no netvrrp equivalent",
                };
                let n = cx.skip(st, what);
                imp.notes.push(n);
            }
        }
    }
    cx.groups_apply(&mut insts, &mut imp);
    merge_instances(insts, &mut imp, cx.d);
    imp
}

/// A track object (`vrrp_script` & co.) as instances see it.
struct Object {
    kind: &'static str,
    /// Its `[[track]]` name; None when it could not be translated.
    name: Option<String>,
    weight: i32,
    reverse: bool,
}

struct Group {
    name: String,
    loc: Location,
    members: Vec<Word>,
    statement: Statement,
    /// `sync_group_tracking_weight` (or the deprecated `global_tracking`): the members keep
    /// the weights of what they track themselves.
    keeps_weights: bool,
}

struct Cx<'d> {
    d: &'d mut Diags,
    version: u8,
    objects: BTreeMap<String, Object>,
    groups: Vec<Group>,
}

/// One vrrp_instance, translated on its own (instances of two families with one VRID
/// become one router later).
struct Inst {
    name: String,
    loc: Location,
    family: Family,
    router: Router,
    pathways: Vec<Pathway>,
    clients: Vec<Client>,
}

/// What an instance's keys list, kept until the whole instance is read.
#[derive(Default)]
struct InstKeys {
    vrid_seen: bool,
    /// (address, where, excluded)
    vips: Vec<(IpNet, Location, bool)>,
    vip_dev: Vec<(String, IpNet, Location)>,
    peers: Vec<(IpAddr, Location)>,
    /// (interface, weight, reverse)
    tracks: Vec<(Word, i32, bool)>,
    objects: Vec<(Statement, Word, Option<i32>, bool)>,
    notifies: Vec<Statement>,
}

fn words(ws: &[Word]) -> String {
    ws.iter()
        .map(|w| {
            if w.quoted {
                format!("\"{}\"", w.text)
            } else {
                w.text.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl Cx<'_> {
    /// Note and warn: `st` has no equivalent. Returns the comment line for the output. The
    /// block's contents are not echoed (an authentication block holds a password).
    fn skip(&mut self, st: &Statement, why: &str) -> String {
        let shown = if st.block.is_some() {
            format!("{} {{ ... }}", words(&st.words))
        } else {
            words(&st.words)
        };
        self.d.warn(
            st.loc(),
            format!("`{}` not translated: {why}", st.keyword()),
        );
        format!("{}: {shown}: not translated: {why}", st.loc())
    }

    fn arg<'a>(&mut self, st: &'a Statement) -> Option<&'a Word> {
        let a = st.args().first();
        if a.is_none() {
            self.d
                .error(st.loc(), format!("`{}` needs a value", st.keyword()));
        }
        a
    }

    fn int(&mut self, w: &Word, min: i64, max: i64) -> Option<i64> {
        match w.text.parse::<i64>() {
            Ok(v) if (min..=max).contains(&v) => Some(v),
            _ => {
                self.d.error(
                    w.loc.clone(),
                    format!("`{}`: expected a whole number from {min} to {max}", w.text),
                );
                None
            }
        }
    }

    /// A keepalived <TIMER>: seconds, with decimals. Returns milliseconds.
    fn secs(&mut self, w: &Word, max_s: f64) -> Option<u32> {
        match w.text.parse::<f64>() {
            Ok(v) if v.is_finite() && (0.0..=max_s).contains(&v) => {
                Some((v * 1000.0).round() as u32)
            }
            _ => {
                self.d.error(
                    w.loc.clone(),
                    format!(
                        "`{}`: expected seconds from 0 to {max_s} (decimals allowed)",
                        w.text
                    ),
                );
                None
            }
        }
    }

    fn instance(&mut self, st: &Statement, defaults: &Settings) -> Option<Inst> {
        let Some(name) = st.args().first().map(|w| w.text.clone()) else {
            self.d
                .error(st.loc(), "vrrp_instance needs a name".to_string());
            return None;
        };
        let mut r = Router {
            origin: vec![format!("{}: vrrp_instance {name}", st.loc())],
            ..Router::default()
        };
        let mut b = InstKeys::default();
        for c in st.children() {
            if !self.instance_setting(c, &mut r, &mut b.vrid_seen)
                && !self.instance_list(c, &mut r, &mut b)
            {
                self.instance_remark(c, &mut r);
            }
        }
        if r.interface.is_empty() {
            self.d.warn(
                st.loc(),
                format!(
                    "vrrp_instance {name} has no interface: netvrrp needs one; instance skipped"
                ),
            );
            return None;
        }
        if !b.vrid_seen {
            self.d.error(
                st.loc(),
                format!("vrrp_instance {name} has no virtual_router_id"),
            );
            return None;
        }
        if r.vrid == 0 {
            return None;
        }
        // The family is that of the first (not excluded) VIP, as in keepalived.
        let family = match b.vips.iter().find(|v| !v.2).or(b.vips.first()) {
            Some((IpNet::V6(_), ..)) => Family::Ipv6,
            Some(_) => Family::Ipv4,
            None if b.vip_dev.is_empty() => {
                self.d.warn(
                    st.loc(),
                    format!(
                        "vrrp_instance {name} has no virtual address on {}: a netvrrp router needs one; instance skipped",
                        r.interface
                    ),
                );
                return None;
            }
            None => match b.vip_dev[0].1 {
                IpNet::V6(_) => Family::Ipv6,
                IpNet::V4(_) => Family::Ipv4,
            },
        };
        self.place_vips(&b.vips, family, &mut r);
        // Version: the instance's, else global_defs'; IPv6 is always version 3 in keepalived.
        let resolved = r
            .settings
            .version
            .or(defaults.version)
            .unwrap_or(self.version);
        if !r.ipv6.is_empty() && resolved == 2 {
            r.settings.version = Some(3);
            r.note("version", "IPv6 instances always run VRRPv3 in keepalived");
        } else if r.settings.version == defaults.version {
            r.settings.version = None;
        }
        let version = r.settings.version.or(defaults.version).unwrap_or(3);
        if let Some(ms) = r.settings.advertisement_interval {
            r.settings.advertisement_interval = Some(self.interval(ms, version, &st.loc(), &mut r));
        }
        self.initial_master(st, &mut r);
        if r.settings.priority == Some(255) {
            r.note(
                "priority",
                format!(
                    "255, the address owner: netvrrp's apply refuses it unless {} has these addresses itself",
                    r.interface
                ),
            );
        }
        // Tracking. A sync group member's own weighted entries follow keepalived's sync
        // group rules (track.rs, sync_member).
        let sync = self
            .group_of(&name)
            .filter(|g| !g.keeps_weights)
            .map(|g| g.name.clone());
        for (w, weight, reverse) in b.tracks {
            match &sync {
                Some(g) if weight != 0 && !reverse => {
                    self.sync_member(&mut r, g, "track_interface", &w, None, weight);
                }
                _ => self.track_interface(&mut r, &w, weight, reverse),
            }
        }
        for (block, w, weight, reverse) in b.objects {
            let Some((kind, name, weight, reverse)) = self.resolve(&block, &w, weight, reverse)
            else {
                continue;
            };
            match &sync {
                Some(g) if weight != 0 && !reverse && kind != "process" => {
                    self.sync_member(&mut r, g, block.keyword(), &w, Some(&name), weight);
                }
                _ => self.track_object(&mut r, &w, kind, &name, weight, reverse),
            }
        }
        // Unicast: every family of the router needs a peer; netvrrp's IPv6 peers are
        // link-locals. Otherwise the router stays multicast, and says why.
        if !b.peers.is_empty() {
            self.unicast(&mut r, family, b.peers);
        }
        let mut inst = Inst {
            name,
            loc: st.loc(),
            family,
            router: r,
            pathways: Vec::new(),
            clients: Vec::new(),
        };
        self.vrrs_parts(&mut inst, b.vip_dev, b.notifies);
        Some(inst)
    }

    /// `state MASTER`: netvrrp has no initial state (instance_remark says so), but keepalived
    /// also clears `nopreempt` and `preempt_delay` with it (vrrp_complete_instance: "will not
    /// work with initial state MASTER - clearing"), so the router preempts, at once.
    /// keepalived takes `MASTER` as written only; another spelling is an unknown state, BACKUP.
    fn initial_master(&mut self, st: &Statement, r: &mut Router) {
        let children = st.children();
        let master = children.iter().any(|c| {
            c.keyword() == "state" && c.args().first().is_some_and(|w| w.text == "MASTER")
        });
        if !master {
            return;
        }
        // (keywords, whether the router has it, what keepalived does instead, its words)
        let cases = [
            (
                &["nopreempt", "no_preempt"][..],
                r.settings.preempt == Some(false),
                "preempts; preempt = true",
                "nopreempt",
            ),
            (
                &["preempt_delay"][..],
                r.settings.preempt_delay.is_some(),
                "preempts at once; not translated",
                "preempt delay",
            ),
        ];
        for (kws, set, instead, said) in cases {
            let Some(c) = children.iter().rev().find(|c| kws.contains(&c.keyword())) else {
                continue;
            };
            if set {
                let kw = c.keyword();
                self.d.warn(
                    c.loc(),
                    format!("`{kw}` with state MASTER: keepalived clears it and {instead}"),
                );
                r.note("preempt", format!("{}: {kw}: keepalived ignores it with state MASTER (\"{said} will not work with initial state MASTER - clearing\")", c.loc()));
            }
        }
        r.settings.preempt = r.settings.preempt.map(|_| true);
        r.settings.preempt_delay = None;
    }

    /// The instance keys that set one value of the router; false for any other key.
    fn instance_setting(&mut self, c: &Statement, r: &mut Router, vrid_seen: &mut bool) -> bool {
        match c.keyword() {
            "interface" => {
                if let Some(w) = self.arg(c) {
                    r.interface = w.text.clone();
                }
            }
            "virtual_router_id" => {
                // A bad value is reported here; "missing" is only for no statement.
                *vrid_seen = true;
                if let Some(v) = self.arg(c).cloned().and_then(|w| self.int(&w, 1, 255)) {
                    r.vrid = v as u8;
                }
            }
            "priority" => {
                if let Some(v) = self.arg(c).cloned().and_then(|w| self.int(&w, 1, 255)) {
                    r.settings.priority = Some(v as u8);
                }
            }
            "advert_int" => {
                if let Some(ms) = self.arg(c).cloned().and_then(|w| self.secs(&w, 255.0)) {
                    r.settings.advertisement_interval = Some(ms);
                }
            }
            "version" => {
                if let Some(v) = self.arg(c).cloned().and_then(|w| self.int(&w, 2, 3)) {
                    r.settings.version = Some(v as u8);
                }
            }
            "nopreempt" | "no_preempt" => r.settings.preempt = Some(false),
            "preempt" => r.settings.preempt = Some(true),
            "preempt_delay" => {
                if let Some(ms) = self.arg(c).cloned().and_then(|w| self.secs(&w, 1000.0)) {
                    r.settings.preempt_delay = Some(ms);
                }
            }
            "accept" => r.settings.accept_mode = Some(true),
            "no_accept" => {
                r.settings.accept_mode = Some(false);
                r.note(
                    "accept-mode",
                    "no_accept: netvrrp enforces it itself (drops traffic to the VIPs but ARP/ND); keepalived needed vrrp_iptables/nftables",
                );
            }
            "strict_mode" => {
                if c.args().first().is_none_or(|w| is_true(&w.text)) {
                    r.settings.accept_mode = Some(false);
                    r.note(
                        "accept-mode",
                        format!("{}: strict_mode implies no_accept", c.loc()),
                    );
                }
            }
            "garp_master_delay" => {
                if let Some(ms) = self.arg(c).cloned().and_then(|w| self.secs(&w, 60.0)) {
                    garp_delay(&mut r.settings, &mut r.notes, ms, &c.loc());
                }
            }
            _ => return false,
        }
        true
    }

    /// The instance keys that list things (VIPs, peers, tracks, notify scripts), kept in
    /// `b` until the instance is read; false for any other key.
    fn instance_list(&mut self, c: &Statement, r: &mut Router, b: &mut InstKeys) -> bool {
        let kw = c.keyword();
        match kw {
            "virtual_ipaddress" | "virtual_ipaddress_excluded" => {
                let excluded = kw == "virtual_ipaddress_excluded";
                for v in c.children() {
                    self.vip(v, excluded, r, &mut b.vips, &mut b.vip_dev);
                }
            }
            "unicast_peer" => {
                for p in c.children() {
                    let Some(w) = p.words.first() else { continue };
                    match w.text.parse::<IpAddr>() {
                        Ok(a) => b.peers.push((a, w.loc.clone())),
                        Err(_) => self
                            .d
                            .error(w.loc.clone(), format!("`{}` is not an IP address", w.text)),
                    }
                    if p.words.len() > 1 {
                        let n = self.skip(p, "min_ttl/max_ttl: netvrrp accepts only TTL 255");
                        r.note("unicast-peers", n);
                    }
                }
            }
            "track_interface" => {
                for t in c.children() {
                    let Some(w) = t.words.first().cloned() else {
                        continue;
                    };
                    let (weight, reverse) = self.weight(t, Some(0));
                    b.tracks.push((w, weight.unwrap_or(0), reverse));
                }
            }
            "track_script" | "track_process" | "track_file" => {
                for t in c.children() {
                    let Some(w) = t.words.first().cloned() else {
                        continue;
                    };
                    let (weight, reverse) = self.weight(t, None);
                    b.objects.push((c.clone(), w, weight, reverse));
                }
            }
            "notify"
            | "notify_master"
            | "notify_backup"
            | "notify_fault"
            | "notify_stop"
            | "notify_master_rx_lower_pri"
            | "notify_deleted" => b.notifies.push(c.clone()),
            _ => return false,
        }
        true
    }

    /// The other instance keys: netvrrp does the same anyway (a comment) or has no
    /// equivalent (a comment and a warning).
    fn instance_remark(&mut self, c: &Statement, r: &mut Router) {
        let kw = c.keyword();
        match kw {
            "use_vmac" => {
                if c.args().len() > 1 || c.args().first().is_some_and(|w| w.text.contains(':')) {
                    let n = self.skip(
                        c,
                        "netvrrp's virtual MAC is always 00:00:5e:00:01:VRID (IPv6 :02:VRID)",
                    );
                    r.note("", n);
                } else {
                    r.note(
                        "",
                        format!(
                            "{}: use_vmac: netvrrp always runs on a macvlan with the virtual MAC, named vrrp4-IFINDEX-VRID / vrrp6-IFINDEX-VRID",
                            c.loc()
                        ),
                    );
                }
            }
            "native_ipv6" => {} // deprecated in keepalived: the addresses decide the family
            "state" => {
                // BACKUP is what netvrrp does anyway: a comment, not a warning (a file
                // with a thousand instances would drown the warnings that matter).
                if c.args()
                    .first()
                    .is_some_and(|w| w.text.eq_ignore_ascii_case("BACKUP"))
                {
                    r.note(
                        "",
                        format!(
                            "{}: state BACKUP: netvrrp starts every router as Backup too",
                            c.loc()
                        ),
                    );
                } else {
                    let n = self.skip(
                        c,
                        "netvrrp has no initial state: every router starts as Backup and the election decides (an owner, 255, takes over at once)",
                    );
                    r.note("", n);
                }
            }
            "check_unicast_src" => r.note(
                "unicast-peers",
                format!(
                    "{}: check_unicast_src: netvrrp's unicast mode always hears only its peers",
                    c.loc()
                ),
            ),
            "unicast_ttl" => r.note(
                "unicast-peers",
                format!(
                    "{}: unicast_ttl: netvrrp sends TTL/hop limit 255 and accepts nothing else",
                    c.loc()
                ),
            ),
            _ => {
                let why = INSTANCE_SKIPS
                    .iter()
                    .find(|(k, _)| k.contains(&kw))
                    .map_or("no netvrrp equivalent", |(_, why)| why);
                let n = self.skip(c, why);
                r.note("", n);
            }
        }
    }

    /// What the instance leads through VRRS: VIPs on other devices become pathways, notify
    /// scripts become clients.
    fn vrrs_parts(
        &mut self,
        inst: &mut Inst,
        vip_dev: Vec<(String, IpNet, Location)>,
        notifies: Vec<Statement>,
    ) {
        let leader = inst.name.clone();
        for (dev, a, loc) in vip_dev {
            self.d.warn(
                loc.clone(),
                format!("{a} dev {dev}: becomes a [[vrrs.pathway]] on {dev} following {leader}"),
            );
            match inst.pathways.iter_mut().find(|p| p.interface == dev) {
                Some(p) => p.address.push(a),
                None => inst.pathways.push(Pathway {
                    leader: leader.clone(),
                    interface: dev.clone(),
                    address: vec![a],
                    notes: vec![format!(
                        "{loc}: VIPs of vrrp_instance {leader} on {dev}: added to {dev} itself while {leader} is master, as keepalived did"
                    )],
                }),
            }
        }
        for n in notifies {
            if matches!(
                n.keyword(),
                "notify_stop" | "notify_deleted" | "notify_master_rx_lower_pri"
            ) {
                let note = self.skip(&n, "no netvrrp equivalent");
                inst.router.note("", note);
            } else if let Some(c) = self.notify(&n, &leader) {
                inst.clients.push(c);
            }
        }
        if !inst.pathways.is_empty() || !inst.clients.is_empty() {
            inst.router.vrrs_leader.push(leader);
        }
    }

    /// Round a keepalived advert_int to what the version can carry, saying so.
    fn interval(&mut self, ms: u32, version: u8, loc: &Location, r: &mut Router) -> u32 {
        let (step, min, max) = if version == 2 {
            (1000, 1000, 255_000)
        } else {
            (10, 10, 40_950)
        };
        let rounded = ms.div_ceil(step).max(1) * step;
        let fixed = rounded.clamp(min, max);
        if fixed != ms {
            self.d.warn(
                loc.clone(),
                format!(
                    "advert_int {} s is {fixed} ms in VRRPv{version}",
                    f64::from(ms) / 1000.0
                ),
            );
            r.note(
                "advertisement-interval",
                format!(
                    "advert_int {} s rounded to what VRRPv{version} carries",
                    f64::from(ms) / 1000.0
                ),
            );
        }
        fixed
    }

    /// A tracked object's kind, weight and direction: the use's own weight, else the
    /// object's; None (with a warning) when no such object is defined.
    fn resolve(
        &mut self,
        block: &Statement,
        w: &Word,
        weight: Option<i32>,
        reverse: bool,
    ) -> Option<(&'static str, String, i32, bool)> {
        let why = match self.objects.get(&w.text) {
            None => "no such object defined; skipped",
            Some(Object { name: None, .. }) => "the object was not translated; not tracked",
            Some(
                obj @ Object {
                    name: Some(name), ..
                },
            ) => {
                return Some((
                    obj.kind,
                    name.clone(),
                    weight.unwrap_or(obj.weight),
                    reverse || obj.reverse,
                ));
            }
        };
        self.d.warn(
            w.loc.clone(),
            format!("{} {}: {why}", block.keyword(), w.text),
        );
        None
    }
}

fn garp_delay(s: &mut Settings, notes: &mut Vec<(&'static str, String)>, ms: u32, at: &Location) {
    if ms == 0 {
        s.garp_bursts = Some(1);
        notes.push((
            "garp-bursts",
            format!("{at}: garp_master_delay 0: no second set"),
        ));
    } else {
        s.garp_bursts = Some(2);
        s.garp_burst_interval = Some(ms.clamp(10, 60_000));
        notes.push((
            "garp-burst-interval",
            format!("{at}: garp_master_delay: the second set of gratuitous ARP/NA"),
        ));
    }
}

fn is_true(s: &str) -> bool {
    matches!(s, "on" | "true" | "yes")
}

/// A keepalived script string: unquoted, one word (the program); quoted, split at unquoted
/// white space with single quotes grouping (keepalived.conf(5), "Quoted strings").
fn split_script(w: &Word) -> Vec<String> {
    if !w.quoted {
        return vec![w.text.clone()];
    }
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_single = false;
    let mut any = false;
    for c in w.text.chars() {
        match c {
            '\'' => {
                in_single = !in_single;
                any = true;
            }
            c if c.is_whitespace() && !in_single => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever the input (every truncation of a realistic file, stray braces and quotes),
    /// the importer returns errors or a model, never panics.
    #[test]
    fn never_panics_on_truncated_or_mangled_input() {
        crate::import::tests::mangled(
            "keepalived-full/keepalived.conf",
            &["", "}", "{", "\"", "weight", "virtual_ipaddress {", "dev"],
            |text, d| {
                let top = keepalived_lex::read_str(text, "t.conf", d);
                translate(&top, "t.conf", d)
            },
        );
    }

    /// Import `text` as t.conf: the output (None on errors), the warnings and errors as
    /// printed (`t.conf:LINE:COL: message`).
    fn import_text(text: &str) -> (Option<String>, Vec<String>, Vec<String>) {
        let mut d = Diags::default();
        let top = keepalived_lex::read_str(text, "t.conf", &mut d);
        let imp = translate(&top, "t.conf", &mut d);
        let shown = |v: &[crate::import::Diag]| -> Vec<String> {
            v.iter()
                .map(|x| format!("{}: {}", x.loc, x.message))
                .collect()
        };
        let out = d
            .errors
            .is_empty()
            .then(|| super::super::render::render(&imp, None).unwrap());
        if let Some(out) = &out {
            crate::config::parse_str(out, "t.toml").unwrap();
        }
        (out, shown(&d.warnings), shown(&d.errors))
    }

    /// Panics, showing `context`, unless `want` is one of `list`.
    fn expect<S: AsRef<str>>(list: &[S], want: &str, context: &dyn std::fmt::Debug) {
        assert!(
            list.iter().any(|x| x.as_ref() == want),
            "{want}\nnot in {context:#?}"
        );
    }

    /// The lines of the last `[[vrrp]]` table of `out`, comments included.
    fn router_lines(out: &str) -> Vec<&str> {
        out.rsplit("[[vrrp]]\n")
            .next()
            .unwrap_or_default()
            .lines()
            .take_while(|l| !l.is_empty())
            .collect()
    }

    /// keepalived 2.2.7 clears nopreempt and preempt_delay with state MASTER ("nopreempt
    /// will not work with initial state MASTER - clearing") and preempts at once.
    #[test]
    fn nopreempt_with_state_master_preempts_as_in_keepalived() {
        let (out, warnings, _) = import_text(
            "vrrp_instance A {\n state MASTER\n nopreempt\n preempt_delay 10\n interface eth0\n virtual_router_id 1\n virtual_ipaddress { 10.0.0.5/24 }\n}\n",
        );
        let out = out.unwrap();
        expect(
            &warnings,
            "t.conf:3:2: `nopreempt` with state MASTER: keepalived clears it and preempts; preempt = true",
            &warnings,
        );
        expect(
            &warnings,
            "t.conf:4:2: `preempt_delay` with state MASTER: keepalived clears it and preempts at once; not translated",
            &warnings,
        );
        let lines = router_lines(&out);
        expect(&lines, "preempt = true", &out);
        assert!(!out.contains("preempt-delay ="), "{out}");
        expect(
            &lines,
            "# t.conf:3:2: nopreempt: keepalived ignores it with state MASTER (\"nopreempt will not work with initial state MASTER - clearing\")",
            &out,
        );
        // BACKUP (or keepalived's unknown spelling `master`, which is BACKUP): kept.
        for state in ["BACKUP", "master"] {
            let (out, ..) = import_text(&format!(
                "vrrp_instance A {{\n state {state}\n nopreempt\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {{ 10.0.0.5/24 }}\n}}\n"
            ));
            assert!(out.unwrap().contains("\npreempt = false\n"), "{state}");
        }
    }

    /// keepalived zeroes the weight of an interface a sync group member tracks itself ("ignoring
    /// kb0 tracked interface weight due to SYNC group"): FAULT while it is down.
    #[test]
    fn sync_member_interface_weight_is_fault_as_in_keepalived() {
        let group = "vrrp_sync_group G {\n group {\n A\n B\n }\n}\nvrrp_instance B {\n interface eth1\n virtual_router_id 2\n virtual_ipaddress { 10.0.1.5/24 }\n}\n";
        let (out, warnings, _) = import_text(&format!(
            "{group}vrrp_instance A {{\n interface eth0\n virtual_router_id 1\n track_interface {{\n kb0 weight -15\n }}\n virtual_ipaddress {{ 10.0.0.5/24 }}\n}}\n"
        ));
        let out = out.unwrap();
        expect(
            &warnings,
            "t.conf:16:2: track_interface kb0 weight -15: in vrrp_sync_group G keepalived zeroes it (FAULT while it is down): fault = true",
            &warnings,
        );
        let lines = router_lines(&out);
        expect(
            &lines,
            "# t.conf:16:2: track_interface kb0 weight -15: keepalived zeroes the weight of a sync group member's own track_interface (FAULT while it is down); fault = true does the same",
            &out,
        );
        expect(
            &lines,
            "track = [{ interface = \"kb0\", fault = true }]",
            &out,
        );
        // sync_group_tracking_weight keeps the weight.
        let keep = group.replacen(" }\n}\n", " }\n sync_group_tracking_weight\n}\n", 1);
        let (out, warnings, _) = import_text(&format!(
            "{keep}vrrp_instance A {{\n interface eth0\n virtual_router_id 1\n track_interface {{\n kb0 weight -15\n }}\n virtual_ipaddress {{ 10.0.0.5/24 }}\n}}\n"
        ));
        assert!(
            out.unwrap()
                .contains("track = [{ interface = \"kb0\", decrement = 15 }]"),
            "{warnings:#?}"
        );
    }

    /// A sync group member's weighted script is not tracked by keepalived at all ("ignoring
    /// tracked script chk_nginx with weights due to SYNC group"); its process keeps its
    /// weight. The comment says the weight the file gave.
    #[test]
    fn sync_member_weighted_script_is_not_tracked_as_in_keepalived() {
        let (out, warnings, _) = import_text(
            "vrrp_script chk_nginx {\n script /usr/bin/true\n weight 5\n}\nvrrp_track_process nginx {\n process nginx\n weight -7\n}\nvrrp_sync_group G {\n group {\n A\n }\n}\nvrrp_instance A {\n interface eth0\n virtual_router_id 1\n track_script {\n chk_nginx\n }\n track_process {\n nginx\n }\n virtual_ipaddress { 10.0.0.5/24 }\n}\n",
        );
        let out = out.unwrap();
        expect(
            &warnings,
            "t.conf:18:2: track_script chk_nginx weight 5: keepalived does not track it in vrrp_sync_group G; not tracked (track it on the group, or set sync_group_tracking_weight there, to keep it)",
            &warnings,
        );
        let lines = router_lines(&out);
        expect(
            &lines,
            "# t.conf:18:2: track_script chk_nginx weight 5: not tracked, as in keepalived, which drops a sync group member's own weighted track_script entries",
            &out,
        );
        expect(
            &lines,
            "track = [{ object = \"nginx\", decrement = 7 }]",
            &out,
        );
        assert!(!out.contains("weight 0"), "{out}");
    }

    /// keepalived skips a unicast peer of the other family ("MUST be of the same family").
    #[test]
    fn unicast_peer_of_the_other_family_is_a_warning() {
        let (out, warnings, _) = import_text(
            "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n unicast_peer {\n 10.0.0.2\n fe80::1\n }\n virtual_ipaddress { 10.0.0.5/24 }\n}\n",
        );
        let out = out.unwrap();
        assert_eq!(
            warnings,
            [
                "t.conf:6:2: unicast_peer fe80::1: an ipv6 peer in an ipv4 instance: keepalived skips it (the families must match); not translated"
            ]
        );
        let lines = router_lines(&out);
        expect(
            &lines,
            "# t.conf:6:2: unicast_peer fe80::1: not translated: keepalived skips a peer of the other family",
            &out,
        );
        expect(&lines, "unicast-peers = [\"10.0.0.2\"]", &out);
    }

    /// An address option without its value: keepalived skips the address ("No dev parameter
    /// specified for ..."); an error, as for any malformed address.
    #[test]
    fn address_option_without_value_is_an_error() {
        for opt in ["dev", "scope", "label"] {
            let (out, _, errors) = import_text(&format!(
                "vrrp_instance A {{\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {{\n 10.0.0.5/24 {opt}\n }}\n}}\n"
            ));
            assert!(out.is_none());
            assert_eq!(
                errors,
                [format!("t.conf:5:14: 10.0.0.5/24: `{opt}` needs a value")]
            );
        }
    }

    /// vrrp_track_process `quorum 1` is keepalived's default and what a process object does:
    /// a comment, no warning; another quorum has no equivalent.
    #[test]
    fn process_quorum_one_is_the_same_meaning() {
        let conf = |q: u32| {
            format!(
                "vrrp_track_process nginx {{\n process nginx\n quorum {q}\n}}\nvrrp_instance A {{\n interface eth0\n virtual_router_id 1\n track_process {{\n nginx\n }}\n virtual_ipaddress {{ 10.0.0.5/24 }}\n}}\n"
            )
        };
        let (out, warnings, _) = import_text(&conf(1));
        assert!(warnings.is_empty(), "{warnings:#?}");
        assert!(out.unwrap().contains(
            "# t.conf:3:2: quorum 1: up while at least one such process runs (same meaning)\n"
        ));
        let (_, warnings, _) = import_text(&conf(2));
        assert_eq!(
            warnings,
            [
                "t.conf:3:2: `quorum` not translated: a process object is up while any one process of that name runs, however many"
            ]
        );
    }

    /// Track objects become real `[[track]]` tables and router entries that validate:
    /// FAULT is `fault = true`, a positive weight raises the priority, a shell string
    /// runs through /bin/sh -c, an object that cannot be translated is not tracked.
    #[test]
    fn track_objects_and_entries() {
        use crate::config::{FileUpWhen, ProcessTarget, TrackKind, TrackTarget};
        let text = "\
vrrp_script plain { script \"/usr/bin/check 'a b'\"\n interval 0.001\n rise 500\n init_fail }
vrrp_script shell { script \"pidof haproxy | grep -q .\"\n weight 20 }
vrrp_script empty { interval 2 }
vrrp_track_process nginx:main { process /usr/sbin/nginx-with-a-long-name\n weight -10 }
track_file flag { file /run/flag\n weight 5 }
vrrp_instance A {
  interface eth0
  virtual_router_id 1
  priority 100
  virtual_ipaddress { 192.0.2.1/24 }
  track_script { plain\n shell\n empty\n plain weight -7 }
  track_process { nginx:main }
  track_file { flag }
}
";
        let mut d = Diags::default();
        let top = keepalived_lex::read_str(text, "t.conf", &mut d);
        let imp = translate(&top, "t.conf", &mut d);
        assert!(d.errors.is_empty(), "{:?}", d.errors);
        let out = super::super::render::render(&imp, None).unwrap();
        let c = crate::config::parse_str(&out, "t.toml").unwrap();
        let kinds: Vec<(&str, &TrackKind)> = c
            .tracks
            .iter()
            .map(|t| (t.name.as_str(), &t.kind))
            .collect();
        assert_eq!(kinds.len(), 4, "{out}");
        assert_eq!(
            *kinds[0].1,
            TrackKind::Exec {
                command: vec!["/usr/bin/check".into(), "a b".into()],
                interval_ms: 10,
                timeout_ms: 10,
                rise: 100,
                fall: 1,
                initial_up: false,
                run_as: Default::default(),
            }
        );
        let TrackKind::Exec {
            command,
            initial_up,
            ..
        } = kinds[1].1
        else {
            panic!("{out}")
        };
        assert_eq!(command[..2], ["/bin/sh".to_string(), "-c".to_string()]);
        assert!(initial_up);
        assert_eq!(kinds[2].0, "nginx_main");
        assert_eq!(
            *kinds[2].1,
            TrackKind::Process {
                target: ProcessTarget::Name("nginx-with-a-lo".into())
            }
        );
        assert_eq!(
            *kinds[3].1,
            TrackKind::File {
                path: "/run/flag".into(),
                up_when: FileUpWhen::Zero
            }
        );
        let r = &c.routers[0];
        // +20 from `shell`; `plain` twice: a fault wins; `empty` and the +5 file: untracked.
        assert_eq!(r.priority, 120, "{out}");
        let entries: Vec<(TrackTarget, u8, bool)> = r
            .track
            .iter()
            .map(|t| (t.target.clone(), t.decrement, t.fault))
            .collect();
        let obj = |n: &str| TrackTarget::Object(n.to_string());
        assert_eq!(
            entries,
            [
                (obj("plain"), 0, true),
                (obj("shell"), 20, false),
                (obj("nginx_main"), 10, false),
            ],
            "{out}"
        );
        let warned = |s: &str| d.warnings.iter().any(|w| w.message.contains(s));
        assert!(warned("vrrp_script empty: no usable `script`"));
        assert!(warned("track_script empty: the object was not translated"));
        assert!(warned("track_file flag weight +5"));
    }
}
