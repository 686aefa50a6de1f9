//! Exactly once when answers are lost in the ways real deployments lose them: one row each,
//! ending with exactly one copy of the message on the ticket.
//!
//! The blocked-path case needs a network of its own: the test re-runs itself in a new
//! network namespace (`unshare --net`, as root, as CI runs), where taking the loopback
//! interface down blocks the path between client and sandbox while the connection stays
//! open — the kernel keeps the request in the socket's send queue, as on a real partition.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::{Sandbox, results, with_suffix, write_csv};

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
    const NAME: &str = "a_request_abandoned_on_a_blocked_path_never_lands_later";
    if std::env::var_os(IN_NAMESPACE).is_none() {
        let output = Command::new("unshare")
            .args(["--net", "--"])
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", NAME, "--nocapture", "--test-threads", "1"])
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
        .args(["--skip-closed", "--rate", "1/s", "--timeout", "1s", "--settle", "2s"])
        .args(["--retry-delay", "200ms", "--max-attempts", "30"])
        .env("MKP_API_TOKEN", bulk_reply::sandbox::DEFAULT_TOKEN)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while sandbox.report().gets < 1 {
        assert!(started.elapsed() < Duration::from_secs(5), "no read arrived");
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
