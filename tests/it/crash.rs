//! Exactly once, the hard way: the sandbox in a process of its own, with lost answers,
//! server errors and latency, and `send` killed with SIGKILL at seeded random moments, again
//! and again, before a final run completes the job. Every (ticket, message) pair must arrive
//! exactly once, and the results file must hold exactly one `sent` record per row.
//!
//! The kill moments come from a seed printed at the start; rerun a failure with
//! `BULK_REPLY_CRASH_SEED=<seed> cargo test --test it crash::`.

use crate::support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use predicates::str::contains;
use support::{results, rows, with_suffix, write_csv};

/// A `bulk-reply sandbox` process; killed when dropped.
struct SandboxProcess {
    child: Child,
    base_url: String,
}

impl SandboxProcess {
    fn start(extra: &[&str]) -> SandboxProcess {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("bulk-reply"))
            .args(["sandbox", "--listen", "127.0.0.1:0", "--rate-limit", "off"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("sandbox starts");
        let mut first_line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut first_line)
            .expect("base URL");
        SandboxProcess {
            child,
            base_url: first_line.trim().to_string(),
        }
    }

    fn get(&self, path: &str) -> serde_json::Value {
        let url = format!("{}{path}", self.base_url.trim_end_matches("/v1"));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async { reqwest::get(url).await.unwrap().json().await.unwrap() })
    }
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SplitMix64: a tiny, well-known generator, so the kill schedule depends on the seed only.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn send(sandbox: &SandboxProcess, input: &std::path::Path) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("bulk-reply"));
    cmd.arg("send")
        .arg(input)
        .args([
            "--base-url",
            &sandbox.base_url,
            "--rate",
            "unlimited",
            "--concurrency",
            "8",
        ])
        .args([
            "--retry-delay",
            "5ms",
            "--timeout",
            "2s",
            "--settle",
            "300ms",
        ])
        .env("MKP_API_TOKEN", "sandbox-token")
        // The delivery ledger goes beside the input, never into the real state directory.
        .env("XDG_STATE_HOME", input.with_extension("state"));
    cmd
}

fn quiet(mut cmd: Command) -> Command {
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    cmd
}

/// Faults of a real deployment the harness runs with, one set per test. Each keeps the
/// lost answers and server errors of the original harness, so every run has doubts to settle.
const LOSSY: &[&str] = &[
    "--drop-rate",
    "0.05",
    "--fail-rate",
    "0.05",
    "--latency",
    "5ms",
];

#[test]
fn kill_nine_at_random_moments_never_loses_or_doubles_a_message() {
    crash_harness(&[], &[]);
}

#[test]
fn kill_nine_with_a_sanitiser_rewriting_every_message() {
    crash_harness(&["--rewrite", "all"], &[]);
}

#[test]
fn kill_nine_with_the_server_clock_five_minutes_behind() {
    crash_harness(&["--clock-skew=-5m"], &[]);
}

#[test]
fn kill_nine_with_reads_lagging_behind_writes() {
    crash_harness(&["--read-lag", "400ms"], &["--settle", "1s"]);
}

#[test]
fn kill_nine_with_commits_after_the_clients_timeout() {
    // Stored 2.5 s after arrival, past the 2 s --timeout but within its settle period.
    crash_harness(
        &["--late-rate", "0.03", "--late-by", "2500ms"],
        &["--settle", "1s"],
    );
}

#[test]
fn kill_nine_with_gateway_timeouts_after_storing() {
    crash_harness(&["--gateway-timeout-rate", "0.05"], &[]);
}

#[test]
fn kill_nine_with_every_fault_at_once() {
    crash_harness(
        &[
            "--rewrite",
            "all",
            "--clock-skew=-5m",
            "--read-lag",
            "400ms",
            "--late-rate",
            "0.02",
            "--late-by",
            "2500ms",
            "--gateway-timeout-rate",
            "0.03",
        ],
        &["--settle", "1s"],
    );
}

/// 2,000 rows against a sandbox with `faults` (besides [`LOSSY`]), `send` (with `flags`)
/// killed at ten or more seeded moments, then run to completion: every row arrives exactly
/// once and has exactly one `sent` record.
fn crash_harness(faults: &[&str], flags: &[&str]) {
    let seed: u64 = std::env::var("BULK_REPLY_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_124);
    println!("crash harness seed: {seed}, faults {faults:?} (set BULK_REPLY_CRASH_SEED to replay)");
    let mut random = SplitMix64(seed);
    let seed_arg = seed.to_string();
    let mut sandbox_args = vec!["--seed", &seed_arg];
    sandbox_args.extend_from_slice(LOSSY);
    sandbox_args.extend_from_slice(faults);
    let sandbox = SandboxProcess::start(&sandbox_args);
    let dir = tempfile::tempdir().unwrap();
    let input_rows = rows(2000);
    let input = write_csv(dir.path(), "notice.csv", &input_rows);
    let run = || {
        let mut cmd = quiet(send(&sandbox, &input));
        cmd.args(flags);
        cmd
    };

    let mut kills = 0;
    while kills < 12 {
        let mut child = run().spawn().unwrap();
        // The kill moment is the point of this test: a sleep is what chooses it.
        std::thread::sleep(Duration::from_millis(40 + random.next() % 200));
        if child.try_wait().unwrap().is_some() {
            break; // finished before the kill: nothing left to interrupt
        }
        child.kill().unwrap(); // SIGKILL: no cleanup, no flush, no signal handler
        child.wait().unwrap();
        kills += 1;
    }
    assert!(
        kills >= 10,
        "only {kills} kills landed before the job finished (seed {seed})"
    );

    // Run to completion. On a loaded machine a run may end with a few rows failed after
    // their attempts (exit 1, retried by the next run) — what a user would do too.
    let mut finals = Vec::new();
    loop {
        let code = run().status().unwrap().code();
        finals.push(code);
        match code {
            Some(0) => break,
            Some(1) if finals.len() < 5 => continue,
            _ => panic!("the job must complete: exit codes {finals:?} (seed {seed}, {faults:?})"),
        }
    }

    let mut arrivals: HashMap<(String, String), usize> = HashMap::new();
    for m in sandbox.get("/__sandbox/messages").as_array().unwrap() {
        // As posted: with --rewrite the sandbox stores another text.
        let pair = (
            m["ticketId"].as_str().unwrap().to_string(),
            m["posted"].as_str().unwrap().to_string(),
        );
        *arrivals.entry(pair).or_insert(0) += 1;
    }
    for row in &input_rows {
        assert_eq!(
            arrivals.get(row).copied().unwrap_or(0),
            1,
            "{row:?} must arrive exactly once (seed {seed}, {faults:?})"
        );
    }
    assert_eq!(arrivals.len(), input_rows.len());

    let mut sent_per_line: HashMap<u64, usize> = HashMap::new();
    for record in results(&with_suffix(&input, ".results.ndjson")) {
        assert_ne!(
            record["doubled"], true,
            "{record} (seed {seed}, {faults:?})"
        );
        if record["status"] == "sent" {
            *sent_per_line
                .entry(record["line"].as_u64().unwrap())
                .or_insert(0) += 1;
        }
    }
    assert_eq!(
        sent_per_line.len(),
        input_rows.len(),
        "every row has a sent record (seed {seed}, {faults:?})"
    );
    assert!(
        sent_per_line.values().all(|n| *n == 1),
        "no row has two sent records (seed {seed}, {faults:?})"
    );
}

#[test]
fn sigterm_and_sighup_stop_resumably_like_ctrl_c() {
    for signal in ["-TERM", "-HUP"] {
        let sandbox = SandboxProcess::start(&[]);
        let dir = tempfile::tempdir().unwrap();
        let input_rows = rows(60);
        let input = write_csv(dir.path(), "n.csv", &input_rows);
        let results_path = with_suffix(&input, ".results.ndjson");
        let child = send(&sandbox, &input)
            .args(["--rate", "30/s"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(8);
        while results(&results_path).len() < 3 {
            assert!(std::time::Instant::now() < deadline, "no progress");
            std::thread::sleep(Duration::from_millis(10));
        }
        Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(3),
            "{signal}: {}",
            String::from_utf8_lossy(&output.stderr)
        );

        assert_eq!(
            quiet(send(&sandbox, &input)).status().unwrap().code(),
            Some(0)
        );
        let messages = sandbox.get("/__sandbox/messages");
        assert_eq!(
            messages.as_array().unwrap().len(),
            input_rows.len(),
            "{signal}: each row once"
        );
    }
}

#[test]
fn a_journal_that_is_not_ours_is_refused_and_left_alone() {
    let sandbox = SandboxProcess::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "n.csv", &rows(3));
    let journal = with_suffix(&input, ".journal");
    std::fs::write(&journal, "my shopping list\n").unwrap();
    assert_cmd::Command::from_std(send(&sandbox, &input))
        .assert()
        .code(2)
        .stderr(contains("not a bulk-reply journal"));
    assert_eq!(
        std::fs::read_to_string(&journal).unwrap(),
        "my shopping list\n"
    );
}

#[test]
fn a_results_file_of_another_input_is_never_overwritten() {
    let sandbox = SandboxProcess::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "n.csv", &rows(3));
    let results_path = with_suffix(&input, ".results.ndjson");
    std::fs::write(&results_path, "{\"line\":2}\n").unwrap();
    assert_cmd::Command::from_std(send(&sandbox, &input))
        .assert()
        .code(2)
        .stderr(contains("may belong to another input"));
    assert_eq!(
        std::fs::read_to_string(&results_path).unwrap(),
        "{\"line\":2}\n"
    );
}

#[test]
fn a_crash_leaves_no_more_rows_in_doubt_than_requests_in_flight() {
    let sandbox = SandboxProcess::start(&["--latency", "50ms"]);
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "paced.csv", &rows(200));
    let journal = with_suffix(&input, ".journal");
    let mut child = quiet(send(&sandbox, &input))
        .args(["--rate", "40/s", "--concurrency", "4"])
        .spawn()
        .unwrap();
    // Kill once the run is well under way: a few dozen outcomes on disk.
    let deadline = std::time::Instant::now() + Duration::from_secs(8);
    loop {
        let text = std::fs::read_to_string(&journal).unwrap_or_default();
        if text.lines().filter(|l| l.starts_with("S ")).count() >= 30 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    // Rows with an intent and no outcome: what the next run must read before sending.
    let text = std::fs::read_to_string(&journal).unwrap();
    // A last line without its newline was torn by the kill: it never counted.
    let complete = &text[..text.rfind('\n').map_or(0, |end| end + 1)];
    let mut open: HashMap<&str, bool> = HashMap::new();
    for line in complete.lines() {
        let mut fields = line.split(' ');
        match (fields.next(), fields.next()) {
            (Some("I"), Some(key)) => {
                open.insert(key, true);
            }
            (Some("S" | "F" | "K" | "R"), Some(key)) => {
                open.insert(key, false);
            }
            _ => {}
        }
    }
    let in_doubt = open.values().filter(|open| **open).count();
    // Four requests in flight, and outcomes wait up to 20 ms for their fsync.
    assert!(
        in_doubt <= 4 + 2,
        "{in_doubt} rows left in doubt by a crash with 4 requests in flight"
    );
}
