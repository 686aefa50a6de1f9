//! The pace against a real sandbox over HTTP: the server's stated limit adopted, another
//! user of the key left its share, network jitter absorbed, and the concurrency ceiling
//! named when it holds the pace back. Figures are facts the sandbox counted (429s, the most
//! requests in one window), never wall-clock speed.

use std::time::Duration;

use crate::support::{Sandbox, rows, write_csv};
use bulk_reply::sandbox::{Faults, Neighbour, SandboxConfig};
use serde_json::Value;

fn limited(limit: &str) -> SandboxConfig {
    SandboxConfig {
        rate_limit: limit.parse().unwrap(),
        ..SandboxConfig::default()
    }
}

fn summary(path: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Sends `rows` rows with the default flags and returns the run's `--summary-json`.
fn send_rows(sandbox: &Sandbox, rows_to_send: usize) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "rows.csv", &rows(rows_to_send));
    let summary_file = dir.path().join("summary.json");
    sandbox
        .send(&input)
        .arg("--summary-json")
        .arg(&summary_file)
        .assert()
        .success();
    summary(&summary_file)
}

fn status_count(sandbox: &Sandbox, status: &str) -> u64 {
    sandbox
        .report()
        .status_counts
        .get(status)
        .copied()
        .unwrap_or(0)
}

#[test]
fn auto_adopts_a_raised_limit_from_the_first_answer_and_spends_the_window_at_once() {
    let sandbox = Sandbox::start(limited("600/min"));
    let summary = send_rows(&sandbox, 120);
    let report = sandbox.report();
    // More than the assumed 60 went within one minute, and none was refused.
    assert_eq!(report.peak_requests_per_window, 121, "{report:?}");
    assert_eq!(status_count(&sandbox, "429"), 0);
    assert_eq!(summary["rateLimit"], "600/min");
}

#[test]
fn auto_keeps_to_a_lower_limit_in_a_shorter_window_without_a_429() {
    let sandbox = Sandbox::start(limited("10/500ms"));
    let summary = send_rows(&sandbox, 40);
    assert_eq!(status_count(&sandbox, "429"), 0, "{:?}", sandbox.report());
    assert_eq!(sandbox.report().peak_requests_per_window, 10);
    assert_eq!(summary["rateLimit"], "10/500ms");
}

#[test]
fn another_user_of_the_key_is_left_its_share() {
    let sandbox = Sandbox::start(SandboxConfig {
        neighbour: Some(Neighbour {
            rate: "4/500ms".parse().unwrap(),
            stops_after: None,
        }),
        ..limited("10/500ms")
    });
    // The other integration was there first: its share shows in the first answer.
    let started = std::time::Instant::now();
    while sandbox.report().neighbour_accepted < 5 {
        assert!(started.elapsed() < Duration::from_secs(5), "no neighbour");
        std::thread::sleep(Duration::from_millis(20));
    }
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "shared.csv", &rows(36));
    sandbox.send(&input).assert().success();
    let report = sandbox.report();
    // The controller before this one got a 429 every two seconds and caused the other
    // user as many; a timer that fires late can still cost one.
    assert!(status_count(&sandbox, "429") <= 1, "{report:?}");
    assert!(report.neighbour_refused <= 1, "{report:?}");
}

#[test]
fn network_jitter_at_the_servers_own_limit_costs_no_429() {
    let sandbox = Sandbox::start(SandboxConfig {
        faults: Faults {
            seed: 3,
            latency: Duration::from_millis(15),
            latency_jitter: Duration::from_millis(10),
            ..Faults::none()
        },
        ..limited("10/500ms")
    });
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "jitter.csv", &rows(40));
    sandbox
        .send(&input)
        .args(["--rate", "10/500ms"])
        .assert()
        .success();
    assert_eq!(status_count(&sandbox, "429"), 0, "{:?}", sandbox.report());
}

#[test]
fn a_ceiling_that_holds_the_pace_back_is_named_with_the_number_that_would_not() {
    let sandbox = Sandbox::start(SandboxConfig {
        faults: Faults {
            latency: Duration::from_millis(100),
            ..Faults::none()
        },
        ..limited("unlimited")
    });
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "ceiling.csv", &rows(30));
    let summary_file = dir.path().join("summary.json");
    let output = sandbox
        .send(&input)
        .args(["--rate", "100/s", "--concurrency", "2", "--summary-json"])
        .arg(&summary_file)
        .output()
        .unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--concurrency 2 held the pace back"),
        "{stderr}"
    );
    // 100/s at 100 ms an answer: about 10 in flight, with headroom.
    let needed = summary(&summary_file)["concurrencyNeeded"]
        .as_u64()
        .unwrap();
    assert!((10..=16).contains(&needed), "{needed}");

    // With room to spare, nothing is said.
    let roomy = write_csv(dir.path(), "roomy.csv", &rows(10));
    let output = sandbox
        .send(&roomy)
        .args(["--rate", "100/s", "--concurrency", "32"])
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(!String::from_utf8_lossy(&output.stderr).contains("held the pace back"));
}

#[test]
fn a_burst_without_a_rate_to_pace_it_is_refused_before_anything_is_sent() {
    let sandbox = Sandbox::start(limited("60/min"));
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "burst.csv", &rows(3));
    sandbox
        .send(&input)
        .args(["--burst", "5"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--burst needs a --rate"));
    assert_eq!(sandbox.report().requests, 0);
}

#[test]
fn rate_accepts_auto_and_explains_what_it_accepts() {
    let sandbox = Sandbox::start(limited("60/min"));
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "rate.csv", &rows(1));
    sandbox
        .send(&input)
        .args(["--rate", "quick"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("or auto"));
}
