//! Finding our own message in a ticket, whatever the server did to it. The POST answer must
//! contain the message it created; a row whose answer was lost is settled by reading the
//! ticket and counting the copies of the message posted since the row's first intent.
//!
//! Servers do not store what was posted: sanitisers re-encode non-ASCII as named or numeric
//! entities, rename and close tags (`<b>` → `<strong>`, `<br>` → `<br />`), drop attributes,
//! wrap text in `<p>`, collapse whitespace, make quotes typographic and URLs into links. So an
//! exact match is tried first and then the text as a reader sees it: tags removed, every
//! HTML5 character reference decoded, typographic quotes folded to plain ones, whitespace
//! removed. Only agent messages count, never the customer's.
//!
//! "Posted since the intent" is judged on the server's clock, never ours: `postedAt` is the
//! server's time, which can be minutes off. Each answer's `Date` header says what the
//! server's clock read when it answered, which gives the offset (see [`ServerClock`]).

use std::time::{Duration, SystemTime};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::entities;
use super::ticket::{Message, Ticket};

/// How far a `postedAt` may seem to precede the intent although it came after it: both
/// `Date` and `postedAt` have whole seconds, and the `Date` header is stamped somewhere
/// within the request. A same-text agent message this close before our intent counts as
/// ours: if in doubt, we prefer not to post twice.
const CLOCK_READING_SLACK: Duration = Duration::from_secs(3);

/// Without a `Date` header the offset is unknown; then our clock is used with this much
/// allowance for a server lagging behind ours.
const UNKNOWN_CLOCK_ALLOWANCE: Duration = Duration::from_secs(120);

/// The server's clock relative to ours, from an answer's `Date` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServerClock {
    /// Server time minus our time when the answer arrived; `None` without a usable header.
    offset: Option<time::Duration>,
}

impl ServerClock {
    /// From the `Date` header of an answer that arrived at `received` (our clock).
    pub fn from_date_header(date: Option<&str>, received: SystemTime) -> Self {
        let offset = date
            .and_then(|text| httpdate::parse_http_date(text).ok())
            .map(|server| moment(server) - moment(received));
        ServerClock { offset }
    }

    /// A clock known to be `offset` ahead of ours (negative: behind).
    pub fn with_offset(offset: time::Duration) -> Self {
        ServerClock {
            offset: Some(offset),
        }
    }

    pub fn is_known(&self) -> bool {
        self.offset.is_some()
    }

    /// The earliest `postedAt` a message posted at or after our moment `ours` can show.
    fn earliest_posted_at(&self, ours: SystemTime) -> OffsetDateTime {
        let (shift, slack) = match self.offset {
            Some(offset) => (offset, CLOCK_READING_SLACK),
            None => (time::Duration::ZERO, UNKNOWN_CLOCK_ALLOWANCE),
        };
        moment(ours)
            .saturating_add(shift)
            .saturating_sub(time::Duration::try_from(slack).unwrap_or(time::Duration::ZERO))
    }
}

/// A moment of ours as a date. A moment beyond the calendar (from a damaged journal, say)
/// is clamped rather than allowed to panic.
fn moment(at: SystemTime) -> OffsetDateTime {
    let nanos = match at.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => i128::try_from(after.as_nanos()).unwrap_or(i128::MAX),
        Err(before) => -i128::try_from(before.duration().as_nanos()).unwrap_or(i128::MAX),
    };
    OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or_else(|_| {
        let edge = if nanos > 0 {
            time::Date::MAX
        } else {
            time::Date::MIN
        };
        edge.midnight().assume_utc()
    })
}

/// The message a POST just created: the newest agent message with this text.
pub fn find_posted<'t>(ticket: &'t Ticket, text: &str) -> Option<&'t Message> {
    let agents = || ticket.messages.iter().filter(|m| !m.is_posted_by_customer);
    if let Some(exact) = agents().rev().find(|m| m.message == text) {
        return Some(exact);
    }
    let wanted = normalise(text);
    agents().rev().find(|m| normalise(&m.message) == wanted)
}

/// The copies of our message on a ticket, posted since a moment.
#[derive(Debug, Clone, Copy)]
pub struct Delivered<'t> {
    pub copies: u32,
    /// The newest copy.
    pub newest: Option<&'t Message>,
}

/// Counts the agent messages with this text (exact or as a reader sees it) posted since our
/// moment `since`, judged on the server's clock. Messages whose date does not parse are
/// counted: if in doubt, we prefer not to post twice.
pub fn count_delivered<'t>(
    ticket: &'t Ticket,
    text: &str,
    since: SystemTime,
    clock: ServerClock,
) -> Delivered<'t> {
    let earliest = clock.earliest_posted_at(since);
    let wanted = normalise(text);
    let mut delivered = Delivered {
        copies: 0,
        newest: None,
    };
    for message in &ticket.messages {
        let recent = match message
            .posted_at
            .as_deref()
            .map(|d| OffsetDateTime::parse(d, &Rfc3339))
        {
            Some(Ok(posted_at)) => posted_at >= earliest,
            _ => true,
        };
        if !message.is_posted_by_customer
            && recent
            && (message.message == text || normalise(&message.message) == wanted)
        {
            delivered.copies += 1;
            delivered.newest = Some(message);
        }
    }
    delivered
}

/// Text as a reader sees it, for comparison only: tags removed, character references
/// decoded, typographic quotes and dashes folded, and no whitespace at all — a sanitiser
/// that wraps, breaks or links text moves whitespace around (`see <a>url</a>.`), and an edit
/// of spacing is not another message.
pub fn normalise(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    normalise_into(html, &mut text);
    text
}

/// [`normalise`], appended to `out`: a caller that reads millions of messages (duplicate
/// rows) reuses one buffer rather than allocating for each.
pub fn normalise_into(html: &str, out: &mut String) {
    let mut rest = html;
    while let Some(start) = memchr::memchr2(b'<', b'&', rest.as_bytes()) {
        fold(&rest[..start], out);
        rest = &rest[start..];
        if rest.starts_with('<') {
            match tag_len(rest) {
                Some(len) => rest = &rest[len..],
                None => {
                    out.push('<');
                    rest = &rest[1..];
                }
            }
        } else {
            match decode_reference(rest) {
                Some((decoded, len)) => {
                    fold(&decoded, out);
                    rest = &rest[len..];
                }
                None => {
                    out.push('&');
                    rest = &rest[1..];
                }
            }
        }
    }
    fold(rest, out);
}

/// The length of the tag (or comment, doctype, processing instruction) at the start of
/// `text`, which starts with `<`. As in the HTML tokenizer, `<` starts markup only before a
/// letter, `/`, `!` or `?`: in `1 < 2` it is text, and a sanitiser stores it as `&lt;`.
fn tag_len(text: &str) -> Option<usize> {
    let next = text[1..].chars().next()?;
    if !(next.is_ascii_alphabetic() || matches!(next, '/' | '!' | '?')) {
        return None;
    }
    if let Some(comment) = text.strip_prefix("<!--") {
        return comment.find("-->").map(|end| 4 + end + 3);
    }
    // A `>` inside a quoted attribute value does not end the tag. Every byte looked for is
    // ASCII, which never occurs inside a multi-byte character: bytes are safe to scan.
    let mut quote = None;
    for (index, &b) in text.as_bytes().iter().enumerate().skip(1) {
        match (quote, b) {
            (Some(q), b) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(b),
            (None, b'>') => return Some(index + 1),
            _ => {}
        }
    }
    // Unclosed: a sanitiser stores this `<` as `&lt;`, and a reader sees it.
    None
}

/// Appends `text` with whitespace dropped and typographic marks folded to what a keyboard
/// types, as a sanitiser's "smart quotes" would make them.
fn fold(text: &str, out: &mut String) {
    let mut rest = text;
    loop {
        // Visible ASCII is copied as it is, in one go: most of most messages is that.
        let plain = rest.bytes().take_while(u8::is_ascii_graphic).count();
        out.push_str(&rest[..plain]);
        rest = &rest[plain..];
        let Some(c) = rest.chars().next() else {
            return;
        };
        rest = &rest[c.len_utf8()..];
        match c {
            c if c.is_whitespace() => {}
            // Zero-width characters some editors and sanitisers insert.
            '\u{200b}' | '\u{200c}' | '\u{200d}' | '\u{2060}' | '\u{feff}' | '\u{ad}' => {}
            '\u{2018}' | '\u{2019}' | '\u{201a}' | '\u{201b}' | '\u{2032}' => out.push('\''),
            '\u{201c}' | '\u{201d}' | '\u{201e}' | '\u{201f}' | '\u{2033}' => out.push('"'),
            '\u{2026}' => out.push_str("..."),
            c => out.push(c),
        }
    }
}

/// Decodes the character reference at the start of `text` (which starts with `&`): the
/// text it stands for and how many bytes it took. Named references come from the whole
/// HTML5 table; numeric ones may be decimal or hexadecimal.
pub(crate) fn decode_reference(text: &str) -> Option<(String, usize)> {
    let body = &text[1..];
    if let Some(number) = body.strip_prefix('#') {
        let (digits, radix, prefix) = match number.strip_prefix(['x', 'X']) {
            Some(hex) => (hex, 16, 2),
            None => (number, 10, 1),
        };
        let len = digits
            .bytes()
            .take_while(|b| (*b as char).is_digit(radix))
            .count();
        if len == 0 || len > 8 {
            return None;
        }
        let code = u32::from_str_radix(&digits[..len], radix).ok()?;
        let decoded = char::from_u32(code).unwrap_or('\u{fffd}');
        let semicolon = usize::from(digits[len..].starts_with(';'));
        return Some((decoded.to_string(), 1 + prefix + len + semicolon));
    }
    // The longest name is 32 bytes with its `;`; names are ASCII, so bytes are safe to cut.
    let name_len = body
        .bytes()
        .take(33)
        .take_while(u8::is_ascii_alphanumeric)
        .count();
    let with_semicolon = body[name_len..].starts_with(';');
    if with_semicolon && let Some(decoded) = entities::lookup(&body[..name_len + 1]) {
        return Some((decoded.to_string(), 1 + name_len + 1));
    }
    // Legacy names without `;` (`&eacute`), longest first, as the tokenizer reads them.
    (1..=name_len).rev().find_map(|len| {
        entities::lookup(&body[..len]).map(|decoded| (decoded.to_string(), 1 + len))
    })
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

    fn at(rfc3339: &str) -> SystemTime {
        OffsetDateTime::parse(rfc3339, &Rfc3339).unwrap().into()
    }

    #[test]
    fn what_a_sanitiser_stores_reads_the_same() {
        let posted = "<p>Beste klant, de storing is opgelost — excuses voor het ongemak. Prijs: €\u{a0}10, café \"Zon\" & 'Maan'.<br>Zie https://status.example.nl.</p>";
        let stored = [
            // PHP's htmlentities
            "<p>Beste klant, de storing is opgelost &mdash; excuses voor het ongemak. Prijs: &euro;&nbsp;10, caf&eacute; &quot;Zon&quot; &amp; &#039;Maan&#039;.<br>Zie https://status.example.nl.</p>",
            // numeric references, closed void tags, typographic quotes, a link
            "<p>Beste klant, de storing is opgelost &#8212; excuses voor het ongemak. Prijs: &#x20AC;&#160;10, caf&#233; “Zon” &amp; ‘Maan’.<br />Zie <a href=\"https://status.example.nl\" rel=\"nofollow\">https://status.example.nl</a>.</p>",
            // whitespace collapsed, legacy entity without `;`
            "<p>Beste klant,   de storing\nis opgelost &mdash; excuses voor het ongemak. Prijs: &euro; 10, caf&eacute \"Zon\" &amp; 'Maan'.<br/> Zie https://status.example.nl.</p>",
        ];
        for form in stored {
            assert_eq!(normalise(form), normalise(posted), "{form}");
        }
        // A real edit is another message.
        assert_ne!(
            normalise("<p>De storing is opgelost.</p>"),
            normalise("<p>De storing is niet opgelost.</p>")
        );
    }

    #[test]
    fn bare_text_wrapped_and_tags_renamed_read_the_same() {
        assert_eq!(
            normalise("Hello <b>you</b>"),
            normalise("<p>Hello <strong class=\"x\">you</strong></p>")
        );
        assert_eq!(normalise("a<br>b"), normalise("a<br />b"));
    }

    #[test]
    fn a_less_than_sign_in_text_is_text() {
        assert_eq!(
            normalise("1 < 2 and 3 > 1"),
            normalise("1 &lt; 2 and 3 &gt; 1")
        );
        assert_eq!(normalise("x <3"), "x<3");
    }

    #[test]
    fn never_panics_on_cut_or_odd_references() {
        for odd in [
            "R&ééééééé",
            "&",
            "&#",
            "&#x",
            "&#99999999999;",
            "&#xD800;",
            "<",
            "<a href=\"x>y",
            "<!-- open",
            "&NotEqualTilde;",
        ] {
            normalise(odd);
        }
        assert_eq!(normalise("&bogus; &#233; &#x41"), "&bogus;éA");
        assert_eq!(normalise("&NotEqualTilde;"), "\u{2242}\u{338}");
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
    fn posted_since_is_judged_on_the_server_clock() {
        let intent = at("2030-01-01T12:00:00+00:00");
        // The server runs 5 minutes behind us: our message shows 11:55:01.
        let behind = ServerClock::with_offset(time::Duration::minutes(-5));
        let t = ticket(vec![
            message("tim_old", "Notice", false, "2030-01-01T11:50:00+00:00"),
            message("tim_ours", "Notice", false, "2030-01-01T11:55:01+00:00"),
        ]);
        let found = count_delivered(&t, "Notice", intent, behind);
        assert_eq!(found.copies, 1);
        assert_eq!(found.newest.map(|m| m.id.as_str()), Some("tim_ours"));
        // On our own clock, ours would look 5 minutes too old.
        let ours = ServerClock::with_offset(time::Duration::ZERO);
        assert_eq!(count_delivered(&t, "Notice", intent, ours).copies, 0);
        // A server ahead of us: an identical message from before the intent is not ours.
        let ahead = ServerClock::with_offset(time::Duration::minutes(10));
        let t = ticket(vec![message(
            "tim_x",
            "Notice",
            false,
            "2030-01-01T12:05:00+00:00",
        )]);
        assert_eq!(count_delivered(&t, "Notice", intent, ahead).copies, 0);
    }

    #[test]
    fn counts_every_copy_since_the_intent() {
        let intent = at("2030-01-01T12:00:00+00:00");
        let clock = ServerClock::with_offset(time::Duration::ZERO);
        let t = ticket(vec![
            message(
                "tim_1",
                "<p>caf&eacute;</p>",
                false,
                "2030-01-01T12:00:01+00:00",
            ),
            message("tim_c", "<p>café</p>", true, "2030-01-01T12:00:02+00:00"),
            message("tim_2", "<p>café</p>", false, "2030-01-01T12:00:09+00:00"),
        ]);
        let found = count_delivered(&t, "<p>café</p>", intent, clock);
        assert_eq!(found.copies, 2);
        assert_eq!(found.newest.map(|m| m.id.as_str()), Some("tim_2"));
    }

    #[test]
    fn the_date_header_gives_the_offset() {
        let received = at("2030-01-01T12:00:00+00:00");
        let clock = ServerClock::from_date_header(Some("Tue, 01 Jan 2030 11:55:00 GMT"), received);
        assert_eq!(clock, ServerClock::with_offset(time::Duration::minutes(-5)));
        assert!(!ServerClock::from_date_header(Some("yesterday"), received).is_known());
        assert!(!ServerClock::from_date_header(None, received).is_known());
    }
}
