//! Finding the `ticketId` and `message` columns (CSV) or fields (NDJSON) by name, the way a
//! person would: `ticketId`, `ticket_id`, `Ticket ID` and `TICKET-ID` are the same name.
//! Template placeholders are matched the same way ([`loose_eq`]).

/// The two names every row needs.
pub(crate) const TICKET_ID: &str = "ticketId";
pub(crate) const MESSAGE: &str = "message";

/// Which required name, if any, `name` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Required {
    TicketId,
    Message,
}

/// Whether the rows must carry their own message: not when a template makes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageColumn {
    Required,
    /// Read if present (so it stays out of the other columns) but not needed.
    Ignored,
}

/// A name as compared: lowercase, without whitespace, `_` and `-`.
fn normal(name: &str) -> impl Iterator<Item = char> + '_ {
    name.chars()
        .filter(|c| !(c.is_whitespace() || *c == '_' || *c == '-'))
        .flat_map(char::to_lowercase)
}

/// Whether two names are the same name to a person (`customer_name`, `Customer Name`).
pub fn loose_eq(a: &str, b: &str) -> bool {
    normal(a).eq(normal(b))
}

impl Required {
    pub const TICKET_ID: &str = TICKET_ID;
    pub const MESSAGE: &str = MESSAGE;

    /// Which required column a header name is, matched loosely.
    pub fn of(name: &str) -> Option<Required> {
        let normal: String = normal(name).collect();
        match normal.as_str() {
            "ticketid" => Some(Required::TicketId),
            "message" => Some(Required::Message),
            _ => None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Required::TicketId => TICKET_ID,
            Required::Message => MESSAGE,
        }
    }
}

/// Where the required columns are, found in one header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Positions {
    pub ticket_id: usize,
    /// `None` only when the message column is not required and absent.
    pub message: Option<usize>,
}

/// How many of the names found an error lists.
const LISTED_NAMES: usize = 20;

/// Locates both required names among `names`. The error says which one is missing (or
/// doubled) and lists what was found, so the user can spot a typo.
pub(crate) fn locate<'a>(
    names: impl IntoIterator<Item = &'a str>,
    kind: &str,
    message_column: MessageColumn,
) -> Result<Positions, String> {
    let mut ticket_id = None;
    let mut message = None;
    let mut found = Vec::new();
    let mut found_count = 0usize;
    for (index, name) in names.into_iter().enumerate() {
        // Enough names to spot a typo; a header of thousands of columns is not listed whole.
        found_count += 1;
        if found.len() < LISTED_NAMES {
            found.push(format!("{name:?}"));
        }
        let slot = match Required::of(name) {
            Some(Required::TicketId) => &mut ticket_id,
            Some(Required::Message) => &mut message,
            None => continue,
        };
        if let Some(first) = *slot {
            let required = Required::of(name).map_or("", Required::name);
            return Err(format!(
                "two {kind}s are named like {required}: number {} and number {}; keep one",
                first + 1,
                index + 1
            ));
        }
        *slot = Some(index);
    }
    let message_required = message_column == MessageColumn::Required;
    let missing: Vec<&str> = [
        (ticket_id.is_none(), TICKET_ID),
        (message.is_none() && message_required, MESSAGE),
    ]
    .iter()
    .filter(|(absent, _)| *absent)
    .map(|(_, name)| *name)
    .collect();
    let needed = if message_required {
        format!("name the {kind}s ticketId and message")
    } else {
        format!("name the {kind} ticketId")
    };
    match ticket_id {
        Some(ticket_id) if missing.is_empty() => Ok(Positions { ticket_id, message }),
        _ => Err(format!(
            "no {} {kind} ({kind}s found: {}); {needed} (case, spaces, _ and - do not matter)",
            missing.join(" and no "),
            match found_count {
                0 => "none".to_owned(),
                n if n > found.len() =>
                    format!("{} and {} more", found.join(", "), n - found.len()),
                _ => found.join(", "),
            }
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_ignoring_case_spaces_underscores_and_dashes() {
        for name in [
            "ticketId",
            "ticket_id",
            "Ticket ID",
            "TICKET-ID",
            " ticketid ",
        ] {
            assert_eq!(Required::of(name), Some(Required::TicketId), "{name}");
        }
        for name in ["message", "Message", "MESSAGE "] {
            assert_eq!(Required::of(name), Some(Required::Message), "{name}");
        }
        for name in ["ticket", "id", "messages", "body", ""] {
            assert_eq!(Required::of(name), None, "{name}");
        }
    }

    #[test]
    fn finds_columns_in_any_order() {
        let at = locate(
            ["name", "Message", "Ticket ID"],
            "column",
            MessageColumn::Required,
        )
        .unwrap();
        assert_eq!(
            at,
            Positions {
                ticket_id: 2,
                message: Some(1)
            }
        );
    }

    #[test]
    fn with_a_template_only_the_ticket_id_is_needed() {
        let at = locate(["Ticket ID", "name"], "column", MessageColumn::Ignored).unwrap();
        assert_eq!(
            at,
            Positions {
                ticket_id: 0,
                message: None
            }
        );
        let err = locate(["name"], "column", MessageColumn::Ignored).unwrap_err();
        assert!(err.contains("no ticketId column"), "{err}");
        assert!(err.contains("name the column ticketId"), "{err}");
    }

    #[test]
    fn loose_names() {
        assert!(loose_eq("customer_name", "Customer Name"));
        assert!(loose_eq("customerId", "customer-id"));
        assert!(!loose_eq("name", "names"));
    }

    #[test]
    fn a_missing_column_is_named_and_the_found_ones_listed() {
        let err = locate(["ticket", "message"], "column", MessageColumn::Required).unwrap_err();
        assert!(err.contains("no ticketId column"), "{err}");
        assert!(err.contains("\"ticket\", \"message\""), "{err}");
        let err = locate(["a"], "column", MessageColumn::Required).unwrap_err();
        assert!(err.contains("no ticketId and no message column"), "{err}");
    }

    #[test]
    fn a_doubled_column_is_an_error() {
        let err = locate(
            ["ticketId", "message", "ticket_id"],
            "column",
            MessageColumn::Required,
        )
        .unwrap_err();
        assert!(err.contains("number 1 and number 3"), "{err}");
    }
}
