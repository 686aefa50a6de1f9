//! The failed-rows file: the rows that failed in this run, as CSV, made to be edited and
//! sent again — in the input's order, with the input's columns in the input's order, the
//! original line number first (`line`) and the reason last (`error`). Rows that failed while
//! still in doubt are left out: only the same command, which reads their tickets first, may
//! send them again.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::delivery::{Outcome, OutcomeResult};
use crate::files::{Access, open_private};
use crate::input::{RequiredColumn, loose_eq};

const LINE: &str = "line";
const ERROR: &str = "error";

/// What goes into one column of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Column {
    /// The row's line in the input this run read (added unless the input has a `line`
    /// column: then it is a failed-rows file itself, and its own value is the original's).
    Line,
    TicketId,
    /// The message as posted (composed, when a template made it).
    Message,
    Error,
    /// Any other column, by its name in the input.
    Other(String),
}

pub struct FailedRows {
    path: PathBuf,
    /// The input's column names in its order (CSV, sheets); `None` for NDJSON, whose
    /// lines each name their own fields.
    input_columns: Option<Vec<String>>,
    /// Fixed by the first failed row: the header and what each column holds.
    columns: Vec<(String, Column)>,
    /// Failed rows with their input line. Outcomes arrive in the order rows finish, not
    /// the input's, so they are sorted and written when the run ends; they are few, and a
    /// run that stops early writes them all the same (the writer always finishes).
    rows: Vec<(u64, Vec<String>)>,
}

impl FailedRows {
    /// Nothing is created until a row fails, so a clean run leaves no empty file behind.
    pub fn new(path: &Path, input_columns: Option<Vec<String>>) -> Self {
        FailedRows {
            path: path.to_path_buf(),
            input_columns,
            columns: Vec::new(),
            rows: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn has_rows(&self) -> bool {
        !self.rows.is_empty()
    }

    pub fn add(&mut self, outcome: &Outcome) {
        // A row still in doubt may have reached its ticket: sent from this file, a new job
        // that knows nothing of the doubt, it could arrive twice. The same command settles
        // it instead, reading the ticket first.
        let OutcomeResult::Failed {
            error,
            in_doubt_since: None,
        } = &outcome.result
        else {
            return;
        };
        let job = &outcome.delivery;
        if self.columns.is_empty() {
            let names = self.input_columns.clone().unwrap_or_else(|| {
                let mut names = vec![
                    RequiredColumn::TICKET_ID.to_string(),
                    RequiredColumn::MESSAGE.to_string(),
                ];
                names.extend(job.extra.iter().map(|(name, _)| name.clone()));
                names
            });
            self.columns = columns_of(names);
        }
        let error_text = format!("{}: {}", error.kind.as_str(), error.message);
        let record = self
            .columns
            .iter()
            .map(|(_, column)| match column {
                Column::Line => job.line.to_string(),
                Column::TicketId => job.ticket_id.clone(),
                Column::Message => job.message.clone(),
                Column::Error => error_text.clone(),
                Column::Other(name) => job
                    .extra
                    .iter()
                    .find(|(extra, _)| extra == name)
                    .map(|(_, value)| value.clone())
                    .unwrap_or_default(),
            })
            .collect();
        self.rows.push((job.line, record));
    }

    /// Writes the file, rows in input order, if any row failed.
    pub fn write(&mut self) -> std::io::Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        self.rows.sort_by_key(|(line, _)| *line);
        let mut writer = csv::Writer::from_writer(open_private(&self.path, Access::Replace)?);
        writer.write_record(self.columns.iter().map(|(name, _)| name))?;
        for (_, record) in &self.rows {
            writer.write_record(record)?;
        }
        let file: File = writer.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()
    }
}

/// The file's columns: `line`, the input's columns in order (a message column added after
/// the ticket's when a template made the message), `error`.
fn columns_of(names: Vec<String>) -> Vec<(String, Column)> {
    let mut columns: Vec<(String, Column)> = names
        .into_iter()
        .map(|name| {
            let column = match RequiredColumn::of(&name) {
                Some(RequiredColumn::TicketId) => Column::TicketId,
                Some(RequiredColumn::Message) => Column::Message,
                None if loose_eq(&name, ERROR) => Column::Error,
                None => Column::Other(name.clone()),
            };
            (name, column)
        })
        .collect();
    if !columns.iter().any(|(_, c)| *c == Column::Message) {
        let after_ticket = columns
            .iter()
            .position(|(_, c)| *c == Column::TicketId)
            .map_or(0, |i| i + 1);
        columns.insert(
            after_ticket,
            (RequiredColumn::MESSAGE.to_string(), Column::Message),
        );
    }
    if !columns.iter().any(|(name, _)| loose_eq(name, LINE)) {
        columns.insert(0, (LINE.to_string(), Column::Line));
    }
    if !columns.iter().any(|(_, c)| *c == Column::Error) {
        columns.push((ERROR.to_string(), Column::Error));
    }
    columns
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(columns: &[(String, Column)]) -> Vec<&str> {
        columns.iter().map(|(name, _)| name.as_str()).collect()
    }

    #[test]
    fn the_inputs_order_with_the_line_first_and_the_error_last() {
        let columns = columns_of(vec!["name".into(), "Message".into(), "ticket_id".into()]);
        assert_eq!(
            names(&columns),
            ["line", "name", "Message", "ticket_id", "error"]
        );
        // A failed-rows file sent again keeps its original line and replaces its error.
        let again = columns_of(names(&columns).into_iter().map(String::from).collect());
        assert_eq!(
            names(&again),
            ["line", "name", "Message", "ticket_id", "error"]
        );
        assert_eq!(again[0].1, Column::Other("line".into()));
        // A template's input has no message column: the message goes after the ticket.
        let template = columns_of(vec!["ticketId".into(), "title".into()]);
        assert_eq!(
            names(&template),
            ["line", "ticketId", "message", "title", "error"]
        );
    }
}
