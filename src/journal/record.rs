//! The journal's on-disk format: a header line, then one line per event, appended.
//!
//! ```text
//! bulk-reply journal 1
//! target <base URL>                                    the API this job posts to
//! I <key> <unix-ms>                                    about to send (intent)
//! S <key> <unix-ms> <results-end> <message-id>         sent
//! F <key> <unix-ms> <results-end> <kind> <doubt-ms|->  failed (doubt: may have been posted)
//! K <key> <unix-ms> <results-end>                      skipped
//! R <key> <intent-ms>                                  released: the intent of that moment
//!                                                      was withdrawn, nothing was sent
//! B <unix-ms> <pid> <input-rows>                       a run began (its process, the rows
//!                                                      its input had)
//! E <unix-ms> <summary JSON>                           that run ended: its --summary-json
//!                                                      figures, exit code and stop reason
//! ```
//!
//! `B` and `E` ([`RunRecord`]) came later than the row records: journals without them
//! (written before) read as before, their runs unknown. `E` is written by the run itself as it
//! ends; a `B` with no `E` after it is a run that was killed, crashed, or is still going.
//! A build older than the run records refuses a journal that has them (as damaged): finish a
//! job with the build that started it, or a newer one.
//!
//! Plain text so that a support engineer can read it with `less`. Every line ends in `\n`;
//! a last line without one was torn by a crash and is ignored. `results-end` is the length
//! of the results file once this outcome's record was written, which lets a resumed run cut
//! off results records whose journal line never became durable.

use std::io::Write;

use std::path::Path;

use super::JournalError;
use crate::delivery::RowKey;

pub(super) const HEADER: &str = "bulk-reply journal";
/// The second line: the API the job posts to (`target https://…/v1`).
const TARGET_PREFIX: &str = "target ";
pub(super) const VERSION: u32 = 1;

/// The first two lines of a new journal: the format's name and version, and the target.
pub(super) fn header(target: &str) -> String {
    format!("{HEADER} {VERSION}\n{}", target_line(target))
}

/// The second line, naming the API the job posts to.
pub(super) fn target_line(target: &str) -> String {
    format!("{TARGET_PREFIX}{target}\n")
}

/// The target a second line names, if it is a target line.
pub(super) fn decode_target(line: &str) -> Option<&str> {
    line.strip_prefix(TARGET_PREFIX)
}

/// What a run that died at once may leave: nothing, or the start of the first line.
pub(super) fn is_torn_header(bytes: &[u8]) -> bool {
    HEADER.as_bytes().starts_with(bytes)
}

/// The first line says whose file this is and which version of the format it holds.
pub(super) fn check_header(path: &Path, text: &str) -> Result<(), JournalError> {
    let Some(version) = text
        .strip_prefix(HEADER)
        .and_then(|rest| rest.strip_prefix(' '))
    else {
        return Err(JournalError::NotOurs {
            path: path.to_path_buf(),
        });
    };
    match version.parse::<u32>() {
        Ok(VERSION) => Ok(()),
        _ => Err(JournalError::Incompatible {
            path: path.to_path_buf(),
            found: version.to_string(),
        }),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Intent {
        key: RowKey,
        at_ms: u64,
    },
    Sent {
        key: RowKey,
        at_ms: u64,
        results_end: u64,
        message_id: String,
    },
    Failed {
        key: RowKey,
        at_ms: u64,
        results_end: u64,
        kind: String,
        doubt_since_ms: Option<u64>,
    },
    Skipped {
        key: RowKey,
        at_ms: u64,
        results_end: u64,
    },
    Released {
        key: RowKey,
        intent_ms: u64,
    },
}

impl Record {
    pub fn key(&self) -> RowKey {
        match self {
            Record::Intent { key, .. }
            | Record::Sent { key, .. }
            | Record::Failed { key, .. }
            | Record::Skipped { key, .. }
            | Record::Released { key, .. } => *key,
        }
    }

    pub fn results_end(&self) -> Option<u64> {
        match self {
            Record::Intent { .. } | Record::Released { .. } => None,
            Record::Sent { results_end, .. }
            | Record::Failed { results_end, .. }
            | Record::Skipped { results_end, .. } => Some(*results_end),
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        // Writing into a Vec cannot fail.
        let _ = match self {
            Record::Intent { key, at_ms } => writeln!(out, "I {key} {at_ms}"),
            Record::Released { key, intent_ms } => writeln!(out, "R {key} {intent_ms}"),
            Record::Sent {
                key,
                at_ms,
                results_end,
                message_id,
            } => {
                writeln!(out, "S {key} {at_ms} {results_end} {message_id}")
            }
            Record::Failed {
                key,
                at_ms,
                results_end,
                kind,
                doubt_since_ms,
            } => match doubt_since_ms {
                Some(doubt) => writeln!(out, "F {key} {at_ms} {results_end} {kind} {doubt}"),
                None => writeln!(out, "F {key} {at_ms} {results_end} {kind} -"),
            },
            Record::Skipped {
                key,
                at_ms,
                results_end,
            } => writeln!(out, "K {key} {at_ms} {results_end}"),
        };
    }

    /// Parses one complete line (without its `\n`); `None` if it is not a record.
    pub fn decode(line: &str) -> Option<Record> {
        let mut fields = line.split(' ');
        let tag = fields.next()?;
        let key = RowKey::parse(fields.next()?)?;
        let at_ms = moment_ms(fields.next()?)?;
        let record = match tag {
            "I" => Record::Intent { key, at_ms },
            "R" => Record::Released {
                key,
                intent_ms: at_ms,
            },
            "S" => Record::Sent {
                key,
                at_ms,
                results_end: fields.next()?.parse().ok()?,
                message_id: fields.next()?.to_string(),
            },
            "F" => Record::Failed {
                key,
                at_ms,
                results_end: fields.next()?.parse().ok()?,
                kind: fields.next()?.to_string(),
                doubt_since_ms: match fields.next()? {
                    "-" => None,
                    ms => Some(moment_ms(ms)?),
                },
            },
            "K" => Record::Skipped {
                key,
                at_ms,
                results_end: fields.next()?.parse().ok()?,
            },
            _ => return None,
        };
        match fields.next() {
            None => Some(record),
            Some(_) => None,
        }
    }
}

/// A run's boundaries, so that `status` and `report` can tell the runs of a job apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunRecord {
    Began {
        at_ms: u64,
        pid: u32,
        input_rows: u64,
    },
    Ended {
        at_ms: u64,
        /// One line of JSON (serde escapes line breaks): what `--summary-json` says.
        summary: String,
    },
}

impl RunRecord {
    pub fn encode(&self, out: &mut Vec<u8>) {
        // Writing into a Vec cannot fail.
        let _ = match self {
            RunRecord::Began {
                at_ms,
                pid,
                input_rows,
            } => writeln!(out, "B {at_ms} {pid} {input_rows}"),
            RunRecord::Ended { at_ms, summary } => writeln!(out, "E {at_ms} {summary}"),
        };
    }

    /// Parses one complete line (without its `\n`); `None` if it is not a run record.
    pub fn decode(line: &str) -> Option<RunRecord> {
        if let Some(rest) = line.strip_prefix("B ") {
            let mut fields = rest.split(' ');
            let record = RunRecord::Began {
                at_ms: fields.next()?.parse().ok()?,
                pid: fields.next()?.parse().ok()?,
                input_rows: fields.next()?.parse().ok()?,
            };
            return fields.next().is_none().then_some(record);
        }
        let (at_ms, summary) = line.strip_prefix("E ")?.split_once(' ')?;
        Some(RunRecord::Ended {
            at_ms: at_ms.parse().ok()?,
            summary: summary.to_string(),
        })
    }
}

/// Journal times are written from this machine's clock; one beyond the year 3000 is not a
/// time but damage (a flipped bit, a stray edit), and a row in doubt "since" then would
/// wait for it forever.
const LATEST_PLAUSIBLE_MS: u64 = 32_503_680_000_000;

fn moment_ms(field: &str) -> Option<u64> {
    field.parse().ok().filter(|&ms| ms <= LATEST_PLAUSIBLE_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_record_round_trips() {
        let key = RowKey::of("tic_1", "Hi");
        let records = [
            Record::Intent { key, at_ms: 1 },
            Record::Sent {
                key,
                at_ms: 2,
                results_end: 300,
                message_id: "tim_abc".into(),
            },
            Record::Failed {
                key,
                at_ms: 3,
                results_end: 400,
                kind: "timeout".into(),
                doubt_since_ms: Some(2),
            },
            Record::Failed {
                key,
                at_ms: 3,
                results_end: 400,
                kind: "not_found".into(),
                doubt_since_ms: None,
            },
            Record::Skipped {
                key,
                at_ms: 4,
                results_end: 500,
            },
        ];
        for record in records {
            let mut line = Vec::new();
            record.encode(&mut line);
            assert_eq!(line.last(), Some(&b'\n'));
            let text = std::str::from_utf8(&line[..line.len() - 1]).unwrap();
            assert_eq!(Record::decode(text), Some(record));
        }
    }

    #[test]
    fn run_records_round_trip_and_are_not_row_records() {
        let records = [
            RunRecord::Began {
                at_ms: 5,
                pid: 42,
                input_rows: 500,
            },
            RunRecord::Ended {
                at_ms: 6,
                summary: r#"{"sent":3,"stopReason":"a b"}"#.into(),
            },
        ];
        for record in records {
            let mut line = Vec::new();
            record.encode(&mut line);
            let text = std::str::from_utf8(&line[..line.len() - 1]).unwrap();
            assert_eq!(RunRecord::decode(text), Some(record));
            assert_eq!(Record::decode(text), None);
        }
        assert_eq!(RunRecord::decode("B 5 42"), None);
        let key = RowKey::of("tic_1", "Hi");
        assert_eq!(RunRecord::decode(&format!("I {key} 2")), None);
    }

    #[test]
    fn rejects_partial_and_foreign_lines() {
        let key = RowKey::of("tic_1", "Hi");
        assert_eq!(Record::decode(&format!("S {key} 2 300")), None);
        assert_eq!(Record::decode(&format!("X {key} 2")), None);
        assert_eq!(Record::decode("I nothex 2"), None);
        assert_eq!(Record::decode(&format!("I {key} 2 extra")), None);
        assert_eq!(Record::decode(""), None);
        assert_eq!(
            Record::decode(&format!("I {key} 18446744073709551615")),
            None,
            "an absurd time is damage"
        );
        assert_eq!(
            Record::decode(&format!("F {key} 2 300 network 99999999999999999")),
            None
        );
    }
}
