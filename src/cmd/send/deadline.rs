//! `--deadline`: the moment after which a run starts no new request.
//!
//! Three ways to say it, for three ways of scheduling:
//! - a duration (`2h`, `90m`): from the start of the run — "at most two hours tonight";
//! - a clock time (`06:00`, `06:00:30`): its next occurrence in local time — "stop before
//!   the office opens", whatever time cron started the run;
//! - an RFC 3339 timestamp (`2026-11-25T06:00:00+01:00`): exactly then.

use std::time::Duration;

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, Time, UtcOffset};

use crate::duration::{later, parse_duration};

const HOW: &str = "write a duration (2h, 90m), a clock time in local time (06:00), or an RFC 3339 timestamp (2026-11-25T06:00:00+01:00)";

/// A deadline as written on the command line, not yet tied to a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineSpec {
    After(Duration),
    /// The next time the local clock shows this time.
    NextClock(Time),
    At(OffsetDateTime),
}

/// The `--deadline` value parser.
pub fn parse_deadline(text: &str) -> Result<DeadlineSpec, String> {
    let text = text.trim();
    if text.contains('T') || text.contains('t') {
        return OffsetDateTime::parse(text, &Rfc3339)
            .map(DeadlineSpec::At)
            .map_err(|e| format!("invalid timestamp {text:?} ({e}); {HOW}"));
    }
    if text.contains(':') {
        return parse_clock(text).map(DeadlineSpec::NextClock);
    }
    parse_duration(text)
        .map(DeadlineSpec::After)
        .map_err(|_| format!("invalid deadline {text:?}; {HOW}"))
}

fn parse_clock(text: &str) -> Result<Time, String> {
    let invalid = || format!("invalid clock time {text:?}; {HOW}");
    let parts: Vec<&str> = text.split(':').collect();
    if !(2..=3).contains(&parts.len()) {
        return Err(invalid());
    }
    let mut numbers = [0u8; 3];
    for (slot, part) in numbers.iter_mut().zip(&parts) {
        if part.len() != 2 {
            return Err(invalid());
        }
        *slot = part.parse().map_err(|_| invalid())?;
    }
    Time::from_hms(numbers[0], numbers[1], numbers[2]).map_err(|_| invalid())
}

impl DeadlineSpec {
    /// The moment meant, seen from `now` (whose offset is the local one).
    pub fn resolve(self, now: OffsetDateTime) -> OffsetDateTime {
        match self {
            DeadlineSpec::After(duration) => later(now, duration),
            DeadlineSpec::At(at) => at,
            DeadlineSpec::NextClock(clock) => {
                let today = now.replace_time(clock);
                if today > now {
                    today
                } else {
                    today + time::Duration::days(1)
                }
            }
        }
    }

    /// The deadline as a tokio instant, for the pipeline. The local offset is read here; it
    /// can only be read reliably while the process has one thread (the `time` crate refuses
    /// otherwise), so call this before the runtime starts. If it cannot be read, a clock
    /// time is taken as UTC, and the returned warning says so.
    pub fn instant(self) -> ResolvedDeadline {
        let (offset, warning) = match UtcOffset::current_local_offset() {
            Ok(offset) => (offset, None),
            Err(_) => (
                UtcOffset::UTC,
                matches!(self, DeadlineSpec::NextClock(_)).then(|| {
                    "cannot determine the local time zone; the --deadline clock time is taken as UTC".to_string()
                }),
            ),
        };
        let now = OffsetDateTime::now_utc().to_offset(offset);
        let at = self.resolve(now);
        let wait = Duration::try_from(at - now).unwrap_or(Duration::ZERO);
        ResolvedDeadline {
            instant: later(tokio::time::Instant::now(), wait),
            at,
            warning,
        }
    }
}

/// A `--deadline` as the run uses it, and as the user is told it.
pub struct ResolvedDeadline {
    pub instant: tokio::time::Instant,
    /// In the local offset (UTC if it could not be read).
    pub at: OffsetDateTime,
    /// Why a clock time was taken as UTC, if it was.
    pub warning: Option<String>,
}

impl ResolvedDeadline {
    /// RFC 3339 with the offset, as the user reads it in the first line of the run.
    pub fn describe(&self) -> String {
        let to_the_second = self.at.replace_nanosecond(0).unwrap_or(self.at);
        to_the_second
            .format(&Rfc3339)
            .unwrap_or_else(|_| "beyond any date (none, in effect)".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{datetime, time};

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 256,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x6465_6164),
            ..proptest::prelude::ProptestConfig::default()
        })]

        /// `--deadline 99999999999h` and beyond: a deadline that never comes, not a panic.
        #[test]
        fn any_deadline_resolves(secs in proptest::prelude::any::<u64>(), text in "[0-9]{1,25}[smh]") {
            let now = datetime!(2026-12-01 22:00 +01:00);
            let at = DeadlineSpec::After(Duration::from_secs(secs)).resolve(now);
            proptest::prop_assert!(at >= now);
            if let Ok(spec) = parse_deadline(&text) {
                let _ = spec.instant();
            }
        }
    }

    #[test]
    fn reads_durations_clock_times_and_timestamps() {
        assert_eq!(
            parse_deadline("2h"),
            Ok(DeadlineSpec::After(Duration::from_secs(7200)))
        );
        assert_eq!(
            parse_deadline("06:00"),
            Ok(DeadlineSpec::NextClock(time!(06:00)))
        );
        assert_eq!(
            parse_deadline("23:59:30"),
            Ok(DeadlineSpec::NextClock(time!(23:59:30)))
        );
        assert_eq!(
            parse_deadline("2026-11-25T06:00:00+01:00"),
            Ok(DeadlineSpec::At(datetime!(2026-11-25 06:00 +01:00)))
        );
    }

    #[test]
    fn refuses_what_it_cannot_read_and_says_how() {
        for bad in [
            "",
            "soon",
            "6:00",
            "24:00",
            "06:60",
            "06:00:00:00",
            "2026-13-01T00:00:00Z",
        ] {
            let error = parse_deadline(bad).unwrap_err();
            assert!(error.contains("06:00"), "{bad}: {error}");
        }
    }

    #[test]
    fn a_clock_time_is_its_next_occurrence() {
        let evening = datetime!(2026-11-24 22:00 +01:00);
        assert_eq!(
            DeadlineSpec::NextClock(time!(06:00)).resolve(evening),
            datetime!(2026-11-25 06:00 +01:00)
        );
        let early = datetime!(2026-11-24 05:00 +01:00);
        assert_eq!(
            DeadlineSpec::NextClock(time!(06:00)).resolve(early),
            datetime!(2026-11-24 06:00 +01:00)
        );
        // Exactly now is not "next": that would stop the run before it starts.
        let sharp = datetime!(2026-11-24 06:00 +01:00);
        assert_eq!(
            DeadlineSpec::NextClock(time!(06:00)).resolve(sharp),
            datetime!(2026-11-25 06:00 +01:00)
        );
        assert_eq!(
            DeadlineSpec::After(Duration::from_secs(90 * 60)).resolve(evening),
            datetime!(2026-11-24 23:30 +01:00)
        );
    }
}
