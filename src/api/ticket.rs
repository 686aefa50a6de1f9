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
    pub messages: Vec<Message>,
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
