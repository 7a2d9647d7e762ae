//! The event loop's one-shot timer, with nanosecond resolution.
//!
//! tokio's timer wheel rounds every deadline up to the next millisecond tick and its epoll
//! wait rounds the timeout up to a millisecond again, so a Master_Down_Interval (or an advert
//! interval) ran 0.5–2 ms long: bench/failover.sh measured a median excess of about 1.9 ms
//! on the wire. A timerfd is an hrtimer: it fires within microseconds of the deadline.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Instant;
use tokio::io::unix::AsyncFd;

pub struct Timer {
    fd: AsyncFd<OwnedFd>,
    /// The deadline the timerfd is armed for, if any.
    armed: Option<Instant>,
}

impl Timer {
    pub fn new() -> io::Result<Timer> {
        // SAFETY: plain syscall; the returned descriptor is owned below.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: the AsyncFd owns the descriptor, so it stays open exactly as long as it is
        // registered.
        let fd = unsafe { AsyncFd::register(fd) }?;
        Ok(Timer { fd, armed: None })
    }

    /// [`Timer::sleep_until`] the deadline if there is one, else forever (the event loop's
    /// timer arm when no router has a timer armed).
    pub async fn sleep_until_some(&mut self, deadline: Option<Instant>) {
        match deadline {
            Some(t) => self.sleep_until(t).await,
            None => std::future::pending().await,
        }
    }

    /// Wait until `deadline` (std's `Instant` is CLOCK_MONOTONIC, like the timerfd).
    /// Cancel-safe: a dropped wait leaves the timer armed and the next call re-arms it only
    /// when the deadline changed (re-arming also discards an expiry nobody read).
    ///
    /// A deadline that has passed returns at once, also when the timerfd is armed for it:
    /// its expiry is seen only once tokio's reactor polls epoll, which it does when the
    /// loop's task waits, and a loop whose other arm is always ready (a reload's slices)
    /// never waits. Waiting for the reactor there held every due timer until the reload's
    /// last slice: the 1,000 reconfigurations went one a turn and 100 routers at 10 ms
    /// missed an advert (a 16 ms gap, perf sched and captures of the reload benchmark).
    pub async fn sleep_until(&mut self, deadline: Instant) {
        let now = Instant::now();
        if deadline <= now {
            return;
        }
        if self.armed != Some(deadline) {
            let rel = deadline - now;
            let spec = libc::itimerspec {
                it_interval: libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                },
                it_value: libc::timespec {
                    tv_sec: rel.as_secs() as libc::time_t,
                    tv_nsec: rel.subsec_nanos() as libc::c_long,
                },
            };
            // SAFETY: valid descriptor and pointers for the duration of the call.
            let rc = unsafe {
                libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut())
            };
            if rc != 0 {
                return tokio::time::sleep_until(deadline.into()).await;
            }
            self.armed = Some(deadline);
        }
        loop {
            let Ok(mut guard) = self.fd.readable().await else {
                return tokio::time::sleep_until(deadline.into()).await;
            };
            let mut buf = [0u8; 8];
            match guard.try_io(|fd| {
                // SAFETY: reads at most 8 bytes into `buf`.
                let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(())
                }
            }) {
                Ok(Ok(())) => {
                    self.armed = None;
                    return;
                }
                Ok(Err(_)) => return tokio::time::sleep_until(deadline.into()).await,
                Err(_would_block) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn fires_at_the_deadline_not_a_millisecond_later() {
        let mut timer = Timer::new().unwrap();
        let mut lates = Vec::new();
        for _ in 0..20 {
            let deadline = Instant::now() + Duration::from_micros(2_300);
            timer.sleep_until(deadline).await;
            assert!(Instant::now() >= deadline, "woke before the deadline");
            lates.push(Instant::now().saturating_duration_since(deadline));
        }
        // Never early (above); and precise when this thread gets the CPU: the best of 20
        // wake-ups, so other tests loading this machine's cores cannot fail it (tokio's own
        // timer is 0.7-2 ms late even then, with its 1 ms granularity).
        let best = lates.iter().min().copied().unwrap_or_default();
        assert!(best < Duration::from_micros(500), "{lates:?}");
    }

    #[tokio::test]
    async fn a_dropped_wait_then_a_new_deadline() {
        let mut timer = Timer::new().unwrap();
        let far = Instant::now() + Duration::from_secs(10);
        let _ = tokio::time::timeout(Duration::from_millis(1), timer.sleep_until(far)).await;
        let near = Instant::now() + Duration::from_millis(2);
        timer.sleep_until(near).await;
        assert!(Instant::now() >= near);
        // a deadline in the past returns at once
        timer.sleep_until(Instant::now()).await;
    }

    /// The timerfd armed for a deadline that has passed since, its expiry not yet seen by
    /// the reactor (this thread was busy, as the loop is during a reload's slices): the wait
    /// is ready at once, first in a biased select against an arm that is always ready.
    #[tokio::test]
    async fn a_passed_deadline_the_timerfd_was_armed_for_wins_over_ready_work() {
        let mut timer = Timer::new().unwrap();
        // Far enough ahead that a busy machine cannot pass it before the timerfd is armed.
        let deadline = Instant::now() + Duration::from_millis(50);
        let _ = tokio::time::timeout(Duration::from_millis(1), timer.sleep_until(deadline)).await;
        assert_eq!(timer.armed, Some(deadline));
        // Busy without yielding to the reactor, past the deadline.
        std::thread::sleep(Duration::from_millis(60));
        let timer_won = tokio::select! {
            biased;
            () = timer.sleep_until(deadline) => true,
            () = std::future::ready(()) => false,
        };
        assert!(timer_won, "a due timer lost to always-ready work");
    }
}
