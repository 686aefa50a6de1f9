//! Delivering one row: wait for the gate, post, and act on the class of whatever went
//! wrong. A row whose answer was lost is settled by reading the ticket before it is ever
//! sent again — the POST is not idempotent. With `skip_closed`, each ticket is read before
//! its message is posted, and a closed one is left alone: replying would reopen it.

use std::sync::Arc;
use std::time::SystemTime;

use super::progress::Tally;
use super::rate_gate::RateGate;
use super::retry::RetryPolicy;
use super::stop::{StopLevel, StopSignal};
use crate::api::{
    ApiClient, ApiError, ErrorClass, ErrorKind, Fetched, Reply, TicketStatus, find_delivered,
};
use crate::delivery::{Job, Outcome, OutcomeResult};
use crate::journal::RowKey;
use crate::output::{self, Level};

/// Everything a delivery needs, shared by all in-flight rows.
pub struct Courier {
    pub client: ApiClient,
    pub gate: Arc<RateGate>,
    pub retry: RetryPolicy,
    pub stop: StopSignal,
    pub tally: Arc<Tally>,
    /// Read the ticket first; record a closed one as skipped instead of posting.
    pub skip_closed: bool,
}

/// The reason recorded for a ticket left alone by `--skip-closed`.
pub const CLOSED_REASON: &str = "ticket is closed";

/// A row left for the next run because this one is stopping.
pub struct Abandoned {
    pub key: RowKey,
    /// The intent to withdraw, when no request for this row can have been acted on; `None`
    /// leaves the row in doubt, to be settled by reading its ticket.
    pub release: Option<SystemTime>,
}

impl Courier {
    /// Delivers one row whose intent was recorded at `intent_at`.
    pub async fn deliver(&self, mut job: Job, intent_at: SystemTime) -> Result<Outcome, Abandoned> {
        let mut attempts = 0;
        match self
            .try_until_settled(&mut job, intent_at, &mut attempts)
            .await
        {
            Some(result) => Ok(Outcome {
                job,
                attempts,
                result,
            }),
            None => Err(Abandoned {
                key: job.key,
                release: job.in_doubt_since.is_none().then_some(intent_at),
            }),
        }
    }

    /// The retry loop. `None` means the run is stopping; `job.in_doubt_since` then tells
    /// whether a request of this row may have been acted on.
    async fn try_until_settled(
        &self,
        job: &mut Job,
        intent_at: SystemTime,
        attempts: &mut u32,
    ) -> Option<OutcomeResult> {
        let mut tries = 0;
        // A 2xx whose answer we could not use still means the server took the message.
        let mut accepted_by_server = false;
        let mut schedule = self.retry.schedule();
        let mut found_open = !self.skip_closed;
        loop {
            if self.stop.is_stopping() {
                return None;
            }
            let error = match job.in_doubt_since {
                Some(since) => match self.settle(job, since).await? {
                    Ok(Settled {
                        found: true, sent, ..
                    }) => return Some(sent),
                    Ok(Settled { sent, .. }) if accepted_by_server => {
                        // The server said yes (2xx) but neither its answer nor the ticket
                        // shows the message recognisably: it rewrote the text. Posting again
                        // would make it appear twice.
                        output::say(
                            Level::Warn,
                            &format!(
                                "line {}: the server accepted the message for {} but it is not recognisable on the ticket; counted as sent, not posted again",
                                job.line, job.ticket_id
                            ),
                        );
                        return Some(sent);
                    }
                    Ok(Settled {
                        status,
                        http_status,
                        ..
                    }) => {
                        // Not there: the earlier attempt never landed, so sending is safe.
                        job.in_doubt_since = None;
                        // The same read tells --skip-closed what it needs: no second read.
                        if !found_open {
                            if status == TicketStatus::Closed {
                                return Some(OutcomeResult::Skipped {
                                    http_status,
                                    reason: CLOSED_REASON.to_string(),
                                });
                            }
                            found_open = true;
                        }
                        continue;
                    }
                    Err(error) => error,
                },
                None if !found_open => match self.read_status(job).await? {
                    Ok((_, TicketStatus::Open | TicketStatus::Unknown)) => {
                        found_open = true;
                        continue;
                    }
                    Ok((http_status, TicketStatus::Closed)) => {
                        return Some(OutcomeResult::Skipped {
                            http_status,
                            reason: CLOSED_REASON.to_string(),
                        });
                    }
                    // A failed read posted nothing; its error is classified like any.
                    Err(error) => error,
                },
                None => {
                    if !self.gate.acquire(&self.stop).await {
                        return None;
                    }
                    *attempts += 1;
                    Tally::bump(&self.tally.attempts);
                    // From here until an answer proves otherwise, the message may be posted.
                    job.in_doubt_since = Some(intent_at);
                    let answer = tokio::select! {
                        answer = self.client.post_message(&job.ticket_id, &job.message) => answer,
                        _ = self.stop.reached(StopLevel::Immediate) => return None,
                    };
                    match answer {
                        Ok(reply) => {
                            self.gate.observe(&reply.limits);
                            return Some(OutcomeResult::Sent {
                                http_status: reply.http_status,
                                message_id: reply.value.message_id,
                                ticket: reply.value.ticket,
                            });
                        }
                        Err(error) => {
                            if !error.in_doubt {
                                job.in_doubt_since = None;
                            }
                            accepted_by_server |= error.kind == ErrorKind::InvalidResponse
                                && error.http_status.is_some_and(|s| (200..300).contains(&s));
                            error
                        }
                    }
                }
            };
            tries += 1;
            match error.class() {
                ErrorClass::Fatal => {
                    self.stop.request(StopLevel::Graceful, error.message);
                    return None;
                }
                // A refused check of an in-doubt row (a 404 or a redirect on the read) does
                // not settle the doubt: the journal keeps it for the next run.
                ErrorClass::Permanent => {
                    return Some(OutcomeResult::Failed {
                        error,
                        in_doubt_since: job.in_doubt_since,
                    });
                }
                ErrorClass::Retryable => {
                    if error.kind == ErrorKind::RateLimited {
                        Tally::bump(&self.tally.rate_limited);
                        self.gate.pause(&error.limits);
                    }
                    if tries >= self.retry.max_attempts {
                        // Still in doubt? The journal keeps that, and the next run reads the
                        // ticket before trying again.
                        return Some(OutcomeResult::Failed {
                            error,
                            in_doubt_since: job.in_doubt_since,
                        });
                    }
                    Tally::bump(&self.tally.retries);
                    let mut delay = schedule.next_delay(error.limits.retry_after);
                    if error.kind == ErrorKind::Timeout && job.in_doubt_since.is_some() {
                        // The request may still be at work on the server: reading the ticket
                        // at once could miss a message that is about to land.
                        delay = delay.max(self.retry.after_timeout);
                    }
                    tracing::debug!(line = job.line, ticket = %job.ticket_id, ?delay, "retrying: {error}");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = self.stop.reached(StopLevel::Graceful) => return None,
                    }
                }
            }
        }
    }

    /// Reads the ticket, within the rate limit. `None` when the run stops first.
    async fn read_ticket(&self, job: &Job) -> Option<Result<Reply<Fetched>, ApiError>> {
        if !self.gate.acquire(&self.stop).await {
            return None;
        }
        let answer = tokio::select! {
            answer = self.client.get_ticket(&job.ticket_id) => answer,
            _ = self.stop.reached(StopLevel::Immediate) => return None,
        };
        if let Ok(reply) = &answer {
            self.gate.observe(&reply.limits);
        }
        Some(answer)
    }

    /// Reads the ticket's status (`--skip-closed`). A 404 here is the row's failure, as it
    /// would be for the POST.
    async fn read_status(&self, job: &Job) -> Option<Result<(u16, TicketStatus), ApiError>> {
        let answer = self.read_ticket(job).await?;
        Some(answer.map(|reply| {
            tracing::debug!(line = job.line, ticket = %job.ticket_id, status = ?reply.value.ticket.status, "read before posting");
            (reply.http_status, reply.value.ticket.status)
        }))
    }

    /// Reads the ticket and looks for the row's message posted since `since`: `Sent` with
    /// its id when found; otherwise `Sent` without an id, the ticket as read — to be used
    /// only when the server already accepted the message.
    async fn settle(&self, job: &Job, since: SystemTime) -> Option<Result<Settled, ApiError>> {
        let answer = self.read_ticket(job).await?;
        Some(answer.map(|reply| {
            let found = find_delivered(&reply.value.ticket, &job.message, since).map(|m| m.id.clone());
            if let Some(id) = &found {
                tracing::debug!(line = job.line, ticket = %job.ticket_id, "in doubt, found delivered as {id}");
            }
            let (http_status, status) = (reply.http_status, reply.value.ticket.status);
            let sent = OutcomeResult::Sent {
                http_status,
                message_id: found.clone().unwrap_or_default(),
                ticket: reply.value.raw,
            };
            Settled { found: found.is_some(), sent, status, http_status }
        }))
    }
}

/// The answer of a check on an in-doubt row.
struct Settled {
    /// The message is on the ticket.
    found: bool,
    /// The row's outcome if it counts as sent.
    sent: OutcomeResult,
    /// The ticket's status as read.
    status: TicketStatus,
    http_status: u16,
}
