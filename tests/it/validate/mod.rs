//! Black-box tests of `bulk-reply validate` over the files in `tests/fixtures/` and the
//! samples: exit codes, the lines problems are reported on, and what the messages say. The
//! reader's round-trip property (`roundtrip`) and workbooks and other encodings
//! (`workbooks`) are submodules.

mod roundtrip;
mod templates;
mod workbooks;

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

fn bulk_reply() -> Command {
    Command::cargo_bin("bulk-reply").expect("the binary is built")
}

/// Runs `validate --json` on a fixture; returns the exit code and the JSON report.
fn validate_json(file: &str, extra: &[&str]) -> (i32, Value) {
    let path = Path::new("tests/fixtures").join(file);
    let output = bulk_reply()
        .arg("validate")
        .arg(&path)
        .arg("--json")
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let report = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{file}: not JSON ({e}): {stdout:?}"));
    (output.status.code().unwrap(), report)
}

/// `(line, message)` of every error, or of every warning.
fn problems(report: &Value, kind: &str) -> Vec<(Option<u64>, String)> {
    report[kind]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["line"].as_u64(),
                p["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn lines(report: &Value, kind: &str) -> Vec<Option<u64>> {
    problems(report, kind).into_iter().map(|(l, _)| l).collect()
}

#[test]
fn the_samples_are_valid() {
    for sample in ["samples/notices.csv", "samples/notices.ndjson"] {
        bulk_reply()
            .args(["validate", sample])
            .assert()
            .code(0)
            .stdout(predicate::str::contains("20 rows, 0 errors, 0 warnings"))
            .stdout(predicate::str::contains(
                "Sending 20 messages at 60/min (the API's default, until the server states the key's own limit): they fit in one window and go at once.",
            ));
    }
}

#[test]
fn the_invalid_sample_reports_each_mistake_on_its_line() {
    let assert = bulk_reply()
        .args(["validate", "samples/invalid.csv"])
        .assert()
        .code(2);
    let out = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    for expected in [
        "12 rows, 7 errors, 3 warnings",
        "line 3: ticketId is empty",
        "line 4: ticketId \"12345\" is not a ticket id",
        "line 6: message is empty",
        "line 7: same ticketId and message as line 2",
        "line 11: this row has 4 fields, but the header has 3",
        "line 12: column \"customer\" contains byte 0xE9, which is not UTF-8",
        "line 13: the double quote (\") that opens a value here (column \"message\") closes on line 14",
        "line 5: ticketId \" tic_8fj2k1m9q0w3ex \" has spaces around it",
        "line 8: this ticket also gets a different message on line 2",
        "line 9: message has line breaks but no HTML tags",
        "Not valid",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
}

#[test]
fn an_excel_export_with_bom_semicolons_and_crlf_is_read() {
    let (code, report) = validate_json("excel_nl_semicolon.csv", &[]);
    assert_eq!(code, 0, "{report}");
    // The `;;` row at the end is an empty spreadsheet row, not data.
    assert_eq!(report["rows"], 3);
    assert_eq!(report["valid"], true);
}

#[test]
fn a_tsv_with_columns_in_another_order_is_read() {
    let (code, report) = validate_json("tab_separated.tsv", &[]);
    assert_eq!((code, report["rows"].as_u64()), (0, Some(2)), "{report}");
}

#[test]
fn a_wrong_delimiter_override_reports_the_missing_columns() {
    let (code, report) = validate_json("excel_nl_semicolon.csv", &["--delimiter", ","]);
    assert_eq!(code, 2);
    let (line, message) = &problems(&report, "errors")[0];
    assert_eq!(*line, Some(1));
    assert!(message.contains("separated by ','"), "{message}");
}

#[test]
fn a_missing_column_is_named_with_the_columns_found() {
    let (code, report) = validate_json("missing_column.csv", &[]);
    assert_eq!(code, 2);
    assert_eq!(
        problems(&report, "errors"),
        [(
            Some(1),
            "no ticketId column (columns found: \"ticket\", \"message\"); name the columns \
             ticketId and message (case, spaces, _ and - do not matter) (fields separated by \
             ','; --delimiter changes that)"
                .to_owned()
        )]
    );
}

#[test]
fn an_unclosed_quote_is_reported_where_it_opens_and_the_rest_is_still_read() {
    let (code, report) = validate_json("unclosed_quote.csv", &[]);
    assert_eq!(code, 2);
    let errors = problems(&report, "errors");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, Some(3));
    assert!(errors[0].1.contains("is never closed"), "{}", errors[0].1);
    // Rows 2, 3 (broken), 4 and 5: nothing swallowed.
    assert_eq!(report["rows"], 4);
}

#[test]
fn a_quote_closed_by_the_next_rows_quote_is_caught() {
    let (code, report) = validate_json("quote_closed_early.csv", &[]);
    assert_eq!(code, 2);
    let errors = problems(&report, "errors");
    assert_eq!(lines(&report, "errors"), [Some(4)], "{errors:?}");
    assert!(
        errors[0]
            .1
            .contains("closes on line 5, but is followed by '<'")
    );
    assert_eq!(report["rows"], 3);
}

#[test]
fn bytes_that_are_not_utf8_are_reported_on_their_physical_line() {
    let (code, report) = validate_json("windows1252.csv", &[]);
    assert_eq!(code, 2);
    let errors = problems(&report, "errors");
    assert_eq!(lines(&report, "errors"), [Some(4)]);
    assert!(errors[0].1.contains("Windows-1252"));
    assert!(errors[0].1.contains("--encoding windows-1252"));
    assert!(errors[0].1.contains("CSV UTF-8"));
}

#[test]
fn a_nul_byte_is_its_own_error() {
    let (code, report) = validate_json("nul_byte.csv", &[]);
    assert_eq!(code, 2);
    let errors = problems(&report, "errors");
    assert_eq!(lines(&report, "errors"), [Some(2)]);
    assert!(errors[0].1.contains("NUL byte"));
}

#[test]
fn a_utf16_file_with_a_byte_order_mark_is_read() {
    let (code, report) = validate_json("utf16.csv", &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["rows"], 1);
}

#[test]
fn a_windows_1252_file_is_read_with_its_encoding_named() {
    let (code, report) = validate_json("windows1252.csv", &["--encoding", "windows-1252"]);
    assert_eq!(code, 0, "{report}");
}

#[test]
fn a_wrong_number_of_fields_is_an_error_at_its_line() {
    let (code, report) = validate_json("field_count.csv", &[]);
    assert_eq!(code, 2);
    let errors = problems(&report, "errors");
    assert_eq!(lines(&report, "errors"), [Some(2), Some(3)]);
    assert!(errors[0].1.contains("4 fields, but the header has 3"));
    assert!(errors[0].1.contains("double quotes"));
    assert!(errors[1].1.contains("2 fields, but the header has 3"));
}

#[test]
fn an_empty_file_is_an_error_and_a_header_alone_a_warning() {
    let (code, report) = validate_json("empty.csv", &[]);
    assert_eq!(code, 2);
    assert_eq!(lines(&report, "errors"), [None]);
    assert!(
        problems(&report, "errors")[0]
            .1
            .contains("the file is empty")
    );

    let (code, report) = validate_json("header_only.csv", &[]);
    assert_eq!(code, 0);
    assert_eq!(report["rows"], 0);
    assert_eq!(lines(&report, "warnings"), [None]);
    assert!(problems(&report, "warnings")[0].1.contains("no rows"));
}

#[test]
fn every_content_rule_reports_its_line() {
    let (code, report) = validate_json("rules.csv", &["--max-message-bytes", "20"]);
    assert_eq!(code, 2);
    let errors = problems(&report, "errors");
    assert_eq!(
        lines(&report, "errors"),
        [Some(3), Some(4), Some(5), Some(7), Some(11)],
        "{errors:?}"
    );
    assert!(errors[0].1.contains("ticketId is empty"));
    assert!(errors[1].1.contains("\"TIC-12\" is not a ticket id"));
    assert!(errors[2].1.contains("message is empty"));
    assert!(errors[3].1.contains("same ticketId and message as line 2"));
    assert!(
        errors[4]
            .1
            .contains("22 bytes long, more than the limit of 20")
    );
    assert_eq!(
        lines(&report, "warnings"),
        [Some(6), Some(8), Some(9)],
        "{report}"
    );
    assert_eq!(report["rows"], 9);
    // 9 rows fit in one window of the default 60/min: they go at once.
    assert_eq!(report["estimatedSeconds"], 0.0);
}

#[test]
fn allow_duplicates_accepts_repeats() {
    let (_, report) = validate_json(
        "rules.csv",
        &["--allow-duplicates", "--max-message-bytes", "20"],
    );
    assert!(
        !problems(&report, "errors")
            .iter()
            .any(|(_, m)| m.contains("same ticketId"))
    );
}

#[test]
fn ndjson_is_read_with_blank_lines_and_crlf() {
    let (code, report) = validate_json("good.ndjson", &[]);
    assert_eq!((code, report["rows"].as_u64()), (0, Some(2)), "{report}");
}

#[test]
fn ndjson_mistakes_are_reported_per_line() {
    let (code, report) = validate_json("bad.jsonl", &[]);
    assert_eq!(code, 2);
    let errors = problems(&report, "errors");
    assert_eq!(
        lines(&report, "errors"),
        [Some(2), Some(4), Some(5), Some(6), Some(7)],
        "{errors:?}"
    );
    assert!(
        errors[0]
            .1
            .contains("ticketId must be a JSON string, but is a number")
    );
    assert!(errors[1].1.starts_with("not a valid JSON object"));
    assert!(errors[2].1.contains("found a JSON list"));
    assert!(errors[3].1.contains("no message field"));
    assert!(errors[4].1.contains("not UTF-8"));
}

#[test]
fn standard_input_is_sniffed_or_given_a_format() {
    let ndjson = std::fs::read("tests/fixtures/good.ndjson").unwrap();
    bulk_reply()
        .args(["validate", "-"])
        .write_stdin(ndjson.clone())
        .assert()
        .code(0)
        .stdout(predicate::str::starts_with(
            "standard input: 2 rows, 0 errors",
        ));
    bulk_reply()
        .args(["validate", "-", "--input-format", "csv"])
        .write_stdin(ndjson)
        .assert()
        .code(2)
        .stdout(predicate::str::contains("line 1: in the header"));
}

#[test]
fn rate_changes_the_estimate() {
    let (_, report) = validate_json("../../samples/notices.csv", &["--rate", "2/s"]);
    // 20 rows at 2 per second: 10 windows, the first at once.
    assert_eq!(report["estimatedSeconds"], 9.0);
    bulk_reply()
        .args(["validate", "samples/notices.csv", "--rate", "fast"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid rate"));
}

#[test]
fn an_unreadable_input_says_which_file_and_why() {
    bulk_reply()
        .args(["validate", "tests/fixtures/no-such-file.csv"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains(
            "tests/fixtures/no-such-file.csv: cannot open it: No such file or directory",
        ));
    bulk_reply()
        .args(["validate", "tests/fixtures"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("tests/fixtures: cannot read"));
}

#[test]
fn delimiter_with_ndjson_is_a_usage_error() {
    let (code, report) = validate_json("good.ndjson", &["--delimiter", ";"]);
    assert_eq!(code, 2);
    assert!(problems(&report, "errors")[0].1.contains("CSV input only"));
}

#[test]
fn help_shows_examples() {
    bulk_reply()
        .args(["validate", "--help"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("Examples:"))
        .stdout(predicate::str::contains("--allow-duplicates"));
}

/// `validate` on `bytes` saved as a file ending in `suffix`; the exit code, the JSON report
/// and the human one.
fn validate_bytes(suffix: &str, bytes: &[u8], extra: &[&str]) -> (i32, Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("input{suffix}"));
    std::fs::write(&path, bytes).unwrap();
    let run = |json: bool| {
        let mut command = bulk_reply();
        command.arg("validate").arg(&path).args(extra);
        if json {
            command.arg("--json");
        }
        command.current_dir(dir.path()).output().unwrap()
    };
    let json = run(true);
    let report = serde_json::from_slice(&json.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {:?}",
            String::from_utf8_lossy(&json.stdout)
        )
    });
    let human = String::from_utf8(run(false).stdout).unwrap();
    (json.status.code().unwrap(), report, human)
}

/// A template file beside the input, for the tests below.
fn with_template(text: &str) -> tempfile::NamedTempFile {
    let file = tempfile::Builder::new().suffix(".txt").tempfile().unwrap();
    std::fs::write(file.path(), text).unwrap();
    file
}

// Issue 17, each case from its quoted bytes.

#[test]
fn a_file_with_cr_line_ends_is_read_as_lines() {
    let bytes = b"ticketId,name\rtic_abc1,Jan\rtic_abc2,Piet\r";
    let template = with_template("Beste {{name}}");
    let (code, report, _) = validate_bytes(
        ".csv",
        bytes,
        &[
            "--template",
            template.path().to_str().unwrap(),
            "--preview",
            "2",
        ],
    );
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["rows"], 2);
    assert_eq!(report["preview"][1]["line"], 3);
    assert_eq!(report["preview"][1]["message"], "<p>Beste Piet</p>");
    // Without a template the header is read as two columns, not one named "name\rtic_abc1".
    let (_, report, _) = validate_bytes(".csv", bytes, &[]);
    let message = report["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("\"ticketId\", \"name\""), "{message}");
}

#[test]
fn a_placeholder_filled_by_two_columns_of_one_name_is_an_error() {
    let template = with_template("Beste {{naam}}");
    let (code, report, _) = validate_bytes(
        ".csv",
        b"ticketId,naam,Naam\ntic_a1,Ann,Bob\n",
        &["--template", template.path().to_str().unwrap()],
    );
    assert_eq!(code, 2);
    assert_eq!(report["errors"][0]["line"], 1);
    let message = report["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains(r#"{{naam}} matches 2 columns, "naam" and "Naam""#),
        "{message}"
    );
}

#[test]
fn ndjson_values_are_taken_as_json_parsers_and_the_file_has_them() {
    let template = with_template("{{v}} {{n}} {{z}}");
    let (code, report, _) = validate_bytes(
        ".ndjson",
        br#"{"ticketId":"tic_a1","v":"first","v":"second","n":123456789012345678901234,"z":-0,"big":1e400}"#,
        &["--template", template.path().to_str().unwrap()],
    );
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        report["preview"][0]["message"],
        "<p>second 123456789012345678901234 -0</p>"
    );
}

#[test]
fn a_space_before_a_quoted_message_does_not_post_the_quotes() {
    let (code, report, _) = validate_bytes(
        ".csv",
        b"ticketId,message\ntic_x1, \"<p>Hello</p>\"\ntic_x2, \"<p>Hello, world</p>\"\n",
        &["--preview", "2"],
    );
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["preview"][0]["message"], "<p>Hello</p>");
    assert_eq!(report["preview"][1]["message"], "<p>Hello, world</p>");
}

#[test]
fn an_excel_sep_line_and_a_double_bom_are_understood() {
    let (code, report, _) = validate_bytes(
        ".csv",
        b"\xEF\xBB\xBF\xEF\xBB\xBFsep=;\r\nticketId;message\r\ntic_a1;<p>a, b</p>\r\n",
        &[],
    );
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["preview"][0]["line"], 3);
    assert_eq!(report["preview"][0]["message"], "<p>a, b</p>");
    // A double mark before a header without the ticketId column: the name shows clean.
    let (_, report, _) = validate_bytes(".csv", b"\xEF\xBB\xBF\xEF\xBB\xBFticket,message\n", &[]);
    let message = report["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("found: \"ticket\", \"message\""),
        "{message}"
    );
}

#[test]
fn an_unusable_file_gets_no_sending_estimate_and_counts_read_right() {
    let (code, _, human) = validate_bytes(".csv", b"ticket,message\ntic_a1,x\n", &[]);
    assert_eq!(code, 2);
    assert!(!human.contains("Sending 0"), "{human}");
    let (_, report, _) = validate_bytes(".csv", b"ticketId,message,name\ntic_a1\n", &[]);
    let message = report["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("this row has 1 field, but"),
        "{message}"
    );
}
