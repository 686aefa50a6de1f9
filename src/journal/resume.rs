//! Reading a journal back: what an earlier run delivered, failed, or left in doubt.

use std::collections::HashMap;
use std::path::Path;

use super::JournalError;
use super::lines::{self, Line};
use super::record::Record;
use crate::delivery::RowKey;

/// Where an earlier run left a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowState {
    /// Delivered or skipped: never sent again.
    Settled,
    /// Failed for good last time; tried again in this run.
    Failed,
    /// An intent with no outcome, or a failure whose last attempt may have posted: read the
    /// ticket before sending again. `since_ms` is the row's first intent (copies count from
    /// there), `last_ms` its latest (that request may land until its settle period is over).
    InDoubt { since_ms: u64, last_ms: u64 },
}

/// What the journal says, row by row.
///
/// Sized for jobs of millions of rows: settled rows, the bulk of a re-run, are a sorted list
/// of 16-byte keys (searched in O(log n)); only rows still open — in flight when a run
/// stopped, failed, or in doubt — sit in a map. A map of every row would take several times
/// the memory.
#[derive(Debug, Default)]
pub struct ResumeState {
    settled: Vec<RowKey>,
    open: HashMap<RowKey, RowState>,
    /// Rows the journal records as delivered (a subset of `settled`).
    delivered: u64,
    /// Length of the results file covered by durable outcomes.
    pub results_end: u64,
}

impl ResumeState {
    pub fn get(&self, key: &RowKey) -> Option<RowState> {
        if self.settled.binary_search(key).is_ok() {
            return Some(RowState::Settled);
        }
        self.open.get(key).copied()
    }

    /// Whether an earlier run settled any row (delivered or skipped it).
    pub fn has_settled_rows(&self) -> bool {
        !self.settled.is_empty()
    }

    /// How many rows earlier runs settled (delivered or skipped): not sent again.
    pub fn settled_rows(&self) -> u64 {
        self.settled.len() as u64
    }

    /// How many rows earlier runs delivered.
    pub fn delivered_rows(&self) -> u64 {
        self.delivered
    }

    /// How many rows a request may have posted without the journal knowing the outcome.
    pub fn in_doubt_rows(&self) -> u64 {
        self.open
            .values()
            .filter(|state| matches!(state, RowState::InDoubt { .. }))
            .count() as u64
    }

    fn apply(&mut self, record: &Record) {
        let key = record.key();
        if let Some(end) = record.results_end() {
            self.results_end = self.results_end.max(end);
        }
        let state = match record {
            // A settled row is never sent again, so nothing follows its outcome; the list is
            // sorted (and any repeat dropped) once the whole journal is read.
            Record::Sent { .. } | Record::Skipped { .. } => {
                self.delivered += u64::from(matches!(record, Record::Sent { .. }));
                self.open.remove(&key);
                self.settled.push(key);
                return;
            }
            // An intent on a row already in doubt keeps the earlier moment: the message may
            // have been posted any time since then.
            Record::Intent { at_ms, .. } => match self.open.get(&key) {
                Some(RowState::InDoubt { since_ms, last_ms }) => RowState::InDoubt {
                    since_ms: (*since_ms).min(*at_ms),
                    last_ms: (*last_ms).max(*at_ms),
                },
                _ => RowState::InDoubt {
                    since_ms: *at_ms,
                    last_ms: *at_ms,
                },
            },
            // Withdrawn before any request left: the row is simply pending again, unless an
            // older doubt is still unsettled.
            Record::Released { intent_ms, .. } => match self.open.get(&key) {
                Some(RowState::InDoubt { since_ms, .. }) if since_ms == intent_ms => {
                    self.open.remove(&key);
                    return;
                }
                _ => return,
            },
            Record::Failed {
                doubt_since_ms: Some(since_ms),
                ..
            } => RowState::InDoubt {
                since_ms: *since_ms,
                last_ms: match self.open.get(&key) {
                    Some(RowState::InDoubt { last_ms, .. }) => (*last_ms).max(*since_ms),
                    _ => *since_ms,
                },
            },
            Record::Failed {
                doubt_since_ms: None,
                ..
            } => RowState::Failed,
        };
        self.open.insert(key, state);
    }

    /// Makes the settled list searchable; a row settled twice (it cannot be, but a journal
    /// is data from disk) counts once, and wins over any open state.
    fn finish(&mut self) {
        self.settled.sort_unstable();
        self.settled.dedup();
        self.settled.shrink_to_fit();
        let settled = &self.settled;
        self.open
            .retain(|key, _| settled.binary_search(key).is_err());
    }
}

/// A journal as found on disk.
#[derive(Debug)]
pub struct Loaded {
    pub state: ResumeState,
    /// The API the job posts to, as its journal recorded it.
    pub target: Option<String>,
    /// Bytes up to the end of the last complete line; anything after it was torn by a crash.
    pub valid_len: u64,
}

/// Reads the journal at `path`; `None` when there is none yet (or only an empty file left by
/// a run that died before writing its header).
pub fn load(path: &Path) -> Result<Option<Loaded>, JournalError> {
    let mut state = ResumeState::default();
    let mut target = None;
    let walked = lines::walk(path, |line| match line {
        Line::Target(recorded) => target = Some(recorded.to_string()),
        // Run boundaries are for `status` and `report`; they change no row.
        Line::Run(_) => {}
        Line::Row(record) => state.apply(&record),
    })?;
    let Some(valid_len) = walked else {
        return Ok(None);
    };
    state.finish();
    Ok(Some(Loaded {
        state,
        target,
        valid_len,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::record::{HEADER, VERSION};
    use std::io::Write;

    fn journal_with(lines: &[Record], tail: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        let mut bytes = format!("{HEADER} {VERSION}\n").into_bytes();
        for record in lines {
            record.encode(&mut bytes);
        }
        bytes.extend_from_slice(tail.as_bytes());
        file.write_all(&bytes).unwrap();
        file
    }

    #[test]
    fn later_records_win_and_doubt_survives() {
        let a = RowKey::of("tic_a", "m");
        let b = RowKey::of("tic_b", "m");
        let c = RowKey::of("tic_c", "m");
        let file = journal_with(
            &[
                Record::Intent { key: a, at_ms: 10 },
                Record::Sent {
                    key: a,
                    at_ms: 11,
                    results_end: 100,
                    message_id: "tim_1".into(),
                },
                Record::Intent { key: b, at_ms: 12 },
                Record::Failed {
                    key: c,
                    at_ms: 13,
                    results_end: 180,
                    kind: "timeout".into(),
                    doubt_since_ms: Some(9),
                },
            ],
            "",
        );
        let loaded = load(file.path()).unwrap().unwrap();
        assert_eq!(loaded.state.get(&a), Some(RowState::Settled));
        assert_eq!(
            loaded.state.get(&b),
            Some(RowState::InDoubt {
                since_ms: 12,
                last_ms: 12
            })
        );
        assert_eq!(
            loaded.state.get(&c),
            Some(RowState::InDoubt {
                since_ms: 9,
                last_ms: 9
            })
        );
        assert_eq!(loaded.state.results_end, 180);
        assert_eq!(
            loaded.valid_len,
            std::fs::metadata(file.path()).unwrap().len()
        );
    }

    #[test]
    fn doubt_keeps_its_earliest_moment_and_a_release_undoes_only_its_own_intent() {
        let fresh = RowKey::of("tic_a", "m");
        let doubted = RowKey::of("tic_b", "m");
        let file = journal_with(
            &[
                Record::Intent {
                    key: fresh,
                    at_ms: 20,
                },
                Record::Released {
                    key: fresh,
                    intent_ms: 20,
                },
                Record::Intent {
                    key: doubted,
                    at_ms: 10,
                },
                Record::Intent {
                    key: doubted,
                    at_ms: 30,
                },
                Record::Released {
                    key: doubted,
                    intent_ms: 30,
                },
            ],
            "",
        );
        let loaded = load(file.path()).unwrap().unwrap();
        assert_eq!(loaded.state.get(&fresh), None, "released: pending again");
        assert_eq!(
            loaded.state.get(&doubted),
            Some(RowState::InDoubt {
                since_ms: 10,
                last_ms: 30
            }),
            "the withdrawn intent's moment is kept as the latest: waiting longer is safe"
        );
    }

    #[test]
    fn a_torn_last_line_is_ignored() {
        let a = RowKey::of("tic_a", "m");
        let file = journal_with(
            &[Record::Intent { key: a, at_ms: 10 }],
            &format!("S {a} 11 10"),
        );
        let loaded = load(file.path()).unwrap().unwrap();
        assert_eq!(
            loaded.state.get(&a),
            Some(RowState::InDoubt {
                since_ms: 10,
                last_ms: 10
            })
        );
        let full = std::fs::metadata(file.path()).unwrap().len();
        assert_eq!(loaded.valid_len, full - format!("S {a} 11 10").len() as u64);
    }

    #[test]
    fn refuses_foreign_damaged_and_future_files() {
        let mut foreign = tempfile::NamedTempFile::new().unwrap();
        foreign.write_all(b"ticketId,message\ntic_1,hi\n").unwrap();
        assert!(matches!(
            load(foreign.path()),
            Err(JournalError::NotOurs { .. })
        ));

        let mut future = tempfile::NamedTempFile::new().unwrap();
        future
            .write_all(format!("{HEADER} 99\n").as_bytes())
            .unwrap();
        assert!(matches!(
            load(future.path()),
            Err(JournalError::Incompatible { .. })
        ));

        let damaged = journal_with(&[], "garbage line\nI 00 1\n");
        assert!(matches!(
            load(damaged.path()),
            Err(JournalError::Damaged { line: 2, .. })
        ));
    }

    #[test]
    fn missing_or_empty_means_a_fresh_job() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(&dir.path().join("none")).unwrap().is_none());
        let empty = tempfile::NamedTempFile::new().unwrap();
        assert!(load(empty.path()).unwrap().is_none());
    }
}
