//! Cutting one CSV record out of a buffer: RFC 4180 with LF or CRLF, quoted fields holding
//! delimiters, line breaks and doubled quotes.
//!
//! Why not the `csv` crate's reader: it is lenient where we must be strict. An unclosed quote
//! makes it read to the end of the file as one field, and `"abc"def` is silently accepted as
//! `abcdef`; either way a forgotten quote turns the rest of a file into one message to one
//! customer. This scanner reports both, with the line where the quote opened, and counts
//! physical lines exactly. It writes what the `csv` writer reads back identically (a property
//! test holds it to that).

use memchr::memchr2;

/// The fields of one record, unescaped, in one reused allocation (like `csv::ByteRecord`).
#[derive(Debug, Default)]
pub(crate) struct RecordBuf {
    data: Vec<u8>,
    ends: Vec<usize>,
}

impl RecordBuf {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The byte range of field `index` inside [`RecordBuf::data`].
    pub fn range(&self, index: usize) -> std::ops::Range<usize> {
        let start = if index == 0 { 0 } else { self.ends[index - 1] };
        start..self.ends[index]
    }

    pub fn field(&self, index: usize) -> &[u8] {
        &self.data[self.range(index)]
    }

    /// The index of the field that holds byte `offset` of the data.
    pub fn field_at(&self, offset: usize) -> usize {
        self.ends.partition_point(|&end| end <= offset)
    }

    fn clear(&mut self) {
        self.data.clear();
        self.ends.clear();
    }

    fn end_field(&mut self) {
        self.ends.push(self.data.len());
    }
}

/// What [`scan_record`] found at the start of its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scan {
    /// A record: its fields are in the `RecordBuf`. `len` bytes were used, the line
    /// terminator included; `newlines` line breaks were crossed.
    Record { len: usize, newlines: u64 },
    /// An empty line of `len` bytes.
    Blank { len: usize },
    /// The input ends inside the record: give more bytes, or say it is the end.
    NeedMore,
    /// Nothing left at all.
    End,
    /// A quoted field is broken. `quote_at` is the offset of its opening quote,
    /// `quote_newlines` the line breaks before it in the record.
    BadQuote {
        quote_at: usize,
        quote_newlines: u64,
        fault: QuoteFault,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QuoteFault {
    /// The closing quote never comes.
    Unclosed,
    /// A closing quote, `newlines_after_open` lines after the opening one, is followed by
    /// `found` instead of a delimiter or the end of the line.
    TextAfterClose { newlines_after_open: u64, found: u8 },
}

/// Scans one record at the start of `input`. `at_eof` says that no more bytes follow, so a
/// record may end without a line break.
pub(crate) fn scan_record(input: &[u8], at_eof: bool, delimiter: u8, out: &mut RecordBuf) -> Scan {
    out.clear();
    match input {
        [] if at_eof => return Scan::End,
        [] => return Scan::NeedMore,
        [b'\n', ..] => return Scan::Blank { len: 1 },
        [b'\r', b'\n', ..] => return Scan::Blank { len: 2 },
        [b'\r'] if !at_eof => return Scan::NeedMore,
        [b'\r'] => return Scan::Blank { len: 1 },
        _ => {}
    }
    let mut at = 0;
    let mut newlines = 0;
    loop {
        if input.get(at) == Some(&b'"') {
            let quote_at = at;
            let quote_newlines = newlines;
            at += 1;
            // Inside quotes: copy up to each quote, counting line breaks on the way, then
            // decide what that quote was.
            loop {
                let Some(offset) = memchr2(b'"', b'\n', &input[at..]) else {
                    return if at_eof {
                        Scan::BadQuote {
                            quote_at,
                            quote_newlines,
                            fault: QuoteFault::Unclosed,
                        }
                    } else {
                        Scan::NeedMore
                    };
                };
                out.data.extend_from_slice(&input[at..=at + offset]);
                at += offset + 1;
                if input[at - 1] == b'\n' {
                    newlines += 1;
                    continue;
                }
                out.data.pop(); // the quote itself
                let after = input.get(at).copied();
                match after {
                    Some(b'"') => {
                        out.data.push(b'"');
                        at += 1;
                    }
                    Some(byte) if byte == delimiter => {
                        out.end_field();
                        at += 1;
                        break;
                    }
                    Some(b'\n') => {
                        out.end_field();
                        return Scan::Record {
                            len: at + 1,
                            newlines: newlines + 1,
                        };
                    }
                    Some(b'\r') if input.get(at + 1) == Some(&b'\n') => {
                        out.end_field();
                        return Scan::Record {
                            len: at + 2,
                            newlines: newlines + 1,
                        };
                    }
                    Some(b'\r') if at + 1 == input.len() && !at_eof => return Scan::NeedMore,
                    Some(b'\r') if at + 1 == input.len() => {
                        out.end_field();
                        return Scan::Record {
                            len: at + 1,
                            newlines,
                        };
                    }
                    None if !at_eof => return Scan::NeedMore,
                    None => {
                        out.end_field();
                        return Scan::Record { len: at, newlines };
                    }
                    Some(found) => {
                        return Scan::BadQuote {
                            quote_at,
                            quote_newlines,
                            fault: QuoteFault::TextAfterClose {
                                newlines_after_open: newlines - quote_newlines,
                                found,
                            },
                        };
                    }
                }
            }
        } else {
            // Unquoted: the field runs to the next delimiter or line break. A quote inside it
            // is an ordinary character (`5" screen`), as Excel and the csv crate agree.
            match memchr2(delimiter, b'\n', &input[at..]) {
                Some(offset) => {
                    let end = at + offset;
                    if input[end] == b'\n' {
                        let field_end = if end > at && input[end - 1] == b'\r' {
                            end - 1
                        } else {
                            end
                        };
                        out.data.extend_from_slice(&input[at..field_end]);
                        out.end_field();
                        return Scan::Record {
                            len: end + 1,
                            newlines: newlines + 1,
                        };
                    }
                    out.data.extend_from_slice(&input[at..end]);
                    out.end_field();
                    at = end + 1;
                }
                None if !at_eof => return Scan::NeedMore,
                None => {
                    let rest = &input[at..];
                    let rest = rest.strip_suffix(b"\r").unwrap_or(rest);
                    out.data.extend_from_slice(rest);
                    out.end_field();
                    return Scan::Record {
                        len: input.len(),
                        newlines,
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(input: &str, at_eof: bool) -> (Scan, Vec<String>) {
        let mut out = RecordBuf::default();
        let scan = scan_record(input.as_bytes(), at_eof, b',', &mut out);
        let fields = (0..out.len())
            .map(|i| String::from_utf8(out.field(i).to_vec()).unwrap())
            .collect();
        (scan, fields)
    }

    #[test]
    fn plain_fields_with_lf_crlf_and_eof() {
        assert_eq!(
            fields("a,b\nrest", false),
            (
                Scan::Record {
                    len: 4,
                    newlines: 1
                },
                vec!["a".into(), "b".into()]
            )
        );
        assert_eq!(
            fields("a,b\r\n", false),
            (
                Scan::Record {
                    len: 5,
                    newlines: 1
                },
                vec!["a".into(), "b".into()]
            )
        );
        assert_eq!(
            fields("a,", true),
            (
                Scan::Record {
                    len: 2,
                    newlines: 0
                },
                vec!["a".into(), "".into()]
            )
        );
        assert_eq!(fields("a,b", false).0, Scan::NeedMore);
    }

    #[test]
    fn quoted_fields_hold_delimiters_breaks_and_doubled_quotes() {
        let (scan, got) = fields("\"a,b\",\"line 1\r\nline \"\"2\"\"\"\r\nnext", false);
        assert_eq!(
            scan,
            Scan::Record {
                len: 28,
                newlines: 2
            }
        );
        assert_eq!(got, vec!["a,b", "line 1\r\nline \"2\""]);
    }

    #[test]
    fn a_quote_inside_an_unquoted_field_is_kept() {
        assert_eq!(fields("5\" screen,x\n", false).1, vec!["5\" screen", "x"]);
    }

    #[test]
    fn blank_lines_and_the_end() {
        assert_eq!(fields("\n", false).0, Scan::Blank { len: 1 });
        assert_eq!(fields("\r\nx", false).0, Scan::Blank { len: 2 });
        assert_eq!(fields("", true).0, Scan::End);
        assert_eq!(fields("", false).0, Scan::NeedMore);
    }

    #[test]
    fn an_unclosed_quote_is_reported_where_it_opens() {
        assert_eq!(
            fields("a,\"b\nc\nd", true).0,
            Scan::BadQuote {
                quote_at: 2,
                quote_newlines: 0,
                fault: QuoteFault::Unclosed
            }
        );
        assert_eq!(fields("a,\"b\nc\nd", false).0, Scan::NeedMore);
    }

    #[test]
    fn text_after_a_closing_quote_is_reported() {
        // The quote on the first line is never closed; the one on the second line "closes" it.
        assert_eq!(
            fields("tic_1,\"Hello\ntic_2,\"World\"\n", false).0,
            Scan::BadQuote {
                quote_at: 6,
                quote_newlines: 0,
                fault: QuoteFault::TextAfterClose {
                    newlines_after_open: 1,
                    found: b'W'
                }
            }
        );
    }
}
