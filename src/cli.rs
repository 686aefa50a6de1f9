//! The command line: the top-level parser and the list of subcommands. Each subcommand's own
//! flags live with its code in `cmd/`, as in xsv, so a command file reads top to bottom.

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::exit::{CmdResult, Exit};
use crate::logging::{self, LogArgs};
use crate::output::{self, Level, LogFormat};
use crate::{cmd, crash_report, fields};

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

/// The whole program: what `main.rs` calls. Parses the command line, runs the subcommand,
/// and turns its result into the exit code, printing an error once, here.
pub fn main() -> ExitCode {
    crash_report::install();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(error),
    };
    crash_report::running(cli.command.name());
    logging::init(&cli.log);
    match cli.command.run() {
        Ok(exit) => exit.into(),
        Err(failure) if failure.is_broken_pipe() => Exit::Ok.into(),
        Err(failure) => {
            output::emit(
                Level::Error,
                &format!("bulk-reply: error: {failure}"),
                fields! {"exitCode" => failure.exit.code()},
            );
            failure.exit.into()
        }
    }
}

/// clap's own message for a command line it cannot parse (exit 2) — as a JSON line when the
/// command line asked for JSON logs, so a log collector never sees a stray text line.
/// `--help` and `--version` go to standard output as usual.
fn usage_error(error: clap::Error) -> ExitCode {
    if !error.use_stderr() || !asks_for_json_logs() {
        let _ = error.print();
        return ExitCode::from(error.exit_code().clamp(0, 255) as u8);
    }
    output::configure(LogFormat::Json, false);
    output::emit(
        Level::Error,
        error.render().to_string().trim_end(),
        fields! {"exitCode" => Exit::BadInput.code()},
    );
    Exit::BadInput.into()
}

/// `--log-format json` or `--log-format=json` anywhere on the command line.
fn asks_for_json_logs() -> bool {
    // Lossy: a non-UTF-8 argument (which clap just refused) must not panic here.
    let args: Vec<String> = std::env::args_os()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    args.windows(2)
        .any(|pair| pair[0] == "--log-format" && pair[1] == "json")
        || args.iter().any(|arg| arg == "--log-format=json")
}
