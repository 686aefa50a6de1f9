//! The base URL, which is where the token travels. A bearer token sent over plain HTTP can
//! be read by anyone on the path, so a base URL must be https, except to this machine (the
//! sandbox, a local proxy), unless the user overrides that knowingly; and the extra
//! certificate authorities (`--ca-file`) an https base URL may be trusted by.
//!
//! Proxies: reqwest honours `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` (either
//! case). A base URL on this machine never goes through one: plain http is allowed there
//! only because the bytes never leave the machine, which a remote proxy would undo.

use std::net::IpAddr;
use std::path::Path;

use reqwest::{Certificate, Url};

/// Checks a URL that credentials will be sent to (`flag` names where it came from, e.g.
/// `--base-url`), before any connection is made. `Err` is the message for the user.
pub fn check_base_url(
    flag: &str,
    base_url: &str,
    allow_insecure_http: bool,
) -> Result<Url, String> {
    let url =
        Url::parse(base_url).map_err(|e| format!("{flag} {base_url:?} is not a URL ({e})"))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) || allow_insecure_http => Ok(url),
        "http" => Err(format!(
            "refusing to send the API token unencrypted to {base_url}: use an https:// base URL \
             (plain http is allowed only to this machine; --allow-insecure-http overrides, at your own risk)"
        )),
        other => Err(format!(
            "--base-url must be an https:// URL, not {other}://"
        )),
    }
}

/// Reads the certificate authorities of a PEM file (`--ca-cert`), one or several. `Err` is
/// the message for the user.
pub fn read_ca_file(path: &Path) -> Result<Vec<Certificate>, String> {
    let pem = std::fs::read(path)
        .map_err(|e| format!("cannot read the CA file {}: {e}", path.display()))?;
    let roots = Certificate::from_pem_bundle(&pem)
        .map_err(|e| format!("{} is not a PEM certificate file: {e}", path.display()))?;
    if roots.is_empty() {
        return Err(format!(
            "{} holds no certificate: --ca-cert wants the CA in PEM form (-----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(roots)
}

/// Whether requests to `base_url` must bypass any proxy the environment names: it is on
/// this machine.
pub fn bypasses_proxies(base_url: &str) -> bool {
    Url::parse(base_url).is_ok_and(|url| is_loopback(&url))
}

/// Whether the URL's host is this machine.
fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_http_only_to_this_machine() {
        assert!(check_base_url("--base-url", "https://api.mijnklantportaal.nl/v1", false).is_ok());
        for local in [
            "http://127.0.0.1:8080/v1",
            "http://127.9.9.9/v1",
            "http://localhost:1/v1",
            "http://[::1]:80/v1",
        ] {
            assert!(
                check_base_url("--base-url", local, false).is_ok(),
                "{local}"
            );
        }
        let refused =
            check_base_url("--base-url", "http://api.mijnklantportaal.nl/v1", false).unwrap_err();
        assert!(refused.contains("https://"), "{refused}");
        assert!(check_base_url("--base-url", "http://10.0.0.5/v1", false).is_err());
        assert!(check_base_url("--base-url", "http://api.mijnklantportaal.nl/v1", true).is_ok());
        assert!(check_base_url("--base-url", "ftp://example.org/v1", true).is_err());
        assert!(check_base_url("--base-url", "not a url", false).is_err());
    }
}
