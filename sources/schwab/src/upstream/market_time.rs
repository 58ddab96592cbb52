//! The market clock's consequences: the session's phase in the status, the day roll at New York midnight, the
//! strike window following the money, and fresh REST pictures for the contracts outside the key budget.

use super::*;

impl Upstream {
    /// Reads the market clock: the session's phase for the status, the day roll, the strike windows' centres.
    pub(super) fn on_market_clock(&mut self) {
        let now = self.opts.clock.now_ms();
        let phase = calendar::phase(now);
        self.status.set_market(MarketNote {
            phase,
            next_open: (phase != Phase::Regular).then(|| calendar::next_open(now)),
            market_time: now,
            simulated: self.opts.clock.is_simulated(),
        });
        let today = et_date(now);
        if today != self.today {
            self.roll_day(today);
        }
        // The bars' window moves with the sessions (the day roll, and every later check is a no-op).
        self.trim_bars();
        self.retry_unloaded_bars();
        self.recentre_windows();
    }

    /// The day changed (New York midnight, or a clock set forward): expired chains are reset to an empty
    /// snapshot and dropped, the start symbols re-pin their nearest expiry, expirations and the remaining chains
    /// reload so every DTE moves.
    pub(super) fn roll_day(&mut self, today: Date) {
        info!(from = %self.today, to = %today, "market day roll");
        self.today = today;
        let expired: Vec<String> = self
            .wanted_chains
            .keys()
            .chain(self.chains.keys())
            .filter(|t| parse_chain_topic(t).is_some_and(|(_, e)| e < today))
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        for topic in &expired {
            info!(%topic, "expired at the day roll: reset to an empty snapshot");
            self.cancel_load(&LoadKey::Chain(topic.clone()));
            self.cancel_load(&LoadKey::Refresh(topic.clone()));
            if let Some(c) = self.chains.remove(topic) {
                for k in &c.contracts {
                    self.key_topic.remove(&k.symbol);
                }
            }
            // A browser may still watch it (it stays in `wanted_chains` as demand says), but nothing loads it.
            if matches!(self.wanted_chains.get(topic), Some(&1) | Some(&HELD)) {
                self.wanted_chains.remove(topic);
            }
            self.store.reset(topic, Items::new());
        }
        // A start symbol whose pinned expiry passed pins the next listed one when its expirations arrive.
        for slot in self.pinned.values_mut() {
            if slot.as_ref().is_some_and(|t| expired.contains(t)) {
                *slot = None;
            }
        }
        let symbols: BTreeSet<String> = self
            .pinned
            .keys()
            .cloned()
            .chain(self.wanted_exps.iter().cloned())
            .collect();
        for sym in symbols {
            self.load_expirations(&sym);
        }
        let live: Vec<String> = self.chains.keys().cloned().collect();
        for topic in live {
            self.load_chain(&topic);
        }
    }

    /// Reloads a chain whose underlying moved a quarter of the strike window (at least two strikes) away from
    /// the strike the window was centred on, so the window follows the money.
    pub(super) fn recentre_windows(&mut self) {
        let Some(window) = self.opts.filter.strike_window else {
            return;
        };
        let quotes = self
            .store
            .snapshot(QUOTES_TOPIC)
            .map(|s| s.items)
            .unwrap_or_default();
        let mut stale: Vec<String> = Vec::new();
        for (topic, c) in &self.chains {
            let Some((underlying, _)) = parse_chain_topic(topic) else {
                continue;
            };
            let Some(price) = quotes
                .get(&underlying)
                .and_then(|q| q.get("last"))
                .and_then(fields::number)
            else {
                continue;
            };
            if chain::strikes_off_centre(&c.contracts, c.centre, price) >= (window / 4).max(2) {
                stale.push(topic.clone());
            }
        }
        for topic in stale {
            if !self.loading.contains_key(&LoadKey::Chain(topic.clone())) {
                info!(%topic, "the underlying moved off the strike window's centre: re-centring");
                self.load_chain(&topic);
            }
        }
    }

    /// Fresh REST pictures for the chains that have contracts outside the key budget.
    pub(super) fn refresh_not_live(&mut self) {
        let opts = self.subscribed.get(LEVELONE_OPTIONS);
        let due: Vec<String> = self
            .chains
            .iter()
            .filter(|(_, c)| {
                c.contracts
                    .iter()
                    .any(|k| !opts.is_some_and(|s| s.contains(&k.symbol)))
            })
            .map(|(t, _)| t.clone())
            .collect();
        for topic in due {
            self.refresh_chain(&topic);
        }
    }
}
