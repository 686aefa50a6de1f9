//! The run loop: reader → workers → writer, joined by bounded channels.
//!
//! ```text
//! feeder thread ──deliveries──► dispatcher ──spawns ≤ concurrency──► Courier::deliver ──intents, outcomes──► journal writer thread
//!   (input, resume)               (semaphore)                          (RowProtocol, RateGate,          (journal, results, failed rows)
//!                                                                        Pace, ApiClient)
//! ```

mod breaker;
mod courier;
mod feed;
mod pace;
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

pub use feed::{Deliveries, DeliverySource, FeedEnd};
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
    pub pace: PaceNote,
}

/// What the run learnt about its pace, for the summary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PaceNote {
    /// The limit in force at the end, and its window: what the server stated, or what was
    /// assumed if it never did.
    pub limit: Option<(u32, Duration)>,
    /// Set when rows waited for a place in flight while the rate had room: `--concurrency`
    /// held the pace back.
    pub held_back: Option<HeldBack>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeldBack {
    pub ceiling: usize,
    /// Requests in flight that would keep the pace: rate × mean answer time, with headroom.
    pub needed: u64,
    pub latency: Duration,
}

/// A ceiling that held back fewer rows than this share of the run is not worth a word.
const HELD_BACK_SHARE: u64 = 20;

/// The highest `--concurrency` there is.
pub const MAX_CONCURRENCY: u64 = 1024;

/// Little's law gives the mean; bursts and slow answers need some more.
const IN_FLIGHT_HEADROOM: f64 = 1.25;

impl RunReport {
    /// Rows neither delivered nor skipped, in this run or an earlier one.
    pub fn remaining(&self) -> u64 {
        self.total_rows.saturating_sub(self.tally.settled())
    }
}

/// Sends every job not yet settled by an earlier run, counting into `tally` and stopping
/// when `stop` says so. It prints nothing and leaves no task behind. Returns an error only
/// when the job's files could not be written; everything else is in the report.
pub async fn run(
    settings: Settings,
    client: ApiClient,
    mut job: OpenJob,
    deliveries: DeliverySource,
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
        deliveries,
        resume,
        settings.ledger_index,
        to_workers,
        settings.max_rows,
        stop.clone(),
        tally.clone(),
    );
    let slots = Arc::new(Semaphore::new(settings.concurrency));
    let gate = settings.gate;
    let courier = Arc::new(Courier {
        client,
        gate: gate.clone(),
        policy: settings.policy,
        stop: stop.clone(),
        tally: tally.clone(),
        journal: journal.clone(),
        slots: slots.clone(),
        recounts: Default::default(),
        breaker: RunBreaker::default(),
    });
    let mut in_flight = JoinSet::new();
    let (mut dispatched, mut held_back) = (0u64, 0u64);
    while let Some(delivery) = ready.recv().await {
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                // Every place is taken, and nobody is waiting for the rate: the ceiling, not
                // the budget, decides when this row goes.
                if gate.has_room() {
                    held_back += 1;
                }
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    break;
                };
                slot
            }
        };
        dispatched += 1;
        let courier = courier.clone();
        let journal = journal.clone();
        in_flight.spawn(async move {
            let written = match courier.deliver(delivery, slot).await {
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
    let pace = PaceNote {
        limit: gate.limit(),
        held_back: held_back_by_ceiling(&gate, settings.concurrency, dispatched, held_back),
    };
    Ok(RunReport {
        tally,
        total_rows,
        elapsed: started.elapsed(),
        stopped,
        feed,
        failed_rows_file: written.failed_rows_file,
        pace,
    })
}

/// Worth saying when a good share of the rows waited for a place while the rate had room,
/// and the rate and answer times ask for more places than the ceiling gives.
fn held_back_by_ceiling(
    gate: &RateGate,
    ceiling: usize,
    dispatched: u64,
    held_back: u64,
) -> Option<HeldBack> {
    if held_back == 0 || held_back * HELD_BACK_SHARE < dispatched {
        return None;
    }
    let in_flight = gate.needed_in_flight().filter(|n| n.is_finite())?;
    // The most `--concurrency` accepts: a suggestion past it could not be followed.
    let needed = ((in_flight * IN_FLIGHT_HEADROOM).ceil() as u64)
        .saturating_add(1)
        .min(MAX_CONCURRENCY);
    (needed > ceiling as u64).then(|| HeldBack {
        ceiling,
        needed,
        latency: gate.mean_latency().unwrap_or_default(),
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
