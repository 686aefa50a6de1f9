//! The ticket object the API returns, as far as bulk-reply needs to understand it. The
//! results file keeps the ticket exactly as the server sent it; these types only read it.

use serde::Deserialize;

/// The longest id part (after `tic_`) the API issues.
pub const TICKET_ID_MAX_CHARS: usize = 64;

/// The API's ticket-id syntax: `tic_` then 1 to [`TICKET_ID_MAX_CHARS`] ASCII letters or
/// digits. One rule for the client's validation and the sandbox's world, so an id that
/// validates is one the API could have issued, not a 404 waiting to happen.
pub fn is_ticket_id(text: &str) -> bool {
    // A table and no early exit: ids are short, and `validate` runs this for every row.
    const ALPHANUMERIC: [bool; 256] = {
        let mut table = [false; 256];
        let mut byte = 0;
        while byte < 256 {
            table[byte] = (byte as u8).is_ascii_alphanumeric();
            byte += 1;
        }
        table
    };
    text.strip_prefix("tic_").is_some_and(|rest| {
        (1..=TICKET_ID_MAX_CHARS).contains(&rest.len())
            && rest
                .bytes()
                .fold(true, |all, byte| all & ALPHANUMERIC[usize::from(byte)])
    })
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_ids_are_tic_and_1_to_64_letters_or_digits() {
        assert!(is_ticket_id("tic_abc12345def678"));
        assert!(is_ticket_id(&format!("tic_{}", "a".repeat(64))));
        assert!(!is_ticket_id(&format!("tic_{}", "a".repeat(65))));
        for bad in ["tic_", "tick_1", "tic_a-b", "TIC_1", "", "tic_é", "tic_a b"] {
            assert!(!is_ticket_id(bad), "{bad}");
        }
    }
}
