//! Who watches what: the number of subscribed clients per topic, for upstreams that stream only what is watched.
//!
//! The Schwab streamer allows one connection and ~500 keys, so the relay streams the union of what browsers watch,
//! not everything. Sessions report their subscriptions here; an upstream holds a [`watch::Receiver`] and reacts to
//! changes (e.g. ADD/UNSUBS on the streamer). Topics under a registered *dynamic prefix* (`chain:`) may be
//! subscribed before they exist: subscribing is what asks the upstream to create them.

use std::collections::BTreeMap;
use std::sync::Mutex;

use tokio::sync::watch;

/// Subscriber counts per topic, and the prefixes of on-demand topics.
#[derive(Debug)]
pub struct Demand {
    counts: watch::Sender<BTreeMap<String, usize>>,
    prefixes: Mutex<Vec<String>>,
}

impl Default for Demand {
    fn default() -> Self {
        Demand {
            counts: watch::channel(BTreeMap::new()).0,
            prefixes: Mutex::new(Vec::new()),
        }
    }
}

impl Demand {
    /// Lets clients subscribe to not-yet-existing topics that start with `prefix` (an upstream creates them).
    pub fn allow_prefix(&self, prefix: &str) {
        self.prefixes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(prefix.to_string());
    }

    /// Whether `topic` is an on-demand topic.
    pub fn is_dynamic(&self, topic: &str) -> bool {
        self.prefixes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|p| topic.starts_with(p.as_str()))
    }

    /// How many of `topics` are on-demand ones (for the cap on them).
    pub fn dynamic_topics(&self, topics: &[String]) -> usize {
        topics.iter().filter(|t| self.is_dynamic(t)).count()
    }

    pub fn add(&self, topic: &str) {
        self.counts
            .send_modify(|m| *m.entry(topic.to_string()).or_default() += 1);
    }

    pub fn remove(&self, topic: &str) {
        self.counts.send_modify(|m| {
            if let Some(n) = m.get_mut(topic) {
                *n -= 1;
                if *n == 0 {
                    m.remove(topic);
                }
            }
        });
    }

    /// The current counts; changes wake the receiver.
    pub fn watch(&self) -> watch::Receiver<BTreeMap<String, usize>> {
        self.counts.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_rise_and_fall_and_vanish_at_zero() {
        let d = Demand::default();
        let rx = d.watch();
        d.add("chain:SPY:2026-11-21");
        d.add("chain:SPY:2026-11-21");
        d.remove("chain:SPY:2026-11-21");
        assert_eq!(rx.borrow().get("chain:SPY:2026-11-21"), Some(&1));
        d.remove("chain:SPY:2026-11-21");
        d.remove("chain:SPY:2026-11-21");
        assert!(rx.borrow().is_empty());
        d.allow_prefix("chain:");
        assert!(d.is_dynamic("chain:AAPL:2026-12-19") && !d.is_dynamic("curve"));
    }
}
