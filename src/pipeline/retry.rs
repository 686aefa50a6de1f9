//! When to try a request again. The one place that knows about the `backoff` crate (marked
//! unmaintained upstream, RUSTSEC-2025-0012): swapping it for `backon` touches only this file.
//! A row of `send` is retried by its protocol (a post may not simply be repeated); a read
//! that may, such as a page of the ticket list, is retried by [`read_within_limit`].

use std::future::Future;
use std::time::Duration;

use backoff::ExponentialBackoff;
use backoff::backoff::Backoff;

use super::rate_gate::RateGate;
use super::stop::{StopLevel, StopSignal};
use crate::api::{ApiError, ErrorClass, Reply};

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts per row in one run, the first included.
    pub max_attempts: u32,
    /// The first pause; each further one doubles, with ±50% jitter so that workers that
    /// failed together do not retry together.
    pub initial_delay: Duration,
    pub max_delay: Duration,
}

impl RetryPolicy {
    pub fn schedule(&self) -> RetrySchedule {
        let backoff = backoff::ExponentialBackoffBuilder::new()
            .with_initial_interval(self.initial_delay)
            .with_multiplier(2.0)
            .with_randomization_factor(0.5)
            .with_max_interval(self.max_delay)
            .with_max_elapsed_time(None)
            .build();
        RetrySchedule {
            backoff,
            max_delay: self.max_delay,
        }
    }
}

/// The pauses of one row.
pub struct RetrySchedule {
    backoff: ExponentialBackoff,
    max_delay: Duration,
}

impl RetrySchedule {
    /// The next pause: exponential with jitter, but never shorter than what the server asked
    /// for (`retry-after`).
    pub fn next_delay(&mut self, server_asks: Option<Duration>) -> Duration {
        // Jitter may push past the cap; the cap is a promise to the user.
        let ours = self
            .backoff
            .next_backoff()
            .unwrap_or(self.max_delay)
            .min(self.max_delay);
        server_asks.map_or(ours, |asked| ours.max(asked))
    }
}

/// Why a read retried within the rate limit ended without an answer.
#[derive(Debug)]
pub enum GaveUp {
    /// The stop signal was raised (Ctrl-C, SIGTERM): no request is left to make.
    Stopped,
    /// A failure not worth another attempt, or the last attempt's.
    Failed(ApiError),
}

impl std::fmt::Display for GaveUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GaveUp::Stopped => f.write_str("interrupted"),
            GaveUp::Failed(error) => error.fmt(f),
        }
    }
}

/// A read that may be repeated without harm, within the rate limit and as the row protocol
/// retries: every attempt waits for the gate and tells it the answer (a 429 holds back every
/// user of the gate), a retryable failure waits the next pause of `policy` (never less than
/// the server's `retry-after`), anything else ends it. A graceful stop ends the wait and
/// abandons the request in flight: a read given up on changes nothing.
pub async fn read_within_limit<T, F, Fut>(
    gate: &RateGate,
    stop: &StopSignal,
    policy: &RetryPolicy,
    mut read: F,
) -> Result<T, GaveUp>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Reply<T>, ApiError>>,
{
    let mut schedule = policy.schedule();
    let mut tries = 0;
    loop {
        let Some(departure) = gate.acquire(stop).await else {
            return Err(GaveUp::Stopped);
        };
        tries += 1;
        let answer = tokio::select! {
            answer = read() => answer,
            _ = stop.reached(StopLevel::Graceful) => {
                gate.cancel(departure);
                return Err(GaveUp::Stopped);
            }
        };
        let error = match answer {
            Ok(reply) => {
                gate.answered(departure, &reply.limits);
                return Ok(reply.value);
            }
            Err(error) => error,
        };
        gate.failed(departure, &error);
        if error.class() != ErrorClass::Retryable || tries >= policy.max_attempts {
            return Err(GaveUp::Failed(error));
        }
        let delay = schedule.next_delay(error.limits.retry_after);
        tracing::debug!(?delay, "retrying: {error}");
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.reached(StopLevel::Graceful) => return Err(GaveUp::Stopped),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 256,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x7265_7472),
            ..proptest::prelude::ProptestConfig::default()
        })]

        /// `--retry-delay` and a server's `retry-after` of any size give pauses, not panics.
        #[test]
        fn any_delay_schedules_without_panicking(
            initial_ms in proptest::prelude::any::<u64>(),
            asked_secs in proptest::option::of(proptest::prelude::any::<u64>()),
        ) {
            let policy = RetryPolicy {
                max_attempts: 8,
                initial_delay: Duration::from_millis(initial_ms),
                max_delay: Duration::from_secs(60),
            };
            let mut schedule = policy.schedule();
            for _ in 0..8 {
                let _ = schedule.next_delay(asked_secs.map(Duration::from_secs));
            }
        }
    }

    #[test]
    fn grows_exponentially_within_the_jitter_and_honours_the_server() {
        let policy = RetryPolicy {
            max_attempts: 8,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
        };
        let mut schedule = policy.schedule();
        let first = schedule.next_delay(None);
        assert!(
            first >= Duration::from_millis(50) && first <= Duration::from_millis(150),
            "{first:?}"
        );
        let second = schedule.next_delay(None);
        assert!(
            second >= Duration::from_millis(100) && second <= Duration::from_millis(300),
            "{second:?}"
        );
        for _ in 0..10 {
            assert!(schedule.next_delay(None) <= Duration::from_secs(2));
        }
        assert_eq!(
            schedule.next_delay(Some(Duration::from_secs(30))),
            Duration::from_secs(30)
        );
    }
}
