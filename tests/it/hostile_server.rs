//! `send` against a server that misbehaves in every way a real network or proxy can: each
//! case ends as a classified row error (or a success), never a panic, never a hang past
//! `--timeout`.

use crate::support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;
use support::{results, with_suffix, write_csv};

/// A deliberately broken HTTP/1.1 server: the ticket id in the path picks the misbehaviour.
/// Reads of a ticket (`GET`) answer with an empty ticket, so in-doubt rows are retried.
struct HostileServer {
    base_url: String,
    saw_redirect_target: Arc<AtomicBool>,
    rewriting_posts: Arc<AtomicUsize>,
}

impl HostileServer {
    fn start() -> HostileServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
        let saw_redirect_target = Arc::new(AtomicBool::new(false));
        let rewriting_posts = Arc::new(AtomicUsize::new(0));
        let (saw, posts) = (saw_redirect_target.clone(), rewriting_posts.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (saw, posts) = (saw.clone(), posts.clone());
                std::thread::spawn(move || serve(stream, &saw, &posts));
            }
        });
        HostileServer {
            base_url,
            saw_redirect_target,
            rewriting_posts,
        }
    }
}

impl HostileServer {
    /// `bulk-reply send INPUT` aimed at this server, unpaced, with fast retries.
    fn send(&self, input: &std::path::Path) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::cargo_bin("bulk-reply").unwrap();
        cmd.arg("send")
            .arg(input)
            .args([
                "--base-url",
                &self.base_url,
                "--rate",
                "unlimited",
                "--retry-delay",
                "10ms",
                "--settle",
                "200ms",
            ])
            .env("MKP_API_TOKEN", "tok_hostile")
            // The delivery ledger goes beside the input, never into the real state directory.
            .env("XDG_STATE_HOME", input.with_extension("state"));
        cmd
    }
}

fn serve(stream: TcpStream, saw_redirect_target: &AtomicBool, rewriting_posts: &AtomicUsize) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut content_length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            if header == "\r\n" {
                break;
            }
            if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                content_length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; content_length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or("");
        let path = parts.next().unwrap_or("");
        let ticket = path.rsplit('/').next().unwrap_or("");
        if path.contains("elsewhere") {
            saw_redirect_target.store(true, Ordering::SeqCst);
        }
        let empty_ticket =
            format!(r#"{{"id":"{ticket}","status":"open","source":"portal","messages":[]}}"#);
        // A server that stores every message rewritten beyond recognition, and says so in
        // its answer and on the ticket alike.
        let rewritten = serde_json::json!({"id": ticket, "status": "open", "source": "portal", "messages": [
            {"id": "tim_9", "message": "[redacted by moderation]", "isPostedByCustomer": false, "postedAt": "2099-01-01T00:00:00+00:00", "attachments": []}
        ]})
        .to_string();
        if ticket == "tic_rewrites" {
            if method == "POST" {
                rewriting_posts.fetch_add(1, Ordering::SeqCst);
            }
            respond(
                &mut stream,
                "200 OK",
                "application/json",
                rewritten.as_bytes(),
            );
            continue;
        }
        if method == "GET" && path.starts_with("/v1/tickets?") {
            // The ticket list answers like the API, so the preflight lets the run start.
            let page = br#"{"current_page":1,"data":[],"next_page_url":null}"#;
            respond(&mut stream, "200 OK", "application/json", page);
            continue;
        }
        if method == "GET" {
            respond(
                &mut stream,
                "200 OK",
                "application/json",
                empty_ticket.as_bytes(),
            );
            continue;
        }
        let message = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["message"]
            .as_str()
            .unwrap()
            .to_string();
        let good_ticket = serde_json::json!({"id": ticket, "status": "open", "source": "portal", "messages": [
            {"id": "tim_1", "message": message, "isPostedByCustomer": false, "postedAt": "2026-11-24T10:00:00+00:00", "attachments": []}
        ]})
        .to_string();
        match ticket {
            "tic_notjson" => respond(
                &mut stream,
                "200 OK",
                "application/json",
                b"<html>Welcome!</html>",
            ),
            "tic_notaticket" => {
                respond(&mut stream, "200 OK", "application/json", br#"{"ok":true}"#)
            }
            "tic_withoutmessage" => respond(
                &mut stream,
                "200 OK",
                "application/json",
                empty_ticket.as_bytes(),
            ),
            "tic_huge" => respond(
                &mut stream,
                "200 OK",
                "application/json",
                &vec![b' '; 11 << 20],
            ),
            "tic_wrongtype" => respond(&mut stream, "200 OK", "text/plain", good_ticket.as_bytes()),
            "tic_redirect" => {
                let head = "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/elsewhere\r\nContent-Length: 0\r\n\r\n";
                let _ = stream.write_all(head.as_bytes());
            }
            "tic_cutoff" => {
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"id\":");
                return; // closes mid-body
            }
            "tic_trickle" => {
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n");
                for byte in good_ticket.bytes() {
                    if stream.write_all(&[byte]).is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(250));
                }
                return;
            }
            _ => respond(
                &mut stream,
                "200 OK",
                "application/json",
                good_ticket.as_bytes(),
            ),
        }
    }
}

fn respond(stream: &mut TcpStream, status: &str, content_type: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}

#[test]
fn every_misbehaviour_becomes_a_classified_row_outcome() {
    let server = HostileServer::start();
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        "tic_notjson",
        "tic_notaticket",
        "tic_withoutmessage",
        "tic_huge",
        "tic_wrongtype",
        "tic_redirect",
        "tic_cutoff",
        "tic_trickle",
    ];
    let rows: Vec<_> = cases
        .iter()
        .map(|t| (t.to_string(), "<p>Update</p>".to_string()))
        .collect();
    let input = write_csv(dir.path(), "hostile.csv", &rows);

    let started = std::time::Instant::now();
    server
        .send(&input)
        .args([
            "--concurrency",
            "8",
            "--timeout",
            "1s",
            "--max-attempts",
            "2",
        ])
        .timeout(Duration::from_secs(30))
        .assert()
        .code(1)
        .stderr(contains("panicked").not())
        .stderr(contains("internal error").not());
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "no hang past the timeouts"
    );

    let records = results(&with_suffix(&input, ".results.ndjson"));
    let outcome = |ticket: &str| {
        records
            .iter()
            .find(|r| r["ticketId"] == ticket)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        outcome("tic_wrongtype")["status"],
        "sent",
        "a ticket is a ticket whatever its Content-Type"
    );
    // A 2xx whose answer is unusable (not JSON, not a ticket, without the message, over
    // 10 MiB): the server took the message; the ticket is read, and whatever it shows the
    // row is never posted again.
    for case in [
        "tic_notjson",
        "tic_notaticket",
        "tic_withoutmessage",
        "tic_huge",
    ] {
        let record = outcome(case);
        assert_eq!(record["status"], "sent", "{case}");
        assert_eq!(record["attempts"], 1, "{case}: posted once");
        assert!(record.get("messageId").is_none(), "{case}");
    }
    assert_eq!(outcome("tic_cutoff")["error"]["kind"], "network");
    assert_eq!(outcome("tic_trickle")["error"]["kind"], "timeout");
    let redirect = outcome("tic_redirect");
    assert_eq!(redirect["error"]["kind"], "rejected");
    assert_eq!(redirect["attempts"], 1, "a redirect is permanent");
    assert!(
        redirect["error"]["message"]
            .as_str()
            .unwrap()
            .contains("http://127.0.0.1:9/elsewhere")
    );
    assert!(
        !server.saw_redirect_target.load(Ordering::SeqCst),
        "redirects are never followed"
    );
}

#[test]
fn plain_http_to_another_host_is_refused_before_any_connection() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "n.csv", &[("tic_1".into(), "Hi".into())]);
    assert_cmd::Command::cargo_bin("bulk-reply")
        .unwrap()
        .arg("send")
        .arg(&input)
        .args(["--base-url", "http://api.mijnklantportaal.nl/v1"])
        .env("MKP_API_TOKEN", "tok")
        .assert()
        .code(2)
        .stderr(contains("https://"));
    assert!(
        !with_suffix(&input, ".journal").exists(),
        "refused before the job was even opened"
    );
}

#[test]
fn a_message_the_server_accepted_is_never_posted_again_even_if_unrecognisable() {
    let server = HostileServer::start();
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(
        dir.path(),
        "rewrites.csv",
        &[("tic_rewrites".into(), "<p>Caf&eacute; &euro; 10</p>".into())],
    );
    server
        .send(&input)
        .assert()
        .code(0)
        .stderr(contains("not posted again"));
    assert_eq!(
        server.rewriting_posts.load(Ordering::SeqCst),
        1,
        "posted exactly once"
    );
    let record = &results(&with_suffix(&input, ".results.ndjson"))[0];
    assert_eq!(record["status"], "sent");
    assert!(
        record.get("messageId").is_none(),
        "no id rather than a wrong one"
    );
}
