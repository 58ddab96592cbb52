//! A calendar date in the market's sense (expiries, trading days, "today" in New York), over `jiff`'s civil date,
//! with the text forms Schwab and OSI symbols use.

use std::fmt;

use jiff::civil;
use jiff::Span;

/// A calendar date (proleptic Gregorian).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(civil::Date);

/// 1970-01-01, for day numbers.
const EPOCH: civil::Date = civil::date(1970, 1, 1);

impl Date {
    /// The date `y-m-d`.
    ///
    /// # Panics
    /// If `y-m-d` is not a date (callers build dates from parsed, checked parts or from constants).
    pub fn from_ymd(y: i32, m: u32, d: u32) -> Date {
        Date::checked(y, m, d).unwrap_or_else(|| panic!("not a date: {y:04}-{m:02}-{d:02}"))
    }

    /// The date `y-m-d`, or `None` when there is no such day.
    pub fn checked(y: i32, m: u32, d: u32) -> Option<Date> {
        let (y, m, d) = (
            i16::try_from(y).ok()?,
            i8::try_from(m).ok()?,
            i8::try_from(d).ok()?,
        );
        civil::Date::new(y, m, d).ok().map(Date)
    }

    /// The underlying `jiff` date.
    pub fn civil(self) -> civil::Date {
        self.0
    }

    /// Wraps a `jiff` date.
    pub fn from_civil(d: civil::Date) -> Date {
        Date(d)
    }

    /// (year, month 1–12, day 1–31).
    pub fn ymd(self) -> (i32, u32, u32) {
        (
            i32::from(self.0.year()),
            self.0.month() as u32,
            self.0.day() as u32,
        )
    }

    /// Days since 1970-01-01 (negative before): a stable number for seeds and day counts.
    pub fn day_number(self) -> i64 {
        EPOCH
            .until(self.0)
            .map(|s| i64::from(s.get_days()))
            .unwrap_or(0)
    }

    /// The date `n` days after 1970-01-01.
    pub fn from_day_number(n: i64) -> Date {
        Date(EPOCH).add_days(n)
    }

    /// 0 = Monday … 6 = Sunday.
    pub fn weekday(self) -> u32 {
        self.0.weekday().to_monday_zero_offset() as u32
    }

    /// Monday to Friday.
    pub fn is_weekday(self) -> bool {
        self.weekday() < 5
    }

    /// The date `n` days later (earlier if negative).
    pub fn add_days(self, n: i64) -> Date {
        Date(
            self.0
                .checked_add(Span::new().days(n))
                .expect("date out of range"),
        )
    }

    /// Calendar days from `self` to `later` (negative if `later` is earlier): an option's DTE.
    pub fn days_until(self, later: Date) -> i64 {
        later.day_number() - self.day_number()
    }

    /// The third Friday of its month: the standard (monthly) expiry.
    pub fn is_third_friday(self) -> bool {
        let (_, _, d) = self.ymd();
        self.weekday() == 4 && (15..=21).contains(&d)
    }

    /// The third Friday of the month `months_ahead` months after this date's month.
    pub fn third_friday_of_month(self, months_ahead: u32) -> Date {
        let first = self
            .0
            .first_of_month()
            .checked_add(Span::new().months(i64::from(months_ahead)))
            .expect("date out of range");
        Date(
            first
                .nth_weekday_of_month(3, jiff::civil::Weekday::Friday)
                .expect("every month has a third Friday"),
        )
    }

    /// The `nth` (1-based; negative counts from the end) `weekday` (0 = Monday) of `year`-`month`.
    pub fn nth_weekday(year: i32, month: u32, nth: i8, weekday: u32) -> Date {
        let wd = civil::Weekday::from_monday_zero_offset(weekday as i8).expect("weekday 0..=6");
        Date(
            Date::from_ymd(year, month, 1)
                .0
                .nth_weekday_of_month(nth, wd)
                .expect("every month has such a weekday"),
        )
    }

    /// `YYYY-MM-DD`.
    pub fn iso(self) -> String {
        self.to_string()
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

    /// Parses exactly `YYYY-MM-DD` (the only form Schwab's `fromDate`/`toDate` accept).
    pub fn parse_iso(s: &str) -> Option<Date> {
        if s.len() != 10 {
            return None;
        }
        Date::parse_prefix(s)
    }

    /// Parses the `YYYY-MM-DD` at the start of `s`: a date, the date part of an ISO timestamp
    /// (`2024-10-18T20:00:00.000+00:00`) or of a chain map key (`2024-10-18:1`).
    pub fn parse_prefix(s: &str) -> Option<Date> {
        let p = s.get(..10)?;
        let b = p.as_bytes();
        if b[4] != b'-'
            || b[7] != b'-'
            || !p.bytes().filter(|c| *c != b'-').all(|c| c.is_ascii_digit())
        {
            return None;
        }
        Date::checked(
            p[..4].parse().ok()?,
            p[5..7].parse().ok()?,
            p[8..].parse().ok()?,
        )
    }

    /// The instant (UTC ms) of `hh:mm` New York time on this date.
    pub fn at_et(self, hh: i64, mm: i64) -> i64 {
        crate::zone::at_et(self, hh, mm)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_numbers_round_trip() {
        assert_eq!(Date::from_ymd(1970, 1, 1).day_number(), 0);
        assert_eq!(Date::from_ymd(2025, 12, 9).day_number(), 20431); // the CHART_EQUITY capture's "Chart Day"
        for n in [-800_000, -1, 0, 1, 20_431, 60_000, 2_000_000] {
            assert_eq!(Date::from_day_number(n).day_number(), n);
        }
        assert_eq!(Date::from_ymd(2024, 2, 29).add_days(1).iso(), "2024-03-01");
        assert_eq!(
            Date::from_ymd(2025, 12, 30).days_until(Date::from_ymd(2026, 1, 2)),
            3
        );
    }

    #[test]
    fn weekdays_and_third_fridays() {
        assert_eq!(Date::from_ymd(1970, 1, 1).weekday(), 3); // Thursday
        assert_eq!(Date::from_ymd(2025, 12, 8).weekday(), 0); // Monday
        let d = Date::from_ymd(2025, 12, 8);
        assert_eq!(d.third_friday_of_month(0), Date::from_ymd(2025, 12, 19));
        assert_eq!(d.third_friday_of_month(1), Date::from_ymd(2026, 1, 16));
        assert_eq!(
            Date::from_ymd(2025, 1, 31).third_friday_of_month(1),
            Date::from_ymd(2025, 2, 21)
        );
        assert!(Date::from_ymd(2024, 10, 18).is_third_friday());
        assert!(!Date::from_ymd(2024, 10, 25).is_third_friday());
        assert_eq!(
            Date::nth_weekday(2025, 5, -1, 0),
            Date::from_ymd(2025, 5, 26)
        );
    }

    #[test]
    fn formats_and_parse() {
        let d = Date::from_ymd(2025, 12, 19);
        assert_eq!(d.iso(), "2025-12-19");
        assert_eq!(d.yymmdd(), "251219");
        assert_eq!(d.mdy(), "12/19/2025");
        assert_eq!(Date::parse_iso("2025-12-19"), Some(d));
        assert_eq!(Date::parse_prefix("2025-12-19:3"), Some(d));
        assert_eq!(Date::parse_prefix("2025-12-19T21:00:00.000+00:00"), Some(d));
        for bad in [
            "2025-13-01",
            "2025-02-30",
            "20251219",
            "2025-1-19",
            "x",
            "+025-12-19",
            "2025-12-19:3",
        ] {
            assert_eq!(Date::parse_iso(bad), None, "{bad}");
        }
    }
}
