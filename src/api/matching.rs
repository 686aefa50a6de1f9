//! Finding our own message in a ticket. The POST answer must contain the message it created;
//! a row whose answer was lost is settled by reading the ticket and looking for the message.
//!
//! The server may normalise HTML (re-quote attributes, re-encode entities), so an exact match
//! is tried first and a normalised one second: tags stripped, entities decoded, whitespace
//! collapsed. Only agent messages count, never the customer's. A message rewritten beyond
//! recognition cannot be found; the README's "Exactly once" section says what happens then.

use std::time::{Duration, SystemTime};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::ticket::{Message, Ticket};

/// How far the server's clock may lag ours when we compare `postedAt` with the moment we
/// recorded the intent to send.
const CLOCK_SKEW_ALLOWANCE: Duration = Duration::from_secs(120);

/// The message a POST just created: the newest agent message with this text.
pub fn find_posted<'t>(ticket: &'t Ticket, text: &str) -> Option<&'t Message> {
    find_newest(
        ticket.messages.iter().filter(|m| !m.is_posted_by_customer),
        text,
    )
}

/// A message with this text posted by an agent since `since` (less the clock-skew
/// allowance). Messages whose date does not parse are kept as candidates: if in doubt, we
/// prefer not to post twice.
pub fn find_delivered<'t>(
    ticket: &'t Ticket,
    text: &str,
    since: SystemTime,
) -> Option<&'t Message> {
    let earliest = OffsetDateTime::from(since - CLOCK_SKEW_ALLOWANCE);
    let recent = ticket.messages.iter().filter(|m| {
        !m.is_posted_by_customer
            && match m
                .posted_at
                .as_deref()
                .map(|d| OffsetDateTime::parse(d, &Rfc3339))
            {
                Some(Ok(posted_at)) => posted_at >= earliest,
                _ => true,
            }
    });
    find_newest(recent, text)
}

fn find_newest<'t>(
    candidates: impl DoubleEndedIterator<Item = &'t Message> + Clone,
    text: &str,
) -> Option<&'t Message> {
    if let Some(exact) = candidates.clone().rev().find(|m| m.message == text) {
        return Some(exact);
    }
    let wanted = normalise(text);
    candidates.rev().find(|m| normalise(&m.message) == wanted)
}

/// Text as a reader sees it: tags removed, entities decoded, runs of whitespace as one space.
pub fn normalise(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find(['<', '&']) {
        text.push_str(&rest[..start]);
        rest = &rest[start..];
        if rest.starts_with('<') {
            match rest.find('>') {
                Some(end) => {
                    // A tag separates words the way whitespace does (`a<br>b`).
                    text.push(' ');
                    rest = &rest[end + 1..];
                }
                None => {
                    text.push_str(rest);
                    rest = "";
                }
            }
        } else {
            match decode_entity(rest) {
                Some((decoded, len)) => {
                    text.push(decoded);
                    rest = &rest[len..];
                }
                None => {
                    text.push('&');
                    rest = &rest[1..];
                }
            }
        }
    }
    text.push_str(rest);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Decodes the entity at the start of `text` (which starts with `&`): the character and how
/// many bytes it took.
fn decode_entity(text: &str) -> Option<(char, usize)> {
    // Bytes, not a string slice: the 12th byte may fall inside a character (`&ééééé…`).
    let end = text.bytes().take(12).position(|b| b == b';')?;
    let name = &text[1..end];
    let decoded = match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        _ => {
            let code =
                if let Some(hex) = name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
                    u32::from_str_radix(hex, 16).ok()?
                } else {
                    name.strip_prefix('#')?.parse().ok()?
                };
            char::from_u32(code)?
        }
    };
    Some((decoded, end + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: &str, text: &str, by_customer: bool, posted_at: &str) -> Message {
        Message {
            id: id.into(),
            message: text.into(),
            is_posted_by_customer: by_customer,
            posted_at: Some(posted_at.into()),
        }
    }

    fn ticket(messages: Vec<Message>) -> Ticket {
        serde_json::from_value::<Ticket>(serde_json::json!({"id": "tic_1"}))
            .map(|mut t| {
                t.messages = messages;
                t
            })
            .unwrap()
    }

    #[test]
    fn normalises_markup_entities_and_space() {
        assert_eq!(
            normalise("<p>Tom &amp; Jerry</p>\n<p>Hi&nbsp;there</p>"),
            "Tom & Jerry Hi there"
        );
        // A cut in the middle of a character must not panic.
        assert_eq!(normalise("R&ééééééé"), "R&ééééééé");
        assert_eq!(
            normalise("a<br/>b &#233; &#x41; &bogus; 1 < 2"),
            "a b é A &bogus; 1 < 2"
        );
    }

    #[test]
    fn prefers_exact_then_normalised_and_ignores_customers() {
        let t = ticket(vec![
            message(
                "tim_customer",
                "<p>Hello</p>",
                true,
                "2030-01-01T10:00:00+00:00",
            ),
            message(
                "tim_agent",
                "<p>Hello </p>",
                false,
                "2030-01-01T10:00:01+00:00",
            ),
        ]);
        assert_eq!(
            find_posted(&t, "<p>Hello</p>").map(|m| m.id.as_str()),
            Some("tim_agent")
        );
        assert!(find_posted(&t, "<p>Goodbye</p>").is_none());
    }

    #[test]
    fn delivered_means_posted_since_the_intent() {
        let t = ticket(vec![message(
            "tim_old",
            "Notice",
            false,
            "2020-01-01T10:00:00+02:00",
        )]);
        let intent = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert!(
            find_delivered(&t, "Notice", intent).is_none(),
            "an old identical message is not ours"
        );
        let t = ticket(vec![message(
            "tim_new",
            "Notice",
            false,
            "2099-01-01T10:00:00+02:00",
        )]);
        assert_eq!(
            find_delivered(&t, "Notice", intent).map(|m| m.id.as_str()),
            Some("tim_new")
        );
    }
}
