//! Text renderings of `show vrrs …` close to Cisco's, built from the rows the CLI reads back
//! from the control socket ([`ServerRow`], [`PathwayRow`], [`ClientRow`]), so the CLI
//! renders exactly what the runtime reported.

use super::{ClientRow, PathwayRow, PathwayState, ServerRow};
use crate::config::ClientKind;
use crate::types::{Family, MacAddr};
use crate::vrrp::router::State;
use std::fmt::Write;

fn flag(v: bool) -> u8 {
    u8::from(v)
}

/// VRRP state as Cisco prints it in a VRRS push.
fn push_label(state: State) -> String {
    match state {
        State::Initialize => "INIT".into(),
        other => other.as_str().to_uppercase(),
    }
}

/// `fe:24:fe:24:fe:24` → `fe24.fe24.fe24` (Cisco's form).
fn dotted(mac: MacAddr) -> String {
    let o = mac.octets();
    format!(
        "{:02x}{:02x}.{:02x}{:02x}.{:02x}{:02x}",
        o[0], o[1], o[2], o[3], o[4], o[5]
    )
}

fn family_label(family: Option<Family>) -> &'static str {
    match family {
        Some(Family::Ipv4) => "IPv4",
        Some(Family::Ipv6) => "IPv6",
        None => "-",
    }
}

/// Addresses without their prefix length, as in Cisco's "Virtual Address List".
fn address_list(addresses: impl Iterator<Item = std::net::IpAddr>) -> String {
    let list: Vec<String> = addresses.map(|a| a.to_string()).collect();
    if list.is_empty() {
        "none".into()
    } else {
        list.join(", ")
    }
}

/// Seconds since the epoch → `YYYY-MM-DD HH:MM:SS UTC` (no time-zone database needed).
fn utc(secs: Option<f64>) -> String {
    match secs.filter(|s| s.is_finite() && *s >= 0.0) {
        Some(secs) => crate::types::utc_date_time(secs as i64),
        None => "never".into(),
    }
}

/// `show vrrs server`.
pub fn render_server_text(rows: &[ServerRow]) -> String {
    if rows.is_empty() {
        return "no VRRS servers".into();
    }
    let mut out = String::new();
    for r in rows {
        let _ = writeln!(out, "VRRS server \"{}\"", r.name);
        let _ = writeln!(
            out,
            "  Protocol VRRP, interface {}, group {}, address-family {}",
            r.interface,
            r.vrid,
            family_label(Some(r.family))
        );
        if r.connected {
            let _ = write!(out, "  State is {}", push_label(r.state));
            if let Some(previous) = r.previous_state {
                let _ = write!(out, " (previous {})", push_label(previous));
            }
            if let Some(reason) = &r.reason {
                let _ = write!(out, " [{reason}]");
            }
            out.push('\n');
        } else {
            out.push_str("  State is INIT [no VRRP instance connected]\n");
        }
        let _ = writeln!(out, "  Last change {}", utc(r.last_change));
        let _ = writeln!(out, "  Virtual MAC is {}", dotted(r.vmac));
        let _ = writeln!(
            out,
            "  Virtual Address List: {}",
            address_list(r.vips.iter().copied())
        );
        let _ = writeln!(
            out,
            "  Options: Owner Mode={}, Accept-Mode={}",
            flag(r.owner),
            flag(r.accept_mode)
        );
        let _ = writeln!(
            out,
            "  Pathways: {} ({} active), Clients: {}, Pushes: {}",
            r.pathways, r.pathways_active, r.clients, r.pushes
        );
    }
    out.trim_end().to_string()
}

/// `show vrrs pathway`, after Cisco's sample:
/// ```text
/// Pathway ["group1"@eth1]
///   State is ACTIVE [VRRS push "MASTER"]
///   Virtual MAC is fe24.fe24.fe24 [Active]
/// ```
pub fn render_pathway_text(rows: &[PathwayRow]) -> String {
    if rows.is_empty() {
        return "no VRRS pathways".into();
    }
    let mut out = String::new();
    for r in rows {
        let _ = writeln!(out, "Pathway [\"{}\"@{}]", r.name, r.interface);
        let label = r.state.label();
        match r.leader_state {
            None => {
                let _ = writeln!(
                    out,
                    "  State is {label} [no VRRS push: leader not connected]"
                );
            }
            Some(leader) => {
                let _ = writeln!(
                    out,
                    "  State is {label} [VRRS push \"{}\"]",
                    push_label(leader)
                );
            }
        }
        let status = if r.state == PathwayState::Active {
            "Active"
        } else {
            "Inactive"
        };
        match (r.vmac, r.mac_in_use) {
            (Some(vmac), _) => {
                let _ = writeln!(out, "  Virtual MAC is {} [{status}]", dotted(vmac));
            }
            (None, Some(mac)) => {
                let _ = writeln!(
                    out,
                    "  Virtual MAC is {} (interface MAC) [{status}]",
                    dotted(mac)
                );
            }
            (None, None) => {
                let _ = writeln!(out, "  Virtual MAC is none (interface MAC) [{status}]");
            }
        }
        let _ = writeln!(out, "  Address-family is {}", family_label(r.family));
        if let Some(dev) = &r.device {
            let _ = writeln!(out, "  Device is {dev}");
        }
        let o = &r.options;
        let _ = writeln!(
            out,
            "  Options: Default Pathway={}, Owner Mode={}, Accept-Mode={}, Configured vMAC={}",
            flag(o.default_pathway),
            flag(o.owner_mode),
            flag(o.accept_mode),
            flag(o.configured_vmac)
        );
        let e = &r.evaluation;
        let _ = writeln!(
            out,
            "  Evaluation: No Shut={}, Connected={}, OIR={}",
            flag(e.no_shut),
            flag(e.connected),
            flag(e.oir)
        );
        let _ = writeln!(
            out,
            "              L2 Ready={}, L3 Ready={}, vMAC Ready={}, vIP Ready={}",
            flag(e.l2_ready),
            flag(e.l3_ready),
            flag(e.vmac_ready),
            flag(e.vip_ready)
        );
        let _ = writeln!(
            out,
            "  Virtual Address List: {}",
            address_list(r.addresses.iter().map(|a| a.addr()))
        );
        out.push('\n');
    }
    out.trim_end().to_string()
}

/// `show vrrs client`.
pub fn render_client_text(rows: &[ClientRow]) -> String {
    if rows.is_empty() {
        return "no VRRS clients".into();
    }
    let mut out = String::new();
    for r in rows {
        let kind = match r.kind {
            ClientKind::InterfaceState { .. } => "interface-state",
            ClientKind::Accounting { .. } => "accounting",
            ClientKind::Exec { .. } => "exec",
        };
        let _ = writeln!(out, "Client {} [{kind}] of \"{}\"", r.client, r.name);
        match &r.kind {
            ClientKind::InterfaceState { interface } => {
                let _ = writeln!(
                    out,
                    "  Interface {interface} (admin up only while the leader is MASTER)"
                );
            }
            ClientKind::Accounting { path } => {
                let _ = writeln!(out, "  Path {}", path.display());
            }
            ClientKind::Exec {
                command,
                timeout_ms,
                ..
            } => {
                // The argv as JSON: arguments with spaces stay readable.
                let argv = serde_json::to_string(command).unwrap_or_default();
                let _ = writeln!(out, "  Command {argv}, timeout {timeout_ms} ms");
            }
        }
        match &r.last {
            None => {
                let _ = writeln!(out, "  Notices: {}, none pushed yet", r.notices);
            }
            Some(last) => {
                let _ = writeln!(
                    out,
                    "  Notices: {}, last {} (previous {}) at {}",
                    r.notices,
                    push_label(last.state),
                    push_label(last.previous),
                    utc(Some(last.time))
                );
            }
        }
        if let Some(s) = &r.runner {
            match r.kind {
                ClientKind::Exec { .. } => {
                    let _ = writeln!(
                        out,
                        "  Runs: {}, failures {}, timeouts {}, coalesced {}{}",
                        s.runs,
                        s.failures,
                        s.timeouts,
                        s.coalesced,
                        if s.running { ", running now" } else { "" }
                    );
                    if let Some(last) = &s.last_exit {
                        let _ = writeln!(out, "  Last run: {last}");
                    }
                }
                ClientKind::Accounting { .. } => {
                    let _ = writeln!(
                        out,
                        "  Lines written: {}, dropped {}",
                        s.lines_written, s.lines_dropped
                    );
                }
                ClientKind::InterfaceState { .. } => {}
            }
            if let Some(e) = &s.last_error {
                let _ = writeln!(out, "  Last error: {e}");
            }
        }
        out.push('\n');
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vrrs_utc_dates() {
        assert_eq!(utc(Some(0.0)), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(Some(951_782_400.5)), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(Some(1_700_000_000.0)), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc(Some(-1.0)), "never");
        assert_eq!(utc(Some(f64::NAN)), "never");
        assert_eq!(utc(None), "never");
    }

    #[test]
    fn vrrs_dotted_mac() {
        let mac: MacAddr = "fe:24:fe:24:fe:24".parse().unwrap();
        assert_eq!(dotted(mac), "fe24.fe24.fe24");
    }
}
