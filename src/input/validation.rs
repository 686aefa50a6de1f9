//! `validate`: one pass over the whole input, on two threads. One reads and parses (the
//! CSV or NDJSON reader), the other checks each row and looks for repeats; rows go from one
//! to the other in batches through a bounded channel, so memory stays flat.
//!
//! With a template or a message format, the reading thread also composes each row's
//! message, so every check below sees the message exactly as it will be posted.

use std::ops::Range;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread;

use super::args::InputSource;
use super::columns::MessageColumn;
use super::duplicates::Duplicates;
use super::findings::{Findings, FindingsBuilder};
use super::records::Records;
use super::row::{InputError, RowError, RowView, Step};
use super::rules::{self, Rules};
use super::template::Composer;

/// A batch is sent when it holds this many rows or this much text (a single row can exceed
/// the latter; the reader caps a record at 16 MiB).
const BATCH_ROWS: usize = 8192;
const BATCH_TEXT: usize = 1024 * 1024;
/// Batches waiting between the threads: enough to keep both busy, few enough to keep
/// memory small.
const BATCHES_IN_FLIGHT: usize = 2;

/// Reads all of `source` once and checks every row against `rules`. A problem in the file,
/// even in its header, is part of the report; only an input that cannot be read at all
/// (missing file, I/O failure) is an `Err`.
pub fn validate(source: &InputSource, rules: &Rules) -> Result<Findings, InputError> {
    validate_messages(source, rules, &Composer::as_written(), 0)
}

/// [`validate`], with each row's message made by `composer`, keeping the first `preview`
/// messages in the report.
pub fn validate_messages(
    source: &InputSource,
    rules: &Rules,
    composer: &Composer,
    preview: usize,
) -> Result<Findings, InputError> {
    let mut report = FindingsBuilder::default();
    report.preview_limit = preview;
    let records = match Records::open(source, composer.message_column()) {
        Ok(records) => records,
        Err(error) if error.unreadable => return Err(error),
        Err(error) => {
            report.numbering = error.numbering;
            report.error(error.line, error.message);
            return Ok(report.finish());
        }
    };
    report.numbering = records.numbering();
    if let Some((line, columns)) = records.header() {
        let unknown = composer.unknown_placeholders(columns);
        if !unknown.is_empty() {
            // Every row would fail the same way: one error at the header says it all.
            let names: Vec<String> = unknown.iter().map(|n| format!("{{{{{n}}}}}")).collect();
            let found: Vec<String> = columns.iter().map(|c| format!("{c:?}")).collect();
            report.error(
                Some(line),
                format!(
                    "the template uses {}, but there is no such column (columns: {}); a \
                     placeholder is a column name between {{{{ and }}}} (case, spaces, _ and - \
                     do not matter), or {{{{ticketId}}}}",
                    names.join(", "),
                    found.join(", ")
                ),
            );
            return Ok(report.finish());
        }
        let ambiguous = composer.ambiguous_placeholders(columns);
        if !ambiguous.is_empty() {
            for (name, matching) in ambiguous {
                let matching: Vec<String> = matching.iter().map(|c| format!("{c:?}")).collect();
                report.error(
                    Some(line),
                    format!(
                        "the template's {{{{{name}}}}} matches {} columns, {} (case, spaces, _ \
                         and - do not matter), and which one is meant cannot be told: rename \
                         all but one",
                        matching.len(),
                        matching.join(" and ")
                    ),
                );
            }
            return Ok(report.finish());
        }
    }
    let (sender, receiver) = sync_channel(BATCHES_IN_FLIGHT);
    let mut duplicates = Duplicates::default();
    thread::scope(|scope| {
        scope.spawn(move || read_batches(records, composer, sender));
        check_batches(receiver, rules, &mut report, &mut duplicates)
    })?;
    duplicates.report(rules.allow_duplicates, &mut report);
    if report.rows == 0 {
        report.warning(
            None,
            "there are no rows, only a header: nothing to send (fine for a scheduled job \
             with nothing to do)"
                .to_owned(),
        );
    }
    Ok(report.finish())
}

/// Rows in file order: their ticket ids and messages one after the other in `text`.
#[derive(Default)]
struct Batch {
    text: String,
    items: Vec<Item>,
}

enum Item {
    Row {
        line: u64,
        ticket_id: Range<usize>,
        message: Range<usize>,
        composed: bool,
    },
    Bad(RowError),
    /// A problem that does not stop the row from being checked.
    Warning(RowError),
}

impl Batch {
    fn with_capacity() -> Self {
        Batch {
            text: String::with_capacity(BATCH_TEXT),
            items: Vec::with_capacity(BATCH_ROWS),
        }
    }

    fn is_full(&self) -> bool {
        self.items.len() >= BATCH_ROWS || self.text.len() >= BATCH_TEXT
    }

    fn push_row(&mut self, row: &RowView) {
        let ticket_id = self.append(row.ticket_id);
        let message = self.append(row.message);
        self.items.push(Item::Row {
            line: row.line,
            ticket_id,
            message,
            composed: row.composed,
        });
    }

    fn append(&mut self, text: &str) -> Range<usize> {
        let start = self.text.len();
        self.text.push_str(text);
        start..self.text.len()
    }
}

/// The reading thread: parses records and sends them on, ending with the last batch or the
/// error that stopped reading.
fn read_batches(
    mut records: Records,
    composer: &Composer,
    batches: SyncSender<Result<Batch, InputError>>,
) {
    let mut batch = Batch::with_capacity();
    let mut warned_of_message_column = false;
    loop {
        match records.advance() {
            Ok(Step::Row(row)) if composer.is_as_written() => batch.push_row(&row),
            Ok(Step::Row(row)) => {
                // The ticket id as written, so the rules can warn about spaces around it.
                let ticket_id = row.ticket_id.to_owned();
                let row = records.current_row();
                if composer.message_column() == MessageColumn::Ignored
                    && !composer.uses_message_column()
                    && !row.message.is_empty()
                    && !warned_of_message_column
                {
                    warned_of_message_column = true;
                    batch.items.push(Item::Warning(RowError::new(
                        row.line,
                        "the message column is ignored: the template makes each row's message",
                    )));
                }
                if row.message.contains('\n')
                    && let Some(warning) = rules::swallowed_row(row.line, &row.message)
                {
                    batch
                        .items
                        .push(Item::Warning(RowError::new(row.line, warning)));
                }
                match composer.compose(&row.ticket_id, &row.message, &row.extra) {
                    Ok(message) => batch.push_row(&RowView {
                        line: row.line,
                        ticket_id: &ticket_id,
                        message: &message,
                        composed: true,
                    }),
                    Err(error) => batch.items.push(Item::Bad(RowError::new(row.line, error))),
                }
            }
            Ok(Step::Bad(error)) => batch.items.push(Item::Bad(error)),
            Ok(Step::End) => {
                // The checking thread only stops early when it panics; nothing to tell it.
                let _ = batches.send(Ok(batch));
                return;
            }
            Err(error) => {
                let _ = batches.send(Err(error));
                return;
            }
        }
        if batch.is_full() {
            let full = std::mem::replace(&mut batch, Batch::with_capacity());
            if batches.send(Ok(full)).is_err() {
                return;
            }
        }
    }
}

/// The checking thread (the caller's): every rule on every row, and repeats remembered.
fn check_batches(
    batches: Receiver<Result<Batch, InputError>>,
    rules: &Rules,
    report: &mut FindingsBuilder,
    duplicates: &mut Duplicates,
) -> Result<(), InputError> {
    for batch in batches {
        let batch = batch?;
        for item in batch.items {
            // A warning item is about the row after it, not a row of its own.
            report.rows += u64::from(!matches!(item, Item::Warning(_)));
            match item {
                Item::Row {
                    line,
                    ticket_id,
                    message,
                    composed,
                } => {
                    let row = RowView {
                        line,
                        ticket_id: &batch.text[ticket_id],
                        message: &batch.text[message],
                        composed,
                    };
                    if let Some(ticket_id) = rules::check_row(&row, rules, report) {
                        duplicates.record(ticket_id, &row);
                        report.offer_preview(line, ticket_id, row.message);
                    }
                }
                Item::Bad(error) => report.error(Some(error.line), error.message),
                Item::Warning(warning) => report.warning(Some(warning.line), warning.message),
            }
        }
    }
    Ok(())
}
