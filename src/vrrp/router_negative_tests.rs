//! Negative tests of the state machine for the RFC ledger (docs/rfc9568.md): each feeds the
//! input a requirement forbids acting on, or provokes the action it forbids, and shows the
//! router refuses it. The positive tests of the same rows are in router/tests.rs.

use super::*;
use std::net::{Ipv4Addr, Ipv6Addr};

const SECOND: Duration = Duration::from_secs(1);
const NANO: Duration = Duration::from_nanos(1);

fn peer(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
}

/// VRRPv3, IPv4, VRID 7, 1 s adverts, preempt on, two gratuitous bursts 2 s apart.
fn params(priority: u8) -> RouterParams {
    RouterParams {
        version: Version::V3,
        family: Family::Ipv4,
        vrid: 7,
        priority,
        advert_interval_cs: 100,
        preempt: true,
        preempt_delay: Duration::ZERO,
        accept_mode: false,
        primary_address: peer(10),
        garp_bursts: 2,
        garp_burst_interval: 2 * SECOND,
        track: vec![],
    }
}

fn feed(r: &mut Router, now: Time, input: Input) -> Vec<Action> {
    let mut out = Vec::new();
    r.handle(now, input, &mut out);
    out
}

fn hear(r: &mut Router, now: Time, src: IpAddr, priority: u8, cs: u16) -> Vec<Action> {
    let input = Input::Advert {
        src,
        priority,
        max_advert_interval_cs: cs,
    };
    feed(r, now, input)
}

/// Started at t=0 and left alone until its Master_Down_Interval: Master.
fn master(p: RouterParams) -> (Router, Time) {
    let mut r = Router::new(p).expect("valid params");
    feed(&mut r, Time::ZERO, Input::Startup);
    let at = r.next_deadline().expect("master-down timer");
    feed(&mut r, at, Input::Timer);
    assert_eq!(r.state(), State::Master);
    (r, at)
}

fn sends_advert(acts: &[Action]) -> bool {
    acts.iter().any(|a| matches!(a, Action::SendAdvert { .. }))
}

fn sends_gratuitous(acts: &[Action]) -> bool {
    acts.iter()
        .any(|a| matches!(a, Action::SendGratuitous { .. }))
}

// ledger: R9568-6.4.2-e
/// A Backup that is shut down while it follows a Master must not take over when its old
/// Active_Down_Timer would have run out, nor react to the Master leaving, and never says
/// goodbye (only an Active Router sends priority 0).
#[test]
fn shut_down_backup_ignores_its_old_timer_and_a_leaving_master() {
    let mut r = Router::new(params(150)).expect("valid params");
    feed(&mut r, Time::ZERO, Input::Startup);
    hear(&mut r, Time::ZERO + SECOND, peer(20), 200, 100);
    let old_deadline = r.next_deadline().expect("Active_Down_Timer armed");
    let acts = feed(&mut r, Time::ZERO + 2 * SECOND, Input::Shutdown);
    assert!(!sends_advert(&acts), "a Backup said goodbye: {acts:?}");
    assert_eq!(r.state(), State::Initialize);
    assert_eq!(r.next_deadline(), None, "Active_Down_Timer not cancelled");
    for t in [old_deadline, old_deadline + 10 * SECOND] {
        assert!(feed(&mut r, t, Input::Timer).is_empty());
    }
    // The Master leaves: a running Backup would arm Skew_Time; a shut-down one does nothing.
    assert!(hear(&mut r, old_deadline + SECOND, peer(20), 0, 100).is_empty());
    assert_eq!(r.next_deadline(), None);
    assert_eq!(r.state(), State::Initialize);
    assert_eq!(r.counters().adverts_sent, 0);
}

// ledger: R9568-6.4.2-f
/// A Backup that keeps hearing its Master never advertises, sends gratuitous packets or
/// lifts protodown, however often the loop wakes it up (spurious and early wake-ups, one
/// just before each old deadline); only when the Master falls silent does the timer make
/// it Active, not a nanosecond before Active_Down_Interval, with advert and gratuitous burst.
#[test]
fn backup_hearing_its_master_never_acts_on_early_wakeups() {
    let mut r = Router::new(params(100)).expect("valid params");
    feed(&mut r, Time::ZERO, Input::Startup);
    let mut last_heard = Time::ZERO;
    for i in 1..=20u64 {
        let t = Time::ZERO + Duration::from_millis(900 * i);
        let before = r.next_deadline().expect("Active_Down_Timer armed");
        for wake in [t - Duration::from_millis(450), before - NANO] {
            let acts = feed(&mut r, wake, Input::Timer);
            assert!(acts.is_empty(), "woken at {wake:?}: {acts:?}");
        }
        assert!(hear(&mut r, t, peer(20), 200, 100).is_empty());
        last_heard = t;
    }
    assert_eq!(r.state(), State::Backup);
    assert_eq!(r.protodown(), Some(true));
    let at = last_heard + r.master_down_interval();
    assert!(feed(&mut r, at - NANO, Input::Timer).is_empty());
    let acts = feed(&mut r, at, Input::Timer);
    assert_eq!(
        acts[0],
        Action::StateChanged {
            from: State::Backup,
            to: State::Master,
            reason: Reason::MasterDownTimer
        }
    );
    assert!(sends_advert(&acts) && sends_gratuitous(&acts), "{acts:?}");
    assert_eq!(r.counters().adverts_sent, 1);
}

// ledger: R9568-6.4.2-g
/// A priority-0 advert sets the timer to Skew_Time: the Backup neither takes over before it
/// (not even with preempt off, which must not make it ignore the goodbye) nor waits the
/// whole Active_Down_Interval; a Master heard again before Skew_Time cancels the takeover.
#[test]
fn priority_zero_takes_over_at_skew_time_not_before_and_not_after_a_new_master() {
    let mut p = params(100);
    p.preempt = false;
    let mut r = Router::new(p).expect("valid params");
    feed(&mut r, Time::ZERO, Input::Startup);
    let t = Time::ZERO + SECOND;
    hear(&mut r, t, peer(20), 200, 100);
    let bye = t + Duration::from_millis(300);
    assert!(hear(&mut r, bye, peer(20), 0, 100).is_empty());
    let skew = r.skew_time();
    assert!(skew < r.master_down_interval());
    assert_eq!(r.next_deadline(), Some(bye + skew));
    assert!(feed(&mut r, bye + skew - NANO, Input::Timer).is_empty());
    // Another router (a peer of higher priority) answers first: no takeover at Skew_Time.
    let back = bye + skew / 2;
    assert!(hear(&mut r, back, peer(30), 180, 100).is_empty());
    assert!(feed(&mut r, bye + skew, Input::Timer).is_empty());
    assert_eq!(r.state(), State::Backup);
    assert_eq!(r.master_address(), Some(peer(30)));
    // It leaves too: now the Backup takes over exactly Skew_Time later.
    let bye2 = back + SECOND;
    hear(&mut r, bye2, peer(30), 0, 100);
    let acts = feed(&mut r, bye2 + skew, Input::Timer);
    assert_eq!(
        acts[0],
        Action::StateChanged {
            from: State::Backup,
            to: State::Master,
            reason: Reason::PriorityZeroReceived
        }
    );
}

// ledger: R9568-6.4.3-e
/// Shutdown of a Master says goodbye exactly once, with priority 0 whatever its effective
/// priority (here lowered by tracking), and sends nothing after: not at its Adver_Timer,
/// not the pending gratuitous burst, not on a second Shutdown or a later link loss.
#[test]
fn shut_down_master_sends_one_priority_zero_and_nothing_after() {
    let mut p = params(200);
    p.track = vec![Tracked::Decrement(50)];
    let (mut r, t0) = master(p);
    feed(
        &mut r,
        t0,
        Input::TrackChanged {
            index: 0,
            up: false,
        },
    );
    assert_eq!(r.effective_priority(), 150);
    let t = t0 + Duration::from_millis(500);
    let acts = feed(&mut r, t, Input::Shutdown);
    let adverts: Vec<&Action> = acts
        .iter()
        .filter(|a| matches!(a, Action::SendAdvert { .. }))
        .collect();
    assert_eq!(
        adverts,
        [&Action::SendAdvert {
            priority: 0,
            interval_cs: 100
        }],
        "{acts:?}"
    );
    assert_eq!(
        r.next_deadline(),
        None,
        "Adver_Timer or burst timer left armed"
    );
    let sent = r.counters().adverts_sent;
    for (dt, input) in [
        (SECOND, Input::Timer),
        (2 * SECOND, Input::Timer),
        (3 * SECOND, Input::Shutdown),
        (4 * SECOND, Input::LinkDown),
        (5 * SECOND, Input::Timer),
    ] {
        let acts = feed(&mut r, t + dt, input);
        assert!(!sends_advert(&acts) && !sends_gratuitous(&acts), "{acts:?}");
    }
    assert_eq!(r.counters().adverts_sent, sent);
    assert_eq!(r.counters().priority_zero_sent, 1);
}

// ledger: R9568-6.4.3-f
/// The Active Router advertises when Adver_Timer fires and only then: a thousand early or
/// repeated wake-ups in an interval send nothing, the timer firing sends exactly one advert,
/// and a second wake-up at the same instant does not send it twice.
#[test]
fn master_sends_no_advert_on_early_or_repeated_wakeups() {
    let (mut r, t0) = master(params(100));
    for round in 0..3u32 {
        let due = r.next_deadline().expect("Adver_Timer armed");
        for k in 0..1000u32 {
            let early = due - SECOND + Duration::from_micros(u64::from(k) * 999) + NANO;
            let acts = feed(&mut r, early.min(due - NANO), Input::Timer);
            assert!(!sends_advert(&acts), "round {round}, wake {k}: {acts:?}");
        }
        let acts = feed(&mut r, due, Input::Timer);
        let adverts = acts
            .iter()
            .filter(|a| matches!(a, Action::SendAdvert { .. }))
            .count();
        assert_eq!(adverts, 1, "{acts:?}");
        assert!(!sends_advert(&feed(&mut r, due, Input::Timer)));
    }
    // The first advert with the transition, then one per fired timer.
    assert_eq!(r.counters().adverts_sent, 4);
    assert_eq!(r.next_deadline(), Some(t0 + 4 * SECOND));
}

// ledger: R9568-6.4.3-g
/// A flood of priority-0 adverts must not be reflected: each sender is answered at most once
/// per Advertisement_Interval and at most `LESSER_REPLY_SENDERS` senders per interval, the
/// rest counted; the Active Router stays Active throughout.
#[test]
fn priority_zero_flood_is_answered_once_per_sender_and_interval() {
    let (mut r, t0) = master(params(100));
    let mut answers = 0;
    let mut fed = 0u64;
    for k in 0..1000u64 {
        let src = peer(20 + (k % 20) as u8);
        let acts = hear(&mut r, t0 + Duration::from_micros(k * 500), src, 0, 100);
        assert!(
            !acts
                .iter()
                .any(|a| matches!(a, Action::StateChanged { .. })),
            "{acts:?}"
        );
        answers += acts
            .iter()
            .filter(|a| matches!(a, Action::SendAdvert { .. }))
            .count();
        fed += 1;
    }
    assert_eq!(
        answers, LESSER_REPLY_SENDERS,
        "20 senders within one interval"
    );
    assert_eq!(r.state(), State::Master);
    let c = r.counters();
    assert_eq!(c.priority_zero_received, fed);
    assert_eq!(
        c.lesser_adverts_unanswered,
        fed - LESSER_REPLY_SENDERS as u64
    );
}

// ledger: R9568-8.1.2-d R9568-8.2.2-c
/// Without its vrrp device (the runtime reports LinkDown while it is missing) a router sends
/// no advert, gratuitous ARP or unsolicited NA, even as the address owner that would be
/// Active at once and however late its timers are delivered; a Master losing the device
/// drops the gratuitous burst still pending. Both families.
#[test]
fn no_gratuitous_packet_or_advert_while_the_device_is_missing() {
    let v6 = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 10));
    for (family, primary) in [(Family::Ipv4, peer(10)), (Family::Ipv6, v6)] {
        let mut p = params(OWNER_PRIORITY);
        p.family = family;
        p.primary_address = primary;
        let mut r = Router::new(p.clone()).expect("valid params");
        let mut quiet = feed(&mut r, Time::ZERO, Input::LinkDown);
        quiet.extend(feed(&mut r, Time::ZERO, Input::Startup));
        for s in [1, 5, 60] {
            quiet.extend(feed(&mut r, Time::ZERO + s * SECOND, Input::Timer));
        }
        assert!(
            !sends_advert(&quiet) && !sends_gratuitous(&quiet),
            "{quiet:?}"
        );
        assert_eq!(r.state(), State::Initialize);
        // The device appears: now Active, advert and gratuitous packets.
        let acts = feed(&mut r, Time::ZERO + 61 * SECOND, Input::LinkUp);
        assert!(
            sends_advert(&acts) && sends_gratuitous(&acts),
            "{family:?}: {acts:?}"
        );
        // A non-owner Master loses the device with its second burst pending.
        p.priority = 100;
        let (mut r, t0) = master(p);
        assert!(r.next_deadline().is_some());
        let mut after = feed(&mut r, t0 + SECOND / 2, Input::LinkDown);
        for s in [1, 2, 3, 10] {
            after.extend(feed(&mut r, t0 + s * SECOND, Input::Timer));
        }
        assert!(
            !sends_advert(&after) && !sends_gratuitous(&after),
            "{after:?}"
        );
        assert_eq!(r.counters().gratuitous_bursts_sent, 1);
    }
}

// ledger: R9568-7.2-b
/// An advert is filled from this router's own state: the Advertisement_Interval it is
/// configured with, not the one it learned as Backup from the previous Master, and its
/// effective priority (lowered by a tracked object), not the configured one.
#[test]
fn adverts_carry_our_interval_and_effective_priority_not_learned_or_configured_ones() {
    let mut p = params(100);
    p.track = vec![Tracked::Decrement(30)];
    let mut r = Router::new(p).expect("valid params");
    feed(&mut r, Time::ZERO, Input::Startup);
    feed(
        &mut r,
        Time::ZERO,
        Input::TrackChanged {
            index: 0,
            up: false,
        },
    );
    // The old Master advertises every 50 cs: learned for the timers (RFC 9568 6.4.2).
    let t = Time::ZERO + SECOND;
    hear(&mut r, t, peer(20), 200, 50);
    assert_eq!(r.master_adver_interval_cs(), 50);
    let at = r.next_deadline().expect("Active_Down_Timer");
    let mut acts = feed(&mut r, at, Input::Timer);
    assert_eq!(r.state(), State::Master);
    let due = r.next_deadline().expect("Adver_Timer");
    assert_eq!(due, at + SECOND, "Adver_Timer runs on our own interval");
    acts.extend(feed(&mut r, due, Input::Timer));
    let adverts: Vec<Action> = acts
        .into_iter()
        .filter(|a| matches!(a, Action::SendAdvert { .. }))
        .collect();
    let ours = Action::SendAdvert {
        priority: 70,
        interval_cs: 100,
    };
    assert_eq!(adverts, [ours, ours]);
}
