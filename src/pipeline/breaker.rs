//! What the run as a whole has learned about the API, fed by the courier after every request,
//! and the two run-level decisions taken from it. The per-row protocol decides for one row
//! only; a question whose answer depends on the other rows is asked here:
//!
//! - **Is the API gone?** Connection failures with no answer of any kind in between, from
//!   whichever rows, mean the server is down or the path to it is: every row would burn all
//!   its attempts (minutes, with backoff) before saying so. After
//!   [`CONNECT_FAILURES_TO_STOP`] the run stops (exit 3; nothing is lost, the next run resumes).
//! - **Is a 403 the token's or the ticket's?** Only a run that has not delivered a single
//!   message yet takes a 403 on a readable, non-chat ticket as the token's: once a POST has
//!   succeeded, the token can write, and the refusal belongs to that ticket.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};

use crate::api::ApiError;

/// Failed connection attempts in a row that stop the run. With the default retry delay a
/// single row reaches it in about 3.5 s of outage; a blip shorter than that goes unnoticed.
pub const CONNECT_FAILURES_TO_STOP: u32 = 4;

#[derive(Default)]
pub struct RunBreaker {
    /// Connection failures since the last answer (of any status).
    connect_failures: AtomicU32,
    /// A POST of this run was answered with a 2xx.
    delivered: AtomicBool,
}

impl RunBreaker {
    /// Some answer came back: the server is reachable.
    pub fn answered(&self) {
        self.connect_failures.store(0, Relaxed);
    }

    /// A POST came back with a 2xx: the token can write.
    pub fn delivered(&self) {
        self.delivered.store(true, Relaxed);
        self.answered();
    }

    /// Learns from a failed request. `Some(reason)` when the run must stop because the API
    /// cannot be reached (`base_url` names it in the reason).
    pub fn failed(&self, error: &ApiError, base_url: &str) -> Option<String> {
        if error.http_status.is_some() {
            self.answered();
            return None;
        }
        if !error.could_not_connect() {
            return None;
        }
        let failures = self
            .connect_failures
            .fetch_add(1, Relaxed)
            .saturating_add(1);
        (failures == CONNECT_FAILURES_TO_STOP).then(|| {
            format!(
                "cannot reach the API at {base_url}: {failures} connection attempts in a row failed ({error}); check that it is reachable from this machine, then run the same command again"
            )
        })
    }

    /// Whether a 403 on a ticket that could be read, and is not a chat ticket, stops the run:
    /// only while no message has been delivered, when nothing shows the token may write.
    pub fn refusal_stops_run(&self) -> bool {
        !self.delivered.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ErrorKind, RateLimitInfo};

    fn refused() -> ApiError {
        ApiError {
            kind: ErrorKind::Network,
            message: "could not connect: Connection refused".into(),
            http_status: None,
            body: None,
            limits: RateLimitInfo::default(),
            in_doubt: false,
        }
    }

    #[test]
    fn consecutive_connection_failures_trip_once_and_any_answer_resets() {
        let breaker = RunBreaker::default();
        for _ in 1..CONNECT_FAILURES_TO_STOP {
            assert_eq!(breaker.failed(&refused(), "http://x/v1"), None);
        }
        // A 503 is an answer: the server is there.
        let busy = ApiError::from_status(503, b"", RateLimitInfo::default(), None);
        assert_eq!(breaker.failed(&busy, "http://x/v1"), None);
        for _ in 1..CONNECT_FAILURES_TO_STOP {
            assert_eq!(breaker.failed(&refused(), "http://x/v1"), None);
        }
        let reason = breaker.failed(&refused(), "http://x/v1").unwrap();
        assert!(
            reason.contains("cannot reach the API at http://x/v1"),
            "{reason}"
        );
        assert_eq!(
            breaker.failed(&refused(), "http://x/v1"),
            None,
            "reported once"
        );
    }

    #[test]
    fn a_lost_answer_neither_counts_nor_resets() {
        let breaker = RunBreaker::default();
        let lost = ApiError {
            kind: ErrorKind::Timeout,
            in_doubt: true,
            ..refused()
        };
        for _ in 1..CONNECT_FAILURES_TO_STOP {
            breaker.failed(&refused(), "u");
            breaker.failed(&lost, "u");
        }
        assert!(breaker.failed(&refused(), "u").is_some());
    }

    #[test]
    fn a_refusal_stops_the_run_only_before_the_first_delivery() {
        let breaker = RunBreaker::default();
        assert!(breaker.refusal_stops_run());
        breaker.delivered();
        assert!(!breaker.refusal_stops_run());
    }
}
