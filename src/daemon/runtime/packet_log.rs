//! The `packets` debug category (`netvrrp debug packets on`, or RUST_LOG
//! `netvrrp::packets=debug`): every advert sent and received, decoded, one line each. Off by
//! default, and then free: one atomic load ([`crate::log_filter::packets_debug`]).

use super::*;

fn enabled() -> bool {
    crate::log_filter::packets_debug()
        && tracing::enabled!(target: "netvrrp::packets", tracing::Level::DEBUG)
}

/// An advert this instance sends.
pub(super) fn sent(inst: &Instance, priority: u8, interval_cs: u16) {
    if !enabled() {
        return;
    }
    let to = if inst.config.unicast_peers.is_empty() {
        "multicast"
    } else {
        "unicast peers"
    };
    tracing::debug!(target: "netvrrp::packets", router = inst.config.name.as_deref(), interface = %inst.key.interface, vrid = inst.key.vrid, family = %inst.key.family, version = inst.config.version.number(), src = %inst.primary, to, priority, interval_ms = u32::from(interval_cs) * 10, addresses = ?inst.vips, "advert sent");
}

/// An advert received for this instance that passed the RFC checks.
pub(super) fn received(inst: &Instance, src: IpAddr, advert: &packet::AdvertView<'_>) {
    if !enabled() {
        return;
    }
    let addresses: Vec<IpAddr> = advert.addresses().collect();
    tracing::debug!(target: "netvrrp::packets", router = inst.config.name.as_deref(), interface = %inst.key.interface, vrid = advert.vrid(), family = %inst.key.family, version = advert.version(), %src, priority = advert.priority(), interval_ms = u32::from(advert.interval_cs()) * 10, addresses = ?addresses, heard = inst.config.hears(src), "advert received");
}

/// A received message dropped by a check.
pub(super) fn dropped(inst: &Instance, src: IpAddr, why: &dyn std::fmt::Display) {
    if !enabled() {
        return;
    }
    tracing::debug!(target: "netvrrp::packets", router = inst.config.name.as_deref(), interface = %inst.key.interface, vrid = inst.key.vrid, family = %inst.key.family, %src, "advert dropped: {why}");
}
