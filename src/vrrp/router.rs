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
//! [`Router::handle`] pushes into the caller's `Vec<Action>` and allocates nothing itself,
//! except the small table of lesser-advert senders, once in a router's life, on the first
//! lesser advert it hears as Master: reusing one (cleared) `Vec` for all routers keeps the
//! advert send/receive path free of allocation.

use crate::types::{Family, Version};
use serde::Serialize;
use std::fmt;
use std::net::IpAddr;
use std::ops::{Add, Sub};
use std::time::Duration;

mod counters;
mod election;
mod params;
mod reconfigure;
mod tracking;

pub use counters::Counters;
pub use election::skew_and_master_down;
pub use params::{ParamsError, RouterParams};
pub use tracking::Tracked;

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
    /// Backup → Master: the shortened timer of [`Input::Resume`] ran out in silence (the
    /// runtime resumes a router that was Master: after an unclean exit, or when it takes a
    /// running Master's devices over, e.g. from keepalived or FRR).
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
            Reason::Resume => {
                "resumed as the Master it was before this start (an unclean exit, or devices taken over live)"
            }
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
    /// Boxed and allocated on the first lesser advert a Master hears: most routers never
    /// hear one, and inline the table is a quarter of a router (~256 of ~1,000 bytes).
    lesser_replies: Option<Box<LesserReplies>>,
    counters: Counters,
}

/// How many different senders of lesser adverts a Master answers per Advertisement_Interval.
pub const LESSER_REPLY_SENDERS: usize = 8;

/// The recently answered senders of lesser adverts and when they were answered.
type LesserReplies = [Option<(IpAddr, Time)>; LESSER_REPLY_SENDERS];

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
            lesser_replies: None,
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

    // ----- building blocks -----

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

#[cfg(test)]
#[path = "router_negative_tests.rs"]
mod negative_tests;

#[cfg(test)]
mod tests;
