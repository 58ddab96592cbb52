//! A `bars:{SYMBOL}` topic's series of 1-minute bars, whatever the source (pure: no I/O, no clock of its own).
//!
//! A source feeds it three kinds of input, and each rule is there for a reason:
//! - **a history picture** (Schwab's pricehistory, Binance's klines): merged bar by bar. It replaces what is held
//!   for every minute except those already confirmed by a live completed bar: a confirmed bar is the exchange's
//!   final word for its minute, a history answer may have left before that minute ended.
//! - **a completed bar** (Schwab's `CHART_EQUITY`, a closed kline): authoritative for its minute, it replaces
//!   whatever the ticks built and is marked confirmed.
//! - **a tick** (the last price and the day's volume the source already streams): moves the current minute's bar
//!   in place, or opens the next minute's. Completed bars arrive only when a minute ends, so without ticks the
//!   chart would stand still for up to a minute.
//!
//! The series is bounded: [`Series::trim`] drops bars before the window's start ([`window_start`]: the current
//! and the previous sessions by default), so a topic never grows past a couple of thousand items.
//! [`Series::gap_before`] tells the minutes to backfill from history after a reconnect: those missing between the
//! last bar held and a new one, and that last bar itself unless a completed bar confirmed it.

use std::collections::{BTreeMap, BTreeSet};

use tickdesk_market::zone::et_date;
use tickdesk_market::{calendar, Date, MINUTE_MS};
use tickdesk_wire::bars::Bar;

/// What an extended session covers, New York time: pre-market from 04:00, after-hours until 20:00.
pub const EXTENDED_OPEN: (i64, i64) = (4, 0);
pub const EXTENDED_CLOSE: (i64, i64) = (20, 0);

/// The start of the minute holding `t_ms`.
#[must_use]
pub fn minute_of(t_ms: i64) -> i64 {
    t_ms.div_euclid(MINUTE_MS) * MINUTE_MS
}

/// The session day `now_ms` belongs to: today if it trades, else the last trading day before it (a weekend or
/// holiday still shows the last session).
#[must_use]
pub fn session_day(now_ms: i64) -> Date {
    let mut d = et_date(now_ms);
    while !calendar::is_trading_day(d) {
        d = d.add_days(-1);
    }
    d
}

/// The oldest instant a series keeps at `now_ms`: 04:00 ET of the session `sessions - 1` trading days before the
/// current one (2: the current and the previous session, extended hours included). At least one session.
///
/// Never after `now_ms`: before 04:00 on a trading day its session has not started, so with one session the
/// window is still the previous one's. A start in the future would ask pricehistory for `startDate > endDate`,
/// which answers nothing (or 400) for a symbol that trades.
#[must_use]
pub fn window_start(now_ms: i64, sessions: usize) -> i64 {
    let mut d = session_day(now_ms);
    for _ in 1..sessions.max(1) {
        d = calendar::previous_trading_day(d);
    }
    if d.at_et(EXTENDED_OPEN.0, EXTENDED_OPEN.1) > now_ms {
        d = calendar::previous_trading_day(d);
    }
    d.at_et(EXTENDED_OPEN.0, EXTENDED_OPEN.1)
}

/// True while `t_ms` is inside a trading day's extended session (04:00–20:00 ET): ticks outside it (a snapshot
/// sent at night) make no bar.
#[must_use]
pub fn in_extended_session(t_ms: i64) -> bool {
    let d = et_date(t_ms);
    calendar::is_trading_day(d)
        && t_ms >= d.at_et(EXTENDED_OPEN.0, EXTENDED_OPEN.1)
        && t_ms < d.at_et(EXTENDED_CLOSE.0, EXTENDED_CLOSE.1)
}

/// The bars of one symbol, in time order, within a window.
#[derive(Debug, Clone, Default)]
pub struct Series {
    bars: BTreeMap<i64, Bar>,
    /// Minutes confirmed by a completed bar: history does not overwrite them.
    confirmed: BTreeSet<i64>,
    /// The day's volume at the last tick that carried it: the next one adds the difference to its minute.
    day_volume: Option<f64>,
    /// Bars before this are dropped (and never added).
    start: i64,
}

impl Series {
    /// An empty series keeping bars from `start` (ms).
    #[must_use]
    pub fn new(start: i64) -> Series {
        Series {
            start,
            ..Series::default()
        }
    }

    pub fn len(&self) -> usize {
        self.bars.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bars.is_empty()
    }

    pub fn bars(&self) -> impl Iterator<Item = &Bar> {
        self.bars.values()
    }

    pub fn get(&self, t: i64) -> Option<&Bar> {
        self.bars.get(&t)
    }

    pub fn last(&self) -> Option<&Bar> {
        self.bars.values().next_back()
    }

    /// Merges a history picture; returns the bars that were added or changed.
    pub fn merge_history(&mut self, history: impl IntoIterator<Item = Bar>) -> Vec<Bar> {
        let mut changed = Vec::new();
        for mut bar in history {
            bar.t = minute_of(bar.t);
            if bar.t < self.start || self.confirmed.contains(&bar.t) {
                continue;
            }
            if self.bars.get(&bar.t) != Some(&bar) {
                self.bars.insert(bar.t, bar);
                changed.push(bar);
            }
        }
        changed
    }

    /// A completed bar: replaces its minute and confirms it. `Some` when it changed what was held.
    pub fn apply_completed(&mut self, mut bar: Bar) -> Option<Bar> {
        bar.t = minute_of(bar.t);
        if bar.t < self.start {
            return None;
        }
        self.confirmed.insert(bar.t);
        (self.bars.insert(bar.t, bar) != Some(bar)).then_some(bar)
    }

    /// A tick at `t_ms`: a trade at `last` (if it carried one) and the day's volume so far (if it carried it).
    /// Moves the minute's bar (its high, low, close and volume) or opens it at `last` (at the previous close when
    /// only volume came). `Some` with the bar when it changed. A confirmed minute is not touched: its completed bar is final.
    pub fn apply_tick(
        &mut self,
        t_ms: i64,
        last: Option<f64>,
        day_volume: Option<f64>,
    ) -> Option<Bar> {
        let t = minute_of(t_ms);
        let traded = match (day_volume, self.day_volume) {
            (Some(now), Some(before)) if now >= before => now - before,
            _ => 0.0,
        };
        if day_volume.is_some() {
            self.day_volume = day_volume;
        }
        if t < self.start || self.confirmed.contains(&t) {
            return None;
        }
        let before = self.bars.get(&t).copied();
        let bar = match (before, last) {
            (Some(mut b), last) => {
                if let Some(p) = last {
                    b.h = b.h.max(p);
                    b.l = b.l.min(p);
                    b.c = p;
                }
                b.v += traded;
                b
            }
            // A new minute opens at the first price seen in it.
            (None, Some(p)) => Bar {
                t,
                o: p,
                h: p,
                l: p,
                c: p,
                v: traded,
            },
            // Volume without a price (the last trade printed at the same price): the minute traded, so it opens at
            // the previous bar's close rather than losing those shares to the day's count.
            (None, None) if traded > 0.0 => {
                let p = self.bars.range(..t).next_back()?.1.c;
                Bar {
                    t,
                    o: p,
                    h: p,
                    l: p,
                    c: p,
                    v: traded,
                }
            }
            (None, None) => return None,
        };
        (before != Some(bar)).then(|| {
            self.bars.insert(t, bar);
            bar
        })
    }

    /// The minutes to ask history for before a new live bar at `t_ms` (after a reconnect), as `(first, last)`
    /// minute starts (inclusive): the missing ones between the last bar held and it, and that last bar itself
    /// unless a completed bar confirmed it. The last minute held before an outage was usually built from ticks:
    /// its completed bar went out while the stream was down and will not be sent again, so only history can
    /// repair it, even when no minute is missing. `None` when nothing needs asking (or nothing is held yet).
    #[must_use]
    pub fn gap_before(&self, t_ms: i64) -> Option<(i64, i64)> {
        let t = minute_of(t_ms);
        let last = self.bars.range(..t).next_back().map(|(k, _)| *k)?;
        let first = if self.confirmed.contains(&last) {
            last + MINUTE_MS
        } else {
            last
        };
        (first < t).then_some((first, t - MINUTE_MS))
    }

    /// Moves the window's start to `start`: the bars before it are dropped; returns their times.
    pub fn trim(&mut self, start: i64) -> Vec<i64> {
        self.start = start;
        let kept = self.bars.split_off(&start);
        let gone: Vec<i64> = std::mem::replace(&mut self.bars, kept)
            .into_keys()
            .collect();
        self.confirmed = self.confirmed.split_off(&start);
        gone
    }

    /// Forgets the day's volume seen last: after a reconnect the next tick's count includes the outage's trades,
    /// which belong to the minutes the history backfills, not to the current one.
    pub fn forget_volume(&mut self) {
        self.day_volume = None;
    }

    /// The window's start.
    #[must_use]
    pub fn start(&self) -> i64 {
        self.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(t: i64, o: f64, h: f64, l: f64, c: f64, v: f64) -> Bar {
        Bar { t, o, h, l, c, v }
    }

    /// Wednesday 2026-12-02 at hh:mm ET.
    fn wed(hh: i64, mm: i64) -> i64 {
        Date::from_ymd(2026, 12, 2).at_et(hh, mm)
    }

    #[test]
    fn the_window_is_the_current_and_previous_sessions_on_the_trading_calendar() {
        // Wednesday: Tuesday 04:00 ET.
        assert_eq!(
            window_start(wed(10, 15), 2),
            Date::from_ymd(2026, 12, 1).at_et(4, 0)
        );
        assert_eq!(window_start(wed(10, 15), 1), wed(4, 0));
        assert_eq!(window_start(wed(10, 15), 0), wed(4, 0), "at least one");
        // 02:00 ET on a trading day with one session: Wednesday's has not started, the window is Tuesday's
        // (never a start after now, which would ask pricehistory for an empty range).
        assert_eq!(
            window_start(wed(2, 0), 1),
            Date::from_ymd(2026, 12, 1).at_et(4, 0)
        );
        assert!(window_start(wed(2, 0), 1) <= wed(2, 0));
        assert_eq!(window_start(wed(4, 0), 1), wed(4, 0), "from 04:00, today's");
        assert_eq!(
            window_start(wed(2, 0), 2),
            Date::from_ymd(2026, 12, 1).at_et(4, 0),
            "two sessions: unchanged"
        );
        // Monday 30 November: the previous session is Friday 27 November (Thanksgiving's half day), not Sunday.
        let mon = Date::from_ymd(2026, 11, 30).at_et(9, 0);
        assert_eq!(
            window_start(mon, 2),
            Date::from_ymd(2026, 11, 27).at_et(4, 0)
        );
        // Saturday shows Friday and Thursday... Thursday 26 November is Thanksgiving: Wednesday 25.
        let sat = Date::from_ymd(2026, 11, 28).at_et(12, 0);
        assert_eq!(session_day(sat), Date::from_ymd(2026, 11, 27));
        assert_eq!(
            window_start(sat, 2),
            Date::from_ymd(2026, 11, 25).at_et(4, 0)
        );
        assert!(in_extended_session(wed(4, 0)) && in_extended_session(wed(19, 59)));
        assert!(!in_extended_session(wed(20, 0)) && !in_extended_session(wed(3, 59)));
        assert!(!in_extended_session(
            Date::from_ymd(2026, 11, 28).at_et(10, 0)
        ));
    }

    #[test]
    fn ticks_move_the_current_minute_in_place_and_open_the_next() {
        let mut s = Series::new(wed(4, 0));
        assert_eq!(
            s.apply_tick(wed(10, 0), None, Some(1000.0)),
            None,
            "no price, no bar"
        );
        let b = s
            .apply_tick(wed(10, 0) + 5_000, Some(100.0), Some(1_100.0))
            .unwrap();
        assert_eq!(b, bar(wed(10, 0), 100.0, 100.0, 100.0, 100.0, 100.0));
        s.apply_tick(wed(10, 0) + 20_000, Some(101.5), Some(1_150.0));
        let b = s.apply_tick(wed(10, 0) + 40_000, Some(99.0), None).unwrap();
        assert_eq!(b, bar(wed(10, 0), 100.0, 101.5, 99.0, 99.0, 150.0));
        assert_eq!(s.len(), 1, "in place");
        assert_eq!(
            s.apply_tick(wed(10, 0) + 50_000, Some(99.0), None),
            None,
            "no change"
        );
        let next = s
            .apply_tick(wed(10, 1) + 1_000, Some(99.2), Some(1_160.0))
            .unwrap();
        assert_eq!(next, bar(wed(10, 1), 99.2, 99.2, 99.2, 99.2, 10.0));
        assert_eq!(s.len(), 2);
        // Volume without a price opens the next minute at the last close: a flat minute still traded.
        let flat = s
            .apply_tick(wed(10, 2) + 3_000, None, Some(1_200.0))
            .unwrap();
        assert_eq!(flat, bar(wed(10, 2), 99.2, 99.2, 99.2, 99.2, 40.0));
        assert_eq!(s.len(), 3);
        assert_eq!(
            s.apply_tick(wed(10, 3), None, Some(1_200.0)),
            None,
            "no price and no trade: nothing opens"
        );
        // A volume that went backwards (a new day's count) adds nothing.
        let b = s
            .apply_tick(wed(10, 1) + 2_000, None, Some(5.0))
            .unwrap_or(next);
        assert_eq!(b.v, 10.0);
    }

    #[test]
    fn a_completed_bar_is_final_and_history_does_not_overwrite_it() {
        let mut s = Series::new(wed(4, 0));
        s.apply_tick(wed(10, 0) + 1_000, Some(100.0), None);
        let done = bar(wed(10, 0), 100.0, 100.4, 99.9, 100.2, 5_000.0);
        assert_eq!(s.apply_completed(done), Some(done));
        assert_eq!(
            s.apply_completed(done),
            None,
            "the same again changes nothing"
        );
        assert_eq!(s.apply_tick(wed(10, 0) + 59_000, Some(120.0), None), None);
        assert_eq!(s.get(wed(10, 0)), Some(&done));
        let changed = s.merge_history([
            bar(wed(9, 59), 99.0, 100.0, 98.0, 100.0, 10.0),
            bar(wed(10, 0), 1.0, 1.0, 1.0, 1.0, 1.0),
            bar(wed(3, 59), 1.0, 1.0, 1.0, 1.0, 1.0),
        ]);
        assert_eq!(
            changed,
            vec![bar(wed(9, 59), 99.0, 100.0, 98.0, 100.0, 10.0)]
        );
        assert_eq!(s.get(wed(10, 0)), Some(&done), "confirmed stays");
        assert_eq!(s.get(wed(3, 59)), None, "before the window: never added");
        // History replaces a minute the ticks built.
        s.apply_tick(wed(10, 1) + 1_000, Some(100.3), None);
        let h = bar(wed(10, 1), 100.2, 100.5, 100.1, 100.3, 700.0);
        assert_eq!(s.merge_history([h]), vec![h]);
        assert_eq!(
            s.merge_history([h]),
            vec![],
            "the same picture twice: nothing"
        );
    }

    #[test]
    fn gaps_are_the_minutes_missing_since_the_last_bar() {
        let mut s = Series::new(wed(4, 0));
        assert_eq!(s.gap_before(wed(10, 0)), None, "nothing held");
        s.apply_tick(wed(10, 0), Some(1.0), None);
        // 10:00 was built from ticks: its completed bar may have gone out while the stream was down.
        assert_eq!(
            s.gap_before(wed(10, 1) + 30_000),
            Some((wed(10, 0), wed(10, 0))),
            "the next minute: the unconfirmed last one is asked again"
        );
        assert_eq!(s.gap_before(wed(10, 0) + 30_000), None, "the same minute");
        assert_eq!(
            s.gap_before(wed(10, 6)),
            Some((wed(10, 0), wed(10, 5))),
            "five minutes missing, and the unconfirmed last one"
        );
        s.apply_completed(bar(wed(10, 0), 1.0, 1.0, 1.0, 1.0, 1.0));
        assert_eq!(
            s.gap_before(wed(10, 1) + 30_000),
            None,
            "confirmed: nothing"
        );
        assert_eq!(
            s.gap_before(wed(10, 6)),
            Some((wed(10, 1), wed(10, 5))),
            "confirmed: only the missing minutes"
        );
    }

    #[test]
    fn trimming_drops_what_left_the_window() {
        let mut s = Series::new(wed(4, 0));
        s.merge_history((0..5).map(|i| bar(wed(19, 55 + i), 1.0, 1.0, 1.0, 1.0, 1.0)));
        s.apply_completed(bar(wed(19, 59), 2.0, 2.0, 2.0, 2.0, 2.0));
        let thu = Date::from_ymd(2026, 12, 3);
        // The day roll moves the start to Wednesday 04:00 with two sessions: nothing goes.
        assert!(s.trim(window_start(thu.at_et(0, 5), 2)).is_empty());
        // With one session, Wednesday stays until Thursday's session starts at 04:00, then goes.
        assert!(s.trim(window_start(thu.at_et(0, 5), 1)).is_empty());
        let gone = s.trim(window_start(thu.at_et(4, 5), 1));
        assert_eq!(gone, (0..5).map(|i| wed(19, 55 + i)).collect::<Vec<_>>());
        assert!(s.is_empty() && s.start() == thu.at_et(4, 0));
        assert_eq!(
            s.apply_completed(bar(wed(19, 59), 2.0, 2.0, 2.0, 2.0, 2.0)),
            None
        );
        assert_eq!(minute_of(wed(10, 0) + 59_999), wed(10, 0));
    }
}
