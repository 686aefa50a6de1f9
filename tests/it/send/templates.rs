//! `send` with templates and message formats: hostile values show literally in HTML, text
//! and Markdown, the message column is converted too, and NDJSON rows fill templates (a
//! changed template is a new message).

use crate::support;

use std::path::Path;

use support::{Sandbox, binary, csv_of, stored, write_file};

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
        let template = write_file(dir.path(), name, template);
        let sandbox = Sandbox::open_world();
        sandbox
            .unlimited_command("send")
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
    sandbox
        .unlimited_command("send")
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
fn ndjson_rows_fill_templates_and_a_changed_template_is_a_new_message() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_file(
        dir.path(),
        "rows.ndjson",
        "{\"ticketId\":\"tic_j1\",\"name\":\"Ann\",\"orders\":3}\n\
         {\"ticket_id\":\"tic_j2\",\"name\":\"Bob & Co\",\"orders\":1}\n",
    );
    let first = write_file(dir.path(), "a.txt", "Hi {{name}}, {{orders}} order(s).");
    let sandbox = Sandbox::open_world();
    let send = |template: &Path| {
        let mut cmd = sandbox.unlimited_command("send");
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
    let second = write_file(dir.path(), "b.txt", "Hello {{name}}.");
    send(&second).assert().success();
    assert_eq!(
        stored(&sandbox)["tic_j1"],
        ["<p>Hi Ann, 3 order(s).</p>", "<p>Hello Ann.</p>"]
    );
    // A row without the field is an error at its line.
    let missing = write_file(dir.path(), "c.txt", "{{city}}");
    binary()
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
