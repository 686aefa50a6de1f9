//! The per-row protocol, decided without I/O: given where a row stands and the last thing
//! that happened to it, what the courier does next — post, read the ticket, pause, wait for
//! the settle period, or finish with an outcome.
//!
//! The POST is not idempotent, so the rules exist to keep a message from reaching a
//! customer twice, or never:
//!
//! - A request whose answer was lost (timeout, cut connection, 504) leaves the row **in
//!   doubt**: the message may have been posted. The ticket is read; a copy posted since the
//!   row's first intent settles the row as sent.
//! - A read that shows no copy proves nothing until the **settle period** has passed since
//!   the client stopped waiting for the request (its answer, a cut connection, its time
//!   limit): a server may store a moment after it answered, the kernel drops whatever the
//!   server has not acknowledged only a little later (see `ClientOptions`), and a replica may
//!   show the store as it was a while ago. Only a read that starts at or after that moment
//!   and shows no copy proves the message absent; after a crash, when that moment is
//!   unknown, at `last intent + --timeout + --settle`. A miss before that means: wait, read
//!   again.
//! - Proven absent, the row is posted again (`--in-doubt resend`, the default), or left
//!   `in_doubt` for a person (`--in-doubt hold`: twice is worse than never).
//! - A row posted again after a doubt is read once more after the settle period of that
//!   last post, and its copies counted: a late commit of the earlier request beyond the
//!   settle period cannot be prevented without idempotency keys, but it is never silent.
//! - A read that shows the same agent message posted before any request of this row (since
//!   the resend horizon) means someone already sent it — another machine, another tool —
//!   and the row is not posted: the ticket itself is the guard between machines.
//!
//! A 403 to a POST is ambiguous: the token may lack the write scope (every row would fail),
//! or the API may refuse this ticket only (some deployments answer a chat ticket with 403).
//! The ticket is read to tell: a chat ticket fails as such; a 403 to the read too means the
//! token lacks the scopes and stops the run; otherwise the run decides
//! ([`Step::Refused`]), since only it knows whether this token has delivered anything.
//!
//! [`RowProtocol::next`] takes the time as a parameter, so the table of tests below walks
//! every answer kind without a clock or a network.

use std::time::{Duration, SystemTime};

use serde_json::value::RawValue;

use super::retry::{RetryPolicy, RetrySchedule};
use crate::api::{ApiError, ErrorClass, ErrorKind, TicketSource, TicketStatus};
use crate::delivery::{Doubt, OutcomeResult};

/// The reason recorded for a ticket left alone by `--skip-closed`.
pub const CLOSED_REASON: &str = "ticket is closed";

/// What to do with a row whose message was proven absent after a doubt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InDoubtPolicy {
    /// Post it again (and count the copies once more after the settle period).
    Resend,
    /// Never post it again: record it as `in_doubt` for a person to check.
    Hold,
}

/// The rules one run applies to every row.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub retry: RetryPolicy,
    /// The time limit of one request (`--timeout`).
    pub request_timeout: Duration,
    /// How long after a request's time limit a read must wait before an absent message
    /// counts as never posted (`--settle`).
    pub settle: Duration,
    pub in_doubt: InDoubtPolicy,
    /// Read each ticket first and leave closed ones alone (`--skip-closed`).
    pub skip_closed: bool,
    /// How far back an identical agent message on a ticket that is read counts as already
    /// delivered (`--resend-horizon`); `None` with `--resend`.
    pub resend_horizon: Option<Duration>,
}

impl Policy {
    /// When a read that shows no copy proves absent a request of an earlier run that left at
    /// `request_at`: that run may have waited for it up to its time limit before it died.
    fn proof_after(&self, request_at: SystemTime) -> SystemTime {
        request_at
            .checked_add(self.request_timeout.saturating_add(self.settle))
            .unwrap_or(request_at)
    }

    /// When a read that shows no copy proves absent a request this run stopped waiting for
    /// at `ended` (an answer, a cut connection, its time limit): the client sends nothing of
    /// it any more, and what the server or the network still holds lands within the settle
    /// period.
    fn settled_after(&self, ended: SystemTime) -> SystemTime {
        ended.checked_add(self.settle).unwrap_or(ended)
    }
}

/// The next thing the courier does for a row.
#[derive(Debug)]
pub enum Step {
    /// Record an intent, then post the message.
    Post,
    /// Read the ticket (within the rate limit) and count the copies of the message since
    /// [`RowProtocol::copies_since`].
    Read,
    /// A retry pause: the row keeps its place among the requests in flight.
    Pause(Duration),
    /// Wait for the settle period until this moment, then read. The row gives up its place
    /// meanwhile, so other rows keep the rate going.
    WaitUntil(SystemTime),
    /// The row is settled for this run.
    Done(OutcomeResult),
    /// Every row would fail the same way: stop the run, leave this row as it stands.
    StopRun(ApiError),
    /// A 403 to the POST on a ticket that can be read and is not a chat ticket: the token's
    /// or this ticket's, which only the run can tell (see `RunBreaker::refusal_stops_run`).
    /// Either stop the run, or fail the row with [`refused_for_this_ticket`].
    Refused(ApiError),
}

/// A successful POST.
#[derive(Debug)]
pub struct PostReply {
    pub http_status: u16,
    pub message_id: String,
    pub ticket: Box<RawValue>,
}

/// A successful read of the ticket.
#[derive(Debug)]
pub struct ReadReply {
    pub http_status: u16,
    pub status: TicketStatus,
    pub source: TicketSource,
    /// Copies of the message posted since [`RowProtocol::copies_since`] (0 when there is
    /// no such moment yet).
    pub copies: u32,
    /// The newest copy's id.
    pub newest_id: Option<String>,
    /// The `postedAt` of the newest identical agent message posted within the resend
    /// horizon, whoever posted it (`None` without a horizon, or when there is none).
    pub already_on_ticket: Option<String>,
    pub ticket: Box<RawValue>,
}

/// What just happened to the row.
#[derive(Debug)]
pub enum Event {
    /// The row is picked up.
    Begin,
    /// The pause or wait asked for is over.
    Waited,
    /// A POST that left at `at` was answered (or not).
    Posted {
        at: SystemTime,
        answer: Result<PostReply, ApiError>,
    },
    /// A read that left at `at` was answered (or not).
    Read {
        at: SystemTime,
        answer: Result<ReadReply, ApiError>,
    },
}

/// Where one row stands.
pub struct RowProtocol {
    policy: Policy,
    retry: RetrySchedule,
    /// The first moment any request of this row may have posted the message.
    first_intent: Option<SystemTime>,
    /// While in doubt: a read from this moment on that shows no copy proves absence.
    doubt_proof_after: Option<SystemTime>,
    /// The message was posted again after it was proven absent.
    reposted: bool,
    /// The answer to that second post, held until a read after its settle period has
    /// counted the copies.
    unverified: Option<PostReply>,
    /// A 2xx came back whose body was unusable: the server took the message, so it is never
    /// posted again, whatever a read shows.
    accepted: bool,
    /// The ticket's status was read (`--skip-closed`).
    status_read: bool,
    /// A 403 to a POST, waiting for the read of the ticket that tells whose refusal it is.
    refusal: Option<ApiError>,
    /// Failed requests so far, against `--max-attempts`.
    errors: u32,
}

impl RowProtocol {
    /// A row as the journal left it: fresh, or in doubt since an earlier run.
    pub fn new(policy: Policy, doubt: Option<Doubt>) -> Self {
        RowProtocol {
            retry: policy.retry.schedule(),
            first_intent: doubt.map(|d| d.since),
            doubt_proof_after: doubt.map(|d| policy.proof_after(d.last_request)),
            policy,
            reposted: false,
            unverified: None,
            accepted: false,
            status_read: false,
            refusal: None,
            errors: 0,
        }
    }

    /// Copies of the message count from this moment on (the row's first intent).
    pub fn copies_since(&self) -> Option<SystemTime> {
        self.first_intent
    }

    /// Whether a request of this row may have posted the message, unsettled.
    pub fn in_doubt(&self) -> bool {
        self.doubt_proof_after.is_some() || self.unverified.is_some()
    }

    /// The message was posted again after it was proven absent: its copies are counted once
    /// more at the end of the run.
    pub fn reposted(&self) -> bool {
        self.reposted
    }

    /// A 2xx to a second post is waiting for its copies to be counted: a stop should let
    /// that read happen rather than leave a delivered row in doubt.
    pub fn awaiting_count(&self) -> bool {
        self.unverified.is_some()
    }

    /// Decides the next step. `now` is the moment of deciding.
    pub fn next(&mut self, event: Event, now: SystemTime) -> Step {
        match event {
            Event::Begin => match self.doubt_proof_after {
                // After a crash the dead run's request may still be on its way: a read
                // before its settle period could only find it, never rule it out.
                Some(proof_after) if now < proof_after => Step::WaitUntil(proof_after),
                Some(_) => Step::Read,
                None => self.read_or_post(),
            },
            Event::Waited => match self.in_doubt() || self.refusal.is_some() {
                true => Step::Read,
                false => self.read_or_post(),
            },
            Event::Posted { at, answer } => self.posted(at, answer, now),
            Event::Read { at, answer } => self.read(at, answer),
        }
    }

    fn read_or_post(&self) -> Step {
        match self.policy.skip_closed && !self.status_read {
            true => Step::Read,
            false => Step::Post,
        }
    }

    fn posted(
        &mut self,
        at: SystemTime,
        answer: Result<PostReply, ApiError>,
        now: SystemTime,
    ) -> Step {
        self.first_intent.get_or_insert(at);
        let settled = self.policy.settled_after(now.max(at));
        match answer {
            Ok(reply) if self.reposted => {
                // Delivered; once the settle period of this post is over, a late copy of
                // the earlier request would show too.
                self.unverified = Some(reply);
                Step::WaitUntil(settled)
            }
            Ok(reply) => Step::Done(OutcomeResult::Sent {
                http_status: reply.http_status,
                message_id: reply.message_id,
                ticket: reply.ticket,
                copies: None,
            }),
            Err(error) if self.reposted && accepted(&error) => {
                // Delivered, though the answer is unusable: its copies are counted all the
                // same once the settle period is over.
                self.unverified = Some(PostReply {
                    http_status: error.http_status.unwrap_or(200),
                    message_id: String::new(),
                    ticket: null_ticket(),
                });
                Step::WaitUntil(settled)
            }
            // A refusal was not acted on: reading the ticket is safe, and tells whose it is.
            Err(error) if error.http_status == Some(403) => {
                self.refusal = Some(error);
                Step::Read
            }
            Err(error) => {
                if error.in_doubt {
                    self.doubt_proof_after = Some(settled);
                    self.accepted |= accepted(&error);
                }
                self.failed(error)
            }
        }
    }

    fn read(&mut self, at: SystemTime, answer: Result<ReadReply, ApiError>) -> Step {
        let reply = match answer {
            Ok(reply) => reply,
            Err(error) if error.http_status == Some(403) && self.refusal.is_some() => {
                return Step::StopRun(ApiError {
                    message: "the API refuses both a message and a read of the ticket (HTTP 403): the token needs the tickets.read and tickets.write scopes".into(),
                    ..error
                });
            }
            Err(error) => return self.failed(error),
        };
        self.status_read = true;
        if let Some(refused) = self.refusal.take() {
            return match reply.source {
                TicketSource::Chat => Step::Done(OutcomeResult::Failed {
                    in_doubt_since: None,
                    error: ApiError {
                        kind: ErrorKind::Rejected,
                        message: "a chat ticket (HTTP 403): tickets created from live chat cannot receive messages through the API".into(),
                        ..refused
                    },
                }),
                TicketSource::Portal | TicketSource::Email | TicketSource::Unknown => {
                    Step::Refused(refused)
                }
            };
        }
        if let Some(posted) = self.unverified.take() {
            // No copy recognised although the server took one: a sanitiser changed it beyond
            // recognition, and the count is unknown rather than 1.
            let copies = (reply.copies > 0).then_some(reply.copies);
            return Step::Done(match posted.message_id.is_empty() {
                true => OutcomeResult::Sent {
                    http_status: posted.http_status,
                    message_id: reply.newest_id.unwrap_or_default(),
                    ticket: reply.ticket,
                    copies,
                },
                false => OutcomeResult::Sent {
                    http_status: posted.http_status,
                    message_id: posted.message_id,
                    ticket: posted.ticket,
                    copies,
                },
            });
        }
        let Some(proof_after) = self.doubt_proof_after else {
            // The read before the first post (`--skip-closed`).
            return match (reply.status, reply.already_on_ticket) {
                (TicketStatus::Closed, _) => skipped_closed(reply.http_status),
                (_, Some(posted_at)) => already_on_ticket(reply.http_status, &posted_at),
                (TicketStatus::Open | TicketStatus::Unknown, None) => Step::Post,
            };
        };
        if reply.copies > 0 {
            return Step::Done(OutcomeResult::Sent {
                http_status: reply.http_status,
                message_id: reply.newest_id.unwrap_or_default(),
                ticket: reply.ticket,
                copies: Some(reply.copies),
            });
        }
        if self.accepted {
            // The server said yes but the ticket does not show the message recognisably:
            // it rewrote the text. Posting again would make it appear twice.
            return Step::Done(OutcomeResult::Sent {
                http_status: reply.http_status,
                message_id: String::new(),
                ticket: reply.ticket,
                copies: None,
            });
        }
        if at < proof_after {
            return Step::WaitUntil(proof_after);
        }
        // Proven absent: no request of this row can land any more.
        self.doubt_proof_after = None;
        if let Some(posted_at) = reply.already_on_ticket {
            // Not ours (none of ours is there), but the same message: someone sent it.
            return already_on_ticket(reply.http_status, &posted_at);
        }
        match self.policy.in_doubt {
            InDoubtPolicy::Hold => Step::Done(OutcomeResult::Held {
                http_status: reply.http_status,
                since: self.first_intent.unwrap_or(at),
            }),
            InDoubtPolicy::Resend
                if reply.status == TicketStatus::Closed && self.policy.skip_closed =>
            {
                skipped_closed(reply.http_status)
            }
            InDoubtPolicy::Resend => {
                self.reposted = true;
                Step::Post
            }
        }
    }

    /// A request failed: try again, give up on the row, or stop the run, by the class of
    /// the error.
    fn failed(&mut self, error: ApiError) -> Step {
        self.errors += 1;
        let give_up = match error.class() {
            ErrorClass::Fatal => return Step::StopRun(error),
            ErrorClass::Permanent => true,
            ErrorClass::Retryable => self.errors >= self.policy.retry.max_attempts,
        };
        if give_up {
            return Step::Done(match self.unverified.take() {
                // Delivered; only the count of copies could not be read.
                Some(posted) => OutcomeResult::Sent {
                    http_status: posted.http_status,
                    message_id: posted.message_id,
                    ticket: posted.ticket,
                    copies: None,
                },
                // Still in doubt? The journal keeps that, and the next run reads the ticket
                // before trying again. A refused read (a 404) does not settle the doubt.
                None => OutcomeResult::Failed {
                    in_doubt_since: match self.in_doubt() {
                        true => self.first_intent,
                        false => None,
                    },
                    error,
                },
            });
        }
        Step::Pause(self.retry.next_delay(error.limits.retry_after))
    }
}

/// A 2xx whose body was unusable: the server took the message.
fn accepted(error: &ApiError) -> bool {
    error.kind == ErrorKind::InvalidResponse
        && error.http_status.is_some_and(|s| (200..300).contains(&s))
}

/// Where a ticket as returned is unknown (the answer was unusable): JSON `null`.
fn null_ticket() -> Box<RawValue> {
    RawValue::from_string("null".to_string()).unwrap_or_else(|_| unreachable!("null is JSON"))
}

fn already_on_ticket(http_status: u16, posted_at: &str) -> Step {
    Step::Done(OutcomeResult::AlreadyDelivered {
        http_status: Some(http_status),
        reason: format!("already on the ticket since {posted_at}; --resend sends it anyway"),
    })
}

/// A [`Step::Refused`] the run has taken as this ticket's: the row fails, the run goes on.
/// Nothing was posted, so the row is not in doubt.
pub fn refused_for_this_ticket(refused: ApiError) -> OutcomeResult {
    OutcomeResult::Failed {
        in_doubt_since: None,
        error: ApiError {
            message: "the API refuses messages on this ticket (HTTP 403), while this token delivered others in this run: check the ticket's permissions in the portal".into(),
            ..refused
        },
    }
}

fn skipped_closed(http_status: u16) -> Step {
    Step::Done(OutcomeResult::Skipped {
        http_status,
        reason: CLOSED_REASON.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::RateLimitInfo;

    const TIMEOUT: Duration = Duration::from_secs(30);
    const SETTLE: Duration = Duration::from_secs(20);

    fn policy(in_doubt: InDoubtPolicy, skip_closed: bool) -> Policy {
        Policy {
            retry: RetryPolicy {
                max_attempts: 3,
                initial_delay: Duration::from_millis(100),
                max_delay: Duration::from_secs(1),
            },
            request_timeout: TIMEOUT,
            settle: SETTLE,
            in_doubt,
            skip_closed,
            resend_horizon: Some(Duration::from_secs(7 * 24 * 3600)),
        }
    }

    fn t(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000 + secs)
    }

    fn ticket() -> Box<RawValue> {
        RawValue::from_string(r#"{"id":"tic_1"}"#.into()).unwrap()
    }

    fn posted() -> Result<PostReply, ApiError> {
        Ok(PostReply {
            http_status: 200,
            message_id: "tim_new".into(),
            ticket: ticket(),
        })
    }

    fn read(copies: u32, status: TicketStatus) -> Result<ReadReply, ApiError> {
        read_from(TicketSource::Portal, copies, status)
    }

    fn read_from(
        source: TicketSource,
        copies: u32,
        status: TicketStatus,
    ) -> Result<ReadReply, ApiError> {
        Ok(ReadReply {
            http_status: 200,
            status,
            source,
            copies,
            newest_id: (copies > 0).then(|| "tim_found".to_string()),
            already_on_ticket: None,
            ticket: ticket(),
        })
    }

    /// A read that also shows the same message posted by someone else at 09:00.
    fn read_with_earlier_copy(copies: u32, status: TicketStatus) -> Result<ReadReply, ApiError> {
        read(copies, status).map(|reply| ReadReply {
            already_on_ticket: Some("2026-12-01T09:00:00+01:00".into()),
            ..reply
        })
    }

    fn status(code: u16) -> ApiError {
        ApiError::from_status(code, b"{}", RateLimitInfo::default(), None)
    }

    fn lost_answer() -> ApiError {
        ApiError {
            kind: ErrorKind::Timeout,
            message: "timed out".into(),
            http_status: None,
            body: None,
            limits: RateLimitInfo::default(),
            in_doubt: true,
        }
    }

    fn refused_connection() -> ApiError {
        ApiError {
            in_doubt: false,
            kind: ErrorKind::Network,
            ..lost_answer()
        }
    }

    fn garbled_2xx() -> ApiError {
        ApiError::invalid_response(200, "not JSON", b"{\"id\":", RateLimitInfo::default())
    }

    /// A POST that left at `at` (seconds after [`t`]) and got `answer`.
    fn post_answered(at: u64, answer: Result<PostReply, ApiError>) -> Event {
        Event::Posted { at: t(at), answer }
    }

    /// A read that left at `at` and got `answer`.
    fn read_answered(at: u64, answer: Result<ReadReply, ApiError>) -> Event {
        Event::Read { at: t(at), answer }
    }

    /// What a step is, in a word, for the tables.
    fn kind(step: &Step) -> String {
        match step {
            Step::Post => "post".into(),
            Step::Read => "read".into(),
            Step::Pause(_) => "pause".into(),
            Step::WaitUntil(at) => {
                format!("wait until {}", at.duration_since(t(0)).unwrap().as_secs())
            }
            Step::Done(outcome) => match outcome {
                OutcomeResult::Sent {
                    copies, message_id, ..
                } => {
                    format!("sent {message_id} copies {copies:?}")
                }
                OutcomeResult::Failed {
                    error,
                    in_doubt_since,
                } => format!(
                    "failed {} doubt {:?}",
                    error.kind.as_str(),
                    in_doubt_since.map(|s| s.duration_since(t(0)).unwrap().as_secs())
                ),
                OutcomeResult::Skipped { reason, .. } => format!("skipped {reason}"),
                OutcomeResult::Recounted { copies, .. } => format!("recounted {copies}"),
                OutcomeResult::AlreadyDelivered { reason, .. } => format!("already {reason}"),
                OutcomeResult::Held { since, .. } => {
                    format!(
                        "held since {}",
                        since.duration_since(t(0)).unwrap().as_secs()
                    )
                }
            },
            Step::StopRun(error) => format!("stop {}", error.kind.as_str()),
            Step::Refused(error) => format!("refused {}", error.kind.as_str()),
        }
    }

    /// Feeds events at the given moments and returns the steps, one word each.
    fn walk(mut row: RowProtocol, events: Vec<(u64, Event)>) -> Vec<String> {
        events
            .into_iter()
            .map(|(at, event)| kind(&row.next(event, t(at))))
            .collect()
    }

    fn fresh(in_doubt: InDoubtPolicy) -> RowProtocol {
        RowProtocol::new(policy(in_doubt, false), None)
    }

    #[test]
    fn a_2xx_is_sent_once() {
        let steps = walk(
            fresh(InDoubtPolicy::Resend),
            vec![(0, Event::Begin), (0, post_answered(0, posted()))],
        );
        assert_eq!(steps, ["post", "sent tim_new copies None"]);
    }

    #[test]
    fn a_lost_answer_found_on_the_ticket_is_sent_without_a_second_post() {
        let steps = walk(
            fresh(InDoubtPolicy::Resend),
            vec![
                (0, Event::Begin),
                (30, post_answered(0, Err(lost_answer()))),
                (31, Event::Waited),
                (31, read_answered(31, read(1, TicketStatus::Open))),
            ],
        );
        assert_eq!(
            steps,
            ["post", "pause", "read", "sent tim_found copies Some(1)"]
        );
    }

    #[test]
    fn a_miss_before_the_settle_period_waits_and_reads_again() {
        // Posted at 0, time limit 30 s, settle 20 s: only a read from 50 on proves absence.
        let steps = walk(
            fresh(InDoubtPolicy::Resend),
            vec![
                (0, Event::Begin),
                (30, post_answered(0, Err(lost_answer()))),
                (31, Event::Waited),
                (31, read_answered(31, read(0, TicketStatus::Open))),
                (50, Event::Waited),
                // The late request has landed meanwhile.
                (50, read_answered(50, read(1, TicketStatus::Open))),
            ],
        );
        assert_eq!(
            steps,
            [
                "post",
                "pause",
                "read",
                "wait until 50",
                "read",
                "sent tim_found copies Some(1)"
            ]
        );
    }

    #[test]
    fn proven_absent_is_posted_again_and_its_copies_counted_after_the_settle_period() {
        let steps = walk(
            fresh(InDoubtPolicy::Resend),
            vec![
                (0, Event::Begin),
                (30, post_answered(0, Err(lost_answer()))),
                (31, Event::Waited),
                (50, read_answered(50, read(0, TicketStatus::Open))),
                (51, post_answered(51, posted())),
                (101, Event::Waited),
                // The first request committed late, beyond the settle period: two copies.
                (101, read_answered(101, read(2, TicketStatus::Open))),
            ],
        );
        assert_eq!(
            steps,
            [
                "post",
                "pause",
                "read",
                "post",
                "wait until 71",
                "read",
                "sent tim_new copies Some(2)"
            ]
        );
    }

    #[test]
    fn an_answered_500_settles_from_its_answer_not_its_time_limit() {
        // Answered at 2: nothing of the request is left with the client, so the settle
        // period runs from there (22), not from the time limit (0 + 30 + 20).
        let steps = walk(
            fresh(InDoubtPolicy::Resend),
            vec![
                (0, Event::Begin),
                (2, post_answered(0, Err(status(500)))),
                (3, Event::Waited),
                (3, read_answered(3, read(0, TicketStatus::Open))),
            ],
        );
        assert_eq!(steps, ["post", "pause", "read", "wait until 22"]);
    }

    #[test]
    fn hold_never_posts_a_doubtful_row_again() {
        let steps = walk(
            fresh(InDoubtPolicy::Hold),
            vec![
                (0, Event::Begin),
                (30, post_answered(0, Err(lost_answer()))),
                (31, Event::Waited),
                (50, read_answered(50, read(0, TicketStatus::Open))),
            ],
        );
        assert_eq!(steps, ["post", "pause", "read", "held since 0"]);
    }

    #[test]
    fn a_504_is_a_doubt_a_5xx_and_a_refused_connection_are_not() {
        let mut row = fresh(InDoubtPolicy::Resend);
        assert!(matches!(row.next(Event::Begin, t(0)), Step::Post));
        let step = row.next(post_answered(0, Err(status(503))), t(1));
        assert!(matches!(step, Step::Pause(_)) && !row.in_doubt());
        assert!(matches!(row.next(Event::Waited, t(2)), Step::Post));
        let step = row.next(post_answered(2, Err(refused_connection())), t(2));
        assert!(matches!(step, Step::Pause(_)) && !row.in_doubt());
        assert!(matches!(row.next(Event::Waited, t(3)), Step::Post));
        // The third failure spends --max-attempts 3: the row fails, in doubt since its
        // first request.
        let step = row.next(post_answered(3, Err(status(504))), t(4));
        assert_eq!(kind(&step), "failed server doubt Some(0)");
    }

    #[test]
    fn a_429_pauses_for_at_least_what_the_server_asks() {
        let mut row = fresh(InDoubtPolicy::Resend);
        assert!(matches!(row.next(Event::Begin, t(0)), Step::Post));
        let mut limited = status(429);
        limited.limits.retry_after = Some(Duration::from_secs(7));
        let step = row.next(post_answered(0, Err(limited)), t(0));
        assert!(
            matches!(step, Step::Pause(d) if d >= Duration::from_secs(7)),
            "{step:?}"
        );
        assert!(!row.in_doubt());
    }

    #[test]
    fn a_4xx_fails_the_row_a_401_stops_the_run_and_a_403_reads_the_ticket() {
        for (code, expected) in [
            (404, "failed not_found doubt None"),
            (422, "failed rejected doubt None"),
            (401, "stop unauthorized"),
            (403, "read"),
        ] {
            let steps = walk(
                fresh(InDoubtPolicy::Resend),
                vec![(0, Event::Begin), (0, post_answered(0, Err(status(code))))],
            );
            assert_eq!(steps[1], expected, "HTTP {code}");
        }
    }

    /// A 403 to the POST, then the given answer to the read of the ticket.
    fn refused_then_read(answer: Result<ReadReply, ApiError>) -> Vec<String> {
        walk(
            fresh(InDoubtPolicy::Resend),
            vec![
                (0, Event::Begin),
                (0, post_answered(0, Err(status(403)))),
                (0, Event::Read { at: t(0), answer }),
            ],
        )
    }

    #[test]
    fn a_403_on_a_chat_ticket_fails_that_row_only() {
        let steps = refused_then_read(read_from(TicketSource::Chat, 0, TicketStatus::Open));
        assert_eq!(steps, ["post", "read", "failed rejected doubt None"]);
    }

    #[test]
    fn a_403_on_a_readable_ticket_is_for_the_run_to_judge() {
        let steps = refused_then_read(read(0, TicketStatus::Open));
        assert_eq!(steps, ["post", "read", "refused unauthorized"]);
    }

    #[test]
    fn a_403_to_the_read_as_well_stops_the_run() {
        let steps = refused_then_read(Err(status(403)));
        assert_eq!(steps, ["post", "read", "stop unauthorized"]);
    }

    #[test]
    fn a_read_that_404s_keeps_the_doubt() {
        let steps = walk(
            fresh(InDoubtPolicy::Resend),
            vec![
                (0, Event::Begin),
                (30, post_answered(0, Err(lost_answer()))),
                (31, Event::Waited),
                (31, read_answered(31, Err(status(404)))),
            ],
        );
        assert_eq!(steps[3], "failed not_found doubt Some(0)");
    }

    #[test]
    fn a_garbled_2xx_is_never_posted_again() {
        let steps = walk(
            fresh(InDoubtPolicy::Resend),
            vec![
                (0, Event::Begin),
                (0, post_answered(0, Err(garbled_2xx()))),
                (1, Event::Waited),
                // A sanitiser rewrote it beyond recognition: no copy is seen.
                (1, read_answered(1, read(0, TicketStatus::Open))),
            ],
        );
        assert_eq!(steps, ["post", "pause", "read", "sent  copies None"]);
    }

    #[test]
    fn after_a_crash_the_first_read_waits_for_the_dead_runs_last_request() {
        let doubt = Doubt {
            since: t(0),
            last_request: t(40),
        };
        let row = RowProtocol::new(policy(InDoubtPolicy::Resend, false), Some(doubt));
        assert_eq!(row.copies_since(), Some(t(0)));
        let steps = walk(
            row,
            vec![
                (41, Event::Begin),
                (90, Event::Waited),
                (90, read_answered(90, read(0, TicketStatus::Open))),
            ],
        );
        assert_eq!(steps, ["wait until 90", "read", "post"]);
        // Long after: read at once.
        let row = RowProtocol::new(policy(InDoubtPolicy::Resend, false), Some(doubt));
        assert_eq!(walk(row, vec![(500, Event::Begin)]), ["read"]);
    }

    #[test]
    fn skip_closed_reads_first_and_one_read_settles_a_doubt_and_the_status() {
        let row = RowProtocol::new(policy(InDoubtPolicy::Resend, true), None);
        let steps = walk(
            row,
            vec![
                (0, Event::Begin),
                (0, read_answered(0, read(0, TicketStatus::Closed))),
            ],
        );
        assert_eq!(steps, ["read", "skipped ticket is closed"]);

        let row = RowProtocol::new(policy(InDoubtPolicy::Resend, true), None);
        let steps = walk(
            row,
            vec![
                (0, Event::Begin),
                (0, read_answered(0, read(0, TicketStatus::Open))),
            ],
        );
        assert_eq!(steps, ["read", "post"]);

        let doubt = Doubt {
            since: t(0),
            last_request: t(0),
        };
        let row = RowProtocol::new(policy(InDoubtPolicy::Resend, true), Some(doubt));
        let steps = walk(
            row,
            vec![
                (100, Event::Begin),
                (100, read_answered(100, read(0, TicketStatus::Closed))),
            ],
        );
        assert_eq!(steps, ["read", "skipped ticket is closed"]);
    }

    #[test]
    fn retryable_read_errors_pause_and_count_against_the_attempts() {
        let steps = walk(
            fresh(InDoubtPolicy::Resend),
            vec![
                (0, Event::Begin),
                (30, post_answered(0, Err(lost_answer()))),
                (31, Event::Waited),
                (31, read_answered(31, Err(status(500)))),
                (32, Event::Waited),
                (32, read_answered(32, Err(status(500)))),
            ],
        );
        assert_eq!(
            steps,
            [
                "post",
                "pause",
                "read",
                "pause",
                "read",
                "failed server doubt Some(0)"
            ]
        );
    }

    #[test]
    fn a_second_post_with_an_unusable_2xx_still_has_its_copies_counted() {
        let steps = walk(
            fresh(InDoubtPolicy::Resend),
            vec![
                (0, Event::Begin),
                (30, post_answered(0, Err(lost_answer()))),
                (50, Event::Waited),
                (50, read_answered(50, read(0, TicketStatus::Open))),
                (51, post_answered(51, Err(garbled_2xx()))),
                (101, Event::Waited),
                (101, read_answered(101, read(2, TicketStatus::Open))),
            ],
        );
        assert_eq!(steps[4], "wait until 71", "no shortcut past the count");
        assert_eq!(steps[6], "sent tim_found copies Some(2)");
    }

    #[test]
    fn a_count_that_recognises_nothing_is_unknown_not_one() {
        let steps = walk(
            fresh(InDoubtPolicy::Resend),
            vec![
                (0, Event::Begin),
                (30, post_answered(0, Err(lost_answer()))),
                (50, Event::Waited),
                (50, read_answered(50, read(0, TicketStatus::Open))),
                (51, post_answered(51, posted())),
                (101, Event::Waited),
                (101, read_answered(101, read(0, TicketStatus::Open))),
            ],
        );
        assert_eq!(steps[6], "sent tim_new copies None");
    }

    #[test]
    fn a_verification_read_that_fails_still_counts_the_row_as_sent() {
        let steps = walk(
            fresh(InDoubtPolicy::Resend),
            vec![
                (0, Event::Begin),
                (30, post_answered(0, Err(lost_answer()))),
                (50, Event::Waited),
                (50, read_answered(50, read(0, TicketStatus::Open))),
                (51, post_answered(51, posted())),
                (101, Event::Waited),
                (101, read_answered(101, Err(status(404)))),
            ],
        );
        assert_eq!(steps[6], "sent tim_new copies None");
    }

    #[test]
    fn the_same_message_already_on_a_ticket_read_first_is_not_posted() {
        let row = RowProtocol::new(policy(InDoubtPolicy::Resend, true), None);
        let steps = walk(
            row,
            vec![
                (0, Event::Begin),
                (
                    0,
                    read_answered(0, read_with_earlier_copy(0, TicketStatus::Open)),
                ),
            ],
        );
        assert_eq!(
            steps,
            [
                "read",
                "already already on the ticket since 2026-12-01T09:00:00+01:00; --resend sends it anyway"
            ]
        );
        // Closed wins: the row is left alone either way, and the reason says the first thing.
        let row = RowProtocol::new(policy(InDoubtPolicy::Resend, true), None);
        let steps = walk(
            row,
            vec![
                (0, Event::Begin),
                (
                    0,
                    read_answered(0, read_with_earlier_copy(0, TicketStatus::Closed)),
                ),
            ],
        );
        assert_eq!(steps[1], "skipped ticket is closed");
    }

    #[test]
    fn after_a_doubt_our_copy_settles_as_sent_and_only_someone_elses_means_already_there() {
        let lost = || post_answered(0, Err(lost_answer()));
        // Our own copy found: sent, whatever else is on the ticket.
        let steps = walk(
            fresh(InDoubtPolicy::Resend),
            vec![
                (0, Event::Begin),
                (30, lost()),
                (31, Event::Waited),
                (
                    31,
                    read_answered(31, read_with_earlier_copy(1, TicketStatus::Open)),
                ),
            ],
        );
        assert_eq!(steps[3], "sent tim_found copies Some(1)");
        // None of ours before the settle period: wait; proven absent with an earlier copy of
        // someone else's there: not posted again.
        let steps = walk(
            fresh(InDoubtPolicy::Resend),
            vec![
                (0, Event::Begin),
                (30, lost()),
                (31, Event::Waited),
                (
                    31,
                    read_answered(31, read_with_earlier_copy(0, TicketStatus::Open)),
                ),
                (50, Event::Waited),
                (
                    50,
                    read_answered(50, read_with_earlier_copy(0, TicketStatus::Open)),
                ),
            ],
        );
        assert_eq!(steps[3], "wait until 50");
        assert!(
            steps[5].starts_with("already already on the ticket since "),
            "{steps:?}"
        );
    }
}
