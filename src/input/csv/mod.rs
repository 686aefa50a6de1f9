//! The CSV reader: a header row, then one record at a time out of a reused buffer, each
//! checked for the right number of fields, NUL bytes and UTF-8 before anyone sees it.

mod delimiter;
mod scan;

use std::io::{self, Read};

use memchr::{memchr, memchr_iter};

use self::scan::{QuoteFault, RecordBuf, Scan, scan_record};
use super::columns::{self, MessageColumn, Positions};
use super::row::{InputError, Row, RowError, RowView, Step};

/// The buffer's starting size; it grows only for a record longer than this.
const INITIAL_BUFFER: usize = 256 * 1024;

/// No record may be longer: past this, a quote is almost surely unclosed, and holding more
/// would break the promise of bounded memory.
pub(crate) const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

pub(crate) struct CsvRecords {
    input: Box<dyn Read + Send>,
    source: String,
    delimiter: u8,
    names: Vec<String>,
    /// The physical line of the header.
    header_line: u64,
    positions: Positions,
    buf: Vec<u8>,
    /// `buf[start..end]` holds the bytes not yet used.
    start: usize,
    end: usize,
    at_eof: bool,
    /// The physical line of `buf[start]`.
    line: u64,
    /// After a record too long to hold, the rest of its line is thrown away.
    skipping_line: bool,
    record: RecordBuf,
    /// Where the current record's bytes are in `buf`; valid until the next read.
    record_bytes: std::ops::Range<usize>,
    record_line: u64,
}

/// What the scanning loop found, before any borrowing of the record for the caller.
enum Found {
    Record,
    Bad(RowError),
    End,
}

impl CsvRecords {
    /// Reads the header. `delimiter` overrides detection.
    pub(crate) fn open(
        input: Box<dyn Read + Send>,
        source: String,
        delimiter: Option<u8>,
        message_column: MessageColumn,
    ) -> Result<Self, InputError> {
        let mut records = CsvRecords {
            input,
            source,
            delimiter: b',',
            names: Vec::new(),
            header_line: 1,
            positions: Positions {
                ticket_id: 0,
                message: None,
            },
            buf: vec![0; INITIAL_BUFFER],
            start: 0,
            end: 0,
            at_eof: false,
            line: 1,
            skipping_line: false,
            record: RecordBuf::default(),
            record_bytes: 0..0,
            record_line: 1,
        };
        records.read_header(delimiter, message_column)?;
        Ok(records)
    }

    pub(crate) fn source(&self) -> &str {
        &self.source
    }

    /// The header's line and its column names, trimmed.
    pub(crate) fn header(&self) -> (u64, &[String]) {
        (self.header_line, &self.names)
    }

    fn read_header(
        &mut self,
        delimiter: Option<u8>,
        message_column: MessageColumn,
    ) -> Result<(), InputError> {
        // Enough bytes to see the whole first line (or the whole file).
        while !self.at_eof && memchr(b'\n', &self.buf[..self.end]).is_none() {
            if self.end == self.buf.len() {
                break;
            }
            self.fill()?;
        }
        // A file saved twice by a tool that adds a byte-order mark has two; neither is text.
        while self.buf[self.start..self.end].starts_with(UTF8_BOM) {
            self.start += UTF8_BOM.len();
        }
        // Excel writes, and reads, a first line `sep=;` that names the delimiter.
        let named_delimiter = sep_line(&self.buf[self.start..self.end]).map(|(delimiter, len)| {
            self.start += len;
            self.line += 1;
            delimiter
        });
        // The header is the first line that is not blank.
        let head = &self.buf[self.start..self.end];
        let head = &head[head
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count()..];
        let first_line = memchr(b'\n', head).map_or(head, |at| &head[..at]);
        self.delimiter = delimiter
            .or(named_delimiter)
            .unwrap_or_else(|| delimiter::detect(first_line));

        loop {
            match self.next_record()? {
                Found::End => {
                    return Err(InputError::content(
                        &self.source,
                        None,
                        "the file is empty: the first line must be a header naming the \
                         ticketId and message columns",
                    ));
                }
                Found::Bad(error) => {
                    return Err(InputError::content(
                        &self.source,
                        Some(error.line),
                        format!("in the header: {}", error.message),
                    ));
                }
                Found::Record if self.record_is_blank() => continue,
                Found::Record => break,
            }
        }
        if memchr(0, self.raw_record()).is_some() {
            return Err(self.header_error(
                "the header contains NUL bytes: this is not UTF-8 text; if the file is UTF-16 \
                 without a byte-order mark, pass --encoding utf-16le (or utf-16be), or save it \
                 as \"CSV UTF-8\"",
            ));
        }
        let Ok(header) = std::str::from_utf8(self.raw_record()) else {
            return Err(self.header_error(
                "the header is not UTF-8 text; the file was probably saved as Windows-1252 \
                 (\"ANSI\", Excel's plain CSV): pass --encoding windows-1252, or save it as \
                 \"CSV UTF-8\"",
            ));
        };
        self.names = (0..self.record.len())
            .map(|index| self.record.text(header, index).trim().to_owned())
            .collect();
        self.header_line = self.record_line;
        let names = self.names.iter().map(String::as_str);
        self.positions = columns::locate(names, "column", message_column).map_err(|message| {
            let shown = match self.delimiter {
                b'\t' => "tab".to_owned(),
                other => format!("'{}'", other as char),
            };
            InputError::content(
                &self.source,
                Some(self.record_line),
                format!("{message} (fields separated by {shown}; --delimiter changes that)"),
            )
        })?;
        Ok(())
    }

    fn header_error(&self, message: &str) -> InputError {
        InputError::content(&self.source, Some(self.record_line), message)
    }

    /// Moves to the next data record and checks it; empty rows are skipped.
    pub(crate) fn advance(&mut self) -> Result<Step<'_>, InputError> {
        loop {
            match self.next_record()? {
                Found::End => return Ok(Step::End),
                Found::Bad(error) => return Ok(Step::Bad(error)),
                // Spreadsheets often end with rows of bare delimiters (`;;`): nothing to send.
                Found::Record if self.record_is_blank() => continue,
                Found::Record => break,
            }
        }
        Ok(match self.checked_view() {
            Ok(view) => Step::Row(view),
            Err(error) => Step::Bad(error),
        })
    }

    /// The current record as an owned row; call after `advance` returned a row.
    pub(crate) fn current_row(&self) -> Row {
        let raw = self.raw_record();
        let field = |index| String::from_utf8_lossy(self.record.field(raw, index)).into_owned();
        let Positions { ticket_id, message } = self.positions;
        Row {
            line: self.record_line,
            ticket_id: field(ticket_id).trim().to_owned(),
            message: message.map(field).unwrap_or_default(),
            extra: (0..self.record.len())
                .filter(|&index| index != ticket_id && Some(index) != message)
                .map(|index| (self.names[index].clone(), field(index)))
                .collect(),
        }
    }

    fn raw_record(&self) -> &[u8] {
        &self.buf[self.record_bytes.clone()]
    }

    fn record_is_blank(&self) -> bool {
        let raw = self.raw_record();
        (0..self.record.len()).all(|index| {
            self.record
                .field(raw, index)
                .iter()
                .all(u8::is_ascii_whitespace)
        })
    }

    /// The checks every record passes before it is a row: field count, NUL, UTF-8.
    fn checked_view(&self) -> Result<RowView<'_>, RowError> {
        let line = self.record_line;
        let fields = self.record.len();
        if fields != self.names.len() {
            let expected = self.names.len();
            let hint = if fields > expected {
                let delimiter = match self.delimiter {
                    b'\t' => "a tab".to_owned(),
                    other => format!("'{}'", other as char),
                };
                format!("a value that contains {delimiter} must be put in double quotes")
            } else {
                "a value or a delimiter is missing".to_owned()
            };
            let fields = match fields {
                1 => "1 field".to_owned(),
                n => format!("{n} fields"),
            };
            return Err(RowError::new(
                line,
                format!("this row has {fields}, but the header has {expected}: {hint}"),
            ));
        }
        // Delimiters and quotes are ASCII: the raw record is UTF-8 if and only if its fields
        // are, and one check covers them all.
        let data = self.raw_record();
        if let Some(at) = memchr(0, data) {
            return Err(RowError::new(
                self.line_of(at),
                format!(
                    "column {:?} contains a NUL byte (character code 0): this is not plain text; \
                     save the file as \"CSV UTF-8\"",
                    self.names[self.record.field_at(at)]
                ),
            ));
        }
        let text = std::str::from_utf8(data).map_err(|error| {
            let at = error.valid_up_to();
            RowError::new(
                self.line_of(at),
                format!(
                    "column {:?} contains byte 0x{:02X}, which is not UTF-8 text; the file was \
                     probably saved as Windows-1252 (\"ANSI\", Excel's plain CSV): pass \
                     --encoding windows-1252, or save it as \"CSV UTF-8\" and try again",
                    self.names[self.record.field_at(at)],
                    data[at]
                ),
            )
        })?;
        Ok(RowView {
            line,
            ticket_id: self.record.text(text, self.positions.ticket_id),
            message: self
                .positions
                .message
                .map_or("", |index| self.record.text(text, index)),
            composed: false,
        })
    }

    /// The physical line of byte `at` of the record.
    fn line_of(&self, at: usize) -> u64 {
        self.record_line + memchr_iter(b'\n', &self.raw_record()[..at]).count() as u64
    }

    fn next_record(&mut self) -> Result<Found, InputError> {
        loop {
            if self.skipping_line {
                self.skip_rest_of_line()?;
                continue;
            }
            let scan = scan_record(
                &self.buf[self.start..self.end],
                self.at_eof,
                self.delimiter,
                &mut self.record,
            );
            match scan {
                Scan::Record { len, newlines } => {
                    self.record_bytes = self.start..self.start + len;
                    self.record_line = self.line;
                    self.start += len;
                    self.line += newlines;
                    return Ok(Found::Record);
                }
                Scan::Blank { len } => {
                    self.start += len;
                    self.line += 1;
                }
                Scan::End => return Ok(Found::End),
                Scan::NeedMore if self.end - self.start >= MAX_RECORD_BYTES => {
                    let line = self.line;
                    self.resync_after(0);
                    return Ok(Found::Bad(RowError::new(
                        line,
                        format!(
                            "the row that starts here is longer than {} MiB; most likely a \
                             double quote (\") is not closed",
                            MAX_RECORD_BYTES / (1024 * 1024)
                        ),
                    )));
                }
                Scan::NeedMore => self.fill()?,
                Scan::BadQuote {
                    quote_at,
                    quote_newlines,
                    fault,
                } => {
                    let line = self.line + quote_newlines;
                    let column = self
                        .names
                        .get(self.record.len())
                        .map(|name| format!(" (column {name:?})"))
                        .unwrap_or_default();
                    let message = match fault {
                        QuoteFault::Unclosed => format!(
                            "the double quote (\") that opens a value here{column} is never \
                             closed, so the rest of the file would become part of this value; \
                             add the closing quote (a quote inside a quoted value is written \
                             twice: \"\")"
                        ),
                        QuoteFault::TextAfterClose {
                            newlines_after_open,
                            found,
                            ..
                        } => {
                            let closes = match newlines_after_open {
                                0 => "on this line".to_owned(),
                                n => format!("on line {}", line + n),
                            };
                            format!(
                                "the double quote (\") that opens a value here{column} closes \
                                 {closes}, but is followed by {} instead of a delimiter or the \
                                 end of the line; most likely a closing quote is missing, or a \
                                 quote inside the value is not written twice (\"\")",
                                describe_byte(found)
                            )
                        }
                    };
                    // After a quote that truly closes the value, the rest of its line is
                    // part of the broken row; after one that opens a later row's value,
                    // that row starts on the line after the opening quote.
                    let resume_at = match fault {
                        QuoteFault::TextAfterClose {
                            close_at,
                            opens_a_field: false,
                            ..
                        } => close_at,
                        _ => quote_at,
                    };
                    self.resync_after(resume_at);
                    return Ok(Found::Bad(RowError::new(line, message)));
                }
            }
        }
    }

    /// Continues at the line after the one holding `buf[start + offset]`: after a broken
    /// quote, the next line is the best guess at where the next row starts.
    fn resync_after(&mut self, offset: usize) {
        let from = self.start + offset;
        match memchr(b'\n', &self.buf[from..self.end]) {
            Some(at) => {
                let next = from + at + 1;
                self.line += memchr_iter(b'\n', &self.buf[self.start..next]).count() as u64;
                self.start = next;
            }
            None => {
                self.line += memchr_iter(b'\n', &self.buf[self.start..self.end]).count() as u64;
                self.start = self.end;
                self.skipping_line = true;
            }
        }
    }

    fn skip_rest_of_line(&mut self) -> Result<(), InputError> {
        match memchr(b'\n', &self.buf[self.start..self.end]) {
            Some(at) => {
                self.start += at + 1;
                self.line += 1;
                self.skipping_line = false;
            }
            None if self.at_eof => {
                self.start = self.end;
                self.skipping_line = false;
            }
            None => {
                self.start = self.end;
                self.fill()?;
            }
        }
        Ok(())
    }

    /// Moves the unused bytes to the front, grows the buffer if a record fills it, and reads.
    fn fill(&mut self) -> Result<(), InputError> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            let grown = (self.buf.len() * 2).min(MAX_RECORD_BYTES + INITIAL_BUFFER);
            self.buf.resize(grown, 0);
        }
        // Until the buffer is full: a pipe hands over 64 KiB at a time, and every return
        // here means scanning a long record again from its start.
        while !self.at_eof && self.end < self.buf.len() {
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(0) => self.at_eof = true,
                Ok(read) => self.end += read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    let mut error = InputError::io(&self.source, "cannot read", &error);
                    error.line = Some(self.line);
                    return Err(error);
                }
            }
        }
        Ok(())
    }
}

/// Excel's delimiter line, `sep=;` (any case, one character after `=`), at the start of
/// `head`: the delimiter and the line's length with its line end.
fn sep_line(head: &[u8]) -> Option<(u8, usize)> {
    let (line, len) = match memchr(b'\n', head) {
        Some(at) => (&head[..at], at + 1),
        None => (head, head.len()),
    };
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    match line {
        [s, e, p, b'=', delimiter] if [*s, *e, *p].eq_ignore_ascii_case(b"sep") => {
            Some((*delimiter, len))
        }
        _ => None,
    }
}

fn describe_byte(byte: u8) -> String {
    match byte {
        b' ' => "a space".to_owned(),
        b'\t' => "a tab".to_owned(),
        b'\r' => "a lone carriage return".to_owned(),
        byte if byte.is_ascii_graphic() => format!("'{}'", byte as char),
        byte => format!("byte 0x{byte:02X}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every step as `Ok((line, ticket_id, message))` or `Err(line)`.
    fn steps(bytes: Vec<u8>) -> Vec<Result<(u64, String, String), u64>> {
        let mut records = CsvRecords::open(
            Box::new(io::Cursor::new(bytes)),
            "t.csv".into(),
            None,
            MessageColumn::Required,
        )
        .unwrap();
        let mut out = Vec::new();
        loop {
            match records.advance().unwrap() {
                Step::Row(row) => out.push(Ok((
                    row.line,
                    row.ticket_id.to_owned(),
                    row.message.to_owned(),
                ))),
                Step::Bad(error) => out.push(Err(error.line)),
                Step::End => return out,
            }
        }
    }

    #[test]
    fn lines_count_physical_lines_across_quoted_breaks_and_blank_lines() {
        let got = steps(
            b"\xEF\xBB\xBF\r\nticketId;message\r\n\r\ntic_a;\"one\r\ntwo\"\r\n;\r\ntic_b;three"
                .to_vec(),
        );
        assert_eq!(
            got,
            [
                Ok((4, "tic_a".into(), "one\r\ntwo".into())),
                Ok((7, "tic_b".into(), "three".into())),
            ]
        );
    }

    #[test]
    fn text_after_a_closing_quote_is_one_error_and_the_next_row_is_read() {
        // Issue 17: the quote opened on line 2 closes on line 3, followed by `x`; line 3 is
        // the rest of that broken row, not a row of its own.
        assert_eq!(
            steps(b"ticketId,message\ntic_a1,\"<p>Hello\nworld</p>\"x\ntic_b2,ok\n".to_vec()),
            [Err(2), Ok((4, "tic_b2".into(), "ok".into()))]
        );
        // A quote that opens the next row's value still leaves that row to be read.
        assert_eq!(
            steps(b"ticketId,message\ntic_a1,\"Hello\ntic_b2,\"World\"\n".to_vec()),
            [Err(2), Ok((3, "tic_b2".into(), "World".into()))]
        );
    }

    #[test]
    fn a_long_record_from_a_pipe_is_scanned_in_few_passes() {
        /// Hands over at most 64 KiB per read, as a pipe does, and counts the reads.
        struct Pipe(io::Cursor<Vec<u8>>);
        impl Read for Pipe {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let len = buf.len().min(64 * 1024);
                self.0.read(&mut buf[..len])
            }
        }
        let mut bytes = b"ticketId,message\ntic_a1,\"".to_vec();
        bytes.resize(bytes.len() + 14_000_000, b'x');
        bytes.extend(b"\"\n");
        let mut records = CsvRecords::open(
            Box::new(Pipe(io::Cursor::new(bytes))),
            "t.csv".into(),
            None,
            MessageColumn::Required,
        )
        .unwrap();
        // Every read fills the buffer: the record is scanned again only when the buffer
        // doubles (7 times for 14 MB), not after every 64 KiB (over 200 times, 1.36 s).
        assert_eq!(records.end, records.buf.len());
        match records.advance().unwrap() {
            Step::Row(row) => assert_eq!(row.message.len(), 14_000_000),
            _ => panic!("expected the row"),
        }
    }

    #[test]
    fn an_endless_row_is_cut_off_and_reading_goes_on() {
        let mut bytes = b"ticketId,message\ntic_a,\"".to_vec();
        bytes.resize(bytes.len() + MAX_RECORD_BYTES + 10, b'x');
        bytes.extend(b"\ntic_b,fine\n");
        assert_eq!(
            steps(bytes),
            [Err(2), Ok((3, "tic_b".into(), "fine".into()))]
        );
    }

    #[test]
    fn an_excel_sep_line_names_the_delimiter() {
        assert_eq!(
            steps(b"sep=;\r\nticketId;message\r\ntic_a;x,y\r\n".to_vec()),
            [Ok((3, "tic_a".into(), "x,y".into()))]
        );
        assert_eq!(sep_line(b"SEP=|"), Some((b'|', 5)));
        assert_eq!(sep_line(b"sep=;;\n"), None);
        assert_eq!(sep_line(b"ticketId,message\n"), None);
    }

    #[test]
    fn a_double_byte_order_mark_is_not_part_of_the_first_name() {
        let records = CsvRecords::open(
            Box::new(&b"\xEF\xBB\xBF\xEF\xBB\xBFticketId,message\n"[..]),
            "t.csv".into(),
            None,
            MessageColumn::Required,
        )
        .unwrap();
        assert_eq!(records.header().1, ["ticketId", "message"]);
    }

    #[test]
    fn a_header_that_is_not_utf8_or_empty_is_refused() {
        let open = |bytes: &'static [u8]| {
            CsvRecords::open(
                Box::new(bytes),
                "t.csv".into(),
                None,
                MessageColumn::Required,
            )
            .err()
            .map(|e| e.message)
        };
        let not_utf8 = open(b"ticketId,m\xe9ssage\n").unwrap();
        assert!(not_utf8.contains("not UTF-8"), "{not_utf8}");
        assert!(not_utf8.contains("--encoding windows-1252"), "{not_utf8}");
        assert!(open(b"\n\n").unwrap().contains("the file is empty"));
        assert!(open(b"ticketId,message").is_none());
    }
}
