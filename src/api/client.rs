//! The HTTP engine: one reqwest client, two calls (post a message, read a ticket). It turns
//! every answer into a typed value or a classified [`ApiError`]; it never decides what to
//! do next — that is the pipeline's job.

use std::time::Duration;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, DATE, LOCATION};
use serde_json::value::RawValue;

use super::auth::Credentials;
use super::base_url::bypasses_proxies;
use super::error::ApiError;
use super::limits::RateLimitInfo;
use super::matching::{ServerClock, find_posted};
use super::ticket::{Ticket, TicketPage};

/// A larger answer is not a ticket we want to hold in memory; real tickets are far smaller.
const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

pub struct ClientOptions {
    /// Ends in `/v1`, without a trailing slash.
    pub base_url: String,
    pub credentials: Credentials,
    /// For one whole request: connect, send, and read the answer.
    pub timeout: Duration,
    /// Idle keep-alive connections to keep; match the number of workers.
    pub idle_connections: usize,
    /// How long the kernel may keep trying to deliver bytes the server has not acknowledged
    /// (TCP_USER_TIMEOUT). A request the client gave up on still sits in the socket's send
    /// queue after the socket is closed, and would otherwise reach the server whenever the
    /// path comes back — seconds or minutes later, after we checked the ticket and found
    /// nothing. With this bound, the kernel drops such a connection, bytes and all, so a
    /// request can land at most this long after it was last sent.
    pub abandon_unacknowledged_after: Duration,
    /// Certificate authorities trusted besides the operating system's store and the
    /// built-in roots (`--ca-cert`): a company's TLS-inspecting proxy, a private CA.
    pub extra_roots: Vec<reqwest::Certificate>,
}

#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base_url: String,
    credentials: Credentials,
    clock: Arc<LastKnownClock>,
}

/// The server's clock as the last answer with a `Date` header told it. An answer without
/// one (some proxies strip it) is judged by the offset seen last, not by our own clock.
#[derive(Default)]
struct LastKnownClock {
    last: Mutex<ServerClock>,
    /// Said once per run: never knowing the server's clock weakens the in-doubt check.
    warned: AtomicBool,
}

impl LastKnownClock {
    fn update(&self, seen: ServerClock) -> ServerClock {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.is_known() {
            *last = seen;
        } else if !last.is_known() && !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "the server's answers carry no Date header: whether a message on a ticket came after our request is judged by this machine's clock, with 2 minutes' allowance for a server clock behind ours"
            );
        }
        *last
    }
}

/// A successful answer with what came along with it.
#[derive(Debug)]
pub struct Reply<T> {
    pub value: T,
    pub http_status: u16,
    pub limits: RateLimitInfo,
    /// The server's clock as its `Date` header told it.
    pub clock: ServerClock,
}

/// A message that was posted: the ticket as the server returned it (for the results file)
/// and the id of the message this request created.
#[derive(Debug)]
pub struct Posted {
    pub ticket: Box<RawValue>,
    pub message_id: String,
}

/// A ticket as read: typed for decisions, raw for the results file.
#[derive(Debug)]
pub struct Fetched {
    pub ticket: Ticket,
    pub raw: Box<RawValue>,
}

impl ApiClient {
    pub fn new(options: ClientOptions) -> Result<Self, String> {
        let mut builder = options
            .extra_roots
            .into_iter()
            .fold(reqwest::Client::builder(), |builder, root| {
                builder.add_root_certificate(root)
            });
        if bypasses_proxies(&options.base_url) {
            builder = builder.no_proxy();
        }
        let http = builder
            .user_agent(concat!("bulk-reply/", env!("CARGO_PKG_VERSION")))
            .timeout(options.timeout)
            .connect_timeout(options.timeout.min(Duration::from_secs(10)))
            .pool_max_idle_per_host(options.idle_connections)
            .tcp_nodelay(true)
            .tcp_user_timeout(options.abandon_unacknowledged_after)
            // A redirect would carry the token to whatever host the Location names.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
        Ok(ApiClient {
            http,
            base_url: options.base_url.trim_end_matches('/').to_string(),
            credentials: options.credentials,
            clock: Arc::default(),
        })
    }

    /// Obtains the first OAuth access token now, so that wrong credentials stop the run
    /// before any row is touched. Nothing to do for an API key.
    pub async fn authenticate(&self) -> Result<(), ApiError> {
        self.credentials.bearer(&self.http).await.map(drop)
    }

    /// Ends in `/v1` when the user got it right, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn ticket_url(&self, ticket_id: &str) -> String {
        format!("{}/tickets/{ticket_id}", self.base_url)
    }

    /// `POST /tickets/{id}` with `{"message": …}`. On success the returned ticket must
    /// contain the new message; if it does not, the answer is invalid and the row in doubt.
    pub async fn post_message(
        &self,
        ticket_id: &str,
        message: &str,
    ) -> Result<Reply<Posted>, ApiError> {
        let body = serde_json::json!({ "message": message }).to_string();
        let request = self
            .http
            .post(self.ticket_url(ticket_id))
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        let answer = self.exchange(request).await?;
        let fetched = answer.ticket()?;
        let Some(posted) = find_posted(&fetched.ticket, message) else {
            return Err(ApiError::invalid_response(
                answer.status,
                "the server answered with a ticket that does not contain the new message",
                &answer.bytes,
                answer.limits,
            ));
        };
        let message_id = posted.id.clone();
        Ok(answer.reply(Posted {
            ticket: fetched.raw,
            message_id,
        }))
    }

    /// `GET /tickets/{id}`: the ticket with all its messages.
    pub async fn get_ticket(&self, ticket_id: &str) -> Result<Reply<Fetched>, ApiError> {
        let request = self.http.get(self.ticket_url(ticket_id));
        let answer = self.exchange(request).await?;
        let fetched = answer.ticket()?;
        Ok(answer.reply(fetched))
    }

    /// `GET /tickets?page=N`, with the `status` and `source` filters when given. Pages are
    /// asked for by number, not by following `next_page_url`: the token goes only to the
    /// base URL the user chose, never to a URL an answer names.
    pub async fn list_tickets(
        &self,
        page: u64,
        status: Option<&str>,
        source: Option<&str>,
    ) -> Result<Reply<TicketPage>, ApiError> {
        let mut query = vec![("page", page.to_string())];
        query.extend(status.map(|s| ("status", s.to_string())));
        query.extend(source.map(|s| ("source", s.to_string())));
        let request = self
            .http
            .get(format!("{}/tickets", self.base_url))
            .query(&query);
        let answer = self.exchange(request).await?;
        let page: TicketPage = serde_json::from_slice(&answer.bytes).map_err(|e| {
            ApiError::invalid_response(
                answer.status,
                format!("the answer is not a page of the ticket list: {e}"),
                &answer.bytes,
                answer.limits,
            )
        })?;
        Ok(answer.reply(page))
    }

    /// Sends a request with the current credentials and reads a bounded answer. A 401 with
    /// an OAuth token renews it and sends the request once more: a refused request was not
    /// acted on, so repeating it cannot post twice. Non-2xx statuses become errors here.
    async fn exchange(&self, request: reqwest::RequestBuilder) -> Result<Answer, ApiError> {
        let bearer = self.credentials.bearer(&self.http).await?;
        // Bodies here are bytes, so a copy can always be kept for the one repeat.
        let Some(repeat) = request.try_clone() else {
            return self
                .exchange_once(request.header(AUTHORIZATION, bearer.header))
                .await;
        };
        let first = self
            .exchange_once(request.header(AUTHORIZATION, bearer.header.clone()))
            .await;
        match first {
            Err(error) if error.http_status == Some(401) => {
                let Some(renewed) = self
                    .credentials
                    .renew_after_refusal(&self.http, &bearer)
                    .await
                else {
                    return Err(error);
                };
                tracing::debug!("the API refused the OAuth access token; renewed it, trying again");
                let answer = self
                    .exchange_once(repeat.header(AUTHORIZATION, renewed?.header))
                    .await;
                answer.map_err(|mut error| {
                    if error.http_status == Some(401) {
                        error.message = "the API refused a freshly renewed OAuth access token (HTTP 401): check that the OAuth application may use the API (MKP_OAUTH_CLIENT_ID) and that MKP_OAUTH_TOKEN_URL belongs to this API".into();
                    }
                    error
                })
            }
            other => other,
        }
    }

    async fn exchange_once(&self, request: reqwest::RequestBuilder) -> Result<Answer, ApiError> {
        let mut response = request
            .send()
            .await
            .map_err(|e| ApiError::from_transport(&e))?;
        let status = response.status().as_u16();
        let limits = RateLimitInfo::from_headers(response.headers());
        let clock = self.clock.update(ServerClock::from_date_header(
            response.headers().get(DATE).and_then(|v| v.to_str().ok()),
            SystemTime::now(),
        ));
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| ApiError::from_transport(&e))?
        {
            if bytes.len() + chunk.len() > MAX_BODY_BYTES {
                let what = format!("the answer is larger than {} MiB", MAX_BODY_BYTES >> 20);
                return Err(if (200..300).contains(&status) {
                    ApiError::invalid_response(status, what, &bytes, limits)
                } else {
                    ApiError::from_status(status, &bytes, limits, location.as_deref())
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        if !(200..300).contains(&status) {
            return Err(ApiError::from_status(
                status,
                &bytes,
                limits,
                location.as_deref(),
            ));
        }
        Ok(Answer {
            status,
            limits,
            clock,
            bytes,
        })
    }
}

/// A 2xx answer, body read.
struct Answer {
    status: u16,
    limits: RateLimitInfo,
    clock: ServerClock,
    bytes: Vec<u8>,
}

impl Answer {
    fn ticket(&self) -> Result<Fetched, ApiError> {
        let invalid =
            |why: String| ApiError::invalid_response(self.status, why, &self.bytes, self.limits);
        let raw: Box<RawValue> = serde_json::from_slice(&self.bytes)
            .map_err(|e| invalid(format!("the answer is not JSON: {e}")))?;
        let ticket: Ticket = serde_json::from_str(raw.get())
            .map_err(|e| invalid(format!("the answer is not a ticket: {e}")))?;
        Ok(Fetched { ticket, raw })
    }

    fn reply<T>(&self, value: T) -> Reply<T> {
        Reply {
            value,
            http_status: self.status,
            limits: self.limits,
            clock: self.clock,
        }
    }
}
