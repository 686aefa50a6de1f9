//! The NDJSON reader: one JSON object per line with string fields `ticketId` and `message`.
//! Blank lines are skipped, CRLF is accepted, other fields are kept in file order.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read};

use memchr::memchr;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::columns::{self, MessageColumn, Positions};
use super::csv::MAX_RECORD_BYTES;
use super::row::{InputError, Row, RowError, RowView, Step, quote_value};

pub(crate) struct NdjsonRecords {
    input: BufReader<Box<dyn Read + Send>>,
    source: String,
    message_column: MessageColumn,
    line_buf: Vec<u8>,
    line: u64,
    ticket_id: String,
    message: String,
    /// The other fields, in file order, as written.
    extra: Vec<(String, Box<RawValue>)>,
}

impl NdjsonRecords {
    pub(crate) fn new(
        input: Box<dyn Read + Send>,
        source: String,
        message_column: MessageColumn,
    ) -> Self {
        NdjsonRecords {
            input: BufReader::with_capacity(256 * 1024, input),
            source,
            message_column,
            line_buf: Vec::new(),
            line: 0,
            ticket_id: String::new(),
            message: String::new(),
            extra: Vec::new(),
        }
    }

    pub(crate) fn source(&self) -> &str {
        &self.source
    }

    pub(crate) fn advance(&mut self) -> Result<Step<'_>, InputError> {
        loop {
            self.line_buf.clear();
            let read = read_line_capped(&mut self.input, &mut self.line_buf, MAX_RECORD_BYTES)
                .map_err(|error| {
                    let mut error = InputError::io(&self.source, "cannot read", &error);
                    error.line = Some(self.line + 1);
                    error
                })?;
            match read {
                LineRead::End => return Ok(Step::End),
                LineRead::TooLong => {
                    self.line += 1;
                    return Ok(Step::Bad(RowError::new(
                        self.line,
                        format!(
                            "this line is longer than {} MiB",
                            MAX_RECORD_BYTES / (1024 * 1024)
                        ),
                    )));
                }
                LineRead::Line => self.line += 1,
            }
            if self.line_buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if self.line == 1 && looks_like_utf16(&self.line_buf) {
                // Every line would fail the same way: one error for the file says it.
                return Err(InputError::content(
                    &self.source,
                    Some(1),
                    "the file looks like UTF-16 text without a byte-order mark (every other \
                     byte is NUL): pass --encoding utf-16le (or utf-16be), or save it as UTF-8",
                ));
            }
            if let Err(message) = self.parse_line() {
                return Ok(Step::Bad(RowError::new(self.line, message)));
            }
            break;
        }
        Ok(Step::Row(RowView {
            line: self.line,
            ticket_id: &self.ticket_id,
            message: &self.message,
            composed: false,
        }))
    }

    /// Parses `line_buf`: the two required string fields, and the others kept aside.
    fn parse_line(&mut self) -> Result<(), String> {
        let mut bytes = self.line_buf.as_slice();
        if self.line == 1 {
            // A file saved twice by a tool that adds a byte-order mark has two.
            while let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
                bytes = rest;
            }
        }
        // Without its line end, so that an error at the end of the line is said to be there
        // rather than at "column 0" of a line after it.
        let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        if memchr(0, bytes).is_some() {
            return Err(
                "this line contains a NUL byte (character code 0): this is not plain \
                 text; save the file as UTF-8"
                    .to_owned(),
            );
        }
        let text = std::str::from_utf8(bytes).map_err(|error| {
            format!(
                "byte 0x{:02X} at column {} is not UTF-8 text; pass --encoding (windows-1252, \
                 say), or save the file as UTF-8",
                bytes[error.valid_up_to()],
                error.valid_up_to() + 1
            )
        })?;
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let mut fields = JsonObject::read(&mut deserializer)
            .and_then(|fields| deserializer.end().map(|()| fields))
            .map_err(|error| describe_json_error(&error, text))?;
        let names = fields.iter().map(|(name, _)| name.as_str());
        let Positions { ticket_id, message } =
            columns::locate(names, "field", self.message_column)?;
        // Take the later one out first so the earlier index stays right.
        let (ticket_id, message) = match message {
            Some(message) if ticket_id > message => {
                let ticket_id = fields.remove(ticket_id);
                (ticket_id, Some(fields.remove(message)))
            }
            Some(message) => {
                let message = fields.remove(message);
                (fields.remove(ticket_id), Some(message))
            }
            None => (fields.remove(ticket_id), None),
        };
        self.ticket_id = required_string(ticket_id)?;
        self.message = match message {
            Some(message) if self.message_column == MessageColumn::Required => {
                required_string(message)?
            }
            // Not sent (a template makes the message): kept only to warn that it is ignored.
            Some((_, value)) => value_text(&value),
            None => String::new(),
        };
        self.extra = fields;
        Ok(())
    }

    pub(crate) fn current_row(&self) -> Row {
        Row {
            line: self.line,
            ticket_id: self.ticket_id.trim().to_owned(),
            message: self.message.clone(),
            extra: self
                .extra
                .iter()
                .map(|(name, value)| (name.clone(), value_text(value)))
                .collect(),
        }
    }
}

/// ASCII text in UTF-16 is every other byte NUL: far more NULs than any text file has.
fn looks_like_utf16(line: &[u8]) -> bool {
    let nuls = memchr::memchr_iter(0, line).count();
    nuls >= 2 && nuls * 3 >= line.len()
}

/// A field's value as a template shows it: a string's text; JSON's "no value" (null) as
/// empty, never the word "null" in a customer's message; anything else exactly as written,
/// so a 30-digit number or `-0` is not rounded through a float.
fn value_text(value: &RawValue) -> String {
    let raw = value.get();
    match raw.as_bytes().first() {
        Some(b'"') => serde_json::from_str(raw).unwrap_or_else(|_| raw.to_owned()),
        _ if raw == "null" => String::new(),
        _ => raw.to_owned(),
    }
}

/// The value of `ticketId` or `message`: a string without NUL characters.
fn required_string((name, value): (String, Box<RawValue>)) -> Result<String, String> {
    let raw = value.get();
    let text: Option<String> = match raw.as_bytes().first() {
        Some(b'"') => serde_json::from_str(raw).ok(),
        _ => None,
    };
    match text {
        Some(text) if text.contains('\0') => Err(format!(
            "{name} contains a NUL character (\\u0000), which cannot be sent"
        )),
        Some(text) => Ok(text),
        None => Err(format!(
            "{name} must be a JSON string, but is {} ({}); put the value in double quotes",
            json_type(raw),
            quote_value(raw)
        )),
    }
}

/// What kind of JSON value `raw` (valid JSON, as written) is, for a person.
fn json_type(raw: &str) -> &'static str {
    match raw.as_bytes().first() {
        Some(b'n') => "null",
        Some(b't' | b'f') => "true/false",
        Some(b'"') => "a string",
        Some(b'[') => "a list",
        Some(b'{') => "an object",
        _ => "a number",
    }
}

/// serde_json says "… at line 1 column 7"; every NDJSON line is line 1 to it, so only the
/// column is worth keeping, in characters as an editor counts them.
fn describe_json_error(error: &serde_json::Error, text: &str) -> String {
    let full = error.to_string();
    let what = full
        .rsplit_once(" at line ")
        .map_or(full.as_str(), |(what, _)| what);
    let column = text
        .get(..error.column().min(text.len()))
        .map_or(error.column(), |before| before.chars().count());
    if column >= text.chars().count() {
        return format!("not a valid JSON object: {what} (at the end of the line)");
    }
    format!("not a valid JSON object: {what} (at column {column})")
}

/// A JSON object's members in file order (serde_json's `Map` would sort them).
struct JsonObject;

impl JsonObject {
    fn read<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<(String, Box<RawValue>)>, D::Error> {
        deserializer.deserialize_any(JsonObject)
    }
}

impl<'de> Visitor<'de> for JsonObject {
    type Value = Vec<(String, Box<RawValue>)>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("one JSON object per line, like {\"ticketId\": \"tic_…\", \"message\": \"…\"}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        // Values stay raw text: nothing is converted that is not used, so an unused field
        // holding 1e400, or nested a thousand deep, is no reason to refuse the row.
        let mut fields: Vec<(String, Box<RawValue>)> =
            Vec::with_capacity(map.size_hint().unwrap_or(2));
        while let Some((name, value)) = map.next_entry::<String, Box<RawValue>>()? {
            // A name given twice counts with its last value, as JSON parsers read it.
            match fields.iter_mut().find(|(known, _)| *known == name) {
                Some(field) => field.1 = value,
                None => fields.push((name, value)),
            }
        }
        Ok(fields)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(de::Error::custom(
            "found a JSON list; NDJSON needs one object per line (a JSON array file can be \
             converted with: jq -c '.[]' file.json)",
        ))
    }
}

enum LineRead {
    Line,
    TooLong,
    End,
}

/// Reads one line, with its `\n`, into `line`, holding at most `cap` bytes: a file without
/// line breaks must not fill memory.
fn read_line_capped(
    input: &mut impl BufRead,
    line: &mut Vec<u8>,
    cap: usize,
) -> io::Result<LineRead> {
    let mut read_any = false;
    let mut too_long = false;
    loop {
        let available = match input.fill_buf() {
            Ok(available) => available,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if available.is_empty() {
            return Ok(match (read_any, too_long) {
                (false, _) => LineRead::End,
                (true, true) => LineRead::TooLong,
                (true, false) => LineRead::Line,
            });
        }
        read_any = true;
        let (used, complete) = match memchr(b'\n', available) {
            Some(at) => (at + 1, true),
            None => (available.len(), false),
        };
        if !too_long {
            if line.len() + used > cap {
                too_long = true;
                line.clear();
            } else {
                line.extend_from_slice(&available[..used]);
            }
        }
        input.consume(used);
        if complete {
            return Ok(if too_long {
                LineRead::TooLong
            } else {
                LineRead::Line
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(text: &'static str) -> Vec<Result<Row, RowError>> {
        let mut records = NdjsonRecords::new(
            Box::new(text.as_bytes()),
            "t.ndjson".into(),
            MessageColumn::Required,
        );
        let mut out = Vec::new();
        loop {
            match records.advance().unwrap() {
                Step::Row(_) => out.push(Ok(records.current_row())),
                Step::Bad(error) => out.push(Err(error)),
                Step::End => return out,
            }
        }
    }

    #[test]
    fn reads_objects_keeping_other_fields_in_order() {
        let rows = steps(
            "\u{feff}{\"ticketId\":\" tic_a1 \",\"z\":1,\"message\":\"<p>Hi</p>\",\"a\":\"x\"}\r\n\n  \n\
             {\"message\":\"m\",\"ticket_id\":\"tic_b2\"}",
        );
        assert_eq!(
            rows,
            vec![
                Ok(Row {
                    line: 1,
                    ticket_id: "tic_a1".into(),
                    message: "<p>Hi</p>".into(),
                    extra: vec![("z".into(), "1".into()), ("a".into(), "x".into())],
                }),
                Ok(Row {
                    line: 4,
                    ticket_id: "tic_b2".into(),
                    message: "m".into(),
                    extra: vec![],
                }),
            ]
        );
    }

    fn error_of(text: &'static str) -> RowError {
        match steps(text).remove(0) {
            Err(error) => error,
            Ok(row) => panic!("expected an error, got {row:?}"),
        }
    }

    #[test]
    fn wrong_types_and_missing_fields_are_explained() {
        let error = error_of("\n{\"ticketId\":12345,\"message\":\"m\"}\n");
        assert_eq!(error.line, 2);
        assert!(
            error
                .message
                .contains("must be a JSON string, but is a number")
        );
        let error = error_of("{\"ticketId\":\"tic_a\",\"message\":null}");
        assert!(error.message.contains("is null"), "{}", error.message);
        let error = error_of("{\"ticketId\":\"tic_a\",\"text\":\"m\"}");
        assert!(
            error.message.contains("no message field"),
            "{}",
            error.message
        );
    }

    #[test]
    fn malformed_json_arrays_nul_and_bad_utf8_are_errors() {
        let error = error_of("{\"ticketId\":\"tic_a\",\"message\":\"m\"");
        assert!(
            error.message.starts_with("not a valid JSON object"),
            "{}",
            error.message
        );
        let error = error_of("[{\"ticketId\":\"tic_a\"}]");
        assert!(error.message.contains("jq -c"), "{}", error.message);
        let error = error_of("{\"ticketId\":\"tic_a\",\"message\":\"a\\u0000\"}");
        assert!(error.message.contains("NUL"), "{}", error.message);
        let error = error_of("{\"ticketId\":\"tic_a\",\"message\":\"caf\u{e9}\"} \0");
        assert!(error.message.contains("NUL"), "{}", error.message);
        let error = error_of("{\"a\":1} {\"b\":2}");
        assert!(error.message.contains("trailing"), "{}", error.message);
    }

    fn extra_of(text: &'static str) -> Vec<(String, String)> {
        match steps(text).remove(0) {
            Ok(row) => row.extra,
            Err(error) => panic!("expected a row, got {error:?}"),
        }
    }

    #[test]
    fn numbers_are_kept_as_written() {
        // The bytes of issue 17: a 24-digit integer and -0 are not rounded through a float.
        let extra = extra_of(
            r#"{"ticketId":"tic_a","message":"m","n":123456789012345678901234,"z":-0,"f":1.50}"#,
        );
        assert_eq!(
            extra,
            [
                ("n".to_owned(), "123456789012345678901234".to_owned()),
                ("z".to_owned(), "-0".to_owned()),
                ("f".to_owned(), "1.50".to_owned()),
            ]
        );
    }

    #[test]
    fn an_unused_huge_or_deep_value_does_not_reject_the_row() {
        let extra = extra_of(r#"{"ticketId":"tic_a","message":"m","x":1e400}"#);
        assert_eq!(extra, [("x".to_owned(), "1e400".to_owned())]);
        let deep = format!(
            r#"{{"ticketId":"tic_a","message":"m","x":{}{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        let rows = steps(Box::leak(deep.into_boxed_str()));
        assert!(rows[0].is_ok(), "{rows:?}");
    }

    #[test]
    fn a_name_given_twice_counts_with_its_last_value() {
        let extra = extra_of(r#"{"ticketId":"tic_a","message":"m","v":"first","v":"second"}"#);
        assert_eq!(extra, [("v".to_owned(), "second".to_owned())]);
    }

    #[test]
    fn an_error_at_the_end_of_a_line_says_so() {
        let error = error_of("{\"ticketId\":\"tic_a\",\"message\":\"m\"\n");
        assert!(
            error.message.ends_with("(at the end of the line)"),
            "{}",
            error.message
        );
        let error = error_of("{\"ticketId\":\"tic_a\", x}\n");
        assert!(
            error.message.ends_with("(at column 22)"),
            "{}",
            error.message
        );
    }

    #[test]
    fn utf16_without_a_byte_order_mark_is_one_error_for_the_file() {
        let bytes: &'static [u8] = b"{\0\"\0a\0\"\0:\0\x31\0}\0\n\0{\0}\0\n\0";
        let mut records =
            NdjsonRecords::new(Box::new(bytes), "t.ndjson".into(), MessageColumn::Required);
        let error = match records.advance() {
            Err(error) => error,
            Ok(_) => panic!("expected the file to be refused"),
        };
        assert!(
            error.message.contains("--encoding utf-16le"),
            "{}",
            error.message
        );
    }

    #[test]
    fn an_endless_line_is_cut_off() {
        let mut line = Vec::new();
        let mut input = BufReader::with_capacity(4, &b"abcdefghij\nxy"[..]);
        assert!(matches!(
            read_line_capped(&mut input, &mut line, 5).unwrap(),
            LineRead::TooLong
        ));
        line.clear();
        assert!(matches!(
            read_line_capped(&mut input, &mut line, 5).unwrap(),
            LineRead::Line
        ));
        assert_eq!(line, b"xy");
    }
}
