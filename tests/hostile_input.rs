//! Inputs made to break a reader: each ends with exit 2 and a clear message, in bounded
//! memory, never a panic or a hang. (The only test in this file, so the peak memory that
//! `getrusage` reports for child processes is this test's.)

#[path = "it/support.rs"]
mod support;

use std::io::Write;
use std::process::Command;
use std::time::Duration;
use support::children_peak_rss_bytes;

/// Far below what reading a 20 MB field or 200,000 column names into memory several times
/// over would take, far above what streaming needs.
const PEAK_LIMIT_BYTES: u64 = 96 * 1024 * 1024;

/// A tiny seeded generator: the same bytes on every run.
fn seeded_bytes(seed: u64, len: usize, alphabet: &[u8]) -> Vec<u8> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            alphabet[(state % alphabet.len() as u64) as usize]
        })
        .collect()
}

fn case(name: &str, bytes: Vec<u8>) -> (String, tempfile::NamedTempFile) {
    let ext = if name.ends_with("json") {
        ".ndjson"
    } else {
        ".csv"
    };
    let mut file = tempfile::Builder::new().suffix(ext).tempfile().unwrap();
    file.write_all(&bytes).unwrap();
    (name.to_string(), file)
}

#[test]
fn hostile_inputs_end_cleanly_with_exit_2() {
    let all_bytes: Vec<u8> = (0..=255).collect();
    let mut deep = br#"{"ticketId":"tic_1","message":"m","x":"#.to_vec();
    // Never closed: nesting alone is no error (an unused field is kept as written), but
    // reading 100,000 levels to find the end must not overflow the stack.
    deep.extend(std::iter::repeat_n(b'[', 100_000));
    deep.extend(b"}\n");
    let mut huge_field = b"ticketId,message\ntic_1,\"".to_vec();
    huge_field.extend(std::iter::repeat_n(b'x', 20 << 20));
    huge_field.extend(b"\"\n");
    let wide_header: String = (0..200_000)
        .map(|i| format!("column{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let cases = [
        case("random bytes", seeded_bytes(1, 1 << 20, &all_bytes)),
        case("a 20 MB field", huge_field),
        case("json nested 100,000 deep, unclosed", deep),
        case(
            "a header of 200,000 columns",
            format!("{wide_header}\ntic_1,hello\n").into_bytes(),
        ),
        case(
            "NUL bytes",
            b"ticketId,message\ntic_1,he\0llo\ntic_2,\0\0\0\n".to_vec(),
        ),
        case(
            "random delimiters and quotes",
            seeded_bytes(2, 200_000, b",;\t\"\n\r\"a"),
        ),
    ];
    for (name, file) in &cases {
        let started = std::time::Instant::now();
        let output = Command::new(assert_cmd::cargo::cargo_bin("bulk-reply"))
            .arg("validate")
            .arg(file.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{name}: {stdout}{stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("internal error"),
            "{name}: {stderr}"
        );
        assert!(stdout.contains("error"), "{name}: a clear error: {stdout}");
        assert!(
            stdout.len() + stderr.len() < 64 * 1024,
            "{name}: the report stays readable ({} bytes)",
            stdout.len()
        );
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{name}: no hang"
        );
    }
    let peak = children_peak_rss_bytes();
    assert!(peak < PEAK_LIMIT_BYTES, "peak RSS {} MiB", peak >> 20);
}
