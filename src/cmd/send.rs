//! `bulk-reply send`: validate the input, then post every row exactly once, within the
//! rate limit, recording each outcome; resumable by running the same command again.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};

use super::api_access::{API_ACCESS_HELP, ApiAccessArgs, DEFAULT_BASE_URL};
use crate::api::{ApiClient, ClientOptions, Credentials, Secret};
use crate::duration::parse_duration;
use crate::exit::{CmdResult, Exit, Failure};
use crate::input::template::MessageArgs;
use crate::input::{self, InputArgs, InputSource};
use crate::journal::ledger::LEDGER_ENV;
use crate::journal::summary::{RunSummary, SummaryFile};
use crate::journal::{self, OpenJob, ResumeState};
use crate::output::{self, Level};
use crate::pipeline::{
    self, InDoubtPolicy, Policy, RateGate, RetryPolicy, Settings, StopSignal, Tally,
};
use crate::rate::{Rate, RateSetting};
use crate::sandbox::{self, SandboxConfig};

mod confirm;
mod deadline;
mod job;
mod preflight;
mod printer;
mod progress;
mod unattended;
mod watch;

use confirm::{Asking, Plan};
use job::{
    Rehearsal, Spool, durability, first_to_send, job_files, job_name, job_source, journal_failure,
    open_ledger,
};
use printer::{
    counts_of, exit_code, log_preview, print_problems, print_rehearsal_place, print_sandbox_report,
    print_summary, stop_reason,
};
use progress::Goal;
use unattended::UnattendedArgs;
use watch::Watchers;

const EXAMPLES: &str = "\
Examples:
  # Rehearse against the built-in simulator (no token, nothing leaves this machine)
  bulk-reply send notices.csv --sandbox

  # Check the file and stop
  bulk-reply send notices.csv --dry-run

  # The real thing; the token comes from the environment or a file, never a flag
  MKP_API_TOKEN=$(cat ~/.mkp-token) bulk-reply send notices.csv
  bulk-reply send notices.csv --token-file ~/.mkp-token --concurrency 8

  # A mass notice: a Markdown template filled from each row; check, try 3, then the rest
  bulk-reply send open.csv --template notice.md --dry-run --preview 3
  bulk-reply send open.csv --template notice.md --skip-closed --canary 3
  bulk-reply send open.csv --template notice.md --skip-closed

  # From a script's NDJSON on standard input
  my-export | bulk-reply send - --input-format ndjson --results out.ndjson

  # Unattended, from cron: 500 rows a night, JSON logs, a summary for the monitor
  bulk-reply --log-format json send notices.csv --token-file ~/.mkp-token \\
      --max-rows 500 --deadline 06:00 --summary-json notices.summary.json

Interrupted? Run the same command again: rows already delivered are not sent twice.

Exit codes:
  0  every row delivered (in this run or an earlier one)
  1  finished, some rows failed (see the failed-rows file), are held in doubt
     (--in-doubt hold), or were found on their ticket twice (named in the summary)
  2  usage or input error; nothing was sent
  3  stopped early (fatal API error, interrupt, job locked); run again to resume
  A planned stop (--max-rows, --deadline, --canary) exits 0 and says how many rows remain.
  Declining the confirmation question exits 0; nothing is sent.";

/// Post every row of INPUT as a reply on its ticket
#[derive(Debug, clap::Args)]
#[command(after_help = format!("{EXAMPLES}\n\n{API_ACCESS_HELP}"), args_override_self = true)]
pub struct Args {
    #[command(flatten)]
    pub input: InputArgs,

    #[command(flatten)]
    pub message: MessageArgs,

    /// Validate the input, print the report and the preview, and stop; nothing is sent
    #[arg(long)]
    pub dry_run: bool,

    /// With --dry-run: also make the preflight request (the first page of the ticket list)
    /// to check the base URL, the network path, TLS and the token; nothing is sent
    #[arg(long, requires = "dry_run")]
    pub check_api: bool,

    /// Read each ticket first (one more request per row, within --rate) and leave closed
    /// tickets alone, recorded as skipped: replying would reopen them
    #[arg(long)]
    pub skip_closed: bool,

    /// At a terminal, ask before sending more than N messages (showing the count, the
    /// tickets, the time it takes and the first message)
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub confirm_above: u64,

    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Rehearse: start the built-in API simulator on a free loopback port and send there
    /// (no token needed); prints the simulator's report at the end. The simulator starts
    /// empty, and so does the rehearsal: its journal and ledger (and its results and failed
    /// rows, unless given) go to a new directory under the system's temporary directory
    #[arg(long)]
    pub sandbox: bool,

    #[command(flatten)]
    pub api: ApiAccessArgs,

    /// The pace. auto: the documented 60/min until the server's first answer, then the
    /// limit its X-RateLimit-Limit states (per minute), shared with whatever else uses the
    /// key. N/s, N/min, N/h: a cap that nothing exceeds (the server's limit still applies
    /// when lower); unlimited: no cap
    #[arg(long, default_value_t = RateSetting::Auto, value_name = "RATE")]
    pub rate: RateSetting,

    /// With a --rate cap: at most N requests back to back at its steady pace [default: a
    /// fresh window's whole budget goes at once]
    #[arg(long, value_name = "N")]
    pub burst: Option<u32>,

    /// The most requests in flight at once. Fewer are, when fewer keep the pace (rate ×
    /// answer time); the summary says when this ceiling held the pace back
    #[arg(long, default_value_t = 32, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=pipeline::MAX_CONCURRENCY as i64))]
    pub concurrency: u16,

    /// Attempts per row before it counts as failed (the first one included)
    #[arg(long, default_value_t = 8, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_attempts: u32,

    /// Time limit for one request, answer included (e.g. 30s, 500ms)
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Duration,

    /// After a request whose answer was lost, how long after the client stopped waiting for
    /// it (its answer, a cut connection, its --timeout) the ticket must still not show the
    /// message before it counts as never posted: covers servers that store late, reads from
    /// lagging replicas, and bytes still in the network (the kernel drops unacknowledged
    /// bytes after half this, at most --timeout)
    #[arg(long, default_value = "20s", value_parser = parse_duration, value_name = "DURATION")]
    pub settle: Duration,

    /// A row whose request may have posted the message but which is not on the ticket after
    /// the settle period: post it again (resend), or leave it as in_doubt for a person to
    /// check (hold: for notices where twice is worse than never)
    #[arg(long, value_enum, default_value_t = InDoubtPolicy::Resend, value_name = "WHAT")]
    pub in_doubt: InDoubtPolicy,

    /// The first pause before a retry; it doubles with each further attempt (with jitter)
    #[arg(long, default_value = "500ms", value_parser = parse_duration, value_name = "DURATION")]
    pub retry_delay: Duration,

    /// Send at most N rows in this run, then stop (exit 0); the next run continues. Spreads a
    /// big job over several scheduled runs
    #[arg(long, value_name = "N")]
    pub max_rows: Option<u64>,

    /// Try the message on the first N rows only, then stop (exit 0) so you can check them;
    /// once any row of the job is delivered, the same command sends the rest
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub canary: Option<u64>,

    /// Where each row's outcome is written, as NDJSON [default: INPUT.results.ndjson;
    /// required when INPUT is -]
    #[arg(long, value_name = "PATH")]
    pub results: Option<PathBuf>,

    /// Where failed rows are written as CSV, ready to fix and send again [default:
    /// INPUT.failed.csv]
    #[arg(long, value_name = "PATH")]
    pub failed: Option<PathBuf>,

    /// The checkpoint that makes a run resumable [default: INPUT.journal]
    #[arg(long, value_name = "PATH", conflicts_with = "sandbox")]
    pub journal: Option<PathBuf>,

    /// The directory of the delivery ledgers, one file per portal, which record every
    /// message delivered by any job so that no other job sends it to the same ticket again;
    /// point a team at one shared directory [default: $XDG_STATE_HOME/bulk-reply, or
    /// ~/.local/state/bulk-reply]
    #[arg(long, value_name = "DIR", env = LEDGER_ENV)]
    pub ledger: Option<PathBuf>,

    /// Send rows whose message already reached their ticket (the ledger knows of it, or a
    /// read found it there), on purpose; they are recorded as delivered again
    #[arg(long)]
    pub resend: bool,

    /// When a ticket is read anyway (--skip-closed, a lost answer), the same agent message
    /// posted on it this long ago or less, by anyone, counts as already delivered: the row is
    /// skipped (7 days by default; the guard between machines that share no ledger)
    #[arg(long, default_value = "168h", value_parser = parse_duration, value_name = "DURATION")]
    pub resend_horizon: Duration,

    #[command(flatten)]
    pub unattended: UnattendedArgs,
}

pub fn run(args: Args) -> CmdResult {
    let mut summary = RunSummary::start();
    let summary_file = match &args.unattended.summary_json {
        Some(path) => Some(SummaryFile::create(path, &summary).map_err(Failure::bad_input)?),
        None => None,
    };
    let result = send(args, &mut summary);
    // A run that failed after it was marked as started: its end is recorded here.
    record_end(&mut summary, &result);
    if let Some(file) = summary_file
        && let Err(error) = file.write(&summary)
    {
        // The run's own exit code stands; the placeholder left in the file (exitCode
        // null) tells the monitor something is wrong.
        output::say(Level::Error, &format!("bulk-reply: error: {error:#}"));
    }
    result
}

fn send(args: Args, summary: &mut RunSummary) -> CmdResult {
    // Read while the process has one thread: see `DeadlineSpec::instant`.
    let deadline = args.unattended.deadline.map(|spec| {
        let deadline = spec.instant();
        if let Some(warning) = &deadline.warning {
            output::say(Level::Warn, &format!("bulk-reply: {warning}"));
        }
        deadline
    });
    let source = args.input.source();
    let rehearsal = args.sandbox.then(Rehearsal::new_place);
    let files = job_files(&args, &source, rehearsal.as_ref())?;
    summary.results_file = Some(files.results.clone());
    let spooled = match source.path {
        Some(_) => None,
        None => Some(Spool::from_stdin(&files.results)?),
    };
    let source = match &spooled {
        // The spool's name has no known extension, so its format is guessed from its first
        // bytes, as for standard input read directly.
        Some(spool) => InputSource {
            path: Some(spool.path.clone()),
            ..source
        },
        None => source,
    };
    let source_name = spooled
        .as_ref()
        .map_or_else(|| source.name(), |_| "standard input".to_string());

    let rules = args.input.rules();
    let composer = args
        .message
        .composer()
        .map_err(|e| Failure::bad_input(anyhow!(e)))?;
    // A real run keeps the first message for the confirmation question.
    let preview = match args.dry_run {
        true => args.message.preview,
        false => 1,
    };
    let mut report = input::validate_messages(&source, &rules, &composer, preview)
        .map_err(|e| Failure::bad_input(anyhow!("{e}")))?;
    summary.total_rows = Some(report.rows);
    if args.dry_run {
        report
            .write_human(&mut std::io::stdout().lock(), &source_name, args.rate)
            .context("cannot write the report")
            .map_err(Failure::stopped)?;
        log_preview(&report.preview);
        if args.check_api {
            check_api_only(&args)?;
        }
        return Ok(if report.is_valid() {
            Exit::Ok
        } else {
            Exit::BadInput
        });
    }
    let first_message = report.preview.drain(..).next();
    if !report.is_valid() || report.warning_count > 0 {
        print_problems(&report, &source_name, args.rate);
    }
    if !report.is_valid() {
        return Err(Failure::bad_input(anyhow!(
            "{source_name} has errors; nothing was sent. Fix them (run `bulk-reply validate` to check) and run again"
        )));
    }

    let gate =
        Arc::new(RateGate::new(args.rate, args.burst).map_err(|e| Failure::bad_input(anyhow!(e)))?);
    let runtime = super::runtime()?;
    // A run that can send nothing (--max-rows 0, a deadline already past) spends no request.
    let sends_nothing = args.max_rows == Some(0)
        || deadline
            .as_ref()
            .is_some_and(|d| d.instant <= tokio::time::Instant::now());
    // Before the question and before the job's files are opened: a mistyped base URL stops
    // here, leaving no journal bound to it behind. It changes no file.
    let (sandbox, client) = reach_api(&args, &runtime, &gate, !sends_nothing)?;
    summary.base_url = Some(client.base_url().to_string());
    // Nothing is created, truncated or removed before the person at the terminal says yes:
    // the question's plan comes from reading the job's files, and the job is opened (locked,
    // its files prepared) only after the answer.
    let asking = Asking {
        above: args.confirm_above,
        assume_yes: args.yes,
        terminal: confirm::at_terminal(),
    };
    if asking.may_ask() {
        let resume = journal::inspect(&files).map_err(journal_failure)?;
        let (_, max_rows) = run_budget(&args, &resume);
        // After a canary, the file's first row is no longer the first to go; the question
        // shows the one that is.
        let first_message = match first_message {
            Some(_) if resume.has_settled_rows() => {
                first_to_send(&source, args.input.allow_duplicates, &composer, &resume)
            }
            first => first,
        };
        let plan = plan(
            &args,
            &report,
            &resume,
            max_rows,
            first_message.as_ref(),
            pace_now(&gate),
        );
        if !ask(&plan, asking)? {
            output::say(
                Level::Info,
                "not confirmed: nothing was sent, and no file was created or changed",
            );
            return Ok(Exit::Ok);
        }
    }
    // The ledger first: a ledger refused leaves the job's own files untouched.
    if let Some(rehearsal) = &rehearsal {
        rehearsal.create()?;
    }
    let ledger = open_ledger(
        &args,
        &files,
        &job_name(&source, &files),
        rehearsal.as_ref(),
    )?;
    let mut job = OpenJob::open(&files).map_err(journal_failure)?;
    job.input_columns = input::read_rows_with(&source, composer.message_column())
        .ok()
        .and_then(|rows| rows.column_names());
    let (canary, max_rows) = run_budget(&args, &job.resume);
    let to_send = report
        .rows
        .saturating_sub(job.resume.settled_rows())
        .min(max_rows.unwrap_or(u64::MAX));
    let jobs = job_source(source.clone(), args.input.allow_duplicates, composer);

    let settings = Settings {
        gate: gate.clone(),
        concurrency: usize::from(args.concurrency),
        policy: Policy {
            retry: RetryPolicy {
                max_attempts: args.max_attempts,
                initial_delay: args.retry_delay,
                max_delay: Duration::from_secs(60),
            },
            request_timeout: args.timeout,
            settle: args.settle,
            in_doubt: args.in_doubt,
            skip_closed: args.skip_closed,
            resend_horizon: Some(args.resend_horizon).filter(|_| !args.resend),
        },
        durability: durability(),
        max_rows,
        ledger_index: Some(ledger.index).filter(|_| !args.resend),
        ledger_writer: Some(ledger.writer),
    };
    runtime.block_on(async {
        let stop = StopSignal::default();
        let tally = Arc::new(Tally::default());
        let goal = Goal {
            total_rows: report.rows,
            max_rows,
        };
        let mut job = job;
        job.record_run_start(report.rows)
            .map_err(|e| Failure::stopped(anyhow!(e)))?;
        summary.journal = Some(files.journal.clone());
        let view = args.unattended.progress_view();
        output::emit(
            Level::Info,
            &format!(
                "bulk-reply: sending up to {to_send} rows to {} at {}{}",
                client.base_url(),
                describe_pace(&gate),
                deadline.as_ref().map_or(String::new(), |d| format!(
                    "; deadline {}",
                    d.describe()
                )),
            ),
            crate::fields! {"toSend" => to_send, "baseUrl" => client.base_url(), "deadline" => deadline.as_ref().map(|d| d.describe())},
        );
        let deadline = deadline.map(|d| d.instant);
        let watchers = Watchers::start(&stop, deadline, tally.clone(), goal, pace_now(&gate), view);
        let report = pipeline::run(settings, client, job, jobs, report.rows, stop, tally).await;
        watchers.finish().await;
        let report = report.map_err(|e| {
            Failure::stopped(anyhow!(
                "{e}; the journal is consistent: run the same command again once this is fixed"
            ))
        })?;
        let stop_reason = stop_reason(&report, canary.is_some());
        summary.counts = counts_of(&report);
        summary.rate_limit = report.pace.limit.map(|(requests, per)| {
            Rate::Limited { requests, per }.to_string()
        });
        summary.concurrency_needed = report.pace.held_back.map(|held| held.needed);
        summary.stop_reason = stop_reason.as_ref().map(|(reason, _)| reason.clone());
        summary.failed_rows_file = report.failed_rows_file.clone();
        let exit = exit_code(&report);
        // At once, before the summary is printed and the sandbox stopped: until this line is
        // in the journal, `status` cannot tell this run from one that was killed.
        record_end(summary, &Ok(exit));
        print_summary(&report, &files, canary.is_some(), stop_reason);
        if let Some(rehearsal) = &rehearsal {
            print_rehearsal_place(&rehearsal.dir);
        }
        if let Some(sandbox) = sandbox {
            print_sandbox_report(&sandbox.report());
            sandbox.shutdown().await;
        }
        Ok(exit)
    })
}

/// Ends the summary and records it as the run's last line in the journal, once: only a run
/// marked as started in the journal is, and the first call wins.
fn record_end(summary: &mut RunSummary, result: &CmdResult) {
    if summary.ended_at.is_none() {
        summary.finish(result);
    }
    let Some(journal) = summary.journal.take() else {
        return;
    };
    let recorded = serde_json::to_string(&*summary)
        .map_err(anyhow::Error::from)
        .and_then(|json| Ok(journal::record_run_end(&journal, json)?));
    if let Err(error) = recorded {
        // The rows are recorded; only `status` misses how this run ended.
        output::say(
            Level::Warn,
            &format!("bulk-reply: cannot record the end of the run in the journal: {error:#}"),
        );
    }
}

/// How long the kernel may retry bytes the server has not acknowledged: half the settle
/// period, so a request the client gave up on lands within it or never; never longer than
/// the request's own time limit, and at least a second, so a short hiccup on a healthy path
/// does not cut connections.
fn abandon_unacknowledged_after(timeout: Duration, settle: Duration) -> Duration {
    (settle / 2).min(timeout).max(Duration::from_secs(1))
}

/// Starts the sandbox when asked for, and builds the client for the target with its
/// credentials proven (an OAuth token obtained): wrong OAuth credentials stop here, before
/// any row is touched.
async fn connect(
    args: &Args,
    target: Target,
) -> Result<(Option<sandbox::RunningSandbox>, ApiClient), Failure> {
    let (sandbox, base_url, credentials) = match target {
        Target::Sandbox => {
            let sandbox = start_sandbox(args.rate.assumed()).await?;
            let url = sandbox.base_url().to_string();
            let token = Secret::new(sandbox::DEFAULT_TOKEN);
            let credentials =
                Credentials::api_key(&token).map_err(|e| Failure::stopped(anyhow!(e)))?;
            (Some(sandbox), url, credentials)
        }
        Target::Api(credentials) => (None, args.api.base_url.clone(), credentials),
    };
    let client = ApiClient::new(ClientOptions {
        base_url,
        credentials,
        timeout: args.timeout,
        idle_connections: usize::from(args.concurrency),
        abandon_unacknowledged_after: abandon_unacknowledged_after(args.timeout, args.settle),
        extra_roots: args.api.extra_roots()?,
    })
    .map_err(|e| Failure::bad_input(anyhow!(e)))?;
    client
        .authenticate()
        .await
        .map_err(|e| Failure::stopped(anyhow!("{e}; nothing was sent")))?;
    Ok((sandbox, client))
}

/// Connects to the target and, with `preflight`, makes the preflight request through the
/// run's rate gate: a wrong base URL, an unreachable server, TLS trouble or a refused token
/// stops here (exit 3). The sandbox, if any, keeps serving on `runtime` after this returns.
fn reach_api(
    args: &Args,
    runtime: &tokio::runtime::Runtime,
    gate: &RateGate,
    preflight: bool,
) -> Result<(Option<sandbox::RunningSandbox>, ApiClient), Failure> {
    let target = target(args)?;
    runtime.block_on(async {
        let (sandbox, client) = connect(args, target).await?;
        if preflight {
            preflight::check_api(&client, gate, &StopSignal::default()).await?;
        }
        Ok((sandbox, client))
    })
}

/// `--dry-run --check-api`: the preflight alone.
fn check_api_only(args: &Args) -> Result<(), Failure> {
    let gate = RateGate::new(args.rate, args.burst).map_err(|e| Failure::bad_input(anyhow!(e)))?;
    let runtime = super::runtime()?;
    let (sandbox, client) = reach_api(args, &runtime, &gate, true)?;
    output::say(
        Level::Info,
        &format!(
            "bulk-reply: the API at {} answers and accepts the token",
            client.base_url()
        ),
    );
    if let Some(sandbox) = sandbox {
        runtime.block_on(sandbox.shutdown());
    }
    Ok(())
}

/// The sandbox, or the API at `--base-url` with the credentials the user gave (checked for
/// the https rule first).
fn target(args: &Args) -> Result<Target, Failure> {
    if args.sandbox {
        if args.api.base_url != DEFAULT_BASE_URL {
            // Said, not refused: MKP_BASE_URL may well be set for the real runs.
            output::say(
                Level::Warn,
                &format!(
                    "bulk-reply: --sandbox sends to the built-in simulator, not to {} (--base-url or MKP_BASE_URL)",
                    args.api.base_url
                ),
            );
        }
        return Ok(Target::Sandbox);
    }
    args.api.check_base_url()?;
    Ok(Target::Api(args.api.resolve()?))
}

/// Where the messages go.
enum Target {
    /// The built-in simulator, started for this run.
    Sandbox,
    Api(Credentials),
}

async fn start_sandbox(rate: Rate) -> Result<sandbox::RunningSandbox, Failure> {
    // The simulator enforces the rate the user declared, so the rehearsal paces like the
    // real job will.
    let config = SandboxConfig {
        rate_limit: rate,
        ..SandboxConfig::default()
    };
    let sandbox = sandbox::start(config)
        .await
        .map_err(|e| Failure::stopped(anyhow!("cannot start the sandbox: {e:#}")))?;
    output::say(
        Level::Info,
        &format!(
            "bulk-reply: rehearsing against the sandbox at {}",
            sandbox.base_url()
        ),
    );
    Ok(sandbox)
}

/// This run's row budget: `--max-rows`, and `--canary` on a job's first run only (once a
/// row is delivered, the same command goes on with the rest).
fn run_budget(args: &Args, resume: &ResumeState) -> (Option<u64>, Option<u64>) {
    let canary = args.canary.filter(|_| !resume.has_settled_rows());
    let max_rows = match (canary, args.max_rows) {
        (Some(canary), Some(max)) => Some(canary.min(max)),
        (canary, max) => canary.or(max),
    };
    (canary, max_rows)
}

/// What the confirmation question shows.
fn plan<'a>(
    args: &Args,
    report: &input::Findings,
    resume: &ResumeState,
    max_rows: Option<u64>,
    first: Option<&'a input::Preview>,
    rate: Rate,
) -> Plan<'a> {
    let settled = resume.settled_rows();
    Plan {
        to_send: report
            .rows
            .saturating_sub(settled)
            .min(max_rows.unwrap_or(u64::MAX)),
        settled,
        distinct_tickets: report.distinct_tickets,
        requests_per_row: 1 + u64::from(args.skip_closed),
        rate,
        first,
    }
}

/// The pace the run starts at, after the preflight's answer: the server's stated limit, or
/// what is assumed until it states one (for the time estimates and the first log line).
fn pace_now(gate: &RateGate) -> Rate {
    match gate.limit() {
        Some((requests, per)) => Rate::Limited { requests, per },
        None => Rate::Unlimited,
    }
}

fn describe_pace(gate: &RateGate) -> String {
    match pace_now(gate) {
        Rate::Unlimited => "no rate limit".into(),
        limited => format!("up to {limited}"),
    }
}

/// Asks the person at the terminal before a big job (see `confirm`).
fn ask(plan: &Plan, asking: Asking) -> Result<bool, Failure> {
    confirm::confirm(
        plan,
        asking,
        &mut std::io::stdin().lock(),
        &mut std::io::stderr().lock(),
    )
    .map_err(|e| Failure::bad_input(anyhow!("cannot ask for confirmation: {e}")))
}
