//! The token and OAuth secrets never appear anywhere the tool writes: standard output,
//! standard error at every verbosity and in both log formats, results, failed rows,
//! journal, lock file, summary — in runs that succeed, retry, fail rows and fail fatally.

use crate::support;

use std::path::Path;

use bulk_reply::rate::Rate;
use bulk_reply::sandbox::{Faults, OAuthApp, SandboxConfig, Source, Status, TicketSeed, World};
use support::{Sandbox, write_csv};

const API_KEY: &str = "tok_LEAKCANARY_apikey_7f3a9c";
const WRONG_KEY: &str = "tok_LEAKCANARY_wrong_51d2";
const CLIENT_SECRET: &str = "cs_LEAKCANARY_clientsecret_88e1";
const REFRESH_TOKEN: &str = "rt_LEAKCANARY_refresh_0b9d";

fn world() -> World {
    let mut tickets: Vec<TicketSeed> = (0..12)
        .map(|i| TicketSeed {
            id: format!("tic_s{i}"),
            status: Status::Open,
            source: Source::Portal,
            customer_id: None,
            title: "Factuur".into(),
        })
        .collect();
    tickets.push(TicketSeed {
        id: "tic_chat".into(),
        status: Status::Open,
        source: Source::Chat,
        customer_id: None,
        title: "Chat".into(),
    });
    World::Fixed(tickets)
}

/// Rows that exercise success, retries, lost answers, a chat refusal and a missing ticket.
fn input(dir: &Path, name: &str) -> std::path::PathBuf {
    let mut rows: Vec<(String, String)> = (0..12)
        .map(|i| (format!("tic_s{i}"), format!("<p>Notice {i}</p>")))
        .collect();
    rows.push(("tic_chat".into(), "<p>Notice</p>".into()));
    rows.push(("tic_missing".into(), "<p>Notice</p>".into()));
    write_csv(dir, name, &rows)
}

/// `send` at its most talkative, writing a summary file beside the input.
fn verbose_send(sandbox: &Sandbox, input: &Path, log_format: &str) -> assert_cmd::Command {
    let mut cmd = sandbox.send(input);
    cmd.args([
        "-vv",
        "--log-format",
        log_format,
        "--rate",
        "unlimited",
        "--summary-json",
    ])
    .arg(format!("{}.summary.json", input.display()));
    cmd
}

/// Everything the runs wrote: their output, and every file in the job's folder.
fn assert_nothing_shows(secrets: &[&str], outputs: &[Vec<u8>], dir: &Path) {
    let mut everything: Vec<(String, Vec<u8>)> = outputs
        .iter()
        .enumerate()
        .map(|(i, o)| (format!("output #{i}"), o.clone()))
        .collect();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        everything.push((path.display().to_string(), std::fs::read(&path).unwrap()));
    }
    assert!(everything.len() >= 8, "the runs wrote their files");
    for (name, bytes) in everything {
        let text = String::from_utf8_lossy(&bytes);
        for secret in secrets {
            assert!(!text.contains(secret), "{name} shows a secret:\n{text}");
        }
    }
}

#[test]
fn an_api_key_never_shows_whatever_happens() {
    let faults = Faults {
        seed: 3,
        fail_rate: 0.2,
        drop_rate: 0.2,
        ..Faults::none()
    };
    let sandbox = Sandbox::start(SandboxConfig {
        token: API_KEY.into(),
        world: world(),
        rate_limit: Rate::Unlimited,
        faults,
        ..SandboxConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();
    for (name, format) in [("text.csv", "text"), ("json.csv", "json")] {
        let path = input(dir.path(), name);
        let output = verbose_send(&sandbox, &path, format)
            .env("MKP_API_TOKEN", API_KEY)
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        outputs.extend([output.stdout, output.stderr]);
    }
    // A wrong key: refused (fatal), and the refusal does not echo it.
    let path = input(dir.path(), "wrong.csv");
    let output = sandbox
        .send(&path)
        .args(["-vv", "--rate", "unlimited"])
        .env("MKP_API_TOKEN", WRONG_KEY)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    outputs.extend([output.stdout, output.stderr]);
    // From a token file too.
    let token_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(token_file.path(), format!("{API_KEY}\n")).unwrap();
    let path = input(dir.path(), "file.csv");
    let output = sandbox
        .send(&path)
        .args(["-vv", "--rate", "unlimited", "--token-file"])
        .arg(token_file.path())
        .env_remove("MKP_API_TOKEN")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    outputs.extend([output.stdout, output.stderr]);

    assert_nothing_shows(&[API_KEY, WRONG_KEY], &outputs, dir.path());
}

#[test]
fn oauth_secrets_never_show() {
    let sandbox = Sandbox::start(SandboxConfig {
        world: world(),
        rate_limit: Rate::Unlimited,
        oauth: Some(OAuthApp {
            client_id: "app-1".into(),
            client_secret: CLIENT_SECRET.into(),
        }),
        token_ttl: std::time::Duration::from_secs(1),
        ..SandboxConfig::default()
    });
    let origin = sandbox.base_url().trim_end_matches("/v1").to_string();
    let dir = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();
    for (name, format, secret) in [
        ("ok.csv", "json", CLIENT_SECRET),
        ("bad.csv", "text", "cs_LEAKCANARY_bad_secret"),
    ] {
        let path = input(dir.path(), name);
        let output = verbose_send(&sandbox, &path, format)
            .env_remove("MKP_API_TOKEN")
            .env("MKP_OAUTH_CLIENT_ID", "app-1")
            .env("MKP_OAUTH_CLIENT_SECRET", secret)
            .env("MKP_OAUTH_REFRESH_TOKEN", REFRESH_TOKEN)
            .env("MKP_OAUTH_TOKEN_URL", format!("{origin}/oauth/tokens"))
            .output()
            .unwrap();
        assert_ne!(output.status.code(), Some(0));
        outputs.extend([output.stdout, output.stderr]);
    }
    assert_nothing_shows(
        &[CLIENT_SECRET, REFRESH_TOKEN, "cs_LEAKCANARY_bad_secret"],
        &outputs,
        dir.path(),
    );
}
