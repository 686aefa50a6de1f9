//! The whole walk-through a new user would follow for a mass notice: `tickets`, a template,
//! `validate --preview`, a canary `send`, then the rest.

use crate::support;
use crate::tickets::forty;

use std::collections::HashMap;

use assert_cmd::Command;
use bulk_reply::sandbox::{Source, Status, TicketSeed};
use serde_json::Value;
use support::{sandbox_with, stored, write_file};

/// Issue 6's acceptance, as a new user would go: select the open tickets, write a Markdown
/// notice with a name placeholder, preview it, canary 3, then the rest; the sandbox must
/// hold exactly the previewed messages.
#[test]
fn mass_notice_walk_through() {
    let mut seeds = forty();
    seeds[1].title = "Tom & <b>Jerry</b>".into();
    seeds[7].title = "*urgent* [x](y) {{title}}".into();
    let sandbox = sandbox_with(seeds.clone());
    let dir = tempfile::tempdir().unwrap();

    // 1. Select.
    let open = dir.path().join("open.csv");
    sandbox
        .unlimited_command("tickets")
        .args(["--status", "open", "--output"])
        .arg(&open)
        .assert()
        .success();
    let selected: Vec<&TicketSeed> = seeds
        .iter()
        .filter(|s| s.status == Status::Open && s.source != Source::Chat)
        .collect();

    // 2. Write the notice.
    let notice = write_file(
        dir.path(),
        "notice.md",
        "Beste klant {{customerId}},\n\nUw vraag **{{ title }}** ({{ticketId}}) is _opgelost_.\n\n- Geen actie nodig\n",
    );

    // 3. Preview every message (json logs carry them as fields).
    // `--log-format` is global: it goes before the subcommand.
    let output = Command::cargo_bin("bulk-reply")
        .unwrap()
        .args(["--log-format", "json", "send"])
        .arg(&open)
        .arg("--template")
        .arg(&notice)
        .args(["--dry-run", "--preview", "100"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let human = String::from_utf8(output.stdout).unwrap();
    assert!(human.contains("Preview 1 of "), "{human}");
    let mut previewed: HashMap<String, String> = HashMap::new();
    for line in String::from_utf8(output.stderr).unwrap().lines() {
        let line: Value = serde_json::from_str(line).unwrap();
        if line["fields"].get("preview").is_some() {
            let fields = &line["fields"];
            previewed.insert(
                fields["ticketId"].as_str().unwrap().to_string(),
                fields["message"].as_str().unwrap().to_string(),
            );
        }
    }
    assert_eq!(previewed.len(), selected.len());
    assert_eq!(
        previewed["tic_n1"],
        "<p>Beste klant cst_tic_n1,</p>\n<p>Uw vraag <strong>Tom &amp; &lt;b&gt;Jerry&lt;/b&gt;</strong> (tic_n1) is <em>opgelost</em>.</p>\n<ul>\n<li>Geen actie nodig</li>\n</ul>"
    );
    assert!(
        previewed["tic_n7"].contains("<strong>*urgent* [x](y) {{title}}</strong>"),
        "{}",
        previewed["tic_n7"]
    );
    assert!(sandbox.messages().is_empty(), "a dry run sends nothing");

    // 4. Canary: three, then a stop that says how to go on.
    let send = || {
        let mut cmd = sandbox.unlimited_command("send");
        cmd.arg(&open)
            .arg("--template")
            .arg(&notice)
            .args(["--skip-closed", "--canary", "3"]);
        cmd
    };
    let output = send().output().unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("run the same command again to send the rest"),
        "{stderr}"
    );
    assert_eq!(sandbox.messages().len(), 3);

    // 5. The same command sends the rest.
    send().assert().success();
    let stored = stored(&sandbox);
    assert_eq!(stored.len(), selected.len());
    for ticket in &selected {
        assert_eq!(
            stored[&ticket.id],
            [previewed[&ticket.id].clone()],
            "{} got exactly the previewed message, once",
            ticket.id
        );
    }
}
