//! `[[track]]` health objects and the `track` entries of a router (netvrrp.toml(5),
//! "TRACKING").

use super::{Checker, Reader, RouterRec, Set};
use crate::config::{FileUpWhen, ProcessTarget, TrackConfig, TrackKind, TrackObject, TrackTarget};
use ipnet::IpNet;
use std::collections::HashSet;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

/// Keys of a router's `track` entry.
const ENTRY_KEYS: &[&str] = &["interface", "object", "decrement", "fault"];
const OBJECT_COMMON_KEYS: &[&str] = &["name", "kind"];
const OBJECT_KINDS: &[(&str, &[&str])] = &[
    (
        "exec",
        &[
            "command",
            "interval-ms",
            "timeout-ms",
            "rise",
            "fall",
            "initial",
            "user",
            "group",
        ],
    ),
    ("process", &["process", "pidfile"]),
    ("file", &["file", "up-when"]),
    ("route", &["route", "table"]),
];

const DECREMENT_RANGE: RangeInclusive<i64> = 1..=254;
const INTERVAL_RANGE: RangeInclusive<i64> = 10..=3_600_000;
const RISE_FALL_RANGE: RangeInclusive<i64> = 1..=100;
const TABLE_RANGE: RangeInclusive<i64> = 1..=0xFFFF_FFFF;
pub(crate) const DEFAULT_CHECK_INTERVAL_MS: u32 = 1000;
pub(crate) const DEFAULT_RISE_FALL: u32 = 1;
/// The kernel's main table (`ip route` without `table`).
pub(crate) const DEFAULT_ROUTE_TABLE: u32 = 254;
/// The kernel's comm is 16 bytes with the NUL: a longer name could never match.
const COMM_MAX: usize = 15;

/// A `[[track]]` as read, with what the cross-checks need.
pub(super) struct TrackRec {
    pub(super) config: Option<TrackObject>,
    name: Option<Set<String>>,
}

impl Checker<'_> {
    /// Every `[[track]]` of the file; duplicate names are reported at the second one.
    pub(super) fn track_objects(&mut self, root: &Reader<'_>) -> Vec<TrackRec> {
        let mut out: Vec<TrackRec> = Vec::new();
        for r in self.table_list(root, "track") {
            let rec = self.track_object(&r);
            if let Some(n) = &rec.name
                && let Some(first) = out
                    .iter()
                    .filter_map(|t| t.name.as_ref())
                    .find(|f| f.value == n.value)
            {
                let at = self.at(&first.span);
                self.error(
                    &n.span,
                    &n.path,
                    format!("track object `{}` is already defined at {at}", n.value),
                );
                continue;
            }
            out.push(rec);
        }
        out
    }

    fn track_object(&mut self, r: &Reader<'_>) -> TrackRec {
        let name = self.required(r, "name").and_then(|e| {
            let s = self.string(&e)?;
            let ok = !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if ok {
                Some(self.set(&e, s.to_string()))
            } else {
                self.error(
                    &e.span,
                    &e.path,
                    format!("track name `{s}` must be non-empty letters, digits, `-`, `_` or `.`"),
                );
                None
            }
        });
        let Some(kind) = self.kind_keys(r, OBJECT_COMMON_KEYS, OBJECT_KINDS, "track") else {
            return TrackRec { config: None, name };
        };
        let kind = match kind {
            "exec" => self.exec_object(r),
            "process" => self.process_object(r),
            "file" => self
                .absolute_path(r, "file")
                .map(|path| {
                    let up_when = r.entry("up-when").map_or(Some(FileUpWhen::Exists), |e| {
                        self.choice(&e, FileUpWhen::NAMES, "up-when")
                    });
                    (path, up_when)
                })
                .and_then(|(path, up_when)| {
                    Some(TrackKind::File {
                        path,
                        up_when: up_when?,
                    })
                }),
            _ => self.route_object(r),
        };
        let config = match (&name, kind) {
            (Some(n), Some(kind)) => Some(TrackObject {
                name: n.value.clone(),
                kind,
                location: self.at(&r.tbl.span()),
            }),
            _ => None,
        };
        TrackRec { config, name }
    }

    fn exec_object(&mut self, r: &Reader<'_>) -> Option<TrackKind> {
        let command = self.hook_command(r, "[\"/usr/local/bin/check-web\", \"--quick\"]");
        let run_as = self.run_as(r);
        let interval =
            self.optional_int(r, "interval-ms", INTERVAL_RANGE, DEFAULT_CHECK_INTERVAL_MS);
        let timeout = self.optional_int(
            r,
            "timeout-ms",
            INTERVAL_RANGE,
            interval.unwrap_or(DEFAULT_CHECK_INTERVAL_MS),
        );
        let rise = self.optional_int(r, "rise", RISE_FALL_RANGE, DEFAULT_RISE_FALL);
        let fall = self.optional_int(r, "fall", RISE_FALL_RANGE, DEFAULT_RISE_FALL);
        let initial = r.entry("initial").map_or(Some(false), |e| {
            self.choice(&e, &[("down", false), ("up", true)], "initial")
        });
        Some(TrackKind::Exec {
            command: command?,
            interval_ms: interval?,
            timeout_ms: timeout?,
            rise: rise?,
            fall: fall?,
            initial_up: initial?,
            run_as: run_as?,
        })
    }

    fn process_object(&mut self, r: &Reader<'_>) -> Option<TrackKind> {
        match (r.entry("process"), r.entry("pidfile")) {
            (Some(e), None) => {
                let s = self.string(&e)?;
                if s.is_empty() || s.len() > COMM_MAX || s.contains('/') {
                    self.error(&e.span, &e.path, format!("process name `{s}` must be 1 to {COMM_MAX} bytes without `/`: it is matched against the kernel's process name (comm), which holds at most {COMM_MAX}"));
                    return None;
                }
                Some(TrackKind::Process {
                    target: ProcessTarget::Name(s.to_string()),
                })
            }
            (None, Some(_)) => self
                .absolute_path(r, "pidfile")
                .map(|p| TrackKind::Process {
                    target: ProcessTarget::Pidfile(p),
                }),
            (Some(_), Some(e)) => {
                self.error(
                    &e.span,
                    &e.path,
                    "give either `process` or `pidfile`, not both",
                );
                None
            }
            (None, None) => {
                let path = r.child("process");
                self.error(
                    &r.tbl.span(),
                    &path,
                    "a process object needs `process` (a process name) or `pidfile`",
                );
                None
            }
        }
    }

    fn route_object(&mut self, r: &Reader<'_>) -> Option<TrackKind> {
        let prefix = self.required(r, "route").and_then(|e| {
            let s = self.string(&e)?;
            // A bare address is its host route; the default route is allowed (parse_any is
            // for VIPs and refuses it).
            let parsed = s
                .parse::<IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| format!("`{s}` is not a route prefix (a.b.c.d/len or addr/len)"));
            match parsed {
                // The kernel keys routes by network: 10.1.2.3/8 would never match.
                Ok(net) if net.trunc() == net => Some(net),
                Ok(net) => {
                    self.error(
                        &e.span,
                        &e.path,
                        format!(
                            "`{s}` has host bits set: write the network, {}",
                            net.trunc()
                        ),
                    );
                    None
                }
                Err(m) => {
                    self.error(&e.span, &e.path, m);
                    None
                }
            }
        });
        let table = self.optional_int(r, "table", TABLE_RANGE, DEFAULT_ROUTE_TABLE);
        Some(TrackKind::Route {
            prefix: prefix?,
            table: table?,
        })
    }

    /// An optional integer key with its default.
    fn optional_int(
        &mut self,
        r: &Reader<'_>,
        key: &str,
        range: RangeInclusive<i64>,
        default: u32,
    ) -> Option<u32> {
        match r.entry(key) {
            Some(e) => self.int_as::<u32>(&e, range, key),
            None => Some(default),
        }
    }

    /// A string that must be one of `names`.
    fn choice<T: Copy>(
        &mut self,
        e: &super::Entry<'_>,
        names: &[(&str, T)],
        what: &str,
    ) -> Option<T> {
        let s = self.string(e)?;
        match names.iter().find(|(n, _)| *n == s) {
            Some((_, v)) => Some(*v),
            None => {
                let list: Vec<String> = names.iter().map(|(n, _)| format!("\"{n}\"")).collect();
                self.error(
                    &e.span,
                    &e.path,
                    format!("unknown {what} `{s}` (expected one of {})", list.join(", ")),
                );
                None
            }
        }
    }

    /// A required absolute path: the runtime's working directory is `/` under systemd.
    fn absolute_path(&mut self, r: &Reader<'_>, key: &str) -> Option<PathBuf> {
        let e = self.required(r, key)?;
        let s = self.string(&e)?;
        if Path::new(s).is_absolute() {
            Some(PathBuf::from(s))
        } else {
            self.error(
                &e.span,
                &e.path,
                format!("`{key}` path `{s}` must be absolute"),
            );
            None
        }
    }

    /// A router's `track` list: the entries, and the object names they use (resolved by
    /// [`Checker::check_track_references`]).
    pub(super) fn track_entries(&mut self, r: &Reader<'_>) -> (Vec<TrackConfig>, Vec<Set<String>>) {
        let mut track = Vec::new();
        let mut objects = Vec::new();
        let mut seen: Vec<Set<TrackTarget>> = Vec::new();
        for t in self.table_list(r, "track") {
            self.check_keys(&t, ENTRY_KEYS, &[]);
            let target = match (t.entry("interface"), t.entry("object")) {
                (Some(_), Some(e)) => {
                    self.error(
                        &e.span,
                        &e.path,
                        "a track entry follows either an `interface` or an `object`, not both",
                    );
                    None
                }
                (Some(_), None) => self.required_interface(&t).map(|i| Set {
                    value: TrackTarget::Interface(i.value),
                    span: i.span,
                    path: i.path,
                }),
                (None, Some(e)) => self.string(&e).map(|s| {
                    let set = self.set(&e, s.to_string());
                    objects.push(set);
                    self.set(&e, TrackTarget::Object(s.to_string()))
                }),
                (None, None) => {
                    let path = t.child("object");
                    self.error(
                        &t.tbl.span(),
                        &path,
                        "a track entry needs `object` (a [[track]] name) or `interface`",
                    );
                    None
                }
            };
            let fault = match t.entry("fault") {
                Some(e) => self.boolean(&e).map(|b| (b, Some(e))),
                None => Some((false, None)),
            };
            let decrement = match (t.entry("decrement"), &fault) {
                (Some(d), Some((true, Some(_)))) => {
                    self.error(&d.span, &d.path, "give either `decrement` or `fault = true`, not both: a fault already takes the router out of the election");
                    None
                }
                (None, Some((true, _))) => Some(0),
                (Some(d), _) => self.int_as::<u8>(&d, DECREMENT_RANGE, "decrement"),
                // `fault = false` (or a bad fault) still needs its decrement.
                (None, _) => self
                    .required(&t, "decrement")
                    .and_then(|e| self.int_as::<u8>(&e, DECREMENT_RANGE, "decrement")),
            };
            let Some(target) = target else { continue };
            if let Some(first) = seen.iter().find(|f| f.value == target.value) {
                let at = format!("{} ({})", self.at(&first.span), first.path);
                let what = match &target.value {
                    TrackTarget::Interface(i) => format!("interface `{i}`"),
                    TrackTarget::Object(o) => format!("object `{o}`"),
                };
                self.error(
                    &target.span,
                    &target.path,
                    format!("{what} is already tracked at {at}"),
                );
                continue;
            }
            seen.push(target.clone());
            if let (Some(decrement), Some((fault, _))) = (decrement, fault) {
                track.push(TrackConfig {
                    target: target.value,
                    decrement,
                    fault,
                });
            }
        }
        (track, objects)
    }

    /// Every object a router names must be a `[[track]]` of the file.
    pub(super) fn check_track_references(&mut self, routers: &[RouterRec], tracks: &[TrackRec]) {
        let names: HashSet<&str> = tracks
            .iter()
            .filter_map(|t| t.name.as_ref())
            .map(|n| n.value.as_str())
            .collect();
        for r in routers {
            for o in &r.objects {
                if !names.contains(o.value.as_str()) {
                    let known: Vec<&str> = names.iter().copied().collect();
                    let mut message = format!("no [[track]] object is named `{}`", o.value);
                    if let Some(s) = super::suggest(&o.value, &known) {
                        message.push_str(&format!(" (did you mean `{s}`?)"));
                    }
                    self.error(&o.span, &o.path, message);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::parse::tests::{errors, ok};
    use crate::config::{FileUpWhen, ProcessTarget, TrackKind, TrackTarget};

    const R: &str = "[[vrrp]]\ninterface = \"eth0\"\nvrid = 1\nipv4 = [\"192.0.2.1/24\"]\n";

    #[track_caller]
    fn one(text: &str, line: usize, column: usize, key: &str, fragment: &str) {
        let e = errors(text);
        assert_eq!(e.len(), 1, "{e:#?}");
        let (l, c, k, m) = &e[0];
        assert_eq!((*l, *c, k.as_str()), (line, column, key), "{m}");
        assert!(m.contains(fragment), "{m:?} lacks {fragment:?}");
    }

    const WEB: &str = "[[track]]\nname = \"web\"\nkind = \"exec\"\ncommand = [\"/bin/true\"]\n";

    #[test]
    fn track_objects_of_every_kind_with_defaults() {
        let text = format!(
            "{WEB}[[track]]\nname = \"hap\"\nkind = \"process\"\nprocess = \"haproxy\"\n\
             [[track]]\nname = \"pid\"\nkind = \"process\"\npidfile = \"/run/x.pid\"\n\
             [[track]]\nname = \"flag\"\nkind = \"file\"\nfile = \"/run/flag\"\nup-when = \"zero\"\n\
             [[track]]\nname = \"up\"\nkind = \"route\"\nroute = \"0.0.0.0/0\"\n\
             {R}track = [{{ object = \"web\", decrement = 50 }}, {{ object = \"hap\", fault = true }}, {{ interface = \"eth1\", decrement = 20 }}]\n"
        );
        let c = ok(&text);
        assert_eq!(c.tracks.len(), 5);
        assert_eq!(
            c.tracks[0].kind,
            TrackKind::Exec {
                command: vec!["/bin/true".into()],
                interval_ms: 1000,
                timeout_ms: 1000,
                rise: 1,
                fall: 1,
                initial_up: false,
                run_as: Default::default(),
            }
        );
        assert_eq!(
            c.tracks[1].kind,
            TrackKind::Process {
                target: ProcessTarget::Name("haproxy".into())
            }
        );
        assert_eq!(
            c.tracks[2].kind,
            TrackKind::Process {
                target: ProcessTarget::Pidfile("/run/x.pid".into())
            }
        );
        assert_eq!(
            c.tracks[3].kind,
            TrackKind::File {
                path: "/run/flag".into(),
                up_when: FileUpWhen::Zero
            }
        );
        assert_eq!(
            c.tracks[4].kind,
            TrackKind::Route {
                prefix: "0.0.0.0/0".parse().unwrap(),
                table: 254
            }
        );
        let t = &c.routers[0].track;
        assert_eq!(t[0].target, TrackTarget::Object("web".into()));
        assert_eq!((t[0].decrement, t[0].fault), (50, false));
        assert_eq!((t[1].decrement, t[1].fault), (0, true));
        assert_eq!(t[2].interface(), Some("eth1"));
    }

    #[test]
    fn exec_settings() {
        let text = "[[track]]\nname = \"w\"\nkind = \"exec\"\ncommand = [\"/c\", \"-q\"]\ninterval-ms = 200\ntimeout-ms = 100\nrise = 2\nfall = 3\ninitial = \"up\"\n";
        let c = ok(text);
        assert_eq!(
            c.tracks[0].kind,
            TrackKind::Exec {
                command: vec!["/c".into(), "-q".into()],
                interval_ms: 200,
                timeout_ms: 100,
                rise: 2,
                fall: 3,
                initial_up: true,
                run_as: Default::default(),
            }
        );
    }

    #[test]
    fn object_errors_have_positions() {
        one(
            "[[track]]\nname = \"w\"\nkind = \"exec\"\ncommand = [\"check\"]\n",
            4,
            12,
            "track[1].command[1]",
            "absolute path",
        );
        one(
            &format!("{WEB}{WEB}"),
            6,
            8,
            "track[2].name",
            "already defined at t.toml:2:8",
        );
        one(
            "[[track]]\nname = \"w\"\nkind = \"ping\"\n",
            3,
            8,
            "track[1].kind",
            "unknown track kind `ping`",
        );
        one(
            "[[track]]\nname = \"w\"\nkind = \"file\"\nfile = \"/f\"\nprocess = \"x\"\n",
            5,
            1,
            "track[1].process",
            "does not apply to kind = \"file\"",
        );
        one(
            "[[track]]\nname = \"w\"\nkind = \"file\"\nfile = \"rel\"\n",
            4,
            8,
            "track[1].file",
            "must be absolute",
        );
        one(
            "[[track]]\nname = \"w\"\nkind = \"process\"\nprocess = \"a23456789012345678\"\n",
            4,
            11,
            "track[1].process",
            "at most 15",
        );
        one(
            "[[track]]\nname = \"w\"\nkind = \"route\"\nroute = \"10.1.2.3/8\"\n",
            4,
            9,
            "track[1].route",
            "write the network, 10.0.0.0/8",
        );
        one(
            "[[track]]\nname = \"w\"\nkind = \"exec\"\ncommand = [\"/c\"]\nrise = 0\n",
            5,
            8,
            "track[1].rise",
            "out of range",
        );
        one(
            "[[track]]\nname = \"a b\"\nkind = \"route\"\nroute = \"::/0\"\n",
            2,
            8,
            "track[1].name",
            "letters, digits",
        );
    }

    #[test]
    fn router_entry_errors_have_positions() {
        one(
            &format!("{WEB}{R}track = [{{ object = \"wbe\", decrement = 5 }}]\n"),
            9,
            21,
            "vrrp[1].track[1].object",
            "no [[track]] object is named `wbe` (did you mean `web`?)",
        );
        one(
            &format!("{WEB}{R}track = [{{ object = \"web\", decrement = 5, fault = true }}]\n"),
            9,
            40,
            "vrrp[1].track[1].decrement",
            "not both",
        );
        one(
            &format!(
                "{WEB}{R}track = [{{ object = \"web\", interface = \"eth1\", decrement = 5 }}]\n"
            ),
            9,
            21,
            "vrrp[1].track[1].object",
            "not both",
        );
        one(
            &format!("{WEB}{R}track = [{{ object = \"web\", fault = false }}]\n"),
            9,
            10,
            "vrrp[1].track[1].decrement",
            "missing required key",
        );
        one(
            &format!(
                "{WEB}{R}track = [{{ object = \"web\", decrement = 5 }}, {{ object = \"web\", fault = true }}]\n"
            ),
            9,
            56,
            "vrrp[1].track[2].object",
            "already tracked at t.toml:9:21",
        );
        one(
            &format!("{R}track = [{{ decrement = 5 }}]\n"),
            5,
            10,
            "vrrp[1].track[1].object",
            "needs `object`",
        );
    }
}
