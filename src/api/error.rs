//! Every way a request can fail, classified once. The pipeline acts on [`ErrorClass`] and
//! [`ApiError::in_doubt`], never on raw status codes.

use std::fmt;

use serde::Serialize;

use super::limits::RateLimitInfo;

/// The kinds written to the results file (`error.kind`). A contract: scripts match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    RateLimited,
    Server,
    NotFound,
    Rejected,
    Unauthorized,
    Network,
    Timeout,
    /// The TLS handshake failed (an unknown certificate authority, a wrong host name, an
    /// expired certificate): every request would fail the same way until the trust is fixed.
    Tls,
    InvalidResponse,
}

impl ErrorKind {
    /// The kind's name in every file and log line: the one list of them.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Server => "server",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Rejected => "rejected",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Network => "network",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Tls => "tls",
            ErrorKind::InvalidResponse => "invalid_response",
        }
    }
}

impl Serialize for ErrorKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// What the pipeline does about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Worth another attempt after a pause (429, 5xx, network trouble, timeouts).
    Retryable,
    /// This row will never succeed as it is (404, 422 on a chat ticket, …): fail it.
    Permanent,
    /// Every other row would fail the same way (401, a TLS failure): stop the run. A 403 is
    /// only fatal once reading the ticket has shown that it is not that ticket's own.
    Fatal,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
    pub http_status: Option<u16>,
    /// The start of the body the server sent, for the results file.
    pub body: Option<String>,
    pub limits: RateLimitInfo,
    /// The request may have reached the server and been acted on although no usable answer
    /// came back. Such a message must be looked for before it is sent again.
    pub in_doubt: bool,
}

/// How much of an error body we keep: enough to read the server's explanation, not enough
/// to bloat the results file when a proxy answers with a whole HTML page.
const BODY_EXCERPT_BYTES: usize = 2048;

impl ApiError {
    /// Classifies an answer with a non-success status.
    pub fn from_status(
        status: u16,
        body: &[u8],
        limits: RateLimitInfo,
        location: Option<&str>,
    ) -> Self {
        let body = excerpt(body);
        let server_says = server_message(&body);
        let (kind, message, in_doubt) = match status {
            429 => (
                ErrorKind::RateLimited,
                "too many requests (HTTP 429)".to_string(),
                false,
            ),
            401 => (
                ErrorKind::Unauthorized,
                format!(
                    "the API refused the token (HTTP 401{server_says}): check MKP_API_TOKEN or --token-file"
                ),
                false,
            ),
            403 => (
                ErrorKind::Unauthorized,
                format!(
                    "the token lacks permission (HTTP 403{server_says}): replying needs the tickets.write scope"
                ),
                false,
            ),
            404 => (
                ErrorKind::NotFound,
                format!("no such ticket (HTTP 404{server_says})"),
                false,
            ),
            300..=399 => (
                ErrorKind::Rejected,
                format!(
                    "the server redirected to {} (HTTP {status}); redirects are not followed so the token never travels to another host: check --base-url",
                    location.unwrap_or("an unknown location")
                ),
                false,
            ),
            // A gateway timeout means a proxy gave up waiting: the API behind it may well
            // have posted the message. A 500 can come from a backend that stored the message
            // and then failed (a notification, say), a 502 from a gateway that lost the
            // backend's answer: the message may be there too. A 503 is a refusal up front.
            504 => (
                ErrorKind::Server,
                format!("gateway timeout (HTTP 504{server_says})"),
                true,
            ),
            500 | 502 => (
                ErrorKind::Server,
                format!("server error (HTTP {status}{server_says})"),
                true,
            ),
            500..=599 => (
                ErrorKind::Server,
                format!("server error (HTTP {status}{server_says})"),
                false,
            ),
            _ => (
                ErrorKind::Rejected,
                format!("request refused (HTTP {status}{server_says})"),
                false,
            ),
        };
        ApiError {
            kind,
            message,
            http_status: Some(status),
            body: Some(body),
            limits,
            in_doubt,
        }
    }

    /// Classifies a transport failure. Only a failure to connect proves the request never
    /// left; anything after that (timeout, reset, a cut-off answer) leaves it in doubt.
    pub fn from_transport(error: &reqwest::Error) -> Self {
        let never_sent = error.is_connect() || error.is_builder();
        let kind = if tls_failure(error).is_some() {
            ErrorKind::Tls
        } else if error.is_timeout() {
            ErrorKind::Timeout
        } else {
            ErrorKind::Network
        };
        ApiError {
            kind,
            message: describe_transport(error),
            http_status: error.status().map(|s| s.as_u16()),
            body: None,
            limits: RateLimitInfo::default(),
            in_doubt: !never_sent,
        }
    }

    /// A 2xx answer that is not what the API promises. The server did act on the request,
    /// so for a POST the message may well be there.
    pub fn invalid_response(
        status: u16,
        what: impl Into<String>,
        body: &[u8],
        limits: RateLimitInfo,
    ) -> Self {
        ApiError {
            kind: ErrorKind::InvalidResponse,
            message: what.into(),
            http_status: Some(status),
            body: Some(excerpt(body)),
            limits,
            in_doubt: true,
        }
    }

    pub fn class(&self) -> ErrorClass {
        match self.kind {
            ErrorKind::RateLimited
            | ErrorKind::Server
            | ErrorKind::Network
            | ErrorKind::Timeout
            | ErrorKind::InvalidResponse => ErrorClass::Retryable,
            ErrorKind::NotFound | ErrorKind::Rejected => ErrorClass::Permanent,
            ErrorKind::Unauthorized | ErrorKind::Tls => ErrorClass::Fatal,
        }
    }

    /// No connection to the server could be made (refused, no such host, no answer to the
    /// connection attempt): the request never left, and the server may not be there at all.
    pub fn could_not_connect(&self) -> bool {
        matches!(self.kind, ErrorKind::Network | ErrorKind::Timeout)
            && !self.in_doubt
            && self.http_status.is_none()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

fn excerpt(body: &[u8]) -> String {
    let cut = &body[..body.len().min(BODY_EXCERPT_BYTES)];
    String::from_utf8_lossy(cut).into_owned()
}

/// `: <message>` when the body is the API's JSON error shape, so the user reads the
/// server's own words.
fn server_message(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
        .map(|m| format!(": {m}"))
        .unwrap_or_default()
}

/// reqwest's Display names the URL; the interesting part is the innermost cause.
fn describe_transport(error: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    if let Some(tls) = tls_failure(error) {
        return format!(
            "the TLS connection failed: {tls}; if a company proxy or a private certificate authority signs the server's certificate, add that CA to the system's trust store or pass it with --ca-cert FILE"
        );
    }
    let what = if error.is_timeout() {
        "no answer within the timeout"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "the connection failed"
    };
    format!("{what}: {cause}")
}

/// The rustls error somewhere in the cause chain, if the TLS handshake is what failed.
/// hyper carries it inside `io::Error`s (nested), whose `source()` skips the error they
/// wrap, hence `get_ref`.
fn tls_failure(error: &reqwest::Error) -> Option<&rustls::Error> {
    fn find<'a>(cause: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        let wrapped = cause
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|inner| inner as &(dyn std::error::Error + 'static));
        wrapped.or_else(|| cause.source()).and_then(find)
    }
    find(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(status: u16) -> (ErrorKind, ErrorClass) {
        let e = ApiError::from_status(status, b"", RateLimitInfo::default(), None);
        (e.kind, e.class())
    }

    #[test]
    fn statuses_map_to_kinds_and_classes() {
        assert_eq!(
            classify(429),
            (ErrorKind::RateLimited, ErrorClass::Retryable)
        );
        for s in [500, 502, 503, 504] {
            assert_eq!(classify(s), (ErrorKind::Server, ErrorClass::Retryable));
        }
        assert_eq!(classify(404), (ErrorKind::NotFound, ErrorClass::Permanent));
        for s in [400, 409, 422, 418] {
            assert_eq!(classify(s), (ErrorKind::Rejected, ErrorClass::Permanent));
        }
        assert_eq!(classify(401), (ErrorKind::Unauthorized, ErrorClass::Fatal));
        assert_eq!(classify(403), (ErrorKind::Unauthorized, ErrorClass::Fatal));
        assert_eq!(classify(302), (ErrorKind::Rejected, ErrorClass::Permanent));
    }

    #[test]
    fn quotes_the_server_and_caps_the_body() {
        let body = br#"{"code":422,"message":"Chat tickets cannot receive messages."}"#;
        let e = ApiError::from_status(422, body, RateLimitInfo::default(), None);
        assert!(
            e.message.contains("Chat tickets cannot receive messages."),
            "{}",
            e.message
        );
        let huge = vec![b'x'; 1 << 20];
        let e = ApiError::from_status(500, &huge, RateLimitInfo::default(), None);
        assert_eq!(e.body.unwrap().len(), BODY_EXCERPT_BYTES);
    }

    #[test]
    fn statuses_after_which_the_message_may_be_stored_are_in_doubt() {
        for stored_perhaps in [500, 502, 504] {
            let error = ApiError::from_status(stored_perhaps, b"", RateLimitInfo::default(), None);
            assert!(error.in_doubt, "HTTP {stored_perhaps}");
        }
        assert!(!ApiError::from_status(503, b"", RateLimitInfo::default(), None).in_doubt);
        assert!(!ApiError::from_status(404, b"", RateLimitInfo::default(), None).in_doubt);
    }
}
