//! Calendar dates for option expiries, without a date crate: `YYYY-MM-DD` parsing, day counts, and "today" on the
//! US market's clock.
//!
//! Why the market's clock: a 0DTE chain is asked for with `fromDate = toDate = today`, and "today" must be New
//! York's date. At 9 pm New York time it is already tomorrow in UTC, and asking for UTC's date would fetch the next
//! expiry instead of the one that is still trading (after hours) or was just settled.

/// A calendar date (proleptic Gregorian).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

impl Date {
    /// Parses `YYYY-MM-DD`, and also the date part of an ISO timestamp (`2024-10-18T20:00:00.000+00:00`) or of a
    /// chain map key (`2024-10-18:1`).
    pub fn parse(s: &str) -> Option<Date> {
        let s = s.get(..10)?;
        let b = s.as_bytes();
        if b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let year: i32 = s[..4].parse().ok()?;
        let month: u32 = s[5..7].parse().ok()?;
        let day: u32 = s[8..10].parse().ok()?;
        let d = Date { year, month, day };
        ((1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month)).then_some(d)
    }

    /// Days since 1970-01-01 (H. Hinnant's days-from-civil).
    pub fn days_since_epoch(self) -> i64 {
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400);
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date `days` after 1970-01-01 (civil-from-days).
    pub fn from_days(days: i64) -> Date {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Date { year, month, day }
    }

    /// Calendar days from `self` to `later` (negative if `later` is earlier).
    pub fn days_until(self, later: Date) -> i64 {
        later.days_since_epoch() - self.days_since_epoch()
    }

    /// 0 = Sunday … 6 = Saturday.
    fn weekday(self) -> i64 {
        (self.days_since_epoch() + 4).rem_euclid(7)
    }

    /// `YYMMDD`, as in an OSI option symbol.
    pub fn yymmdd(self) -> String {
        format!(
            "{:02}{:02}{:02}",
            self.year.rem_euclid(100),
            self.month,
            self.day
        )
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// The `n`th Sunday (1-based) of a month.
fn nth_sunday(year: i32, month: u32, n: i64) -> Date {
    let first = Date {
        year,
        month,
        day: 1,
    };
    let to_sunday = (7 - first.weekday()) % 7;
    Date::from_days(first.days_since_epoch() + to_sunday + 7 * (n - 1))
}

/// New York's offset from UTC in hours at a Unix time in ms: −4 from the second Sunday of March 2:00 local to the
/// first Sunday of November 2:00 local (US rules since 2007), else −5.
pub fn new_york_offset_hours(now_ms: i64) -> i64 {
    let utc_day = Date::from_days(now_ms.div_euclid(86_400_000));
    let start = nth_sunday(utc_day.year, 3, 2).days_since_epoch() * 86_400_000 + 7 * 3_600_000; // 2:00 EST
    let end = nth_sunday(utc_day.year, 11, 1).days_since_epoch() * 86_400_000 + 6 * 3_600_000; // 2:00 EDT
    if now_ms >= start && now_ms < end {
        -4
    } else {
        -5
    }
}

/// Today's date in New York at a Unix time in ms.
pub fn market_today(now_ms: i64) -> Date {
    let local = now_ms + new_york_offset_hours(now_ms) * 3_600_000;
    Date::from_days(local.div_euclid(86_400_000))
}

/// Unix time in ms now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    #[test]
    fn parses_dates_keys_and_timestamps_and_refuses_nonsense() {
        assert_eq!(
            d("2024-10-18"),
            Date {
                year: 2024,
                month: 10,
                day: 18
            }
        );
        assert_eq!(d("2024-10-18:1"), d("2024-10-18"));
        assert_eq!(d("2024-10-18T20:00:00.000+00:00"), d("2024-10-18"));
        assert_eq!(d("2024-02-29").to_string(), "2024-02-29");
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024/10/18",
            "24-10-18",
            "",
            "2024-10-1x",
        ] {
            assert_eq!(Date::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn day_counts_round_trip_and_match_known_values() {
        assert_eq!(d("1970-01-01").days_since_epoch(), 0);
        assert_eq!(
            d("2025-12-09").days_since_epoch(),
            20431,
            "the reference's CHART_EQUITY capture"
        );
        for days in [-800_000, -1, 0, 59, 10_000, 20_431, 60_000] {
            assert_eq!(Date::from_days(days).days_since_epoch(), days);
        }
        assert_eq!(d("2024-10-17").days_until(d("2024-10-18")), 1);
        assert_eq!(d("2024-12-31").days_until(d("2025-03-01")), 60);
        assert_eq!(d("2024-05-17").yymmdd(), "240517");
    }

    #[test]
    fn market_today_follows_new_york_including_daylight_saving() {
        // 2024-10-18T01:30Z is still the 17th in New York (EDT, −4).
        assert_eq!(market_today(1_729_215_000_000), d("2024-10-17"));
        // 2024-10-18T14:00Z is the 18th.
        assert_eq!(market_today(1_729_260_000_000), d("2024-10-18"));
        // 2025-01-15T04:30Z is the 14th at 23:30 EST (−5).
        assert_eq!(market_today(1_736_915_400_000), d("2025-01-14"));
        assert_eq!(new_york_offset_hours(1_736_915_400_000), -5);
        // DST 2025 starts 2025-03-09 07:00Z and ends 2025-11-02 06:00Z.
        assert_eq!(new_york_offset_hours(1_741_503_599_000), -5);
        assert_eq!(new_york_offset_hours(1_741_503_600_000), -4);
        assert_eq!(new_york_offset_hours(1_762_063_199_000), -4);
        assert_eq!(new_york_offset_hours(1_762_063_200_000), -5);
    }
}
