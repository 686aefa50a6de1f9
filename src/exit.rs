//! Exit codes and the one error type that reaches `main`.
//!
//! Every command returns either the [`Exit`] it finished with or a [`Failure`] that carries
//! both the message for the user and the exit code it maps to. Errors are classified once,
//! where they happen, and printed once, in `main`.

use std::fmt;

/// The documented exit codes. Scripts and cron jobs depend on these numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything asked for was done (all rows valid / delivered).
    Ok = 0,
    /// The run finished, but some rows failed.
    RowsFailed = 1,
    /// Usage or input error: nothing was sent.
    BadInput = 2,
    /// Stopped early (fatal API error, interrupt, lock held); resumable.
    Stopped = 3,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit.code())
    }
}

/// An error that ends a command, with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub error: anyhow::Error,
}

impl Failure {
    /// A usage or input problem: exit 2, nothing was sent.
    pub fn bad_input(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            exit: Exit::BadInput,
            error: error.into(),
        }
    }

    /// The run stopped early and can be resumed: exit 3.
    pub fn stopped(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            exit: Exit::Stopped,
            error: error.into(),
        }
    }
}

impl Failure {
    /// Standard output was closed by its reader (`bulk-reply completions bash | head -1`):
    /// the reader has what it wanted, so the command ends quietly with exit 0, as ripgrep
    /// does, whatever exit the failure carries.
    pub fn is_broken_pipe(&self) -> bool {
        self.error.chain().any(|cause| {
            cause
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        })
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

/// What every command returns.
pub type CmdResult = Result<Exit, Failure>;
