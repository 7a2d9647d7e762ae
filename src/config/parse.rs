//! Parsing and validation of netvrrp.toml(5).
//!
//! The file is parsed with `toml_edit::Document`, which keeps the byte span of every key
//! and value, and then walked by hand (not through serde) so that every problem can be
//! reported with its own position and the walk can go on after it: the operator gets every
//! error of the file in one run.
//!
//! Conventions (documented in netvrrp.toml(5)):
//! - a location is `file:LINE:COLUMN`, both 1-based; columns count characters, not bytes
//!   (as toml_edit's own messages do); `0:0` means "no position" (an unreadable file);
//! - a key path is dotted with **1-based** indices in brackets: `vrrp[2].ipv4[1]` is the first
//!   address of the second `[[vrrp]]` of the file, in the order the file lists them;
//! - an error about a value points at the value, an unknown key at the key, a missing key
//!   at the header of the table that lacks it; an error about a pair of things (a duplicate)
//!   points at the second one and names the location of the first in its message.

use super::{
    ClientConfig, ClientKind, Config, ConfigError, ConfigErrors, GroupRef, Location, PathwayConfig,
    RouterConfig, RuntimeConfig, Version,
};
use crate::types::{Family, IFNAME_MAX, MacAddr};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::{Range, RangeInclusive};
use std::path::{Path, PathBuf};
use toml_edit::{Array, Document, InlineTable, Item, Table, Value};

mod addresses;
mod chunked;
mod cross;
mod hook;
mod ra;
mod router;
#[cfg(test)]
mod tests;
mod track;
mod values;
mod vrrs;

use addresses::{mac_problem, parse_any};
pub(crate) use addresses::{parse_v4, parse_v6};
#[cfg(test)]
use chunked::blank_out;
use chunked::{parse_chunked, router_chunks};
use cross::{Mark, RouterKey, RouterRec, element_number};
use values::suggest;

/// Built-in defaults (netvrrp.toml(5) documents the same values).
pub(crate) const DEFAULT_VERSION: Version = Version::V3;
const DEFAULT_PRIORITY: u8 = 100;
const DEFAULT_INTERVAL_MS: u32 = 1000;
const DEFAULT_PREEMPT: bool = true;
const DEFAULT_PREEMPT_DELAY_MS: u32 = 0;
const DEFAULT_ACCEPT_MODE: bool = true;
const DEFAULT_CHECKSUM_PSEUDOHEADER: bool = true;
const DEFAULT_SHUTDOWN: bool = false;
const DEFAULT_GARP_BURSTS: u32 = 2;
const DEFAULT_GARP_BURST_INTERVAL_MS: u32 = 2000;
const DEFAULT_EXEC_TIMEOUT_MS: u32 = 10_000;

const PRIORITY_RANGE: RangeInclusive<i64> = 1..=255;
const VRID_RANGE: RangeInclusive<i64> = 1..=255;
const PREEMPT_DELAY_RANGE: RangeInclusive<i64> = 0..=3_600_000;
const GARP_BURSTS_RANGE: RangeInclusive<i64> = 1..=10;
const GARP_BURST_INTERVAL_RANGE: RangeInclusive<i64> = 10..=60_000;
const EXEC_TIMEOUT_RANGE: RangeInclusive<i64> = 1..=3_600_000;

const TOP_KEYS: &[&str] = &["defaults", "runtime", "vrrp", "vrrs", "track"];
const DEFAULT_KEYS: &[&str] = &[
    "version",
    "priority",
    "advertisement-interval",
    "preempt",
    "preempt-delay",
    "accept-mode",
    "checksum-with-ipv4-pseudoheader",
    "shutdown",
    "garp-bursts",
    "garp-burst-interval",
];
const ROUTER_ONLY_KEYS: &[&str] = &[
    "name",
    "interface",
    "vrid",
    "ipv4",
    "ipv6",
    "vrrs-leader",
    "vrrs-leader-family",
    "track",
    "peers",
    "unicast-peers",
    ra::KEY,
];
const RUNTIME_KEYS: &[&str] = &[
    "metrics-listen",
    "control-group",
    "control-read-group",
    "realtime-priority",
    "pathway-group-base",
];
const VRRS_KEYS: &[&str] = &["pathway", "client"];
const PATHWAY_KEYS: &[&str] = &["leader", "interface", "mac", "address"];
const CLIENT_COMMON_KEYS: &[&str] = &["leader", "kind"];
const CLIENT_KINDS: &[(&str, &[&str])] = &[
    ("interface-state", &["interface"]),
    ("accounting", &["path"]),
    ("exec", &["command", "timeout", "user", "group"]),
];

/// Read and validate a file. A file that cannot be read is one error without a position
/// (`FILE: cannot read: REASON`).
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let file = path.display().to_string();
    let one = |line: usize, column: usize, message: String| {
        ConfigErrors(vec![ConfigError {
            location: Location {
                file: file.clone(),
                line,
                column,
            },
            key: String::new(),
            message,
        }])
    };
    let bytes = std::fs::read(path).map_err(|e| one(0, 0, format!("cannot read: {e}")))?;
    // Point at the first byte that is not UTF-8, like any other error in the file.
    let text = String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
        let start = good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&good[start..]).chars().count() + 1;
        one(line, column, "the file is not valid UTF-8 here".into())
    })?;
    let mut config = parse_str(&text, &file)?;
    config.source = Some(path.to_path_buf());
    Ok(config)
}

/// Below this many `[[vrrp]]` tables a file is parsed in one piece.
const CHUNKED_FROM: usize = 64;

/// Parse and validate text; `file` names it in messages.
///
/// A large file is parsed one `[[vrrp]]` table at a time ([`router_chunks`]): toml_edit's
/// document of 4,000 routers took ~13 MB (50 times the text) for a moment, at start-up and at
/// every reload, on top of everything the runtime holds; one table's document is a few KB.
/// The result, errors and their positions included, is the same as the whole document's;
/// whatever the split cannot vouch for (a syntax error, `vrrp` written another way) is
/// parsed in one piece.
pub fn parse_str(text: &str, file: &str) -> Result<Config, ConfigErrors> {
    if let Some(chunks) = router_chunks(text)
        && chunks.len() >= CHUNKED_FROM
        && let Some(result) = parse_chunked(text, file, &chunks)
    {
        return result;
    }
    parse_whole(text, file)
}

fn parse_whole(text: &str, file: &str) -> Result<Config, ConfigErrors> {
    let mut checker = Checker::new(text, file);
    let doc = match Document::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            // A syntax error leaves no tree to validate: it is the only error reported.
            let message = format!("invalid TOML: {}", e.message());
            checker.error(&e.span(), "", message);
            return Err(ConfigErrors(checker.errors));
        }
    };
    let Ok(config) = checker.document(doc.as_table(), None) else {
        unreachable!("a whole document has no chunk that could fail to parse");
    };
    checker.finish(config)
}

thread_local! {
    /// Where the document being read starts in the file (a `[[vrrp]]` chunk's offset).
    static BASE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// A span of the document being read, in file offsets.
fn at_base(span: Span) -> Span {
    let base = BASE.with(|b| b.get());
    span.map(|s| s.start + base..s.end + base)
}

type Span = Option<Range<usize>>;

/// Byte offsets → 1-based line and character column.
struct Source<'a> {
    text: &'a str,
    file: &'a str,
    /// Byte offset where each line starts.
    line_starts: Vec<usize>,
}

impl<'a> Source<'a> {
    fn new(text: &'a str, file: &'a str) -> Self {
        // Exact: grown by doubling, the table of a 4,000-router file took 100 KB more than
        // its lines during the whole parse.
        let lines = text.bytes().filter(|&b| b == b'\n').count();
        let mut line_starts = Vec::with_capacity(lines + 1);
        line_starts.push(0);
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Source {
            text,
            file,
            line_starts,
        }
    }

    fn location(&self, span: &Span) -> Location {
        let Some(span) = span else {
            return Location {
                file: self.file.to_string(),
                line: 0,
                column: 0,
            };
        };
        let offset = span.start.min(self.text.len());
        // partition_point gives the number of line starts <= offset, i.e. the 1-based line.
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let start = self.line_starts[line.saturating_sub(1)];
        let column = match self.text.get(start..offset) {
            Some(prefix) => prefix.chars().count() + 1,
            // Not on a char boundary (cannot happen with toml_edit spans): count bytes.
            None => offset - start + 1,
        };
        Location {
            file: self.file.to_string(),
            line,
            column,
        }
    }
}

/// A standard (`[x]`) or inline (`{ … }`) table: the schema allows both everywhere.
#[derive(Clone, Copy)]
enum Tbl<'a> {
    Std(&'a Table),
    Inline(&'a InlineTable),
}

impl<'a> Tbl<'a> {
    fn from_item(item: &'a Item) -> Option<Self> {
        match item {
            Item::Table(t) => Some(Tbl::Std(t)),
            Item::Value(Value::InlineTable(t)) => Some(Tbl::Inline(t)),
            _ => None,
        }
    }

    fn span(self) -> Span {
        match self {
            Tbl::Std(t) => at_base(t.span()),
            Tbl::Inline(t) => at_base(t.span()),
        }
    }

    /// Keys in file order with the span of each key.
    fn keys(self) -> Vec<(&'a str, Span)> {
        match self {
            Tbl::Std(t) => t
                .iter()
                .map(|(k, _)| (k, at_base(t.key(k).and_then(|k| k.span()))))
                .collect(),
            Tbl::Inline(t) => t
                .iter()
                .map(|(k, _)| (k, at_base(t.key(k).and_then(|k| k.span()))))
                .collect(),
        }
    }

    fn get(self, key: &str) -> Option<(Span, &'a Item)> {
        let (k, item) = match self {
            Tbl::Std(t) => t.get_key_value(key)?,
            Tbl::Inline(t) => t.get_key_value(key)?,
        };
        Some((at_base(k.span()), item))
    }
}

/// A table being read, with its key path (`""` for the root).
#[derive(Clone)]
struct Reader<'a> {
    tbl: Tbl<'a>,
    path: String,
}

impl<'a> Reader<'a> {
    fn child(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn entry(&self, key: &str) -> Option<Entry<'a>> {
        let (key_span, item) = self.tbl.get(key)?;
        let value = item.as_value();
        Some(Entry {
            path: self.child(key),
            span: at_base(item.span()).or(key_span),
            number: 0,
            value,
            item: Some(item),
        })
    }
}

/// One value to read: a key's value or an array element.
#[derive(Clone)]
struct Entry<'a> {
    path: String,
    span: Span,
    /// An array element's 1-based number in its array (the last index of `path`); 0 for a
    /// key's value.
    number: u32,
    value: Option<&'a Value>,
    /// The item when the entry is a key (tables are items, not values).
    item: Option<&'a Item>,
}

impl<'a> Entry<'a> {
    fn element(path: &str, index: usize, value: &'a Value) -> Self {
        Entry {
            path: format!("{path}[{}]", index + 1),
            span: at_base(value.span()),
            number: u32::try_from(index + 1).unwrap_or(u32::MAX),
            value: Some(value),
            item: None,
        }
    }

    fn type_name(&self) -> &'static str {
        match (self.value, self.item) {
            (Some(v), _) => value_type(v),
            (None, Some(Item::Table(_))) => "table",
            (None, Some(Item::ArrayOfTables(_))) => "array of tables",
            _ => "nothing",
        }
    }
}

fn value_type(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Integer(_) => "integer",
        Value::Float(_) => "float",
        Value::Boolean(_) => "boolean",
        Value::Datetime(_) => "datetime",
        Value::Array(_) => "array",
        Value::InlineTable(_) => "table",
    }
}

/// A value together with where it was written (for cross-checks and their messages).
#[derive(Debug, Clone)]
struct Set<T> {
    value: T,
    span: Span,
    path: String,
}

/// The keys `[defaults]` and `[[vrrp]]` share, as written (None = not written).
#[derive(Default, Clone)]
struct Settings {
    version: Option<Set<Version>>,
    /// `version` was written but invalid: checks that depend on the version are skipped
    /// rather than run against a guess.
    version_invalid: bool,
    priority: Option<Set<u8>>,
    interval: Option<Set<u32>>,
    preempt: Option<Set<bool>>,
    preempt_delay: Option<Set<u32>>,
    accept_mode: Option<Set<bool>>,
    checksum: Option<Set<bool>>,
    shutdown: Option<Set<bool>>,
    garp_bursts: Option<Set<u32>>,
    garp_interval: Option<Set<u32>>,
}

/// The router's own value, else the `[defaults]` one, else the built-in default.
fn pick<T: Copy>(own: &Option<Set<T>>, defaults: &Option<Set<T>>, builtin: T) -> T {
    own.as_ref()
        .or(defaults.as_ref())
        .map_or(builtin, |s| s.value)
}

fn pick_set<'s, T>(own: &'s Option<Set<T>>, defaults: &'s Option<Set<T>>) -> Option<&'s Set<T>> {
    own.as_ref().or(defaults.as_ref())
}

struct PathwayRec {
    config: PathwayConfig,
    path: String,
    leader: Option<Set<String>>,
    interface: Option<Set<String>>,
    mac: Option<Set<MacAddr>>,
    addresses: Vec<Set<IpAddr>>,
}

struct ClientRec {
    config: Option<ClientConfig>,
    leader: Option<Set<String>>,
    /// The `interface` of an interface-state client.
    interface: Option<Set<String>>,
}

struct Checker<'a> {
    src: Source<'a>,
    errors: Vec<ConfigError>,
    /// Settings that are valid but risky (they do not fail the file).
    warnings: Vec<ConfigError>,
    /// (span start, key) of interval errors already reported: an interval written once in
    /// `[defaults]` is checked for every router that inherits it, but reported once.
    interval_reported: HashSet<(usize, String)>,
}

impl<'a> Checker<'a> {
    fn new(text: &'a str, file: &'a str) -> Self {
        Checker {
            src: Source::new(text, file),
            errors: Vec::new(),
            warnings: Vec::new(),
            interval_reported: HashSet::new(),
        }
    }

    fn error(&mut self, span: &Span, key: &str, message: impl Into<String>) {
        self.errors.push(ConfigError {
            location: self.src.location(span),
            key: key.to_string(),
            message: message.into(),
        });
    }

    fn at(&self, span: &Span) -> Location {
        self.src.location(span)
    }

    fn finish(mut self, mut config: Config) -> Result<Config, ConfigErrors> {
        if self.errors.is_empty() {
            config.warnings = self.warnings;
            return Ok(config);
        }
        // File order is what an operator fixing the file wants; sort is stable, so errors
        // at one position keep the order they were found in.
        self.errors
            .sort_by_key(|e| (e.location.line, e.location.column));
        Err(ConfigErrors(self.errors))
    }

    // ---- generic readers -------------------------------------------------------------

    // ---- the schema --------------------------------------------------------------------

    /// The whole configuration. `chunks`: the `[[vrrp]]` tables are not in `root` but at
    /// these ranges of the text, each parsed on its own ([`parse_chunked`]); Err(()) when one
    /// does not parse as a single `[[vrrp]]` table.
    fn document(
        &mut self,
        root: &Table,
        chunks: Option<(&str, &[Range<usize>])>,
    ) -> Result<Config, ()> {
        let root = Reader {
            tbl: Tbl::Std(root),
            path: String::new(),
        };
        self.check_keys(&root, TOP_KEYS, &[]);

        let defaults = match self.table(&root, "defaults") {
            Some(r) => {
                let elsewhere: Vec<(&str, &str)> = ROUTER_ONLY_KEYS
                    .iter()
                    .map(|k| (*k, "it belongs in a [[vrrp]] table, not in [defaults]"))
                    .collect();
                self.check_keys(&r, DEFAULT_KEYS, &elsewhere);
                self.settings(&r)
            }
            None => Settings::default(),
        };
        // A [defaults] block must be consistent on its own, even if no router inherits it.
        if let Some(interval) = &defaults.interval
            && !defaults.version_invalid
        {
            let version = pick(&defaults.version, &None, DEFAULT_VERSION);
            self.check_interval(interval, version, None);
        }

        let runtime = self.runtime(&root);
        let tracks = self.track_objects(&root);

        let (configs, routers): (Vec<RouterConfig>, Vec<RouterRec>) = match chunks {
            None => self
                .table_list(&root, "vrrp")
                .into_iter()
                .map(|r| self.router(&r, &defaults))
                .unzip(),
            Some((text, chunks)) => {
                let mut configs = Vec::with_capacity(chunks.len());
                let mut routers = Vec::with_capacity(chunks.len());
                for (i, chunk) in chunks.iter().enumerate() {
                    let doc = Document::parse(&text[chunk.clone()]).map_err(|_| ())?;
                    let table = doc.as_table();
                    let Some(Item::ArrayOfTables(aot)) = table.get("vrrp") else {
                        return Err(());
                    };
                    if table.len() != 1 || aot.len() != 1 {
                        return Err(());
                    }
                    let reader = Reader {
                        tbl: Tbl::Std(aot.get(0).ok_or(())?),
                        path: format!("vrrp[{}]", i + 1),
                    };
                    BASE.with(|b| b.set(chunk.start));
                    let (config, rec) = self.router(&reader, &defaults);
                    BASE.with(|b| b.set(0));
                    configs.push(config);
                    routers.push(rec);
                }
                (configs, routers)
            }
        };

        let mut pathways = Vec::new();
        let mut clients = Vec::new();
        if let Some(vrrs) = self.table(&root, "vrrs") {
            self.check_keys(&vrrs, VRRS_KEYS, &[]);
            for r in self.table_list(&vrrs, "pathway") {
                pathways.push(self.pathway(&r));
            }
            for r in self.table_list(&vrrs, "client") {
                clients.push(self.client(&r));
            }
        }

        self.cross_check(&configs, &routers, &pathways, &clients);
        self.check_track_references(&routers, &tracks);
        drop(routers);

        Ok(Config {
            source: None,
            runtime,
            routers: configs,
            pathways: pathways.into_iter().map(|p| p.config).collect(),
            clients: clients.into_iter().filter_map(|c| c.config).collect(),
            tracks: tracks.into_iter().filter_map(|t| t.config).collect(),
            warnings: Vec::new(),
        })
    }

    fn runtime(&mut self, root: &Reader<'_>) -> RuntimeConfig {
        let mut runtime = RuntimeConfig::default();
        let Some(r) = self.table(root, "runtime") else {
            return runtime;
        };
        self.check_keys(&r, RUNTIME_KEYS, &[]);
        if let Some(e) = r.entry("metrics-listen")
            && let Some(s) = self.string(&e)
        {
            if let Ok(addr) = s.parse::<SocketAddr>() {
                runtime.metrics_listen = Some(s.to_string());
                if let Some(why) = crate::config::exposed_listen_address(&addr) {
                    self.warnings.push(ConfigError {
                        location: self.src.location(&e.span),
                        key: e.path.clone(),
                        message: format!("warning: {why}"),
                    });
                }
            } else {
                self.error(
                    &e.span,
                    &e.path,
                    format!("`{s}` is not an address:port such as 127.0.0.1:9100 or [::1]:9100"),
                );
            }
        }
        runtime.control_group = self.group(&r, "control-group");
        runtime.control_read_group = self.group(&r, "control-read-group");
        if let Some(e) = r.entry("realtime-priority") {
            // The SCHED_FIFO priorities Linux offers (sched_get_priority_min/max).
            runtime.realtime_priority = self.int_as(&e, 1..=99, "realtime-priority");
        }
        if let Some(e) = r.entry("pathway-group-base") {
            runtime.pathway_group_base = self.int_as(
                &e,
                0..=i64::from(super::MAX_PATHWAY_GROUP_BASE),
                "pathway-group-base",
            );
        }
        runtime
    }

    /// A group name, resolved in the group database now: a typo must fail validation rather
    /// than lock everybody out of a running runtime.
    fn group(&mut self, r: &Reader<'_>, key: &str) -> Option<GroupRef> {
        let e = r.entry(key)?;
        let name = self.string(&e)?.to_string();
        match nix::unistd::Group::from_name(&name) {
            Ok(Some(g)) => Some(GroupRef {
                name,
                gid: g.gid.as_raw(),
            }),
            Ok(None) => {
                self.error(
                    &e.span,
                    &e.path,
                    format!("group `{name}` does not exist on this machine (create it with `groupadd {name}`)"),
                );
                None
            }
            Err(err) => {
                self.error(
                    &e.span,
                    &e.path,
                    format!("cannot look up group `{name}`: {err}"),
                );
                None
            }
        }
    }

    /// The keys shared by `[defaults]` and `[[vrrp]]`, with their static ranges.
    fn settings(&mut self, r: &Reader<'_>) -> Settings {
        let mut s = Settings::default();
        if let Some(e) = r.entry("version") {
            match e.value {
                Some(Value::Integer(i)) if *i.value() == 2 => {
                    s.version = Some(self.set(&e, Version::V2))
                }
                Some(Value::Integer(i)) if *i.value() == 3 => {
                    s.version = Some(self.set(&e, Version::V3))
                }
                Some(Value::Integer(i)) => {
                    let v = *i.value();
                    self.error(
                        &e.span,
                        &e.path,
                        format!("version {v} is not supported: use 2 or 3"),
                    );
                    s.version_invalid = true;
                }
                _ => {
                    self.type_error(&e, "integer");
                    s.version_invalid = true;
                }
            }
        }
        if let Some(e) = r.entry("priority") {
            s.priority = self
                .int_as(&e, PRIORITY_RANGE, "priority")
                .map(|v| self.set(&e, v));
        }
        if let Some(e) = r.entry("advertisement-interval") {
            // The range depends on the version, which may come from elsewhere: checked when
            // the effective version is known (check_interval).
            s.interval = self
                .int_as(&e, 0..=i64::from(u32::MAX), "advertisement-interval")
                .map(|v| self.set(&e, v));
        }
        if let Some(e) = r.entry("preempt") {
            s.preempt = self.boolean(&e).map(|v| self.set(&e, v));
        }
        if let Some(e) = r.entry("preempt-delay") {
            s.preempt_delay = self
                .int_as(&e, PREEMPT_DELAY_RANGE, "preempt-delay")
                .map(|v| self.set(&e, v));
        }
        if let Some(e) = r.entry("accept-mode") {
            s.accept_mode = self.boolean(&e).map(|v| self.set(&e, v));
        }
        if let Some(e) = r.entry("checksum-with-ipv4-pseudoheader") {
            s.checksum = self.boolean(&e).map(|v| self.set(&e, v));
        }
        if let Some(e) = r.entry("shutdown") {
            s.shutdown = self.boolean(&e).map(|v| self.set(&e, v));
        }
        if let Some(e) = r.entry("garp-bursts") {
            s.garp_bursts = self
                .int_as(&e, GARP_BURSTS_RANGE, "garp-bursts")
                .map(|v| self.set(&e, v));
        }
        if let Some(e) = r.entry("garp-burst-interval") {
            s.garp_interval = self
                .int_as(&e, GARP_BURST_INTERVAL_RANGE, "garp-burst-interval")
                .map(|v| self.set(&e, v));
        }
        s
    }

    /// The advertisement interval against the version that will use it. `user` names the
    /// router when the interval was inherited from `[defaults]`.
    fn check_interval(&mut self, interval: &Set<u32>, version: Version, user: Option<&str>) {
        let v = interval.value;
        let (lo, hi, step) = match version {
            // v3 carries centiseconds in 12 bits; v2 whole seconds in 8 bits.
            Version::V3 => (10, 40_950, 10),
            Version::V2 => (1_000, 255_000, 1_000),
        };
        let n = version.number();
        let mut message = if !(lo..=hi).contains(&v) {
            format!("advertisement-interval {v} ms is out of range {lo}..={hi} for VRRPv{n}")
        } else if !v.is_multiple_of(step) {
            format!(
                "advertisement-interval {v} ms is not a multiple of {step} ms, as VRRPv{n} requires"
            )
        } else {
            return;
        };
        let start = interval.span.as_ref().map_or(0, |s| s.start);
        if !self
            .interval_reported
            .insert((start, interval.path.clone()))
        {
            return;
        }
        if let Some(user) = user {
            message.push_str(&format!(" (inherited by {user}, which uses version {n})"));
        }
        self.error(&interval.span, &interval.path, message);
    }

    // ---- rules across tables -----------------------------------------------------------
}
