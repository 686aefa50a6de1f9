//! One message per customer across every job, tried as a new user would: the delivery
//! ledger, the ticket as the guard between machines, a job being its file, nothing touched
//! before yes, and rehearsals that start from nothing. Each sequence ends with every message
//! exactly once on the sandbox, and the skips explained.

mod support;

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
