//! Rows that repeat: the same ticket with the same message (an error: the customer would get
//! it twice, and a sent message cannot be recalled), or the same ticket with different
//! messages (a warning: the customer gets several). "The same message" is the same text as
//! the customer reads it — markup, character references and spacing aside — which is also
//! how a lost answer's message is recognised on the ticket: two rows that read alike could
//! not be told apart there.
//!
//! Memory stays small and flat per row: no text is kept, only 32 bytes per row (a 128-bit
//! hash of the ticket id, a 64-bit hash of the message, the line). A hash map would need
//! twice that while it grows, and `validate` must stay under 96 MiB for a million rows.
//! Instead, rows go into 256 buckets by the top bits of their ticket hash (uniform, so the
//! buckets come out even); at the end each bucket, small enough to sort inside the cache,
//! is sorted to bring each ticket's rows together. A ticket never spans two buckets, so two
//! threads share the buckets.

use std::thread;

use xxhash_rust::xxh3::{xxh3_64_with_seed, xxh3_128_with_seed};

use super::findings::FindingsBuilder;
use super::row::RowView;

// Fixed seeds: the same file gives the same result on every run.
const TICKET_SEED: u64 = 0x7469_635f_6869_6768;
const MESSAGE_SEED: u64 = 0x6d65_7373_6167_6521;

const BUCKET_BITS: u32 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Seen {
    // Field order is sort order: by ticket, then message, then line.
    ticket: u128,
    message: u64,
    line: u64,
}

/// Remembers every usable row, then reports the repeats.
#[derive(Debug)]
pub(crate) struct Duplicates {
    buckets: Vec<Vec<Seen>>,
    /// The message being hashed, as the customer reads it.
    scratch: String,
}

impl Default for Duplicates {
    fn default() -> Self {
        Duplicates {
            buckets: (0..1 << BUCKET_BITS).map(|_| Vec::new()).collect(),
            scratch: String::new(),
        }
    }
}

impl Duplicates {
    /// Remembers a row by its `ticket_id`, trimmed as it will be sent.
    pub(crate) fn record(&mut self, ticket_id: &str, row: &RowView) {
        // A false match would need a 128-bit collision of ticket ids; two messages to one
        // ticket colliding in 64 bits is as unlikely.
        let ticket = xxh3_128_with_seed(ticket_id.as_bytes(), TICKET_SEED);
        let bucket = (ticket >> (u128::BITS - BUCKET_BITS)) as usize;
        self.buckets[bucket].push(Seen {
            ticket,
            message: reader_hash(&mut self.scratch, row.message),
            line: row.line,
        });
    }

    pub(crate) fn report(mut self, allow_duplicates: bool, report: &mut FindingsBuilder) {
        let (first_half, second_half) = self.buckets.split_at_mut(1 << (BUCKET_BITS - 1));
        let other = thread::scope(|scope| {
            let other = scope.spawn(|| report_buckets(second_half, allow_duplicates));
            let mine = report_buckets(first_half, allow_duplicates);
            // A panic in the other thread is a bug here, not bad input: pass it on.
            let other = other
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            report.absorb(mine);
            other
        });
        report.absorb(other);
    }
}

fn report_buckets(buckets: &mut [Vec<Seen>], allow_duplicates: bool) -> FindingsBuilder {
    let mut report = FindingsBuilder::default();
    for bucket in buckets {
        sort_by_ticket(bucket);
        for ticket_rows in bucket.chunk_by(|a, b| a.ticket == b.ticket) {
            report.distinct_tickets += 1;
            if ticket_rows.len() > 1 {
                report_ticket(ticket_rows, allow_duplicates, &mut report);
            }
        }
    }
    report
}

/// Sorts by ticket, message, line. Comparing one 64-bit half of the ticket hash is much
/// cheaper than the whole key, and that half is already unique to almost every ticket;
/// the few runs sharing it are then sorted by the whole key.
fn sort_by_ticket(rows: &mut [Seen]) {
    let half = |row: &Seen| row.ticket as u64;
    rows.sort_unstable_by_key(half);
    for run in rows.chunk_by_mut(|a, b| half(a) == half(b)) {
        if run.len() > 1 {
            run.sort_unstable();
        }
    }
}

/// A hash of the message as the customer reads it (see [`crate::api::normalise`]), read
/// into `scratch`, the one buffer all rows share.
fn reader_hash(scratch: &mut String, message: &str) -> u64 {
    scratch.clear();
    crate::api::normalise_into(message, scratch);
    xxh3_64_with_seed(scratch.as_bytes(), MESSAGE_SEED)
}

/// `ticket_rows`: every row of one ticket, sorted by message, then line.
fn report_ticket(ticket_rows: &[Seen], allow_duplicates: bool, report: &mut FindingsBuilder) {
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
                        "same ticketId and message as line {original}: the customer would get \
                         this message twice (texts that differ only in markup, entities or \
                         spacing read the same); delete one of the rows (or pass \
                         --allow-duplicates if that is really meant)"
                    ),
                );
            }
        }
        if messages.len() > 1 && original != first_line {
            report.warning(
                Some(original),
                format!(
                    "this ticket also gets a different message on line {first_line}: that \
                     customer will receive {} different messages",
                    messages.len()
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report_of(rows: &[(&str, &str)], allow_duplicates: bool) -> crate::input::Findings {
        let mut duplicates = Duplicates::default();
        for (index, (ticket_id, message)) in rows.iter().enumerate() {
            let row = RowView {
                line: index as u64 + 2,
                ticket_id,
                message,
                composed: false,
            };
            duplicates.record(ticket_id.trim(), &row);
        }
        let mut report = FindingsBuilder::default();
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
    fn messages_that_read_alike_are_the_same_message() {
        let report = report_of(
            &[
                ("tic_a", "The outage is over."),
                ("tic_a", "<p>The outage  is over.</p>"),
                ("tic_a", "The outage is not over."),
            ],
            false,
        );
        assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
        assert_eq!(report.errors[0].line, Some(3));
    }

    #[test]
    fn repeats_are_found_among_many_rows_in_every_bucket() {
        let rows: Vec<(String, &str)> = (0..5000)
            .map(|i| (format!("tic_{}", i % 2500), "same"))
            .collect();
        let rows: Vec<(&str, &str)> = rows.iter().map(|(t, m)| (t.as_str(), *m)).collect();
        let report = report_of(&rows, false);
        assert_eq!(report.error_count, 2500);
        assert_eq!(report.errors[0].line, Some(2502));
        assert!(report.errors[0].message.contains("as line 2:"));
    }

    #[test]
    fn sorting_brings_each_tickets_rows_together_in_order() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut random = move |range: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % range
        };
        // Few distinct values, so halves, tickets and messages all collide often.
        let mut rows: Vec<Seen> = (0..5_000)
            .map(|line| Seen {
                ticket: u128::from(random(3)) << 64 | u128::from(random(40)),
                message: random(3),
                line,
            })
            .collect();
        let mut tickets: Vec<u128> = rows.iter().map(|row| row.ticket).collect();
        tickets.sort_unstable();
        tickets.dedup();
        sort_by_ticket(&mut rows);
        let groups: Vec<&[Seen]> = rows.chunk_by(|a, b| a.ticket == b.ticket).collect();
        assert_eq!(groups.len(), tickets.len(), "a ticket's rows are split");
        assert!(groups.iter().all(|group| group.is_sorted()));
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
