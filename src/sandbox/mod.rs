//! The embedded API simulator: a faithful, local stand-in for the MijnKlantportaal ticket API,
//! with its rate limit and with faults on purpose, for rehearsals, tests and benchmarks.
//!
//! Use it in-process: [`start`] binds (port 0 picks a free one), serves in the background and
//! returns a [`RunningSandbox`] with the base URL, the inspection views and a shutdown.
//!
//! - `world`: which tickets exist (`--tickets` file or the open world)
//! - `store`: tickets and appended messages, and the lagging reads of them
//! - `rate_limit`: the rolling window, and the peak meter behind the report
//! - `neighbour`: another integration spending the same key's budget (`--neighbour`)
//! - `clock`: the server's clock, off the client's by `--clock-skew`
//! - `faults`: reproducible failures, drops, garbage, late stores and gateway timeouts
//! - `late`: the tasks that store late POSTs, even for a client that has gone
//! - `rewrite`: the stored HTML a sanitiser makes of a posted message
//! - `oauth`: the token endpoint and the access tokens it issued
//! - `routes`: the HTTP surface; `server`: the accept loop and per-connection hang-up
//! - `report`: the counters behind `/__sandbox/report`

mod clock;
mod faults;
mod late;
mod neighbour;
mod oauth;
pub(crate) mod rate_limit;
mod report;
mod rewrite;
mod routes;
mod server;
mod store;
mod world;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

pub use faults::{Fault, Faults};
pub use neighbour::Neighbour;
pub use oauth::OAuthApp;
pub use report::Report;
pub use rewrite::{RewriteMode, Rewrites};
pub use store::AppendedMessage;
pub use world::{Source, Status, TicketSeed, World, load_world};

use crate::rate::Rate;
use clock::ServerClock;
use neighbour::NeighbourTask;
use routes::Sandbox;
use server::Server;

/// How to run a sandbox.
#[derive(Clone)]
pub struct SandboxConfig {
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// The one bearer token `/v1` accepts.
    pub token: String,
    /// `postedBy` of every message appended.
    pub agent_name: String,
    pub world: World,
    /// The server-side limit per token; `Rate::Unlimited` turns it off.
    pub rate_limit: Rate,
    pub faults: Faults,
    /// The OAuth application `POST /oauth/tokens` issues access tokens to; `None`: it
    /// refuses every request (only `token` works on `/v1`).
    pub oauth: Option<OAuthApp>,
    /// How long an issued access token is accepted (`expires_in`, in whole seconds). Zero
    /// issues tokens that are refused at once: a broken token service, for rehearsals.
    pub token_ttl: Duration,
    /// What the help desk's sanitiser does to a message before storing it; the answer to
    /// the POST and every read show the stored form.
    pub rewrite: Rewrites,
    /// How far the server's clock is off real time (positive: ahead), at most a year:
    /// `postedAt`, the `createdAt` of tickets it creates and every `Date` header.
    pub clock_skew: time::Duration,
    /// How stale reads are: `GET` of a ticket and the list show no message stored less
    /// than this long ago (the POST's own answer shows it at once).
    pub read_lag: Duration,
    /// The status a message to a chat ticket is refused with: the vendor only says "a 4xx";
    /// some deployments answer 422, others 403 (which a client can mistake for a token
    /// without the write scope).
    pub chat_refusal: ChatRefusal,
    /// Another integration spending the same key's budget, if any.
    pub neighbour: Option<Neighbour>,
}

/// How a message to a chat ticket is refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ChatRefusal {
    /// 422 Unprocessable Entity.
    #[default]
    #[value(name = "422")]
    Unprocessable,
    /// 403 Forbidden.
    #[value(name = "403")]
    Forbidden,
}

/// Written by hand so that the token never reaches a log line.
impl fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("listen", &self.listen)
            .field("token", &"<redacted>")
            .field("agent_name", &self.agent_name)
            .field("world", &self.world)
            .field("rate_limit", &self.rate_limit)
            .field("faults", &self.faults)
            .field("oauth", &self.oauth)
            .field("token_ttl", &self.token_ttl)
            .field("rewrite", &self.rewrite)
            .field("clock_skew", &self.clock_skew)
            .field("read_lag", &self.read_lag)
            .field("chat_refusal", &self.chat_refusal)
            .field("neighbour", &self.neighbour)
            .finish()
    }
}

pub const DEFAULT_TOKEN: &str = "sandbox-token";
pub const DEFAULT_AGENT_NAME: &str = "Sandbox Agent";
/// As long as real access tokens commonly live.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(3600);

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            token: DEFAULT_TOKEN.to_owned(),
            agent_name: DEFAULT_AGENT_NAME.to_owned(),
            world: World::Open,
            rate_limit: Rate::API_DEFAULT,
            faults: Faults::none(),
            oauth: None,
            token_ttl: DEFAULT_TOKEN_TTL,
            rewrite: Rewrites::NONE,
            clock_skew: time::Duration::ZERO,
            read_lag: Duration::ZERO,
            chat_refusal: ChatRefusal::default(),
            neighbour: None,
        }
    }
}

/// A sandbox serving in the background of the current tokio runtime. Dropping it stops it
/// too; [`RunningSandbox::shutdown`] also waits for requests in flight to finish.
pub struct RunningSandbox {
    base_url: String,
    origin: String,
    sandbox: Arc<Sandbox>,
    server: Server,
    neighbour: Option<NeighbourTask>,
}

/// Binds and starts serving. Fails if a fault rate is not a fraction (or they add up past 1),
/// a fixed world repeats an id or has a malformed one, the clock skew exceeds a year, or the
/// address cannot be bound.
pub async fn start(config: SandboxConfig) -> anyhow::Result<RunningSandbox> {
    config.faults.validate()?;
    config.world.validate()?;
    let clock = ServerClock::skewed_by(config.clock_skew)?;
    let listener = TcpListener::bind(config.listen).await.with_context(|| {
        format!(
            "cannot listen on {}; choose another address with --listen (port 0 picks a free one)",
            config.listen
        )
    })?;
    let bound = listener
        .local_addr()
        .context("cannot read the sandbox's own address")?;
    let origin = format!("http://{}", reachable(bound));
    let neighbour = config.neighbour;
    let sandbox = Arc::new(Sandbox::new(config, clock, origin.clone()));
    let server = Server::spawn(listener, routes::router(sandbox.clone()));
    let neighbour = neighbour.and_then(|n| NeighbourTask::spawn(sandbox.clone(), n));
    Ok(RunningSandbox {
        base_url: format!("{origin}/v1"),
        origin,
        sandbox,
        server,
        neighbour,
    })
}

/// The address a client on this machine should use: a wildcard bind (`0.0.0.0`, `::`) is
/// reached through loopback.
fn reachable(bound: SocketAddr) -> SocketAddr {
    match bound.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::from((Ipv4Addr::LOCALHOST, bound.port()))
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((Ipv6Addr::LOCALHOST, bound.port()))
        }
        _ => bound,
    }
}

impl RunningSandbox {
    /// `http://127.0.0.1:PORT/v1`: what a client uses as its API base.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `http://127.0.0.1:PORT`: where `/oauth/tokens`, `/__sandbox/report` and
    /// `/__sandbox/messages` live.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The same figures as `GET /__sandbox/report`.
    pub fn report(&self) -> Report {
        self.sandbox.report()
    }

    /// The same list as `GET /__sandbox/messages`: every appended message, in arrival order.
    pub fn messages(&self) -> Vec<AppendedMessage> {
        self.sandbox.store().appended()
    }

    /// Stops accepting, lets requests in flight and late stores (`--late-rate`) finish, up to
    /// a few seconds in all, and returns the final report: late stores still waiting then are
    /// cancelled and counted as `lateDropped`. (Dropping a `RunningSandbox` instead, or ending
    /// its runtime, cancels them uncounted.)
    pub async fn shutdown(self) -> Report {
        let deadline = tokio::time::Instant::now() + server::DRAIN_TIMEOUT;
        if let Some(neighbour) = self.neighbour {
            neighbour.stop().await;
        }
        self.server.stop().await;
        // After the server: a late POST whose client still waits is drained with its
        // connection; what remains here are the stores nobody waits for.
        self.sandbox.drain_late_stores(deadline).await;
        self.sandbox.report()
    }
}
