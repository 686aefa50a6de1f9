//! `bulk-reply tickets`: list the portal's tickets as CSV, page by page, ready to feed
//! `send --template`. Reads only; within the same rate limit as `send`.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::anyhow;

use super::api_access::{API_ACCESS_HELP, ApiAccessArgs};
use super::signals::stop_on_signals;
use crate::api::{ApiClient, ClientOptions, TicketSummary};
use crate::duration::parse_duration;
use crate::exit::{CmdResult, Exit, Failure};
use crate::fields;
use crate::files::{Access, open_private, with_suffix};
use crate::output::{self, Level, plural};
use crate::pipeline::{RateGate, RetryPolicy, StopSignal, read_within_limit};
use crate::rate::RateSetting;

const EXAMPLES: &str = "\
Examples:
  # Every open ticket (chat tickets left out: they cannot take API messages)
  bulk-reply tickets --status open --output open.csv

  # Then a notice to each of them
  bulk-reply send open.csv --template notice.md --skip-closed

  # Closed e-mail tickets, to standard output
  bulk-reply tickets --status closed --source email

Output: CSV with the header ticketId,customerId,title,status,source,createdAt, written as
the pages arrive; --output creates the file readable by you only.

Exit codes:
  0  every page listed
  2  usage error (bad flag, no credentials, cannot create the output file)
  3  stopped: the API refused (401/403), kept failing, or answered nonsense; what was
     written so far is incomplete";

/// The CSV header: the list's fields, `ticketId` first so the file is valid `send` input.
const HEADER: [&str; 6] = [
    "ticketId",
    "customerId",
    "title",
    "status",
    "source",
    "createdAt",
];

/// A progress line every this many pages.
const PROGRESS_EVERY_PAGES: u64 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusFilter {
    Open,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SourceFilter {
    Portal,
    Email,
    Chat,
}

/// List tickets as CSV (ticketId,customerId,title,status,source,createdAt)
#[derive(Debug, clap::Args)]
#[command(after_help = format!("{EXAMPLES}\n\n{API_ACCESS_HELP}"))]
pub struct Args {
    /// Only tickets with this status
    #[arg(long, value_enum)]
    pub status: Option<StatusFilter>,

    /// Only tickets from this source; without it, chat tickets are left out (the API
    /// refuses messages on them)
    #[arg(long, value_enum)]
    pub source: Option<SourceFilter>,

    /// Write the CSV here (created with mode 0600) instead of standard output
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    #[command(flatten)]
    pub api: ApiAccessArgs,

    /// Requests per window (shared with anything else using the same key): N/s, N/min, N/h
    #[arg(long, default_value_t = RateSetting::Auto, value_name = "RATE")]
    pub rate: RateSetting,

    /// Time limit for one request, answer included
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Duration,

    /// Attempts per page before giving up (the first one included)
    #[arg(long, default_value_t = 8, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_attempts: u32,

    /// The first pause before a retry; it doubles with each further attempt
    #[arg(long, default_value = "500ms", value_parser = parse_duration, value_name = "DURATION")]
    pub retry_delay: Duration,
}

impl StatusFilter {
    fn as_str(self) -> &'static str {
        match self {
            StatusFilter::Open => "open",
            StatusFilter::Closed => "closed",
        }
    }
}

impl SourceFilter {
    fn as_str(self) -> &'static str {
        match self {
            SourceFilter::Portal => "portal",
            SourceFilter::Email => "email",
            SourceFilter::Chat => "chat",
        }
    }
}

/// What the list kept and left out.
#[derive(Debug, Default)]
struct Counts {
    pages: u64,
    written: u64,
    chat_left_out: u64,
    /// Entries the server sent although they do not match the filters.
    filtered: u64,
}

pub fn run(args: Args) -> CmdResult {
    args.api.check_base_url()?;
    let credentials = args.api.resolve()?;
    let gate = RateGate::new(args.rate, None).map_err(|e| Failure::bad_input(anyhow!(e)))?;
    // The list is written beside the output file and moved over it only once complete, so
    // a refused token or a lost connection never empties a file a job may depend on.
    let partial = args
        .output
        .as_ref()
        .map(|path| with_suffix(path, ".partial"));
    let out: Box<dyn Write> = match &partial {
        Some(path) => {
            let file = open_private(path, Access::Replace).map_err(|e| {
                Failure::bad_input(anyhow!("cannot create {}: {e}", path.display()))
            })?;
            Box::new(file)
        }
        None => Box::new(io::stdout()),
    };
    let mut csv = csv::Writer::from_writer(out);
    let runtime = super::runtime()?;
    let counts = runtime.block_on(async {
        let client = ApiClient::new(ClientOptions {
            base_url: args.api.base_url.clone(),
            credentials,
            timeout: args.timeout,
            idle_connections: 1,
            // Reads only: a request given up on can land later without harm.
            abandon_unacknowledged_after: args.timeout,
            extra_roots: args.api.extra_roots()?,
        })
        .map_err(|e| Failure::bad_input(anyhow!(e)))?;
        client
            .authenticate()
            .await
            .map_err(|e| Failure::stopped(anyhow!("{e}")))?;
        // Ctrl-C or SIGTERM ends the listing between requests; the output is left as it was.
        let stop = StopSignal::default();
        let signals = stop_on_signals(&stop);
        let listed = list_all(&args, &client, &gate, &stop, &mut csv).await;
        if let Some(task) = signals {
            task.abort();
            let _ = task.await;
        }
        listed
    });
    let where_to = args
        .output
        .as_ref()
        .map_or("standard output".to_string(), |p| p.display().to_string());
    let counts = counts.map_err(|failure| {
        let left = match &partial {
            Some(partial) => {
                let _ = std::fs::remove_file(partial);
                format!("{where_to} was left as it was")
            }
            None => "what was printed is incomplete".to_string(),
        };
        Failure {
            exit: failure.exit,
            error: anyhow!("{:#}; {left}: run the command again", failure.error),
        }
    })?;
    csv.flush()
        .map_err(|e| Failure::stopped(anyhow!("cannot write to {where_to}: {e}")))?;
    drop(csv);
    if let (Some(partial), Some(path)) = (&partial, &args.output) {
        std::fs::rename(partial, path).map_err(|e| {
            Failure::stopped(anyhow!(
                "cannot move {} to {}: {e}",
                partial.display(),
                path.display()
            ))
        })?;
    }
    let mut headline = format!(
        "listed {} from {} into {where_to}",
        plural(counts.written, "ticket"),
        plural(counts.pages, "page")
    );
    if counts.chat_left_out > 0 {
        headline.push_str(&format!(
            "; {} left out (chat tickets cannot take API messages; --source chat lists them)",
            plural(counts.chat_left_out, "chat ticket")
        ));
    }
    output::emit(
        Level::Info,
        &headline,
        fields! {
            "tickets" => counts.written,
            "pages" => counts.pages,
            "chatLeftOut" => counts.chat_left_out,
            "filteredOut" => counts.filtered,
            "output" => where_to,
        },
    );
    Ok(Exit::Ok)
}

/// Pages through the list until a page says there is no next one, writing each kept ticket
/// as soon as its page arrives.
async fn list_all<W: Write>(
    args: &Args,
    client: &ApiClient,
    gate: &RateGate,
    stop: &StopSignal,
    csv: &mut csv::Writer<W>,
) -> Result<Counts, Failure> {
    let write_error = |e: csv::Error| Failure::stopped(anyhow!("cannot write the list: {e}"));
    let mut counts = Counts::default();
    let retry = RetryPolicy {
        max_attempts: args.max_attempts,
        initial_delay: args.retry_delay,
        max_delay: Duration::from_secs(60),
    };
    let status = args.status.map(StatusFilter::as_str);
    let source = args.source.map(SourceFilter::as_str);
    for page in 1.. {
        let listed = read_within_limit(gate, stop, &retry, || {
            client.list_tickets(page, status, source)
        })
        .await
        .map_err(|e| Failure::stopped(anyhow!("page {page} of the ticket list: {e}")))?;
        if page == 1 {
            // Only now: a refused first request leaves the output empty, not a bare header.
            csv.write_record(HEADER).map_err(write_error)?;
        }
        counts.pages += 1;
        for ticket in &listed.data {
            // The server may ignore a filter; the list must not.
            if status.is_some_and(|wanted| ticket.status != wanted)
                || source.is_some_and(|wanted| ticket.source != wanted)
            {
                counts.filtered += 1;
                continue;
            }
            if source.is_none() && ticket.source == "chat" {
                counts.chat_left_out += 1;
                continue;
            }
            csv.write_record(record(ticket)).map_err(write_error)?;
            counts.written += 1;
        }
        csv.flush()
            .map_err(|e| Failure::stopped(anyhow!("cannot write the list: {e}")))?;
        if page % PROGRESS_EVERY_PAGES == 0 {
            output::emit(
                Level::Info,
                &format!("{page} pages read, {} tickets listed", counts.written),
                fields! {"pages" => page, "tickets" => counts.written},
            );
        }
        // An empty page ends the list too, whatever it says: a server that always names a
        // next page must not keep us here forever.
        if listed.next_page_url.is_none() || listed.data.is_empty() {
            break;
        }
    }
    Ok(counts)
}

fn record(ticket: &TicketSummary) -> [&str; 6] {
    [
        ticket.id.as_str(),
        ticket.customer_id.as_deref().unwrap_or(""),
        ticket.title.as_deref().unwrap_or(""),
        ticket.status.as_str(),
        ticket.source.as_str(),
        ticket.created_at.as_deref().unwrap_or(""),
    ]
}
