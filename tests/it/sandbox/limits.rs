//! The sandbox's rate limit and its faults on purpose, over real HTTP.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bulk_reply::rate::Rate;
use bulk_reply::sandbox::{self, Faults, RunningSandbox, SandboxConfig};
use reqwest::{Client, Response, StatusCode};
use serde_json::json;

const TOKEN: &str = "sandbox-token";

async fn start(config: SandboxConfig) -> RunningSandbox {
    sandbox::start(config).await.expect("sandbox starts")
}

fn rate(text: &str) -> Rate {
    text.parse().expect("a valid rate")
}

fn faults(seed: u64, fail: f64, drop: f64, garbage: f64) -> Faults {
    Faults {
        seed,
        fail_rate: fail,
        drop_rate: drop,
        garbage_rate: garbage,
        ..Faults::none()
    }
}

async fn try_post(
    client: &Client,
    sandbox: &RunningSandbox,
    ticket: &str,
    text: &str,
) -> reqwest::Result<Response> {
    client
        .post(format!("{}/tickets/{ticket}", sandbox.base_url()))
        .bearer_auth(TOKEN)
        .json(&json!({ "message": text }))
        .send()
        .await
}

async fn post(client: &Client, sandbox: &RunningSandbox, ticket: &str, text: &str) -> Response {
    try_post(client, sandbox, ticket, text)
        .await
        .expect("the sandbox answers")
}

fn header<'a>(response: &'a Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .expect("an ASCII header")
}

fn number(response: &Response, name: &str) -> u64 {
    header(response, name).parse().expect("a whole number")
}

#[tokio::test]
async fn over_the_limit_answers_the_exact_429_and_changes_nothing() {
    let sandbox = start(SandboxConfig {
        rate_limit: rate("3/min"),
        ..SandboxConfig::default()
    })
    .await;
    let client = Client::new();
    for remaining in [2, 1, 0] {
        let response = post(&client, &sandbox, "tic_a", "Hi").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(number(&response, "X-RateLimit-Limit"), 3);
        assert_eq!(number(&response, "X-RateLimit-Remaining"), remaining);
        assert!(response.headers().get("retry-after").is_none());
    }
    let refused = post(&client, &sandbox, "tic_a", "Hi").await;
    let now_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(number(&refused, "x-ratelimit-limit"), 3);
    assert_eq!(number(&refused, "x-ratelimit-remaining"), 0);
    let retry_after = number(&refused, "retry-after");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let reset = number(&refused, "x-ratelimit-reset");
    assert!(
        reset.abs_diff(now_unix + retry_after) <= 2,
        "reset {reset} should be about now {now_unix} + {retry_after}"
    );
    assert_eq!(header(&refused, "content-type"), "application/json");
    assert_eq!(
        refused.text().await.expect("a body"),
        r#"{"code":429,"message":"Too many requests."}"#
    );
    // GETs share the budget.
    let get = client
        .get(format!("{}/tickets/tic_a", sandbox.base_url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("an answer");
    assert_eq!(get.status(), StatusCode::TOO_MANY_REQUESTS);

    assert_eq!(sandbox.messages().len(), 3, "a 429'd POST appends nothing");
    let report = sandbox.report();
    assert_eq!(report.status_counts["200"], 3);
    assert_eq!(report.status_counts["429"], 2);
    assert_eq!(
        report.peak_requests_per_window, 5,
        "429'd requests count in the peak"
    );
    sandbox.shutdown().await;
}

/// Waits until `deadline`: the rules under test are about time passing, measured by the
/// sandbox on the real clock (`std::time::Instant`), so this chooses a moment in real time.
/// Used only where the moment is the point; waiting for something to happen is a poll.
async fn wait_until(deadline: Instant) {
    tokio::time::sleep(deadline.saturating_duration_since(Instant::now())).await;
}

/// Posts `text` to `tic_a` again and again until the sandbox accepts it (a refusal changes
/// nothing), failing at `deadline`: accepted the moment a slot frees up, to the few
/// milliseconds a request takes. Returns when it was accepted.
async fn post_once_a_slot_frees(
    client: &Client,
    sandbox: &RunningSandbox,
    text: &str,
    deadline: Instant,
) -> Instant {
    loop {
        let status = post(client, sandbox, "tic_a", text).await.status();
        if status == StatusCode::OK {
            return Instant::now();
        }
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{text}");
        assert!(
            Instant::now() < deadline,
            "{text}: no slot freed up in time"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn the_window_rolls_one_request_at_a_time() {
    // 3 per second. Two requests at once, a third half a window later. When the first two
    // leave the window, exactly two slots free up, not three: the third is still inside.
    let window = Duration::from_secs(1);
    let sandbox = start(SandboxConfig {
        rate_limit: rate("3/1s"),
        ..SandboxConfig::default()
    })
    .await;
    let client = Client::new();
    let status = |response: Response| response.status().as_u16();

    let first_sent = Instant::now();
    assert_eq!(status(post(&client, &sandbox, "tic_a", "1").await), 200);
    assert_eq!(status(post(&client, &sandbox, "tic_a", "2").await), 200);
    let first_two_done = Instant::now();
    // The moment is the point here: the third must arrive well after the first two.
    wait_until(first_two_done + window / 2).await;
    assert_eq!(status(post(&client, &sandbox, "tic_a", "3").await), 200);
    assert_eq!(
        status(post(&client, &sandbox, "tic_a", "refused").await),
        429
    );

    // Polled, not waited for: the first two leave the window a second after they arrived.
    // Not before (they arrived after `first_sent`), and not much later (a quarter window of
    // slack for a busy machine); the third, half a window younger, is still inside.
    let deadline = first_two_done + window + window / 4;
    let fourth = post_once_a_slot_frees(&client, &sandbox, "4", deadline).await;
    assert!(
        fourth >= first_sent + window,
        "a slot freed up {:?} after the first request, before the window had passed",
        fourth - first_sent
    );
    post_once_a_slot_frees(&client, &sandbox, "5", deadline).await;
    assert_eq!(
        status(post(&client, &sandbox, "tic_a", "refused").await),
        429
    );

    let texts: Vec<String> = sandbox.messages().into_iter().map(|m| m.message).collect();
    assert_eq!(texts, ["1", "2", "3", "4", "5"]);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn without_a_limit_there_are_no_limit_headers_and_the_peak_uses_one_second() {
    let sandbox = start(SandboxConfig {
        rate_limit: Rate::Unlimited,
        ..SandboxConfig::default()
    })
    .await;
    let client = Client::new();
    let window = Duration::from_secs(1);
    // 25 requests spread over half a second, then, once they have all left a one-second
    // window, 10 at once: a peak of 25 (neither 35 nor 10) shows the window is one second.
    // When each request was sent and answered brackets when the sandbox counted it, which
    // bounds the peak however slow the machine.
    let mut sent_and_done: Vec<(Instant, Instant)> = Vec::new();
    let spread_start = Instant::now();
    for n in 0..25 {
        // The moments are the point: one request every fiftieth of the window.
        wait_until(spread_start + window / 50 * n).await;
        let sent = Instant::now();
        let response = post(&client, &sandbox, "tic_a", &format!("spread {n}")).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().get("x-ratelimit-limit").is_none());
        sent_and_done.push((sent, Instant::now()));
    }
    // Past the window of every request so far.
    wait_until(sent_and_done[24].1 + window).await;
    for n in 0..10 {
        let sent = Instant::now();
        let response = post(&client, &sandbox, "tic_a", &format!("burst {n}")).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().get("x-ratelimit-limit").is_none());
        sent_and_done.push((sent, Instant::now()));
    }
    // The sandbox counts request i inside the window of request j (i before j) when j
    // arrived less than a second after i. Surely so when j was answered less than a second
    // after i was sent; surely not unless j was sent less than a second after i was answered.
    let most_within = |inside: &dyn Fn(usize, usize) -> bool| {
        (0..sent_and_done.len())
            .map(|j| (0..=j).filter(|&i| inside(i, j)).count() as u64)
            .max()
            .expect("requests were made")
    };
    let at_least = most_within(&|i, j| sent_and_done[j].1 - sent_and_done[i].0 < window);
    let at_most = most_within(&|i, j| {
        sent_and_done[j]
            .0
            .saturating_duration_since(sent_and_done[i].1)
            < window
    });
    let peak = sandbox.report().peak_requests_per_window;
    assert!(
        (at_least..=at_most).contains(&peak),
        "peak {peak}, but one second holds between {at_least} and {at_most} of these requests"
    );
    assert!(at_most < 35, "the two groups were a window apart");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn fail_rate_answers_5xx_and_appends_nothing() {
    let sandbox = start(SandboxConfig {
        faults: faults(7, 1.0, 0.0, 0.0),
        ..SandboxConfig::default()
    })
    .await;
    let client = Client::new();
    for n in 0..20 {
        let response = post(&client, &sandbox, &format!("tic_{n}"), "Hi").await;
        assert!(
            [500, 502, 503].contains(&response.status().as_u16()),
            "{}",
            response.status()
        );
        let body: serde_json::Value = response.json().await.expect("a JSON error");
        assert!(body["code"].is_u64());
    }
    assert!(sandbox.messages().is_empty());
    assert_eq!(sandbox.report().messages_appended, 0);
    sandbox.shutdown().await;
}

/// Posts each (ticket, message) once, in the given order, and returns the statuses by ticket.
async fn outcomes(seed: u64, order: impl Iterator<Item = u32>) -> Vec<(u32, u16)> {
    let sandbox = start(SandboxConfig {
        rate_limit: Rate::Unlimited,
        faults: faults(seed, 0.3, 0.0, 0.3),
        ..SandboxConfig::default()
    })
    .await;
    let client = Client::new();
    let mut seen = Vec::new();
    for n in order {
        let response = post(&client, &sandbox, &format!("tic_{n}"), "Notice").await;
        let status = response.status().as_u16();
        let body = response.bytes().await.expect("a body");
        // Garbage answers are 200s whose body is not JSON: tell them apart.
        let kind = match (status, serde_json::from_slice::<serde_json::Value>(&body)) {
            (200, Err(_)) => 1,
            (status, _) => status,
        };
        seen.push((n, kind));
    }
    sandbox.shutdown().await;
    seen.sort_unstable();
    seen
}

#[tokio::test]
async fn the_same_seed_meets_the_same_faults_in_any_order() {
    let forward = outcomes(11, 0..60).await;
    let backward = outcomes(11, (0..60).rev()).await;
    assert_eq!(forward, backward);
    let other_seed = outcomes(12, 0..60).await;
    assert_ne!(forward, other_seed);
    let kinds: Vec<u16> = forward.iter().map(|&(_, kind)| kind).collect();
    assert!(kinds.contains(&200) && kinds.contains(&1), "{kinds:?}");
    assert!(
        kinds.iter().any(|k| [500, 502, 503].contains(k)),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn a_retry_is_a_fresh_draw() {
    let sandbox = start(SandboxConfig {
        rate_limit: Rate::Unlimited,
        faults: faults(3, 0.5, 0.0, 0.0),
        ..SandboxConfig::default()
    })
    .await;
    let client = Client::new();
    let mut statuses = Vec::new();
    for _ in 0..30 {
        statuses.push(
            post(&client, &sandbox, "tic_retry", "Same text")
                .await
                .status()
                .as_u16(),
        );
    }
    assert!(statuses.contains(&200), "{statuses:?}");
    assert!(statuses.iter().any(|s| *s >= 500), "{statuses:?}");
    let ok = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(sandbox.messages().len(), ok);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn drop_rate_appends_then_hangs_up_without_an_answer() {
    let sandbox = start(SandboxConfig {
        faults: faults(1, 0.0, 1.0, 0.0),
        ..SandboxConfig::default()
    })
    .await;
    let client = Client::new();
    let error = try_post(&client, &sandbox, "tic_dropped", "Did this arrive?")
        .await
        .expect_err("no answer comes back");
    assert!(
        error.is_request() || error.is_connect() || error.is_body(),
        "{error:?}"
    );

    let appended = sandbox.messages();
    assert_eq!(
        appended.len(),
        1,
        "the message was appended before the hang-up"
    );
    assert_eq!(appended[0].ticket_id, "tic_dropped");
    assert_eq!(appended[0].message, "Did this arrive?");
    // The way a careful client settles the doubt: read the ticket.
    let ticket: serde_json::Value = client
        .get(format!("{}/tickets/tic_dropped", sandbox.base_url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("GETs are never dropped")
        .json()
        .await
        .expect("a ticket");
    assert_eq!(ticket["messages"][0]["message"], "Did this arrive?");
    let report = sandbox.report();
    assert_eq!(report.dropped, 1);
    assert_eq!(
        report.status_counts.get("200"),
        Some(&1),
        "only the GET was answered"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn garbage_rate_answers_200_with_a_body_that_is_not_json() {
    let sandbox = start(SandboxConfig {
        faults: faults(1, 0.0, 0.0, 1.0),
        ..SandboxConfig::default()
    })
    .await;
    let client = Client::new();
    let response = post(&client, &sandbox, "tic_garbled", "Hi").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.bytes().await.expect("a body");
    assert!(!body.is_empty());
    assert!(serde_json::from_slice::<serde_json::Value>(&body).is_err());
    assert_eq!(sandbox.messages().len(), 1, "the message was appended");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn latency_delays_every_answer() {
    let latency = Duration::from_millis(150);
    let sandbox = start(SandboxConfig {
        faults: Faults {
            latency,
            ..Faults::none()
        },
        ..SandboxConfig::default()
    })
    .await;
    let client = Client::new();
    let started = Instant::now();
    assert_eq!(
        post(&client, &sandbox, "tic_slow", "Hi").await.status(),
        200
    );
    assert!(started.elapsed() >= latency, "{:?}", started.elapsed());
    sandbox.shutdown().await;
}

#[tokio::test]
async fn fault_rates_outside_zero_to_one_are_refused_at_start() {
    let error = sandbox::start(SandboxConfig {
        faults: faults(1, 0.7, 0.7, 0.0),
        ..SandboxConfig::default()
    })
    .await
    .err()
    .expect("refused");
    assert!(error.to_string().contains("at most 1"), "{error}");
}
