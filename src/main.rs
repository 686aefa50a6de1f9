use std::process::ExitCode;

use clap::Parser;

use bulk_reply::{cli::Cli, cmd, logging};

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(&cli.log);
    match cmd::run(cli.command) {
        Ok(exit) => exit.into(),
        Err(failure) => {
            eprintln!("bulk-reply: error: {failure}");
            failure.exit.into()
        }
    }
}
