//! Reading the results file back, for `status` and `report`: the records [`super::results`]
//! writes, up to the length the journal vouches for (a record past it belongs to an outcome
//! whose journal line is not durable yet, and may never count).

use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Read, Seek, SeekFrom};
use std::path::Path;

use serde::Deserialize;
use serde_json::value::RawValue;

/// One results record, as written by [`super::results::encode`].
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutcomeRecord {
    pub line: u64,
    pub ticket_id: String,
    /// `sent`, `failed`, `skipped` or `in_doubt`.
    pub status: String,
    pub message_id: Option<String>,
    pub reason: Option<String>,
    pub copies: Option<u32>,
    #[serde(default)]
    pub doubled: bool,
    pub error: Option<OutcomeError>,
    /// The ticket as the API returned it (sent rows only); read for its title and the
    /// posted message, nothing else of the customer's history is kept.
    ticket: Option<Box<RawValue>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OutcomeError {
    pub kind: String,
    pub message: String,
}

/// What a sent row's ticket says about it.
#[derive(Debug, Clone, Default)]
pub struct TicketGlimpse {
    pub title: Option<String>,
    /// The posted message as the ticket shows it (the `messageId` one).
    pub posted: Option<PostedMessage>,
}

#[derive(Debug, Clone)]
pub struct PostedMessage {
    pub posted_at: Option<String>,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TicketFields {
    title: Option<String>,
    #[serde(default)]
    messages: Vec<MessageFields>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageFields {
    id: Option<String>,
    message: Option<String>,
    posted_at: Option<String>,
}

impl OutcomeRecord {
    /// The ticket's title and the row's message on it; the rest of the ticket is dropped.
    pub fn glimpse(&self) -> TicketGlimpse {
        let Some(fields) = self
            .ticket
            .as_ref()
            .and_then(|raw| serde_json::from_str::<TicketFields>(raw.get()).ok())
        else {
            return TicketGlimpse::default();
        };
        let posted = self.message_id.as_ref().and_then(|id| {
            fields
                .messages
                .into_iter()
                .find(|m| m.id.as_ref() == Some(id))
                .map(|m| PostedMessage {
                    posted_at: m.posted_at,
                    message: m.message.unwrap_or_default(),
                })
        });
        TicketGlimpse {
            title: fields.title,
            posted,
        }
    }
}

/// Calls `each` with every record before byte `end`, in file order (completion order,
/// across runs). A line that is not a record is counted and passed over: the results file
/// is the contract scripts read, not the truth of what was delivered (the journal is).
pub fn for_each(
    path: &Path,
    end: u64,
    mut each: impl FnMut(OutcomeRecord),
) -> std::io::Result<ReadSummary> {
    let mut summary = ReadSummary::default();
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(summary),
        Err(e) => return Err(e),
    };
    let mut reader = BufReader::with_capacity(1 << 20, file.take(end));
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        match serde_json::from_slice::<OutcomeRecord>(&line) {
            Ok(record) => {
                summary.records += 1;
                each(record);
            }
            Err(_) => summary.unreadable += 1,
        }
    }
    Ok(summary)
}

#[derive(Debug, Default, Clone, Copy)]
pub struct ReadSummary {
    pub records: u64,
    pub unreadable: u64,
}

/// The longest record searched for backwards; a failed row's record is a few kilobytes
/// (the error body is kept short), far below this.
const LONGEST_RECORD: u64 = 4 << 20;

/// The record that ends at byte `end` (a journal line's `results-end`), read without
/// reading the file before it: what `status` shows as the last error of a big job.
pub fn record_ending_at(path: &Path, end: u64) -> std::io::Result<Option<OutcomeRecord>> {
    let mut file = File::open(path)?;
    let mut window = 64 * 1024u64;
    loop {
        let start = end.saturating_sub(window);
        file.seek(SeekFrom::Start(start))?;
        let mut bytes = Vec::new();
        (&mut file).take(end - start).read_to_end(&mut bytes)?;
        // The record is the last line: after the newline that ends the one before it.
        let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
        match memchr::memrchr(b'\n', body) {
            Some(newline) => return Ok(serde_json::from_slice(&body[newline + 1..]).ok()),
            None if start == 0 => return Ok(serde_json::from_slice(body).ok()),
            None if window >= LONGEST_RECORD => return Ok(None),
            None => window *= 4,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const SENT: &str = r#"{"line":2,"ticketId":"tic_a","status":"sent","attempts":1,"httpStatus":200,"messageId":"tim_2","ticket":{"id":"tic_a","title":"Hi <b>","source":"portal","messages":[{"id":"tim_1","message":"old","postedAt":"x"},{"id":"tim_2","message":"<p>New</p>","postedAt":"2026-11-24T01:25:26+00:00"}]}}"#;
    const FAILED: &str = r#"{"line":3,"ticketId":"tic_b","status":"failed","attempts":1,"httpStatus":404,"error":{"kind":"not_found","message":"no such ticket","httpStatus":404,"body":"{}"}}"#;

    fn results_file() -> (tempfile::NamedTempFile, u64, u64) {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        let text = format!("{SENT}\n{FAILED}\n{{\"line\":4");
        file.write_all(text.as_bytes()).unwrap();
        let first_end = SENT.len() as u64 + 1;
        (file, first_end, first_end + FAILED.len() as u64 + 1)
    }

    #[test]
    fn reads_records_up_to_the_vouched_end_and_glimpses_the_ticket() {
        let (file, first_end, second_end) = results_file();
        let mut seen = Vec::new();
        let summary = for_each(file.path(), first_end, |r| seen.push(r)).unwrap();
        assert_eq!((summary.records, summary.unreadable), (1, 0));
        let glimpse = seen[0].glimpse();
        assert_eq!(glimpse.title.as_deref(), Some("Hi <b>"));
        let posted = glimpse.posted.unwrap();
        assert_eq!(posted.message, "<p>New</p>");
        assert_eq!(
            posted.posted_at.as_deref(),
            Some("2026-11-24T01:25:26+00:00")
        );

        let full = std::fs::metadata(file.path()).unwrap().len();
        let summary = for_each(file.path(), full, |_| {}).unwrap();
        assert_eq!((summary.records, summary.unreadable), (2, 1));

        let last = record_ending_at(file.path(), second_end).unwrap().unwrap();
        assert_eq!(last.error.unwrap().kind, "not_found");
        let first = record_ending_at(file.path(), first_end).unwrap().unwrap();
        assert_eq!(first.line, 2);
    }
}
