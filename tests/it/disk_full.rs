//! A write that fails (here: a results file on a full device) stops the run with exit 3 and
//! a clear message; the journal stays consistent, and once there is space again the same
//! job resumes and every row arrives exactly once.

use crate::support;

use predicates::str::contains;
use support::{Sandbox, assert_exactly_once, results, rows, with_suffix, write_csv};

#[test]
#[cfg(target_os = "linux")]
fn a_full_disk_stops_the_run_resumably() {
    let sandbox = Sandbox::open_world();
    let dir = tempfile::tempdir().unwrap();
    let input_rows = rows(20);
    let input = write_csv(dir.path(), "notice.csv", &input_rows);

    // /dev/full accepts the open and refuses every write with "No space left on device".
    // A short --timeout: the resume waits that long after the first run's last request
    // before it reads the tickets of rows in doubt (30 s by default).
    sandbox
        .send(&input)
        .args([
            "--rate",
            "unlimited",
            "--timeout",
            "3s",
            "--results",
            "/dev/full",
        ])
        .assert()
        .code(3)
        .stderr(contains("/dev/full"))
        .stderr(contains("No space left on device"))
        .stderr(contains("run the same command again"));

    // Space is back (the results go to a real file now): the job resumes; rows whose
    // answers could not be recorded are settled by reading their tickets, not sent twice.
    let results_path = dir.path().join("notice.results.ndjson");
    sandbox
        .send(&input)
        .args(["--rate", "unlimited", "--timeout", "3s", "--results"])
        .arg(&results_path)
        .assert()
        .code(0);
    assert_exactly_once(&sandbox, &input_rows);
    assert_eq!(results(&results_path).len(), 20);
    assert!(with_suffix(&input, ".journal").exists());
}
