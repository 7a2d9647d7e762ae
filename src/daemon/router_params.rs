//! Router parameters from the configuration. This is the runtime's job, not the protocol
//! core's: src/vrrp is sans-IO and knows value types only, never the TOML schema
//! (docs/architecture.md, checked by tests/architecture.rs).

use crate::config::{RouterConfig, TrackConfig};
use crate::types::Family;
use crate::vrrp::router::{RouterParams, Tracked};
use std::net::IpAddr;
use std::time::Duration;

/// Parameters of the `family` instance of a configured router. `primary_address` is our
/// advert source address on the parent. Track indexes follow `config.track`.
pub fn router_params(
    config: &RouterConfig,
    family: Family,
    primary_address: IpAddr,
) -> RouterParams {
    RouterParams {
        version: config.version,
        family,
        vrid: config.vrid,
        priority: config.priority,
        // An out-of-range value becomes u16::MAX and is rejected by `Router::new`.
        advert_interval_cs: u16::try_from(config.advertisement_interval_ms / 10)
            .unwrap_or(u16::MAX),
        preempt: config.preempt,
        preempt_delay: Duration::from_millis(u64::from(config.preempt_delay_ms)),
        accept_mode: config.accept_mode,
        primary_address,
        garp_bursts: config.garp_bursts,
        garp_burst_interval: Duration::from_millis(u64::from(config.garp_burst_interval_ms)),
        track: tracked(&config.track),
    }
}

/// What a router's configured `track` entries do while down, in order (for
/// [`RouterParams::track`] and [`crate::vrrp::router::Router::set_track`]).
pub fn tracked(entries: &[TrackConfig]) -> Vec<Tracked> {
    entries
        .iter()
        .map(|t| {
            if t.fault {
                Tracked::Fault
            } else {
                Tracked::Decrement(t.decrement)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vrrp::router::Router;
    use std::net::Ipv4Addr;

    fn v4(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    #[test]
    fn params_from_config() {
        use crate::config::{Location, TrackTarget, Version};
        let cfg = RouterConfig {
            name: None,
            interface: "eth0".into(),
            vrid: 7,
            version: Version::V3,
            priority: 150,
            advertisement_interval_ms: 1000,
            preempt: true,
            preempt_delay_ms: 2500,
            accept_mode: true,
            checksum_with_ipv4_pseudoheader: true,
            shutdown: false,
            garp_bursts: 2,
            garp_burst_interval_ms: 2000,
            ipv4: vec!["192.0.2.1/24".parse().unwrap()],
            ipv6: vec![],
            vrrs_leader: vec![],
            vrrs_leader_family: None,
            track: vec![TrackConfig {
                target: TrackTarget::Interface("eth1".into()),
                decrement: 50,
                fault: false,
            }],
            peers: vec![],
            unicast_peers: vec![],
            router_advertisements: None,
            location: Location::default(),
        };
        let p = router_params(&cfg, Family::Ipv4, v4(2));
        assert_eq!(p.advert_interval_cs, 100);
        assert_eq!(p.preempt_delay, Duration::from_millis(2500));
        assert_eq!(p.garp_burst_interval, Duration::from_secs(2));
        assert_eq!(p.track, vec![Tracked::Decrement(50)]);
        let r = Router::new(p).unwrap();
        assert!(r.accept_mode());
        assert_eq!(
            r.master_down_interval(),
            Duration::from_millis(3_414) + Duration::from_micros(62) + Duration::from_nanos(500)
        );
    }
}
