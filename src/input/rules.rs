//! The checks on each row's content. Reading problems (quotes, encoding, field counts) are
//! the readers' business; repeats across rows are `duplicates`'.

use memchr::memchr;

use super::findings::FindingsBuilder;
use super::row::{RowView, quote_value};
use crate::api::{TICKET_ID_MAX_CHARS, is_ticket_id};

/// The API takes messages of any size, but a message this long is almost surely a mistake
/// (a whole file swallowed, a pasted attachment).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// What the user allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// Several rows with the same ticketId and message are sent, each of them.
    pub allow_duplicates: bool,
    /// A longer message is an error.
    pub max_message_bytes: usize,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            allow_duplicates: false,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}

/// Checks one row, reporting each problem with its line. When the row can be sent at all
/// (usable ticket id and message), returns its ticket id, trimmed: duplicate detection looks
/// at those rows only.
pub(crate) fn check_row<'a>(
    row: &RowView<'a>,
    rules: &Rules,
    report: &mut FindingsBuilder,
) -> Option<&'a str> {
    let line = Some(row.line);
    let ticket_id = trim(row.ticket_id);
    let mut usable = true;
    if ticket_id.is_empty() {
        report.error(line, "ticketId is empty".to_owned());
        usable = false;
    } else if !is_ticket_id(ticket_id) {
        report.error(
            line,
            format!(
                "ticketId {} is not a ticket id: ticket ids are tic_ followed by 1 to \
                 {TICKET_ID_MAX_CHARS} letters and digits, like tic_abc12345def678",
                quote_value(ticket_id)
            ),
        );
        usable = false;
    } else if ticket_id.len() != row.ticket_id.len() {
        report.warning(
            line,
            format!(
                "ticketId {} has spaces around it; they are ignored",
                quote_value(row.ticket_id)
            ),
        );
    }

    let message = row.message;
    if trim(message).is_empty() {
        report.error(line, "message is empty".to_owned());
        usable = false;
    } else if message.len() > rules.max_message_bytes {
        report.error(
            line,
            format!(
                "message is {} bytes long, more than the limit of {} (--max-message-bytes \
                 raises it)",
                message.len(),
                rules.max_message_bytes
            ),
        );
        usable = false;
    } else if memchr(b'\n', message.as_bytes()).is_some() {
        if !has_html_tag(message) {
            report.warning(
                line,
                "message has line breaks but no HTML tags: the portal shows messages as HTML, \
                 so the breaks will not show; use <p>…</p> or <br>"
                    .to_owned(),
            );
        }
        // A composed message's lines are not the file's; its raw field was checked when it
        // was read (see `swallowed_row`).
        if let Some(warning) = swallowed_row(row.line, message).filter(|_| !row.composed) {
            report.warning(line, warning);
        }
    }
    usable.then_some(ticket_id)
}

/// `str::trim`, with a shortcut for the usual case: no whitespace around the text.
fn trim(text: &str) -> &str {
    match text.as_bytes() {
        [first, .., last] if first.is_ascii_graphic() && last.is_ascii_graphic() => text,
        _ => text.trim(),
    }
}

/// A tag is `<` followed by a letter or `/` (`<p>`, `</p>`, `<br/>`), as opposed to a lone
/// `<` in text such as "a < b".
fn has_html_tag(text: &str) -> bool {
    text.as_bytes()
        .windows(2)
        .any(|pair| pair[0] == b'<' && (pair[1].is_ascii_alphabetic() || pair[1] == b'/'))
}

/// A line after the first that starts like a CSV row (`tic_…` and a delimiter): the sign of
/// a quoted message that swallowed the rows after it. Returns its offset in lines.
/// The warning for a message as written in the file (its first line at `line`) with a line
/// inside that looks like a row of its own: the sign of a missing closing quote.
pub(crate) fn swallowed_row(line: u64, message: &str) -> Option<String> {
    let (offset, text) = line_that_looks_like_a_row(message)?;
    Some(format!(
        "line {} inside this message looks like a row of its own ({}); if it is one, a \
         closing double quote is missing before it",
        line + offset,
        quote_value(text)
    ))
}

fn line_that_looks_like_a_row(message: &str) -> Option<(u64, &str)> {
    message
        .split('\n')
        .enumerate()
        .skip(1)
        .find_map(|(offset, text)| {
            let cut = text.find([',', ';', '\t'])?;
            is_ticket_id(text[..cut].trim()).then_some((offset as u64, text.trim_end()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::findings::Findings;

    fn check(ticket_id: &str, message: &str, rules: Rules) -> (bool, Findings) {
        let mut report = FindingsBuilder::default();
        let row = RowView {
            line: 7,
            ticket_id,
            message,
            composed: false,
        };
        let usable = check_row(&row, &rules, &mut report);
        if let Some(trimmed) = usable {
            assert_eq!(trimmed, ticket_id.trim());
        }
        (usable.is_some(), report.finish())
    }

    fn messages(problems: &[crate::input::findings::Problem]) -> Vec<&str> {
        problems.iter().map(|p| p.message.as_str()).collect()
    }

    #[test]
    fn a_good_row_has_no_problems() {
        let (usable, report) = check(
            "tic_abc123",
            "<p>Dear customer,</p>\n<p>…</p>",
            Rules::default(),
        );
        assert!(usable);
        assert_eq!(report.error_count + report.warning_count, 0, "{report:?}");
    }

    #[test]
    fn ticket_id_must_be_present_and_well_formed() {
        let (usable, report) = check("  ", "<p>x</p>", Rules::default());
        assert!(!usable);
        assert_eq!(messages(&report.errors), ["ticketId is empty"]);
        for bad in ["12345", "tic_", "TIC_abc", "tic_ab-c", "tic_ab c", "ticabc"] {
            let (usable, report) = check(bad, "<p>x</p>", Rules::default());
            assert!(!usable, "{bad}");
            assert!(
                report.errors[0].message.contains("is not a ticket id"),
                "{bad}"
            );
            assert_eq!(report.errors[0].line, Some(7));
        }
    }

    /// The API issues at most 64 characters after `tic_`: a longer id would validate, then
    /// come back 404 from every request.
    #[test]
    fn a_ticket_id_longer_than_the_api_issues_fails_validation() {
        let longest = format!("tic_{}", "a".repeat(64));
        assert!(check(&longest, "<p>x</p>", Rules::default()).0);
        let too_long = format!("tic_{}", "a".repeat(65));
        let (usable, report) = check(&too_long, "<p>x</p>", Rules::default());
        assert!(!usable);
        assert!(report.errors[0].message.contains("is not a ticket id"));
    }

    #[test]
    fn whitespace_around_a_ticket_id_is_a_warning() {
        let (usable, report) = check(" tic_a1\t", "<p>x</p>", Rules::default());
        assert!(usable);
        assert_eq!(report.error_count, 0);
        assert!(report.warnings[0].message.contains("spaces around it"));
    }

    #[test]
    fn message_must_not_be_empty_or_too_long() {
        let (usable, report) = check("tic_a", " \r\n ", Rules::default());
        assert!(!usable);
        assert_eq!(messages(&report.errors), ["message is empty"]);
        let rules = Rules {
            max_message_bytes: 5,
            ..Rules::default()
        };
        let (usable, report) = check("tic_a", "<p>x</p>", rules);
        assert!(!usable);
        assert!(
            report.errors[0]
                .message
                .contains("8 bytes long, more than the limit of 5")
        );
        assert!(check("tic_a", "12345", rules).0);
    }

    #[test]
    fn line_breaks_without_html_are_a_warning() {
        let (_, report) = check("tic_a", "Hello,\nthe outage is over.", Rules::default());
        assert!(report.warnings[0].message.contains("no HTML tags"));
        let (_, report) = check("tic_a", "Hello,<br>\nthe outage is over.", Rules::default());
        assert_eq!(report.warning_count, 0);
        let (_, report) = check("tic_a", "1 < 2\n3 > 2", Rules::default());
        assert_eq!(report.warning_count, 1);
    }

    #[test]
    fn a_swallowed_row_inside_a_message_is_a_warning() {
        let (_, report) = check("tic_a", "<p>Hello\ntic_b2,<p>World</p>", Rules::default());
        assert_eq!(
            messages(&report.warnings),
            [
                "line 8 inside this message looks like a row of its own (\"tic_b2,<p>World</p>\"); \
              if it is one, a closing double quote is missing before it"
            ]
        );
    }
}
