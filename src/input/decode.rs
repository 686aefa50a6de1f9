//! The bytes of a text input (CSV or NDJSON) made into what the readers expect: UTF-8 with
//! line feeds. Spreadsheet programs export text in other shapes, and each is taken as it is
//! rather than refused:
//! - a UTF-16 byte-order mark (Excel's "Unicode text") is followed: it is unambiguous;
//! - `--encoding` names any other encoding (Windows-1252 is Excel's "CSV" in Western
//!   Europe); without it the input must be UTF-8, and the readers explain when it is not;
//! - a file whose first line ends in a carriage return alone (classic Mac OS, and some
//!   exports still) has its line ends made line feeds.
//!
//! Everything streams through small buffers: memory stays flat whatever the input size.

use std::io::{self, Cursor, Read};

use encoding_rs::{Decoder, DecoderResult, Encoding, UTF_8};

/// How many bytes are looked at to decide: enough for a byte-order mark and a header line.
const LOOK_AHEAD: u64 = 64 * 1024;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// `input` as UTF-8 bytes (or as it is, when it needs no decoding: the readers check that it
/// is UTF-8), with lone carriage returns turned into line feeds when the input uses them as
/// line ends.
pub(crate) fn text_input(
    input: Box<dyn Read + Send>,
    encoding: Option<&'static Encoding>,
) -> io::Result<Box<dyn Read + Send>> {
    let (head, input) = peek(input)?;
    let encoding = match Encoding::for_bom(&head) {
        // A byte-order mark says what the file is; it outranks --encoding.
        Some((bom_encoding, _)) => bom_encoding,
        None => encoding.unwrap_or(UTF_8),
    };
    // UTF-8 goes to the readers unchanged: they report bad bytes on their line.
    let decoded: Box<dyn Read + Send> = if encoding == UTF_8 {
        input
    } else {
        Box::new(DecodingReader::new(input, encoding))
    };
    let (head, decoded) = peek(decoded)?;
    Ok(if lone_cr_ends_first_line(&head) {
        Box::new(CrLineEnds::new(decoded))
    } else {
        decoded
    })
}

/// Reads up to [`LOOK_AHEAD`] bytes and puts them back in front of the rest.
fn peek(mut input: Box<dyn Read + Send>) -> io::Result<(Vec<u8>, Box<dyn Read + Send>)> {
    let mut head = Vec::new();
    (&mut input).take(LOOK_AHEAD).read_to_end(&mut head)?;
    Ok((head.clone(), Box::new(Cursor::new(head).chain(input))))
}

/// Whether the first line break is a carriage return not followed by a line feed. One look
/// at the first line decides for the whole file: a file that mixes line ends is rare, and
/// a lone CR inside a CRLF file's quoted value is text, not a line end.
fn lone_cr_ends_first_line(head: &[u8]) -> bool {
    let mut head = head;
    while let Some(rest) = head.strip_prefix(UTF8_BOM) {
        head = rest;
    }
    match memchr::memchr2(b'\r', b'\n', head) {
        Some(at) if head[at] == b'\r' => match head.get(at + 1) {
            Some(&next) => next != b'\n',
            // The head ends with this CR: a one-line file or a cut look-ahead; either way a
            // CR with nothing after it says nothing, and it is read as the end of a line.
            None => false,
        },
        _ => false,
    }
}

/// Decodes any encoding into UTF-8, refusing bytes that are not valid in it (a stray byte
/// in UTF-16): a replacement character must never reach a customer.
struct DecodingReader {
    input: Box<dyn Read + Send>,
    decoder: Decoder,
    encoding: &'static Encoding,
    raw: Vec<u8>,
    raw_range: std::ops::Range<usize>,
    /// Input bytes decoded so far, for errors.
    consumed: u64,
    at_eof: bool,
    /// The decoder has seen the end (or an error): it must not be called again.
    finished: bool,
    decoded: Vec<u8>,
    decoded_range: std::ops::Range<usize>,
}

impl DecodingReader {
    const CHUNK: usize = 64 * 1024;

    fn new(input: Box<dyn Read + Send>, encoding: &'static Encoding) -> Self {
        DecodingReader {
            input,
            // The BOM (if any) is consumed by the decoder, so no reader ever sees it.
            decoder: encoding.new_decoder_with_bom_removal(),
            encoding,
            raw: vec![0; Self::CHUNK],
            raw_range: 0..0,
            consumed: 0,
            at_eof: false,
            finished: false,
            // Any encoding's UTF-8 is at most three bytes per input byte.
            decoded: vec![0; Self::CHUNK * 3 + 16],
            decoded_range: 0..0,
        }
    }

    /// Decodes the next chunk into `decoded`; leaves it empty only at the end.
    fn decode_more(&mut self) -> io::Result<()> {
        while !self.finished {
            if self.raw_range.is_empty() && !self.at_eof {
                let read = loop {
                    match self.input.read(&mut self.raw) {
                        Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                        other => break other?,
                    }
                };
                self.raw_range = 0..read;
                self.at_eof = read == 0;
            }
            let (result, read, written) = self.decoder.decode_to_utf8_without_replacement(
                &self.raw[self.raw_range.clone()],
                &mut self.decoded,
                self.at_eof,
            );
            self.raw_range.start += read;
            self.consumed += read as u64;
            self.decoded_range = 0..written;
            if let DecoderResult::Malformed(bad, after) = result {
                self.finished = true;
                let at = self.consumed - u64::from(bad) - u64::from(after);
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "byte {at} of the file is not valid {} text; check --encoding, or save \
                         the file as \"CSV UTF-8\"",
                        self.encoding.name()
                    ),
                ));
            }
            self.finished = self.at_eof && result == DecoderResult::InputEmpty;
            if written > 0 {
                return Ok(());
            }
        }
        Ok(())
    }
}

impl Read for DecodingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.decoded_range.is_empty() {
            self.decode_more()?;
        }
        let available = &self.decoded[self.decoded_range.clone()];
        let count = available.len().min(buf.len());
        buf[..count].copy_from_slice(&available[..count]);
        self.decoded_range.start += count;
        Ok(count)
    }
}

/// Makes every line end a line feed: CR LF and a lone CR alike, so that a file whose lines
/// end in CR reads as lines, with the same line numbers.
struct CrLineEnds {
    input: Box<dyn Read + Send>,
    /// The last byte read was a CR (already given out as LF): a LF right after it is the
    /// same line end.
    after_cr: bool,
}

impl CrLineEnds {
    fn new(input: Box<dyn Read + Send>) -> Self {
        CrLineEnds {
            input,
            after_cr: false,
        }
    }
}

impl Read for CrLineEnds {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let read = self.input.read(buf)?;
            if read == 0 {
                return Ok(0);
            }
            let mut kept = 0;
            for at in 0..read {
                let byte = buf[at];
                if byte == b'\n' && self.after_cr {
                    self.after_cr = false;
                    continue;
                }
                self.after_cr = byte == b'\r';
                buf[kept] = if self.after_cr { b'\n' } else { byte };
                kept += 1;
            }
            if kept > 0 {
                return Ok(kept);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(bytes: &'static [u8], encoding: Option<&'static Encoding>) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        text_input(Box::new(bytes), encoding)?.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn utf8_passes_unchanged() {
        let bytes = b"\xEF\xBB\xBFticketId,message\r\ntic_a,caf\xC3\xA9\n";
        assert_eq!(decoded(bytes, None).unwrap(), bytes);
        // Bytes that are not UTF-8 are left for the readers to report on their line.
        assert_eq!(decoded(b"a,\xE9\n", None).unwrap(), b"a,\xE9\n");
    }

    #[test]
    fn a_utf16_byte_order_mark_is_followed() {
        let le = b"\xFF\xFEt\0i\0,\0\xE9\0\r\0\n\0";
        assert_eq!(decoded(le, None).unwrap(), "ti,é\r\n".as_bytes());
        let be = b"\xFE\xFF\0t\0i\0,\0\xE9\0\n";
        assert_eq!(decoded(be, None).unwrap(), "ti,é\n".as_bytes());
        // Even against --encoding: the mark is unambiguous.
        assert_eq!(
            decoded(le, Some(encoding_rs::WINDOWS_1252)).unwrap(),
            "ti,é\r\n".as_bytes()
        );
    }

    #[test]
    fn a_named_encoding_is_decoded() {
        assert_eq!(
            decoded(b"caf\xE9 \x80\n", Some(encoding_rs::WINDOWS_1252)).unwrap(),
            "café €\n".as_bytes()
        );
        assert_eq!(
            decoded(b"t\0i\0\n\0", Some(encoding_rs::UTF_16LE)).unwrap(),
            b"ti\n"
        );
    }

    #[test]
    fn bytes_invalid_in_the_encoding_are_refused_with_their_offset() {
        // An unpaired surrogate in UTF-16LE, at bytes 2 and 3 (after the mark).
        let error = decoded(b"\xFF\xFEa\0\x00\xD8b\0", None).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(error.to_string().contains("UTF-16LE"), "{error}");
    }

    #[test]
    fn lone_carriage_returns_become_line_feeds() {
        // The bytes of the issue: a classic-Mac file.
        assert_eq!(
            decoded(b"ticketId,name\rtic_abc1,Jan\r", None).unwrap(),
            b"ticketId,name\ntic_abc1,Jan\n"
        );
        // CRLF stays one line end in such a file.
        assert_eq!(decoded(b"a\rb\r\nc\r", None).unwrap(), b"a\nb\nc\n");
        // A CRLF file is left alone, a CR inside a value included.
        assert_eq!(
            decoded(b"a\r\n\"b\rc\"\r\n", None).unwrap(),
            b"a\r\n\"b\rc\"\r\n"
        );
    }

    #[test]
    fn line_ends_are_translated_across_reads() {
        let mut reader =
            CrLineEnds::new(Box::new(io::BufReader::with_capacity(1, &b"a\r\nb\rc"[..])));
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"a\nb\nc");
    }
}
