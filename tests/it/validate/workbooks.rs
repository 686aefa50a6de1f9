//! Workbooks and text in other encodings, read as a new user would hand them over: the
//! notice list in `tests/fixtures/workbooks/` was saved by LibreOffice as `.ods` and `.xlsx`
//! (from `notice_list.csv`) and exported as "Unicode text"; the Windows-1252 and UTF-16
//! copies are the same CSV transcoded. All of them must give the same rows and the same
//! messages. Workbooks with more sheets and odd layouts are written here with
//! rust_xlsxwriter.

use crate::support;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use bulk_reply::rate::Rate;
use bulk_reply::sandbox::{SandboxConfig, Source, Status, TicketSeed, World};
use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Workbook};
use serde_json::Value;

const FIXTURES: &str = "tests/fixtures/workbooks";

fn bulk_reply() -> Command {
    let mut command = Command::cargo_bin("bulk-reply").expect("the binary is built");
    command.env("XDG_STATE_HOME", support::private_state_home());
    command
}

/// `validate --json` on `path`; the exit code and the report.
fn validate_json(path: &Path, extra: &[&str]) -> (i32, Value) {
    let output = bulk_reply()
        .arg("validate")
        .arg(path)
        .arg("--json")
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let report = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "{}: not JSON ({e}): {stdout:?} {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap(), report)
}

fn fixture(name: &str) -> PathBuf {
    Path::new(FIXTURES).join(name)
}

/// The template that uses every column of the notice list.
fn template_args() -> [String; 4] {
    [
        "--template".into(),
        fixture("notice.md").display().to_string(),
        "--preview".into(),
        "10".into(),
    ]
}

#[test]
fn every_export_of_the_notice_list_gives_the_same_rows_and_messages() {
    let args = template_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, expected) = validate_json(&fixture("notice_list.csv"), &args);
    assert_eq!(code, 0, "{expected}");
    assert_eq!(expected["rows"], 4);
    let first = &expected["preview"][0];
    assert_eq!(first["line"], 2);
    assert_eq!(
        first["message"],
        "<p>Beste Jan de Vries,</p>\n<p>Uw storing van 2024-03-05 om 14:30 is verholpen; we \
         schrijven 12.5 euro bij (Café Noord).</p>"
    );
    for (file, extra, sheet) in [
        ("notice_list.ods", None, Some("notice_list")),
        ("notice_list.xlsx", None, Some("notice_list")),
        (
            "notice_list.windows-1252.csv",
            Some(["--encoding", "windows-1252"]),
            None,
        ),
        ("notice_list.utf-16.csv", None, None),
    ] {
        let mut all = args.clone();
        all.extend(extra.iter().flatten());
        let (code, report) = validate_json(&fixture(file), &all);
        assert_eq!(code, 0, "{file}: {report}");
        assert_eq!(report["rows"], expected["rows"], "{file}");
        assert_eq!(report["warnings"], expected["warnings"], "{file}");
        assert_eq!(report["preview"], expected["preview"], "{file}");
        assert_eq!(report["sheet"].as_str(), sheet, "{file}");
    }
}

#[test]
fn libreoffice_unicode_text_is_read_as_it_is_exported() {
    // LibreOffice writes UTF-16 with a byte-order mark, tab-separated, and times as its
    // locale shows them ("02:30:00 PM"): the other columns are the list's own.
    let (code, report) = validate_json(
        &fixture("notice_list.libreoffice-unicode.txt"),
        &[
            "--template",
            &fixture("notice.md").display().to_string(),
            "--preview",
            "10",
        ],
    );
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["rows"], 4);
    let message = report["preview"][2]["message"].as_str().unwrap();
    assert!(message.starts_with("<p>Beste Zoë Jansen,</p>"), "{message}");
    assert!(message.contains("(Ëén regel)"), "{message}");
    assert_eq!(report["preview"][3]["line"], 6);
}

#[test]
fn problems_in_a_workbook_name_the_sheet_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notices.xlsx");
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet().set_name("Notices").unwrap();
    sheet.write_string(0, 0, "ticketId").unwrap();
    sheet.write_string(0, 1, "message").unwrap();
    sheet.write_string(1, 0, "tic_a1").unwrap();
    sheet.write_string(1, 1, "<p>Hello</p>").unwrap();
    // Row 12, as the spreadsheet shows it: an id that is not one.
    sheet.write_number(11, 0, 12345).unwrap();
    sheet.write_string(11, 1, "<p>Hi</p>").unwrap();
    workbook.save(&path).unwrap();

    let output = bulk_reply().arg("validate").arg(&path).output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("row 12 of sheet Notices: ticketId \"12345\" is not a ticket id"),
        "{stdout}"
    );
    let (_, report) = validate_json(&path, &[]);
    assert_eq!(report["errors"][0]["line"], 12);
    assert_eq!(report["sheet"], "Notices");
}

/// A workbook of two sheets: an overview first, the notices second, their table starting at
/// C3 with a date, a whole number, a text id that looks like a number and a formula.
fn two_sheet_workbook(dir: &Path) -> PathBuf {
    let path = dir.join("two sheets.xlsx");
    let mut workbook = Workbook::new();
    let overview = workbook.add_worksheet().set_name("Overview").unwrap();
    overview
        .write_string(0, 0, "Notices are on the next sheet")
        .unwrap();
    let notices = workbook.add_worksheet().set_name("Storing maart").unwrap();
    let date = Format::new().set_num_format("dd-mm-yyyy");
    for (column, name) in ["ticketId", "naam", "datum", "klantnummer", "bedrag"]
        .into_iter()
        .enumerate()
    {
        notices.write_string(2, 2 + column as u16, name).unwrap();
    }
    notices.write_string(3, 2, "tic_a1").unwrap();
    notices.write_string(3, 3, "Ann").unwrap();
    let day = ExcelDateTime::from_ymd(2024, 3, 5).unwrap();
    notices
        .write_datetime_with_format(3, 4, &day, &date)
        .unwrap();
    notices.write_string(3, 5, "00123").unwrap();
    notices
        .write_formula(3, 6, Formula::new("=1000+250").set_result("1250"))
        .unwrap();
    workbook.save(&path).unwrap();
    path
}

#[test]
fn a_named_sheet_is_read_with_values_as_the_user_sees_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = two_sheet_workbook(dir.path());
    let template = dir.path().join("t.txt");
    std::fs::write(&template, "{{naam}} {{datum}} {{klantnummer}} {{bedrag}}").unwrap();
    let (code, report) = validate_json(
        &path,
        &[
            "--sheet",
            "Storing maart",
            "--template",
            template.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["sheet"], "Storing maart");
    assert_eq!(report["preview"][0]["line"], 4);
    assert_eq!(
        report["preview"][0]["message"],
        "<p>Ann 2024-03-05 00123 1250</p>"
    );
}

#[test]
fn the_first_sheet_is_read_unless_told_and_a_wrong_name_lists_the_sheets() {
    let dir = tempfile::tempdir().unwrap();
    let path = two_sheet_workbook(dir.path());
    let (code, report) = validate_json(&path, &[]);
    assert_eq!(code, 2);
    let message = report["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("no ticketId and no message column"),
        "{message}"
    );
    assert_eq!(report["sheet"], "Overview");

    let (code, report) = validate_json(&path, &["--sheet", "Maart"]);
    assert_eq!(code, 2);
    let message = report["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains(r#"no sheet named "Maart" (sheets: "Overview", "Storing maart")"#),
        "{message}"
    );
}

#[test]
fn a_value_outside_the_named_columns_and_a_failed_formula_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odd.xlsx");
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet().set_name("Notices").unwrap();
    sheet.write_string(0, 0, "ticketId").unwrap();
    sheet.write_string(0, 1, "message").unwrap();
    sheet.write_string(1, 0, "tic_a1").unwrap();
    sheet.write_string(1, 1, "<p>Hello</p>").unwrap();
    sheet.write_string(1, 3, "stray note").unwrap();
    sheet.write_string(2, 0, "tic_b2").unwrap();
    sheet
        .write_formula(2, 1, Formula::new("=NA()").set_result("#N/A"))
        .unwrap();
    workbook.save(&path).unwrap();

    let (code, report) = validate_json(&path, &[]);
    assert_eq!(code, 2, "{report}");
    let errors: Vec<(u64, &str)> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["line"].as_u64().unwrap(), e["message"].as_str().unwrap()))
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0].0, 2);
    assert!(
        errors[0]
            .1
            .contains("cell D2 holds \"stray note\", outside the columns"),
        "{}",
        errors[0].1
    );
    assert_eq!(errors[1].0, 3);
    assert!(
        errors[1].1.contains("holds #N/A, the error of a formula"),
        "{}",
        errors[1].1
    );
}

#[test]
fn a_workbook_arrives_on_standard_input_too() {
    let bytes = std::fs::read(fixture("notice_list.xlsx")).unwrap();
    let template = fixture("notice.md");
    let output = bulk_reply()
        .args(["validate", "-", "--json", "--template"])
        .arg(&template)
        .write_stdin(bytes)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(0), "{report}");
    assert_eq!(report["rows"], 4);
}

#[test]
fn text_flags_on_a_workbook_and_sheet_on_text_are_refused() {
    let (code, report) = validate_json(&fixture("notice_list.ods"), &["--encoding", "latin1"]);
    assert_eq!(code, 2);
    assert!(
        report["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("--encoding applies to CSV and NDJSON input only")
    );
    let (code, report) = validate_json(&fixture("notice_list.csv"), &["--sheet", "x"]);
    assert_eq!(code, 2);
    assert!(
        report["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("--sheet applies to workbooks only")
    );
}

#[test]
fn a_file_that_only_claims_to_be_a_workbook_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.xlsx");
    std::fs::write(&path, "ticketId,message\ntic_a1,hello\n").unwrap();
    let (code, report) = validate_json(&path, &[]);
    assert_eq!(code, 2);
    let message = report["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("cannot read it as a workbook"),
        "{message}"
    );
}

#[test]
fn a_workbook_job_is_sent_and_its_failed_rows_come_back_as_csv() {
    let world = World::Fixed(vec![TicketSeed {
        id: "tic_open1".into(),
        status: Status::Open,
        source: Source::Portal,
        customer_id: None,
        title: "Storing".into(),
    }]);
    let sandbox = support::Sandbox::start(SandboxConfig {
        rate_limit: Rate::Unlimited,
        world,
        ..SandboxConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("notices.xlsx");
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet().set_name("Notices").unwrap();
    for (row, cells) in [
        ["ticketId", "naam", "message"],
        ["tic_open1", "Ann", "<p>Hello Ann</p>"],
        ["tic_missing1", "Bob", "<p>Hello Bob</p>"],
    ]
    .iter()
    .enumerate()
    {
        for (column, text) in cells.iter().enumerate() {
            sheet
                .write_string(row as u32, column as u16, *text)
                .unwrap();
        }
    }
    workbook.save(&input).unwrap();

    let output = sandbox
        .send(&input)
        .args(["--rate", "unlimited", "--yes"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("1 sent, 1 failed"), "{stderr}");
    assert!(stderr.contains("failed rows, as CSV"), "{stderr}");
    let failed = std::fs::read_to_string(support::with_suffix(&input, ".failed.csv")).unwrap();
    let mut lines = failed.lines();
    // The sheet's columns in the sheet's order, the row's number first.
    assert_eq!(lines.next(), Some("line,ticketId,naam,message,error"));
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("3,tic_missing1,Bob,<p>Hello Bob</p>,not_found: "),
        "{failed}"
    );
    let results = support::results(&support::with_suffix(&input, ".results.ndjson"));
    let missing = results
        .iter()
        .find(|r| r["ticketId"] == "tic_missing1")
        .unwrap();
    assert_eq!(missing["line"], 3, "the spreadsheet's row number");
}
