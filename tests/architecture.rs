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

/// (importing module, forbidden import, why). A module matches its own path and every
/// module below it (`daemon` covers `daemon::runtime`); an import matches the same way
/// (`plan` covers `plan::Op`). Module paths are relative to the crate root.
const RULES: &[(&str, &str, &str)] = &[
    // The CLI sits on top: it parses arguments, prints and maps exit codes. The runtime and
    // the reconcile layer under it must not call back up into it.
    (
        "daemon",
        "commands",
        "the runtime calls the reconcile layer, not the CLI",
    ),
    (
        "reconcile",
        "commands",
        "reconcile returns typed reports; the CLI prints them",
    ),
    (
        "reconcile",
        "daemon",
        "the runtime calls reconcile, not the other way round",
    ),
    ("reconcile", "cli", "reconcile takes values, not clap types"),
    (
        "daemon::control",
        "cli",
        "the control protocol has its own request types",
    ),
    (
        "commands",
        "daemon::filter",
        "the CLI goes through the daemon's public entry points",
    ),
    // The kernel edge executes operations; it does not know the planner that produces them.
    ("kernel", "plan", "kernel operations live in src/kernel"),
    ("kernel", "apply", "the undo journal drives the kernel"),
    ("kernel", "reconcile", "reconcile drives the kernel"),
    ("kernel", "commands", "the kernel edge is below the CLI"),
    ("kernel", "daemon", "the kernel edge is below the runtime"),
    ("kernel", "vrrp", "the kernel edge knows no protocol"),
    ("kernel", "vrrs", "the kernel edge knows no protocol"),
    // The pure layers stay pure.
    ("plan", "apply", "the planner is pure: it never executes"),
    ("plan", "reconcile", "the planner is pure"),
    ("plan", "commands", "the planner is pure"),
    ("plan", "daemon", "the planner is pure"),
    (
        "desired",
        "kernel",
        "desired state is computed from the config alone",
    ),
    (
        "desired",
        "plan",
        "desired state is computed from the config alone",
    ),
    (
        "desired",
        "daemon",
        "desired state is computed from the config alone",
    ),
    (
        "desired",
        "commands",
        "desired state is computed from the config alone",
    ),
    (
        "config",
        "desired",
        "the schema is the bottom of the pipeline",
    ),
    (
        "config",
        "kernel",
        "the schema is the bottom of the pipeline",
    ),
    ("config", "plan", "the schema is the bottom of the pipeline"),
    (
        "config",
        "daemon",
        "the schema is the bottom of the pipeline",
    ),
    (
        "config",
        "commands",
        "the schema is the bottom of the pipeline",
    ),
    ("config", "vrrp", "the schema is the bottom of the pipeline"),
    ("config", "vrrs", "the schema is the bottom of the pipeline"),
    ("apply", "commands", "the journal is below the CLI"),
    ("apply", "daemon", "the journal is below the runtime"),
    ("apply", "reconcile", "reconcile drives the journal"),
    // The protocol core (codec, sans-IO state machine, sockets) depends on small value
    // types only: the runtime builds router parameters from the config.
    ("vrrp", "config", "router parameters come from the runtime"),
    ("vrrp", "desired", "the protocol core knows only types"),
    ("vrrp", "kernel", "the protocol core knows only types"),
    ("vrrp", "plan", "the protocol core knows only types"),
    ("vrrp", "apply", "the protocol core knows only types"),
    ("vrrp", "reconcile", "the protocol core knows only types"),
    ("vrrp", "commands", "the protocol core knows only types"),
    ("vrrp", "cli", "the protocol core knows only types"),
    ("vrrp", "daemon", "the protocol core knows only types"),
    ("vrrp", "vrrs", "VRRS sits above VRRP"),
    ("vrrp", "security", "the protocol core knows only types"),
    // VRRS is sans-IO like the router: the runtime carries out its fan-outs.
    ("vrrs", "daemon", "the runtime carries out VRRS fan-outs"),
    ("vrrs", "commands", "VRRS is below the CLI"),
    ("vrrs", "plan", "pathway effects are not plan operations"),
    ("vrrs", "apply", "pathway effects are not plan operations"),
    // The shared value types are the bottom layer.
    ("types", "config", "types is the bottom layer"),
    ("types", "desired", "types is the bottom layer"),
    ("types", "kernel", "types is the bottom layer"),
    ("types", "plan", "types is the bottom layer"),
    ("types", "vrrp", "types is the bottom layer"),
    ("types", "daemon", "types is the bottom layer"),
    ("types", "commands", "types is the bottom layer"),
];

/// (source file, forbidden import of [`RULES`]) pairs that exist today and are being
/// removed (issue 14, items 1 and 3). Delete an entry when its import goes; the test says
/// which entries no longer match anything.
const KNOWN_VIOLATIONS: &[(&str, &str)] = &[
    // The reconcile pipeline (`load`, `apply_kernel`, `Loaded`) still lives in the CLI.
    ("src/daemon/mod.rs", "commands"),
    ("src/daemon/runtime.rs", "commands"),
    // `plan::Op` is still the kernel's operation vocabulary.
    ("src/kernel/ops.rs", "plan"),
    ("src/kernel/schedule.rs", "plan"),
    // The state machine still takes `RouterConfig` and `Version` from the schema.
    ("src/vrrp/router.rs", "config"),
    // `show vrrs` requests still carry the clap enums.
    ("src/daemon/control.rs", "cli"),
    // `commands::down` still removes the filter tables itself.
    ("src/commands.rs", "daemon::filter"),
];

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Violation {
    file: String,
    line: usize,
    import: String,
    forbidden: &'static str,
    why: &'static str,
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
            for &(from, forbidden, why) in RULES {
                if under(&module, from) && under(&import, forbidden) {
                    violations.insert(Violation {
                        file: rel.clone(),
                        line,
                        import: import.join("::"),
                        forbidden,
                        why,
                    });
                }
            }
        }
    }

    let known = |v: &Violation| {
        KNOWN_VIOLATIONS
            .iter()
            .any(|&(f, i)| f == v.file && i == v.forbidden)
    };
    let new: Vec<String> = violations
        .iter()
        .filter(|v| !known(v))
        .map(|v| {
            format!(
                "  {}:{} imports crate::{} ({} must not import {}: {})",
                v.file,
                v.line,
                v.import,
                module_of(&v.file).join("::"),
                v.forbidden,
                v.why
            )
        })
        .collect();
    let fixed: Vec<String> = KNOWN_VIOLATIONS
        .iter()
        .filter(|&&(f, i)| !violations.iter().any(|v| v.file == f && v.forbidden == i))
        .map(|(f, i)| format!("  ({f:?}, {i:?})"))
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
            "fixed, now delete these entries from KNOWN_VIOLATIONS in tests/architecture.rs:\n{}\n",
            fixed.join("\n")
        );
    }
    assert!(report.is_empty(), "{report}");
}

/// Every rule names modules that exist (or, for `reconcile`, that the layering plans), so
/// a renamed module cannot silently switch its rules off.
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
    for &(from, forbidden, _) in RULES {
        for m in [from, forbidden] {
            let first = m.split("::").next().unwrap_or(m);
            assert!(top.contains(first), "rule names unknown module {m:?}");
        }
    }
    for &(file, forbidden) in KNOWN_VIOLATIONS {
        assert!(root.join(file).exists(), "{file} does not exist");
        assert!(
            RULES
                .iter()
                .any(|&(from, f, _)| f == forbidden && under(&module_of(file), from)),
            "({file:?}, {forbidden:?}) matches no rule"
        );
    }
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
