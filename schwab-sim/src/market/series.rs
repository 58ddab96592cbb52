//! Which series (expiry × root) are listed on a day: dailies, weeklies and monthlies by [`ExpiryStyle`], on the
//! US options calendar (no daily on a holiday, a holiday Friday's expiry moves to the trading day before). Apart
//! from the market so the listing rules can be tested on any date without building a market.

use tickdesk_market::calendar;
use tickdesk_market::Date;

use super::specs::ExpiryStyle;

/// One expiry of one root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    pub root: &'static str,
    pub expiry: Date,
    /// AM-settled (SPX monthlies) rather than PM.
    pub am: bool,
    /// `S` standard monthly, `W` anything else (Schwab's `expirationType`).
    pub exp_type: char,
}

/// The series listed on `today`, sorted by expiry then root.
pub fn series_for(
    style: ExpiryStyle,
    root: &'static str,
    pm_root: Option<&'static str>,
    today: Date,
) -> Vec<Series> {
    let next_trading_days = |n: usize| -> Vec<Date> {
        (1..=14)
            .map(|i| today.add_days(i))
            .filter(|d| calendar::is_trading_day(*d))
            .take(n)
            .collect()
    };
    // Fridays (and third Fridays) move to the trading day before when they are holidays.
    let fridays = |days: i64| -> Vec<Date> {
        (0..=days)
            .map(|i| today.add_days(i))
            .filter(|d| d.weekday() == 4)
            .map(calendar::expiry_for)
            .filter(|d| *d >= today)
            .collect()
    };
    let monthlies = |months: u32| -> Vec<Date> {
        (0..=months)
            .map(|m| calendar::expiry_for(today.third_friday_of_month(m)))
            .filter(|d| *d >= today)
            .collect()
    };
    let monthly_set = monthlies(4);
    let mut dates: Vec<Date> = match style {
        ExpiryStyle::Index | ExpiryStyle::Daily => {
            // No daily on a holiday or a weekend: no 0DTE then.
            let mut v: Vec<Date> = calendar::is_trading_day(today)
                .then_some(today)
                .into_iter()
                .collect();
            v.extend(next_trading_days(5));
            v.extend(fridays(45));
            v.extend(monthlies(3));
            v
        }
        ExpiryStyle::Weekly => {
            let mut v = fridays(35);
            v.extend(monthlies(4));
            v
        }
        ExpiryStyle::Every(n) => (0..=(n as i64) * 2 + 14)
            .map(|i| today.add_days(i))
            .filter(|d| calendar::is_trading_day(*d))
            .take(n)
            .collect(),
    };
    dates.sort();
    dates.dedup();
    let typ = |d: Date| if monthly_set.contains(&d) { 'S' } else { 'W' };
    let mut out: Vec<Series> = match (style, pm_root) {
        (ExpiryStyle::Index, Some(pm)) => {
            let mut v: Vec<Series> = dates
                .iter()
                .map(|d| Series {
                    root: pm,
                    expiry: *d,
                    am: false,
                    exp_type: 'W',
                })
                .collect();
            v.extend(
                monthlies(3)
                    .into_iter()
                    .filter(|d| *d > today)
                    .map(|d| Series {
                        root,
                        expiry: d,
                        am: true,
                        exp_type: 'S',
                    }),
            );
            v
        }
        _ => dates
            .iter()
            .map(|d| Series {
                root,
                expiry: *d,
                am: false,
                exp_type: typ(*d),
            })
            .collect(),
    };
    out.sort_by(|a, b| a.expiry.cmp(&b.expiry).then(a.root.cmp(b.root)));
    out
}
#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn series_have_0dte_weeklies_and_monthlies() {
        let tue = Date::from_ymd(2025, 12, 9);
        let spx = series_for(ExpiryStyle::Index, "SPX", Some("SPXW"), tue);
        assert_eq!(spx[0].expiry, tue);
        assert_eq!(spx[0].root, "SPXW");
        assert!(spx.iter().filter(|s| s.root == "SPXW").count() >= 10);
        // The December monthly is listed twice: AM-settled SPX ('S') and PM-settled SPXW.
        let dec19 = Date::from_ymd(2025, 12, 19);
        let on_19: Vec<_> = spx.iter().filter(|s| s.expiry == dec19).collect();
        assert_eq!(on_19.len(), 2);
        assert!(on_19
            .iter()
            .any(|s| s.root == "SPX" && s.am && s.exp_type == 'S'));
        assert!(on_19.iter().any(|s| s.root == "SPXW" && !s.am));
        // Next five weekdays skip the weekend.
        assert!(spx.iter().any(|s| s.expiry == Date::from_ymd(2025, 12, 15)));
        assert!(!spx.iter().any(|s| s.expiry == Date::from_ymd(2025, 12, 13)));
        // AAPL lists Fridays only; on a Friday, today is one of them.
        let aapl = series_for(ExpiryStyle::Weekly, "AAPL", None, tue);
        assert!(aapl.iter().all(|s| s.expiry.weekday() == 4));
        assert!(aapl.iter().any(|s| s.expiry == dec19 && s.exp_type == 'S'));
        let fri = Date::from_ymd(2025, 12, 12);
        assert_eq!(
            series_for(ExpiryStyle::Weekly, "AAPL", None, fri)[0].expiry,
            fri
        );
        // The SPX AM monthly expiring today is already settled and not listed; SPXW is.
        let spx_on_19 = series_for(ExpiryStyle::Index, "SPX", Some("SPXW"), dec19);
        assert!(!spx_on_19
            .iter()
            .any(|s| s.root == "SPX" && s.expiry == dec19));
        assert!(spx_on_19
            .iter()
            .any(|s| s.root == "SPXW" && s.expiry == dec19));
    }
}
