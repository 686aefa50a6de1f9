//! `report` as a new user meets it: a message with markup is text on the page, the page
//! loads nothing from elsewhere (checked in a real browser: Debian's chromium), and rows not
//! yet sent are listed as pending. (The 500-row job's report is checked in `status`.)

use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command as Process;

use support::{Sandbox, with_suffix, write_csv};

/// `bulk-reply SUBCOMMAND`: status and report read files only, they talk to no API.
pub(crate) fn bulk_reply(subcommand: &str) -> assert_cmd::Command {
    let mut command = assert_cmd::Command::cargo_bin("bulk-reply").expect("binary built");
    command.arg(subcommand);
    command
}

#[test]
fn a_message_with_markup_is_text_in_the_report_and_pending_rows_are_listed() {
    let sandbox = Sandbox::open_world();
    let dir = tempfile::tempdir().unwrap();
    let message =
        "<p>Hello <script>alert('msg')</script> <img src=\"https://tracker.example/p.gif\"></p>";
    let rows: Vec<(String, String)> = (0..3)
        .map(|i| (format!("tic_m{i}"), message.to_string()))
        .collect();
    let input = write_csv(dir.path(), "markup.csv", &rows);
    sandbox
        .send(&input)
        .args(["--rate", "unlimited", "--max-rows", "2"])
        .assert()
        .code(0);

    let page = with_suffix(&input, ".report.html");
    bulk_reply("report").arg(&input).assert().code(0);
    let html = std::fs::read_to_string(&page).unwrap();
    assert_self_contained(&html);
    let dom = Browser::find().dump_dom(&page);
    assert!(!dom.contains("<script"), "no script element in the page");
    assert!(
        !dom.contains("<img"),
        "the message's image is text, not an image"
    );
    assert!(dom.contains("&lt;script&gt;alert('msg')&lt;/script&gt;"));
    assert_eq!(
        std::fs::metadata(&page).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let output = bulk_reply("report")
        .arg(&input)
        .args(["--csv", "-o", "-"])
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    let statuses: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|line| line.split(',').nth(2).unwrap())
        .collect();
    assert_eq!(statuses, ["sent", "sent", "pending"]);
}

/// Nothing the page loads or runs comes from elsewhere: no script, no `src`/`href` to a
/// URL (a portal link would be one, but only with --ticket-url), no CSS import or `url()`.
pub(crate) fn assert_self_contained(html: &str) {
    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("<script"), "no script");
    for attribute in ["src=", "href=", "srcset=", "action="] {
        for (at, _) in lower.match_indices(attribute) {
            let value = lower[at + attribute.len()..].trim_start_matches(['"', '\'', ' ']);
            assert!(
                !(value.starts_with("http") || value.starts_with("//")),
                "an external reference: {}",
                &html[at..(at + 80).min(html.len())]
            );
        }
    }
    assert!(
        !lower.contains("@import") && !lower.contains("url("),
        "no CSS fetches"
    );
}

/// Debian's `chromium`, headless, with a profile of its own and nothing phoning home.
pub(crate) struct Browser {
    program: PathBuf,
}

impl Browser {
    pub(crate) fn find() -> Browser {
        let program = ["chromium", "chromium-browser", "google-chrome"]
            .iter()
            .find_map(|name| {
                std::env::var_os("PATH").and_then(|paths| {
                    std::env::split_paths(&paths)
                        .map(|dir| dir.join(name))
                        .find(|path| path.is_file())
                })
            })
            .expect("chromium not found: install Debian's chromium package (.ci/run does)");
        Browser { program }
    }

    fn command(&self) -> (Process, tempfile::TempDir) {
        let profile = tempfile::tempdir().unwrap();
        let mut command = Process::new(&self.program);
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()));
        (command, profile)
    }

    pub(crate) fn dump_dom(&self, page: &Path) -> String {
        let (mut command, _profile) = self.command();
        let output = command
            .arg("--dump-dom")
            .arg(format!("file://{}", page.display()))
            .output()
            .expect("chromium runs");
        assert!(output.status.success(), "chromium: {output:?}");
        String::from_utf8(output.stdout).expect("the DOM is UTF-8")
    }

    pub(crate) fn screenshot(&self, page: &Path, png: &Path) {
        let (mut command, _profile) = self.command();
        let output = command
            .arg("--window-size=1000,2200")
            .arg(format!("--screenshot={}", png.display()))
            .arg(format!("file://{}", page.display()))
            .output()
            .expect("chromium runs");
        assert!(output.status.success(), "chromium: {output:?}");
    }
}
