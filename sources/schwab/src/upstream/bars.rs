//! `bars:{SYMBOL}` topics from Schwab: the first picture from pricehistory (a fresh snapshot), the current minute
//! moved by the `LEVELONE_EQUITIES` ticks already streamed for the symbol, each completed minute replaced by its
//! `CHART_EQUITY` item, the minutes missed while the stream was down backfilled from pricehistory, and the window
//! trimmed as the sessions roll. The bar logic itself is [`tickdesk_hub::bars::Series`]; this is the I/O around it.

use super::*;
use crate::bars::{chart_bar, is_schwab_bars, parse_price_history};
use tickdesk_hub::bars::{in_extended_session, window_start, Series};
use tickdesk_wire::bars::Bar;

/// One watched `bars:` topic.
#[derive(Debug)]
pub(super) struct BarsTopic {
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

impl Upstream {
    /// The window's start now.
    fn bars_window(&self) -> i64 {
        window_start(self.opts.clock.now_ms(), self.opts.bars_sessions)
    }

    /// The `bars:` symbols watched now: new ones get their first picture, the ones let go are emptied.
    pub(super) fn set_wanted_bars(&mut self, wanted: BTreeSet<String>) {
        let gone: Vec<String> = self
            .bars
            .keys()
            .filter(|s| !wanted.contains(*s))
            .cloned()
            .collect();
        for symbol in gone {
            self.cancel_load(&LoadKey::Bars(symbol.clone()));
            self.cancel_load(&LoadKey::Backfill(symbol.clone()));
            self.bars.remove(&symbol);
            // Emptied, not left frozen: nothing moves it any more; a browser that comes back gets a fresh picture.
            self.store.reset(&bars_topic(&symbol), Items::new());
            debug!(%symbol, "bars no longer watched: emptied");
        }
        let start = self.bars_window();
        for symbol in wanted {
            if !self.bars.contains_key(&symbol) {
                self.bars.insert(
                    symbol.clone(),
                    BarsTopic {
                        series: Series::new(start),
                        loaded: false,
                        resync: false,
                    },
                );
                self.load_bars(&symbol);
            }
        }
    }

    /// The first picture: every minute of the window so far, extended hours included.
    pub(super) fn load_bars(&mut self, symbol: &str) {
        if self.is_unknown(symbol) {
            debug!(%symbol, "bars not asked: Schwab does not know the symbol (cool-down)");
            return;
        }
        let start = self.bars_window();
        self.fetch_bars(LoadKey::Bars(symbol.to_string()), symbol, start, false);
    }

    /// A pricehistory load from `from` to the market clock's now, reported as [`Loaded::Bars`].
    fn fetch_bars(&mut self, key: LoadKey, symbol: &str, from: i64, backfill: bool) {
        let (s, clock) = (symbol.to_string(), self.opts.clock.clone());
        let generation = self.next_bars_load;
        self.next_bars_load += 1;
        self.start_load(key.clone(), move |rest| {
            let (s, clock) = (s.clone(), clock.clone());
            async move {
                let now = clock.now_ms();
                let v = match rest
                    .price_history(Priority::Browser, &s, from.min(now), now)
                    .await
                {
                    Ok(v) => v,
                    // Refused (400/404): the same as no history; whether the symbol is unknown is decided with
                    // what else is known of it.
                    Err(RestError::Http {
                        status: 400 | 404,
                        message,
                        ..
                    }) if !backfill => {
                        return Ok(Loaded::Bars {
                            symbol: s,
                            bars: Vec::new(),
                            backfill,
                            generation,
                            refused: Some(message),
                        })
                    }
                    Err(e) => return Err(e),
                };
                let bars = parse_price_history(&v).ok_or_else(|| RestError::BadReply {
                    path: "/marketdata/v1/pricehistory".into(),
                    message: "no candles list".into(),
                })?;
                Ok(Loaded::Bars {
                    symbol: s,
                    bars,
                    backfill,
                    generation,
                    refused: None,
                })
            }
        });
        // After start_load: it cancels the previous load of the key, which forgets that one's generation.
        self.bars_loads.insert(key, generation);
    }

    /// A pricehistory answer: the first picture becomes a fresh snapshot; a backfill adds the minutes it has.
    pub(super) fn on_bars_loaded(
        &mut self,
        symbol: String,
        bars: Vec<Bar>,
        backfill: bool,
        generation: u64,
        refused: Option<String>,
    ) {
        let key = if backfill {
            LoadKey::Backfill(symbol.clone())
        } else {
            LoadKey::Bars(symbol.clone())
        };
        if self.bars_loads.get(&key) != Some(&generation) {
            debug!(%symbol, generation, "a cancelled bars load's answer: ignored");
            return;
        }
        self.bars_loads.remove(&key);
        self.loading.remove(&key);
        if !self.bars.contains_key(&symbol) {
            return;
        }
        let first_empty = !backfill && bars.is_empty() && !self.bars[&symbol].loaded;
        if first_empty && !self.otherwise_known(&symbol) {
            // The window without a single minute and nothing else heard of it: Schwab does not know it.
            let why = refused.map_or("it has no price history".to_string(), |m| {
                format!("pricehistory refused it: {m}")
            });
            return self.on_unknown(&symbol, &why);
        }
        if first_empty {
            // A symbol that trades (quotes, a chain) but has no minute in the window: an empty picture, not an
            // unknown symbol, whose error would also reach its chain and expirations topics.
            info!(%symbol, refused = ?refused, "no price history in the window: the bars start empty");
        }
        let Some(b) = self.bars.get_mut(&symbol) else {
            return;
        };
        let changed = b.series.merge_history(bars);
        let topic = bars_topic(&symbol);
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

    /// True when `symbol` showed it trades otherwise: a streamed or REST quote, a loaded chain, listed expirations.
    fn otherwise_known(&self, symbol: &str) -> bool {
        let has_items = |topic: &str| {
            self.store
                .snapshot(topic)
                .is_some_and(|s| !s.items.is_empty())
        };
        self.streamed_quotes.contains(symbol)
            || self
                .chains
                .keys()
                .any(|t| parse_chain_topic(t).is_some_and(|(u, _)| u == symbol))
            || self
                .store
                .snapshot(QUOTES_TOPIC)
                .is_some_and(|s| s.items.contains_key(symbol))
            || has_items(&format!("{EXPIRATIONS_PREFIX}{symbol}"))
    }

    /// `CHART_EQUITY` items: each completed minute replaces what the ticks built for it.
    pub(super) fn on_chart_items(&mut self, items: Vec<DataItem>) {
        for item in items {
            let subscribed = self
                .subscribed
                .get(CHART_EQUITY)
                .is_some_and(|s| s.contains(&item.key));
            let Some(bar) = chart_bar(&item.fields).filter(|_| subscribed) else {
                continue;
            };
            self.resync_bars(&item.key, bar.t);
            let Some(b) = self.bars.get_mut(&item.key) else {
                continue;
            };
            if let Some(bar) = b.series.apply_completed(bar) {
                if b.loaded {
                    self.store
                        .publish(&bars_topic(&item.key), items_of([&bar]), vec![]);
                }
            }
        }
    }

    /// A `LEVELONE_EQUITIES` item of a symbol whose bars are watched: its last price and day volume move the
    /// current minute's bar (on the market clock, within the extended session).
    pub(super) fn on_equity_tick(&mut self, symbol: &str, item: &[(String, Value)]) {
        if !self.bars.get(symbol).is_some_and(|b| b.loaded) {
            return;
        }
        let now = self.opts.clock.now_ms();
        if !in_extended_session(now) {
            return;
        }
        let field = |id: &str| {
            item.iter()
                .find(|(k, _)| k == id)
                .and_then(|(_, v)| fields::number(v))
        };
        let (last, volume) = (field("3"), field("8"));
        if last.is_none() && volume.is_none() {
            return;
        }
        self.resync_bars(symbol, now);
        let Some(b) = self.bars.get_mut(symbol) else {
            return;
        };
        if let Some(bar) = b.series.apply_tick(now, last, volume) {
            self.store
                .publish(&bars_topic(symbol), items_of([&bar]), vec![]);
        }
    }

    /// The first live bar or tick after a (re)connect: the minutes missing between the last bar held and it, and
    /// that last bar unless a completed bar confirmed it (its `CHART_EQUITY` item went out during the outage),
    /// are asked for from pricehistory.
    fn resync_bars(&mut self, symbol: &str, t: i64) {
        let Some(b) = self.bars.get_mut(symbol).filter(|b| b.loaded && b.resync) else {
            return;
        };
        b.resync = false;
        if let Some((from, to)) = b.series.gap_before(t) {
            info!(%symbol, from, to, "minutes missed while the stream was down: backfilling from pricehistory");
            self.fetch_bars(LoadKey::Backfill(symbol.to_string()), symbol, from, true);
        }
    }

    /// A new streamer session: every series looks for a gap at its first live input.
    pub(super) fn on_bars_connected(&mut self) {
        for b in self.bars.values_mut() {
            b.resync = true;
            b.series.forget_volume();
        }
    }

    /// Asks again for the first picture of every watched topic still without one whose symbol is out of its
    /// unknown cool-down and has no load running: demand only loads a symbol when it is first watched, so a topic
    /// watched through the cool-down would otherwise never be asked again.
    pub(super) fn retry_unloaded_bars(&mut self) {
        let due: Vec<String> = self
            .bars
            .iter()
            .filter(|(s, b)| {
                !b.loaded
                    && !self.is_unknown(s)
                    && !self.loading.contains_key(&LoadKey::Bars(s.to_string()))
            })
            .map(|(s, _)| s.clone())
            .collect();
        for symbol in due {
            debug!(%symbol, "bars still without a picture after the cool-down: asking again");
            self.load_bars(&symbol);
        }
    }

    /// The sessions rolled: bars before the window's new start are deleted from their topics.
    pub(super) fn trim_bars(&mut self) {
        let start = self.bars_window();
        for (symbol, b) in &mut self.bars {
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

    /// The watched bars whose chart is not streamed (the key budget is short; an unknown symbol is not counted).
    pub(super) fn bars_not_live(&self, p: &plan::Plan) -> Vec<String> {
        self.bars
            .keys()
            .filter(|s| !p.is_live(CHART_EQUITY, s) && !self.is_unknown(s))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let stale = up.bars_loads[&key];
        // Dropped and watched again before the first load's answer was handled: a new load runs.
        up.set_wanted_bars(want(&[]));
        up.set_wanted_bars(want(&["AAPL"]));
        let current = up.bars_loads[&key];
        assert_ne!(stale, current);
        // The first load's answer arrives late: ignored; the running load keeps its handle.
        up.on_bars_loaded("AAPL".into(), vec![bar(t - 60_000)], false, stale, None);
        assert!(
            up.loading.contains_key(&key),
            "the running load is still tracked"
        );
        assert!(!up.bars["AAPL"].loaded, "the stale picture was not taken");
        // Its own answer is taken.
        up.on_bars_loaded("AAPL".into(), vec![bar(t - 60_000)], false, current, None);
        assert!(!up.loading.contains_key(&key) && up.bars["AAPL"].loaded);
        assert_eq!(up.store.snapshot("bars:AAPL").unwrap().items.len(), 1);
        for (_, h) in up.loading.drain() {
            h.abort();
        }
    }

    #[tokio::test]
    async fn no_history_for_a_symbol_that_trades_is_an_empty_picture_not_an_unknown_symbol() {
        let t = Date::from_ymd(2026, 12, 2).at_et(2, 0);
        let (mut up, _rx) = Upstream::for_tests(Clock::frozen(t));
        // AAPL's quote streams (its chain is watched); NOPE was never heard of.
        up.streamed_quotes.insert("AAPL".into());
        let wanted: BTreeSet<String> = ["AAPL".to_string(), "NOPE".to_string()].into();
        up.set_wanted_bars(wanted);
        let generation = |up: &Upstream, s: &str| up.bars_loads[&LoadKey::Bars(s.into())];
        let g = generation(&up, "AAPL");
        up.on_bars_loaded("AAPL".into(), vec![], false, g, Some("bad dates".into()));
        assert!(
            !up.is_unknown("AAPL"),
            "its chain and expirations stay served"
        );
        assert!(up.bars["AAPL"].loaded);
        let snap = up.store.snapshot("bars:AAPL").expect("an empty snapshot");
        assert!(snap.items.is_empty());
        let g = generation(&up, "NOPE");
        up.on_bars_loaded("NOPE".into(), vec![], false, g, None);
        assert!(up.is_unknown("NOPE"), "nothing else knows it: unknown");
        assert!(!up.bars["NOPE"].loaded);
        for (_, h) in up.loading.drain() {
            h.abort();
        }
    }
}
