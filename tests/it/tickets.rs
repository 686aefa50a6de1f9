//! `bulk-reply tickets` against the in-process sandbox: the selection a mass notice starts
//! from, paged through the list with filters, a refused token, and a list server that
//! ignores the filters.

use crate::support;

use bulk_reply::sandbox::{Source, Status, TicketSeed};
use support::{binary, sandbox_with, seed};

/// 40 tickets: every 4th closed, sources portal/email/chat in turn.
pub(crate) fn forty() -> Vec<TicketSeed> {
    (0..40)
        .map(|i| {
            let status = if i % 4 == 0 {
                Status::Closed
            } else {
                Status::Open
            };
            let source = [Source::Portal, Source::Email, Source::Chat][i % 3];
            seed(&format!("tic_n{i}"), status, source, &format!("Ticket {i}"))
        })
        .collect()
}

fn listed(csv_text: &str) -> Vec<Vec<String>> {
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    assert_eq!(
        reader.headers().unwrap(),
        vec![
            "ticketId",
            "customerId",
            "title",
            "status",
            "source",
            "createdAt"
        ]
    );
    reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

#[test]
fn tickets_pages_through_the_list_with_filters() {
    let seeds = forty();
    let sandbox = sandbox_with(seeds.clone());
    let expect = |keep: &dyn Fn(&TicketSeed) -> bool| -> Vec<String> {
        seeds
            .iter()
            .filter(|s| keep(s))
            .map(|s| s.id.clone())
            .collect()
    };

    // No filter: all 40 over 3 pages, chat left out.
    let output = sandbox.unlimited_command("tickets").output().unwrap();
    assert!(output.status.success());
    let rows = listed(&String::from_utf8(output.stdout).unwrap());
    let ids: Vec<String> = rows.iter().map(|r| r[0].clone()).collect();
    assert_eq!(ids, expect(&|s| s.source != Source::Chat));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("from 3 pages"), "{stderr}");
    assert!(stderr.contains("13 chat tickets left out ("), "{stderr}");
    assert_eq!(rows[0][1], "cst_tic_n0");
    assert_eq!(rows[0][2], "Ticket 0");
    assert_eq!(rows[0][3], "closed");
    assert!(rows[0][5].contains('T'), "an ATOM date: {:?}", rows[0]);

    // Open ones, into a file only its owner can read.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("open.csv");
    sandbox
        .unlimited_command("tickets")
        .args(["--status", "open", "--output"])
        .arg(&out)
        .assert()
        .success();
    let rows = listed(&std::fs::read_to_string(&out).unwrap());
    let ids: Vec<String> = rows.iter().map(|r| r[0].clone()).collect();
    assert_eq!(
        ids,
        expect(&|s| s.status == Status::Open && s.source != Source::Chat)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Chat only when asked for.
    let output = sandbox
        .unlimited_command("tickets")
        .args(["--source", "chat", "--status", "closed"])
        .output()
        .unwrap();
    let rows = listed(&String::from_utf8(output.stdout).unwrap());
    let ids: Vec<String> = rows.iter().map(|r| r[0].clone()).collect();
    assert_eq!(
        ids,
        expect(&|s| s.status == Status::Closed && s.source == Source::Chat)
    );
    assert!(sandbox.report().gets >= 5);
}

#[test]
fn tickets_with_a_refused_token_stops_with_exit_3_and_no_output() {
    let sandbox = sandbox_with(forty());
    let output = sandbox
        .unlimited_command("tickets")
        .env("MKP_API_TOKEN", "wrong")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("HTTP 401"), "{stderr}");
    assert!(!stderr.contains("wrong"), "the token never shows: {stderr}");

    // An existing output file a job may depend on is left exactly as it was.
    let dir = tempfile::tempdir().unwrap();
    let keep = dir.path().join("open.csv");
    std::fs::write(&keep, "ticketId\ntic_kept1\n").unwrap();
    let output = sandbox
        .unlimited_command("tickets")
        .arg("--output")
        .arg(&keep)
        .env("MKP_API_TOKEN", "wrong")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&output.stderr).contains("was left as it was"));
    assert_eq!(
        std::fs::read_to_string(&keep).unwrap(),
        "ticketId\ntic_kept1\n"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no partial file left behind"
    );
}

/// A list server that ignores every filter and names a next page on another host: the
/// filters must still hold, and pages must be asked for by number from our base URL.
#[test]
fn tickets_filters_a_list_whose_server_ignores_filters() {
    use std::io::{BufRead, BufReader, Write};
    use std::sync::{Arc, Mutex};

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
    let requested = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = requested.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut header = String::new();
            while reader.read_line(&mut header).unwrap_or(0) > 0 && header != "\r\n" {
                header.clear();
            }
            let target = request_line.split(' ').nth(1).unwrap_or("").to_string();
            seen.lock().unwrap().push(target.clone());
            let entry = |id: &str, status: &str, source: &str| {
                serde_json::json!({"id": id, "customerId": null, "title": "T", "status": status,
                                   "source": source, "createdAt": "2026-11-24T01:00:00+01:00"})
            };
            let body = if target.contains("page=1") {
                serde_json::json!({"current_page": 1, "data": [
                    entry("tic_1", "open", "portal"), entry("tic_2", "closed", "portal"),
                    entry("tic_3", "open", "chat")],
                    "next_page_url": "http://elsewhere.invalid/v1/tickets?page=2"})
            } else {
                serde_json::json!({"current_page": 2, "data": [
                    entry("tic_4", "open", "email"), entry("tic_5", "closed", "email")],
                    "next_page_url": null})
            }
            .to_string();
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let output = binary()
        .args(["tickets", "--status", "open", "--rate", "unlimited"])
        .args(["--base-url", &base_url])
        .env("MKP_API_TOKEN", "t")
        .env_remove("MKP_OAUTH_CLIENT_ID")
        .env_remove("MKP_OAUTH_CLIENT_SECRET")
        .env_remove("MKP_OAUTH_REFRESH_TOKEN")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let rows = listed(&String::from_utf8(output.stdout).unwrap());
    let ids: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(ids, ["tic_1", "tic_4"]);
    assert_eq!(rows[0][1], "", "a null customerId is an empty field");
    let requested = requested.lock().unwrap().clone();
    assert_eq!(
        requested,
        [
            "/v1/tickets?page=1&status=open",
            "/v1/tickets?page=2&status=open"
        ]
    );
}
