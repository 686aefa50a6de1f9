//! Rows that repeat: the same ticket with the same message (an error: the customer would get
//! it twice, and a sent message cannot be recalled), or the same ticket with different
//! messages (a warning: the customer gets several).
//!
//! Memory stays small and flat per row: no text is kept, only 32 bytes per row (a 128-bit
//! hash of the ticket id, a 64-bit hash of the message, the line). A sort at the end brings
//! each ticket's rows together. A hash map would need twice that while it grows, and
//! `validate` must stay under 96 MiB for a million rows.

use std::hash::BuildHasher;

use foldhash::quality::FixedState;

use super::report::ReportBuilder;
use super::row::RowView;

// Fixed seeds: the same file gives the same result on every run.
const TICKET_HIGH: FixedState = FixedState::with_seed(0x7469_635f_6869_6768);
const TICKET_LOW: FixedState = FixedState::with_seed(0x7469_635f_6c6f_7721);
const MESSAGE: FixedState = FixedState::with_seed(0x6d65_7373_6167_6521);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Seen {
    // Field order is sort order: by ticket, then message, then line.
    ticket: u128,
    message: u64,
    line: u64,
}

/// Remembers every usable row, then reports the repeats.
#[derive(Debug, Default)]
pub(crate) struct Duplicates {
    seen: Vec<Seen>,
}

impl Duplicates {
    pub(crate) fn record(&mut self, row: &RowView) {
        // The ticket id is compared trimmed, as it will be sent. A false match would need a
        // 128-bit collision; two messages of one ticket colliding in 64 bits is as unlikely.
        let ticket_id = row.ticket_id.trim();
        let ticket = (u128::from(TICKET_HIGH.hash_one(ticket_id)) << 64)
            | u128::from(TICKET_LOW.hash_one(ticket_id));
        self.seen.push(Seen {
            ticket,
            message: MESSAGE.hash_one(row.message),
            line: row.line,
        });
    }

    pub(crate) fn report(mut self, allow_duplicates: bool, report: &mut ReportBuilder) {
        self.seen.sort_unstable();
        for ticket_rows in self.seen.chunk_by(|a, b| a.ticket == b.ticket) {
            if ticket_rows.len() == 1 {
                continue;
            }
            let first_line = ticket_rows.iter().map(|seen| seen.line).min().unwrap_or(0);
            let messages: Vec<&[Seen]> = ticket_rows
                .chunk_by(|a, b| a.message == b.message)
                .collect();
            for same_message in &messages {
                // Sorted by line within the same message: the first is the original.
                let original = same_message[0].line;
                if !allow_duplicates {
                    for repeat in &same_message[1..] {
                        report.error(
                            Some(repeat.line),
                            format!(
                                "same ticketId and message as line {original}: the customer \
                                 would get this message twice; delete one of the rows (or pass \
                                 --allow-duplicates if that is really meant)"
                            ),
                        );
                    }
                }
                if messages.len() > 1 && original != first_line {
                    report.warning(
                        Some(original),
                        format!(
                            "this ticket also gets a different message on line {first_line}: \
                             that customer will receive {} different messages",
                            messages.len()
                        ),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report_of(rows: &[(&str, &str)], allow_duplicates: bool) -> crate::input::Report {
        let mut duplicates = Duplicates::default();
        for (index, (ticket_id, message)) in rows.iter().enumerate() {
            duplicates.record(&RowView {
                line: index as u64 + 2,
                ticket_id,
                message,
            });
        }
        let mut report = ReportBuilder::default();
        duplicates.report(allow_duplicates, &mut report);
        report.finish()
    }

    #[test]
    fn the_later_repeat_is_the_error_and_names_the_first() {
        let report = report_of(
            &[
                ("tic_a", "hi"),
                ("tic_b", "hi"),
                (" tic_a ", "hi"),
                ("tic_a", "hi"),
            ],
            false,
        );
        let found: Vec<_> = report
            .errors
            .iter()
            .map(|p| (p.line, p.message.split(':').next().unwrap()))
            .collect();
        assert_eq!(
            found,
            [
                (Some(4), "same ticketId and message as line 2"),
                (Some(5), "same ticketId and message as line 2"),
            ]
        );
        assert_eq!(report.warning_count, 0);
    }

    #[test]
    fn allowed_repeats_are_not_errors() {
        let report = report_of(&[("tic_a", "hi"), ("tic_a", "hi")], true);
        assert_eq!(report.error_count + report.warning_count, 0);
    }

    #[test]
    fn different_messages_to_one_ticket_are_a_warning_on_the_later_rows() {
        let report = report_of(
            &[
                ("tic_a", "one"),
                ("tic_b", "one"),
                ("tic_a", "two"),
                ("tic_a", "three"),
                ("tic_a", "two"),
            ],
            false,
        );
        let warned: Vec<_> = report.warnings.iter().map(|p| p.line).collect();
        assert_eq!(warned, [Some(4), Some(5)]);
        assert!(report.warnings[0].message.contains("line 2"));
        assert!(report.warnings[0].message.contains("3 different messages"));
        assert_eq!(report.errors.len(), 1);
        assert_eq!(report.errors[0].line, Some(6));
        assert!(report.errors[0].message.contains("as line 4"));
    }
}
