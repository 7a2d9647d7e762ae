//! Router Advertisements of an IPv6 virtual router (RFC 9568 6.4.3: the Active Router sends
//! them, a Backup never does), sans-IO: the message (RFC 4861 section 4.2 with the source
//! link-layer address, MTU and Prefix Information options, RFC 8106 RDNSS), the checks of a
//! received Router Solicitation (RFC 4861 6.1.1), and the schedule (RFC 4861 6.2.4 and
//! 6.2.6). No clock, no socket, no randomness of its own: the runtime passes the time and a
//! random number to every call that needs one, and sends what [`RaScheduler::poll`] asks
//! for on the same path as adverts and neighbour advertisements.
//!
//! Requirements, in our words:
//! - An RA comes from the virtual router's link-local address (the same on every router of
//!   the VRID, so a host's default router survives a failover) with hop limit 255, and
//!   carries the virtual MAC as source link-layer address.
//! - Unsolicited RAs go to all-nodes at a random interval between MinRtrAdvInterval and
//!   MaxRtrAdvInterval, drawn anew after every multicast RA.
//! - The first MAX_INITIAL_RTR_ADVERTISEMENTS RAs after the router starts advertising (here:
//!   becomes Master) come at most MAX_INITIAL_RTR_ADVERT_INTERVAL apart; the first one at
//!   once, so hosts move without waiting.
//! - A valid Router Solicitation is answered by a multicast RA after a random delay of at
//!   most MAX_RA_DELAY_TIME, and never sooner than MIN_DELAY_BETWEEN_RAS after the last
//!   multicast RA; an RA already due sooner answers it instead (solicitations are merged).
//! - A solicitation is silently discarded unless its hop limit is 255 (it came from the
//!   link), its code is 0, it is at least 8 bytes, every option has a non-zero length, and
//!   it has no source link-layer option when sent from the unspecified address. The kernel
//!   checks the ICMPv6 checksum of what the raw socket hands over.
//! - Not Master (Backup, Initialize, stopped): nothing is sent, solicitations included.

use crate::types::{MacAddr, RaSettings};
use crate::vrrp::router::Time;
use serde::{Deserialize, Serialize};
use std::net::Ipv6Addr;
use std::time::Duration;

/// RFC 4861 section 10 (router constants).
pub const MAX_INITIAL_RTR_ADVERT_INTERVAL: Duration = Duration::from_secs(16);
pub const MAX_INITIAL_RTR_ADVERTISEMENTS: u32 = 3;
pub const MIN_DELAY_BETWEEN_RAS: Duration = Duration::from_secs(3);
pub const MAX_RA_DELAY_TIME: Duration = Duration::from_millis(500);

pub const ICMPV6_ROUTER_SOLICITATION: u8 = 133;
pub const ICMPV6_ROUTER_ADVERTISEMENT: u8 = 134;
const OPT_SOURCE_LINK_ADDR: u8 = 1;
const OPT_PREFIX_INFO: u8 = 3;
const OPT_MTU: u8 = 5;
const OPT_RDNSS: u8 = 25;
const FLAG_MANAGED: u8 = 0x80;
const FLAG_OTHER: u8 = 0x40;
const PREFIX_ON_LINK: u8 = 0x80;
const PREFIX_AUTONOMOUS: u8 = 0x40;

/// What the RAs of one virtual router say and how often they are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaParams {
    /// The virtual router's link-local address: the RAs' source.
    pub source: Ipv6Addr,
    /// The virtual MAC: the source link-layer address option and the frame's source.
    pub mac: MacAddr,
    pub settings: RaSettings,
}

impl RaParams {
    /// The ICMPv6 Router Advertisement (no IP header), checksum zero: the caller fills it in
    /// for the packet's addresses (see `frames::checksum`).
    pub fn message(&self) -> Vec<u8> {
        let s = &self.settings;
        let mut m = Vec::with_capacity(16 + 8 + 8 + 32 * s.prefixes.len() + 8 + 16 * s.rdnss.len());
        m.extend_from_slice(&[ICMPV6_ROUTER_ADVERTISEMENT, 0, 0, 0]);
        m.push(s.hop_limit);
        let mut flags = 0;
        if s.managed {
            flags |= FLAG_MANAGED;
        }
        if s.other_config {
            flags |= FLAG_OTHER;
        }
        m.push(flags);
        m.extend_from_slice(&s.lifetime_s.to_be_bytes());
        // Reachable Time and Retrans Timer: 0, unspecified (hosts keep their own).
        m.extend_from_slice(&[0; 8]);
        m.extend_from_slice(&[OPT_SOURCE_LINK_ADDR, 1]);
        m.extend_from_slice(&self.mac.octets());
        if let Some(mtu) = s.mtu {
            m.extend_from_slice(&[OPT_MTU, 1, 0, 0]);
            m.extend_from_slice(&mtu.to_be_bytes());
        }
        for p in &s.prefixes {
            let mut flags = PREFIX_ON_LINK;
            if s.autonomous {
                flags |= PREFIX_AUTONOMOUS;
            }
            m.extend_from_slice(&[OPT_PREFIX_INFO, 4, p.prefix_len(), flags]);
            m.extend_from_slice(&s.valid_lifetime_s.to_be_bytes());
            m.extend_from_slice(&s.preferred_lifetime_s.to_be_bytes());
            m.extend_from_slice(&[0; 4]);
            m.extend_from_slice(&p.network().octets());
        }
        if !s.rdnss.is_empty() {
            // Length in units of 8 bytes: the 8-byte head and two units per address.
            let units = u8::try_from(1 + 2 * s.rdnss.len()).unwrap_or(u8::MAX);
            m.extend_from_slice(&[OPT_RDNSS, units, 0, 0]);
            m.extend_from_slice(&s.rdnss_lifetime_s.to_be_bytes());
            for a in &s.rdnss {
                m.extend_from_slice(&a.octets());
            }
        }
        m
    }
}

/// Why a Router Solicitation was discarded (RFC 4861 6.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RsError {
    #[error("not a Router Solicitation (ICMPv6 type {0})")]
    NotSolicitation(u8),
    #[error("hop limit {0}, not 255: not sent on this link")]
    HopLimit(u8),
    #[error("ICMPv6 code {0}, not 0")]
    Code(u8),
    #[error("{0} bytes, shorter than the 8 of a Router Solicitation")]
    Short(usize),
    #[error("an option has length 0 or runs past the end")]
    BadOption,
    #[error("a source link-layer address option from the unspecified address")]
    UnspecifiedWithSourceLinkAddr,
}

/// Check a received ICMPv6 message (`icmp`, from its type on) as a Router Solicitation from
/// `source` with IPv6 hop limit `hop_limit`.
pub fn check_solicitation(source: Ipv6Addr, hop_limit: u8, icmp: &[u8]) -> Result<(), RsError> {
    let Some(&kind) = icmp.first() else {
        return Err(RsError::Short(0));
    };
    if kind != ICMPV6_ROUTER_SOLICITATION {
        return Err(RsError::NotSolicitation(kind));
    }
    if hop_limit != 255 {
        return Err(RsError::HopLimit(hop_limit));
    }
    if icmp.len() < 8 {
        return Err(RsError::Short(icmp.len()));
    }
    if icmp[1] != 0 {
        return Err(RsError::Code(icmp[1]));
    }
    let mut options = &icmp[8..];
    let mut has_slla = false;
    while !options.is_empty() {
        let (Some(&kind), Some(&units)) = (options.first(), options.get(1)) else {
            return Err(RsError::BadOption);
        };
        let len = usize::from(units) * 8;
        if len == 0 || len > options.len() {
            return Err(RsError::BadOption);
        }
        has_slla |= kind == OPT_SOURCE_LINK_ADDR;
        options = &options[len..];
    }
    if has_slla && source.is_unspecified() {
        return Err(RsError::UnspecifiedWithSourceLinkAddr);
    }
    Ok(())
}

/// Counters of one router's RAs (`show vrrp`, metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RaCounters {
    /// RAs sent (unsolicited and answers).
    pub sent: u64,
    /// Valid solicitations answered by an RA (several may share one).
    pub rs_answered: u64,
    /// Valid solicitations heard while not Master: not answered.
    pub rs_ignored: u64,
    /// Solicitations discarded by [`check_solicitation`].
    pub rs_invalid: u64,
}

/// Whether a router is sending RAs now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RaState {
    /// Master: advertising.
    Advertising,
    /// Backup, Initialize or stopped: silent.
    Silent,
}

impl RaState {
    /// The JSON form, for text output.
    pub fn as_str(self) -> &'static str {
        match self {
            RaState::Advertising => "advertising",
            RaState::Silent => "silent",
        }
    }
}

/// When one router sends its RAs. Starts silent; [`RaScheduler::start`] on becoming
/// Master, [`RaScheduler::stop`] on leaving it.
#[derive(Debug, Clone)]
pub struct RaScheduler {
    params: RaParams,
    advertising: bool,
    /// When the next multicast RA is due (None while silent).
    next: Option<Time>,
    /// RAs left that come at most [`MAX_INITIAL_RTR_ADVERT_INTERVAL`] apart.
    initial_left: u32,
    last_multicast: Option<Time>,
    /// Valid solicitations the next RA answers.
    pending_rs: u64,
    counters: RaCounters,
}

/// A uniformly distributed duration in `[low, high]` from a random number.
fn between(low: Duration, high: Duration, random: u64) -> Duration {
    let span = u64::try_from(high.saturating_sub(low).as_nanos()).unwrap_or(u64::MAX);
    low + Duration::from_nanos(if span == u64::MAX {
        random
    } else {
        random % (span + 1)
    })
}

impl RaScheduler {
    pub fn new(params: RaParams) -> Self {
        RaScheduler {
            params,
            advertising: false,
            next: None,
            initial_left: 0,
            last_multicast: None,
            pending_rs: 0,
            counters: RaCounters::default(),
        }
    }

    pub fn params(&self) -> &RaParams {
        &self.params
    }

    pub fn counters(&self) -> RaCounters {
        self.counters
    }

    pub fn state(&self) -> RaState {
        if self.advertising {
            RaState::Advertising
        } else {
            RaState::Silent
        }
    }

    /// When [`RaScheduler::poll`] should be called next (None: silent).
    pub fn next_deadline(&self) -> Option<Time> {
        self.next
    }

    /// The router became Master: the first RA is due now, the next few come quickly.
    pub fn start(&mut self, now: Time) {
        self.advertising = true;
        self.initial_left = MAX_INITIAL_RTR_ADVERTISEMENTS;
        self.next = Some(now);
    }

    /// The router left Master (or stops): nothing more is sent, pending answers included.
    pub fn stop(&mut self) {
        self.advertising = false;
        self.next = None;
        self.pending_rs = 0;
    }

    /// New settings (a reload). While advertising, hosts learn them at once, with the
    /// initial fast RAs (RFC 4861 6.2.4 allows them after a change).
    pub fn reconfigure(&mut self, params: RaParams, now: Time) {
        let changed = params != self.params;
        self.params = params;
        if changed && self.advertising {
            self.start(now);
        }
    }

    /// Is an RA due at `now`? If so it counts as sent: the caller sends
    /// [`RaParams::message`] to all-nodes, and the next one is scheduled with `random`.
    pub fn poll(&mut self, now: Time, random: u64) -> bool {
        match self.next {
            Some(due) if self.advertising && due <= now => {}
            _ => return false,
        }
        let ms = |v: u32| Duration::from_millis(u64::from(v));
        let settings = &self.params.settings;
        let mut interval = between(
            ms(settings.min_interval_ms),
            ms(settings.max_interval_ms),
            random,
        );
        if self.initial_left > 0 {
            self.initial_left -= 1;
            interval = interval.min(MAX_INITIAL_RTR_ADVERT_INTERVAL);
        }
        self.next = Some(now + interval);
        self.last_multicast = Some(now);
        self.counters.sent += 1;
        self.counters.rs_answered += std::mem::take(&mut self.pending_rs);
        true
    }

    /// A Router Solicitation arrived (`check` is [`check_solicitation`]'s verdict). Returns
    /// whether it will be answered; the answer is the next RA [`RaScheduler::poll`] asks for.
    pub fn solicited(&mut self, now: Time, check: Result<(), RsError>, random: u64) -> bool {
        if check.is_err() {
            self.counters.rs_invalid += 1;
            return false;
        }
        if !self.advertising {
            self.counters.rs_ignored += 1;
            return false;
        }
        self.pending_rs += 1;
        let delay = between(Duration::ZERO, MAX_RA_DELAY_TIME, random);
        let at = match self.last_multicast {
            Some(last) if now < last + MIN_DELAY_BETWEEN_RAS => {
                last + MIN_DELAY_BETWEEN_RAS + delay
            }
            _ => now + delay,
        };
        if self.next.is_none_or(|n| at < n) {
            self.next = Some(at);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> RaParams {
        RaParams {
            source: "fe80::5".parse().unwrap(),
            mac: MacAddr([0, 0, 0x5e, 0, 2, 5]),
            settings: RaSettings {
                min_interval_ms: 200_000,
                max_interval_ms: 600_000,
                lifetime_s: 1800,
                hop_limit: 64,
                managed: false,
                other_config: true,
                prefixes: vec!["2001:db8:5::/64".parse().unwrap()],
                autonomous: true,
                valid_lifetime_s: 2_592_000,
                preferred_lifetime_s: 604_800,
                rdnss: vec!["2001:db8::53".parse().unwrap()],
                rdnss_lifetime_s: 1800,
                mtu: Some(1500),
            },
        }
    }

    fn at(s: u64) -> Time {
        Time::from_duration(Duration::from_secs(s))
    }

    fn ms(t: Time) -> u64 {
        u64::try_from(t.as_duration().as_millis()).unwrap()
    }

    #[test]
    fn packet_len_is_the_message_plus_the_ipv6_header() {
        // What validation checks against the minimum MTU is what is sent.
        let mut p = params();
        for (prefixes, rdnss, mtu) in [(1, 1, Some(1500)), (0, 0, None), (5, 3, None)] {
            let s = &mut p.settings;
            s.prefixes = (0..prefixes)
                .map(|i| format!("2001:db8:{i}::/64").parse().unwrap())
                .collect();
            s.rdnss = (1..=rdnss)
                .map(|i| format!("2001:db8::{i}").parse().unwrap())
                .collect();
            s.mtu = mtu;
            assert_eq!(p.settings.packet_len(), 40 + p.message().len());
        }
    }

    #[test]
    fn the_message_is_rfc_4861_with_rfc_8106_dns() {
        let m = params().message();
        #[rustfmt::skip]
        let head = [
            134, 0, 0, 0,           // type, code, checksum (filled in by the sender)
            64, 0x40, 0x07, 0x08,   // hop limit, O flag, router lifetime 1800
            0, 0, 0, 0, 0, 0, 0, 0, // reachable time, retrans timer: unspecified
            1, 1, 0, 0, 0x5e, 0, 2, 5, // source link-layer address: the virtual MAC
            5, 1, 0, 0, 0, 0, 0x05, 0xdc, // MTU 1500
            3, 4, 64, 0xc0,         // prefix /64, on-link + autonomous
            0, 0x27, 0x8d, 0,       // valid 2592000
            0, 0x09, 0x3a, 0x80,    // preferred 604800
            0, 0, 0, 0,
        ];
        assert_eq!(&m[..head.len()], head);
        let prefix: Ipv6Addr = "2001:db8:5::".parse().unwrap();
        assert_eq!(&m[head.len()..head.len() + 16], prefix.octets());
        let rdnss = &m[head.len() + 16..];
        assert_eq!(&rdnss[..8], [25, 3, 0, 0, 0, 0, 0x07, 0x08]);
        let dns: Ipv6Addr = "2001:db8::53".parse().unwrap();
        assert_eq!(&rdnss[8..], dns.octets());
        // No optional option, no flags, not autonomous: only what is asked for.
        let mut p = params();
        let s = &mut p.settings;
        (s.mtu, s.rdnss, s.other_config, s.autonomous) = (None, vec![], false, false);
        let m = p.message();
        assert_eq!(m.len(), 16 + 8 + 32);
        assert_eq!((m[5], m[24], m[27]), (0, 3, 0x80));
    }

    /// RFC 9568 8.2.3: no special-service RA content (Mobile IPv6's Home Agent flag and
    /// option) that a Backup could not take over; only the options the settings ask for.
    // ledger: R9568-8.2.3-b
    #[test]
    fn no_home_agent_flag_or_option_is_ever_advertised() {
        let mut p = params();
        for (managed, other) in [(false, false), (true, true)] {
            (p.settings.managed, p.settings.other_config) = (managed, other);
            let m = p.message();
            assert_eq!(m[5] & 0x3f, 0, "H, Prf or reserved bits set: {:#04x}", m[5]);
            let mut rest = &m[16..];
            while !rest.is_empty() {
                assert!([1, 3, 5, 25].contains(&rest[0]), "option type {}", rest[0]);
                rest = &rest[usize::from(rest[1]) * 8..];
            }
        }
    }

    fn rs(options: &[u8]) -> Vec<u8> {
        let mut m = vec![133, 0, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(options);
        m
    }

    #[test]
    fn solicitations_are_checked_as_rfc_4861_says() {
        let host: Ipv6Addr = "fe80::99".parse().unwrap();
        let slla = [1, 1, 2, 0, 0, 0, 0, 1];
        assert_eq!(check_solicitation(host, 255, &rs(&slla)), Ok(()));
        assert_eq!(
            check_solicitation(Ipv6Addr::UNSPECIFIED, 255, &rs(&[])),
            Ok(())
        );
        assert_eq!(
            check_solicitation(host, 64, &rs(&slla)),
            Err(RsError::HopLimit(64))
        );
        let mut coded = rs(&[]);
        coded[1] = 1;
        assert_eq!(check_solicitation(host, 255, &coded), Err(RsError::Code(1)));
        assert_eq!(
            check_solicitation(host, 255, &rs(&[])[..6]),
            Err(RsError::Short(6))
        );
        assert_eq!(
            check_solicitation(host, 255, &rs(&[1, 0, 0, 0, 0, 0, 0, 0])),
            Err(RsError::BadOption)
        );
        assert_eq!(
            check_solicitation(host, 255, &rs(&[1, 2, 0, 0, 0, 0, 0, 0])),
            Err(RsError::BadOption)
        );
        assert_eq!(
            check_solicitation(Ipv6Addr::UNSPECIFIED, 255, &rs(&slla)),
            Err(RsError::UnspecifiedWithSourceLinkAddr)
        );
        let mut ra = rs(&[]);
        ra[0] = 134;
        assert_eq!(
            check_solicitation(host, 255, &ra),
            Err(RsError::NotSolicitation(134))
        );
    }

    // ledger: R9568-6.4.3-k
    #[test]
    fn a_new_master_advertises_at_once_then_fast_then_at_random_intervals() {
        let mut s = RaScheduler::new(params());
        assert_eq!(s.next_deadline(), None);
        s.start(at(100));
        assert_eq!(s.state(), RaState::Advertising);
        // The largest draw: exactly MaxRtrAdvInterval.
        let longest = 400_000_000_000;
        assert!(s.poll(at(100), longest));
        // Initial RAs: the random 200..600 s interval is capped at 16 s, three times.
        for k in 1..=3 {
            let due = s.next_deadline().unwrap();
            assert_eq!(due, at(100 + 16 * k));
            assert!(!s.poll(due - Duration::from_millis(1), 0));
            assert!(s.poll(due, longest));
        }
        // Then between min and max, drawn from the random number.
        assert_eq!(s.next_deadline(), Some(at(148 + 600)));
        assert!(s.poll(at(748), 0));
        assert_eq!(s.next_deadline(), Some(at(748 + 200)));
        assert_eq!(s.counters().sent, 5);
    }

    // ledger: R9568-6.4.2-j
    #[test]
    fn a_router_that_is_not_master_sends_nothing_even_when_solicited() {
        let mut s = RaScheduler::new(params());
        assert!(!s.poll(at(10), 0));
        assert!(!s.solicited(at(10), Ok(()), 0));
        assert_eq!(s.next_deadline(), None);
        assert!(!s.poll(at(20), 0));
        // Master, then Backup with an answer pending: the answer is dropped.
        s.start(at(30));
        assert!(s.poll(at(30), 0));
        assert!(s.solicited(at(40), Ok(()), 0));
        s.stop();
        assert_eq!(s.state(), RaState::Silent);
        assert_eq!(s.next_deadline(), None);
        assert!(!s.poll(at(1000), 0));
        assert!(!s.solicited(at(1000), Ok(()), 0));
        let c = s.counters();
        assert_eq!((c.sent, c.rs_answered, c.rs_ignored), (1, 0, 2));
    }

    #[test]
    fn solicitations_are_answered_rate_limited_and_merged() {
        let mut s = RaScheduler::new(params());
        s.start(at(0));
        assert!(s.poll(at(0), 0));
        // Within MIN_DELAY_BETWEEN_RAS of the last RA: 3 s after it plus the random delay.
        assert!(s.solicited(at(1), Ok(()), 250_000_000));
        assert_eq!(ms(s.next_deadline().unwrap()), 3_250);
        // A second one whose answer would come later is merged into the first.
        assert!(s.solicited(at(2), Ok(()), 500_000_000));
        assert_eq!(ms(s.next_deadline().unwrap()), 3_250);
        assert!(s.poll(at(3) + Duration::from_millis(250), 0));
        let c = s.counters();
        assert_eq!((c.sent, c.rs_answered), (2, 2));
        // Long after the last RA: at most MAX_RA_DELAY_TIME.
        let last = s.next_deadline().unwrap();
        let now = last - Duration::from_secs(1);
        assert!(s.solicited(now, Ok(()), u64::MAX));
        let due = s.next_deadline().unwrap();
        assert!(due > now && due <= now + MAX_RA_DELAY_TIME, "{due:?}");
        // An invalid one is counted and changes nothing.
        assert!(!s.solicited(now, Err(RsError::HopLimit(1)), 0));
        assert_eq!(s.next_deadline(), Some(due));
        assert_eq!(s.counters().rs_invalid, 1);
    }

    #[test]
    fn new_settings_while_master_are_advertised_at_once() {
        let mut s = RaScheduler::new(params());
        s.reconfigure(params(), at(0));
        assert_eq!(s.next_deadline(), None, "silent stays silent");
        s.start(at(0));
        assert!(s.poll(at(0), 0));
        let mut p = params();
        p.settings.lifetime_s = 900;
        s.reconfigure(p.clone(), at(5));
        assert_eq!(s.next_deadline(), Some(at(5)));
        assert_eq!(s.params(), &p);
        // The same settings again: nothing to tell.
        assert!(s.poll(at(5), 0));
        let next = s.next_deadline();
        s.reconfigure(p, at(6));
        assert_eq!(s.next_deadline(), next);
    }

    #[test]
    fn between_covers_the_whole_range() {
        let (lo, hi) = (Duration::from_secs(3), Duration::from_secs(4));
        assert_eq!(between(lo, hi, 0), lo);
        assert_eq!(between(lo, hi, 1_000_000_000), hi);
        assert_eq!(between(lo, lo, 12345), lo);
    }
}
