//! `bulk-reply status`: where a job stands — rows delivered, failed, skipped, in doubt and
//! remaining, the runs so far, the rate and the time still needed — read from the job's
//! journal without taking its lock, so it works while a run is sending.
//!
//! It reads the journal in one pass and one record of the results file (the last error),
//! never the whole results file nor the input: fast on a job of millions of rows. Each run's
//! figures are the ones its `--summary-json` had, read back from the journal's run records.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::anyhow;
use serde::Serialize;
use time::OffsetDateTime;

use super::job_files::JobFileArgs;
use crate::duration::for_people;
use crate::exit::{CmdResult, Exit, Failure};
use crate::journal::history::{self, History, RunHistory};
use crate::journal::summary::RunSummary;
use crate::journal::{self, JobFiles, outcomes};
use crate::output::timestamp;
use crate::pipeline::CLOSED_REASON;

const EXAMPLES: &str = "\
Examples:
  bulk-reply status notices.csv                 where the job stands, for people
  bulk-reply status notices.csv --json | jq .remaining
  bulk-reply status notices.csv --rehearsal /tmp/bulk-reply-rehearsal-…   a rehearsal (send --sandbox)

Read-only: it takes no lock and works while a run is sending. Exit 0 when the job's files
could be read (whatever they say), 2 when there is no such job or its journal is damaged.";

/// Show where a job stands: delivered, failed, skipped, in doubt, remaining, the runs
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The input file the job was sent from; its files are found beside it
    #[arg(value_name = "INPUT")]
    pub input: PathBuf,

    /// Print one JSON object (for monitors and scripts) instead of text
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub files: JobFileArgs,
}

pub fn run(args: Args) -> CmdResult {
    let files = args.files.files(&args.input);
    let status = JobStatus::read(&args.input, &files).map_err(Failure::bad_input)?;
    let mut text = Vec::new();
    if args.json {
        // Serialising plain strings and numbers into a Vec cannot fail.
        let _ = serde_json::to_writer_pretty(&mut text, &status);
        text.push(b'\n');
    } else {
        // Writing into a Vec cannot fail.
        let _ = status.write_text(&mut text);
    }
    match std::io::stdout().lock().write_all(&text) {
        // `status | head` is fine: the reader has all it wanted.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            return Err(Failure::stopped(
                anyhow::Error::from(e).context("cannot write the status"),
            ));
        }
        _ => {}
    }
    Ok(Exit::Ok)
}

/// Where a job stands: what `status --json` prints, and the figures at the top of `report`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    pub input: PathBuf,
    pub state: JobState,
    /// Rows in the input, as the latest run counted them; `null` if no run recorded it.
    pub rows: Option<u64>,
    pub delivered: u64,
    pub failed: u64,
    pub failed_by_kind: BTreeMap<String, u64>,
    pub skipped: u64,
    pub skipped_by_reason: BTreeMap<String, u64>,
    /// Held for a person (`--in-doubt hold`) plus not settled yet.
    pub in_doubt: u64,
    pub in_doubt_held: u64,
    /// Requests that may have posted and that no read has settled: in flight right now, or
    /// left by a run that stopped; the next run reads those tickets first.
    pub in_doubt_unsettled: u64,
    /// Rows found on their ticket more than once, as the runs' summaries counted them.
    pub doubled: u64,
    /// Rows not delivered yet, failed and in doubt included, as `--summary-json` counts.
    pub remaining: Option<u64>,
    pub runs: Vec<RunStatus>,
    /// Rows dealt with per second by the latest run.
    pub rows_per_second: Option<f64>,
    /// The remaining rows at that rate (time spent sending, not between scheduled runs).
    pub eta_seconds: Option<u64>,
    pub last_error: Option<LastError>,
    pub base_url: Option<String>,
    pub journal: PathBuf,
    pub results_file: PathBuf,
    /// The latest run's failed rows, when there were any.
    pub failed_rows_file: Option<PathBuf>,
    pub checked_at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// No journal yet: nothing was sent.
    NotStarted,
    /// A run is working on the job now.
    Running,
    /// Rows remain (pending, failed or in doubt); the next run continues.
    Unfinished,
    /// Every row delivered or skipped.
    Done,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunStatus {
    pub number: usize,
    pub state: RunState,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub pid: Option<u32>,
    /// Outcomes this run recorded in the journal (so far, for a run still going).
    pub sent: u64,
    pub failed: u64,
    pub skipped: u64,
    pub in_doubt: u64,
    /// Exactly what the run's `--summary-json` said at its end.
    pub summary: Option<RunSummary>,
    #[serde(skip)]
    pub started_ms: Option<u64>,
    #[serde(skip)]
    pub ended_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Ended,
    Running,
    /// Started but never said how it ended: killed (kill -9, power loss) or crashed.
    NoEndRecorded,
    /// Rows recorded by a build that did not mark its runs: one or more runs.
    Unrecorded,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LastError {
    pub at: String,
    pub kind: String,
    pub line: Option<u64>,
    pub ticket_id: Option<String>,
    pub message: Option<String>,
}

impl JobStatus {
    /// Reads the job's journal (and one record of its results).
    pub fn read(input: &Path, files: &JobFiles) -> anyhow::Result<JobStatus> {
        let history = history::read(&files.journal)?;
        if history.is_none() && !input.exists() {
            return Err(anyhow!(
                "no job at {}: neither the input nor its journal ({}) exists",
                input.display(),
                files.journal.display()
            ));
        }
        Ok(Self::of(
            input,
            files,
            &history.unwrap_or_default(),
            now_ms(),
        ))
    }

    /// The status as of `now_ms`, from a history already read.
    pub fn of(input: &Path, files: &JobFiles, history: &History, now_ms: u64) -> JobStatus {
        let holder = journal::lock_holder(&files.journal);
        let runs: Vec<RunStatus> = history
            .runs
            .iter()
            .enumerate()
            .map(|(index, run)| {
                let latest = index + 1 == history.runs.len();
                run_status(index + 1, run, holder.filter(|_| latest))
            })
            .collect();
        let remaining = history.remaining();
        let state = if history.runs.is_empty() && history.input_rows.is_none() {
            JobState::NotStarted
        } else if runs.last().is_some_and(|r| r.state == RunState::Running) {
            JobState::Running
        } else if remaining == Some(0) {
            JobState::Done
        } else {
            JobState::Unfinished
        };
        let rows_per_second = runs.last().and_then(|run| rate_of(run, now_ms));
        let eta_seconds = match (remaining, rows_per_second) {
            (Some(remaining), Some(rate)) if rate > 0.0 => {
                Some((remaining as f64 / rate).ceil() as u64)
            }
            _ => None,
        };
        let last_error = history.last_failure.as_ref().map(|failure| {
            let record = outcomes::record_ending_at(&files.results, failure.results_end)
                .ok()
                .flatten();
            LastError {
                at: format_ms(failure.at_ms),
                kind: failure.kind.clone(),
                line: record.as_ref().map(|r| r.line),
                ticket_id: record.as_ref().map(|r| r.ticket_id.clone()),
                message: record.and_then(|r| r.error).map(|e| e.message),
            }
        });
        let doubled = runs
            .iter()
            .filter_map(|run| run.summary.as_ref())
            .map(|summary| summary.counts.doubled)
            .sum();
        let mut skipped_by_reason = BTreeMap::new();
        if history.skipped > 0 {
            // The journal records no reason: --skip-closed is the only thing that skips.
            skipped_by_reason.insert(CLOSED_REASON.to_string(), history.skipped);
        }
        let failed_rows_file = runs
            .last()
            .and_then(|run| run.summary.as_ref())
            .and_then(|summary| summary.failed_rows_file.clone())
            .filter(|path| path.exists());
        JobStatus {
            input: input.to_path_buf(),
            state,
            rows: history.input_rows,
            delivered: history.delivered,
            failed: history.failed(),
            failed_by_kind: history.failed_by_kind.clone(),
            skipped: history.skipped,
            skipped_by_reason,
            in_doubt: history.held + history.unsettled,
            in_doubt_held: history.held,
            in_doubt_unsettled: history.unsettled,
            doubled,
            remaining,
            runs,
            rows_per_second: rows_per_second.map(|rate| (rate * 100.0).round() / 100.0),
            eta_seconds,
            last_error,
            base_url: history.target.clone(),
            journal: files.journal.clone(),
            results_file: files.results.clone(),
            failed_rows_file,
            checked_at: format_ms(now_ms),
        }
    }

    /// The status for people.
    pub fn write_text(&self, out: &mut impl Write) -> std::io::Result<()> {
        let input = self.input.display();
        if self.state == JobState::NotStarted {
            writeln!(
                out,
                "{input}: not started; nothing was sent (no journal at {})",
                self.journal.display()
            )?;
            return Ok(());
        }
        let rows = self.rows.map_or("?".to_string(), |rows| rows.to_string());
        let share = match self.rows {
            Some(rows) if rows > 0 => {
                format!(" ({:.1}%)", self.delivered as f64 * 100.0 / rows as f64)
            }
            _ => String::new(),
        };
        let remaining = self
            .remaining
            .map_or("? (no run recorded the input's size)".to_string(), |r| {
                r.to_string()
            });
        writeln!(
            out,
            "{input}: {} of {rows} rows delivered{share}; {} failed, {} skipped, {} in doubt; {remaining} remaining",
            self.delivered, self.failed, self.skipped, self.in_doubt
        )?;
        writeln!(out, "  state:     {}", self.state.describe())?;
        if self.failed > 0 {
            writeln!(out, "  failed:    {}", by_name(&self.failed_by_kind))?;
        }
        if self.skipped > 0 {
            writeln!(out, "  skipped:   {}", by_name(&self.skipped_by_reason))?;
        }
        if self.in_doubt > 0 {
            writeln!(
                out,
                "  in doubt:  {} held for a person (--in-doubt hold), {} not settled yet (the next run reads their tickets first)",
                self.in_doubt_held, self.in_doubt_unsettled
            )?;
        }
        if self.doubled > 0 {
            writeln!(
                out,
                "  DOUBLED:   {} rows reached their ticket more than once (\"doubled\": true in the results)",
                self.doubled
            )?;
        }
        writeln!(out, "runs: {}", self.runs.len())?;
        for run in &self.runs {
            writeln!(out, "  {}", run.describe())?;
        }
        if let Some(rate) = self.rows_per_second {
            let eta = match (self.eta_seconds, self.remaining) {
                (_, Some(0)) => String::new(),
                (Some(eta), Some(remaining)) => format!(
                    "; at that rate the {remaining} remaining rows take {}",
                    for_people(Duration::from_secs(eta))
                ),
                _ => String::new(),
            };
            writeln!(out, "rate: {rate:.2} rows/s in the latest run{eta}")?;
        }
        if let Some(error) = &self.last_error {
            let place = match (&error.line, &error.ticket_id) {
                (Some(line), Some(ticket)) => format!("line {line}, ticket {ticket}, "),
                _ => String::new(),
            };
            writeln!(
                out,
                "last error: {place}{} at {}: {}",
                error.kind,
                error.at,
                error
                    .message
                    .as_deref()
                    .unwrap_or("(its results record is not readable)")
            )?;
        }
        writeln!(
            out,
            "API: {}",
            self.base_url.as_deref().unwrap_or("(not recorded)")
        )?;
        writeln!(
            out,
            "files: journal {}, results {}",
            self.journal.display(),
            self.results_file.display()
        )?;
        if let Some(failed) = &self.failed_rows_file {
            writeln!(out, "failed rows (latest run): {}", failed.display())?;
        }
        Ok(())
    }
}

impl JobState {
    fn describe(self) -> &'static str {
        match self {
            JobState::NotStarted => "not started",
            JobState::Running => "a run is sending now",
            JobState::Unfinished => "unfinished: the next run of the same send command continues",
            JobState::Done => "done: every row delivered or skipped",
        }
    }
}

impl RunStatus {
    /// One line: when, what it did, how it ended.
    pub fn describe(&self) -> String {
        let when = match (&self.started_at, &self.ended_at) {
            (Some(start), Some(end)) => format!("{start} → {end}"),
            (Some(start), None) => format!("{start} →"),
            _ => "before runs were recorded".to_string(),
        };
        let took = match (self.started_ms, self.ended_ms) {
            (Some(start), Some(end)) => format!(
                " ({})",
                for_people(Duration::from_millis(end.saturating_sub(start)))
            ),
            _ => String::new(),
        };
        let mut did = format!(
            "{} sent, {} failed, {} skipped",
            self.sent, self.failed, self.skipped
        );
        if self.in_doubt > 0 {
            did.push_str(&format!(", {} in doubt", self.in_doubt));
        }
        if let Some(summary) = &self.summary {
            did.push_str(&format!(
                "; {} retries, {} rate-limited (429)",
                summary.counts.retries, summary.counts.rate_limited
            ));
            if summary.counts.doubled > 0 {
                did.push_str(&format!(", {} DOUBLED", summary.counts.doubled));
            }
        }
        format!("#{} {when}{took}: {did}; {}", self.number, self.ending())
    }

    /// How the run ended, in words.
    pub fn ending(&self) -> String {
        match (self.state, &self.summary) {
            (RunState::Running, _) => format!(
                "running now (process {})",
                self.pid.map_or("?".to_string(), |p| p.to_string())
            ),
            (RunState::NoEndRecorded, _) => {
                "no end recorded: killed or crashed (its rows in flight are settled by the next run)".to_string()
            }
            (RunState::Unrecorded, _) => "runs of an older build, not told apart".to_string(),
            (RunState::Ended, Some(summary)) => {
                let exit = summary.exit_code.map_or("?".to_string(), |c| c.to_string());
                // 0 and 1 with a reason are a planned stop (--max-rows, --deadline, --canary),
                // 1 saying that some rows need a look; any other code a stop before its time.
                let attention = if summary.exit_code == Some(1) {
                    ", some rows failed"
                } else {
                    ""
                };
                match &summary.stop_reason {
                    Some(reason) if !matches!(summary.exit_code, Some(0 | 1)) => {
                        format!("stopped: {reason} (exit {exit})")
                    }
                    Some(reason) => format!("planned stop: {reason}{attention} (exit {exit})"),
                    None => format!("finished{attention} (exit {exit})"),
                }
            }
            (RunState::Ended, None) => "ended (its summary is not readable)".to_string(),
        }
    }
}

/// `holder`: the process holding the job's lock, for the latest run only.
fn run_status(number: usize, run: &RunHistory, holder: Option<u32>) -> RunStatus {
    let state = match (&run.began, &run.ended) {
        (None, _) => RunState::Unrecorded,
        (Some(_), Some(_)) => RunState::Ended,
        // Only the latest run can still be going: a later run got the job's lock.
        (Some(_), None) if holder.is_some() => RunState::Running,
        (Some(_), None) => RunState::NoEndRecorded,
    };
    let started_ms = run.started_ms();
    let ended_ms = match state {
        RunState::Ended => run.ended.as_ref().map(|end| end.at_ms),
        RunState::Running => None,
        RunState::NoEndRecorded | RunState::Unrecorded => run.last_ms,
    };
    RunStatus {
        number,
        state,
        started_at: started_ms.map(format_ms),
        ended_at: ended_ms.map(format_ms),
        pid: holder.or(run.began.map(|b| b.pid)),
        sent: run.sent,
        failed: run.failed,
        skipped: run.skipped,
        in_doubt: run.held,
        summary: run.ended.as_ref().and_then(|end| end.summary.clone()),
        started_ms,
        ended_ms,
    }
}

/// Rows the run dealt with per second, from its start to its end (or now, while it runs).
fn rate_of(run: &RunStatus, now_ms: u64) -> Option<f64> {
    let start = run.started_ms?;
    let end = run.ended_ms.unwrap_or(now_ms);
    let seconds = end.saturating_sub(start) as f64 / 1000.0;
    let finished = run.sent + run.failed + run.skipped + run.in_doubt;
    (seconds > 0.0 && finished > 0).then(|| finished as f64 / seconds)
}

fn by_name(counts: &BTreeMap<String, u64>) -> String {
    let mut sorted: Vec<(&String, &u64)> = counts.iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(a.1));
    sorted
        .iter()
        .map(|(name, count)| format!("{count} {name}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A journal's unix milliseconds as the summary writes times (UTC, RFC 3339).
pub fn format_ms(ms: u64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map(timestamp)
        .unwrap_or_else(|_| ms.to_string())
}
