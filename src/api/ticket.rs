//! The ticket object the API returns, as far as bulk-reply needs to understand it. The
//! results file keeps the ticket exactly as the server sent it; these types only read it.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    pub id: String,
    #[serde(default)]
    pub status: TicketStatus,
    #[serde(default)]
    pub source: TicketSource,
    #[serde(default)]
    pub messages: Vec<Message>,
}

/// Where a ticket came from. Only `chat` matters: the API takes no messages on such tickets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TicketSource {
    Portal,
    Email,
    Chat,
    /// A source this version does not know, or none given.
    #[default]
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TicketStatus {
    Open,
    Closed,
    /// A status this version does not know; treated like neither open nor closed.
    #[default]
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub id: String,
    pub message: String,
    #[serde(default)]
    pub is_posted_by_customer: bool,
    /// ATOM date as sent by the server; kept as text and parsed only when needed.
    #[serde(default)]
    pub posted_at: Option<String>,
}

/// One entry of the ticket list (`GET /tickets`): no messages.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketSummary {
    pub id: String,
    #[serde(default)]
    pub customer_id: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    /// `open` or `closed`; kept as text, so a status this version does not know still lists.
    #[serde(default)]
    pub status: String,
    /// `portal`, `email` or `chat`.
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub created_at: Option<String>,
}

/// One page of the ticket list.
#[derive(Debug, Clone, Deserialize)]
pub struct TicketPage {
    pub data: Vec<TicketSummary>,
    /// Null on the last page; only its presence is used (see `ApiClient::list_tickets`).
    #[serde(default)]
    pub next_page_url: Option<String>,
}
