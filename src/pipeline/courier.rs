//! Delivering one row: record the intent, wait for the gate, post, and act on the class of
//! whatever went wrong. A row whose answer was lost is settled by reading the ticket before
//! it is ever sent again — the POST is not idempotent.

use std::sync::Arc;
use std::time::SystemTime;

use super::progress::Tally;
use super::rate_gate::RateGate;
use super::retry::RetryPolicy;
use super::stop::{StopLevel, StopSignal};
use crate::api::{ApiClient, ApiError, ErrorClass, ErrorKind, find_delivered};
use crate::delivery::{Job, Outcome, OutcomeResult};
use crate::journal::JournalHandle;

/// Everything a delivery needs, shared by all in-flight rows.
pub struct Courier {
    pub client: ApiClient,
    pub gate: Arc<RateGate>,
    pub retry: RetryPolicy,
    pub journal: JournalHandle,
    pub stop: StopSignal,
    pub tally: Arc<Tally>,
}

impl Courier {
    /// Delivers one row. `None` means the run is stopping and the row was left for the next
    /// run (if an intent was recorded, that run settles it by reading the ticket).
    pub async fn deliver(&self, mut job: Job) -> Option<Outcome> {
        let mut attempts = 0;
        let mut tries = 0;
        let mut schedule = self.retry.schedule();
        loop {
            if self.stop.is_stopping() {
                return None;
            }
            let error = match job.in_doubt_since {
                Some(since) => match self.settle(&job, since).await? {
                    Ok(Some(sent)) => {
                        return Some(Outcome {
                            job,
                            attempts,
                            result: sent,
                        });
                    }
                    Ok(None) => {
                        // Not there: the earlier attempt never landed, so sending is safe.
                        job.in_doubt_since = None;
                        continue;
                    }
                    Err(error) => error,
                },
                None => {
                    let Ok(intent_at) = self.journal.intent(job.key).await else {
                        self.stop
                            .request(StopLevel::Immediate, "the journal can no longer be written");
                        return None;
                    };
                    if !self.gate.acquire(&self.stop).await {
                        return None;
                    }
                    attempts += 1;
                    Tally::bump(&self.tally.attempts);
                    let answer = tokio::select! {
                        answer = self.client.post_message(&job.ticket_id, &job.message) => answer,
                        _ = self.stop.reached(StopLevel::Immediate) => return None,
                    };
                    match answer {
                        Ok(reply) => {
                            self.gate.observe(&reply.limits);
                            let result = OutcomeResult::Sent {
                                http_status: reply.http_status,
                                message_id: reply.value.message_id,
                                ticket: reply.value.ticket,
                            };
                            return Some(Outcome {
                                job,
                                attempts,
                                result,
                            });
                        }
                        Err(error) => {
                            if error.in_doubt {
                                job.in_doubt_since = Some(intent_at);
                            }
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
                ErrorClass::Permanent => {
                    let result = OutcomeResult::Failed {
                        error,
                        in_doubt_since: None,
                    };
                    return Some(Outcome {
                        job,
                        attempts,
                        result,
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
                        let in_doubt_since = job.in_doubt_since;
                        let result = OutcomeResult::Failed {
                            error,
                            in_doubt_since,
                        };
                        return Some(Outcome {
                            job,
                            attempts,
                            result,
                        });
                    }
                    Tally::bump(&self.tally.retries);
                    let delay = schedule.next_delay(error.limits.retry_after);
                    tracing::debug!(line = job.line, ticket = %job.ticket_id, ?delay, "retrying: {error}");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = self.stop.reached(StopLevel::Graceful) => return None,
                    }
                }
            }
        }
    }

    /// Reads the ticket and looks for the row's message posted since `since`. `None` when
    /// the run stops first.
    async fn settle(
        &self,
        job: &Job,
        since: SystemTime,
    ) -> Option<Result<Option<OutcomeResult>, ApiError>> {
        if !self.gate.acquire(&self.stop).await {
            return None;
        }
        let answer = tokio::select! {
            answer = self.client.get_ticket(&job.ticket_id) => answer,
            _ = self.stop.reached(StopLevel::Immediate) => return None,
        };
        Some(answer.map(|reply| {
            self.gate.observe(&reply.limits);
            let found = find_delivered(&reply.value.ticket, &job.message, since)?;
            tracing::debug!(line = job.line, ticket = %job.ticket_id, "in doubt, found delivered as {}", found.id);
            Some(OutcomeResult::Sent {
                http_status: reply.http_status,
                message_id: found.id.clone(),
                ticket: reply.value.raw,
            })
        }))
    }
}
