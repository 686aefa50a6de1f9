//! `send --skip-closed`: closed tickets are left alone, and a row left in doubt is checked
//! and its status read in one request.

use crate::support;

use std::collections::HashMap;

use bulk_reply::sandbox::{Source, Status};
use serde_json::Value;
use support::{csv_of, results, sandbox_with, seed, stored, with_suffix, write_file};

#[test]
fn skip_closed_leaves_closed_tickets_alone() {
    let seeds = vec![
        seed("tic_o1", Status::Open, Source::Portal, "a"),
        seed("tic_c2", Status::Closed, Source::Email, "b"),
        seed("tic_o3", Status::Open, Source::Email, "c"),
    ];
    let sandbox = sandbox_with(seeds);
    let dir = tempfile::tempdir().unwrap();
    let input = csv_of(
        dir.path(),
        &[
            ("tic_o1", "A"),
            ("tic_c2", "B"),
            ("tic_o3", "C"),
            ("tic_x9", "D"),
        ],
    );
    let template = write_file(dir.path(), "n.html", "<p>{{customer name}}</p>");
    let send = || {
        let mut cmd = sandbox.unlimited_command("send");
        cmd.arg(&input).arg("--template").arg(&template).args([
            "--skip-closed",
            "--retry-delay",
            "10ms",
        ]);
        cmd
    };
    // tic_x9 does not exist: the read says so, and that row fails (exit 1).
    send().assert().code(1);
    let stored = stored(&sandbox);
    assert_eq!(stored["tic_o1"], ["<p>A</p>"]);
    assert_eq!(stored["tic_o3"], ["<p>C</p>"]);
    assert!(
        !stored.contains_key("tic_c2"),
        "a closed ticket is left alone"
    );
    let results = results(&with_suffix(&input, ".results.ndjson"));
    let by_ticket: HashMap<&str, &Value> = results
        .iter()
        .map(|r| (r["ticketId"].as_str().unwrap(), r))
        .collect();
    assert_eq!(by_ticket["tic_c2"]["status"], "skipped");
    let closed = by_ticket["tic_c2"].to_string();
    assert!(closed.contains("ticket is closed"), "{closed}");
    assert_eq!(by_ticket["tic_x9"]["status"], "failed");
    assert_eq!(by_ticket["tic_o1"]["status"], "sent");
    let report = sandbox.report();
    assert_eq!(report.posts, 2, "only the open tickets were posted to");
    assert_eq!(
        report.gets, 5,
        "the preflight's read of the list, then one read per row"
    );

    // Run again: the skipped row is settled, the open ones delivered; only tic_x9 retried.
    send().assert().code(1);
    assert_eq!(sandbox.report().posts, 2);
}

#[test]
fn a_row_left_in_doubt_is_checked_and_its_status_read_in_one_request() {
    let sandbox = sandbox_with(vec![
        seed("tic_o1", Status::Open, Source::Portal, "a"),
        seed("tic_c1", Status::Closed, Source::Portal, "b"),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let input = write_file(
        dir.path(),
        "rows.csv",
        "ticketId,message\ntic_o1,Update\ntic_c1,Update\n",
    );
    // A journal left by a run that recorded its intents and died before posting.
    let mut journal = format!(
        "bulk-reply journal 1\ntarget {}\n",
        sandbox.base_url().trim_end_matches('/')
    );
    for ticket in ["tic_o1", "tic_c1"] {
        let key = bulk_reply::journal::RowKey::of(ticket, "Update");
        journal.push_str(&format!("I {key} 1700000000000\n"));
    }
    std::fs::write(dir.path().join("rows.csv.journal"), journal).unwrap();

    sandbox
        .unlimited_command("send")
        .arg(&input)
        .args(["--skip-closed", "--settle", "100ms"])
        .assert()
        .code(0)
        .stderr(predicates::str::contains("1 sent, 0 failed, 1 skipped"));
    let report = sandbox.report();
    assert_eq!(
        report.gets, 4,
        "the preflight's read of the list; then one read per row settles the doubt and tells \
         the status; the row posted again after its doubt is read once more, to count its copies"
    );
    assert_eq!(report.posts, 1);
    assert_eq!(sandbox.messages().len(), 1);
}
