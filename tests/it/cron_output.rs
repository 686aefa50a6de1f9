//! What a scheduled run leaves in its log: no colour codes in files, one line under `-q`
//! when a person must look, the deadline it will keep, a warning about an exposed token
//! file; and `send --help`, read when writing the job. (The shell completion that makes
//! writing it easier is tested in `completions`.)

use crate::support;

use std::os::unix::fs::PermissionsExt;

use assert_cmd::Command;
use bulk_reply::rate::Rate;
use bulk_reply::sandbox::{SandboxConfig, Source, Status, TicketSeed, World};
use predicates::str::contains;
use support::{Sandbox, rows, write_csv};

#[test]
fn verbose_logs_redirected_to_a_file_carry_no_escape_codes() {
    let sandbox = Sandbox::open_world();
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "notices.csv", &rows(2));
    let mut cmd = Command::cargo_bin("bulk-reply").unwrap();
    let output = cmd
        .env("XDG_STATE_HOME", support::private_state_home())
        .arg("-v")
        .arg("send")
        .arg(&input)
        .args([
            "--base-url",
            &sandbox.base_url(),
            "-y",
            "--rate",
            "unlimited",
        ])
        .env("MKP_API_TOKEN", bulk_reply::sandbox::DEFAULT_TOKEN)
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(log.contains("DEBUG"), "debug lines are there: {log}");
    assert!(!log.contains('\u{1b}'), "no escape codes: {log}");
}

#[test]
fn quiet_still_says_one_line_when_rows_failed() {
    let sandbox = Sandbox::start(SandboxConfig {
        rate_limit: Rate::Unlimited,
        world: World::Fixed(vec![TicketSeed {
            id: "tic_t0".into(),
            status: Status::Open,
            source: Source::Portal,
            customer_id: None,
            title: "Storing".into(),
        }]),
        ..SandboxConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "notices.csv", &rows(3));
    let output = sandbox
        .send(&input)
        .args(["-q", "-y", "--rate", "unlimited"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let log = String::from_utf8_lossy(&output.stderr);
    assert_eq!(log.lines().count(), 1, "{log}");
    assert!(log.contains("1 sent, 2 failed"), "{log}");
}

#[test]
fn quiet_stays_silent_when_everything_was_delivered() {
    let sandbox = Sandbox::open_world();
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "notices.csv", &rows(2));
    sandbox
        .send(&input)
        .args(["-q", "-y", "--rate", "unlimited"])
        .assert()
        .code(0)
        .stderr("");
}

#[test]
fn the_first_line_of_the_run_names_the_resolved_deadline() {
    let sandbox = Sandbox::open_world();
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "notices.csv", &rows(1));
    let output = sandbox
        .send(&input)
        .args(["-y", "--deadline", "2099-01-01T06:00:00+01:00"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let log = String::from_utf8_lossy(&output.stderr);
    let first = log.lines().next().unwrap_or_default();
    assert!(first.contains("sending up to 1 rows to"), "{log}");
    assert!(
        first.contains("deadline 2099-01-01T06:00:00+01:00"),
        "{log}"
    );
}

#[test]
fn a_token_file_others_can_read_is_warned_about() {
    let sandbox = Sandbox::open_world();
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "notices.csv", &rows(1));
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, bulk_reply::sandbox::DEFAULT_TOKEN).unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    sandbox
        .send(&input)
        .env_remove("MKP_API_TOKEN")
        .arg("--token-file")
        .arg(&token_file)
        .args(["-y", "--rate", "unlimited"])
        .assert()
        .code(0)
        .stderr(contains(
            "can be read by other users (mode 644): run chmod 600",
        ));
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let again = write_csv(dir.path(), "again.csv", &rows(1));
    let output = sandbox
        .send(&again)
        .env_remove("MKP_API_TOKEN")
        .arg("--token-file")
        .arg(&token_file)
        .args(["-y", "--rate", "unlimited"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&output.stderr).contains("other users"));
}

#[test]
fn send_help_lists_the_global_options_apart_and_documents_reaching_the_api() {
    let output = Command::cargo_bin("bulk-reply")
        .unwrap()
        .args(["send", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    let global = help
        .find("\nGlobal options:\n")
        .expect("a heading of their own");
    let verbose = help.find("--verbose").unwrap();
    let own = help.find("--deadline").unwrap();
    assert!(own < global && global < verbose, "{help}");
    for documented in [
        "--check-api",
        "--ca-cert",
        "HTTPS_PROXY",
        "NO_PROXY",
        "SSL_CERT_FILE",
    ] {
        assert!(help.contains(documented), "{documented} in send --help");
    }
}
