//! Scheduled runs, as cron or a systemd timer would start them: JSON logs, progress lines,
//! the summary file, bounded runs, OAuth tokens that expire mid-run, credential
//! precedence, `send --help` naming the environment variables. Every run goes over real
//! HTTP to a sandbox. (Completions and the manual page are tested in `completions`.)

use crate::support;

use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use bulk_reply::rate::Rate;
use bulk_reply::sandbox::{Faults, OAuthApp, SandboxConfig, Source, Status, TicketSeed, World};
use predicates::prelude::*;
use predicates::str::contains;
use serde_json::Value;
use support::{Sandbox, assert_exactly_once, rows, with_suffix, write_csv};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const CLIENT_ID: &str = "bulk-reply-tests";
const CLIENT_SECRET: &str = "client-secret-never-printed";
const REFRESH_TOKEN: &str = "refresh-token-never-printed";

/// Every line of `stderr` as JSON; fails on the first that is not one object with the
/// four keys.
fn json_lines(stderr: &[u8]) -> Vec<Value> {
    let text = String::from_utf8_lossy(stderr);
    text.lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            for key in ["time", "level", "message", "fields"] {
                assert!(value.get(key).is_some(), "no {key:?} in {line}");
            }
            let time = value["time"].as_str().expect("time is a string");
            assert!(OffsetDateTime::parse(time, &Rfc3339).is_ok(), "{time}");
            assert!(value["fields"].is_object(), "{line}");
            value
        })
        .collect()
}

fn summary(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("the summary file exists");
    serde_json::from_str(&text).expect("the summary is JSON")
}

fn unlimited_sandbox(faults: Faults) -> Sandbox {
    Sandbox::start(SandboxConfig {
        rate_limit: Rate::Unlimited,
        faults,
        ..SandboxConfig::default()
    })
}

fn oauth_sandbox(token_ttl: Duration, faults: Faults) -> Sandbox {
    Sandbox::start(SandboxConfig {
        rate_limit: Rate::Unlimited,
        faults,
        oauth: Some(OAuthApp {
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
        }),
        token_ttl,
        ..SandboxConfig::default()
    })
}

/// `send` with OAuth variables instead of an API token.
fn send_with_oauth(sandbox: &Sandbox, input: &Path, client_secret: &str) -> Command {
    let origin = sandbox.base_url().trim_end_matches("/v1").to_string();
    let mut cmd = sandbox.send(input);
    cmd.env_remove("MKP_API_TOKEN")
        .env("MKP_OAUTH_CLIENT_ID", CLIENT_ID)
        .env("MKP_OAUTH_CLIENT_SECRET", client_secret)
        .env("MKP_OAUTH_REFRESH_TOKEN", REFRESH_TOKEN)
        .env("MKP_OAUTH_TOKEN_URL", format!("{origin}/oauth/tokens"));
    cmd
}

// ---- logs ----------------------------------------------------------------------------

#[test]
fn json_logs_are_one_object_per_line_and_carry_the_summary() {
    // Server errors make the pipeline retry, so -v has debug events to show.
    let sandbox = unlimited_sandbox(Faults {
        seed: 7,
        fail_rate: 0.3,
        ..Faults::none()
    });
    let dir = tempfile::tempdir().unwrap();
    let input_rows = rows(20);
    let input = write_csv(dir.path(), "notices.csv", &input_rows);

    let output = sandbox
        .send(&input)
        .args(["--rate", "unlimited", "--log-format", "json", "-v"])
        .output()
        .unwrap();

    assert_eq!(output.status.code(), Some(0));
    assert!(output.stdout.is_empty(), "logs go to standard error only");
    let lines = json_lines(&output.stderr);
    let summary = lines
        .iter()
        .find(|l| {
            l["fields"]["sent"].is_u64() && l["message"].as_str().unwrap().starts_with("done")
        })
        .expect("a summary line");
    assert_eq!(summary["level"], "info");
    assert_eq!(summary["fields"]["sent"], 20);
    assert_eq!(summary["fields"]["remaining"], 0);
    assert!(summary["fields"]["retries"].as_u64().unwrap() > 0);
    let retry = lines
        .iter()
        .find(|l| l["level"] == "debug" && l["message"].as_str().unwrap().starts_with("retrying"))
        .expect("-v shows the retries as debug events");
    assert!(retry["fields"]["ticket"].is_string(), "{retry}");
    assert_exactly_once(&sandbox, &input_rows);
}

#[test]
fn with_json_logs_validation_problems_and_the_final_error_are_json_too() {
    let sandbox = Sandbox::open_world();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bad.csv");
    std::fs::write(
        &input,
        "ticketId,message\ntic_ok1,<p>Hi</p>\nnot-a-ticket,<p>Hi</p>\n",
    )
    .unwrap();

    let output = sandbox
        .send(&input)
        .args(["--log-format", "json"])
        .output()
        .unwrap();

    assert_eq!(output.status.code(), Some(2));
    let lines = json_lines(&output.stderr);
    let problems = lines
        .iter()
        .find(|l| l["fields"]["errors"].is_array())
        .expect("the validation report as a JSON line");
    assert_eq!(problems["level"], "error");
    assert_eq!(problems["fields"]["errors"][0]["line"], 3);
    let last = lines.last().unwrap();
    assert_eq!(last["level"], "error");
    assert_eq!(last["fields"]["exitCode"], 2);
    assert!(sandbox.messages().is_empty());

    // A command line clap cannot parse is answered in JSON as well.
    let output = sandbox
        .send(&input)
        .args(["--log-format", "json", "--no-such-flag"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let lines = json_lines(&output.stderr);
    assert!(
        lines[0]["message"]
            .as_str()
            .unwrap()
            .contains("--no-such-flag")
    );
}

#[cfg(unix)]
#[test]
fn an_interrupted_run_says_so_in_json_and_in_its_summary() {
    let sandbox = Sandbox::open_world();
    let dir = tempfile::tempdir().unwrap();
    let input_rows = rows(40);
    let input = write_csv(dir.path(), "interrupted.csv", &input_rows);
    let results_path = with_suffix(&input, ".results.ndjson");
    let summary_path = dir.path().join("s.json");

    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("bulk-reply"))
        .args(["--log-format", "json", "send"])
        .arg(&input)
        .args([
            "--base-url",
            &sandbox.base_url(),
            "--rate",
            "10/s",
            "--summary-json",
        ])
        .arg(&summary_path)
        .env("MKP_API_TOKEN", bulk_reply::sandbox::DEFAULT_TOKEN)
        // The delivery ledger goes to the test's own state directory, never the real one.
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .env_remove("MKP_BASE_URL")
        .env_remove("MKP_OAUTH_CLIENT_ID")
        .env_remove("MKP_OAUTH_CLIENT_SECRET")
        .env_remove("MKP_OAUTH_REFRESH_TOKEN")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait (by polling the results file) until the run is under way, then interrupt it.
    let give_up = std::time::Instant::now() + Duration::from_secs(8);
    while support::results(&results_path).len() < 2 {
        assert!(std::time::Instant::now() < give_up, "no progress");
        std::thread::sleep(Duration::from_millis(10));
    }
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let output = child.wait_with_output().unwrap();

    assert_eq!(output.status.code(), Some(3));
    let lines = json_lines(&output.stderr);
    assert!(
        lines
            .iter()
            .any(|l| l["level"] == "warn" && l["message"].as_str().unwrap().contains("stopping")),
        "{lines:?}"
    );
    let s = summary(&summary_path);
    assert_eq!(s["exitCode"], 3);
    assert_eq!(s["stopReason"], "interrupted");
    let sent = s["sent"].as_u64().unwrap();
    assert!((2..40).contains(&sent), "sent {sent}");
    assert_eq!(s["remaining"].as_u64(), Some(40 - sent));
}

#[test]
fn without_a_terminal_progress_lines_come_every_interval() {
    let sandbox = Sandbox::open_world();
    let dir = tempfile::tempdir().unwrap();
    let input_rows = rows(16);
    let input = write_csv(dir.path(), "paced.csv", &input_rows);

    // 16 rows at 20/s one at a time take at least 0.75 s: several 100 ms intervals.
    let output = sandbox
        .send(&input)
        .args([
            "--rate",
            "20/s",
            "--burst",
            "1",
            "--progress-interval",
            "100ms",
        ])
        .output()
        .unwrap();

    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let progress: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("progress: "))
        .collect();
    assert!(progress.len() >= 2, "{stderr}");
    assert!(
        progress
            .iter()
            .all(|l| l.contains("/16 rows") && l.contains("rows/s, ETA "))
    );
    assert!(stderr.contains("done in "), "the summary follows");
}

#[test]
fn quiet_keeps_only_errors_and_progress_lines_only_when_asked() {
    let sandbox = Sandbox::open_world();
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "quiet.csv", &rows(12));

    sandbox
        .send(&input)
        .args(["-q", "--rate", "20/s"])
        .assert()
        .code(0)
        .stderr("");

    // Other messages: the same ones would be skipped at once, as delivered by the first job.
    let again: Vec<(String, String)> = rows(12)
        .into_iter()
        .map(|(ticket, message)| (ticket, format!("{message} Again.")))
        .collect();
    let input = write_csv(dir.path(), "quiet-progress.csv", &again);
    let output = sandbox
        .send(&input)
        .args([
            "-q",
            "--rate",
            "20/s",
            "--burst",
            "1",
            "--progress-interval",
            "100ms",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.lines().count() >= 2, "{stderr}");
    assert!(
        stderr.lines().all(|l| l.starts_with("progress: ")),
        "{stderr}"
    );
}

// ---- the summary file ------------------------------------------------------------------

#[test]
fn the_summary_of_a_finished_run_has_every_figure() {
    let sandbox = Sandbox::open_world();
    let dir = tempfile::tempdir().unwrap();
    let input_rows = rows(8);
    let input = write_csv(dir.path(), "notices.csv", &input_rows);
    let summary_path = dir.path().join("run.summary.json");

    sandbox
        .send(&input)
        .args(["--rate", "unlimited", "--summary-json"])
        .arg(&summary_path)
        .assert()
        .code(0);

    let s = summary(&summary_path);
    assert_eq!(s["sent"], 8);
    assert_eq!(s["failed"], 0);
    assert_eq!(s["skipped"], 0);
    assert_eq!(s["alreadyDelivered"], 0);
    assert_eq!(s["remaining"], 0);
    assert_eq!(s["attempts"], 8);
    assert_eq!(s["retries"], 0);
    assert_eq!(s["rateLimited"], 0);
    assert_eq!(s["totalRows"], 8);
    assert_eq!(s["exitCode"], 0);
    assert_eq!(s["stopReason"], Value::Null);
    assert_eq!(
        s["resultsFile"],
        with_suffix(&input, ".results.ndjson").to_str().unwrap()
    );
    let started = OffsetDateTime::parse(s["startedAt"].as_str().unwrap(), &Rfc3339).unwrap();
    let ended = OffsetDateTime::parse(s["endedAt"].as_str().unwrap(), &Rfc3339).unwrap();
    assert!(started <= ended);
    assert!(s["elapsedSeconds"].as_f64().unwrap() >= 0.0);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&summary_path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn the_summary_of_planned_stops_counts_what_remains_and_the_next_run_continues() {
    let sandbox = Sandbox::open_world();
    let dir = tempfile::tempdir().unwrap();
    let input_rows = rows(10);
    let input = write_csv(dir.path(), "notices.csv", &input_rows);
    let summary_path = dir.path().join("run.summary.json");
    let run = || {
        let mut cmd = sandbox.send(&input);
        cmd.args(["--rate", "unlimited", "--max-rows", "4", "--summary-json"])
            .arg(&summary_path);
        cmd
    };

    run().assert().code(0).stderr(contains("6 rows remain"));
    let s = summary(&summary_path);
    assert_eq!(
        (s["sent"].as_u64(), s["remaining"].as_u64()),
        (Some(4), Some(6))
    );
    assert_eq!(s["exitCode"], 0);
    assert_eq!(s["stopReason"], "--max-rows reached");

    run().assert().code(0);
    run().assert().code(0);
    let s = summary(&summary_path);
    assert_eq!(s["sent"], 2);
    assert_eq!(s["alreadyDelivered"], 8);
    assert_eq!(s["remaining"], 0);
    assert_eq!(s["stopReason"], Value::Null);
    assert_exactly_once(&sandbox, &input_rows);
}

#[test]
fn the_summary_of_failed_and_stopped_runs_carries_their_exit_code() {
    let seed = |id: &str, source| TicketSeed {
        id: id.into(),
        status: Status::Open,
        source,
        customer_id: None,
        title: "Factuur".into(),
    };
    let sandbox = Sandbox::start(SandboxConfig {
        rate_limit: Rate::Unlimited,
        world: World::Fixed(vec![
            seed("tic_open1", Source::Portal),
            seed("tic_chat1", Source::Chat),
        ]),
        ..SandboxConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let mixed = vec![
        ("tic_open1".to_string(), "<p>Hello</p>".to_string()),
        ("tic_chat1".to_string(), "<p>Hello</p>".to_string()),
    ];
    let input = write_csv(dir.path(), "mixed.csv", &mixed);
    let summary_path = dir.path().join("s.json");

    // Rows failed: exit 1.
    sandbox
        .send(&input)
        .args(["--summary-json"])
        .arg(&summary_path)
        .assert()
        .code(1);
    let s = summary(&summary_path);
    assert_eq!(
        (s["sent"].as_u64(), s["failed"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(s["remaining"], 1, "a failed row is not delivered");
    assert_eq!(s["exitCode"], 1);
    assert!(
        s["failedRowsFile"]
            .as_str()
            .unwrap()
            .ends_with(".failed.csv")
    );

    // A fatal refusal: exit 3, the reason in the summary.
    // Another message: the one above would be skipped, as delivered by the first job.
    let other = [("tic_open1".to_string(), "<p>Other</p>".to_string())];
    let input = write_csv(dir.path(), "refused.csv", &other);
    sandbox
        .send(&input)
        .env("MKP_API_TOKEN", "wrong-token")
        .args(["--summary-json"])
        .arg(&summary_path)
        .assert()
        .code(3);
    let s = summary(&summary_path);
    assert_eq!(s["exitCode"], 3);
    assert!(s["stopReason"].as_str().unwrap().contains("401"), "{s}");
    // The preflight refused the token before the journal was read: what remains is not
    // known, and the summary does not guess.
    assert!(s["remaining"].is_null(), "{s}");

    // Failed before sending (invalid input): exit 2, and still a summary.
    let invalid = dir.path().join("invalid.csv");
    std::fs::write(&invalid, "ticketId,message\nnope,<p>x</p>\n").unwrap();
    sandbox
        .send(&invalid)
        .args(["--summary-json"])
        .arg(&summary_path)
        .assert()
        .code(2);
    let s = summary(&summary_path);
    assert_eq!(s["exitCode"], 2);
    assert_eq!(s["sent"], 0);
    assert!(
        s["stopReason"]
            .as_str()
            .unwrap()
            .contains("nothing was sent"),
        "{s}"
    );
    assert!(s["endedAt"].is_string());
}

// ---- --deadline ------------------------------------------------------------------------

#[test]
fn a_deadline_stops_the_run_with_exit_0_and_the_next_run_continues() {
    let sandbox = Sandbox::open_world();
    let dir = tempfile::tempdir().unwrap();
    let input_rows = rows(20);
    let input = write_csv(dir.path(), "nightly.csv", &input_rows);
    let summary_path = dir.path().join("s.json");

    // 20 rows at 5/s need about 4 s; the deadline comes after 1 s.
    sandbox
        .send(&input)
        .args(["--rate", "5/s", "--deadline", "1s", "--summary-json"])
        .arg(&summary_path)
        .assert()
        .code(0)
        .stderr(contains("planned stop (the deadline has passed)"))
        .stderr(contains("rows remain"));
    let s = summary(&summary_path);
    let sent = s["sent"].as_u64().unwrap();
    assert!((1..20).contains(&sent), "sent {sent}");
    assert_eq!(s["remaining"].as_u64(), Some(20 - sent));
    assert_eq!(s["stopReason"], "the deadline has passed");

    sandbox
        .send(&input)
        .args(["--rate", "unlimited"])
        .assert()
        .code(0);
    assert_exactly_once(&sandbox, &input_rows);
}

#[test]
fn a_deadline_already_past_sends_nothing_and_a_bad_one_is_a_usage_error() {
    let sandbox = Sandbox::open_world();
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "late.csv", &rows(5));

    sandbox
        .send(&input)
        .args([
            "--rate",
            "unlimited",
            "--deadline",
            "2020-01-01T06:00:00+01:00",
        ])
        .assert()
        .code(0)
        .stderr(contains("5 rows remain"));
    assert_eq!(sandbox.report().requests, 0);

    sandbox
        .send(&input)
        .args(["--deadline", "soon"])
        .assert()
        .code(2)
        .stderr(contains("--deadline"))
        .stderr(contains("06:00"));
}

// ---- OAuth -----------------------------------------------------------------------------

#[test]
fn oauth_tokens_that_expire_every_second_are_renewed_and_every_row_arrives_once() {
    // The sandbox checks the token after its latency: a request that leaves in the last
    // 0.4 s before the client's planned renewal (at 0.8 s) arrives with an expired token.
    // Requests leave every 0.1 s, so each token lifetime sees such 401s, and they must be
    // renewed and repeated rather than fail the run.
    let sandbox = oauth_sandbox(
        Duration::from_secs(1),
        Faults {
            latency: Duration::from_millis(400),
            ..Faults::none()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let input_rows = rows(35);
    let input = write_csv(dir.path(), "oauth.csv", &input_rows);
    let summary_path = dir.path().join("s.json");

    // 35 rows at 10/s: about 3.5 s, several token lifetimes.
    let output = send_with_oauth(&sandbox, &input, CLIENT_SECRET)
        .args(["--rate", "10/s", "--concurrency", "8", "--summary-json"])
        .arg(&summary_path)
        .output()
        .unwrap();

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_exactly_once(&sandbox, &input_rows);
    let report = sandbox.report();
    assert!(report.tokens_issued >= 3, "{report:?}");
    assert!(
        report.status_counts.get("401").is_some_and(|&n| n >= 1),
        "{report:?}"
    );
    let s: Value = serde_json::from_str(&std::fs::read_to_string(&summary_path).unwrap()).unwrap();
    assert_eq!(
        (s["sent"].as_u64(), s["failed"].as_u64()),
        (Some(35), Some(0))
    );
    let results = std::fs::read_to_string(with_suffix(&input, ".results.ndjson")).unwrap();
    let summary = std::fs::read_to_string(&summary_path).unwrap();
    for secret in [CLIENT_SECRET, REFRESH_TOKEN, "sbx_at_"] {
        for (name, text) in [
            ("stderr", &*stderr),
            ("results", &*results),
            ("summary", &*summary),
        ] {
            assert!(!text.contains(secret), "{secret} in {name}");
        }
    }
}

#[test]
fn a_401_right_after_a_renewal_is_fatal() {
    // Tokens that expire as they are issued: a renewal does not help.
    let sandbox = oauth_sandbox(Duration::ZERO, Faults::none());
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "doomed.csv", &rows(10));

    send_with_oauth(&sandbox, &input, CLIENT_SECRET)
        .args(["--rate", "unlimited", "--concurrency", "1"])
        .assert()
        .code(3)
        .stderr(contains("freshly renewed OAuth access token"))
        // The preflight meets the refusal, before any row.
        .stderr(contains("nothing was sent"));

    assert!(sandbox.messages().is_empty());
    let report = sandbox.report();
    assert!(
        report.tokens_issued >= 2,
        "renewed once on the 401: {report:?}"
    );
    assert_eq!(report.status_counts.get("401"), Some(&2), "{report:?}");
}

#[test]
fn wrong_oauth_credentials_stop_before_any_row() {
    let sandbox = oauth_sandbox(Duration::from_secs(60), Faults::none());
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "wrong.csv", &rows(3));

    send_with_oauth(&sandbox, &input, "not-the-secret")
        .assert()
        .code(3)
        .stderr(contains(
            "refused to renew the access token (HTTP 401: invalid_client",
        ))
        .stderr(contains("nothing was sent"))
        .stderr(contains("not-the-secret").not());
    assert_eq!(sandbox.report().requests, 0);
}

#[test]
fn credentials_precedence_token_file_then_api_token_then_oauth() {
    let sandbox = Sandbox::open_world();
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "p.csv", &rows(2));

    // MKP_API_TOKEN and OAuth together: ambiguous, refused.
    send_with_oauth(&sandbox, &input, CLIENT_SECRET)
        .env("MKP_API_TOKEN", bulk_reply::sandbox::DEFAULT_TOKEN)
        .assert()
        .code(2)
        .stderr(contains("both MKP_API_TOKEN and MKP_OAUTH_* are set"));

    // Half an OAuth set: refused, naming what is missing.
    send_with_oauth(&sandbox, &input, CLIENT_SECRET)
        .env_remove("MKP_OAUTH_REFRESH_TOKEN")
        .assert()
        .code(2)
        .stderr(contains("not set: MKP_OAUTH_REFRESH_TOKEN"));

    // --token-file wins over the OAuth variables (whose token URL leads nowhere).
    let token_file = dir.path().join("token");
    std::fs::write(
        &token_file,
        format!("{}\n", bulk_reply::sandbox::DEFAULT_TOKEN),
    )
    .unwrap();
    send_with_oauth(&sandbox, &input, CLIENT_SECRET)
        .env("MKP_OAUTH_TOKEN_URL", "http://127.0.0.1:9/oauth/tokens")
        .arg("--token-file")
        .arg(&token_file)
        .args(["--rate", "unlimited"])
        .assert()
        .code(0);
    assert_eq!(sandbox.messages().len(), 2);
}

// ---- flags and environment -------------------------------------------------------------

#[test]
fn base_url_comes_from_the_flag_then_the_environment_then_the_default() {
    let sandbox = Sandbox::open_world();
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "where.csv", &rows(1));
    let summary_path = dir.path().join("s.json");
    // --max-rows 0 opens the job and sends nothing: no network needed to see the choice.
    // Each call is a job of its own: a journal is bound to the API it posts to.
    let calls = std::cell::Cell::new(0);
    let base_url_used = |flag: Option<&str>, env: Option<&str>| {
        calls.set(calls.get() + 1);
        let mut cmd = Command::cargo_bin("bulk-reply").unwrap();
        cmd.arg("send")
            .arg(&input)
            .args(["--max-rows", "0", "--summary-json"])
            .arg(&summary_path)
            .arg("--journal")
            .arg(dir.path().join(format!("job{}.journal", calls.get())))
            .arg("--results")
            .arg(
                dir.path()
                    .join(format!("job{}.results.ndjson", calls.get())),
            )
            .env("MKP_API_TOKEN", "any")
            // Opening the job opens the ledger: the test's own, never the real one.
            .env("XDG_STATE_HOME", dir.path().join("state"))
            .env_remove("MKP_OAUTH_CLIENT_ID")
            .env_remove("MKP_OAUTH_CLIENT_SECRET")
            .env_remove("MKP_OAUTH_REFRESH_TOKEN")
            .env_remove("MKP_BASE_URL");
        if let Some(flag) = flag {
            cmd.args(["--base-url", flag]);
        }
        if let Some(env) = env {
            cmd.env("MKP_BASE_URL", env);
        }
        cmd.assert().code(0);
        summary(&summary_path)["baseUrl"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let url = sandbox.base_url();

    assert_eq!(
        base_url_used(Some(&url), Some("http://127.0.0.1:9/v1")),
        url
    );
    assert_eq!(base_url_used(None, Some(&url)), url);
    assert_eq!(
        base_url_used(None, None),
        "https://api.mijnklantportaal.nl/v1"
    );
    assert_eq!(sandbox.report().requests, 0);
}

#[test]
fn help_names_the_environment_variables() {
    let mut cmd = Command::cargo_bin("bulk-reply").unwrap();
    cmd.env_remove("MKP_BASE_URL")
        .env_remove("MKP_OAUTH_TOKEN_URL")
        .args(["send", "--help"])
        .assert()
        .code(0)
        .stdout(contains("[env: MKP_BASE_URL="))
        .stdout(contains("[env: MKP_OAUTH_TOKEN_URL="))
        .stdout(contains("MKP_OAUTH_REFRESH_TOKEN"))
        .stdout(contains("--summary-json"))
        .stdout(contains("--deadline"));
}
