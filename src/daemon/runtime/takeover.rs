//! Taking over a live device at start (issue 19, item 2): a vrrp device that is up, out of
//! protodown and carrying every VIP of its router when the runtime starts was a Master's
//! device a moment ago: FRR's or keepalived's whose devices `apply` has just adopted, or a
//! netvrrp runtime's that died (its `masters.json` says so too). The old Master's hosts
//! reach the VIPs through it, so the first thing the new runtime does must not be to
//! silence it.
//!
//! Such an instance starts as the resume path does ([`Input::Resume`] after Startup: the
//! master-down timer shortened to Master_Adver_Interval + Skew_Time), and for that window
//! the runtime *holds* the device as it found it: the protodown on that entering Backup asks
//! for is not applied, and the VIP filter lets the VIPs through as for a Master. The protocol
//! decides at the end of the window, through the normal RFC path: no advert heard, the
//! router becomes Master and nothing changed for the hosts; an advert heard from another
//! router (a peer with a higher priority, or the same priority and a higher address) keeps
//! it Backup, the hold ends, and the device goes into protodown and its VIPs are blocked
//! like any Backup's. While held, the VIPs are let through on a permanent lease of the
//! dead-man switch (nothing renews it before the first advert); becoming Master renews it. Any other input in the window (link down, a tracked object, a
//! shutdown) ends the hold the same way.

use super::*;

/// The instances of `routers` whose vrrp device in `snapshot` answers for their VIPs now:
/// up, carrier, protodown off with no protodown reason, every VIP of the family on it.
pub(super) fn live_devices(
    snapshot: &Snapshot,
    routers: &[Arc<RouterConfig>],
) -> HashSet<InstanceKey> {
    // By name once: thousands of routers must not each scan thousands of links.
    let by_name: HashMap<&str, &crate::kernel::LinkInfo> = snapshot
        .links
        .iter()
        .map(|l| (l.name.as_str(), l))
        .collect();
    let mut live = HashSet::new();
    for rc in routers {
        if rc.shutdown {
            continue;
        }
        let Some(parent) = by_name.get(rc.interface.as_str()) else {
            continue;
        };
        for family in rc.families() {
            let device = crate::desired::router_device_name(family, parent.index, rc.vrid);
            let Some(link) = by_name.get(device.as_str()) else {
                continue;
            };
            let answering = link.admin_up
                && link.carrier
                && !link.protodown
                && link.protodown_reason == 0
                && link.parent_index == Some(parent.index)
                && link.mac == Some(MacAddr::vrrp(family, rc.vrid));
            let vips = rc.addresses(family);
            let has_vips = !vips.is_empty()
                && vips
                    .iter()
                    .all(|vip| link.addresses.iter().any(|a| a.addr() == vip.addr()));
            if answering && has_vips {
                live.insert(InstanceKey::new(&rc.interface, rc.vrid, family));
            }
        }
    }
    live
}

impl Runtime {
    /// Whether instance `inst` is held as its previous Master left it.
    pub(super) fn held(&self, inst: &Instance) -> bool {
        !self.holding.is_empty() && self.holding.contains(&inst.key)
    }

    /// After `input` reached instance `i`: end its hold unless the input is part of its
    /// start (Startup, Resume) and it is still waiting in Backup for the window to close.
    /// A router that did not become Master then gets what a Backup has: protodown on and
    /// its VIPs blocked.
    pub(super) async fn after_held_input(&mut self, i: usize, input: Input) {
        if !self.held(&self.instances[i]) {
            return;
        }
        let state = self.instances[i].router.state();
        if matches!(input, Input::Startup | Input::Resume) && state == State::Backup {
            return;
        }
        self.holding.remove(&self.instances[i].key);
        self.filter_dirty = true;
        let inst = &mut self.instances[i];
        if state == State::Master && self.deadman {
            // Its VIPs were let through on a permanent lease: from now on they are renewed
            // by its adverts, starting with this one.
            let interval = inst.interval();
            self.renewals.push(crate::daemon::filter::Renewal {
                device: inst.device_index,
                vips: inst.vips.clone(),
                lease_ms: crate::daemon::filter::lease_for(interval),
            });
        }
        if state != State::Master && inst.protodown != Some(true) {
            tracing::info!(target: "netvrrp::protocol", interface = %inst.key.interface, vrid = inst.key.vrid, family = %inst.key.family, %state, "taking over the live device: the router did not become Master; protodown on");
            Self::set_protodown(&self.kernel, inst, true).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::LinkInfo;

    /// eth0 (ifindex 2) and the devices netvrrp names for VRID 5 on it, both answering
    /// (up, carrier, out of protodown, their VIPs on them): `edit` changes the vrrp4 one.
    fn live_v4(edit: impl FnOnce(&mut LinkInfo)) -> HashSet<InstanceKey> {
        let config = crate::config::parse_str(
            "[[vrrp]]\ninterface = \"eth0\"\nvrid = 5\nipv4 = [\"192.0.2.1/24\"]\nipv6 = [\"2001:db8::1/64\"]\n",
            "t.toml",
        )
        .unwrap();
        let routers: Vec<Arc<RouterConfig>> = config.routers.into_iter().map(Arc::new).collect();
        let mut v4 = LinkInfo::for_test(
            3,
            "vrrp4-2-5",
            Some("macvlan"),
            Some(2),
            "00:00:5e:00:01:05",
        );
        v4.addresses = vec!["192.0.2.1/24".parse().unwrap()];
        let mut v6 = LinkInfo::for_test(
            4,
            "vrrp6-2-5",
            Some("macvlan"),
            Some(2),
            "00:00:5e:00:02:05",
        );
        v6.addresses = vec!["2001:db8::1/64".parse().unwrap()];
        edit(&mut v4);
        let snapshot = Snapshot {
            links: vec![
                LinkInfo::for_test(2, "eth0", Some("veth"), None, "02:00:00:00:00:02"),
                v4,
                v6,
            ],
        };
        live_devices(&snapshot, &routers)
    }

    #[test]
    fn only_devices_answering_with_every_vip_are_taken_over() {
        let v4 = InstanceKey::new("eth0", 5, Family::Ipv4);
        let v6 = InstanceKey::new("eth0", 5, Family::Ipv6);
        assert_eq!(live_v4(|_| {}), HashSet::from([v4.clone(), v6.clone()]));
        let not_v4 = HashSet::from([v6]);
        assert_eq!(live_v4(|l| l.protodown = true), not_v4, "a Backup's device");
        assert_eq!(live_v4(|l| l.protodown_reason = 0x80), not_v4);
        assert_eq!(live_v4(|l| l.admin_up = false), not_v4);
        assert_eq!(live_v4(|l| l.carrier = false), not_v4);
        assert_eq!(live_v4(|l| l.addresses.clear()), not_v4, "no VIP on it");
        assert_eq!(
            live_v4(|l| l.mac = "00:00:5e:00:01:06".parse().ok()),
            not_v4,
            "another VRID's MAC"
        );
        assert_eq!(
            live_v4(|l| l.parent_index = Some(9)),
            not_v4,
            "another parent"
        );
    }
}
