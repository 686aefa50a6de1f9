//! Which job a read-only command (`status`, `report`) looks at, and how `send` names a job's
//! files: beside the input, so that running the same command again finds them.

use std::path::{Path, PathBuf};

use crate::files::with_suffix;
use crate::journal::JobFiles;

/// The flags that find a job's files, as `send` was given them.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "The job's files (as given to send)")]
pub struct JobFileArgs {
    /// A rehearsal's files (`send --sandbox`), in the directory its summary named
    /// (`rehearsal: … are in DIR`)
    #[arg(long, value_name = "DIR")]
    pub rehearsal: Option<PathBuf>,

    /// The results file, if send was given --results [default: INPUT.results.ndjson]
    #[arg(long, value_name = "PATH")]
    pub results: Option<PathBuf>,

    /// The failed-rows file, if send was given --failed [default: INPUT.failed.csv]
    #[arg(long, value_name = "PATH")]
    pub failed: Option<PathBuf>,

    /// The journal, if send was given --journal [default: INPUT.journal]
    #[arg(long, value_name = "PATH")]
    pub journal: Option<PathBuf>,
}

impl JobFileArgs {
    /// The job's files for INPUT; the target is whatever the journal recorded.
    pub fn files(&self, input: &Path) -> JobFiles {
        let named = |given: &Option<PathBuf>, file: &str| {
            given
                .clone()
                .unwrap_or_else(|| self.default_file(input, file))
        };
        JobFiles {
            results: named(&self.results, "results.ndjson"),
            failed: named(&self.failed, "failed.csv"),
            journal: named(&self.journal, "journal"),
            target: String::new(),
        }
    }

    /// Where a file of the job is unless a flag says otherwise: beside the input, or in the
    /// rehearsal's own place (named after the input's file) for a rehearsal.
    pub fn default_file(&self, input: &Path, file: &str) -> PathBuf {
        match &self.rehearsal {
            Some(dir) => {
                default_job_file(&dir.join(input.file_name().unwrap_or_default()), true, file)
            }
            None => default_job_file(input, false, file),
        }
    }
}

/// `INPUT.journal`, or `INPUT.sandbox.journal` for a rehearsal: a rehearsal is a job of its
/// own, so that its journal never makes the real run believe the rows were delivered.
pub(crate) fn default_job_file(input: &Path, sandbox: bool, file: &str) -> PathBuf {
    let kind = if sandbox { ".sandbox" } else { "" };
    with_suffix(input, &format!("{kind}.{file}"))
}
