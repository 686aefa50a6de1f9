//! `bulk-reply man`: the manual page (roff), generated from the clap definitions: every
//! subcommand with its flags, environment variables and examples.

use std::io::Write;

use crate::exit::{CmdResult, Exit, Failure};

const EXAMPLES: &str = "\
Examples:
  bulk-reply man | man -l -                         read it now
  bulk-reply man > /usr/local/share/man/man1/bulk-reply.1   install it";

/// Print the manual page (roff) on standard output
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {}

/// `command` is the whole parser, which the page documents.
pub fn run(_args: Args, command: clap::Command) -> CmdResult {
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
    let page = one_page(&String::from_utf8_lossy(&page), &command);
    rendered
        .and_then(|()| std::io::stdout().lock().write_all(page.as_bytes()))
        .map_err(|e| {
            Failure::stopped(anyhow::Error::new(e).context("cannot write the manual page"))
        })?;
    Ok(Exit::Ok)
}

/// clap_mangen writes one page per command in mind: the subcommand list points to
/// `bulk-reply-send(1)` pages that do not exist (they are sections of this page), and each
/// command's `after_help` is titled EXTRA. Both are renamed for the one page we install.
fn one_page(page: &str, command: &clap::Command) -> String {
    let mut page = page.replace(".SH EXTRA\n", ".SH \"EXAMPLES AND NOTES\"\n");
    // `help` is added by clap when the command is built, and has no section of its own.
    let names = command.get_subcommands().map(|sub| sub.get_name());
    for name in names.chain(["help"]) {
        let section = match name {
            "help" => String::new(),
            other => format!(" (section BULK\\-REPLY {} below)", other.to_uppercase()),
        };
        let name = name.replace('-', "\\-");
        page = page.replace(
            &format!("bulk\\-reply\\-{name}(1)"),
            &format!("\\fBbulk\\-reply {name}\\fR{section}"),
        );
    }
    page
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;
    use crate::cli::Cli;

    #[test]
    fn the_page_points_to_its_own_sections_and_titles_its_examples() {
        let command = Cli::command();
        let mut page = Vec::new();
        clap_mangen::Man::new(command.clone())
            .render(&mut page)
            .unwrap();
        let page = one_page(&String::from_utf8_lossy(&page), &command);
        assert!(!page.contains("(1)\n"), "no pages that do not exist");
        assert!(page.contains("\\fBbulk\\-reply send\\fR (section BULK\\-REPLY SEND below)"));
        assert!(!page.contains(".SH EXTRA"));
        assert!(page.contains(".SH \"EXAMPLES AND NOTES\""));
    }
}
