//! The sandbox's ticket API over real HTTP: every endpoint, auth, validation, the list's
//! pagination and the inspection views. The sandbox runs in-process on a free port.

use bulk_reply::rate::Rate;
use bulk_reply::sandbox::{self, RunningSandbox, SandboxConfig, Source, Status, TicketSeed, World};
use reqwest::StatusCode;
use serde_json::{Value, json};

const TOKEN: &str = "sandbox-token";

async fn start(config: SandboxConfig) -> RunningSandbox {
    sandbox::start(config).await.expect("sandbox starts")
}

fn seed(id: &str, status: Status, source: Source) -> TicketSeed {
    TicketSeed {
        id: id.to_owned(),
        status,
        source,
        customer_id: Some("cst_abc12354678".to_owned()),
        title: format!("Title of {id}"),
    }
}

/// A world with one ticket of each interesting kind.
fn small_world() -> World {
    World::Fixed(vec![
        seed("tic_open1", Status::Open, Source::Portal),
        seed("tic_closed1", Status::Closed, Source::Email),
        seed("tic_chat1", Status::Open, Source::Chat),
    ])
}

async fn post(sandbox: &RunningSandbox, ticket: &str, body: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/tickets/{ticket}", sandbox.base_url()))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("the sandbox answers")
}

async fn get(sandbox: &RunningSandbox, path_and_query: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{}{path_and_query}", sandbox.base_url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("the sandbox answers")
}

async fn json_of(response: reqwest::Response) -> Value {
    let text = response.text().await.expect("a body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

#[tokio::test]
async fn post_appends_returns_the_whole_ticket_and_reopens_a_closed_one() {
    let sandbox = start(SandboxConfig {
        world: small_world(),
        agent_name: "Dana from Support".into(),
        ..SandboxConfig::default()
    })
    .await;

    let first = post(&sandbox, "tic_closed1", r#"{"message": "<p>First</p>"}"#).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()["content-type"], "application/json");
    let response = post(&sandbox, "tic_closed1", r#"{"message": "<p>Second</p>"}"#).await;
    let ticket = json_of(response).await;

    assert_eq!(
        keys(&ticket),
        [
            "createdAt",
            "customerId",
            "id",
            "messages",
            "source",
            "status",
            "title"
        ]
    );
    assert_eq!(ticket["id"], "tic_closed1");
    assert_eq!(ticket["customerId"], "cst_abc12354678");
    assert_eq!(ticket["title"], "Title of tic_closed1");
    assert_eq!(ticket["source"], "email");
    assert_eq!(ticket["status"], "open", "a reply reopens a closed ticket");
    let messages = ticket["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 2);
    let second = &messages[1];
    assert_eq!(
        keys(second),
        [
            "attachments",
            "id",
            "isPostedByCustomer",
            "message",
            "postedAt",
            "postedBy"
        ]
    );
    assert_eq!(second["message"], "<p>Second</p>");
    assert_eq!(second["postedBy"], "Dana from Support");
    assert_eq!(second["isPostedByCustomer"], false);
    assert_eq!(second["attachments"], json!([]));
    let id = second["id"].as_str().expect("an id");
    assert!(id.starts_with("tim_") && id != messages[0]["id"], "{id}");
    let posted_at = second["postedAt"].as_str().expect("a date");
    assert!(
        posted_at.ends_with("+00:00"),
        "ATOM with a numeric offset: {posted_at}"
    );
    time::OffsetDateTime::parse(posted_at, &time::format_description::well_known::Rfc3339)
        .expect("postedAt is RFC 3339");

    // GET shows the same ticket, messages included.
    let shown = json_of(get(&sandbox, "/tickets/tic_closed1").await).await;
    assert_eq!(shown, ticket);

    let appended = sandbox.messages();
    assert_eq!(appended.len(), 2);
    assert_eq!(appended[1].ticket_id, "tic_closed1");
    assert_eq!(appended[1].message_id, id);
    assert_eq!(appended[1].posted_at, posted_at);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn refusals_append_nothing_and_say_why_in_json() {
    let sandbox = start(SandboxConfig {
        world: small_world(),
        ..SandboxConfig::default()
    })
    .await;
    let cases = [
        ("tic_chat1", r#"{"message": "Hi"}"#, 422, "chat"),
        ("tic_nope", r#"{"message": "Hi"}"#, 404, "not found"),
        ("tic_open1", "message=Hi", 400, "not valid json"),
        ("tic_open1", "", 400, "not valid json"),
        ("tic_open1", r#"{"text": "Hi"}"#, 422, "message"),
        ("tic_open1", r#"{"message": ""}"#, 422, "message"),
        ("tic_open1", r#"{"message": "   "}"#, 422, "message"),
        ("tic_open1", r#"{"message": 42}"#, 422, "message"),
        ("tic_open1", r#"["Hi"]"#, 422, "message"),
    ];
    for (ticket, body, status, says) in cases {
        let response = post(&sandbox, ticket, body).await;
        assert_eq!(response.status().as_u16(), status, "{ticket} {body}");
        let error = json_of(response).await;
        assert_eq!(error["code"], status, "{body}");
        let message = error["message"].as_str().expect("a message").to_lowercase();
        assert!(message.contains(says), "{body}: {message}");
    }
    assert!(sandbox.messages().is_empty());
    let chat = json_of(get(&sandbox, "/tickets/tic_chat1").await).await;
    assert_eq!(chat["messages"], json!([]));
    assert_eq!(get(&sandbox, "/tickets/tic_nope").await.status(), 404);
    let report = sandbox.report();
    assert_eq!(report.messages_appended, 0);
    assert_eq!(report.status_counts["422"], 6);
    assert_eq!(report.status_counts["400"], 2);
    assert_eq!(report.status_counts["404"], 1 + 1);

    // Refusals by the HTTP layer itself keep the JSON shape too.
    let huge = json!({ "message": "x".repeat(3 * 1024 * 1024) }).to_string();
    let too_large = post(&sandbox, "tic_open1", &huge).await;
    assert_eq!(too_large.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(json_of(too_large).await["code"], 413);
    let bad_encoding = post(&sandbox, "tic_%FF", r#"{"message": "Hi"}"#).await;
    assert_eq!(bad_encoding.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(bad_encoding).await["code"], 400);
    assert!(sandbox.messages().is_empty());
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_bearer_token_is_required_and_must_match() {
    let sandbox = start(SandboxConfig {
        token: "s3cret".into(),
        ..SandboxConfig::default()
    })
    .await;
    let client = reqwest::Client::new();
    let url = format!("{}/tickets/tic_abc", sandbox.base_url());
    let body = r#"{"message": "Hi"}"#;
    let attempts = [
        client.post(&url).body(body),
        client.post(&url).bearer_auth("sandbox-token").body(body),
        client
            .post(&url)
            .header("authorization", "s3cret")
            .body(body),
        client.get(&url),
        client.get(format!("{}/tickets", sandbox.base_url())),
    ];
    for attempt in attempts {
        let response = attempt.send().await.expect("an answer");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.headers().get("x-ratelimit-limit").is_none());
        assert_eq!(
            json_of(response).await,
            json!({"code": 401, "message": "Unauthenticated."})
        );
    }
    assert!(sandbox.messages().is_empty());
    let accepted = client
        .post(&url)
        .bearer_auth("s3cret")
        .body(body)
        .send()
        .await;
    assert_eq!(accepted.expect("an answer").status(), StatusCode::OK);
    let report = sandbox.report();
    assert_eq!((report.requests, report.posts, report.gets), (6, 4, 2));
    assert_eq!(report.status_counts["401"], 5);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn the_open_world_has_every_well_formed_id_and_lists_what_was_touched() {
    let sandbox = start(SandboxConfig::default()).await;
    let empty = json_of(get(&sandbox, "/tickets").await).await;
    assert_eq!(empty["data"], json!([]));
    assert_eq!(empty["from"], Value::Null);

    let ticket = json_of(get(&sandbox, "/tickets/tic_first1").await).await;
    assert_eq!(ticket["status"], "open");
    assert_eq!(ticket["source"], "portal");
    assert_eq!(ticket["customerId"], Value::Null);
    assert_eq!(
        post(&sandbox, "tic_second2", r#"{"message":"Hi"}"#)
            .await
            .status(),
        200
    );
    for malformed in ["abc", "tic_", "tick_1", "tic_a-b"] {
        let response = get(&sandbox, &format!("/tickets/{malformed}")).await;
        assert_eq!(response.status(), 404, "{malformed}");
    }
    let listed = json_of(get(&sandbox, "/tickets").await).await;
    let ids: Vec<&Value> = listed["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|t| &t["id"])
        .collect();
    assert_eq!(ids, [&json!("tic_first1"), &json!("tic_second2")]);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn the_list_is_paginated_like_the_real_one_and_filters_as_an_extension() {
    // 32 tickets: every 4th closed, every 3rd from email.
    let seeds = (1..=32)
        .map(|n| {
            let status = if n % 4 == 0 {
                Status::Closed
            } else {
                Status::Open
            };
            let source = if n % 3 == 0 {
                Source::Email
            } else {
                Source::Portal
            };
            seed(&format!("tic_{n:03}"), status, source)
        })
        .collect();
    let sandbox = start(SandboxConfig {
        world: World::Fixed(seeds),
        ..SandboxConfig::default()
    })
    .await;
    let base = format!("{}/tickets", sandbox.base_url());

    let first = json_of(get(&sandbox, "/tickets").await).await;
    assert_eq!(
        keys(&first),
        [
            "current_page",
            "data",
            "first_page_url",
            "from",
            "next_page_url",
            "path",
            "per_page",
            "prev_page_url",
            "to"
        ]
    );
    assert_eq!(first["current_page"], 1);
    assert_eq!(first["per_page"], 15);
    assert_eq!((&first["from"], &first["to"]), (&json!(1), &json!(15)));
    assert_eq!(first["path"], base);
    assert_eq!(first["first_page_url"], format!("{base}?page=1"));
    assert_eq!(first["next_page_url"], format!("{base}?page=2"));
    assert_eq!(first["prev_page_url"], Value::Null);
    let data = first["data"].as_array().expect("data");
    assert_eq!(data.len(), 15);
    assert_eq!(
        keys(&data[0]),
        ["createdAt", "customerId", "id", "source", "status", "title"],
        "list entries carry no messages"
    );
    assert_eq!(data[0]["id"], "tic_001");

    let last = json_of(get(&sandbox, "/tickets?page=3").await).await;
    assert_eq!(last["data"].as_array().expect("data").len(), 2);
    assert_eq!((&last["from"], &last["to"]), (&json!(31), &json!(32)));
    assert_eq!(last["next_page_url"], Value::Null);
    assert_eq!(last["prev_page_url"], format!("{base}?page=2"));

    let beyond = json_of(get(&sandbox, "/tickets?page=9").await).await;
    assert_eq!(beyond["data"], json!([]));
    assert_eq!(
        (&beyond["from"], &beyond["to"]),
        (&Value::Null, &Value::Null)
    );

    // Extension: filters, kept in the page URLs. Closed email tickets: 12 and 24.
    let filtered = json_of(get(&sandbox, "/tickets?status=closed&source=email").await).await;
    let ids: Vec<&Value> = filtered["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|t| &t["id"])
        .collect();
    assert_eq!(ids, [&json!("tic_012"), &json!("tic_024")]);
    assert_eq!(
        filtered["first_page_url"],
        format!("{base}?status=closed&source=email&page=1")
    );
    let open = json_of(get(&sandbox, "/tickets?status=open&page=2").await).await;
    assert_eq!(
        open["next_page_url"],
        Value::Null,
        "24 open tickets fit on two pages"
    );
    assert_eq!(open["prev_page_url"], format!("{base}?status=open&page=1"));
    assert_eq!(open["data"].as_array().expect("data").len(), 9);

    let bad = get(&sandbox, "/tickets?status=pending").await;
    assert_eq!(bad.status(), 422);
    assert_eq!(json_of(bad).await["code"], 422);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn inspection_views_need_no_token_and_match_the_in_process_figures() {
    // A window of a minute: all these requests certainly fall in one.
    let sandbox = start(SandboxConfig {
        rate_limit: "1000/min".parse::<Rate>().expect("a rate"),
        ..SandboxConfig::default()
    })
    .await;
    for (ticket, text) in [
        ("tic_a", "Hi"),
        ("tic_b", "Hi"),
        ("tic_a", "Hi"),
        ("tic_a", "Bye"),
    ] {
        let body = json!({ "message": text }).to_string();
        assert_eq!(post(&sandbox, ticket, &body).await.status(), 200);
    }
    assert_eq!(get(&sandbox, "/tickets/tic_b").await.status(), 200);
    assert_eq!(get(&sandbox, "/no/such/route").await.status(), 404);

    let client = reqwest::Client::new();
    let report = json_of(
        client
            .get(format!("{}/__sandbox/report", sandbox.origin()))
            .send()
            .await
            .expect("an answer"),
    )
    .await;
    assert_eq!(
        report,
        json!({
            "requests": 6, "posts": 4, "gets": 2,
            "statusCounts": {"200": 5, "404": 1},
            "dropped": 0,
            "messagesAppended": 4,
            "duplicateMessages": 1,
            "messagesRewritten": 0,
            "staleReads": 0,
            "peakRequestsPerWindow": 6,
            "tokensIssued": 0,
            "lateStored": 0,
            "lateDropped": 0,
            "gatewayTimeouts": 0,
            "neighbourAccepted": 0,
            "neighbourRefused": 0
        })
    );
    assert_eq!(
        report,
        serde_json::to_value(sandbox.report()).expect("serializes")
    );

    let messages = json_of(
        client
            .get(format!("{}/__sandbox/messages", sandbox.origin()))
            .send()
            .await
            .expect("an answer"),
    )
    .await;
    let seen: Vec<(&str, &str)> = messages
        .as_array()
        .expect("an array")
        .iter()
        .map(|m| {
            (
                m["ticketId"].as_str().unwrap_or(""),
                m["message"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("tic_a", "Hi"),
            ("tic_b", "Hi"),
            ("tic_a", "Hi"),
            ("tic_a", "Bye")
        ]
    );
    assert_eq!(
        messages,
        serde_json::to_value(sandbox.messages()).expect("serializes")
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish() {
    let sandbox = start(SandboxConfig {
        faults: sandbox::Faults {
            latency: std::time::Duration::from_millis(300),
            ..sandbox::Faults::none()
        },
        ..SandboxConfig::default()
    })
    .await;
    let url = format!("{}/tickets/tic_late", sandbox.base_url());
    let in_flight = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .bearer_auth(TOKEN)
            .body(r#"{"message": "Last one"}"#)
            .send()
            .await
            .map(|response| response.status())
    });
    // The request is counted on arrival, before the latency: wait for it to be inside.
    while sandbox.report().requests == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    sandbox.shutdown().await;
    let status = in_flight.await.expect("the task ends").expect("an answer");
    assert_eq!(status, StatusCode::OK);
}
