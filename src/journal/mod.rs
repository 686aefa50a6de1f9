//! The job's files: the journal (the durable truth of what was delivered), the results file
//! and the failed-rows file. One thread owns all three (see [`writer`]); workers hand it
//! outcomes and never touch a file themselves. That single owner is what makes resuming
//! after a crash simple to reason about.

mod failed;
pub mod history;
mod key;
mod lock;
pub mod outcomes;
mod record;
mod results;
mod resume;
mod writer;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

pub use key::RowKey;
pub use lock::{JobLock, holder as lock_holder};
pub use resume::{ResumeState, RowState};
pub use writer::{
    Durability, JournalHandle, PendingIntents, WriterGone, WriterReport, spawn_writer,
};

use record::{HEADER, RunRecord, TARGET_PREFIX, VERSION};

/// Where a job keeps its files.
#[derive(Debug, Clone)]
pub struct JobFiles {
    pub journal: PathBuf,
    pub results: PathBuf,
    pub failed: PathBuf,
    /// The API the job posts to. A journal records it, so that rows delivered to one API
    /// (a staging portal, the sandbox) are never taken as delivered to another.
    pub target: String,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("another bulk-reply run is working on this job ({}{}); wait for it to finish or stop it first", .lock.display(), .pid.map(|p| format!(", process {p}")).unwrap_or_default())]
    Locked { lock: PathBuf, pid: Option<u32> },
    #[error("{} is not a bulk-reply journal; refusing to touch it. Pass another --journal path, or move that file away", .path.display())]
    NotOurs { path: PathBuf },
    #[error("{} was written by an incompatible version of bulk-reply (format {found}, this build reads {VERSION}); finish the job with that version, or move the journal away to start over (rows already sent would be sent again)", .path.display())]
    Incompatible { path: PathBuf, found: String },
    #[error("{} is damaged at line {line}; refusing to guess what was delivered. Move it away only if you are sure no row of this job was sent", .path.display())]
    Damaged { path: PathBuf, line: u64 },
    #[error("the results file {} already exists but there is no journal for it at {}; it may belong to another input. Move it away or pass --results", .results.display(), .journal.display())]
    ForeignResults { results: PathBuf, journal: PathBuf },
    #[error("{} belongs to a job sent to {recorded}, not to {target}: the rows it records as delivered went there. To send this input to {target} too, give that job its own files (--journal and --results), or move these away", .path.display())]
    OtherTarget {
        path: PathBuf,
        recorded: String,
        target: String,
    },
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A job opened for this run: locked, its journal read, its files ready for the writer.
pub struct OpenJob {
    pub resume: ResumeState,
    pub lock: JobLock,
    journal: File,
    results: File,
    results_len: u64,
    failed_path: PathBuf,
    journal_path: PathBuf,
    results_path: PathBuf,
}

impl OpenJob {
    /// Locks the job, reads the journal (ignoring a torn last record), cuts the results file
    /// back to what the journal vouches for, and clears the previous run's failed rows.
    pub fn open(files: &JobFiles) -> Result<OpenJob, JournalError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| JournalError::Io { path, source }
        };
        let lock = JobLock::acquire(&files.journal)?;
        let loaded = resume::load(&files.journal)?;
        let (resume, journal) = match loaded {
            Some(loaded) => {
                if let Some(recorded) = loaded.target.filter(|recorded| *recorded != files.target) {
                    return Err(JournalError::OtherTarget {
                        path: files.journal.clone(),
                        recorded,
                        target: files.target.clone(),
                    });
                }
                let journal = open_private(&files.journal).map_err(io(&files.journal))?;
                // Drop a torn tail so the next record starts on a line of its own.
                journal
                    .set_len(loaded.valid_len)
                    .map_err(io(&files.journal))?;
                (loaded.state, journal)
            }
            None => {
                if std::fs::metadata(&files.results)
                    .map(|m| m.len() > 0)
                    .unwrap_or(false)
                {
                    return Err(JournalError::ForeignResults {
                        results: files.results.clone(),
                        journal: files.journal.clone(),
                    });
                }
                let mut journal = open_private(&files.journal).map_err(io(&files.journal))?;
                // Whatever is there is at most a torn header from a run that died at once.
                journal.set_len(0).map_err(io(&files.journal))?;
                journal
                    .write_all(
                        format!("{HEADER} {VERSION}\n{TARGET_PREFIX}{}\n", files.target).as_bytes(),
                    )
                    .map_err(io(&files.journal))?;
                journal.sync_all().map_err(io(&files.journal))?;
                sync_parent_dir(&files.journal);
                (ResumeState::default(), journal)
            }
        };
        let results = open_private(&files.results).map_err(io(&files.results))?;
        let mut results_len = results.metadata().map_err(io(&files.results))?.len();
        if results_len > resume.results_end {
            // Records written by a run that died before its journal line became durable:
            // those rows are in doubt and will get a fresh record once settled.
            results
                .set_len(resume.results_end)
                .map_err(io(&files.results))?;
            results_len = resume.results_end;
        } else if results_len < resume.results_end {
            tracing::warn!(
                "the results file {} is shorter than the journal expects; was it edited? New records are appended after what is there",
                files.results.display()
            );
        }
        match std::fs::remove_file(&files.failed) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&files.failed)(e)),
        }
        Ok(OpenJob {
            resume,
            lock,
            journal,
            results,
            results_len,
            failed_path: files.failed.clone(),
            journal_path: files.journal.clone(),
            results_path: files.results.clone(),
        })
    }
}

impl OpenJob {
    /// Marks the start of a run in the journal (durably, before any row of it), so that
    /// `status` and `report` can tell this run's rows from earlier ones'.
    pub fn record_run_start(&mut self, input_rows: u64) -> Result<(), JournalError> {
        let mut line = Vec::new();
        RunRecord::Began {
            at_ms: writer::unix_ms(std::time::SystemTime::now()),
            pid: std::process::id(),
            input_rows,
        }
        .encode(&mut line);
        let io = |source| JournalError::Io {
            path: self.journal_path.clone(),
            source,
        };
        self.journal.write_all(&line).map_err(io)?;
        self.journal.sync_data().map_err(io)
    }
}

/// Marks the end of a run with its summary (one line of JSON). The run's writer has let go
/// of the job by now, so the lock is taken again for this one line; if another run took the
/// job in between, this run's end stays unrecorded rather than landing inside that run.
pub fn record_run_end(journal: &Path, summary_json: String) -> Result<(), JournalError> {
    let lock = match JobLock::acquire(journal) {
        Ok(lock) => lock,
        Err(JournalError::Locked { .. }) => return Ok(()),
        Err(other) => return Err(other),
    };
    let mut line = Vec::new();
    RunRecord::Ended {
        at_ms: writer::unix_ms(std::time::SystemTime::now()),
        summary: summary_json,
    }
    .encode(&mut line);
    let io = |source| JournalError::Io {
        path: journal.to_path_buf(),
        source,
    };
    let mut file = OpenOptions::new().append(true).open(journal).map_err(io)?;
    file.write_all(&line).map_err(io)?;
    file.sync_data().map_err(io)?;
    drop(lock);
    Ok(())
}

/// Opens for appending, creating with mode 0600: these files hold customer data.
fn open_private(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).read(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Makes a newly created file's directory entry durable too. Best effort: some filesystems
/// cannot fsync a directory, and the file's own data is what matters most.
fn sync_parent_dir(path: &Path) {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let Ok(dir) = File::open(parent) {
        let _ = dir.sync_all();
    }
}
