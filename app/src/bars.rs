//! Bars for the Chart tab and the Indicators panel: each symbol's 1-minute bars as the relay streams them
//! (`bars:{SYMBOL}`), shared by every view that reads them, and per view a [`Series`] that aggregates them to its
//! timeframe and runs the indicators incrementally.
//!
//! The cost model: the relay changes the current minute in place and adds a minute at a time, so a frame usually
//! touches the last bar only. [`MinuteBars::apply`] keeps that O(changes), and [`Series::sync`] feeds a view only the
//! bars from its last synced one on (the indicators' `Study` is O(1) per bar). Anything else — a snapshot (a new
//! epoch), a backfilled minute in the middle, a minute trimmed from the front — bumps [`MinuteBars::epoch`], and a
//! view seeing a new epoch rebuilds from scratch once.

use std::cell::RefCell;
use std::rc::Rc;

use leptos::prelude::*;
use tickdesk_indicators::{Aggregator, Bar, Point, Study, Timeframe};
use tickdesk_wire::topics::BARS_PREFIX;
use tickdesk_wire::Items;

use crate::feed::{Feed, RawFrame};

/// A new session starts after a gap longer than this between two bars: equities do not trade 20:00–04:00 New York
/// time, so the longest gap inside a session is far shorter (a halt), and the overnight one far longer.
pub const SESSION_GAP_MS: i64 = 2 * 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// Crypto trades 24/7: its symbols are pairs quoted in a stable coin (Binance's `BTCUSDT`), which no equity ticker
/// is. Their sessions are UTC days.
pub fn is_crypto(symbol: &str) -> bool {
    ["USDT", "USDC", "FDUSD"]
        .iter()
        .any(|q| symbol.len() > q.len() && symbol.ends_with(q))
}

/// Whether the bar starting at `t` opens a new session after the bar starting at `prev` (VWAP restarts there): a gap
/// of more than [`SESSION_GAP_MS`], or for crypto a new UTC day.
pub fn new_session(prev: Option<i64>, t: i64, crypto: bool) -> bool {
    match prev {
        None => true,
        Some(p) => {
            t - p > SESSION_GAP_MS || (crypto && p.div_euclid(DAY_MS) != t.div_euclid(DAY_MS))
        }
    }
}

/// One symbol's 1-minute bars in time order, and an epoch that changes whenever they changed in a way other than
/// "the last bar updated, or bars appended".
#[derive(Debug, Default, Clone, PartialEq)]
pub struct MinuteBars {
    pub bars: Vec<Bar>,
    pub epoch: u64,
}

impl MinuteBars {
    /// Applies one frame of the `bars:` topic; `true` if anything changed.
    pub fn apply(&mut self, items: &Items, reset: bool, changed: &[String]) -> bool {
        if reset {
            // Item keys are the bars' start times in fixed-width decimal, so the map is already in time order.
            self.bars.clear();
            for bar in items.values().filter_map(Bar::from_fields) {
                if self.bars.last().is_none_or(|l| l.t < bar.t) {
                    self.bars.push(bar);
                }
            }
            self.epoch += 1;
            return true;
        }
        let mut any = false;
        for key in changed {
            any = true;
            match items.get(key).and_then(Bar::from_fields) {
                Some(bar) => self.put(bar),
                None => {
                    let Ok(t) = key.parse::<i64>() else { continue };
                    if let Ok(i) = self.bars.binary_search_by_key(&t, |b| b.t) {
                        self.bars.remove(i);
                        self.epoch += 1;
                    }
                }
            }
        }
        any
    }

    fn put(&mut self, bar: Bar) {
        match self.bars.last_mut() {
            Some(last) if last.t == bar.t => *last = bar,
            Some(last) if last.t > bar.t => {
                // An earlier minute changed (a completed minute's authoritative bar, a backfilled gap): the views
                // rebuild once, unless it is the bar they already have.
                match self.bars.binary_search_by_key(&bar.t, |b| b.t) {
                    Ok(i) if self.bars[i] == bar => return,
                    Ok(i) => self.bars[i] = bar,
                    Err(i) => self.bars.insert(i, bar),
                }
                self.epoch += 1;
            }
            _ => self.bars.push(bar),
        }
    }
}

/// A symbol's bars at one timeframe with every indicator, kept in step with a [`MinuteBars`].
#[derive(Debug)]
pub struct Series {
    tf: Timeframe,
    crypto: bool,
    agg: Aggregator,
    study: Study,
    /// The epoch of the [`MinuteBars`] this was built from, and how many of its bars it has seen.
    epoch: Option<u64>,
    synced: usize,
    /// The start of the aggregated bar before the last one: a repeated last bar must get the same session flag.
    prev_t: Option<i64>,
}

impl Series {
    pub fn new(tf: Timeframe, crypto: bool) -> Series {
        Series {
            tf,
            crypto,
            agg: Aggregator::new(tf),
            study: Study::new(),
            epoch: None,
            synced: 0,
            prev_t: None,
        }
    }

    pub fn timeframe(&self) -> Timeframe {
        self.tf
    }

    /// Catches up with `src`: the bars from the last one seen on (that one may have been updated in place), or all of
    /// them when its epoch changed. `true` if anything was pushed.
    pub fn sync(&mut self, src: &MinuteBars) -> bool {
        let from = if self.epoch == Some(src.epoch) {
            self.synced.saturating_sub(1)
        } else {
            *self = Series::new(self.tf, self.crypto);
            self.epoch = Some(src.epoch);
            0
        };
        if from == src.bars.len() {
            return false;
        }
        for bar in &src.bars[from..] {
            self.push_minute(*bar);
        }
        self.synced = src.bars.len();
        true
    }

    fn push_minute(&mut self, bar: Bar) {
        let (agg, is_new) = self.agg.push(bar);
        if is_new {
            self.prev_t = self.study.last().map(|p| p.bar.t);
        }
        let session = new_session(self.prev_t, agg.t, self.crypto);
        self.study.push(agg, session);
    }

    pub fn points(&self) -> &[Point] {
        self.study.points()
    }

    pub fn last(&self) -> Option<&Point> {
        self.study.last()
    }
}

/// The `bars:` topic of `symbol`.
pub fn topic(symbol: &str) -> String {
    format!("{BARS_PREFIX}{symbol}")
}

struct Entry {
    bars: Rc<RefCell<MinuteBars>>,
    /// Bumped once per frame in which the bars changed.
    version: ArcRwSignal<u64>,
    users: usize,
}

/// Every symbol's bars, watched on the feed while some view uses them: the Chart and the Indicators panel may both
/// want AAPL, and the relay is asked once. Cheap to clone.
#[derive(Clone)]
pub struct BarsHub {
    feed: Feed,
    symbols: Rc<RefCell<Vec<(String, Entry)>>>,
}

impl std::fmt::Debug for BarsHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BarsHub").finish_non_exhaustive()
    }
}

/// What a view holds of one symbol's bars while it uses them.
#[derive(Clone, Debug)]
pub struct BarsHandle {
    pub bars: Rc<RefCell<MinuteBars>>,
    pub version: ArcRwSignal<u64>,
}

impl BarsHub {
    pub fn new(feed: Feed) -> BarsHub {
        BarsHub {
            feed,
            symbols: Rc::default(),
        }
    }

    /// Starts using `symbol`'s bars (watching its topic if nobody was); pair with [`BarsHub::release`].
    pub fn acquire(&self, symbol: &str) -> BarsHandle {
        let mut list = self.symbols.borrow_mut();
        if let Some((_, e)) = list.iter_mut().find(|(s, _)| s == symbol) {
            e.users += 1;
            return BarsHandle {
                bars: e.bars.clone(),
                version: e.version.clone(),
            };
        }
        let bars = Rc::new(RefCell::new(MinuteBars::default()));
        let version = ArcRwSignal::new(0u64);
        let (b, v) = (bars.clone(), version.clone());
        let sink = Rc::new(move |f: RawFrame<'_>| {
            if b.borrow_mut().apply(f.items, f.reset, f.changed) {
                v.update(|n| *n += 1);
            }
        });
        list.push((
            symbol.to_string(),
            Entry {
                bars: bars.clone(),
                version: version.clone(),
                users: 1,
            },
        ));
        drop(list);
        self.feed.watch_raw(&topic(symbol), sink);
        BarsHandle { bars, version }
    }

    /// Stops using `symbol`'s bars; the last user to go unwatches the topic.
    pub fn release(&self, symbol: &str) {
        let mut list = self.symbols.borrow_mut();
        let Some(i) = list.iter().position(|(s, _)| s == symbol) else {
            return;
        };
        list[i].1.users -= 1;
        if list[i].1.users == 0 {
            list.remove(i);
            drop(list);
            self.feed.unwatch(&topic(symbol));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickdesk_indicators::Study;

    const T0: i64 = 1_765_288_800_000; // 2025-12-09 14:00 UTC, a round hour
    const MIN: i64 = 60_000;

    fn bar(t: i64, c: f64) -> Bar {
        Bar {
            t,
            o: c - 0.5,
            h: c + 1.0,
            l: c - 1.0,
            c,
            v: 100.0,
        }
    }

    fn items(bars: &[Bar]) -> Items {
        bars.iter()
            .map(|b| (Bar::key(b.t), b.to_fields()))
            .collect()
    }

    #[test]
    fn sessions_break_on_a_two_hour_gap_and_for_crypto_on_a_new_utc_day() {
        assert!(new_session(None, T0, false));
        assert!(!new_session(Some(T0), T0 + MIN, false));
        assert!(
            !new_session(Some(T0), T0 + SESSION_GAP_MS, false),
            "a long halt"
        );
        assert!(
            new_session(Some(T0), T0 + SESSION_GAP_MS + MIN, false),
            "overnight"
        );
        let midnight = T0.div_euclid(DAY_MS) * DAY_MS + DAY_MS;
        assert!(new_session(Some(midnight - MIN), midnight, true));
        assert!(!new_session(Some(midnight - MIN), midnight, false));
        assert!(!new_session(Some(midnight), midnight + MIN, true));
        assert!(is_crypto("BTCUSDT") && is_crypto("ETHUSDC"));
        assert!(!is_crypto("AAPL") && !is_crypto("$SPX") && !is_crypto("USDT"));
    }

    #[test]
    fn minute_bars_update_the_last_in_place_append_and_bump_the_epoch_for_anything_else() {
        let mut m = MinuteBars::default();
        let all = [bar(T0, 10.0), bar(T0 + MIN, 11.0), bar(T0 + 3 * MIN, 12.0)];
        assert!(m.apply(&items(&all), true, &[]));
        assert_eq!((m.bars.len(), m.epoch), (3, 1));
        // The live minute moves, and a new one arrives: same epoch.
        let now = [bar(T0 + 3 * MIN, 12.5), bar(T0 + 4 * MIN, 13.0)];
        let keys: Vec<String> = now.iter().map(|b| Bar::key(b.t)).collect();
        let mut it = items(&all);
        it.extend(items(&now));
        assert!(m.apply(&it, false, &keys));
        assert_eq!(m.epoch, 1);
        assert_eq!(
            m.bars.iter().map(|b| b.c).collect::<Vec<_>>(),
            [10.0, 11.0, 12.5, 13.0]
        );
        // An earlier minute confirmed as it was: nothing to rebuild.
        assert!(m.apply(&it, false, &[Bar::key(T0 + MIN)]));
        assert_eq!(m.epoch, 1);
        // A backfilled minute in the middle: inserted in order, new epoch.
        let gap = bar(T0 + 2 * MIN, 11.5);
        it.extend(items(&[gap]));
        assert!(m.apply(&it, false, &[Bar::key(gap.t)]));
        assert_eq!(m.epoch, 2);
        assert!(m.bars.windows(2).all(|w| w[0].t < w[1].t));
        // The oldest minute trimmed: removed, new epoch.
        it.remove(&Bar::key(T0));
        assert!(m.apply(&it, false, &[Bar::key(T0)]));
        assert_eq!((m.bars.len(), m.bars[0].t, m.epoch), (4, T0 + MIN, 3));
        assert!(!m.apply(&it, false, &[]));
    }

    /// What a series must equal: the minutes aggregated and studied from scratch.
    fn from_scratch(minutes: &[Bar], tf: Timeframe, crypto: bool) -> Vec<Point> {
        let mut agg = Aggregator::new(tf);
        let mut bars: Vec<Bar> = Vec::new();
        for m in minutes {
            let (b, new) = agg.push(*m);
            if new {
                bars.push(b);
            } else {
                *bars.last_mut().unwrap() = b;
            }
        }
        let mut study = Study::new();
        let mut prev = None;
        for b in &bars {
            study.push(*b, new_session(prev, b.t, crypto));
            prev = Some(b.t);
        }
        study.points().to_vec()
    }

    #[test]
    fn a_series_fed_frame_by_frame_equals_one_built_from_scratch_at_every_timeframe() {
        // Two sessions, with a live minute ticking several times before the next one opens.
        let mut minutes = Vec::new();
        for i in 0..90 {
            minutes.push(bar(T0 + i * MIN, 100.0 + (i as f64 * 0.7).sin() * 3.0));
        }
        let next_day = T0 + 14 * 3_600_000;
        for i in 0..40 {
            minutes.push(bar(
                next_day + i * MIN,
                104.0 + (i as f64 * 0.3).cos() * 2.0,
            ));
        }
        for tf in Timeframe::ALL {
            let mut src = MinuteBars::default();
            let mut series = Series::new(tf, false);
            src.apply(&items(&minutes[..10]), true, &[]);
            assert!(series.sync(&src));
            let mut held = items(&minutes[..10]);
            for m in &minutes[10..] {
                for tick in [-0.4, 0.3, 0.0] {
                    let live = Bar {
                        c: m.c + tick,
                        ..*m
                    };
                    held.insert(Bar::key(live.t), live.to_fields());
                    src.apply(&held, false, &[Bar::key(live.t)]);
                    assert!(series.sync(&src));
                }
            }
            assert_eq!(
                series.points(),
                from_scratch(&minutes, tf, false).as_slice(),
                "{tf:?}"
            );
            // A new epoch (a snapshot) rebuilds: the result is the same picture.
            src.apply(&held, true, &[]);
            series.sync(&src);
            assert_eq!(
                series.points(),
                from_scratch(&minutes, tf, false).as_slice()
            );
        }
    }

    #[test]
    fn vwap_restarts_at_the_new_session_in_a_series() {
        let minutes = [
            bar(T0, 100.0),
            bar(T0 + MIN, 110.0),
            bar(T0 + 10 * 3_600_000, 50.0),
        ];
        let mut src = MinuteBars::default();
        src.apply(&items(&minutes), true, &[]);
        let mut s = Series::new(Timeframe::M1, false);
        s.sync(&src);
        let p = s.points();
        // Typical price (h+l+c)/3 = c for these bars: the first session's VWAP averages 100 and 110, the next
        // session's starts again at its own bar.
        assert_eq!(p[1].vwap, Some(105.0));
        assert_eq!(p[2].vwap, Some(50.0));
    }
}
