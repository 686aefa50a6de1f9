//! Stopping a run: one explicit signal that every task watches (as in mini-redis).
//!
//! `Graceful`: read no more rows and start no new request; requests in flight finish and
//! their outcomes are recorded. `Immediate`: in-flight requests are abandoned too (their
//! rows stay in doubt and are settled by the next run). Ctrl-C, SIGTERM and SIGHUP ask for
//! a graceful stop; a second one for an immediate stop. A fatal API error (401/403) or a
//! journal that cannot be written stops the run the same way.

use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::output::{self, Level};

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

    /// Turns Ctrl-C, SIGTERM (what cron and systemd send) and SIGHUP into stop requests.
    pub fn listen_for_signals(&self) {
        let stop = self.clone();
        // Registered here, before any request can leave, not later in the task.
        let Some(mut signals) = Signals::install() else {
            tracing::warn!("cannot listen for signals; Ctrl-C will end the run abruptly");
            return;
        };
        tokio::spawn(async move {
            let mut presses = 0;
            while signals.next().await {
                presses += 1;
                if presses == 1 {
                    output::say(
                        Level::Warn,
                        "bulk-reply: stopping: no new requests; waiting for those in flight (send the signal again to stop at once)",
                    );
                    stop.request(StopLevel::Graceful, "interrupted");
                } else {
                    output::say(Level::Warn, "bulk-reply: stopping at once");
                    stop.request(StopLevel::Immediate, "interrupted");
                }
            }
        });
    }
}

/// The signals that mean "stop", registered once for the whole run.
struct Signals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Option<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Some(Signals {
                terminate: signal(SignalKind::terminate()).ok()?,
                hangup: signal(SignalKind::hangup()).ok()?,
            })
        }
        #[cfg(not(unix))]
        Some(Signals {})
    }

    async fn next(&mut self) -> bool {
        #[cfg(unix)]
        {
            tokio::select! {
                r = tokio::signal::ctrl_c() => r.is_ok(),
                r = self.terminate.recv() => r.is_some(),
                r = self.hangup.recv() => r.is_some(),
            }
        }
        #[cfg(not(unix))]
        tokio::signal::ctrl_c().await.is_ok()
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
