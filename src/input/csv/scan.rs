//! Cutting one CSV record out of a buffer: RFC 4180 with LF or CRLF, quoted fields holding
//! delimiters, line breaks and doubled quotes.
//!
//! Why not the `csv` crate's reader: it is lenient where we must be strict. An unclosed quote
//! makes it read to the end of the file as one field, and `"abc"def` is silently accepted as
//! `abcdef`; either way a forgotten quote turns the rest of a file into one message to one
//! customer. This scanner reports both, with the line where the quote opened, and counts
//! physical lines exactly. It writes what the `csv` writer reads back identically (a property
//! test holds it to that).

use std::ops::Range;

use memchr::memchr2;

/// Where the fields of one record are. Most fields are read in place, straight from the
/// input (a quoted field is in place too unless it holds doubled quotes); only those with
/// doubled quotes are unescaped into a reused buffer. No copy on the hot path.
#[derive(Debug, Default)]
pub(crate) struct RecordBuf {
    fields: Vec<Field>,
    unescaped: Vec<u8>,
}

#[derive(Debug, Clone)]
struct Field {
    /// The field's text in the record's input: between the quotes when quoted.
    raw: Range<usize>,
    /// Its unescaped copy in `RecordBuf::unescaped`, if it had doubled quotes.
    unescaped: Option<Range<usize>>,
}

impl RecordBuf {
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Field `index`, given the record's input (what [`scan_record`] was given).
    pub fn field<'a>(&'a self, record: &'a [u8], index: usize) -> &'a [u8] {
        let field = &self.fields[index];
        match &field.unescaped {
            Some(range) => &self.unescaped[range.clone()],
            None => &record[field.raw.clone()],
        }
    }

    /// Field `index` as text, given the record's input already checked as UTF-8. Fields
    /// start and end at ASCII delimiters and quotes, so slicing cannot split a character;
    /// removing one quote of each doubled pair keeps an unescaped copy valid too.
    pub fn text<'a>(&'a self, record: &'a str, index: usize) -> &'a str {
        let field = &self.fields[index];
        match &field.unescaped {
            Some(range) => std::str::from_utf8(&self.unescaped[range.clone()]).unwrap_or(""),
            None => &record[field.raw.clone()],
        }
    }

    /// The index of the field at byte `offset` of the record's input (a delimiter or quote
    /// counts to the field after it).
    pub fn field_at(&self, offset: usize) -> usize {
        self.fields
            .partition_point(|field| field.raw.end <= offset)
            .min(self.fields.len().saturating_sub(1))
    }

    fn clear(&mut self) {
        self.fields.clear();
        self.unescaped.clear();
    }

    fn push_raw(&mut self, raw: Range<usize>) {
        self.fields.push(Field {
            raw,
            unescaped: None,
        });
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
    /// A closing quote, `newlines_after_open` lines after the opening one and at offset
    /// `close_at`, is followed by `found` instead of a delimiter or the end of the line.
    /// `opens_a_field` says the quote stands where a field starts (after a delimiter or at
    /// a line start): then it is more likely the opening quote of a later row than the
    /// closing one of this value.
    TextAfterClose {
        newlines_after_open: u64,
        found: u8,
        close_at: usize,
        opens_a_field: bool,
    },
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
        // `tic_1, "<p>Hi</p>"`: a space after the delimiter does not make the quotes text.
        // Spaces are kept when no quote follows (` plain` is a value with a space).
        if delimiter != b' ' {
            let spaces = input[at..].iter().take_while(|&&b| b == b' ').count();
            match input.get(at + spaces) {
                Some(b'"') => at += spaces,
                None if spaces > 0 && !at_eof => return Scan::NeedMore,
                _ => {}
            }
        }
        if input.get(at) == Some(&b'"') {
            let quote_at = at;
            let quote_newlines = newlines;
            at += 1;
            let content = at;
            // Set at the first doubled quote: from then on the field is copied, unescaped.
            let mut unescaped_from: Option<usize> = None;
            let mut copied_to = content;
            // Inside quotes: jump from quote to quote, counting line breaks on the way.
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
                let found = at + offset;
                at = found + 1;
                if input[found] == b'\n' {
                    newlines += 1;
                    continue;
                }
                let after = input.get(at).copied();
                let ends_record = match after {
                    Some(b'"') => {
                        unescaped_from.get_or_insert(out.unescaped.len());
                        out.unescaped.extend_from_slice(&input[copied_to..at]);
                        at += 1;
                        copied_to = at;
                        continue;
                    }
                    Some(byte) if byte == delimiter => None,
                    Some(b'\n') => Some(at + 1),
                    Some(b'\r') if input.get(at + 1) == Some(&b'\n') => Some(at + 2),
                    Some(b'\r') if at + 1 == input.len() && !at_eof => return Scan::NeedMore,
                    Some(b'\r') if at + 1 == input.len() => Some(at + 1),
                    None if !at_eof => return Scan::NeedMore,
                    None => Some(at),
                    Some(found) => {
                        let close_at = at - 1;
                        let before = input[close_at - 1];
                        return Scan::BadQuote {
                            quote_at,
                            quote_newlines,
                            fault: QuoteFault::TextAfterClose {
                                newlines_after_open: newlines - quote_newlines,
                                found,
                                close_at,
                                opens_a_field: close_at - 1 != quote_at
                                    && (before == delimiter || before == b'\n'),
                            },
                        };
                    }
                };
                let unescaped = unescaped_from.map(|from| {
                    out.unescaped.extend_from_slice(&input[copied_to..found]);
                    from..out.unescaped.len()
                });
                out.fields.push(Field {
                    raw: content..found,
                    unescaped,
                });
                match ends_record {
                    None => {
                        at += 1;
                        break;
                    }
                    Some(len) => {
                        let newlines = newlines + u64::from(input[len - 1] == b'\n');
                        return Scan::Record { len, newlines };
                    }
                }
            }
        } else {
            // Unquoted: the field runs to the next delimiter or line break. A quote inside it
            // is an ordinary character (`5" screen`), as Excel and the csv crate agree.
            match find_field_end(&input[at..], delimiter) {
                Some(offset) => {
                    let end = at + offset;
                    if input[end] == b'\n' {
                        let field_end = if end > at && input[end - 1] == b'\r' {
                            end - 1
                        } else {
                            end
                        };
                        out.push_raw(at..field_end);
                        return Scan::Record {
                            len: end + 1,
                            newlines: newlines + 1,
                        };
                    }
                    out.push_raw(at..end);
                    at = end + 1;
                }
                None if !at_eof => return Scan::NeedMore,
                None => {
                    let end = if input.ends_with(b"\r") {
                        input.len() - 1
                    } else {
                        input.len()
                    };
                    out.push_raw(at..end.max(at));
                    return Scan::Record {
                        len: input.len(),
                        newlines,
                    };
                }
            }
        }
    }
}

/// The first delimiter or line feed. Most unquoted fields are short ids and names, where a
/// plain loop over the first bytes beats setting up a vectorised search.
fn find_field_end(text: &[u8], delimiter: u8) -> Option<usize> {
    const SHORT: usize = 32;
    let head = &text[..text.len().min(SHORT)];
    match head.iter().position(|&b| b == delimiter || b == b'\n') {
        Some(at) => Some(at),
        None if text.len() <= SHORT => None,
        None => memchr2(delimiter, b'\n', &text[SHORT..]).map(|at| at + SHORT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(input: &str, at_eof: bool) -> (Scan, Vec<String>) {
        let mut out = RecordBuf::default();
        let scan = scan_record(input.as_bytes(), at_eof, b',', &mut out);
        let fields = (0..out.len())
            .map(|i| String::from_utf8(out.field(input.as_bytes(), i).to_vec()).unwrap())
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
                    found: b'W',
                    close_at: 19,
                    opens_a_field: true,
                }
            }
        );
    }

    #[test]
    fn a_space_before_an_opening_quote_is_not_part_of_the_value() {
        // The bytes of issue 17, with and without a comma inside the quotes.
        assert_eq!(
            fields("tic_x1, \"<p>Hello</p>\"\n", false).1,
            vec!["tic_x1", "<p>Hello</p>"]
        );
        assert_eq!(
            fields("tic_x1,  \"<p>Hello, world</p>\"\n", false).1,
            vec!["tic_x1", "<p>Hello, world</p>"]
        );
        // Spaces without a quote after them are the value's own.
        assert_eq!(fields("a, b\n", false).1, vec!["a", " b"]);
        assert_eq!(fields("a,  ", false).0, Scan::NeedMore);
    }
}
