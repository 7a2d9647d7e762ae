//! The parameters of one instance and their validation: what a router needs to know, and
//! why a set of them cannot drive one (the runtime builds them from the config,
//! `src/daemon/router_params.rs`).

use super::*;

/// Everything the state machine needs to know about one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterParams {
    pub version: Version,
    pub family: Family,
    /// 1..=255.
    pub vrid: u8,
    /// Configured priority, 1..=255; 255 means we own the virtual addresses.
    pub priority: u8,
    /// Our Advertisement_Interval in centiseconds. v3: 1..=4095; v2: a multiple of 100 up to
    /// 25500 (the wire carries whole seconds).
    pub advert_interval_cs: u16,
    pub preempt: bool,
    /// See "Preempt delay" in the module documentation; zero disables it.
    pub preempt_delay: Duration,
    /// RFC 9568 Accept_Mode (carried for the runtime; see [`Router::accept_mode`]).
    pub accept_mode: bool,
    /// Our primary address on the parent (IPv4 primary address, or the IPv6 link-local the
    /// adverts are sent from): the equal-priority tie-break compares it.
    pub primary_address: IpAddr,
    /// Gratuitous ARP / unsolicited NA bursts on becoming Master (0 = none).
    pub garp_bursts: u32,
    /// Delay between two bursts.
    pub garp_burst_interval: Duration,
    /// What each tracked object does while down; [`Input::TrackChanged`] indexes this list.
    pub track: Vec<Tracked>,
}

impl RouterParams {
    pub(super) fn validate(&self) -> Result<(), ParamsError> {
        if self.vrid == 0 {
            return Err(ParamsError::Vrid);
        }
        if self.priority == 0 {
            return Err(ParamsError::Priority);
        }
        let family_ok = matches!(
            (self.family, self.primary_address),
            (Family::Ipv4, IpAddr::V4(_)) | (Family::Ipv6, IpAddr::V6(_))
        );
        if !family_ok {
            return Err(ParamsError::AddressFamily {
                address: self.primary_address,
                family: self.family,
            });
        }
        match self.version {
            Version::V3 => {
                if !(1..=MAX_ADVERT_INTERVAL_CS).contains(&self.advert_interval_cs) {
                    return Err(ParamsError::Interval(self.advert_interval_cs));
                }
            }
            Version::V2 => {
                if self.family != Family::Ipv4 {
                    return Err(ParamsError::V2Ipv6);
                }
                let cs = self.advert_interval_cs;
                if cs == 0 || !cs.is_multiple_of(100) || cs > MAX_V2_ADVERT_INTERVAL_CS {
                    return Err(ParamsError::V2Interval(cs));
                }
            }
        }
        Ok(())
    }
}

/// Why [`RouterParams`] cannot drive a router.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    #[error("VRID must be 1..=255")]
    Vrid,
    #[error("priority must be 1..=255 (0 is reserved for a master that is leaving)")]
    Priority,
    #[error("advertisement interval {0} cs is out of range 1..=4095 cs")]
    Interval(u16),
    #[error("VRRPv2 advertisement interval must be 1..=255 whole seconds, got {0} cs")]
    V2Interval(u16),
    #[error("VRRPv2 is IPv4 only")]
    V2Ipv6,
    #[error("primary address {address} is not an {family} address")]
    AddressFamily { address: IpAddr, family: Family },
    #[error("version, address family and VRID identify a running router and cannot change")]
    Identity,
}
