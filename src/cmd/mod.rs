//! One module per subcommand. Each opens with its usage, owns its flags and returns the exit
//! code it finished with. Which one runs is the command line's business (`cli.rs`): the
//! commands know nothing of the parser above them.

pub mod api_access;
pub mod completions;
pub mod job_files;
pub mod man;
pub mod report;
pub mod sandbox;
pub mod send;
mod signals;
pub mod status;
pub mod tickets;
pub mod validate;

use crate::exit::Failure;

/// The tokio runtime for the commands that talk HTTP.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::stopped(anyhow::anyhow!("cannot start the async runtime: {e}")))
}
