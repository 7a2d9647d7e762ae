//! keepalived.conf(5) → the import model. Translates by meaning: where keepalived and
//! netvrrp differ (weights, FAULT, default version, garp timing) the router gets a comment
//! that says what changed; what has no equivalent is a comment and a warning.

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

    fn global_defs(&mut self, st: &Statement, imp: &mut Imported) {
        for c in st.children() {
            let kw = c.keyword();
            match kw {
                "vrrp_version" => {
                    if let Some(v) = self.arg(c).cloned().and_then(|w| self.int(&w, 2, 3)) {
                        self.version = v as u8;
                        imp.defaults.version = Some(self.version);
                        imp.defaults_notes.push((
                            "version",
                            format!("{}: global_defs vrrp_version {v}", c.loc()),
                        ));
                    }
                }
                "vrrp_garp_master_delay" => {
                    if let Some(ms) = self.arg(c).cloned().and_then(|w| self.secs(&w, 60.0)) {
                        garp_delay(&mut imp.defaults, &mut imp.defaults_notes, ms, &c.loc());
                    }
                }
                "vrrp_min_garp" => {
                    if c.args().first().is_none_or(|w| is_true(&w.text)) {
                        imp.defaults.garp_bursts = Some(1);
                        imp.defaults_notes.push((
                            "garp-bursts",
                            format!("{}: vrrp_min_garp: one burst, no repeat", c.loc()),
                        ));
                    }
                }
                "vrrp_strict" => {
                    imp.defaults.accept_mode = Some(false);
                    imp.defaults_notes.push((
                        "accept-mode",
                        format!(
                            "{}: vrrp_strict: no_accept everywhere (netvrrp drops traffic to the VIPs of a non-owner master); its other checks are netvrrp's normal behaviour",
                            c.loc()
                        ),
                    ));
                }
                "vrrp_check_unicast_src" => imp.notes.push(format!(
                    "{}: vrrp_check_unicast_src: netvrrp's unicast mode always hears only its peers",
                    c.loc()
                )),
                "router_id" | "lvs_id" => {
                    // A name for mails and logs: nothing changes without it.
                    imp.notes.push(format!(
                        "{}: {}: not needed (it only named this host in mails and logs)",
                        c.loc(),
                        words(&c.words)
                    ));
                }
                "notification_email"
                | "notification_email_from"
                | "smtp_server"
                | "smtp_connect_timeout"
                | "smtp_helo_name"
                | "smtp_alert"
                | "smtp_alert_vrrp" => {
                    let n = self.skip(
                        c,
                        "netvrrp sends no mail; use a [[vrrs.client]] of kind exec",
                    );
                    imp.notes.push(n);
                }
                "vrrp_garp_master_repeat"
                | "vrrp_garp_master_refresh"
                | "vrrp_garp_master_refresh_repeat"
                | "vrrp_garp_interval"
                | "vrrp_gna_interval"
                | "vrrp_garp_lower_prio_delay"
                | "vrrp_garp_lower_prio_repeat" => {
                    let n = self.skip(
                        c,
                        "netvrrp sends one gratuitous ARP/NA per address per burst (garp-bursts, garp-burst-interval) and no refresh",
                    );
                    imp.notes.push(n);
                }
                "script_user" | "enable_script_security" => {
                    let n = self.skip(
                        c,
                        "exec clients run as the user of the netvrrp runtime (root); drop privileges in the script",
                    );
                    imp.notes.push(n);
                }
                _ => {
                    let n = self.skip(c, "no netvrrp equivalent");
                    imp.notes.push(n);
                }
            }
        }
    }

    /// vrrp_script / vrrp_track_process / track_file: a `[[track]]` of kind exec, process
    /// or file.
    fn object(&mut self, st: &Statement, kind: &'static str, imp: &mut Imported) {
        let Some(name) = st.args().first() else {
            self.d
                .error(st.loc(), format!("`{}` needs a name", st.keyword()));
            return;
        };
        let ka_name = name.text.clone();
        let name = track_name(&ka_name);
        // keepalived's default weight: 0 (FAULT) for scripts, 1 for processes and files.
        let mut weight = if kind == "exec" { 0 } else { 1 };
        let mut reverse = false;
        let mut fields = Vec::new();
        let mut notes = vec![format!("{}: {} {ka_name}", st.loc(), st.keyword())];
        if name != ka_name {
            notes.push(format!(
                "named {name}: a [[track]] name is letters, digits, `-`, `_` and `.`"
            ));
        }
        // keepalived assumes a script healthy until it fails, unless `init_fail`.
        let mut init_fail = false;
        // The key the kind cannot do without.
        let mut required = false;
        for c in st.children() {
            match c.keyword() {
                "script" if kind == "exec" => {
                    if let Some(w) = self.arg(c).cloned() {
                        let argv = self.exec_command(&w, &mut notes);
                        required = !argv.is_empty();
                        fields.push(("command", strings(&argv)));
                    }
                }
                "process" if kind == "process" => {
                    let argv: Vec<String> = c.args().iter().map(|w| w.text.clone()).collect();
                    if let Some(p) = argv.first() {
                        // The kernel's comm: the program's file name, at most 15 bytes.
                        let base = p.rsplit('/').next().unwrap_or(p);
                        let mut comm = base.to_string();
                        while comm.len() > COMM_MAX {
                            comm.pop();
                        }
                        if comm != *p {
                            notes.push(format!(
                                "process {p}: netvrrp matches the kernel's process name (comm: the program's file name, at most {COMM_MAX} bytes)"
                            ));
                        }
                        if !comm.is_empty() {
                            fields.push(("process", string(&comm)));
                            required = true;
                        }
                    }
                    if argv.len() > 1 {
                        self.d.warn(
                            c.loc(),
                            format!(
                                "process {}: the parameters {:?} are not matched (netvrrp matches the process name only)",
                                argv[0],
                                &argv[1..]
                            ),
                        );
                        notes.push(format!(
                            "{}: process parameters {:?}: not matched, netvrrp matches the process name only",
                            c.loc(),
                            &argv[1..]
                        ));
                    }
                }
                "file" if kind == "file" => {
                    if let Some(p) = c.args().first() {
                        if p.text.starts_with('/') {
                            fields.push(("file", string(&p.text)));
                            fields.push(("up-when", string("zero")));
                            required = true;
                            notes.push(
                                "keepalived's track_file holds a number, 0 when healthy: up-when = \"zero\" is up while the file holds 0 and down otherwise (another number, no number, or no file). keepalived moved the priority by the number times the weight (weight 0: FAULT unless 0); netvrrp takes the router's whole decrement, or faults, while it is down"
                                    .to_string(),
                            );
                        } else {
                            self.d.warn(
                                p.loc.clone(),
                                format!("file {}: not an absolute path", p.text),
                            );
                        }
                    }
                }
                "interval" | "timeout" => {
                    let key = if c.keyword() == "interval" {
                        "interval-ms"
                    } else {
                        "timeout-ms"
                    };
                    if let Some(ms) = self.arg(c).cloned().and_then(|w| self.secs(&w, 3600.0)) {
                        if ms < CHECK_MS_MIN {
                            notes.push(format!(
                                "{}: {} {} s: netvrrp's shortest is {CHECK_MS_MIN} ms",
                                c.loc(),
                                c.keyword(),
                                f64::from(ms) / 1000.0
                            ));
                        }
                        fields.push((key, ms.max(CHECK_MS_MIN).to_string()));
                    }
                }
                "rise" | "fall" => {
                    let key = if c.keyword() == "rise" {
                        "rise"
                    } else {
                        "fall"
                    };
                    if let Some(v) = self
                        .arg(c)
                        .cloned()
                        .and_then(|w| self.int(&w, 1, 1_000_000))
                    {
                        if v > RISE_FALL_MAX {
                            self.d.warn(
                                c.loc(),
                                format!("{key} {v}: netvrrp counts up to {RISE_FALL_MAX}"),
                            );
                            notes.push(format!(
                                "{}: {key} {v}: {RISE_FALL_MAX} is netvrrp's most",
                                c.loc()
                            ));
                        }
                        fields.push((key, v.min(RISE_FALL_MAX).to_string()));
                    }
                }
                "init_fail" if kind == "exec" => init_fail = true,
                "weight" => {
                    // track_file allows any 32-bit weight (it multiplies the file's number);
                    // a priority moves by 254 at the most.
                    let range = i64::from(i32::MIN)..=i64::from(i32::MAX);
                    if let Some(v) = self
                        .arg(c)
                        .cloned()
                        .and_then(|w| self.int(&w, *range.start(), *range.end()))
                    {
                        weight = v.clamp(-254, 254) as i32;
                    }
                    reverse = c.args().get(1).is_some_and(|w| w.text == "reverse");
                }
                _ => {
                    let n = self.skip(c, "no [[track]] equivalent");
                    notes.push(n);
                }
            }
        }
        if kind == "exec" && required {
            if init_fail {
                fields.push(("initial", string("down")));
            } else {
                notes.push(
                    "keepalived counts a script healthy until it fails (no init_fail): initial = \"up\""
                        .to_string(),
                );
                fields.push(("initial", string("up")));
            }
        }
        if !required {
            let what = match kind {
                "exec" => "script",
                "process" => "process",
                _ => "file",
            };
            self.d.warn(
                st.loc(),
                format!(
                    "{} {ka_name}: no usable `{what}`; not translated, and not tracked where it is used",
                    st.keyword()
                ),
            );
            imp.notes.push(format!(
                "{}: {} {ka_name}: not translated: no usable `{what}`",
                st.loc(),
                st.keyword()
            ));
        }
        self.objects.insert(
            ka_name,
            Object {
                kind,
                name: required.then(|| name.clone()),
                weight,
                reverse,
            },
        );
        if required {
            imp.tracks.push(TrackObject {
                name,
                kind,
                fields,
                notes,
            });
        }
    }

    /// A vrrp_script `script`: keepalived splits it into words and runs the program
    /// itself. An absolute program with plain arguments is that argv; anything else (a
    /// program found in PATH, shell syntax) runs through `/bin/sh -c`, since netvrrp runs
    /// an argv with an absolute program and no shell.
    fn exec_command(&mut self, w: &Word, notes: &mut Vec<String>) -> Vec<String> {
        let argv = split_script(w);
        let Some(program) = argv.first() else {
            return argv;
        };
        let plain = program.starts_with('/')
            && !w.text.chars().any(|c| "|&;<>()$`\\\"*?[]#~{}!".contains(c));
        if plain {
            return argv;
        }
        let why = if program.starts_with('/') {
            "it has shell syntax"
        } else {
            "its program is not an absolute path (the shell looks it up in PATH)"
        };
        notes.push(format!(
            "{}: script {:?}: run through /bin/sh -c because {why}; netvrrp runs no shell itself, check the quoting",
            w.loc, w.text
        ));
        vec!["/bin/sh".to_string(), "-c".to_string(), w.text.clone()]
    }

    fn sync_group(&mut self, st: &Statement) {
        let Some(name) = st.args().first() else {
            self.d
                .error(st.loc(), "vrrp_sync_group needs a name".to_string());
            return;
        };
        let members = st
            .children()
            .iter()
            .filter(|c| c.keyword() == "group")
            .flat_map(|c| {
                // Members one a line, or several on one line.
                c.children()
                    .iter()
                    .flat_map(|m| m.words.iter().cloned())
                    .chain(c.args().iter().cloned())
            })
            .collect();
        self.groups.push(Group {
            name: name.text.clone(),
            loc: st.loc(),
            members,
            statement: st.clone(),
        });
    }

    fn group_of(&self, instance: &str) -> Option<&str> {
        self.groups
            .iter()
            .find(|g| g.members.iter().any(|m| m.text == instance))
            .map(|g| g.name.as_str())
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
        let in_group = self.group_of(&name).map(str::to_string);
        let mut vips: Vec<(IpNet, Location, bool)> = Vec::new(); // (address, where, excluded)
        let mut vip_dev: Vec<(String, IpNet, Location)> = Vec::new();
        let mut peers: Vec<(IpAddr, Location)> = Vec::new();
        let mut tracks: Vec<(Word, i32, bool)> = Vec::new(); // interface, weight, reverse
        let mut objects: Vec<(Statement, Word, Option<i32>, bool)> = Vec::new();
        let mut notifies: Vec<Statement> = Vec::new();
        let mut vrid_seen = false;
        for c in st.children() {
            let kw = c.keyword();
            match kw {
                "interface" => {
                    if let Some(w) = self.arg(c) {
                        r.interface = w.text.clone();
                    }
                }
                "virtual_router_id" => {
                    // A bad value is reported here; "missing" is only for no statement.
                    vrid_seen = true;
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
                "virtual_ipaddress" | "virtual_ipaddress_excluded" => {
                    let excluded = kw == "virtual_ipaddress_excluded";
                    for v in c.children() {
                        self.vip(v, excluded, &mut r, &mut vips, &mut vip_dev);
                    }
                }
                "unicast_peer" => {
                    for p in c.children() {
                        let Some(w) = p.words.first() else { continue };
                        match w.text.parse::<IpAddr>() {
                            Ok(a) => peers.push((a, w.loc.clone())),
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
                        tracks.push((w, weight.unwrap_or(0), reverse));
                    }
                }
                "track_script" | "track_process" | "track_file" => {
                    for t in c.children() {
                        let Some(w) = t.words.first().cloned() else {
                            continue;
                        };
                        let (weight, reverse) = self.weight(t, None);
                        objects.push((c.clone(), w, weight, reverse));
                    }
                }
                "notify"
                | "notify_master"
                | "notify_backup"
                | "notify_fault"
                | "notify_stop"
                | "notify_master_rx_lower_pri"
                | "notify_deleted" => notifies.push(c.clone()),
                "garp_master_delay" => {
                    if let Some(ms) = self.arg(c).cloned().and_then(|w| self.secs(&w, 60.0)) {
                        garp_delay(&mut r.settings, &mut r.notes, ms, &c.loc());
                    }
                }
                "use_vmac" => {
                    if c.args().len() > 1 || c.args().first().is_some_and(|w| w.text.contains(':'))
                    {
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
        if r.interface.is_empty() {
            self.d.warn(
                st.loc(),
                format!(
                    "vrrp_instance {name} has no interface: netvrrp needs one; instance skipped"
                ),
            );
            return None;
        }
        if !vrid_seen {
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
        let family = match vips.iter().find(|v| !v.2).or(vips.first()) {
            Some((IpNet::V6(_), ..)) => Family::Ipv6,
            Some(_) => Family::Ipv4,
            None if vip_dev.is_empty() => {
                self.d.warn(
                    st.loc(),
                    format!(
                        "vrrp_instance {name} has no virtual address on {}: a netvrrp router needs one; instance skipped",
                        r.interface
                    ),
                );
                return None;
            }
            None => match vip_dev[0].1 {
                IpNet::V6(_) => Family::Ipv6,
                IpNet::V4(_) => Family::Ipv4,
            },
        };
        for (a, loc, excluded) in &vips {
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
        if r.settings.priority == Some(255) {
            r.note(
                "priority",
                format!(
                    "255, the address owner: netvrrp's apply refuses it unless {} has these addresses itself",
                    r.interface
                ),
            );
        }
        // Tracking. keepalived zeroes the weights of a sync group member's own track
        // scripts, files and processes (every member must move together).
        for (w, weight, reverse) in tracks {
            self.track_interface(&mut r, &w, weight, reverse);
        }
        for (block, w, weight, reverse) in objects {
            let Some((kind, name, mut weight, reverse)) = self.resolve(&block, &w, weight, reverse)
            else {
                continue;
            };
            if in_group.is_some() && weight != 0 {
                r.note(
                    "",
                    format!(
                        "{}: {} {}: keepalived zeroes a sync group member's weights",
                        w.loc,
                        block.keyword(),
                        w.text
                    ),
                );
                weight = 0;
            }
            self.track_object(&mut r, &w, kind, &name, weight, reverse);
        }
        // Unicast: every family of the router needs a peer; netvrrp's IPv6 peers are
        // link-locals. Otherwise the router stays multicast, and says why.
        if !peers.is_empty() {
            self.unicast(&mut r, peers);
        }
        let mut inst = Inst {
            name: name.clone(),
            loc: st.loc(),
            family,
            router: r,
            pathways: Vec::new(),
            clients: Vec::new(),
        };
        let leader = name.clone();
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
                        "{loc}: VIPs of vrrp_instance {name} on {dev}: added to {dev} itself while {leader} is master, as keepalived did"
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
        Some(inst)
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

    /// `weight W [reverse|noreverse]` after a tracked name; `default` when absent.
    fn weight(&mut self, t: &Statement, default: Option<i32>) -> (Option<i32>, bool) {
        let mut weight = default;
        let mut reverse = false;
        let mut it = t.args().iter();
        while let Some(w) = it.next() {
            match w.text.as_str() {
                "weight" => {
                    if let Some(v) = it.next() {
                        weight = self.int(v, -254, 254).map(|v| v as i32);
                    } else {
                        self.d
                            .error(w.loc.clone(), "`weight` needs a number".to_string());
                    }
                }
                "reverse" => reverse = true,
                "noreverse" | "no_reverse" => reverse = false,
                other => self.d.warn(
                    w.loc.clone(),
                    format!("`{other}` ignored (expected weight N [reverse])"),
                ),
            }
        }
        (weight, reverse)
    }

    fn track_interface(&mut self, r: &mut Router, w: &Word, weight: i32, reverse: bool) {
        let at = &w.loc;
        let iface = &w.text;
        if owner_ignores(r, &w.loc, iface, weight) {
            return;
        }
        if reverse {
            self.d.warn(
                at.clone(),
                format!("track_interface {iface} reverse: no equivalent (netvrrp lowers the priority while an interface is down, never while it is up); not tracked"),
            );
            r.note(
                "track",
                format!(
                    "{at}: {iface} weight {weight} reverse: not translated (no reverse tracking)"
                ),
            );
            return;
        }
        let decrement = match weight {
            w if w < 0 => {
                r.note("track", format!("{at}: keepalived weight {w} on {iface}: lowered by {} while it is down (same meaning)", -w));
                Some((-w) as u8)
            }
            0 => {
                r.note(
                    "track",
                    format!("{at}: {iface} without weight: keepalived went to FAULT while it was down; fault = true does the same (the router leaves the election, rather than a decrement of {MAX_DECREMENT} that still lets it become Master alone)"),
                );
                None
            }
            w => Some(self.raise(r, at, iface, w)),
        };
        add_track(r, true, iface, decrement);
    }

    /// A positive keepalived weight, added while `what` was up: netvrrp starts that much
    /// higher (at most 254, as keepalived caps it) and lowers by it while `what` is down.
    fn raise(&mut self, r: &mut Router, at: &Location, what: &str, w: i32) -> u8 {
        r.note(
            "track",
            format!("{at}: keepalived weight +{w} on {what} added {w} while it was up; netvrrp starts {w} higher and lowers by {w} while it is down"),
        );
        let base = i32::from(r.settings.priority.unwrap_or(100));
        // keepalived never moves an owner (255) and never raises anyone to 255.
        if base < 255 {
            if base + w > 254 {
                self.d.warn(
                    at.clone(),
                    format!(
                        "weight +{w} on {what}: priority {} capped at 254 (as in keepalived)",
                        base + w
                    ),
                );
            }
            r.settings.priority = Some((base + w).min(254) as u8);
        }
        w as u8
    }

    /// A tracked `[[track]]` object (`name`, from keepalived's `w`): a negative weight is a
    /// decrement, a positive one raises the priority by as much, weight 0 is FAULT.
    fn track_object(
        &mut self,
        r: &mut Router,
        w: &Word,
        kind: &str,
        name: &str,
        weight: i32,
        reverse: bool,
    ) {
        let ka = &w.text;
        let at = &w.loc;
        if owner_ignores(r, at, ka, weight) {
            return;
        }
        if reverse {
            self.d.warn(
                at.clone(),
                format!("track {kind} {ka} reverse: no equivalent (netvrrp has no reverse tracking); not tracked"),
            );
            r.note(
                "track",
                format!("{at}: {ka} reverse: not translated (no reverse tracking in netvrrp)"),
            );
            return;
        }
        let decrement = match weight {
            w if w < 0 => {
                let how = if kind == "file" {
                    "while it holds anything but 0 (keepalived: by the number times the weight)"
                } else {
                    "while it is down (same meaning)"
                };
                r.note(
                    "track",
                    format!(
                        "{at}: keepalived weight {w} on {ka}: lowered by {} {how}",
                        -w
                    ),
                );
                Some((-w) as u8)
            }
            0 => {
                r.note(
                    "track",
                    format!("{at}: {ka} with weight 0: keepalived went to FAULT while it was down; fault = true does the same (the router leaves the election)"),
                );
                None
            }
            w if kind == "file" => {
                // keepalived added the number times the weight: a file holding 0, the
                // healthy value, added nothing.
                self.d.warn(
                    at.clone(),
                    format!("track_file {ka} weight +{w}: keepalived raised the priority by the file's number times {w}; no equivalent (a file object is up while the file holds 0); not tracked"),
                );
                r.note(
                    "track",
                    format!("{at}: {ka} weight +{w}: not translated (keepalived raised the priority with a non-zero number in the file)"),
                );
                return;
            }
            w => Some(self.raise(r, at, ka, w)),
        };
        add_track(r, false, name, decrement);
    }

    fn unicast(&mut self, r: &mut Router, peers: Vec<(IpAddr, Location)>) {
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

    fn vip(
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

    /// notify*: a [[vrrs.client]] of kind exec following `leader`.
    fn notify(&mut self, n: &Statement, leader: &str) -> Option<Client> {
        let kw = n.keyword();
        let Some(script) = n.args().first() else {
            self.d.error(n.loc(), format!("`{kw}` needs a script"));
            return None;
        };
        let mut notes = vec![format!("{}: {}", n.loc(), words(&n.words))];
        if n.args().len() > 1 {
            self.d.warn(
                n.args()[1].loc.clone(),
                format!(
                    "{kw}: user/group not kept: exec clients run as the netvrrp runtime's user"
                ),
            );
            notes.push("user/group not kept: the command runs as the runtime's user".to_string());
        }
        let argv = split_script(script);
        let state = match kw {
            "notify" => {
                notes.push(
                    "keepalived appended the arguments TYPE NAME STATE PRIORITY; netvrrp passes NETVRRP_NAME and NETVRRP_STATE (initialize, backup, master) in the environment instead: adapt the script".to_string(),
                );
                return Some(Client {
                    leader: leader.to_string(),
                    command: argv,
                    notes,
                });
            }
            "notify_master" => "master",
            "notify_backup" => "backup",
            "notify_fault" => {
                notes.push(
                    "netvrrp has no FAULT state: a router that cannot run is in Initialize"
                        .to_string(),
                );
                "initialize"
            }
            _ => {
                // notify_stop, notify_deleted, notify_master_rx_lower_pri.
                self.skip(n, "no netvrrp equivalent");
                return None;
            }
        };
        notes.push(format!(
            "runs on every transition in netvrrp; the shell wrapper keeps keepalived's \"only on {state}\""
        ));
        let mut command = vec![
            "/bin/sh".to_string(),
            "-c".to_string(),
            format!("[ \"$NETVRRP_STATE\" = {state} ] || exit 0; exec \"$0\" \"$@\""),
        ];
        command.extend(argv);
        Some(Client {
            leader: leader.to_string(),
            command,
            notes,
        })
    }

    /// Sync groups: a leader name served by the first member; group tracking applies to
    /// every member; group notify scripts follow the leader name.
    fn groups_apply(&mut self, insts: &mut [Inst], imp: &mut Imported) {
        let groups = std::mem::take(&mut self.groups);
        for g in &groups {
            let mut members: Vec<usize> = Vec::new();
            for m in &g.members {
                match insts.iter().position(|i| i.name == m.text) {
                    Some(i) => members.push(i),
                    None => self.d.warn(
                        m.loc.clone(),
                        format!(
                            "vrrp_sync_group {}: no vrrp_instance {} was imported",
                            g.name, m.text
                        ),
                    ),
                }
            }
            let Some(&first) = members.first() else {
                continue;
            };
            // A group name that is also an instance's leader name gets a suffix.
            let mut leader = g.name.clone();
            if insts.iter().any(|i| i.router.vrrs_leader.contains(&leader)) {
                leader.push_str("-group");
            }
            let inst = &mut insts[first];
            inst.router.vrrs_leader.push(leader.clone());
            inst.router.note(
                "vrrs-leader",
                format!(
                    "{}: vrrp_sync_group {}: the group's name follows this router",
                    g.loc, g.name
                ),
            );
            let first_name = insts[first].name.clone();
            for &other in &members[1..] {
                let o = &insts[other];
                self.d.warn(
                    o.loc.clone(),
                    format!(
                        "vrrp_instance {} was in vrrp_sync_group {}: netvrrp elects it on its own; give it the same priorities as {first_name} so that both move together",
                        o.name, g.name
                    ),
                );
                insts[other].router.note(
                    "",
                    format!("{}: in vrrp_sync_group {} with {first_name}: netvrrp elects it on its own (same priorities keep them together)", g.loc, g.name),
                );
            }
            for c in g.statement.children() {
                match c.keyword() {
                    "group" => {}
                    "track_interface" => {
                        for t in c.children() {
                            let Some(w) = t.words.first().cloned() else {
                                continue;
                            };
                            let (weight, reverse) = self.weight(t, Some(0));
                            for &m in &members {
                                self.track_interface(
                                    &mut insts[m].router,
                                    &w,
                                    weight.unwrap_or(0),
                                    reverse,
                                );
                            }
                        }
                    }
                    "track_script" | "track_process" | "track_file" => {
                        for t in c.children() {
                            let Some(w) = t.words.first().cloned() else {
                                continue;
                            };
                            let (weight, reverse) = self.weight(t, None);
                            let Some((kind, name, weight, reverse)) =
                                self.resolve(c, &w, weight, reverse)
                            else {
                                continue;
                            };
                            for &m in &members {
                                self.track_object(
                                    &mut insts[m].router,
                                    &w,
                                    kind,
                                    &name,
                                    weight,
                                    reverse,
                                );
                            }
                        }
                    }
                    "notify" | "notify_master" | "notify_backup" | "notify_fault"
                    | "notify_stop" | "notify_deleted" => {
                        if let Some(client) = self.notify(c, &leader) {
                            imp.clients.push(client);
                        }
                    }
                    _ => {
                        let n = self.skip(c, "no netvrrp equivalent");
                        insts[first].router.note("", n);
                    }
                }
            }
        }
        self.groups = groups;
    }
}

/// keepalived never moves an address owner's priority (255) by a weight (FAULT, weight 0,
/// still applies): such an entry is left out, with a comment. True when it was.
fn owner_ignores(r: &mut Router, at: &Location, what: &str, weight: i32) -> bool {
    if r.settings.priority != Some(255) || weight == 0 {
        return false;
    }
    r.note(
        "track",
        format!("{at}: {what} weight {weight}: left out, keepalived ignores weights for an address owner (priority 255)"),
    );
    true
}

/// Add a `track` entry; a second use of the same interface or object adds its decrement
/// (at most 254), and a fault wins over a decrement.
fn add_track(r: &mut Router, interface: bool, name: &str, decrement: Option<u8>) {
    match r
        .track
        .iter_mut()
        .find(|t| t.interface == interface && t.name == name)
    {
        Some(t) => {
            t.decrement = match (t.decrement, decrement) {
                (Some(a), Some(b)) => Some(a.saturating_add(b).min(MAX_DECREMENT)),
                _ => None,
            }
        }
        None => r.track.push(TrackEntry {
            interface,
            name: name.to_string(),
            decrement,
        }),
    }
}

/// A keepalived object name as a `[[track]]` name (letters, digits, `-`, `_`, `.`).
fn track_name(s: &str) -> String {
    let n: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if n.is_empty() { "_".to_string() } else { n }
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

/// Instances with one (interface, VRID) and two families are one netvrrp router.
fn merge_instances(insts: Vec<Inst>, imp: &mut Imported, d: &mut Diags) {
    let mut routers: Vec<(Router, Vec<Family>, Option<Family>, Location)> = Vec::new();
    for mut inst in insts {
        imp.pathways.append(&mut inst.pathways);
        imp.clients.append(&mut inst.clients);
        let r = inst.router;
        let leader_family = (!r.vrrs_leader.is_empty()).then_some(inst.family);
        match routers
            .iter_mut()
            .find(|(x, ..)| x.interface == r.interface && x.vrid == r.vrid)
        {
            None => routers.push((r, vec![inst.family], leader_family, inst.loc.clone())),
            Some((x, fams, lf, _)) => {
                if fams.contains(&inst.family) {
                    d.warn(
                        inst.loc.clone(),
                        format!(
                            "vrrp_instance {}: ({}, vrid {}) already has an {} instance; skipped",
                            inst.name, r.interface, r.vrid, inst.family
                        ),
                    );
                    continue;
                }
                fams.push(inst.family);
                if r.settings != x.settings {
                    d.warn(
                        inst.loc.clone(),
                        format!(
                            "vrrp_instance {}: netvrrp runs both families of ({}, vrid {}) with one set of settings; those of the first instance are kept",
                            inst.name, r.interface, r.vrid
                        ),
                    );
                    x.note("", format!("{}: settings of vrrp_instance {} differ; the first instance's are kept", inst.loc, inst.name));
                }
                x.origin.extend(r.origin);
                x.ipv4.extend(r.ipv4);
                x.ipv6.extend(r.ipv6);
                x.notes.extend(r.notes);
                for l in r.vrrs_leader {
                    if !x.vrrs_leader.contains(&l) {
                        x.vrrs_leader.push(l);
                    }
                }
                if lf.is_none() {
                    *lf = leader_family;
                }
                for t in r.track {
                    if !x
                        .track
                        .iter()
                        .any(|u| u.interface == t.interface && u.name == t.name)
                    {
                        x.track.push(t);
                    }
                }
                for p in r.unicast_peers {
                    if !x.unicast_peers.contains(&p) {
                        x.unicast_peers.push(p);
                    }
                }
            }
        }
    }
    for (mut r, fams, lf, loc) in routers {
        if fams.len() > 1 && !r.vrrs_leader.is_empty() {
            r.vrrs_leader_family = lf;
        }
        // A unicast router must have peers for each family it runs (netvrrp.toml(5)).
        if !r.unicast_peers.is_empty() {
            let v4 = r.unicast_peers.iter().any(|a| a.is_ipv4());
            let v6 = r.unicast_peers.iter().any(|a| a.is_ipv6());
            if (!r.ipv4.is_empty() && !v4) || (!r.ipv6.is_empty() && !v6) {
                let list: Vec<String> = r.unicast_peers.iter().map(|a| a.to_string()).collect();
                d.warn(
                    loc,
                    format!(
                        "({}, vrid {}): unicast peers for one family only ({}); netvrrp needs them for both: multicast",
                        r.interface,
                        r.vrid,
                        list.join(" ")
                    ),
                );
                r.note(
                    "unicast-peers",
                    format!(
                        "unicast peers {} cover one family only: multicast for both",
                        list.join(" ")
                    ),
                );
                r.unicast_peers.clear();
            }
        }
        imp.routers.push(r);
    }
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
