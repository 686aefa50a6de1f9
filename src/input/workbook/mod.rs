//! The workbook reader: Excel (`.xlsx`, `.xlsm`, `.xlsb`, `.xls`) and OpenDocument (`.ods`)
//! through calamine. One sheet (the first, or `--sheet`) is a table like a CSV file: its
//! first row that is not empty names the columns, and each row after it is a row to send.
//! Rows are numbered as the spreadsheet numbers them, so "row 12 of sheet Notices" is the
//! row the user sees as 12.
//!
//! A thread of its own walks the sheet and hands rows over a bounded channel: calamine's
//! streaming cell reader for `.xlsx` borrows the workbook, which a reader that lives
//! between calls could not hold. For `.xlsx` and `.xlsm` only the shared strings (which
//! calamine loads when it opens the file) and the rows in the channel are in memory; the
//! other formats are read by calamine as a whole sheet first.

mod cell_text;

use std::io::{Cursor, Read, Seek};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread;

use calamine::{Reader, Sheets};

use self::cell_text::{CellValue, cell_text};
use super::columns::{self, MessageColumn, Positions};
use super::row::{InputError, Numbering, Row, RowError, RowView, Step};

/// Rows waiting in the channel: enough to keep the checking side busy, few enough to keep
/// memory flat.
const ROWS_IN_FLIGHT: usize = 1024;

/// One non-empty cell of a sheet row, as text.
#[derive(Debug)]
struct SheetCell {
    /// 0-based, as calamine counts (column A is 0).
    column: u32,
    text: String,
    /// The cell holds a formula's error (`#N/A`), not a value.
    formula_error: bool,
}

/// A row of the sheet with at least one cell.
#[derive(Debug, Default)]
struct SheetRow {
    /// 1-based, as the spreadsheet shows it.
    number: u64,
    cells: Vec<SheetCell>,
}

/// What the walking thread hands over.
enum Walked {
    Row(SheetRow),
    /// The sheet cannot be read further; the message says why.
    Failed(String),
    /// The sheet's last row was sent. Without it, a closed channel means the walk broke off.
    End,
}

impl SheetRow {
    fn is_blank(&self) -> bool {
        self.cells.iter().all(|cell| cell.text.trim().is_empty())
    }
}

pub(crate) struct WorkbookRecords {
    source: String,
    numbering: Numbering,
    rows: Receiver<Walked>,
    names: Vec<String>,
    header_row: u64,
    /// The column of `names[0]`: a table may start right of column A.
    first_column: u32,
    positions: Positions,
    /// The current row's values, one per name.
    values: Vec<String>,
    row_number: u64,
}

impl WorkbookRecords {
    /// Opens the workbook at `path` (or in `bytes`, read from standard input), picks the
    /// sheet and reads its header row.
    pub(crate) fn open(
        path: Option<&Path>,
        bytes: Option<Vec<u8>>,
        source: String,
        sheet: Option<&str>,
        message_column: MessageColumn,
    ) -> Result<Self, InputError> {
        let cannot_open = |error: calamine::Error| {
            InputError::content(
                &source,
                None,
                format!(
                    "cannot read it as a workbook ({error}); if it is one, open it in Excel or \
                     LibreOffice and save it again as .xlsx or .ods; if it is text, pass \
                     --input-format csv or ndjson"
                ),
            )
        };
        match (path, bytes) {
            (_, Some(bytes)) => {
                let workbook = calamine::open_workbook_auto_from_rs(Cursor::new(bytes))
                    .map_err(cannot_open)?;
                Self::start(workbook, source, sheet, message_column)
            }
            (Some(path), None) => {
                let workbook = calamine::open_workbook_auto(path).map_err(cannot_open)?;
                Self::start(workbook, source, sheet, message_column)
            }
            (None, None) => Err(InputError::content(&source, None, "no workbook to read")),
        }
    }

    fn start<RS: Read + Seek + Send + 'static>(
        workbook: Sheets<RS>,
        source: String,
        sheet: Option<&str>,
        message_column: MessageColumn,
    ) -> Result<Self, InputError> {
        let names = workbook.sheet_names();
        let sheet = match sheet {
            Some(wanted) => names
                .iter()
                .find(|name| name.as_str() == wanted)
                .or_else(|| {
                    names
                        .iter()
                        .find(|name| name.trim().eq_ignore_ascii_case(wanted.trim()))
                })
                .cloned()
                .ok_or_else(|| {
                    InputError::content(
                        &source,
                        None,
                        format!(
                            "there is no sheet named {wanted:?} (sheets: {}); --sheet takes the \
                             name on the sheet's tab",
                            listed(&names)
                        ),
                    )
                })?,
            None => names
                .first()
                .cloned()
                .ok_or_else(|| InputError::content(&source, None, "the workbook has no sheets"))?,
        };
        let (sender, rows) = sync_channel(ROWS_IN_FLIGHT);
        let walked = sheet.clone();
        thread::Builder::new()
            .name("workbook reader".to_owned())
            .spawn(move || walk_sheet(workbook, &walked, &sender))
            .map_err(|e| InputError::io(&source, "cannot start reading the workbook", &e))?;
        let mut records = WorkbookRecords {
            source,
            numbering: Numbering::SheetRows { sheet },
            rows,
            names: Vec::new(),
            header_row: 1,
            first_column: 0,
            positions: Positions {
                ticket_id: 0,
                message: None,
            },
            values: Vec::new(),
            row_number: 0,
        };
        records.read_header(message_column)?;
        Ok(records)
    }

    pub(crate) fn source(&self) -> &str {
        &self.source
    }

    pub(crate) fn numbering(&self) -> &Numbering {
        &self.numbering
    }

    pub(crate) fn header(&self) -> (u64, &[String]) {
        (self.header_row, &self.names)
    }

    fn error(&self, row: Option<u64>, message: impl Into<String>) -> InputError {
        let mut error = InputError::content(&self.source, row, message);
        error.numbering = self.numbering.clone();
        error
    }

    /// The next row of the sheet; `None` at its end.
    fn next_row(&mut self) -> Result<Option<SheetRow>, InputError> {
        match self.rows.recv() {
            Ok(Walked::Row(row)) => Ok(Some(row)),
            Ok(Walked::End) => Ok(None),
            Ok(Walked::Failed(message)) => Err(self.error(None, message)),
            Err(_) => Err(self.error(
                None,
                "the workbook reader stopped before the end of the sheet; open the file in \
                 Excel or LibreOffice and save it again",
            )),
        }
    }

    fn read_header(&mut self, message_column: MessageColumn) -> Result<(), InputError> {
        let header = loop {
            match self.next_row()? {
                Some(row) if row.is_blank() => continue,
                Some(row) => break row,
                None => {
                    return Err(self.error(
                        None,
                        "the sheet is empty: its first row must name the ticketId and message \
                         columns",
                    ));
                }
            }
        };
        let named: Vec<&SheetCell> = header
            .cells
            .iter()
            .filter(|cell| !cell.text.trim().is_empty())
            .collect();
        // Not empty: the row is not blank. The table is the span of its named columns.
        let first = named.first().map_or(0, |cell| cell.column);
        let last = named.last().map_or(0, |cell| cell.column);
        self.first_column = first;
        self.header_row = header.number;
        self.names = vec![String::new(); (last - first + 1) as usize];
        for cell in named {
            self.names[(cell.column - first) as usize] = cell.text.trim().to_owned();
        }
        let names = self.names.iter().map(String::as_str);
        self.positions = columns::locate(names, "column", message_column)
            .map_err(|message| self.error(Some(header.number), message))?;
        Ok(())
    }

    pub(crate) fn advance(&mut self) -> Result<Step<'_>, InputError> {
        let row = loop {
            match self.next_row()? {
                None => return Ok(Step::End),
                Some(row) if row.is_blank() => continue,
                Some(row) => break row,
            }
        };
        self.row_number = row.number;
        self.values.clear();
        self.values.resize(self.names.len(), String::new());
        for cell in row.cells {
            let Some(index) = cell
                .column
                .checked_sub(self.first_column)
                .map(|at| at as usize)
                .filter(|&at| at < self.names.len())
            else {
                if cell.text.trim().is_empty() {
                    continue;
                }
                return Ok(Step::Bad(RowError::new(
                    row.number,
                    format!(
                        "cell {}{} holds {}, outside the columns the header row names ({} to \
                         {}); name its column in row {}, or clear the cell",
                        column_letters(cell.column),
                        row.number,
                        super::row::quote_value(&cell.text),
                        column_letters(self.first_column),
                        column_letters(self.first_column + self.names.len() as u32 - 1),
                        self.header_row
                    ),
                )));
            };
            if cell.formula_error
                && (index == self.positions.ticket_id || Some(index) == self.positions.message)
            {
                return Ok(Step::Bad(RowError::new(
                    row.number,
                    format!(
                        "the {} cell ({}{}) holds {}, the error of a formula: fix the formula \
                         in the spreadsheet",
                        self.names[index],
                        column_letters(cell.column),
                        row.number,
                        cell.text
                    ),
                )));
            }
            self.values[index] = cell.text;
        }
        Ok(Step::Row(RowView {
            line: self.row_number,
            ticket_id: &self.values[self.positions.ticket_id],
            message: self
                .positions
                .message
                .map_or("", |index| &self.values[index]),
            composed: false,
        }))
    }

    pub(crate) fn current_row(&self) -> Row {
        let Positions { ticket_id, message } = self.positions;
        Row {
            line: self.row_number,
            ticket_id: self.values[ticket_id].trim().to_owned(),
            message: message.map(|i| self.values[i].clone()).unwrap_or_default(),
            extra: (0..self.names.len())
                .filter(|&index| index != ticket_id && Some(index) != message)
                .map(|index| (self.names[index].clone(), self.values[index].clone()))
                .collect(),
        }
    }
}

/// The walking thread: every row of `sheet` with a cell in it, in order, then `End`. It
/// stops early when the sheet cannot be read (`Failed` is the last message) or when the
/// reader hangs up.
fn walk_sheet<RS: Read + Seek>(mut workbook: Sheets<RS>, sheet: &str, rows: &SyncSender<Walked>) {
    match walk(&mut workbook, sheet, rows) {
        Ok(()) => {
            let _ = rows.send(Walked::End);
        }
        Err(Some(message)) => {
            let _ = rows.send(Walked::Failed(message));
        }
        // The reader hung up: nobody to tell.
        Err(None) => {}
    }
}

/// Sends the rows; `Err(Some(why))` when the sheet cannot be read, `Err(None)` when the
/// reader hung up.
fn walk<RS: Read + Seek>(
    workbook: &mut Sheets<RS>,
    sheet: &str,
    rows: &SyncSender<Walked>,
) -> Result<(), Option<String>> {
    let cannot_read = |error: &dyn std::fmt::Display| {
        format!(
            "cannot read sheet {sheet}: {error}; open the file in Excel or LibreOffice and save it again"
        )
    };
    let send = |row: SheetRow| rows.send(Walked::Row(row)).map_err(|_| None);
    if let Sheets::Xlsx(xlsx) = workbook {
        let mut cells = xlsx
            .worksheet_cells_reader(sheet)
            .map_err(|e| Some(cannot_read(&e)))?;
        let mut row = SheetRow::default();
        while let Some(cell) = cells.next_cell().map_err(|e| Some(cannot_read(&e)))? {
            let (row_index, column) = cell.get_position();
            let number = u64::from(row_index) + 1;
            if number != row.number && !row.cells.is_empty() {
                send(std::mem::take(&mut row))?;
            }
            row.number = number;
            push_cell(&mut row, column, CellValue::from(cell.get_value()));
        }
        if !row.cells.is_empty() {
            send(row)?;
        }
        return Ok(());
    }
    let range = workbook
        .worksheet_range(sheet)
        .map_err(|e| Some(cannot_read(&e)))?;
    let Some((first_row, first_column)) = range.start() else {
        return Ok(());
    };
    for (offset, cells) in range.rows().enumerate() {
        let mut row = SheetRow {
            number: u64::from(first_row) + offset as u64 + 1,
            cells: Vec::new(),
        };
        for (index, value) in cells.iter().enumerate() {
            push_cell(
                &mut row,
                first_column + index as u32,
                CellValue::from(value),
            );
        }
        if !row.cells.is_empty() {
            send(row)?;
        }
    }
    Ok(())
}

fn push_cell(row: &mut SheetRow, column: u32, value: CellValue) {
    if matches!(value, CellValue::Empty) {
        return;
    }
    let (text, formula_error) = cell_text(value);
    row.cells.push(SheetCell {
        column,
        text,
        formula_error,
    });
}

/// `A`, `Z`, `AA`: how a spreadsheet names column `index` (0-based).
fn column_letters(index: u32) -> String {
    let mut letters = Vec::new();
    let mut rest = index + 1;
    while rest > 0 {
        let digit = (rest - 1) % 26;
        letters.push(b'A' + digit as u8);
        rest = (rest - 1) / 26;
    }
    letters.reverse();
    String::from_utf8(letters).unwrap_or_default()
}

fn listed(names: &[String]) -> String {
    if names.is_empty() {
        return "none".to_owned();
    }
    names
        .iter()
        .map(|name| format!("{name:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_lettered_as_a_spreadsheet_does() {
        assert_eq!(column_letters(0), "A");
        assert_eq!(column_letters(25), "Z");
        assert_eq!(column_letters(26), "AA");
        assert_eq!(column_letters(701), "ZZ");
        assert_eq!(column_letters(702), "AAA");
    }
}
