//! `bulk-reply sandbox`: run the embedded simulator of the ticket API until Ctrl-C or SIGTERM.
//!
//! The first line on standard output is the base URL (ending in `/v1`), flushed at once, so
//! a script can start the sandbox in the background and read where it listens.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use super::signals::Signals;
use crate::duration::{parse_duration, parse_signed_duration};
use crate::exit::{CmdResult, Exit, Failure};
use crate::output::{self, Level};
use crate::rate::Rate;
use crate::sandbox::{
    self, ChatRefusal, Faults, Neighbour, OAuthApp, Rewrites, SandboxConfig, World,
};

const EXAMPLES: &str = "\
Examples:
  bulk-reply sandbox                                   http://127.0.0.1:8080/v1, 60/min
  bulk-reply sandbox --listen 127.0.0.1:0              any free port (read the first line)
  bulk-reply sandbox --tickets tickets.csv             only these tickets exist
  bulk-reply sandbox --rate-limit 5/s --token s3cret   a faster key, another token
  bulk-reply sandbox --rate-limit off                  no limit (benchmarks)
  bulk-reply sandbox --fail-rate 0.05 --drop-rate 0.01 --garbage-rate 0.01 --latency 20ms --seed 7

  # What real deployments do: a sanitiser rewrites what you post, the server's clock is
  # 5 minutes behind, and reads come from a replica 2 s behind the primary
  bulk-reply sandbox --rewrite entities,void-tags,wrap --clock-skew -5m --read-lag 2s

  # Sharing the key: another integration spends 6 of a 20/s budget for the first 30 s,
  # and the network's delay varies by 20 ms either way
  bulk-reply sandbox --rate-limit 20/s --neighbour 6/s --neighbour-for 30s \
      --latency 5ms --latency-jitter 20ms --seed 1
  bulk-reply sandbox --rewrite all                     every rewrite mode at once
  # A POST in ten is stored 30 s late (after your client gave up), one in twenty is stored
  # and then answered 504 by the gateway
  bulk-reply sandbox --late-rate 0.1 --late-by 30s --gateway-timeout-rate 0.05 --seed 7

  curl -H 'Authorization: Bearer sandbox-token' -H 'Content-Type: application/json' \\
       -d '{\"message\": \"<p>Fixed!</p>\"}' http://127.0.0.1:8080/v1/tickets/tic_abc123

  # OAuth: access tokens that expire every 5 s, for a client that renews them
  bulk-reply sandbox --oauth-client-id app --oauth-client-secret s3cret --token-ttl 5s
  curl -H 'Content-Type: application/json' \\
       -d '{\"grant_type\": \"refresh_token\", \"client_id\": \"app\", \"client_secret\": \"s3cret\", \"refresh_token\": \"any\"}' \\
       http://127.0.0.1:8080/oauth/tokens

  curl http://127.0.0.1:8080/__sandbox/report       what the sandbox saw (no token needed)
  curl http://127.0.0.1:8080/__sandbox/messages     every message appended, in order

The first line on stdout is the base URL (ending in /v1), for scripts to read.
Stops cleanly on Ctrl-C or SIGTERM. Nothing leaves this machine.";

/// Run a local simulator of the ticket API, with its rate limit and optional faults
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Address to listen on; port 0 picks a free port
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,

    /// The bearer token the sandbox accepts
    #[arg(long, value_name = "TOKEN", default_value = sandbox::DEFAULT_TOKEN)]
    token: String,

    /// Name shown as `postedBy` on every message appended
    #[arg(long, value_name = "NAME", default_value = sandbox::DEFAULT_AGENT_NAME)]
    agent_name: String,

    /// Tickets that exist (CSV or NDJSON: id,status,source,customerId,title); without it
    /// every well-formed tic_… id exists as an open portal ticket
    #[arg(long, value_name = "FILE")]
    tickets: Option<PathBuf>,

    /// Requests allowed per token in any rolling window: N/s, N/min, N/h, N/<duration>, off
    #[arg(long, value_name = "RATE", default_value = "60/min")]
    rate_limit: Rate,

    /// Seed of every fault decision: the same seed gives the same faults on the same rows
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: u64,

    /// Fraction of POSTs answered 500/502/503, nothing appended (e.g. 0.05)
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = fraction)]
    fail_rate: f64,

    /// Fraction of POSTs that append the message, then close the connection unanswered
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = fraction)]
    drop_rate: f64,

    /// Fraction of POSTs answered 200 with a body that is not JSON (message appended)
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = fraction)]
    garbage_rate: f64,

    /// Fraction of POSTs stored --late-by after they arrived and answered only then (200),
    /// even if the client gave up meanwhile (e.g. 0.1)
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = fraction)]
    late_rate: f64,

    /// How late a --late-rate POST is stored and answered (e.g. 30s, past the client's
    /// timeout)
    #[arg(long, value_name = "DUR", default_value = "0ms", value_parser = parse_duration)]
    late_by: Duration,

    /// Fraction of POSTs stored, then answered 504 with a gateway's HTML page (e.g. 0.05)
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = fraction)]
    gateway_timeout_rate: f64,

    /// Delay before every /v1 request is handled (e.g. 20ms)
    #[arg(long, value_name = "DUR", default_value = "0ms", value_parser = parse_duration)]
    latency: Duration,

    /// Each request's --latency varies by up to this much either way, seeded by --seed
    /// (e.g. 20ms): requests sent evenly reach the rate limit unevenly
    #[arg(long, value_name = "DUR", default_value = "0ms", value_parser = parse_duration)]
    latency_jitter: Duration,

    /// Another integration spends the same key's budget at this steady pace (e.g. 6/s
    /// beside --rate-limit 20/s); its requests count in the window and in the report
    #[arg(long, value_name = "RATE")]
    neighbour: Option<Rate>,

    /// The --neighbour stops after this long (e.g. 20s), handing its share back
    #[arg(long, value_name = "DUR", value_parser = parse_duration, requires = "neighbour")]
    neighbour_for: Option<Duration>,

    /// The client id of the one OAuth application that POST /oauth/tokens serves; any
    /// refresh token is accepted for it
    #[arg(long, value_name = "ID", requires = "oauth_client_secret")]
    oauth_client_id: Option<String>,

    /// That application's client secret
    #[arg(long, value_name = "SECRET", requires = "oauth_client_id")]
    oauth_client_secret: Option<String>,

    /// How long an issued access token is accepted on /v1 (its expires_in, whole seconds);
    /// 0s issues tokens refused at once
    #[arg(long, value_name = "DUR", default_value = "1h", value_parser = parse_duration)]
    token_ttl: Duration,

    /// Store each message as a help-desk sanitiser would; the POST's answer and every read
    /// show the stored form. Modes (applied in this order): strip-attributes, void-tags,
    /// strong, linkify, quotes, whitespace, wrap, entities, numeric; or all
    #[arg(long, value_name = "MODE[,MODE...]")]
    rewrite: Option<Rewrites>,

    /// The server's clock is off by this much, ahead or behind (e.g. -5m, +90s): postedAt,
    /// createdAt and the Date header of every answer
    #[arg(long, value_name = "DUR", default_value = "0s", allow_hyphen_values = true,
          value_parser = parse_signed_duration)]
    clock_skew: time::Duration,

    /// Reads lag writes: GET of a ticket and the list show no message stored less than this
    /// long ago (e.g. 2s), as a replica or cache would; the POST's own answer shows it
    #[arg(long, value_name = "DUR", default_value = "0ms", value_parser = parse_duration)]
    read_lag: Duration,

    /// The status a message to a chat ticket is refused with: 422, or 403 as some
    /// deployments answer (to rehearse a client telling that apart from a missing scope)
    #[arg(long, value_enum, default_value_t = ChatRefusal::Unprocessable, value_name = "STATUS")]
    chat_refusal: ChatRefusal,
}

fn fraction(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!(
            "{text:?} is not a fraction between 0 and 1 (e.g. 0.05 for 5%)"
        )),
    }
}

pub fn run(args: Args) -> CmdResult {
    let world = match &args.tickets {
        Some(path) => sandbox::load_world(path).map_err(Failure::bad_input)?,
        None => World::Open,
    };
    let config = SandboxConfig {
        listen: args.listen,
        token: args.token,
        agent_name: args.agent_name,
        world,
        rate_limit: args.rate_limit,
        faults: Faults {
            seed: args.seed,
            fail_rate: args.fail_rate,
            drop_rate: args.drop_rate,
            garbage_rate: args.garbage_rate,
            latency: args.latency,
            latency_jitter: args.latency_jitter,
            late_rate: args.late_rate,
            late_by: args.late_by,
            gateway_timeout_rate: args.gateway_timeout_rate,
        },
        oauth: args.oauth_client_id.zip(args.oauth_client_secret).map(
            |(client_id, client_secret)| OAuthApp {
                client_id,
                client_secret,
            },
        ),
        token_ttl: args.token_ttl,
        rewrite: args.rewrite.unwrap_or_default(),
        clock_skew: args.clock_skew,
        read_lag: args.read_lag,
        chat_refusal: args.chat_refusal,
        neighbour: args.neighbour.map(|rate| Neighbour {
            rate,
            stops_after: args.neighbour_for,
        }),
    };
    let rate_limit = config.rate_limit;
    let runtime = super::runtime()?;
    runtime.block_on(async move {
        // Listening for the stop signals before the URL is announced: a script may send
        // SIGTERM as soon as it has the URL.
        let mut signals = Signals::install()
            .context("cannot listen for Ctrl-C and SIGTERM")
            .map_err(Failure::stopped)?;
        let running = sandbox::start(config).await.map_err(Failure::bad_input)?;
        announce(running.base_url()).map_err(Failure::stopped)?;
        output::say(
            Level::Info,
            &format!(
                "bulk-reply sandbox: serving the ticket API at {} (rate limit {rate_limit}); \
                 report at {}/__sandbox/report; Ctrl-C to stop",
                running.base_url(),
                running.origin()
            ),
        );
        signals.next().await;
        // The report after shutdown: late stores that landed while it drained count.
        let report = running.shutdown().await;
        let late_dropped = if report.late_dropped > 0 {
            format!("; {} late stores cancelled, never stored", report.late_dropped)
        } else {
            String::new()
        };
        output::say(
            Level::Info,
            &format!(
                "bulk-reply sandbox: stopped after {} requests; {} messages appended ({} duplicates){late_dropped}",
                report.requests, report.messages_appended, report.duplicate_messages
            ),
        );
        Ok(Exit::Ok)
    })
}

/// The first stdout line, flushed now: scripts block on it to learn the port.
fn announce(base_url: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{base_url}")?;
    stdout.flush()?;
    Ok(())
}
