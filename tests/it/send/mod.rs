//! `bulk-reply send` against the sandbox, over real HTTP, as a user runs it.

mod confirmation;
mod pace;
mod skip_closed;
mod templates;
mod walk_through;

use crate::support;

use std::time::Duration;

use bulk_reply::rate::Rate;
use bulk_reply::sandbox::{Faults, SandboxConfig, Source, Status, TicketSeed, World};
use predicates::str::contains;
use support::{Sandbox, assert_exactly_once, results, rows, with_suffix, write_csv};

fn seed(id: &str, status: Status, source: Source) -> TicketSeed {
    TicketSeed {
        id: id.into(),
        status,
        source,
        customer_id: None,
        title: "Factuur".into(),
    }
}

#[test]
fn delivers_every_row_once_and_records_each_outcome() {
    let sandbox = Sandbox::open_world();
    let dir = tempfile::tempdir().unwrap();
    let input_rows = rows(25);
    let input = write_csv(dir.path(), "notices.csv", &input_rows);

    sandbox
        .send(&input)
        .args(["--rate", "unlimited"])
        .assert()
        .code(0)
        .stderr(contains("25 sent"));

    assert_exactly_once(&sandbox, &input_rows);
    let records = results(&with_suffix(&input, ".results.ndjson"));
    assert_eq!(records.len(), 25);
    let messages = sandbox.messages();
    for record in &records {
        assert_eq!(record["status"], "sent");
        assert_eq!(record["attempts"], 1);
        assert_eq!(record["httpStatus"], 200);
        let line = record["line"].as_u64().unwrap();
        let (ticket, message) = &input_rows[(line - 2) as usize];
        assert_eq!(record["ticketId"], ticket.as_str());
        // messageId names the message this row created, and the ticket holds it.
        let created = messages.iter().find(|m| &m.ticket_id == ticket).unwrap();
        assert_eq!(record["messageId"], created.message_id.as_str());
        assert_eq!(&created.message, message);
        let in_ticket = record["ticket"]["messages"].as_array().unwrap();
        assert!(
            in_ticket
                .iter()
                .any(|m| m["id"] == created.message_id.as_str())
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(with_suffix(&input, ".results.ndjson"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "results hold customer data");
    }
}

#[test]
fn paces_to_the_rate_without_tripping_the_limit() {
    let sandbox = Sandbox::start(SandboxConfig {
        rate_limit: "10/500ms".parse().unwrap(),
        ..SandboxConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let input_rows = rows(15);
    let input = write_csv(dir.path(), "paced.csv", &input_rows);

    sandbox
        .send(&input)
        .args(["--rate", "10/500ms", "--concurrency", "4"])
        .assert()
        .code(0);

    assert_exactly_once(&sandbox, &input_rows);
    let report = sandbox.report();
    assert_eq!(
        report.status_counts.get("429"),
        None,
        "a client at the server's rate never sees a 429"
    );
    assert!(
        report.peak_requests_per_window <= 10,
        "peak {}",
        report.peak_requests_per_window
    );
}

#[test]
fn a_client_faster_than_the_server_still_delivers_everything_once() {
    let sandbox = Sandbox::start(SandboxConfig {
        rate_limit: "5/250ms".parse().unwrap(),
        ..SandboxConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let input_rows = rows(30);
    let input = write_csv(dir.path(), "pressure.csv", &input_rows);

    // The server says its limit is 5; the client assumes its own 250 ms window for it.
    sandbox
        .send(&input)
        .args(["--rate", "40/250ms", "--concurrency", "8"])
        .assert()
        .code(0);

    assert_exactly_once(&sandbox, &input_rows);
}

#[test]
fn server_errors_are_retried() {
    let faults = Faults {
        seed: 7,
        fail_rate: 0.3,
        ..Faults::none()
    };
    let sandbox = Sandbox::start(SandboxConfig {
        rate_limit: Rate::Unlimited,
        faults,
        ..SandboxConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let input_rows = rows(40);
    let input = write_csv(dir.path(), "flaky.csv", &input_rows);

    sandbox
        .send(&input)
        .args(["--rate", "unlimited"])
        .assert()
        .code(0);

    assert_exactly_once(&sandbox, &input_rows);
    let records = results(&with_suffix(&input, ".results.ndjson"));
    assert!(
        records.iter().any(|r| r["attempts"].as_u64().unwrap() > 1),
        "some rows needed a retry"
    );
    assert!(records.iter().all(|r| r["status"] == "sent"));
}

#[test]
fn lost_answers_are_settled_by_reading_the_ticket_never_by_posting_twice() {
    let faults = Faults {
        seed: 11,
        drop_rate: 0.3,
        garbage_rate: 0.1,
        ..Faults::none()
    };
    let sandbox = Sandbox::start(SandboxConfig {
        rate_limit: Rate::Unlimited,
        faults,
        ..SandboxConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let input_rows = rows(40);
    let input = write_csv(dir.path(), "lossy.csv", &input_rows);

    sandbox
        .send(&input)
        .args(["--rate", "unlimited", "--timeout", "2s"])
        .assert()
        .code(0);

    assert_exactly_once(&sandbox, &input_rows);
    assert_eq!(sandbox.report().duplicate_messages, 0);
    assert!(
        sandbox.report().gets > 0,
        "in-doubt rows were checked with a GET"
    );
    let records = results(&with_suffix(&input, ".results.ndjson"));
    assert_eq!(records.len(), 40);
    assert!(records.iter().all(|r| {
        r["status"] == "sent"
            && r["messageId"]
                .as_str()
                .is_some_and(|m| m.starts_with("tim_"))
    }));
}

#[test]
fn missing_and_chat_tickets_fail_without_retry_and_land_in_the_failed_file() {
    let world = World::Fixed(vec![
        seed("tic_open1", Status::Open, Source::Portal),
        seed("tic_chat1", Status::Open, Source::Chat),
    ]);
    let sandbox = Sandbox::start(SandboxConfig {
        rate_limit: Rate::Unlimited,
        world,
        ..SandboxConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let input_rows = vec![
        ("tic_open1".to_string(), "<p>Hello</p>".to_string()),
        ("tic_chat1".to_string(), "<p>Hello</p>".to_string()),
        ("tic_missing1".to_string(), "<p>Hello</p>".to_string()),
    ];
    let input = write_csv(dir.path(), "mixed.csv", &input_rows);

    sandbox
        .send(&input)
        .args(["--rate", "unlimited"])
        .assert()
        .code(1)
        .stderr(contains("1 sent, 2 failed"));

    let records = results(&with_suffix(&input, ".results.ndjson"));
    let by_ticket = |id: &str| {
        records
            .iter()
            .find(|r| r["ticketId"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(by_ticket("tic_chat1")["error"]["kind"], "rejected");
    assert_eq!(by_ticket("tic_chat1")["attempts"], 1);
    assert_eq!(by_ticket("tic_missing1")["error"]["kind"], "not_found");
    assert_eq!(by_ticket("tic_missing1")["httpStatus"], 404);
    assert_eq!(
        sandbox.report().posts,
        3,
        "permanent errors are not retried"
    );

    let failed = std::fs::read_to_string(with_suffix(&input, ".failed.csv")).unwrap();
    let mut lines = failed.lines();
    // The input's columns in its order, each row's line first, in input order.
    assert_eq!(lines.next(), Some("line,ticketId,message,error"));
    assert_eq!(failed.lines().count(), 3);
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("3,tic_chat1,<p>Hello</p>,rejected: ")
    );
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("4,tic_missing1,<p>Hello</p>,not_found: ")
    );
}

#[test]
fn a_fixed_failed_rows_file_fed_back_sends_exactly_those() {
    let world = World::Fixed(vec![
        seed("tic_good1", Status::Open, Source::Portal),
        seed("tic_good2", Status::Open, Source::Portal),
    ]);
    let sandbox = Sandbox::start(SandboxConfig {
        rate_limit: Rate::Unlimited,
        world,
        ..SandboxConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(
        dir.path(),
        "batch.csv",
        &[
            ("tic_good1".into(), "Update".into()),
            ("tic_typo2".into(), "Update".into()),
        ],
    );
    sandbox
        .send(&input)
        .args(["--rate", "unlimited"])
        .assert()
        .code(1);

    // The user fixes the typo in the failed-rows file and sends that file.
    let failed_path = with_suffix(&input, ".failed.csv");
    let fixed = std::fs::read_to_string(&failed_path)
        .unwrap()
        .replace("tic_typo2", "tic_good2");
    let fixed_path = dir.path().join("fixed.csv");
    std::fs::write(&fixed_path, fixed).unwrap();
    sandbox
        .send(&fixed_path)
        .args(["--rate", "unlimited"])
        .assert()
        .code(0)
        .stderr(contains("1 sent"));

    assert_exactly_once(
        &sandbox,
        &[
            ("tic_good1".into(), "Update".into()),
            ("tic_good2".into(), "Update".into()),
        ],
    );
}

#[test]
fn a_bad_token_stops_the_run_at_once_without_failing_rows() {
    let sandbox = Sandbox::open_world();
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "notices.csv", &rows(200));

    sandbox
        .send(&input)
        .args(["--rate", "unlimited", "--concurrency", "4"])
        .env("MKP_API_TOKEN", "wrong-token")
        .assert()
        .code(3)
        .stderr(contains("401"))
        .stderr(contains("nothing was sent"));

    assert!(
        sandbox.report().requests <= 8,
        "stops after the first refusals, saw {}",
        sandbox.report().requests
    );
    assert!(
        results(&with_suffix(&input, ".results.ndjson"))
            .iter()
            .all(|r| r["status"] != "failed")
    );
    assert!(sandbox.messages().is_empty());
}

#[test]
fn a_rerun_sends_only_what_is_left() {
    let sandbox = Sandbox::open_world();
    let dir = tempfile::tempdir().unwrap();
    let first = rows(10);
    let input = write_csv(dir.path(), "notices.csv", &first);
    sandbox
        .send(&input)
        .args(["--rate", "unlimited"])
        .assert()
        .code(0);

    // The same file plus five more rows: only the five go out.
    let all = rows(15);
    write_csv(dir.path(), "notices.csv", &all);
    sandbox
        .send(&input)
        .args(["--rate", "unlimited"])
        .assert()
        .code(0)
        .stderr(contains("5 sent"))
        .stderr(contains("10 already delivered earlier"));
    assert_exactly_once(&sandbox, &all);
    assert_eq!(results(&with_suffix(&input, ".results.ndjson")).len(), 15);
}

#[test]
fn an_interrupted_run_resumes_where_it_stopped() {
    let sandbox = Sandbox::open_world();
    let dir = tempfile::tempdir().unwrap();
    let input_rows = rows(40);
    let input = write_csv(dir.path(), "slow.csv", &input_rows);
    let results_path = with_suffix(&input, ".results.ndjson");

    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("bulk-reply"))
        .arg("send")
        .arg(&input)
        .args(["--base-url", &sandbox.base_url(), "--rate", "20/s"])
        .env("MKP_API_TOKEN", bulk_reply::sandbox::DEFAULT_TOKEN)
        // The delivery ledger goes to the test's own state directory, never the real one.
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once a few rows are durable.
    let deadline = std::time::Instant::now() + Duration::from_secs(8);
    while results(&results_path).len() < 5 {
        assert!(std::time::Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = child.id().to_string();
    std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("run the same command again"), "{stderr}");
    let sent_first = results(&results_path).len();
    assert!(sent_first < 40, "the interrupt came before the end");

    sandbox
        .send(&input)
        .args(["--rate", "unlimited"])
        .assert()
        .code(0);
    assert_exactly_once(&sandbox, &input_rows);
    assert_eq!(results(&results_path).len(), 40);
}

#[test]
fn ndjson_from_standard_input() {
    let sandbox = Sandbox::open_world();
    let dir = tempfile::tempdir().unwrap();
    let results_path = dir.path().join("out.ndjson");
    let input_rows = rows(5);
    let ndjson: String = input_rows
        .iter()
        .map(|(t, m)| format!("{}\n", serde_json::json!({"ticketId": t, "message": m})))
        .collect();

    let mut cmd = sandbox.send(std::path::Path::new("-"));
    cmd.args([
        "--input-format",
        "ndjson",
        "--rate",
        "unlimited",
        "--results",
    ])
    .arg(&results_path)
    .write_stdin(ndjson)
    .assert()
    .code(0);
    assert_exactly_once(&sandbox, &input_rows);
    assert_eq!(results(&results_path).len(), 5);

    // Without --results there is no job name to resume by.
    sandbox
        .send(std::path::Path::new("-"))
        .write_stdin("")
        .assert()
        .code(2)
        .stderr(contains("--results"));
}

#[test]
fn invalid_input_sends_nothing() {
    let sandbox = Sandbox::open_world();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bad.csv");
    std::fs::write(
        &input,
        "ticketId,message\ntic_1,Hello\nnot-a-ticket,Hello\n",
    )
    .unwrap();
    sandbox
        .send(&input)
        .assert()
        .code(2)
        .stderr(contains("line 3"));
    assert_eq!(sandbox.report().requests, 0);
}

#[test]
fn no_token_is_a_usage_error_naming_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "n.csv", &rows(1));
    assert_cmd::Command::cargo_bin("bulk-reply")
        .unwrap()
        .arg("send")
        .arg(&input)
        .env_remove("MKP_API_TOKEN")
        .assert()
        .code(2)
        .stderr(contains("MKP_API_TOKEN"))
        .stderr(contains("--token-file"));
}

#[test]
fn a_second_run_on_the_same_job_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "n.csv", &rows(1));
    let _held = bulk_reply::journal::JobLock::acquire(&with_suffix(&input, ".journal")).unwrap();
    let sandbox = Sandbox::open_world();
    sandbox
        .send(&input)
        .assert()
        .code(3)
        .stderr(contains("another bulk-reply run"))
        .stderr(contains(std::process::id().to_string()));
    // The preflight comes before the job is opened (so a wrong base URL leaves no journal
    // behind): at most that one read, never a POST.
    assert!(sandbox.report().requests <= 1);
    assert_eq!(sandbox.report().posts, 0);
}

#[test]
fn rehearses_the_sample_against_the_built_in_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("notices.csv");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/samples/notices.csv"),
        &input,
    )
    .unwrap();
    let temporary = tempfile::tempdir().unwrap();
    let output = assert_cmd::Command::cargo_bin("bulk-reply")
        .unwrap()
        .args(["send", "--sandbox", "--rate", "unlimited"])
        .arg(&input)
        .env_remove("MKP_API_TOKEN")
        .env("TMPDIR", temporary.path())
        .assert()
        .code(0)
        .stderr(contains("sandbox report"))
        .stderr(contains("\"duplicateMessages\": 0"))
        .get_output()
        .stderr
        .clone();
    let shown = String::from_utf8_lossy(&output);
    let results_file = shown
        .lines()
        .find_map(|line| line.strip_prefix("results: "))
        .expect("the summary names the results file");
    assert!(
        results_file.starts_with(temporary.path().to_str().unwrap()),
        "{results_file}"
    );
    let rehearsal = results(std::path::Path::new(results_file));
    assert_eq!(rehearsal.len(), 20);
    assert!(rehearsal.iter().all(|r| r["status"] == "sent"));

    // The rehearsal is a job of its own: the real run that follows sends every row.
    let api = Sandbox::open_world();
    api.send(&input)
        .args(["--rate", "unlimited"])
        .assert()
        .code(0)
        .stderr(contains(
            "20 sent, 0 failed, 0 skipped, 0 already delivered earlier",
        ));
    assert_eq!(api.messages().len(), 20);
}

#[test]
fn a_canary_sends_the_first_rows_then_the_same_command_sends_the_rest() {
    let sandbox = Sandbox::open_world();
    let dir = tempfile::tempdir().unwrap();
    let input_rows = rows(10);
    let input = write_csv(dir.path(), "notice.csv", &input_rows);
    let canary = || {
        let mut cmd = sandbox.send(&input);
        cmd.args(["--rate", "unlimited", "--canary", "3"]);
        cmd
    };

    canary()
        .assert()
        .code(0)
        .stderr(contains("3 sent"))
        .stderr(contains("planned stop (canary): 7 rows remain"));
    let first: Vec<_> = sandbox
        .messages()
        .into_iter()
        .map(|m| m.ticket_id)
        .collect();
    assert_eq!(first.len(), 3);
    assert!(
        first
            .iter()
            .all(|t| ["tic_t0", "tic_t1", "tic_t2"].contains(&t.as_str())),
        "{first:?}"
    );

    canary()
        .assert()
        .code(0)
        .stderr(contains("7 sent"))
        .stderr(contains("3 already delivered earlier"));
    assert_exactly_once(&sandbox, &input_rows);
}

#[test]
fn max_rows_spreads_a_job_over_several_runs() {
    let sandbox = Sandbox::open_world();
    let dir = tempfile::tempdir().unwrap();
    let input_rows = rows(10);
    let input = write_csv(dir.path(), "nightly.csv", &input_rows);
    for (sent, remaining) in [(4, 6), (4, 2)] {
        sandbox
            .send(&input)
            .args(["--rate", "unlimited", "--max-rows", "4"])
            .assert()
            .code(0)
            .stderr(contains(format!("{sent} sent")))
            .stderr(contains(format!("{remaining} rows remain")));
    }
    sandbox
        .send(&input)
        .args(["--rate", "unlimited", "--max-rows", "4"])
        .assert()
        .code(0)
        .stderr(contains("2 sent"));
    assert_exactly_once(&sandbox, &input_rows);
}

#[test]
fn a_job_sent_to_one_api_is_never_taken_as_delivered_to_another() {
    let staging = Sandbox::open_world();
    let production = Sandbox::open_world();
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "notice.csv", &rows(3));
    staging
        .send(&input)
        .args(["--rate", "unlimited"])
        .assert()
        .code(0);

    let journal = with_suffix(&input, ".journal");
    let before = std::fs::read(&journal).unwrap();
    production
        .send(&input)
        .args(["--rate", "unlimited"])
        .assert()
        .code(2)
        .stderr(contains("belongs to a job sent to"))
        .stderr(contains("--journal and --results"));
    assert!(production.messages().is_empty());
    assert_eq!(std::fs::read(&journal).unwrap(), before, "left alone");

    // Its own files: the whole input goes out.
    production
        .send(&input)
        .args(["--rate", "unlimited", "--journal"])
        .arg(dir.path().join("prod.journal"))
        .arg("--results")
        .arg(dir.path().join("prod.results.ndjson"))
        .assert()
        .code(0)
        .stderr(contains("3 sent"));
}
