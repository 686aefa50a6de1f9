//! `bulk-reply validate`: read every row of an input file (or workbook sheet), report each
//! problem with its line (or sheet row), estimate the sending time. Sends nothing.

use std::io::{self, Write};

use anyhow::anyhow;

use crate::exit::{CmdResult, Exit, Failure};
use crate::input::template::MessageArgs;
use crate::input::{self, InputArgs};
use crate::rate::RateSetting;

const EXAMPLES: &str = "\
Examples:
  bulk-reply validate notices.csv                   check a file, send nothing
  bulk-reply validate export.csv --delimiter ';'    an Excel export with semicolons
  bulk-reply validate notices.xlsx --sheet Maart    one sheet of a workbook (.xlsx, .ods, …)
  bulk-reply validate export.csv --encoding windows-1252
                                                    Excel's plain \"CSV\" (not \"CSV UTF-8\")
  bulk-reply validate notices.csv --rate 600/min    estimate for a raised rate limit
  some-script | bulk-reply validate - --json        check standard input, report as JSON
  bulk-reply validate open.csv --template notice.md --preview 3
                                                    fill a Markdown template from each row
                                                    and show the first 3 messages as posted

Exit codes:
  0  valid: no errors (warnings allowed)
  2  not valid, or the input cannot be read";

/// Check an input file line by line; sends nothing.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    #[command(flatten)]
    pub input: InputArgs,

    #[command(flatten)]
    pub message: MessageArgs,

    /// The sending rate to estimate the duration with: N/s, N/min or N/h; auto assumes the
    /// API's default of 60/min (a send keeps to the limit the server states)
    #[arg(long, value_name = "RATE", default_value_t = RateSetting::Auto)]
    pub rate: RateSetting,

    /// Print the report as one JSON object on standard output instead
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> CmdResult {
    let source = args.input.source();
    let composer = args
        .message
        .composer()
        .map_err(|e| Failure::bad_input(anyhow!(e)))?;
    let report = input::validate_messages(
        &source,
        &args.input.rules(),
        &composer,
        args.message.preview,
    )
    .map_err(Failure::bad_input)?;
    let mut out = io::stdout().lock();
    let written = if args.json {
        writeln!(out, "{}", report.to_json(args.rate))
    } else {
        report
            .write_human(&mut out, &source.name(), args.rate)
            .and_then(|()| match report.is_valid() {
                true => writeln!(out, "Valid. Nothing was sent."),
                false => writeln!(
                    out,
                    "Not valid: fix the errors above and validate again. Nothing was sent."
                ),
            })
    };
    written.and_then(|()| out.flush()).map_err(|e| {
        Failure::bad_input(anyhow::Error::new(e).context("cannot write the report"))
    })?;
    Ok(if report.is_valid() {
        Exit::Ok
    } else {
        Exit::BadInput
    })
}
