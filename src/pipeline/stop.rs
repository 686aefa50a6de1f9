//! Stopping a run: one explicit signal that every task watches (as in mini-redis).
//!
//! `Graceful`: read no more rows and start no new request; requests in flight finish and
//! their outcomes are recorded. `Immediate`: in-flight requests are abandoned too (their
//! rows stay in doubt and are settled by the next run). A fatal API error (401/403) or a
//! journal that cannot be written stops the run the same way. Who else may stop it (signals,
//! a deadline) is the caller's business: the engine only watches the signal.

use std::sync::{Arc, Mutex};

use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StopLevel {
    Running,
    Graceful,
    Immediate,
}

/// Why a run ended before the end of its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopCause {
    pub reason: String,
    /// Asked for in advance (`--deadline`): the run ends as if finished, and the next run
    /// continues.
    pub planned: bool,
}

#[derive(Clone)]
pub struct StopSignal {
    level: Arc<watch::Sender<StopLevel>>,
    cause: Arc<Mutex<Option<StopCause>>>,
}

impl Default for StopSignal {
    fn default() -> Self {
        StopSignal {
            level: Arc::new(watch::Sender::new(StopLevel::Running)),
            cause: Arc::default(),
        }
    }
}

impl StopSignal {
    /// Raises the stop level (never lowers it). The first reason given is the one reported.
    pub fn request(&self, level: StopLevel, reason: impl Into<String>) {
        self.raise(
            level,
            StopCause {
                reason: reason.into(),
                planned: false,
            },
        );
    }

    /// A stop the user planned (a deadline): graceful, and not a failure.
    pub fn plan(&self, reason: impl Into<String>) {
        self.raise(
            StopLevel::Graceful,
            StopCause {
                reason: reason.into(),
                planned: true,
            },
        );
    }

    fn raise(&self, level: StopLevel, cause: StopCause) {
        if let Ok(mut slot) = self.cause.lock() {
            slot.get_or_insert(cause);
        }
        self.level.send_if_modified(|current| {
            let raise = level > *current;
            if raise {
                *current = level;
            }
            raise
        });
    }

    pub fn level(&self) -> StopLevel {
        *self.level.borrow()
    }

    pub fn is_stopping(&self) -> bool {
        self.level() >= StopLevel::Graceful
    }

    pub fn cause(&self) -> Option<StopCause> {
        self.cause.lock().ok().and_then(|c| c.clone())
    }

    /// Resolves once the level reaches `level`.
    pub async fn reached(&self, level: StopLevel) {
        let mut rx = self.level.subscribe();
        // The sender lives as long as `self`, so waiting cannot fail.
        let _ = rx.wait_for(|current| *current >= level).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn levels_only_rise_and_the_first_reason_sticks() {
        let stop = StopSignal::default();
        assert!(!stop.is_stopping());
        stop.request(StopLevel::Graceful, "fatal: 401");
        stop.request(StopLevel::Immediate, "interrupted");
        stop.request(StopLevel::Graceful, "later");
        assert_eq!(stop.level(), StopLevel::Immediate);
        assert_eq!(
            stop.cause(),
            Some(StopCause {
                reason: "fatal: 401".into(),
                planned: false
            })
        );
        stop.reached(StopLevel::Immediate).await;
    }
}
