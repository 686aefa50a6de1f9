//! The vocabulary shared by the pipeline (which delivers rows) and the journal (which
//! records what happened to them): a [`Job`] goes in, an [`Outcome`] comes out.

use std::time::SystemTime;

use serde_json::value::RawValue;

use crate::api::ApiError;
use crate::journal::RowKey;

/// One validated row on its way to the API.
#[derive(Debug, Clone)]
pub struct Job {
    /// Physical line of the input where the row starts.
    pub line: u64,
    pub ticket_id: String,
    pub message: String,
    /// The input's other columns, kept for the failed-rows file.
    pub extra: Vec<(String, String)>,
    pub key: RowKey,
    /// Set when an earlier attempt may have posted the message (intent recorded, answer
    /// lost): the ticket is read before anything is sent again.
    pub in_doubt_since: Option<SystemTime>,
}

/// What happened to a row in this run.
#[derive(Debug)]
pub struct Outcome {
    pub job: Job,
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
}

impl OutcomeResult {
    pub fn status(&self) -> &'static str {
        match self {
            OutcomeResult::Sent { .. } => "sent",
            OutcomeResult::Failed { .. } => "failed",
            OutcomeResult::Skipped { .. } => "skipped",
        }
    }
}
