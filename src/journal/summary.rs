//! `--summary-json`: what a send run did, as one JSON file a monitor can read.
//!
//! The file is written twice: at the start, as a placeholder with `exitCode: null` (so a
//! run that was killed, or is still going, is visible as such), and at the end with the
//! figures and the exit code. Each write replaces the file atomically (a temporary file in
//! the same folder, then a rename), so a reader never sees half a summary. Mode 0600: it
//! names files that hold customer data.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::exit::CmdResult;
use crate::files::{Access, open_private, with_suffix};
use crate::output::timestamp;

/// The counts of one run; also the fields of the summary line on standard error.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub sent: u64,
    pub failed: u64,
    pub skipped: u64,
    /// Rows left for a person to check (`--in-doubt hold`).
    pub in_doubt: u64,
    /// Rows whose message was found on the ticket more than once (counted in `sent`).
    pub doubled: u64,
    /// Rows an earlier run settled, not sent again.
    pub already_delivered: u64,
    /// Rows not delivered yet (failed ones included): what the next run would do. `null`
    /// when the run ended before the job was opened.
    pub remaining: Option<u64>,
    /// POST requests made (reads that settle a row in doubt are not counted).
    pub attempts: u64,
    pub retries: u64,
    /// 429 answers.
    pub rate_limited: u64,
}

/// Also the last line of the run in the job's journal (`E`), which `status` reads back.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    #[serde(flatten)]
    pub counts: Counts,
    /// Rows in the input; `null` if it was not read.
    pub total_rows: Option<u64>,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub elapsed_seconds: f64,
    /// `null` while the run goes on (or if it was killed before it could say).
    pub exit_code: Option<u8>,
    /// Why the run ended before the end of its input, or why it failed; `null` when every
    /// row was dealt with.
    pub stop_reason: Option<String>,
    pub results_file: Option<PathBuf>,
    pub failed_rows_file: Option<PathBuf>,
    pub base_url: Option<String>,
    /// The limit the run kept to at its end, e.g. `600/min`: what the server stated (with
    /// `--rate auto`, the default), else what was assumed or capped.
    #[serde(default)]
    pub rate_limit: Option<String>,
    /// Set when `--concurrency` held the pace back: the requests in flight that would not.
    #[serde(default)]
    pub concurrency_needed: Option<u64>,
    #[serde(skip)]
    started: Option<std::time::Instant>,
    /// The journal this run recorded its start in, where its end is recorded too.
    #[serde(skip)]
    pub journal: Option<PathBuf>,
}

impl RunSummary {
    pub fn start() -> RunSummary {
        RunSummary {
            counts: Counts::default(),
            total_rows: None,
            started_at: timestamp(OffsetDateTime::now_utc()),
            ended_at: None,
            elapsed_seconds: 0.0,
            exit_code: None,
            stop_reason: None,
            results_file: None,
            failed_rows_file: None,
            base_url: None,
            rate_limit: None,
            concurrency_needed: None,
            started: Some(std::time::Instant::now()),
            journal: None,
        }
    }

    /// The end: the exit code, and the error's message if the command failed.
    pub fn finish(&mut self, result: &CmdResult) {
        self.ended_at = Some(timestamp(OffsetDateTime::now_utc()));
        self.elapsed_seconds = self.started.map_or(0.0, |s| {
            (s.elapsed().as_secs_f64() * 1000.0).round() / 1000.0
        });
        match result {
            Ok(exit) => self.exit_code = Some(exit.code()),
            Err(failure) => {
                self.exit_code = Some(failure.exit.code());
                self.stop_reason = Some(format!("{failure}"));
            }
        }
    }
}

/// Where the summary goes.
pub struct SummaryFile {
    path: PathBuf,
}

impl SummaryFile {
    /// Writes the placeholder now, which also proves the path is writable before anything
    /// is sent.
    pub fn create(path: &Path, summary: &RunSummary) -> anyhow::Result<SummaryFile> {
        let file = SummaryFile {
            path: path.to_path_buf(),
        };
        file.write(summary)?;
        Ok(file)
    }

    pub fn write(&self, summary: &RunSummary) -> anyhow::Result<()> {
        let mut json = serde_json::to_vec_pretty(summary)?;
        json.push(b'\n');
        let temporary = with_suffix(&self.path, ".tmp");
        // A leftover from a killed run may have other permissions; mode applies on creation.
        let _ = std::fs::remove_file(&temporary);
        let written =
            write_private(&temporary, &json).and_then(|()| std::fs::rename(&temporary, &self.path));
        if written.is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
        written.with_context(|| format!("cannot write the summary file {}", self.path.display()))
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = open_private(path, Access::Replace)?;
    file.write_all(bytes)?;
    file.sync_all()
}
