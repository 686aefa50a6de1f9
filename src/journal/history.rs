//! A job's history read back from its journal, for `status` and `report`: where the rows
//! stand, the runs so far, and when rows were settled.
//!
//! Read-only and lock-free, so it works while a run holds the job: it reads up to the last
//! complete line (a run appends as we read; a line still being written is left for the next
//! look). One pass, memory bounded by the rows still open (failed, in doubt, in flight) and
//! by the minutes of activity, never by the size of the job: the settled rows, the bulk of a
//! big job, are only counted.
//!
//! The per-row rules mirror [`super::resume`] (which decides what a run sends): a later
//! outcome wins, an intent keeps the earliest moment of a doubt, a release undoes only its
//! own intent. The two are kept apart because resume must remember every settled key to
//! skip it, and this must remember why each open row is open.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::JournalError;
use super::lines::{self, Line};
use super::record::{Record, RunRecord};
use super::summary::RunSummary;
use crate::delivery::RowKey;

/// The journal's failure kind of a row held for a person (`--in-doubt hold`).
const HELD_KIND: &str = "in_doubt";

/// Where a job stands, by its journal.
#[derive(Debug, Default)]
pub struct History {
    /// The API the job posts to.
    pub target: Option<String>,
    /// Rows in the input as the latest recorded run counted them; `None` when no run
    /// recorded it (journals written before run records existed).
    pub input_rows: Option<u64>,
    pub delivered: u64,
    /// Rows left alone on purpose (`--skip-closed`: the ticket was closed).
    pub skipped: u64,
    /// Rows whose latest try failed for good, by error kind.
    pub failed_by_kind: BTreeMap<String, u64>,
    /// Rows left for a person to check (`--in-doubt hold`).
    pub held: u64,
    /// Rows whose request may have posted the message and that no read has settled yet: in
    /// flight right now, or left so by a run that stopped or crashed. The next run reads
    /// their tickets before sending anything.
    pub unsettled: u64,
    pub runs: Vec<RunHistory>,
    /// The most recent failure, to find its record (and message) in the results file.
    pub last_failure: Option<LastFailure>,
    /// How much of the results file durable journal lines vouch for; records past it are
    /// not counted yet (their journal line is not written, or never will be).
    pub results_end: u64,
}

impl History {
    pub fn failed(&self) -> u64 {
        self.failed_by_kind.values().sum()
    }

    /// Rows not delivered yet, failed and in doubt included: what the next run would do.
    /// Counted as `--summary-json`'s `remaining` is: the input's rows less the settled ones.
    pub fn remaining(&self) -> Option<u64> {
        self.input_rows
            .map(|rows| rows.saturating_sub(self.delivered + self.skipped))
    }
}

/// One run of the job, as the journal shows it.
#[derive(Debug, Default)]
pub struct RunHistory {
    /// `None` for the rows recorded before run records existed (a journal from an older
    /// build): they belong to one or more runs that cannot be told apart.
    pub began: Option<RunStart>,
    /// When the run ended and what its summary said; `None` for a run that was killed,
    /// crashed, or is still going.
    pub ended: Option<RunEnd>,
    /// Outcomes recorded by this run.
    pub sent: u64,
    pub failed: u64,
    pub skipped: u64,
    pub held: u64,
    /// The first and last moment this run recorded anything.
    pub first_ms: Option<u64>,
    pub last_ms: Option<u64>,
    /// This run's outcomes per minute (unix minutes), for the timeline.
    pub minutes: BTreeMap<u64, MinuteTally>,
}

impl RunHistory {
    pub fn started_ms(&self) -> Option<u64> {
        self.began.as_ref().map(|b| b.at_ms).or(self.first_ms)
    }

    fn minute(&mut self, at_ms: u64) -> &mut MinuteTally {
        self.minutes.entry(at_ms / 60_000).or_default()
    }

    fn touch(&mut self, at_ms: u64) {
        self.first_ms.get_or_insert(at_ms);
        self.last_ms = Some(self.last_ms.map_or(at_ms, |last| last.max(at_ms)));
    }
}

#[derive(Debug, Clone, Copy)]
pub struct RunStart {
    pub at_ms: u64,
    pub pid: u32,
}

#[derive(Debug, Clone)]
pub struct RunEnd {
    pub at_ms: u64,
    /// `None` if the line's JSON could not be read (a summary format of another build).
    pub summary: Option<RunSummary>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MinuteTally {
    pub sent: u64,
    pub failed: u64,
    pub skipped: u64,
}

impl MinuteTally {
    /// Rows dealt with in that minute.
    pub fn total(&self) -> u64 {
        self.sent + self.failed + self.skipped
    }
}

#[derive(Debug, Clone)]
pub struct LastFailure {
    pub at_ms: u64,
    pub kind: String,
    /// Where its results record ends.
    pub results_end: u64,
}

/// Why a row is not settled.
#[derive(Debug, Clone, Copy)]
enum OpenRow {
    /// Failed for good last time; the index into the kinds seen.
    Failed {
        kind: usize,
    },
    InDoubt {
        since_ms: u64,
        held: bool,
    },
}

/// Reads the journal at `path`; `None` when there is none yet.
pub fn read(path: &Path) -> Result<Option<History>, JournalError> {
    let mut fold = Fold::default();
    let walked = lines::walk(path, |line| match line {
        Line::Target(target) => fold.history.target = Some(target.to_string()),
        Line::Run(run) => fold.run(run),
        Line::Row(record) => fold.row(record),
    })?;
    Ok(walked.map(|_| fold.finish()))
}

#[derive(Default)]
struct Fold {
    history: History,
    open: HashMap<RowKey, OpenRow>,
    /// Failure kinds seen, so an open row holds an index rather than a string.
    kinds: Vec<String>,
}

impl Fold {
    fn current_run(&mut self) -> &mut RunHistory {
        if self.history.runs.is_empty() {
            self.history.runs.push(RunHistory::default());
        }
        let last = self.history.runs.len() - 1;
        &mut self.history.runs[last]
    }

    fn run(&mut self, record: RunRecord) {
        match record {
            RunRecord::Began {
                at_ms,
                pid,
                input_rows,
            } => {
                self.history.input_rows = Some(input_rows);
                self.history.runs.push(RunHistory {
                    began: Some(RunStart { at_ms, pid }),
                    ..RunHistory::default()
                });
            }
            RunRecord::Ended { at_ms, summary } => {
                let run = self.current_run();
                run.ended = Some(RunEnd {
                    at_ms,
                    summary: serde_json::from_str(&summary).ok(),
                });
            }
        }
    }

    fn kind_index(&mut self, kind: &str) -> usize {
        match self.kinds.iter().position(|known| known == kind) {
            Some(index) => index,
            None => {
                self.kinds.push(kind.to_string());
                self.kinds.len() - 1
            }
        }
    }

    fn row(&mut self, record: Record) {
        if let Some(end) = record.results_end() {
            self.history.results_end = self.history.results_end.max(end);
        }
        match record {
            Record::Sent { key, at_ms, .. } => {
                self.open.remove(&key);
                self.history.delivered += 1;
                let run = self.current_run();
                run.minute(at_ms).sent += 1;
                run.sent += 1;
                run.touch(at_ms);
            }
            Record::Skipped { key, at_ms, .. } => {
                self.open.remove(&key);
                self.history.skipped += 1;
                let run = self.current_run();
                run.minute(at_ms).skipped += 1;
                run.skipped += 1;
                run.touch(at_ms);
            }
            Record::Intent { key, at_ms } => {
                let since_ms = match self.open.get(&key) {
                    Some(OpenRow::InDoubt { since_ms, .. }) => (*since_ms).min(at_ms),
                    _ => at_ms,
                };
                self.open.insert(
                    key,
                    OpenRow::InDoubt {
                        since_ms,
                        held: false,
                    },
                );
                self.current_run().touch(at_ms);
            }
            Record::Released { key, intent_ms } => {
                if let Some(OpenRow::InDoubt { since_ms, .. }) = self.open.get(&key)
                    && *since_ms == intent_ms
                {
                    self.open.remove(&key);
                }
            }
            Record::Failed {
                key,
                at_ms,
                results_end,
                kind,
                doubt_since_ms,
            } => {
                let held = kind == HELD_KIND;
                let state = match doubt_since_ms {
                    Some(since_ms) => OpenRow::InDoubt { since_ms, held },
                    None => OpenRow::Failed {
                        kind: self.kind_index(&kind),
                    },
                };
                self.open.insert(key, state);
                let run = self.current_run();
                run.touch(at_ms);
                if held {
                    run.held += 1;
                } else {
                    run.failed += 1;
                    run.minute(at_ms).failed += 1;
                    self.history.last_failure = Some(LastFailure {
                        at_ms,
                        kind,
                        results_end,
                    });
                }
            }
        }
    }

    fn finish(mut self) -> History {
        for state in self.open.values() {
            match *state {
                OpenRow::Failed { kind } => {
                    *self
                        .history
                        .failed_by_kind
                        .entry(self.kinds[kind].clone())
                        .or_default() += 1;
                }
                OpenRow::InDoubt { held: true, .. } => self.history.held += 1,
                OpenRow::InDoubt { held: false, .. } => self.history.unsettled += 1,
            }
        }
        self.history
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::record;
    use std::io::Write;

    fn journal(lines: &[String]) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        let mut text = record::header("http://api/v1");
        for line in lines {
            text.push_str(line);
        }
        file.write_all(text.as_bytes()).unwrap();
        file
    }

    fn line(record: Record) -> String {
        let mut out = Vec::new();
        record.encode(&mut out);
        String::from_utf8(out).unwrap()
    }

    fn run_line(record: RunRecord) -> String {
        let mut out = Vec::new();
        record.encode(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn rows_and_runs_are_counted_as_they_stand_at_the_end() {
        let [a, b, c, d, e] = ["a", "b", "c", "d", "e"].map(|t| RowKey::of(t, "m"));
        let sent = |key, at_ms, results_end| {
            line(Record::Sent {
                key,
                at_ms,
                results_end,
                message_id: "tim_1".into(),
            })
        };
        let failed = |key, at_ms, kind: &str, doubt| {
            line(Record::Failed {
                key,
                at_ms,
                results_end: 10,
                kind: kind.into(),
                doubt_since_ms: doubt,
            })
        };
        let file = journal(&[
            // Rows of an older build: no run record before them.
            line(Record::Intent { key: a, at_ms: 1 }),
            sent(a, 2, 5),
            run_line(RunRecord::Began {
                at_ms: 60_000,
                pid: 7,
                input_rows: 5,
            }),
            failed(b, 60_001, "not_found", None),
            failed(c, 60_002, "rejected", None),
            line(Record::Intent {
                key: d,
                at_ms: 60_003,
            }),
            run_line(RunRecord::Ended {
                at_ms: 60_004,
                summary: "not json".into(),
            }),
            run_line(RunRecord::Began {
                at_ms: 120_000,
                pid: 8,
                input_rows: 5,
            }),
            // Retried and delivered this time; the doubt read settles d; e is held.
            sent(c, 120_001, 20),
            failed(d, 120_002, "timeout", Some(60_003)),
            failed(e, 120_003, "in_doubt", Some(120_000)),
            // A line being appended right now.
            "S 0000".into(),
        ]);
        let history = read(file.path()).unwrap().unwrap();
        assert_eq!(history.target.as_deref(), Some("http://api/v1"));
        assert_eq!(history.input_rows, Some(5));
        assert_eq!(history.delivered, 2);
        assert_eq!(
            history.failed_by_kind,
            BTreeMap::from([("not_found".to_string(), 1)])
        );
        assert_eq!(history.held, 1);
        assert_eq!(history.unsettled, 1, "d: failed after a doubt, not settled");
        assert_eq!(history.remaining(), Some(3));
        assert_eq!(history.results_end, 20);
        assert_eq!(history.runs.len(), 3);
        assert!(history.runs[0].began.is_none());
        assert_eq!(history.runs[0].sent, 1);
        assert_eq!((history.runs[1].failed, history.runs[1].sent), (2, 0));
        assert!(history.runs[1].ended.as_ref().unwrap().summary.is_none());
        let last = &history.runs[2];
        assert_eq!((last.sent, last.failed, last.held), (1, 1, 1));
        assert!(last.ended.is_none(), "still going, or killed");
        assert_eq!(history.last_failure.unwrap().kind, "timeout");
        assert_eq!(last.minutes[&2].sent, 1);
        assert_eq!(history.runs[1].minutes[&1].failed, 2);
    }

    #[test]
    fn agrees_with_resume_on_which_rows_are_settled() {
        let keys: Vec<RowKey> = (0..6).map(|i| RowKey::of(&format!("t{i}"), "m")).collect();
        let lines = [
            line(Record::Intent {
                key: keys[0],
                at_ms: 1,
            }),
            line(Record::Released {
                key: keys[0],
                intent_ms: 1,
            }),
            line(Record::Intent {
                key: keys[1],
                at_ms: 2,
            }),
            line(Record::Skipped {
                key: keys[1],
                at_ms: 3,
                results_end: 1,
            }),
            line(Record::Failed {
                key: keys[2],
                at_ms: 4,
                results_end: 2,
                kind: "server".into(),
                doubt_since_ms: None,
            }),
            line(Record::Intent {
                key: keys[3],
                at_ms: 5,
            }),
        ];
        let file = journal(&lines);
        let history = read(file.path()).unwrap().unwrap();
        let resume = super::super::resume::load(file.path()).unwrap().unwrap();
        let settled = keys
            .iter()
            .filter(|k| resume.state.get(k) == Some(super::super::RowState::Settled))
            .count() as u64;
        assert_eq!(history.delivered + history.skipped, settled);
        assert_eq!(history.failed(), 1);
        assert_eq!(history.unsettled, 1);
    }

    #[test]
    fn no_journal_or_a_bare_header_is_a_job_not_started() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(&dir.path().join("none")).unwrap().is_none());
        let empty = tempfile::NamedTempFile::new().unwrap();
        assert!(read(empty.path()).unwrap().is_none());
    }
}
