//! The VRRP election state machine of RFC 9568 (VRRPv3) and RFC 3768 (VRRPv2), sans-IO.
//!
//! One [`Router`] value exists per (interface, VRID, address family). It never reads a clock,
//! never touches a socket and never sleeps: the runtime feeds it [`Input`]s together with the
//! current [`Time`], and executes the [`Action`]s it pushes into a caller-provided `Vec`, in
//! order. After every call the runtime asks [`Router::next_deadline`] and delivers
//! [`Input::Timer`] once that time has been reached.
//!
//! # Time and units
//!
//! [`Time`] is a count of **nanoseconds** since an epoch the runtime chooses (for instance the
//! `tokio::time::Instant` at which it started). All intervals are held in nanoseconds so the
//! RFC formulas come out exact: with priority 200 and a 1 s interval the VRRPv3 Skew_Time is
//! 218.75 ms, not 210 ms, and with priority 100 Master_Down_Interval is 3.609375 s. The only
//! rounding left is the truncation of VRRPv3 Skew_Time to a whole nanosecond, which happens when
//! `(256 - priority) * Master_Adver_Interval` (in centiseconds) is odd: the error is below 1 ns.
//!
//! On the wire VRRPv3 carries intervals in centiseconds (12 bits, 1..=4095) and VRRPv2 in whole
//! seconds. This module speaks centiseconds for both: the runtime multiplies a VRRPv2 field by
//! 100 before handing it in and divides by 100 when encoding [`Action::SendAdvert`].
//!
//! * VRRPv3: `Skew_Time = ((256 - priority) * Master_Adver_Interval) / 256` and
//!   `Master_Down_Interval = 3 * Master_Adver_Interval + Skew_Time`.
//! * VRRPv2: `Skew_Time = (256 - priority) / 256` seconds (it does not scale with the interval)
//!   and `Master_Down_Interval = 3 * Advertisement_Interval + Skew_Time`.
//!
//! "priority" is always the *effective* priority (see Tracking below).
//!
//! # The transitions (RFC 9568 section 6.4, RFC 3768 section 6.4), restated
//!
//! | state | event | condition | what happens | next state |
//! |---|---|---|---|---|
//! | Initialize | Startup | priority is 255 (the address owner) | advertise, gratuitous ARP / unsolicited NA, arm the advert timer at one Advertisement_Interval | Master |
//! | Initialize | Startup | otherwise | Master_Adver_Interval := our Advertisement_Interval; arm the master-down timer at Master_Down_Interval | Backup |
//! | Backup | Shutdown | | stop the master-down timer | Initialize |
//! | Backup | master-down timer expires | | advertise, gratuitous ARP / NA, arm the advert timer | Master |
//! | Backup | advert with priority 0 | | the master is leaving: re-arm the master-down timer at Skew_Time only | Backup |
//! | Backup | Resume (see below) | master-down timer armed by Startup, no advert heard since | re-arm the master-down timer at Master_Adver_Interval + Skew_Time | Backup |
//! | Backup | advert, priority ≥ ours, or we do not preempt | | v3: learn Master_Adver_Interval from the advert, recompute Skew_Time and Master_Down_Interval; re-arm the master-down timer at Master_Down_Interval | Backup |
//! | Backup | advert, priority < ours and we preempt | | ignore it, so the master-down timer runs out and we take over | Backup |
//! | Master | Shutdown | | stop the advert timer, advertise with priority 0 | Initialize |
//! | Master | advert timer expires | | advertise, re-arm the advert timer | Master |
//! | Master | advert with priority 0 | | a leaving router: advertise at once so backups keep us, re-arm the advert timer (rate-limited per sender like the answer to a lesser advert, below) | Master |
//! | Master | advert, priority > ours, or equal priority and the sender's primary address is greater than ours | | stop the advert timer; v3: learn Master_Adver_Interval; arm the master-down timer at Master_Down_Interval | Backup |
//! | Master | any other advert (a lesser router) | | v3: advertise at once, advert timer unchanged (RFC 9568 section 6.4.3; not to our own address; at most once per Advertisement_Interval per sender and to at most [`LESSER_REPLY_SENDERS`] senders per interval, see Additions); v2: ignore it | Master |
//!
//! Addresses are compared as unsigned integers in network byte order (32 bits for IPv4, 128 for
//! IPv6). The address owner always preempts, whatever `preempt` says (RFC 9568 section 6.1).
//!
//! VRRPv2 differences: an advert whose interval differs from ours is discarded and counted in
//! [`Counters::interval_errors`] (RFC 3768 section 7.1); Master_Adver_Interval is never learned.
//! VRRPv3 adverts with an interval of 0 are discarded the same way, since they would make the
//! master-down timer expire at once.
//!
//! Adverts in Initialize are counted but otherwise ignored.
//!
//! # Additions to the RFC
//!
//! * **Link state.** [`Input::LinkDown`] (the parent lost carrier, or the vrrp macvlan was
//!   deleted) takes the router to Initialize from any state, *without* a priority-0 advert
//!   (there is no way to send one). [`Input::LinkUp`] runs the Startup event again if the
//!   router is enabled. A router runs only while it is both enabled (Startup received, no
//!   Shutdown since) and its link is up; a Startup while the link is down is remembered.
//! * **Resume.** [`Input::Resume`] is the runtime's hint that this router was Master when the
//!   previous runtime died without leaving (SIGKILL, a crash): right after Startup, the
//!   master-down timer is shortened to Master_Adver_Interval + Skew_Time. A live master is
//!   still heard within one interval (so preempt and priorities decide as usual), but a
//!   silent link is taken back before the backups' Master_Down_Interval runs out, so they do
//!   not flap. Any advert heard before then re-arms the timer as usual.
//! * **Protodown.** The vrrp macvlan must carry traffic only on the Master: entering Master
//!   emits `SetProtodown(false)`, entering Backup or Initialize emits `SetProtodown(true)`.
//!   The action is emitted only when the value changes; the very first one is always emitted,
//!   because the router does not know what the device was left with.
//! * **Gratuitous bursts.** On becoming Master the first burst (GARP for every IPv4 VIP,
//!   unsolicited NA for every IPv6 VIP) is emitted right after the first advert; bursts 2..=n
//!   are timer-driven, `garp_burst_interval` apart, and are cancelled when Master is left.
//! * **Tracking.** Each tracked object (an interface, or a `[[track]]` health object: the
//!   router only sees an index) either lowers the priority ([`Tracked::Decrement`]) or
//!   faults the router ([`Tracked::Fault`]) while it is down.
//!   `effective priority = priority - sum of the decrements of the tracked
//!   objects that are down`, clamped to 1..=254 whenever that sum is not zero (so a demoted
//!   owner is no longer the owner, and a router never advertises 0 because of tracking). A
//!   decrement of 0 has no effect. The effective priority is what is advertised, compared and
//!   used in Skew_Time. When it changes, Skew_Time and Master_Down_Interval are recomputed
//!   (a master-down timer already running keeps its deadline; the next accepted advert uses
//!   the new value), and a Master advertises the new priority at once so that backups hear
//!   it without waiting a full interval. Handover then follows from the RFC rules: a backup
//!   that now outranks the master ignores its adverts and takes over when its timer runs out.
//! * **Fault.** While a [`Tracked::Fault`] object is down the router is held in Initialize
//!   like a lost link (protodown on, no adverts, no timers), except that a Master leaving
//!   for this reason sends priority 0 (its link works), so a backup takes over after
//!   Skew_Time. When the last faulted object is up again the Startup event runs again (if
//!   the router is enabled and its link is up), with reason [`Reason::TrackRecovered`]. A
//!   fault does not lower the effective priority, so an address owner faulted and
//!   recovered comes back as the owner.
//! * **Preempt delay** (not in RFC 9568; the meaning follows keepalived's
//!   `preempt_delay`). With `preempt_delay = D > 0`, a Backup that would preempt a live
//!   lower-priority master first holds back for `D`:
//!   - a *hold* starts when the router enters Backup from Initialize (startup or link up) and,
//!     when no hold is active, on the first advert whose priority is nonzero and lower than
//!     ours; it ends at `start + D`;
//!   - until the hold ends, adverts with a lower priority are treated as if preemption were
//!     off: they re-arm the master-down timer at Master_Down_Interval (v3: and the interval is
//!     learned), so the live master is kept and its death is still noticed on time;
//!   - from the end of the hold on, lower-priority adverts are ignored as the RFC says, and the
//!     router takes over when the master-down timer expires, i.e. one Master_Down_Interval
//!     after the last advert it accepted;
//!   - the hold is cleared by an advert with priority 0 or with a priority ≥ ours (a new
//!     lower-priority master later starts a new hold) and by leaving Backup.
//!
//!   A master that falls silent is taken over after Master_Down_Interval as usual; the delay
//!   never lengthens an outage. The owner (effective priority 255) ignores the delay, as it
//!   ignores `preempt = false`.
//!
//! * **Reconfiguration.** [`Router::reconfigure`] changes every parameter but the identity
//!   (version, family, VRID) on the running state machine, as RFC 9568 allows: state,
//!   timers and counters stay. The effective priority is recomputed; a Master advertises a
//!   new priority, interval or address list at once (never priority 0: a lowered master is taken over by a
//!   preempting backup through the normal rules); a Backup that becomes the address owner
//!   takes over at once (reason "reconfigured as the address owner"); a VRRPv3 Backup keeps
//!   following the master's interval; a preempt-delay hold is dropped when preempt or the
//!   delay changes.
//!
//! * **Lesser-advert replies are rate-limited.** RFC 9568 section 6.4.3 answers every lesser
//!   advert at once; one for one, that turns a Master into a reflector of any flood (a spoofed
//!   source gets our adverts). A Master answers each sender at most once per
//!   Advertisement_Interval, and at most [`LESSER_REPLY_SENDERS`] different senders per
//!   interval (a flood from ever-new spoofed addresses is bounded too). The answer to a
//!   priority-0 advert (section 6.4.3's "send an advert, reset Adver_Timer") shares the
//!   limit: a leaving router sends one, so only a flood loses anything. The purpose of the
//!   reply (a lesser router or a healed partition learns within one round trip that there is
//!   a Master) is met by the first one; the periodic adverts do the rest. Unanswered lesser
//!   adverts are counted in [`Counters::lesser_adverts_unanswered`].
//!
//! # Timers
//!
//! Three timers exist: the master-down timer (Backup), the advert timer and the gratuitous
//! burst timer (Master). [`Router::next_deadline`] is the earliest armed one; [`Input::Timer`]
//! fires every timer whose deadline is `<= now` and does nothing before that. The advert timer
//! is re-armed from its own deadline rather than from `now`, so a late wake-up does not shift
//! the advertising phase (the next advert comes one interval after the previous *scheduled*
//! one; if even that is already past, one interval after `now`). Other inputs never fire
//! timers implicitly: an advert handed in after a deadline but before the matching `Timer` is
//! processed in the current state, which errs on the side of keeping a live master.
//!
//! # Allocation
//!
//! [`Router::handle`] pushes into the caller's `Vec<Action>` and allocates nothing itself:
//! reusing one (cleared) `Vec` for all routers keeps the advert send/receive path free of
//! allocation.

use crate::types::{Family, Version};
use serde::Serialize;
use std::fmt;
use std::net::IpAddr;
use std::ops::{Add, Sub};
use std::time::Duration;

/// Priority of the router that owns the virtual addresses.
pub const OWNER_PRIORITY: u8 = 255;
/// Largest interval a VRRPv3 advert can carry (12-bit field), in centiseconds.
pub const MAX_ADVERT_INTERVAL_CS: u16 = 4095;
/// Largest VRRPv2 interval (8-bit field, seconds), in centiseconds.
pub const MAX_V2_ADVERT_INTERVAL_CS: u16 = 255 * 100;

const NANOS_PER_CS: u64 = 10_000_000;
const NANOS_PER_SEC: u64 = 1_000_000_000;

/// A point in time: nanoseconds since an epoch chosen by the runtime. Arithmetic saturates,
/// so no input can make the state machine panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time(u64);

impl Time {
    pub const ZERO: Time = Time(0);

    pub const fn from_nanos(nanos: u64) -> Time {
        Time(nanos)
    }

    /// `d` after the epoch (saturating at about 584 years).
    pub fn from_duration(d: Duration) -> Time {
        Time(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }

    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Time since the epoch.
    pub const fn as_duration(self) -> Duration {
        Duration::from_nanos(self.0)
    }

    /// `self - earlier`, or zero if `earlier` is later.
    pub const fn saturating_duration_since(self, earlier: Time) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Time {
    type Output = Time;
    fn add(self, d: Duration) -> Time {
        let d = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Time(self.0.saturating_add(d))
    }
}

impl Sub<Duration> for Time {
    type Output = Time;
    fn sub(self, d: Duration) -> Time {
        let d = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Time(self.0.saturating_sub(d))
    }
}

impl Sub<Time> for Time {
    type Output = Duration;
    fn sub(self, earlier: Time) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

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

/// What a tracked object (an interface or a health check) does to the router while down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tracked {
    /// Lower the effective priority by this much (see Tracking in the module docs).
    Decrement(u8),
    /// Hold the router in Initialize (see Fault in the module docs).
    Fault,
}

impl RouterParams {
    fn validate(&self) -> Result<(), ParamsError> {
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

/// RFC 9568 section 6.4 states ("Active" in RFC 9568 is "Master" here, as in RFC 3768).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Initialize,
    Backup,
    Master,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Initialize => "initialize",
            State::Backup => "backup",
            State::Master => "master",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a transition happened (for logs, `show vrrp` and VRRS clients).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Initialize → Backup on Startup.
    Startup,
    /// Initialize → Master on Startup: we own the addresses.
    StartupOwner,
    /// Initialize → Backup when the link came back.
    LinkUp,
    /// Initialize → Master when the link came back and we own the addresses.
    LinkUpOwner,
    /// Backup → Master: no advert for Master_Down_Interval.
    MasterDownTimer,
    /// Backup → Master: the timer ran out while a lower-priority master was being ignored.
    Preempt,
    /// Backup → Master: Skew_Time after the master announced it was leaving.
    PriorityZeroReceived,
    /// Backup → Master: the shortened timer of [`Input::Resume`] ran out in silence.
    Resume,
    /// Master → Backup.
    HigherPriorityAdvert,
    /// Master → Backup: same priority, greater primary address.
    EqualPriorityHigherAddress,
    /// → Initialize on Shutdown.
    Shutdown,
    /// → Initialize: parent carrier lost or the vrrp device disappeared.
    LinkDown,
    /// Backup → Master: a live reconfiguration made us the address owner (priority 255).
    BecameOwner,
    /// → Initialize: a tracked object with `fault` went down.
    TrackFault,
    /// Initialize → Backup (or Master for the owner): the last faulted object came back up.
    TrackRecovered,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Startup => "startup",
            Reason::StartupOwner => "startup owner",
            Reason::LinkUp => "link up",
            Reason::LinkUpOwner => "link up owner",
            Reason::MasterDownTimer => "master down timer",
            Reason::Preempt => "preempt lower priority master",
            Reason::PriorityZeroReceived => "priority 0 received",
            Reason::Resume => "resumed after an unclean exit",
            Reason::HigherPriorityAdvert => "higher priority advert",
            Reason::EqualPriorityHigherAddress => "equal priority, higher address",
            Reason::Shutdown => "shutdown",
            Reason::LinkDown => "link down",
            Reason::BecameOwner => "reconfigured as the address owner",
            Reason::TrackFault => "tracked object fault",
            Reason::TrackRecovered => "tracked object recovered",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something that happened to the router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// The RFC Startup event (the router is enabled).
    Startup,
    /// The RFC Shutdown event (the router is disabled; a Master sends priority 0).
    Shutdown,
    /// A valid advert for this (interface, VRID, family) that the codec and the runtime's
    /// checks (TTL, checksum, peer allowlist, …) have accepted. `max_advert_interval_cs` is the
    /// advert's interval in centiseconds (VRRPv2: the seconds field × 100).
    Advert {
        src: IpAddr,
        priority: u8,
        max_advert_interval_cs: u16,
    },
    /// Tracked object number `index` (into [`RouterParams::track`]) went up or down. All
    /// tracked objects are assumed up when the router is created.
    TrackChanged { index: usize, up: bool },
    /// The parent lost carrier, or the vrrp macvlan was deleted.
    LinkDown,
    /// Carrier is back / the device exists again.
    LinkUp,
    /// `now` has reached (or passed) [`Router::next_deadline`].
    Timer,
    /// This router was Master when the previous runtime died without leaving: in Backup with
    /// the Startup timer still running, shorten it to Master_Adver_Interval + Skew_Time
    /// (see Resume in the module docs). Ignored otherwise.
    Resume,
}

/// Something the runtime must do, in the order pushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Always pushed first in a call that changes state.
    StateChanged {
        from: State,
        to: State,
        reason: Reason,
    },
    /// Set protodown on the vrrp macvlan (true = no traffic).
    SetProtodown(bool),
    /// Send one advert. `interval_cs` is our Advertisement_Interval in centiseconds (VRRPv2:
    /// divide by 100 for the seconds field). `priority` 0 means we are leaving.
    SendAdvert { priority: u8, interval_cs: u16 },
    /// Send gratuitous ARP (IPv4) / unsolicited NA (IPv6) for every VIP: burst `burst` of
    /// `of` (1-based).
    SendGratuitous { burst: u32, of: u32 },
    /// The effective priority changed because a tracked interface changed.
    EffectivePriorityChanged { from: u8, to: u8 },
    /// We are the configured address owner (priority 255) and someone else advertises this
    /// virtual router: a misconfiguration to log. Pushed at most once per
    /// [`MISCONFIGURATION_LOG_INTERVAL`] (RFC 9568 section 7.1 as corrected by erratum 8298:
    /// log it, rate-limited, and process the advert normally).
    OwnerConflict { src: IpAddr, priority: u8 },
    /// A VRRPv3 advert carries a Max Advertise Interval other than our configured one: a
    /// misconfiguration to log (RFC 9568 section 7.1); the advert is processed as usual (a
    /// Backup learns the interval). At most once per [`MISCONFIGURATION_LOG_INTERVAL`].
    IntervalMismatch { src: IpAddr, interval_cs: u16 },
}

/// Least time between two reports of one kind ([`Action::OwnerConflict`],
/// [`Action::IntervalMismatch`]) of one instance.
pub const MISCONFIGURATION_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// Rate limit of a misconfiguration report: true (and remember `now`) when the last report
/// is unset or at least [`MISCONFIGURATION_LOG_INTERVAL`] old.
fn report_due(last: &mut Option<Time>, now: Time) -> bool {
    let due = last.is_none_or(|at| now >= at + MISCONFIGURATION_LOG_INTERVAL);
    if due {
        *last = Some(now);
    }
    due
}

/// Statistics of one instance; the single place `show vrrp` reads. The first group is kept by
/// the state machine; the second by the runtime and codec through [`Router::counters_mut`]
/// (packets dropped before they become an [`Input::Advert`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct Counters {
    // --- kept by the state machine ---
    /// Adverts sent, priority-0 ones included.
    pub adverts_sent: u64,
    /// Adverts handed to the state machine (in any state).
    pub adverts_received: u64,
    pub priority_zero_sent: u64,
    pub priority_zero_received: u64,
    /// Gratuitous ARP / unsolicited NA bursts started.
    pub gratuitous_bursts_sent: u64,
    /// State changes of any kind.
    pub transitions: u64,
    pub became_master: u64,
    pub became_backup: u64,
    /// Transitions out of Master (to Backup or Initialize).
    pub released_master: u64,
    /// Adverts received while we are the configured address owner (priority 255): another
    /// router claims our addresses (erratum 8298 to RFC 9568 section 7.1).
    pub owner_conflicts: u64,
    /// VRRPv3 adverts whose interval differs from our configured Advertisement_Interval
    /// (RFC 9568 section 7.1; processed anyway).
    pub interval_mismatches: u64,
    /// Lesser adverts (VRRPv3; priority 0 in both versions) received as Master and not
    /// answered, because their sender
    /// (or [`LESSER_REPLY_SENDERS`] others) was answered less than one
    /// Advertisement_Interval ago.
    pub lesser_adverts_unanswered: u64,
    /// Adverts discarded for their interval: VRRPv2 interval different from ours
    /// (RFC 3768 section 7.1), or an interval of 0. The codec may count here too.
    pub interval_errors: u64,

    // --- kept by the runtime / codec ---
    /// TTL / hop limit other than 255.
    pub ttl_errors: u64,
    pub version_errors: u64,
    /// Type other than 1 (advertisement).
    pub type_errors: u64,
    /// Packets for a VRID nobody runs on this interface: counted by every instance on that
    /// (parent, family), since no instance owns them.
    pub vrid_errors: u64,
    /// Length not matching the address count (count larger or smaller than the addresses
    /// present).
    pub length_errors: u64,
    /// Address count 0 (RFC 9568 section 5.2.5, erratum 8299).
    pub zero_count_errors: u64,
    /// Shorter than the 8-byte VRRP header (under 2 bytes: counted like `vrid_errors`).
    pub truncated_errors: u64,
    /// Larger than the biggest advert (1500 bytes of VRRP message).
    pub oversized_errors: u64,
    pub checksum_errors: u64,
    /// VRRPv2 authentication type other than 0.
    pub auth_type_errors: u64,
    /// Sent to a destination other than the VRRP group (in unicast mode: other than our
    /// address). The address list itself is not compared with the configured VIPs (RFC 9568
    /// section 7.1 makes that a MAY). Serialized under its historical name so `show vrrp
    /// --json` and the metrics keep their counter (netvrrp(8), JSON FIELDS).
    #[serde(rename = "address_list_errors")]
    pub destination_errors: u64,
    /// Source not in the configured `peers` allowlist.
    pub peer_not_allowed: u64,
    /// VRRPv3/IPv4 adverts whose checksum covers the IPv4 pseudo-header (FRR, keepalived).
    pub checksum_with_pseudoheader_received: u64,
    /// VRRPv3/IPv4 adverts whose checksum does not (RFC 9568 as written).
    pub checksum_without_pseudoheader_received: u64,
    /// Packets (adverts, GARP, NA) the kernel refused to send.
    pub send_errors: u64,
    /// Protodown-off requests the kernel refused on the way to Master (e.g. EBUSY: another
    /// program holds a protodown reason bit); the instance goes to Initialize then.
    pub protodown_errors: u64,
    /// Individual gratuitous ARP / NA packets sent.
    pub gratuitous_packets_sent: u64,
}

/// Why the master-down timer is running, to name the transition when it expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DownCause {
    /// No advert accepted since the timer was armed.
    Silence,
    /// Adverts from a lower-priority master were ignored since it was armed.
    LowerPriority,
    /// A priority-0 advert armed it at Skew_Time.
    PriorityZero,
    /// [`Input::Resume`] shortened it.
    Resume,
}

/// One VRRP instance.
#[derive(Debug, Clone)]
pub struct Router {
    params: RouterParams,
    state: State,
    /// Startup received and no Shutdown since.
    enabled: bool,
    link_up: bool,
    /// Last protodown value emitted; None until the first one.
    protodown: Option<bool>,
    track_down: Vec<bool>,
    effective_priority: u8,
    master_adver_interval_cs: u16,
    skew_time: Duration,
    master_down_interval: Duration,
    adver_at: Option<Time>,
    down_at: Option<Time>,
    down_cause: DownCause,
    garp_at: Option<Time>,
    /// Number of the next gratuitous burst (1-based).
    garp_next: u32,
    preempt_hold_until: Option<Time>,
    master_address: Option<IpAddr>,
    /// When the last [`Action::OwnerConflict`] was pushed.
    owner_conflict_logged_at: Option<Time>,
    /// When the last [`Action::IntervalMismatch`] was pushed.
    interval_mismatch_logged_at: Option<Time>,
    /// The senders of lesser adverts answered recently, and when (see the module doc).
    lesser_replies: [Option<(IpAddr, Time)>; LESSER_REPLY_SENDERS],
    counters: Counters,
}

/// How many different senders of lesser adverts a Master answers per Advertisement_Interval.
pub const LESSER_REPLY_SENDERS: usize = 8;

impl Router {
    /// A router in Initialize, enabled by nothing yet: deliver [`Input::Startup`] to run it.
    pub fn new(params: RouterParams) -> Result<Router, ParamsError> {
        params.validate()?;
        let mut router = Router {
            track_down: vec![false; params.track.len()],
            effective_priority: params.priority,
            master_adver_interval_cs: params.advert_interval_cs,
            params,
            state: State::Initialize,
            enabled: false,
            link_up: true,
            protodown: None,
            skew_time: Duration::ZERO,
            master_down_interval: Duration::ZERO,
            adver_at: None,
            down_at: None,
            down_cause: DownCause::Silence,
            garp_at: None,
            garp_next: 1,
            preempt_hold_until: None,
            master_address: None,
            owner_conflict_logged_at: None,
            interval_mismatch_logged_at: None,
            lesser_replies: [None; LESSER_REPLY_SENDERS],
            counters: Counters::default(),
        };
        router.recompute_intervals();
        Ok(router)
    }

    /// Feed one input at time `now`; the resulting actions are appended to `out` (which is not
    /// cleared) in the order they must be carried out.
    pub fn handle(&mut self, now: Time, input: Input, out: &mut Vec<Action>) {
        match input {
            Input::Startup => {
                if !self.enabled {
                    self.enabled = true;
                    if self.runnable() {
                        self.start(now, Reason::StartupOwner, Reason::Startup, out);
                    } else {
                        self.set_protodown(true, out);
                    }
                }
            }
            Input::Shutdown => {
                if self.enabled {
                    self.enabled = false;
                    self.stop(Reason::Shutdown, out);
                }
            }
            Input::LinkDown => {
                self.link_up = false;
                self.stop(Reason::LinkDown, out);
            }
            Input::LinkUp => {
                if !self.link_up {
                    self.link_up = true;
                    if self.runnable() {
                        self.start(now, Reason::LinkUpOwner, Reason::LinkUp, out);
                    }
                }
            }
            Input::Advert {
                src,
                priority,
                max_advert_interval_cs,
            } => self.on_advert(now, src, priority, max_advert_interval_cs, out),
            Input::TrackChanged { index, up } => self.on_track(now, index, up, out),
            Input::Timer => self.on_timer(now, out),
            Input::Resume => {
                // Only right after Startup: nothing heard, the Startup timer still running.
                if self.state == State::Backup
                    && self.down_cause == DownCause::Silence
                    && self.master_address.is_none()
                    && let Some(at) = self.down_at
                {
                    let after = self.master_adver_interval() + self.skew_time;
                    if now + after < at {
                        self.arm_master_down(now, after, DownCause::Resume);
                    }
                }
            }
        }
    }

    /// The earliest armed timer, if any: deliver [`Input::Timer`] at that time.
    pub fn next_deadline(&self) -> Option<Time> {
        [self.adver_at, self.down_at, self.garp_at]
            .into_iter()
            .flatten()
            .min()
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn params(&self) -> &RouterParams {
        &self.params
    }

    /// Configured priority.
    pub fn priority(&self) -> u8 {
        self.params.priority
    }

    /// Priority after tracking: what is advertised and compared.
    pub fn effective_priority(&self) -> u8 {
        self.effective_priority
    }

    /// Whether the runtime should accept traffic to the VIPs while Master: Accept_Mode, and
    /// always for the address owner (the addresses are its own).
    pub fn accept_mode(&self) -> bool {
        self.params.accept_mode || self.params.priority == OWNER_PRIORITY
    }

    /// Whether a lower-priority master is preempted (always for the owner).
    pub fn preempts(&self) -> bool {
        self.params.preempt || self.effective_priority == OWNER_PRIORITY
    }

    /// Master_Adver_Interval in centiseconds: the current master's interval (learned in
    /// VRRPv3 Backup; our own otherwise).
    pub fn master_adver_interval_cs(&self) -> u16 {
        self.master_adver_interval_cs
    }

    pub fn master_adver_interval(&self) -> Duration {
        Duration::from_nanos(u64::from(self.master_adver_interval_cs) * NANOS_PER_CS)
    }

    pub fn skew_time(&self) -> Duration {
        self.skew_time
    }

    pub fn master_down_interval(&self) -> Duration {
        self.master_down_interval
    }

    /// The current master's primary address: ours when Master, the last accepted advert's
    /// source when Backup, None in Initialize or before the first advert.
    pub fn master_address(&self) -> Option<IpAddr> {
        self.master_address
    }

    /// Last protodown value emitted (None before the first).
    pub fn protodown(&self) -> Option<bool> {
        self.protodown
    }

    /// Startup received and no Shutdown since.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    pub fn link_up(&self) -> bool {
        self.link_up
    }

    /// Down state of each tracked interface, indexed like [`RouterParams::track`].
    pub fn tracked_down(&self) -> &[bool] {
        &self.track_down
    }

    /// End of the current preempt-delay hold, if one is active.
    pub fn preempt_hold_until(&self) -> Option<Time> {
        self.preempt_hold_until
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// For the runtime's and codec's drop counters.
    pub fn counters_mut(&mut self) -> &mut Counters {
        &mut self.counters
    }

    /// Replace the tracked entries (a reload changed the router's `track` list), with the
    /// state of each (`down[i]` for `track[i]`; missing states count as up), without
    /// restarting the router: only what the new entries change happens (a new effective
    /// priority advertised at once by a Master, a fault starting or ending).
    pub fn set_track(
        &mut self,
        now: Time,
        track: Vec<Tracked>,
        mut down: Vec<bool>,
        out: &mut Vec<Action>,
    ) {
        let was_faulted = self.faulted();
        down.resize(track.len(), false);
        self.params.track = track;
        self.track_down = down;
        self.track_settled(now, was_faulted, out);
    }

    /// Our primary address changed (e.g. a new IPv4 primary on the parent). It is only used
    /// for the tie-break, so nothing else changes.
    pub fn set_primary_address(&mut self, address: IpAddr) -> Result<(), ParamsError> {
        let old = self.params.primary_address;
        self.params.primary_address = address;
        if let Err(e) = self.params.validate() {
            self.params.primary_address = old;
            return Err(e);
        }
        if self.state == State::Master {
            self.master_address = Some(address);
        }
        Ok(())
    }

    /// Apply new parameters to the running state machine (a live reconfiguration; see
    /// "Reconfiguration" in the module documentation). `track_down` is the current state of
    /// each entry of `params.track` (missing entries count as up). `announce`: the advert's
    /// contents changed outside the parameters (the runtime's VIP list), so a Master sends
    /// one at once. Version, family and VRID cannot change: [`ParamsError::Identity`], and
    /// nothing is changed on any error.
    pub fn reconfigure(
        &mut self,
        now: Time,
        params: RouterParams,
        track_down: &[bool],
        announce: bool,
        out: &mut Vec<Action>,
    ) -> Result<(), ParamsError> {
        params.validate()?;
        if (params.version, params.family, params.vrid)
            != (self.params.version, self.params.family, self.params.vrid)
        {
            return Err(ParamsError::Identity);
        }
        let was_faulted = self.faulted();
        let old = std::mem::replace(&mut self.params, params);
        self.track_down = (0..self.params.track.len())
            .map(|i| track_down.get(i).copied().unwrap_or(false))
            .collect();
        if self.state == State::Master {
            self.master_address = Some(self.params.primary_address);
        }
        let interval_changed = old.advert_interval_cs != self.params.advert_interval_cs;
        // A VRRPv3 Backup follows the master's interval (learned from its adverts), not ours.
        if interval_changed && (self.state != State::Backup || self.params.version == Version::V2) {
            self.master_adver_interval_cs = self.params.advert_interval_cs;
        }
        if !self.params.preempt || self.params.preempt_delay != old.preempt_delay {
            // A hold measured against the old setting no longer means anything; a new one
            // starts with the next lesser advert.
            self.preempt_hold_until = None;
        }
        if self.garp_next > self.params.garp_bursts {
            self.garp_at = None;
        }
        let old_priority = self.effective_priority;
        self.effective_priority = self.tracked_priority();
        self.recompute_intervals();
        let priority_changed = self.effective_priority != old_priority;
        // A fault that starts or ends with the new tracking list: the transition goes first
        // (a state change is the first action of a call).
        let state_before = self.state;
        self.settle_fault(now, was_faulted, out);
        if priority_changed {
            out.push(Action::EffectivePriorityChanged {
                from: old_priority,
                to: self.effective_priority,
            });
        }
        if self.state != state_before {
            return Ok(());
        }
        match self.state {
            State::Master => {
                if priority_changed || interval_changed || announce {
                    // Backups hear the new priority / interval now, not an interval later. A
                    // lowered priority is handed over by the RFC rules (a preempting backup
                    // ignores us and takes over): never by priority 0.
                    self.send_advert(self.effective_priority, out);
                    self.adver_at = Some(now + self.advert_interval());
                }
            }
            State::Backup => {
                if self.effective_priority == OWNER_PRIORITY {
                    // The address owner does not wait for the master to fall silent.
                    self.become_master(now, Reason::BecameOwner, out);
                } else if self.params.version == Version::V2 && interval_changed {
                    // A v2 master with the old interval is now discarded (7.1); count the
                    // silence from here.
                    self.arm_master_down(now, self.master_down_interval, DownCause::Silence);
                }
            }
            State::Initialize => {}
        }
        Ok(())
    }

    // ----- events -----

    /// Enabled, link up and no tracked fault: the router takes part in the election.
    fn runnable(&self) -> bool {
        self.enabled && self.link_up && !self.faulted()
    }

    /// A tracked object with [`Tracked::Fault`] is down.
    pub fn faulted(&self) -> bool {
        self.track_down
            .iter()
            .zip(&self.params.track)
            .any(|(down, t)| *down && *t == Tracked::Fault)
    }

    /// Initialize → Master (owner, with `owner_reason`) or Backup (with `reason`).
    fn start(&mut self, now: Time, owner_reason: Reason, reason: Reason, out: &mut Vec<Action>) {
        if self.state != State::Initialize {
            return;
        }
        self.set_master_adver_interval(self.params.advert_interval_cs);
        if self.effective_priority == OWNER_PRIORITY {
            self.become_master(now, owner_reason, out);
        } else {
            self.transition(State::Backup, reason, out);
            self.set_protodown(true, out);
            self.arm_master_down(now, self.master_down_interval, DownCause::Silence);
            // Startup opens a preempt hold: a router that just came up leaves a working
            // lower-priority master alone for preempt_delay.
            self.preempt_hold_until = self
                .preempt_delay_applies()
                .then(|| now + self.params.preempt_delay);
            self.master_address = None;
        }
    }

    /// Any state → Initialize. A Master leaving on Shutdown says so with priority 0; on link
    /// loss no advert can be sent.
    fn stop(&mut self, reason: Reason, out: &mut Vec<Action>) {
        let from = self.state;
        if from != State::Initialize {
            self.transition(State::Initialize, reason, out);
            // A fault, unlike a lost link, leaves the link usable for the goodbye.
            if from == State::Master && matches!(reason, Reason::Shutdown | Reason::TrackFault) {
                self.send_advert(0, out);
            }
        }
        // After the advert: protodown would stop the send.
        self.set_protodown(true, out);
        self.cancel_timers();
        self.master_address = None;
    }

    fn on_advert(
        &mut self,
        now: Time,
        src: IpAddr,
        priority: u8,
        interval_cs: u16,
        out: &mut Vec<Action>,
    ) {
        self.counters.adverts_received += 1;
        if priority == 0 {
            self.counters.priority_zero_received += 1;
        }
        if self.state == State::Initialize {
            return;
        }
        let interval_ok = match self.params.version {
            // RFC 3768 section 7.1: the interval must match ours; v2 never learns it.
            Version::V2 => interval_cs == self.params.advert_interval_cs,
            // v3 learns it, but 0 would make the master-down timer expire at once.
            Version::V3 => interval_cs != 0,
        };
        if !interval_ok {
            self.counters.interval_errors += 1;
            return;
        }
        match self.state {
            State::Initialize => {}
            State::Backup => self.backup_advert(now, src, priority, interval_cs),
            State::Master => self.master_advert(now, src, priority, interval_cs, out),
        }
        // Misconfiguration reports go last: a state change, when there is one, is always the
        // first action of a call.
        if self.params.priority == OWNER_PRIORITY {
            // Erratum 8298: the owner keeps processing (dropping would leave two owners both
            // Master forever); it only reports the misconfiguration.
            self.counters.owner_conflicts += 1;
            if report_due(&mut self.owner_conflict_logged_at, now) {
                out.push(Action::OwnerConflict { src, priority });
            }
        }
        if self.params.version == Version::V3 && interval_cs != self.params.advert_interval_cs {
            self.counters.interval_mismatches += 1;
            if report_due(&mut self.interval_mismatch_logged_at, now) {
                out.push(Action::IntervalMismatch { src, interval_cs });
            }
        }
    }

    fn backup_advert(&mut self, now: Time, src: IpAddr, priority: u8, interval_cs: u16) {
        if priority == 0 {
            // The master is leaving: take over after Skew_Time, highest priority first.
            self.preempt_hold_until = None;
            self.arm_master_down(now, self.skew_time, DownCause::PriorityZero);
            return;
        }
        if !self.preempts() || priority >= self.effective_priority {
            self.preempt_hold_until = None;
            self.accept_master(now, src, interval_cs);
            return;
        }
        // A lower-priority master and we preempt.
        if self.preempt_delay_applies() {
            let until = *self
                .preempt_hold_until
                .get_or_insert(now + self.params.preempt_delay);
            if now < until {
                // Still holding back: keep this master as if preemption were off.
                self.accept_master(now, src, interval_cs);
                return;
            }
        }
        // Ignore it and let the master-down timer run out (RFC 9568 6.4.2).
        if matches!(self.down_cause, DownCause::Silence | DownCause::Resume) {
            self.down_cause = DownCause::LowerPriority;
        }
    }

    fn master_advert(
        &mut self,
        now: Time,
        src: IpAddr,
        priority: u8,
        interval_cs: u16,
        out: &mut Vec<Action>,
    ) {
        if priority == 0 {
            // Another router is leaving: reassert ourselves at once so no backup takes over
            // after its Skew_Time. Rate-limited like the answer to a lesser advert: a leaving
            // router sends one, a flood must not be reflected.
            if self.may_answer_lesser(now, src) {
                self.send_advert(self.effective_priority, out);
                self.adver_at = Some(now + self.advert_interval());
            } else {
                self.counters.lesser_adverts_unanswered += 1;
            }
            return;
        }
        let reason = if priority > self.effective_priority {
            Reason::HigherPriorityAdvert
        } else if priority == self.effective_priority
            && addr_key(src) > addr_key(self.params.primary_address)
        {
            Reason::EqualPriorityHigherAddress
        } else {
            // RFC 9568 section 6.4.3 (new since RFC 5798): answer a lesser router at once, so
            // it learns there is an Active Router (a healed partition ends within one
            // round trip instead of up to one Advertisement_Interval) and learning bridges
            // see our vMAC again. Adver_Timer keeps its cadence: a flood of lesser adverts
            // never delays or bunches the periodic ones, and gets at most one reply per
            // sender per interval (we must not reflect it). VRRPv2 (RFC 3768) discards
            // silently. Our own address (a looped copy of our advert, or a duplicate
            // address) gets no reply: answering it would feed itself.
            if self.params.version == Version::V3 && src != self.params.primary_address {
                if self.may_answer_lesser(now, src) {
                    self.send_advert(self.effective_priority, out);
                } else {
                    self.counters.lesser_adverts_unanswered += 1;
                }
            }
            return;
        };
        self.transition(State::Backup, reason, out);
        self.set_protodown(true, out);
        self.adver_at = None;
        self.garp_at = None;
        self.accept_master(now, src, interval_cs);
    }

    fn on_track(&mut self, now: Time, index: usize, up: bool, out: &mut Vec<Action>) {
        let down = !up;
        if self.track_down.get(index).is_none_or(|d| *d == down) {
            return;
        }
        let was_faulted = self.faulted();
        self.track_down[index] = down;
        self.track_settled(now, was_faulted, out);
    }

    /// The tracked entries and their states changed: recompute the effective priority and
    /// carry out what that and a fault starting or ending mean.
    fn track_settled(&mut self, now: Time, was_faulted: bool, out: &mut Vec<Action>) {
        let old = self.effective_priority;
        self.effective_priority = self.tracked_priority();
        let changed = self.effective_priority != old;
        if changed {
            self.recompute_intervals();
        }
        // A state change is the first action of a call, so the fault transitions go before
        // the priority report; a start already uses the new priority.
        let state_before = self.state;
        self.settle_fault(now, was_faulted, out);
        if !changed {
            return;
        }
        out.push(Action::EffectivePriorityChanged {
            from: old,
            to: self.effective_priority,
        });
        if self.state == State::Master && state_before == State::Master {
            // Tell the backups now rather than an interval later.
            self.send_advert(self.effective_priority, out);
            self.adver_at = Some(now + self.advert_interval());
        }
    }

    /// A fault that started (to Initialize) or ended (start again) with the last change of
    /// the tracked entries or their states.
    fn settle_fault(&mut self, now: Time, was_faulted: bool, out: &mut Vec<Action>) {
        match (was_faulted, self.faulted()) {
            (false, true) => self.stop(Reason::TrackFault, out),
            (true, false) if self.runnable() => {
                self.start(now, Reason::TrackRecovered, Reason::TrackRecovered, out)
            }
            _ => {}
        }
    }

    /// The configured priority less the decrements of the tracked objects that are down.
    fn tracked_priority(&self) -> u8 {
        let penalty: u32 = self
            .track_down
            .iter()
            .zip(&self.params.track)
            .filter(|(down, _)| **down)
            .map(|(_, t)| match t {
                Tracked::Decrement(d) => u32::from(*d),
                Tracked::Fault => 0,
            })
            .sum();
        if penalty == 0 {
            self.params.priority
        } else {
            // Never 0 (that means "leaving") and never 255 (a demoted owner is not the owner).
            let lowered = u32::from(self.params.priority).saturating_sub(penalty);
            u8::try_from(lowered.clamp(1, 254)).unwrap_or(1)
        }
    }

    fn on_timer(&mut self, now: Time, out: &mut Vec<Action>) {
        match self.state {
            State::Initialize => {}
            State::Backup => {
                if let Some(at) = self.down_at
                    && now >= at
                {
                    let reason = match self.down_cause {
                        DownCause::Silence => Reason::MasterDownTimer,
                        DownCause::LowerPriority => Reason::Preempt,
                        DownCause::PriorityZero => Reason::PriorityZeroReceived,
                        DownCause::Resume => Reason::Resume,
                    };
                    self.become_master(now, reason, out);
                }
            }
            State::Master => {
                if let Some(at) = self.adver_at
                    && now >= at
                {
                    self.send_advert(self.effective_priority, out);
                    self.adver_at = Some(next_after(at, self.advert_interval(), now));
                }
                if let Some(at) = self.garp_at
                    && now >= at
                {
                    self.send_gratuitous(out);
                    self.garp_at = (self.garp_next <= self.params.garp_bursts)
                        .then(|| next_after(at, self.params.garp_burst_interval, now));
                }
            }
        }
    }

    // ----- building blocks -----

    fn become_master(&mut self, now: Time, reason: Reason, out: &mut Vec<Action>) {
        self.transition(State::Master, reason, out);
        // Protodown first: the advert and the gratuitous packets leave through the macvlan.
        self.set_protodown(false, out);
        self.down_at = None;
        self.preempt_hold_until = None;
        self.set_master_adver_interval(self.params.advert_interval_cs);
        self.master_address = Some(self.params.primary_address);
        self.send_advert(self.effective_priority, out);
        self.adver_at = Some(now + self.advert_interval());
        self.garp_next = 1;
        self.garp_at = None;
        if self.params.garp_bursts >= 1 {
            self.send_gratuitous(out);
            if self.garp_next <= self.params.garp_bursts {
                self.garp_at = Some(now + self.params.garp_burst_interval);
            }
        }
    }

    /// Backup accepts `src` as master: RFC 9568 6.4.2's "else" branch.
    fn accept_master(&mut self, now: Time, src: IpAddr, interval_cs: u16) {
        if self.params.version == Version::V3 {
            self.set_master_adver_interval(interval_cs);
        }
        self.master_address = Some(src);
        self.arm_master_down(now, self.master_down_interval, DownCause::Silence);
    }

    fn arm_master_down(&mut self, now: Time, after: Duration, cause: DownCause) {
        self.down_at = Some(now + after);
        self.down_cause = cause;
    }

    fn transition(&mut self, to: State, reason: Reason, out: &mut Vec<Action>) {
        let from = self.state;
        self.state = to;
        self.counters.transitions += 1;
        match to {
            State::Master => self.counters.became_master += 1,
            State::Backup => self.counters.became_backup += 1,
            State::Initialize => {}
        }
        if from == State::Master {
            self.counters.released_master += 1;
        }
        out.push(Action::StateChanged { from, to, reason });
    }

    fn set_protodown(&mut self, on: bool, out: &mut Vec<Action>) {
        if self.protodown != Some(on) {
            self.protodown = Some(on);
            out.push(Action::SetProtodown(on));
        }
    }

    fn send_advert(&mut self, priority: u8, out: &mut Vec<Action>) {
        self.counters.adverts_sent += 1;
        if priority == 0 {
            self.counters.priority_zero_sent += 1;
        }
        out.push(Action::SendAdvert {
            priority,
            interval_cs: self.params.advert_interval_cs,
        });
    }

    fn send_gratuitous(&mut self, out: &mut Vec<Action>) {
        self.counters.gratuitous_bursts_sent += 1;
        out.push(Action::SendGratuitous {
            burst: self.garp_next,
            of: self.params.garp_bursts,
        });
        self.garp_next += 1;
    }

    fn cancel_timers(&mut self) {
        self.adver_at = None;
        self.down_at = None;
        self.garp_at = None;
        self.preempt_hold_until = None;
    }

    fn preempt_delay_applies(&self) -> bool {
        !self.params.preempt_delay.is_zero() && self.effective_priority != OWNER_PRIORITY
    }

    /// Whether a lesser advert from `src` may be answered now (see the module doc), noting
    /// the reply if so. Allocation-free: a fixed table of recent senders.
    fn may_answer_lesser(&mut self, now: Time, src: IpAddr) -> bool {
        let interval = self.advert_interval();
        let expired = |at: Time| at + interval <= now;
        if let Some(entry) = self
            .lesser_replies
            .iter_mut()
            .flatten()
            .find(|(addr, _)| *addr == src)
        {
            if !expired(entry.1) {
                return false;
            }
            entry.1 = now;
            return true;
        }
        match self
            .lesser_replies
            .iter_mut()
            .find(|e| e.is_none_or(|(_, at)| expired(at)))
        {
            Some(free) => {
                *free = Some((src, now));
                true
            }
            None => false,
        }
    }

    fn advert_interval(&self) -> Duration {
        Duration::from_nanos(u64::from(self.params.advert_interval_cs) * NANOS_PER_CS)
    }

    fn set_master_adver_interval(&mut self, cs: u16) {
        if self.master_adver_interval_cs != cs {
            self.master_adver_interval_cs = cs;
            self.recompute_intervals();
        }
    }

    /// Skew_Time and Master_Down_Interval from the effective priority and
    /// Master_Adver_Interval.
    fn recompute_intervals(&mut self) {
        (self.skew_time, self.master_down_interval) = skew_and_master_down(
            self.params.version,
            self.effective_priority,
            self.master_adver_interval_cs,
        );
    }
}

/// (Skew_Time, Master_Down_Interval) of a router of `priority` whose Master advertises every
/// `master_adver_interval_cs`, in nanoseconds (see the module documentation).
pub fn skew_and_master_down(
    version: Version,
    priority: u8,
    master_adver_interval_cs: u16,
) -> (Duration, Duration) {
    let weight = 256 - u64::from(priority);
    let mai_ns = u64::from(master_adver_interval_cs) * NANOS_PER_CS;
    let skew_ns = match version {
        Version::V3 => weight * mai_ns / 256,
        Version::V2 => weight * NANOS_PER_SEC / 256,
    };
    (
        Duration::from_nanos(skew_ns),
        Duration::from_nanos(3 * mai_ns + skew_ns),
    )
}

/// The next deadline of a periodic timer that was due at `due`: one `period` later, or one
/// `period` after `now` if the loop woke up so late that this is already past.
fn next_after(due: Time, period: Duration, now: Time) -> Time {
    let next = due + period;
    if next > now { next } else { now + period }
}

/// An address as the unsigned number RFC 9568 compares (network byte order).
fn addr_key(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(a.to_bits()),
        IpAddr::V6(a) => a.to_bits(),
    }
}

#[cfg(test)]
#[path = "router_negative_tests.rs"]
mod negative_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn ms(n: u64) -> Time {
        Time::from_nanos(n * 1_000_000)
    }

    fn us(n: u64) -> Time {
        Time::from_nanos(n * 1_000)
    }

    fn v4(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    fn v6(last: u16) -> IpAddr {
        IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, last))
    }

    fn params(priority: u8) -> RouterParams {
        RouterParams {
            version: Version::V3,
            family: Family::Ipv4,
            vrid: 5,
            priority,
            advert_interval_cs: 100,
            preempt: true,
            preempt_delay: Duration::ZERO,
            accept_mode: false,
            primary_address: v4(10),
            garp_bursts: 2,
            garp_burst_interval: Duration::from_secs(2),
            track: vec![],
        }
    }

    /// A router and a reusable action buffer, like the runtime would hold.
    struct Rig {
        r: Router,
        out: Vec<Action>,
    }

    impl Rig {
        fn new(p: RouterParams) -> Rig {
            Rig {
                r: Router::new(p).unwrap(),
                out: Vec::new(),
            }
        }
        fn feed(&mut self, now: Time, input: Input) -> Vec<Action> {
            self.out.clear();
            self.r.handle(now, input, &mut self.out);
            self.out.clone()
        }
        fn advert(&mut self, now: Time, src: IpAddr, priority: u8, cs: u16) -> Vec<Action> {
            self.feed(
                now,
                Input::Advert {
                    src,
                    priority,
                    max_advert_interval_cs: cs,
                },
            )
        }
        fn timer(&mut self, now: Time) -> Vec<Action> {
            self.feed(now, Input::Timer)
        }
        fn deadline(&self) -> Option<Time> {
            self.r.next_deadline()
        }
    }

    /// Started at t=0 as Backup.
    fn backup(p: RouterParams) -> Rig {
        let mut rig = Rig::new(p);
        rig.feed(Time::ZERO, Input::Startup);
        assert_eq!(rig.r.state(), State::Backup);
        rig
    }

    /// Started at t=0 with no master on the link: Master at its Master_Down_Interval.
    fn master(p: RouterParams) -> (Rig, Time) {
        let mut rig = backup(p);
        let at = rig.deadline().unwrap();
        rig.timer(at);
        assert_eq!(rig.r.state(), State::Master);
        (rig, at)
    }

    fn changed(from: State, to: State, reason: Reason) -> Action {
        Action::StateChanged { from, to, reason }
    }

    fn advert(priority: u8) -> Action {
        Action::SendAdvert {
            priority,
            interval_cs: 100,
        }
    }

    // ledger: R9568-6.1-a R9568-6.1-b
    #[test]
    fn exact_intervals_v3() {
        let r = Router::new(params(100)).unwrap();
        assert_eq!(r.master_adver_interval(), Duration::from_secs(1));
        assert_eq!(r.skew_time(), Duration::from_micros(609_375));
        assert_eq!(r.master_down_interval(), Duration::from_micros(3_609_375));
        // 218.75 ms, not rounded to a centisecond.
        let r = Router::new(params(200)).unwrap();
        assert_eq!(r.skew_time(), Duration::from_micros(218_750));
        assert_eq!(r.master_down_interval(), Duration::from_micros(3_218_750));
        // Skew scales with the interval in v3: 100 ms adverts, priority 254.
        let mut p = params(254);
        p.advert_interval_cs = 10;
        let r = Router::new(p).unwrap();
        assert_eq!(r.skew_time(), Duration::from_nanos(781_250));
        assert_eq!(r.master_down_interval(), Duration::from_nanos(300_781_250));
        // The only truncation: 1 cs at priority 255 is 39062.5 ns.
        let mut p = params(255);
        p.advert_interval_cs = 1;
        let r = Router::new(p).unwrap();
        assert_eq!(r.skew_time(), Duration::from_nanos(39_062));
    }

    // ledger: R3768-6.1-a
    #[test]
    fn exact_intervals_v2_in_seconds() {
        let mut p = params(100);
        p.version = Version::V2;
        p.advert_interval_cs = 300;
        let r = Router::new(p).unwrap();
        // Skew does not scale with the interval in v2: 156/256 s.
        assert_eq!(r.skew_time(), Duration::from_micros(609_375));
        assert_eq!(r.master_down_interval(), Duration::from_micros(9_609_375));
        assert_eq!(r.master_adver_interval_cs(), 300);
    }

    #[test]
    fn params_validation() {
        let mut p = params(0);
        assert_eq!(Router::new(p.clone()).unwrap_err(), ParamsError::Priority);
        p.priority = 100;
        p.vrid = 0;
        assert_eq!(Router::new(p.clone()).unwrap_err(), ParamsError::Vrid);
        p.vrid = 5;
        p.advert_interval_cs = 4096;
        assert_eq!(
            Router::new(p.clone()).unwrap_err(),
            ParamsError::Interval(4096)
        );
        p.advert_interval_cs = 0;
        assert_eq!(
            Router::new(p.clone()).unwrap_err(),
            ParamsError::Interval(0)
        );
        p.version = Version::V2;
        p.advert_interval_cs = 150;
        assert_eq!(
            Router::new(p.clone()).unwrap_err(),
            ParamsError::V2Interval(150)
        );
        p.advert_interval_cs = 100;
        p.family = Family::Ipv6;
        p.primary_address = v6(1);
        assert_eq!(Router::new(p.clone()).unwrap_err(), ParamsError::V2Ipv6);
        p.version = Version::V3;
        p.primary_address = v4(1);
        assert!(matches!(
            Router::new(p).unwrap_err(),
            ParamsError::AddressFamily { .. }
        ));
    }

    #[test]
    fn created_idle_in_initialize() {
        let rig = Rig::new(params(100));
        assert_eq!(rig.r.state(), State::Initialize);
        assert_eq!(rig.deadline(), None);
        assert_eq!(rig.r.protodown(), None);
    }

    // ledger: R9568-5.2.4-a R9568-6.4.1-a R9568-6.4.3-c R9568-8.1.2-c
    #[test]
    fn initialize_to_master_for_owner() {
        let mut rig = Rig::new(params(255));
        let acts = rig.feed(ms(5), Input::Startup);
        assert_eq!(
            acts,
            vec![
                changed(State::Initialize, State::Master, Reason::StartupOwner),
                Action::SetProtodown(false),
                Action::SendAdvert {
                    priority: 255,
                    interval_cs: 100
                },
                Action::SendGratuitous { burst: 1, of: 2 },
            ]
        );
        // Advert timer one interval later.
        assert_eq!(rig.deadline(), Some(ms(1005)));
        assert!(rig.r.accept_mode(), "the owner always accepts");
        assert_eq!(rig.r.master_address(), Some(v4(10)));
        let c = rig.r.counters();
        assert_eq!((c.became_master, c.adverts_sent, c.transitions), (1, 1, 1));
        assert_eq!(c.gratuitous_bursts_sent, 1);
    }

    // ledger: R9568-7.1-f R9568-8.3.2-b
    #[test]
    fn owner_processes_foreign_adverts_and_reports_them_rate_limited() {
        let mut rig = Rig::new(params(255));
        rig.feed(ms(0), Input::Startup);
        // A lower-priority advert: the owner stays Master and reports the conflict once.
        // (Each lesser advert is also answered at once, RFC 9568 section 6.4.3.)
        let conflict = Action::OwnerConflict {
            src: v4(20),
            priority: 100,
        };
        let acts = rig.advert(ms(100), v4(20), 100, 100);
        assert_eq!(acts, vec![advert(255), conflict]);
        assert_eq!(rig.r.state(), State::Master);
        assert_eq!(rig.advert(ms(1100), v4(20), 100, 100), vec![advert(255)]);
        assert_eq!(rig.advert(ms(60_099), v4(20), 100, 100), vec![advert(255)]);
        // 1 ms after the last reply to this sender: reported, not answered again.
        assert_eq!(rig.advert(ms(60_100), v4(20), 100, 100), vec![conflict]);
        assert_eq!(rig.r.counters().owner_conflicts, 4);
        // Processing goes on (erratum 8298): a second owner with a higher address wins the
        // tie, so two owners never stay Master together.
        let acts = rig.advert(ms(60_200), v4(20), 255, 100);
        assert_eq!(
            acts[0],
            changed(
                State::Master,
                State::Backup,
                Reason::EqualPriorityHigherAddress
            )
        );
    }

    // ledger: R9568-6.4.1-c
    #[test]
    fn initialize_to_backup() {
        let mut rig = Rig::new(params(100));
        let acts = rig.feed(ms(5), Input::Startup);
        assert_eq!(
            acts,
            vec![
                changed(State::Initialize, State::Backup, Reason::Startup),
                Action::SetProtodown(true),
            ]
        );
        assert_eq!(
            rig.deadline(),
            Some(ms(5) + Duration::from_micros(3_609_375))
        );
        assert!(!rig.r.accept_mode());
        // A second Startup changes nothing.
        assert!(rig.feed(ms(6), Input::Startup).is_empty());
        assert_eq!(rig.r.counters().became_backup, 1);
    }

    // ledger: R9568-6.4.2-f
    #[test]
    fn backup_to_master_on_master_down_timer() {
        let mut rig = backup(params(100));
        let at = us(3_609_375);
        assert_eq!(rig.deadline(), Some(at));
        // Early timers do nothing.
        assert!(rig.timer(at - Duration::from_nanos(1)).is_empty());
        assert_eq!(rig.r.state(), State::Backup);
        let acts = rig.timer(at);
        assert_eq!(
            acts,
            vec![
                changed(State::Backup, State::Master, Reason::MasterDownTimer),
                Action::SetProtodown(false),
                advert(100),
                Action::SendGratuitous { burst: 1, of: 2 },
            ]
        );
        // Advert timer at +1 s; second gratuitous burst at +2 s.
        assert_eq!(rig.deadline(), Some(at + Duration::from_secs(1)));
    }

    // ledger: R9568-6.4.3-f
    #[test]
    fn master_advert_timer_and_garp_bursts() {
        let (mut rig, t0) = master(params(100));
        let s = Duration::from_secs(1);
        assert_eq!(rig.timer(t0 + s), vec![advert(100)]);
        assert_eq!(rig.deadline(), Some(t0 + 2 * s));
        // Advert and the second burst are due together: advert first.
        assert_eq!(
            rig.timer(t0 + 2 * s),
            vec![advert(100), Action::SendGratuitous { burst: 2, of: 2 }]
        );
        // No more bursts.
        assert_eq!(rig.deadline(), Some(t0 + 3 * s));
        // A late wake-up keeps the phase: 200 ms late, next still at t0+4s.
        assert_eq!(
            rig.timer(t0 + 3 * s + Duration::from_millis(200)),
            vec![advert(100)]
        );
        assert_eq!(rig.deadline(), Some(t0 + 4 * s));
        // Very late (more than an interval): one advert, next one interval after now.
        let late = t0 + 6 * s + Duration::from_millis(500);
        assert_eq!(rig.timer(late), vec![advert(100)]);
        assert_eq!(rig.deadline(), Some(late + s));
        let c = rig.r.counters();
        assert_eq!((c.adverts_sent, c.gratuitous_bursts_sent), (5, 2));
    }

    #[test]
    fn garp_three_bursts_and_none() {
        let mut p = params(100);
        p.garp_bursts = 3;
        p.garp_burst_interval = Duration::from_millis(300);
        let (mut rig, t0) = master(p);
        assert_eq!(rig.deadline(), Some(t0 + Duration::from_millis(300)));
        assert_eq!(
            rig.timer(t0 + Duration::from_millis(300)),
            vec![Action::SendGratuitous { burst: 2, of: 3 }]
        );
        assert_eq!(rig.deadline(), Some(t0 + Duration::from_millis(600)));
        assert_eq!(
            rig.timer(t0 + Duration::from_millis(600)),
            vec![Action::SendGratuitous { burst: 3, of: 3 }]
        );
        assert_eq!(rig.deadline(), Some(t0 + Duration::from_secs(1)));

        let mut p = params(100);
        p.garp_bursts = 0;
        let (rig, t0) = master(p);
        assert_eq!(rig.r.counters().gratuitous_bursts_sent, 0);
        assert_eq!(rig.deadline(), Some(t0 + Duration::from_secs(1)));
    }

    #[test]
    fn leaving_master_cancels_pending_bursts() {
        let (mut rig, t0) = master(params(100));
        let t = t0 + Duration::from_millis(100);
        rig.advert(t, v4(20), 200, 100);
        assert_eq!(rig.r.state(), State::Backup);
        // Only the master-down timer remains.
        assert_eq!(rig.deadline(), Some(t + Duration::from_micros(3_609_375)));
    }

    // ledger: R9568-6.4.2-g
    #[test]
    fn resume_shortens_the_startup_timer_only() {
        // Right after Startup: Master_Adver_Interval + Skew_Time, named on expiry.
        let mut rig = backup(params(100));
        assert!(rig.feed(Time::ZERO, Input::Resume).is_empty());
        let at = rig.deadline().unwrap();
        assert_eq!(at, Time::ZERO + Duration::from_micros(1_609_375));
        assert_eq!(
            rig.timer(at)[0],
            changed(State::Backup, State::Master, Reason::Resume)
        );
        // A master heard before the hint: the hint changes nothing.
        let mut rig = backup(params(100));
        rig.advert(ms(100), v4(20), 200, 100);
        let before = rig.deadline();
        rig.feed(ms(200), Input::Resume);
        assert_eq!(rig.deadline(), before);
        // An advert after the hint re-arms the full Master_Down_Interval as usual.
        let mut rig = backup(params(100));
        rig.feed(Time::ZERO, Input::Resume);
        rig.advert(ms(500), v4(20), 200, 100);
        assert_eq!(
            rig.deadline(),
            Some(ms(500) + Duration::from_micros(3_609_375))
        );
        // A lower-priority master ignored after the hint: the short timer runs out as a
        // preemption.
        let mut rig = backup(params(100));
        rig.feed(Time::ZERO, Input::Resume);
        rig.advert(ms(500), v4(20), 50, 100);
        let at = rig.deadline().unwrap();
        assert_eq!(at, Time::ZERO + Duration::from_micros(1_609_375));
        assert_eq!(
            rig.timer(at)[0],
            changed(State::Backup, State::Master, Reason::Preempt)
        );
        // Not in Backup (Initialize, link down): ignored.
        let mut rig = Rig::new(params(100));
        assert!(rig.feed(Time::ZERO, Input::Resume).is_empty());
        assert_eq!(rig.deadline(), None);
    }

    #[test]
    fn backup_priority_zero_arms_skew() {
        let mut rig = backup(params(100));
        rig.advert(ms(500), v4(20), 200, 100);
        let acts = rig.advert(ms(1200), v4(20), 0, 100);
        assert!(acts.is_empty());
        assert_eq!(
            rig.deadline(),
            Some(ms(1200) + Duration::from_micros(609_375))
        );
        let at = rig.deadline().unwrap();
        assert_eq!(
            rig.timer(at)[0],
            changed(State::Backup, State::Master, Reason::PriorityZeroReceived)
        );
        assert_eq!(rig.r.counters().priority_zero_received, 1);
    }

    // ledger: R9568-6.4.2-h
    #[test]
    fn backup_resets_timer_on_higher_or_equal_priority() {
        let mut rig = backup(params(100));
        for (i, prio) in [200u8, 100, 150].into_iter().enumerate() {
            let t = ms(800 * (i as u64 + 1));
            assert!(rig.advert(t, v4(20), prio, 100).is_empty());
            assert_eq!(rig.deadline(), Some(t + Duration::from_micros(3_609_375)));
            assert_eq!(rig.r.master_address(), Some(v4(20)));
        }
        assert_eq!(rig.r.counters().adverts_received, 3);
    }

    // ledger: R9568-7.1-j
    #[test]
    fn backup_learns_master_adver_interval_v3() {
        let mut rig = backup(params(100));
        // The master advertises every 50 cs: MDI = 1.5 s + 156*50/256 cs = 1.5 s + 304.6875 ms.
        rig.advert(ms(300), v4(20), 200, 50);
        assert_eq!(rig.r.master_adver_interval_cs(), 50);
        assert_eq!(rig.r.skew_time(), Duration::from_nanos(304_687_500));
        assert_eq!(
            rig.r.master_down_interval(),
            Duration::from_nanos(1_804_687_500)
        );
        assert_eq!(
            rig.deadline(),
            Some(ms(300) + Duration::from_nanos(1_804_687_500))
        );
        // Becoming Master goes back to our own interval (we are the master now).
        let at = rig.deadline().unwrap();
        rig.timer(at);
        assert_eq!(rig.r.master_adver_interval_cs(), 100);
        assert_eq!(rig.deadline(), Some(at + Duration::from_secs(1)));
    }

    // ledger: R3768-6.4.2-a R3768-7.1-g
    #[test]
    fn v2_backup_does_not_learn_and_rejects_other_intervals() {
        let mut p = params(100);
        p.version = Version::V2;
        let mut rig = backup(p);
        assert_eq!(rig.deadline(), Some(us(3_609_375)));
        // Interval 2 s against our 1 s: discarded, counted, timer untouched.
        assert!(rig.advert(ms(1000), v4(20), 200, 200).is_empty());
        assert_eq!(rig.r.counters().interval_errors, 1);
        assert_eq!(rig.deadline(), Some(us(3_609_375)));
        // Matching interval: accepted.
        rig.advert(ms(2000), v4(20), 200, 100);
        assert_eq!(
            rig.deadline(),
            Some(ms(2000) + Duration::from_micros(3_609_375))
        );
        assert_eq!(rig.r.master_adver_interval_cs(), 100);
        assert_eq!(rig.r.counters().adverts_received, 2);
    }

    #[test]
    fn v2_timing_in_seconds() {
        let mut p = params(200);
        p.version = Version::V2;
        p.advert_interval_cs = 200;
        let mut rig = backup(p);
        // 3 * 2 s + 56/256 s.
        assert_eq!(rig.deadline(), Some(us(6_218_750)));
        let acts = rig.timer(us(6_218_750));
        assert_eq!(
            acts[2],
            Action::SendAdvert {
                priority: 200,
                interval_cs: 200
            }
        );
        assert_eq!(rig.deadline(), Some(us(8_218_750)));
    }

    // ledger: R9568-7.1-j (erratum 8301)
    #[test]
    fn v3_zero_interval_is_discarded() {
        let mut rig = backup(params(100));
        rig.advert(ms(100), v4(20), 200, 0);
        assert_eq!(rig.r.counters().interval_errors, 1);
        assert_eq!(rig.deadline(), Some(us(3_609_375)));
    }

    #[test]
    fn preempt_on_ignores_lower_priority_master() {
        let mut rig = backup(params(100));
        // A working master at 200 for a while.
        rig.advert(ms(1000), v4(20), 200, 100);
        // Then a master at 50 (e.g. another router took over): ignored.
        for t in [2000, 3000, 4000] {
            assert!(rig.advert(ms(t), v4(30), 50, 100).is_empty());
            assert_eq!(
                rig.deadline(),
                Some(ms(1000) + Duration::from_micros(3_609_375))
            );
        }
        let at = rig.deadline().unwrap();
        assert_eq!(
            rig.timer(at)[0],
            changed(State::Backup, State::Master, Reason::Preempt)
        );
    }

    // ledger: R9568-6.4.2-i
    #[test]
    fn preempt_off_keeps_lower_priority_master() {
        let mut p = params(100);
        p.preempt = false;
        let mut rig = backup(p);
        for t in [1000, 2000, 3000, 4000] {
            rig.advert(ms(t), v4(30), 50, 100);
            assert_eq!(
                rig.deadline(),
                Some(ms(t) + Duration::from_micros(3_609_375))
            );
        }
        assert!(rig.timer(ms(4500)).is_empty());
        assert_eq!(rig.r.state(), State::Backup);
        assert_eq!(rig.r.master_address(), Some(v4(30)));
    }

    // ledger: R9568-6.1-e
    #[test]
    fn owner_preempts_even_with_preempt_off() {
        let mut p = params(255);
        p.preempt = false;
        p.track = vec![Tracked::Decrement(10)];
        let mut rig = Rig::new(p);
        // Demoted before startup: starts as a Backup at 245.
        rig.feed(
            Time::ZERO,
            Input::TrackChanged {
                index: 0,
                up: false,
            },
        );
        rig.feed(Time::ZERO, Input::Startup);
        assert_eq!(rig.r.state(), State::Backup);
        rig.advert(ms(1000), v4(20), 250, 100);
        let armed = ms(1000) + rig.r.master_down_interval();
        assert_eq!(rig.deadline(), Some(armed));
        // Track back up: owner again, and an owner always preempts.
        rig.feed(ms(1500), Input::TrackChanged { index: 0, up: true });
        assert_eq!(rig.r.effective_priority(), 255);
        assert!(rig.r.preempts());
        rig.advert(ms(2000), v4(20), 250, 100);
        assert_eq!(rig.deadline(), Some(armed), "lower-priority advert ignored");
        assert_eq!(
            rig.timer(armed)[0],
            changed(State::Backup, State::Master, Reason::Preempt)
        );
    }

    #[test]
    fn preempt_delay_holds_then_preempts() {
        let mut p = params(100);
        p.preempt_delay = Duration::from_secs(5);
        let mut rig = Rig::new(p);
        rig.feed(Time::ZERO, Input::Startup);
        assert_eq!(rig.r.preempt_hold_until(), Some(ms(5000)));
        // A lower-priority master advertises every second from t=0.5 s.
        let mdi = Duration::from_micros(3_609_375);
        for t in [500, 1500, 2500, 3500, 4500] {
            rig.advert(ms(t), v4(30), 50, 100);
            // Held back: the master is kept like with preempt off.
            assert_eq!(rig.deadline(), Some(ms(t) + mdi));
        }
        // From 5 s on the adverts are ignored: take over one MDI after 4.5 s.
        for t in [5500, 6500, 7500] {
            rig.advert(ms(t), v4(30), 50, 100);
            assert_eq!(rig.deadline(), Some(ms(4500) + mdi));
        }
        let at = ms(4500) + mdi;
        assert_eq!(
            rig.timer(at)[0],
            changed(State::Backup, State::Master, Reason::Preempt)
        );
        assert_eq!(rig.r.preempt_hold_until(), None);
    }

    #[test]
    fn preempt_delay_hold_starts_at_first_lower_advert() {
        let mut p = params(100);
        p.preempt_delay = Duration::from_secs(10);
        let mut rig = backup(p);
        let mdi = Duration::from_micros(3_609_375);
        // A higher master clears the startup hold.
        for t in (1000..20_000).step_by(1000) {
            rig.advert(ms(t), v4(20), 200, 100);
            assert_eq!(rig.r.preempt_hold_until(), None);
        }
        // It lowers its priority at 20 s (its tracked link went down): hold until 30 s.
        rig.advert(ms(20_000), v4(20), 80, 100);
        assert_eq!(rig.r.preempt_hold_until(), Some(ms(30_000)));
        let mut t = 20_000;
        while t < 30_000 {
            rig.advert(ms(t), v4(20), 80, 100);
            assert_eq!(rig.deadline(), Some(ms(t) + mdi));
            t += 1000;
        }
        // 30 s: hold over, ignored.
        rig.advert(ms(30_000), v4(20), 80, 100);
        assert_eq!(rig.deadline(), Some(ms(29_000) + mdi));
        // Its priority comes back before our timer runs out: hold cleared, kept as master.
        rig.advert(ms(31_000), v4(20), 200, 100);
        assert_eq!(rig.r.preempt_hold_until(), None);
        assert_eq!(rig.deadline(), Some(ms(31_000) + mdi));
        assert_eq!(rig.r.state(), State::Backup);
    }

    #[test]
    fn preempt_delay_never_delays_a_dead_master() {
        let mut p = params(100);
        p.preempt_delay = Duration::from_secs(30);
        let mut rig = backup(p);
        let mdi = Duration::from_micros(3_609_375);
        // A lower master during the hold, then silence: Master one MDI after its last advert.
        rig.advert(ms(1000), v4(30), 50, 100);
        assert_eq!(rig.deadline(), Some(ms(1000) + mdi));
        assert_eq!(
            rig.timer(ms(1000) + mdi)[0],
            changed(State::Backup, State::Master, Reason::MasterDownTimer)
        );
        // And no master at all at startup: plain MDI.
        let mut p = params(100);
        p.preempt_delay = Duration::from_secs(30);
        let mut rig = backup(p);
        assert_eq!(rig.deadline(), Some(Time::ZERO + mdi));
        rig.timer(Time::ZERO + mdi);
        assert_eq!(rig.r.state(), State::Master);
    }

    #[test]
    fn preempt_delay_priority_zero_is_not_delayed() {
        let mut p = params(100);
        p.preempt_delay = Duration::from_secs(30);
        let mut rig = backup(p);
        rig.advert(ms(1000), v4(30), 50, 100);
        rig.advert(ms(2000), v4(30), 0, 100);
        assert_eq!(rig.r.preempt_hold_until(), None);
        assert_eq!(
            rig.deadline(),
            Some(ms(2000) + Duration::from_micros(609_375))
        );
    }

    // ledger: R9568-6.4.3-h
    #[test]
    fn master_to_backup_on_higher_priority() {
        let (mut rig, t0) = master(params(100));
        let t = t0 + Duration::from_millis(300);
        // The new master advertises every 2 s: learned (v3), and reported as a mismatch.
        let acts = rig.advert(t, v4(5), 101, 200);
        assert_eq!(
            acts,
            vec![
                changed(State::Master, State::Backup, Reason::HigherPriorityAdvert),
                Action::SetProtodown(true),
                Action::IntervalMismatch {
                    src: v4(5),
                    interval_cs: 200
                },
            ]
        );
        assert_eq!(rig.r.master_adver_interval_cs(), 200);
        // 6 s + 156*200/256 cs = 6 s + 1.21875 s.
        assert_eq!(rig.deadline(), Some(t + Duration::from_micros(7_218_750)));
        assert_eq!(rig.r.master_address(), Some(v4(5)));
        let c = rig.r.counters();
        assert_eq!(
            (c.released_master, c.became_backup, c.transitions),
            (1, 2, 3)
        );
    }

    // ledger: R9568-7.1-m
    #[test]
    fn interval_mismatch_is_learned_and_reported_rate_limited() {
        let mut rig = Rig::new(params(100));
        rig.feed(ms(0), Input::Startup);
        let report = Action::IntervalMismatch {
            src: v4(20),
            interval_cs: 50,
        };
        assert_eq!(rig.advert(ms(10), v4(20), 200, 50), vec![report]);
        assert_eq!(rig.r.master_adver_interval(), Duration::from_millis(500));
        assert!(rig.advert(ms(510), v4(20), 200, 50).is_empty());
        // The configured interval is no mismatch.
        assert!(rig.advert(ms(1010), v4(20), 200, 100).is_empty());
        assert_eq!(rig.advert(ms(60_010), v4(20), 200, 50), vec![report]);
        assert_eq!(rig.r.counters().interval_mismatches, 3);
        assert_eq!(rig.r.state(), State::Backup);
    }

    // ledger: R9568-6.4.3-i
    #[test]
    fn master_answers_a_lesser_advert_at_once() {
        let (mut rig, t0) = master(params(100));
        let sent = rig.r.counters().adverts_sent;
        let t = t0 + Duration::from_millis(10);
        // Lower priority, and equal priority from a smaller address: one advert each, no
        // state change, the periodic timer untouched.
        assert_eq!(rig.advert(t, v4(250), 99, 100), vec![advert(100)]);
        assert_eq!(rig.advert(t, v4(9), 100, 100), vec![advert(100)]);
        assert_eq!(rig.r.state(), State::Master);
        assert_eq!(rig.deadline(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(rig.r.counters().adverts_sent, sent + 2);
    }

    #[test]
    fn master_answers_each_lesser_sender_at_most_once_per_interval() {
        let (mut rig, t0) = master(params(100));
        let sent = rig.r.counters().adverts_sent;
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // A flood of 2,000 lesser adverts from one sender within 990 ms: one reply.
        let replies: usize = (0..2000)
            .map(|i| rig.advert(at(10 + i / 2), v4(250), 99, 100).len())
            .sum();
        assert_eq!(replies, 1);
        assert_eq!(rig.r.counters().lesser_adverts_unanswered, 1999);
        // One interval after that reply, the sender is answered again.
        assert_eq!(rig.advert(at(1009), v4(250), 99, 100), vec![]);
        assert_eq!(rig.advert(at(1010), v4(250), 99, 100), vec![advert(100)]);
        // Another sender is answered independently.
        assert_eq!(rig.advert(at(1011), v4(251), 99, 100), vec![advert(100)]);
        assert_eq!(rig.r.counters().adverts_sent, sent + 3);
        // The periodic advert timer is untouched by the replies.
        assert_eq!(rig.deadline(), Some(t0 + Duration::from_secs(1)));
    }

    #[test]
    fn master_answers_at_most_a_bounded_number_of_senders_per_interval() {
        let (mut rig, t0) = master(params(100));
        let t = t0 + Duration::from_millis(10);
        // Spoofed sources, each new: the first LESSER_REPLY_SENDERS get a reply.
        let replies: usize = (0..100u8)
            .map(|i| rig.advert(t, v4(100 + i), 99, 100).len())
            .sum();
        assert_eq!(replies, LESSER_REPLY_SENDERS);
        // Once their interval is over, new senders are answered again.
        let later = t + Duration::from_secs(1);
        assert_eq!(rig.advert(later, v4(240), 99, 100), vec![advert(100)]);
    }

    // ledger: R3768-6.4.3-b
    #[test]
    fn v2_master_discards_lower_priority_silently() {
        let mut p = params(100);
        p.version = Version::V2;
        p.primary_address = v4(10);
        let (mut rig, t0) = master(p);
        let t = t0 + Duration::from_millis(10);
        // Lower priority, and equal priority from a smaller address: no reply, no change.
        assert!(rig.advert(t, v4(250), 99, 100).is_empty());
        assert!(rig.advert(t, v4(9), 100, 100).is_empty());
        assert_eq!(rig.r.state(), State::Master);
        assert_eq!(rig.deadline(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(rig.r.counters().adverts_received, 2);
        // The contrast: equal priority from a greater address takes over.
        assert_eq!(
            rig.advert(t, v4(11), 100, 100)[0],
            changed(
                State::Master,
                State::Backup,
                Reason::EqualPriorityHigherAddress
            )
        );
    }

    // ledger: R9568-6.4.3-i
    #[test]
    fn master_equal_priority_tie_break_ipv4() {
        // Ours is 192.0.2.10. A greater address wins…
        let (mut rig, t0) = master(params(100));
        let t = t0 + Duration::from_millis(10);
        assert_eq!(
            rig.advert(t, v4(9), 100, 100),
            vec![advert(100)],
            "lower address loses (and is answered at once)"
        );
        assert_eq!(rig.r.state(), State::Master);
        assert!(
            rig.advert(t, v4(10), 100, 100).is_empty(),
            "our own address"
        );
        let acts = rig.advert(t, v4(11), 100, 100);
        assert_eq!(
            acts[0],
            changed(
                State::Master,
                State::Backup,
                Reason::EqualPriorityHigherAddress
            )
        );
        assert_eq!(rig.deadline(), Some(t + Duration::from_micros(3_609_375)));
        // (compared as numbers: as text, "192.0.2.9" would sort after "192.0.2.10")
    }

    #[test]
    fn master_equal_priority_tie_break_ipv6() {
        let mut p = params(100);
        p.family = Family::Ipv6;
        p.primary_address = IpAddr::V6("fe80::9:0".parse().unwrap());
        let (mut rig, t0) = master(p);
        let t = t0 + Duration::from_millis(10);
        // fe80::ff < fe80::9:0 as 128-bit numbers (not as text).
        rig.advert(t, IpAddr::V6("fe80::ff".parse().unwrap()), 100, 100);
        assert_eq!(rig.r.state(), State::Master);
        rig.advert(t, IpAddr::V6("fe80::8:ffff".parse().unwrap()), 100, 100);
        assert_eq!(rig.r.state(), State::Master);
        let acts = rig.advert(t, IpAddr::V6("fe80::a:0".parse().unwrap()), 100, 100);
        assert_eq!(
            acts[0],
            changed(
                State::Master,
                State::Backup,
                Reason::EqualPriorityHigherAddress
            )
        );
        assert_eq!(rig.deadline(), Some(t + Duration::from_micros(3_609_375)));
        // A high bit far up wins over anything below it.
        let mut p = params(100);
        p.family = Family::Ipv6;
        p.primary_address = IpAddr::V6("fe80::ffff:ffff:ffff:ffff".parse().unwrap());
        let (mut rig, t0) = master(p);
        rig.advert(t0, IpAddr::V6("fe81::".parse().unwrap()), 100, 100);
        assert_eq!(rig.r.state(), State::Backup);
    }

    // ledger: R9568-6.4.3-g
    #[test]
    fn master_answers_priority_zero_at_once() {
        let (mut rig, t0) = master(params(100));
        let t = t0 + Duration::from_millis(400);
        assert_eq!(rig.advert(t, v4(20), 0, 100), vec![advert(100)]);
        // Advert timer re-armed from now.
        assert_eq!(rig.deadline(), Some(t + Duration::from_secs(1)));
        assert_eq!(rig.r.state(), State::Master);
        assert_eq!(rig.r.counters().priority_zero_received, 1);
        // A second one from the same sender within the interval is not answered (no flood
        // reflection) and leaves the timer alone; another sender is answered.
        let later = t + Duration::from_millis(10);
        assert_eq!(rig.advert(later, v4(20), 0, 100), vec![]);
        assert_eq!(rig.deadline(), Some(t + Duration::from_secs(1)));
        assert_eq!(rig.r.counters().lesser_adverts_unanswered, 1);
        assert_eq!(rig.advert(later, v4(21), 0, 100), vec![advert(100)]);
    }

    // ledger: R9568-5.2.4-b R9568-6.4.3-e
    #[test]
    fn shutdown_from_master_sends_priority_zero() {
        let (mut rig, t0) = master(params(100));
        let acts = rig.feed(t0 + Duration::from_millis(10), Input::Shutdown);
        assert_eq!(
            acts,
            vec![
                changed(State::Master, State::Initialize, Reason::Shutdown),
                advert(0),
                Action::SetProtodown(true),
            ]
        );
        assert_eq!(rig.deadline(), None);
        assert_eq!(rig.r.master_address(), None);
        let c = rig.r.counters();
        assert_eq!((c.priority_zero_sent, c.adverts_sent), (1, 2));
        // Adverts and timers are ignored in Initialize.
        assert!(
            rig.advert(t0 + Duration::from_secs(1), v4(20), 200, 100)
                .is_empty()
        );
        assert!(rig.timer(t0 + Duration::from_secs(10)).is_empty());
        // A second Shutdown does nothing.
        assert!(
            rig.feed(t0 + Duration::from_secs(11), Input::Shutdown)
                .is_empty()
        );
    }

    // ledger: R9568-6.4.2-e
    #[test]
    fn shutdown_from_backup() {
        let mut rig = backup(params(100));
        let acts = rig.feed(ms(100), Input::Shutdown);
        assert_eq!(
            acts,
            vec![changed(State::Backup, State::Initialize, Reason::Shutdown)]
        );
        assert_eq!(rig.deadline(), None);
        assert_eq!(rig.r.counters().priority_zero_sent, 0);
        // Startup again.
        rig.feed(ms(200), Input::Startup);
        assert_eq!(
            rig.deadline(),
            Some(ms(200) + Duration::from_micros(3_609_375))
        );
    }

    #[test]
    fn link_down_and_up() {
        let (mut rig, t0) = master(params(100));
        let t = t0 + Duration::from_millis(10);
        assert_eq!(
            rig.feed(t, Input::LinkDown),
            vec![
                changed(State::Master, State::Initialize, Reason::LinkDown),
                Action::SetProtodown(true),
            ]
        );
        assert_eq!(
            rig.r.counters().priority_zero_sent,
            0,
            "cannot send without a link"
        );
        assert_eq!(rig.deadline(), None);
        assert!(rig.feed(t, Input::LinkDown).is_empty());
        // Startup while the link is down is remembered; nothing runs yet.
        let t2 = t + Duration::from_secs(5);
        assert_eq!(
            rig.feed(t2, Input::LinkUp),
            vec![changed(State::Initialize, State::Backup, Reason::LinkUp)]
        );
        assert_eq!(rig.deadline(), Some(t2 + Duration::from_micros(3_609_375)));
        // Owner comes straight back as Master.
        let mut rig = Rig::new(params(255));
        rig.feed(ms(0), Input::Startup);
        rig.feed(ms(10), Input::LinkDown);
        assert_eq!(
            rig.feed(ms(20), Input::LinkUp)[0],
            changed(State::Initialize, State::Master, Reason::LinkUpOwner)
        );
        assert_eq!(rig.deadline(), Some(ms(1020)));
    }

    // ledger: R9568-8.1.2-d
    #[test]
    fn link_down_before_startup() {
        let mut rig = Rig::new(params(100));
        assert_eq!(
            rig.feed(ms(0), Input::LinkDown),
            vec![Action::SetProtodown(true)]
        );
        assert!(rig.feed(ms(1), Input::Startup).is_empty());
        assert_eq!(rig.r.state(), State::Initialize);
        assert!(rig.r.is_enabled());
        // Shutdown while down, then link up: stays in Initialize.
        rig.feed(ms(2), Input::Shutdown);
        assert!(rig.feed(ms(3), Input::LinkUp).is_empty());
        assert_eq!(rig.r.state(), State::Initialize);
        assert_eq!(rig.deadline(), None);
    }

    #[test]
    fn tracking_lowers_effective_priority_and_hands_over() {
        // Router A (priority 200, tracking one link worth 150) is Master; B (100) is Backup.
        let mut pa = params(200);
        pa.track = vec![Tracked::Decrement(150), Tracked::Decrement(20)];
        pa.primary_address = v4(1);
        let (mut a, t0) = master(pa);
        let mut b = backup(params(100));
        let mdi_b = Duration::from_micros(3_609_375);
        b.advert(t0, v4(1), 200, 100);
        assert_eq!(b.deadline(), Some(t0 + mdi_b));

        // A's tracked link goes down: 200 - 150 = 50, advertised at once.
        let t1 = t0 + Duration::from_millis(300);
        assert_eq!(
            a.feed(
                t1,
                Input::TrackChanged {
                    index: 0,
                    up: false
                }
            ),
            vec![
                Action::EffectivePriorityChanged { from: 200, to: 50 },
                advert(50),
            ]
        );
        assert_eq!(a.r.effective_priority(), 50);
        assert_eq!(a.deadline(), Some(t1 + Duration::from_secs(1)));
        // v3 Skew follows the effective priority: (256-50)*100/256 cs.
        assert_eq!(
            a.r.skew_time(),
            Duration::from_micros(804_687) + Duration::from_nanos(500)
        );

        // B ignores the lower priority and takes over when its timer runs out.
        assert!(b.advert(t1, v4(1), 50, 100).is_empty());
        assert_eq!(b.deadline(), Some(t0 + mdi_b));
        let t2 = t0 + mdi_b;
        assert_eq!(
            b.timer(t2)[0],
            changed(State::Backup, State::Master, Reason::Preempt)
        );

        // A hears B's 100 > 50 and yields.
        assert_eq!(
            a.advert(t2, v4(100), 100, 100)[0],
            changed(State::Master, State::Backup, Reason::HigherPriorityAdvert)
        );
        // A's MDI uses 50: 3 s + 804.6875 ms.
        assert_eq!(a.deadline(), Some(t2 + Duration::from_nanos(3_804_687_500)));

        // The link comes back: A is 200 again, recomputes, and preempts B (100 < 200).
        let t3 = t2 + Duration::from_secs(10);
        for i in 1..=19 {
            a.advert(t2 + Duration::from_millis(500 * i), v4(100), 100, 100);
        }
        assert_eq!(
            a.feed(t3, Input::TrackChanged { index: 0, up: true }),
            vec![Action::EffectivePriorityChanged { from: 50, to: 200 }]
        );
        assert_eq!(a.r.skew_time(), Duration::from_micros(218_750));
        assert_eq!(a.r.master_down_interval(), Duration::from_micros(3_218_750));
        // The running timer keeps its deadline (armed with the old MDI)…
        let armed = t3 - Duration::from_millis(500) + Duration::from_nanos(3_804_687_500);
        assert_eq!(a.deadline(), Some(armed));
        // …B's adverts are now lower and ignored, and A takes over.
        a.advert(t3 + Duration::from_millis(500), v4(100), 100, 100);
        assert_eq!(a.deadline(), Some(armed));
        assert_eq!(
            a.timer(armed)[0],
            changed(State::Backup, State::Master, Reason::Preempt)
        );
    }

    fn track(index: usize, up: bool) -> Input {
        Input::TrackChanged { index, up }
    }

    #[test]
    fn fault_takes_a_master_to_initialize_with_priority_zero_and_back() {
        let mut p = params(200);
        p.track = vec![Tracked::Decrement(50), Tracked::Fault];
        let (mut rig, t0) = master(p);
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(
            rig.feed(t1, track(1, false)),
            vec![
                changed(State::Master, State::Initialize, Reason::TrackFault),
                advert(0),
                Action::SetProtodown(true),
            ]
        );
        assert!(rig.r.faulted());
        assert_eq!(rig.deadline(), None, "no adverts while faulted");
        // Nothing runs it while faulted: a link flap or a decrement changes no state.
        rig.feed(t1, Input::LinkDown);
        rig.feed(t1, Input::LinkUp);
        assert_eq!(rig.r.state(), State::Initialize);
        assert_eq!(
            rig.feed(t1, track(0, false)),
            vec![Action::EffectivePriorityChanged { from: 200, to: 150 }]
        );
        // Back up: Backup again, at the priority the other objects leave.
        let t2 = t1 + Duration::from_secs(1);
        let out = rig.feed(t2, track(1, true));
        assert_eq!(
            out[0],
            changed(State::Initialize, State::Backup, Reason::TrackRecovered)
        );
        assert!(!rig.r.faulted());
        assert_eq!(rig.r.effective_priority(), 150);
        assert!(rig.deadline().is_some());
    }

    #[test]
    fn fault_before_startup_holds_the_router_until_up() {
        let mut p = params(255);
        p.track = vec![Tracked::Fault];
        let mut rig = Rig::new(p);
        // The device must not carry traffic even before Startup.
        assert_eq!(
            rig.feed(ms(0), track(0, false)),
            vec![Action::SetProtodown(true)]
        );
        assert!(rig.feed(ms(1), Input::Startup).is_empty());
        assert_eq!(rig.r.state(), State::Initialize);
        // A fault has no decrement: the owner stays the owner and starts as Master.
        let out = rig.feed(ms(2), track(0, true));
        assert_eq!(
            out[0],
            changed(State::Initialize, State::Master, Reason::TrackRecovered)
        );
        assert_eq!(out.iter().filter(|a| **a == advert(255)).count(), 1);
        // A fault while the link is down and a recovery while it still is: no start.
        rig.feed(ms(3), Input::LinkDown);
        rig.feed(ms(4), track(0, false));
        assert!(rig.feed(ms(5), track(0, true)).is_empty());
        assert_eq!(rig.r.state(), State::Initialize);
    }

    #[test]
    fn fault_from_backup_sends_nothing() {
        let mut p = params(100);
        p.track = vec![Tracked::Fault];
        let mut rig = backup(p);
        assert_eq!(
            rig.feed(ms(10), track(0, false)),
            vec![changed(
                State::Backup,
                State::Initialize,
                Reason::TrackFault
            )]
        );
        assert_eq!(rig.r.protodown(), Some(true));
    }

    #[test]
    fn set_track_replaces_entries_without_a_restart() {
        let mut p = params(200);
        p.track = vec![Tracked::Decrement(50)];
        let (mut rig, t0) = master(p);
        let t1 = t0 + Duration::from_millis(10);
        // A new list where a down entry lowers the priority: advertised at once, still Master.
        let mut out = Vec::new();
        rig.r.set_track(
            t1,
            vec![Tracked::Decrement(50), Tracked::Decrement(30)],
            vec![false, true],
            &mut out,
        );
        assert_eq!(
            out,
            vec![
                Action::EffectivePriorityChanged { from: 200, to: 170 },
                advert(170)
            ]
        );
        assert_eq!(rig.r.tracked_down(), &[false, true]);
        // A down fault entry: Initialize, priority 0 first.
        out.clear();
        rig.r
            .set_track(t1, vec![Tracked::Fault], vec![true], &mut out);
        assert_eq!(
            out[0],
            changed(State::Master, State::Initialize, Reason::TrackFault)
        );
        assert!(out.contains(&advert(0)));
        assert_eq!(rig.r.effective_priority(), 200);
        // No entries at all: running again.
        out.clear();
        rig.r.set_track(t1, vec![], vec![], &mut out);
        assert_eq!(
            out[0],
            changed(State::Initialize, State::Backup, Reason::TrackRecovered)
        );
        assert!(rig.r.tracked_down().is_empty());
    }

    #[test]
    fn tracking_floors_and_caps() {
        let mut p = params(100);
        p.track = vec![
            Tracked::Decrement(60),
            Tracked::Decrement(60),
            Tracked::Decrement(0),
        ];
        let mut rig = Rig::new(p);
        rig.feed(
            ms(0),
            Input::TrackChanged {
                index: 0,
                up: false,
            },
        );
        assert_eq!(rig.r.effective_priority(), 40);
        rig.feed(
            ms(0),
            Input::TrackChanged {
                index: 1,
                up: false,
            },
        );
        assert_eq!(rig.r.effective_priority(), 1, "never 0");
        rig.feed(ms(0), Input::TrackChanged { index: 0, up: true });
        assert_eq!(rig.r.effective_priority(), 40);
        // A zero decrement, repeated reports and unknown indexes change nothing.
        assert!(
            rig.feed(
                ms(0),
                Input::TrackChanged {
                    index: 2,
                    up: false
                }
            )
            .is_empty()
        );
        assert!(
            rig.feed(
                ms(0),
                Input::TrackChanged {
                    index: 1,
                    up: false
                }
            )
            .is_empty()
        );
        assert!(
            rig.feed(
                ms(0),
                Input::TrackChanged {
                    index: 9,
                    up: false
                }
            )
            .is_empty()
        );
        assert_eq!(rig.r.effective_priority(), 40);
        assert_eq!(rig.r.tracked_down(), &[false, true, true]);

        // The owner loses 255 with any penalty, even a small one.
        let mut p = params(255);
        p.track = vec![Tracked::Decrement(1)];
        let mut rig = Rig::new(p);
        rig.feed(
            ms(0),
            Input::TrackChanged {
                index: 0,
                up: false,
            },
        );
        assert_eq!(rig.r.effective_priority(), 254);
        assert!(rig.r.accept_mode(), "still owns the addresses");
        rig.feed(ms(0), Input::Startup);
        assert_eq!(
            rig.r.state(),
            State::Backup,
            "a demoted owner does not start as Master"
        );
    }

    #[test]
    fn tracking_in_backup_recomputes_skew() {
        let mut p = params(200);
        p.track = vec![Tracked::Decrement(100)];
        let mut rig = backup(p);
        rig.advert(ms(1000), v4(20), 250, 100);
        rig.feed(
            ms(1200),
            Input::TrackChanged {
                index: 0,
                up: false,
            },
        );
        assert_eq!(rig.r.skew_time(), Duration::from_micros(609_375));
        // The next accepted advert uses the new MDI; priority 0 uses the new skew.
        rig.advert(ms(2000), v4(20), 250, 100);
        assert_eq!(
            rig.deadline(),
            Some(ms(2000) + Duration::from_micros(3_609_375))
        );
        rig.advert(ms(2500), v4(20), 0, 100);
        assert_eq!(
            rig.deadline(),
            Some(ms(2500) + Duration::from_micros(609_375))
        );
    }

    #[test]
    fn protodown_only_on_change() {
        let (mut rig, t0) = master(params(100));
        // Master → Backup → Master → Initialize: every change emits, nothing else does.
        let mut protodowns = Vec::new();
        let mut t = t0 + Duration::from_millis(1);
        let mut collect = |acts: Vec<Action>| {
            protodowns.extend(
                acts.into_iter()
                    .filter(|a| matches!(a, Action::SetProtodown(_))),
            )
        };
        collect(rig.advert(t, v4(20), 200, 100));
        t = t + Duration::from_secs(1);
        collect(rig.advert(t, v4(20), 200, 100));
        let at = rig.deadline().unwrap();
        collect(rig.timer(at));
        collect(rig.feed(at, Input::LinkDown));
        assert_eq!(
            protodowns,
            vec![
                Action::SetProtodown(true),
                Action::SetProtodown(false),
                Action::SetProtodown(true)
            ]
        );
    }

    #[test]
    fn priority_change_while_master_does_not_reset_when_unchanged() {
        let mut p = params(100);
        p.track = vec![Tracked::Decrement(0)];
        let (mut rig, t0) = master(p);
        assert!(
            rig.feed(
                t0,
                Input::TrackChanged {
                    index: 0,
                    up: false
                }
            )
            .is_empty()
        );
        assert_eq!(rig.deadline(), Some(t0 + Duration::from_secs(1)));
    }

    #[test]
    fn counters_serialize_snake_case() {
        let (mut rig, _) = master(params(100));
        rig.r.counters_mut().ttl_errors += 2;
        let json = serde_json::to_value(rig.r.counters()).unwrap();
        assert_eq!(json["became_master"], 1);
        assert_eq!(json["ttl_errors"], 2);
        assert_eq!(json["priority_zero_sent"], 0);
        assert_eq!(
            serde_json::to_value(State::Initialize).unwrap(),
            "initialize"
        );
        assert_eq!(
            serde_json::to_value(Reason::MasterDownTimer).unwrap(),
            "master_down_timer"
        );
        assert_eq!(Reason::StartupOwner.to_string(), "startup owner");
        assert_eq!(
            Reason::PriorityZeroReceived.to_string(),
            "priority 0 received"
        );
        assert_eq!(State::Backup.to_string(), "backup");
    }

    #[test]
    fn steady_state_does_not_grow_the_buffer() {
        // Adverts in and out reuse the caller's buffer: once it has room, no allocation.
        let mut p = params(100);
        p.garp_bursts = 1;
        let (mut rig, t0) = master(p);
        let mut out = Vec::with_capacity(8);
        let cap = out.capacity();
        let mut t = t0;
        for _ in 0..100 {
            t = t + Duration::from_secs(1);
            out.clear();
            rig.r.handle(t, Input::Timer, &mut out);
            rig.r.handle(
                t,
                Input::Advert {
                    src: v4(1),
                    priority: 50,
                    max_advert_interval_cs: 100,
                },
                &mut out,
            );
            // The periodic advert, then the immediate answer to the lesser one.
            assert_eq!(out, vec![advert(100), advert(100)]);
        }
        assert_eq!(out.capacity(), cap);
    }

    #[test]
    fn set_primary_address() {
        let (mut rig, _) = master(params(100));
        rig.r.set_primary_address(v4(200)).unwrap();
        assert_eq!(rig.r.master_address(), Some(v4(200)));
        assert!(rig.r.set_primary_address(v6(1)).is_err());
        assert_eq!(rig.r.params().primary_address, v4(200));
    }

    #[test]
    fn time_arithmetic_saturates() {
        let t = Time::from_nanos(u64::MAX - 1);
        assert_eq!(t + Duration::from_secs(1), Time::from_nanos(u64::MAX));
        assert_eq!(Time::ZERO - ms(5), Duration::ZERO);
        assert_eq!(ms(5) - ms(2), Duration::from_millis(3));
        assert_eq!(Time::from_duration(Duration::from_millis(7)), ms(7));
        assert_eq!(ms(7).as_duration(), Duration::from_millis(7));
    }

    // ----- live reconfiguration -----

    fn reconfigure(rig: &mut Rig, now: Time, p: RouterParams) -> Vec<Action> {
        rig.out.clear();
        rig.r.reconfigure(now, p, &[], false, &mut rig.out).unwrap();
        rig.out.clone()
    }

    #[test]
    fn reconfigured_master_advertises_the_new_priority_at_once_without_leaving() {
        let (mut rig, at) = master(params(200));
        let sent_before = rig.r.counters().priority_zero_sent;
        let now = at + Duration::from_millis(300);
        let acts = reconfigure(&mut rig, now, params(150));
        assert_eq!(
            acts,
            vec![
                Action::EffectivePriorityChanged { from: 200, to: 150 },
                advert(150)
            ]
        );
        assert_eq!(rig.r.state(), State::Master);
        assert_eq!(rig.r.counters().priority_zero_sent, sent_before);
        assert_eq!(rig.deadline(), Some(now + Duration::from_secs(1)));
        // Later adverts carry it too.
        assert_eq!(rig.timer(now + Duration::from_secs(1)), vec![advert(150)]);
    }

    #[test]
    fn a_changed_address_list_is_announced_at_once() {
        let (mut rig, at) = master(params(200));
        let now = at + Duration::from_millis(300);
        rig.out.clear();
        rig.r
            .reconfigure(now, params(200), &[], true, &mut rig.out)
            .unwrap();
        assert_eq!(rig.out, vec![advert(200)]);
        assert_eq!(rig.deadline(), Some(now + Duration::from_secs(1)));
    }

    #[test]
    fn lowered_master_is_preempted_by_the_rfc_rules_not_priority_zero() {
        let (mut rig, at) = master(params(200));
        let now = at + Duration::from_millis(100);
        reconfigure(&mut rig, now, params(50));
        // A preempting backup of 100 now outranks us: its advert moves us to Backup.
        let acts = rig.advert(now + Duration::from_millis(10), v4(20), 100, 100);
        assert_eq!(
            acts[0],
            changed(State::Master, State::Backup, Reason::HigherPriorityAdvert)
        );
        assert!(!acts.contains(&advert(0)));
        assert_eq!(rig.r.counters().priority_zero_sent, 0);
    }

    #[test]
    fn unchanged_parameters_change_nothing() {
        let (mut rig, at) = master(params(200));
        let deadline = rig.deadline();
        let acts = reconfigure(&mut rig, at + Duration::from_millis(5), params(200));
        assert!(acts.is_empty(), "{acts:?}");
        assert_eq!(rig.deadline(), deadline);
    }

    #[test]
    fn reconfigured_interval_rearms_the_master_timer() {
        let (mut rig, at) = master(params(200));
        let mut p = params(200);
        p.advert_interval_cs = 10;
        let now = at + Duration::from_millis(20);
        let acts = reconfigure(&mut rig, now, p);
        assert_eq!(
            acts,
            vec![Action::SendAdvert {
                priority: 200,
                interval_cs: 10
            }]
        );
        assert_eq!(rig.deadline(), Some(now + Duration::from_millis(100)));
        assert_eq!(rig.r.master_adver_interval_cs(), 10);
    }

    #[test]
    fn v3_backup_keeps_the_learned_interval_on_reconfiguration() {
        let mut rig = backup(params(100));
        rig.advert(ms(10), v4(20), 200, 50);
        let mut p = params(120);
        p.advert_interval_cs = 10;
        let acts = reconfigure(&mut rig, ms(20), p);
        assert_eq!(
            acts,
            vec![Action::EffectivePriorityChanged { from: 100, to: 120 }]
        );
        assert_eq!(rig.r.master_adver_interval_cs(), 50);
        assert_eq!(rig.r.state(), State::Backup);
    }

    #[test]
    fn backup_reconfigured_as_owner_takes_over_at_once() {
        let mut rig = backup(params(100));
        rig.advert(ms(10), v4(20), 200, 100);
        let acts = reconfigure(&mut rig, ms(20), params(255));
        assert_eq!(
            acts[1],
            changed(State::Backup, State::Master, Reason::BecameOwner)
        );
        assert_eq!(rig.r.state(), State::Master);
    }

    #[test]
    fn identity_change_is_refused_and_leaves_the_router_alone() {
        let (mut rig, at) = master(params(200));
        let mut p = params(150);
        p.vrid = 6;
        let mut out = Vec::new();
        assert_eq!(
            rig.r.reconfigure(at, p, &[], false, &mut out),
            Err(ParamsError::Identity)
        );
        let mut p = params(150);
        p.advert_interval_cs = 0;
        assert_eq!(
            rig.r.reconfigure(at, p, &[], false, &mut out),
            Err(ParamsError::Interval(0))
        );
        assert!(out.is_empty());
        assert_eq!(rig.r.priority(), 200);
    }

    #[test]
    fn reconfigured_tracking_uses_the_given_track_state() {
        let (mut rig, at) = master(params(200));
        let mut p = params(200);
        p.track = vec![Tracked::Decrement(50), Tracked::Decrement(30)];
        rig.out.clear();
        rig.r
            .reconfigure(at, p, &[false, true], false, &mut rig.out)
            .unwrap();
        assert_eq!(rig.r.effective_priority(), 170);
        assert_eq!(rig.r.tracked_down(), &[false, true]);
    }
}
