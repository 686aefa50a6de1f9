use std::process::ExitCode;

use clap::Parser;

use bulk_reply::exit::Exit;
use bulk_reply::output::{self, Level, LogFormat};
use bulk_reply::{cli::Cli, crash_report, fields, logging};

fn main() -> ExitCode {
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
