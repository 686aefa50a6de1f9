//! Opening an input: file or standard input, format from the flag, the extension or the
//! first bytes, then the matching reader behind one interface.

use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::Path;

use super::args::{InputFormat, InputSource};
use super::columns::MessageColumn;
use super::csv::CsvRecords;
use super::ndjson::NdjsonRecords;
use super::row::{InputError, Row, RowError, RowView};

/// One step through the input.
pub(crate) enum Step<'a> {
    /// A record that passed the reader's checks, borrowed until the next step.
    Row(RowView<'a>),
    /// A record that could not be read; the next step goes on after it.
    Bad(RowError),
    End,
}

pub(crate) enum Records {
    Csv(CsvRecords),
    Ndjson(NdjsonRecords),
}

impl Records {
    pub(crate) fn open(
        source: &InputSource,
        message_column: MessageColumn,
    ) -> Result<Records, InputError> {
        let name = source.name();
        let (input, guessed): (Box<dyn Read + Send>, _) = match &source.path {
            Some(path) => {
                let file =
                    File::open(path).map_err(|e| InputError::io(&name, "cannot open it", &e))?;
                (Box::new(file), format_from_extension(path))
            }
            None => (Box::new(io::stdin()), None),
        };
        let (input, format) = match source.format.or(guessed) {
            Some(format) => (input, format),
            None => sniff(input).map_err(|e| InputError::io(&name, "cannot read it", &e))?,
        };
        match format {
            InputFormat::Csv => {
                CsvRecords::open(input, name, source.delimiter, message_column).map(Records::Csv)
            }
            InputFormat::Ndjson if source.delimiter.is_some() => Err(InputError::content(
                &name,
                None,
                "--delimiter applies to CSV input only, and this input is NDJSON",
            )),
            InputFormat::Ndjson => Ok(Records::Ndjson(NdjsonRecords::new(
                input,
                name,
                message_column,
            ))),
        }
    }

    pub(crate) fn source(&self) -> &str {
        match self {
            Records::Csv(records) => records.source(),
            Records::Ndjson(records) => records.source(),
        }
    }

    /// A CSV header's line and column names; NDJSON has no header.
    pub(crate) fn header(&self) -> Option<(u64, &[String])> {
        match self {
            Records::Csv(records) => Some(records.header()),
            Records::Ndjson(_) => None,
        }
    }

    /// The next row or problem. An `Err` means the input cannot be read any further.
    pub(crate) fn advance(&mut self) -> Result<Step<'_>, InputError> {
        match self {
            Records::Csv(records) => records.advance(),
            Records::Ndjson(records) => records.advance(),
        }
    }

    /// The row `advance` last returned, owned.
    pub(crate) fn current_row(&self) -> Row {
        match self {
            Records::Csv(records) => records.current_row(),
            Records::Ndjson(records) => records.current_row(),
        }
    }
}

fn format_from_extension(path: &Path) -> Option<InputFormat> {
    let extension = path.extension()?.to_str()?.to_ascii_lowercase();
    match extension.as_str() {
        "csv" | "tsv" | "tab" => Some(InputFormat::Csv),
        "ndjson" | "jsonl" => Some(InputFormat::Ndjson),
        _ => None,
    }
}

/// Guesses the format from the first bytes: JSON starts with `{` (or `[`, which the NDJSON
/// reader then explains is not NDJSON); anything else is taken for CSV. The bytes read are
/// put back in front of the rest.
fn sniff(mut input: Box<dyn Read + Send>) -> io::Result<(Box<dyn Read + Send>, InputFormat)> {
    const LOOK_AHEAD: u64 = 4096;
    let mut head = Vec::new();
    (&mut input).take(LOOK_AHEAD).read_to_end(&mut head)?;
    let text = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&head);
    let first = text.iter().find(|byte| !byte.is_ascii_whitespace());
    let format = match first {
        Some(b'{' | b'[') => InputFormat::Ndjson,
        _ => InputFormat::Csv,
    };
    Ok((Box::new(Cursor::new(head).chain(input)), format))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sniffed(bytes: &'static [u8]) -> InputFormat {
        sniff(Box::new(bytes)).unwrap().1
    }

    #[test]
    fn format_follows_the_extension() {
        assert_eq!(
            format_from_extension(Path::new("a/b.CSV")),
            Some(InputFormat::Csv)
        );
        assert_eq!(
            format_from_extension(Path::new("b.tsv")),
            Some(InputFormat::Csv)
        );
        assert_eq!(
            format_from_extension(Path::new("b.jsonl")),
            Some(InputFormat::Ndjson)
        );
        assert_eq!(format_from_extension(Path::new("b.txt")), None);
        assert_eq!(format_from_extension(Path::new("b")), None);
    }

    #[test]
    fn sniffing_looks_at_the_first_bytes() {
        assert_eq!(sniffed(b"\xEF\xBB\xBF {\"a\":1}"), InputFormat::Ndjson);
        assert_eq!(sniffed(b"\n\n[1]"), InputFormat::Ndjson);
        assert_eq!(sniffed(b"ticketId,message\n"), InputFormat::Csv);
        assert_eq!(sniffed(b""), InputFormat::Csv);
    }

    #[test]
    fn sniffing_puts_the_bytes_back() {
        let (mut input, _) = sniff(Box::new(&b"{\"x\":1}\nmore"[..])).unwrap();
        let mut all = String::new();
        input.read_to_string(&mut all).unwrap();
        assert_eq!(all, "{\"x\":1}\nmore");
    }
}
