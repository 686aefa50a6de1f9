//! The results file: one NDJSON record per row outcome, the contract scripts read.

use serde::Serialize;
use serde_json::value::RawValue;

use crate::api::ErrorKind;
use crate::delivery::{Outcome, OutcomeResult};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResultRecord<'a> {
    line: u64,
    ticket_id: &'a str,
    status: &'static str,
    attempts: u32,
    http_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ticket: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    /// Copies of the message counted on the ticket, when a read after a doubt counted them.
    #[serde(skip_serializing_if = "Option::is_none")]
    copies: Option<u32>,
    /// The customer got the message more than once.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    doubled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorRecord<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorRecord<'a> {
    kind: ErrorKind,
    message: &'a str,
    http_status: Option<u16>,
    body: Option<&'a str>,
}

const DOUBLED_REASON: &str = "the message is on the ticket more than once: an earlier request whose answer was lost was stored after the settle period, after the message was posted again (see copies)";

const RECOUNTED_REASON: &str = "counted again at the end of the run: the message is on the ticket more than once — an earlier request whose answer was lost was stored even later, after the message had been posted again (this row's earlier record said sent)";

const HELD_REASON: &str = "a request may have posted the message, which was not found on the ticket after the settle period; --in-doubt hold never posts twice: check the ticket, then run again with --in-doubt resend to post it";

impl<'a> ResultRecord<'a> {
    /// A delivered row's answer and the ticket it returned. The message id is left out when
    /// empty: the server accepted the message but it could not be recognised on the ticket,
    /// and no id is better than a wrong one.
    fn delivered(&mut self, http_status: u16, message_id: &'a str, ticket: &'a RawValue) {
        self.http_status = Some(http_status);
        self.message_id = Some(message_id).filter(|id| !id.is_empty());
        self.ticket = Some(ticket);
    }
}

/// Appends the outcome's record, with its newline, to `out`.
pub fn encode(outcome: &Outcome, out: &mut Vec<u8>) {
    let job = &outcome.delivery;
    let mut record = ResultRecord {
        line: job.line,
        ticket_id: &job.ticket_id,
        status: outcome.result.status(),
        attempts: outcome.attempts,
        http_status: None,
        message_id: None,
        ticket: None,
        reason: None,
        copies: None,
        doubled: outcome.result.doubled(),
        error: None,
    };
    match &outcome.result {
        OutcomeResult::Sent {
            http_status,
            message_id,
            ticket,
            copies,
        } => {
            record.delivered(*http_status, message_id, ticket);
            record.copies = *copies;
            if record.doubled {
                record.reason = Some(DOUBLED_REASON);
            }
        }
        OutcomeResult::Failed { error, .. } => {
            record.http_status = error.http_status;
            record.error = Some(ErrorRecord {
                kind: error.kind,
                message: &error.message,
                http_status: error.http_status,
                body: error.body.as_deref(),
            });
        }
        OutcomeResult::Skipped {
            http_status,
            reason,
        } => {
            record.http_status = Some(*http_status);
            record.reason = Some(reason);
        }
        OutcomeResult::Recounted {
            http_status,
            message_id,
            ticket,
            copies,
        } => {
            record.delivered(*http_status, message_id, ticket);
            record.copies = Some(*copies);
            record.reason = Some(RECOUNTED_REASON);
        }
        OutcomeResult::AlreadyDelivered {
            http_status,
            reason,
        } => {
            record.http_status = *http_status;
            record.reason = Some(reason);
        }
        OutcomeResult::Held { http_status, .. } => {
            record.http_status = Some(*http_status);
            record.reason = Some(HELD_REASON);
        }
    }
    // Serialising plain strings and numbers into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, &record);
    out.push(b'\n');
}
