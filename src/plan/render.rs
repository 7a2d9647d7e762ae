//! The unified diff of `netvrrp diff`: each device as one line per managed attribute, so
//! the diff points at exactly what differs.

use super::*;

pub(super) fn onoff(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

/// The managed attributes of one device, as rendered for the unified diff.
pub(super) struct DeviceView<'a> {
    name: &'a str,
    parent: String,
    mode: String,
    mac: String,
    addrgenmode: &'a str,
    /// None: owned by the runtime.
    protodown: Option<bool>,
    admin_up: bool,
    pub(super) sysctls: String,
    addresses: Vec<IpNet>,
}

impl DeviceView<'_> {
    /// One line per managed attribute, so the unified diff points at exactly what differs.
    pub(super) fn render(&self) -> String {
        let name = self.name;
        let mut s = format!(
            "{name}: macvlan link {} mode {} address {}\n",
            self.parent, self.mode, self.mac
        );
        s += &format!("{name}: addrgenmode {}\n", self.addrgenmode);
        s += &format!("{name}: ipv6 {}\n", self.sysctls);
        for a in &self.addresses {
            s += &format!("{name}: address {a}\n");
        }
        s += &format!(
            "{name}: {} protodown {}\n",
            if self.admin_up { "up" } else { "down" },
            self.protodown.map_or("(runtime)", onoff)
        );
        s
    }

    pub(super) fn of_link<'a>(
        l: &'a LinkInfo,
        wanted: &[IpNet],
        snapshot: &Snapshot,
        runtime: bool,
    ) -> DeviceView<'a> {
        DeviceView {
            name: &l.name,
            parent: parent_name(snapshot, l.parent_index.unwrap_or(0)),
            mode: mode_text(l),
            mac: l.mac.map(|m| m.to_string()).unwrap_or_default(),
            addrgenmode: l.addrgenmode.map_or("?", |g| g.as_str()),
            protodown: if runtime { None } else { Some(l.protodown) },
            admin_up: l.admin_up,
            sysctls: sysctl_text(l.dad_sysctls, l.disable_ipv6),
            addresses: managed_addresses(l, wanted).into_iter().collect(),
        }
    }

    pub(super) fn of_desired(d: &DesiredDevice, runtime: bool) -> DeviceView<'_> {
        let mut sysctls = sysctl_text(Some([0, 0, 0]), Some(!d.ipv6));
        if d.ignore_linkdown {
            sysctls += &linkdown_text(Some(true), Some(true));
        }
        if d.ra_quiet {
            sysctls += &ra_quiet_text(Some([0, 0]));
        }
        DeviceView {
            name: &d.name,
            parent: d.parent.clone(),
            mode: "bridge".into(),
            mac: d.mac.to_string(),
            addrgenmode: d.addrgenmode.as_str(),
            protodown: if runtime { None } else { Some(d.protodown) },
            admin_up: true,
            sysctls,
            addresses: d.addresses.clone(),
        }
    }
}

/// ` ipv4.ignore_routes_with_linkdown=V ipv6.ignore_routes_with_linkdown=V` (`?` when the
/// kernel did not report it), appended where netvrrp manages it.
pub(super) fn linkdown_text(v4: Option<bool>, v6: Option<bool>) -> String {
    let v = |x: Option<bool>| x.map_or("?".to_string(), |b| i32::from(b).to_string());
    format!(
        " ipv4.{IGNORE_LINKDOWN}={} ipv6.{IGNORE_LINKDOWN}={}",
        v(v4),
        v(v6)
    )
}

/// ` accept_ra=V autoconf=V` (`?` when not reported), appended where netvrrp manages them.
pub(super) fn ra_quiet_text(values: Option<[i32; 2]>) -> String {
    RA_HOST_SYSCTLS
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let v = values.map_or("?".to_string(), |v| v[i].to_string());
            format!(" {k}={v}")
        })
        .collect()
}

pub(super) fn sysctl_text(v: Option<[i32; 3]>, disabled: Option<bool>) -> String {
    match v {
        Some(v) => DAD_SYSCTLS
            .iter()
            .zip(v)
            .map(|(k, v)| format!("{k}={v}"))
            .chain(disabled.map(|d| format!("{DISABLE_IPV6}={}", i32::from(d))))
            .collect::<Vec<_>>()
            .join(" "),
        None => "(no ipv6 conf)".into(),
    }
}

pub(super) fn mode_text(l: &LinkInfo) -> String {
    l.macvlan_mode
        .map(|m| format!("{m:?}").to_lowercase())
        .unwrap_or_else(|| "?".into())
}

/// Sort rendered lines by device name (stable within a device) so both sides line up.
pub(super) fn sort_blocks(text: &str) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_by_key(|l| l.split(':').next().unwrap_or(""));
    let mut s = lines.join("\n");
    if !s.is_empty() {
        s.push('\n');
    }
    s
}
