//! The HTTP surface: the `/v1` ticket API behind its gate (latency, auth, rate limit), and the
//! `/__sandbox` inspection views, open to anyone. With `--clock-skew`, every answer carries
//! the server's own `Date`.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{OriginalUri, Path, Query, Request, State};
use axum::http::header::{CONTENT_TYPE, DATE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};

use super::clock::ServerClock;
use super::faults::{Fault, Faults};
use super::late::LateStores;
use super::oauth::{TokenIssuer, TokenRequest};
use super::rate_limit::{PeakMeter, RollingWindow, Verdict};
use super::report::{Counters, Report};
use super::rewrite::Rewrites;
use super::server::Hangup;
use super::store::{ListFilter, PostOutcome, Refusal, Store, TicketSummary};
use super::world::{Source, Status};
use super::{ChatRefusal, SandboxConfig};
use crate::rate::Rate;

/// Tickets per list page, as in the real API.
const PER_PAGE: usize = 15;

const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");
/// The IETF draft's policy field (`RateLimit-Policy: 20;w=1`), sent only when the window is
/// not the documented minute: the real API sends none, and a client reads its
/// `X-RateLimit-Limit` as per minute; a sandbox limited per second must say so.
const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

/// Everything the handlers share.
pub struct Sandbox {
    /// `Bearer <token>`, compared byte for byte with the `Authorization` header.
    authorization: Vec<u8>,
    faults: Faults,
    rewrites: Rewrites,
    clock: ServerClock,
    /// `http://host:port`, for the absolute URLs of the list pages.
    origin: String,
    store: Mutex<Store>,
    limiter: Mutex<Limiter>,
    /// `RateLimit-Policy` for every answer that carries limits, when the window is not a
    /// minute.
    policy: Option<HeaderValue>,
    counters: Counters,
    tokens: TokenIssuer,
    late_stores: LateStores,
    chat_refusal: ChatRefusal,
}

struct Limiter {
    window: RollingWindow,
    peak: PeakMeter,
}

impl Sandbox {
    pub fn new(config: SandboxConfig, clock: ServerClock, origin: String) -> Self {
        Sandbox {
            authorization: format!("Bearer {}", config.token).into_bytes(),
            faults: config.faults,
            rewrites: config.rewrite,
            clock,
            origin,
            store: Mutex::new(Store::new(
                config.world,
                config.agent_name,
                clock,
                config.read_lag,
            )),
            policy: rate_limit_policy(config.rate_limit),
            limiter: Mutex::new(Limiter {
                window: RollingWindow::new(config.rate_limit),
                peak: PeakMeter::new(config.rate_limit),
            }),
            counters: Counters::default(),
            tokens: TokenIssuer::new(config.oauth, config.token_ttl),
            late_stores: LateStores::default(),
            chat_refusal: config.chat_refusal,
        }
    }

    pub fn report(&self) -> Report {
        let store = lock(&self.store).figures();
        let peak = lock(&self.limiter).peak.peak();
        self.counters
            .report(store, peak, self.tokens.tokens_issued())
    }

    pub fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    /// For shutdown: waits for late stores until `deadline`, and counts those it cancelled.
    pub async fn drain_late_stores(&self, deadline: tokio::time::Instant) {
        let cancelled = self.late_stores.drain(deadline).await;
        self.counters.late_dropped(cancelled);
    }

    fn admit(&self) -> Verdict {
        let now = Instant::now();
        let mut limiter = lock(&self.limiter);
        limiter.peak.record(now);
        limiter.window.admit(now, SystemTime::now())
    }

    /// A request of the key's other user (`--neighbour`), due at `at`.
    pub fn admit_neighbour(&self, at: Instant) {
        let accepted = {
            let mut limiter = lock(&self.limiter);
            limiter.peak.record(at);
            limiter.window.admit_due(at)
        };
        self.counters.neighbour(accepted);
    }

    /// The configured token, or an access token issued here that has not expired.
    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
            return false;
        };
        value.as_bytes() == self.authorization.as_slice()
            || value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .is_some_and(|token| self.tokens.accepts(token))
    }
}

/// A panic elsewhere cannot leave the store half-written (every mutation is a single push or
/// field write), so a poisoned lock is still safe to use.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

pub fn router(sandbox: Arc<Sandbox>) -> Router {
    let api = Router::new()
        .route("/tickets", get(list_tickets))
        .route("/tickets/{ticket_id}", get(show_ticket).post(post_message))
        .fallback(no_such_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(sandbox.clone(), gate));
    let router = Router::new()
        .nest("/v1", api)
        .route("/oauth/tokens", post(issue_token))
        .route("/__sandbox/report", get(show_report))
        .route("/__sandbox/messages", get(show_messages))
        .fallback(no_such_route);
    // Unskewed, hyper's own `Date` (added only where a response has none) is already right.
    let router = if sandbox.clock.is_skewed() {
        router.layer(middleware::map_response_with_state(
            sandbox.clone(),
            stamp_server_date,
        ))
    } else {
        router
    };
    router.with_state(sandbox)
}

/// Dates every answer by the server's (skewed) clock.
async fn stamp_server_date(
    State(sandbox): State<Arc<Sandbox>>,
    mut response: Response,
) -> Response {
    if let Ok(date) = HeaderValue::from_str(&sandbox.clock.http_date()) {
        response.headers_mut().insert(DATE, date);
    }
    response
}

/// Runs before every `/v1` handler: counting, latency, auth, rate limit; then stamps the
/// rate-limit headers on the answer.
async fn gate(State(sandbox): State<Arc<Sandbox>>, request: Request, next: Next) -> Response {
    let arrival = sandbox.counters.request(request.method());
    let latency = sandbox.faults.latency_for(arrival);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    // Described only when debug logging is on: no allocation on the hot path otherwise.
    let described = tracing::enabled!(tracing::Level::DEBUG).then(|| {
        // Inside the nested `/v1` router the URI has lost its prefix; log the one sent.
        let uri = request
            .extensions()
            .get::<OriginalUri>()
            .map_or(request.uri(), |original| &original.0);
        format!("{} {uri}", request.method())
    });
    // 401 spends no budget: there is no key to charge it to, so it carries no limit headers.
    let response = if !sandbox.authorized(request.headers()) {
        api_error(StatusCode::UNAUTHORIZED, "Unauthenticated.")
    } else {
        let verdict = sandbox.admit();
        let mut response = match verdict {
            Verdict::Refused { .. } => {
                api_error(StatusCode::TOO_MANY_REQUESTS, "Too many requests.")
            }
            Verdict::Accepted { .. } | Verdict::Unlimited => next.run(request).await,
        };
        stamp_rate_limit_headers(response.headers_mut(), verdict, sandbox.policy.as_ref());
        response
    };
    sandbox.counters.answered(response.status().as_u16());
    if let Some(request) = described {
        tracing::debug!(status = response.status().as_u16(), "sandbox: {request}");
    }
    response
}

fn stamp_rate_limit_headers(
    headers: &mut HeaderMap,
    verdict: Verdict,
    policy: Option<&HeaderValue>,
) {
    if let (Some(policy), Verdict::Accepted { .. } | Verdict::Refused { .. }) = (policy, verdict) {
        headers.insert(RATELIMIT_POLICY, policy.clone());
    }
    match verdict {
        Verdict::Unlimited => {}
        Verdict::Accepted { limit, remaining } => {
            headers.insert(X_RATELIMIT_LIMIT, HeaderValue::from(limit));
            headers.insert(X_RATELIMIT_REMAINING, HeaderValue::from(remaining));
        }
        Verdict::Refused {
            limit,
            retry_after_secs,
            reset_unix_secs,
        } => {
            headers.insert(X_RATELIMIT_LIMIT, HeaderValue::from(limit));
            headers.insert(X_RATELIMIT_REMAINING, HeaderValue::from(0u32));
            headers.insert(RETRY_AFTER, HeaderValue::from(retry_after_secs));
            headers.insert(X_RATELIMIT_RESET, HeaderValue::from(reset_unix_secs));
        }
    }
}

/// `N;w=S` for a window other than the minute the vendor documents (`w` in seconds, with a
/// fraction when the window is not whole seconds).
fn rate_limit_policy(rate: Rate) -> Option<HeaderValue> {
    let Rate::Limited { requests, per } = rate else {
        return None;
    };
    if per == Duration::from_secs(60) {
        return None;
    }
    HeaderValue::from_str(&format!("{requests};w={}", per.as_secs_f64())).ok()
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: u16,
    message: &'a str,
}

/// The API's error shape, `{"code": 429, "message": "Too many requests."}`. axum's own
/// refusals (body too large, bad percent-encoding, …) are reshaped into it too, so every
/// `/v1` error body is JSON.
fn api_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(ErrorBody {
            code: status.as_u16(),
            message,
        }),
    )
        .into_response()
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (
        status,
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response()
}

async fn show_ticket(
    State(sandbox): State<Arc<Sandbox>>,
    ticket_id: Result<Path<String>, PathRejection>,
) -> Response {
    let Path(ticket_id) = match ticket_id {
        Ok(path) => path,
        Err(rejection) => return api_error(rejection.status(), &rejection.body_text()),
    };
    let ticket = sandbox.store().ticket_json(&ticket_id);
    match ticket {
        Some(json) => json_response(StatusCode::OK, json),
        None => ticket_not_found(),
    }
}

fn ticket_not_found() -> Response {
    api_error(StatusCode::NOT_FOUND, "Ticket not found.")
}

async fn post_message(
    State(sandbox): State<Arc<Sandbox>>,
    Extension(hangup): Extension<Hangup>,
    ticket_id: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (Path(ticket_id), body) = match (ticket_id, body) {
        (Ok(path), Ok(body)) => (path, body),
        (Err(rejection), _) => return api_error(rejection.status(), &rejection.body_text()),
        (_, Err(rejection)) => return api_error(rejection.status(), &rejection.body_text()),
    };
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "The request body is not valid JSON; send {\"message\": \"...\"}.",
        );
    };
    let Some(message) = json
        .get("message")
        .and_then(serde_json::Value::as_str)
        .filter(|m| !m.trim().is_empty())
    else {
        return api_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "The message field is required and must be a non-empty string.",
        );
    };
    // Rewritten before the store's lock is taken: it is the slow part.
    let stored = sandbox.rewrites.apply(message);
    let outcome = sandbox
        .store()
        .post(&ticket_id, message, &stored, &sandbox.faults);
    match outcome {
        PostOutcome::Appended { ticket_json, fault } => match fault {
            Fault::Drop => {
                sandbox.counters.dropped();
                hangup.hang_up();
                // Never answer: the connection task closes the socket when it sees the hang-up.
                std::future::pending().await
            }
            Fault::Garbage => garbage_answer(ticket_json),
            Fault::GatewayTimeout => {
                sandbox.counters.gateway_timeout();
                gateway_timeout_answer()
            }
            Fault::None | Fault::Fail(_) | Fault::Late => {
                json_response(StatusCode::OK, ticket_json)
            }
        },
        PostOutcome::Failed(status) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            api_error(status, "Server error (injected by --fail-rate).")
        }
        PostOutcome::StoreLater => {
            let (posted, stored) = (message.to_owned(), stored.into_owned());
            store_late(sandbox, ticket_id, posted, stored).await
        }
        PostOutcome::Refused(refusal) => refused(refusal, sandbox.chat_refusal),
    }
}

/// `--late-rate`: the backend stores the message `late_by` after it arrived and answers only
/// then. The store runs in a task of its own (see `late`) that this handler merely awaits, so
/// it happens even when the client gives up and hyper drops this handler.
async fn store_late(
    sandbox: Arc<Sandbox>,
    ticket_id: String,
    posted: String,
    stored: String,
) -> Response {
    let (answer, answered) = tokio::sync::oneshot::channel();
    let late_by = sandbox.faults.late_by;
    let backend = sandbox.clone();
    sandbox.late_stores.schedule(async move {
        tokio::time::sleep(late_by).await;
        let appended = backend.store().append(&ticket_id, &posted, &stored);
        if appended.is_ok() {
            backend.counters.late_stored();
        }
        // Nobody is waiting when the client has gone; the message is stored all the same.
        let _ = answer.send(appended);
    });
    match answered.await {
        Ok(Ok(ticket_json)) => json_response(StatusCode::OK, ticket_json),
        Ok(Err(refusal)) => refused(refusal, sandbox.chat_refusal),
        // Only when shutdown gave up on the store: there is nothing to show.
        Err(_) => api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "The sandbox stopped before storing this message.",
        ),
    }
}

/// What a gateway (nginx, a load balancer) answers when the backend is too slow for it: a
/// 504 with its own HTML page, not the API's JSON. The backend stored the message anyway.
fn gateway_timeout_answer() -> Response {
    (
        StatusCode::GATEWAY_TIMEOUT,
        [(CONTENT_TYPE, HeaderValue::from_static("text/html"))],
        "<html><body><h1>504 Gateway Time-out</h1>\n\
         The server didn't respond in time.\n</body></html>\n",
    )
        .into_response()
}

fn refused(refusal: Refusal, chat_refusal: ChatRefusal) -> Response {
    match refusal {
        Refusal::NotFound => ticket_not_found(),
        Refusal::ChatRefused => api_error(
            match chat_refusal {
                ChatRefusal::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
                ChatRefusal::Forbidden => StatusCode::FORBIDDEN,
            },
            "Tickets created from live chat cannot receive messages through the API.",
        ),
    }
}

/// A 200 whose body is not JSON: the first half of the real answer, as a proxy that cut the
/// stream would deliver. Any proper prefix of a JSON object is invalid JSON.
fn garbage_answer(mut ticket_json: Vec<u8>) -> Response {
    ticket_json.truncate(ticket_json.len() / 2);
    json_response(StatusCode::OK, ticket_json)
}

#[derive(Deserialize)]
struct ListQuery {
    page: Option<String>,
    status: Option<String>,
    source: Option<String>,
}

/// The real list's page, field for field (Laravel's simple paginator).
#[derive(Serialize)]
struct ListPage<'a> {
    current_page: usize,
    data: Vec<TicketSummary<'a>>,
    first_page_url: String,
    from: Option<usize>,
    next_page_url: Option<String>,
    path: String,
    per_page: usize,
    prev_page_url: Option<String>,
    to: Option<usize>,
}

async fn list_tickets(
    State(sandbox): State<Arc<Sandbox>>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let Query(query) = match query {
        Ok(query) => query,
        Err(rejection) => return api_error(rejection.status(), &rejection.body_text()),
    };
    // Like the real API, a page that is not a positive number means page 1.
    let page = query
        .page
        .as_deref()
        .and_then(|p| p.parse::<usize>().ok())
        .filter(|&p| p >= 1)
        .unwrap_or(1);
    let mut filter = ListFilter::default();
    let mut kept_query = String::new();
    if let Some(text) = query.status.as_deref() {
        let Some(status) = Status::parse(text) else {
            return api_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "status must be open or closed.",
            );
        };
        filter.status = Some(status);
        kept_query.push_str(&format!("status={text}&"));
    }
    if let Some(text) = query.source.as_deref() {
        let Some(source) = Source::parse(text) else {
            return api_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "source must be portal, email or chat.",
            );
        };
        filter.source = Some(source);
        kept_query.push_str(&format!("source={text}&"));
    }
    let path = format!("{}/v1/tickets", sandbox.origin);
    let page_url = |n: usize| format!("{path}?{kept_query}page={n}");
    let skip = (page - 1).saturating_mul(PER_PAGE);
    let store = sandbox.store();
    // One more than a page tells whether a next page exists, without counting them all.
    let mut data = store.list(filter, skip, PER_PAGE + 1);
    let has_next = data.len() > PER_PAGE;
    data.truncate(PER_PAGE);
    let body = ListPage {
        current_page: page,
        first_page_url: page_url(1),
        from: (!data.is_empty()).then_some(skip + 1),
        to: (!data.is_empty()).then_some(skip + data.len()),
        next_page_url: has_next.then(|| page_url(page + 1)),
        prev_page_url: (page > 1).then(|| page_url(page - 1)),
        per_page: PER_PAGE,
        path: path.clone(),
        data,
    };
    let json = serde_json::to_vec(&body).unwrap_or_default();
    drop(store);
    json_response(StatusCode::OK, json)
}

/// `POST /oauth/tokens`: a JSON body in, an access token or an OAuth error out.
async fn issue_token(
    State(sandbox): State<Arc<Sandbox>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let request = body
        .ok()
        .and_then(|body| serde_json::from_slice::<TokenRequest>(&body).ok());
    let Some(request) = request else {
        let body = serde_json::json!({
            "error": "invalid_request",
            "error_description": "Send a JSON body: {\"grant_type\": \"refresh_token\", \"client_id\", \"client_secret\", \"refresh_token\"}.",
        });
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    };
    match sandbox.tokens.issue(&request) {
        Ok(grant) => (StatusCode::OK, Json(grant)).into_response(),
        Err(refusal) => {
            let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::BAD_REQUEST);
            (status, Json(refusal)).into_response()
        }
    }
}

async fn no_such_route() -> Response {
    api_error(StatusCode::NOT_FOUND, "Not found.")
}

async fn method_not_allowed() -> Response {
    api_error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed.")
}

async fn show_report(State(sandbox): State<Arc<Sandbox>>) -> Json<Report> {
    Json(sandbox.report())
}

async fn show_messages(State(sandbox): State<Arc<Sandbox>>) -> Response {
    let messages = sandbox.store().appended();
    Json(messages).into_response()
}
