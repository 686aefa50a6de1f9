//! `bulk-reply sandbox` as a user runs it: a real process, its first stdout line, real HTTP,
//! a clean stop on SIGTERM, and clear errors for bad flags and files.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin_cmd;
use predicates::prelude::*;

const BINARY: &str = env!("CARGO_BIN_EXE_bulk-reply");

/// Starts the binary and returns it with the base URL from its first stdout line.
fn spawn_sandbox(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(BINARY)
        .arg("sandbox")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut first_line = String::new();
    BufReader::new(stdout)
        .read_line(&mut first_line)
        .expect("a first line");
    (child, first_line.trim_end().to_owned())
}

/// Sends SIGTERM and waits (bounded) for the process to end.
fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(status) = child.try_wait().expect("waitable") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the sandbox did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn prints_its_base_url_first_serves_the_api_and_stops_on_sigterm() {
    let (mut child, base_url) = spawn_sandbox(&[
        "--listen",
        "127.0.0.1:0",
        "--token",
        "cli-token",
        "--agent-name",
        "CLI Agent",
        "--rate-limit",
        "2/min",
    ]);
    assert!(
        base_url.starts_with("http://127.0.0.1:") && base_url.ends_with("/v1"),
        "{base_url}"
    );
    assert!(
        !base_url.ends_with(":0/v1"),
        "the real port, not 0: {base_url}"
    );

    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let (ticket, refused, report) = runtime.block_on(async {
        let client = reqwest::Client::new();
        let post = || {
            client
                .post(format!("{base_url}/tickets/tic_cli1"))
                .bearer_auth("cli-token")
                .json(&serde_json::json!({"message": "From the CLI"}))
                .send()
        };
        let ticket: serde_json::Value =
            post().await.expect("an answer").json().await.expect("JSON");
        post().await.expect("an answer");
        let refused = post().await.expect("an answer");
        let origin = base_url.trim_end_matches("/v1");
        let report: serde_json::Value = client
            .get(format!("{origin}/__sandbox/report"))
            .send()
            .await
            .expect("an answer")
            .json()
            .await
            .expect("JSON");
        (ticket, refused.status().as_u16(), report)
    });
    assert_eq!(ticket["messages"][0]["postedBy"], "CLI Agent");
    assert_eq!(refused, 429);
    assert_eq!(report["messagesAppended"], 2);
    assert_eq!(report["statusCounts"]["429"], 1);

    let status = terminate(&mut child);
    assert!(status.success(), "{status:?}");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("piped stderr")
        .read_to_string(&mut stderr)
        .expect("readable");
    assert!(stderr.contains("stopped after 3 requests"), "{stderr}");
    assert!(
        !stderr.contains("cli-token"),
        "the token never appears in output"
    );
}

#[test]
fn a_bad_tickets_file_is_an_input_error_naming_file_and_line() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("world.csv");
    std::fs::write(
        &path,
        "id,status,source,customerId,title\ntic_1,open,portal,,Fine\ntic_2,open,fax,,Bad\n",
    )
    .expect("writable");
    cargo_bin_cmd!("bulk-reply")
        .args(["sandbox", "--listen", "127.0.0.1:0", "--tickets"])
        .arg(&path)
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains("world.csv line 3"))
        .stderr(predicate::str::contains("fax"));
}

#[test]
fn a_fixed_world_from_ndjson_makes_other_ids_404() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("world.ndjson");
    std::fs::write(
        &path,
        "{\"id\":\"tic_known\",\"status\":\"closed\",\"source\":\"email\",\"customerId\":\"cst_9\",\"title\":\"Known\"}\n",
    )
    .expect("writable");
    let path_text = path.to_str().expect("a UTF-8 path");
    let (mut child, base_url) = spawn_sandbox(&["--listen", "127.0.0.1:0", "--tickets", path_text]);
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let (known, unknown) = runtime.block_on(async {
        let client = reqwest::Client::new();
        let get = |id: &str| {
            client
                .get(format!("{base_url}/tickets/{id}"))
                .bearer_auth("sandbox-token")
                .send()
        };
        let known = get("tic_known").await.expect("an answer").status().as_u16();
        let unknown = get("tic_other").await.expect("an answer").status().as_u16();
        (known, unknown)
    });
    assert_eq!((known, unknown), (200, 404));
    assert!(terminate(&mut child).success());
}

#[test]
fn bad_flags_are_usage_errors() {
    for args in [
        ["--fail-rate", "1.5"],
        ["--drop-rate", "lots"],
        ["--rate-limit", "60"],
        ["--latency", "soon"],
        ["--listen", "localhost"],
        ["--rewrite", "entities,bold"],
        ["--clock-skew", "-5 minutes"],
        ["--read-lag", "1 fortnight"],
        ["--late-rate", "2"],
        ["--late-by", "later"],
        ["--gateway-timeout-rate", "half"],
    ] {
        cargo_bin_cmd!("bulk-reply")
            .arg("sandbox")
            .args(args)
            .assert()
            .code(2)
            .stdout("")
            .stderr(predicate::str::contains(args[0]));
    }
    cargo_bin_cmd!("bulk-reply")
        .args([
            "sandbox",
            "--listen",
            "127.0.0.1:0",
            "--fail-rate",
            "0.6",
            "--drop-rate",
            "0.6",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("at most 1"));
    // Checked when the sandbox starts: the sum of all per-POST rates, a late store's delay,
    // and a skew no real server has.
    for (args, says) in [
        (
            &["--late-rate", "0.6", "--gateway-timeout-rate", "0.6"][..],
            "at most 1",
        ),
        (&["--late-rate", "0.1"][..], "--late-by"),
        (&["--clock-skew=-9000h"][..], "more than a year"),
    ] {
        cargo_bin_cmd!("bulk-reply")
            .args(["sandbox", "--listen", "127.0.0.1:0"])
            .args(args)
            .assert()
            .code(2)
            .stdout("")
            .stderr(predicate::str::contains(says));
    }
}

#[test]
fn help_shows_examples() {
    cargo_bin_cmd!("bulk-reply")
        .args(["sandbox", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Examples:"))
        .stdout(predicate::str::contains("--rate-limit off"))
        .stdout(predicate::str::contains(
            "--rewrite entities,void-tags,wrap",
        ))
        .stdout(predicate::str::contains("--late-rate 0.1 --late-by 30s"));
}
