//! Reading the API's answers: every POST answer is parsed twice as the client does it
//! (`api/client.rs::parse_ticket`: once as raw JSON kept for the results file, once into a
//! typed `Ticket`) and searched for the message just posted; a row in doubt reads the ticket
//! and counts the copies of its message among recent agent messages
//! (`api::count_delivered`, which compares the text as a reader sees it).
//!
//! `cargo bench --bench responses`

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use bulk_reply::api::{ServerClock, Ticket, count_delivered};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::value::RawValue;

/// A ticket as the sandbox (and the real API) returns it, with `messages` messages; ours last.
fn ticket_json(messages: usize) -> (Vec<u8>, String) {
    let ours = "<p>Beste klant, de storing is opgelost. Dear customer, the outage is resolved.</p>";
    let messages: Vec<_> = (0..messages)
        .map(|i| {
            let last = i + 1 == messages;
            serde_json::json!({
                "id": format!("tim_{i:014}"),
                "postedBy": if last || i % 2 == 1 { "Sandbox Agent" } else { "Customer" },
                "isPostedByCustomer": !last && i % 2 == 0,
                "message": if last { ours.to_string() } else { format!("<p>Earlier message {i} &amp; more</p>") },
                "postedAt": format!("2026-11-24T01:{:02}:26+00:00", i % 60),
                "attachments": [],
            })
        })
        .collect();
    let ticket = serde_json::json!({
        "id": "tic_abc12345def678", "customerId": "cst_abc12354678", "title": "Invoice issue",
        "source": "portal", "status": "open", "messages": messages,
        "createdAt": "2026-11-24T01:25:00+00:00",
    });
    (ticket.to_string().into_bytes(), ours.to_string())
}

/// The client's two-step parse: raw (kept verbatim for the results file), then typed.
fn parse(bytes: &[u8]) -> (Box<RawValue>, Ticket) {
    let raw: Box<RawValue> = serde_json::from_slice(bytes).expect("JSON");
    let ticket: Ticket = serde_json::from_str(raw.get()).expect("a ticket");
    (raw, ticket)
}

fn responses(c: &mut Criterion) {
    let mut group = c.benchmark_group("responses");
    group.throughput(Throughput::Elements(1));
    for messages in [1, 20] {
        let (bytes, ours) = ticket_json(messages);
        group.bench_function(format!("parse ticket, {messages} messages"), |b| {
            b.iter(|| black_box(parse(black_box(&bytes))))
        });
        let since = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        group.bench_function(
            format!("parse + count_delivered, {messages} messages"),
            |b| {
                b.iter(|| {
                    let (_, ticket) = parse(black_box(&bytes));
                    let clock = ServerClock::with_offset(time::Duration::ZERO);
                    let found = count_delivered(&ticket, &ours, since, clock);
                    assert_eq!(found.copies, 1);
                    black_box(found.newest.map(|m| m.id.clone()))
                })
            },
        );
    }
    let body = "<p>Beste klant, de storing is opgelost.</p>";
    group.bench_function("request body", |b| {
        b.iter(|| black_box(serde_json::json!({ "message": black_box(body) }).to_string()))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    // Short runs: the whole `cargo bench` should take minutes on a shared 2-core machine.
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    targets = responses
}
criterion_main!(benches);
