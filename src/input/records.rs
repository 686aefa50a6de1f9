//! Opening an input: file or standard input, format from the flag, the extension or the
//! first bytes, text decoded to UTF-8, then the matching reader behind one interface.

use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::Path;

use super::args::{InputFormat, InputSource};
use super::columns::MessageColumn;
use super::csv::CsvRecords;
use super::decode;
use super::ndjson::NdjsonRecords;
use super::row::{InputError, Numbering, Row, Step};
use super::workbook::WorkbookRecords;

pub(crate) enum Records {
    Csv(CsvRecords),
    Ndjson(NdjsonRecords),
    Workbook(WorkbookRecords),
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
        let cannot_read = |e: io::Error| InputError::io(&name, "cannot read it", &e);
        let (input, format) = match source.format.or(guessed) {
            Some(format) => (input, Some(format)),
            None => {
                let (input, workbook) = sniff_workbook(input).map_err(cannot_read)?;
                (input, workbook.then_some(InputFormat::Workbook))
            }
        };
        if format == Some(InputFormat::Workbook) {
            return open_workbook(source, input, name, message_column);
        }
        if source.sheet.is_some() {
            return Err(InputError::content(
                &name,
                None,
                "--sheet applies to workbooks only (.xlsx, .xlsm, .xlsb, .xls, .ods), and this \
                 input is text",
            ));
        }
        let input = decode::text_input(input, source.encoding).map_err(cannot_read)?;
        // Only text is left: a workbook was opened above.
        let (input, format) = match format {
            Some(format) => (input, format),
            None => sniff(input).map_err(cannot_read)?,
        };
        if format != InputFormat::Ndjson {
            return CsvRecords::open(input, name, source.delimiter, message_column)
                .map(Records::Csv);
        }
        if source.delimiter.is_some() {
            return Err(InputError::content(
                &name,
                None,
                "--delimiter applies to CSV input only, and this input is NDJSON",
            ));
        }
        Ok(Records::Ndjson(NdjsonRecords::new(
            input,
            name,
            message_column,
        )))
    }

    /// What the numbers of rows and problems count.
    pub(crate) fn numbering(&self) -> Numbering {
        match self {
            Records::Workbook(records) => records.numbering().clone(),
            _ => Numbering::Lines,
        }
    }

    pub(crate) fn source(&self) -> &str {
        match self {
            Records::Csv(records) => records.source(),
            Records::Ndjson(records) => records.source(),
            Records::Workbook(records) => records.source(),
        }
    }

    /// A CSV or sheet header's line and column names; NDJSON has no header.
    pub(crate) fn header(&self) -> Option<(u64, &[String])> {
        match self {
            Records::Csv(records) => Some(records.header()),
            Records::Workbook(records) => Some(records.header()),
            Records::Ndjson(_) => None,
        }
    }

    /// The next row or problem. An `Err` means the input cannot be read any further.
    pub(crate) fn advance(&mut self) -> Result<Step<'_>, InputError> {
        match self {
            Records::Csv(records) => records.advance(),
            Records::Ndjson(records) => records.advance(),
            Records::Workbook(records) => records.advance(),
        }
    }

    /// The row `advance` last returned, owned.
    pub(crate) fn current_row(&self) -> Row {
        match self {
            Records::Csv(records) => records.current_row(),
            Records::Ndjson(records) => records.current_row(),
            Records::Workbook(records) => records.current_row(),
        }
    }
}

fn format_from_extension(path: &Path) -> Option<InputFormat> {
    let extension = path.extension()?.to_str()?.to_ascii_lowercase();
    match extension.as_str() {
        "csv" | "tsv" | "tab" => Some(InputFormat::Csv),
        "ndjson" | "jsonl" => Some(InputFormat::Ndjson),
        "xlsx" | "xlsm" | "xlsb" | "xls" | "ods" => Some(InputFormat::Workbook),
        _ => None,
    }
}

/// A workbook, from its file, or from standard input read whole (calamine needs to seek;
/// a workbook is compressed, so its bytes are far fewer than its cells).
fn open_workbook(
    source: &InputSource,
    mut input: Box<dyn Read + Send>,
    name: String,
    message_column: MessageColumn,
) -> Result<Records, InputError> {
    let text_flag = match (source.delimiter, source.encoding) {
        (Some(_), _) => Some("--delimiter"),
        (_, Some(_)) => Some("--encoding"),
        _ => None,
    };
    if let Some(flag) = text_flag {
        return Err(InputError::content(
            &name,
            None,
            format!("{flag} applies to CSV and NDJSON input only, and this input is a workbook"),
        ));
    }
    let bytes = match &source.path {
        Some(_) => None,
        None => {
            let mut bytes = Vec::new();
            input
                .read_to_end(&mut bytes)
                .map_err(|e| InputError::io(&name, "cannot read it", &e))?;
            Some(bytes)
        }
    };
    drop(input);
    WorkbookRecords::open(
        source.path.as_deref(),
        bytes,
        name,
        source.sheet.as_deref(),
        message_column,
    )
    .map(Records::Workbook)
}

/// Whether the first bytes are a workbook's: a ZIP archive (`.xlsx`, `.ods`) or an OLE
/// compound file (`.xls`). The bytes read are put back in front of the rest.
fn sniff_workbook(mut input: Box<dyn Read + Send>) -> io::Result<(Box<dyn Read + Send>, bool)> {
    const ZIP: &[u8] = b"PK\x03\x04";
    const OLE: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";
    let mut head = Vec::new();
    (&mut input).take(OLE.len() as u64).read_to_end(&mut head)?;
    let workbook = head.starts_with(ZIP) || head.starts_with(OLE);
    Ok((Box::new(Cursor::new(head).chain(input)), workbook))
}

/// Guesses the format of text from its first bytes: JSON starts with `{` (or `[`, which the NDJSON
/// reader then explains is not NDJSON); anything else is taken for CSV. The bytes read are
/// put back in front of the rest.
fn sniff(mut input: Box<dyn Read + Send>) -> io::Result<(Box<dyn Read + Send>, InputFormat)> {
    const LOOK_AHEAD: u64 = 4096;
    let mut head = Vec::new();
    (&mut input).take(LOOK_AHEAD).read_to_end(&mut head)?;
    let mut text = head.as_slice();
    // A file saved twice by a tool that adds a byte-order mark has two.
    while let Some(rest) = text.strip_prefix(b"\xEF\xBB\xBF") {
        text = rest;
    }
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
        assert_eq!(
            format_from_extension(Path::new("Notices.XLSX")),
            Some(InputFormat::Workbook)
        );
        assert_eq!(
            format_from_extension(Path::new("b.ods")),
            Some(InputFormat::Workbook)
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
    fn workbooks_are_known_by_their_first_bytes() {
        let sniffed = |bytes: &'static [u8]| sniff_workbook(Box::new(bytes)).unwrap().1;
        assert!(sniffed(b"PK\x03\x04\x14\x00rest"));
        assert!(sniffed(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\x00"));
        assert!(!sniffed(b"ticketId,message\n"));
        assert!(!sniffed(b"PK"));
    }

    #[test]
    fn sniffing_puts_the_bytes_back() {
        let (mut input, _) = sniff(Box::new(&b"{\"x\":1}\nmore"[..])).unwrap();
        let mut all = String::new();
        input.read_to_string(&mut all).unwrap();
        assert_eq!(all, "{\"x\":1}\nmore");
    }
}
