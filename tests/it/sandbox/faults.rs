//! What real deployments do, over real HTTP: stored HTML rewritten by a sanitiser, a server
//! clock off the client's, reads lagging writes, POSTs stored after the client gave up, and
//! gateway timeouts whose message was stored. The sandbox runs in-process on a free port.

use std::time::{Duration, Instant};

use bulk_reply::sandbox::{self, RunningSandbox, SandboxConfig, Source, Status, TicketSeed, World};
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const TOKEN: &str = "sandbox-token";

async fn start(config: SandboxConfig) -> RunningSandbox {
    sandbox::start(config).await.expect("sandbox starts")
}

async fn post(sandbox: &RunningSandbox, ticket: &str, message: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/tickets/{ticket}", sandbox.base_url()))
        .bearer_auth(TOKEN)
        .json(&json!({ "message": message }))
        .send()
        .await
        .expect("the sandbox answers")
}

async fn get(sandbox: &RunningSandbox, ticket: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{}/tickets/{ticket}", sandbox.base_url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("the sandbox answers")
}

async fn json_of(response: reqwest::Response) -> Value {
    let text = response.text().await.expect("a body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

async fn inspect(sandbox: &RunningSandbox, view: &str) -> Value {
    json_of(
        reqwest::Client::new()
            .get(format!("{}/__sandbox/{view}", sandbox.origin()))
            .send()
            .await
            .expect("an answer"),
    )
    .await
}

fn closed_ticket(id: &str) -> World {
    World::Fixed(vec![TicketSeed {
        id: id.to_owned(),
        status: Status::Closed,
        source: Source::Email,
        customer_id: None,
        title: "Delivery late".to_owned(),
    }])
}

/// How far `date` is from real time now.
fn off_now(date: OffsetDateTime) -> time::Duration {
    date - OffsetDateTime::now_utc()
}

fn atom(value: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(value.as_str().expect("a date string"), &Rfc3339).expect("ATOM")
}

/// The one `Date` header of an answer, as a time.
fn date_header(response: &reqwest::Response) -> OffsetDateTime {
    let dates: Vec<_> = response.headers().get_all("date").iter().collect();
    assert_eq!(dates.len(), 1, "exactly one Date header: {dates:?}");
    let text = dates[0].to_str().expect("ASCII");
    OffsetDateTime::from(httpdate::parse_http_date(text).expect("an IMF-fixdate"))
}

fn about(expected: time::Duration, actual: time::Duration) {
    let slack = time::Duration::seconds(3);
    assert!(
        (expected - slack..=expected + slack).contains(&actual),
        "expected about {expected}, got {actual}"
    );
}

#[tokio::test]
async fn a_rewritten_message_shows_in_the_post_answer_every_read_and_the_messages_view() {
    let sandbox = start(SandboxConfig {
        rewrite: "entities,void-tags,strong,wrap".parse().expect("modes"),
        ..SandboxConfig::default()
    })
    .await;
    let posted = "Café — open<br><b>again</b>";
    let stored = "<p>Caf&eacute; &mdash; open<br /><strong>again</strong></p>";

    let answer = json_of(post(&sandbox, "tic_rw1", posted).await).await;
    assert_eq!(answer["messages"][0]["message"], stored);
    let read = json_of(get(&sandbox, "tic_rw1").await).await;
    assert_eq!(read["messages"][0]["message"], stored);

    let messages = inspect(&sandbox, "messages").await;
    assert_eq!(messages[0]["posted"], posted);
    assert_eq!(messages[0]["message"], stored);
    assert!(messages[0]["storedAtMs"].as_u64().is_some_and(|ms| ms > 0));

    // The same text again is a duplicate by what was posted, whatever was stored.
    assert_eq!(
        post(&sandbox, "tic_rw1", posted).await.status(),
        StatusCode::OK
    );
    let report = inspect(&sandbox, "report").await;
    assert_eq!(report["duplicateMessages"], 1);
    assert_eq!(report["messagesRewritten"], 2);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn clock_skew_moves_posted_at_created_at_and_the_date_of_every_answer() {
    let skew = time::Duration::minutes(-5);
    let sandbox = start(SandboxConfig {
        clock_skew: skew,
        ..SandboxConfig::default()
    })
    .await;
    let answer = post(&sandbox, "tic_skew1", "<p>What time is it?</p>").await;
    about(skew, off_now(date_header(&answer)));
    let ticket = json_of(answer).await;
    about(skew, off_now(atom(&ticket["messages"][0]["postedAt"])));
    about(skew, off_now(atom(&ticket["createdAt"])));
    let messages = inspect(&sandbox, "messages").await;
    about(skew, off_now(atom(&messages[0]["postedAt"])));

    // Every answer, not only the API's successes: reads, refusals, inspection views.
    let client = reqwest::Client::new();
    let origin = sandbox.origin().to_owned();
    let base = sandbox.base_url().to_owned();
    for response in [
        get(&sandbox, "tic_skew1").await,
        client
            .get(format!("{base}/tickets/tic_skew1"))
            .send()
            .await
            .expect("401"),
        get(&sandbox, "nope").await,
        client
            .get(format!("{origin}/__sandbox/report"))
            .send()
            .await
            .expect("report"),
    ] {
        about(skew, off_now(date_header(&response)));
    }
    sandbox.shutdown().await;

    // Ahead works as well as behind, and without skew hyper's own Date stays.
    let ahead = start(SandboxConfig {
        clock_skew: time::Duration::seconds(90),
        ..SandboxConfig::default()
    })
    .await;
    about(
        time::Duration::seconds(90),
        off_now(date_header(&get(&ahead, "tic_skew2").await)),
    );
    ahead.shutdown().await;
    let unskewed = start(SandboxConfig::default()).await;
    about(
        time::Duration::ZERO,
        off_now(date_header(&get(&unskewed, "tic_skew3").await)),
    );
    unskewed.shutdown().await;
}

#[tokio::test]
async fn a_lagging_read_hides_a_fresh_message_and_shows_it_once_the_lag_has_passed() {
    let lag = Duration::from_millis(300);
    let sandbox = start(SandboxConfig {
        world: closed_ticket("tic_lag1"),
        read_lag: lag,
        ..SandboxConfig::default()
    })
    .await;
    let posted = Instant::now();
    let answer = json_of(post(&sandbox, "tic_lag1", "<p>Fixed</p>").await).await;
    assert_eq!(
        answer["messages"][0]["message"], "<p>Fixed</p>",
        "the primary's answer"
    );
    assert_eq!(answer["status"], "open");

    let stale = json_of(get(&sandbox, "tic_lag1").await).await;
    if posted.elapsed() < lag {
        assert_eq!(stale["messages"], json!([]), "not yet on the replica");
        assert_eq!(stale["status"], "closed", "nor the reopening");
        assert_eq!(inspect(&sandbox, "report").await["staleReads"], 1);
    }
    let shown = loop {
        let read = json_of(get(&sandbox, "tic_lag1").await).await;
        if read["messages"].as_array().is_some_and(|m| m.len() == 1) {
            break read;
        }
        assert!(posted.elapsed() < lag * 10, "never shown: {read}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        posted.elapsed() >= lag,
        "shown after {:?}",
        posted.elapsed()
    );
    assert_eq!(shown["status"], "open");
    assert_eq!(shown["messages"][0]["message"], "<p>Fixed</p>");
    sandbox.shutdown().await;
}

fn late_by(delay: Duration) -> sandbox::Faults {
    sandbox::Faults {
        seed: 5,
        late_rate: 1.0,
        late_by: delay,
        ..sandbox::Faults::none()
    }
}

#[tokio::test]
async fn a_late_post_whose_client_gave_up_is_stored_all_the_same() {
    let delay = Duration::from_millis(400);
    let sandbox = start(SandboxConfig {
        faults: late_by(delay),
        ..SandboxConfig::default()
    })
    .await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .expect("a client");
    let sent = Instant::now();
    let gave_up = impatient
        .post(format!("{}/tickets/tic_late1", sandbox.base_url()))
        .bearer_auth(TOKEN)
        .json(&json!({"message": "<p>Are you still there?</p>"}))
        .send()
        .await
        .expect_err("the client times out first");
    assert!(gave_up.is_timeout(), "{gave_up}");
    assert!(sandbox.messages().is_empty(), "not stored yet");

    while sandbox.report().late_stored == 0 {
        assert!(sent.elapsed() < delay * 10, "never stored");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(sent.elapsed() >= delay, "stored after {:?}", sent.elapsed());
    let messages = sandbox.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].ticket_id, "tic_late1");
    let read = json_of(get(&sandbox, "tic_late1").await).await;
    assert_eq!(
        read["messages"][0]["message"],
        "<p>Are you still there?</p>"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_patient_client_gets_the_ticket_once_the_late_store_is_done() {
    let delay = Duration::from_millis(300);
    let sandbox = start(SandboxConfig {
        faults: late_by(delay),
        ..SandboxConfig::default()
    })
    .await;
    let sent = Instant::now();
    let answer = post(&sandbox, "tic_late2", "<p>Slowly</p>").await;
    assert!(
        sent.elapsed() >= delay,
        "answered after {:?}",
        sent.elapsed()
    );
    assert_eq!(answer.status(), StatusCode::OK);
    let ticket = json_of(answer).await;
    assert_eq!(ticket["messages"][0]["message"], "<p>Slowly</p>");
    let report = sandbox.shutdown().await;
    assert_eq!((report.late_stored, report.late_dropped), (1, 0));
}

#[tokio::test]
async fn shutdown_waits_for_a_late_store_nobody_waits_for() {
    let sandbox = start(SandboxConfig {
        faults: late_by(Duration::from_millis(300)),
        ..SandboxConfig::default()
    })
    .await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(50))
        .build()
        .expect("a client");
    let gave_up = impatient
        .post(format!("{}/tickets/tic_late3", sandbox.base_url()))
        .bearer_auth(TOKEN)
        .json(&json!({"message": "Stored while stopping"}))
        .send()
        .await;
    assert!(gave_up.is_err());
    let report = sandbox.shutdown().await;
    assert_eq!(report.late_stored, 1, "the drain let it land");
    assert_eq!(report.late_dropped, 0);
    assert_eq!(report.messages_appended, 1);
}

#[tokio::test]
async fn a_gateway_timeout_answers_504_html_and_the_message_is_stored() {
    let sandbox = start(SandboxConfig {
        faults: sandbox::Faults {
            seed: 9,
            gateway_timeout_rate: 1.0,
            ..sandbox::Faults::none()
        },
        ..SandboxConfig::default()
    })
    .await;
    let answer = post(&sandbox, "tic_gw1", "<p>Through the gateway</p>").await;
    assert_eq!(answer.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(answer.headers()["content-type"], "text/html");
    let body = answer.text().await.expect("a body");
    assert!(
        body.starts_with("<html><body><h1>504 Gateway Time-out</h1>"),
        "{body}"
    );
    assert!(
        serde_json::from_str::<Value>(&body).is_err(),
        "not the API's JSON"
    );

    let read = json_of(get(&sandbox, "tic_gw1").await).await;
    assert_eq!(read["messages"][0]["message"], "<p>Through the gateway</p>");
    let report = inspect(&sandbox, "report").await;
    assert_eq!(report["gatewayTimeouts"], 1);
    assert_eq!(report["statusCounts"]["504"], 1);
    assert_eq!(report["messagesAppended"], 1);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn the_same_seed_meets_the_same_late_and_gateway_faults_on_the_same_rows() {
    async fn statuses(seed: u64) -> Vec<u16> {
        let sandbox = start(SandboxConfig {
            faults: sandbox::Faults {
                seed,
                late_rate: 0.3,
                late_by: Duration::from_millis(20),
                gateway_timeout_rate: 0.3,
                ..sandbox::Faults::none()
            },
            rate_limit: bulk_reply::rate::Rate::Unlimited,
            ..SandboxConfig::default()
        })
        .await;
        let mut statuses = Vec::new();
        for row in 0..30 {
            let answer = post(&sandbox, &format!("tic_row{row}"), "Hello").await;
            statuses.push(answer.status().as_u16());
        }
        let report = sandbox.shutdown().await;
        assert_eq!(report.messages_appended, 30, "every fault here stores");
        assert_eq!(
            report.gateway_timeouts,
            statuses.iter().filter(|&&s| s == 504).count() as u64
        );
        assert!(report.late_stored > 0 && report.gateway_timeouts > 0);
        statuses
    }
    assert_eq!(statuses(3).await, statuses(3).await);
}
