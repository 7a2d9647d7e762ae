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

mod hook;
mod ra;
#[cfg(test)]
mod tests;
mod track;

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

/// Read and validate a file. A file that cannot be read is one error at `0:0`.
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
    let bytes = std::fs::read(path)
        .map_err(|e| one(0, 0, format!("cannot read the configuration file: {e}")))?;
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

/// The byte ranges of the top-level `[[vrrp]]` tables, each up to the next header that is
/// not one of its own sub-tables (`[vrrp.x]`, `[[vrrp.x]]`). None when the headers are
/// written in a way this does not follow (quoted keys) or the text does not lex.
fn router_chunks(text: &str) -> Option<Vec<Range<usize>>> {
    use toml_parser::lexer::TokenKind as K;
    let source = toml_parser::Source::new(text);
    let mut chunks: Vec<Range<usize>> = Vec::new();
    let mut open: Option<usize> = None;
    let mut depth = 0usize;
    let mut line_start = true;
    let mut tokens = source.lex().peekable();
    while let Some(token) = tokens.next() {
        let span = token.span();
        match token.kind() {
            K::Newline => line_start = true,
            K::Whitespace | K::Comment => {}
            K::LeftSquareBracket if line_start && depth == 0 => {
                // A header: `[` or `[[`, then the key, on this line.
                let start = span.start();
                let mut array = false;
                let mut first: Option<&str> = None;
                let mut quoted = false;
                while let Some(t) = tokens.peek() {
                    match t.kind() {
                        K::Newline | K::Eof | K::Comment => break,
                        K::LeftSquareBracket if first.is_none() => array = true,
                        K::Atom if first.is_none() => {
                            let word = text.get(t.span().start()..t.span().end())?;
                            first = word.split('.').next();
                        }
                        K::LiteralString
                        | K::BasicString
                        | K::MlLiteralString
                        | K::MlBasicString => quoted = true,
                        _ => {}
                    }
                    tokens.next();
                }
                if quoted {
                    return None;
                }
                let ours = first == Some("vrrp");
                if let Some(begin) = open
                    && (!ours || array && is_vrrp_array(text, start))
                {
                    chunks.push(begin..start);
                    open = None;
                }
                if ours && array && is_vrrp_array(text, start) {
                    open = Some(start);
                }
                line_start = false;
            }
            K::LeftSquareBracket | K::LeftCurlyBracket => {
                depth += 1;
                line_start = false;
            }
            K::RightSquareBracket | K::RightCurlyBracket => {
                depth = depth.saturating_sub(1);
                line_start = false;
            }
            K::Eof => break,
            _ => line_start = false,
        }
    }
    if let Some(begin) = open {
        chunks.push(begin..text.len());
    }
    Some(chunks)
}

/// Whether the header at `at` is exactly `[[vrrp]]` (white space allowed inside).
fn is_vrrp_array(text: &str, at: usize) -> bool {
    let line = text[at..].split('\n').next().unwrap_or("");
    let line = line.split('#').next().unwrap_or("");
    let compact: String = line.chars().filter(|c| !c.is_whitespace()).collect();
    compact == "[[vrrp]]"
}

/// [`parse_str`] one `[[vrrp]]` table at a time: the rest of the file (the tables blanked
/// out, so every offset stays) is one document, each table its own. None: parse it whole.
fn parse_chunked(
    text: &str,
    file: &str,
    chunks: &[Range<usize>],
) -> Option<Result<Config, ConfigErrors>> {
    let mut rest = text.as_bytes().to_vec();
    for chunk in chunks {
        for b in &mut rest[chunk.clone()] {
            if *b != b'\n' && *b != b'\r' {
                *b = b' ';
            }
        }
    }
    let rest = String::from_utf8(rest).ok()?;
    let doc = Document::parse(rest.as_str()).ok()?;
    if doc.as_table().contains_key("vrrp") {
        return None;
    }
    let mut checker = Checker::new(text, file);
    let config = match checker.document(doc.as_table(), Some((text, chunks))) {
        Ok(config) => config,
        Err(_) => return None,
    };
    Some(checker.finish(config))
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
        let mut line_starts = vec![0];
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
    value: Option<&'a Value>,
    /// The item when the entry is a key (tables are items, not values).
    item: Option<&'a Item>,
}

impl<'a> Entry<'a> {
    fn element(path: &str, index: usize, value: &'a Value) -> Self {
        Entry {
            path: format!("{path}[{}]", index + 1),
            span: at_base(value.span()),
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

/// What the cross-checks need to know about a `[[vrrp]]` besides its config.
struct RouterRec {
    config: RouterConfig,
    path: String,
    /// Both present and valid: the router takes part in cross-checks.
    interface: Option<Set<String>>,
    vrid: Option<Set<u8>>,
    leaders: Vec<Set<String>>,
    /// `name`, when set and valid (unique across the file: see `cross_check`).
    name: Option<Set<String>>,
    vips: Vec<Set<IpAddr>>,
    /// `[[track]]` objects its `track` entries name (checked once all objects are known).
    objects: Vec<Set<String>>,
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

    fn type_error(&mut self, e: &Entry<'_>, expected: &str) {
        let found = e.type_name();
        self.error(
            &e.span,
            &e.path,
            format!("expected {expected}, found {found}"),
        );
    }

    /// Report keys not in `allowed`; `elsewhere` are keys valid in another table (they get
    /// a hint instead of a bare "unknown key").
    fn check_keys(&mut self, r: &Reader<'_>, allowed: &[&str], elsewhere: &[(&str, &str)]) {
        for (key, span) in r.tbl.keys() {
            if allowed.contains(&key) {
                continue;
            }
            let path = r.child(key);
            if let Some((_, hint)) = elsewhere.iter().find(|(k, _)| *k == key) {
                self.error(
                    &span,
                    &path,
                    format!("key `{key}` is not valid here: {hint}"),
                );
                continue;
            }
            let mut message = format!("unknown key `{key}`");
            if let Some(s) = suggest(key, allowed) {
                message.push_str(&format!(" (did you mean `{s}`?)"));
            }
            self.error(&span, &path, message);
        }
    }

    fn integer(&mut self, e: &Entry<'_>, range: RangeInclusive<i64>, what: &str) -> Option<i64> {
        match e.value {
            Some(Value::Integer(i)) => {
                let v = *i.value();
                if range.contains(&v) {
                    Some(v)
                } else {
                    let (lo, hi) = (range.start(), range.end());
                    self.error(
                        &e.span,
                        &e.path,
                        format!("{what} {v} is out of range {lo}..={hi}"),
                    );
                    None
                }
            }
            _ => {
                self.type_error(e, "integer");
                None
            }
        }
    }

    fn int_as<T: TryFrom<i64>>(
        &mut self,
        e: &Entry<'_>,
        range: RangeInclusive<i64>,
        what: &str,
    ) -> Option<T> {
        // The ranges are chosen to fit T, so the conversion only fails if they were not.
        self.integer(e, range, what)
            .and_then(|v| T::try_from(v).ok())
    }

    fn boolean(&mut self, e: &Entry<'_>) -> Option<bool> {
        match e.value {
            Some(Value::Boolean(b)) => Some(*b.value()),
            _ => {
                self.type_error(e, "boolean");
                None
            }
        }
    }

    fn string<'v>(&mut self, e: &Entry<'v>) -> Option<&'v str> {
        match e.value {
            Some(Value::String(s)) => Some(s.value().as_str()),
            _ => {
                self.type_error(e, "string");
                None
            }
        }
    }

    fn array<'v>(&mut self, e: &Entry<'v>) -> Option<&'v Array> {
        match e.value {
            Some(Value::Array(a)) => Some(a),
            _ => {
                self.type_error(e, "array");
                None
            }
        }
    }

    /// An array of strings: each valid string with its entry (wrong elements reported).
    fn strings<'v>(&mut self, e: &Entry<'v>) -> Option<Vec<(Entry<'v>, &'v str)>> {
        let array = self.array(e)?;
        let mut out = Vec::new();
        for (i, v) in array.iter().enumerate() {
            let el = Entry::element(&e.path, i, v);
            if let Some(s) = self.string(&el) {
                out.push((el, s));
            }
        }
        Some(out)
    }

    fn set<T>(&self, e: &Entry<'_>, value: T) -> Set<T> {
        Set {
            value,
            span: e.span.clone(),
            path: e.path.clone(),
        }
    }

    /// A required key: report it missing at the table.
    fn required<'v>(&mut self, r: &Reader<'v>, key: &str) -> Option<Entry<'v>> {
        let e = r.entry(key);
        if e.is_none() {
            let path = r.child(key);
            self.error(
                &r.tbl.span(),
                &path,
                format!("missing required key `{key}`"),
            );
        }
        e
    }

    /// A single table (`[x]` or `x = { … }`).
    fn table<'v>(&mut self, parent: &Reader<'v>, key: &str) -> Option<Reader<'v>> {
        let e = parent.entry(key)?;
        match e.item.and_then(Tbl::from_item) {
            Some(tbl) => Some(Reader { tbl, path: e.path }),
            None => {
                self.type_error(&e, "table");
                None
            }
        }
    }

    /// A list of tables (`[[x]]` or `x = [{ … }, …]`), each with its 1-based path.
    fn table_list<'v>(&mut self, parent: &Reader<'v>, key: &str) -> Vec<Reader<'v>> {
        let Some(e) = parent.entry(key) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        match e.item {
            Some(Item::ArrayOfTables(aot)) => {
                for (i, t) in aot.iter().enumerate() {
                    out.push(Reader {
                        tbl: Tbl::Std(t),
                        path: format!("{}[{}]", e.path, i + 1),
                    });
                }
            }
            Some(Item::Value(Value::Array(array))) => {
                for (i, v) in array.iter().enumerate() {
                    let el = Entry::element(&e.path, i, v);
                    match v {
                        Value::InlineTable(t) => out.push(Reader {
                            tbl: Tbl::Inline(t),
                            path: el.path,
                        }),
                        _ => self.type_error(&el, "table"),
                    }
                }
            }
            _ => self.type_error(&e, "array of tables"),
        }
        out
    }

    /// Check an interface name the way the kernel's dev_valid_name() does.
    fn interface_name(&mut self, e: &Entry<'_>, name: &str) -> bool {
        let problem = if name.is_empty() {
            Some("an interface name must not be empty".to_string())
        } else if name.len() > IFNAME_MAX {
            Some(format!(
                "interface name `{name}` is {} bytes long; Linux allows at most {IFNAME_MAX}",
                name.len()
            ))
        } else if name == "." || name == ".." {
            Some(format!("`{name}` is not a valid interface name"))
        } else if name.contains(['/', ':']) || name.chars().any(char::is_whitespace) {
            Some(format!(
                "interface name `{name}` contains `/`, `:` or white space, which Linux refuses"
            ))
        } else {
            None
        };
        match problem {
            Some(m) => {
                self.error(&e.span, &e.path, m);
                false
            }
            None => true,
        }
    }

    fn required_interface(&mut self, r: &Reader<'_>) -> Option<Set<String>> {
        let e = self.required(r, "interface")?;
        let name = self.string(&e)?;
        if self.interface_name(&e, name) {
            Some(self.set(&e, name.to_string()))
        } else {
            None
        }
    }

    fn leader_name(&mut self, e: &Entry<'_>, name: &str) -> Option<Set<String>> {
        if name.trim().is_empty() {
            self.error(&e.span, &e.path, "a VRRS leader name must not be empty");
            return None;
        }
        Some(self.set(e, name.to_string()))
    }

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

        let routers: Vec<RouterRec> = match chunks {
            None => self
                .table_list(&root, "vrrp")
                .into_iter()
                .map(|r| self.router(&r, &defaults))
                .collect(),
            Some((text, chunks)) => {
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
                    let rec = self.router(&reader, &defaults);
                    BASE.with(|b| b.set(0));
                    routers.push(rec);
                }
                routers
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

        self.cross_check(&routers, &pathways, &clients);
        self.check_track_references(&routers, &tracks);

        Ok(Config {
            source: None,
            runtime,
            routers: routers.into_iter().map(|r| r.config).collect(),
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

    fn router(&mut self, r: &Reader<'_>, defaults: &Settings) -> RouterRec {
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
            match super::router_name::problem(s) {
                Some(why) => {
                    self.error(&e.span, &e.path, why);
                    None
                }
                None => Some(self.set(&e, s.to_string())),
            }
        });
        let interface = self.required_interface(r);
        let vrid = self.required(r, "vrid").and_then(|e| {
            self.int_as::<u8>(&e, VRID_RANGE, "vrid")
                .map(|v| self.set(&e, v))
        });

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

        let mut vips: Vec<Set<IpAddr>> = Vec::new();
        // Counts written elements, valid or not, so that a router whose only address is
        // malformed is not also told it has no address.
        let mut written = 0usize;
        let mut address_key_error = false;
        let mut ipv4 = Vec::new();
        if let Some(e) = r.entry("ipv4") {
            match self.strings(&e) {
                Some(list) => {
                    written += list.len();
                    for (el, s) in list {
                        match parse_v4(s) {
                            Ok(net) => {
                                vips.push(self.set(&el, IpAddr::V4(net.addr())));
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
                    for (el, s) in list {
                        match parse_v6(s) {
                            Ok(net) => {
                                vips.push(self.set(&el, IpAddr::V6(net.addr())));
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

        let mut leaders: Vec<Set<String>> = Vec::new();
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
                }
            }
        }

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

        let (track, objects) = self.track_entries(r);

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

        let unicast_peers = self.unicast_peers(r, &ipv4, &ipv6, !peers.is_empty());
        let router_advertisements = self.router_advertisements(r, &ipv6);

        let config = RouterConfig {
            name: name.as_ref().map(|n| n.value.clone()),
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
            vrrs_leader: leaders.iter().map(|l| l.value.clone()).collect(),
            vrrs_leader_family: leader_family,
            track,
            peers,
            unicast_peers,
            router_advertisements,
            location: self.at(&r.tbl.span()),
        };
        RouterRec {
            config,
            path: r.path.clone(),
            interface,
            vrid,
            leaders,
            name,
            vips,
            objects,
        }
    }

    /// `unicast-peers`: addresses of the router's families, IPv6 ones link-local (adverts
    /// come from and go to link-locals, as in multicast mode), every family of the router
    /// covered (the mode is per router, not per family), no duplicates, and not together with
    /// `peers` (the unicast peers already are the only ones heard).
    fn unicast_peers(
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

    /// The `kind` of a table whose allowed keys depend on it (`[[vrrs.client]]`,
    /// `[[track]]`): report unknown keys and keys of another kind; None when `kind` is
    /// missing or unknown (then only keys unknown to every kind are reported).
    fn kind_keys(
        &mut self,
        r: &Reader<'_>,
        common: &[&str],
        kinds: &[(&'static str, &[&str])],
        what: &str,
    ) -> Option<&'static str> {
        let kind = self.required(r, "kind").and_then(|e| {
            let s = self.string(&e)?;
            match kinds.iter().find(|(k, _)| *k == s) {
                Some((k, keys)) => Some((*k, *keys)),
                None => {
                    let names: Vec<String> =
                        kinds.iter().map(|(k, _)| format!("\"{k}\"")).collect();
                    let expected = match names.split_last() {
                        Some((last, rest)) if !rest.is_empty() => {
                            format!("{} or {last}", rest.join(", "))
                        }
                        _ => names.join(""),
                    };
                    self.error(
                        &e.span,
                        &e.path,
                        format!("unknown {what} kind `{s}` (expected {expected})"),
                    );
                    None
                }
            }
        });
        let all: Vec<&str> = common
            .iter()
            .chain(kinds.iter().flat_map(|(_, keys)| keys.iter()))
            .copied()
            .collect();
        let Some((kind, kind_keys)) = kind else {
            // Without a valid kind only unknown-everywhere keys can be reported.
            self.check_keys(r, &all, &[]);
            return None;
        };
        let allowed: Vec<&str> = common.iter().chain(kind_keys).copied().collect();
        let hint = format!("it does not apply to kind = \"{kind}\"");
        let elsewhere: Vec<(&str, &str)> = all
            .iter()
            .filter(|k| !allowed.contains(k))
            .map(|k| (*k, hint.as_str()))
            .collect();
        self.check_keys(r, &allowed, &elsewhere);
        Some(kind)
    }

    fn pathway(&mut self, r: &Reader<'_>) -> PathwayRec {
        self.check_keys(r, PATHWAY_KEYS, &[]);
        let leader = self.required(r, "leader").and_then(|e| {
            let s = self.string(&e)?;
            self.leader_name(&e, s)
        });
        let interface = self.required_interface(r);
        let mut mac = None;
        if let Some(e) = r.entry("mac")
            && let Some(s) = self.string(&e)
        {
            match s.parse::<MacAddr>() {
                Ok(m) => match mac_problem(m) {
                    Some(problem) => self.error(&e.span, &e.path, format!("`{s}` {problem}")),
                    None => mac = Some(self.set(&e, m)),
                },
                Err(err) => self.error(&e.span, &e.path, err.to_string()),
            }
        }
        let mut address = Vec::new();
        let mut addresses = Vec::new();
        let mut written = 0usize;
        let mut address_key_error = false;
        if let Some(e) = r.entry("address") {
            match self.strings(&e) {
                Some(list) => {
                    written = list.len();
                    for (el, s) in list {
                        match parse_any(s) {
                            Ok(net) => {
                                addresses.push(self.set(&el, net.addr()));
                                address.push(net);
                            }
                            Err(m) => self.error(&el.span, &el.path, m),
                        }
                    }
                }
                None => address_key_error = true,
            }
        }
        // A vMAC without an address has nothing to answer ARP/ND for and nothing to
        // announce; without `mac` an empty list is a state-only pathway (shown, not acted on).
        if r.entry("mac").is_some() && written == 0 && !address_key_error {
            let path = r.child("address");
            self.error(
                &r.tbl.span(),
                &path,
                "a pathway with `mac` needs at least one address in `address`",
            );
        }
        let config = PathwayConfig {
            leader: leader.as_ref().map(|l| l.value.clone()).unwrap_or_default(),
            interface: interface
                .as_ref()
                .map(|i| i.value.clone())
                .unwrap_or_default(),
            mac: mac.as_ref().map(|m| m.value),
            address,
            location: self.at(&r.tbl.span()),
        };
        PathwayRec {
            config,
            path: r.path.clone(),
            leader,
            interface,
            mac,
            addresses,
        }
    }

    fn client(&mut self, r: &Reader<'_>) -> ClientRec {
        let leader = self.required(r, "leader").and_then(|e| {
            let s = self.string(&e)?;
            self.leader_name(&e, s)
        });
        let Some(kind) = self.kind_keys(r, CLIENT_COMMON_KEYS, CLIENT_KINDS, "client") else {
            return ClientRec {
                config: None,
                leader,
                interface: None,
            };
        };

        let mut interface = None;
        let client_kind = match kind {
            "interface-state" => {
                interface = self.required_interface(r);
                interface.as_ref().map(|i| ClientKind::InterfaceState {
                    interface: i.value.clone(),
                })
            }
            "accounting" => self.required(r, "path").and_then(|e| {
                let s = self.string(&e)?;
                // The runtime may run with any working directory (systemd uses /), so a
                // relative path would be ambiguous.
                if !Path::new(s).is_absolute() {
                    self.error(
                        &e.span,
                        &e.path,
                        format!("accounting path `{s}` must be absolute"),
                    );
                    return None;
                }
                Some(ClientKind::Accounting {
                    path: PathBuf::from(s),
                })
            }),
            _ => {
                let command = self.hook_command(r, "[\"/usr/local/bin/notify\", \"arg\"]");
                let run_as = self.run_as(r);
                let timeout = match r.entry("timeout") {
                    Some(e) => self.int_as::<u32>(&e, EXEC_TIMEOUT_RANGE, "timeout"),
                    None => Some(DEFAULT_EXEC_TIMEOUT_MS),
                };
                match (command, timeout, run_as) {
                    (Some(command), Some(timeout_ms), Some(run_as)) => Some(ClientKind::Exec {
                        command,
                        timeout_ms,
                        run_as,
                    }),
                    _ => None,
                }
            }
        };
        let config = match (&leader, client_kind) {
            (Some(l), Some(kind)) => Some(ClientConfig {
                leader: l.value.clone(),
                kind,
                location: self.at(&r.tbl.span()),
            }),
            _ => None,
        };
        ClientRec {
            config,
            leader,
            interface,
        }
    }

    // ---- rules across tables -----------------------------------------------------------

    fn cross_check(
        &mut self,
        routers: &[RouterRec],
        pathways: &[PathwayRec],
        clients: &[ClientRec],
    ) {
        // Duplicate (interface, vrid).
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

        // Router names: one router per name.
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

        // One address, one owner: two routers (or a router and a pathway) holding the same
        // address on one host would fight over it.
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

        // Leader names: one router per name.
        let mut leaders: HashMap<&str, (&RouterRec, &Set<String>)> = HashMap::new();
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

    fn at_router(&self, r: &RouterRec) -> Location {
        r.config.location.clone()
    }
}

/// Why a MAC cannot be a pathway MAC.
fn mac_problem(m: MacAddr) -> Option<&'static str> {
    let o = m.octets();
    if o == [0; 6] {
        Some("is the all-zero MAC")
    } else if o[0] & 1 == 1 {
        Some("is a multicast MAC; a pathway MAC must be unicast")
    } else if o[..5] == [0x00, 0x00, 0x5e, 0x00, 0x01] || o[..5] == [0x00, 0x00, 0x5e, 0x00, 0x02] {
        // netvrrp recognises its VRRP devices by these MACs (and autoconfigure discovers
        // routers by them), so a pathway using one would be taken for a router.
        Some(
            "is a VRRP virtual MAC (00:00:5e:00:01:xx / 00:00:5e:00:02:xx), reserved for [[vrrp]] devices",
        )
    } else {
        None
    }
}

fn v4_problem(a: Ipv4Addr) -> Option<&'static str> {
    if a.is_unspecified() {
        Some("the unspecified address")
    } else if a.is_multicast() {
        Some("a multicast address")
    } else if a.is_loopback() {
        Some("a loopback address")
    } else if a.is_broadcast() {
        Some("the broadcast address")
    } else {
        None
    }
}

fn v6_problem(a: Ipv6Addr) -> Option<&'static str> {
    if a.is_unspecified() {
        Some("the unspecified address")
    } else if a.is_multicast() {
        Some("a multicast address")
    } else if a.is_loopback() {
        Some("the loopback address")
    } else if a.to_ipv4_mapped().is_some() {
        Some("an IPv4-mapped address")
    } else {
        None
    }
}

/// `a.b.c.d/len` or a bare address (= /32).
pub(crate) fn parse_v4(s: &str) -> Result<Ipv4Net, String> {
    let net = if s.contains('/') {
        s.parse::<Ipv4Net>().ok()
    } else {
        s.parse::<Ipv4Addr>().ok().map(Ipv4Net::from)
    };
    let Some(net) = net else {
        if parse_v6(s).is_ok() {
            return Err(format!("`{s}` is an IPv6 address: put it in `ipv6`"));
        }
        return Err(format!(
            "`{s}` is not an IPv4 address or prefix (a.b.c.d or a.b.c.d/len)"
        ));
    };
    match v4_problem(net.addr()) {
        Some(p) => Err(format!("`{s}` is {p} and cannot be configured")),
        None => Ok(net),
    }
}

/// `addr/len` or a bare address (= /128).
pub(crate) fn parse_v6(s: &str) -> Result<Ipv6Net, String> {
    let net = if s.contains('/') {
        s.parse::<Ipv6Net>().ok()
    } else {
        s.parse::<Ipv6Addr>().ok().map(Ipv6Net::from)
    };
    let Some(net) = net else {
        if s.split('/')
            .next()
            .is_some_and(|a| a.parse::<Ipv4Addr>().is_ok())
        {
            return Err(format!("`{s}` is an IPv4 address: put it in `ipv4`"));
        }
        return Err(format!(
            "`{s}` is not an IPv6 address or prefix (addr or addr/len)"
        ));
    };
    match v6_problem(net.addr()) {
        Some(p) => Err(format!("`{s}` is {p} and cannot be configured")),
        None => Ok(net),
    }
}

fn parse_any(s: &str) -> Result<IpNet, String> {
    let is_v6 = s.split('/').next().is_some_and(|a| a.contains(':'));
    if is_v6 {
        parse_v6(s).map(IpNet::V6)
    } else {
        parse_v4(s).map(IpNet::V4).map_err(|_| {
            format!("`{s}` is not an IP address or prefix (a.b.c.d[/len] or addr[/len])")
        })
    }
}

/// The closest allowed key, for "did you mean" hints (typos and snake_case).
fn suggest<'k>(key: &str, allowed: &[&'k str]) -> Option<&'k str> {
    let kebab = key.replace('_', "-").to_ascii_lowercase();
    allowed
        .iter()
        .map(|a| (levenshtein(&kebab, a), *a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 5))
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
