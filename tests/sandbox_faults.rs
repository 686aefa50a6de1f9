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
