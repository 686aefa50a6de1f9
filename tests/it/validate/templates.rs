//! `validate` with a template and message formats: errors that name the placeholder and the
//! line, JSON nulls, a template wrapping each row's own message, and a row swallowed by a
//! quote reported on its file line.

use crate::support;

use std::path::Path;

use serde_json::Value;
use support::{binary, csv_of, write_file};

#[test]
fn template_errors_name_the_placeholder_and_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = csv_of(
        dir.path(),
        &[("tic_a1", "Ann"), ("tic_b2", " "), ("tic_c3", "")],
    );
    let typo = write_file(dir.path(), "typo.md", "Beste {{nmae}} en {{ticketId}}");
    let output = binary()
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

    let good = write_file(dir.path(), "good.md", "Beste {{customer name}}");
    let output = binary()
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
    let odd = write_file(dir.path(), "notice.tmpl", "Hi");
    binary()
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
    let output = binary()
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
