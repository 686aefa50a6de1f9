//! The vocabulary shared by the pipeline (which delivers rows) and the journal (which
//! records what happened to them): a [`Delivery`] goes in, an [`Outcome`] comes out.

use std::time::SystemTime;

use serde_json::value::RawValue;

use crate::api::ApiError;

mod key;

pub use key::RowKey;

/// One validated row on its way to the API.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Physical line of the input where the row starts.
    pub line: u64,
    pub ticket_id: String,
    pub message: String,
    /// The input's other columns, kept for the failed-rows file.
    pub extra: Vec<(String, String)>,
    pub key: RowKey,
    /// The row's identity in the delivery ledger (ticket and message as a reader sees it);
    /// `None` for a deliberate repeat of a row (`--allow-duplicates`), which is meant to
    /// arrive again.
    pub delivery_key: Option<RowKey>,
    /// The ledger's account of an earlier delivery of this message to this ticket, by any
    /// job: the row is skipped with this reason, nothing is sent.
    pub known_delivery: Option<String>,
    /// Set when an earlier run's request may have posted the message (intent recorded,
    /// answer lost): the ticket is read before anything is sent again.
    pub doubt: Option<Doubt>,
}

/// What a journal knows of a row whose earlier request may have posted its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Doubt {
    /// The row's first intent: any copy of the message was posted after it.
    pub since: SystemTime,
    /// The row's latest intent: the last request left at about that moment, and could land
    /// until its time limit and the settle period have passed.
    pub last_request: SystemTime,
}

/// What happened to a row in this run.
#[derive(Debug)]
pub struct Outcome {
    pub delivery: Delivery,
    /// POST attempts made in this run.
    pub attempts: u32,
    pub result: OutcomeResult,
}

#[derive(Debug)]
pub enum OutcomeResult {
    Sent {
        http_status: u16,
        message_id: String,
        /// The ticket exactly as the server returned it.
        ticket: Box<RawValue>,
        /// Copies of the message counted on the ticket, when a read after a doubt counted
        /// them; more than one means the customer got it more than once.
        copies: Option<u32>,
    },
    Failed {
        error: ApiError,
        /// Still unsettled: the last attempt may have posted the message. The next run
        /// reads the ticket before sending again.
        in_doubt_since: Option<SystemTime>,
    },
    Skipped {
        http_status: u16,
        reason: String,
    },
    /// The count at the end of the run found more than one copy of a message posted again
    /// after a doubt, where the count right after its settle period had found one: an
    /// earlier request was stored later still. The row was already recorded as sent; this
    /// second record says the customer got it twice.
    Recounted {
        http_status: u16,
        message_id: String,
        ticket: Box<RawValue>,
        copies: u32,
    },
    /// The message already reached the ticket (recorded in the ledger by any job, or found
    /// on the ticket since the resend horizon): not sent again, unless `--resend`. Unlike
    /// `Skipped`, it does not settle the row: every later run of the job decides again, so
    /// `--resend` (or a reset ledger) can still send it.
    AlreadyDelivered {
        /// The read that found it on the ticket; `None` when the ledger knew.
        http_status: Option<u16>,
        reason: String,
    },
    /// `--in-doubt hold`: a request may have posted the message, it was not found after
    /// the settle period, and the row is left for a person to check rather than risk a
    /// second copy. Later runs read the ticket again.
    Held {
        http_status: u16,
        since: SystemTime,
    },
}

impl OutcomeResult {
    pub fn status(&self) -> &'static str {
        match self {
            OutcomeResult::Sent { .. } | OutcomeResult::Recounted { .. } => "sent",
            OutcomeResult::Failed { .. } => "failed",
            OutcomeResult::Skipped { .. } | OutcomeResult::AlreadyDelivered { .. } => "skipped",
            OutcomeResult::Held { .. } => "in_doubt",
        }
    }

    /// More than one copy of the message was found on the ticket.
    pub fn doubled(&self) -> bool {
        match self {
            OutcomeResult::Sent { copies, .. } => copies.is_some_and(|n| n > 1),
            OutcomeResult::Recounted { .. } => true,
            _ => false,
        }
    }
}
