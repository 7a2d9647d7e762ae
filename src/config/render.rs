//! The TOML that `netvrrp autoconfigure` prints: commented, valid, and when an existing file
//! is given, merged into it without losing what the operator wrote.

use super::{Version, parse_str};
use ipnet::{Ipv4Net, Ipv6Net};
use std::fmt::Display;
use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, Value, value};

/// A virtual router found in the kernel: the macvlans with a VRRP virtual MAC on one parent
/// and one VRID, both families together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredRouter {
    /// The parent interface.
    pub interface: String,
    pub vrid: u8,
    /// Not discoverable from the kernel: what the operator asked for (`--version`).
    pub version: Version,
    /// VIPs found on the vrrp4 device, in kernel order.
    pub ipv4: Vec<Ipv4Net>,
    /// VIPs found on the vrrp6 device (link-locals the kernel made excluded), in kernel order.
    pub ipv6: Vec<Ipv6Net>,
    /// The macvlans this router was found on (for the comment above its entry).
    pub devices: Vec<String>,
}

/// Marks the comment line autoconfigure owns above each `[[vrrp]]`: a later merge rewrites
/// this line and leaves every other comment alone.
const FOUND_ON: &str = "# autoconfigure: found on ";

const HEADER: &str = "\
# netvrrp configuration written by `netvrrp autoconfigure`.
# It describes the VRRP macvlans found on this host, recognised by their virtual MAC
# (00:00:5e:00:01:xx for IPv4, 00:00:5e:00:02:xx for IPv6), whatever their names.
# Priorities, intervals, preemption and tracking cannot be discovered: the defaults
# apply until you set them. See netvrrp.toml(5).
";

/// Render `routers` as netvrrp.toml(5) text.
///
/// - `existing = None`: a fresh file: a header comment, `[defaults] version = N` when every
///   router has the same version (else a `version` key in each entry), and one `[[vrrp]]` per
///   router sorted by (interface, vrid), each under a comment naming its devices.
/// - `existing = Some(text)`: `text` is kept (comments, `[defaults]`, `[vrrs…]`, other
///   tables, routers that were not found); each `[[vrrp]]` with a matching (interface, vrid)
///   gets its `ipv4`/`ipv6` replaced by what was found (a family not found is removed) and
///   keeps its other keys and comments; routers not in the file are appended. An entry's
///   `version` is set only where the router's version differs from what the entry resolves
///   to (its own key, else the file's `[defaults] version`, else 3). The `skipped` devices
///   replace the `# Skipped:` lines of the file's leading comment (see [`with_skipped`]).
///
/// A router with no address at all (only link-locals) cannot be described by a valid file:
/// it is left out, and a fresh file says so in its header.
///
/// Errors: input that cannot be described (VRID 0, IPv6 with version 2, a router listed
/// twice), an existing file that is not TOML or whose `vrrp` is not an array of tables, and
/// a result that fails validation (then the validation messages are returned).
pub fn render_autoconfig(
    routers: &[DiscoveredRouter],
    skipped: &[String],
    existing: Option<&str>,
) -> Result<String, String> {
    let mut sorted: Vec<&DiscoveredRouter> = routers.iter().collect();
    sorted.sort_by(|a, b| (&a.interface, a.vrid).cmp(&(&b.interface, b.vrid)));
    for pair in sorted.windows(2) {
        if let [a, b] = pair
            && a.interface == b.interface
            && a.vrid == b.vrid
        {
            return Err(format!(
                "virtual router ({}, vrid {}) was given twice",
                a.interface, a.vrid
            ));
        }
    }
    for r in &sorted {
        if r.vrid == 0 {
            return Err(format!(
                "{}: VRID 0 is not a valid virtual router",
                r.interface
            ));
        }
        if r.version == Version::V2 && !r.ipv6.is_empty() {
            return Err(format!(
                "({}, vrid {}) has IPv6 addresses on {}, which VRRP version 2 cannot carry; \
                 use version 3",
                r.interface,
                r.vrid,
                list(&r.devices)
            ));
        }
    }
    let (usable, empty): (Vec<&DiscoveredRouter>, Vec<&DiscoveredRouter>) = sorted
        .into_iter()
        .partition(|r| !r.ipv4.is_empty() || !r.ipv6.is_empty());

    let text = match existing {
        None => fresh(&usable, &empty, skipped),
        Some(text) => with_skipped(&merge(text, &usable)?, skipped),
    };
    // The promise to the operator is a file that `netvrrp validate` accepts.
    parse_str(&text, "<autoconfigure output>")
        .map_err(|e| format!("the generated configuration does not validate:\n{e}"))?;
    Ok(text)
}

/// The `# Skipped:` line of one skipped device (one line: a device name or reason never
/// holds a newline, but be sure).
fn skipped_line(s: &str) -> String {
    format!("# Skipped: {}", s.replace('\n', " "))
}

/// `text` (a merged file) with the `# Skipped:` lines of its leading comment block made
/// `skipped`: each device skipped now named once, at the end of that block (a fresh file's
/// header, or above the first line of TOML and its entry's "found on" comment), and the
/// lines of earlier runs gone, so a
/// device that comes back stops being listed and re-runs do not pile up copies. Lines
/// elsewhere are the operator's and stay. Unchanged when nothing differs.
fn with_skipped(text: &str, skipped: &[String]) -> String {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let head_len = lines
        .iter()
        .take_while(|l| {
            // An entry's own "found on" comment starts the TOML part.
            let l = l.trim_start();
            l.is_empty() || (l.starts_with('#') && !l.starts_with("# autoconfigure: found on"))
        })
        .count();
    let is_skipped = |l: &str| l.trim_start().starts_with("# Skipped: ");
    let mut head: Vec<String> = Vec::new();
    for (i, l) in lines[..head_len].iter().enumerate() {
        let before_skipped = l.trim_end() == "#" && lines.get(i + 1).is_some_and(|n| is_skipped(n));
        if !is_skipped(l) && !before_skipped {
            head.push((*l).to_string());
        }
    }
    // After the block's last comment line (before the blank lines that part it from the
    // TOML), or at the top of a file without one.
    let at = head
        .iter()
        .rposition(|l| l.trim_start().starts_with('#'))
        .map_or(0, |i| i + 1);
    let mut ours: Vec<String> = Vec::new();
    for s in skipped {
        if at > 0 || !ours.is_empty() {
            ours.push("#\n".into());
        }
        ours.push(format!("{}\n", skipped_line(s)));
    }
    if at == 0 && !ours.is_empty() {
        ours.push("\n".into());
    }
    head.splice(at..at, ours);
    let new_head = head.concat();
    if new_head == lines[..head_len].concat() {
        return text.to_string();
    }
    new_head + &lines[head_len..].concat()
}

fn fresh(routers: &[&DiscoveredRouter], empty: &[&DiscoveredRouter], skipped: &[String]) -> String {
    let mut doc = DocumentMut::new();
    let mut header = HEADER.to_string();
    for s in skipped {
        header.push_str(&format!("#\n{}\n", skipped_line(s)));
    }
    for r in empty {
        header.push_str(&format!(
            "#\n# Left out: ({}, vrid {}) on {} has no address other than IPv6 link-locals.\n",
            r.interface,
            r.vrid,
            list(&r.devices)
        ));
    }
    doc.decor_mut().set_prefix(header);

    let common = match routers.first() {
        Some(first) if routers.iter().all(|r| r.version == first.version) => Some(first.version),
        _ => None,
    };
    if let Some(version) = common {
        let mut defaults = Table::new();
        defaults.decor_mut().set_prefix("\n");
        defaults.insert("version", value(i64::from(version.number())));
        doc.insert("defaults", Item::Table(defaults));
    }
    let mut aot = ArrayOfTables::new();
    for r in routers {
        aot.push(new_entry(r, common.is_none()));
    }
    if !aot.is_empty() {
        doc.insert("vrrp", Item::ArrayOfTables(aot));
    }
    doc.to_string()
}

fn merge(text: &str, routers: &[&DiscoveredRouter]) -> Result<String, String> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e| format!("the existing file is not valid TOML: {e}"))?;
    let file_version = doc
        .get("defaults")
        .and_then(|d| d.get("version"))
        .and_then(Item::as_integer)
        .and_then(version_of)
        .unwrap_or(super::parse::DEFAULT_VERSION);

    if routers.is_empty() {
        // Nothing found: the operator's file stays byte for byte as it was.
        return Ok(text.to_string());
    }
    let aot = match doc
        .entry("vrrp")
        .or_insert(Item::ArrayOfTables(ArrayOfTables::new()))
    {
        Item::ArrayOfTables(aot) => aot,
        _ => {
            return Err(
                "cannot merge: `vrrp` in the existing file is not written as [[vrrp]] tables"
                    .to_string(),
            );
        }
    };
    for r in routers {
        let found = aot.iter_mut().find(|t| {
            t.get("interface").and_then(Item::as_str) == Some(r.interface.as_str())
                && t.get("vrid").and_then(Item::as_integer) == Some(i64::from(r.vrid))
        });
        match found {
            Some(t) => {
                let resolved = t
                    .get("version")
                    .and_then(Item::as_integer)
                    .and_then(version_of)
                    .unwrap_or(file_version);
                if resolved != r.version {
                    replace_value(t, "version", Value::from(i64::from(r.version.number())));
                }
                set_addresses(t, r);
                set_found_on(t, r);
            }
            None => aot.push(new_entry(r, r.version != file_version)),
        }
    }
    Ok(doc.to_string())
}

fn version_of(n: i64) -> Option<Version> {
    match n {
        2 => Some(Version::V2),
        3 => Some(Version::V3),
        _ => None,
    }
}

fn new_entry(r: &DiscoveredRouter, with_version: bool) -> Table {
    let mut t = Table::new();
    t.decor_mut().set_prefix("\n");
    t.insert("interface", value(r.interface.clone()));
    t.insert("vrid", value(i64::from(r.vrid)));
    if with_version {
        t.insert("version", value(i64::from(r.version.number())));
    }
    set_addresses(&mut t, r);
    set_found_on(&mut t, r);
    t
}

fn set_addresses(t: &mut Table, r: &DiscoveredRouter) {
    set_list(t, "ipv4", &r.ipv4);
    set_list(t, "ipv6", &r.ipv6);
}

/// Replace `key` with the list (keeping the key's comments and a trailing comment on the
/// value), insert it if missing, remove it if the list is empty: a family that was not
/// found has no instance on this host.
fn set_list<T: Display>(t: &mut Table, key: &str, items: &[T]) {
    if items.is_empty() {
        t.remove(key);
        return;
    }
    let array: Array = items.iter().map(|n| n.to_string()).collect();
    replace_value(t, key, Value::Array(array));
}

fn replace_value(t: &mut Table, key: &str, mut new: Value) {
    match t.get_mut(key) {
        Some(Item::Value(old)) => {
            *new.decor_mut() = old.decor().clone();
            *old = new;
        }
        Some(other) => *other = Item::Value(new),
        None => {
            t.insert(key, Item::Value(new));
        }
    }
}

/// Write or rewrite the `# autoconfigure: found on …` line just above the entry's header.
fn set_found_on(t: &mut Table, r: &DiscoveredRouter) {
    if r.devices.is_empty() {
        return;
    }
    let line = format!("{FOUND_ON}{}", r.devices.join(", "));
    let prefix = t
        .decor()
        .prefix()
        .and_then(|p| p.as_str())
        .unwrap_or("")
        .to_string();
    let mut lines: Vec<&str> = prefix.split_inclusive('\n').collect();
    let new_line = format!("{line}\n");
    match lines.iter().position(|l| l.starts_with(FOUND_ON)) {
        Some(i) => lines[i] = &new_line,
        None => {
            // Keep blank lines and comments first; ours goes right above the header. A
            // prefix not ending in a newline (white space before `[[`) is dropped from the
            // tail, where it would otherwise split the comment from the header.
            if lines.last().is_some_and(|l| !l.ends_with('\n')) {
                lines.pop();
            }
            lines.push(&new_line);
        }
    }
    let prefix = lines.concat();
    t.decor_mut().set_prefix(prefix);
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "(no device)".to_string()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::config::parse::{parse_v4, parse_v6};

    fn router(interface: &str, vrid: u8, v4: &[&str], v6: &[&str]) -> DiscoveredRouter {
        let mut devices = Vec::new();
        if !v4.is_empty() {
            devices.push(format!("vrrp4-2-{vrid}"));
        }
        if !v6.is_empty() {
            devices.push(format!("vrrp6-2-{vrid}"));
        }
        DiscoveredRouter {
            interface: interface.into(),
            vrid,
            version: Version::V3,
            ipv4: v4.iter().map(|s| parse_v4(s).unwrap()).collect(),
            ipv6: v6.iter().map(|s| parse_v6(s).unwrap()).collect(),
            devices,
        }
    }

    fn parse(text: &str) -> Config {
        match parse_str(text, "out.toml") {
            Ok(c) => c,
            Err(e) => panic!("output does not validate:\n{e}\n---\n{text}"),
        }
    }

    #[test]
    fn fresh_round_trip() {
        let found = [
            router("eth1", 3, &["198.51.100.1/24"], &[]),
            router(
                "eth0",
                5,
                &["192.0.2.1/24", "192.0.2.2/24"],
                &["2001:db8::1/64"],
            ),
            router("eth0", 2, &[], &["2001:db8:2::1/64"]),
        ];
        let out = render_autoconfig(&found, &[], None).unwrap();
        assert!(out.starts_with("# netvrrp configuration written by `netvrrp autoconfigure`"));
        assert!(out.contains("[defaults]\nversion = 3\n"), "{out}");
        assert!(
            out.contains("# autoconfigure: found on vrrp4-2-5, vrrp6-2-5\n[[vrrp]]\n"),
            "{out}"
        );
        let c = parse(&out);
        let got: Vec<(&str, u8)> = c
            .routers
            .iter()
            .map(|r| (r.interface.as_str(), r.vrid))
            .collect();
        assert_eq!(got, vec![("eth0", 2), ("eth0", 5), ("eth1", 3)], "sorted");
        let eth0_5 = &c.routers[1];
        assert_eq!(eth0_5.ipv4, found[1].ipv4);
        assert_eq!(eth0_5.ipv6, found[1].ipv6);
        assert!(c.routers[0].ipv4.is_empty());
        assert!(!out.contains("ipv4 = []"), "a family not found gets no key");
    }

    #[test]
    fn fresh_without_routers_is_a_valid_file() {
        let out = render_autoconfig(&[], &[], None).unwrap();
        assert!(!out.contains("[defaults]"));
        assert_eq!(parse(&out), Config::default());
    }

    #[test]
    fn fresh_version_2_goes_to_defaults() {
        let mut r = router("eth0", 5, &["192.0.2.1/24"], &[]);
        r.version = Version::V2;
        let out = render_autoconfig(&[r], &[], None).unwrap();
        assert!(out.contains("[defaults]\nversion = 2\n"), "{out}");
        assert_eq!(parse(&out).routers[0].version, Version::V2);
    }

    #[test]
    fn fresh_mixed_versions_are_per_router() {
        let mut a = router("eth0", 5, &["192.0.2.1/24"], &[]);
        a.version = Version::V2;
        let b = router("eth0", 6, &["192.0.2.2/24"], &[]);
        let out = render_autoconfig(&[a, b], &[], None).unwrap();
        assert!(!out.contains("[defaults]"), "{out}");
        let c = parse(&out);
        assert_eq!(c.routers[0].version, Version::V2);
        assert_eq!(c.routers[1].version, Version::V3);
    }

    #[test]
    fn refuses_what_cannot_be_described() {
        let mut r = router("eth0", 5, &["192.0.2.1/24"], &["2001:db8::1/64"]);
        r.version = Version::V2;
        let e = render_autoconfig(&[r], &[], None).unwrap_err();
        assert!(e.contains("VRRP version 2 cannot carry"), "{e}");

        let r = router("eth0", 5, &["192.0.2.1/24"], &[]);
        let e = render_autoconfig(&[r.clone(), r], &[], None).unwrap_err();
        assert!(e.contains("given twice"), "{e}");

        let e = render_autoconfig(&[router("eth0", 0, &["192.0.2.1/24"], &[])], &[], None);
        assert!(e.is_err());

        // Two routers with the same VIP: the output would not validate.
        let a = router("eth0", 5, &["192.0.2.1/24"], &[]);
        let b = router("eth1", 5, &["192.0.2.1/24"], &[]);
        let e = render_autoconfig(&[a, b], &[], None).unwrap_err();
        assert!(e.contains("does not validate"), "{e}");
        assert!(e.contains("already used by"), "{e}");
    }

    #[test]
    fn router_without_address_is_left_out_and_named() {
        let mut empty = router("eth0", 7, &[], &[]);
        empty.devices = vec!["vrrp6-2-7".into()];
        let out =
            render_autoconfig(&[empty, router("eth0", 5, &["192.0.2.1"], &[])], &[], None).unwrap();
        assert!(
            out.contains("# Left out: (eth0, vrid 7) on vrrp6-2-7"),
            "{out}"
        );
        assert_eq!(parse(&out).routers.len(), 1);
    }

    const EXISTING: &str = r#"# Site file: do not lose this comment.

[defaults]
version = 3 # keep me
priority = 150

# The main router; its priority was tuned by hand.
[[vrrp]] # header comment
interface = "eth0"
vrid = 5
priority = 200 # high
vrrs-leader = ["g"]
ipv4 = ["192.0.2.9/24"] # stale address
ipv6 = ["2001:db8::9/64"]

# Not on this host any more, but the operator's to remove.
[[vrrp]]
interface = "eth7"
vrid = 9
ipv4 = ["203.0.113.9/24"]

[[vrrs.pathway]]
leader = "g"
interface = "eth9" # pathway comment
"#;

    #[test]
    fn merge_keeps_comments_and_other_tables() {
        let found = [
            router("eth1", 3, &["198.51.100.1/24"], &[]),
            router("eth0", 5, &["192.0.2.1/24"], &[]),
        ];
        let out = render_autoconfig(&found, &[], Some(EXISTING)).unwrap();
        for kept in [
            "# Site file: do not lose this comment.\n",
            "version = 3 # keep me\npriority = 150\n",
            "# The main router; its priority was tuned by hand.\n",
            "[[vrrp]] # header comment\n",
            "priority = 200 # high\nvrrs-leader = [\"g\"]\n",
            "# Not on this host any more, but the operator's to remove.\n[[vrrp]]\ninterface = \"eth7\"",
            "[[vrrs.pathway]]\nleader = \"g\"\ninterface = \"eth9\" # pathway comment\n",
        ] {
            assert!(out.contains(kept), "lost {kept:?} in:\n{out}");
        }
        // The matching entry's addresses were replaced; the family not found was removed;
        // the value's own trailing comment stays with the key.
        assert!(
            out.contains("ipv4 = [\"192.0.2.1/24\"] # stale address\n"),
            "{out}"
        );
        assert!(!out.contains("2001:db8::9"), "{out}");
        assert!(!out.contains("HEADER"));
        assert!(
            !out.contains("netvrrp configuration written by"),
            "no second header"
        );
        // The comment autoconfigure owns sits right above the header.
        assert!(
            out.contains("# autoconfigure: found on vrrp4-2-5\n[[vrrp]] # header comment\n"),
            "{out}"
        );
        // The new router is appended after the last [[vrrp]], before [[vrrs.pathway]].
        let new = out.find("interface = \"eth1\"").unwrap();
        assert!(new > out.find("interface = \"eth7\"").unwrap());
        assert!(new < out.find("[[vrrs.pathway]]").unwrap());

        let c = parse(&out);
        assert_eq!(c.routers.len(), 3);
        let eth0 = &c.routers[0];
        assert_eq!(eth0.priority, 200);
        assert_eq!(eth0.ipv4, found[1].ipv4);
        assert!(eth0.ipv6.is_empty());
        assert_eq!(c.routers[2].priority, 150, "new entries inherit [defaults]");
        assert_eq!(c.pathways.len(), 1);

        // Merging again changes nothing: the found-on line is rewritten, not added.
        let again = render_autoconfig(&found, &[], Some(&out)).unwrap();
        assert_eq!(again, out);
    }

    #[test]
    fn skipped_devices_are_named_in_a_fresh_header() {
        let skipped = ["bare: ipv4 VRID 9 on eth0: no address".to_string()];
        let out =
            render_autoconfig(&[router("eth0", 5, &["192.0.2.1"], &[])], &skipped, None).unwrap();
        assert!(
            out.contains("#\n# Skipped: bare: ipv4 VRID 9 on eth0: no address\n"),
            "{out}"
        );
    }

    /// Merge mode names the skipped devices too, in the leading comment block: once each
    /// however often it runs, the ones no longer skipped gone, the operator's comments kept.
    #[test]
    fn skipped_devices_are_named_when_merging_once_each() {
        let found = [router("eth0", 5, &["192.0.2.1/24"], &[])];
        let skip = |names: &[&str]| -> Vec<String> {
            names
                .iter()
                .map(|n| format!("{n}: ipv4 VRID 9 on eth0: no address"))
                .collect()
        };
        let count = |out: &str, what: &str| out.matches(what).count();
        let one = render_autoconfig(&found, &skip(&["bare"]), Some(EXISTING)).unwrap();
        assert!(
            one.starts_with(
                "# Site file: do not lose this comment.\n#\n# Skipped: bare: ipv4 VRID 9 on eth0: no address\n"
            ),
            "{one}"
        );
        let again = render_autoconfig(&found, &skip(&["bare"]), Some(&one)).unwrap();
        assert_eq!(again, one, "a re-run adds nothing");
        let two = render_autoconfig(&found, &skip(&["other", "third"]), Some(&one)).unwrap();
        assert_eq!(count(&two, "# Skipped: "), 2, "{two}");
        assert_eq!(count(&two, "bare:"), 0, "{two}");
        assert!(
            two.contains("# Skipped: other: ipv4 VRID 9 on eth0: no address\n#\n# Skipped: third:"),
            "{two}"
        );
        let none = render_autoconfig(&found, &[], Some(&two)).unwrap();
        assert_eq!(
            none,
            render_autoconfig(&found, &[], Some(EXISTING)).unwrap()
        );
        for out in [&one, &two, &none] {
            assert!(
                out.contains("# Site file: do not lose this comment.\n"),
                "{out}"
            );
            assert_eq!(parse(out).routers.len(), 2);
        }
        // A fresh file's header keeps one list too when merged into.
        let fresh = render_autoconfig(&found, &skip(&["bare"]), None).unwrap();
        let merged = render_autoconfig(&found, &skip(&["bare"]), Some(&fresh)).unwrap();
        assert_eq!(merged, fresh);
        // A file without a leading comment gets the lines at its top.
        let bare = "[[vrrp]]\ninterface = \"eth0\"\nvrid = 5\nipv4 = [\"192.0.2.1/24\"]\n";
        let out = render_autoconfig(&found, &skip(&["bare"]), Some(bare)).unwrap();
        assert!(
            out.starts_with("# Skipped: bare: ipv4 VRID 9 on eth0: no address\n\n"),
            "{out}"
        );
    }

    #[test]
    fn merge_found_on_line_is_updated() {
        let first =
            render_autoconfig(&[router("eth0", 5, &["192.0.2.1"], &[])], &[], None).unwrap();
        let second = render_autoconfig(
            &[router("eth0", 5, &["192.0.2.1"], &["2001:db8::1"])],
            &[],
            Some(&first),
        )
        .unwrap();
        assert!(second.contains("# autoconfigure: found on vrrp4-2-5, vrrp6-2-5\n"));
        assert_eq!(
            second.matches("# autoconfigure: found on").count(),
            1,
            "{second}"
        );
        assert_eq!(parse(&second).routers[0].ipv6.len(), 1);
    }

    #[test]
    fn merge_sets_version_only_where_it_differs() {
        let existing = "[defaults]\nversion = 2\n\n[[vrrp]]\ninterface = \"eth0\"\nvrid = 5\nipv4 = [\"192.0.2.9\"]\n";
        let mut v2 = router("eth1", 1, &["198.51.100.1"], &[]);
        v2.version = Version::V2;
        let v3 = router("eth0", 5, &["192.0.2.1"], &["2001:db8::1"]);
        let out = render_autoconfig(&[v2, v3], &[], Some(existing)).unwrap();
        let c = parse(&out);
        assert_eq!(c.routers[0].version, Version::V3);
        assert_eq!(c.routers[1].version, Version::V2);
        assert_eq!(out.matches("version = ").count(), 2, "{out}");
    }

    #[test]
    fn merge_into_file_without_vrrp() {
        let existing = "# only a comment\n[runtime]\nmetrics-listen = \"127.0.0.1:9100\"\n";
        let out = render_autoconfig(
            &[router("eth0", 5, &["192.0.2.1"], &[])],
            &[],
            Some(existing),
        )
        .unwrap();
        assert!(out.starts_with("# only a comment\n[runtime]\n"), "{out}");
        let c = parse(&out);
        assert_eq!(c.routers.len(), 1);
        assert_eq!(c.runtime.metrics_listen.as_deref(), Some("127.0.0.1:9100"));
        // Nothing found: the file is left as it was.
        assert_eq!(
            render_autoconfig(&[], &[], Some(existing)).unwrap(),
            existing
        );
    }

    #[test]
    fn merge_refusals() {
        let r = [router("eth0", 5, &["192.0.2.1"], &[])];
        let e = render_autoconfig(&r, &[], Some("vrrp = = 1")).unwrap_err();
        assert!(e.contains("not valid TOML"), "{e}");
        let inline = "vrrp = [{ interface = \"eth0\", vrid = 5, ipv4 = [\"192.0.2.1\"] }]\n";
        let e = render_autoconfig(&r, &[], Some(inline)).unwrap_err();
        assert!(e.contains("not written as [[vrrp]]"), "{e}");
    }
}
