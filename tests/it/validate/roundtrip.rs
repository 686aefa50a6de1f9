//! Property: whatever the `csv` crate's writer produces (comma, semicolon or tab, LF or CRLF,
//! any text including quotes, delimiters and line breaks), our reader reads back the same
//! rows, each with the physical line it starts on.

use std::io::Write;

use bulk_reply::input::{InputFormat, InputSource, Row, Rules, read_rows, validate};
use proptest::prelude::*;

/// Text that stresses the quoting rules, or any text at all. NUL is left out: the reader
/// rejects it on purpose.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z \",;\t\r\n<>é€]{0,12}",
        any::<String>().prop_map(|s| s.replace('\0', "")),
    ]
}

#[derive(Debug, Clone)]
struct Table {
    delimiter: u8,
    crlf: bool,
    /// Where `ticketId` and `message` go among the columns.
    extra_columns: usize,
    message_first: bool,
    rows: Vec<(String, String, Vec<String>)>,
}

fn table() -> impl Strategy<Value = Table> {
    (
        prop::sample::select(vec![b',', b';', b'\t']),
        any::<bool>(),
        0..3usize,
        any::<bool>(),
    )
        .prop_flat_map(|(delimiter, crlf, extra_columns, message_first)| {
            let row = (
                text(),
                text(),
                prop::collection::vec(text(), extra_columns..=extra_columns),
            );
            prop::collection::vec(row, 0..12).prop_map(move |rows| Table {
                delimiter,
                crlf,
                extra_columns,
                message_first,
                rows,
            })
        })
}

/// Writes the table with the csv crate; returns the bytes and the rows a reader must see.
fn write(table: &Table) -> (Vec<u8>, Vec<Row>) {
    let terminator = if table.crlf {
        csv::Terminator::CRLF
    } else {
        csv::Terminator::Any(b'\n')
    };
    let mut writer = csv::WriterBuilder::new()
        .delimiter(table.delimiter)
        .terminator(terminator)
        .from_writer(Vec::new());
    let extra_names: Vec<String> = (0..table.extra_columns)
        .map(|i| format!("extra {i}"))
        .collect();
    let ordered = |ticket: String, message: String, extra: Vec<String>| {
        let mut record = extra;
        if table.message_first {
            record.splice(0..0, [message, ticket]);
        } else {
            record.splice(0..0, [ticket, message]);
        }
        record
    };
    writer
        .write_record(ordered(
            "Ticket ID".into(),
            "message".into(),
            extra_names.clone(),
        ))
        .unwrap();
    let mut expected = Vec::new();
    for (ticket_id, message, extra) in &table.rows {
        writer.flush().unwrap();
        let line = 1 + writer.get_ref().iter().filter(|&&b| b == b'\n').count() as u64;
        writer
            .write_record(ordered(ticket_id.clone(), message.clone(), extra.clone()))
            .unwrap();
        // A row of nothing but blanks is an empty spreadsheet row: skipped, not data.
        let blank = [ticket_id, message]
            .into_iter()
            .chain(extra)
            .all(|field| field.bytes().all(|b| b.is_ascii_whitespace()));
        if !blank {
            expected.push(Row {
                line,
                ticket_id: ticket_id.trim().to_owned(),
                message: message.clone(),
                extra: extra_names.iter().cloned().zip(extra.clone()).collect(),
            });
        }
    }
    (writer.into_inner().unwrap(), expected)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn rows_written_by_the_csv_crate_read_back_identically(table in table()) {
        let (bytes, expected) = write(&table);
        let mut file = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
        file.write_all(&bytes).unwrap();
        let source = InputSource {
            path: Some(file.path().to_owned()),
            format: None,
            // Detection must find the delimiter on its own.
            delimiter: None,
            ..InputSource::default()
        };
        let rows: Result<Vec<Row>, _> = read_rows(&source).unwrap().collect();
        prop_assert_eq!(rows.unwrap(), expected);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever bytes arrive, as CSV or as NDJSON, validation answers with a report (or an
    /// error value), never a panic.
    #[test]
    fn any_bytes_are_reported_on_never_a_panic(
        header in prop::sample::select(vec!["ticketId,message\n", "ticketId;message\r\n", ""]),
        body in prop::collection::vec(
            prop::sample::select(b"tic_a1,;\t\"\r\n {}:x\0\xe9\xff".to_vec()),
            0..200,
        ),
        ndjson in any::<bool>(),
        encoding in prop::sample::select(vec![None, Some("utf-16le"), Some("windows-1252")]),
        cr_line_ends in any::<bool>(),
    ) {
        let mut bytes = header.as_bytes().to_vec();
        bytes.extend(&body);
        if cr_line_ends {
            bytes.retain(|&b| b != b'\n');
        }
        let mut file = tempfile::Builder::new().tempfile().unwrap();
        file.write_all(&bytes).unwrap();
        let source = InputSource {
            path: Some(file.path().to_owned()),
            format: Some(if ndjson { InputFormat::Ndjson } else { InputFormat::Csv }),
            delimiter: None,
            encoding: encoding.and_then(|label| encoding_rs::Encoding::for_label(label.as_bytes())),
            ..InputSource::default()
        };
        // Bytes invalid in the encoding stop the reading with an error value.
        let Ok(report) = validate(&source, &Rules::default()) else {
            prop_assume!(encoding.is_some());
            return Ok(());
        };
        // Every problem that has a line points inside the file.
        let lines = bytes.iter().filter(|&&b| b == b'\n' || b == b'\r').count() as u64 + 1;
        for problem in report.errors.iter().chain(&report.warnings) {
            prop_assert!(problem.line.is_none_or(|line| (1..=lines).contains(&line)), "{problem:?}");
        }
        if let Ok(rows) = read_rows(&source) {
            prop_assert_eq!(rows.count() as u64, report.rows);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A workbook that is not one (a cut or damaged file, random bytes behind a ZIP or OLE
    /// signature) is reported on, never a panic.
    #[test]
    fn any_bytes_as_a_workbook_are_reported_on_never_a_panic(
        signature in prop::sample::select(vec![&b"PK\x03\x04"[..], b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", b""]),
        body in prop::collection::vec(any::<u8>(), 0..2000),
        cut_real_workbook in any::<bool>(),
        extension in prop::sample::select(vec![".xlsx", ".xls", ".ods"]),
    ) {
        let bytes = if cut_real_workbook {
            // A real workbook, cut short or with its middle overwritten.
            let mut real = std::fs::read("tests/fixtures/workbooks/notice_list.xlsx").unwrap();
            let at = body.first().map_or(0, |&b| real.len() * usize::from(b) / 256);
            real.truncate(at.max(4) + body.len() / 2);
            real.extend(&body);
            real
        } else {
            let mut bytes = signature.to_vec();
            bytes.extend(&body);
            bytes
        };
        let mut file = tempfile::Builder::new().suffix(extension).tempfile().unwrap();
        file.write_all(&bytes).unwrap();
        let source = InputSource {
            path: Some(file.path().to_owned()),
            ..InputSource::default()
        };
        // A report, or an error value for a sheet that breaks off: never a panic.
        if let Ok(report) = validate(&source, &Rules::default()) {
            prop_assert!(report.rows <= 4, "{report:?}");
        }
    }
}
