//! The OAuth token endpoint, `POST /oauth/tokens` on the sandbox's origin, and the access
//! tokens it issued: accepted on `/v1` until they expire.
//!
//! What the vendor documents: a JSON body `{"grant_type": "refresh_token", "client_id",
//! "client_secret", "refresh_token"}` answered with `{"access_token", "expires_in"}`. Where
//! the reference is silent, the sandbox decides: any non-empty refresh token is accepted for
//! the configured client; errors use the OAuth 2 shape (`{"error", "error_description"}`)
//! with 400 for a malformed request and 401 for a wrong client.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::duration::later;
use serde::{Deserialize, Serialize};

/// The one OAuth application the sandbox knows.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthApp {
    pub client_id: String,
    pub client_secret: String,
}

/// Written by hand so that the secret never reaches a log line.
impl fmt::Debug for OAuthApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthApp")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

#[derive(Deserialize)]
pub struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    refresh_token: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct TokenGrant {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
}

/// An OAuth error answer: its status and body.
#[derive(Debug, Serialize)]
pub struct TokenRefusal {
    #[serde(skip)]
    pub status: u16,
    pub error: &'static str,
    pub error_description: String,
}

pub struct TokenIssuer {
    app: Option<OAuthApp>,
    ttl: Duration,
    /// Issued tokens and when each stops being accepted.
    live: Mutex<HashMap<String, Instant>>,
    issued: AtomicU64,
    /// Makes tokens differ between sandboxes; not a secret, the sandbox guards nothing real.
    salt: u64,
}

impl TokenIssuer {
    pub fn new(app: Option<OAuthApp>, ttl: Duration) -> TokenIssuer {
        TokenIssuer {
            app,
            ttl,
            live: Mutex::default(),
            issued: AtomicU64::new(0),
            salt: rand::random(),
        }
    }

    pub fn tokens_issued(&self) -> u64 {
        self.issued.load(Relaxed)
    }

    /// Whether `token` was issued here and has not expired.
    pub fn accepts(&self, token: &str) -> bool {
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.get(token).is_some_and(|&until| Instant::now() < until)
    }

    pub fn issue(&self, request: &TokenRequest) -> Result<TokenGrant, TokenRefusal> {
        let refuse = |status, error, description: &str| TokenRefusal {
            status,
            error,
            error_description: description.to_string(),
        };
        let Some(app) = &self.app else {
            return Err(refuse(
                401,
                "invalid_client",
                "No OAuth client is configured; start the sandbox with --oauth-client-id and --oauth-client-secret.",
            ));
        };
        if request.grant_type.as_deref() != Some("refresh_token") {
            return Err(refuse(
                400,
                "unsupported_grant_type",
                "grant_type must be refresh_token.",
            ));
        }
        if request.client_id.as_deref() != Some(app.client_id.as_str())
            || request.client_secret.as_deref() != Some(app.client_secret.as_str())
        {
            return Err(refuse(
                401,
                "invalid_client",
                "Unknown client_id or wrong client_secret.",
            ));
        }
        if request.refresh_token.as_deref().is_none_or(str::is_empty) {
            return Err(refuse(400, "invalid_request", "refresh_token is required."));
        }
        let number = self.issued.fetch_add(1, Relaxed) + 1;
        let access_token = format!("sbx_at_{:016x}_{number}", self.salt);
        let now = Instant::now();
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        // Forget the expired ones, so a long rehearsal does not grow the map.
        live.retain(|_, until| *until > now);
        live.insert(access_token.clone(), later(now, self.ttl));
        Ok(TokenGrant {
            access_token,
            token_type: "Bearer",
            expires_in: self.ttl.as_secs(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(secret: &str) -> TokenRequest {
        TokenRequest {
            grant_type: Some("refresh_token".into()),
            client_id: Some("app".into()),
            client_secret: Some(secret.into()),
            refresh_token: Some("any".into()),
        }
    }

    fn issuer(ttl: Duration) -> TokenIssuer {
        let app = OAuthApp {
            client_id: "app".into(),
            client_secret: "s3cret".into(),
        };
        TokenIssuer::new(Some(app), ttl)
    }

    #[test]
    fn issues_tokens_for_its_client_only_and_accepts_them_until_they_expire() {
        let issuer = issuer(Duration::from_secs(60));
        let grant = issuer.issue(&request("s3cret")).unwrap();
        assert_eq!(grant.expires_in, 60);
        assert!(issuer.accepts(&grant.access_token));
        assert!(!issuer.accepts("sbx_at_forged"));
        let refusal = issuer.issue(&request("wrong")).unwrap_err();
        assert_eq!((refusal.status, refusal.error), (401, "invalid_client"));
        assert_eq!(issuer.tokens_issued(), 1);

        let expired = self::issuer(Duration::ZERO);
        let grant = expired.issue(&request("s3cret")).unwrap();
        assert!(!expired.accepts(&grant.access_token));
    }

    #[test]
    fn without_a_configured_client_nothing_is_issued() {
        let issuer = TokenIssuer::new(None, Duration::from_secs(60));
        assert_eq!(issuer.issue(&request("s3cret")).unwrap_err().status, 401);
    }
}
