//! Diagnostic logging through `tracing`, on standard error.

use clap::Args;
use tracing_subscriber::EnvFilter;

/// Global flags that set how much the tool says on standard error.
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// More detail on standard error (-v: debug, -vv: trace)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Only errors on standard error
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

impl LogArgs {
    fn level(&self) -> &'static str {
        match (self.quiet, self.verbose) {
            (true, _) => "error",
            (false, 0) => "warn",
            (false, 1) => "debug",
            (false, _) => "trace",
        }
    }
}

/// Installs the global subscriber. Only our own crate logs at the chosen level; the HTTP
/// stack stays at warn so `-v` shows what the tool does rather than hyper's internals.
pub fn init(args: &LogArgs) {
    let filter = EnvFilter::new(format!("warn,bulk_reply={}", args.level()));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
