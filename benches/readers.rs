//! Reader throughput: `read_rows` over CSV and NDJSON, a full `validate` pass, and a bare
//! `csv` crate `ByteRecord` pass over the same CSV for reference. Run with
//! `cargo bench --bench readers`; figures in MB/s (rows per second = MB/s ÷ the row size
//! printed at the start).

use std::fmt::Write as _;
use std::hint::black_box;
use std::io::Write;
use std::path::Path;

use bulk_reply::input::{InputSource, Rules, read_rows, validate};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const ROWS: usize = 50_000;

/// A mass notice with a name per row; one message in a hundred spans two lines.
fn write_inputs(dir: &Path) -> (u64, u64) {
    let mut csv = String::from("ticketId,customer,message\n");
    let mut ndjson = String::new();
    for row in 0..ROWS {
        let ticket_id = format!("tic_{row:016x}");
        let message = if row % 100 == 0 {
            format!("<p>Beste klant {row},</p>\n<p>Storing opgelost, excuses.</p>")
        } else {
            format!("<p>Beste klant {row}, de storing van 2 december is opgelost.</p>")
        };
        writeln!(csv, "{ticket_id},Klant {row},\"{message}\"").unwrap();
        let object = serde_json::json!({"ticketId": ticket_id, "customer": format!("Klant {row}"), "message": message});
        writeln!(ndjson, "{object}").unwrap();
    }
    std::fs::File::create(dir.join("rows.csv"))
        .and_then(|mut f| f.write_all(csv.as_bytes()))
        .unwrap();
    std::fs::File::create(dir.join("rows.ndjson"))
        .and_then(|mut f| f.write_all(ndjson.as_bytes()))
        .unwrap();
    (csv.len() as u64, ndjson.len() as u64)
}

fn source(path: &Path) -> InputSource {
    InputSource {
        path: Some(path.to_owned()),
        format: None,
        delimiter: None,
        ..InputSource::default()
    }
}

fn readers(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (csv_bytes, ndjson_bytes) = write_inputs(dir.path());
    let csv_path = dir.path().join("rows.csv");
    let ndjson_path = dir.path().join("rows.ndjson");
    println!(
        "{ROWS} rows: CSV {} bytes/row, NDJSON {} bytes/row",
        csv_bytes / ROWS as u64,
        ndjson_bytes / ROWS as u64
    );

    let mut group = c.benchmark_group("readers");
    group.sample_size(20);
    group.throughput(Throughput::Bytes(csv_bytes));
    group.bench_function("read_rows csv", |b| {
        b.iter(|| {
            let rows = read_rows(&source(&csv_path)).unwrap();
            black_box(rows.filter(Result::is_ok).count())
        })
    });
    group.bench_function("validate csv", |b| {
        b.iter(|| black_box(validate(&source(&csv_path), &Rules::default()).unwrap()))
    });
    group.bench_function("csv crate ByteRecord pass (reference)", |b| {
        b.iter(|| {
            let mut reader = csv::Reader::from_path(&csv_path).unwrap();
            let mut record = csv::ByteRecord::new();
            let mut rows = 0;
            while reader.read_byte_record(&mut record).unwrap() {
                rows += 1;
            }
            black_box(rows)
        })
    });
    group.throughput(Throughput::Bytes(ndjson_bytes));
    group.bench_function("read_rows ndjson", |b| {
        b.iter(|| {
            let rows = read_rows(&source(&ndjson_path)).unwrap();
            black_box(rows.filter(Result::is_ok).count())
        })
    });
    group.bench_function("validate ndjson", |b| {
        b.iter(|| black_box(validate(&source(&ndjson_path), &Rules::default()).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, readers);
criterion_main!(benches);
