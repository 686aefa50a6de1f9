//! Diagnostic logging through `tracing`, on standard error, in the format `--log-format`
//! chose: tracing's own text lines, or the JSON lines of [`crate::output`].

use std::fmt;

use clap::Args;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::registry::LookupSpan;

use crate::output::{self, LogFormat};

/// Global flags that set how much the tool says on standard error, and in which form. Every
/// subcommand's `--help` lists them under their own heading, apart from its own options.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct LogArgs {
    /// More detail on standard error (-v: debug, -vv: trace)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Only errors on standard error: no summary, no progress (see --summary-json)
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// How standard error is written: text for people, or json (one object per line with
    /// time, level, message and fields) for log collectors
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, value_name = "FORMAT")]
    pub log_format: LogFormat,
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

/// Installs the global subscriber and sets the format of [`crate::output`]. Only our own
/// crate logs at the chosen level; the HTTP stack stays at warn so `-v` shows what the tool
/// does rather than hyper's internals.
pub fn init(args: &LogArgs) {
    output::configure(args.log_format, args.quiet);
    let filter = EnvFilter::new(format!("warn,bulk_reply={}", args.level()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour_on_stderr())
        .with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Text => builder.with_target(false).init(),
        LogFormat::Json => builder.event_format(JsonLines).init(),
    }
}

/// Colour codes only for a person at a terminal: never in a file or a pipe (`2>log`, cron,
/// journald), and never when `NO_COLOR` is set to anything (https://no-color.org).
fn colour_on_stderr() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Formats a `tracing` event as one [`output::json_line`]: its fields other than the
/// message go into `fields`, with the target, so diagnostics and the tool's own messages
/// share one shape.
struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = FieldMap::default();
        event.record(&mut fields);
        let metadata = event.metadata();
        fields
            .map
            .insert("target".into(), Value::from(metadata.target()));
        let level = metadata.level().as_str().to_ascii_lowercase();
        writer.write_str(&output::json_line(&level, &fields.message, fields.map))
    }
}

#[derive(Default)]
struct FieldMap {
    message: String,
    map: Map<String, Value>,
}

impl Visit for FieldMap {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::from(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::from(format!("{value:?}")));
    }
}

impl FieldMap {
    fn put(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = match value {
                Value::String(text) => text,
                other => other.to_string(),
            };
        } else {
            self.map.insert(field.name().to_string(), value);
        }
    }
}
