//! The topic writer's state (pure): the latest quote per symbol for `crypto`, and each symbol's window of 1-minute
//! bars for `bars:{SYMBOL}`.
//!
//! **Latest value, coalesced.** A trade only updates the symbol's row in memory and marks it dirty; the relay
//! writes dirty rows to the store at a fixed cadence ([`Book::flush_crypto`]). So a burst of 1,000 trades a second
//! costs one store write per symbol per flush, and memory is bounded by the number of symbols, whatever the rate.
//!
//! **Exactly once across connections.** While a connection is being replaced (make-before-break), the old and
//! the new one deliver the same updates for a while. Each update is applied only if it is newer than what the
//! book holds: trades by their aggregate id `a`, the book by its update id `u`, tickers and klines by their event
//! time `E`. Duplicates are skipped and counted; a jump in the trade ids is counted as a gap (trades lost). A link
//! that does not overlap the previous one starts with no ids ([`Book::fresh_link`]); REST polls never set them
//! (their `lastId` is a trade id, not an aggregate one).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tickdesk_wire::bars::Bar;
use tickdesk_wire::fields;
use tickdesk_wire::{Fields, Items};

use super::payload::Msg;

/// One symbol's row of the `crypto` topic, and what it has seen.
#[derive(Debug, Clone, Default)]
struct Quote {
    last: Option<f64>,
    bid: Option<f64>,
    ask: Option<f64>,
    change_pct: Option<f64>,
    volume: Option<f64>,
    ts: Option<i64>,
    stale: bool,
    last_agg: Option<u64>,
    last_update: Option<u64>,
    last_ticker_ms: Option<i64>,
    /// A trade was applied since the last ticker: the trade's price is fresher than the ticker's `c`.
    traded_since_ticker: bool,
    updated: Option<Instant>,
    dirty: bool,
}

impl Quote {
    fn touch(&mut self, now: Instant, event_ms: Option<i64>) {
        if let Some(e) = event_ms {
            self.ts = Some(self.ts.map_or(e, |t| t.max(e)));
        }
        self.updated = Some(now);
        if self.stale {
            self.stale = false;
        }
        self.dirty = true;
    }

    fn fields(&self) -> Fields {
        let n = |v: Option<f64>| v.map_or(Value::Null, |x| json!(x));
        [
            (fields::LAST, n(self.last)),
            (fields::BID, n(self.bid)),
            (fields::ASK, n(self.ask)),
            ("change_pct", n(self.change_pct)),
            (fields::VOLUME, n(self.volume)),
            ("ts", self.ts.map_or(Value::Null, |t| json!(t))),
            ("stale", json!(self.stale)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

/// One symbol's bars: a bounded window keyed by start time, and what changed since the last flush.
#[derive(Debug, Clone, Default)]
struct Bars {
    bars: BTreeMap<i64, Bar>,
    /// The last kline applied, as (event time, bar start): a bar closing and the next one opening can share an
    /// event time.
    last_kline: Option<(i64, i64)>,
    changed: BTreeSet<i64>,
    removed: BTreeSet<i64>,
}

/// Counters of what the book applied and skipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BookStats {
    /// Trades applied (each aggregate id once).
    pub trades: u64,
    /// Updates seen twice (from two connections during a replacement) and skipped.
    pub duplicates: u64,
    /// Jumps in a symbol's trade ids: trades that never arrived.
    pub trade_gaps: u64,
}

/// The state behind `crypto` and the symbols' `bars:` topics.
#[derive(Debug, Clone)]
pub struct Book {
    quotes: BTreeMap<String, Quote>,
    bars: BTreeMap<String, Bars>,
    window: usize,
    stats: BookStats,
}

impl Book {
    /// A book for `symbols` (upper case), keeping the last `window` bars of each.
    pub fn new(symbols: &[String], window: usize) -> Book {
        Book {
            quotes: symbols
                .iter()
                .map(|s| (s.clone(), Quote::default()))
                .collect(),
            bars: symbols
                .iter()
                .map(|s| (s.clone(), Bars::default()))
                .collect(),
            window: window.max(1),
            stats: BookStats::default(),
        }
    }

    pub fn stats(&self) -> BookStats {
        self.stats
    }

    pub fn symbols(&self) -> impl Iterator<Item = &String> {
        self.quotes.keys()
    }

    /// Applies one stream message received at `now`; false when it was not for a symbol of the book, or not newer
    /// than what the book holds.
    pub fn apply(&mut self, msg: &Msg, now: Instant) -> bool {
        match msg {
            Msg::Trade {
                symbol,
                id,
                price,
                event_ms,
            } => {
                let Some(q) = self.quotes.get_mut(symbol) else {
                    return false;
                };
                match q.last_agg {
                    Some(last) if *id <= last => {
                        self.stats.duplicates += 1;
                        return false;
                    }
                    Some(last) if *id > last + 1 => self.stats.trade_gaps += 1,
                    _ => {}
                }
                q.last_agg = Some(*id);
                q.last = Some(*price);
                q.traded_since_ticker = true;
                q.touch(now, Some(*event_ms));
                self.stats.trades += 1;
                true
            }
            Msg::Book {
                symbol,
                update_id,
                bid,
                ask,
            } => {
                let Some(q) = self.quotes.get_mut(symbol) else {
                    return false;
                };
                if q.last_update.is_some_and(|u| *update_id <= u) {
                    self.stats.duplicates += 1;
                    return false;
                }
                q.last_update = Some(*update_id);
                q.bid = Some(*bid);
                q.ask = Some(*ask);
                q.touch(now, None);
                true
            }
            Msg::Ticker {
                symbol,
                event_ms,
                last,
                change_pct,
                volume,
            } => {
                let Some(q) = self.quotes.get_mut(symbol) else {
                    return false;
                };
                if q.last_ticker_ms.is_some_and(|e| *event_ms <= e) {
                    self.stats.duplicates += 1;
                    return false;
                }
                q.last_ticker_ms = Some(*event_ms);
                q.change_pct = Some(*change_pct);
                q.volume = Some(*volume);
                // The trades carry the freshest price; the ticker's `c` stands in when no trade was applied since
                // the previous ticker (before the first trade, or while trades are missing or skipped), so
                // `last` never freezes while the tickers go on.
                if q.last.is_none() || !q.traded_since_ticker {
                    q.last = Some(*last);
                }
                q.traded_since_ticker = false;
                q.touch(now, Some(*event_ms));
                true
            }
            Msg::Kline {
                symbol,
                event_ms,
                bar,
                ..
            } => {
                let Some(b) = self.bars.get_mut(symbol) else {
                    return false;
                };
                let key = (*event_ms, bar.t);
                if b.last_kline.is_some_and(|last| key <= last) {
                    self.stats.duplicates += 1;
                    return false;
                }
                b.last_kline = Some(key);
                Self::put_bar(b, *bar, self.window);
                true
            }
            _ => false,
        }
    }

    fn put_bar(b: &mut Bars, bar: Bar, window: usize) {
        if b.bars.get(&bar.t) == Some(&bar) {
            return;
        }
        // A bar older than the whole window adds nothing.
        if b.bars.len() >= window && b.bars.keys().next().is_some_and(|first| bar.t < *first) {
            return;
        }
        b.bars.insert(bar.t, bar);
        b.changed.insert(bar.t);
        b.removed.remove(&bar.t);
        while b.bars.len() > window {
            if let Some((t, _)) = b.bars.pop_first() {
                b.changed.remove(&t);
                b.removed.insert(t);
            }
        }
    }

    /// Bars from REST (history, or a fill after a gap), oldest first: merged into the window.
    pub fn put_bars(&mut self, symbol: &str, bars: &[Bar]) {
        if let Some(b) = self.bars.get_mut(symbol) {
            for bar in bars {
                Self::put_bar(b, *bar, self.window);
            }
        }
    }

    /// The whole window of `symbol` as items (for a fresh snapshot); clears its pending changes.
    pub fn bar_items(&mut self, symbol: &str) -> Items {
        let Some(b) = self.bars.get_mut(symbol) else {
            return Items::new();
        };
        b.changed.clear();
        b.removed.clear();
        b.bars
            .values()
            .map(|bar| (Bar::key(bar.t), bar.to_fields()))
            .collect()
    }

    /// The last bar's start of `symbol`.
    pub fn last_bar(&self, symbol: &str) -> Option<i64> {
        self.bars.get(symbol)?.bars.keys().next_back().copied()
    }

    /// A REST ticker poll (polling mode): `last`, `change_pct`, `volume` at `close_ms`, and the best bid/ask.
    pub fn apply_poll(&mut self, symbol: &str, poll: &Poll, now: Instant) {
        let Some(q) = self.quotes.get_mut(symbol) else {
            return;
        };
        if let Some(last) = poll.last {
            q.last = Some(last);
        }
        if poll.change_pct.is_some() {
            q.change_pct = poll.change_pct;
        }
        if poll.volume.is_some() {
            q.volume = poll.volume;
        }
        if poll.bid.is_some() {
            q.bid = poll.bid;
        }
        if poll.ask.is_some() {
            q.ask = poll.ask;
        }
        // No trade id is taken from the poll: `/ticker/24hr` `lastId` is a trade id, while the stream's trades are
        // deduplicated by aggregate id `a`, a different (smaller) sequence. The next link starts afresh instead
        // ([`Book::fresh_link`]).
        q.touch(now, poll.close_ms);
    }

    /// A link came up that does not overlap the previous one (a reconnect after a drop, or the first one): the
    /// ids seen on an earlier connection say nothing about this one's (a poll in between, or a server whose ids
    /// moved on), so the per-symbol dedup state is forgotten. Only a make-before-break overlap keeps it, as the
    /// two links then deliver the same updates. Kline dedup stays: it is by wall-clock event time.
    pub fn fresh_link(&mut self) {
        for q in self.quotes.values_mut() {
            q.last_agg = None;
            q.last_update = None;
            q.last_ticker_ms = None;
            q.traded_since_ticker = false;
        }
    }

    /// Marks symbols with no update for `after` as stale; true when any flag changed.
    pub fn mark_stale(&mut self, now: Instant, after: Duration) -> bool {
        let mut changed = false;
        for q in self.quotes.values_mut() {
            let stale = q.updated.is_none_or(|u| now.duration_since(u) >= after);
            if stale && !q.stale && q.updated.is_some() {
                q.stale = true;
                q.dirty = true;
                changed = true;
            }
        }
        changed
    }

    /// The rows of `crypto` that changed since the last flush (whole rows: the store keeps only what differs).
    pub fn flush_crypto(&mut self) -> Items {
        self.quotes
            .iter_mut()
            .filter(|(_, q)| q.dirty)
            .map(|(s, q)| {
                q.dirty = false;
                (s.clone(), q.fields())
            })
            .collect()
    }

    /// Each symbol's changed and removed bars since the last flush: `(symbol, rows, deleted keys)`.
    pub fn flush_bars(&mut self) -> Vec<(String, Items, Vec<String>)> {
        let mut out = Vec::new();
        for (s, b) in &mut self.bars {
            if b.changed.is_empty() && b.removed.is_empty() {
                continue;
            }
            let rows: Items = std::mem::take(&mut b.changed)
                .into_iter()
                .filter_map(|t| b.bars.get(&t).map(|bar| (Bar::key(t), bar.to_fields())))
                .collect();
            let del = std::mem::take(&mut b.removed)
                .into_iter()
                .map(Bar::key)
                .collect();
            out.push((s.clone(), rows, del));
        }
        out
    }
}

/// One symbol's REST poll: `/api/v3/ticker/24hr` and `/api/v3/ticker/bookTicker` together.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Poll {
    pub last: Option<f64>,
    pub change_pct: Option<f64>,
    pub volume: Option<f64>,
    pub bid: Option<f64>,
    pub ask: Option<f64>,
    pub close_ms: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trade(id: u64, price: f64) -> Msg {
        Msg::Trade {
            symbol: "BTCUSDT".into(),
            id,
            price,
            event_ms: 1_000 + id as i64,
        }
    }

    fn book() -> Book {
        Book::new(&["BTCUSDT".into(), "ETHUSDT".into()], 3)
    }

    #[test]
    fn a_burst_of_trades_is_one_row_per_flush_with_the_latest_price() {
        let mut b = book();
        let now = Instant::now();
        for id in 1..=1000 {
            b.apply(&trade(id, 100.0 + id as f64), now);
        }
        let rows = b.flush_crypto();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows["BTCUSDT"]["last"], json!(1100.0));
        assert_eq!(rows["BTCUSDT"]["ts"], json!(2_000));
        assert_eq!(b.stats().trades, 1000);
        assert!(b.flush_crypto().is_empty(), "nothing new, nothing written");
    }

    #[test]
    fn overlapping_connections_apply_each_update_once_and_gaps_are_counted() {
        let mut b = book();
        let now = Instant::now();
        // Old and new connection both deliver 5..=7.
        for id in [5, 6, 7, 5, 6, 7, 8] {
            b.apply(&trade(id, id as f64), now);
        }
        assert_eq!(
            b.stats(),
            BookStats {
                trades: 4,
                duplicates: 3,
                trade_gaps: 0
            }
        );
        b.apply(&trade(11, 11.0), now);
        assert_eq!(b.stats().trade_gaps, 1);
        let bk = |u| Msg::Book {
            symbol: "BTCUSDT".into(),
            update_id: u,
            bid: u as f64,
            ask: u as f64 + 1.0,
        };
        assert!(b.apply(&bk(10), now));
        assert!(!b.apply(&bk(9), now), "an older book is not applied");
        assert!(!b.apply(
            &Msg::Book {
                symbol: "XRPUSDT".into(),
                update_id: 1,
                bid: 1.0,
                ask: 2.0
            },
            now
        ));
    }

    fn ticker(e: i64, c: f64) -> Msg {
        Msg::Ticker {
            symbol: "BTCUSDT".into(),
            event_ms: e,
            last: c,
            change_pct: 1.0,
            volume: 2.0,
        }
    }

    #[test]
    fn after_polling_a_fresh_link_applies_its_trades_and_tickers_move_last_meanwhile() {
        let mut b = book();
        let now = Instant::now();
        b.apply(&trade(500, 1.0), now);
        b.apply(&ticker(5_000, 1.0), now);
        // Polling REST: its `lastId` is a trade id (far above the aggregate ids) and is not used for dedup.
        b.apply_poll(
            "BTCUSDT",
            &Poll {
                last: Some(2.0),
                close_ms: Some(6_000),
                ..Poll::default()
            },
            now,
        );
        // Back on a stream link that does not overlap the old one: ids start afresh.
        b.fresh_link();
        assert!(b.apply(&trade(400, 3.0), now), "not a duplicate");
        assert_eq!(b.flush_crypto()["BTCUSDT"]["last"], json!(3.0));
        assert!(b.apply(&trade(401, 4.0), now));
        assert_eq!(b.stats().duplicates, 0);
        // A ticker after a trade leaves the trade's price; a ticker with no trade since the last one moves it.
        assert!(b.apply(&ticker(7_000, 3.5), now));
        assert_eq!(b.flush_crypto()["BTCUSDT"]["last"], json!(4.0));
        assert!(b.apply(&ticker(8_000, 5.0), now));
        assert_eq!(b.flush_crypto()["BTCUSDT"]["last"], json!(5.0));
    }

    #[test]
    fn stale_after_silence_and_fresh_again_on_the_next_update() {
        let mut b = book();
        let t0 = Instant::now();
        b.apply(&trade(1, 1.0), t0);
        b.flush_crypto();
        assert!(!b.mark_stale(t0 + Duration::from_secs(1), Duration::from_secs(5)));
        assert!(b.mark_stale(t0 + Duration::from_secs(6), Duration::from_secs(5)));
        assert_eq!(b.flush_crypto()["BTCUSDT"]["stale"], json!(true));
        b.apply(&trade(2, 2.0), t0 + Duration::from_secs(7));
        assert_eq!(b.flush_crypto()["BTCUSDT"]["stale"], json!(false));
    }

    #[test]
    fn bars_window_updates_in_place_and_drops_the_oldest() {
        let mut b = book();
        let bar = |t: i64, c: f64| Bar {
            t,
            o: 1.0,
            h: c,
            l: 1.0,
            c,
            v: 1.0,
        };
        b.put_bars(
            "BTCUSDT",
            &[bar(60_000, 1.0), bar(120_000, 2.0), bar(180_000, 3.0)],
        );
        assert_eq!(b.bar_items("BTCUSDT").len(), 3);
        let k = |e: i64, t: i64, c: f64| Msg::Kline {
            symbol: "BTCUSDT".into(),
            event_ms: e,
            bar: bar(t, c),
            closed: false,
        };
        assert!(b.apply(&k(10, 180_000, 3.5), Instant::now()));
        assert!(
            !b.apply(&k(10, 180_000, 3.5), Instant::now()),
            "the same event twice"
        );
        assert!(
            b.apply(&k(11, 180_000, 3.6), Instant::now()),
            "the bar closing…"
        );
        assert!(
            b.apply(&k(11, 240_000, 4.0), Instant::now()),
            "…and the next one opening, same event time"
        );
        assert!(
            !b.apply(&k(11, 180_000, 3.6), Instant::now()),
            "the close again, from the other connection"
        );
        let flushed = b.flush_bars();
        assert_eq!(flushed.len(), 1);
        let (sym, rows, del) = &flushed[0];
        assert_eq!(sym, "BTCUSDT");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows["180000"]["c"], json!(3.6));
        assert_eq!(del, &vec!["60000".to_string()]);
        assert_eq!(b.last_bar("BTCUSDT"), Some(240_000));
    }
}
