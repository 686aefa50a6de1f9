//! Reaching the API: the preflight that stops a misconfigured run before its first row, and
//! the fail-fast rules during a run. Each case ends in seconds with exit 3 and one sentence
//! naming the URL and what to check.

use crate::support;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use bulk_reply::rate::Rate;
use bulk_reply::sandbox::{self, ChatRefusal, SandboxConfig, Source, Status, TicketSeed, World};
use predicates::str::contains;
use support::{Sandbox, results, rows, with_suffix, write_csv};

/// A loopback URL with nothing listening: the port was free a moment ago.
fn nothing_listening() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}/v1")
}

fn send_to(base_url: &str, input: &std::path::Path) -> Command {
    let mut cmd = Command::cargo_bin("bulk-reply").unwrap();
    cmd.env("XDG_STATE_HOME", support::private_state_home())
        .arg("send")
        .arg(input)
        .args(["--base-url", base_url, "--retry-delay", "10ms", "-y"])
        .env("MKP_API_TOKEN", sandbox::DEFAULT_TOKEN)
        .env_remove("MKP_OAUTH_CLIENT_ID")
        .env_remove("MKP_OAUTH_CLIENT_SECRET")
        .env_remove("MKP_OAUTH_REFRESH_TOKEN");
    cmd
}

#[test]
fn nothing_listening_stops_before_the_first_row_in_well_under_5_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "notices.csv", &rows(20));
    let url = nothing_listening();
    let started = Instant::now();
    send_to(&url, &input)
        .assert()
        .code(3)
        .stderr(contains(format!(
            "cannot reach the API at {url}/tickets?page=1"
        )))
        .stderr(contains("Check --base-url"))
        .stderr(contains("nothing was sent"));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // No journal is left bound to the wrong URL: fixing --base-url is enough.
    assert!(!with_suffix(&input, ".journal").exists());
}

#[test]
fn a_base_url_without_v1_names_the_likely_fix() {
    let sandbox = Sandbox::open_world();
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "notices.csv", &rows(5));
    let without_v1 = sandbox.base_url().trim_end_matches("/v1").to_string();
    let started = Instant::now();
    send_to(&without_v1, &input)
        .assert()
        .code(3)
        .stderr(contains("is --base-url right? It usually ends in /v1"))
        .stderr(contains(format!("try --base-url {without_v1}/v1")));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(sandbox.messages().is_empty());
}

#[test]
fn a_refused_token_stops_before_the_first_row() {
    let sandbox = Sandbox::open_world();
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "notices.csv", &rows(5));
    sandbox
        .send(&input)
        .arg("-y")
        .env("MKP_API_TOKEN", "not-the-token")
        .assert()
        .code(3)
        .stderr(contains("refused the token (HTTP 401"));
    assert_eq!(sandbox.report().requests, 1, "the preflight alone");
}

#[test]
fn the_preflight_is_one_request_of_the_run() {
    let sandbox = Sandbox::open_world();
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "notices.csv", &rows(3));
    sandbox.send(&input).arg("-y").assert().code(0);
    assert_eq!(
        sandbox.report().requests,
        4,
        "one preflight, then one POST per row"
    );
}

#[test]
fn dry_run_check_api_makes_the_preflight_and_sends_nothing() {
    let sandbox = Sandbox::open_world();
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "notices.csv", &rows(3));
    sandbox
        .send(&input)
        .args(["--dry-run", "--check-api"])
        .assert()
        .code(0)
        .stderr(contains("answers and accepts the token"));
    assert!(sandbox.messages().is_empty());
    send_to(&nothing_listening(), &input)
        .args(["--dry-run", "--check-api"])
        .assert()
        .code(3)
        .stderr(contains("cannot reach the API"));
}

#[test]
fn a_server_that_goes_away_mid_run_stops_it_within_seconds() {
    let sandbox = Sandbox::open_world();
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "notices.csv", &rows(40));
    // The default retry delay: without the breaker, each of the remaining rows would spend
    // all 8 attempts (about a minute of backoff each) before the run said anything.
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("bulk-reply"))
        .env("XDG_STATE_HOME", support::private_state_home())
        .arg("send")
        .arg(&input)
        .args(["--base-url", &sandbox.base_url(), "--rate", "20/s", "-y"])
        .env("MKP_API_TOKEN", sandbox::DEFAULT_TOKEN)
        .env_remove("MKP_OAUTH_CLIENT_ID")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while sandbox.messages().len() < 3 {
        assert!(started.elapsed() < Duration::from_secs(5), "no row arrived");
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(sandbox);
    let gone = Instant::now();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        gone.elapsed() < Duration::from_secs(8),
        "{:?}",
        gone.elapsed()
    );
    assert!(
        stderr.contains("connection attempts in a row failed"),
        "{stderr}"
    );
}

#[test]
fn a_403_on_a_chat_ticket_fails_that_row_and_the_run_goes_on() {
    let input_rows = rows(20);
    // The first row is a chat ticket, so its 403 comes before any message is delivered.
    let world = World::Fixed(
        input_rows
            .iter()
            .enumerate()
            .map(|(i, (id, _))| TicketSeed {
                id: id.clone(),
                status: Status::Open,
                source: if i == 0 { Source::Chat } else { Source::Portal },
                customer_id: None,
                title: "Storing".into(),
            })
            .collect(),
    );
    let sandbox = Sandbox::start(SandboxConfig {
        rate_limit: Rate::Unlimited,
        world,
        chat_refusal: ChatRefusal::Forbidden,
        ..SandboxConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "notices.csv", &input_rows);
    sandbox
        .send(&input)
        .args(["--rate", "unlimited", "-y"])
        .assert()
        .code(1)
        .stderr(contains("19 sent, 1 failed"));
    let records = results(&with_suffix(&input, ".results.ndjson"));
    let chat = records.iter().find(|r| r["ticketId"] == "tic_t0").unwrap();
    assert_eq!(chat["status"], "failed");
    assert_eq!(chat["httpStatus"], 403);
    assert_eq!(chat["error"]["kind"], "rejected");
    assert!(
        chat["error"]["message"]
            .as_str()
            .unwrap()
            .contains("chat ticket"),
        "{chat}"
    );
    assert_eq!(
        sandbox.report().posts,
        20,
        "the chat ticket is not posted again"
    );
}

/// A host name that resolves nowhere: reached only through a proxy that knows it.
const REMOTE_HOST: &str = "api.example.test";

/// An HTTPS front for a sandbox, as a company's TLS-inspecting proxy is: it terminates TLS
/// with a certificate from a private CA made for this test, and passes the bytes on.
struct PrivateCaFront {
    _runtime: tokio::runtime::Runtime,
    base_url: String,
    ca_pem: String,
}

impl PrivateCaFront {
    fn start(backend_base_url: &str) -> PrivateCaFront {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

        let backend: std::net::SocketAddr = backend_base_url
            .trim_start_matches("http://")
            .trim_end_matches("/v1")
            .parse()
            .unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "bulk-reply test CA");
        let ca_key = KeyPair::generate().unwrap();
        let ca_pem = ca_params.self_signed(&ca_key).unwrap().pem();
        let issuer = Issuer::new(ca_params, ca_key);
        let server_key = KeyPair::generate().unwrap();
        let server_cert =
            CertificateParams::new(vec!["127.0.0.1".to_string(), REMOTE_HOST.to_string()])
                .unwrap()
                .signed_by(&server_key, &issuer)
                .unwrap();
        let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![server_cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
        )
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let base_url = format!("https://{}/v1", listener.local_addr().unwrap());
        runtime.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A client that does not trust the CA hangs up during the handshake.
                    let Ok(mut client) = acceptor.accept(client).await else {
                        return;
                    };
                    let Ok(mut server) = tokio::net::TcpStream::connect(backend).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
            }
        });
        PrivateCaFront {
            _runtime: runtime,
            base_url,
            ca_pem,
        }
    }
}

#[test]
fn a_private_ca_is_refused_at_once_then_trusted_with_ca_cert_or_ssl_cert_file() {
    let sandbox = Sandbox::open_world();
    let front = PrivateCaFront::start(&sandbox.base_url());
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("company-ca.pem");
    std::fs::write(&ca_file, &front.ca_pem).unwrap();
    let input = write_csv(dir.path(), "notices.csv", &rows(3));

    let started = Instant::now();
    send_to(&front.base_url, &input)
        .env_remove("SSL_CERT_FILE")
        .assert()
        .code(3)
        .stderr(contains(format!(
            "cannot connect securely to {}/tickets?page=1",
            front.base_url
        )))
        .stderr(contains("UnknownIssuer"))
        .stderr(contains("--ca-cert FILE"));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(sandbox.report().requests, 0, "a TLS failure is not retried");

    send_to(&front.base_url, &input)
        .arg("--ca-cert")
        .arg(&ca_file)
        .args(["--rate", "unlimited"])
        .assert()
        .code(0)
        .stderr(contains("3 sent, 0 failed"));

    // The operating system's store, as rustls-native-certs reads it, honours SSL_CERT_FILE.
    let more = write_csv(dir.path(), "more.csv", &rows(2));
    send_to(&front.base_url, &more)
        .env("SSL_CERT_FILE", &ca_file)
        .args(["--rate", "unlimited"])
        .assert()
        .code(0);
}

#[test]
fn a_ca_cert_that_is_not_pem_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("ca.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let input = write_csv(dir.path(), "notices.csv", &rows(1));
    send_to(&nothing_listening(), &input)
        .arg("--ca-cert")
        .arg(&not_pem)
        .assert()
        .code(2)
        .stderr(contains("holds no certificate"));
}

/// A forward proxy that tunnels every `CONNECT` to `target`, whatever host it names, and
/// keeps the first line of each request it got.
struct TunnellingProxy {
    _runtime: tokio::runtime::Runtime,
    url: String,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl TunnellingProxy {
    fn start(target: std::net::SocketAddr) -> TunnellingProxy {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = requests.clone();
        runtime.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut client = BufReader::new(client);
                    let mut head = String::new();
                    loop {
                        let mut line = String::new();
                        if client.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        head.push_str(&line);
                    }
                    let first = head.lines().next().unwrap_or_default().to_string();
                    seen.lock().unwrap().push(first.clone());
                    if !first.starts_with("CONNECT ") {
                        return;
                    }
                    let Ok(mut server) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    let mut client = client.into_inner();
                    let established = b"HTTP/1.1 200 Connection Established\r\n\r\n";
                    if client.write_all(established).await.is_err() {
                        return;
                    }
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
            }
        });
        TunnellingProxy {
            _runtime: runtime,
            url,
            requests,
        }
    }
}

#[test]
fn https_proxy_carries_the_requests_to_a_remote_api() {
    let sandbox = Sandbox::open_world();
    let front = PrivateCaFront::start(&sandbox.base_url());
    let front_address = front
        .base_url
        .trim_start_matches("https://")
        .trim_end_matches("/v1")
        .parse()
        .unwrap();
    let proxy = TunnellingProxy::start(front_address);
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("company-ca.pem");
    std::fs::write(&ca_file, &front.ca_pem).unwrap();
    let input = write_csv(dir.path(), "notices.csv", &rows(2));
    send_to(&format!("https://{REMOTE_HOST}/v1"), &input)
        .env("HTTPS_PROXY", &proxy.url)
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .arg("--ca-cert")
        .arg(&ca_file)
        .args(["--rate", "unlimited"])
        .assert()
        .code(0)
        .stderr(contains("2 sent, 0 failed"));
    let requests = proxy.requests.lock().unwrap().clone();
    assert!(!requests.is_empty());
    assert!(
        requests
            .iter()
            .all(|r| r.starts_with(&format!("CONNECT {REMOTE_HOST}:443 "))),
        "only tunnels, so the token stays inside TLS: {requests:?}"
    );
}

#[test]
fn a_base_url_on_this_machine_never_goes_through_a_proxy() {
    let sandbox = Sandbox::open_world();
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "notices.csv", &rows(2));
    // A proxy that is not there: any request sent to it would fail.
    let dead_proxy = nothing_listening().trim_end_matches("/v1").to_string();
    sandbox
        .send(&input)
        .args(["--rate", "unlimited", "-y"])
        .env("HTTP_PROXY", &dead_proxy)
        .env("http_proxy", &dead_proxy)
        .env("ALL_PROXY", &dead_proxy)
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .assert()
        .code(0)
        .stderr(contains("2 sent, 0 failed"));
}

#[test]
fn a_sandbox_run_says_it_ignores_the_base_url() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_csv(dir.path(), "notices.csv", &rows(1));
    send_to("https://api.example.test/v1", &input)
        .args(["--sandbox", "--rate", "unlimited"])
        .assert()
        .code(0)
        .stderr(contains(
            "--sandbox sends to the built-in simulator, not to https://api.example.test/v1",
        ));
}

/// A server that refuses messages (403) on `tic_locked*` tickets, which read as ordinary
/// portal tickets, and takes them on every other ticket.
fn start_server_refusing_locked_tickets() -> String {
    use std::io::{BufRead, BufReader, Read, Write};

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut stream = stream;
                loop {
                    let mut request_line = String::new();
                    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut content_length = 0;
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).unwrap_or(0) == 0 {
                            return;
                        }
                        if header == "\r\n" {
                            break;
                        }
                        if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:")
                        {
                            content_length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; content_length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let mut parts = request_line.split_whitespace();
                    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                    let ticket = path.rsplit('/').next().unwrap_or("");
                    let (status, answer) = if path.starts_with("/v1/tickets?") {
                        (
                            "200 OK",
                            r#"{"current_page":1,"data":[],"next_page_url":null}"#.to_string(),
                        )
                    } else if method == "POST" && ticket.starts_with("tic_locked") {
                        (
                            "403 Forbidden",
                            r#"{"code":403,"message":"Forbidden."}"#.to_string(),
                        )
                    } else {
                        let message = serde_json::from_slice::<serde_json::Value>(&body)
                            .ok()
                            .and_then(|v| v["message"].as_str().map(str::to_owned));
                        let messages = match message {
                            Some(m) => {
                                serde_json::json!([{"id": "tim_1", "message": m, "isPostedByCustomer": false, "postedAt": "2026-12-01T10:00:00+00:00", "attachments": []}])
                            }
                            None => serde_json::json!([]),
                        };
                        let ticket = serde_json::json!({"id": ticket, "status": "open", "source": "portal", "messages": messages});
                        ("200 OK", ticket.to_string())
                    };
                    let head = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                        answer.len()
                    );
                    let _ = stream.write_all(head.as_bytes());
                    let _ = stream.write_all(answer.as_bytes());
                }
            });
        }
    });
    base_url
}

#[test]
fn a_403_on_a_readable_ticket_stops_the_run_only_before_the_first_delivery() {
    let base_url = start_server_refusing_locked_tickets();
    let dir = tempfile::tempdir().unwrap();
    let message = "<p>Notice</p>".to_string();

    // Refused first: nothing shows the token may write.
    let first_refused = write_csv(
        dir.path(),
        "locked_first.csv",
        &[
            ("tic_locked1".into(), message.clone()),
            ("tic_ok1".into(), message.clone()),
        ],
    );
    send_to(&base_url, &first_refused)
        .args(["--rate", "unlimited", "--concurrency", "1"])
        .assert()
        .code(3)
        .stderr(contains("the token lacks permission (HTTP 403"));

    // Refused after a delivery: the refusal is that ticket's, the run goes on.
    let delivered_first = write_csv(
        dir.path(),
        "ok_first.csv",
        &[
            ("tic_ok2".into(), message.clone()),
            ("tic_locked2".into(), message.clone()),
            ("tic_ok3".into(), message),
        ],
    );
    send_to(&base_url, &delivered_first)
        .args(["--rate", "unlimited", "--concurrency", "1"])
        .assert()
        .code(1)
        .stderr(contains("2 sent, 1 failed"));
    let records = results(&with_suffix(&delivered_first, ".results.ndjson"));
    let locked = records
        .iter()
        .find(|r| r["ticketId"] == "tic_locked2")
        .unwrap();
    assert_eq!(locked["httpStatus"], 403);
    assert!(
        locked["error"]["message"]
            .as_str()
            .unwrap()
            .contains("refuses messages on this ticket"),
        "{locked}"
    );
}
