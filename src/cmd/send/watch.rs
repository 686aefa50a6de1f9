//! What watches a run from outside the engine: the signals that stop it, the deadline that
//! ends it, and the progress view. The engine only reads the stop signal and the counters;
//! these are wired here, and all of them are ended and joined when the run is over.

use std::sync::Arc;

use tokio::task::JoinHandle;

use super::progress::{Goal, Progress, ProgressView};
use crate::cmd::signals::stop_on_signals;
use crate::pipeline::{StopSignal, Tally};
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
        self.progress.finish().await;
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
