//! Who the client is: a fixed API key, or OAuth access tokens renewed as they expire.
//!
//! The client asks [`Credentials::bearer`] for the `Authorization` header of every request.
//! For an API key that is always the same header. For OAuth it is the current access token,
//! renewed with the refresh token shortly before its `expires_in` runs out, so a run of three
//! hours outlives many tokens. A 401 means the token died early (revoked, server clock):
//! the client renews once and repeats the request; only a 401 on a token renewed after the
//! refusal is final. Renewals are single-flight: the lock is held while one is under way, so
//! eight workers that all see an expired token cause one renewal, not eight.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::error::{ApiError, ErrorKind};
use super::limits::RateLimitInfo;
use super::secret::Secret;
use crate::duration::{NEVER, later};

/// Renew this long before a token expires, at most: time for requests in flight to land.
const MAX_RENEWAL_MARGIN: Duration = Duration::from_secs(60);

/// The OAuth application and its grant, as given by `MKP_OAUTH_*`.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    /// `https://manage.mijnklantportaal.nl/oauth/tokens` for the real API.
    pub token_url: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub refresh_token: Secret,
}

/// How the client authenticates. Cheap to clone: clones share one token.
#[derive(Clone)]
pub struct Credentials(Arc<Kind>);

enum Kind {
    ApiKey(HeaderValue),
    OAuth(TokenSource),
}

/// An `Authorization` header and which token it carries, so that a refusal can tell
/// whether the token was renewed since.
pub(crate) struct Bearer {
    pub header: HeaderValue,
    generation: u64,
}

impl Credentials {
    /// A fixed token (an API key, or a token obtained elsewhere).
    pub fn api_key(token: &Secret) -> Result<Credentials, String> {
        let header = bearer_header(token).ok_or_else(|| {
            "the API token contains characters that cannot go in an HTTP header".to_string()
        })?;
        Ok(Credentials(Arc::new(Kind::ApiKey(header))))
    }

    /// OAuth access tokens, fetched on first use and renewed as they expire.
    pub fn oauth(client: OAuthClient) -> Credentials {
        let refresh_token = client.refresh_token.clone();
        Credentials(Arc::new(Kind::OAuth(TokenSource {
            client,
            state: Mutex::new(TokenState {
                current: None,
                generation: 0,
                refresh_token,
                obtained: 0,
            }),
        })))
    }

    /// The header for the next request; renews an OAuth token that is about to expire.
    pub(crate) async fn bearer(&self, http: &reqwest::Client) -> Result<Bearer, ApiError> {
        match &*self.0 {
            Kind::ApiKey(header) => Ok(Bearer {
                header: header.clone(),
                generation: 0,
            }),
            Kind::OAuth(source) => source.bearer(http).await,
        }
    }

    /// After a 401 on the token `refused`: a renewed token to try once more with, or `None`
    /// when there is nothing to renew (an API key is what it is).
    pub(crate) async fn renew_after_refusal(
        &self,
        http: &reqwest::Client,
        refused: &Bearer,
    ) -> Option<Result<Bearer, ApiError>> {
        match &*self.0 {
            Kind::ApiKey(_) => None,
            Kind::OAuth(source) => Some(source.renew_after_refusal(http, refused).await),
        }
    }
}

struct TokenSource {
    client: OAuthClient,
    state: Mutex<TokenState>,
}

struct TokenState {
    current: Option<Issued>,
    /// Bumped with every new token.
    generation: u64,
    /// The server may rotate it with each renewal; the latest is kept in memory only.
    refresh_token: Secret,
    /// Tokens obtained so far, for the debug log.
    obtained: u64,
}

struct Issued {
    header: HeaderValue,
    renew_at: Instant,
}

/// The token endpoint's answer. Other fields (`token_type`, `scope`) are not needed.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: Option<u64>,
    refresh_token: Option<String>,
}

/// The OAuth error shape: `{"error": "invalid_grant", "error_description": "…"}`.
#[derive(Deserialize)]
struct TokenRefusal {
    error: Option<String>,
    error_description: Option<String>,
    message: Option<String>,
}

impl TokenSource {
    async fn bearer(&self, http: &reqwest::Client) -> Result<Bearer, ApiError> {
        let mut state = self.state.lock().await;
        let due = state
            .current
            .as_ref()
            .is_none_or(|issued| Instant::now() >= issued.renew_at);
        if due {
            self.renew(http, &mut state).await?;
        }
        current_bearer(&state)
    }

    async fn renew_after_refusal(
        &self,
        http: &reqwest::Client,
        refused: &Bearer,
    ) -> Result<Bearer, ApiError> {
        let mut state = self.state.lock().await;
        // Another request renewed since this one left: its token is the one to try.
        if state.generation == refused.generation {
            self.renew(http, &mut state).await?;
        }
        current_bearer(&state)
    }

    async fn renew(&self, http: &reqwest::Client, state: &mut TokenState) -> Result<(), ApiError> {
        let body = serde_json::json!({
            "grant_type": "refresh_token",
            "client_id": self.client.client_id,
            "client_secret": self.client.client_secret.expose(),
            "refresh_token": state.refresh_token.expose(),
        })
        .to_string();
        let asked_at = Instant::now();
        let response = http
            .post(&self.client.token_url)
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        let status = response.status().as_u16();
        let limits = RateLimitInfo::from_headers(response.headers());
        let bytes = response.bytes().await.map_err(|e| self.unreachable(&e))?;
        if !(200..300).contains(&status) {
            return Err(self.refused(status, &bytes, limits));
        }
        let answer: TokenAnswer = serde_json::from_slice(&bytes).map_err(|_| {
            self.fatal(format!(
                "the OAuth token endpoint {} answered HTTP {status} without an access_token; check MKP_OAUTH_TOKEN_URL",
                self.client.token_url
            ))
        })?;
        let header = bearer_header(&Secret::new(answer.access_token)).ok_or_else(|| {
            self.fatal("the OAuth token endpoint issued a token that cannot go in an HTTP header")
        })?;
        if let Some(rotated) = answer.refresh_token.filter(|t| !t.is_empty()) {
            state.refresh_token = Secret::new(rotated);
        }
        // Measured from when we asked: the server's clock started before its answer left.
        let renew_at = match answer.expires_in {
            Some(seconds) => {
                let lifetime = Duration::from_secs(seconds);
                later(asked_at, lifetime.saturating_sub(renewal_margin(lifetime)))
            }
            // No lifetime given: renew when the API refuses it.
            None => later(asked_at, NEVER),
        };
        state.current = Some(Issued { header, renew_at });
        state.generation += 1;
        state.obtained += 1;
        tracing::debug!(
            expires_in = answer.expires_in,
            tokens_obtained = state.obtained,
            "OAuth access token obtained"
        );
        Ok(())
    }

    /// The endpoint could not be reached: worth trying again, like any network trouble.
    /// Nothing was posted, so the row is not in doubt.
    fn unreachable(&self, error: &reqwest::Error) -> ApiError {
        let mut api_error = ApiError::from_transport(error);
        api_error.message = format!(
            "cannot renew the OAuth access token at {}: {}",
            self.client.token_url, api_error.message
        );
        api_error.in_doubt = false;
        api_error
    }

    /// A refusal by the token endpoint. 5xx and 429 pass; anything else means the
    /// credentials are wrong, and every further row would fail the same way.
    fn refused(&self, status: u16, body: &[u8], limits: RateLimitInfo) -> ApiError {
        let said = serde_json::from_slice::<TokenRefusal>(body)
            .ok()
            .and_then(|r| {
                let parts: Vec<String> = [r.error, r.error_description, r.message]
                    .into_iter()
                    .flatten()
                    .collect();
                (!parts.is_empty()).then(|| format!(": {}", parts.join(": ")))
            })
            .unwrap_or_default();
        let (kind, message) = match status {
            429 => (
                ErrorKind::RateLimited,
                format!("the OAuth token endpoint is rate limiting (HTTP 429{said})"),
            ),
            500..=599 => (
                ErrorKind::Server,
                format!("the OAuth token endpoint failed (HTTP {status}{said})"),
            ),
            _ => (
                ErrorKind::Unauthorized,
                format!(
                    "the OAuth token endpoint {} refused to renew the access token (HTTP {status}{said}): check MKP_OAUTH_CLIENT_ID, MKP_OAUTH_CLIENT_SECRET and MKP_OAUTH_REFRESH_TOKEN",
                    self.client.token_url
                ),
            ),
        };
        ApiError {
            kind,
            message,
            http_status: Some(status),
            // Not kept: the results file has no business with the token service's answers.
            body: None,
            limits,
            in_doubt: false,
        }
    }

    fn fatal(&self, message: impl Into<String>) -> ApiError {
        ApiError {
            kind: ErrorKind::Unauthorized,
            message: message.into(),
            http_status: None,
            body: None,
            limits: RateLimitInfo::default(),
            in_doubt: false,
        }
    }
}

fn current_bearer(state: &TokenState) -> Result<Bearer, ApiError> {
    match &state.current {
        Some(issued) => Ok(Bearer {
            header: issued.header.clone(),
            generation: state.generation,
        }),
        // `renew` either sets a token or returns its error first.
        None => Err(ApiError {
            kind: ErrorKind::Unauthorized,
            message: "no OAuth access token could be obtained".into(),
            http_status: None,
            body: None,
            limits: RateLimitInfo::default(),
            in_doubt: false,
        }),
    }
}

/// A fifth of the token's lifetime, at most a minute: an hour-long token is renewed a
/// minute early, a one-second token (the sandbox's test setting) after 0.8 s.
fn renewal_margin(lifetime: Duration) -> Duration {
    (lifetime / 5).min(MAX_RENEWAL_MARGIN)
}

fn bearer_header(token: &Secret) -> Option<HeaderValue> {
    let mut header = HeaderValue::from_str(&format!("Bearer {}", token.expose())).ok()?;
    // Marks the header so hyper and reqwest never print it in debug output.
    header.set_sensitive(true);
    Some(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renews_a_fifth_early_but_never_more_than_a_minute() {
        assert_eq!(
            renewal_margin(Duration::from_secs(1)),
            Duration::from_millis(200)
        );
        assert_eq!(
            renewal_margin(Duration::from_secs(3600)),
            Duration::from_secs(60)
        );
        assert_eq!(renewal_margin(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn an_api_key_with_a_line_break_is_refused_without_echoing_it() {
        let error = Credentials::api_key(&Secret::new("abc\ndef"))
            .err()
            .unwrap();
        assert!(!error.contains("abc"), "{error}");
    }
}
