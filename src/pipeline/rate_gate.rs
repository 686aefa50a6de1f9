//! The only thing that decides when a request may leave.
//!
//! Two layers. governor enforces `--rate`/`--burst` as a hard cap that nothing can exceed.
//! On top, an adaptive layer slows everyone down when the server's answers say our budget is
//! smaller than `--rate`: a lower `X-RateLimit-Limit`, another job using the same key (seen
//! as `X-RateLimit-Remaining` falling faster than our own requests explain), or a 429. A
//! 429 pauses every worker until the server's `retry-after`.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota};
use tokio::time::Instant;

use super::stop::{StopLevel, StopSignal};
use crate::api::RateLimitInfo;
use crate::duration::later;
use crate::rate::Rate;

/// Every interval is stretched by 1% so that network jitter cannot bunch two requests
/// closer together at the server than its rolling window allows. Costs 1% of throughput;
/// buys zero 429s when `--rate` equals the server's limit.
const JITTER_MARGIN: f64 = 1.01;

/// Our count of requests in the window may miss one or two that the server still counts
/// (sent just before the window, arrived just after), so "others" start above that.
const OTHERS_SLACK: u32 = 2;

/// How much slower than `--rate` repeated 429s without rate-limit headers may make us.
const MAX_SLOWDOWN: f64 = 16.0;

pub struct RateGate {
    rate: Rate,
    cap: Option<DefaultDirectRateLimiter>,
    state: Mutex<Adaptive>,
}

#[derive(Debug)]
struct Adaptive {
    /// Nobody sends before this (set by a 429).
    paused_until: Option<Instant>,
    /// Extra spacing between requests when our share of the budget is below `--rate`.
    spacing: Option<Duration>,
    next_slot: Instant,
    /// When our own recent requests left, to tell our use of the budget from others'.
    recent: VecDeque<Instant>,
    /// Grows on 429s that came without rate-limit headers; decays on success.
    slowdown: f64,
}

impl RateGate {
    pub fn new(rate: Rate, burst: u32) -> Result<Self, String> {
        let cap = match rate {
            Rate::Unlimited => None,
            Rate::Limited { requests, per } => {
                if burst == 0 || burst > requests {
                    return Err(format!(
                        "--burst {burst} does not fit --rate {rate}: it must be between 1 and {requests}"
                    ));
                }
                // A full burst plus the steady refill must still fit in one window: with burst
                // b, only N - b + 1 intervals may start within any window of length W.
                let period = (per / (requests - burst + 1)).mul_f64(JITTER_MARGIN);
                let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
                let quota = Quota::with_period(period)
                    .ok_or_else(|| format!("--rate {rate} is too fast to pace"))?
                    .allow_burst(burst);
                Some(DefaultDirectRateLimiter::direct(quota))
            }
        };
        Ok(RateGate {
            rate,
            cap,
            state: Mutex::new(Adaptive {
                paused_until: None,
                spacing: None,
                next_slot: Instant::now(),
                recent: VecDeque::new(),
                slowdown: 1.0,
            }),
        })
    }

    /// Waits until one request may leave. Returns `false` (without a slot) if the run is
    /// asked to stop meanwhile: no new request starts after a stop.
    pub async fn acquire(&self, stop: &StopSignal) -> bool {
        self.acquire_unless(stop, StopLevel::Graceful).await
    }

    /// As [`RateGate::acquire`], giving up only once the run's stop reaches `level`: the
    /// read that counts a delivered row's copies still goes after a graceful stop.
    pub async fn acquire_unless(&self, stop: &StopSignal, level: StopLevel) -> bool {
        loop {
            if stop.level() >= level {
                return false;
            }
            let slot = self.reserve_slot();
            // A timer that is already due still waits for the timer wheel's next tick (about
            // a millisecond): at full speed that would be the biggest cost of a request.
            if slot > Instant::now() {
                tokio::select! {
                    _ = tokio::time::sleep_until(slot) => {}
                    _ = stop.reached(level) => return false,
                }
            }
            if let Some(cap) = &self.cap {
                tokio::select! {
                    _ = cap.until_ready() => {}
                    _ = stop.reached(level) => return false,
                }
            }
            // A 429 seen by another worker while we waited pauses us too.
            let mut state = self.lock();
            let now = Instant::now();
            if state.paused_until.is_none_or(|until| until <= now) {
                if matches!(self.rate, Rate::Limited { .. }) {
                    state.recent.push_back(now);
                }
                return true;
            }
        }
    }

    /// Learns from a successful answer's rate-limit headers.
    pub fn observe(&self, limits: &RateLimitInfo) {
        let Rate::Limited { requests, per } = self.rate else {
            return;
        };
        let mut state = self.lock();
        let now = Instant::now();
        while state
            .recent
            .front()
            .is_some_and(|sent| now.duration_since(*sent) >= per)
        {
            state.recent.pop_front();
        }
        let Some(limit) = limits.limit else {
            // No headers to go by: recover slowly from earlier 429s.
            state.slowdown = (state.slowdown * 0.98).max(1.0);
            state.spacing =
                (state.slowdown > 1.0).then(|| (per / requests).mul_f64(state.slowdown));
            return;
        };
        let ours = state.recent.len() as u32;
        let others = limits
            .remaining
            .map(|remaining| {
                limit
                    .saturating_sub(remaining)
                    .saturating_sub(ours + OTHERS_SLACK)
            })
            .unwrap_or(0);
        let share = limit.min(requests).saturating_sub(others).max(1);
        state.spacing = (share < requests).then(|| (per / share).mul_f64(JITTER_MARGIN));
    }

    /// A 429: everyone waits for what the server asked (at least a second), and the pace
    /// slows if the server gave nothing else to go by.
    pub fn pause(&self, limits: &RateLimitInfo) {
        let wait = limits
            .retry_after
            .unwrap_or(Duration::from_secs(1))
            .max(Duration::from_millis(100));
        let mut state = self.lock();
        let until = later(Instant::now(), wait);
        state.paused_until = Some(
            state
                .paused_until
                .map_or(until, |current| current.max(until)),
        );
        if let (Rate::Limited { requests, per }, None) = (self.rate, limits.limit) {
            state.slowdown = (state.slowdown * 1.5).min(MAX_SLOWDOWN);
            state.spacing = Some((per / requests).mul_f64(state.slowdown));
        }
    }

    /// The earliest moment this caller may go, advancing the shared schedule.
    fn reserve_slot(&self) -> Instant {
        let mut state = self.lock();
        let mut slot = Instant::now();
        if let Some(paused_until) = state.paused_until {
            slot = slot.max(paused_until);
        }
        if let Some(spacing) = state.spacing {
            slot = slot.max(state.next_slot);
            state.next_slot = slot + spacing;
        }
        slot
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Adaptive> {
        // A panic while holding this lock leaves plain numbers behind; keep going with them.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn time_for(gate: &RateGate, requests: usize) -> Duration {
        let stop = StopSignal::default();
        let start = std::time::Instant::now();
        for _ in 0..requests {
            assert!(gate.acquire(&stop).await);
        }
        start.elapsed()
    }

    #[tokio::test]
    async fn never_faster_than_the_rate() {
        let gate = RateGate::new("100/s".parse().unwrap(), 1).unwrap();
        // 11 requests span 10 intervals of 10 ms (plus the jitter margin).
        assert!(time_for(&gate, 11).await >= Duration::from_millis(100));
    }

    #[tokio::test]
    async fn a_burst_is_paid_for_within_the_window() {
        // 10 per 200 ms with a burst of 5: the burst leaves at once, then only 6 intervals
        // fit in a window, so the 10th request cannot leave before 4 of them have passed.
        let gate = RateGate::new("10/200ms".parse().unwrap(), 5).unwrap();
        let elapsed = time_for(&gate, 10).await;
        let interval = Duration::from_millis(200) / 6;
        assert!(
            elapsed >= interval * 5 - Duration::from_millis(2),
            "{elapsed:?}"
        );
    }

    #[tokio::test]
    async fn a_pause_holds_everyone() {
        let gate = RateGate::new(Rate::Unlimited, 1).unwrap();
        gate.pause(&RateLimitInfo {
            retry_after: Some(Duration::from_millis(150)),
            ..Default::default()
        });
        assert!(time_for(&gate, 2).await >= Duration::from_millis(150));
    }

    #[tokio::test]
    async fn a_lower_server_limit_slows_the_pace() {
        let gate = RateGate::new("100/s".parse().unwrap(), 1).unwrap();
        gate.observe(&RateLimitInfo {
            limit: Some(20),
            remaining: Some(19),
            retry_after: None,
        });
        // 20/s is 50 ms apart: 3 requests need at least 2 such gaps.
        assert!(time_for(&gate, 3).await >= Duration::from_millis(100));
    }

    #[tokio::test]
    async fn a_stop_releases_waiters_without_a_slot() {
        let gate = RateGate::new("1/h".parse().unwrap(), 1).unwrap();
        let stop = StopSignal::default();
        assert!(gate.acquire(&stop).await);
        stop.request(StopLevel::Graceful, "test");
        assert!(!gate.acquire(&stop).await);
    }

    #[test]
    fn refuses_a_burst_larger_than_the_window() {
        assert!(RateGate::new("5/s".parse().unwrap(), 6).is_err());
        assert!(RateGate::new("5/s".parse().unwrap(), 0).is_err());
    }
}
