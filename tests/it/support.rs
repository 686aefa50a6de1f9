//! Shared by the black-box tests: an in-process sandbox on its own runtime, the
//! binary pointed at it, and readers for the files a run leaves behind.

#![allow(dead_code)] // the memory tests, binaries of their own, use only part of this module

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use bulk_reply::sandbox::{
    self, AppendedMessage, Report, RunningSandbox, SandboxConfig, Source, Status, TicketSeed, World,
};
use serde_json::Value;

/// A sandbox serving from a runtime of its own, so tests stay plain `#[test]` functions and
/// the binary under test can block while the sandbox answers it.
pub struct Sandbox {
    runtime: tokio::runtime::Runtime,
    running: Option<RunningSandbox>,
    /// The user's state directory (`XDG_STATE_HOME`) for every command: the delivery ledger
    /// lives there, and a test must never touch the real one in the developer's home.
    state: tempfile::TempDir,
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
            state: tempfile::tempdir().expect("state directory"),
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

    /// The `XDG_STATE_HOME` every command of this sandbox runs with.
    pub fn state_dir(&self) -> &Path {
        self.state.path()
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
        Command::from(self.process(subcommand))
    }

    /// `bulk-reply SUBCOMMAND` aimed at this sandbox, with no rate limit of its own.
    pub fn unlimited_command(&self, subcommand: &str) -> Command {
        let mut cmd = self.command(subcommand);
        cmd.args(["--rate", "unlimited"]);
        cmd
    }

    /// The same, as a process to spawn and leave running.
    pub fn process(&self, subcommand: &str) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("bulk-reply"));
        cmd.arg(subcommand)
            .args(["--base-url", &self.base_url()])
            .env("MKP_API_TOKEN", sandbox::DEFAULT_TOKEN)
            .env("XDG_STATE_HOME", self.state.path())
            .env_remove("BULK_REPLY_LEDGER")
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

/// The binary, with nothing set: for commands that talk to no sandbox.
pub fn binary() -> Command {
    Command::cargo_bin("bulk-reply").expect("binary built")
}

/// A ticket of a fixed world, its customer `cst_{id}`.
pub fn seed(id: &str, status: Status, source: Source, title: &str) -> TicketSeed {
    TicketSeed {
        id: id.to_string(),
        status,
        source,
        customer_id: Some(format!("cst_{id}")),
        title: title.to_string(),
    }
}

/// A sandbox whose world is exactly `seeds`, with no rate limit.
pub fn sandbox_with(seeds: Vec<TicketSeed>) -> Sandbox {
    Sandbox::start(SandboxConfig {
        rate_limit: bulk_reply::rate::Rate::Unlimited,
        world: World::Fixed(seeds),
        ..SandboxConfig::default()
    })
}

/// Writes `text` to `dir/name` and returns its path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The CSV `rows.csv` of `(ticketId, Customer Name)` rows.
pub fn csv_of(dir: &Path, rows: &[(&str, &str)]) -> PathBuf {
    let path = dir.join("rows.csv");
    let mut writer = csv::Writer::from_path(&path).unwrap();
    writer.write_record(["ticketId", "Customer Name"]).unwrap();
    for (ticket, name) in rows {
        writer.write_record([ticket, name]).unwrap();
    }
    writer.flush().unwrap();
    path
}

/// The messages the sandbox stored, by ticket.
pub fn stored(sandbox: &Sandbox) -> HashMap<String, Vec<String>> {
    let mut by_ticket: HashMap<String, Vec<String>> = HashMap::new();
    for m in sandbox.messages() {
        by_ticket.entry(m.ticket_id).or_default().push(m.message);
    }
    by_ticket
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

/// Every file under `dir` with its bytes, for "nothing changed" comparisons.
pub fn snapshot(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).expect("readable directory") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap_or_default();
                files.insert(path, bytes);
            }
        }
    }
    files
}

/// Runs `bulk-reply ARGS` at a pseudo-terminal (`script` from util-linux gives the binary
/// one for standard input and standard error) aimed at `sandbox`, typing `answer`; returns
/// what the terminal showed, or `None` when `script` is not installed.
pub fn at_terminal(sandbox: &Sandbox, args: &[&str], answer: &str) -> Option<String> {
    let script = Path::new("/usr/bin/script");
    if !script.exists() {
        eprintln!("skipped: /usr/bin/script (util-linux) is not installed");
        return None;
    }
    let binary = assert_cmd::cargo::cargo_bin("bulk-reply");
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    let command_line = format!(
        "{} {} --base-url {}",
        binary.display(),
        quoted.join(" "),
        sandbox.base_url()
    );
    let output = std::process::Command::new(script)
        .args(["-qec", &command_line, "/dev/null"])
        .env("MKP_API_TOKEN", sandbox::DEFAULT_TOKEN)
        .env("XDG_STATE_HOME", sandbox.state_dir())
        .env_remove("BULK_REPLY_LEDGER")
        .env_remove("MKP_BASE_URL")
        .env_remove("MKP_OAUTH_CLIENT_ID")
        .env_remove("MKP_OAUTH_CLIENT_SECRET")
        .env_remove("MKP_OAUTH_REFRESH_TOKEN")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("piped")
                .write_all(answer.as_bytes())?;
            child.wait_with_output()
        })
        .expect("script runs");
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A state directory (`XDG_STATE_HOME`) private to the test file that asks for it, for
/// commands started without a [`Sandbox`]: the delivery ledger they keep must never land in
/// the real home, nor carry one test run's deliveries into the next. One per calling source
/// file, as when each file was a test binary of its own: the files of this binary share a
/// process, but not their ledgers.
#[track_caller]
pub fn private_state_home() -> PathBuf {
    static ROOT: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    static BY_FILE: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let root = ROOT
        .get_or_init(|| tempfile::tempdir().expect("a temporary state directory"))
        .path();
    let file = std::panic::Location::caller().file();
    let mut files = BY_FILE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let index = match files.iter().position(|known| *known == file) {
        Some(index) => index,
        None => {
            files.push(file);
            files.len() - 1
        }
    };
    let home = root.join(index.to_string());
    std::fs::create_dir_all(&home).expect("a state directory");
    home
}
