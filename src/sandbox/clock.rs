//! The server's clock, which need not agree with the client's (`--clock-skew`).
//!
//! Everything the sandbox dates is dated by it: `createdAt` of the tickets it creates,
//! `postedAt` of the messages it stores, and the `Date` header of every answer. A client that
//! compares `postedAt` with its own clock (to recognise "my message from a second ago") meets
//! the same surprise as against a real server minutes off.

use std::time::SystemTime;

use anyhow::bail;
use time::OffsetDateTime;
use time::format_description::FormatItem;
use time::macros::format_description;

/// ATOM as the API writes it: `2024-04-29T21:00:00+02:00`, never `Z`.
const ATOM: &[FormatItem<'static>] = format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second][offset_hour sign:mandatory]:[offset_minute]"
);

/// Beyond a year a skew models no real server, and it keeps dates inside what HTTP dates
/// and `time` can write.
const MAX_SKEW: time::Duration = time::Duration::days(365);

/// Real time moved by a fixed skew: positive runs ahead of the client, negative behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServerClock {
    skew: time::Duration,
}

impl ServerClock {
    /// A clock `skew` off real time; at most a year either way.
    pub fn skewed_by(skew: time::Duration) -> anyhow::Result<ServerClock> {
        if skew.abs() > MAX_SKEW {
            bail!(
                "--clock-skew {skew} is more than a year; a real server is minutes off, not years"
            );
        }
        Ok(ServerClock { skew })
    }

    pub fn is_skewed(self) -> bool {
        !self.skew.is_zero()
    }

    pub fn now(self) -> OffsetDateTime {
        let real = OffsetDateTime::now_utc();
        real.checked_add(self.skew).unwrap_or(real)
    }

    /// Now by this clock, in ATOM format (UTC, written `+00:00`).
    pub fn atom_now(self) -> String {
        self.now()
            .format(ATOM)
            .unwrap_or_else(|_| String::from("1970-01-01T00:00:00+00:00"))
    }

    /// Now by this clock as an HTTP `Date` (RFC 7231 IMF-fixdate:
    /// `Sun, 06 Nov 1994 08:49:37 GMT`).
    pub fn http_date(self) -> String {
        httpdate::fmt_http_date(SystemTime::from(self.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::format_description::well_known::Rfc3339;

    #[test]
    fn atom_dates_use_a_numeric_offset() {
        let now = ServerClock::default().atom_now();
        assert_eq!(now.len(), "2024-04-29T21:00:00+00:00".len(), "{now}");
        assert!(now.ends_with("+00:00"), "{now}");
        assert!(OffsetDateTime::parse(&now, &Rfc3339).is_ok());
    }

    #[test]
    fn a_skewed_clock_is_off_by_its_skew_in_both_formats() {
        let behind = ServerClock::skewed_by(time::Duration::minutes(-5)).unwrap();
        let real = OffsetDateTime::now_utc();
        let atom = OffsetDateTime::parse(&behind.atom_now(), &Rfc3339).unwrap();
        let off = atom - real;
        assert!(
            (time::Duration::seconds(-301)..=time::Duration::seconds(-299)).contains(&off),
            "{off}"
        );
        let date = httpdate::parse_http_date(&behind.http_date()).unwrap();
        let off = OffsetDateTime::from(date) - real;
        assert!(
            (time::Duration::seconds(-301)..=time::Duration::seconds(-299)).contains(&off),
            "{off}"
        );
        assert!(behind.is_skewed() && !ServerClock::default().is_skewed());
    }

    #[test]
    fn refuses_a_skew_beyond_a_year() {
        assert!(ServerClock::skewed_by(time::Duration::days(366)).is_err());
        assert!(ServerClock::skewed_by(-time::Duration::days(366)).is_err());
        assert!(ServerClock::skewed_by(time::Duration::days(365)).is_ok());
    }
}
