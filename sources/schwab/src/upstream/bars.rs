//! `bars:{SYMBOL}` topics from Schwab: the first picture from pricehistory (a fresh snapshot), the current minute
//! moved by the `LEVELONE_EQUITIES` ticks already streamed for the symbol, each completed minute replaced by its
//! `CHART_EQUITY` item, the minutes missed while the stream was down backfilled from pricehistory, and the window
//! trimmed as the sessions roll. The bar logic itself is [`tickdesk_hub::bars::Series`]; [`Bars`] keeps one per
//! watched topic and publishes it; the loads are the orchestrator's.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use serde_json::Value;
use tickdesk_wire::Items;
use tracing::{debug, info};

use crate::bars::is_schwab_bars;
use tickdesk_hub::bars::{in_extended_session, window_start, Series};
use tickdesk_hub::broker::Publisher;
use tickdesk_market::Clock;
use tickdesk_schwab_proto::fields;
use tickdesk_wire::bars::Bar;
use tickdesk_wire::topics::BARS_PREFIX;

/// One watched `bars:` topic.
#[derive(Debug)]
struct BarsTopic {
    series: Series,
    /// The first picture arrived and was published as a snapshot; before it, nothing is published.
    loaded: bool,
    /// Set at every (re)connect: the first live bar or tick after it looks for minutes missed meanwhile.
    resync: bool,
}

/// The topic of `symbol`'s bars.
pub(super) fn bars_topic(symbol: &str) -> String {
    format!("{BARS_PREFIX}{symbol}")
}

/// The symbol of a watched `bars:` topic that Schwab serves, if it is one: not one of `foreign`, the symbols whose
/// bars another source (Binance) publishes itself.
pub(super) fn schwab_bars_symbol<'a>(topic: &'a str, foreign: &HashSet<String>) -> Option<&'a str> {
    topic
        .strip_prefix(BARS_PREFIX)
        .filter(|s| is_schwab_bars(s, |s| foreign.contains(s)))
}

fn items_of<'a>(bars: impl IntoIterator<Item = &'a Bar>) -> Items {
    bars.into_iter()
        .map(|b| (Bar::key(b.t), b.to_fields()))
        .collect()
}

/// The watched `bars:` topics Schwab serves, by symbol.
pub(super) struct Bars {
    store: Arc<dyn Publisher>,
    clock: Clock,
    /// Sessions of bars kept (the current one included).
    sessions: usize,
    topics: BTreeMap<String, BarsTopic>,
}

impl std::fmt::Debug for Bars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bars")
            .field("topics", &self.topics.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Bars {
    pub(super) fn new(store: Arc<dyn Publisher>, clock: Clock, sessions: usize) -> Bars {
        Bars {
            store,
            clock,
            sessions,
            topics: BTreeMap::new(),
        }
    }

    /// The window's start now.
    pub(super) fn window(&self) -> i64 {
        window_start(self.clock.now_ms(), self.sessions)
    }

    /// The symbols watched, in order.
    pub(super) fn symbols(&self) -> impl Iterator<Item = &String> {
        self.topics.keys()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.topics.is_empty()
    }

    pub(super) fn contains(&self, symbol: &str) -> bool {
        self.topics.contains_key(symbol)
    }

    /// The first picture of `symbol` arrived.
    pub(super) fn is_loaded(&self, symbol: &str) -> bool {
        self.topics.get(symbol).is_some_and(|b| b.loaded)
    }

    /// The symbols still without a first picture.
    pub(super) fn unloaded(&self) -> Vec<String> {
        self.topics
            .iter()
            .filter(|(_, b)| !b.loaded)
            .map(|(s, _)| s.clone())
            .collect()
    }

    /// The `bars:` symbols watched now: the ones let go are emptied (not left frozen: nothing moves them any more;
    /// a browser that comes back gets a fresh picture), new ones start empty. (gone, added): loads to cancel and
    /// to start.
    pub(super) fn set_wanted(&mut self, wanted: BTreeSet<String>) -> (Vec<String>, Vec<String>) {
        let gone: Vec<String> = self
            .topics
            .keys()
            .filter(|s| !wanted.contains(*s))
            .cloned()
            .collect();
        for symbol in &gone {
            self.topics.remove(symbol);
            self.store.reset(&bars_topic(symbol), Items::new());
            debug!(%symbol, "bars no longer watched: emptied");
        }
        let start = self.window();
        let mut added = Vec::new();
        for symbol in wanted {
            if !self.topics.contains_key(&symbol) {
                self.topics.insert(
                    symbol.clone(),
                    BarsTopic {
                        series: Series::new(start),
                        loaded: false,
                        resync: false,
                    },
                );
                added.push(symbol);
            }
        }
        (gone, added)
    }

    /// A first picture of `symbol` without a single minute (neither a backfill nor a topic already loaded).
    pub(super) fn is_first_empty(&self, symbol: &str, backfill: bool, bars: &[Bar]) -> bool {
        !backfill && bars.is_empty() && self.topics.get(symbol).is_some_and(|b| !b.loaded)
    }

    /// A pricehistory answer: the first picture becomes a fresh snapshot; a backfill adds the minutes it has.
    pub(super) fn merge(&mut self, symbol: &str, bars: Vec<Bar>, backfill: bool) {
        let Some(b) = self.topics.get_mut(symbol) else {
            return;
        };
        let changed = b.series.merge_history(bars);
        let topic = bars_topic(symbol);
        if b.loaded {
            if !changed.is_empty() {
                info!(%topic, minutes = changed.len(), "backfilled the minutes missed");
                self.store.publish(&topic, items_of(&changed), vec![]);
            }
        } else if !backfill {
            b.loaded = true;
            info!(%topic, bars = b.series.len(), "loaded the bars' first picture");
            self.store.reset(&topic, items_of(b.series.bars()));
        }
    }

    /// A completed minute from `CHART_EQUITY` replaces what the ticks built for it. The start of the minutes to
    /// backfill, if this is the first live bar after a (re)connect and some were missed.
    pub(super) fn on_completed(&mut self, symbol: &str, bar: Bar) -> Option<i64> {
        let backfill = self.resync(symbol, bar.t);
        let b = self.topics.get_mut(symbol)?;
        if let Some(bar) = b.series.apply_completed(bar) {
            if b.loaded {
                self.store
                    .publish(&bars_topic(symbol), items_of([&bar]), vec![]);
            }
        }
        backfill
    }

    /// A `LEVELONE_EQUITIES` item of `symbol`: its last price and day volume move the current minute's bar (on the
    /// market clock, within the extended session). The start of the minutes to backfill, as for
    /// [`Bars::on_completed`].
    pub(super) fn on_tick(&mut self, symbol: &str, item: &[(String, Value)]) -> Option<i64> {
        if !self.is_loaded(symbol) {
            return None;
        }
        let now = self.clock.now_ms();
        if !in_extended_session(now) {
            return None;
        }
        let field = |id: &str| {
            item.iter()
                .find(|(k, _)| k == id)
                .and_then(|(_, v)| fields::number(v))
        };
        let (last, volume) = (field("3"), field("8"));
        if last.is_none() && volume.is_none() {
            return None;
        }
        let backfill = self.resync(symbol, now);
        let b = self.topics.get_mut(symbol)?;
        if let Some(bar) = b.series.apply_tick(now, last, volume) {
            self.store
                .publish(&bars_topic(symbol), items_of([&bar]), vec![]);
        }
        backfill
    }

    /// The first live bar or tick at `t` after a (re)connect: the minutes missing between the last bar held and
    /// it, and that last bar unless a completed bar confirmed it (its `CHART_EQUITY` item went out during the
    /// outage), are to be asked for from pricehistory.
    fn resync(&mut self, symbol: &str, t: i64) -> Option<i64> {
        let b = self
            .topics
            .get_mut(symbol)
            .filter(|b| b.loaded && b.resync)?;
        b.resync = false;
        let (from, to) = b.series.gap_before(t)?;
        info!(%symbol, from, to, "minutes missed while the stream was down: backfilling from pricehistory");
        Some(from)
    }

    /// A new streamer session: every series looks for a gap at its first live input.
    pub(super) fn connected(&mut self) {
        for b in self.topics.values_mut() {
            b.resync = true;
            b.series.forget_volume();
        }
    }

    /// The sessions rolled: bars before the window's new start are deleted from their topics.
    pub(super) fn trim(&mut self) {
        let start = self.window();
        for (symbol, b) in &mut self.topics {
            if start <= b.series.start() {
                continue;
            }
            let gone = b.series.trim(start);
            if b.loaded && !gone.is_empty() {
                info!(%symbol, bars = gone.len(), "bars left the window: trimmed");
                self.store.publish(
                    &bars_topic(symbol),
                    Items::new(),
                    gone.into_iter().map(Bar::key).collect(),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{LoadKey, Upstream};
    use super::*;
    use tickdesk_market::Date;

    fn bar(t: i64) -> Bar {
        Bar {
            t,
            o: 1.0,
            h: 1.0,
            l: 1.0,
            c: 1.0,
            v: 1.0,
        }
    }

    #[tokio::test]
    async fn a_cancelled_loads_late_answer_leaves_the_new_load_alone() {
        let t = Date::from_ymd(2026, 12, 2).at_et(11, 0);
        let (mut up, _rx) = Upstream::for_tests(Clock::frozen(t));
        let want = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        let key = LoadKey::Bars("AAPL".into());
        up.set_wanted_bars(want(&["AAPL"]));
        let stale = up.loads.generation(&key).unwrap();
        // Dropped and watched again before the first load's answer was handled: a new load runs.
        up.set_wanted_bars(want(&[]));
        up.set_wanted_bars(want(&["AAPL"]));
        let current = up.loads.generation(&key).unwrap();
        assert_ne!(stale, current);
        // The first load's answer arrives late: ignored; the running load keeps its handle.
        up.on_bars_loaded("AAPL".into(), vec![bar(t - 60_000)], false, stale, None);
        assert!(
            up.loads.is_running(&key),
            "the running load is still tracked"
        );
        assert!(
            !up.bars.is_loaded("AAPL"),
            "the stale picture was not taken"
        );
        // Its own answer is taken.
        up.on_bars_loaded("AAPL".into(), vec![bar(t - 60_000)], false, current, None);
        assert!(!up.loads.is_running(&key) && up.bars.is_loaded("AAPL"));
        assert_eq!(up.store.snapshot("bars:AAPL").unwrap().items.len(), 1);
        up.loads.abort_all();
    }

    #[tokio::test]
    async fn no_history_for_a_symbol_that_trades_is_an_empty_picture_not_an_unknown_symbol() {
        let t = Date::from_ymd(2026, 12, 2).at_et(2, 0);
        let (mut up, _rx) = Upstream::for_tests(Clock::frozen(t));
        // AAPL's quote streams (its chain is watched); NOPE was never heard of.
        up.feed.quote_streamed("AAPL");
        let wanted: BTreeSet<String> = ["AAPL".to_string(), "NOPE".to_string()].into();
        up.set_wanted_bars(wanted);
        let generation =
            |up: &Upstream, s: &str| up.loads.generation(&LoadKey::Bars(s.into())).unwrap();
        let g = generation(&up, "AAPL");
        up.on_bars_loaded("AAPL".into(), vec![], false, g, Some("bad dates".into()));
        assert!(
            !up.unknown.contains("AAPL"),
            "its chain and expirations stay served"
        );
        assert!(up.bars.is_loaded("AAPL"));
        let snap = up.store.snapshot("bars:AAPL").expect("an empty snapshot");
        assert!(snap.items.is_empty());
        let g = generation(&up, "NOPE");
        up.on_bars_loaded("NOPE".into(), vec![], false, g, None);
        assert!(
            up.unknown.contains("NOPE"),
            "nothing else knows it: unknown"
        );
        assert!(!up.bars.is_loaded("NOPE"));
        up.loads.abort_all();
    }

    const MIN: i64 = 60_000;

    fn bars_at(t: i64) -> (Bars, Arc<tickdesk_hub::memory::MemoryBroker>) {
        let store = Arc::new(tickdesk_hub::memory::MemoryBroker::new(64, 1 << 16));
        (Bars::new(store.clone(), Clock::frozen(t), 2), store)
    }

    #[test]
    fn watched_bars_start_empty_publish_once_loaded_and_are_emptied_when_let_go() {
        let t = Date::from_ymd(2026, 12, 2).at_et(11, 0);
        let (mut b, store) = bars_at(t);
        let set = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(
            b.set_wanted(set(&["AAPL", "SPY"])),
            (vec![], vec!["AAPL".into(), "SPY".into()])
        );
        assert!(b.is_first_empty("AAPL", false, &[]));
        assert!(
            !b.is_first_empty("AAPL", true, &[]),
            "a backfill is never a first picture"
        );
        assert!(!b.is_first_empty("MSFT", false, &[]), "not watched");
        // A backfill before the first picture publishes nothing.
        b.merge("AAPL", vec![bar(t - 3 * MIN)], true);
        assert!(!b.is_loaded("AAPL") && store.snapshot("bars:AAPL").is_none());
        b.merge("AAPL", vec![bar(t - 2 * MIN)], false);
        assert!(b.is_loaded("AAPL"));
        assert_eq!(store.snapshot("bars:AAPL").unwrap().items.len(), 2);
        assert!(!b.is_first_empty("AAPL", false, &[]), "loaded already");
        assert_eq!(b.unloaded(), ["SPY"]);
        assert_eq!(b.set_wanted(set(&["SPY"])), (vec!["AAPL".into()], vec![]));
        assert!(
            store.snapshot("bars:AAPL").unwrap().items.is_empty(),
            "emptied"
        );
        assert!(!b.contains("AAPL"));
    }

    #[test]
    fn after_a_reconnect_the_first_live_bar_asks_for_the_minutes_missed_once() {
        let t = Date::from_ymd(2026, 12, 2).at_et(11, 0);
        let (mut b, store) = bars_at(t);
        b.set_wanted(["AAPL".to_string()].into());
        b.merge("AAPL", vec![bar(t - 10 * MIN)], false);
        assert_eq!(
            b.on_completed("AAPL", bar(t - 9 * MIN)),
            None,
            "no reconnect yet"
        );
        b.connected();
        // Nine minutes later: the last held minute was confirmed, so the backfill starts after it.
        assert_eq!(b.on_completed("AAPL", bar(t)), Some(t - 8 * MIN));
        // Once per reconnect: a later gap is not the outage's.
        assert_eq!(b.on_completed("AAPL", bar(t + 5 * MIN)), None);
        assert_eq!(store.snapshot("bars:AAPL").unwrap().items.len(), 4);
    }
}
