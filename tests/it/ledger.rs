//! One message per customer across every job, tried as a new user would: the delivery
//! ledger, the ticket as the guard between machines, a job being its file, nothing touched
//! before yes, and rehearsals that start from nothing. Each sequence ends with every message
//! exactly once on the sandbox, and the skips explained.

use crate::support;

use bulk_reply::rate::Rate;
use bulk_reply::sandbox::{SandboxConfig, Source, Status, TicketSeed, World};
use predicates::prelude::PredicateBooleanExt;
use support::{Sandbox, at_terminal, rows, snapshot, with_suffix, write_csv};

fn open_ticket(id: &str) -> TicketSeed {
    TicketSeed {
        id: id.into(),
        status: Status::Open,
        source: Source::Portal,
        customer_id: None,
        title: "Storing".into(),
    }
}

/// A sandbox holding tickets `tic_t0` … `tic_t{n-1}` only: any other id is a 404.
fn sandbox_with_tickets(n: usize) -> Sandbox {
    Sandbox::start(SandboxConfig {
        rate_limit: Rate::Unlimited,
        world: World::Fixed((0..n).map(|i| open_ticket(&format!("tic_t{i}"))).collect()),
        ..SandboxConfig::default()
    })
}

const FAST: [&str; 2] = ["--rate", "unlimited"];

/// (f) Answering no at the confirmation leaves the directory byte for byte as it was: the
/// previous run's journal, results, failed rows and lock included, and a fresh job's
/// directory gets no file at all.
#[test]
fn answering_no_leaves_the_directory_as_it_was() {
    let sandbox = sandbox_with_tickets(3);
    let dir = tempfile::tempdir().unwrap();
    // Rows 3 and 4 name tickets that do not exist: the first run leaves a failed-rows file.
    let input = write_csv(dir.path(), "notices.csv", &rows(5));
    sandbox.send(&input).args(FAST).assert().code(1);
    assert!(with_suffix(&input, ".failed.csv").exists());

    let before = snapshot(dir.path());
    let input_arg = input.to_str().unwrap();
    let args = [
        "send",
        input_arg,
        "--rate",
        "unlimited",
        "--confirm-above",
        "0",
    ];
    let Some(shown) = at_terminal(&sandbox, &args, "n\n") else {
        return;
    };
    assert!(shown.contains("Send 2 messages? [y/N]"), "{shown}");
    assert!(shown.contains("nothing was sent"), "{shown}");
    assert_eq!(
        snapshot(dir.path()),
        before,
        "no file created, changed or removed"
    );

    let fresh = tempfile::tempdir().unwrap();
    let input = write_csv(fresh.path(), "other.csv", &rows(2));
    let before = snapshot(fresh.path());
    let args = [
        "send",
        input.to_str().unwrap(),
        "--rate",
        "unlimited",
        "--confirm-above",
        "0",
    ];
    let shown = at_terminal(&sandbox, &args, "n\n").unwrap();
    assert!(shown.contains("Send 2 messages? [y/N]"), "{shown}");
    assert_eq!(snapshot(fresh.path()), before);
    assert_eq!(
        sandbox.messages().len(),
        3,
        "only the first run's deliveries"
    );
}

/// Item 7: a first run that reached nothing (every row failed) does not tie the job to its
/// base URL; a journal that delivered somewhere says how many rows went where.
#[test]
fn a_journal_that_delivered_nothing_may_change_its_base_url() {
    let empty = Sandbox::start(SandboxConfig {
        rate_limit: Rate::Unlimited,
        world: World::Fixed(Vec::new()),
        ..SandboxConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let input_rows = rows(3);
    let input = write_csv(dir.path(), "notices.csv", &input_rows);
    empty.send(&input).args(FAST).assert().code(1);

    let right = sandbox_with_tickets(3);
    right
        .send(&input)
        .args(FAST)
        .assert()
        .code(0)
        .stderr(predicates::str::contains("3 sent"));
    support::assert_exactly_once(&right, &input_rows);

    let third = sandbox_with_tickets(3);
    third
        .send(&input)
        .args(FAST)
        .assert()
        .code(2)
        .stderr(predicates::str::contains(format!(
            "it records 3 rows delivered to {}",
            right.base_url()
        )));
    assert!(third.messages().is_empty());
}

/// (b) A symlink to the input of a running job is that job: refused as locked while it runs,
/// and afterwards it finds the job's journal (everything already delivered).
#[test]
fn a_symlink_to_a_running_jobs_input_is_the_same_job() {
    let sandbox = Sandbox::open_world();
    let dir = tempfile::tempdir().unwrap();
    let input_rows = rows(8);
    let input = write_csv(dir.path(), "notices.csv", &input_rows);
    let link = dir.path().join("link.csv");
    std::os::unix::fs::symlink(&input, &link).unwrap();

    // 8 rows at 4/s: about 2 s of running job to collide with.
    let mut running = sandbox
        .process("send")
        .arg(&input)
        .args(["--rate", "4/s"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let results_file = with_suffix(&input, ".results.ndjson");
    let started = std::time::Instant::now();
    while support::results(&results_file).is_empty() {
        assert!(started.elapsed().as_secs() < 5, "the first run delivers");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    sandbox
        .send(&link)
        .args(FAST)
        .assert()
        .code(3)
        .stderr(predicates::str::contains(
            "another bulk-reply run is working on this job",
        ));
    assert!(running.wait().unwrap().success());

    sandbox.send(&link).args(FAST).assert().code(0).stderr(
        predicates::str::contains("0 sent")
            .and(predicates::str::contains("8 already delivered earlier")),
    );
    assert!(
        !with_suffix(&link, ".journal").exists(),
        "no job of its own"
    );
    support::assert_exactly_once(&sandbox, &input_rows);
}

/// The results records of `path` with this status, as (ticket, reason).
fn with_status(path: &std::path::Path, status: &str) -> Vec<(String, String)> {
    support::results(path)
        .into_iter()
        .filter(|r| r["status"] == status)
        .map(|r| {
            (
                r["ticketId"].as_str().unwrap_or_default().to_string(),
                r["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// (a) A file with failures, then its failed-rows file once the tickets exist, then the
/// original again as the nightly cron line does: the rows the failed-rows file delivered are
/// skipped by the original, with the reason, and every message arrives once.
#[test]
fn a_failed_rows_file_then_the_original_sends_each_message_once() {
    // Rows 1 and 3 name tickets that do not exist (typos for tic_x1 and tic_x3).
    let sandbox = Sandbox::start(SandboxConfig {
        rate_limit: Rate::Unlimited,
        world: World::Fixed(
            ["tic_t0", "tic_x1", "tic_t2", "tic_x3", "tic_t4"]
                .map(open_ticket)
                .to_vec(),
        ),
        ..SandboxConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let input_rows = rows(5);
    let input = write_csv(dir.path(), "notices.csv", &input_rows);
    sandbox
        .send(&input)
        .args(FAST)
        .assert()
        .code(1)
        .stderr(predicates::str::contains("3 sent, 2 failed"));

    let failed = with_suffix(&input, ".failed.csv");
    let fixed = std::fs::read_to_string(&failed)
        .unwrap()
        .replace("tic_t1,", "tic_x1,")
        .replace("tic_t3,", "tic_x3,");
    std::fs::write(&failed, fixed).unwrap();
    sandbox
        .send(&failed)
        .args(FAST)
        .assert()
        .code(0)
        .stderr(predicates::str::contains("2 sent"));

    // The original again, with its two typos fixed the same way: a new job on the same
    // messages. The three it delivered are settled; the two the failed-rows file delivered
    // are skipped, never sent twice.
    let mut corrected = rows(5);
    corrected[1].0 = "tic_x1".into();
    corrected[3].0 = "tic_x3".into();
    write_csv(dir.path(), "notices.csv", &corrected);
    sandbox.send(&input).args(FAST).assert().code(0).stderr(
        predicates::str::contains("0 sent, 0 failed, 2 skipped").and(predicates::str::contains(
            "2 skipped rows already had their message on the ticket",
        )),
    );
    let skipped = with_status(&with_suffix(&input, ".results.ndjson"), "skipped");
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    for (ticket, reason) in &skipped {
        assert!(["tic_x1", "tic_x3"].contains(&ticket.as_str()), "{ticket}");
        assert!(reason.starts_with("already delivered on "), "{reason}");
        assert!(reason.contains("notices.csv.failed.csv"), "{reason}");
    }
    support::assert_exactly_once(&sandbox, &corrected);
}

/// (c) A second selection overlapping the first, with the same notice: the overlap is
/// skipped, the rest sent. (e) `--resend` then sends the overlap again, on purpose.
#[test]
fn an_overlapping_selection_skips_the_overlap_unless_resend() {
    let sandbox = Sandbox::open_world();
    let dir = tempfile::tempdir().unwrap();
    let all = rows(6);
    let first = write_csv(dir.path(), "monday.csv", &all[..4]);
    let second = write_csv(dir.path(), "tuesday.csv", &all[2..]);
    sandbox.send(&first).args(FAST).assert().code(0);
    sandbox
        .send(&second)
        .args(FAST)
        .assert()
        .code(0)
        .stderr(predicates::str::contains("2 sent, 0 failed, 2 skipped"));
    // Results are in the order rows finish, not the input's.
    let mut skipped = with_status(&with_suffix(&second, ".results.ndjson"), "skipped");
    skipped.sort();
    assert_eq!(
        skipped.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        ["tic_t2", "tic_t3"]
    );
    assert!(skipped[0].1.contains("monday.csv"), "{}", skipped[0].1);
    support::assert_exactly_once(&sandbox, &all);

    // A spacing edit of the notice is the same message.
    let respaced: Vec<(String, String)> = all[2..]
        .iter()
        .map(|(t, m)| (t.clone(), m.replace(' ', "  ")))
        .collect();
    let edited = write_csv(dir.path(), "respaced.csv", &respaced);
    sandbox
        .send(&edited)
        .args(FAST)
        .assert()
        .code(0)
        .stderr(predicates::str::contains("0 sent, 0 failed, 4 skipped"));
    support::assert_exactly_once(&sandbox, &all);

    // (e) On purpose: the two skipped rows go now, the two delivered ones stay delivered.
    sandbox
        .send(&second)
        .args(FAST)
        .arg("--resend")
        .assert()
        .code(0)
        .stderr(predicates::str::contains(
            "2 sent, 0 failed, 0 skipped, 2 already delivered earlier",
        ));
    let arrivals = sandbox.arrivals();
    for (i, row) in all.iter().enumerate() {
        let expected = if (2..4).contains(&i) { 2 } else { 1 };
        assert_eq!(arrivals[row], expected, "{row:?}");
    }
}

/// (d) Two laptops, two state directories, no shared ledger: with `--skip-closed` the
/// second reads each ticket first, finds the notice the first one posted, and skips it.
#[test]
fn a_second_machine_with_skip_closed_skips_what_the_first_delivered() {
    let sandbox = Sandbox::open_world();
    let input_rows = rows(4);
    let alice = tempfile::tempdir().unwrap();
    let bob = tempfile::tempdir().unwrap();
    let alices = write_csv(alice.path(), "notices.csv", &input_rows);
    let bobs = write_csv(bob.path(), "notices.csv", &input_rows);
    sandbox
        .send(&alices)
        .args(FAST)
        .arg("--skip-closed")
        .assert()
        .code(0)
        .stderr(predicates::str::contains("4 sent"));
    sandbox
        .send(&bobs)
        .args(FAST)
        .arg("--skip-closed")
        .env("XDG_STATE_HOME", bob.path().join("state"))
        .assert()
        .code(0)
        .stderr(
            predicates::str::contains("0 sent, 0 failed, 4 skipped").and(
                predicates::str::contains("4 skipped rows already had their message"),
            ),
        );
    for (_, reason) in with_status(&with_suffix(&bobs, ".results.ndjson"), "skipped") {
        assert!(
            reason.starts_with("already on the ticket since 20"),
            "{reason}"
        );
    }
    support::assert_exactly_once(&sandbox, &input_rows);
    assert!(
        bob.path().join("state/bulk-reply").is_dir(),
        "Bob's own ledger"
    );
}

/// (g) The README's Quick start, twice: each rehearsal starts from nothing and sends all 20
/// rows, and nothing lands in the repository's `samples/`.
#[test]
fn the_quick_start_twice_sends_every_row_both_times_and_leaves_the_repository_alone() {
    let repository = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let samples = repository.join("samples");
    let before = snapshot(&samples);
    let temporary = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let output = assert_cmd::Command::cargo_bin("bulk-reply")
            .unwrap()
            .current_dir(repository)
            .args([
                "send",
                "samples/notices.csv",
                "--sandbox",
                "--rate",
                "unlimited",
            ])
            .env_remove("MKP_API_TOKEN")
            .env_remove(bulk_reply::ledger::LEDGER_ENV)
            .env("TMPDIR", temporary.path())
            .env("XDG_STATE_HOME", temporary.path().join("state"))
            .assert()
            .code(0)
            .stderr(predicates::str::contains(
                "20 sent, 0 failed, 0 skipped, 0 already delivered earlier",
            ))
            .get_output()
            .stderr
            .clone();
        let shown = String::from_utf8_lossy(&output);
        assert!(
            shown.contains(&format!(
                "rehearsal: its journal, ledger and results are in {}",
                temporary.path().display()
            )),
            "{shown}"
        );
    }
    assert_eq!(
        snapshot(&samples),
        before,
        "nothing written beside the sample"
    );
    assert!(
        !temporary.path().join("state").exists(),
        "a rehearsal never touches the real ledger"
    );
}

/// Item 8: the failed-rows file is the input's rows in the input's order, with its columns
/// in its order, the original line first; sent again (after the fix), it keeps them.
#[test]
fn the_failed_rows_file_keeps_the_inputs_order_columns_and_lines() {
    let sandbox = sandbox_with_tickets(2);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("notices.csv");
    let mut text = String::from("name,message,ticketId\n");
    for i in 0..12 {
        text.push_str(&format!("Klant {i},<p>Notice {i}</p>,tic_t{i}\n"));
    }
    std::fs::write(&input, text).unwrap();
    sandbox
        .send(&input)
        .args(FAST)
        .args(["--concurrency", "8"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("Safe to edit and send"));
    let failed = std::fs::read_to_string(with_suffix(&input, ".failed.csv")).unwrap();
    let lines: Vec<&str> = failed.lines().collect();
    assert_eq!(lines[0], "line,name,message,ticketId,error");
    assert_eq!(lines.len(), 11, "{failed}");
    for (i, line) in lines[1..].iter().enumerate() {
        let row = i + 2;
        assert!(
            line.starts_with(&format!(
                "{},Klant {row},<p>Notice {row}</p>,tic_t{row},not_found: ",
                row + 2
            )),
            "{line}"
        );
    }
}
