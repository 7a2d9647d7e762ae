//! FRR's vrrpd configuration (frr.conf, or `vtysh -c 'show running-config'`) → the import
//! model. Only `interface` blocks with `vrrp` commands, the `vrrp default` commands and the
//! interface addresses (to find the prefix length FRR's bare VIPs do not carry) matter;
//! everything else in the file (routing protocols, logging) is left alone in silence.

use super::model::{Imported, Router, Settings};
use super::{Diags, Dialect};
use crate::config::{Location, parse_v4, parse_v6};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::net::IpAddr;
use std::path::Path;

pub fn import(path: &Path, d: &mut Diags) -> Option<Imported> {
    let file = path.display().to_string();
    let text = match std::fs::read(path) {
        Ok(t) => String::from_utf8_lossy(&t).into_owned(),
        Err(e) => {
            d.error(
                Location {
                    file: file.clone(),
                    line: 0,
                    column: 0,
                },
                format!("cannot read {file}: {e}"),
            );
            return None;
        }
    };
    Some(translate(&text, &file, d))
}

/// One word of a line and where it starts.
struct Tok<'a> {
    text: &'a str,
    loc: Location,
}

fn tokens<'a>(line: &'a str, file: &str, n: usize) -> Vec<Tok<'a>> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in line
        .char_indices()
        .chain(std::iter::once((line.len(), ' ')))
    {
        match (c.is_whitespace(), start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                out.push(Tok {
                    text: &line[s..i],
                    loc: Location {
                        file: file.to_string(),
                        line: n,
                        column: line[..s].chars().count() + 1,
                    },
                });
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// An `interface` block as far as VRRP cares.
#[derive(Default)]
struct Iface {
    name: String,
    v4: Vec<Ipv4Net>,
    v6: Vec<Ipv6Net>,
}

/// A VRRP router being read: addresses keep their location until their prefix is known.
struct Vr {
    loc: Location,
    router: Router,
    vips: Vec<(IpAddr, Location)>,
}

pub fn translate(text: &str, file: &str, d: &mut Diags) -> Imported {
    let mut imp = Imported {
        daemon: "FRR",
        flag: Dialect::Frr.flag(),
        source: file.to_string(),
        ..Imported::default()
    };
    imp.notes.push(
        "netvrrp creates the macvlans FRR needed itself (vrrp4-IFINDEX-VRID / vrrp6-IFINDEX-VRID) and puts the VIPs on them"
            .to_string(),
    );
    let mut ifaces: Vec<Iface> = Vec::new();
    let mut vrs: Vec<Vr> = Vec::new();
    // The interface being read; None outside one (or inside a block of no interest).
    let mut cur: Option<usize> = None;
    for (i, line) in text.lines().enumerate() {
        let toks = tokens(line, file, i + 1);
        let Some(first) = toks.first() else { continue };
        let indented = first.loc.column > 1;
        match first.text {
            "!" | "exit" | "end" => {
                cur = None;
                continue;
            }
            _ if first.text.starts_with('!') => {
                cur = None;
                continue;
            }
            "interface" => {
                if let Some(ci) = interface_block(&toks, &mut ifaces, d) {
                    cur = Some(ci);
                }
                continue;
            }
            _ => {}
        }
        let (negated, words) = match first.text {
            "no" => (true, &toks[1..]),
            _ => (false, &toks[..]),
        };
        let Some(kw) = words.first() else { continue };
        if kw.text == "vrrp" && words.get(1).map(|t| t.text) == Some("default") {
            vrrp_default(&words[2..], negated, kw, &mut imp, d);
            continue;
        }
        if kw.text == "vrrp" && words.get(1).map(|t| t.text) == Some("autoconfigure") {
            vrrp_autoconfigure(negated, kw, &mut imp, d);
            continue;
        }
        if !indented && kw.text != "vrrp" && !matches!(kw.text, "ip" | "ipv6") {
            // Another top-level command (router, vrf, line, ...): its block is not ours.
            cur = None;
            continue;
        }
        let Some(ci) = cur else {
            if kw.text == "vrrp" {
                d.error(
                    kw.loc.clone(),
                    "`vrrp` outside an `interface` block".to_string(),
                );
            }
            continue;
        };
        match kw.text {
            "ip" | "ipv6" if words.get(1).map(|t| t.text) == Some("address") && !negated => {
                interface_address(words.get(2), &mut ifaces[ci]);
            }
            "vrrp" => {
                let parent = ifaces[ci].name.clone();
                vrrp_command(words, negated, &parent, &mut vrs, d);
            }
            _ => {}
        }
    }
    for vr in vrs {
        if let Some(r) = finish_router(vr, &ifaces, &mut imp, d) {
            imp.routers.push(r);
        }
    }
    imp
}

/// `interface NAME [vrf VRF]`: the index of its block in `ifaces` (made if new), or None
/// (reported) when the name is missing.
fn interface_block(toks: &[Tok], ifaces: &mut Vec<Iface>, d: &mut Diags) -> Option<usize> {
    let first = &toks[0];
    let Some(name) = toks.get(1) else {
        d.error(first.loc.clone(), "`interface` needs a name".to_string());
        return None;
    };
    if let Some(v) = toks.iter().position(|t| t.text == "vrf") {
        d.warn(
            toks[v].loc.clone(),
            format!(
                "interface {} vrf ...: netvrrp runs in the default VRF; check the result",
                name.text
            ),
        );
    }
    Some(match ifaces.iter().position(|f| f.name == name.text) {
        Some(p) => p,
        None => {
            ifaces.push(Iface {
                name: name.text.to_string(),
                ..Iface::default()
            });
            ifaces.len() - 1
        }
    })
}

/// `[no] vrrp autoconfigure`: FRR then made routers from the macvlans it found; so does
/// netvrrp's discovery, which this file cannot stand in for.
fn vrrp_autoconfigure(negated: bool, kw: &Tok, imp: &mut Imported, d: &mut Diags) {
    if negated {
        return;
    }
    d.warn(
        kw.loc.clone(),
        "`vrrp autoconfigure`: routers FRR made from macvlans are not in this file; run `netvrrp autoconfigure -o FILE` on this host to add them".to_string(),
    );
    imp.notes.push(format!(
        "{}: vrrp autoconfigure: run `netvrrp autoconfigure -o FILE` on the host to add the routers FRR found by their macvlans",
        kw.loc
    ));
}

/// `ip address A/N` / `ipv6 address A/N` in an interface block: kept to find VIP prefixes.
fn interface_address(addr: Option<&Tok>, iface: &mut Iface) {
    if let Some(a) = addr {
        // Addresses FRR does not parse are FRR's problem; skip them here.
        match a.text.parse::<IpNet>() {
            Ok(IpNet::V4(n)) => iface.v4.push(n),
            Ok(IpNet::V6(n)) => iface.v6.push(n),
            Err(_) => {}
        }
    }
}

/// A router read to its end: its VIPs get their prefixes and its settings are checked
/// against its version; None (reported) when it cannot be a netvrrp router.
fn finish_router(
    mut vr: Vr,
    ifaces: &[Iface],
    imp: &mut Imported,
    d: &mut Diags,
) -> Option<Router> {
    for (a, loc) in std::mem::take(&mut vr.vips) {
        let parent = vr.router.interface.clone();
        let net = prefix_for(a, &parent, ifaces, &loc, &mut vr.router, d);
        match net {
            Some(IpNet::V4(n)) if !vr.router.ipv4.contains(&n) => vr.router.ipv4.push(n),
            Some(IpNet::V6(n)) if !vr.router.ipv6.contains(&n) => vr.router.ipv6.push(n),
            _ => {}
        }
    }
    let mut r = vr.router;
    if r.ipv4.is_empty() && r.ipv6.is_empty() {
        d.warn(
            vr.loc.clone(),
            format!(
                "vrrp {} on {} has no virtual address: a netvrrp router needs one; left out",
                r.vrid, r.interface
            ),
        );
        imp.notes.push(format!(
            "{}: vrrp {} on {}: left out (no address)",
            vr.loc, r.vrid, r.interface
        ));
        return None;
    }
    let version = r.settings.version.or(imp.defaults.version).unwrap_or(3);
    if version == 2 && !r.ipv6.is_empty() {
        d.error(
            vr.loc.clone(),
            format!(
                "vrrp {} on {}: IPv6 addresses need version 3",
                r.vrid, r.interface
            ),
        );
        return None;
    }
    // A VRRPv2 router needs whole seconds, also when the interval comes from
    // `vrrp default`: such a router gets its own, rounded, interval.
    let interval = r
        .settings
        .advertisement_interval
        .or(imp.defaults.advertisement_interval);
    if let Some(ms) = interval
        && version == 2
        && ms % 1000 != 0
    {
        let fixed = ms.div_ceil(1000).clamp(1, 255) * 1000;
        d.warn(
            vr.loc.clone(),
            format!("advertisement-interval {ms} ms is {fixed} ms in VRRPv2 (whole seconds)"),
        );
        r.note(
            "advertisement-interval",
            format!("{ms} ms rounded up: VRRPv2 carries whole seconds"),
        );
        r.settings.advertisement_interval = Some(fixed);
    }
    Some(r)
}

/// `vrrp default ...` (global): netvrrp's `[defaults]`.
fn vrrp_default(args: &[Tok], negated: bool, kw: &Tok, imp: &mut Imported, d: &mut Diags) {
    let Some(what) = args.first() else {
        d.error(kw.loc.clone(), "`vrrp default` needs a setting".to_string());
        return;
    };
    let s = &mut imp.defaults;
    let shown: Vec<&str> = args.iter().map(|t| t.text).collect();
    let note = format!(
        "{}: {}vrrp default {}",
        kw.loc,
        if negated { "no " } else { "" },
        shown.join(" ")
    );
    let key = match what.text {
        "advertisement-interval" => {
            if negated {
                s.advertisement_interval = None;
            } else if let Some(v) = number(args.get(1), 10, 40950, what, d) {
                s.advertisement_interval = Some(v.div_ceil(10) * 10);
            }
            "advertisement-interval"
        }
        "priority" => {
            if negated {
                s.priority = None;
            } else if let Some(v) = number(args.get(1), 1, 254, what, d) {
                s.priority = Some(v as u8);
            }
            "priority"
        }
        "preempt" => {
            s.preempt = Some(!negated);
            "preempt"
        }
        "shutdown" => {
            s.shutdown = Some(!negated);
            "shutdown"
        }
        "checksum-with-ipv4-pseudoheader" => {
            s.checksum_with_ipv4_pseudoheader = Some(!negated);
            "checksum-with-ipv4-pseudoheader"
        }
        other => {
            d.warn(
                what.loc.clone(),
                format!("`vrrp default {other}`: not translated (unknown)"),
            );
            imp.notes.push(format!("{note}: not translated (unknown)"));
            return;
        }
    };
    imp.defaults_notes.push((key, note));
}

fn number(t: Option<&Tok>, min: u32, max: u32, after: &Tok, d: &mut Diags) -> Option<u32> {
    let Some(t) = t else {
        d.error(
            after.loc.clone(),
            format!("`{}` needs a number", after.text),
        );
        return None;
    };
    match t.text.parse::<u32>() {
        Ok(v) if (min..=max).contains(&v) => Some(v),
        _ => {
            d.error(
                t.loc.clone(),
                format!("`{}`: expected a whole number from {min} to {max}", t.text),
            );
            None
        }
    }
}

/// `[no] vrrp VRID [SETTING [VALUE]]` inside `interface parent`.
fn vrrp_command(words: &[Tok], negated: bool, parent: &str, vrs: &mut Vec<Vr>, d: &mut Diags) {
    let kw = &words[0];
    let Some(vrid) = number(words.get(1), 1, 255, kw, d) else {
        return;
    };
    let vrid = vrid as u8;
    let idx = match vrs
        .iter()
        .position(|v| v.router.interface == parent && v.router.vrid == vrid)
    {
        Some(i) => i,
        None => {
            if negated && words.len() == 2 {
                return;
            }
            vrs.push(Vr {
                loc: kw.loc.clone(),
                router: Router {
                    origin: vec![format!("{}: interface {parent}, vrrp {vrid}", kw.loc)],
                    interface: parent.to_string(),
                    vrid,
                    ..Router::default()
                },
                vips: Vec::new(),
            });
            vrs.len() - 1
        }
    };
    if negated && words.len() == 2 {
        // `no vrrp N`: the router is gone.
        vrs.remove(idx);
        return;
    }
    let vr = &mut vrs[idx];
    let Some(what) = words.get(2) else { return };
    let value = words.get(3);
    let s: &mut Settings = &mut vr.router.settings;
    match what.text {
        "version" => {
            if let Some(v) = number(value, 2, 3, what, d) {
                s.version = Some(v as u8);
            }
        }
        "priority" => {
            if negated {
                s.priority = None;
            } else if let Some(v) = number(value, 1, 254, what, d) {
                s.priority = Some(v as u8);
            }
        }
        "advertisement-interval" => {
            if negated {
                s.advertisement_interval = None;
            } else if let Some(v) = number(value, 10, 40950, what, d) {
                // FRR keeps centiseconds, as the packet does.
                s.advertisement_interval = Some(v.div_ceil(10) * 10);
            }
        }
        "preempt" => s.preempt = Some(!negated),
        "shutdown" => s.shutdown = Some(!negated),
        "checksum-with-ipv4-pseudoheader" => s.checksum_with_ipv4_pseudoheader = Some(!negated),
        "ip" | "ipv6" => {
            let Some(a) = value else {
                d.error(
                    what.loc.clone(),
                    format!("`vrrp {vrid} {}` needs an address", what.text),
                );
                return;
            };
            let parsed = if what.text == "ip" {
                a.text.parse::<std::net::Ipv4Addr>().map(IpAddr::V4).ok()
            } else {
                a.text.parse::<std::net::Ipv6Addr>().map(IpAddr::V6).ok()
            };
            match parsed {
                Some(addr) if negated => vr.vips.retain(|(x, _)| *x != addr),
                Some(addr) => vr.vips.push((addr, a.loc.clone())),
                None => d.error(
                    a.loc.clone(),
                    format!(
                        "`{}` is not an {} address",
                        a.text,
                        if what.text == "ip" { "IPv4" } else { "IPv6" }
                    ),
                ),
            }
        }
        other => {
            d.warn(
                what.loc.clone(),
                format!("`vrrp {vrid} {other}`: not translated (no netvrrp equivalent)"),
            );
            vr.router.note(
                "",
                format!("{}: vrrp {vrid} {other}: not translated", what.loc),
            );
        }
    }
}

/// FRR's VIPs are bare addresses; the prefix is that of the address on the macvlan (an
/// `interface` block with exactly this address), else of the parent's subnet holding it,
/// else a host prefix (said in a comment and a warning).
fn prefix_for(
    a: IpAddr,
    parent: &str,
    ifaces: &[Iface],
    loc: &Location,
    r: &mut Router,
    d: &mut Diags,
) -> Option<IpNet> {
    let same = |n: &IpNet| n.addr() == a;
    let nets = |f: &Iface| -> Vec<IpNet> {
        f.v4.iter()
            .map(|n| IpNet::V4(*n))
            .chain(f.v6.iter().map(|n| IpNet::V6(*n)))
            .collect()
    };
    let on_macvlan = ifaces
        .iter()
        .filter(|f| f.name != parent)
        .flat_map(nets)
        .find(same);
    let in_parent = ifaces
        .iter()
        .filter(|f| f.name == parent)
        .flat_map(nets)
        .find(|n| n.contains(&a) && n.prefix_len() < n.max_prefix_len());
    let len = match (on_macvlan, in_parent) {
        (Some(n), _) | (None, Some(n)) => n.prefix_len(),
        (None, None) => {
            let host = if a.is_ipv4() { 32 } else { 128 };
            d.warn(
                loc.clone(),
                format!("{a}: no interface address of the config gives its prefix length; /{host} assumed"),
            );
            r.note(
                if a.is_ipv4() { "ipv4" } else { "ipv6" },
                format!("{loc}: {a}/{host}: no subnet on {parent} holds it in this config; check the prefix length"),
            );
            host
        }
    };
    let text = format!("{a}/{len}");
    let parsed = match a {
        IpAddr::V4(_) => parse_v4(&text).map(IpNet::V4),
        IpAddr::V6(_) => parse_v6(&text).map(IpNet::V6),
    };
    match parsed {
        Ok(n) => Some(n),
        Err(e) => {
            d.error(loc.clone(), e);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every truncation of a realistic file, with odd words appended: errors or a model
    /// that renders to a valid file, never a panic.
    #[test]
    fn never_panics_on_truncated_or_mangled_input() {
        crate::import::tests::mangled(
            "frr-guide/frr.conf",
            &[
                "",
                " vrrp",
                " vrrp 300",
                " vrrp 5 ip",
                " vrrp 5 ipv6 ::1",
                "no vrrp 5",
            ],
            |text, d| translate(text, "f.conf", d),
        );
    }
}
