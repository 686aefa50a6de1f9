//! Mass notices against the in-process sandbox: templates and formats (hostile values
//! included), preview, ticket selection across pages, --skip-closed, canary, confirmation,
//! and the whole walk-through a new user would follow.

use crate::support;

use std::collections::HashMap;
use std::path::Path;

use assert_cmd::Command;
use bulk_reply::rate::Rate;
use bulk_reply::sandbox::{SandboxConfig, Source, Status, TicketSeed, World};
use serde_json::Value;
use support::{Sandbox, results, with_suffix};

fn seed(id: &str, status: Status, source: Source, title: &str) -> TicketSeed {
    TicketSeed {
        id: id.to_string(),
        status,
        source,
        customer_id: Some(format!("cst_{id}")),
        title: title.to_string(),
    }
}

fn sandbox_with(seeds: Vec<TicketSeed>) -> Sandbox {
    Sandbox::start(SandboxConfig {
        rate_limit: Rate::Unlimited,
        world: World::Fixed(seeds),
        ..SandboxConfig::default()
    })
}

fn bulk_reply(sandbox: &Sandbox, command: &str) -> Command {
    let mut cmd = sandbox.command(command);
    cmd.args(["--rate", "unlimited"]);
    cmd
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The CSV of `(ticketId, name)` rows with the given header.
fn csv_of(dir: &Path, rows: &[(&str, &str)]) -> std::path::PathBuf {
    let path = dir.join("rows.csv");
    let mut writer = csv::Writer::from_path(&path).unwrap();
    writer.write_record(["ticketId", "Customer Name"]).unwrap();
    for (ticket, name) in rows {
        writer.write_record([ticket, name]).unwrap();
    }
    writer.flush().unwrap();
    path
}

/// The messages the sandbox stored, by ticket.
fn stored(sandbox: &Sandbox) -> HashMap<String, Vec<String>> {
    let mut by_ticket: HashMap<String, Vec<String>> = HashMap::new();
    for m in sandbox.messages() {
        by_ticket.entry(m.ticket_id).or_default().push(m.message);
    }
    by_ticket
}

const HOSTILE: [(&str, &str); 4] = [
    ("tic_h1", "Tom & <b>Jerry</b>"),
    ("tic_h2", "{{Customer Name}} \"quoted\" 'single'"),
    ("tic_h3", "*star* _under_ [x](https://evil.example)"),
    ("tic_h4", "<script>alert(1)</script> &amp;"),
];

#[test]
fn hostile_values_show_literally_in_html_text_and_markdown() {
    let cases = [
        (
            "notice.html",
            "<p>Beste {{ customer_name }},</p><p>Ticket {{ticketId}} is opgelost.</p>",
            [
                "<p>Beste Tom &amp; &lt;b&gt;Jerry&lt;/b&gt;,</p><p>Ticket tic_h1 is opgelost.</p>",
                "<p>Beste {{Customer Name}} &quot;quoted&quot; &#39;single&#39;,</p><p>Ticket tic_h2 is opgelost.</p>",
                "<p>Beste *star* _under_ [x](https://evil.example),</p><p>Ticket tic_h3 is opgelost.</p>",
                "<p>Beste &lt;script&gt;alert(1)&lt;/script&gt; &amp;amp;,</p><p>Ticket tic_h4 is opgelost.</p>",
            ],
        ),
        (
            "notice.txt",
            "Beste {{Customer Name}},\n\nTicket {{ticketId}} is opgelost.\nGroet",
            [
                "<p>Beste Tom &amp; &lt;b&gt;Jerry&lt;/b&gt;,</p>\n<p>Ticket tic_h1 is opgelost.<br>\nGroet</p>",
                "<p>Beste {{Customer Name}} &quot;quoted&quot; &#39;single&#39;,</p>\n<p>Ticket tic_h2 is opgelost.<br>\nGroet</p>",
                "<p>Beste *star* _under_ [x](https://evil.example),</p>\n<p>Ticket tic_h3 is opgelost.<br>\nGroet</p>",
                "<p>Beste &lt;script&gt;alert(1)&lt;/script&gt; &amp;amp;,</p>\n<p>Ticket tic_h4 is opgelost.<br>\nGroet</p>",
            ],
        ),
        (
            "notice.md",
            "Beste **{{customerName}}**,\n\nTicket `{{ticketId}}` is *opgelost*.",
            [
                "<p>Beste <strong>Tom &amp; &lt;b&gt;Jerry&lt;/b&gt;</strong>,</p>\n<p>Ticket <code>tic_h1</code> is <em>opgelost</em>.</p>",
                "<p>Beste <strong>{{Customer Name}} &quot;quoted&quot; &#39;single&#39;</strong>,</p>\n<p>Ticket <code>tic_h2</code> is <em>opgelost</em>.</p>",
                "<p>Beste <strong>*star* _under_ [x](https://evil.example)</strong>,</p>\n<p>Ticket <code>tic_h3</code> is <em>opgelost</em>.</p>",
                "<p>Beste <strong>&lt;script&gt;alert(1)&lt;/script&gt; &amp;amp;</strong>,</p>\n<p>Ticket <code>tic_h4</code> is <em>opgelost</em>.</p>",
            ],
        ),
    ];
    for (name, template, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let input = csv_of(dir.path(), &HOSTILE);
        let template = write(dir.path(), name, template);
        let sandbox = Sandbox::open_world();
        bulk_reply(&sandbox, "send")
            .arg(&input)
            .arg("--template")
            .arg(&template)
            .assert()
            .success();
        let stored = stored(&sandbox);
        for ((ticket, _), want) in HOSTILE.iter().zip(expected) {
            assert_eq!(stored[*ticket], [want], "{name}, {ticket}");
        }
    }
}

#[test]
fn message_format_converts_the_message_column_too() {
    let dir = tempfile::tempdir().unwrap();
    let input = support::write_csv(
        dir.path(),
        "plain.csv",
        &[("tic_p1".into(), "Hello <you>,\n\nAll fixed.".into())],
    );
    let sandbox = Sandbox::open_world();
    bulk_reply(&sandbox, "send")
        .arg(&input)
        .args(["--message-format", "text"])
        .assert()
        .success();
    assert_eq!(
        stored(&sandbox)["tic_p1"],
        ["<p>Hello &lt;you&gt;,</p>\n<p>All fixed.</p>"]
    );
}

#[test]
fn template_errors_name_the_placeholder_and_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = csv_of(
        dir.path(),
        &[("tic_a1", "Ann"), ("tic_b2", " "), ("tic_c3", "")],
    );
    let typo = write(dir.path(), "typo.md", "Beste {{nmae}} en {{ticketId}}");
    let output = bulk_reply_plain()
        .args(["validate", "--json"])
        .arg(&input)
        .arg("--template")
        .arg(&typo)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["errorCount"], 1, "once, at the header: {report}");
    assert_eq!(report["errors"][0]["line"], 1);
    let message = report["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("{{nmae}}"), "{message}");
    assert!(message.contains("\"Customer Name\""), "{message}");

    let good = write(dir.path(), "good.md", "Beste {{customer name}}");
    let output = bulk_reply_plain()
        .args(["validate", "--json", "--preview", "5"])
        .arg(&input)
        .arg("--template")
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let lines: Vec<&Value> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["line"])
        .collect();
    assert_eq!(lines, [3, 4], "{report}");
    assert!(
        report["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("{{customer name}} has no value in this row")
    );
    // The existing keys stay; the preview holds the one sendable row, exactly as posted.
    for key in [
        "rows",
        "valid",
        "warnings",
        "estimatedSeconds",
        "warningCount",
    ] {
        assert!(report.get(key).is_some(), "{key}");
    }
    assert_eq!(
        report["preview"],
        serde_json::json!([{"line": 2, "ticketId": "tic_a1", "message": "<p>Beste Ann</p>"}])
    );

    // A template whose format cannot be told is refused before anything is read.
    let odd = write(dir.path(), "notice.tmpl", "Hi");
    bulk_reply_plain()
        .arg("validate")
        .arg(&input)
        .arg("--template")
        .arg(&odd)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--message-format"));
}

/// `bulk-reply validate --json EXTRA… INPUT`: the exit code and the report.
fn validate_json(input: &Path, extra: &[&str]) -> (Option<i32>, serde_json::Value) {
    let output = bulk_reply_plain()
        .args(["validate", "--json"])
        .args(extra)
        .arg(input)
        .output()
        .unwrap();
    let report = serde_json::from_slice(&output.stdout).unwrap();
    (output.status.code(), report)
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

fn bulk_reply_plain() -> Command {
    Command::cargo_bin("bulk-reply").expect("binary built")
}

/// 40 tickets: every 4th closed, sources portal/email/chat in turn.
fn forty() -> Vec<TicketSeed> {
    (0..40)
        .map(|i| {
            let status = if i % 4 == 0 {
                Status::Closed
            } else {
                Status::Open
            };
            let source = [Source::Portal, Source::Email, Source::Chat][i % 3];
            seed(&format!("tic_n{i}"), status, source, &format!("Ticket {i}"))
        })
        .collect()
}

fn listed(csv_text: &str) -> Vec<Vec<String>> {
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    assert_eq!(
        reader.headers().unwrap(),
        vec![
            "ticketId",
            "customerId",
            "title",
            "status",
            "source",
            "createdAt"
        ]
    );
    reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

#[test]
fn tickets_pages_through_the_list_with_filters() {
    let seeds = forty();
    let sandbox = sandbox_with(seeds.clone());
    let expect = |keep: &dyn Fn(&TicketSeed) -> bool| -> Vec<String> {
        seeds
            .iter()
            .filter(|s| keep(s))
            .map(|s| s.id.clone())
            .collect()
    };

    // No filter: all 40 over 3 pages, chat left out.
    let output = bulk_reply(&sandbox, "tickets").output().unwrap();
    assert!(output.status.success());
    let rows = listed(&String::from_utf8(output.stdout).unwrap());
    let ids: Vec<String> = rows.iter().map(|r| r[0].clone()).collect();
    assert_eq!(ids, expect(&|s| s.source != Source::Chat));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("from 3 pages"), "{stderr}");
    assert!(stderr.contains("13 chat tickets left out ("), "{stderr}");
    assert_eq!(rows[0][1], "cst_tic_n0");
    assert_eq!(rows[0][2], "Ticket 0");
    assert_eq!(rows[0][3], "closed");
    assert!(rows[0][5].contains('T'), "an ATOM date: {:?}", rows[0]);

    // Open ones, into a file only its owner can read.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("open.csv");
    bulk_reply(&sandbox, "tickets")
        .args(["--status", "open", "--output"])
        .arg(&out)
        .assert()
        .success();
    let rows = listed(&std::fs::read_to_string(&out).unwrap());
    let ids: Vec<String> = rows.iter().map(|r| r[0].clone()).collect();
    assert_eq!(
        ids,
        expect(&|s| s.status == Status::Open && s.source != Source::Chat)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Chat only when asked for.
    let output = bulk_reply(&sandbox, "tickets")
        .args(["--source", "chat", "--status", "closed"])
        .output()
        .unwrap();
    let rows = listed(&String::from_utf8(output.stdout).unwrap());
    let ids: Vec<String> = rows.iter().map(|r| r[0].clone()).collect();
    assert_eq!(
        ids,
        expect(&|s| s.status == Status::Closed && s.source == Source::Chat)
    );
    assert!(sandbox.report().gets >= 5);
}

#[test]
fn tickets_with_a_refused_token_stops_with_exit_3_and_no_output() {
    let sandbox = sandbox_with(forty());
    let output = bulk_reply(&sandbox, "tickets")
        .env("MKP_API_TOKEN", "wrong")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("HTTP 401"), "{stderr}");
    assert!(!stderr.contains("wrong"), "the token never shows: {stderr}");

    // An existing output file a job may depend on is left exactly as it was.
    let dir = tempfile::tempdir().unwrap();
    let keep = dir.path().join("open.csv");
    std::fs::write(&keep, "ticketId\ntic_kept1\n").unwrap();
    let output = bulk_reply(&sandbox, "tickets")
        .arg("--output")
        .arg(&keep)
        .env("MKP_API_TOKEN", "wrong")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&output.stderr).contains("was left as it was"));
    assert_eq!(
        std::fs::read_to_string(&keep).unwrap(),
        "ticketId\ntic_kept1\n"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no partial file left behind"
    );
}

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
    let template = write(dir.path(), "n.html", "<p>{{customer name}}</p>");
    let send = || {
        let mut cmd = bulk_reply(&sandbox, "send");
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
fn without_a_terminal_a_big_job_is_not_asked_about() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<(String, String)> = (0..60)
        .map(|i| (format!("tic_b{i}"), format!("Name {i}")))
        .collect();
    let borrowed: Vec<(&str, &str)> = rows.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let input = csv_of(dir.path(), &borrowed);
    let template = write(dir.path(), "n.txt", "Dear {{Customer Name}}");
    let sandbox = Sandbox::open_world();
    let output = bulk_reply(&sandbox, "send")
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
    bulk_reply(&sandbox, "tickets")
        .args(["--status", "open", "--output"])
        .arg(&open)
        .assert()
        .success();
    let selected: Vec<&TicketSeed> = seeds
        .iter()
        .filter(|s| s.status == Status::Open && s.source != Source::Chat)
        .collect();

    // 2. Write the notice.
    let notice = write(
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
        let mut cmd = bulk_reply(&sandbox, "send");
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
    let template = write(dir.path(), "n.md", "Dear *{{Customer Name}}*");
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
    bulk_reply(&sandbox, "send")
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

#[test]
fn ndjson_rows_fill_templates_and_a_changed_template_is_a_new_message() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(
        dir.path(),
        "rows.ndjson",
        "{\"ticketId\":\"tic_j1\",\"name\":\"Ann\",\"orders\":3}\n\
         {\"ticket_id\":\"tic_j2\",\"name\":\"Bob & Co\",\"orders\":1}\n",
    );
    let first = write(dir.path(), "a.txt", "Hi {{name}}, {{orders}} order(s).");
    let sandbox = Sandbox::open_world();
    let send = |template: &Path| {
        let mut cmd = bulk_reply(&sandbox, "send");
        cmd.arg(&input).arg("--template").arg(template);
        cmd
    };
    send(&first).assert().success();
    assert_eq!(
        stored(&sandbox)["tic_j2"],
        ["<p>Hi Bob &amp; Co, 1 order(s).</p>"]
    );
    // The same template and data: every row is already delivered.
    send(&first)
        .assert()
        .success()
        .stderr(predicates::str::contains("2 already delivered earlier"));
    assert_eq!(sandbox.messages().len(), 2);
    // A changed template is a different message: sent.
    let second = write(dir.path(), "b.txt", "Hello {{name}}.");
    send(&second).assert().success();
    assert_eq!(
        stored(&sandbox)["tic_j1"],
        ["<p>Hi Ann, 3 order(s).</p>", "<p>Hello Ann.</p>"]
    );
    // A row without the field is an error at its line.
    let missing = write(dir.path(), "c.txt", "{{city}}");
    bulk_reply_plain()
        .arg("validate")
        .arg(&input)
        .arg("--template")
        .arg(&missing)
        .assert()
        .code(2)
        .stdout(predicates::str::contains(
            "line 1: the template's {{city}} matches no field of this row",
        ));
}

/// A list server that ignores every filter and names a next page on another host: the
/// filters must still hold, and pages must be asked for by number from our base URL.
#[test]
fn tickets_filters_a_list_whose_server_ignores_filters() {
    use std::io::{BufRead, BufReader, Write};
    use std::sync::{Arc, Mutex};

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
    let requested = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = requested.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut header = String::new();
            while reader.read_line(&mut header).unwrap_or(0) > 0 && header != "\r\n" {
                header.clear();
            }
            let target = request_line.split(' ').nth(1).unwrap_or("").to_string();
            seen.lock().unwrap().push(target.clone());
            let entry = |id: &str, status: &str, source: &str| {
                serde_json::json!({"id": id, "customerId": null, "title": "T", "status": status,
                                   "source": source, "createdAt": "2026-11-24T01:00:00+01:00"})
            };
            let body = if target.contains("page=1") {
                serde_json::json!({"current_page": 1, "data": [
                    entry("tic_1", "open", "portal"), entry("tic_2", "closed", "portal"),
                    entry("tic_3", "open", "chat")],
                    "next_page_url": "http://elsewhere.invalid/v1/tickets?page=2"})
            } else {
                serde_json::json!({"current_page": 2, "data": [
                    entry("tic_4", "open", "email"), entry("tic_5", "closed", "email")],
                    "next_page_url": null})
            }
            .to_string();
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let output = bulk_reply_plain()
        .args(["tickets", "--status", "open", "--rate", "unlimited"])
        .args(["--base-url", &base_url])
        .env("MKP_API_TOKEN", "t")
        .env_remove("MKP_OAUTH_CLIENT_ID")
        .env_remove("MKP_OAUTH_CLIENT_SECRET")
        .env_remove("MKP_OAUTH_REFRESH_TOKEN")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let rows = listed(&String::from_utf8(output.stdout).unwrap());
    let ids: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(ids, ["tic_1", "tic_4"]);
    assert_eq!(rows[0][1], "", "a null customerId is an empty field");
    let requested = requested.lock().unwrap().clone();
    assert_eq!(
        requested,
        [
            "/v1/tickets?page=1&status=open",
            "/v1/tickets?page=2&status=open"
        ]
    );
}

#[test]
fn a_json_null_is_an_empty_value_never_the_word_null() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("rows.ndjson");
    std::fs::write(
        &input,
        "{\"ticketId\":\"tic_a1\",\"name\":null}\n{\"ticketId\":\"tic_a2\",\"name\":\"Ann\"}\n",
    )
    .unwrap();
    let template = dir.path().join("notice.txt");
    std::fs::write(&template, "Hi {{name}}").unwrap();
    let (code, report) = validate_json(&input, &["--template", path_str(&template)]);
    assert_eq!(code, Some(2));
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{report}");
    assert_eq!(errors[0]["line"], 1);
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .contains("{{name}} has no value"),
        "{report}"
    );
}

#[test]
fn a_template_may_wrap_each_rows_own_message() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("rows.csv");
    std::fs::write(
        &input,
        "ticketId,name,message\ntic_a1,Ann,Uw factuur is gecorrigeerd.\n",
    )
    .unwrap();
    let template = dir.path().join("notice.txt");
    std::fs::write(&template, "Beste {{name}},\n\n{{message}}").unwrap();
    let (code, report) = validate_json(&input, &["--template", path_str(&template)]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["warnings"].as_array().unwrap().len(), 0, "{report}");
    assert_eq!(
        report["preview"][0]["message"], "<p>Beste Ann,</p>\n<p>Uw factuur is gecorrigeerd.</p>",
        "{report}"
    );
}

#[test]
fn a_swallowed_row_is_reported_on_its_file_line_whatever_the_format() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("rows.csv");
    std::fs::write(
        &input,
        "ticketId,message\ntic_a1,\"first line\n\nthird\n\ntic_b2,oops\nend\"\n",
    )
    .unwrap();
    for format in ["html", "text", "markdown"] {
        let (_, report) = validate_json(&input, &["--message-format", format]);
        let swallowed: Vec<&str> = report["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|w| w["message"].as_str())
            .filter(|m| m.contains("looks like a row of its own"))
            .collect();
        assert_eq!(swallowed.len(), 1, "{format}: {report}");
        assert!(
            swallowed[0].starts_with("line 6 inside"),
            "{format}: {}",
            swallowed[0]
        );
        assert!(
            swallowed[0].contains("\"tic_b2,oops\""),
            "{format}: {}",
            swallowed[0]
        );
    }
}

#[test]
fn a_row_left_in_doubt_is_checked_and_its_status_read_in_one_request() {
    let sandbox = sandbox_with(vec![
        seed("tic_o1", Status::Open, Source::Portal, "a"),
        seed("tic_c1", Status::Closed, Source::Portal, "b"),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let input = write(
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

    bulk_reply(&sandbox, "send")
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
