//! Dates and US Eastern time, without a time-zone database (pure): one calendar for the Schwab client, the
//! Schwab simulator and the rates desk.
//!
//! The listed options market runs on New York time: expiries are dates in ET, the session is 09:30–16:00 ET and
//! PM-settled contracts expire at 16:00 ET. The US daylight-saving rule (since 2007: from the second Sunday of
//! March, 02:00 local, to the first Sunday of November, 02:00 local) is all the zone data that needs, so it is
//! computed here rather than adding a tz crate.
//!
//! Civil-date arithmetic is Howard Hinnant's `days_from_civil` / `civil_from_days` (proleptic Gregorian, day 0 =
//! 1970-01-01).

use std::fmt;

/// Milliseconds in a day and an hour.
pub const DAY_MS: i64 = 86_400_000;
pub const HOUR_MS: i64 = 3_600_000;
pub const MINUTE_MS: i64 = 60_000;

/// A calendar date, stored as days since 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub i64);

impl Date {
    pub fn from_ymd(y: i32, m: u32, d: u32) -> Date {
        Date(days_from_civil(y, m, d))
    }

    pub fn ymd(self) -> (i32, u32, u32) {
        civil_from_days(self.0)
    }

    /// 0 = Monday … 6 = Sunday (1970-01-01 was a Thursday).
    pub fn weekday(self) -> u32 {
        (self.0 + 3).rem_euclid(7) as u32
    }

    pub fn is_weekday(self) -> bool {
        self.weekday() < 5
    }

    pub fn add_days(self, n: i64) -> Date {
        Date(self.0 + n)
    }

    /// The third Friday of its month: the standard (monthly) expiry.
    pub fn is_third_friday(self) -> bool {
        let (_, _, d) = self.ymd();
        self.weekday() == 4 && (15..=21).contains(&d)
    }

    /// The third Friday of the month `months_ahead` months after this date's month.
    pub fn third_friday_of_month(self, months_ahead: u32) -> Date {
        let (y, m, _) = self.ymd();
        let total = (m - 1) + months_ahead;
        let (y, m) = (y + (total / 12) as i32, total % 12 + 1);
        let first = Date::from_ymd(y, m, 1);
        // Days from the 1st to the first Friday, then two more weeks.
        let to_friday = (4 + 7 - first.weekday()) % 7;
        first.add_days(i64::from(to_friday) + 14)
    }

    /// `YYYY-MM-DD`.
    pub fn iso(self) -> String {
        let (y, m, d) = self.ymd();
        format!("{y:04}-{m:02}-{d:02}")
    }

    /// `YYMMDD`, as in an OSI option symbol.
    pub fn yymmdd(self) -> String {
        let (y, m, d) = self.ymd();
        format!("{:02}{m:02}{d:02}", y.rem_euclid(100))
    }

    /// `MM/DD/YYYY`, as in an option's description.
    pub fn mdy(self) -> String {
        let (y, m, d) = self.ymd();
        format!("{m:02}/{d:02}/{y:04}")
    }

    /// Parses `YYYY-MM-DD` strictly (the only form Schwab's `fromDate`/`toDate` accept).
    pub fn parse_iso(s: &str) -> Option<Date> {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let y: i32 = s[0..4].parse().ok()?;
        let m: u32 = s[5..7].parse().ok()?;
        let d: u32 = s[8..10].parse().ok()?;
        if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
            return None;
        }
        Some(Date::from_ymd(y, m, d))
    }

    /// The instant (UTC ms) of `hh:mm` New York time on this date.
    pub fn at_et(self, hh: i64, mm: i64) -> i64 {
        let local = self.0 * DAY_MS + hh * HOUR_MS + mm * MINUTE_MS;
        // Guess the offset from the standard-time reading, then correct it: the answer differs only inside the
        // skipped or repeated hour, which no market time touches.
        let guess = local + 5 * HOUR_MS;
        local - et_offset_ms(guess)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.iso())
    }
}

pub fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

pub fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (inverse of [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    ((y + i64::from(m <= 2)) as i32, m, d)
}

/// The UTC offset of New York at a UTC instant: −4 h in daylight time, −5 h otherwise.
pub fn et_offset_ms(utc_ms: i64) -> i64 {
    let (y, _, _) = civil_from_days(utc_ms.div_euclid(DAY_MS));
    // Second Sunday of March and first Sunday of November.
    let mar1 = Date::from_ymd(y, 3, 1);
    let dst_start_day = mar1.add_days(i64::from((7 - mar1.weekday() + 6) % 7) + 7);
    let nov1 = Date::from_ymd(y, 11, 1);
    let dst_end_day = nov1.add_days(i64::from((7 - nov1.weekday() + 6) % 7));
    // 02:00 EST = 07:00 UTC; 02:00 EDT = 06:00 UTC.
    let start = dst_start_day.0 * DAY_MS + 7 * HOUR_MS;
    let end = dst_end_day.0 * DAY_MS + 6 * HOUR_MS;
    if (start..end).contains(&utc_ms) {
        -4 * HOUR_MS
    } else {
        -5 * HOUR_MS
    }
}

/// The New York calendar date at a UTC instant.
pub fn et_date(utc_ms: i64) -> Date {
    Date((utc_ms + et_offset_ms(utc_ms)).div_euclid(DAY_MS))
}

/// Milliseconds since New York midnight at a UTC instant.
pub fn et_time_of_day_ms(utc_ms: i64) -> i64 {
    (utc_ms + et_offset_ms(utc_ms)).rem_euclid(DAY_MS)
}

/// A UTC instant as Schwab writes `expirationDate`: `2024-10-18T20:00:00.000+00:00`.
pub fn iso_utc_ms(ms: i64) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(DAY_MS));
    let t = ms.rem_euclid(DAY_MS);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}+00:00",
        t / HOUR_MS,
        t % HOUR_MS / MINUTE_MS,
        t % MINUTE_MS / 1000,
        t % 1000
    )
}

/// Now, in ms since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_and_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2025, 12, 9), 20431); // the CHART_EQUITY capture's "Chart Day"
        for z in [-800_000, -1, 0, 1, 20_431, 60_000, 2_000_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(Date::from_ymd(2024, 2, 29).add_days(1).iso(), "2024-03-01");
    }

    #[test]
    fn weekdays_and_third_fridays() {
        assert_eq!(Date::from_ymd(1970, 1, 1).weekday(), 3); // Thursday
        assert_eq!(Date::from_ymd(2025, 12, 8).weekday(), 0); // Monday
        let d = Date::from_ymd(2025, 12, 8);
        assert_eq!(d.third_friday_of_month(0), Date::from_ymd(2025, 12, 19));
        assert_eq!(d.third_friday_of_month(1), Date::from_ymd(2026, 1, 16));
        assert!(Date::from_ymd(2024, 10, 18).is_third_friday());
        assert!(!Date::from_ymd(2024, 10, 25).is_third_friday());
    }

    #[test]
    fn formats_and_parse() {
        let d = Date::from_ymd(2025, 12, 19);
        assert_eq!(d.iso(), "2025-12-19");
        assert_eq!(d.yymmdd(), "251219");
        assert_eq!(d.mdy(), "12/19/2025");
        assert_eq!(Date::parse_iso("2025-12-19"), Some(d));
        for bad in ["2025-13-01", "2025-02-30", "20251219", "2025-1-19", "x"] {
            assert_eq!(Date::parse_iso(bad), None, "{bad}");
        }
    }

    #[test]
    fn eastern_time_follows_us_daylight_saving() {
        // 2024-10-18 20:00Z is 16:00 EDT (the capture's expirationDate).
        let close = Date::from_ymd(2024, 10, 18).at_et(16, 0);
        assert_eq!(
            close,
            Date::from_ymd(2024, 10, 18).0 * DAY_MS + 20 * HOUR_MS
        );
        // In January, 16:00 EST is 21:00Z.
        let jan = Date::from_ymd(2025, 1, 17).at_et(16, 0);
        assert_eq!(jan, Date::from_ymd(2025, 1, 17).0 * DAY_MS + 21 * HOUR_MS);
        // DST 2025: 9 March 07:00Z to 2 November 06:00Z.
        let start = Date::from_ymd(2025, 3, 9).0 * DAY_MS + 7 * HOUR_MS;
        assert_eq!(et_offset_ms(start - 1), -5 * HOUR_MS);
        assert_eq!(et_offset_ms(start), -4 * HOUR_MS);
        let end = Date::from_ymd(2025, 11, 2).0 * DAY_MS + 6 * HOUR_MS;
        assert_eq!(et_offset_ms(end - 1), -4 * HOUR_MS);
        assert_eq!(et_offset_ms(end), -5 * HOUR_MS);
        // 03:00Z on a summer day is still the previous evening in New York.
        let t = Date::from_ymd(2025, 7, 2).0 * DAY_MS + 3 * HOUR_MS;
        assert_eq!(et_date(t), Date::from_ymd(2025, 7, 1));
        assert_eq!(et_time_of_day_ms(t), 23 * HOUR_MS);
        assert_eq!(iso_utc_ms(close), "2024-10-18T20:00:00.000+00:00");
    }
}
