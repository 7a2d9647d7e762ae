//! The layering of docs/architecture.md, checked: no module under src/ may import a layer
//! above it. The rules are data ([`RULES`]); the imports that break them today and are being
//! fixed are data too ([`KNOWN_VIOLATIONS`]), and the test fails once one of those is gone so
//! the list only shrinks.
//!
//! Imports are read from the source text: every `crate::…` path (in `use` items, grouped
//! `crate::{a, b::{c}}` included, and in expressions), and `super::…` paths that climb back
//! to the crate root. Comments and string literals are skipped, so a doc link such as
//! `[`crate::desired::DesiredDevice`]` does not count: it costs no compile-time dependency.
//! Test modules inside src/ are held to the same rules as the code they test.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The layering, one rule a line: `IMPORTER !-> MODULE  why` (IMPORTER must not import
/// MODULE) or `IMPORTER only A, B  why` (IMPORTER imports nothing from the crate but A and
/// B). Module paths are relative to the crate root; a path covers everything below it
/// (`daemon` covers `daemon::runtime`, `plan` covers `plan::Op`). `only` rules keep a
/// layer closed to modules added later.
const RULES: &str = "
# The CLI sits on top: it parses arguments, prints and maps exit codes. Nothing under it
# calls back up into it.
daemon           !-> commands        the runtime calls the reconcile layer, not the CLI
reconcile        !-> commands        reconcile returns typed reports; the CLI prints them
reconcile        !-> daemon          the runtime calls reconcile, not the other way round
reconcile        !-> cli             reconcile takes values, not clap types
daemon::control  !-> cli             the control protocol has its own request types
commands         !-> daemon::filter  the CLI goes through the daemon's public entry points
# The kernel edge executes operations; it does not know the planner that produces them.
kernel           !-> plan            kernel operations and their inverses live in src/kernel
kernel           !-> apply           the undo journal drives the kernel, not the reverse
kernel           !-> reconcile       reconcile drives the kernel
kernel           !-> commands        the kernel edge is below the CLI
kernel           !-> daemon          the kernel edge is below the runtime
kernel           !-> vrrp            the kernel edge knows no protocol
kernel           !-> vrrs            the kernel edge knows no protocol
# The pure layers stay pure.
plan             !-> apply           the planner is pure: it never executes
plan             !-> reconcile       the planner is pure
plan             !-> commands        the planner is pure
plan             !-> daemon          the planner is pure
desired          !-> kernel          desired state is computed from the config alone
desired          !-> plan            desired state is computed from the config alone
desired          !-> daemon          desired state is computed from the config alone
desired          !-> commands        desired state is computed from the config alone
config           only types, config  the schema is the bottom of the pipeline
apply            !-> commands        the journal is below the CLI
apply            !-> daemon          the journal is below the runtime
apply            !-> reconcile       reconcile drives the journal
# The protocol core (codec, sans-IO state machine, sockets) depends on small value types
# only: the runtime builds router parameters from the config.
vrrp             only types, vrrp    the protocol core knows value types only
# VRRS is sans-IO like the router: the runtime carries out its fan-outs.
vrrs             !-> daemon          the runtime carries out VRRS fan-outs
vrrs             !-> commands        VRRS is below the CLI
vrrs             !-> plan            pathway effects are not plan operations
vrrs             !-> apply           pathway effects are not plan operations
# The outward contract (show rows, state events) is built by VRRS, tracking and the
# runtime, so it sits below them.
contract         only types, vrrp, config, contract  the outward contract is plain data
# Exec hooks run what the config names; they know nothing of protocols or the runtime.
hook             only config, types, hook  hooks take a program and ids, nothing else
# The live log filter is a leaf the CLI (start-up) and the runtime (toggles) both use.
log_filter       only log_filter     the log filter knows tracing only
# The shared value types are the bottom layer.
types            only types          types is the bottom layer
";

/// Imports that break a rule of [`RULES`] for a while (empty since issue 14 moved
/// `RouterParams::from_config` out of the protocol core), one a line: `FILE  MODULE` (MODULE as the rule names it; for an `only` rule the
/// top-level module imported). Delete a line when its import goes: the test says which
/// lines no longer match anything, so the list only shrinks.
const KNOWN_VIOLATIONS: &str = "
";

/// One line of [`RULES`].
#[derive(Debug)]
struct Rule {
    from: String,
    what: Limit,
    why: String,
}

#[derive(Debug)]
enum Limit {
    Forbid(String),
    Only(Vec<String>),
}

impl Rule {
    /// The module this rule finds `import` breaking it at (the forbidden path, or for an
    /// `only` rule the top-level module of the import), if it does.
    fn broken_by(&self, module: &[String], import: &[String]) -> Option<String> {
        if !under(module, &self.from) {
            return None;
        }
        match &self.what {
            Limit::Forbid(m) => under(import, m).then(|| m.clone()),
            Limit::Only(allowed) => (!allowed.iter().any(|a| under(import, a)))
                .then(|| import.first().cloned().unwrap_or_default()),
        }
    }

    /// The modules the rule names.
    fn modules(&self) -> Vec<&str> {
        let mut out = vec![self.from.as_str()];
        match &self.what {
            Limit::Forbid(m) => out.push(m),
            Limit::Only(allowed) => out.extend(allowed.iter().map(String::as_str)),
        }
        out
    }
}

/// The lines of a table, comments and blank lines left out.
fn table(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

fn rules() -> Vec<Rule> {
    table(RULES)
        .map(|line| {
            let (from, rest) = line
                .split_once(char::is_whitespace)
                .unwrap_or_else(|| panic!("rule without a limit: {line}"));
            let rest = rest.trim_start();
            let (what, why) = if let Some(r) = rest.strip_prefix("!->") {
                let r = r.trim_start();
                let (m, why) = r.split_once(char::is_whitespace).unwrap_or((r, ""));
                (Limit::Forbid(m.to_string()), why)
            } else if let Some(r) = rest.strip_prefix("only") {
                // `only A, B, C  why`: the list ends at the first word without a comma.
                let mut allowed = Vec::new();
                let mut r = r.trim_start();
                loop {
                    let (word, after) = r.split_once(char::is_whitespace).unwrap_or((r, ""));
                    allowed.push(word.trim_end_matches(',').to_string());
                    r = after.trim_start();
                    if !word.ends_with(',') {
                        break;
                    }
                }
                (Limit::Only(allowed), r)
            } else {
                panic!("rule neither `!->` nor `only`: {line}");
            };
            Rule {
                from: from.to_string(),
                what,
                why: why.trim().to_string(),
            }
        })
        .collect()
}

/// (file, module) pairs of [`KNOWN_VIOLATIONS`].
fn known_violations() -> Vec<(&'static str, &'static str)> {
    table(KNOWN_VIOLATIONS)
        .map(|line| {
            let mut words = line.split_whitespace();
            match (words.next(), words.next(), words.next()) {
                (Some(file), Some(module), None) => (file, module),
                _ => panic!("KNOWN_VIOLATIONS line is not `FILE MODULE`: {line}"),
            }
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Violation {
    file: String,
    line: usize,
    import: String,
    /// What the rule names (see [`Rule::broken_by`]).
    module: String,
    why: String,
}

#[test]
fn no_module_imports_a_layer_above_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.sort();
    assert!(
        files.len() > 20,
        "found only {} files under src/",
        files.len()
    );

    let rules = rules();
    let mut violations = BTreeSet::new();
    for path in &files {
        let rel = path
            .strip_prefix(root)
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/");
        let module = module_of(&rel);
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{rel}: {e}"));
        for (line, import) in imports(&text, module.len()) {
            for rule in &rules {
                if let Some(m) = rule.broken_by(&module, &import) {
                    violations.insert(Violation {
                        file: rel.clone(),
                        line,
                        import: import.join("::"),
                        module: m,
                        why: rule.why.clone(),
                    });
                }
            }
        }
    }

    let known = known_violations();
    let new: Vec<String> = violations
        .iter()
        .filter(|v| !known.iter().any(|&(f, m)| f == v.file && m == v.module))
        .map(|v| {
            format!(
                "  {}:{} imports crate::{} (not allowed to import {}: {})",
                v.file, v.line, v.import, v.module, v.why
            )
        })
        .collect();
    let fixed: Vec<String> = known
        .iter()
        .filter(|&&(f, m)| !violations.iter().any(|v| v.file == f && v.module == m))
        .map(|(f, m)| format!("  {f}  {m}"))
        .collect();
    let mut report = String::new();
    if !new.is_empty() {
        report += &format!(
            "upward imports (see docs/architecture.md, \"Who may import whom\"):\n{}\n",
            new.join("\n")
        );
    }
    if !fixed.is_empty() {
        report += &format!(
            "fixed, now delete these lines from KNOWN_VIOLATIONS in tests/architecture.rs:\n{}\n",
            fixed.join("\n")
        );
    }
    assert!(report.is_empty(), "{report}");
}

/// Every rule names modules that exist (or, for `reconcile`, that the layering plans), so
/// a renamed module cannot silently switch its rules off; every known violation is a file
/// that exists and a module some rule names.
#[test]
fn rules_name_real_modules() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).expect("src/lib.rs");
    let mut top: BTreeSet<String> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches([';', ' ', '{']).to_string())
        .collect();
    top.insert("reconcile".into());
    let rules = rules();
    assert!(rules.len() > 10, "{rules:?}");
    for rule in &rules {
        assert!(!rule.why.is_empty(), "rule without a reason: {rule:?}");
        for m in rule.modules() {
            let first = m.split("::").next().unwrap_or(m);
            assert!(top.contains(first), "rule names unknown module {m:?}");
        }
    }
    for (file, module) in known_violations() {
        assert!(root.join(file).exists(), "{file} does not exist");
        let first = module.split("::").next().unwrap_or(module);
        assert!(top.contains(first), "{file}: unknown module {module:?}");
    }
}

/// The rule table reads as documented, and each kind of rule finds what it should.
#[test]
fn rule_kinds() {
    let path = |p: &str| -> Vec<String> { p.split("::").map(str::to_string).collect() };
    let rules = rules();
    let only = rules
        .iter()
        .find(|r| r.from == "vrrp")
        .expect("a vrrp rule");
    assert!(
        matches!(&only.what, Limit::Only(a) if a == &["types", "vrrp"]),
        "{only:?}"
    );
    assert_eq!(only.why, "the protocol core knows value types only");
    let vrrp = path("vrrp::router");
    assert_eq!(only.broken_by(&vrrp, &path("types::Family")), None);
    assert_eq!(only.broken_by(&vrrp, &path("vrrp::packet")), None);
    assert_eq!(
        only.broken_by(&vrrp, &path("config::Version")),
        Some("config".into())
    );
    assert_eq!(only.broken_by(&path("daemon"), &path("config")), None);
    let forbid = rules
        .iter()
        .find(|r| r.from == "commands")
        .expect("a commands rule");
    let commands = path("commands");
    assert_eq!(
        forbid.broken_by(&commands, &path("daemon::filter::VipFilter")),
        Some("daemon::filter".into())
    );
    assert_eq!(forbid.broken_by(&commands, &path("daemon::run")), None);
}

/// The checker itself: grouped, nested, multi-line, `super` and commented imports.
#[test]
fn import_scanner() {
    let text = r#"
use crate::config::{self, RouterConfig};
use crate::{
    kernel::{Kernel, ops::Op},
    types::Family,
};
// use crate::commands::x;
/* crate::daemon::y */
let s = "crate::plan::z";
let c = '"'; let l: &'a str = x;
fn f() { crate::vrrp::packet::decode(b); $crate::ignored::m; }
use super::super::apply::Journal;
use super::sibling;
"#;
    let got: Vec<(usize, String)> = imports(text, 2)
        .into_iter()
        .map(|(l, p)| (l, p.join("::")))
        .collect();
    let want: Vec<(usize, String)> = vec![
        (2, "config".into()),
        (2, "config::RouterConfig".into()),
        (4, "kernel::Kernel".into()),
        (4, "kernel::ops::Op".into()),
        (5, "types::Family".into()),
        (11, "vrrp::packet::decode".into()),
        (12, "apply::Journal".into()),
    ];
    assert_eq!(got, want);
    assert_eq!(module_of("src/vrrp/router.rs"), ["vrrp", "router"]);
    assert_eq!(module_of("src/vrrp/mod.rs"), ["vrrp"]);
    assert_eq!(module_of("src/lib.rs"), Vec::<String>::new());
    assert_eq!(
        module_of("src/config/parse/tests.rs"),
        ["config", "parse", "tests"]
    );
    assert!(under(&["daemon".into(), "runtime".into()], "daemon"));
    assert!(!under(&["daemonx".into()], "daemon"));
    assert!(under(&["daemon".into(), "filter".into()], "daemon::filter"));
    assert!(!under(&["daemon".into()], "daemon::filter"));
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file under src/: `src/vrrp/router.rs` → `vrrp::router`;
/// `mod.rs`, `lib.rs` and `main.rs` stand for their folder (the crate root for the last two).
fn module_of(rel: &str) -> Vec<String> {
    let inner = rel.strip_prefix("src/").unwrap_or(rel);
    let inner = inner.strip_suffix(".rs").unwrap_or(inner);
    let mut parts: Vec<String> = inner.split('/').map(str::to_string).collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// `path` is `prefix` or below it, segment by segment.
fn under(path: &[String], prefix: &str) -> bool {
    let prefix: Vec<&str> = prefix.split("::").collect();
    path.len() >= prefix.len() && path.iter().zip(&prefix).all(|(a, b)| a == b)
}

/// Every crate-absolute path `text` names, with its line: `crate::a::b`, each leaf of a
/// group `crate::{a, b::{c, d}}`, and `super::…` chains that climb `depth` levels or more
/// (to the crate root) from a module `depth` deep.
fn imports(text: &str, depth: usize) -> Vec<(usize, Vec<String>)> {
    let code = strip_comments_and_strings(text);
    let bytes = code.as_bytes();
    // (byte offset of the path's last segment, path)
    let mut paths = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !is_ident(bytes[i - 1]) && bytes[i - 1] != b'$';
        if !starts_word || !is_ident(bytes[i]) {
            i += 1;
            continue;
        }
        if code[i..].starts_with("crate::") {
            let mut at = i + "crate::".len();
            parse_tree(&code, &mut at, Vec::new(), &mut paths);
            i = at.max(i + 1);
            continue;
        }
        if code[i..].starts_with("super::") {
            let mut at = i;
            let mut ups = 0;
            while code[at..].starts_with("super::") {
                ups += 1;
                at += "super::".len();
            }
            if ups >= depth {
                parse_tree(&code, &mut at, Vec::new(), &mut paths);
            }
            i = at.max(i + 1);
            continue;
        }
        // Skip the rest of this identifier so `xcrate::` never matches.
        while i < bytes.len() && is_ident(bytes[i]) {
            i += 1;
        }
    }
    paths
        .into_iter()
        .map(|(at, path)| (code[..at].matches('\n').count() + 1, path))
        .collect()
}

/// Reads `a::b::{c, d::e}` at `*at` (after `crate::`), pushing each full path with the
/// offset of its last segment (so a multi-line group reports each leaf's own line).
fn parse_tree(
    code: &str,
    at: &mut usize,
    prefix: Vec<String>,
    out: &mut Vec<(usize, Vec<String>)>,
) {
    let bytes = code.as_bytes();
    let skip_ws = |at: &mut usize| {
        while *at < bytes.len() && bytes[*at].is_ascii_whitespace() {
            *at += 1;
        }
    };
    let mut path = prefix;
    let mut leaf = *at;
    loop {
        skip_ws(at);
        if *at < bytes.len() && bytes[*at] == b'{' {
            *at += 1;
            loop {
                skip_ws(at);
                if *at >= bytes.len() {
                    return;
                }
                if bytes[*at] == b'}' {
                    *at += 1;
                    return;
                }
                if bytes[*at] == b',' {
                    *at += 1;
                    continue;
                }
                let before = *at;
                parse_tree(code, at, path.clone(), out);
                if *at == before {
                    // Something this scanner does not read (`*`, `as`): step over it.
                    *at += 1;
                }
            }
        }
        let start = *at;
        while *at < bytes.len() && is_ident(bytes[*at]) {
            *at += 1;
        }
        if start == *at {
            if !path.is_empty() {
                out.push((leaf, path));
            }
            return;
        }
        leaf = start;
        let word = &code[start..*at];
        if word != "self" {
            path.push(word.to_string());
        }
        skip_ws(at);
        if code[*at..].starts_with("::") {
            *at += 2;
            continue;
        }
        // `as alias`: the alias is not part of the path.
        if code[*at..].starts_with("as ") {
            *at += 3;
            skip_ws(at);
            while *at < bytes.len() && is_ident(bytes[*at]) {
                *at += 1;
            }
        }
        if !path.is_empty() {
            out.push((leaf, path));
        }
        return;
    }
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The text with comments and the insides of string and char literals blanked out
/// (newlines kept, so line numbers stay right).
fn strip_comments_and_strings(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let blank = |out: &mut Vec<u8>, c: u8| out.push(if c == b'\n' { b'\n' } else { b' ' });
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if rest.starts_with(b"/*") {
            let mut level = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    level += 1;
                    out.extend_from_slice(b"  ");
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    level -= 1;
                    out.extend_from_slice(b"  ");
                    i += 2;
                    if level == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, b[i]);
                    i += 1;
                }
            }
        } else if let Some(hashes) = raw_string_start(b, i) {
            // r"…", r#"…"#, br"…": no escapes; ends at the quote and as many hashes.
            let open = hashes.1;
            let mut close = vec![b'"'];
            close.extend(std::iter::repeat_n(b'#', hashes.0));
            out.extend(std::iter::repeat_n(b' ', open - i));
            i = open;
            while i < b.len() && !b[i..].starts_with(&close) {
                blank(&mut out, b[i]);
                i += 1;
            }
            out.extend(std::iter::repeat_n(b' ', close.len().min(b.len() - i)));
            i += close.len();
        } else if b[i] == b'"' {
            out.push(b' ');
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    blank(&mut out, b[i]);
                    i += 1;
                }
                blank(&mut out, b[i]);
                i += 1;
            }
            out.push(b' ');
            i += 1;
        } else if b[i] == b'\'' && char_literal_len(&b[i..]).is_some() {
            let len = char_literal_len(&b[i..]).unwrap_or(1);
            out.extend(std::iter::repeat_n(b' ', len));
            i += len;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// At `i`, `r"`, `r#…"`, `br"` or `br#…"` not inside an identifier: (hash count, index
/// after the opening quote).
fn raw_string_start(b: &[u8], i: usize) -> Option<(usize, usize)> {
    if i > 0 && is_ident(b[i - 1]) {
        return None;
    }
    let mut j = i;
    if b.get(j) == Some(&b'b') {
        j += 1;
    }
    if b.get(j) != Some(&b'r') {
        return None;
    }
    j += 1;
    let mut hashes = 0;
    while b.get(j) == Some(&b'#') {
        hashes += 1;
        j += 1;
    }
    (b.get(j) == Some(&b'"')).then_some((hashes, j + 1))
}

/// Length of a char literal at the start of `b` ('x', '\n', '\'', '\u{..}', multi-byte
/// UTF-8), or None for a lifetime ('a).
fn char_literal_len(b: &[u8]) -> Option<usize> {
    if b.get(1) == Some(&b'\\') {
        let end = b.iter().skip(3).position(|&c| c == b'\'')?;
        return Some(end + 4);
    }
    // One character (1 to 4 bytes of UTF-8) then the closing quote.
    let first = *b.get(1)?;
    let width = match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    };
    (b.get(1 + width) == Some(&b'\'')).then_some(width + 2)
}

/// Production files over the size budget of docs/architecture.md (about 800 lines; a file's
/// `#[cfg(test)] mod` and files named `tests.rs` not counted) and production functions over
/// 150 lines, one a line: `FILE` or `FILE fn NAME`. Delete a line when the file or
/// function comes under budget: the test says which lines no longer match, so the list only
/// shrinks.
const OVER_BUDGET: &str = "
";

/// The budgets [`OVER_BUDGET`] lists exceptions to.
const FILE_LINES: usize = 800;
const FUNCTION_LINES: usize = 150;

/// The production part of a source file: everything before its `#[cfg(test)]` module.
fn production_part(text: &str) -> &str {
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        // An inline test module (`mod tests {`), not a declaration of a file (`mod tests;`).
        let next = text[at + line.len()..].lines().next().unwrap_or("");
        if line.trim_end() == "#[cfg(test)]"
            && next.trim_start().starts_with("mod ")
            && next.trim_end().ends_with('{')
        {
            return &text[..at];
        }
        at += line.len();
    }
    text
}

/// Every function with a body in `code` (comments and strings blanked): its name and length
/// in lines, from the `fn` line to the brace that closes it at the same indentation.
fn functions(code: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let mut rest = trimmed;
        for prefix in [
            "pub(crate) ",
            "pub(super) ",
            "pub ",
            "const ",
            "async ",
            "unsafe ",
        ] {
            rest = rest.strip_prefix(prefix).unwrap_or(rest);
        }
        let Some(sig) = rest.strip_prefix("fn ") else {
            continue;
        };
        let name: String = sig
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let close = format!("{}}}", " ".repeat(indent));
        // A declaration without a body (a trait method) ends in `;` before any `{`.
        let body = lines[i..]
            .iter()
            .position(|l| l.contains('{') || l.trim_end().ends_with(';'))
            .is_some_and(|k| lines[i + k].contains('{'));
        if !body || line.trim_end().ends_with('}') {
            continue;
        }
        if let Some(len) = lines[i..].iter().position(|l| *l == close) {
            out.push((name, len + 1));
        }
    }
    out
}

#[test]
fn files_and_functions_keep_to_their_size_budget() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.sort();
    let mut over = BTreeSet::new();
    for path in &files {
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .to_string();
        if rel.ends_with("/tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        let prod = production_part(&text);
        if prod.lines().count() > FILE_LINES {
            over.insert(rel.clone());
        }
        for (name, len) in functions(&strip_comments_and_strings(prod)) {
            if len > FUNCTION_LINES {
                over.insert(format!("{rel} fn {name}"));
            }
        }
    }
    let known: BTreeSet<String> = table(OVER_BUDGET)
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let new: Vec<&String> = over.difference(&known).collect();
    let gone: Vec<&String> = known.difference(&over).collect();
    assert!(
        new.is_empty(),
        "over the size budget ({FILE_LINES} lines a file, {FUNCTION_LINES} a function; \
         split by job as docs/architecture.md says): {new:#?}"
    );
    assert!(
        gone.is_empty(),
        "now within budget: delete these lines from OVER_BUDGET: {gone:#?}"
    );
}

#[test]
fn function_lengths_are_measured_to_their_closing_brace() {
    let code = "fn a() {\n    x();\n}\n\nimpl T {\n    pub fn b(\n        y: u8,\n    ) -> u8 {\n        y\n    }\n    fn c(&self);\n}\nfn d() {}\n";
    assert_eq!(
        functions(code),
        vec![("a".to_string(), 3), ("b".to_string(), 5)]
    );
    let text = "fn a() {}\n#[cfg(test)]\nmod tests {\n    fn long() {}\n}\n";
    assert_eq!(production_part(text), "fn a() {}\n");
    let text = "#[cfg(test)]\nmod tests;\nfn a() {}\n";
    assert_eq!(production_part(text), text);
}
