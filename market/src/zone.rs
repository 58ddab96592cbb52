//! New York time from the IANA time-zone database (bundled into the binary by `jiff`, so the answer does not
//! depend on the machine's zoneinfo): the listed options market runs on it — expiries are New York dates, the
//! session is 09:30–16:00 ET, PM-settled contracts expire at 16:00 ET.

use std::sync::OnceLock;

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::Timestamp;

use crate::{Date, DAY_MS, HOUR_MS, MINUTE_MS};

/// `America/New_York`, loaded once.
pub fn new_york() -> &'static TimeZone {
    static TZ: OnceLock<TimeZone> = OnceLock::new();
    TZ.get_or_init(|| {
        TimeZone::get("America/New_York").expect("the bundled tz database has New York")
    })
}

fn timestamp(utc_ms: i64) -> Timestamp {
    Timestamp::from_millisecond(utc_ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The instant (UTC ms) of `hh:mm` New York time on `date`. Inside the skipped hour of the spring switch the
/// later reading wins (no market time falls there).
pub fn at_et(date: Date, hh: i64, mm: i64) -> i64 {
    let dt = date
        .civil()
        .at(0, 0, 0, 0)
        .checked_add(jiff::SignedDuration::from_millis(
            hh * HOUR_MS + mm * MINUTE_MS,
        ))
        .expect("time of day in range");
    new_york()
        .to_ambiguous_zoned(dt)
        .later()
        .map(|z| z.timestamp().as_millisecond())
        .expect("New York time in range")
}

/// New York's offset from UTC at an instant, in ms (−4 h in daylight time, −5 h otherwise).
pub fn et_offset_ms(utc_ms: i64) -> i64 {
    i64::from(new_york().to_offset(timestamp(utc_ms)).seconds()) * 1000
}

/// The New York calendar date at an instant: "today" for the market.
pub fn et_date(utc_ms: i64) -> Date {
    Date::from_civil(timestamp(utc_ms).to_zoned(new_york().clone()).date())
}

/// Milliseconds since New York midnight at an instant (wall-clock reading, so 23 or 25 hours on switch days).
pub fn et_time_of_day_ms(utc_ms: i64) -> i64 {
    (utc_ms + et_offset_ms(utc_ms)).rem_euclid(DAY_MS)
}

/// An instant as Schwab writes `expirationDate`: `2024-10-18T20:00:00.000+00:00`.
pub fn iso_utc_ms(ms: i64) -> String {
    let dt = timestamp(ms).to_zoned(TimeZone::UTC).datetime();
    format!("{}+00:00", dt.strftime("%Y-%m-%dT%H:%M:%S%.3f"))
}

/// An instant in New York time for people: `2026-12-02 09:30 ET`.
pub fn et_label(utc_ms: i64) -> String {
    timestamp(utc_ms)
        .to_zoned(new_york().clone())
        .strftime("%Y-%m-%d %H:%M ET")
        .to_string()
}

/// Parses an instant given by a person: RFC 3339 with an offset (`2026-12-02T10:15-05:00`, `…Z`), or a New York
/// wall time without one (`2026-12-02T10:15`, `2026-12-02 10:15`).
///
/// # Errors
/// A message that names what was expected.
pub fn parse_instant(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if let Ok(ts) = s.parse::<Timestamp>() {
        return Ok(ts.as_millisecond());
    }
    let dt: DateTime = s.replace(' ', "T").parse().map_err(|_| {
        format!("{s:?} is not a time: expected e.g. 2026-12-02T10:15-05:00 (or 2026-12-02T10:15 in New York time)")
    })?;
    new_york()
        .to_ambiguous_zoned(dt)
        .later()
        .map(|z| z.timestamp().as_millisecond())
        .map_err(|e| format!("{s:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eastern_time_follows_the_tz_database() {
        // 2024-10-18 20:00Z is 16:00 EDT (a capture's expirationDate).
        let close = Date::from_ymd(2024, 10, 18).at_et(16, 0);
        assert_eq!(
            close,
            Date::from_ymd(2024, 10, 18).day_number() * DAY_MS + 20 * HOUR_MS
        );
        assert_eq!(iso_utc_ms(close), "2024-10-18T20:00:00.000+00:00");
        // In January, 16:00 EST is 21:00Z.
        let jan = Date::from_ymd(2025, 1, 17).at_et(16, 0);
        assert_eq!(
            jan,
            Date::from_ymd(2025, 1, 17).day_number() * DAY_MS + 21 * HOUR_MS
        );
        // 03:00Z on a summer day is still the previous evening in New York.
        let t = Date::from_ymd(2025, 7, 2).day_number() * DAY_MS + 3 * HOUR_MS;
        assert_eq!(et_date(t), Date::from_ymd(2025, 7, 1));
        assert_eq!(et_time_of_day_ms(t), 23 * HOUR_MS);
        assert_eq!(et_label(close), "2024-10-18 16:00 ET");
    }

    #[test]
    fn the_dst_switch_days() {
        // 2026: daylight time from 8 March 07:00Z (02:00 EST) to 1 November 06:00Z (02:00 EDT).
        let start = Date::from_ymd(2026, 3, 8).day_number() * DAY_MS + 7 * HOUR_MS;
        assert_eq!(et_offset_ms(start - 1), -5 * HOUR_MS);
        assert_eq!(et_offset_ms(start), -4 * HOUR_MS);
        let end = Date::from_ymd(2026, 11, 1).day_number() * DAY_MS + 6 * HOUR_MS;
        assert_eq!(et_offset_ms(end - 1), -4 * HOUR_MS);
        assert_eq!(et_offset_ms(end), -5 * HOUR_MS);
        // The Monday after each switch opens at 09:30 local: 13:30Z in summer time, 14:30Z in winter.
        let mon = Date::from_ymd(2026, 3, 9);
        assert_eq!(
            mon.at_et(9, 30),
            mon.day_number() * DAY_MS + 13 * HOUR_MS + 30 * MINUTE_MS
        );
        let mon = Date::from_ymd(2026, 11, 2);
        assert_eq!(
            mon.at_et(9, 30),
            mon.day_number() * DAY_MS + 14 * HOUR_MS + 30 * MINUTE_MS
        );
        // The switch day itself is 23 hours long.
        let d = Date::from_ymd(2026, 3, 8);
        assert_eq!(d.add_days(1).at_et(0, 0) - d.at_et(0, 0), 23 * HOUR_MS);
    }

    #[test]
    fn instants_people_type() {
        let want = Date::from_ymd(2026, 12, 2).at_et(10, 15);
        assert_eq!(parse_instant("2026-12-02T10:15-05:00"), Ok(want));
        assert_eq!(parse_instant("2026-12-02T15:15:00Z"), Ok(want));
        assert_eq!(parse_instant("2026-12-02T10:15"), Ok(want));
        assert_eq!(parse_instant("2026-12-02 10:15"), Ok(want));
        assert!(parse_instant("tomorrow")
            .unwrap_err()
            .contains("expected e.g."));
    }
}
