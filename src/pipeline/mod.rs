//! The run loop: reader → workers → writer, joined by bounded channels.
//!
//! ```text
//! feeder thread ──jobs──► dispatcher ──spawns ≤ concurrency──► Courier::deliver ──outcomes──► journal writer thread
//!   (input, resume)        (semaphore)                         (RateGate, ApiClient, retry)     (journal, results, failed rows)
//! ```

mod courier;
mod feed;
mod progress;
mod rate_gate;
mod retry;
mod stop;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

pub use feed::{FeedEnd, JobSource, Jobs};
pub use progress::{ProgressView, Tally, format_duration};
pub use rate_gate::RateGate;
pub use retry::RetryPolicy;
pub use stop::{StopCause, StopLevel, StopSignal};

use crate::api::ApiClient;
use crate::delivery::Job;
use crate::delivery::OutcomeResult;
use crate::journal::{Durability, JournalError, OpenJob, spawn_writer};
use crate::journal::{JournalHandle, PendingIntents};
use crate::rate::Rate;
use courier::{Abandoned, Courier};
use progress::{Goal, Progress};

pub struct Settings {
    pub rate: Rate,
    pub gate: Arc<RateGate>,
    pub concurrency: usize,
    pub retry: RetryPolicy,
    pub durability: Durability,
    /// Send at most this many rows in this run (`--max-rows`, `--canary`).
    pub max_rows: Option<u64>,
    /// Start no new request after this moment (`--deadline`).
    pub deadline: Option<tokio::time::Instant>,
    pub progress: ProgressView,
    /// Read each ticket first and skip the closed ones (`--skip-closed`).
    pub skip_closed: bool,
}

/// What a run did, for the summary and the exit code.
pub struct RunReport {
    pub tally: Arc<Tally>,
    pub total_rows: u64,
    pub elapsed: Duration,
    /// Why the run stopped before the end of the input, if it did.
    pub stopped: Option<StopCause>,
    /// How far the reader got.
    pub feed: FeedEnd,
    pub failed_rows_file: Option<PathBuf>,
}

impl RunReport {
    /// Rows neither delivered nor skipped, in this run or an earlier one.
    pub fn remaining(&self) -> u64 {
        let t = &self.tally;
        let settled = Tally::get(&t.already_done) + Tally::get(&t.sent) + Tally::get(&t.skipped);
        self.total_rows.saturating_sub(settled)
    }
}

/// Sends every job not yet settled by an earlier run. Returns an error only when the job's
/// files could not be written; everything else is in the report.
pub async fn run(
    settings: Settings,
    client: ApiClient,
    mut job: OpenJob,
    jobs: JobSource,
    total_rows: u64,
) -> Result<RunReport, JournalError> {
    let started = Instant::now();
    let tally = Arc::new(Tally::default());
    let stop = StopSignal::default();
    stop.listen_for_signals();
    if let Some(deadline) = settings.deadline {
        // Already past: stop before the first request rather than race it.
        if deadline <= tokio::time::Instant::now() {
            stop.plan("the deadline has passed");
        } else {
            let stop = stop.clone();
            tokio::spawn(async move {
                tokio::time::sleep_until(deadline).await;
                stop.plan("the deadline has passed");
            });
        }
    }

    let resume = std::mem::take(&mut job.resume);
    let counted = tally.clone();
    let (journal, writer) = spawn_writer(job, settings.durability, move |outcome| {
        let counter = match outcome.result {
            OutcomeResult::Sent { .. } => &counted.sent,
            OutcomeResult::Failed { .. } => &counted.failed,
            OutcomeResult::Skipped { .. } => &counted.skipped,
        };
        Tally::bump(counter);
    });

    let batch = intent_batch(settings.rate, settings.concurrency);
    let (to_intents, from_feeder) = mpsc::channel(batch);
    let feeder = feed::spawn_feeder(
        jobs,
        resume,
        to_intents,
        settings.max_rows,
        stop.clone(),
        tally.clone(),
    );
    let (to_workers, mut ready) = mpsc::channel(settings.concurrency);
    let intents = tokio::spawn(record_intents(
        from_feeder,
        to_workers,
        journal.clone(),
        stop.clone(),
        batch,
    ));
    let goal = Goal {
        total_rows,
        max_rows: settings.max_rows,
    };
    let progress = Progress::start(tally.clone(), goal, settings.rate, settings.progress);

    let courier = Arc::new(Courier {
        client,
        gate: settings.gate,
        retry: settings.retry,
        stop: stop.clone(),
        tally: tally.clone(),
        skip_closed: settings.skip_closed,
    });
    let slots = Arc::new(Semaphore::new(settings.concurrency));
    let mut in_flight = JoinSet::new();
    while let Some((job, intent_at)) = ready.recv().await {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let courier = courier.clone();
        let journal = journal.clone();
        in_flight.spawn(async move {
            let _slot = slot;
            let written = match courier.deliver(job, intent_at).await {
                Ok(outcome) => journal.record(outcome).await,
                Err(Abandoned {
                    key,
                    release: Some(intent_at),
                }) => journal.release(key, intent_at).await,
                Err(Abandoned { release: None, .. }) => Ok(()),
            };
            if written.is_err() {
                courier
                    .stop
                    .request(StopLevel::Immediate, "the journal can no longer be written");
            }
        });
        // Reap finished deliveries so the set stays as small as the concurrency.
        while let Some(done) = in_flight.try_join_next() {
            stop_on_crash(&done, &stop);
        }
    }
    while let Some(done) = in_flight.join_next().await {
        stop_on_crash(&done, &stop);
    }
    let _ = intents.await;
    drop(journal);
    drop(courier);
    progress.finish();

    let feed = feeder.join().unwrap_or_default();
    let written = tokio::task::spawn_blocking(move || writer.join())
        .await
        .map_err(|e| JournalError::Io {
            path: PathBuf::from("journal writer"),
            source: std::io::Error::other(e),
        })?
        .map_err(|_| JournalError::Io {
            path: PathBuf::from("journal writer"),
            source: std::io::Error::other("the writer thread panicked"),
        })??;

    let stopped = stop.cause().or_else(|| {
        (feed == FeedEnd::Stopped).then(|| StopCause {
            reason: "stopped before the end of the input".into(),
            planned: false,
        })
    });
    Ok(RunReport {
        tally,
        total_rows,
        elapsed: started.elapsed(),
        stopped,
        feed,
        failed_rows_file: written.failed_rows_file,
    })
}

/// A delivery that panicked (a bug; the crash report is already printed) leaves its row in
/// doubt: stop the run as unfinished (exit 3) rather than report it done.
fn stop_on_crash(done: &Result<(), tokio::task::JoinError>, stop: &StopSignal) {
    if let Err(error) = done
        && error.is_panic()
    {
        stop.request(StopLevel::Immediate, "an internal error stopped a delivery");
    }
}

/// How many rows one batch of intents covers. A paced run needs few rows ahead of its
/// requests; an unlimited one needs enough that one fsync covers many requests, or the disk
/// would set the pace. The cost of a larger batch: after a crash, the next run reads the
/// tickets of up to that many rows (times the batches in flight) before sending them.
fn intent_batch(rate: Rate, concurrency: usize) -> usize {
    match rate {
        Rate::Unlimited => concurrency.max(256),
        Rate::Limited { .. } => concurrency,
    }
}

/// How many batches of intents may be on their way to disk at once.
const INTENT_BATCHES_IN_FLIGHT: usize = 4;

/// The stage between the reader and the workers: records intents for whatever rows are
/// waiting, in batches whose fsyncs overlap the requests, rather than one fsync in front of
/// each request. At most a few batches of rows (about 5 × concurrency) carry an intent
/// without a request yet: a clean stop withdraws those intents, and after a crash the next
/// run reads their tickets before sending them.
async fn record_intents(
    mut from_feeder: mpsc::Receiver<Job>,
    to_workers: mpsc::Sender<(Job, std::time::SystemTime)>,
    journal: JournalHandle,
    stop: StopSignal,
    batch_size: usize,
) {
    let (to_forwarder, mut pending) =
        mpsc::channel::<(PendingIntents, Vec<Job>)>(INTENT_BATCHES_IN_FLIGHT);
    let writer_gone = {
        let stop = stop.clone();
        move || stop.request(StopLevel::Immediate, "the journal can no longer be written")
    };
    // Forwards each batch, in order, once its intents are durable.
    let forwarder = tokio::spawn({
        let writer_gone = writer_gone.clone();
        async move {
            while let Some((intents, batch)) = pending.recv().await {
                let Ok(intent_at) = intents.durable().await else {
                    return writer_gone();
                };
                for job in batch {
                    if to_workers.send((job, intent_at)).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    loop {
        let mut batch = Vec::with_capacity(batch_size);
        if from_feeder.recv_many(&mut batch, batch_size).await == 0 {
            break;
        }
        let keys = batch.iter().map(|job| job.key).collect();
        let Ok(intents) = journal.intents(keys).await else {
            writer_gone();
            break;
        };
        if to_forwarder.send((intents, batch)).await.is_err() {
            break;
        }
    }
    drop(to_forwarder);
    let _ = forwarder.await;
}
