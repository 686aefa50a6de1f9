//! `bulk-reply completions SHELL`: a completion script for bash, zsh or fish, generated
//! from the same clap definitions as the parser, so it never drifts from the real flags.

use std::io::Write;

use clap_complete::Shell;

use anyhow::Context;

use crate::exit::{CmdResult, Exit, Failure};

const EXAMPLES: &str = "\
Examples:
  bulk-reply completions bash > ~/.local/share/bash-completion/completions/bulk-reply
  bulk-reply completions zsh > ~/.zfunc/_bulk-reply        (with fpath+=~/.zfunc)
  bulk-reply completions fish > ~/.config/fish/completions/bulk-reply.fish";

/// Print a shell completion script on standard output
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The shell to complete for
    #[arg(value_enum)]
    shell: CompletionShell,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

/// `command` is the whole parser, which the script completes.
pub fn run(args: Args, mut command: clap::Command) -> CmdResult {
    let shell = match args.shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
    };
    // Generated into memory first: clap_complete panics on a failed write.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "bulk-reply", &mut script);
    if shell == Shell::Bash {
        script = repair_bash_case_labels(&script);
    }
    std::io::stdout()
        .lock()
        .write_all(&script)
        .context("cannot write the completion script")
        .map_err(Failure::stopped)?;
    Ok(Exit::Ok)
}

/// clap_complete escapes the `-` of `bulk-reply` one way in the names it gives each
/// subcommand (`bulk__reply__subcmd__send`) and another in the case labels that complete
/// them (`bulk__subcmd__reply__subcmd__send`), so bash never completes a subcommand's own
/// options. The labels are renamed to match.
fn repair_bash_case_labels(script: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(script)
        .replace("bulk__subcmd__reply__", "bulk__reply__")
        .into_bytes()
}
