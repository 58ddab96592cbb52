//! Calendar dates for option expiries (y/m/d over [`crate::calendar`]'s arithmetic): `YYYY-MM-DD` parsing, day counts, and "today" on the
//! US market's clock.
//!
//! Why the market's clock: a 0DTE chain is asked for with `fromDate = toDate = today`, and "today" must be New
//! York's date. At 9 pm New York time it is already tomorrow in UTC, and asking for UTC's date would fetch the next
//! expiry instead of the one that is still trading (after hours) or was just settled.

use crate::calendar;

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
        ((1..=12).contains(&month) && day >= 1 && day <= calendar::days_in_month(year, month))
            .then_some(d)
    }

    /// Days since 1970-01-01 (H. Hinnant's days-from-civil).
    pub fn days_since_epoch(self) -> i64 {
        calendar::days_from_civil(self.year, self.month, self.day)
    }

    /// The date `days` after 1970-01-01 (civil-from-days).
    pub fn from_days(days: i64) -> Date {
        let (year, month, day) = calendar::civil_from_days(days);
        Date { year, month, day }
    }

    /// Calendar days from `self` to `later` (negative if `later` is earlier).
    pub fn days_until(self, later: Date) -> i64 {
        later.days_since_epoch() - self.days_since_epoch()
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

/// New York's offset from UTC in hours at a Unix time in ms: −4 from the second Sunday of March 2:00 local to the
/// first Sunday of November 2:00 local (US rules since 2007), else −5.
pub fn new_york_offset_hours(now_ms: i64) -> i64 {
    calendar::et_offset_ms(now_ms) / calendar::HOUR_MS
}

/// Today's date in New York at a Unix time in ms.
pub fn market_today(now_ms: i64) -> Date {
    let local = now_ms + new_york_offset_hours(now_ms) * 3_600_000;
    Date::from_days(local.div_euclid(86_400_000))
}

pub use crate::calendar::now_ms;

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
