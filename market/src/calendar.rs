//! The US listed-options calendar: which days trade, the hours of each, holidays and early closes, and where an
//! expiry that falls on a holiday moves.
//!
//! # Where the table comes from
//! The holidays are NYSE's, by the rules of NYSE Rule 7.2 and the exchange's published calendar
//! (nyse.com/markets/hours-calendars, checked for 2025–2028); Cboe and the other options exchanges close on the
//! same days. The rules:
//! - New Year's Day (1 Jan; Sunday → Monday; **Saturday → not observed**, the year-end is not closed), Martin
//!   Luther King Jr. Day (3rd Monday of January), Washington's Birthday (3rd Monday of February), Good Friday
//!   (Easter − 2, Gregorian computus), Memorial Day (last Monday of May), Juneteenth (19 June, since 2022),
//!   Independence Day (4 July), Labor Day (1st Monday of September), Thanksgiving (4th Thursday of November),
//!   Christmas (25 December). A Saturday holiday is observed on the Friday before, a Sunday one on the Monday after.
//! - Special closures the rules cannot know: 9 January 2025 (National Day of Mourning for President Carter).
//! - Early closes at 13:00 ET: 3 July when it trades, the day after Thanksgiving, 24 December when it trades.
//!
//! # Hours (New York time)
//! Regular session 09:30–16:00 (13:00 on early closes); that is when options trade. Schwab's extended hours for
//! equities are 07:00–09:25 and 16:05–20:00; [`Phase::PreMarket`] runs from 07:00 to the open and
//! [`Phase::AfterHours`] from the close to 20:00 (17:00 on early closes), so a status does not flap in the five
//! minutes between.
//!
//! # Expiries
//! A weekly or monthly expiry that falls on a holiday moves to the trading day before (Good Friday's weeklies
//! expire on Thursday); a daily on a holiday is not listed, so there is no 0DTE on a holiday.

use crate::{zone, Date};

/// Where the market is at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// A trading day before the open, from 07:00 ET (equities' extended hours).
    PreMarket,
    /// The regular session: options trade.
    Regular,
    /// A trading day after the close, until 20:00 ET (17:00 on an early close).
    AfterHours,
    /// Overnight, a weekend or a holiday.
    Closed,
}

impl Phase {
    /// The name used in status details and the protocol.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::PreMarket => "pre-market",
            Phase::Regular => "open",
            Phase::AfterHours => "after-hours",
            Phase::Closed => "closed",
        }
    }
}

/// One trading day's hours, as instants (UTC ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    pub date: Date,
    /// Start of the pre-market phase (07:00 ET).
    pub pre_open_ms: i64,
    /// The regular open (09:30 ET).
    pub open_ms: i64,
    /// The regular close (16:00 ET, or 13:00 ET on an early close).
    pub close_ms: i64,
    /// End of after-hours (20:00 ET, or 17:00 ET on an early close).
    pub post_close_ms: i64,
    pub early_close: bool,
}

/// Special closures the rules cannot know, with their names.
const SPECIAL_CLOSURES: &[((i32, u32, u32), &str)] = &[(
    (2025, 1, 9),
    "National Day of Mourning for President Jimmy Carter",
)];

/// Easter Sunday of `year` (anonymous Gregorian algorithm, Meeus/Jones/Butcher).
pub fn easter(year: i32) -> Date {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    Date::from_ymd(year, month as u32, day as u32)
}

/// A fixed-date holiday's observed day: Saturday → Friday, Sunday → Monday.
fn observed(d: Date) -> Date {
    match d.weekday() {
        5 => d.add_days(-1),
        6 => d.add_days(1),
        _ => d,
    }
}

/// The exchange holidays observed in `year`, in date order.
pub fn holidays(year: i32) -> Vec<(Date, &'static str)> {
    const MON: u32 = 0;
    const THU: u32 = 3;
    let mut v = Vec::with_capacity(11);
    let new_year = Date::from_ymd(year, 1, 1);
    // Saturday: not moved back into the old year (NYSE Rule 7.2).
    if new_year.weekday() != 5 {
        v.push((observed(new_year), "New Year's Day"));
    }
    v.push((
        Date::nth_weekday(year, 1, 3, MON),
        "Martin Luther King Jr. Day",
    ));
    v.push((Date::nth_weekday(year, 2, 3, MON), "Washington's Birthday"));
    v.push((easter(year).add_days(-2), "Good Friday"));
    v.push((Date::nth_weekday(year, 5, -1, MON), "Memorial Day"));
    if year >= 2022 {
        v.push((
            observed(Date::from_ymd(year, 6, 19)),
            "Juneteenth National Independence Day",
        ));
    }
    v.push((observed(Date::from_ymd(year, 7, 4)), "Independence Day"));
    v.push((Date::nth_weekday(year, 9, 1, MON), "Labor Day"));
    v.push((Date::nth_weekday(year, 11, 4, THU), "Thanksgiving Day"));
    v.push((observed(Date::from_ymd(year, 12, 25)), "Christmas Day"));
    for &((y, m, d), name) in SPECIAL_CLOSURES {
        if y == year {
            v.push((Date::from_ymd(y, m, d), name));
        }
    }
    v.sort();
    v
}

/// The holiday `date` is, if it is one (weekends are not holidays, just not trading days).
pub fn holiday(date: Date) -> Option<&'static str> {
    let (y, _, _) = date.ymd();
    holidays(y)
        .into_iter()
        // 1 January on a Saturday moves nowhere, so no holiday of one year falls in another.
        .find(|(d, _)| *d == date)
        .map(|(_, name)| name)
}

/// True on the days the options market trades.
pub fn is_trading_day(date: Date) -> bool {
    date.is_weekday() && holiday(date).is_none()
}

/// True when `date` closes at 13:00 ET.
pub fn is_early_close(date: Date) -> bool {
    if !is_trading_day(date) {
        return false;
    }
    let (y, m, d) = date.ymd();
    let day_after_thanksgiving = Date::nth_weekday(y, 11, 4, 3).add_days(1);
    (m, d) == (7, 3) || (m, d) == (12, 24) || date == day_after_thanksgiving
}

/// The hours of `date`, or `None` when it does not trade.
pub fn session(date: Date) -> Option<Session> {
    if !is_trading_day(date) {
        return None;
    }
    let early_close = is_early_close(date);
    let (close_h, post_h) = if early_close { (13, 17) } else { (16, 20) };
    Some(Session {
        date,
        pre_open_ms: date.at_et(7, 0),
        open_ms: date.at_et(9, 30),
        close_ms: date.at_et(close_h, 0),
        post_close_ms: date.at_et(post_h, 0),
        early_close,
    })
}

/// The first trading day after `date`.
pub fn next_trading_day(date: Date) -> Date {
    let mut d = date.add_days(1);
    while !is_trading_day(d) {
        d = d.add_days(1);
    }
    d
}

/// The last trading day before `date`.
pub fn previous_trading_day(date: Date) -> Date {
    let mut d = date.add_days(-1);
    while !is_trading_day(d) {
        d = d.add_days(-1);
    }
    d
}

/// Where the market is at `utc_ms`.
pub fn phase(utc_ms: i64) -> Phase {
    let Some(s) = session(zone::et_date(utc_ms)) else {
        return Phase::Closed;
    };
    if utc_ms < s.pre_open_ms || utc_ms >= s.post_close_ms {
        Phase::Closed
    } else if utc_ms < s.open_ms {
        Phase::PreMarket
    } else if utc_ms < s.close_ms {
        Phase::Regular
    } else {
        Phase::AfterHours
    }
}

/// True during the regular session.
pub fn is_open(utc_ms: i64) -> bool {
    phase(utc_ms) == Phase::Regular
}

/// The next regular open after `utc_ms` (today's, if it is still to come).
pub fn next_open(utc_ms: i64) -> i64 {
    let today = zone::et_date(utc_ms);
    match session(today) {
        Some(s) if utc_ms < s.open_ms => s.open_ms,
        _ => session(next_trading_day(today))
            .map(|s| s.open_ms)
            .expect("a trading day has a session"),
    }
}

/// The last regular close at or before `utc_ms`: what "as of the close" refers to.
pub fn last_close(utc_ms: i64) -> i64 {
    let today = zone::et_date(utc_ms);
    match session(today) {
        Some(s) if utc_ms >= s.close_ms => s.close_ms,
        _ => session(previous_trading_day(today))
            .map(|s| s.close_ms)
            .expect("a trading day has a session"),
    }
}

/// The session in progress or next to come at `utc_ms`: the trading day whose regular hours a desk is waiting
/// for or in.
pub fn current_or_next_session(utc_ms: i64) -> Session {
    let today = zone::et_date(utc_ms);
    match session(today) {
        Some(s) if utc_ms < s.close_ms => s,
        _ => session(next_trading_day(today)).expect("a trading day has a session"),
    }
}

/// Where an expiry scheduled for `scheduled` (a weekly or monthly Friday, say) really expires: the same day when it
/// trades, else the trading day before.
pub fn expiry_for(scheduled: Date) -> Date {
    if is_trading_day(scheduled) {
        scheduled
    } else {
        previous_trading_day(scheduled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DAY_MS, HOUR_MS, MINUTE_MS};

    fn d(y: i32, m: u32, day: u32) -> Date {
        Date::from_ymd(y, m, day)
    }

    /// NYSE's published holiday lists (nyse.com/markets/hours-calendars), 2025–2028.
    #[test]
    fn the_published_holidays_2025_to_2028() {
        let published: &[(i32, &[(u32, u32)])] = &[
            (
                2025,
                &[
                    (1, 1),
                    (1, 9),
                    (1, 20),
                    (2, 17),
                    (4, 18),
                    (5, 26),
                    (6, 19),
                    (7, 4),
                    (9, 1),
                    (11, 27),
                    (12, 25),
                ],
            ),
            (
                2026,
                &[
                    (1, 1),
                    (1, 19),
                    (2, 16),
                    (4, 3),
                    (5, 25),
                    (6, 19),
                    (7, 3),
                    (9, 7),
                    (11, 26),
                    (12, 25),
                ],
            ),
            (
                2027,
                &[
                    (1, 1),
                    (1, 18),
                    (2, 15),
                    (3, 26),
                    (5, 31),
                    (6, 18),
                    (7, 5),
                    (9, 6),
                    (11, 25),
                    (12, 24),
                ],
            ),
            (
                2028,
                &[
                    (1, 17),
                    (2, 21),
                    (4, 14),
                    (5, 29),
                    (6, 19),
                    (7, 4),
                    (9, 4),
                    (11, 23),
                    (12, 25),
                ],
            ),
        ];
        for (year, days) in published {
            let want: Vec<Date> = days.iter().map(|&(m, day)| d(*year, m, day)).collect();
            let got: Vec<Date> = holidays(*year).into_iter().map(|(date, _)| date).collect();
            assert_eq!(got, want, "{year}");
        }
    }

    #[test]
    fn each_holiday_rule() {
        // New Year's Day on a Sunday moves to Monday; on a Saturday it is not observed (2028, 2022).
        assert_eq!(holiday(d(2023, 1, 2)), Some("New Year's Day"));
        assert_eq!(holiday(d(2021, 12, 31)), None);
        assert!(is_trading_day(d(2027, 12, 31)));
        // Monday holidays.
        assert_eq!(holiday(d(2026, 1, 19)), Some("Martin Luther King Jr. Day"));
        assert_eq!(holiday(d(2026, 2, 16)), Some("Washington's Birthday"));
        assert_eq!(holiday(d(2026, 5, 25)), Some("Memorial Day"));
        assert_eq!(holiday(d(2026, 9, 7)), Some("Labor Day"));
        // Good Friday from Easter (2024-03-31, 2025-04-20, 2026-04-05).
        assert_eq!(easter(2024), d(2024, 3, 31));
        assert_eq!(easter(2025), d(2025, 4, 20));
        assert_eq!(holiday(d(2026, 4, 3)), Some("Good Friday"));
        // Juneteenth: on a Saturday the Friday before (2027), only since 2022.
        assert_eq!(
            holiday(d(2027, 6, 18)),
            Some("Juneteenth National Independence Day")
        );
        assert_eq!(holiday(d(2021, 6, 18)), None);
        // Independence Day: Saturday → Friday (2026), Sunday → Monday (2027).
        assert_eq!(holiday(d(2026, 7, 3)), Some("Independence Day"));
        assert_eq!(holiday(d(2027, 7, 5)), Some("Independence Day"));
        assert_eq!(holiday(d(2026, 11, 26)), Some("Thanksgiving Day"));
        // Christmas on a Saturday → Friday 24th (2027).
        assert_eq!(holiday(d(2027, 12, 24)), Some("Christmas Day"));
        // A special closure.
        assert!(!is_trading_day(d(2025, 1, 9)));
        // Weekends are not trading days but not holidays either.
        assert!(!is_trading_day(d(2026, 12, 5)));
        assert_eq!(holiday(d(2026, 12, 5)), None);
    }

    #[test]
    fn early_closes() {
        // 2025: 3 July (Thu), 28 November, 24 December.
        for day in [
            d(2025, 7, 3),
            d(2025, 11, 28),
            d(2025, 12, 24),
            d(2026, 11, 27),
            d(2026, 12, 24),
            d(2028, 7, 3),
        ] {
            assert!(is_early_close(day), "{day}");
            let s = session(day).unwrap();
            assert_eq!(s.close_ms, day.at_et(13, 0));
        }
        // 3 July 2026 is the observed Independence Day, 24 December 2027 the observed Christmas: closed, not early.
        assert!(!is_early_close(d(2026, 7, 3)));
        assert!(session(d(2027, 12, 24)).is_none());
        assert!(!is_early_close(d(2026, 12, 23)));
        // After an early close the market is after-hours until 17:00, then closed.
        let day = d(2026, 11, 27);
        assert_eq!(phase(day.at_et(12, 59)), Phase::Regular);
        assert_eq!(phase(day.at_et(13, 0)), Phase::AfterHours);
        assert_eq!(phase(day.at_et(17, 0)), Phase::Closed);
    }

    #[test]
    fn phases_of_a_regular_day_and_a_weekend() {
        let wed = d(2026, 12, 2);
        assert_eq!(phase(wed.at_et(1, 0)), Phase::Closed);
        assert_eq!(phase(wed.at_et(7, 0)), Phase::PreMarket);
        assert_eq!(phase(wed.at_et(9, 29)), Phase::PreMarket);
        assert_eq!(phase(wed.at_et(9, 30)), Phase::Regular);
        assert_eq!(phase(wed.at_et(15, 59)), Phase::Regular);
        assert_eq!(phase(wed.at_et(16, 0)), Phase::AfterHours);
        assert_eq!(phase(wed.at_et(20, 0)), Phase::Closed);
        let sat = d(2026, 12, 5);
        assert_eq!(phase(sat.at_et(12, 0)), Phase::Closed);
        // Saturday 01:00 ET: the next open is Monday's, the last close Friday's.
        assert_eq!(next_open(sat.at_et(1, 0)), d(2026, 12, 7).at_et(9, 30));
        assert_eq!(last_close(sat.at_et(1, 0)), d(2026, 12, 4).at_et(16, 0));
        // Before the open the next open is today's; during the session it is tomorrow's.
        assert_eq!(next_open(wed.at_et(8, 0)), wed.at_et(9, 30));
        assert_eq!(next_open(wed.at_et(10, 0)), d(2026, 12, 3).at_et(9, 30));
        assert_eq!(current_or_next_session(wed.at_et(10, 0)).date, wed);
        assert_eq!(
            current_or_next_session(wed.at_et(16, 30)).date,
            d(2026, 12, 3)
        );
        // Over a holiday weekend: Good Friday 2026 → Monday 6 April.
        assert_eq!(
            next_open(d(2026, 4, 2).at_et(17, 0)),
            d(2026, 4, 6).at_et(9, 30)
        );
    }

    #[test]
    fn the_dst_switch_days_keep_new_york_hours() {
        // Sunday 8 March 2026 (spring forward): Monday opens 13:30Z; Friday before opened 14:30Z.
        let fri = d(2026, 3, 6);
        let mon = d(2026, 3, 9);
        let midnight = |x: Date| x.day_number() * DAY_MS;
        assert_eq!(
            session(fri).unwrap().open_ms,
            midnight(fri) + 14 * HOUR_MS + 30 * MINUTE_MS
        );
        assert_eq!(
            session(mon).unwrap().open_ms,
            midnight(mon) + 13 * HOUR_MS + 30 * MINUTE_MS
        );
        assert_eq!(next_open(fri.at_et(16, 30)), mon.at_et(9, 30));
        // Sunday 1 November 2026 (fall back): Monday opens 14:30Z again.
        let mon = d(2026, 11, 2);
        assert_eq!(
            session(mon).unwrap().open_ms,
            midnight(mon) + 14 * HOUR_MS + 30 * MINUTE_MS
        );
        assert_eq!(phase(d(2026, 11, 1).at_et(1, 30)), Phase::Closed);
    }

    #[test]
    fn expiries_move_off_holidays() {
        // Good Friday 2026: the weekly expires Thursday 2 April.
        assert_eq!(expiry_for(d(2026, 4, 3)), d(2026, 4, 2));
        // June 2026's monthly (third Friday, 19 June) is Juneteenth: Thursday 18 June.
        let june = d(2026, 6, 1).third_friday_of_month(0);
        assert_eq!(june, d(2026, 6, 19));
        assert_eq!(expiry_for(june), d(2026, 6, 18));
        // An ordinary Friday stays.
        assert_eq!(expiry_for(d(2026, 12, 18)), d(2026, 12, 18));
    }
}
