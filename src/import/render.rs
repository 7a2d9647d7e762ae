//! The model of an import as netvrrp.toml(5) text: a fresh, commented file, or merged into
//! an existing file without losing what the operator wrote there. Either way the result is
//! checked with the same parser as `netvrrp validate`.

use super::model::{Imported, Router, SettingValue, Settings};
use crate::config::parse_str;
use std::fmt::Write as _;
use toml_edit::{ArrayOfTables, DocumentMut, Item, Table};

/// Render `imp`; with `existing` (the `-o` file's text) merge into it: a `[[vrrp]]` with the
/// same (interface, vrid) is replaced (its comments above the header are kept), other
/// routers are appended; a `[[track]]` of the same name is replaced the same way (the
/// imported routers refer to it by that name), others are appended; pathways and clients
/// are added unless the same one is there, and the existing `[defaults]` are never changed (imported routers spell out every setting
/// those defaults would otherwise change). Err: why it cannot be written.
pub fn render(imp: &Imported, existing: Option<&str>) -> Result<String, String> {
    let text = match existing {
        None => fresh(imp),
        Some(old) => merge(imp, old)?,
    };
    parse_str(&text, "<import output>")
        .map_err(|e| format!("the translated configuration does not validate:\n{e}"))?;
    Ok(text)
}

fn fresh(imp: &Imported) -> String {
    let mut s = header(imp);
    let entries = imp.defaults.entries();
    if !entries.is_empty() || !imp.defaults_notes.is_empty() {
        s.push_str("\n[defaults]\n");
        write_settings(&mut s, &imp.defaults, &imp.defaults_notes);
    }
    body(&mut s, imp, &imp.defaults, false);
    s
}

fn header(imp: &Imported) -> String {
    let mut s = format!(
        "# netvrrp configuration translated from {} ({}) by\n# `netvrrp autoconfigure {} {}`.\n",
        imp.daemon, imp.source, imp.flag, imp.source
    );
    s.push_str(
        "# Settings are translated by meaning; where netvrrp behaves differently a comment\n\
         # says how. A comment starting with FILE:LINE names input that has no equivalent\n\
         # (it was also printed as a warning). Review it, then see netvrrp.toml(5).\n",
    );
    for n in &imp.notes {
        comment(&mut s, n);
    }
    s
}

/// Routers, pathways, clients and track objects. `explicit`: spell out every
/// setting that differs from netvrrp's built-in default (merging under foreign defaults).
fn body(s: &mut String, imp: &Imported, defaults: &Settings, explicit: bool) {
    for r in &imp.routers {
        s.push('\n');
        router(s, r, defaults, explicit);
    }
    for p in &imp.pathways {
        s.push('\n');
        for n in &p.notes {
            comment(s, n);
        }
        s.push_str("[[vrrs.pathway]]\n");
        let _ = writeln!(s, "leader = {}", string(&p.leader));
        let _ = writeln!(s, "interface = {}", string(&p.interface));
        let addrs: Vec<String> = p.address.iter().map(|a| a.to_string()).collect();
        let _ = writeln!(s, "address = {}", strings(&addrs));
    }
    for c in &imp.clients {
        s.push('\n');
        for n in &c.notes {
            comment(s, n);
        }
        s.push_str("[[vrrs.client]]\n");
        let _ = writeln!(s, "leader = {}", string(&c.leader));
        s.push_str("kind = \"exec\"\n");
        let _ = writeln!(s, "command = {}", strings(&c.command));
    }
    for t in &imp.tracks {
        s.push('\n');
        for n in &t.notes {
            comment(s, n);
        }
        s.push_str("[[track]]\n");
        let _ = writeln!(s, "name = {}", string(&t.name));
        let _ = writeln!(s, "kind = {}", string(t.kind));
        for (k, v) in &t.fields {
            let _ = writeln!(s, "{k} = {v}");
        }
    }
}

fn router(s: &mut String, r: &Router, defaults: &Settings, explicit: bool) {
    for o in &r.origin {
        comment(s, o);
    }
    for (k, n) in &r.notes {
        if k.is_empty() {
            comment(s, n);
        }
    }
    s.push_str("[[vrrp]]\n");
    let _ = writeln!(s, "interface = {}", string(&r.interface));
    let _ = writeln!(s, "vrid = {}", r.vrid);
    let settings = if explicit {
        // Every value this router resolves to, except where it equals netvrrp's built-in
        // default AND the existing file's [defaults] do not set that key.
        explicit_settings(&r.settings.or(defaults), defaults)
    } else {
        r.settings.clone()
    };
    let mut written: Vec<&str> = vec![""];
    let mut key = |s: &mut String, k: &'static str, v: String| {
        for (nk, n) in &r.notes {
            if *nk == k {
                comment(s, n);
            }
        }
        let _ = writeln!(s, "{k} = {v}");
        written.push(k);
    };
    for (k, v) in settings.entries() {
        key(s, k, value(&v));
    }
    if !r.ipv4.is_empty() {
        let v: Vec<String> = r.ipv4.iter().map(|a| a.to_string()).collect();
        key(s, "ipv4", strings(&v));
    }
    if !r.ipv6.is_empty() {
        let v: Vec<String> = r.ipv6.iter().map(|a| a.to_string()).collect();
        key(s, "ipv6", strings(&v));
    }
    if !r.vrrs_leader.is_empty() {
        key(s, "vrrs-leader", strings(&r.vrrs_leader));
    }
    if let Some(f) = r.vrrs_leader_family {
        key(s, "vrrs-leader-family", string(f.as_str()));
    }
    if !r.track.is_empty() {
        let items: Vec<String> = r
            .track
            .iter()
            .map(|t| {
                let key = if t.interface { "interface" } else { "object" };
                match t.decrement {
                    Some(d) => format!("{{ {key} = {}, decrement = {d} }}", string(&t.name)),
                    None => format!("{{ {key} = {}, fault = true }}", string(&t.name)),
                }
            })
            .collect();
        key(s, "track", format!("[{}]", items.join(", ")));
    }
    if !r.unicast_peers.is_empty() {
        let v: Vec<String> = r.unicast_peers.iter().map(|a| a.to_string()).collect();
        key(s, "unicast-peers", strings(&v));
    }
    for (k, n) in &r.notes {
        if !written.contains(k) {
            comment(s, n);
        }
    }
}

fn explicit_settings(resolved: &Settings, foreign: &Settings) -> Settings {
    let builtin = Settings::builtin();
    let pick = |mine: Option<u32>, theirs: Option<u32>, base: Option<u32>| -> Option<u32> {
        if theirs.is_some() || mine != base {
            mine.or(base)
        } else {
            None
        }
    };
    let u8s = |mine: Option<u8>, theirs: Option<u8>, base: Option<u8>| {
        if theirs.is_some() || mine != base {
            mine.or(base)
        } else {
            None
        }
    };
    let bools = |mine: Option<bool>, theirs: Option<bool>, base: Option<bool>| {
        if theirs.is_some() || mine != base {
            mine.or(base)
        } else {
            None
        }
    };
    Settings {
        version: u8s(resolved.version, foreign.version, builtin.version),
        priority: u8s(resolved.priority, foreign.priority, builtin.priority),
        advertisement_interval: pick(
            resolved.advertisement_interval,
            foreign.advertisement_interval,
            builtin.advertisement_interval,
        ),
        preempt: bools(resolved.preempt, foreign.preempt, builtin.preempt),
        preempt_delay: pick(
            resolved.preempt_delay,
            foreign.preempt_delay,
            builtin.preempt_delay,
        ),
        accept_mode: bools(
            resolved.accept_mode,
            foreign.accept_mode,
            builtin.accept_mode,
        ),
        checksum_with_ipv4_pseudoheader: bools(
            resolved.checksum_with_ipv4_pseudoheader,
            foreign.checksum_with_ipv4_pseudoheader,
            builtin.checksum_with_ipv4_pseudoheader,
        ),
        shutdown: bools(resolved.shutdown, foreign.shutdown, builtin.shutdown),
        garp_bursts: pick(
            resolved.garp_bursts,
            foreign.garp_bursts,
            builtin.garp_bursts,
        ),
        garp_burst_interval: pick(
            resolved.garp_burst_interval,
            foreign.garp_burst_interval,
            builtin.garp_burst_interval,
        ),
    }
}

fn write_settings(s: &mut String, st: &Settings, notes: &[(&'static str, String)]) {
    let entries = st.entries();
    for (k, v) in &entries {
        for (nk, n) in notes {
            if nk == k {
                comment(s, n);
            }
        }
        let _ = writeln!(s, "{k} = {}", value(v));
    }
    for (nk, n) in notes {
        if !entries.iter().any(|(k, _)| k == nk) {
            comment(s, n);
        }
    }
}

/// `# text`, one comment line per line of `text`.
fn comment(s: &mut String, text: &str) {
    for line in text.lines() {
        if line.is_empty() {
            s.push_str("#\n");
        } else {
            let _ = writeln!(s, "# {line}");
        }
    }
}

fn value(v: &SettingValue) -> String {
    match v {
        SettingValue::Int(i) => i.to_string(),
        SettingValue::Bool(b) => b.to_string(),
    }
}

/// A TOML basic string (toml_edit escapes it).
pub fn string(s: &str) -> String {
    toml_edit::Value::from(s).to_string().trim().to_string()
}

pub fn strings(items: &[String]) -> String {
    let v: Vec<String> = items.iter().map(|i| string(i)).collect();
    format!("[{}]", v.join(", "))
}

/// The settings the existing file's `[defaults]` give (unknown values are ignored: the
/// final validation reports them).
fn existing_defaults(doc: &DocumentMut) -> Settings {
    let d = doc.get("defaults");
    let int = |k: &str| d.and_then(|d| d.get(k)).and_then(Item::as_integer);
    let b = |k: &str| d.and_then(|d| d.get(k)).and_then(Item::as_bool);
    Settings {
        version: int("version").and_then(|v| u8::try_from(v).ok()),
        priority: int("priority").and_then(|v| u8::try_from(v).ok()),
        advertisement_interval: int("advertisement-interval").and_then(|v| u32::try_from(v).ok()),
        preempt: b("preempt"),
        preempt_delay: int("preempt-delay").and_then(|v| u32::try_from(v).ok()),
        accept_mode: b("accept-mode"),
        checksum_with_ipv4_pseudoheader: b("checksum-with-ipv4-pseudoheader"),
        shutdown: b("shutdown"),
        garp_bursts: int("garp-bursts").and_then(|v| u32::try_from(v).ok()),
        garp_burst_interval: int("garp-burst-interval").and_then(|v| u32::try_from(v).ok()),
    }
}

fn merge(imp: &Imported, old: &str) -> Result<String, String> {
    let mut doc: DocumentMut = old
        .parse()
        .map_err(|e| format!("the existing file is not valid TOML: {e}"))?;
    let foreign = existing_defaults(&doc);
    // The imported routers under the existing file's defaults: resolve each against the
    // import's own defaults, then write whatever the existing defaults would change.
    let mut resolved = imp.clone();
    for r in &mut resolved.routers {
        r.settings = r.settings.or(&imp.defaults);
    }
    let mut text = String::new();
    body(&mut text, &resolved, &foreign, true);
    let new: DocumentMut = text
        .parse()
        .map_err(|e| format!("internal error: the translated tables are not TOML: {e}"))?;

    if let Some(Item::ArrayOfTables(routers)) = new.get("vrrp") {
        let aot = aot_at(&mut doc, &["vrrp"])?;
        for t in routers.iter() {
            let same = aot.iter_mut().find(|e| {
                e.get("interface").and_then(Item::as_str)
                    == t.get("interface").and_then(Item::as_str)
                    && e.get("vrid").and_then(Item::as_integer)
                        == t.get("vrid").and_then(Item::as_integer)
            });
            match same {
                Some(e) => {
                    // The operator's comments above the entry stay; the contents are the
                    // import's (with their explanatory comments).
                    let prefix = e.decor().prefix().cloned();
                    *e = t.clone();
                    if let Some(p) = prefix {
                        e.decor_mut().set_prefix(p);
                    }
                }
                None => aot.push(t.clone()),
            }
        }
    }
    if let Some(Item::ArrayOfTables(tracks)) = new.get("track") {
        let aot = aot_at(&mut doc, &["track"])?;
        for t in tracks.iter() {
            let name = |e: &Table| e.get("name").and_then(Item::as_str).map(str::to_string);
            let same = aot.iter_mut().find(|e| name(e) == name(t));
            match same {
                Some(e) => {
                    // In the place and under the comments the operator gave it.
                    let prefix = e.decor().prefix().cloned();
                    let position = e.position();
                    *e = t.clone();
                    e.set_position(position);
                    if let Some(p) = prefix {
                        e.decor_mut().set_prefix(p);
                    }
                }
                None => aot.push(t.clone()),
            }
        }
    }
    for (kind, keys) in [
        ("pathway", ["leader", "interface"]),
        ("client", ["leader", "command"]),
    ] {
        let Some(Item::ArrayOfTables(items)) = new.get("vrrs").and_then(|v| v.get(kind)) else {
            continue;
        };
        let aot = aot_at(&mut doc, &["vrrs", kind])?;
        for t in items.iter() {
            let same = |e: &Table| {
                keys.iter().all(|k| {
                    e.get(k).map(|v| v.to_string().trim().to_string())
                        == t.get(k).map(|v| v.to_string().trim().to_string())
                })
            };
            if !aot.iter().any(same) {
                aot.push(t.clone());
            }
        }
    }
    // What does not fit in a table (file-level remarks) is appended as comments at the
    // end, under the same header a fresh file would have.
    let mut tail = String::new();
    for line in header(imp).lines() {
        let _ = writeln!(tail, "{line}");
    }
    let mut trailing = doc.trailing().as_str().unwrap_or("").to_string();
    // A second merge of the same import does not repeat the block.
    if !trailing.contains(&tail) {
        if !trailing.is_empty() && !trailing.ends_with('\n') {
            trailing.push('\n');
        }
        trailing.push('\n');
        trailing.push_str(&tail);
        doc.set_trailing(trailing);
    }
    Ok(doc.to_string())
}

/// The array of tables at `path`, created when missing; Err when the file wrote it in
/// another form (inline), which a merge cannot extend without rewriting it.
fn aot_at<'d>(doc: &'d mut DocumentMut, path: &[&str]) -> Result<&'d mut ArrayOfTables, String> {
    let dotted = path.join(".");
    let (last, parents) = path.split_last().ok_or("empty path")?;
    let mut table: &mut Table = doc.as_table_mut();
    for p in parents {
        let item = table.entry(p).or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(true);
            Item::Table(t)
        });
        table = item
            .as_table_mut()
            .ok_or_else(|| format!("cannot merge: `{p}` in the existing file is not a table"))?;
    }
    match table
        .entry(last)
        .or_insert(Item::ArrayOfTables(ArrayOfTables::new()))
    {
        Item::ArrayOfTables(a) => Ok(a),
        _ => Err(format!(
            "cannot merge: `{dotted}` in the existing file is not written as [[{dotted}]] tables"
        )),
    }
}
