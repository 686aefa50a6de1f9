//! A request rate such as `60/min`, shared by `validate` (time estimates), `send` (the
//! client's pace) and `sandbox` (the server's limit); and `--rate auto`, the pace the
//! server's answers say.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::duration::parse_duration;

/// The longest window a rate may have: longer ones are typos, and would overflow clocks.
const MAX_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// At most `requests` requests in any window of length `per`, or no limit at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rate {
    Limited { requests: u32, per: Duration },
    Unlimited,
}

impl Rate {
    /// The API's documented default: 60 requests per minute per key.
    pub const API_DEFAULT: Rate = Rate::Limited {
        requests: 60,
        per: Duration::from_secs(60),
    };

    /// Time between two requests at a steady pace, `None` when unlimited.
    pub fn interval(&self) -> Option<Duration> {
        match *self {
            Rate::Limited { requests, per } => Some(per / requests),
            Rate::Unlimited => None,
        }
    }

    /// The shortest time `count` requests can take when they leave one interval apart: the
    /// steady pace of a long job, which bursts cannot beat over many windows.
    pub fn ideal_duration(&self, count: u64) -> Duration {
        match self.interval() {
            Some(interval) => {
                interval.saturating_mul(count.saturating_sub(1).min(u32::MAX as u64) as u32)
            }
            None => Duration::ZERO,
        }
    }
}

/// What `--rate` asks for: the server's limit as its answers state it, or a cap of ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateSetting {
    /// The documented 60/min until the first answer's `X-RateLimit-Limit`, then that (per
    /// minute, as the vendor documents it), up or down.
    Auto,
    /// At most this, whatever the server allows; still less when its answers say so.
    Cap(Rate),
}

impl RateSetting {
    /// The rate to plan with before any answer: the documented default, or the cap.
    pub fn assumed(&self) -> Rate {
        match *self {
            RateSetting::Auto => Rate::API_DEFAULT,
            RateSetting::Cap(rate) => rate,
        }
    }
}

impl FromStr for RateSetting {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.trim().eq_ignore_ascii_case("auto") {
            return Ok(RateSetting::Auto);
        }
        text.parse().map(RateSetting::Cap).map_err(|error: String| {
            error.replace(
                ", or unlimited",
                ", unlimited, or auto (the server's own limit)",
            )
        })
    }
}

impl fmt::Display for RateSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RateSetting::Auto => f.write_str("auto"),
            RateSetting::Cap(rate) => rate.fmt(f),
        }
    }
}

impl Rate {
    /// The shortest time `count` requests can take within a rolling window starting fresh:
    /// a window's worth leaves at once, the next a window later, and so on.
    pub fn shortest_duration(&self, count: u64) -> Duration {
        match *self {
            Rate::Limited { requests, per } => {
                let windows = count.saturating_sub(1) / u64::from(requests);
                per.saturating_mul(windows.min(u64::from(u32::MAX)) as u32)
            }
            Rate::Unlimited => Duration::ZERO,
        }
    }
}

impl FromStr for Rate {
    type Err = String;

    /// `N/s`, `N/min`, `N/h`, `N/<duration>` (e.g. `5/500ms`), `unlimited` or `off`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("unlimited") || text.eq_ignore_ascii_case("off") {
            return Ok(Rate::Unlimited);
        }
        let hint = "write it as N/s, N/min or N/h (e.g. 60/min), or unlimited";
        let (count, unit) = text
            .split_once('/')
            .ok_or_else(|| format!("invalid rate {text:?}: {hint}"))?;
        let requests: u32 = count.trim().parse().map_err(|_| {
            format!("invalid rate {text:?}: {count:?} is not a whole number; {hint}")
        })?;
        if requests == 0 {
            return Err(format!(
                "invalid rate {text:?}: the count must be at least 1; {hint}"
            ));
        }
        let per = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            other => parse_duration(other).map_err(|_| format!("invalid rate {text:?}: {hint}"))?,
        };
        if per.is_zero() {
            return Err(format!(
                "invalid rate {text:?}: the window must be longer than zero"
            ));
        }
        if per > MAX_WINDOW {
            return Err(format!(
                "invalid rate {text:?}: the window can be at most a day (e.g. 1000/24h)"
            ));
        }
        Ok(Rate::Limited { requests, per })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Rate::Unlimited => f.write_str("unlimited"),
            Rate::Limited { requests, per } => match per.as_millis() {
                1_000 => write!(f, "{requests}/s"),
                60_000 => write!(f, "{requests}/min"),
                3_600_000 => write!(f, "{requests}/h"),
                ms => write!(f, "{requests}/{ms}ms"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!("60/min".parse(), Ok(Rate::API_DEFAULT));
        assert_eq!(
            "20/s".parse(),
            Ok(Rate::Limited {
                requests: 20,
                per: Duration::from_secs(1)
            })
        );
        assert_eq!(
            "100/h".parse(),
            Ok(Rate::Limited {
                requests: 100,
                per: Duration::from_secs(3600)
            })
        );
        assert_eq!(
            "5/500ms".parse(),
            Ok(Rate::Limited {
                requests: 5,
                per: Duration::from_millis(500)
            })
        );
        assert_eq!("unlimited".parse(), Ok(Rate::Unlimited));
        assert_eq!("off".parse(), Ok(Rate::Unlimited));
    }

    #[test]
    fn rejects_nonsense_with_a_hint() {
        for bad in [
            "",
            "60",
            "0/s",
            "x/min",
            "10/fortnight",
            "5/0ms",
            "1/25h",
            "1/18446744073709551615",
        ] {
            let err = bad.parse::<Rate>().unwrap_err();
            assert!(err.contains("rate"), "{bad}: {err}");
        }
    }

    #[test]
    fn displays_round_trip() {
        for text in ["60/min", "20/s", "100/h", "5/500ms", "unlimited"] {
            assert_eq!(text.parse::<Rate>().unwrap().to_string(), text);
        }
    }

    #[test]
    fn auto_or_a_cap() {
        assert_eq!("auto".parse(), Ok(RateSetting::Auto));
        assert_eq!("AUTO".parse::<RateSetting>().unwrap().to_string(), "auto");
        assert_eq!(
            "20/s".parse::<RateSetting>().unwrap().assumed().to_string(),
            "20/s"
        );
        assert_eq!(RateSetting::Auto.assumed(), Rate::API_DEFAULT);
        let err = "fast".parse::<RateSetting>().unwrap_err();
        assert!(err.contains("or auto"), "{err}");
    }

    #[test]
    fn ideal_duration_counts_intervals_between_requests() {
        let rate: Rate = "20/s".parse().unwrap();
        assert_eq!(rate.ideal_duration(400), Duration::from_millis(19_950));
        assert_eq!(rate.ideal_duration(0), Duration::ZERO);
        assert_eq!(Rate::Unlimited.ideal_duration(1000), Duration::ZERO);
    }

    #[test]
    fn shortest_duration_counts_whole_windows_after_the_first() {
        let rate = Rate::API_DEFAULT;
        assert_eq!(rate.shortest_duration(60), Duration::ZERO);
        assert_eq!(rate.shortest_duration(61), Duration::from_secs(60));
        assert_eq!(
            rate.shortest_duration(10_000),
            Duration::from_secs(166 * 60)
        );
        assert_eq!(rate.shortest_duration(0), Duration::ZERO);
        assert_eq!(Rate::Unlimited.shortest_duration(5), Duration::ZERO);
    }
}
