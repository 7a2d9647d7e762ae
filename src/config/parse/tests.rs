//! One test per validation rule, each asserting the exact line:column and key path.

use super::*;
use crate::config::{ClientKind, TrackConfig};
use crate::types::{Family, MacAddr};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// All errors of `text` as (line, column, key, message).
pub(super) fn errors(text: &str) -> Vec<(usize, usize, String, String)> {
    match parse_str(text, "t.toml") {
        Ok(_) => Vec::new(),
        Err(e) => {
            e.0.into_iter()
                .map(|e| (e.location.line, e.location.column, e.key, e.message))
                .collect()
        }
    }
}

/// The only error of `text`.
#[track_caller]
fn only(text: &str) -> (usize, usize, String, String) {
    let mut e = errors(text);
    assert_eq!(e.len(), 1, "expected exactly one error, got {e:#?}");
    e.remove(0)
}

#[track_caller]
fn assert_one(text: &str, line: usize, column: usize, key: &str, fragment: &str) {
    let (l, c, k, m) = only(text);
    assert_eq!((l, c, k.as_str()), (line, column, key), "message: {m}");
    assert!(m.contains(fragment), "{m:?} does not contain {fragment:?}");
}

#[track_caller]
pub(super) fn ok(text: &str) -> Config {
    match parse_str(text, "t.toml") {
        Ok(c) => c,
        Err(e) => panic!("unexpected errors:\n{e}"),
    }
}

const R: &str = "[[vrrp]]\ninterface = \"eth0\"\nvrid = 1\nipv4 = [\"192.0.2.1/24\"]\n";

// ledger: R9568-5.2.4-c R9568-5.2.7-a R9568-6.1-c
#[test]
fn minimal_router_gets_builtin_defaults() {
    let c = ok(R);
    assert_eq!(c.routers.len(), 1);
    let r = &c.routers[0];
    assert_eq!((r.interface.as_str(), r.vrid), ("eth0", 1));
    assert_eq!(r.version, Version::V3);
    assert_eq!(r.priority, 100);
    assert_eq!(r.advertisement_interval_ms, 1000);
    assert!(r.preempt);
    assert_eq!(r.preempt_delay_ms, 0);
    assert!(r.accept_mode);
    assert!(r.checksum_with_ipv4_pseudoheader);
    assert!(!r.shutdown);
    assert_eq!(r.garp_bursts, 2);
    assert_eq!(r.garp_burst_interval_ms, 2000);
    assert_eq!(r.ipv4, vec!["192.0.2.1/24".parse::<Ipv4Net>().unwrap()]);
    assert_eq!(
        r.location,
        Location {
            file: "t.toml".into(),
            line: 1,
            column: 1
        }
    );
    assert_eq!(c.source, None);
}

#[test]
fn defaults_merge_and_router_overrides() {
    let text = "\
[defaults]
version = 2
priority = 150
advertisement-interval = 2000
preempt = false
preempt-delay = 3000
accept-mode = false
checksum-with-ipv4-pseudoheader = false
shutdown = true
garp-bursts = 5
garp-burst-interval = 100

[[vrrp]]
interface = \"eth0\"
vrid = 1
ipv4 = [\"192.0.2.1\"]

[[vrrp]]
interface = \"eth0\"
vrid = 2
version = 3
priority = 255
advertisement-interval = 30
preempt = true
shutdown = false
ipv6 = [\"2001:db8::1\"]
";
    let c = ok(text);
    let a = &c.routers[0];
    assert_eq!(a.version, Version::V2);
    assert_eq!(a.priority, 150);
    assert_eq!(a.advertisement_interval_ms, 2000);
    assert!(!a.preempt);
    assert_eq!(a.preempt_delay_ms, 3000);
    assert!(!a.accept_mode);
    assert!(!a.checksum_with_ipv4_pseudoheader);
    assert!(a.shutdown);
    assert_eq!(a.garp_bursts, 5);
    assert_eq!(a.garp_burst_interval_ms, 100);
    // A bare address is a host prefix.
    assert_eq!(a.ipv4, vec!["192.0.2.1/32".parse::<Ipv4Net>().unwrap()]);

    let b = &c.routers[1];
    assert_eq!(b.version, Version::V3);
    assert_eq!(b.priority, 255, "255 (address owner) is accepted");
    assert_eq!(b.advertisement_interval_ms, 30);
    assert!(b.preempt);
    assert!(!b.shutdown);
    assert_eq!(b.preempt_delay_ms, 3000, "not overridden: inherited");
    assert_eq!(b.ipv6, vec!["2001:db8::1/128".parse::<Ipv6Net>().unwrap()]);
    assert_eq!(b.location.line, 18);
}

#[test]
fn syntax_error_has_toml_position() {
    let text = "[[vrrp]]\ninterface = \"eth0\"\nvrid = = 3\n";
    let (l, c, k, m) = only(text);
    assert_eq!((l, c, k.as_str()), (3, 8, ""));
    assert!(m.starts_with("invalid TOML"), "{m}");
}

#[test]
fn syntax_error_duplicate_key() {
    let text = "[[vrrp]]\nvrid = 1\nvrid = 2\n";
    let (l, c, _, m) = only(text);
    assert_eq!((l, c), (3, 1));
    assert!(m.contains("duplicate key"), "{m}");
}

#[test]
fn column_counts_characters_not_bytes() {
    // "é" is two bytes: the second element starts at character 14 (byte 15).
    let text = "[[vrrp]]\ninterface = \"eth0\"\nvrid = 1\nipv4 = [\"é\", \"x\"]\n";
    let e = errors(text);
    assert_eq!(e.len(), 2, "{e:#?}");
    assert_eq!((e[0].0, e[0].1, e[0].2.as_str()), (4, 9, "vrrp[1].ipv4[1]"));
    assert_eq!(
        (e[1].0, e[1].1, e[1].2.as_str()),
        (4, 14, "vrrp[1].ipv4[2]")
    );
}

#[test]
fn unknown_top_level_key() {
    assert_one(
        "[vrpr]\n",
        1,
        2,
        "vrpr",
        "unknown key `vrpr` (did you mean `vrrp`?)",
    );
}

#[test]
fn unknown_router_key_with_suggestion() {
    let text = format!("{R}preempt_delay = 5\n");
    assert_one(
        &text,
        5,
        1,
        "vrrp[1].preempt_delay",
        "did you mean `preempt-delay`?",
    );
}

#[test]
fn router_only_key_in_defaults() {
    assert_one(
        "[defaults]\nipv4 = [\"192.0.2.1\"]\n",
        2,
        1,
        "defaults.ipv4",
        "belongs in a [[vrrp]]",
    );
}

#[test]
fn unknown_keys_in_nested_tables() {
    let text = "\
[runtime]
metrics = \"x\"
[vrrs]
server = 1
";
    let e = errors(text);
    assert_eq!(e.len(), 2, "{e:#?}");
    assert_eq!((e[0].0, e[0].1, e[0].2.as_str()), (2, 1, "runtime.metrics"));
    assert_eq!((e[1].0, e[1].1, e[1].2.as_str()), (4, 1, "vrrs.server"));
}

#[test]
fn wrong_type() {
    let text = "[[vrrp]]\ninterface = \"eth0\"\nvrid = \"5\"\nipv4 = [\"192.0.2.1\"]\n";
    assert_one(text, 3, 8, "vrrp[1].vrid", "expected integer, found string");
}

#[test]
fn wrong_type_for_table_and_list() {
    assert_one(
        "defaults = 3\n",
        1,
        12,
        "defaults",
        "expected table, found integer",
    );
    assert_one(
        "vrrp = \"x\"\n",
        1,
        8,
        "vrrp",
        "expected array of tables, found string",
    );
    assert_one(
        "vrrp = [1]\n",
        1,
        9,
        "vrrp[1]",
        "expected table, found integer",
    );
}

#[test]
fn wrong_type_boolean_and_array_element() {
    let text = format!("{R}preempt = \"yes\"\n");
    assert_one(
        &text,
        5,
        11,
        "vrrp[1].preempt",
        "expected boolean, found string",
    );
    let text = "[[vrrp]]\ninterface = \"eth0\"\nvrid = 1\nipv4 = [\"192.0.2.1\", 7]\n";
    assert_one(
        text,
        4,
        22,
        "vrrp[1].ipv4[2]",
        "expected string, found integer",
    );
}

#[test]
fn missing_required_keys_point_at_table() {
    let text = "\n[[vrrp]]\nipv4 = [\"192.0.2.1\"]\n";
    let e = errors(text);
    assert_eq!(e.len(), 2, "{e:#?}");
    assert_eq!(
        (e[0].0, e[0].1, e[0].2.as_str()),
        (2, 1, "vrrp[1].interface")
    );
    assert_eq!((e[1].0, e[1].1, e[1].2.as_str()), (2, 1, "vrrp[1].vrid"));
    assert!(e[0].3.contains("missing required key `interface`"));
}

// ledger: R9568-5.2.4-b
#[test]
fn priority_range() {
    let text = format!("{R}priority = 0\n");
    assert_one(
        &text,
        5,
        12,
        "vrrp[1].priority",
        "priority 0 is out of range 1..=255",
    );
    let text = format!("{R}priority = 256\n");
    assert_one(&text, 5, 12, "vrrp[1].priority", "out of range");
    assert_one(
        "[defaults]\npriority = -1\n",
        2,
        12,
        "defaults.priority",
        "out of range",
    );
}

// ledger: R9568-5.2.3-a
#[test]
fn vrid_range() {
    let text = "[[vrrp]]\ninterface = \"eth0\"\nvrid = 0\nipv4 = [\"192.0.2.1\"]\n";
    assert_one(text, 3, 8, "vrrp[1].vrid", "vrid 0 is out of range 1..=255");
    let text = "[[vrrp]]\ninterface = \"eth0\"\nvrid = 256\nipv4 = [\"192.0.2.1\"]\n";
    assert_one(text, 3, 8, "vrrp[1].vrid", "out of range");
}

#[test]
fn version_must_be_2_or_3() {
    assert_one(
        "[defaults]\nversion = 4\n",
        2,
        11,
        "defaults.version",
        "use 2 or 3",
    );
}

#[test]
fn interval_v3_multiple_of_10() {
    let text = format!("{R}advertisement-interval = 1005\n");
    assert_one(
        &text,
        5,
        26,
        "vrrp[1].advertisement-interval",
        "not a multiple of 10 ms",
    );
}

#[test]
fn interval_v3_range() {
    let text = format!("{R}advertisement-interval = 50000\n");
    assert_one(
        &text,
        5,
        26,
        "vrrp[1].advertisement-interval",
        "out of range 10..=40950 for VRRPv3",
    );
}

// ledger: R3768-5.3.7-a
#[test]
fn interval_v2_multiple_of_1000() {
    let text = format!("{R}version = 2\nadvertisement-interval = 1500\n");
    assert_one(
        &text,
        6,
        26,
        "vrrp[1].advertisement-interval",
        "not a multiple of 1000 ms",
    );
}

#[test]
fn interval_inherited_from_defaults_reported_once_at_defaults() {
    let text = "\
[defaults]
advertisement-interval = 500
[[vrrp]]
interface = \"eth0\"
vrid = 1
version = 2
ipv4 = [\"192.0.2.1\"]
[[vrrp]]
interface = \"eth0\"
vrid = 2
version = 2
ipv4 = [\"192.0.2.2\"]
";
    assert_one(
        text,
        2,
        26,
        "defaults.advertisement-interval",
        "inherited by vrrp[1], which uses version 2",
    );
}

#[test]
fn preempt_delay_and_garp_ranges() {
    let text = format!("{R}preempt-delay = 3600001\n");
    assert_one(
        &text,
        5,
        17,
        "vrrp[1].preempt-delay",
        "out of range 0..=3600000",
    );
    assert_one(
        "[defaults]\ngarp-bursts = 11\n",
        2,
        15,
        "defaults.garp-bursts",
        "1..=10",
    );
    assert_one(
        "[defaults]\ngarp-burst-interval = 0\n",
        2,
        23,
        "defaults.garp-burst-interval",
        "10..=60000",
    );
}

// ledger: R3768-5.1-a
#[test]
fn ipv6_rejected_with_version_2() {
    let text = "\
[defaults]
version = 2
[[vrrp]]
interface = \"eth0\"
vrid = 1
ipv6 = [\"2001:db8::1/64\"]
";
    assert_one(
        text,
        6,
        8,
        "vrrp[1].ipv6",
        "uses version 2 (set by defaults.version at t.toml:2:11)",
    );
}

#[test]
fn invalid_addresses() {
    let text = "[[vrrp]]\ninterface = \"eth0\"\nvrid = 1\nipv4 = [\"2001:db8::1\", \"10.0.0.1/33\", \"224.0.0.18\"]\n";
    let e = errors(text);
    assert_eq!(e.len(), 3, "{e:#?}");
    assert_eq!((e[0].0, e[0].1, e[0].2.as_str()), (4, 9, "vrrp[1].ipv4[1]"));
    assert!(e[0].3.contains("put it in `ipv6`"));
    assert_eq!(
        (e[1].0, e[1].1, e[1].2.as_str()),
        (4, 24, "vrrp[1].ipv4[2]")
    );
    assert_eq!(
        (e[2].0, e[2].1, e[2].2.as_str()),
        (4, 39, "vrrp[1].ipv4[3]")
    );
    assert!(e[2].3.contains("multicast"));
}

#[test]
fn router_needs_an_address() {
    let text = "x = 1\n[[vrrp]]\ninterface = \"eth0\"\nvrid = 1\nipv4 = []\n";
    let e = errors(text);
    // `x` is unknown, and the router has no address.
    assert_eq!(e.len(), 2, "{e:#?}");
    assert_eq!((e[1].0, e[1].1, e[1].2.as_str()), (2, 1, "vrrp[1]"));
    assert!(e[1].3.contains("at least one address"));
}

#[test]
fn duplicate_interface_vrid_names_both_locations() {
    let text = format!("{R}\n[[vrrp]]\ninterface = \"eth0\"\nvrid = 1\nipv4 = [\"192.0.2.2\"]\n");
    assert_one(
        &text,
        8,
        8,
        "vrrp[2].vrid",
        "(eth0, vrid 1) is already defined by vrrp[1] at t.toml:1:1",
    );
}

#[test]
fn same_vrid_on_other_interface_is_fine() {
    let text = format!("{R}[[vrrp]]\ninterface = \"eth1\"\nvrid = 1\nipv4 = [\"192.0.2.2\"]\n");
    assert_eq!(ok(&text).routers.len(), 2);
}

#[test]
fn duplicate_vip_across_routers() {
    let text = format!(
        "{R}[[vrrp]]\ninterface = \"eth1\"\nvrid = 2\nipv4 = [\"192.0.2.9/24\", \"192.0.2.1/32\"]\n"
    );
    assert_one(
        &text,
        8,
        25,
        "vrrp[2].ipv4[2]",
        "192.0.2.1 is already used by vrrp[1].ipv4[1] at t.toml:4:9",
    );
}

/// A VIP's path counts the elements as written, invalid ones included, in both the
/// message's key and the first holder's path.
#[test]
fn duplicate_vip_path_counts_invalid_elements() {
    let text = "[[vrrp]]\ninterface = \"eth0\"\nvrid = 1\nipv4 = [\"bogus\", \"192.0.2.1/24\"]\n\
         [[vrrp]]\ninterface = \"eth1\"\nvrid = 2\nipv6 = [\"fe80::1/64\"]\nipv4 = [\"x\", \"y\", \"192.0.2.1/32\"]\n";
    let e = errors(text);
    assert_eq!(e.len(), 4, "{e:#?}");
    let dup = e
        .iter()
        .find(|e| e.3.contains("already used"))
        .expect("reported");
    assert_eq!(
        (dup.0, dup.1, dup.2.as_str()),
        (9, 19, "vrrp[2].ipv4[3]"),
        "{dup:?}"
    );
    assert!(
        dup.3
            .contains("192.0.2.1 is already used by vrrp[1].ipv4[2] at t.toml:4:18"),
        "{dup:?}"
    );
}

#[test]
fn duplicate_vip_router_and_pathway() {
    let text = format!(
        "{R}vrrs-leader = [\"g\"]\n[[vrrs.pathway]]\nleader = \"g\"\ninterface = \"eth1\"\naddress = [\"192.0.2.1/24\"]\n"
    );
    assert_one(
        &text,
        9,
        12,
        "vrrs.pathway[1].address[1]",
        "already used by vrrp[1].ipv4[1]",
    );
}

#[test]
fn leader_claimed_by_two_routers() {
    let text = "\
[[vrrp]]
interface = \"eth0\"
vrid = 1
ipv4 = [\"192.0.2.1\"]
vrrs-leader = [\"g\"]
[[vrrp]]
interface = \"eth0\"
vrid = 2
ipv4 = [\"192.0.2.2\"]
vrrs-leader = [\"h\", \"g\"]
";
    assert_one(
        text,
        10,
        21,
        "vrrp[2].vrrs-leader[2]",
        "leader name `g` is already claimed by vrrp[1] at t.toml:5:16",
    );
}

#[test]
fn leader_listed_twice_in_one_router() {
    let text = format!("{R}vrrs-leader = [\"g\", \"g\"]\n");
    assert_one(&text, 5, 21, "vrrp[1].vrrs-leader[2]", "listed twice");
}

#[test]
fn empty_leader_names() {
    let text = format!("{R}vrrs-leader = [\"\"]\n");
    assert_one(&text, 5, 16, "vrrp[1].vrrs-leader[1]", "must not be empty");
    let text = "[[vrrs.client]]\nleader = \" \"\nkind = \"accounting\"\npath = \"/tmp/a\"\n";
    assert_one(text, 2, 10, "vrrs.client[1].leader", "must not be empty");
}

#[test]
fn leader_family_must_have_addresses() {
    let text = format!("{R}vrrs-leader = [\"g\"]\nvrrs-leader-family = \"ipv6\"\n");
    assert_one(
        &text,
        6,
        22,
        "vrrp[1].vrrs-leader-family",
        "no ipv6 address",
    );
    let text = format!("{R}vrrs-leader = [\"g\"]\nvrrs-leader-family = \"ip6\"\n");
    assert_one(&text, 6, 22, "vrrp[1].vrrs-leader-family", "unknown family");
    let text = format!("{R}vrrs-leader-family = \"ipv4\"\n");
    assert_one(
        &text,
        5,
        22,
        "vrrp[1].vrrs-leader-family",
        "without vrrs-leader",
    );
}

#[test]
fn leader_family_resolution() {
    let text = "\
[[vrrp]]
interface = \"eth0\"
vrid = 1
ipv4 = [\"192.0.2.1\"]
ipv6 = [\"2001:db8::1\"]
vrrs-leader = [\"a\", \"b\"]
vrrs-leader-family = \"ipv6\"
";
    let c = ok(text);
    assert_eq!(c.routers[0].vrrs_leader, vec!["a", "b"]);
    assert_eq!(c.routers[0].leader_family(), Family::Ipv6);
}

#[test]
fn pathway_leader_must_be_served() {
    let text = "[[vrrs.pathway]]\nleader = \"nobody\"\ninterface = \"eth1\"\n";
    assert_one(
        text,
        2,
        10,
        "vrrs.pathway[1].leader",
        "no [[vrrp]] serves leader `nobody`",
    );
}

#[test]
fn client_leader_must_be_served() {
    let text = "[[vrrs.client]]\nleader = \"nobody\"\nkind = \"accounting\"\npath = \"/tmp/a\"\n";
    assert_one(
        text,
        2,
        10,
        "vrrs.client[1].leader",
        "no [[vrrp]] serves leader",
    );
}

#[test]
fn pathway_not_on_leader_interface() {
    let text = format!(
        "{R}vrrs-leader = [\"g\"]\n[[vrrs.pathway]]\nleader = \"g\"\ninterface = \"eth0\"\n"
    );
    assert_one(
        &text,
        8,
        13,
        "vrrs.pathway[1].interface",
        "the interface of its leader's router vrrp[1] (vrrp[1].interface at t.toml:2:13)",
    );
}

#[test]
fn pathway_cisco_mac_and_defaults() {
    let text = format!(
        "{R}vrrs-leader = [\"g\"]\n\
         [[vrrs.pathway]]\nleader = \"g\"\ninterface = \"eth1\"\nmac = \"FE24.fe24.fe24\"\naddress = [\"198.51.100.1/24\", \"2001:db8::9\"]\n\
         [[vrrs.pathway]]\nleader = \"g\"\ninterface = \"eth2\"\n"
    );
    let c = ok(&text);
    assert_eq!(c.pathways.len(), 2);
    let p = &c.pathways[0];
    assert_eq!(p.mac, Some(MacAddr([0xfe, 0x24, 0xfe, 0x24, 0xfe, 0x24])));
    assert_eq!(
        p.address,
        vec![
            "198.51.100.1/24".parse::<IpNet>().unwrap(),
            "2001:db8::9/128".parse::<IpNet>().unwrap()
        ]
    );
    assert_eq!(p.location.line, 6);
    // Without mac an empty address list is allowed (a state-only pathway).
    assert_eq!(c.pathways[1].mac, None);
    assert!(c.pathways[1].address.is_empty());
}

#[test]
fn pathway_mac_must_be_unicast_and_not_vrrp() {
    let base = format!(
        "{R}vrrs-leader = [\"g\"]\n[[vrrs.pathway]]\nleader = \"g\"\ninterface = \"eth1\"\naddress = [\"198.51.100.1\"]\n"
    );
    let text = format!("{base}mac = \"0100.5e00.0001\"\n");
    assert_one(&text, 10, 7, "vrrs.pathway[1].mac", "must be unicast");
    let text = format!("{base}mac = \"00:00:5e:00:01:05\"\n");
    assert_one(&text, 10, 7, "vrrs.pathway[1].mac", "VRRP virtual MAC");
    let text = format!("{base}mac = \"fe24.fe24\"\n");
    assert_one(&text, 10, 7, "vrrs.pathway[1].mac", "invalid MAC address");
}

#[test]
fn pathway_with_mac_needs_address() {
    let text = format!(
        "{R}vrrs-leader = [\"g\"]\n[[vrrs.pathway]]\nleader = \"g\"\ninterface = \"eth1\"\nmac = \"fe24.fe24.fe24\"\n"
    );
    assert_one(
        &text,
        6,
        1,
        "vrrs.pathway[1].address",
        "needs at least one address",
    );
}

#[test]
fn duplicate_pathways() {
    let text = format!(
        "{R}vrrs-leader = [\"g\", \"h\"]\n\
         [[vrrs.pathway]]\nleader = \"g\"\ninterface = \"eth1\"\nmac = \"02:00:00:00:00:01\"\naddress = [\"198.51.100.1\"]\n\
         [[vrrs.pathway]]\nleader = \"g\"\ninterface = \"eth1\"\n\
         [[vrrs.pathway]]\nleader = \"h\"\ninterface = \"eth1\"\nmac = \"02:00:00:00:00:01\"\naddress = [\"198.51.100.2\"]\n"
    );
    let e = errors(&text);
    assert_eq!(e.len(), 2, "{e:#?}");
    assert_eq!(
        (e[0].0, e[0].1, e[0].2.as_str()),
        (13, 13, "vrrs.pathway[2].interface")
    );
    assert!(
        e[0].3
            .contains("already has a pathway on `eth1`: vrrs.pathway[1] at t.toml:8:13")
    );
    assert_eq!(
        (e[1].0, e[1].1, e[1].2.as_str()),
        (17, 7, "vrrs.pathway[3].mac")
    );
    assert!(
        e[1].3
            .contains("already used on `eth1` by vrrs.pathway[1].mac at t.toml:9:7")
    );
}

#[test]
fn client_kinds() {
    let text = format!(
        "{R}vrrs-leader = [\"g\"]\n\
         [[vrrs.client]]\nleader = \"g\"\nkind = \"interface-state\"\ninterface = \"eth4\"\n\
         [[vrrs.client]]\nleader = \"g\"\nkind = \"accounting\"\npath = \"/var/log/g.jsonl\"\n\
         [[vrrs.client]]\nleader = \"g\"\nkind = \"exec\"\ncommand = [\"/bin/true\", \"x\"]\n\
         [[vrrs.client]]\nleader = \"g\"\nkind = \"exec\"\ncommand = [\"/bin/true\"]\ntimeout = 500\n"
    );
    let c = ok(&text);
    let kinds: Vec<&ClientKind> = c.clients.iter().map(|c| &c.kind).collect();
    assert_eq!(
        kinds,
        vec![
            &ClientKind::InterfaceState {
                interface: "eth4".into()
            },
            &ClientKind::Accounting {
                path: "/var/log/g.jsonl".into()
            },
            &ClientKind::Exec {
                command: vec!["/bin/true".into(), "x".into()],
                timeout_ms: 10_000,
                run_as: Default::default(),
            },
            &ClientKind::Exec {
                command: vec!["/bin/true".into()],
                timeout_ms: 500,
                run_as: Default::default(),
            },
        ]
    );
    assert_eq!(c.clients[0].location.line, 6);
}

#[test]
fn client_key_not_valid_for_kind() {
    let text = format!(
        "{R}vrrs-leader = [\"g\"]\n[[vrrs.client]]\nleader = \"g\"\nkind = \"exec\"\ncommand = [\"/bin/true\"]\npath = \"/tmp/x\"\n"
    );
    assert_one(
        &text,
        10,
        1,
        "vrrs.client[1].path",
        "does not apply to kind = \"exec\"",
    );
}

#[test]
fn client_unknown_kind_and_missing_fields() {
    let text = "[[vrrs.client]]\nleader = \"g\"\nkind = \"mail\"\n";
    let e = errors(text);
    // Unknown kind; `g` is not served either.
    assert_eq!(e.len(), 2, "{e:#?}");
    assert_eq!(
        (e[1].0, e[1].1, e[1].2.as_str()),
        (3, 8, "vrrs.client[1].kind")
    );
    assert!(e[1].3.contains("unknown client kind `mail`"));

    let text =
        format!("{R}vrrs-leader = [\"g\"]\n[[vrrs.client]]\nleader = \"g\"\nkind = \"exec\"\n");
    assert_one(
        &text,
        6,
        1,
        "vrrs.client[1].command",
        "missing required key `command`",
    );
}

#[test]
fn client_exec_command_rules() {
    let base =
        format!("{R}vrrs-leader = [\"g\"]\n[[vrrs.client]]\nleader = \"g\"\nkind = \"exec\"\n");
    let text = format!("{base}command = []\n");
    assert_one(
        &text,
        9,
        11,
        "vrrs.client[1].command",
        "must name a program",
    );
    let text = format!("{base}command = [\"\", \"x\"]\n");
    assert_one(
        &text,
        9,
        12,
        "vrrs.client[1].command[1]",
        "the program `` must be an absolute path",
    );
    let text = format!("{base}command = \"/bin/true\"\n");
    assert_one(
        &text,
        9,
        11,
        "vrrs.client[1].command",
        "expected array, found string",
    );
    let text = format!("{base}command = [\"/bin/true\"]\ntimeout = 0\n");
    assert_one(&text, 10, 11, "vrrs.client[1].timeout", "1..=3600000");
}

#[test]
fn client_accounting_path_absolute() {
    let text = format!(
        "{R}vrrs-leader = [\"g\"]\n[[vrrs.client]]\nleader = \"g\"\nkind = \"accounting\"\npath = \"log/g\"\n"
    );
    assert_one(&text, 9, 8, "vrrs.client[1].path", "must be absolute");
}

#[test]
fn interface_state_client_not_on_router_interface() {
    let text = format!(
        "{R}vrrs-leader = [\"g\"]\n[[vrrs.client]]\nleader = \"g\"\nkind = \"interface-state\"\ninterface = \"eth0\"\n"
    );
    assert_one(
        &text,
        9,
        13,
        "vrrs.client[1].interface",
        "vrrp[1] at t.toml:1:1 runs VRRP on it",
    );
}

#[test]
fn interface_names_over_15_bytes() {
    let long = "a234567890123456";
    let text = format!("[[vrrp]]\ninterface = \"{long}\"\nvrid = 1\nipv4 = [\"192.0.2.1\"]\n");
    assert_one(&text, 2, 13, "vrrp[1].interface", "16 bytes long");
    let text = format!("{R}track = [{{ interface = \"{long}\", decrement = 10 }}]\n");
    assert_one(&text, 5, 24, "vrrp[1].track[1].interface", "at most 15");
    let text = format!(
        "{R}vrrs-leader = [\"g\"]\n[[vrrs.pathway]]\nleader = \"g\"\ninterface = \"{long}\"\n"
    );
    assert_one(&text, 8, 13, "vrrs.pathway[1].interface", "at most 15");
    let text = format!(
        "{R}vrrs-leader = [\"g\"]\n[[vrrs.client]]\nleader = \"g\"\nkind = \"interface-state\"\ninterface = \"{long}\"\n"
    );
    assert_one(&text, 9, 13, "vrrs.client[1].interface", "at most 15");
    // Exactly 15 is fine.
    let text = "[[vrrp]]\ninterface = \"a23456789012345\"\nvrid = 1\nipv4 = [\"192.0.2.1\"]\n";
    ok(text);
}

#[test]
fn interface_name_characters() {
    let text = "[[vrrp]]\ninterface = \"eth0:1\"\nvrid = 1\nipv4 = [\"192.0.2.1\"]\n";
    assert_one(text, 2, 13, "vrrp[1].interface", "Linux refuses");
    let text = "[[vrrp]]\ninterface = \"\"\nvrid = 1\nipv4 = [\"192.0.2.1\"]\n";
    assert_one(text, 2, 13, "vrrp[1].interface", "must not be empty");
}

#[test]
fn track_rules() {
    let text = format!("{R}track = [{{ interface = \"eth1\", decrement = 255 }}]\n");
    assert_one(&text, 5, 44, "vrrp[1].track[1].decrement", "1..=254");
    let text = format!("{R}track = [{{ interface = \"eth1\" }}]\n");
    assert_one(
        &text,
        5,
        10,
        "vrrp[1].track[1].decrement",
        "missing required key",
    );
    let text = format!(
        "{R}track = [{{ interface = \"eth1\", decrement = 5 }}, {{ interface = \"eth1\", decrement = 6 }}]\n"
    );
    assert_one(
        &text,
        5,
        63,
        "vrrp[1].track[2].interface",
        "already tracked at t.toml:5:24",
    );
    // Array-of-tables form.
    let text = format!("{R}[[vrrp.track]]\ninterface = \"eth1\"\ndecrement = 5\n");
    let c = ok(&text);
    assert_eq!(
        c.routers[0].track,
        vec![TrackConfig {
            target: crate::config::TrackTarget::Interface("eth1".into()),
            decrement: 5,
            fault: false,
        }]
    );
}

#[test]
fn peers_must_be_addresses() {
    let text = format!("{R}peers = [\"192.0.2.7\", \"fe80::1\", \"bogus\"]\n");
    assert_one(&text, 5, 34, "vrrp[1].peers[3]", "not an IP address");
}

#[test]
fn runtime_metrics_listen() {
    let c = ok("[runtime]\nmetrics-listen = \"[::1]:9100\"\n");
    assert_eq!(c.runtime.metrics_listen.as_deref(), Some("[::1]:9100"));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    // Valid, but exposed beyond the host: a warning at the value, not an error.
    for (addr, column) in [("0.0.0.0:9100", 18), ("[::]:9100", 18), ("192.0.2.1:1", 18)] {
        let c = ok(&format!("[runtime]\n\nmetrics-listen = \"{addr}\"\n"));
        assert_eq!(c.runtime.metrics_listen.as_deref(), Some(addr));
        let w: Vec<String> = c.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with(&format!(
                "t.toml:3:{column}: runtime.metrics-listen: warning: {} is not a loopback address",
                addr.parse::<std::net::SocketAddr>().unwrap()
            )),
            "{w:?}"
        );
    }
    assert_one(
        "[runtime]\nmetrics-listen = \"localhost\"\n",
        2,
        18,
        "runtime.metrics-listen",
        "address:port",
    );
}

#[test]
fn runtime_realtime_priority() {
    assert_eq!(ok(R).runtime.realtime_priority, None);
    let c = ok("[runtime]\nrealtime-priority = 99\n");
    assert_eq!(c.runtime.realtime_priority, Some(99));
    let c = ok("[runtime]\nrealtime-priority = 1\n");
    assert_eq!(c.runtime.realtime_priority, Some(1));
    assert_one(
        "[runtime]\nrealtime-priority = 0\n",
        2,
        21,
        "runtime.realtime-priority",
        "realtime-priority 0 is out of range 1..=99",
    );
    assert_one(
        "[runtime]\nrealtime-priority = 100\n",
        2,
        21,
        "runtime.realtime-priority",
        "out of range 1..=99",
    );
    assert_one(
        "[runtime]\nrealtime-priority = \"high\"\n",
        2,
        21,
        "runtime.realtime-priority",
        "integer",
    );
    assert_one(
        "[runtime]\nrealtime_priority = 5\n",
        2,
        1,
        "runtime.realtime_priority",
        "did you mean `realtime-priority`?",
    );
}

#[test]
fn inline_forms_are_accepted() {
    let text = "\
defaults = { version = 2 }
vrrp = [{ interface = \"eth0\", vrid = 3, ipv4 = [\"192.0.2.1\"], vrrs-leader = [\"g\"] }]
vrrs = { pathway = [{ leader = \"g\", interface = \"eth1\" }] }
";
    let c = ok(text);
    assert_eq!(c.routers[0].version, Version::V2);
    assert_eq!(c.routers[0].location.line, 2);
    assert_eq!(c.routers[0].location.column, 9);
    assert_eq!(c.pathways.len(), 1);
}

#[test]
fn every_error_is_reported_in_file_order() {
    let text = "\
[defaults]
priority = 0
bogus = 1
[[vrrp]]
interface = \"eth0\"
vrid = 300
ipv4 = [\"192.0.2.1\"]
[[vrrp]]
interface = \"eth0\"
vrid = 2
version = 2
ipv4 = [\"192.0.2.1\"]
ipv6 = [\"2001:db8::1\"]
";
    let e = errors(text);
    let keys: Vec<(usize, &str)> = e.iter().map(|e| (e.0, e.2.as_str())).collect();
    assert_eq!(
        keys,
        vec![
            (2, "defaults.priority"),
            (3, "defaults.bogus"),
            (6, "vrrp[1].vrid"),
            (12, "vrrp[2].ipv4[1]"),
            (13, "vrrp[2].ipv6"),
        ]
    );
    let rendered = parse_str(text, "t.toml").unwrap_err().to_string();
    assert!(rendered.starts_with("t.toml:2:12: defaults.priority: priority 0 is out of range"));
    assert_eq!(rendered.lines().count(), 5);
}

#[test]
fn empty_file_is_valid() {
    assert_eq!(ok(""), Config::default());
}

#[test]
fn unreadable_file() {
    let e = load(Path::new("/nonexistent/netvrrp.toml")).unwrap_err();
    assert_eq!(e.0.len(), 1);
    assert_eq!((e.0[0].location.line, e.0[0].location.column), (0, 0));
    assert_eq!(e.0[0].location.file, "/nonexistent/netvrrp.toml");
    // No line, column or key: `FILE: cannot read: REASON`.
    assert_eq!(
        e.to_string(),
        "/nonexistent/netvrrp.toml: cannot read: No such file or directory (os error 2)"
    );
}

#[test]
fn load_sets_source() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/two-family.toml");
    let c = load(&path).unwrap();
    assert_eq!(c.source.as_deref(), Some(path.as_path()));
}

#[test]
fn full_example_from_design() {
    // The annotated example of every section (netvrrp.toml(5) documents each key), with
    // the pathway/client leaders served by a router so the file validates.
    let text = r#"
[defaults]                       # like FRR's `vrrp default`; every key optional
version = 3                      # 2 or 3
priority = 100                   # 1..=254; 255 only when the router owns the addresses
advertisement-interval = 1000    # ms; v3: 10..=40950, multiple of 10; v2: multiple of 1000
preempt = true
preempt-delay = 0                # ms to wait before preempting a lower-priority master
accept-mode = true               # RFC default is false; keepalived/FRR users expect true.
                                 # false is enforced (drop non-ARP/ND traffic to VIPs)
checksum-with-ipv4-pseudoheader = true   # VRRPv3/IPv4 interop knob (FRR, keepalived: true)
shutdown = false

[[vrrp]]                         # one virtual router = (interface, vrid); v4 and v6 are
interface = "eth0"               # independent instances sharing these settings
vrid = 5                         # 1..=255
priority = 200
ipv4 = ["192.0.2.1/24"]          # VIPs; a family with no address has no instance
ipv6 = ["2001:db8::370:7334/64"] # rejected when version = 2
vrrs-leader = ["group1"]         # VRRS names this router serves (several allowed); a name
                                 # follows the IPv4 instance if any, else IPv6
                                 # (vrrs-leader-family = "ipv6" overrides)
track = [{ interface = "eth1", decrement = 50 }]   # priority tracking

[[vrrs.pathway]]                 # a vMAC/vIP on another interface that follows a leader
leader = "group1"
interface = "eth1"
mac = "fe24.fe24.fe24"           # Cisco dotted or colon form; omitted: the vIP goes on the
address = ["209.165.201.10/27"]  # interface itself with its burned-in MAC

[[vrrs.client]]                  # kinds: interface-state | accounting | exec
leader = "group1"
kind = "interface-state"         # admin-up `interface` only while the leader is Master
interface = "eth2"
"#;
    let c = ok(text);
    assert_eq!(c.routers.len(), 1);
    let r = &c.routers[0];
    assert_eq!(r.priority, 200);
    assert_eq!(r.families(), vec![Family::Ipv4, Family::Ipv6]);
    assert_eq!(r.leader_family(), Family::Ipv4);
    assert_eq!(r.track.len(), 1);
    assert_eq!(c.pathways.len(), 1);
    assert_eq!(c.clients.len(), 1);
}

#[test]
fn every_example_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            if let Err(e) = load(&path) {
                panic!("{}:\n{e}", path.display());
            }
            seen += 1;
        }
    }
    assert!(seen >= 2, "examples/*.toml not found");
}

#[test]
fn suggestions() {
    assert_eq!(suggest("prority", DEFAULT_KEYS), Some("priority"));
    assert_eq!(suggest("accept_mode", DEFAULT_KEYS), Some("accept-mode"));
    assert_eq!(suggest("zzz", DEFAULT_KEYS), None);
}

#[test]
fn invalid_version_does_not_cascade() {
    // Only the version is wrong: no guess about the interval or IPv6 is reported.
    let text = "\
[[vrrp]]
interface = \"eth0\"
vrid = 1
version = \"2\"
advertisement-interval = 1500
ipv6 = [\"2001:db8::1\"]
";
    assert_one(
        text,
        4,
        11,
        "vrrp[1].version",
        "expected integer, found string",
    );
}

#[test]
fn man_page_example_parses() {
    let man =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("man/netvrrp.toml.5"))
            .unwrap();
    let examples = man.split(".SH EXAMPLES").nth(1).expect("EXAMPLES section");
    let start = examples.find(".EX\n").expect(".EX") + 4;
    let end = examples.find(".EE").expect(".EE");
    // Undo the roff escapes used in the example.
    let text = examples[start..end].replace("\\-", "-");
    let c = ok(&text);
    assert_eq!(c.routers.len(), 2);
    assert_eq!(c.pathways.len(), 1);
    assert_eq!(c.clients.len(), 1);
}

#[test]
fn unicast_peers() {
    let both = "[[vrrp]]\ninterface = \"eth0\"\nvrid = 1\nipv4 = [\"192.0.2.1/24\"]\nipv6 = [\"2001:db8::1/64\"]\n";
    let c = ok(&format!(
        "{both}unicast-peers = [\"192.0.2.2\", \"fe80::2\", \"192.0.2.3\"]\n"
    ));
    let r = &c.routers[0];
    assert_eq!(r.unicast_peers.len(), 3);
    assert!(r.hears("192.0.2.3".parse().unwrap()));
    assert!(!r.hears("192.0.2.9".parse().unwrap()));
    // Without unicast-peers or peers, anyone is heard.
    assert!(ok(R).routers[0].hears("192.0.2.9".parse().unwrap()));
    // line 5 is the key; element n starts at its quote.
    assert_one(
        &format!("{R}unicast-peers = [\"192.0.2.2\", \"nope\"]\n"),
        5,
        31,
        "vrrp[1].unicast-peers[2]",
        "not an IP address",
    );
    assert_one(
        &format!("{R}unicast-peers = [\"224.0.0.18\"]\n"),
        5,
        18,
        "vrrp[1].unicast-peers[1]",
        "not a unicast address",
    );
    assert_one(
        &format!("{R}unicast-peers = [\"192.0.2.2\", \"192.0.2.2\"]\n"),
        5,
        31,
        "vrrp[1].unicast-peers[2]",
        "listed twice",
    );
    assert_one(
        &format!("{R}unicast-peers = [\"192.0.2.2\", \"fe80::2\"]\n"),
        5,
        31,
        "vrrp[1].unicast-peers[2]",
        "no `ipv6` address",
    );
    assert_one(
        &format!("{both}unicast-peers = [\"192.0.2.2\", \"2001:db8::2\"]\n"),
        6,
        31,
        "vrrp[1].unicast-peers[2]",
        "not a link-local",
    );
    assert_one(
        &format!("{both}unicast-peers = [\"192.0.2.2\"]\n"),
        6,
        17,
        "vrrp[1].unicast-peers",
        "no IPv6 peer",
    );
    assert_one(
        &format!("{R}unicast-peers = []\n"),
        5,
        17,
        "vrrp[1].unicast-peers",
        "is empty",
    );
    assert_one(
        &format!("{R}peers = [\"192.0.2.2\"]\nunicast-peers = [\"192.0.2.2\"]\n"),
        6,
        17,
        "vrrp[1].unicast-peers",
        "cannot be combined",
    );
    // Not a [defaults] key: peer lists belong to one router.
    let (_, _, k, m) = only(&format!("[defaults]\nunicast-peers = [\"192.0.2.2\"]\n{R}"));
    assert!(
        k.contains("unicast-peers") && m.contains("not in [defaults]"),
        "{k}: {m}"
    );
}

#[test]
fn control_groups_are_resolved() {
    // gid 0 is named `root` on every Linux system.
    let c = ok(&format!(
        "[runtime]\ncontrol-group = \"root\"\ncontrol-read-group = \"root\"\n{R}"
    ));
    assert_eq!(c.runtime.control_group.as_ref().map(|g| g.gid), Some(0));
    assert_eq!(
        c.runtime.control_read_group.as_ref().map(|g| g.gid),
        Some(0)
    );
    assert_one(
        &format!("[runtime]\ncontrol-read-group = \"no-such-group-netvrrp\"\n{R}"),
        2,
        22,
        "runtime.control-read-group",
        "does not exist",
    );
}

#[test]
fn runtime_pathway_group_base() {
    let c = ok(R);
    assert_eq!(c.runtime.pathway_group_base, None);
    assert_eq!(
        c.runtime.pathway_group(0),
        Some(crate::config::DEFAULT_PATHWAY_GROUP_BASE)
    );
    assert_eq!(
        c.runtime.pathway_group(2),
        Some(crate::config::DEFAULT_PATHWAY_GROUP_BASE + 2)
    );
    let c = ok("[runtime]\npathway-group-base = 0\n");
    assert_eq!(c.runtime.pathway_group(0), None);
    let c = ok("[runtime]\npathway-group-base = 4242\n");
    assert_eq!(c.runtime.pathway_group(1), Some(4243));
    assert_one(
        "[runtime]\npathway-group-base = 2000000001\n",
        2,
        22,
        "runtime.pathway-group-base",
        "out of range 0..=2000000000",
    );
    assert_one(
        "[runtime]\npathway-group-base = -1\n",
        2,
        22,
        "runtime.pathway-group-base",
        "out of range",
    );
}

/// A large file in the shapes the chunked parse must follow: comments, a multi-line array
/// with a line starting with `[`, a multi-line string holding a header, sub-tables of a
/// router, `[defaults]` after the routers, VRRS tables at the end; `bad` adds problems.
fn big_config(n: usize, bad: bool) -> String {
    let mut t = String::from("# many routers\n[runtime]\nmetrics-listen = \"127.0.0.1:9100\"\n");
    for i in 0..n {
        let vrid = i % 250 + 1;
        let parent = i / 250;
        t.push_str(&format!(
            "\n[[vrrp]]   # router {i}\ninterface = \"eth{parent}\"\nvrid = {vrid}\nipv4 = [\n  \"10.{parent}.1.{vrid}/16\", # [x]\n]\n"
        ));
        if i % 7 == 0 {
            t.push_str("track = [{ interface = \"lo\", decrement = 10 }]\n");
        }
        if i % 11 == 0 {
            t.push_str(&format!("vrrs-leader = [\"g{i}\"]\n"));
        }
        if bad && i % 29 == 3 {
            t.push_str("vrid = 7\n"); // duplicate key: a syntax error of this table
        }
        if bad && i % 31 == 5 {
            t.push_str("priority = 300\nnote = \"\"\"\n[[vrrp]]\n\"\"\"\n");
        }
        if bad && i == 40 {
            t.push_str("ipv4 = [\n[\"10.9.9.9/24\"],\n]\n");
        }
    }
    t.push_str("\n[defaults]\npriority = 150\nadvertisement-interval = 1000\n");
    t.push_str("\n[[vrrs.pathway]]\nleader = \"g0\"\ninterface = \"eth9\"\naddress = [\"203.0.113.10/24\"]\n");
    if bad {
        // the same router twice (a cross-check across chunks)
        t.push_str("\n[[vrrp]]\ninterface = \"eth0\"\nvrid = 1\nipv4 = [\"10.0.1.1/16\"]\n");
    }
    t
}

/// The rest of a chunked file: each run of adjacent `[[vrrp]]` tables is one comment of the
/// same length up to the newline before the next header (indent kept), or to the end.
#[test]
fn chunks_are_blanked_out_as_comments_of_the_same_length() {
    let text = "[defaults]\npriority = 9\n[[vrrp]]\nvrid = 1\r\n[[vrrp]]\nvrid = 2\n  [vrrs]\n[[vrrp]]\nx = 1";
    let chunks = router_chunks(text).unwrap();
    assert_eq!(chunks.len(), 3);
    let rest = String::from_utf8(blank_out(text, &chunks)).unwrap();
    assert_eq!(rest.len(), text.len());
    let first = "#".to_string() + &" ".repeat(chunks[1].end - chunks[0].start - 4);
    let last = "#".to_string() + &" ".repeat(chunks[2].len() - 1);
    assert_eq!(
        rest,
        format!("[defaults]\npriority = 9\n{first}\n  [vrrs]\n{last}")
    );
    assert!(Document::parse(rest.as_str()).is_ok());
}

#[test]
fn chunked_parse_equals_the_whole_document() {
    let text = big_config(300, false);
    let chunks = router_chunks(&text).unwrap();
    assert_eq!(chunks.len(), 300);
    assert!(
        chunks
            .iter()
            .all(|c| text[c.clone()].starts_with("[[vrrp]]"))
    );
    let chunked = parse_chunked(&text, "f.toml", &chunks).expect("the chunked parse was taken");
    let whole = parse_whole(&text, "f.toml");
    assert!(whole.is_ok(), "{whole:?}");
    assert_eq!(chunked, whole);
    assert_eq!(parse_str(&text, "f.toml"), whole);
}

#[test]
fn chunked_parse_reports_the_same_errors_at_the_same_places() {
    // Semantic errors only: the chunked parse runs and must place them as the whole does.
    let text = big_config(300, false).replace("vrid = 17\n", "vrid = 17\npriority = 300\n")
        + "\n[[vrrp]]\ninterface = \"eth0\"\nvrid = 1\nipv4 = [\"10.0.1.1/16\"]\nbogus = 1\n";
    let chunks = router_chunks(&text).unwrap();
    let chunked = parse_chunked(&text, "f.toml", &chunks).expect("the chunked parse was taken");
    let whole = parse_whole(&text, "f.toml");
    assert!(whole.as_ref().is_err_and(|e| e.0.len() >= 3), "{whole:?}");
    assert_eq!(chunked, whole);
    // Syntax errors, a header inside a string, nested arrays: whatever path is taken, the
    // answer is the whole document's.
    let text = big_config(300, true);
    assert_eq!(parse_str(&text, "f.toml"), parse_whole(&text, "f.toml"));
    // `vrrp` written another way as well: parsed whole (TOML refuses it).
    let text = format!("[vrrp.extra]\nx = 1\n{}", big_config(100, false));
    assert_eq!(parse_str(&text, "f.toml"), parse_whole(&text, "f.toml"));
    assert!(parse_str(&text, "f.toml").is_err());
}

// ledger: R9568-5.2.9-a
#[test]
fn a_link_local_vip_is_the_first_advertised_address() {
    let c = ok(r#"
[[vrrp]]
interface = "eth0"
vrid = 5
ipv6 = ["2001:db8:5::1/64", "fe80::5/64", "2001:db8:6::1/64"]
"#);
    let r = &c.routers[0];
    let order: Vec<String> = r
        .addresses(Family::Ipv6)
        .iter()
        .map(|a| a.to_string())
        .collect();
    assert_eq!(
        order,
        ["fe80::5/64", "2001:db8:5::1/64", "2001:db8:6::1/64"]
    );
    assert_eq!(r.virtual_link_local(), Some("fe80::5".parse().unwrap()));
    // Without a link-local the file order stands (the deviation kept for interop).
    let c = ok(r#"
[[vrrp]]
interface = "eth0"
vrid = 5
ipv6 = ["2001:db8:6::1/64", "2001:db8:5::1/64"]
"#);
    let order: Vec<String> = c.routers[0]
        .addresses(Family::Ipv6)
        .iter()
        .map(|a| a.to_string())
        .collect();
    assert_eq!(order, ["2001:db8:6::1/64", "2001:db8:5::1/64"]);
    assert_eq!(c.routers[0].virtual_link_local(), None);
}

const RA_BASE: &str =
    "[[vrrp]]\ninterface = \"eth0\"\nvrid = 5\nipv6 = [\"fe80::5/64\", \"2001:db8:5::1/64\"]\n";

#[test]
fn router_advertisements_true_takes_every_default() {
    use crate::config::ra::RaConfig;
    let c = ok(&format!("{RA_BASE}router-advertisements = true\n"));
    let ra = c.routers[0].router_advertisements.clone().unwrap();
    let vips: Vec<Ipv6Net> = c.routers[0].ipv6.clone();
    assert_eq!(*ra, RaConfig::defaults(&vips));
    assert_eq!(ra.prefixes, ["2001:db8:5::/64".parse::<Ipv6Net>().unwrap()]);
    assert_eq!(
        (ra.max_interval_ms, ra.min_interval_ms, ra.lifetime_s),
        (600_000, 198_000, 1800)
    );
    assert!(ra.autonomous && ra.rdnss.is_empty() && ra.mtu.is_none());
    let c = ok(&format!("{RA_BASE}router-advertisements = false\n"));
    assert!(c.routers[0].router_advertisements.is_none());
    let c = ok(RA_BASE);
    assert!(c.routers[0].router_advertisements.is_none());
}

#[test]
fn router_advertisements_table_overrides_defaults() {
    let c = ok(&format!(
        "{RA_BASE}router-advertisements = {{ max-interval-ms = 30000, lifetime-s = 0, prefixes = [\"2001:db8:9::/64\"], rdnss = [\"2001:db8::53\"], mtu = 1400, autonomous = false, managed = true }}\n"
    ));
    let ra = c.routers[0].router_advertisements.clone().unwrap();
    assert_eq!((ra.max_interval_ms, ra.min_interval_ms), (30_000, 9_900));
    assert_eq!(ra.lifetime_s, 0);
    assert_eq!(ra.rdnss_lifetime_s, 90);
    assert_eq!(ra.prefixes, ["2001:db8:9::/64".parse::<Ipv6Net>().unwrap()]);
    assert_eq!(ra.rdnss, ["2001:db8::53".parse::<Ipv6Addr>().unwrap()]);
    assert_eq!(ra.mtu, Some(1400));
    assert!(!ra.autonomous && ra.managed && !ra.other_config);
    // A standard table works too.
    let c = ok(&format!(
        "{RA_BASE}[vrrp.router-advertisements]\nmax-interval-ms = 4000\n"
    ));
    let ra = c.routers[0].router_advertisements.clone().unwrap();
    assert_eq!(
        (ra.max_interval_ms, ra.min_interval_ms, ra.lifetime_s),
        (4_000, 3_000, 12)
    );
}

// ledger: R9568-8.2.3-b
#[test]
fn router_advertisements_errors_name_the_place() {
    // No link-local in ipv6: refused at the key.
    assert_one(
        "[[vrrp]]\ninterface = \"eth0\"\nvrid = 5\nipv6 = [\"2001:db8:5::1/64\"]\nrouter-advertisements = true\n",
        5,
        25,
        "vrrp[1].router-advertisements",
        "link-local address in `ipv6`",
    );
    assert_one(
        &format!("{RA_BASE}router-advertisements = 1\n"),
        5,
        25,
        "vrrp[1].router-advertisements",
        "expected boolean or table, found integer",
    );
    // No key for special-service options (RFC 9568 8.2.3: Backups could not take them over).
    assert_one(
        &format!("{RA_BASE}router-advertisements = {{ home-agent = true }}\n"),
        5,
        27,
        "vrrp[1].router-advertisements.home-agent",
        "unknown key `home-agent`",
    );
    assert_one(
        &format!("{RA_BASE}router-advertisements = {{ interval = 5 }}\n"),
        5,
        27,
        "vrrp[1].router-advertisements.interval",
        "unknown key `interval`",
    );
    assert_one(
        &format!(
            "{RA_BASE}router-advertisements = {{ max-interval-ms = 8000, min-interval-ms = 7000 }}\n"
        ),
        5,
        69,
        "vrrp[1].router-advertisements.min-interval-ms",
        "more than 0.75",
    );
    assert_one(
        &format!("{RA_BASE}router-advertisements = {{ lifetime-s = 100 }}\n"),
        5,
        40,
        "vrrp[1].router-advertisements.lifetime-s",
        "shorter than max-interval-ms 600000",
    );
    assert_one(
        &format!("{RA_BASE}router-advertisements = {{ prefixes = [\"fe80::/64\"] }}\n"),
        5,
        39,
        "vrrp[1].router-advertisements.prefixes[1]",
        "link-local or multicast",
    );
    assert_one(
        &format!("{RA_BASE}router-advertisements = {{ rdnss = [\"2001:db8::53/64\"] }}\n"),
        5,
        36,
        "vrrp[1].router-advertisements.rdnss[1]",
        "without a prefix length",
    );
    assert_one(
        &format!("{RA_BASE}router-advertisements = {{ mtu = 1000 }}\n"),
        5,
        33,
        "vrrp[1].router-advertisements.mtu",
        "out of range 1280..=65535",
    );
    assert_one(
        &format!(
            "{RA_BASE}router-advertisements = {{ valid-lifetime-s = 10, preferred-lifetime-s = 20 }}\n"
        ),
        5,
        73,
        "vrrp[1].router-advertisements.preferred-lifetime-s",
        "longer than valid-lifetime-s 10",
    );
}

#[test]
fn exec_hooks_need_absolute_programs_and_known_users() {
    let client = "[[vrrp]]\ninterface = \"eth0\"\nvrid = 1\nipv4 = [\"192.0.2.1/24\"]\nvrrs-leader = [\"g\"]\n\
                  [[vrrs.client]]\nleader = \"g\"\nkind = \"exec\"\n";
    assert_one(
        &format!("{client}command = [\"notify\", \"x\"]\n"),
        9,
        12,
        "vrrs.client[1].command[1]",
        "must be an absolute path",
    );
    let c = ok(&format!(
        "{client}command = [\"/bin/true\"]\nuser = \"nobody\"\n"
    ));
    let ClientKind::Exec { run_as, .. } = &c.clients[0].kind else {
        panic!("{c:?}");
    };
    assert_eq!(run_as.uid, Some(65534));
    assert!(run_as.gid.is_some());
    let c = ok(&format!(
        "{client}command = [\"/bin/true\"]\nuser = \"nobody\"\ngroup = \"root\"\n"
    ));
    let ClientKind::Exec { run_as, .. } = &c.clients[0].kind else {
        panic!("{c:?}");
    };
    assert_eq!((run_as.uid, run_as.gid), (Some(65534), Some(0)));
    assert_one(
        &format!("{client}command = [\"/bin/true\"]\nuser = \"no-such-user-nv\"\n"),
        10,
        8,
        "vrrs.client[1].user",
        "does not exist",
    );
    let track = "[[track]]\nname = \"w\"\nkind = \"exec\"\ncommand = [\"/bin/true\"]\n";
    assert_one(
        &format!("{track}group = \"no-such-group-nv\"\n"),
        5,
        9,
        "track[1].group",
        "does not exist",
    );
    let c = ok(&format!("{track}user = \"nobody\"\n"));
    let crate::config::TrackKind::Exec { run_as, .. } = &c.tracks[0].kind else {
        panic!("{c:?}");
    };
    assert_eq!(run_as.uid, Some(65534));
}

/// The runtime keeps the parsed routers' vector until it shares them: it must be sized for
/// the configs alone, not reuse the larger cross-check records' buffer, and each router's
/// address lists hold no spare slots. Both the chunked and the whole-document paths.
#[test]
fn parsed_routers_hold_no_spare_capacity() {
    for count in [5, CHUNKED_FROM + 5] {
        let mut text = String::new();
        for vrid in 1..=count {
            text += &format!(
                "[[vrrp]]\ninterface = \"p0\"\nvrid = {vrid}\nipv4 = [\"10.0.{}.{}/16\"]\n",
                vrid / 250,
                vrid % 250 + 1
            );
        }
        let config = parse_str(&text, "t.toml").expect("valid");
        assert_eq!(config.routers.len(), count);
        assert_eq!(config.routers.capacity(), count);
        assert!(config.routers.iter().all(|r| r.ipv4.capacity() == 1));
    }
}
