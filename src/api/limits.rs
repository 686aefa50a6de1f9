//! The rate-limit facts every answer carries (`X-RateLimit-Limit`, `X-RateLimit-Remaining`,
//! and the window when a `RateLimit-Policy` names one) and the wait a 429 asks for
//! (`retry-after`, `x-ratelimit-reset`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimitInfo {
    /// The limit in force for this key, per window.
    pub limit: Option<u32>,
    /// Calls left in the current window.
    pub remaining: Option<u32>,
    /// The window `limit` counts in, when the server names it (`RateLimit-Policy: 20;w=1`,
    /// the IETF draft's field); the vendor documents a minute.
    pub window: Option<Duration>,
    /// How long the server asks us to wait before the next call (on a 429).
    pub retry_after: Option<Duration>,
}

impl RateLimitInfo {
    /// Reads the headers case-insensitively (HeaderMap does). A header that does not parse is
    /// ignored rather than trusted: a wrong wait is worse than the default backoff.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let number =
            |name: &str| -> Option<u64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
        let retry_after = headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after)
            .or_else(|| number("x-ratelimit-reset").map(until_unix_time))
            .map(|wait| wait.min(MAX_SERVER_WAIT));
        let limit = number("x-ratelimit-limit").and_then(|n| u32::try_from(n).ok());
        RateLimitInfo {
            limit,
            remaining: number("x-ratelimit-remaining").and_then(|n| u32::try_from(n).ok()),
            window: headers
                .get("ratelimit-policy")
                .and_then(|v| v.to_str().ok())
                .and_then(|field| policy_window(field, limit)),
            retry_after,
        }
    }
}

/// The window of the policy in a `RateLimit-Policy` field whose quota is `limit` (the
/// `X-RateLimit-Limit` beside it): `20;w=1` (draft 7) or `"default";q=20;w=1` (later
/// drafts); seconds, a fraction allowed, at least [`MIN_POLICY_WINDOW`]. A field that names
/// no such policy, or nonsense, is ignored: the documented minute stands.
fn policy_window(field: &str, limit: Option<u32>) -> Option<Duration> {
    let limit = limit?;
    field.split(',').find_map(|policy| {
        let mut quota = None;
        let mut window = None;
        for param in policy.split(';').map(str::trim) {
            if let Some(q) = param.strip_prefix("q=") {
                quota = q.trim().parse::<u32>().ok();
            } else if let Some(w) = param.strip_prefix("w=") {
                window = w.trim().parse::<f64>().ok();
            } else if let Ok(bare) = param.parse::<u32>() {
                quota = Some(bare);
            }
        }
        let seconds = window?;
        (quota? == limit
            && seconds.is_finite()
            && seconds >= MIN_POLICY_WINDOW.as_secs_f64()
            && seconds <= MAX_SERVER_WAIT.as_secs_f64())
        .then(|| Duration::from_secs_f64(seconds))
    })
}

/// A window shorter than this is not believed: pacing to it would let everything go at once.
const MIN_POLICY_WINDOW: Duration = Duration::from_millis(100);

/// The longest pause a server's answer can impose. A nonsensical `retry-after` (or a reset
/// time sent in milliseconds) would otherwise hold every worker for ever.
pub const MAX_SERVER_WAIT: Duration = Duration::from_secs(3600);

/// `retry-after` is either whole seconds or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

fn until_unix_time(reset: u64) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Duration::from_secs(reset).saturating_sub(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn reads_limits_whatever_the_header_case() {
        let info = RateLimitInfo::from_headers(&headers(&[
            ("X-RateLimit-Limit", "60"),
            ("x-ratelimit-remaining", "12"),
            ("Retry-After", "7"),
        ]));
        assert_eq!(info.limit, Some(60));
        assert_eq!(info.remaining, Some(12));
        assert_eq!(info.retry_after, Some(Duration::from_secs(7)));
    }

    #[test]
    fn falls_back_to_the_reset_time() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let info = RateLimitInfo::from_headers(&headers(&[(
            "x-ratelimit-reset",
            &(now + 30).to_string(),
        )]));
        let wait = info.retry_after.unwrap();
        assert!(
            wait <= Duration::from_secs(30) && wait >= Duration::from_secs(28),
            "{wait:?}"
        );
    }

    #[test]
    fn an_absurd_wait_is_capped_at_an_hour() {
        let info = RateLimitInfo::from_headers(&headers(&[("retry-after", "99999999999999999")]));
        assert_eq!(info.retry_after, Some(MAX_SERVER_WAIT));
        let info = RateLimitInfo::from_headers(&headers(&[("x-ratelimit-reset", "1764000000000")]));
        assert_eq!(info.retry_after, Some(MAX_SERVER_WAIT));
    }

    #[test]
    fn reads_the_window_of_a_rate_limit_policy() {
        let window = |limit: &str, field: &str| {
            RateLimitInfo::from_headers(&headers(&[
                ("X-RateLimit-Limit", limit),
                ("RateLimit-Policy", field),
            ]))
            .window
        };
        assert_eq!(window("20", "20;w=1"), Some(Duration::from_secs(1)));
        assert_eq!(
            window("600", "\"default\";q=600;w=60"),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            window("5", "5;w=0.5, 100;w=60"),
            Some(Duration::from_millis(500))
        );
        // The policy whose quota is the stated limit, not the first one.
        assert_eq!(
            window("60", "\"burst\";q=10;w=1, \"minute\";q=60;w=60"),
            Some(Duration::from_secs(60))
        );
        for nonsense in [
            "20",
            "20;w=0",
            "20;w=-1",
            "20;w=lots",
            "20;w=1e99",
            "20;w=1e-9",
            "21;w=1",
        ] {
            assert_eq!(window("20", nonsense), None, "{nonsense}");
        }
        let without_limit =
            RateLimitInfo::from_headers(&headers(&[("RateLimit-Policy", "20;w=1")]));
        assert_eq!(without_limit.window, None);
    }

    #[test]
    fn ignores_garbage() {
        let info = RateLimitInfo::from_headers(&headers(&[
            ("x-ratelimit-limit", "lots"),
            ("retry-after", "soon"),
        ]));
        assert_eq!(info, RateLimitInfo::default());
    }
}
