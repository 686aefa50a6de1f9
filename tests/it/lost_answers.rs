//! Exactly once when answers are lost in the ways real deployments lose them: one row each,
//! ending with exactly one copy of the message on the ticket.
//!
//! The blocked-path case needs a network of its own: the test re-runs itself in a new
//! network namespace (`unshare --net`, as root, as CI runs), where taking the loopback
//! interface down blocks the path between client and sandbox while the connection stays
//! open — the kernel keeps the request in the socket's send queue, as on a real partition.

use crate::support;

use std::process::Command;
use std::time::{Duration, Instant};

use bulk_reply::rate::Rate;
use bulk_reply::sandbox::{Fault, Faults, SandboxConfig};
use predicates::str::contains;
use support::{Sandbox, assert_exactly_once, results, with_suffix, write_csv};

/// Set inside the namespace, so the re-run does the work instead of re-running again.
const IN_NAMESPACE: &str = "BULK_REPLY_TEST_IN_NETNS";

fn ip_link_lo(state: &str) {
    let status = Command::new("ip")
        .args(["link", "set", "lo", state])
        .status()
        .expect("ip (iproute2) runs");
    assert!(status.success(), "ip link set lo {state}");
}

#[test]
fn a_request_abandoned_on_a_blocked_path_never_lands_later() {
    if std::env::var_os(IN_NAMESPACE).is_none() {
        // The name the test harness knows this test by: its module path inside the binary
        // (`lost_answers::…`), without the binary's own name in front.
        let (_, module) = module_path!().split_once("::").expect("inside a module");
        let name = format!("{module}::a_request_abandoned_on_a_blocked_path_never_lands_later");
        let output = Command::new("unshare")
            .args(["--net", "--"])
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", &name, "--nocapture", "--test-threads", "1"])
            .env(IN_NAMESPACE, "1")
            .output()
            .expect("unshare (util-linux) runs");
        let text = String::from_utf8_lossy(&output.stdout).to_string()
            + &String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && text.contains("1 passed"),
            "the test inside a new network namespace (needs root: `unshare --net`) failed:\n{text}"
        );
        return;
    }
    ip_link_lo("up");
    let sandbox = Sandbox::open_world();
    let dir = tempfile::tempdir().unwrap();
    let rows = vec![("tic_blocked1".to_string(), "<p>Update</p>".to_string())];
    let input = write_csv(dir.path(), "blocked.csv", &rows);

    // One request a second: the --skip-closed read opens the connection at once, the POST
    // follows on the same connection a second later — into the blocked path.
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("bulk-reply"))
        .arg("send")
        .arg(&input)
        .args(["--base-url", &sandbox.base_url()])
        .args([
            "--skip-closed",
            "--rate",
            "1/s",
            "--timeout",
            "1s",
            "--settle",
            "2s",
        ])
        .args(["--retry-delay", "200ms", "--max-attempts", "30"])
        // The delivery ledger goes to the test's own state directory, never the real one.
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .env("MKP_API_TOKEN", bulk_reply::sandbox::DEFAULT_TOKEN)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    // The preflight's read of the list, then the --skip-closed read of the ticket.
    while sandbox.report().gets < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no read arrived"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    ip_link_lo("down");
    // The POST leaves about a second after the read and gives up a second later; the kernel
    // is told to drop unacknowledged bytes a second after that (half of --settle, at most
    // --timeout). Without that, the request would reach the server once the path is back.
    std::thread::sleep(Duration::from_millis(2500));
    ip_link_lo("up");
    let status = child.wait().unwrap();
    assert!(status.success(), "send exits 0: {status:?}");

    assert_eq!(
        sandbox.report().posts,
        1,
        "the abandoned request never reached the server; only the second one did"
    );
    assert_eq!(sandbox.messages().len(), 1, "exactly one copy");
    let records = results(&with_suffix(&input, ".results.ndjson"));
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["status"], "sent");
    assert_eq!(
        records[0]["attempts"], 2,
        "posted again only after the settle period proved the first absent"
    );
}

/// A sandbox whose every POST is stored and then loses its answer, with one more fault.
fn losing_answers(config: SandboxConfig) -> Sandbox {
    Sandbox::start(SandboxConfig {
        rate_limit: Rate::Unlimited,
        faults: Faults {
            seed: 12,
            drop_rate: 1.0,
            ..config.faults.clone()
        },
        ..config
    })
}

/// One row, sent with `extra` flags; returns its results record.
fn send_one(sandbox: &Sandbox, message: &str, extra: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let rows = vec![("tic_lost1".to_string(), message.to_string())];
    let input = write_csv(dir.path(), "one.csv", &rows);
    sandbox
        .send(&input)
        .args(["--rate", "unlimited"])
        .args(extra)
        .assert()
        .code(0);
    let records = results(&with_suffix(&input, ".results.ndjson"));
    assert_eq!(records.len(), 1, "{records:?}");
    assert_exactly_once(sandbox, &rows);
    records[0].clone()
}

const DUTCH_NOTICE: &str =
    "<p>De storing is opgelost — excuses voor het ongemak. Uw tegoed: € 10, café “De Zon”.</p>";

#[test]
fn named_entities_and_a_lost_answer_make_one_copy() {
    let sandbox = losing_answers(SandboxConfig {
        rewrite: "entities".parse().unwrap(),
        ..SandboxConfig::default()
    });
    let record = send_one(&sandbox, DUTCH_NOTICE, &[]);
    assert_eq!(record["status"], "sent");
    assert_eq!(record["copies"], 1);
    assert!(
        sandbox.messages()[0].message.contains("&eacute;"),
        "the sandbox rewrote it"
    );
    assert_eq!(
        sandbox.report().gets,
        2,
        "the preflight's read of the list, then recognised on the first read of the ticket"
    );
}

#[test]
fn a_server_clock_five_minutes_behind_and_a_lost_answer_make_one_copy() {
    let sandbox = losing_answers(SandboxConfig {
        clock_skew: time::Duration::minutes(-5),
        ..SandboxConfig::default()
    });
    let record = send_one(&sandbox, "<p>Update</p>", &[]);
    assert_eq!(record["status"], "sent");
    assert_eq!(record["copies"], 1);
    assert_eq!(
        sandbox.report().gets,
        2,
        "the preflight, then one read of the ticket"
    );
}

#[test]
fn a_read_lagging_two_seconds_and_a_lost_answer_make_one_copy() {
    let sandbox = losing_answers(SandboxConfig {
        read_lag: Duration::from_secs(2),
        ..SandboxConfig::default()
    });
    // The first read comes at once and misses; only a read a settle period (longer than the
    // lag) after the lost answer may rule the message out, and by then the replica shows it.
    let record = send_one(
        &sandbox,
        "<p>Update</p>",
        &["--timeout", "1s", "--settle", "3s"],
    );
    assert_eq!(record["status"], "sent");
    assert_eq!(record["copies"], 1);
    assert!(sandbox.report().gets >= 2, "a miss means: wait, read again");
}

#[test]
fn a_gateway_timeout_after_storing_makes_one_copy() {
    let sandbox = Sandbox::start(SandboxConfig {
        rate_limit: Rate::Unlimited,
        faults: Faults {
            seed: 3,
            gateway_timeout_rate: 1.0,
            ..Faults::none()
        },
        ..SandboxConfig::default()
    });
    let record = send_one(&sandbox, "<p>Update</p>", &[]);
    assert_eq!(record["status"], "sent");
    assert_eq!(record["copies"], 1);
}

#[test]
fn kill_nine_with_a_request_in_flight_then_an_immediate_rerun_makes_one_copy() {
    // Every POST is stored 1.5 s after it arrived, whether or not its client is still there.
    let sandbox = Sandbox::start(SandboxConfig {
        rate_limit: Rate::Unlimited,
        faults: Faults {
            seed: 5,
            late_rate: 1.0,
            late_by: Duration::from_millis(1500),
            ..Faults::none()
        },
        ..SandboxConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let rows = vec![("tic_killed1".to_string(), "<p>Update</p>".to_string())];
    let input = write_csv(dir.path(), "killed.csv", &rows);
    let same_command = |sandbox: &Sandbox| {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("bulk-reply"));
        cmd.arg("send")
            .arg(&input)
            .args(["--base-url", &sandbox.base_url(), "--rate", "unlimited"])
            .args(["--timeout", "2s", "--settle", "1s"])
            .env("MKP_API_TOKEN", bulk_reply::sandbox::DEFAULT_TOKEN)
            .env("XDG_STATE_HOME", dir.path().join("state"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        cmd
    };
    let mut first = same_command(&sandbox).spawn().unwrap();
    let started = Instant::now();
    while sandbox.report().posts < 1 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no POST arrived"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    first.kill().unwrap(); // SIGKILL, the request in flight
    first.wait().unwrap();
    assert!(
        sandbox.messages().is_empty(),
        "not stored yet: still on its way"
    );

    let status = same_command(&sandbox).status().unwrap();
    assert!(status.success(), "{status:?}");
    assert_exactly_once(&sandbox, &rows);
    assert_eq!(
        sandbox.report().posts,
        1,
        "the rerun waited, read, and found it"
    );
}

/// A sandbox where the first POST of (`ticket`, `message`) is stored 2.5 s after it arrived
/// and the second at once: the seed is searched for, the decisions being a pure function.
fn late_first_post(ticket: &str, message: &str) -> Sandbox {
    let faults = |seed| Faults {
        seed,
        late_rate: 0.5,
        late_by: Duration::from_millis(2500),
        ..Faults::none()
    };
    let seed = (0..1000)
        .find(|&seed| {
            let f = faults(seed);
            f.decide(ticket, message, 0) == Fault::Late
                && f.decide(ticket, message, 1) == Fault::None
        })
        .expect("such a seed");
    Sandbox::start(SandboxConfig {
        rate_limit: Rate::Unlimited,
        faults: faults(seed),
        ..SandboxConfig::default()
    })
}

#[test]
fn a_commit_later_than_the_settle_period_is_reported_as_a_double() {
    // The first POST of the row is stored late and the second is not: the one case no
    // client can prevent without idempotency keys.
    let (ticket, message) = ("tic_late1", "<p>Update</p>");
    let sandbox = late_first_post(ticket, message);
    let dir = tempfile::tempdir().unwrap();
    let rows = vec![(ticket.to_string(), message.to_string())];
    let input = write_csv(dir.path(), "late.csv", &rows);
    let summary = dir.path().join("summary.json");
    // The first request times out at 1 s and is proven absent a settle period later, at
    // 2 s; the second is answered at once; the late first copy lands at 2.5 s; the count a
    // settle period after the second post, at 3 s, sees both.
    sandbox
        .send(&input)
        .args(["--rate", "unlimited", "--timeout", "1s", "--settle", "1s"])
        .arg("--summary-json")
        .arg(&summary)
        .assert()
        .code(1)
        .stderr(contains("1 DOUBLED"))
        .stderr(contains("tic_late1 (line 2)"));
    assert_eq!(sandbox.arrivals()[&rows[0]], 2, "the customer got it twice");
    let records = results(&with_suffix(&input, ".results.ndjson"));
    assert_eq!(records[0]["status"], "sent");
    assert_eq!(records[0]["doubled"], true);
    assert_eq!(records[0]["copies"], 2);
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(summary["doubled"], 1, "{summary}");
    assert_eq!(summary["exitCode"], 1);
}

#[test]
fn hold_leaves_a_doubtful_row_for_a_person_and_never_posts_it_twice() {
    // The POST loses its answer and is stored only after the settle period: absent when
    // checked, there when a person looks — the reason hold exists.
    let sandbox = Sandbox::start(SandboxConfig {
        rate_limit: Rate::Unlimited,
        faults: Faults {
            seed: 9,
            late_rate: 1.0,
            late_by: Duration::from_secs(3),
            ..Faults::none()
        },
        ..SandboxConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let rows = vec![("tic_hold1".to_string(), "<p>Update</p>".to_string())];
    let input = write_csv(dir.path(), "hold.csv", &rows);
    sandbox
        .send(&input)
        .args([
            "--rate",
            "unlimited",
            "--timeout",
            "500ms",
            "--settle",
            "500ms",
        ])
        .args(["--in-doubt", "hold"])
        .assert()
        .code(1)
        .stderr(contains("1 in doubt"));
    assert_eq!(sandbox.report().posts, 1, "never posted a second time");
    let records = results(&with_suffix(&input, ".results.ndjson"));
    assert_eq!(records[0]["status"], "in_doubt");
    assert!(
        records[0]["reason"]
            .as_str()
            .unwrap()
            .contains("check the ticket")
    );
}

#[test]
fn a_stop_still_counts_the_copies_of_a_row_posted_again() {
    // As in the late-commit case, but SIGTERM arrives while the second post waits for its
    // settle period: the count still happens, so a double is not left unsaid.
    let (ticket, message) = ("tic_late2", "<p>Update</p>");
    let sandbox = late_first_post(ticket, message);
    let dir = tempfile::tempdir().unwrap();
    let rows = vec![(ticket.to_string(), message.to_string())];
    let input = write_csv(dir.path(), "stop.csv", &rows);
    let child = Command::new(assert_cmd::cargo::cargo_bin("bulk-reply"))
        .arg("send")
        .arg(&input)
        .args(["--base-url", &sandbox.base_url(), "--rate", "unlimited"])
        .args(["--timeout", "1s", "--settle", "1s", "--retry-delay", "10ms"])
        .env("MKP_API_TOKEN", bulk_reply::sandbox::DEFAULT_TOKEN)
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while sandbox.report().posts < 2 {
        assert!(started.elapsed() < Duration::from_secs(5), "no second post");
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "interrupted: {stderr}");
    assert!(stderr.contains("1 DOUBLED"), "{stderr}");
    let records = results(&with_suffix(&input, ".results.ndjson"));
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["doubled"], true);
}

#[test]
fn a_double_that_lands_after_the_first_count_is_found_at_the_end_of_the_run() {
    // One request at a time, each answered after 300 ms. Row 1's first POST is stored 5 s
    // late: after the count that follows its second post (about 4 s in), before the run
    // ends (20 rows take about 7 s).
    let rows: Vec<(String, String)> = (1..=20)
        .map(|n| (format!("tic_recount{n}"), "<p>Update</p>".to_string()))
        .collect();
    let faults = |seed| Faults {
        seed,
        late_rate: 0.1,
        late_by: Duration::from_secs(5),
        latency: Duration::from_millis(300),
        ..Faults::none()
    };
    let seed = (0..100_000)
        .find(|&seed| {
            let f = faults(seed);
            f.decide(&rows[0].0, &rows[0].1, 0) == Fault::Late
                && f.decide(&rows[0].0, &rows[0].1, 1) == Fault::None
                && rows[1..]
                    .iter()
                    .all(|(t, m)| f.decide(t, m, 0) == Fault::None)
        })
        .expect("such a seed");
    let sandbox = Sandbox::start(SandboxConfig {
        rate_limit: Rate::Unlimited,
        faults: faults(seed),
        ..SandboxConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "recount.csv", &rows);
    sandbox
        .send(&input)
        .args(["--rate", "unlimited", "--concurrency", "1"])
        .args(["--timeout", "1s", "--settle", "500ms"])
        .assert()
        .code(1)
        .stderr(contains("1 DOUBLED"))
        .stderr(contains("tic_recount1 (line 2)"));
    let records = results(&with_suffix(&input, ".results.ndjson"));
    let first: Vec<_> = records.iter().filter(|r| r["line"] == 2).collect();
    assert_eq!(first.len(), 2, "sent, then the recount: {first:?}");
    assert_eq!(first[0]["copies"], 1, "one copy when first counted");
    assert_eq!(first[1]["doubled"], true);
    assert_eq!(first[1]["copies"], 2);
}

#[test]
fn a_row_that_failed_in_doubt_stays_out_of_the_failed_rows_file() {
    use bulk_reply::sandbox::{Source, Status, TicketSeed, World};
    let sandbox = Sandbox::start(SandboxConfig {
        rate_limit: Rate::Unlimited,
        world: World::Fixed(vec![TicketSeed {
            id: "tic_there1".into(),
            status: Status::Open,
            source: Source::Portal,
            customer_id: None,
            title: "Invoice".into(),
        }]),
        faults: Faults {
            seed: 1,
            drop_rate: 1.0,
            ..Faults::none()
        },
        ..SandboxConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let rows = vec![
        ("tic_there1".to_string(), "<p>Update</p>".to_string()),
        ("tic_missing1".to_string(), "<p>Update</p>".to_string()),
    ];
    let input = write_csv(dir.path(), "mixed.csv", &rows);
    // One attempt: the dropped answer leaves the first row failed while in doubt. A short
    // --timeout: the rerun waits that long after the request in doubt before it reads the
    // ticket (30 s by default).
    sandbox
        .send(&input)
        .args([
            "--rate",
            "unlimited",
            "--timeout",
            "3s",
            "--max-attempts",
            "1",
        ])
        .assert()
        .code(1)
        .stderr(contains("1 failed rows may have reached their ticket"));
    let failed = std::fs::read_to_string(with_suffix(&input, ".failed.csv")).unwrap();
    assert!(failed.contains("tic_missing1"), "{failed}");
    assert!(
        !failed.contains("tic_there1"),
        "in doubt: not to be sent from this file\n{failed}"
    );
    // The same command settles it by reading the ticket: one copy.
    sandbox
        .send(&input)
        .args(["--rate", "unlimited", "--timeout", "3s"])
        .assert()
        .code(1);
    assert_eq!(sandbox.arrivals()[&rows[0]], 1);
}
