//! The server side of the rate limit: a rolling window, like the real API's.
//!
//! A request is accepted iff fewer than N *accepted* requests lie in `(now - W, now]`. A
//! refused (429) request changes nothing, so a client that keeps knocking is not punished
//! further; it only has to wait for the oldest accepted request to leave the window.
//!
//! The sandbox accepts exactly one token, so one window holds that token's budget.
//!
//! Alongside, [`PeakMeter`] counts *every* request (refused ones too) in a window of the same
//! length, so a test can prove a client never knocked more often than the limit allows.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::rate::Rate;

/// The window used for `peakRequestsPerWindow` when no limit is enforced.
const UNLIMITED_PEAK_WINDOW: Duration = Duration::from_secs(1);

/// What the limiter decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No limit is enforced; no rate-limit headers are sent.
    Unlimited,
    /// Accepted; `remaining` more requests fit in the window right now.
    Accepted { limit: u32, remaining: u32 },
    /// Refused with 429.
    Refused {
        limit: u32,
        /// Whole seconds until the oldest accepted request leaves the window (at least 1).
        retry_after_secs: u64,
        /// UNIX time, in whole seconds rounded up, when a request will be accepted again.
        reset_unix_secs: u64,
    },
}

/// The rolling window of accepted requests for the one token.
#[derive(Debug)]
pub struct RollingWindow {
    rate: Rate,
    /// Arrival times of accepted requests still inside the window, oldest first.
    accepted: VecDeque<Instant>,
}

impl RollingWindow {
    pub fn new(rate: Rate) -> Self {
        let capacity = match rate {
            Rate::Limited { requests, .. } => requests.min(4096) as usize,
            Rate::Unlimited => 0,
        };
        RollingWindow {
            rate,
            accepted: VecDeque::with_capacity(capacity),
        }
    }

    /// Decides one request arriving at `now` (`wall_now` is the same moment on the wall clock,
    /// used only for `x-ratelimit-reset`). Taking the clocks as arguments keeps the rule
    /// testable to the nanosecond.
    pub fn admit(&mut self, now: Instant, wall_now: SystemTime) -> Verdict {
        let Rate::Limited { requests, per } = self.rate else {
            return Verdict::Unlimited;
        };
        while let Some(&oldest) = self.accepted.front() {
            if now.duration_since(oldest) >= per {
                self.accepted.pop_front();
            } else {
                break;
            }
        }
        let in_window = self.accepted.len() as u32;
        if in_window < requests {
            self.accepted.push_back(now);
            return Verdict::Accepted {
                limit: requests,
                remaining: requests - in_window - 1,
            };
        }
        // Full: the window frees a slot when its oldest accepted request leaves it.
        let oldest = self.accepted.front().copied().unwrap_or(now);
        let wait = (oldest + per).saturating_duration_since(now);
        let retry_after_secs = ceil_secs(wait).max(1);
        let since_epoch = wall_now.duration_since(UNIX_EPOCH).unwrap_or_default();
        Verdict::Refused {
            limit: requests,
            retry_after_secs,
            reset_unix_secs: ceil_secs(since_epoch + wait),
        }
    }
}

impl RollingWindow {
    /// Decides a request of the key's other user (`--neighbour`), due at `at`: an
    /// integration paced by its own clock. The task that plays it wakes up to a millisecond
    /// after `at`, and requests admitted in that millisecond are already in the window: `at`
    /// is placed in order among them, and each of them counts against it (the neighbour may
    /// be refused a little early, never let in over the limit). True if accepted.
    pub fn admit_due(&mut self, at: Instant) -> bool {
        let Rate::Limited { requests, per } = self.rate else {
            return true;
        };
        while let Some(&oldest) = self.accepted.front() {
            if at.saturating_duration_since(oldest) >= per {
                self.accepted.pop_front();
            } else {
                break;
            }
        }
        if self.accepted.len() as u32 >= requests {
            return false;
        }
        let place = self.accepted.partition_point(|&accepted| accepted <= at);
        self.accepted.insert(place, at);
        true
    }
}

fn ceil_secs(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

/// The most requests seen in any window of one length (sliding, measured at each arrival).
#[derive(Debug)]
pub struct PeakMeter {
    window: Duration,
    recent: VecDeque<Instant>,
    peak: u64,
}

impl PeakMeter {
    pub fn new(rate: Rate) -> Self {
        let window = match rate {
            Rate::Limited { per, .. } => per,
            Rate::Unlimited => UNLIMITED_PEAK_WINDOW,
        };
        PeakMeter {
            window,
            recent: VecDeque::new(),
            peak: 0,
        }
    }

    pub fn record(&mut self, now: Instant) {
        while let Some(&oldest) = self.recent.front() {
            if now.duration_since(oldest) >= self.window {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        self.recent.push_back(now);
        self.peak = self.peak.max(self.recent.len() as u64);
    }

    pub fn peak(&self) -> u64 {
        self.peak
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn accepts_n_per_rolling_window_and_refusals_change_nothing() {
        let rate: Rate = "3/1s".parse().unwrap();
        let mut window = RollingWindow::new(rate);
        let t0 = Instant::now();
        let wall = UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(
            window.admit(t0, wall),
            Verdict::Accepted {
                limit: 3,
                remaining: 2
            }
        );
        assert!(matches!(
            window.admit(t0 + ms(400), wall),
            Verdict::Accepted { remaining: 1, .. }
        ));
        assert!(matches!(
            window.admit(t0 + ms(500), wall),
            Verdict::Accepted { remaining: 0, .. }
        ));
        // Full until t0 + 1s; many refusals in between do not move that moment.
        for at in [600, 700, 999] {
            assert!(matches!(
                window.admit(t0 + ms(at), wall + ms(at)),
                Verdict::Refused { .. }
            ));
        }
        // The first request leaves at exactly t0 + 1s: one slot, not three (rolling, not fixed).
        assert!(matches!(
            window.admit(t0 + ms(1000), wall),
            Verdict::Accepted { remaining: 0, .. }
        ));
        assert!(matches!(
            window.admit(t0 + ms(1001), wall),
            Verdict::Refused { .. }
        ));
        assert!(matches!(
            window.admit(t0 + ms(1400), wall),
            Verdict::Accepted { .. }
        ));
    }

    #[test]
    fn a_request_due_a_moment_ago_takes_its_place_in_order_and_its_turn() {
        let mut window = RollingWindow::new("2/1s".parse().unwrap());
        let t0 = Instant::now();
        let wall = SystemTime::now();
        assert!(matches!(
            window.admit(t0 + ms(10), wall),
            Verdict::Accepted { .. }
        ));
        // Due at 5 ms, decided at 10 ms: admitted before the one that arrived at 10 ms.
        assert!(window.admit_due(t0 + ms(5)));
        assert!(!window.admit_due(t0 + ms(20)));
        assert!(matches!(
            window.admit(t0 + ms(900), wall),
            Verdict::Refused { .. }
        ));
        // The 5 ms request leaves first, at 1005 ms.
        assert!(window.admit_due(t0 + ms(1005)));
        assert!(matches!(
            window.admit(t0 + ms(1006), wall),
            Verdict::Refused { .. }
        ));
    }

    #[test]
    fn retry_after_rounds_up_and_is_at_least_one() {
        let rate: Rate = "1/min".parse().unwrap();
        let mut window = RollingWindow::new(rate);
        let t0 = Instant::now();
        let wall = UNIX_EPOCH + Duration::from_millis(1_700_000_000_250);
        window.admit(t0, wall);
        assert_eq!(
            window.admit(t0 + ms(10_500), wall + ms(10_500)),
            Verdict::Refused {
                limit: 1,
                retry_after_secs: 50,           // 49.5 s rounded up
                reset_unix_secs: 1_700_000_061, // 1_700_000_060.25 rounded up
            }
        );
        let short: Rate = "1/100ms".parse().unwrap();
        let mut window = RollingWindow::new(short);
        window.admit(t0, wall);
        assert!(matches!(
            window.admit(t0 + ms(99), wall),
            Verdict::Refused {
                retry_after_secs: 1,
                ..
            }
        ));
    }

    #[test]
    fn unlimited_accepts_everything() {
        let mut window = RollingWindow::new(Rate::Unlimited);
        let t0 = Instant::now();
        for _ in 0..10_000 {
            assert_eq!(window.admit(t0, SystemTime::now()), Verdict::Unlimited);
        }
    }

    #[test]
    fn peak_counts_every_request_in_any_window() {
        let mut meter = PeakMeter::new("2/1s".parse().unwrap());
        let t0 = Instant::now();
        for at in [0, 100, 200, 1150, 1300] {
            meter.record(t0 + ms(at));
        }
        // 0, 100 and 200 share one window; later arrivals never see more than two.
        assert_eq!(meter.peak(), 3);
        let mut unlimited = PeakMeter::new(Rate::Unlimited);
        for at in 0..5 {
            unlimited.record(t0 + ms(at * 300));
        }
        assert_eq!(unlimited.peak(), 4);
    }
}
