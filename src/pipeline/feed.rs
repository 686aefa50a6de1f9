//! The reader side of the pipeline: walks the (already validated) input on its own thread,
//! drops rows an earlier run settled, marks rows left in doubt, and hands the rest to the
//! workers through a bounded channel — so memory stays flat whatever the file size.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, UNIX_EPOCH};

use tokio::sync::mpsc;

use super::stop::{StopLevel, StopSignal};
use super::tally::Tally;
use crate::delivery::{Delivery, Doubt};
use crate::journal::ledger::LedgerIndex;
use crate::journal::{ResumeState, RowState};

/// The rows of the input, in order, each a delivery to make. An `Err` is a row that can no longer be read
/// (the file changed since it was validated); it stops the run.
pub type Deliveries = Box<dyn Iterator<Item = Result<Delivery, String>>>;

/// Opens the input on the feeder's own thread (readers need not be `Send`).
pub type DeliverySource = Box<dyn FnOnce() -> Deliveries + Send>;

/// How far the reader got.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum FeedEnd {
    /// Every row of the input was looked at.
    ReadAll,
    /// The run's row budget (`--max-rows`, `--canary`) was handed out.
    BudgetSpent,
    /// Stopped early (interrupt, fatal error, unreadable input).
    #[default]
    Stopped,
}

pub fn spawn_feeder(
    deliveries: DeliverySource,
    resume: ResumeState,
    mut ledger: Option<LedgerIndex>,
    workers: mpsc::Sender<Delivery>,
    max_rows: Option<u64>,
    stop: StopSignal,
    tally: Arc<Tally>,
) -> JoinHandle<FeedEnd> {
    std::thread::spawn(move || {
        let mut handed_out = 0u64;
        for item in deliveries() {
            if stop.is_stopping() {
                return FeedEnd::Stopped;
            }
            let mut job = match item {
                Ok(job) => job,
                Err(message) => {
                    stop.request(StopLevel::Graceful, message);
                    return FeedEnd::Stopped;
                }
            };
            match resume.get(&job.key) {
                Some(RowState::Settled) => {
                    Tally::bump(&tally.already_done);
                    continue;
                }
                Some(RowState::InDoubt { since_ms, last_ms }) => {
                    job.doubt = Some(Doubt {
                        since: UNIX_EPOCH + Duration::from_millis(since_ms),
                        last_request: UNIX_EPOCH + Duration::from_millis(last_ms),
                    });
                }
                Some(RowState::Failed) | None => {}
            }
            // Only rows that will really be sent count against the budget; rows an earlier
            // run settled were skipped above.
            if max_rows.is_some_and(|max| handed_out >= max) {
                return FeedEnd::BudgetSpent;
            }
            // Asked as late as possible, right before the row goes to a worker, so that a
            // delivery another run made a moment ago counts.
            let known = match (ledger.as_mut(), job.delivery_key) {
                (Some(ledger), Some(key)) => match ledger.find(&key) {
                    Ok(known) => known,
                    Err(e) => {
                        stop.request(
                            StopLevel::Graceful,
                            format!("cannot read the delivery ledger: {e}"),
                        );
                        return FeedEnd::Stopped;
                    }
                },
                _ => None,
            };
            let sends = known.is_none();
            job.known_delivery = known.map(|prior| prior.reason());
            if workers.blocking_send(job).is_err() {
                return FeedEnd::Stopped;
            }
            handed_out += u64::from(sends);
        }
        FeedEnd::ReadAll
    })
}
