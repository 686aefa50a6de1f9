//! Reaching the API: the preflight that stops a misconfigured run before its first row, and
//! the fail-fast rules during a run. Each case ends in seconds with exit 3 and one sentence
//! naming the URL and what to check.

mod support;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use bulk_reply::rate::Rate;
use bulk_reply::sandbox::{self, ChatRefusal, SandboxConfig, Source, Status, TicketSeed, World};
use predicates::str::contains;
use support::{Sandbox, results, rows, with_suffix, write_csv};

/// A loopback URL with nothing listening: the port was free a moment ago.
fn nothing_listening() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}/v1")
}

fn send_to(base_url: &str, input: &std::path::Path) -> Command {
    let mut cmd = Command::cargo_bin("bulk-reply").unwrap();
    cmd.arg("send")
        .arg(input)
        .args(["--base-url", base_url, "--retry-delay", "10ms", "-y"])
        .env("MKP_API_TOKEN", sandbox::DEFAULT_TOKEN)
        .env_remove("MKP_OAUTH_CLIENT_ID")
        .env_remove("MKP_OAUTH_CLIENT_SECRET")
        .env_remove("MKP_OAUTH_REFRESH_TOKEN");
    cmd
}

#[test]
fn nothing_listening_stops_before_the_first_row_in_well_under_5_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "notices.csv", &rows(20));
    let url = nothing_listening();
    let started = Instant::now();
    send_to(&url, &input)
        .assert()
        .code(3)
        .stderr(contains(format!(
            "cannot reach the API at {url}/tickets?page=1"
        )))
        .stderr(contains("Check --base-url"))
        .stderr(contains("nothing was sent"));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // No journal is left bound to the wrong URL: fixing --base-url is enough.
    assert!(!with_suffix(&input, ".journal").exists());
}

#[test]
fn a_base_url_without_v1_names_the_likely_fix() {
    let sandbox = Sandbox::open_world();
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "notices.csv", &rows(5));
    let without_v1 = sandbox.base_url().trim_end_matches("/v1").to_string();
    let started = Instant::now();
    send_to(&without_v1, &input)
        .assert()
        .code(3)
        .stderr(contains("is --base-url right? It usually ends in /v1"))
        .stderr(contains(format!("try --base-url {without_v1}/v1")));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(sandbox.messages().is_empty());
}

#[test]
fn a_refused_token_stops_before_the_first_row() {
    let sandbox = Sandbox::open_world();
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "notices.csv", &rows(5));
    sandbox
        .send(&input)
        .arg("-y")
        .env("MKP_API_TOKEN", "not-the-token")
        .assert()
        .code(3)
        .stderr(contains("refused the token (HTTP 401"));
    assert_eq!(sandbox.report().requests, 1, "the preflight alone");
}

#[test]
fn the_preflight_is_one_request_of_the_run() {
    let sandbox = Sandbox::open_world();
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "notices.csv", &rows(3));
    sandbox.send(&input).arg("-y").assert().code(0);
    assert_eq!(
        sandbox.report().requests,
        4,
        "one preflight, then one POST per row"
    );
}

#[test]
fn dry_run_check_api_makes_the_preflight_and_sends_nothing() {
    let sandbox = Sandbox::open_world();
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "notices.csv", &rows(3));
    sandbox
        .send(&input)
        .args(["--dry-run", "--check-api"])
        .assert()
        .code(0)
        .stderr(contains("answers and accepts the token"));
    assert!(sandbox.messages().is_empty());
    send_to(&nothing_listening(), &input)
        .args(["--dry-run", "--check-api"])
        .assert()
        .code(3)
        .stderr(contains("cannot reach the API"));
}

#[test]
fn a_server_that_goes_away_mid_run_stops_it_within_seconds() {
    let sandbox = Sandbox::open_world();
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "notices.csv", &rows(40));
    // The default retry delay: without the breaker, each of the remaining rows would spend
    // all 8 attempts (about a minute of backoff each) before the run said anything.
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("bulk-reply"))
        .arg("send")
        .arg(&input)
        .args(["--base-url", &sandbox.base_url(), "--rate", "20/s", "-y"])
        .env("MKP_API_TOKEN", sandbox::DEFAULT_TOKEN)
        .env_remove("MKP_OAUTH_CLIENT_ID")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while sandbox.messages().len() < 3 {
        assert!(started.elapsed() < Duration::from_secs(5), "no row arrived");
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(sandbox);
    let gone = Instant::now();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        gone.elapsed() < Duration::from_secs(8),
        "{:?}",
        gone.elapsed()
    );
    assert!(
        stderr.contains("connection attempts in a row failed"),
        "{stderr}"
    );
}

#[test]
fn a_403_on_a_chat_ticket_fails_that_row_and_the_run_goes_on() {
    let input_rows = rows(20);
    // The first row is a chat ticket, so its 403 comes before any message is delivered.
    let world = World::Fixed(
        input_rows
            .iter()
            .enumerate()
            .map(|(i, (id, _))| TicketSeed {
                id: id.clone(),
                status: Status::Open,
                source: if i == 0 { Source::Chat } else { Source::Portal },
                customer_id: None,
                title: "Storing".into(),
            })
            .collect(),
    );
    let sandbox = Sandbox::start(SandboxConfig {
        rate_limit: Rate::Unlimited,
        world,
        chat_refusal: ChatRefusal::Forbidden,
        ..SandboxConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "notices.csv", &input_rows);
    sandbox
        .send(&input)
        .args(["--rate", "unlimited", "-y"])
        .assert()
        .code(1)
        .stderr(contains("19 sent, 1 failed"));
    let records = results(&with_suffix(&input, ".results.ndjson"));
    let chat = records.iter().find(|r| r["ticketId"] == "tic_t0").unwrap();
    assert_eq!(chat["status"], "failed");
    assert_eq!(chat["httpStatus"], 403);
    assert_eq!(chat["error"]["kind"], "rejected");
    assert!(
        chat["error"]["message"]
            .as_str()
            .unwrap()
            .contains("chat ticket"),
        "{chat}"
    );
    assert_eq!(
        sandbox.report().posts,
        20,
        "the chat ticket is not posted again"
    );
}
