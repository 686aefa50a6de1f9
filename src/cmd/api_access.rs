//! How a command reaches the API: its base URL, and the credentials sent there — where
//! they come from and which win.
//!
//! Precedence, most specific first:
//! 1. `--token-file PATH`: an API key (or any fixed bearer token) read from a file. A flag
//!    beats the environment, so it wins over every variable below.
//! 2. `MKP_API_TOKEN`: an API key.
//! 3. `MKP_OAUTH_CLIENT_ID` + `MKP_OAUTH_CLIENT_SECRET` + `MKP_OAUTH_REFRESH_TOKEN`: OAuth
//!    access tokens, obtained at start and renewed as they expire (at `--oauth-token-url`).
//!
//! 2 and 3 together are refused (exit 2): two environments that say different things are
//! a mistake to point out, not to settle silently. So is an OAuth set with a part missing.
//! Tokens are never taken from a flag's value, which would end up in shell history and `ps`.

use std::path::{Path, PathBuf};

use anyhow::anyhow;

use crate::api::{Credentials, OAuthClient, Secret, check_base_url, read_ca_file};
use crate::exit::Failure;
use crate::output::{self, Level};

pub const API_TOKEN_VAR: &str = "MKP_API_TOKEN";
pub const OAUTH_CLIENT_ID_VAR: &str = "MKP_OAUTH_CLIENT_ID";
pub const OAUTH_CLIENT_SECRET_VAR: &str = "MKP_OAUTH_CLIENT_SECRET";
pub const OAUTH_REFRESH_TOKEN_VAR: &str = "MKP_OAUTH_REFRESH_TOKEN";
const DEFAULT_TOKEN_URL: &str = "https://manage.mijnklantportaal.nl/oauth/tokens";

/// The default API, as documented by the vendor.
pub const DEFAULT_BASE_URL: &str = "https://api.mijnklantportaal.nl/v1";

#[derive(Debug, Clone, clap::Args)]
pub struct ApiAccessArgs {
    /// The API's base URL
    #[arg(long, env = "MKP_BASE_URL", default_value = DEFAULT_BASE_URL, value_name = "URL")]
    pub base_url: String,

    /// Read the API token from this file; wins over MKP_API_TOKEN and MKP_OAUTH_* (see
    /// "Credentials" below)
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,

    /// Where OAuth access tokens are renewed, when MKP_OAUTH_CLIENT_ID,
    /// MKP_OAUTH_CLIENT_SECRET and MKP_OAUTH_REFRESH_TOKEN are set
    #[arg(long, env = "MKP_OAUTH_TOKEN_URL", default_value = DEFAULT_TOKEN_URL, value_name = "URL")]
    pub oauth_token_url: String,

    /// Allow plain http:// URLs (base URL, OAuth token URL) to another machine: credentials
    /// then travel unencrypted. Only for a trusted network; https is the rule
    #[arg(long)]
    pub allow_insecure_http: bool,

    /// Also trust the certificate authorities in this PEM file (a company's TLS-inspecting
    /// proxy, a private CA). The operating system's trust store (or SSL_CERT_FILE) and the
    /// built-in roots are trusted in any case
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
}

/// For the `after_help` of commands that flatten [`ApiAccessArgs`].
pub const API_ACCESS_HELP: &str = "\
Credentials (the first that applies wins):
  --token-file PATH        an API key read from a file
  MKP_API_TOKEN            an API key
  MKP_OAUTH_CLIENT_ID, MKP_OAUTH_CLIENT_SECRET, MKP_OAUTH_REFRESH_TOKEN
                           OAuth: access tokens renewed before they expire
  MKP_API_TOKEN together with MKP_OAUTH_* is refused (exit 2): unset one.

Network:
  HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY (either case) are honoured; a base URL on
  this machine (localhost, 127.0.0.1, ::1) never goes through a proxy. TLS trusts the
  system's store (SSL_CERT_FILE, SSL_CERT_DIR), built-in roots, and --ca-cert FILE.";

impl ApiAccessArgs {
    pub fn resolve(&self) -> Result<Credentials, Failure> {
        let header_error = |e: String| Failure::bad_input(anyhow!(e));
        if let Some(path) = &self.token_file {
            let token = read_token_file(path)?;
            return Credentials::api_key(&token).map_err(|e| {
                header_error(format!(
                    "{e} (read from {}: the file must hold the token alone, on one line)",
                    path.display()
                ))
            });
        }
        let api_token = env_value(API_TOKEN_VAR);
        let client_id = env_value(OAUTH_CLIENT_ID_VAR);
        let client_secret = env_value(OAUTH_CLIENT_SECRET_VAR);
        let refresh_token = env_value(OAUTH_REFRESH_TOKEN_VAR);
        let any_oauth = client_id.is_some() || client_secret.is_some() || refresh_token.is_some();
        match (api_token, any_oauth) {
            (Some(_), true) => Err(Failure::bad_input(anyhow!(
                "both {API_TOKEN_VAR} and MKP_OAUTH_* are set, so it is unclear which credentials to use: unset one of them (or pass --token-file, which wins over both)"
            ))),
            (Some(token), false) => Credentials::api_key(&Secret::new(token)).map_err(header_error),
            (None, true) => match (client_id, client_secret, refresh_token) {
                (Some(client_id), Some(secret), Some(refresh)) => {
                    self.check_url("--oauth-token-url", &self.oauth_token_url)?;
                    Ok(Credentials::oauth(OAuthClient {
                        token_url: self.oauth_token_url.clone(),
                        client_id,
                        client_secret: Secret::new(secret),
                        refresh_token: Secret::new(refresh),
                    }))
                }
                (client_id, secret, refresh) => {
                    let missing: Vec<&str> = [
                        (OAUTH_CLIENT_ID_VAR, client_id.is_none()),
                        (OAUTH_CLIENT_SECRET_VAR, secret.is_none()),
                        (OAUTH_REFRESH_TOKEN_VAR, refresh.is_none()),
                    ]
                    .into_iter()
                    .filter_map(|(var, absent)| absent.then_some(var))
                    .collect();
                    Err(Failure::bad_input(anyhow!(
                        "OAuth needs {OAUTH_CLIENT_ID_VAR}, {OAUTH_CLIENT_SECRET_VAR} and {OAUTH_REFRESH_TOKEN_VAR} together; not set: {}",
                        missing.join(", ")
                    )))
                }
            },
            (None, false) => Err(Failure::bad_input(anyhow!(
                "no API credentials: set the environment variable {API_TOKEN_VAR}, or pass --token-file PATH (a file holding only the token), or set the three MKP_OAUTH_* variables. To rehearse without any, add --sandbox"
            ))),
        }
    }
}

impl ApiAccessArgs {
    /// The certificate authorities of `--ca-cert`, if given (exit 2 when unreadable).
    pub fn extra_roots(&self) -> Result<Vec<reqwest::Certificate>, Failure> {
        match &self.ca_cert {
            Some(path) => read_ca_file(path).map_err(|e| Failure::bad_input(anyhow!(e))),
            None => Ok(Vec::new()),
        }
    }

    /// The https rule for `--base-url` (see [`ApiAccessArgs::check_url`]).
    pub fn check_base_url(&self) -> Result<(), Failure> {
        self.check_url("--base-url", &self.base_url)
    }

    /// Refuses to send credentials in clear text to another machine (exit 2), before any
    /// connection is made; warns loudly when the user overrides that.
    pub fn check_url(&self, flag: &str, url: &str) -> Result<(), Failure> {
        check_base_url(flag, url, self.allow_insecure_http)
            .map_err(|e| Failure::bad_input(anyhow!(e)))?;
        if !url.starts_with("https://") && self.allow_insecure_http {
            output::say(
                Level::Warn,
                &format!("--allow-insecure-http: credentials travel unencrypted to {url}"),
            );
        }
        Ok(())
    }
}

/// A variable's value, trimmed; unset, empty and non-Unicode all count as not set.
fn env_value(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// A token is a password: a file that other users of the machine can read gives it away.
/// Warned, not refused: the file is the user's to fix, and a cron job should still run.
fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let Ok(metadata) = std::fs::metadata(path) else {
            return;
        };
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            output::say(
                Level::Warn,
                &format!(
                    "bulk-reply: the token file {} can be read by other users (mode {mode:03o}): run chmod 600 {}",
                    path.display(),
                    path.display()
                ),
            );
        }
    }
}

fn read_token_file(path: &Path) -> Result<Secret, Failure> {
    let token = std::fs::read_to_string(path).map_err(|e| {
        Failure::bad_input(anyhow!(
            "cannot read the token file {}: {e}",
            path.display()
        ))
    })?;
    warn_if_readable_by_others(path);
    let token = token.trim();
    if token.is_empty() {
        return Err(Failure::bad_input(anyhow!(
            "the token file {} is empty; put the API token in it, alone",
            path.display()
        )));
    }
    Ok(Secret::new(token))
}
