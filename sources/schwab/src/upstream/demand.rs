//! What browsers watch, as demand counts, becomes the wanted chains, expirations and bars (plus the start symbols'
//! nearest expiry), and the loads that follow.

use super::*;

impl Upstream {
    /// Recomputes what is wanted from the demand counts and the start symbols; starts and cancels loads.
    pub(super) fn on_demand(&mut self, counts: &BTreeMap<String, usize>) {
        self.refused = None;
        let mut chains: BTreeMap<String, u8> = self
            .pinned
            .values()
            .flatten()
            .map(|t| (t.clone(), 1))
            .collect();
        let mut exps: BTreeSet<String> = self.pinned.keys().cloned().collect();
        let mut bars: BTreeSet<String> = BTreeSet::new();
        for (topic, n) in counts {
            if *n == 0 {
                continue;
            }
            if topic.starts_with(CHAIN_PREFIX) {
                chains.insert(topic.clone(), 0);
                // The expiries of a watched underlying are held too: its expirations list says which.
                if let Some((u, _)) =
                    parse_chain_topic(topic).filter(|_| self.opts.held_expiries > 0)
                {
                    exps.insert(u);
                }
            } else if let Some(sym) = topic.strip_prefix(EXPIRATIONS_PREFIX) {
                if !sym.is_empty() {
                    exps.insert(sym.to_string());
                }
            } else if let Some(sym) =
                super::bars::schwab_bars_symbol(topic, &self.opts.foreign_bars)
            {
                bars.insert(sym.to_string());
            }
        }
        // Held expiries of underlyings still watched stay wanted (class 2); the others are let go.
        self.held.retain(|u, _| exps.contains(u));
        for t in self.held.values().flatten() {
            chains.entry(t.clone()).or_insert(HELD);
        }
        // Chains no longer wanted: stop loading, forget their keys (the plan drops them), empty them.
        let gone: Vec<String> = self
            .wanted_chains
            .keys()
            .filter(|t| !chains.contains_key(*t))
            .cloned()
            .collect();
        for topic in gone {
            self.cancel_load(&LoadKey::Chain(topic.clone()));
            self.cancel_load(&LoadKey::Refresh(topic.clone()));
            // Emptied, not left frozen: nobody refreshes it any more, and views across expiries (the analytics)
            // must not count a stale picture. A browser that comes back gets it loaded afresh.
            if let Some(c) = self.chains.remove(&topic) {
                for k in &c.contracts {
                    self.key_topic.remove(&k.symbol);
                }
            }
            self.store.reset(&topic, Items::new());
            debug!(%topic, "chain no longer watched: emptied");
        }
        for topic in chains.keys() {
            if !self.wanted_chains.contains_key(topic) {
                self.load_chain(topic);
            }
        }
        self.wanted_chains = chains;
        for sym in self.wanted_exps.clone() {
            if !exps.contains(&sym) {
                self.cancel_load(&LoadKey::Expirations(sym));
            }
        }
        for sym in &exps {
            if !self.wanted_exps.contains(sym) {
                self.load_expirations(sym);
            }
        }
        self.wanted_exps = exps;
        self.set_wanted_bars(bars);
    }
}
