//! The HTTP engine: one reqwest client, two calls (post a message, read a ticket). It turns
//! every answer into a typed value or a classified [`ApiError`]; it never decides what to
//! do next — that is the pipeline's job.

use std::time::Duration;

use reqwest::Url;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, LOCATION};
use serde_json::value::RawValue;

use super::error::ApiError;
use super::limits::RateLimitInfo;
use super::matching::find_posted;
use super::secret::Secret;
use super::ticket::Ticket;

/// A larger answer is not a ticket we want to hold in memory; real tickets are far smaller.
const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

pub struct ClientOptions {
    /// Ends in `/v1`, without a trailing slash.
    pub base_url: String,
    pub token: Secret,
    /// For one whole request: connect, send, and read the answer.
    pub timeout: Duration,
    /// Idle keep-alive connections to keep; match the number of workers.
    pub max_connections: usize,
}

#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    /// Parsed and checked once: a malformed base URL is refused before anything is sent
    /// (before, each row failed after all its retries), and requests skip a parse each.
    base_url: Url,
    authorization: HeaderValue,
}

/// A successful answer with what came along with it.
#[derive(Debug)]
pub struct Reply<T> {
    pub value: T,
    pub http_status: u16,
    pub limits: RateLimitInfo,
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
        let http = reqwest::Client::builder()
            .user_agent(concat!("bulk-reply/", env!("CARGO_PKG_VERSION")))
            .timeout(options.timeout)
            .connect_timeout(options.timeout.min(Duration::from_secs(10)))
            .pool_max_idle_per_host(options.max_connections)
            .tcp_nodelay(true)
            // A redirect would carry the token to whatever host the Location names.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
        let mut authorization =
            HeaderValue::from_str(&format!("Bearer {}", options.token.expose())).map_err(|_| {
                "the API token contains characters that cannot go in an HTTP header".to_string()
            })?;
        // Marks the header so hyper and reqwest never print it in debug output.
        authorization.set_sensitive(true);
        let base_url = Url::parse(&options.base_url)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https"))
            .ok_or_else(|| {
                format!(
                    "the base URL {:?} is not an http(s) URL; pass one like https://api.mijnklantportaal.nl/v1",
                    options.base_url
                )
            })?;
        Ok(ApiClient {
            http,
            base_url,
            authorization,
        })
    }

    fn ticket_url(&self, ticket_id: &str) -> Url {
        let mut url = self.base_url.clone();
        // Always Ok: `new` accepts only http(s) URLs, which have a path to extend.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(["tickets", ticket_id]);
        }
        url
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
            .header(AUTHORIZATION, self.authorization.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        let (status, limits, bytes) = self.exchange(request).await?;
        let fetched = parse_ticket(status, &bytes, limits)?;
        let Some(posted) = find_posted(&fetched.ticket, message) else {
            return Err(ApiError::invalid_response(
                status,
                "the server answered with a ticket that does not contain the new message",
                &bytes,
                limits,
            ));
        };
        let message_id = posted.id.clone();
        Ok(Reply {
            value: Posted {
                ticket: fetched.raw,
                message_id,
            },
            http_status: status,
            limits,
        })
    }

    /// `GET /tickets/{id}`: the ticket with all its messages.
    pub async fn get_ticket(&self, ticket_id: &str) -> Result<Reply<Fetched>, ApiError> {
        let request = self
            .http
            .get(self.ticket_url(ticket_id))
            .header(AUTHORIZATION, self.authorization.clone());
        let (status, limits, bytes) = self.exchange(request).await?;
        let fetched = parse_ticket(status, &bytes, limits)?;
        Ok(Reply {
            value: fetched,
            http_status: status,
            limits,
        })
    }

    /// Sends a request and reads a bounded answer. Non-2xx statuses become errors here.
    async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(u16, RateLimitInfo, Vec<u8>), ApiError> {
        let mut response = request
            .send()
            .await
            .map_err(|e| ApiError::from_transport(&e))?;
        let status = response.status().as_u16();
        let limits = RateLimitInfo::from_headers(response.headers());
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
        Ok((status, limits, bytes))
    }
}

fn parse_ticket(status: u16, bytes: &[u8], limits: RateLimitInfo) -> Result<Fetched, ApiError> {
    let invalid = |why: String| ApiError::invalid_response(status, why, bytes, limits);
    let raw: Box<RawValue> = serde_json::from_slice(bytes)
        .map_err(|e| invalid(format!("the answer is not JSON: {e}")))?;
    let ticket: Ticket = serde_json::from_str(raw.get())
        .map_err(|e| invalid(format!("the answer is not a ticket: {e}")))?;
    Ok(Fetched { ticket, raw })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base_url: &str) -> Result<ApiClient, String> {
        ApiClient::new(ClientOptions {
            base_url: base_url.into(),
            token: Secret::new("t"),
            timeout: Duration::from_secs(1),
            max_connections: 1,
        })
    }

    #[test]
    fn ticket_urls_extend_the_base_path_with_or_without_a_trailing_slash() {
        for base in ["http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1/"] {
            let url = client(base).unwrap().ticket_url("tic_abc123");
            assert_eq!(url.as_str(), "http://127.0.0.1:8080/v1/tickets/tic_abc123");
        }
        let url = client("https://example.test").unwrap().ticket_url("tic_1");
        assert_eq!(url.as_str(), "https://example.test/tickets/tic_1");
    }

    #[test]
    fn a_base_url_that_is_not_a_url_is_refused_up_front() {
        for base in [
            "api.example.test/v1",
            "mailto:support@example.test",
            "ftp://example.test/v1",
            "",
        ] {
            let error = client(base).err().expect("refused");
            assert!(error.contains("not an http(s) URL"), "{error}");
        }
    }
}
