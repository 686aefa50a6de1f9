//! Human durations on the command line: `250ms`, `30s`, `5m`, `2h`, `1h30m`, and signed ones
//! (`-5m`, `+90s`) where a value may lie in either direction, such as a clock's skew; and
//! [`later`], the one way a duration that a user, a server or a file gave is added to a
//! moment; and [`for_people`], the one way a duration is written for a person to read.

use std::time::{Duration, SystemTime};

/// The furthest ahead bulk-reply ever plans: about a century. Anything later is as good as
/// never, and a century from now fits every clock type, so adding it cannot overflow.
pub const NEVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A point in time a duration can be added to without panicking.
pub trait Moment: Copy {
    fn checked_plus(self, wait: Duration) -> Option<Self>;
}

impl Moment for std::time::Instant {
    fn checked_plus(self, wait: Duration) -> Option<Self> {
        self.checked_add(wait)
    }
}

impl Moment for tokio::time::Instant {
    fn checked_plus(self, wait: Duration) -> Option<Self> {
        self.checked_add(wait)
    }
}

impl Moment for SystemTime {
    fn checked_plus(self, wait: Duration) -> Option<Self> {
        self.checked_add(wait)
    }
}

impl Moment for time::OffsetDateTime {
    fn checked_plus(self, wait: Duration) -> Option<Self> {
        self.checked_add(time::Duration::try_from(wait).ok()?)
    }
}

/// `from + wait`, with `wait` capped at [`NEVER`]: `--deadline 99999999999h`, an
/// `expires_in` of `u64::MAX` or a huge `--token-ttl` mean "not in this run", not a panic.
/// Only a clock already at the end of its range (not a real one) gets `from` back.
pub fn later<T: Moment>(from: T, wait: Duration) -> T {
    from.checked_plus(wait.min(NEVER)).unwrap_or(from)
}

/// Parses a duration such as `20ms`, `30s`, `5m`, `1h` or `1h30m`. A bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration; write e.g. 500ms, 30s, 5m or 1h".into());
    }
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!(
                "invalid duration {text:?}; write e.g. 500ms, 30s, 5m or 1h"
            ));
        }
        let value: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("number too large in duration {text:?}"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "ms" => Duration::from_millis(value),
            "s" | "sec" => Duration::from_secs(value),
            "m" | "min" => Duration::from_secs(value.saturating_mul(60)),
            "h" => Duration::from_secs(value.saturating_mul(3600)),
            _ => {
                return Err(format!(
                    "unknown unit {unit:?} in duration {text:?}; use ms, s, m or h"
                ));
            }
        };
        total = total.saturating_add(part);
    }
    Ok(total)
}

/// Parses a duration that may be negative: `-5m`, `+90s`, `2m` (no sign: positive). The part
/// after the sign is read by [`parse_duration`].
pub fn parse_signed_duration(text: &str) -> Result<time::Duration, String> {
    let text = text.trim();
    let (negative, magnitude) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let magnitude = parse_duration(magnitude)?;
    let magnitude = time::Duration::try_from(magnitude)
        .map_err(|_| format!("duration {text:?} is too large"))?;
    Ok(if negative { -magnitude } else { magnitude })
}

/// `0.4 s`, `19 s`, `16 min 39 s`, `2 h 46 min`: as precise as a person planning their day
/// needs. Tenths only below ten seconds; whole seconds round up, so "takes at least 19 s" is
/// never an underestimate.
pub fn for_people(duration: Duration) -> String {
    if duration < Duration::from_secs(10) && duration.subsec_nanos() > 0 {
        return format!("{:.1} s", duration.as_secs_f64());
    }
    let seconds = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    match seconds {
        0..60 => format!("{seconds} s"),
        60..3600 => format!("{} min {} s", seconds / 60, seconds % 60),
        _ => format!("{} h {} min", seconds / 3600, seconds % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 512,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x7469_6d65),
            ..proptest::prelude::ProptestConfig::default()
        })]

        /// Whatever a flag says, parsing it gives a duration or a message, never a panic.
        #[test]
        fn any_text_parses_or_is_refused(text in "\\PC{0,24}", digits in "[0-9]{1,30}(ms|s|m|min|h)?") {
            let _ = parse_duration(&text);
            let _ = parse_signed_duration(&text);
            let _ = parse_duration(&digits);
        }

        /// Any duration added to any of the clocks in use lands at most a century away.
        #[test]
        fn any_duration_can_be_added_to_every_clock(secs in proptest::prelude::any::<u64>(), nanos in 0u32..1_000_000_000) {
            let wait = Duration::new(secs, nanos);
            let now = std::time::Instant::now();
            proptest::prop_assert!(later(now, wait) <= now + NEVER);
            let wall = SystemTime::now();
            proptest::prop_assert!(later(wall, wait) <= wall + NEVER);
            let _ = later(tokio::time::Instant::now(), wait);
            let _ = later(time::OffsetDateTime::now_utc(), wait);
        }
    }

    #[test]
    fn parses_units_and_combinations() {
        assert_eq!(parse_duration("20ms"), Ok(Duration::from_millis(20)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
    }

    #[test]
    fn formats_durations_for_people() {
        assert_eq!(for_people(Duration::ZERO), "0 s");
        assert_eq!(for_people(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(for_people(Duration::from_millis(12_300)), "13 s");
        assert_eq!(for_people(Duration::from_secs(19)), "19 s");
        assert_eq!(for_people(Duration::from_secs(999)), "16 min 39 s");
        assert_eq!(for_people(Duration::from_secs(9999)), "2 h 46 min");
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_duration("").is_err());
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("10 parsecs").is_err());
        assert!(parse_duration("5d").is_err());
    }

    #[test]
    fn signed_durations_take_an_optional_sign() {
        assert_eq!(
            parse_signed_duration("-5m"),
            Ok(time::Duration::minutes(-5))
        );
        assert_eq!(
            parse_signed_duration("+90s"),
            Ok(time::Duration::seconds(90))
        );
        assert_eq!(parse_signed_duration("2m"), Ok(time::Duration::minutes(2)));
        assert_eq!(
            parse_signed_duration(" -1h30m "),
            Ok(-time::Duration::minutes(90))
        );
        assert_eq!(parse_signed_duration("0s"), Ok(time::Duration::ZERO));
    }

    #[test]
    fn signed_durations_reject_a_bare_or_doubled_sign() {
        assert!(parse_signed_duration("-").is_err());
        assert!(parse_signed_duration("+").is_err());
        assert!(parse_signed_duration("--5m").is_err());
        assert!(parse_signed_duration("-fast").is_err());
    }
}
