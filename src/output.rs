//! What the tool says on standard error, in one place: the end-of-run summary, validation
//! problems before a send, stop notices, progress lines, the final `error:` line.
//!
//! Two formats, chosen once by the global `--log-format`:
//! - `text`: each message as plain lines, for people (what the tool has always printed);
//! - `json`: one object per line, `{"time", "level", "message", "fields"}`, for log
//!   collectors. Diagnostics from `tracing` (see `logging`) use the same shape, so with
//!   `json` every line on standard error parses.
//!
//! `-q` keeps only errors. The messages here are the tool's answer to the user, not
//! diagnostics, so `-v` does not change them; it only adds `tracing` detail.

use std::io::Write;
use std::sync::OnceLock;

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;

/// How lines on standard error are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Plain text for people
    #[default]
    Text,
    /// One JSON object per line: time, level, message, fields
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warn,
    Info,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Settings {
    format: LogFormat,
    quiet: bool,
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// Set once at start-up, by `logging::init`. Before that (or in unit tests) text, not quiet.
pub fn configure(format: LogFormat, quiet: bool) {
    let _ = SETTINGS.set(Settings { format, quiet });
}

fn settings() -> Settings {
    SETTINGS.get().copied().unwrap_or_default()
}

pub fn format() -> LogFormat {
    settings().format
}

/// `-q`: errors only.
pub fn is_quiet() -> bool {
    settings().quiet
}

/// A message without fields.
pub fn say(level: Level, message: &str) {
    emit(level, message, Map::new());
}

/// A message with structured fields. In text mode only the message is printed (it may span
/// several lines); in json mode the fields travel along for monitors to read.
pub fn emit(level: Level, message: &str, fields: Map<String, Value>) {
    if is_quiet() && level > Level::Error {
        return;
    }
    write(level, message, fields);
}

/// A message the user asked for by name, printed even under `-q` (progress lines when
/// `--progress-interval` is given).
pub fn emit_requested(level: Level, message: &str, fields: Map<String, Value>) {
    write(level, message, fields);
}

fn write(level: Level, message: &str, fields: Map<String, Value>) {
    let line = match format() {
        LogFormat::Text => format!("{}\n", message.trim_end_matches('\n')),
        LogFormat::Json => json_line(level.as_str(), message, fields),
    };
    // One write per line: lines from concurrent tasks never interleave.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// A message with a long form for people (a report over several lines) and a one-line
/// form for logs, whose details are in `fields`.
pub fn emit_long(level: Level, text: &str, headline: &str, fields: Map<String, Value>) {
    match format() {
        LogFormat::Text => emit(level, text, fields),
        LogFormat::Json => emit(level, headline, fields),
    }
}

/// `{"time":…,"level":…,"message":…,"fields":{…}}` and a newline; shared with the
/// `tracing` formatter so both kinds of line look alike.
pub fn json_line(level: &str, message: &str, fields: Map<String, Value>) -> String {
    // Written key by key: the order time, level, message, fields reads best in a terminal,
    // and serde_json's map would sort the keys.
    let text = |value: &str| Value::from(value).to_string();
    format!(
        "{{\"time\":{},\"level\":{},\"message\":{},\"fields\":{}}}\n",
        text(&timestamp(OffsetDateTime::now_utc())),
        text(level),
        text(message.trim_end_matches('\n')),
        Value::Object(fields)
    )
}

/// RFC 3339 in UTC with exactly three decimals, `2026-11-24T01:41:34.120Z`: fixed width,
/// so log lines align and sort as text.
pub fn timestamp(at: OffsetDateTime) -> String {
    const FORMAT: &[BorrowedFormatItem<'_>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    let at = at.to_offset(time::UtcOffset::UTC);
    at.format(FORMAT)
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}

/// Builds a field map from `key => value` pairs: `fields!{"sent" => 3, "failed" => 0}`.
#[macro_export]
macro_rules! fields {
    ($($key:expr => $value:expr),* $(,)?) => {{
        #[allow(unused_mut)]
        let mut map = serde_json::Map::new();
        $(map.insert(String::from($key), serde_json::json!($value));)*
        map
    }};
}

/// `1 row`, `3 rows`: a count and its noun, as a person writes them.
pub fn plural(count: u64, noun: &str) -> String {
    match count {
        1 => format!("1 {noun}"),
        _ => format!("{count} {noun}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::format_description::well_known::Rfc3339;

    #[test]
    fn a_json_line_is_one_object_with_the_four_keys() {
        let line = json_line("info", "done\n", fields! {"sent" => 3});
        assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'));
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["level"], "info");
        assert_eq!(value["message"], "done");
        assert_eq!(value["fields"]["sent"], 3);
        let time = value["time"].as_str().unwrap();
        assert!(OffsetDateTime::parse(time, &Rfc3339).is_ok(), "{time}");
    }

    #[test]
    fn timestamps_are_utc_with_milliseconds() {
        let at = time::macros::datetime!(2026-11-24 03:04:05.678901 +02:00);
        assert_eq!(timestamp(at), "2026-11-24T01:04:05.678Z");
        let round = time::macros::datetime!(2026-11-24 01:04:05.5 UTC);
        assert_eq!(timestamp(round), "2026-11-24T01:04:05.500Z");
        assert!(OffsetDateTime::parse(&timestamp(round), &Rfc3339).is_ok());
    }
}
