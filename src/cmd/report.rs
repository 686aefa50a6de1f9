//! `bulk-reply report`: how a job went, as one self-contained HTML page to read, print or
//! send to a manager (`html.rs`), or as CSV with one row per input line for a spreadsheet.
//!
//! The totals are `status`'s, from the journal; the rows are the latest results record of
//! each input line (the results file is appended in completion order across runs, so a row
//! that failed, then got through, has two records: the later one counts). Lines without a
//! record are `pending`. The report holds one small record per row (no ticket histories),
//! so it takes memory in proportion to the job, unlike `status`.

mod html;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};

use super::job_files::JobFileArgs;
use super::status::{JobStatus, now_ms};
use crate::exit::{CmdResult, Exit, Failure};
use crate::files::{Access, open_private};
use crate::input::{self, InputSource, MessageColumn};
use crate::journal::history::{self, History};
use crate::journal::outcomes::{self, OutcomeRecord};
use crate::output::{self, Level};

const EXAMPLES: &str = "\
Examples:
  bulk-reply report notices.csv                 writes notices.csv.report.html
  bulk-reply report notices.csv -o monday.html
  bulk-reply report notices.csv --csv -o rows.csv
  bulk-reply report notices.csv --csv -o - | column -s, -t
  bulk-reply report open.csv --ticket-url 'https://portal.example.nl/tickets/{ticketId}'

The page has no script and loads nothing from anywhere: it reads offline, prints, and can
be mailed as it is. It names tickets and holds the message as posted: it is customer data
(mode 0600).";

/// Write how a job went: an HTML page (totals, failures and their fixes, timeline, runs)
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The input file the job was sent from; its files are found beside it
    #[arg(value_name = "INPUT")]
    pub input: PathBuf,

    /// Where to write it; `-` for standard output [default: INPUT.report.html, or
    /// INPUT.report.csv with --csv]
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// One CSV row per input line, in input order (line, ticketId, status, messageId,
    /// postedAt, errorKind, error), instead of the page
    #[arg(long)]
    pub csv: bool,

    /// Link each ticket id to the portal: a URL with {ticketId} in it
    #[arg(long, value_name = "URL", value_parser = parse_ticket_url)]
    pub ticket_url: Option<String>,

    #[command(flatten)]
    pub files: JobFileArgs,
}

pub fn run(args: Args) -> CmdResult {
    let files = args.files.files(&args.input);
    let history = history::read(&files.journal)
        .map_err(|e| Failure::bad_input(anyhow!(e)))?
        .ok_or_else(|| {
            Failure::bad_input(anyhow!(
                "no job to report on: {} has no journal at {} (has it been sent?)",
                args.input.display(),
                files.journal.display()
            ))
        })?;
    // The page lists only the rows that need a look; the CSV lists every one.
    let keep = if args.csv { Keep::Every } else { Keep::Notable };
    let rows =
        JobRows::read(&args.input, &files.results, &history, keep).map_err(Failure::stopped)?;
    let status = JobStatus::of(&args.input, &files, &history, now_ms());
    let output = args.output.clone().unwrap_or_else(|| {
        let file = if args.csv {
            "report.csv"
        } else {
            "report.html"
        };
        args.files.default_file(&args.input, file)
    });
    let mut bytes = Vec::new();
    if args.csv {
        rows.write_csv(&mut bytes).map_err(Failure::stopped)?;
    } else {
        let page = html::Page {
            status: &status,
            history: &history,
            rows: &rows,
            ticket_url: args.ticket_url.as_deref(),
        };
        page.render(&mut bytes);
    }
    if output.as_os_str() == "-" {
        std::io::stdout()
            .lock()
            .write_all(&bytes)
            .context("cannot write the report")
            .map_err(Failure::stopped)?;
    } else {
        write_private(&output, &bytes)
            .with_context(|| format!("cannot write the report {}", output.display()))
            .map_err(Failure::stopped)?;
        output::say(Level::Info, &format!("report: {}", output.display()));
    }
    Ok(Exit::Ok)
}

fn parse_ticket_url(text: &str) -> Result<String, String> {
    if !text.contains("{ticketId}") {
        return Err("the URL needs {ticketId} where the ticket's id goes".into());
    }
    if !(text.starts_with("https://") || text.starts_with("http://")) {
        return Err("the URL must start with https:// (or http://)".into());
    }
    Ok(text.to_string())
}

/// Where one input line stands, from its latest results record.
#[derive(Debug, Clone)]
pub struct RowLine {
    pub line: u64,
    pub ticket_id: String,
    pub status: RowStatus,
    pub message_id: Option<String>,
    pub posted_at: Option<String>,
    pub error_kind: Option<String>,
    pub error: Option<String>,
    pub reason: Option<String>,
    pub title: Option<String>,
    pub copies: Option<u32>,
    pub doubled: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowStatus {
    Sent,
    Failed,
    Skipped,
    InDoubt,
    /// No outcome recorded yet.
    Pending,
}

impl RowStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RowStatus::Sent => "sent",
            RowStatus::Failed => "failed",
            RowStatus::Skipped => "skipped",
            RowStatus::InDoubt => "in_doubt",
            RowStatus::Pending => "pending",
        }
    }

    fn parse(status: &str) -> RowStatus {
        match status {
            "sent" => RowStatus::Sent,
            "failed" => RowStatus::Failed,
            "skipped" => RowStatus::Skipped,
            "in_doubt" => RowStatus::InDoubt,
            _ => RowStatus::Pending,
        }
    }
}

/// The first message delivered, as the ticket shows it.
#[derive(Debug, Clone)]
pub struct FirstMessage {
    pub line: u64,
    pub ticket_id: String,
    pub title: Option<String>,
    pub posted_at: Option<String>,
    pub message: String,
}

/// Which rows [`JobRows`] keeps in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Every input line, pending ones included (the CSV).
    Every,
    /// Rows that need a look: failed, skipped, in doubt, doubled (the page). A job of a
    /// million delivered rows then takes no memory for them.
    Notable,
}

/// The input lines and where they stand.
#[derive(Debug)]
pub struct JobRows {
    /// By input line.
    pub rows: BTreeMap<u64, RowLine>,
    keep: Keep,
    pub first_message: Option<FirstMessage>,
    /// Why the input could not be read (the rows are then the results' only).
    pub input_unread: Option<String>,
    /// Results lines that are not records (edited by hand?).
    pub unreadable_results: u64,
}

impl JobRows {
    pub fn read(
        input: &Path,
        results: &Path,
        history: &History,
        keep: Keep,
    ) -> anyhow::Result<JobRows> {
        let mut job = JobRows {
            rows: BTreeMap::new(),
            keep,
            first_message: None,
            input_unread: None,
            unreadable_results: 0,
        };
        let read = outcomes::for_each(results, history.results_end, |record| {
            job.take(record);
        })
        .with_context(|| format!("cannot read the results file {}", results.display()))?;
        job.unreadable_results = read.unreadable;
        if keep == Keep::Notable {
            return Ok(job);
        }
        // The input gives the lines no run has reached yet. Its format is guessed as
        // `send` guesses it; a job read with other flags still reports from its results.
        let source = InputSource {
            path: Some(input.to_path_buf()),
            ..InputSource::default()
        };
        match input::read_rows_with(&source, MessageColumn::Ignored) {
            Ok(reader) => {
                for row in reader.flatten() {
                    job.rows.entry(row.line).or_insert_with(|| RowLine {
                        line: row.line,
                        ticket_id: row.ticket_id,
                        status: RowStatus::Pending,
                        message_id: None,
                        posted_at: None,
                        error_kind: None,
                        error: None,
                        reason: None,
                        title: None,
                        copies: None,
                        doubled: false,
                    });
                }
            }
            Err(e) => job.input_unread = Some(e.to_string()),
        }
        Ok(job)
    }

    fn take(&mut self, record: OutcomeRecord) {
        let status = RowStatus::parse(&record.status);
        let glimpse = record.glimpse();
        let posted_at = glimpse.posted.as_ref().and_then(|p| p.posted_at.clone());
        if status == RowStatus::Sent
            && self.first_message.is_none()
            && let Some(posted) = &glimpse.posted
        {
            self.first_message = Some(FirstMessage {
                line: record.line,
                ticket_id: record.ticket_id.clone(),
                title: glimpse.title.clone(),
                posted_at: posted.posted_at.clone(),
                message: posted.message.clone(),
            });
        }
        let (error_kind, error) = match record.error {
            Some(e) => (Some(e.kind), Some(e.message)),
            None => (None, None),
        };
        let notable = status != RowStatus::Sent || record.doubled;
        if self.keep == Keep::Notable && !notable {
            // A later record wins, also over an earlier failure of the same line.
            self.rows.remove(&record.line);
            return;
        }
        // Later records of a line win: they are its latest outcome.
        self.rows.insert(
            record.line,
            RowLine {
                line: record.line,
                ticket_id: record.ticket_id,
                status,
                message_id: record.message_id,
                posted_at,
                error_kind,
                error,
                reason: record.reason,
                title: glimpse.title,
                copies: record.copies,
                doubled: record.doubled,
            },
        );
    }

    pub fn with_status(&self, status: RowStatus) -> impl Iterator<Item = &RowLine> {
        self.rows.values().filter(move |row| row.status == status)
    }

    /// One CSV row per input line, in input order.
    pub fn write_csv(&self, out: &mut Vec<u8>) -> anyhow::Result<()> {
        let mut writer = csv::Writer::from_writer(out);
        writer.write_record([
            "line",
            "ticketId",
            "status",
            "messageId",
            "postedAt",
            "errorKind",
            "error",
        ])?;
        for row in self.rows.values() {
            writer.write_record([
                row.line.to_string().as_str(),
                &row.ticket_id,
                row.status.as_str(),
                row.message_id.as_deref().unwrap_or(""),
                row.posted_at.as_deref().unwrap_or(""),
                row.error_kind.as_deref().unwrap_or(""),
                row.error.as_deref().unwrap_or(""),
            ])?;
        }
        writer.flush()?;
        Ok(())
    }
}

/// Creates (or replaces) the file with mode 0600: the report is customer data.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    open_private(path, Access::Replace)?.write_all(bytes)
}
