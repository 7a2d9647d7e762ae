//! The state machine's unit tests (the ledger rows of docs/rfc9568.md and docs/rfc3768.md
//! name them); the negative tests of the same rows are in `router_negative_tests.rs`.

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
        vec![Action::EffectivePriorityChanged { from: 200, to: 150 }]
    );
    // The Adver_Timer is due at once: the runtime serves it with the other due timers.
    assert_eq!(rig.deadline(), Some(now));
    assert_eq!(rig.timer(now), vec![advert(150)]);
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
    assert_eq!(rig.out, vec![]);
    assert_eq!(rig.deadline(), Some(now));
    assert_eq!(rig.timer(now), vec![advert(200)]);
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
    assert!(acts.is_empty(), "{acts:?}");
    assert_eq!(rig.deadline(), Some(now));
    assert_eq!(
        rig.timer(now),
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

/// The state machine is kept per instance (thousands of them in one runtime): the cold
/// lesser-advert table stays out of line, so a router stays well under its former ~1 KB.
#[test]
fn router_stays_small() {
    let size = std::mem::size_of::<Router>();
    assert!(size <= 520, "Router is {size} bytes");
    let inline_table = std::mem::size_of::<LesserReplies>();
    assert!(inline_table >= 200, "the table is {inline_table} bytes");
    assert_eq!(std::mem::size_of::<Option<Box<LesserReplies>>>(), 8);
}
