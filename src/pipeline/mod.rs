//! The run loop: reader → workers → writer, joined by bounded channels.
//!
//! ```text
//! feeder thread ──jobs──► dispatcher ──spawns ≤ concurrency──► Courier::deliver ──intents, outcomes──► journal writer thread
//!   (input, resume)        (semaphore)                         (RowProtocol, RateGate,          (journal, results, failed rows)
//!                                                               ApiClient)
//! ```

mod breaker;
mod courier;
mod feed;
mod protocol;
mod rate_gate;
mod retry;
mod stop;
mod tally;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

pub use feed::{FeedEnd, JobSource, Jobs};
pub use protocol::{CLOSED_REASON, InDoubtPolicy, Policy};
pub use rate_gate::RateGate;
pub use retry::{RetryPolicy, read_within_limit};
pub use stop::{StopCause, StopLevel, StopSignal};
pub use tally::Tally;

use crate::api::ApiClient;
use crate::journal::{Durability, JournalError, OpenJob, spawn_writer};
use crate::ledger::{LedgerIndex, LedgerWriter};
use breaker::RunBreaker;
use courier::Courier;

pub struct Settings {
    pub gate: Arc<RateGate>,
    pub concurrency: usize,
    /// How each row is tried, checked and settled.
    pub policy: Policy,
    pub durability: Durability,
    /// Send at most this many rows in this run (`--max-rows`, `--canary`).
    pub max_rows: Option<u64>,
    /// Earlier deliveries by any job, checked before each row is sent; `None` with
    /// `--resend`.
    pub ledger_index: Option<LedgerIndex>,
    /// Where this run's deliveries are recorded for every later job.
    pub ledger_writer: Option<LedgerWriter>,
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
        // Rows held in doubt are not settled: a person checks them, later runs read them.
        self.total_rows.saturating_sub(settled)
    }
}

/// Sends every job not yet settled by an earlier run, counting into `tally` and stopping
/// when `stop` says so. It prints nothing and leaves no task behind. Returns an error only
/// when the job's files could not be written; everything else is in the report.
pub async fn run(
    settings: Settings,
    client: ApiClient,
    mut job: OpenJob,
    jobs: JobSource,
    total_rows: u64,
    stop: StopSignal,
    tally: Arc<Tally>,
) -> Result<RunReport, JournalError> {
    let started = Instant::now();

    let resume = std::mem::take(&mut job.resume);
    let counted = tally.clone();
    let (journal, writer) = spawn_writer(
        job,
        settings.ledger_writer,
        settings.durability,
        move |outcome| {
            counted.count(outcome);
        },
    );

    let (to_workers, mut ready) = mpsc::channel(settings.concurrency);
    let feeder = feed::spawn_feeder(
        jobs,
        resume,
        settings.ledger_index,
        to_workers,
        settings.max_rows,
        stop.clone(),
        tally.clone(),
    );
    let slots = Arc::new(Semaphore::new(settings.concurrency));
    let courier = Arc::new(Courier {
        client,
        gate: settings.gate,
        policy: settings.policy,
        stop: stop.clone(),
        tally: tally.clone(),
        journal: journal.clone(),
        slots: slots.clone(),
        recounts: Default::default(),
        breaker: RunBreaker::default(),
    });
    let mut in_flight = JoinSet::new();
    while let Some(job) = ready.recv().await {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let courier = courier.clone();
        let journal = journal.clone();
        in_flight.spawn(async move {
            let written = match courier.deliver(job, slot).await {
                Some(outcome) => journal.record(outcome).await,
                None => Ok(()),
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
    for doubled in courier.recount().await {
        if journal.record(doubled).await.is_err() {
            break;
        }
    }
    drop(journal);
    drop(courier);

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
