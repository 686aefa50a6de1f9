//! Shared by the black-box tests of `send`: an in-process sandbox on its own runtime, the
//! binary pointed at it, and readers for the files a run leaves behind.

#![allow(dead_code)] // each test binary uses its own part of this module

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use bulk_reply::sandbox::{self, AppendedMessage, Report, RunningSandbox, SandboxConfig};
use serde_json::Value;

/// A sandbox serving from a runtime of its own, so tests stay plain `#[test]` functions and
/// the binary under test can block while the sandbox answers it.
pub struct Sandbox {
    runtime: tokio::runtime::Runtime,
    running: Option<RunningSandbox>,
}

impl Sandbox {
    pub fn start(config: SandboxConfig) -> Sandbox {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("test runtime");
        let running = runtime
            .block_on(sandbox::start(config))
            .expect("sandbox starts");
        Sandbox {
            runtime,
            running: Some(running),
        }
    }

    pub fn open_world() -> Sandbox {
        Sandbox::start(SandboxConfig {
            rate_limit: bulk_reply::rate::Rate::Unlimited,
            ..SandboxConfig::default()
        })
    }

    fn running(&self) -> &RunningSandbox {
        self.running.as_ref().expect("running until dropped")
    }

    pub fn base_url(&self) -> String {
        self.running().base_url().to_string()
    }

    pub fn report(&self) -> Report {
        self.running().report()
    }

    pub fn messages(&self) -> Vec<AppendedMessage> {
        self.running().messages()
    }

    /// How often each (ticket, message) pair arrived.
    pub fn arrivals(&self) -> HashMap<(String, String), usize> {
        let mut counts = HashMap::new();
        for m in self.messages() {
            // As posted: a sandbox that rewrites stores another text.
            *counts.entry((m.ticket_id, m.posted)).or_insert(0) += 1;
        }
        counts
    }

    /// `bulk-reply SUBCOMMAND` aimed at this sandbox with its token.
    pub fn command(&self, subcommand: &str) -> Command {
        let mut cmd = Command::cargo_bin("bulk-reply").expect("binary built");
        cmd.arg(subcommand)
            .args(["--base-url", &self.base_url()])
            .env("MKP_API_TOKEN", sandbox::DEFAULT_TOKEN)
            .env_remove("MKP_BASE_URL")
            // Set in a developer's shell, these would make the credentials ambiguous.
            .env_remove("MKP_OAUTH_CLIENT_ID")
            .env_remove("MKP_OAUTH_CLIENT_SECRET")
            .env_remove("MKP_OAUTH_REFRESH_TOKEN");
        cmd
    }

    /// `bulk-reply send INPUT` aimed at this sandbox, with fast retries and a short settle
    /// period (an in-process sandbox stores at once and its reads never lag).
    pub fn send(&self, input: &Path) -> Command {
        let mut cmd = self.command("send");
        cmd.arg(input)
            .args(["--retry-delay", "10ms", "--settle", "200ms"]);
        cmd
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            self.runtime.block_on(running.shutdown());
        }
    }
}

/// Writes a CSV of `rows` (ticketId, message) into `dir` and returns its path.
pub fn write_csv(dir: &Path, name: &str, rows: &[(String, String)]) -> PathBuf {
    let path = dir.join(name);
    let mut writer = csv::Writer::from_path(&path).expect("create csv");
    writer
        .write_record(["ticketId", "message"])
        .expect("header");
    for (ticket, message) in rows {
        writer.write_record([ticket, message]).expect("row");
    }
    writer.flush().expect("flush");
    path
}

/// `n` distinct rows: ticket `tic_t{i}`, a message naming it.
pub fn rows(n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            (
                format!("tic_t{i}"),
                format!("<p>Notice {i}: service restored.</p>"),
            )
        })
        .collect()
}

pub fn results(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str(l).expect("each results line is JSON"))
        .collect()
}

pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}{suffix}", path.display()))
}

/// Asserts every row arrived exactly once and nothing else arrived.
pub fn assert_exactly_once(sandbox: &Sandbox, rows: &[(String, String)]) {
    let arrivals = sandbox.arrivals();
    for row in rows {
        assert_eq!(
            arrivals.get(row).copied().unwrap_or(0),
            1,
            "row {row:?} must arrive exactly once"
        );
    }
    assert_eq!(
        arrivals.len(),
        rows.len(),
        "nothing but the input's rows arrives"
    );
}

/// The largest peak resident set size of any waited-for child process of this test
/// binary. Meaningful in a test file with a single test, so no other test's children count.
pub fn children_peak_rss_bytes() -> u64 {
    // SAFETY: getrusage only writes into the zeroed struct we pass.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage), 0);
        usage
    };
    // Linux reports kilobytes.
    usage.ru_maxrss as u64 * 1024
}
