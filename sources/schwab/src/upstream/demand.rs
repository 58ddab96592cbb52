//! What browsers watch, as the demand counts of their topics: the chain topics, the underlyings whose
//! expirations are wanted, and the `bars:` symbols Schwab serves (pure).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::bars::schwab_bars_symbol;
use super::chains::chain_of;
use tickdesk_wire::topics::{CHAIN_PREFIX, EXPIRATIONS_PREFIX};

/// What browsers watch.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Wanted {
    pub(super) chains: BTreeSet<String>,
    /// Underlyings whose expirations topic is watched, or (with held expiries) one of whose chains is: its
    /// expirations list says which expiries to hold.
    pub(super) exps: BTreeSet<String>,
    pub(super) bars: BTreeSet<String>,
}

impl Wanted {
    /// From the demand counts (topics with no subscriber left out).
    pub(super) fn of(
        counts: &BTreeMap<String, usize>,
        hold_expiries: bool,
        foreign_bars: &HashSet<String>,
    ) -> Wanted {
        let mut w = Wanted::default();
        for (topic, n) in counts {
            if *n == 0 {
                continue;
            }
            if topic.starts_with(CHAIN_PREFIX) {
                w.chains.insert(topic.clone());
                if let Some((u, _)) = chain_of(topic).filter(|_| hold_expiries) {
                    w.exps.insert(u);
                }
            } else if let Some(sym) = topic.strip_prefix(EXPIRATIONS_PREFIX) {
                if !sym.is_empty() {
                    w.exps.insert(sym.to_string());
                }
            } else if let Some(sym) = schwab_bars_symbol(topic, foreign_bars) {
                w.bars.insert(sym.to_string());
            }
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &[&str]) -> BTreeSet<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn demand_counts_become_chains_expirations_and_schwab_bars() {
        let counts: BTreeMap<String, usize> = [
            ("chain:AAPL:2026-12-18", 1),
            ("chain:SPY:2026-12-18", 0),
            ("expirations:MSFT", 2),
            ("expirations:", 1),
            ("bars:AAPL", 1),
            ("bars:BTCUSDT", 1),
            ("quotes", 3),
        ]
        .into_iter()
        .map(|(t, n)| (t.to_string(), n))
        .collect();
        let foreign: HashSet<String> = ["BTCUSDT".to_string()].into();
        let w = Wanted::of(&counts, true, &foreign);
        assert_eq!(w.chains, set(&["chain:AAPL:2026-12-18"]), "as watched");
        assert_eq!(
            w.exps,
            set(&["AAPL", "MSFT"]),
            "a watched chain's underlying"
        );
        assert_eq!(w.bars, set(&["AAPL"]), "Binance's are not Schwab's");
        let w = Wanted::of(&counts, false, &foreign);
        assert_eq!(
            w.exps,
            set(&["MSFT"]),
            "no held expiries: only watched lists"
        );
    }
}
