//! The command line: the top-level parser and the list of subcommands. Each subcommand's own
//! flags live with its code in `cmd/`, as in xsv, so a command file reads top to bottom.

use clap::{CommandFactory, Parser, Subcommand};

use crate::cmd;
use crate::exit::CmdResult;
use crate::logging::LogArgs;

const EXAMPLES: &str = "\
Examples:
  bulk-reply tickets --status open -o open.csv    select the tickets for a notice
  bulk-reply send open.csv --template notice.md --dry-run
                                                  preview the notice each ticket gets
  bulk-reply validate notices.csv                 check a file, send nothing
  bulk-reply send notices.csv --sandbox           rehearse against the built-in simulator
  MKP_API_TOKEN=... bulk-reply send notices.csv   post every message for real
  bulk-reply sandbox --listen 127.0.0.1:0         run the simulator for your own scripts
  bulk-reply --log-format json send notices.csv --max-rows 500 --summary-json s.json
                                                  a scheduled run (see send --help)
  bulk-reply status notices.csv                   where that job stands, also while it runs
  bulk-reply report notices.csv                   how it went, as a page to share

Exit codes:
  0  everything done        1  finished, some rows failed
  2  usage or input error   3  stopped early (resumable: run the same command again)";

/// Post one reply to many MijnKlantportaal tickets: validated, rate-limited, exactly once.
#[derive(Debug, Parser)]
// `args_override_self`: a flag given twice takes its last value, so a wrapper script can
// append an override to a fixed command line.
#[command(name = "bulk-reply", version, after_help = EXAMPLES, args_override_self = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check an input file line by line; sends nothing
    Validate(cmd::validate::Args),
    /// Post every row as a reply: rate-limited, retried, resumable, exactly once
    Send(Box<cmd::send::Args>),
    /// Where a job stands: delivered, failed, skipped, in doubt, remaining, the runs so far
    Status(cmd::status::Args),
    /// How a job went, as one HTML page to share (or --csv: one row per input line)
    Report(cmd::report::Args),
    /// List tickets as CSV (e.g. all open ones), ready to feed `send --template`
    Tickets(cmd::tickets::Args),
    /// Run the embedded simulator of the ticket API
    Sandbox(cmd::sandbox::Args),
    /// Print a shell completion script (bash, zsh, fish)
    Completions(cmd::completions::Args),
    /// Print the manual page (roff)
    Man(cmd::man::Args),
}

impl Command {
    /// Runs the subcommand. Completions and the manual page are generated from this parser.
    pub fn run(self) -> CmdResult {
        match self {
            Command::Validate(args) => cmd::validate::run(args),
            Command::Send(args) => cmd::send::run(*args),
            Command::Status(args) => cmd::status::run(args),
            Command::Report(args) => cmd::report::run(args),
            Command::Tickets(args) => cmd::tickets::run(args),
            Command::Sandbox(args) => cmd::sandbox::run(args),
            Command::Completions(args) => cmd::completions::run(args, Cli::command()),
            Command::Man(args) => cmd::man::run(args, Cli::command()),
        }
    }

    /// The subcommand's name, as typed.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Validate(_) => "validate",
            Command::Send(_) => "send",
            Command::Tickets(_) => "tickets",
            Command::Status(_) => "status",
            Command::Report(_) => "report",
            Command::Sandbox(_) => "sandbox",
            Command::Completions(_) => "completions",
            Command::Man(_) => "man",
        }
    }
}
