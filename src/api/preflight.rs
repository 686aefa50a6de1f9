//! The preflight: one cheap request (the first page of `GET /tickets`) before the first row,
//! so that a wrong base URL, an unreachable server, a TLS problem or a refused token stops
//! the run at once with one sentence that says what to check — rather than every row
//! failing in turn, retried, with an error that blames the tickets.

use thiserror::Error;

use super::client::{ApiClient, Reply};
use super::error::{ApiError, ErrorKind};
use super::ticket::TicketPage;

/// Why the API cannot be used as configured. Each message names the URL and what to check.
#[derive(Debug, Error)]
pub enum PreflightError {
    #[error(
        "cannot reach the API at {url}: {cause}. Check --base-url, that this machine can reach that host (network, VPN, firewall) and the proxy variables (HTTPS_PROXY, NO_PROXY)"
    )]
    Unreachable { url: String, cause: String },

    #[error("cannot connect securely to {url}: {cause}")]
    Tls { url: String, cause: String },

    #[error(
        "{url} does not answer like the MijnKlantportaal API ({what}): is --base-url right? It usually ends in /v1{suggestion}"
    )]
    NotThisApi {
        url: String,
        what: String,
        suggestion: String,
    },

    #[error("{cause} (asked for {url})")]
    TokenRefused { url: String, cause: String },

    /// The API is there but busy or in trouble (429, 5xx): not a misconfiguration, so the
    /// run goes on and its retries deal with it.
    #[error("the API answered the preflight with: {0}")]
    ServerTrouble(ApiError),
}

impl ApiClient {
    /// Asks for the first page of the ticket list and sorts any failure into what the user
    /// must fix.
    pub async fn preflight(&self) -> Result<Reply<TicketPage>, PreflightError> {
        let url = format!("{}/tickets?page=1", self.base_url());
        let error = match self.list_tickets(1, None, None).await {
            Ok(reply) => return Ok(reply),
            Err(error) => error,
        };
        let cause = error.message.clone();
        Err(match (error.kind, error.http_status) {
            (ErrorKind::Tls, _) => PreflightError::Tls { url, cause },
            (ErrorKind::Network | ErrorKind::Timeout, None) => {
                PreflightError::Unreachable { url, cause }
            }
            (ErrorKind::Unauthorized, Some(403)) => PreflightError::TokenRefused {
                url,
                cause: "the API refused the token (HTTP 403): it needs the tickets.read and tickets.write scopes".into(),
            },
            // The client's own words: they name the variables to check, and tell a renewed
            // OAuth token that is refused apart from a wrong API key.
            (ErrorKind::Unauthorized, _) => PreflightError::TokenRefused { url, cause },
            (ErrorKind::NotFound | ErrorKind::InvalidResponse, _)
            | (ErrorKind::Rejected, Some(300..=399)) => PreflightError::NotThisApi {
                suggestion: self.suggested_base_url(),
                what: match error.http_status {
                    Some(404) => "HTTP 404 for the ticket list".to_string(),
                    _ => cause,
                },
                url,
            },
            _ => PreflightError::ServerTrouble(error),
        })
    }

    /// `: try BASE/v1` when the base URL does not end in `/v1`, the usual mistake.
    fn suggested_base_url(&self) -> String {
        match self.base_url().ends_with("/v1") {
            true => String::new(),
            false => format!(": try --base-url {}/v1", self.base_url()),
        }
    }
}
