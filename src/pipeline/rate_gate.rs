//! The only thing that decides when a request may leave, shared by every worker.
//!
//! [`Pace`] holds the rule (the server's rolling window as its answers state it, our share
//! of it beside other users of the key, `--rate` as a cap); the gate adds the waiting on the
//! real clock and the run's stop signal. With `--burst`, governor also smooths departures to
//! at most that many back to back at the steady rate.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota};
use tokio::sync::Notify;
use tokio::time::Instant;

pub use super::pace::Departure;
use super::pace::Pace;
use super::stop::{StopLevel, StopSignal};
use crate::api::{ApiError, ErrorKind, RateLimitInfo};
use crate::rate::{Rate, RateSetting};

/// The shortest pause a 429 imposes, whatever its `retry-after` says.
const MIN_PAUSE: Duration = Duration::from_millis(100);

pub struct RateGate {
    pace: Mutex<Pace>,
    /// `--burst`: governor's cell rate, when the user asked for steadier departures.
    smoothing: Option<DefaultDirectRateLimiter>,
    /// Callers inside [`RateGate::acquire_unless`] right now.
    waiting: AtomicUsize,
    /// Wakes waiting callers when their turn may have come sooner (see
    /// [`RateGate::tell`]).
    sooner: Notify,
}

impl RateGate {
    /// `burst`: at most this many requests back to back at the rate's steady pace (only
    /// with a limited `--rate`); `None` lets a fresh window's budget go at once.
    pub fn new(setting: RateSetting, burst: Option<u32>) -> Result<Self, String> {
        let smoothing = match (burst, setting) {
            (None, _) => None,
            (Some(_), RateSetting::Auto | RateSetting::Cap(Rate::Unlimited)) => {
                return Err("--burst needs a --rate such as 20/s to set the steady pace".into());
            }
            (Some(burst), RateSetting::Cap(rate @ Rate::Limited { requests, per })) => {
                if burst == 0 || burst > requests {
                    return Err(format!(
                        "--burst {burst} does not fit --rate {rate}: it must be between 1 and {requests}"
                    ));
                }
                // A full burst plus the steady refill must still fit in one window: with burst
                // b, only N - b + 1 intervals may start within any window of length W.
                let period = per / (requests - burst + 1);
                let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
                let quota = Quota::with_period(period)
                    .ok_or_else(|| format!("--rate {rate} is too fast to pace"))?
                    .allow_burst(burst);
                Some(DefaultDirectRateLimiter::direct(quota))
            }
        };
        Ok(RateGate {
            pace: Mutex::new(Pace::new(setting)),
            smoothing,
            waiting: AtomicUsize::new(0),
            sooner: Notify::new(),
        })
    }

    /// Waits until one request may leave. `None` (without a departure) if the run is asked
    /// to stop meanwhile: no new request starts after a stop.
    pub async fn acquire(&self, stop: &StopSignal) -> Option<Departure> {
        self.acquire_unless(stop, StopLevel::Graceful).await
    }

    /// As [`RateGate::acquire`], giving up only once the run's stop reaches `level`: the
    /// read that counts a delivered row's copies still goes after a graceful stop.
    pub async fn acquire_unless(&self, stop: &StopSignal, level: StopLevel) -> Option<Departure> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let departure = self.wait_for_turn(stop, level).await;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        departure
    }

    async fn wait_for_turn(&self, stop: &StopSignal, level: StopLevel) -> Option<Departure> {
        loop {
            if stop.level() >= level {
                return None;
            }
            let sooner = self.sooner.notified();
            tokio::pin!(sooner);
            let ready = {
                let mut pace = self.lock();
                let now = Instant::now();
                let ready = pace.ready_at(now);
                let ready = match ready <= now {
                    true => match self.smoothing.as_ref().map(|cells| cells.check()) {
                        None | Some(Ok(())) => return Some(pace.depart(now)),
                        Some(Err(not_until)) => {
                            now + not_until.wait_time_from(DefaultClock::default().now())
                        }
                    },
                    false => ready,
                };
                // Registered under the lock, so an answer that comes right after is not missed.
                sooner.as_mut().enable();
                ready
            };
            tokio::select! {
                _ = tokio::time::sleep_until(ready) => {}
                _ = &mut sooner => {}
                _ = stop.reached(level) => return None,
            }
        }
    }

    /// Marks a granted request as leaving now, after a wait of its own (see
    /// [`Pace::leaving`]).
    pub fn leaving(&self, departure: Departure) -> Departure {
        self.lock().leaving(departure, Instant::now())
    }

    /// Learns from an answer other than a 429 (its rate-limit headers, its latency).
    pub fn answered(&self, departure: Departure, limits: &RateLimitInfo) {
        self.tell(|pace, now| pace.answered(departure, now, limits));
    }

    /// A 429: everyone waits for what the server asked, and the pace learns the window was
    /// fuller than it thought.
    pub fn refused(&self, departure: Departure, limits: &RateLimitInfo) {
        self.tell(|pace, now| {
            pace.refused(departure, now, limits, MIN_PAUSE);
            false
        });
    }

    /// A granted request that will not be made after all (the run is stopping).
    pub fn cancel(&self, departure: Departure) {
        self.tell(|pace, _| {
            pace.cancel(departure);
            false
        });
    }

    /// Tells the pace what happened to a request; `news` returns whether the budget grew.
    /// Waiters sleep until the moment the pace last gave them; when it may have come sooner
    /// (the end of the wait for a first answer, a higher limit, fewer others), they look
    /// again. Only then: waking every waiter on every answer would cost more than the
    /// requests.
    fn tell(&self, news: impl FnOnce(&mut Pace, Instant) -> bool) {
        let sooner = {
            let mut pace = self.lock();
            let probing = pace.probing();
            let grew = news(&mut pace, Instant::now());
            probing || grew
        };
        if sooner {
            self.sooner.notify_waiters();
        }
    }

    /// Learns from a request that failed: a 429 as [`RateGate::refused`], any other answer
    /// as [`RateGate::answered`]; a request without an answer teaches nothing but that it
    /// ended.
    pub fn failed(&self, departure: Departure, error: &ApiError) {
        if error.kind == ErrorKind::RateLimited {
            self.refused(departure, &error.limits);
        } else if error.http_status.is_some() {
            self.answered(departure, &error.limits);
        } else {
            self.tell(|pace, _| {
                pace.unanswered(departure);
                false
            });
        }
    }

    /// Requests the pace would keep in flight: its rate times the mean answer time (Little's
    /// law). `None` until an answer was timed.
    pub fn needed_in_flight(&self) -> Option<f64> {
        let pace = self.lock();
        Some(pace.budget_rate()? * pace.mean_latency()?.as_secs_f64())
    }

    /// The mean time an answer takes, once one was timed.
    pub fn mean_latency(&self) -> Option<Duration> {
        self.lock().mean_latency()
    }

    /// The limit and its window as the pace knows them now (stated or assumed).
    pub fn limit(&self) -> Option<(u32, Duration)> {
        self.lock().limit()
    }

    /// True when a request could leave right now: nobody waits at the gate for a turn and
    /// the budget has room (so a row without a place in flight is held by the concurrency).
    pub fn has_room(&self) -> bool {
        let now = Instant::now();
        self.waiting.load(Ordering::Relaxed) == 0 && self.lock().ready_at(now) <= now
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pace> {
        // A panic while holding this lock leaves plain numbers behind; keep going with them.
        self.pace
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    //! The gate on tokio's paused clock: timers fire in order, instantly.
    use std::sync::Arc;

    use super::*;

    fn gate(rate: &str, burst: Option<u32>) -> RateGate {
        RateGate::new(rate.parse().unwrap(), burst).unwrap()
    }

    async fn time_for(gate: &RateGate, requests: usize) -> Duration {
        let stop = StopSignal::default();
        let start = Instant::now();
        for _ in 0..requests {
            let departure = gate.acquire(&stop).await.unwrap();
            gate.answered(departure, &RateLimitInfo::default());
        }
        start.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_else_leaves_before_the_first_answer_then_a_window_goes_at_once() {
        let gate = Arc::new(gate("10/s", None));
        let stop = StopSignal::default();
        let first = gate.acquire(&stop).await.unwrap();
        let waiter = tokio::spawn({
            let gate = gate.clone();
            async move {
                let start = Instant::now();
                gate.acquire(&StopSignal::default()).await.unwrap();
                start.elapsed()
            }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiter.is_finished());
        gate.answered(
            first,
            &RateLimitInfo {
                limit: Some(10),
                remaining: Some(9),
                window: Some(Duration::from_secs(1)),
                retry_after: None,
            },
        );
        assert_eq!(waiter.await.unwrap(), Duration::from_millis(300));
        assert_eq!(time_for(&gate, 8).await, Duration::ZERO);
        // The eleventh waits for the first to leave the window, widened by the spread of
        // answer times (300 ms against none), which may widen it by a quarter at most.
        assert_eq!(time_for(&gate, 1).await, Duration::from_millis(950));
    }

    // Real time: governor keeps its own clock.
    #[tokio::test]
    async fn a_burst_spreads_the_window_at_the_steady_rate() {
        // 10 per 200 ms with a burst of 5: the burst leaves at once, then only 6 intervals
        // fit in a window, so the 10th request cannot leave before 5 of them have passed.
        let gate = gate("10/200ms", Some(5));
        let elapsed = time_for(&gate, 10).await;
        let interval = Duration::from_millis(200) / 6;
        assert!(
            elapsed >= interval * 5 - Duration::from_millis(1),
            "{elapsed:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_holds_everyone_for_its_retry_after() {
        let gate = gate("unlimited", None);
        let stop = StopSignal::default();
        let first = gate.acquire(&stop).await.unwrap();
        gate.refused(
            first,
            &RateLimitInfo {
                retry_after: Some(Duration::from_secs(2)),
                ..Default::default()
            },
        );
        assert!(!gate.has_room());
        assert_eq!(time_for(&gate, 2).await, Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stated_lower_limit_is_kept() {
        let gate = gate("auto", None);
        let stop = StopSignal::default();
        let first = gate.acquire(&stop).await.unwrap();
        gate.answered(
            first,
            &RateLimitInfo {
                limit: Some(3),
                remaining: Some(2),
                window: Some(Duration::from_secs(1)),
                retry_after: None,
            },
        );
        assert_eq!(gate.limit(), Some((3, Duration::from_secs(1))));
        assert_eq!(time_for(&gate, 2).await, Duration::ZERO);
        // The fourth needs the first out of the (widened) window.
        assert!(time_for(&gate, 1).await >= Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_releases_waiters_without_a_departure() {
        let gate = gate("1/h", None);
        let stop = StopSignal::default();
        assert!(gate.acquire(&stop).await.is_some());
        stop.request(StopLevel::Graceful, "test");
        assert!(gate.acquire(&stop).await.is_none());
    }

    #[test]
    fn refuses_a_burst_that_does_not_fit() {
        assert!(RateGate::new("5/s".parse().unwrap(), Some(6)).is_err());
        assert!(RateGate::new("5/s".parse().unwrap(), Some(0)).is_err());
        assert!(RateGate::new(RateSetting::Auto, Some(2)).is_err());
    }
}
