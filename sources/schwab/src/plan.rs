//! The subscription plan (pure): which keys to stream within the key budget, and which ADD/UNSUBS get there from
//! what is subscribed now.
//!
//! The rules, each for a reason:
//! - **Priority.** Underlyings first (a handful of keys, and every chain needs its underlying's price), then the
//!   charts of watched `bars:` topics (one key each, and what a chart shows), then the contracts of chains
//!   browsers watch, then those of chains watched only because of `TICKDESK_SYMBOLS`. Within a
//!   class, contracts go round-robin by distance from the money, so two watched chains each get their
//!   at-the-money strikes before either gets its wings.
//! - **Budget.** The first `budget` keys are streamed; the rest are served from the REST picture, marked not live.
//! - **Never empty.** Schwab stops a connection with nothing subscribed (code 30). A plan that would remove every
//!   key keeps what is there instead, and when keys are both removed and added, UNSUBS goes first (it frees room
//!   under Schwab's symbol limit) unless it would momentarily leave the connection empty, in which case ADD goes
//!   first.
//! - **SUBS only on an empty service.** SUBS replaces a service's whole key list and sets its fields; it is the
//!   first command after (re)connecting. Changes after that are ADD/UNSUBS, never a reconnect.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use tickdesk_schwab_proto::fields::{CHART_EQUITY, LEVELONE_EQUITIES, LEVELONE_OPTIONS};

/// Keys per service.
pub type KeySets = BTreeMap<&'static str, BTreeSet<String>>;

/// One streamer command of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub command: &'static str,
    pub service: &'static str,
    pub keys: Vec<String>,
}

/// A chain's contracts as candidates for streaming: (key, distance rank from the money).
#[derive(Debug, Clone, Default)]
pub struct Candidates {
    /// 0: watched by a browser; 1: watched only because it is a start symbol's nearest expiry.
    pub class: u8,
    pub contracts: Vec<(String, usize)>,
}

/// Every wanted key, most important first: underlyings, then charts, then contracts by (class, money rank, chain).
pub fn prioritize(
    underlyings: &[String],
    charts: &[String],
    chains: &[Candidates],
) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = Vec::new();
    let mut seen: HashSet<(&'static str, String)> = HashSet::new();
    let mut push = |svc: &'static str, key: &str, out: &mut Vec<(&'static str, String)>| {
        if seen.insert((svc, key.to_string())) {
            out.push((svc, key.to_string()));
        }
    };
    for u in underlyings {
        push(LEVELONE_EQUITIES, u, &mut out);
    }
    for c in charts {
        push(CHART_EQUITY, c, &mut out);
    }
    let mut contracts: Vec<(u8, usize, usize, usize, &str)> = chains
        .iter()
        .enumerate()
        .flat_map(|(ci, c)| {
            c.contracts
                .iter()
                .enumerate()
                .map(move |(i, (k, rank))| (c.class, *rank, ci, i, k.as_str()))
        })
        .collect();
    contracts.sort();
    for (.., key) in contracts {
        push(LEVELONE_OPTIONS, key, &mut out);
    }
    out
}

/// What to stream.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub target: KeySets,
    /// Wanted keys left out by the budget: served from REST, marked not live.
    pub not_live: BTreeSet<String>,
    pub wanted: usize,
}

impl Plan {
    pub fn streamed(&self) -> usize {
        self.target.values().map(BTreeSet::len).sum()
    }

    pub fn is_live(&self, service: &str, key: &str) -> bool {
        self.target.get(service).is_some_and(|s| s.contains(key))
    }
}

/// The first `budget` wanted keys are streamed.
pub fn plan(wanted: &[(&'static str, String)], budget: usize) -> Plan {
    let mut p = Plan {
        wanted: wanted.len(),
        ..Plan::default()
    };
    for (i, (svc, key)) in wanted.iter().enumerate() {
        if i < budget {
            p.target.entry(svc).or_default().insert(key.clone());
        } else {
            p.not_live.insert(key.clone());
        }
    }
    p
}

fn total(sets: &KeySets) -> usize {
    sets.values().map(BTreeSet::len).sum()
}

/// The commands that take the upstream from `current` to `target`, in the order to send them.
pub fn diff(current: &KeySets, target: &KeySets) -> Vec<Command> {
    if total(target) == 0 {
        // Never unsubscribe the last keys: Schwab would stop the stream (code 30).
        return Vec::new();
    }
    let empty = BTreeSet::new();
    let services: BTreeSet<&'static str> = current.keys().chain(target.keys()).copied().collect();
    let mut unsubs = Vec::new();
    let mut adds = Vec::new();
    let mut removed = 0;
    for svc in services {
        let cur = current.get(svc).unwrap_or(&empty);
        let tgt = target.get(svc).unwrap_or(&empty);
        let gone: Vec<String> = cur.difference(tgt).cloned().collect();
        let new: Vec<String> = tgt.difference(cur).cloned().collect();
        removed += gone.len();
        if !gone.is_empty() {
            unsubs.push(Command {
                command: "UNSUBS",
                service: svc,
                keys: gone,
            });
        }
        if !new.is_empty() {
            let command = if cur.is_empty() { "SUBS" } else { "ADD" };
            adds.push(Command {
                command,
                service: svc,
                keys: new,
            });
        }
    }
    if removed == total(current) && !adds.is_empty() && removed > 0 {
        // UNSUBS first would leave nothing subscribed for a moment.
        adds.extend(unsubs);
        adds
    } else {
        unsubs.extend(adds);
        unsubs
    }
}

/// The budget to try after Schwab refused `attempted` keys with code 19: 10% fewer, so a few rounds find the
/// unpublished limit without giving up much.
pub fn shrink_budget(attempted: usize) -> usize {
    (attempted * 9 / 10).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(svc: &'static str, ks: &[&str]) -> KeySets {
        [(svc, ks.iter().map(|s| s.to_string()).collect())]
            .into_iter()
            .collect()
    }

    fn union(a: KeySets, b: KeySets) -> KeySets {
        let mut out = a;
        for (k, v) in b {
            out.entry(k).or_default().extend(v);
        }
        out
    }

    fn cands(class: u8, ks: &[(&str, usize)]) -> Candidates {
        Candidates {
            class,
            contracts: ks.iter().map(|(k, r)| (k.to_string(), *r)).collect(),
        }
    }

    #[test]
    fn priority_is_underlyings_then_watched_chains_round_robin_by_moneyness() {
        let w = prioritize(
            &["AAPL".into(), "SPY".into()],
            &[],
            &[
                cands(1, &[("S0", 0), ("S1", 1)]),
                cands(0, &[("A2", 2), ("A0", 0), ("A1", 1)]),
                cands(0, &[("B0", 0), ("B1", 1)]),
            ],
        );
        let order: Vec<&str> = w.iter().map(|(_, k)| k.as_str()).collect();
        assert_eq!(
            order,
            ["AAPL", "SPY", "A0", "B0", "A1", "B1", "A2", "S0", "S1"]
        );
        assert_eq!(w[0].0, LEVELONE_EQUITIES);
        assert_eq!(w[2].0, LEVELONE_OPTIONS);
    }

    #[test]
    fn the_budget_holds_and_the_rest_is_not_live() {
        let wanted = prioritize(
            &["AAPL".into()],
            &[],
            &[cands(0, &[("A0", 0), ("A1", 1), ("A2", 2)])],
        );
        let p = plan(&wanted, 3);
        assert_eq!(p.streamed(), 3);
        assert_eq!(p.wanted, 4);
        assert!(p.is_live(LEVELONE_EQUITIES, "AAPL") && p.is_live(LEVELONE_OPTIONS, "A1"));
        assert_eq!(p.not_live.iter().collect::<Vec<_>>(), ["A2"]);
        assert_eq!(plan(&wanted, 0).streamed(), 0);
    }

    #[test]
    fn charts_share_the_budget_after_the_underlyings_before_the_contracts() {
        let wanted = prioritize(
            &["AAPL".into(), "MSFT".into()],
            &["AAPL".into(), "MSFT".into()],
            &[cands(0, &[("A0", 0)])],
        );
        let order: Vec<(&str, &str)> = wanted.iter().map(|(s, k)| (*s, k.as_str())).collect();
        assert_eq!(
            order,
            [
                (LEVELONE_EQUITIES, "AAPL"),
                (LEVELONE_EQUITIES, "MSFT"),
                (CHART_EQUITY, "AAPL"),
                (CHART_EQUITY, "MSFT"),
                (LEVELONE_OPTIONS, "A0"),
            ]
        );
        // Three keys: the underlyings and one chart; the other chart and the contract are not live.
        let p = plan(&wanted, 3);
        assert!(p.is_live(CHART_EQUITY, "AAPL") && !p.is_live(CHART_EQUITY, "MSFT"));
        assert!(
            p.is_live(LEVELONE_EQUITIES, "MSFT"),
            "the same symbol, another service"
        );
        assert_eq!(p.streamed(), 3);
    }

    #[test]
    fn first_subscription_is_subs_then_changes_are_add_and_unsubs_with_unsubs_first() {
        let none = KeySets::new();
        let t1 = union(
            keys(LEVELONE_EQUITIES, &["AAPL"]),
            keys(LEVELONE_OPTIONS, &["A0", "A1"]),
        );
        let cmds = diff(&none, &t1);
        assert_eq!(cmds.len(), 2);
        assert!(cmds.iter().all(|c| c.command == "SUBS"));
        // Switching expiry: A* out, B* in; the underlying stays, so UNSUBS goes first.
        let t2 = union(
            keys(LEVELONE_EQUITIES, &["AAPL"]),
            keys(LEVELONE_OPTIONS, &["B0", "B1"]),
        );
        let cmds = diff(&t1, &t2);
        assert_eq!(
            cmds,
            vec![
                Command {
                    command: "UNSUBS",
                    service: LEVELONE_OPTIONS,
                    keys: vec!["A0".into(), "A1".into()]
                },
                Command {
                    command: "ADD",
                    service: LEVELONE_OPTIONS,
                    keys: vec!["B0".into(), "B1".into()]
                },
            ]
        );
        assert!(diff(&t2, &t2).is_empty());
    }

    #[test]
    fn never_an_empty_subscription() {
        let t = keys(LEVELONE_EQUITIES, &["AAPL"]);
        assert!(diff(&t, &KeySets::new()).is_empty(), "the last keys stay");
        // Everything replaced: ADD first, so the connection is never empty.
        let u = keys(LEVELONE_EQUITIES, &["MSFT"]);
        let cmds = diff(&t, &u);
        assert_eq!(
            cmds.iter().map(|c| c.command).collect::<Vec<_>>(),
            ["ADD", "UNSUBS"]
        );
        // A service emptied while another keeps keys is fine, UNSUBS first.
        let both = union(t.clone(), keys(LEVELONE_OPTIONS, &["A0"]));
        let cmds = diff(&both, &keys(LEVELONE_EQUITIES, &["AAPL", "SPY"]));
        assert_eq!(
            cmds.iter().map(|c| c.command).collect::<Vec<_>>(),
            ["UNSUBS", "ADD"]
        );
    }

    #[test]
    fn shrinking_converges_below_an_unknown_limit() {
        let mut b = 500;
        let mut rounds = 0;
        while b > 120 {
            b = shrink_budget(b);
            rounds += 1;
        }
        assert!(rounds < 20 && b >= 100, "{rounds} rounds to {b}");
        assert_eq!(shrink_budget(1), 1);
    }
}
