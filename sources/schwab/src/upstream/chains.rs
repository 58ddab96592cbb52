//! The chain topics: which are wanted and why ([`Want`]), the pictures loaded, the start symbols' pinned expiry,
//! the held expiries, and the contract key → topic index that streamed items are routed by.
//!
//! Bookkeeping only: loads, the store and the plan belong to the orchestrator, which acts on what these methods
//! return (topics to load, topics to empty). A chain topic's name is read and written by the hub's one parser
//! (`tickdesk_hub::topic`).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use tickdesk_market::Date;
use tickdesk_wire::Items;
use tracing::{info, warn};

use crate::budget::Priority;
use crate::chain::{self, ChainFilter, Contract, Expiration};
use crate::plan::Candidates;
use tickdesk_schwab_proto::fields;

pub use tickdesk_hub::topic::{chain_of, chain_topic};

/// Why a chain topic is wanted. The order is importance: when several reasons hold, the first wins ([`Want::merge`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Want {
    /// A browser watches it.
    Watched,
    /// A start symbol's (`TICKDESK_SYMBOLS`) nearest expiry, streamed before any browser connects.
    Start,
    /// One of a watched underlying's first `held_expiries` expiries: a REST picture for the analytics across
    /// expiries, loaded and refreshed, never streamed.
    Held,
}

impl Want {
    /// Two reasons for one topic: the more important one.
    pub(super) fn merge(self, other: Want) -> Want {
        self.min(other)
    }

    /// The REST priority of the topic's picture.
    pub(super) fn priority(self) -> Priority {
        match self {
            Want::Watched => Priority::Browser,
            Want::Start => Priority::Start,
            Want::Held => Priority::Background,
        }
    }

    /// The plan's class of the topic's contracts ([`Candidates::class`]); a held expiry takes no streamer key.
    pub(super) fn stream_class(self) -> Option<u8> {
        match self {
            Want::Watched => Some(0),
            Want::Start => Some(1),
            Want::Held => None,
        }
    }
}

/// A loaded chain topic.
#[derive(Debug)]
pub(super) struct Chain {
    pub(super) contracts: Vec<Contract>,
    pub(super) ranks: Vec<usize>,
    /// The at-the-money strike the window was centred on when loaded.
    pub(super) centre: Option<f64>,
}

impl Chain {
    /// A picture's contracts of `expiry` through the filter, ranked by distance from the money.
    pub(super) fn new(
        expiry: Date,
        contracts: Vec<Contract>,
        underlying_price: Option<f64>,
        filter: &ChainFilter,
    ) -> Chain {
        let of_expiry: Vec<Contract> = contracts
            .into_iter()
            .filter(|c| c.expiry == expiry)
            .collect();
        let contracts = chain::filter_contracts(of_expiry, underlying_price, filter);
        let ranks = chain::money_rank(&contracts, underlying_price);
        let centre = contracts
            .iter()
            .zip(&ranks)
            .min_by_key(|(_, r)| **r)
            .map(|(c, _)| c.strike);
        Chain {
            contracts,
            ranks,
            centre,
        }
    }

    /// The underlying at `price` is a quarter of the strike `window` (at least two strikes) off the centre.
    pub(super) fn off_centre(&self, price: f64, window: usize) -> bool {
        chain::strikes_off_centre(&self.contracts, self.centre, price) >= (window / 4).max(2)
    }

    /// `live` of every contract: streamed now or not.
    pub(super) fn live_rows(&self, streamed: impl Fn(&str) -> bool) -> Items {
        self.contracts
            .iter()
            .map(|k| {
                let live = streamed(&k.symbol);
                (
                    k.symbol.clone(),
                    [("live".to_string(), serde_json::json!(live))]
                        .into_iter()
                        .collect(),
                )
            })
            .collect()
    }
}

/// What a new set of wanted topics changed.
#[derive(Debug, Default, PartialEq)]
pub(super) struct DemandChange {
    /// Chain topics no longer wanted (their pictures and keys are forgotten): to stop loading and to empty.
    pub(super) gone: Vec<String>,
    /// Chain topics newly wanted: to load.
    pub(super) added: Vec<String>,
    /// Underlyings whose expirations are no longer wanted / newly wanted.
    pub(super) exps_gone: Vec<String>,
    pub(super) exps_added: Vec<String>,
}

/// What holding a symbol's listed expiries changed.
#[derive(Debug, Default, PartialEq)]
pub(super) struct HeldChange {
    /// Newly held topics: to load.
    pub(super) added: Vec<String>,
    /// Held topics that left the list and nothing else wants: to stop loading and to empty.
    pub(super) released: Vec<String>,
}

/// The chain topics' state.
#[derive(Debug)]
pub(super) struct Chains {
    /// Chain topics wanted now, and why.
    wanted: BTreeMap<String, Want>,
    /// Underlying → its held chain topics (the first `held_expiries` listed expiries).
    held: BTreeMap<String, Vec<String>>,
    /// Loaded, wanted chain topics.
    loaded: BTreeMap<String, Chain>,
    /// Contract key → its chain topic.
    key_topic: HashMap<String, String>,
    /// Underlyings whose expirations are wanted.
    wanted_exps: BTreeSet<String>,
    /// Start symbol → its nearest-expiry chain topic, once the expirations are known.
    pinned: BTreeMap<String, Option<String>>,
    /// The market's date (New York) as of the last clock check: a change is the day roll.
    today: Date,
}

impl Chains {
    /// Nothing wanted or loaded yet; the start symbols wait for their expirations to pin one.
    pub(super) fn new(start_symbols: &[String], today: Date) -> Chains {
        Chains {
            wanted: BTreeMap::new(),
            held: BTreeMap::new(),
            loaded: BTreeMap::new(),
            key_topic: HashMap::new(),
            wanted_exps: BTreeSet::new(),
            pinned: start_symbols.iter().map(|s| (s.clone(), None)).collect(),
            today,
        }
    }

    pub(super) fn today(&self) -> Date {
        self.today
    }

    /// The start symbols, in order.
    pub(super) fn start_symbols(&self) -> Vec<String> {
        self.pinned.keys().cloned().collect()
    }

    pub(super) fn is_start_symbol(&self, symbol: &str) -> bool {
        self.pinned.contains_key(symbol)
    }

    pub(super) fn want(&self, topic: &str) -> Option<Want> {
        self.wanted.get(topic).copied()
    }

    pub(super) fn is_wanted(&self, topic: &str) -> bool {
        self.wanted.contains_key(topic)
    }

    pub(super) fn has_wanted(&self) -> bool {
        !self.wanted.is_empty()
    }

    /// The REST priority of a topic's picture; a topic not wanted (yet) is one a browser asks for.
    pub(super) fn priority(&self, topic: &str) -> Priority {
        self.want(topic).map_or(Priority::Browser, Want::priority)
    }

    /// A chain topic whose expiry is before the market's today.
    pub(super) fn is_expired(&self, topic: &str) -> bool {
        chain_of(topic).is_some_and(|(_, e)| e < self.today)
    }

    /// The underlyings of the wanted topics, in topic order, each once.
    pub(super) fn underlyings(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for t in self.wanted.keys() {
            if let Some((u, _)) = chain_of(t) {
                if !out.contains(&u) {
                    out.push(u);
                }
            }
        }
        out
    }

    /// Whether a chain of `symbol` is loaded.
    pub(super) fn has_underlying(&self, symbol: &str) -> bool {
        self.loaded
            .keys()
            .any(|t| chain_of(t).is_some_and(|(u, _)| u == symbol))
    }

    /// Underlyings whose expirations are wanted: the start symbols' and the rest.
    pub(super) fn expirations_wanted(&self) -> BTreeSet<String> {
        self.pinned
            .keys()
            .cloned()
            .chain(self.wanted_exps.iter().cloned())
            .collect()
    }

    /// The topics of the streamed-for chains' contracts, as the plan's candidates (held expiries take no keys).
    pub(super) fn candidates(&self) -> Vec<Candidates> {
        self.loaded
            .iter()
            .filter_map(|(t, c)| {
                let class = match self.want(t) {
                    Some(w) => w.stream_class()?,
                    None => Want::Start.stream_class()?,
                };
                Some(Candidates {
                    class,
                    contracts: c
                        .contracts
                        .iter()
                        .zip(&c.ranks)
                        .map(|(k, r)| (k.symbol.clone(), *r))
                        .collect(),
                })
            })
            .collect()
    }

    pub(super) fn get(&self, topic: &str) -> Option<&Chain> {
        self.loaded.get(topic)
    }

    pub(super) fn loaded(&self) -> impl Iterator<Item = (&String, &Chain)> {
        self.loaded.iter()
    }

    pub(super) fn loaded_topics(&self) -> Vec<String> {
        self.loaded.keys().cloned().collect()
    }

    /// The chain topic a contract key belongs to.
    pub(super) fn topic_of(&self, key: &str) -> Option<&str> {
        self.key_topic.get(key).map(String::as_str)
    }

    /// A chain's first (or re-centred) picture; its keys route to it from now on.
    pub(super) fn install(&mut self, topic: String, chain: Chain) {
        for c in &chain.contracts {
            self.key_topic.insert(c.symbol.clone(), topic.clone());
        }
        self.loaded.insert(topic, chain);
    }

    /// The loaded chains whose underlying's `last` in `quotes` is off their window's centre.
    pub(super) fn off_centre(&self, quotes: &Items, window: usize) -> Vec<String> {
        let mut stale = Vec::new();
        for (topic, c) in &self.loaded {
            let Some((underlying, _)) = chain_of(topic) else {
                continue;
            };
            let Some(price) = quotes
                .get(&underlying)
                .and_then(|q| q.get("last"))
                .and_then(fields::number)
            else {
                continue;
            };
            if c.off_centre(price, window) {
                stale.push(topic.clone());
            }
        }
        stale
    }

    /// The loaded chains with a contract not streamed.
    pub(super) fn not_all_streamed(&self, streamed: impl Fn(&str) -> bool) -> Vec<String> {
        self.loaded
            .iter()
            .filter(|(_, c)| c.contracts.iter().any(|k| !streamed(&k.symbol)))
            .map(|(t, _)| t.clone())
            .collect()
    }

    /// Forgets a picture and the keys that routed to it.
    fn unload(&mut self, topic: &str) {
        if let Some(c) = self.loaded.remove(topic) {
            for k in &c.contracts {
                self.key_topic.remove(&k.symbol);
            }
        }
    }

    /// What browsers watch now (`watched` chain topics, `exps` underlyings' expirations), with the start symbols'
    /// pinned expiries and the held expiries of underlyings still watched, becomes what is wanted.
    pub(super) fn set_demand(
        &mut self,
        watched: &BTreeSet<String>,
        mut exps: BTreeSet<String>,
    ) -> DemandChange {
        let mut chains: BTreeMap<String, Want> = self
            .pinned
            .values()
            .flatten()
            .map(|t| (t.clone(), Want::Start))
            .collect();
        for t in watched {
            chains.insert(t.clone(), Want::Watched);
        }
        exps.extend(self.pinned.keys().cloned());
        // Held expiries of underlyings still watched stay wanted; the others are let go.
        self.held.retain(|u, _| exps.contains(u));
        for t in self.held.values().flatten() {
            let w = chains.entry(t.clone()).or_insert(Want::Held);
            *w = w.merge(Want::Held);
        }
        let gone: Vec<String> = self
            .wanted
            .keys()
            .filter(|t| !chains.contains_key(*t))
            .cloned()
            .collect();
        for topic in &gone {
            self.unload(topic);
        }
        let added = chains
            .keys()
            .filter(|t| !self.wanted.contains_key(*t))
            .cloned()
            .collect();
        self.wanted = chains;
        let exps_gone = self.wanted_exps.difference(&exps).cloned().collect();
        let exps_added = exps.difference(&self.wanted_exps).cloned().collect();
        self.wanted_exps = exps;
        DemandChange {
            gone,
            added,
            exps_gone,
            exps_added,
        }
    }

    /// A start symbol still without a pinned expiry pins the first of `list` (a held one streams from now on):
    /// the topic to load.
    pub(super) fn pin(&mut self, symbol: &str, list: &[Expiration]) -> Option<String> {
        let Some(slot @ None) = self.pinned.get_mut(symbol) else {
            return None;
        };
        let Some(e) = list.first() else {
            warn!(%symbol, "no expiry within the DTE window; nothing to stream for it");
            return None;
        };
        let topic = chain_topic(symbol, e.date);
        info!(%topic, "streaming the nearest expiry of a start symbol");
        *slot = Some(topic.clone());
        let want = self.wanted.entry(topic.clone()).or_insert(Want::Start);
        *want = want.merge(Want::Start);
        Some(topic)
    }

    /// Holds the first `n` listed expiries of `symbol`; the ones a browser or a start symbol already wants keep
    /// their want. Held topics that left the list (the day rolled) are let go unless something else wants them.
    pub(super) fn hold(&mut self, symbol: &str, list: &[Expiration], n: usize) -> HeldChange {
        let topics: Vec<String> = list
            .iter()
            .take(n)
            .map(|e| chain_topic(symbol, e.date))
            .collect();
        let mut change = HeldChange::default();
        for t in &topics {
            if !self.wanted.contains_key(t) {
                self.wanted.insert(t.clone(), Want::Held);
                change.added.push(t.clone());
            }
        }
        if let Some(old) = self.held.insert(symbol.to_string(), topics.clone()) {
            for t in old.into_iter().filter(|t| !topics.contains(t)) {
                if self.want(&t) == Some(Want::Held) {
                    self.wanted.remove(&t);
                    // The picture only: its keys never streamed.
                    self.loaded.remove(&t);
                    change.released.push(t);
                }
            }
        }
        change
    }

    /// The day changed: expired topics are unloaded and, unless a browser still watches them, no longer wanted;
    /// a start symbol whose pinned expiry passed pins again when its expirations arrive. The expired topics.
    pub(super) fn roll_day(&mut self, today: Date) -> Vec<String> {
        self.today = today;
        let expired: Vec<String> = self
            .wanted
            .keys()
            .chain(self.loaded.keys())
            .filter(|t| chain_of(t).is_some_and(|(_, e)| e < today))
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        for topic in &expired {
            self.unload(topic);
            // A browser may still watch it (it stays wanted as demand says), but nothing loads it.
            if self.want(topic).is_some_and(|w| w != Want::Watched) {
                self.wanted.remove(topic);
            }
        }
        for slot in self.pinned.values_mut() {
            if slot.as_ref().is_some_and(|t| expired.contains(t)) {
                *slot = None;
            }
        }
        expired
    }

    /// The contracts of `topic`'s loaded picture, by key.
    pub(super) fn keys_of(&self, topic: &str) -> HashSet<&str> {
        self.loaded
            .get(topic)
            .map(|c| c.contracts.iter().map(|k| k.symbol.as_str()).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickdesk_wire::Fields;

    fn d(s: &str) -> Date {
        Date::parse_iso(s).unwrap()
    }

    fn set(ts: &[&str]) -> BTreeSet<String> {
        ts.iter().map(|t| t.to_string()).collect()
    }

    fn exp(date: &str) -> Expiration {
        Expiration {
            date: d(date),
            dte: 0,
            kind: "S".into(),
        }
    }

    fn contract(symbol: &str, expiry: Date, strike: f64) -> Contract {
        Contract {
            symbol: symbol.into(),
            put_call: 'C',
            strike,
            expiry,
            dte: 0,
            open_interest: Some(1000),
            fields: Fields::new(),
        }
    }

    /// A loaded picture of `topic` with one contract per key.
    fn install(c: &mut Chains, topic: &str, keys: &[&str]) {
        let (_, e) = chain_of(topic).unwrap();
        c.install(
            topic.into(),
            Chain {
                contracts: keys.iter().map(|k| contract(k, e, 100.0)).collect(),
                ranks: (0..keys.len()).collect(),
                centre: Some(100.0),
            },
        );
    }

    #[test]
    fn the_more_important_want_wins_and_says_how_the_topic_is_served() {
        use Want::*;
        assert!(Watched < Start && Start < Held);
        for (a, b, m) in [
            (Watched, Start, Watched),
            (Start, Watched, Watched),
            (Held, Start, Start),
            (Start, Held, Start),
            (Held, Held, Held),
            (Held, Watched, Watched),
        ] {
            assert_eq!(a.merge(b), m, "{a:?} + {b:?}");
        }
        assert_eq!(
            [Watched, Start, Held].map(Want::priority),
            [Priority::Browser, Priority::Start, Priority::Background]
        );
        assert_eq!(
            [Watched, Start, Held].map(Want::stream_class),
            [Some(0), Some(1), None]
        );
    }

    #[test]
    fn demand_watches_over_pins_keeps_held_expiries_of_watched_underlyings_and_forgets_the_rest() {
        let mut c = Chains::new(&["SPY".into()], d("2026-12-02"));
        // SPY's expirations come: it pins its nearest expiry.
        let pinned = c.pin("SPY", &[exp("2026-12-04"), exp("2026-12-11")]);
        assert_eq!(pinned.as_deref(), Some("chain:SPY:2026-12-04"));
        assert_eq!(c.pin("SPY", &[exp("2026-12-11")]), None, "pinned once");
        let ch = c.set_demand(&set(&["chain:AAPL:2026-12-18"]), set(&["AAPL"]));
        assert_eq!(
            ch.added,
            ["chain:AAPL:2026-12-18"],
            "the pinned one is wanted already"
        );
        assert_eq!(ch.exps_added, ["AAPL", "SPY"]);
        assert_eq!(c.want("chain:SPY:2026-12-04"), Some(Want::Start));
        // AAPL's expiries are held; the watched one keeps its want.
        let held = c.hold("AAPL", &[exp("2026-12-11"), exp("2026-12-18")], 2);
        assert_eq!(held.added, ["chain:AAPL:2026-12-11"]);
        assert_eq!(c.want("chain:AAPL:2026-12-11"), Some(Want::Held));
        assert_eq!(c.want("chain:AAPL:2026-12-18"), Some(Want::Watched));
        install(&mut c, "chain:AAPL:2026-12-18", &["A1"]);
        // A browser watches the pinned chain too: watched wins.
        let ch = c.set_demand(
            &set(&["chain:AAPL:2026-12-18", "chain:SPY:2026-12-04"]),
            set(&["AAPL"]),
        );
        assert_eq!(ch, DemandChange::default());
        assert_eq!(c.want("chain:SPY:2026-12-04"), Some(Want::Watched));
        // The browser leaves AAPL's chain but watches its expirations: the expiry is held, not dropped.
        let ch = c.set_demand(&set(&[]), set(&["AAPL"]));
        assert!(ch.gone.is_empty());
        assert_eq!(c.want("chain:AAPL:2026-12-18"), Some(Want::Held));
        assert_eq!(c.want("chain:SPY:2026-12-04"), Some(Want::Start));
        assert_eq!(c.topic_of("A1"), Some("chain:AAPL:2026-12-18"));
        // Nothing of AAPL watched: its held expiries go, with their pictures and keys.
        let ch = c.set_demand(&set(&[]), set(&[]));
        assert_eq!(ch.gone, ["chain:AAPL:2026-12-11", "chain:AAPL:2026-12-18"]);
        assert_eq!(ch.exps_gone, ["AAPL"]);
        assert!(ch.added.is_empty() && ch.exps_added.is_empty());
        assert_eq!(c.topic_of("A1"), None);
        assert!(c.get("chain:AAPL:2026-12-18").is_none());
        assert_eq!(c.expirations_wanted(), set(&["SPY"]));
    }

    #[test]
    fn a_pinned_expiry_that_was_held_streams_and_a_rolled_off_held_expiry_is_released() {
        let mut c = Chains::new(&["SPY".into()], d("2026-12-02"));
        c.set_demand(&set(&[]), set(&[]));
        let held = c.hold("SPY", &[exp("2026-12-04"), exp("2026-12-11")], 2);
        assert_eq!(held.added.len(), 2);
        assert_eq!(c.candidates().len(), 0, "nothing loaded yet");
        install(&mut c, "chain:SPY:2026-12-04", &["S1"]);
        assert!(c.candidates().is_empty(), "a held expiry takes no keys");
        c.pin("SPY", &[exp("2026-12-04")]);
        assert_eq!(c.want("chain:SPY:2026-12-04"), Some(Want::Start));
        let cands = c.candidates();
        assert_eq!((cands.len(), cands[0].class), (1, 1));
        // The list moved on: the 11th is still listed, the 4th is pinned (not only held), the 18th is new.
        let held = c.hold("SPY", &[exp("2026-12-11"), exp("2026-12-18")], 2);
        assert_eq!(held.added, ["chain:SPY:2026-12-18"]);
        assert!(held.released.is_empty(), "the pinned expiry stays");
        let held = c.hold("SPY", &[exp("2026-12-18")], 2);
        assert_eq!(held.released, ["chain:SPY:2026-12-11"]);
        assert!(!c.is_wanted("chain:SPY:2026-12-11"));
        assert!(c.is_wanted("chain:SPY:2026-12-04"));
    }

    #[test]
    fn the_day_roll_unloads_expired_chains_keeps_the_watched_ones_wanted_and_unpins() {
        let mut c = Chains::new(&["SPY".into()], d("2026-12-02"));
        c.pin("SPY", &[exp("2026-12-02")]);
        c.set_demand(
            &set(&["chain:AAPL:2026-12-02", "chain:AAPL:2026-12-18"]),
            set(&[]),
        );
        for t in [
            "chain:SPY:2026-12-02",
            "chain:AAPL:2026-12-02",
            "chain:AAPL:2026-12-18",
        ] {
            install(&mut c, t, &[&format!("{t}/k")]);
        }
        assert!(!c.is_expired("chain:SPY:2026-12-02"));
        let expired = c.roll_day(d("2026-12-03"));
        assert_eq!(expired, ["chain:AAPL:2026-12-02", "chain:SPY:2026-12-02"]);
        assert_eq!(c.today(), d("2026-12-03"));
        assert!(c.is_expired("chain:SPY:2026-12-02"));
        assert!(
            c.is_wanted("chain:AAPL:2026-12-02"),
            "a browser still watches it"
        );
        assert!(!c.is_wanted("chain:SPY:2026-12-02"), "the pin is let go");
        assert_eq!(c.loaded_topics(), ["chain:AAPL:2026-12-18"]);
        assert_eq!(c.topic_of("chain:AAPL:2026-12-02/k"), None);
        // SPY pins its next expiry when its expirations arrive.
        assert_eq!(
            c.pin("SPY", &[exp("2026-12-04")]).as_deref(),
            Some("chain:SPY:2026-12-04")
        );
    }

    #[test]
    fn priorities_and_plan_classes_follow_the_want() {
        let mut c = Chains::new(&["SPY".into()], d("2026-12-02"));
        c.pin("SPY", &[exp("2026-12-04")]);
        c.set_demand(&set(&["chain:AAPL:2026-12-18"]), set(&["AAPL"]));
        c.hold("AAPL", &[exp("2026-12-11")], 1);
        assert_eq!(c.priority("chain:AAPL:2026-12-18"), Priority::Browser);
        assert_eq!(c.priority("chain:SPY:2026-12-04"), Priority::Start);
        assert_eq!(c.priority("chain:AAPL:2026-12-11"), Priority::Background);
        assert_eq!(c.priority("chain:MSFT:2026-12-11"), Priority::Browser);
        for t in [
            "chain:AAPL:2026-12-18",
            "chain:SPY:2026-12-04",
            "chain:AAPL:2026-12-11",
        ] {
            install(&mut c, t, &[&format!("{t}/k")]);
        }
        let classes: Vec<(u8, String)> = c
            .candidates()
            .into_iter()
            .map(|k| (k.class, k.contracts[0].0.clone()))
            .collect();
        assert_eq!(
            classes,
            [
                (0, "chain:AAPL:2026-12-18/k".to_string()),
                (1, "chain:SPY:2026-12-04/k".to_string())
            ]
        );
        assert_eq!(c.underlyings(), ["AAPL", "SPY"]);
        assert!(c.has_underlying("AAPL") && !c.has_underlying("MSFT"));
    }

    #[test]
    fn a_chain_keeps_its_expiry_and_knows_when_the_money_moved_off_its_centre() {
        let e = d("2026-12-18");
        let other = d("2026-12-11");
        let contracts: Vec<Contract> = (0..10)
            .map(|i| contract(&format!("K{i}"), e, 100.0 + i as f64))
            .chain([contract("OTHER", other, 104.0)])
            .collect();
        let c = Chain::new(e, contracts, Some(104.2), &ChainFilter::default());
        assert!(c.contracts.iter().all(|k| k.expiry == e));
        assert_eq!(c.centre, Some(104.0));
        assert!(!c.off_centre(105.0, 8));
        assert!(c.off_centre(107.0, 8), "three strikes off a window of 8");
        let rows = c.live_rows(|k| k == "K4");
        assert_eq!(rows["K4"]["live"], serde_json::json!(true));
        assert_eq!(rows["K5"]["live"], serde_json::json!(false));
    }
}
