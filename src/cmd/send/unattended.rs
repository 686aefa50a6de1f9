//! The flags of `send` that matter when nobody watches: a deadline, a summary file for the
//! monitor, and how often to log progress.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use super::deadline::{DeadlineSpec, parse_deadline};
use super::progress::ProgressView;
use crate::duration::parse_duration;
use crate::output::{self, LogFormat};

const DEFAULT_PROGRESS_INTERVAL: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Scheduled runs")]
pub struct UnattendedArgs {
    /// Start no new request after WHEN, then stop (exit 0; the next run continues): a
    /// duration from the start (2h, 90m), a clock time in local time (06:00: its next
    /// occurrence), or an RFC 3339 timestamp (2026-11-25T06:00:00+01:00)
    #[arg(long, value_name = "WHEN", value_parser = parse_deadline)]
    pub deadline: Option<DeadlineSpec>,

    /// Write a JSON summary of the run here (counts, times, exit code, stop reason); written
    /// at the start with "exitCode": null and replaced at the end, also when the run stops
    /// early or fails. Mode 0600
    #[arg(long, value_name = "PATH")]
    pub summary_json: Option<PathBuf>,

    /// When there is no progress bar (no terminal, or --log-format json), print a progress
    /// line this often; 0 turns them off. With -q they appear only if this flag is given
    /// [default: 30s]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub progress_interval: Option<Duration>,
}

impl UnattendedArgs {
    /// A bar for a person at a terminal; lines for logs; nothing under `-q` unless asked.
    pub fn progress_view(&self) -> ProgressView {
        let lines = |interval: Duration| match interval.is_zero() {
            true => ProgressView::Off,
            false => ProgressView::Lines(interval),
        };
        if output::is_quiet() {
            return self.progress_interval.map_or(ProgressView::Off, lines);
        }
        if output::format() == LogFormat::Text && std::io::stderr().is_terminal() {
            return ProgressView::Bar;
        }
        lines(self.progress_interval.unwrap_or(DEFAULT_PROGRESS_INTERVAL))
    }
}
