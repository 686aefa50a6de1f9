//! Another integration on the same key (`--neighbour`): a steady stream of requests that
//! spends the key's budget beside the client under test, as a CRM sync or a chatbot would.
//!
//! Its requests never cross the network: each is decided by the same rolling window at the
//! moment it is due, and counted in the report (`neighbourAccepted`, `neighbourRefused`).
//! What the client sees is what a real neighbour causes: `X-RateLimit-Remaining` falling
//! faster than its own requests explain.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use super::routes::Sandbox;
use crate::rate::Rate;

/// How the other user of the key behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Neighbour {
    /// Its pace: requests spread evenly, e.g. 6/s.
    pub rate: Rate,
    /// It stops after this long (from the sandbox's start); `None`: never.
    pub stops_after: Option<Duration>,
}

impl Neighbour {
    /// The time between two of its requests, rounded up to the nanosecond: rounded down,
    /// six requests a second would come 4 ns short of a second apart, one more than the
    /// rolling window holds for six.
    pub fn interval(&self) -> Option<Duration> {
        let Rate::Limited { requests, per } = self.rate else {
            return None;
        };
        Some(Duration::from_nanos(
            per.as_nanos()
                .div_ceil(u128::from(requests))
                .try_into()
                .ok()?,
        ))
    }
}

/// The running neighbour; dropping it (or [`NeighbourTask::stop`]) ends it.
pub struct NeighbourTask {
    stop: watch::Sender<()>,
    task: JoinHandle<()>,
}

impl NeighbourTask {
    pub fn spawn(sandbox: Arc<Sandbox>, neighbour: Neighbour) -> Option<NeighbourTask> {
        let interval = neighbour.interval()?;
        let (stop, mut stopped) = watch::channel(());
        let started = Instant::now();
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(started + interval, interval);
            // A late wake-up does not shift the schedule: the neighbour keeps its own pace.
            ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
            loop {
                tokio::select! {
                    due = ticks.tick() => {
                        if neighbour.stops_after.is_some_and(|after| due - started > after) {
                            return;
                        }
                        sandbox.admit_neighbour(due.into_std());
                    }
                    _ = stopped.changed() => return,
                }
            }
        });
        Some(NeighbourTask { stop, task })
    }

    pub async fn stop(self) {
        drop(self.stop);
        if let Err(error) = self.task.await {
            tracing::warn!("sandbox neighbour ended abnormally: {error}");
        }
    }
}
