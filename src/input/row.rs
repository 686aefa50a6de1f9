//! What the readers hand out: rows with their line numbers, and the two kinds of error.

use std::fmt;

/// One input row, owned: what `send` posts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The 1-based physical line where the record starts (a CSV header is line 1).
    pub line: u64,
    /// The ticket id, surrounding whitespace removed.
    pub ticket_id: String,
    /// The message exactly as written in the file (HTML allowed).
    pub message: String,
    /// Every other column (CSV) or field (NDJSON), by name, in file order. Non-string JSON
    /// values appear as their JSON text. Kept for templates; never an error.
    pub extra: Vec<(String, String)>,
}

/// A borrowed look at the current record, for the validation hot path: no allocation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowView<'a> {
    pub line: u64,
    /// As written, whitespace included, so the rules can warn about it.
    pub ticket_id: &'a str,
    pub message: &'a str,
    /// Made by a template or a format conversion: its lines are not the file's lines.
    pub composed: bool,
}

/// A problem with one record; reading goes on with the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The physical line the problem is on.
    pub line: u64,
    /// What is wrong and what to do, for a person; no line prefix.
    pub message: String,
}

impl RowError {
    pub(crate) fn new(line: u64, message: impl Into<String>) -> Self {
        RowError {
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for RowError {}

/// How the places in an input are called in messages: lines of a text file, or rows of a
/// workbook sheet as the spreadsheet numbers them. The number itself is the same kind in
/// both (1-based, the header's included), so results and journals need not know which.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Numbering {
    #[default]
    Lines,
    SheetRows {
        sheet: String,
    },
}

impl Numbering {
    /// `line 12`, or `row 12 of sheet Notices`.
    pub fn place(&self, number: u64) -> String {
        match self {
            Numbering::Lines => format!("line {number}"),
            Numbering::SheetRows { sheet } => format!("row {number} of sheet {sheet}"),
        }
    }
}

/// A problem with the input as a whole: it cannot be opened or read, or it has no usable
/// header. Nothing in it can be trusted, so reading stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// How the input is called in messages: its path, or "standard input".
    pub source: String,
    /// The line the problem is on, where one applies.
    pub line: Option<u64>,
    /// What is wrong and what to do, for a person.
    pub message: String,
    /// True when the input could not be read at all (missing file, I/O error), as opposed to
    /// being read and found unusable.
    pub unreadable: bool,
    /// What `line` counts.
    pub numbering: Numbering,
}

impl InputError {
    pub(crate) fn content(source: &str, line: Option<u64>, message: impl Into<String>) -> Self {
        InputError {
            source: source.to_owned(),
            line,
            message: message.into(),
            unreadable: false,
            numbering: Numbering::Lines,
        }
    }

    pub(crate) fn io(source: &str, what: &str, error: &std::io::Error) -> Self {
        InputError {
            source: source.to_owned(),
            line: None,
            message: format!("{what}: {error}"),
            unreadable: true,
            numbering: Numbering::Lines,
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(
                f,
                "{}: {}: {}",
                self.source,
                self.numbering.place(line),
                self.message
            ),
            None => write!(f, "{}: {}", self.source, self.message),
        }
    }
}

impl std::error::Error for InputError {}

/// Shows a value from the file inside a message: quoted, control characters escaped, and cut
/// short so one bad 60 kB message does not flood the report.
pub(crate) fn quote_value(value: &str) -> String {
    const SHOWN_CHARS: usize = 40;
    let mut shown: String = value.chars().take(SHOWN_CHARS).collect();
    if shown.len() < value.len() {
        shown.push('…');
    }
    format!("{shown:?}")
}

/// One step through the input.
pub(crate) enum Step<'a> {
    /// A record that passed the reader's checks, borrowed until the next step.
    Row(RowView<'a>),
    /// A record that could not be read; the next step goes on after it.
    Bad(RowError),
    End,
}
