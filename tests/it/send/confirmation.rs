//! Whether `send` asks before a big job: never without a terminal, first at a real one.

use crate::support;

use std::path::Path;

use support::{Sandbox, csv_of, write_file};

#[test]
fn without_a_terminal_a_big_job_is_not_asked_about() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<(String, String)> = (0..60)
        .map(|i| (format!("tic_b{i}"), format!("Name {i}")))
        .collect();
    let borrowed: Vec<(&str, &str)> = rows.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let input = csv_of(dir.path(), &borrowed);
    let template = write_file(dir.path(), "n.txt", "Dear {{Customer Name}}");
    let sandbox = Sandbox::open_world();
    let output = sandbox
        .unlimited_command("send")
        .arg(&input)
        .arg("--template")
        .arg(&template)
        .args(["--confirm-above", "10"])
        .write_stdin("n\n")
        .output()
        .unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(!stderr.contains("[y/N]"), "{stderr}");
    assert_eq!(sandbox.messages().len(), 60);
}

/// The question at a real terminal: `script` (util-linux) gives the binary a pseudo-terminal
/// for standard input and standard error, and types the answer.
#[test]
fn at_a_terminal_a_big_job_is_asked_about_first() {
    let script = Path::new("/usr/bin/script");
    if !script.exists() {
        eprintln!("skipped: /usr/bin/script (util-linux) is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<(String, String)> = (0..60)
        .map(|i| (format!("tic_q{i}"), format!("Name {i}")))
        .collect();
    let borrowed: Vec<(&str, &str)> = rows.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let input = csv_of(dir.path(), &borrowed);
    let template = write_file(dir.path(), "n.md", "Dear *{{Customer Name}}*");
    let sandbox = Sandbox::open_world();
    let (input_arg, template_arg) = (input.to_str().unwrap(), template.to_str().unwrap());
    let args = [
        "send",
        input_arg,
        "--template",
        template_arg,
        "--rate",
        "unlimited",
    ];
    let at_terminal = |answer: &str| {
        support::at_terminal(&sandbox, &args, answer).expect("script is installed: checked above")
    };

    let shown = at_terminal("n\n");
    assert!(
        shown.contains("About to send 60 messages to 60 distinct tickets"),
        "{shown}"
    );
    assert!(shown.contains("<p>Dear <em>Name 0</em></p>"), "{shown}");
    assert!(shown.contains("Send 60 messages? [y/N]"), "{shown}");
    assert!(shown.contains("nothing was sent"), "{shown}");
    assert!(sandbox.messages().is_empty());

    // A canary (no terminal, no question) sends the first 3; the question then shows the
    // first message still to go, not the file's first.
    sandbox
        .unlimited_command("send")
        .arg(&input)
        .args(["--template"])
        .arg(&template)
        .args(["--rate", "unlimited", "--canary", "3"])
        .assert()
        .code(0);
    let shown = at_terminal("y\n");
    assert!(shown.contains("About to send 57 messages"), "{shown}");
    assert!(shown.contains("<p>Dear <em>Name 3</em></p>"), "{shown}");
    assert!(!shown.contains("<em>Name 0</em>"), "{shown}");
    assert!(shown.contains("57 sent"), "{shown}");
    assert_eq!(sandbox.messages().len(), 60);
}
