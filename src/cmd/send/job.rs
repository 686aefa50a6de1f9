//! The job `send` works on: its files (named after the input so the same command finds
//! them again), its rows as jobs keyed by content, and standard input spooled to disk.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::anyhow;

use super::Args;
use crate::cmd::job_files::default_job_file;
use crate::delivery::Delivery;
use crate::delivery::RowKey;
use crate::exit::Failure;
use crate::files::Durability;
use crate::files::{Access, open_private, with_suffix};
use crate::input::template::Composer;
use crate::input::{self, InputSource};
use crate::journal::ledger::{self, Ledger};
use crate::journal::{JobFiles, JournalError, ResumeState, RowState};
use crate::pipeline::{Deliveries, DeliverySource};

/// Where a rehearsal (`--sandbox`) keeps its journal, its ledger and, unless given, its
/// results and failed rows: a new directory under the system's temporary directory for
/// each run. The simulator starts empty every time, so no earlier rehearsal may count for
/// it, and rehearsing leaves nothing beside the input (inside a repository, say).
pub(super) struct Rehearsal {
    pub(super) dir: PathBuf,
}

impl Rehearsal {
    /// A place no earlier rehearsal used; created by [`Rehearsal::create`] once the run
    /// goes ahead.
    pub(super) fn new_place() -> Rehearsal {
        let stamp = time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!(
                "[year][month][day]-[hour][minute][second]"
            ))
            .unwrap_or_default();
        let name = format!("bulk-reply-rehearsal-{stamp}-{}", std::process::id());
        Rehearsal {
            dir: std::env::temp_dir().join(name),
        }
    }

    pub(super) fn create(&self) -> Result<(), Failure> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&self.dir).map_err(|e| {
            Failure::bad_input(anyhow!(
                "cannot create the rehearsal directory {}: {e}",
                self.dir.display()
            ))
        })
    }
}

/// The job's files: given, or named after the input so that running the same command again
/// finds them; a rehearsal's in its own place.
pub(super) fn job_files(
    args: &Args,
    source: &InputSource,
    rehearsal: Option<&Rehearsal>,
) -> Result<JobFiles, Failure> {
    let base = match (&source.path, &args.results) {
        (Some(input), _) => job_path(input),
        (None, Some(results)) => results.clone(),
        (None, None) => {
            return Err(Failure::bad_input(anyhow!(
                "--results is required when reading standard input: it names the job, so that running again resumes it"
            )));
        }
    };
    // A rehearsal is a job of its own, in a place of its own: its journal must never make
    // the real run, or the next rehearsal, believe the rows were delivered.
    let base = match rehearsal {
        Some(rehearsal) => rehearsal.dir.join(base.file_name().unwrap_or_default()),
        None => base,
    };
    let named = |given: &Option<PathBuf>, file: &str| {
        given
            .clone()
            .unwrap_or_else(|| default_job_file(&base, args.sandbox, file))
    };
    Ok(JobFiles {
        results: named(&args.results, "results.ndjson"),
        failed: named(&args.failed, "failed.csv"),
        journal: named(&args.journal, "journal"),
        // The sandbox's port changes from run to run; what matters is that it is the sandbox.
        target: if args.sandbox {
            "the built-in sandbox".to_string()
        } else {
            args.api.base_url.trim_end_matches('/').to_string()
        },
    })
}

/// The path a job is known by: a job is its file, not the path it was named by. A symlink
/// to an input is the input it points to, so `link.csv` finds (and locks) the journal of
/// `notices.csv` and two runs cannot race on one file. A directory symlink needs nothing:
/// the journal beside the file is the same file either way.
fn job_path(input: &Path) -> PathBuf {
    let is_symlink = std::fs::symlink_metadata(input).is_ok_and(|m| m.file_type().is_symlink());
    match is_symlink {
        // A dangling link falls back to its own name; reading the input reports it.
        true => std::fs::canonicalize(input).unwrap_or_else(|_| input.to_path_buf()),
        false => input.to_path_buf(),
    }
}

/// How the delivery ledger names this job to other jobs: the input's full path (what the
/// results file is named after, for standard input).
pub(super) fn job_name(source: &InputSource, files: &JobFiles) -> String {
    let path = match &source.path {
        Some(input) => input.as_path(),
        None => files.results.as_path(),
    };
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// The ledger of the portal this job sends to; a rehearsal's is its own.
pub(super) fn open_ledger(
    args: &Args,
    files: &JobFiles,
    job: &str,
    rehearsal: Option<&Rehearsal>,
) -> Result<Ledger, Failure> {
    let dir = rehearsal
        .map(|r| r.dir.as_path())
        .or(args.ledger.as_deref());
    let path =
        ledger::ledger_path(dir, &files.target).map_err(|e| Failure::bad_input(anyhow!(e)))?;
    Ledger::open(&path, &files.target, job).map_err(|e| Failure::bad_input(anyhow!(e)))
}

/// `BULK_REPLY_UNSAFE_NO_FSYNC=1` exists for the group-commit benchmark only: it measures
/// what durability costs. Never use it for a real job.
pub(super) fn durability() -> Durability {
    match std::env::var_os("BULK_REPLY_UNSAFE_NO_FSYNC") {
        Some(v) if v == "1" => Durability::Unsafe,
        _ => Durability::Fsync,
    }
}

/// The input's rows as jobs, read a second time now that they are known to be valid, each
/// message composed again exactly as validation composed it.
pub(super) fn job_source(
    source: InputSource,
    allow_duplicates: bool,
    composer: Composer,
) -> DeliverySource {
    Box::new(
        move || match input::read_rows_with(&source, composer.message_column()) {
            Ok(rows) => jobs_from(rows, allow_duplicates, composer),
            Err(e) => Box::new(std::iter::once(Err(format!(
                "cannot read the input again: {e}"
            )))),
        },
    )
}

pub(super) fn jobs_from(
    rows: input::RowReader,
    allow_duplicates: bool,
    composer: Composer,
) -> Deliveries {
    // Copies of the same row, when allowed, are separate deliveries; counting them needs
    // memory per row, so it is done only when duplicates were allowed.
    let mut copies: Option<HashMap<RowKey, u32>> = allow_duplicates.then(HashMap::new);
    Box::new(rows.map(move |row| {
        let changed =
            |e: &dyn std::fmt::Display| format!("the input changed since it was validated: {e}");
        let mut row = row.map_err(|e| changed(&e))?;
        if !composer.is_as_written() {
            // The key is of the message posted: the same template and data resume the job,
            // a changed template is a different message.
            row.message = composer
                .compose(&row.ticket_id, &row.message, &row.extra)
                .map_err(|e| changed(&format!("line {}: {e}", row.line)))?;
        }
        let mut key = RowKey::of(&row.ticket_id, &row.message);
        if let Some(copies) = copies.as_mut() {
            let seen = copies.entry(key).or_insert(0);
            if *seen > 0 {
                key = key.nth(*seen);
            }
            *seen += 1;
        }
        // A deliberate repeat is meant to arrive again: the ledger does not stop it.
        let delivery_key = (key == RowKey::of(&row.ticket_id, &row.message))
            .then(|| ledger::delivery_key(&row.ticket_id, &row.message));
        Ok(Delivery {
            line: row.line,
            ticket_id: row.ticket_id,
            message: row.message,
            extra: row.extra,
            key,
            delivery_key,
            known_delivery: None,
            doubt: None,
        })
    }))
}

pub(super) fn journal_failure(error: JournalError) -> Failure {
    match error {
        JournalError::Locked { .. } => Failure::stopped(anyhow!(error)),
        _ => Failure::bad_input(anyhow!(error)),
    }
}

/// Standard input, copied to a private file so it can be validated and then sent: nothing
/// is sent before every row has been checked. Removed when the run ends.
pub(super) struct Spool {
    pub(super) path: PathBuf,
}

impl Spool {
    pub(super) fn from_stdin(results: &Path) -> Result<Spool, Failure> {
        // Named for this process: a second run of the same job must not overwrite the input
        // of the first before the job's lock refuses it.
        let path = with_suffix(results, &format!(".stdin.{}", std::process::id()));
        let mut file = open_private(&path, Access::Replace)
            .map_err(|e| Failure::bad_input(anyhow!("cannot create {}: {e}", path.display())))?;
        // From here on the file exists; the guard removes it whatever happens next.
        let spool = Spool { path };
        std::io::copy(&mut std::io::stdin().lock(), &mut file).map_err(|e| {
            Failure::bad_input(anyhow!(
                "cannot read standard input into {}: {e}",
                spool.path.display()
            ))
        })?;
        Ok(spool)
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The first row this run will send, as it will be posted: what the confirmation question
/// shows when an earlier run (a canary) already delivered the first rows of the file.
pub(super) fn first_to_send(
    source: &InputSource,
    allow_duplicates: bool,
    composer: &Composer,
    resume: &ResumeState,
) -> Option<input::Preview> {
    job_source(source.clone(), allow_duplicates, composer.clone())()
        .filter_map(Result::ok)
        .find(|job| resume.get(&job.key) != Some(RowState::Settled))
        .map(|job| input::Preview {
            line: job.line,
            ticket_id: job.ticket_id,
            message: job.message,
        })
}
