//! The journal: what a sent row costs on disk, and what a re-run costs to read it back.
//!
//! `cargo bench --bench journal`
//! - `append`: 2,048 rows through the real writer thread, as the pipeline drives it at
//!   `--rate unlimited`: intents in batches of 256, each batch made durable before its rows'
//!   outcomes are recorded (results record + journal line). With `fsync` every group is
//!   forced to disk (group commit); `no fsync` shows what durability itself costs.
//! - `resume`: opening a job whose journal records 100,000 delivered rows (lock, read,
//!   decode, build the row table), the first thing every re-run does.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use bulk_reply::delivery::{Delivery, Outcome, OutcomeResult};
use bulk_reply::journal::{Durability, JobFiles, OpenJob, RowKey, RowState, spawn_writer};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::value::RawValue;

const APPEND_ROWS: usize = 2_048;
const INTENT_BATCH: usize = 256;
const RESUME_ROWS: usize = 100_000;

fn files(dir: &Path) -> JobFiles {
    JobFiles {
        journal: dir.join("rows.csv.journal"),
        results: dir.join("rows.csv.results.ndjson"),
        failed: dir.join("rows.csv.failed.csv"),
        target: "https://api.example.test/v1".to_string(),
    }
}

fn delivery(i: usize) -> Delivery {
    let ticket_id = format!("tic_bench{i}");
    let message = format!("<p>Storing opgelost / outage resolved, ref {i}.</p>");
    Delivery {
        line: i as u64 + 2,
        key: RowKey::of(&ticket_id, &message),
        ticket_id,
        message,
        extra: Vec::new(),
        delivery_key: None,
        known_delivery: None,
        doubt: None,
    }
}

/// An outcome as a POST answer produces it: the whole ticket, about 400 bytes.
fn sent(job: Delivery) -> Outcome {
    let message_id = format!("tim_{:014}", job.line);
    let ticket = serde_json::json!({
        "id": job.ticket_id, "customerId": null, "title": "Ticket", "source": "portal",
        "status": "open", "createdAt": "2026-11-24T01:25:00+00:00",
        "messages": [{
            "id": message_id, "postedBy": "Sandbox Agent", "isPostedByCustomer": false,
            "message": job.message, "postedAt": "2026-11-24T01:25:26+00:00", "attachments": [],
        }],
    });
    let ticket = RawValue::from_string(ticket.to_string()).expect("a JSON value is raw JSON");
    Outcome {
        delivery: job,
        attempts: 1,
        result: OutcomeResult::Sent {
            http_status: 200,
            message_id,
            ticket,
            copies: None,
        },
    }
}

/// Sends `rows` rows through a fresh writer the way the pipeline does, and waits until
/// every outcome is durable. Returns how many were counted durable.
fn append(
    runtime: &tokio::runtime::Runtime,
    dir: &Path,
    rows: usize,
    durability: Durability,
) -> u64 {
    let open = OpenJob::open(&files(dir)).expect("open job");
    let durable = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = durable.clone();
    let (journal, writer) = spawn_writer(open, None, durability, move |_| {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    });
    runtime.block_on(async {
        let mut next = 0;
        while next < rows {
            let batch: Vec<Delivery> = (next..rows.min(next + INTENT_BATCH))
                .map(delivery)
                .collect();
            next += batch.len();
            let keys = batch.iter().map(|job| job.key).collect();
            let pending = journal.intents(keys).await.expect("writer running");
            pending.durable().await.expect("intents durable");
            for job in batch {
                journal.record(sent(job)).await.expect("writer running");
            }
        }
    });
    drop(journal);
    writer
        .join()
        .expect("writer thread")
        .expect("writer finished");
    durable.load(std::sync::atomic::Ordering::Relaxed)
}

fn journal(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    let mut group = c.benchmark_group("journal");
    group.throughput(Throughput::Elements(APPEND_ROWS as u64));
    for (name, durability) in [
        ("append 2048 rows, fsync", Durability::Fsync),
        ("append 2048 rows, no fsync", Durability::Unsafe),
    ] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || tempfile::tempdir().expect("temp dir"),
                |dir| {
                    assert_eq!(
                        append(&runtime, dir.path(), APPEND_ROWS, durability),
                        APPEND_ROWS as u64
                    )
                },
                BatchSize::PerIteration,
            )
        });
    }

    // A finished 100,000-row job, written by the writer itself so the format is the real one.
    let finished = tempfile::tempdir().expect("temp dir");
    append(&runtime, finished.path(), RESUME_ROWS, Durability::Unsafe);
    let probe = delivery(RESUME_ROWS / 2).key;
    group.throughput(Throughput::Elements(RESUME_ROWS as u64));
    group.bench_function("resume 100k delivered rows", |b| {
        b.iter(|| {
            let open = OpenJob::open(&files(finished.path())).expect("reopen job");
            assert_eq!(open.resume.get(&probe), Some(RowState::Settled));
            black_box(open)
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    // Short runs: the whole `cargo bench` should take minutes on a shared 2-core machine.
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    targets = journal
}
criterion_main!(benches);
