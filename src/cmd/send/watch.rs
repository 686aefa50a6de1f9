//! What watches a run from outside the engine: the signals that stop it, the deadline that
//! ends it, and the progress view. The engine only reads the stop signal and the counters;
//! these are wired here, and all of them are ended and joined when the run is over.

use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::output::{self, Level};
use crate::pipeline::{Goal, Progress, ProgressView, StopLevel, StopSignal, Tally};
use crate::rate::Rate;

pub(super) struct Watchers {
    signals: Option<JoinHandle<()>>,
    deadline: Option<JoinHandle<()>>,
    progress: Progress,
}

impl Watchers {
    /// Starts watching, before the first request can leave.
    pub(super) fn start(
        stop: &StopSignal,
        deadline: Option<tokio::time::Instant>,
        tally: Arc<Tally>,
        goal: Goal,
        rate: Rate,
        view: ProgressView,
    ) -> Watchers {
        Watchers {
            signals: stop_on_signals(stop),
            deadline: deadline.and_then(|deadline| stop_at(stop, deadline)),
            progress: Progress::start(tally, goal, rate, view),
        }
    }

    /// Ends every watcher and waits for each.
    pub(super) async fn finish(self) {
        for task in [self.signals, self.deadline].into_iter().flatten() {
            task.abort();
            let _ = task.await;
        }
        self.progress.finish();
    }
}

/// A planned stop at `deadline`; one already past stops the run before its first request
/// rather than race it.
fn stop_at(stop: &StopSignal, deadline: tokio::time::Instant) -> Option<JoinHandle<()>> {
    if deadline <= tokio::time::Instant::now() {
        stop.plan("the deadline has passed");
        return None;
    }
    let stop = stop.clone();
    Some(tokio::spawn(async move {
        tokio::time::sleep_until(deadline).await;
        stop.plan("the deadline has passed");
    }))
}

/// Turns Ctrl-C, SIGTERM (what cron and systemd send) and SIGHUP into stop requests: the
/// first graceful, the next immediate.
fn stop_on_signals(stop: &StopSignal) -> Option<JoinHandle<()>> {
    // Registered here, before any request can leave, not later in the task.
    let Some(mut signals) = Signals::install() else {
        tracing::warn!("cannot listen for signals; Ctrl-C will end the run abruptly");
        return None;
    };
    let stop = stop.clone();
    Some(tokio::spawn(async move {
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
    }))
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
