//! The sandbox's tickets and every message appended to them, in memory.
//!
//! One `Store` sits behind one mutex. Each request holds it once, briefly: look up (or
//! create) the ticket, append, serialize the answer. Serializing under the lock avoids cloning
//! the ticket, and a ticket is small enough that this is cheaper than the clone would be.
//!
//! Reads can lag writes (`--read-lag`): every message remembers the `Instant` it was stored,
//! and a read shows only the messages stored at least the lag ago, as a replica or cache
//! would. The answer to a POST is the primary's and shows everything.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use serde::{Serialize, Serializer};

use super::clock::ServerClock;
use super::faults::{Fault, Faults, pair_hash};
use super::report::StoreFigures;
use super::world::{Source, Status, TicketSeed, World};
use crate::api::is_ticket_id;
use crate::files::unix_ms;

struct Ticket {
    id: String,
    customer_id: Option<String>,
    title: String,
    source: Source,
    status: Status,
    /// The status before any reply: what a lagging read shows while no reply is visible yet
    /// (a reply reopens a closed ticket, and that too reaches a replica late).
    status_before_replies: Status,
    messages: Vec<Message>,
    created_at: String,
}

/// A ticket exactly as the API returns it (camelCase, messages included), as of one moment.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TicketView<'a> {
    id: &'a str,
    customer_id: Option<&'a str>,
    title: &'a str,
    source: Source,
    status: Status,
    messages: &'a [Message],
    created_at: &'a str,
}

impl Ticket {
    /// The ticket as a read at `horizon` sees it.
    fn view(&self, horizon: Horizon) -> TicketView<'_> {
        let messages = horizon.visible(&self.messages);
        TicketView {
            id: &self.id,
            customer_id: self.customer_id.as_deref(),
            title: &self.title,
            source: self.source,
            status: if messages.is_empty() {
                self.status_before_replies
            } else {
                self.status
            },
            messages,
            created_at: &self.created_at,
        }
    }
}

/// Up to which moment a read sees the stored messages.
#[derive(Debug, Clone, Copy)]
enum Horizon {
    /// Everything stored: no lag, or the POST's own answer.
    Now,
    /// What was stored at or before this instant.
    StoredBy(Instant),
    /// Nothing yet: the lag reaches back before this process could date anything.
    BeforeAnything,
}

impl Horizon {
    /// Messages are pushed in storing order with `Instant`s taken under the store's lock, so
    /// the visible ones are a prefix.
    fn visible(self, messages: &[Message]) -> &[Message] {
        match self {
            Horizon::Now => messages,
            Horizon::StoredBy(cutoff) => {
                &messages[..messages.partition_point(|m| m.stored_at <= cutoff)]
            }
            Horizon::BeforeAnything => &[],
        }
    }
}

/// A list entry: the ticket without its messages.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketSummary<'a> {
    id: &'a str,
    customer_id: Option<&'a str>,
    title: &'a str,
    source: Source,
    status: Status,
    created_at: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Message {
    id: String,
    posted_by: String,
    is_posted_by_customer: bool,
    /// As stored: rewritten by `--rewrite` if that is on.
    message: String,
    posted_at: String,
    attachments: NoAttachments,
    /// The text as the client posted it, kept only when the stored text differs.
    #[serde(skip)]
    posted_differently: Option<String>,
    #[serde(skip)]
    stored_at: Instant,
    #[serde(skip)]
    stored_at_unix_ms: u64,
}

impl Message {
    fn posted(&self) -> &str {
        self.posted_differently.as_deref().unwrap_or(&self.message)
    }
}

/// Messages posted through the API never carry attachments: always `[]`.
#[derive(Debug)]
struct NoAttachments;

impl Serialize for NoAttachments {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(std::iter::empty::<()>())
    }
}

/// One message appended through the sandbox, as `GET /__sandbox/messages` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppendedMessage {
    pub ticket_id: String,
    pub message_id: String,
    /// As stored (and shown by the API): rewritten if `--rewrite` is on.
    pub message: String,
    /// As the client posted it.
    pub posted: String,
    /// By the server's clock, skewed if `--clock-skew` is on.
    pub posted_at: String,
    /// Real UNIX time of the storing, in milliseconds.
    pub stored_at_ms: u64,
}

/// The answer to a POST, decided under the lock.
#[derive(Debug)]
pub enum PostOutcome {
    /// Appended; the whole ticket as JSON, and the fault to apply to the answer
    /// (`Fault::None`, `Fault::Drop`, `Fault::Garbage` or `Fault::GatewayTimeout`).
    Appended {
        ticket_json: Vec<u8>,
        fault: Fault,
    },
    /// Injected server failure with this status: nothing appended.
    Failed(u16),
    /// `Fault::Late`: nothing appended yet; the caller appends after the delay.
    StoreLater,
    Refused(Refusal),
}

/// Why a message cannot be appended to a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotFound,
    /// A chat ticket: the API refuses messages on it.
    ChatRefused,
}

/// Which tickets a list shows (a sandbox extension; the real list has no filters).
#[derive(Debug, Clone, Copy, Default)]
pub struct ListFilter {
    pub status: Option<Status>,
    pub source: Option<Source>,
}

pub struct Store {
    open_world: bool,
    agent_name: String,
    clock: ServerClock,
    read_lag: Duration,
    tickets: Vec<Ticket>,
    index_of: HashMap<String, usize>,
    /// Every appended message as (ticket index, message index), in arrival order.
    log: Vec<(usize, usize)>,
    /// POSTs so far per (ticket, message) pair, keyed by `pair_hash`; only kept when faults
    /// are on, since it exists to number the attempts a fault decision depends on.
    attempts: HashMap<u64, u64>,
    duplicate_messages: u64,
    /// Messages stored in another form than posted (`--rewrite`).
    messages_rewritten: u64,
    /// Reads of a ticket that did not yet show all its messages (`--read-lag`).
    stale_reads: u64,
    next_message_number: u64,
}

impl Store {
    pub fn new(world: World, agent_name: String, clock: ServerClock, read_lag: Duration) -> Self {
        let created_at = clock.atom_now();
        let (open_world, seeds) = match world {
            World::Open => (true, Vec::new()),
            World::Fixed(seeds) => (false, seeds),
        };
        let mut store = Store {
            open_world,
            agent_name,
            clock,
            read_lag,
            tickets: Vec::with_capacity(seeds.len()),
            index_of: HashMap::with_capacity(seeds.len()),
            log: Vec::new(),
            attempts: HashMap::new(),
            duplicate_messages: 0,
            messages_rewritten: 0,
            stale_reads: 0,
            next_message_number: 1,
        };
        for seed in seeds {
            store.insert(seed, created_at.clone());
        }
        store
    }

    fn insert(&mut self, seed: TicketSeed, created_at: String) -> usize {
        let index = self.tickets.len();
        self.index_of.insert(seed.id.clone(), index);
        self.tickets.push(Ticket {
            id: seed.id,
            customer_id: seed.customer_id,
            title: seed.title,
            source: seed.source,
            status: seed.status,
            status_before_replies: seed.status,
            messages: Vec::new(),
            created_at,
        });
        index
    }

    /// The ticket's index; in the open world a well-formed id is created on first touch.
    fn find_or_create(&mut self, id: &str) -> Option<usize> {
        if let Some(&index) = self.index_of.get(id) {
            return Some(index);
        }
        if !self.open_world || !is_ticket_id(id) {
            return None;
        }
        let seed = TicketSeed {
            id: id.to_owned(),
            status: Status::Open,
            source: Source::Portal,
            customer_id: None,
            title: String::from("Sandbox ticket"),
        };
        let created_at = self.clock.atom_now();
        Some(self.insert(seed, created_at))
    }

    /// What reads see now: everything, or what was stored at least `read_lag` ago.
    fn read_horizon(&self) -> Horizon {
        if self.read_lag.is_zero() {
            return Horizon::Now;
        }
        Instant::now()
            .checked_sub(self.read_lag)
            .map_or(Horizon::BeforeAnything, Horizon::StoredBy)
    }

    /// `GET /v1/tickets/{id}`: the ticket as JSON, as a (possibly lagging) read sees it.
    pub fn ticket_json(&mut self, id: &str) -> Option<Vec<u8>> {
        let index = self.find_or_create(id)?;
        let horizon = self.read_horizon();
        let ticket = &self.tickets[index];
        let view = ticket.view(horizon);
        if view.messages.len() < ticket.messages.len() {
            self.stale_reads += 1;
        }
        Some(to_json(&view))
    }

    /// `POST /v1/tickets/{id}`: decides the fault, then appends `stored` (what the sanitiser
    /// made of `posted`). The fault is decided on the text as posted: a client sees the
    /// same faults whatever `--rewrite` does.
    pub fn post(&mut self, id: &str, posted: &str, stored: &str, faults: &Faults) -> PostOutcome {
        let fault = if faults.any_rate() {
            let attempt = self.attempts.entry(pair_hash(id, posted)).or_insert(0);
            let fault = faults.decide(id, posted, *attempt);
            *attempt += 1;
            fault
        } else {
            Fault::None
        };
        match fault {
            Fault::Fail(status) => return PostOutcome::Failed(status),
            Fault::Late => return PostOutcome::StoreLater,
            Fault::None | Fault::Drop | Fault::Garbage | Fault::GatewayTimeout => {}
        }
        match self.append(id, posted, stored) {
            Ok(ticket_json) => PostOutcome::Appended { ticket_json, fault },
            Err(refusal) => PostOutcome::Refused(refusal),
        }
    }

    /// Appends a message to the ticket (reopening it if closed) and returns the whole ticket
    /// as JSON, all messages shown: the primary's answer.
    pub fn append(&mut self, id: &str, posted: &str, stored: &str) -> Result<Vec<u8>, Refusal> {
        let index = self.find_or_create(id).ok_or(Refusal::NotFound)?;
        let ticket = &mut self.tickets[index];
        if ticket.source == Source::Chat {
            return Err(Refusal::ChatRefused);
        }
        // By the posted text: a retry is a duplicate however the sanitiser stored it.
        if ticket.messages.iter().any(|m| m.posted() == posted) {
            self.duplicate_messages += 1;
        }
        let posted_differently = (stored != posted).then(|| posted.to_owned());
        if posted_differently.is_some() {
            self.messages_rewritten += 1;
        }
        let message_id = format!("tim_{:014x}", self.next_message_number);
        self.next_message_number += 1;
        ticket.status = Status::Open;
        if ticket.messages.is_empty() {
            // Most tickets in a bulk job get exactly one message; `push` would reserve four.
            ticket.messages.reserve_exact(1);
        }
        ticket.messages.push(Message {
            id: message_id,
            posted_by: self.agent_name.clone(),
            is_posted_by_customer: false,
            message: stored.to_owned(),
            posted_at: self.clock.atom_now(),
            attachments: NoAttachments,
            posted_differently,
            // Taken under the store's lock: storing order and `Instant` order agree.
            stored_at: Instant::now(),
            stored_at_unix_ms: unix_ms(SystemTime::now()),
        });
        self.log.push((index, ticket.messages.len() - 1));
        Ok(to_json(&ticket.view(Horizon::Now)))
    }

    /// Up to `take` tickets passing `filter` after the first `skip`, in creation (or file)
    /// order.
    /// The list is a read too: with `--read-lag` a ticket reopened by a reply too fresh to
    /// be seen is still listed (and filtered) as closed.
    pub fn list(&self, filter: ListFilter, skip: usize, take: usize) -> Vec<TicketSummary<'_>> {
        let horizon = self.read_horizon();
        self.tickets
            .iter()
            .map(|t| t.view(horizon))
            .filter(|t| filter.status.is_none_or(|s| t.status == s))
            .filter(|t| filter.source.is_none_or(|s| t.source == s))
            .skip(skip)
            .take(take)
            .map(|t| TicketSummary {
                id: t.id,
                customer_id: t.customer_id,
                title: t.title,
                source: t.source,
                status: t.status,
                created_at: t.created_at,
            })
            .collect()
    }

    pub fn appended(&self) -> Vec<AppendedMessage> {
        self.log
            .iter()
            .map(|&(ticket, message)| {
                let ticket = &self.tickets[ticket];
                let message = &ticket.messages[message];
                AppendedMessage {
                    ticket_id: ticket.id.clone(),
                    message_id: message.id.clone(),
                    message: message.message.clone(),
                    posted: message.posted().to_owned(),
                    posted_at: message.posted_at.clone(),
                    stored_at_ms: message.stored_at_unix_ms,
                }
            })
            .collect()
    }

    /// The report's figures kept here.
    pub fn figures(&self) -> StoreFigures {
        StoreFigures {
            messages_appended: self.log.len() as u64,
            duplicate_messages: self.duplicate_messages,
            messages_rewritten: self.messages_rewritten,
            stale_reads: self.stale_reads,
        }
    }
}

/// Serializing our own types to a Vec cannot fail (no maps with non-string keys, no I/O).
fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(id: &str, status: Status, source: Source) -> TicketSeed {
        TicketSeed {
            id: id.into(),
            status,
            source,
            customer_id: Some("cst_1".into()),
            title: "Invoice".into(),
        }
    }

    fn store(world: World, read_lag: Duration) -> Store {
        Store::new(world, "Agent".into(), ServerClock::default(), read_lag)
    }

    fn ticket(store: &mut Store, id: &str) -> serde_json::Value {
        serde_json::from_slice(&store.ticket_json(id).unwrap()).unwrap()
    }

    #[test]
    fn posting_reopens_counts_duplicates_and_refuses_chat() {
        let world = World::Fixed(vec![
            seed("tic_closed", Status::Closed, Source::Email),
            seed("tic_chat", Status::Open, Source::Chat),
        ]);
        let mut store = store(world, Duration::ZERO);
        let none = Faults::none();
        for _ in 0..2 {
            let outcome = store.post("tic_closed", "Hi", "Hi", &none);
            assert!(matches!(
                outcome,
                PostOutcome::Appended {
                    fault: Fault::None,
                    ..
                }
            ));
        }
        let json = ticket(&mut store, "tic_closed");
        assert_eq!(json["status"], "open");
        assert_eq!(json["messages"].as_array().unwrap().len(), 2);
        assert_eq!(json["messages"][0]["attachments"], serde_json::json!([]));
        assert_ne!(json["messages"][0]["id"], json["messages"][1]["id"]);
        assert_eq!(store.figures().duplicate_messages, 1);
        assert!(matches!(
            store.post("tic_chat", "Hi", "Hi", &none),
            PostOutcome::Refused(Refusal::ChatRefused)
        ));
        assert!(matches!(
            store.post("tic_other", "Hi", "Hi", &none),
            PostOutcome::Refused(Refusal::NotFound)
        ));
        assert_eq!(store.figures().messages_appended, 2);
        assert_eq!(store.figures().stale_reads, 0);
    }

    #[test]
    fn a_rewritten_message_is_stored_rewritten_and_a_duplicate_by_its_posted_text() {
        let mut store = store(World::Open, Duration::ZERO);
        let none = Faults::none();
        let PostOutcome::Appended { ticket_json, .. } =
            store.post("tic_1", "Café", "Caf&eacute;", &none)
        else {
            panic!("appended");
        };
        let answer: serde_json::Value = serde_json::from_slice(&ticket_json).unwrap();
        assert_eq!(answer["messages"][0]["message"], "Caf&eacute;");
        store.post("tic_1", "Café", "Caf&eacute;", &none);
        store.post("tic_1", "Caf&eacute;", "Caf&eacute;", &none);
        assert_eq!(
            store.figures().duplicate_messages,
            1,
            "by the posted text only"
        );
        assert_eq!(store.figures().messages_rewritten, 2);
        let appended = store.appended();
        assert_eq!(appended[0].posted, "Café");
        assert_eq!(appended[0].message, "Caf&eacute;");
        assert_eq!(appended[2].posted, "Caf&eacute;");
    }

    #[test]
    fn a_lagging_read_hides_fresh_messages_and_the_reopening_they_caused() {
        let world = World::Fixed(vec![seed("tic_closed", Status::Closed, Source::Email)]);
        let lag = Duration::from_millis(200);
        let mut store = store(world, lag);
        let none = Faults::none();
        let PostOutcome::Appended { ticket_json, .. } = store.post("tic_closed", "Hi", "Hi", &none)
        else {
            panic!("appended");
        };
        let answer: serde_json::Value = serde_json::from_slice(&ticket_json).unwrap();
        assert_eq!(
            answer["messages"].as_array().unwrap().len(),
            1,
            "the primary's answer"
        );
        assert_eq!(answer["status"], "open");

        let read = ticket(&mut store, "tic_closed");
        assert_eq!(read["messages"], serde_json::json!([]));
        assert_eq!(read["status"], "closed");
        let closed = ListFilter {
            status: Some(Status::Closed),
            ..ListFilter::default()
        };
        assert_eq!(store.list(closed, 0, 15).len(), 1);
        assert_eq!(store.figures().stale_reads, 1);

        std::thread::sleep(lag);
        let read = ticket(&mut store, "tic_closed");
        assert_eq!(read["messages"].as_array().unwrap().len(), 1);
        assert_eq!(read["status"], "open");
        assert!(store.list(closed, 0, 15).is_empty());
        assert_eq!(store.figures().stale_reads, 1);
    }

    #[test]
    fn open_world_creates_well_formed_ids_on_first_touch() {
        let mut store = store(World::Open, Duration::ZERO);
        assert!(store.list(ListFilter::default(), 0, 15).is_empty());
        assert!(store.ticket_json("tic_new1").is_some());
        assert!(store.ticket_json("nope").is_none());
        assert_eq!(store.list(ListFilter::default(), 0, 15).len(), 1);
    }
}
