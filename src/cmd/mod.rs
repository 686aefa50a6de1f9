//! One module per subcommand. Each opens with its usage, owns its flags and returns the exit
//! code it finished with.

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

use crate::cli::Command;
use crate::exit::{CmdResult, Failure};

pub fn run(command: Command) -> CmdResult {
    match command {
        Command::Validate(args) => validate::run(args),
        Command::Send(args) => send::run(*args),
        Command::Status(args) => status::run(args),
        Command::Report(args) => report::run(args),
        Command::Tickets(args) => tickets::run(args),
        Command::Sandbox(args) => sandbox::run(args),
        Command::Completions(args) => completions::run(args),
        Command::Man(args) => man::run(args),
    }
}

/// The tokio runtime for the commands that talk HTTP.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::stopped(anyhow::anyhow!("cannot start the async runtime: {e}")))
}
