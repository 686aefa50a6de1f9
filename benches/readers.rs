//! Reading and validating input: the work done once per row before anything is sent, and
//! again (validation plus reading) on every re-run of a job.
//!
//! `cargo bench --bench readers`. Each benchmark reads a real 20,000-row file from a temporary
//! directory; throughput is reported in rows per second.

use std::hint::black_box;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bulk_reply::input::{InputSource, Rules, read_rows, validate};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const ROWS: u64 = 20_000;

fn message(i: u64) -> String {
    format!(
        "<p>Beste klant, de storing van vanochtend is opgelost. Excuses voor het ongemak. \
         Dear customer, this morning's outage is resolved, ref {i}.</p>"
    )
}

fn write_csv(dir: &Path) -> PathBuf {
    let path = dir.join("rows.csv");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).expect("create csv"));
    writeln!(out, "ticketId,message,customer").expect("write csv");
    for i in 0..ROWS {
        // Quoted: the message holds a comma, as real notices do.
        writeln!(out, "tic_bench{i},\"{}\",Customer {i}", message(i)).expect("write csv");
    }
    out.flush().expect("flush csv");
    path
}

fn write_ndjson(dir: &Path) -> PathBuf {
    let path = dir.join("rows.ndjson");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).expect("create ndjson"));
    for i in 0..ROWS {
        let row = serde_json::json!({
            "ticketId": format!("tic_bench{i}"),
            "message": message(i),
            "customer": format!("Customer {i}"),
        });
        writeln!(out, "{row}").expect("write ndjson");
    }
    out.flush().expect("flush ndjson");
    path
}

fn source(path: &Path) -> InputSource {
    InputSource {
        path: Some(path.to_path_buf()),
        format: None,
        delimiter: None,
    }
}

/// Reads every row and checks none was refused, so a reader that silently stops early
/// cannot look fast.
fn read_all(path: &Path) -> u64 {
    let rows = read_rows(&source(path)).expect("open input");
    let mut count = 0;
    for row in rows {
        black_box(row.expect("every generated row is valid"));
        count += 1;
    }
    assert_eq!(count, ROWS);
    count
}

fn readers(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = write_csv(dir.path());
    let ndjson = write_ndjson(dir.path());

    let mut group = c.benchmark_group("input");
    group.throughput(Throughput::Elements(ROWS));
    group.bench_function("read_rows csv 20k", |b| b.iter(|| read_all(&csv)));
    group.bench_function("read_rows ndjson 20k", |b| b.iter(|| read_all(&ndjson)));
    for (name, path) in [("validate csv 20k", &csv), ("validate ndjson 20k", &ndjson)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let report = validate(&source(path), &Rules::default()).expect("readable");
                assert_eq!(report.rows, ROWS);
                assert!(report.is_valid());
                black_box(report)
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // Short runs: the whole `cargo bench` should take minutes on a shared 2-core machine.
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = readers
}
criterion_main!(benches);
