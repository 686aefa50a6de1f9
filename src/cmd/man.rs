//! `bulk-reply man`: the manual page (roff), generated from the clap definitions: every
//! subcommand with its flags, environment variables and examples.

use std::io::Write;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::exit::{CmdResult, Exit, Failure};

const EXAMPLES: &str = "\
Examples:
  bulk-reply man | man -l -                         read it now
  bulk-reply man > /usr/local/share/man/man1/bulk-reply.1   install it";

/// Print the manual page (roff) on standard output
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {}

pub fn run(_args: Args) -> CmdResult {
    let command = Cli::command();
    let mut page = Vec::new();
    let rendered = clap_mangen::Man::new(command.clone())
        .render(&mut page)
        .and_then(|()| {
            // One section per subcommand, as git's pages have: the top page alone would
            // list the subcommands without their flags.
            for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
                writeln!(page, ".SH \"BULK-REPLY {}\"", sub.get_name().to_uppercase())?;
                let man = clap_mangen::Man::new(sub.clone());
                man.render_description_section(&mut page)?;
                man.render_options_section(&mut page)?;
                man.render_extra_section(&mut page)?;
            }
            Ok(())
        });
    rendered
        .and_then(|()| std::io::stdout().lock().write_all(&page))
        .map_err(|e| {
            Failure::stopped(anyhow::Error::new(e).context("cannot write the manual page"))
        })?;
    Ok(Exit::Ok)
}
