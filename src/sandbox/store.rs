//! The sandbox's tickets and every message appended to them, in memory.
//!
//! One `Store` sits behind one mutex. Each request holds it once, briefly: look up (or
//! create) the ticket, append, serialize the answer. Serializing under the lock avoids cloning
//! the ticket, and a ticket is small enough that this is cheaper than the clone would be.

use std::collections::HashMap;

use serde::{Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::FormatItem;
use time::macros::format_description;

use super::faults::{Fault, Faults, pair_hash};
use super::world::{Source, Status, TicketSeed, World, is_well_formed_ticket_id};

/// ATOM as the API writes it: `2024-04-29T21:00:00+02:00`, never `Z`.
const ATOM: &[FormatItem<'static>] = format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second][offset_hour sign:mandatory]:[offset_minute]"
);

/// Now, in ATOM format (UTC, written `+00:00`).
pub fn atom_now() -> String {
    OffsetDateTime::now_utc()
        .format(ATOM)
        .unwrap_or_else(|_| String::from("1970-01-01T00:00:00+00:00"))
}

/// A ticket exactly as the API returns it (camelCase, messages included).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    id: String,
    customer_id: Option<String>,
    title: String,
    source: Source,
    status: Status,
    messages: Vec<Message>,
    created_at: String,
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
    message: String,
    posted_at: String,
    attachments: NoAttachments,
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
    pub message: String,
    pub posted_at: String,
}

/// The answer to a POST, decided under the lock.
#[derive(Debug)]
pub enum PostOutcome {
    /// Appended; the whole ticket as JSON, and the fault to apply to the answer
    /// (`Fault::None`, `Fault::Drop` or `Fault::Garbage`).
    Appended {
        ticket_json: Vec<u8>,
        fault: Fault,
    },
    /// Injected server failure with this status: nothing appended.
    Failed(u16),
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
    tickets: Vec<Ticket>,
    index_of: HashMap<String, usize>,
    /// Every appended message as (ticket index, message index), in arrival order.
    log: Vec<(usize, usize)>,
    /// POSTs so far per (ticket, message) pair, keyed by `pair_hash`; only kept when faults
    /// are on, since it exists to number the attempts a fault decision depends on.
    attempts: HashMap<u64, u64>,
    duplicate_messages: u64,
    next_message_number: u64,
}

impl Store {
    pub fn new(world: World, agent_name: String) -> Self {
        let created_at = atom_now();
        let (open_world, seeds) = match world {
            World::Open => (true, Vec::new()),
            World::Fixed(seeds) => (false, seeds),
        };
        let mut store = Store {
            open_world,
            agent_name,
            tickets: Vec::with_capacity(seeds.len()),
            index_of: HashMap::with_capacity(seeds.len()),
            log: Vec::new(),
            attempts: HashMap::new(),
            duplicate_messages: 0,
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
        if !self.open_world || !is_well_formed_ticket_id(id) {
            return None;
        }
        let seed = TicketSeed {
            id: id.to_owned(),
            status: Status::Open,
            source: Source::Portal,
            customer_id: None,
            title: String::from("Sandbox ticket"),
        };
        Some(self.insert(seed, atom_now()))
    }

    /// `GET /v1/tickets/{id}`: the ticket as JSON.
    pub fn ticket_json(&mut self, id: &str) -> Option<Vec<u8>> {
        let index = self.find_or_create(id)?;
        Some(to_json(&self.tickets[index]))
    }

    /// `POST /v1/tickets/{id}`: decides the fault, then appends (reopening a closed ticket).
    pub fn post(
        &mut self,
        id: &str,
        text: &str,
        posted_at: String,
        faults: &Faults,
    ) -> PostOutcome {
        let fault = if faults.any_rate() {
            let attempt = self.attempts.entry(pair_hash(id, text)).or_insert(0);
            let fault = faults.decide(id, text, *attempt);
            *attempt += 1;
            fault
        } else {
            Fault::None
        };
        if let Fault::Fail(status) = fault {
            return PostOutcome::Failed(status);
        }
        let Some(index) = self.find_or_create(id) else {
            return PostOutcome::NotFound;
        };
        let ticket = &mut self.tickets[index];
        if ticket.source == Source::Chat {
            return PostOutcome::ChatRefused;
        }
        if ticket.messages.iter().any(|m| m.message == text) {
            self.duplicate_messages += 1;
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
            message: text.to_owned(),
            posted_at,
            attachments: NoAttachments,
        });
        self.log.push((index, ticket.messages.len() - 1));
        PostOutcome::Appended {
            ticket_json: to_json(ticket),
            fault,
        }
    }

    /// Up to `take` tickets passing `filter` after the first `skip`, in creation (or file)
    /// order.
    pub fn list(&self, filter: ListFilter, skip: usize, take: usize) -> Vec<TicketSummary<'_>> {
        self.tickets
            .iter()
            .filter(|t| filter.status.is_none_or(|s| t.status == s))
            .filter(|t| filter.source.is_none_or(|s| t.source == s))
            .skip(skip)
            .take(take)
            .map(|t| TicketSummary {
                id: &t.id,
                customer_id: t.customer_id.as_deref(),
                title: &t.title,
                source: t.source,
                status: t.status,
                created_at: &t.created_at,
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
                    posted_at: message.posted_at.clone(),
                }
            })
            .collect()
    }

    pub fn messages_appended(&self) -> u64 {
        self.log.len() as u64
    }

    pub fn duplicate_messages(&self) -> u64 {
        self.duplicate_messages
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

    #[test]
    fn atom_dates_use_a_numeric_offset() {
        let now = atom_now();
        assert_eq!(now.len(), "2024-04-29T21:00:00+00:00".len(), "{now}");
        assert!(now.ends_with("+00:00"), "{now}");
        assert!(
            OffsetDateTime::parse(&now, &time::format_description::well_known::Rfc3339).is_ok()
        );
    }

    #[test]
    fn posting_reopens_counts_duplicates_and_refuses_chat() {
        let world = World::Fixed(vec![
            seed("tic_closed", Status::Closed, Source::Email),
            seed("tic_chat", Status::Open, Source::Chat),
        ]);
        let mut store = Store::new(world, "Agent".into());
        let none = Faults::none();
        for _ in 0..2 {
            let outcome = store.post("tic_closed", "Hi", atom_now(), &none);
            assert!(matches!(
                outcome,
                PostOutcome::Appended {
                    fault: Fault::None,
                    ..
                }
            ));
        }
        let json: serde_json::Value =
            serde_json::from_slice(&store.ticket_json("tic_closed").unwrap()).unwrap();
        assert_eq!(json["status"], "open");
        assert_eq!(json["messages"].as_array().unwrap().len(), 2);
        assert_eq!(json["messages"][0]["attachments"], serde_json::json!([]));
        assert_ne!(json["messages"][0]["id"], json["messages"][1]["id"]);
        assert_eq!(store.duplicate_messages(), 1);
        assert!(matches!(
            store.post("tic_chat", "Hi", atom_now(), &none),
            PostOutcome::ChatRefused
        ));
        assert!(matches!(
            store.post("tic_other", "Hi", atom_now(), &none),
            PostOutcome::NotFound
        ));
        assert_eq!(store.messages_appended(), 2);
    }

    #[test]
    fn open_world_creates_well_formed_ids_on_first_touch() {
        let mut store = Store::new(World::Open, "Agent".into());
        assert!(store.list(ListFilter::default(), 0, 15).is_empty());
        assert!(store.ticket_json("tic_new1").is_some());
        assert!(store.ticket_json("nope").is_none());
        assert_eq!(store.list(ListFilter::default(), 0, 15).len(), 1);
    }
}
