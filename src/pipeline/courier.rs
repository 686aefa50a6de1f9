//! Delivering one row: the I/O of the per-row protocol. [`RowProtocol`] decides what
//! comes next; the courier waits for the rate gate, records the intent, posts, reads the
//! ticket, sleeps, and hands each answer back — nothing else.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::breaker::RunBreaker;
use super::protocol::{
    Event, Policy, PostReply, ReadReply, RowProtocol, Step, refused_for_this_ticket,
};
use super::rate_gate::{Departure, RateGate};
use super::stop::{StopLevel, StopSignal};
use super::tally::Tally;
use crate::api::{ApiClient, ApiError, ErrorKind, count_delivered};
use crate::delivery::{Delivery, Outcome, OutcomeResult};
use crate::journal::JournalHandle;

/// Everything a delivery needs, shared by all rows in flight.
pub struct Courier {
    pub client: ApiClient,
    pub gate: Arc<RateGate>,
    pub policy: Policy,
    pub stop: StopSignal,
    pub tally: Arc<Tally>,
    pub journal: JournalHandle,
    /// The places among the requests in flight (`--concurrency`). A row waiting out a
    /// settle period gives its place back.
    pub slots: Arc<Semaphore>,
    /// Rows posted again after a doubt, to be counted once more at the end of the run.
    pub recounts: Mutex<Vec<Recount>>,
    /// What the run as a whole knows about reaching the API, fed after every request.
    pub breaker: RunBreaker,
}

/// A row posted again after a doubt, as it stood when it was recorded as sent.
pub struct Recount {
    delivery: Delivery,
    since: SystemTime,
    copies: Option<u32>,
    counted_at: SystemTime,
}

/// Why a row ends this run without an outcome.
enum Left {
    /// The run is stopping; the journal keeps the row as it stands (in doubt if a request
    /// may have posted it).
    Stopping,
    /// The journal cannot be written: nothing may be sent any more.
    JournalGone,
}

impl Courier {
    /// Delivers one row, holding `slot` while it has a request to make. `None` when the run
    /// stops first.
    pub async fn deliver(
        &self,
        mut delivery: Delivery,
        slot: OwnedSemaphorePermit,
    ) -> Option<Outcome> {
        if let Some(reason) = delivery.known_delivery.take() {
            return Some(Outcome {
                delivery,
                attempts: 0,
                result: OutcomeResult::AlreadyDelivered {
                    http_status: None,
                    reason,
                },
            });
        }
        let mut slot = Some(slot);
        let mut row = RowProtocol::new(self.policy, delivery.doubt);
        let mut attempts = 0;
        let mut event = Event::Begin;
        loop {
            let last_error = failure_of(&event);
            let step = row.next(event, SystemTime::now());
            let next = match step {
                Step::Done(result) => {
                    self.warn_if_unrecognised(&delivery, &result);
                    if let (true, OutcomeResult::Sent { copies, .. }, Some(since)) =
                        (row.reposted(), &result, row.copies_since())
                    {
                        self.recount_later(Recount {
                            delivery: delivery.clone(),
                            since,
                            copies: *copies,
                            counted_at: SystemTime::now(),
                        });
                    }
                    return Some(Outcome {
                        delivery,
                        attempts,
                        result,
                    });
                }
                Step::StopRun(error) => {
                    self.stop.request(StopLevel::Graceful, error.message);
                    Err(Left::Stopping)
                }
                Step::Refused(error) if self.breaker.refusal_stops_run() => {
                    self.stop.request(StopLevel::Graceful, error.message);
                    Err(Left::Stopping)
                }
                Step::Refused(error) => {
                    return Some(Outcome {
                        delivery,
                        attempts,
                        result: refused_for_this_ticket(error),
                    });
                }
                Step::Pause(delay) => {
                    Tally::bump(&self.tally.retries);
                    tracing::debug!(line = delivery.line, ticket = %delivery.ticket_id, ?delay, "retrying: {}", last_error.unwrap_or_default());
                    self.pause(delay).await
                }
                Step::WaitUntil(moment) => self.wait_out(moment, &mut slot, &row).await,
                Step::Post => {
                    let posted = self.post(&delivery).await;
                    if posted.is_ok() {
                        attempts += 1;
                    }
                    posted
                }
                Step::Read => self.read(&delivery, &row).await,
            };
            event = match next {
                Ok(event) => event,
                Err(Left::Stopping) => return None,
                Err(Left::JournalGone) => {
                    self.stop
                        .request(StopLevel::Immediate, "the journal can no longer be written");
                    return None;
                }
            };
        }
    }

    fn recount_later(&self, recount: Recount) {
        self.recounts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(recount);
    }

    /// Counts the copies of every row posted again after a doubt once more, now that the
    /// run is over: a late commit that landed after the first count is not left unsaid.
    /// Returns the rows found doubled only now. Only an immediate stop skips this; a row
    /// counted less than a settle period ago is not read again, as nothing new could show.
    pub async fn recount(&self) -> Vec<Outcome> {
        let recounts =
            std::mem::take(&mut *self.recounts.lock().unwrap_or_else(PoisonError::into_inner));
        let mut doubled = Vec::new();
        for recount in recounts {
            let Recount {
                delivery,
                since,
                copies,
                counted_at,
            } = recount;
            let fresh = counted_at
                .elapsed()
                .is_ok_and(|age| age < self.policy.settle);
            if fresh || copies.is_some_and(|n| n > 1) {
                continue;
            }
            let Some(departure) = self
                .gate
                .acquire_unless(&self.stop, StopLevel::Immediate)
                .await
            else {
                break;
            };
            let answer = tokio::select! {
                answer = self.client.get_ticket(&delivery.ticket_id) => answer,
                _ = self.stop.reached(StopLevel::Immediate) => break,
            };
            let reply = match answer {
                Ok(reply) => reply,
                Err(error) => {
                    self.noted(departure, error);
                    tracing::warn!(line = delivery.line, ticket = %delivery.ticket_id, "could not count the copies once more at the end of the run");
                    continue;
                }
            };
            self.gate.answered(departure, &reply.limits);
            let found = count_delivered(&reply.value.ticket, &delivery.message, since, reply.clock);
            if found.copies > 1 {
                doubled.push(Outcome {
                    result: OutcomeResult::Recounted {
                        http_status: reply.http_status,
                        message_id: found.newest.map(|m| m.id.clone()).unwrap_or_default(),
                        ticket: reply.value.raw,
                        copies: found.copies,
                    },
                    delivery,
                    attempts: 0,
                });
            }
        }
        doubled
    }

    /// Records the intent, then posts. The intent is made durable right before its request,
    /// so a crash leaves no more rows in doubt than there were requests in flight.
    async fn post(&self, delivery: &Delivery) -> Result<Event, Left> {
        let Some(departure) = self.gate.acquire(&self.stop).await else {
            return Err(Left::Stopping);
        };
        let recorded = match self.journal.intents(vec![delivery.key]).await {
            Ok(pending) => pending.durable().await,
            Err(gone) => Err(gone),
        };
        let Ok(intent_at) = recorded else {
            self.gate.cancel(departure);
            return Err(Left::JournalGone);
        };
        if self.stop.is_stopping() {
            self.gate.cancel(departure);
            // No request left: withdraw the intent, so the next run need not read the ticket.
            self.journal
                .release(delivery.key, intent_at)
                .await
                .map_err(|_| Left::JournalGone)?;
            return Err(Left::Stopping);
        }
        Tally::bump(&self.tally.attempts);
        let departure = self.gate.leaving(departure);
        let at = SystemTime::now();
        let answer = tokio::select! {
            answer = self.client.post_message(&delivery.ticket_id, &delivery.message) => answer,
            // Abandoned mid-request: the row stays in doubt, and the kernel drops whatever
            // of the request the server has not acknowledged.
            _ = self.stop.reached(StopLevel::Immediate) => return Err(Left::Stopping),
        };
        let answer = match answer {
            Ok(reply) => {
                self.gate.answered(departure, &reply.limits);
                self.breaker.delivered();
                Ok(PostReply {
                    http_status: reply.http_status,
                    message_id: reply.value.message_id,
                    ticket: reply.value.ticket,
                })
            }
            Err(error) => Err(self.noted(departure, error)),
        };
        Ok(Event::Posted { at, answer })
    }

    /// Reads the ticket within the rate limit and counts the row's message on it.
    async fn read(&self, delivery: &Delivery, row: &RowProtocol) -> Result<Event, Left> {
        let Some(departure) = self.gate.acquire_unless(&self.stop, give_up_at(row)).await else {
            return Err(Left::Stopping);
        };
        let copies_since = row.copies_since();
        let at = SystemTime::now();
        let answer = tokio::select! {
            answer = self.client.get_ticket(&delivery.ticket_id) => answer,
            _ = self.stop.reached(StopLevel::Immediate) => return Err(Left::Stopping),
        };
        let answer = match answer {
            Ok(reply) => {
                self.gate.answered(departure, &reply.limits);
                self.breaker.answered();
                let ticket = &reply.value.ticket;
                let (copies, newest_id) = match copies_since {
                    Some(since) => {
                        let found = count_delivered(ticket, &delivery.message, since, reply.clock);
                        (found.copies, found.newest.map(|m| m.id.clone()))
                    }
                    None => (0, None),
                };
                // The same message from anyone within the horizon, ours included: the
                // protocol tells ours (posted since the row's first intent) apart.
                let already_on_ticket = self
                    .policy
                    .resend_horizon
                    .and_then(|horizon| at.checked_sub(horizon))
                    .and_then(|since| {
                        count_delivered(ticket, &delivery.message, since, reply.clock).newest
                    })
                    .map(|m| {
                        m.posted_at
                            .clone()
                            .unwrap_or_else(|| "an unknown date".into())
                    });
                tracing::debug!(line = delivery.line, ticket = %delivery.ticket_id, copies, status = ?ticket.status, "read the ticket");
                Ok(ReadReply {
                    http_status: reply.http_status,
                    status: ticket.status,
                    source: ticket.source,
                    copies,
                    newest_id,
                    already_on_ticket,
                    ticket: reply.value.raw,
                })
            }
            Err(error) => Err(self.noted(departure, error)),
        };
        Ok(Event::Read { at, answer })
    }

    /// What every failed request tells the whole run: a 429 pauses every worker, any other
    /// answer still tells the pace its limits; connection failures with no answer in between
    /// stop the run.
    fn noted(&self, departure: Departure, error: ApiError) -> ApiError {
        if error.kind == ErrorKind::RateLimited {
            Tally::bump(&self.tally.rate_limited);
        }
        self.gate.failed(departure, &error);
        if let Some(reason) = self.breaker.failed(&error, self.client.base_url()) {
            self.stop.request(StopLevel::Graceful, reason);
        }
        tracing::debug!("request failed: {error}");
        error
    }

    async fn pause(&self, delay: Duration) -> Result<Event, Left> {
        tokio::select! {
            _ = tokio::time::sleep(delay) => Ok(Event::Waited),
            _ = self.stop.reached(StopLevel::Graceful) => Err(Left::Stopping),
        }
    }

    /// Waits until `moment` without a place among the requests in flight, or until the run
    /// stops (see [`give_up_at`]).
    async fn wait_out(
        &self,
        moment: SystemTime,
        slot: &mut Option<OwnedSemaphorePermit>,
        row: &RowProtocol,
    ) -> Result<Event, Left> {
        let delay = moment
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        let level = give_up_at(row);
        slot.take();
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = self.stop.reached(level) => return Err(Left::Stopping),
        }
        let place = tokio::select! {
            place = self.slots.clone().acquire_owned() => place,
            _ = self.stop.reached(level) => return Err(Left::Stopping),
        };
        *slot = Some(place.map_err(|_| Left::Stopping)?);
        Ok(Event::Waited)
    }

    fn warn_if_unrecognised(&self, delivery: &Delivery, result: &OutcomeResult) {
        if let OutcomeResult::Sent {
            message_id,
            copies: None,
            ..
        } = result
            && message_id.is_empty()
        {
            tracing::warn!(
                "line {}: the server accepted the message for {} but it is not recognisable on the ticket; counted as sent, not posted again",
                delivery.line,
                delivery.ticket_id
            );
        }
    }
}

/// The stop that ends a row's waiting and reading: a graceful one, unless the row was
/// delivered and waits to have its copies counted — that read is what tells whether the
/// customer got the message twice, so only an immediate stop skips it.
fn give_up_at(row: &RowProtocol) -> StopLevel {
    match row.awaiting_count() {
        true => StopLevel::Immediate,
        false => StopLevel::Graceful,
    }
}

/// The error an event carries, for the log line of the retry that follows.
fn failure_of(event: &Event) -> Option<String> {
    match event {
        Event::Posted {
            answer: Err(error), ..
        }
        | Event::Read {
            answer: Err(error), ..
        } => Some(error.to_string()),
        _ => None,
    }
}
