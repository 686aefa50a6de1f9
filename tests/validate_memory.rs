//! `validate` keeps memory flat: a generated input far larger than the memory bound must be
//! validated by a process whose peak resident size stays under it. (The only test in this
//! file, so the only child process whose peak `getrusage` can report.)

#[path = "it/support.rs"]
mod support;

use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::process::Command;
use support::children_peak_rss_bytes;

const ROWS: usize = 200_000;
/// The file is about 46 MB; reading it into memory, or keeping its rows, would exceed this.
const PEAK_LIMIT_BYTES: u64 = 40 * 1024 * 1024;

#[test]
fn a_large_input_validates_in_bounded_memory() {
    let file = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
    let mut out = BufWriter::new(file.as_file());
    writeln!(out, "ticketId,customer,message").unwrap();
    let mut message = String::new();
    for row in 0..ROWS {
        message.clear();
        write!(
            message,
            "<p>Beste klant {row},</p><p>Uw factuur {row} is gecorrigeerd; het nieuwe bedrag staat \
             in het portaal. Excuses voor het ongemak.</p><p>Met vriendelijke groet, Team \
             Support</p><p>Referentie {row:08}</p>"
        )
        .unwrap();
        writeln!(out, "tic_{row:012x},Klant {row},\"{message}\"").unwrap();
    }
    out.flush().unwrap();
    drop(out);
    let size = file.as_file().metadata().unwrap().len();
    assert!(size > PEAK_LIMIT_BYTES, "input only {size} bytes");

    let output = Command::new(assert_cmd::cargo::cargo_bin("bulk-reply"))
        .arg("validate")
        .arg(file.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains(&format!("{ROWS} rows, 0 errors, 0 warnings")),
        "{stdout}"
    );

    let peak = children_peak_rss_bytes();
    assert!(
        peak < PEAK_LIMIT_BYTES,
        "peak RSS {} MiB for a {} MB input",
        peak / (1024 * 1024),
        size / 1_000_000
    );
}
