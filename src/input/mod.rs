//! Reading input files, streamed: CSV, NDJSON or a workbook sheet from a file or standard
//! input, one row at a time with its line (or sheet row) number, and validating every row
//! before anything is sent.
//!
//! Two ways in:
//! - [`read_rows`]: an iterator of owned [`Row`]s, for sending;
//! - [`validate`]: one pass over the whole input that returns a [`Findings`] of every problem.
//!
//! Memory stays flat whatever the input size: one record at a time in a reused buffer, and
//! for duplicate detection 32 bytes per row (see `duplicates`).

mod args;
mod columns;
mod csv;
mod decode;
mod duplicates;
mod findings;
mod ndjson;
mod records;
mod row;
mod rules;
pub(crate) mod template;
mod validation;
mod workbook;

// Public only what the tests and benchmarks use; the rest is the crate's.
pub use args::{InputFormat, InputSource};
pub use row::{InputError, Row};
pub use rules::Rules;
pub use validation::validate;

pub(crate) use args::InputArgs;
pub(crate) use columns::{MessageColumn, Required as RequiredColumn, loose_eq};
pub(crate) use findings::{Findings, Preview};
pub(crate) use row::RowError;
pub(crate) use validation::validate_messages;

use records::Records;
use row::Step;

/// Opens `source` and reads its header. Fails when the input cannot be opened or its header
/// is unusable (empty file, missing column, unreadable encoding).
pub fn read_rows(source: &InputSource) -> Result<RowReader, InputError> {
    read_rows_with(source, MessageColumn::Required)
}

/// [`read_rows`], saying whether the rows need a message column (not with a template).
pub fn read_rows_with(
    source: &InputSource,
    message_column: MessageColumn,
) -> Result<RowReader, InputError> {
    Ok(RowReader {
        records: Records::open(source, message_column)?,
        finished: false,
    })
}

/// The rows of an input, in file order. A bad record yields a [`RowError`] and reading goes
/// on with the next one; if the input cannot be read any further, that error is the last
/// item.
pub struct RowReader {
    records: Records,
    finished: bool,
}

impl RowReader {
    /// The input's column names in file order (CSV, sheets); `None` for NDJSON, whose
    /// lines each name their own fields.
    pub fn column_names(&self) -> Option<Vec<String>> {
        self.records.header().map(|(_, names)| names.to_vec())
    }

    /// How the input is called in messages.
    pub fn source_name(&self) -> &str {
        self.records.source()
    }
}

impl Iterator for RowReader {
    type Item = Result<Row, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        match self.records.advance() {
            Ok(Step::Row(_)) => Some(Ok(self.records.current_row())),
            Ok(Step::Bad(error)) => Some(Err(error)),
            Ok(Step::End) => {
                self.finished = true;
                None
            }
            Err(error) => {
                self.finished = true;
                Some(Err(RowError::new(
                    error.line.unwrap_or(0),
                    error.to_string(),
                )))
            }
        }
    }
}
