//! What the run has done so far: counters every task updates. The views that show them
//! (a bar, progress lines, the summary) belong to the command, as oha keeps its monitor
//! apart from its client.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::delivery::{Outcome, OutcomeResult};

/// How many doubled rows a run remembers by name; the count is always complete.
const NAMED_DOUBLES: usize = 1000;

/// Counters of the run. Outcomes count once they are durable in the journal.
#[derive(Debug, Default)]
pub struct Tally {
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    pub skipped: AtomicU64,
    /// Failed rows whose last request may have posted the message (counted in `failed`).
    pub failed_in_doubt: AtomicU64,
    /// Rows left for a person to check (`--in-doubt hold`).
    pub in_doubt: AtomicU64,
    /// Rows found on their ticket more than once (counted in `sent` too).
    pub doubled: AtomicU64,
    /// The first of those rows, to name them: (line, ticket).
    pub doubled_rows: Mutex<Vec<(u64, String)>>,
    /// Rows skipped because their message had already reached the ticket (the ledger knew
    /// of it, or a read found it); counted in `skipped` too.
    pub skipped_delivered: AtomicU64,
    /// Rows an earlier run already settled (delivered or skipped), not sent again.
    pub already_done: AtomicU64,
    /// POST requests sent (each try of each row; reads that settle a row in doubt excluded).
    pub attempts: AtomicU64,
    /// Requests that will be tried again after a pause.
    pub retries: AtomicU64,
    pub rate_limited: AtomicU64,
}

impl Tally {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a row's outcome, once it is durable.
    pub fn count(&self, outcome: &Outcome) {
        let counter = match outcome.result {
            OutcomeResult::Sent { .. } => Some(&self.sent),
            OutcomeResult::Failed { in_doubt_since, .. } => {
                if in_doubt_since.is_some() {
                    Self::bump(&self.failed_in_doubt);
                }
                Some(&self.failed)
            }
            OutcomeResult::Skipped { .. } => Some(&self.skipped),
            OutcomeResult::Held { .. } => Some(&self.in_doubt),
            // Counted as sent already; only the double is news.
            OutcomeResult::Recounted { .. } => None,
            OutcomeResult::AlreadyDelivered { .. } => {
                Self::bump(&self.skipped_delivered);
                Some(&self.skipped)
            }
        };
        if let Some(counter) = counter {
            Self::bump(counter);
        }
        if outcome.result.doubled() {
            Self::bump(&self.doubled);
            if let Ok(mut rows) = self.doubled_rows.lock()
                && rows.len() < NAMED_DOUBLES
            {
                rows.push((outcome.delivery.line, outcome.delivery.ticket_id.clone()));
            }
        }
    }

    pub fn finished(&self) -> u64 {
        Self::get(&self.sent)
            + Self::get(&self.failed)
            + Self::get(&self.skipped)
            + Self::get(&self.in_doubt)
    }

    /// Rows no later run sends again: delivered or skipped, now or by an earlier run. Rows
    /// held in doubt are not settled (a person checks them, later runs read them), nor
    /// failed ones.
    pub fn settled(&self) -> u64 {
        Self::get(&self.already_done) + Self::get(&self.sent) + Self::get(&self.skipped)
    }

    /// Rows dealt with, by this run or (already delivered) an earlier one.
    pub fn done(&self) -> u64 {
        self.finished() + Self::get(&self.already_done)
    }
}
