//! Values a user, a server or a file can give that used to panic (exit 101): each now ends
//! with an exit in 0–3 and a readable line.

use crate::support;

use std::os::fd::{FromRawFd, OwnedFd};
use std::time::Duration;

use assert_cmd::Command;
use bulk_reply::rate::Rate;
use bulk_reply::sandbox::{OAuthApp, SandboxConfig};
use predicates::str::contains;
use support::{Sandbox, rows, write_csv};

#[test]
fn absurd_durations_on_the_command_line_run_normally() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "notices.csv", &rows(2));
    let mut cmd = Command::cargo_bin("bulk-reply").unwrap();
    cmd.env("XDG_STATE_HOME", support::private_state_home())
        .arg("send")
        .arg(&input)
        .args(["--sandbox", "-y", "--rate", "unlimited"])
        .args(["--deadline", "99999999999h"])
        .args(["--progress-interval", "18446744073709551615s"])
        .assert()
        .code(0)
        .stderr(contains("2 sent, 0 failed"));
}

#[test]
fn a_token_that_lives_u64_max_seconds_is_simply_long_lived() {
    // The sandbox issues it (`--token-ttl` huge) and answers `expires_in: u64::MAX`.
    let sandbox = Sandbox::start(SandboxConfig {
        rate_limit: Rate::Unlimited,
        oauth: Some(OAuthApp {
            client_id: "app".into(),
            client_secret: "s3cret".into(),
        }),
        token_ttl: Duration::from_secs(u64::MAX),
        ..SandboxConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "notices.csv", &rows(2));
    let origin = sandbox.base_url().trim_end_matches("/v1").to_string();
    sandbox
        .send(&input)
        .args(["-y", "--rate", "unlimited"])
        .env_remove("MKP_API_TOKEN")
        .env("MKP_OAUTH_CLIENT_ID", "app")
        .env("MKP_OAUTH_CLIENT_SECRET", "s3cret")
        .env("MKP_OAUTH_REFRESH_TOKEN", "refresh")
        .env("MKP_OAUTH_TOKEN_URL", format!("{origin}/oauth/tokens"))
        .assert()
        .code(0)
        .stderr(contains("2 sent, 0 failed"));
}

/// A pipe whose reading end is already closed: every write to the other end fails with
/// EPIPE, as with `| head -1` once head has what it wants. Close-on-exec, as every
/// descriptor std opens: the other tests of this binary start processes on other threads,
/// and one that inherited the reading end would keep the pipe open.
fn closed_pipe() -> OwnedFd {
    let mut fds = [0; 2];
    // SAFETY: pipe2() fills both descriptors, which are then owned here exactly once.
    let (read, write) = unsafe {
        assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC), 0);
        (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
    };
    drop(read);
    write
}

#[test]
fn a_closed_stdout_ends_every_printing_command_quietly_with_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "notices.csv", &rows(2));
    let input = input.to_str().unwrap();
    for args in [
        vec!["completions", "bash"],
        vec!["man"],
        vec!["validate", input],
        vec!["send", input, "--dry-run"],
    ] {
        let output = std::process::Command::new(assert_cmd::cargo::cargo_bin("bulk-reply"))
            .env("XDG_STATE_HOME", support::private_state_home())
            .args(&args)
            .stdout(closed_pipe())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        assert!(
            output.stderr.is_empty(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
