//! Finding the `ticketId` and `message` columns (CSV) or fields (NDJSON) by name, the way a
//! person would: `ticketId`, `ticket_id`, `Ticket ID` and `TICKET-ID` are the same name.

/// The two names every row needs.
pub(crate) const TICKET_ID: &str = "ticketId";
pub(crate) const MESSAGE: &str = "message";

/// Which required name, if any, `name` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Required {
    TicketId,
    Message,
}

impl Required {
    pub(crate) fn of(name: &str) -> Option<Required> {
        let mut normal = String::with_capacity(name.len());
        for c in name.trim().chars() {
            if !(c.is_whitespace() || c == '_' || c == '-') {
                normal.extend(c.to_lowercase());
            }
        }
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
    pub message: usize,
}

/// How many of the names found an error lists.
const LISTED_NAMES: usize = 20;

/// Locates both required names among `names`. The error says which one is missing (or
/// doubled) and lists what was found, so the user can spot a typo.
pub(crate) fn locate<'a>(
    names: impl IntoIterator<Item = &'a str>,
    kind: &str,
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
    let missing: Vec<&str> = [(ticket_id, TICKET_ID), (message, MESSAGE)]
        .iter()
        .filter(|(at, _)| at.is_none())
        .map(|(_, name)| *name)
        .collect();
    match (ticket_id, message) {
        (Some(ticket_id), Some(message)) => Ok(Positions { ticket_id, message }),
        _ => Err(format!(
            "no {} {kind} ({kind}s found: {}); name the {kind}s ticketId and message \
             (case, spaces, _ and - do not matter)",
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
        let at = locate(["name", "Message", "Ticket ID"], "column").unwrap();
        assert_eq!(
            at,
            Positions {
                ticket_id: 2,
                message: 1
            }
        );
    }

    #[test]
    fn a_missing_column_is_named_and_the_found_ones_listed() {
        let err = locate(["ticket", "message"], "column").unwrap_err();
        assert!(err.contains("no ticketId column"), "{err}");
        assert!(err.contains("\"ticket\", \"message\""), "{err}");
        let err = locate(["a"], "column").unwrap_err();
        assert!(err.contains("no ticketId and no message column"), "{err}");
    }

    #[test]
    fn a_doubled_column_is_an_error() {
        let err = locate(["ticketId", "message", "ticket_id"], "column").unwrap_err();
        assert!(err.contains("number 1 and number 3"), "{err}");
    }
}
