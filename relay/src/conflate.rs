//! Per-client conflation: what a client has not been sent yet, merged by topic, item and field.
//!
//! Pure and synchronous. Whatever the upstream rate or however long a client stalls, an [`Outbox`] holds at
//! most one delta per topic, and each delta at most one entry per item: the memory a slow, paused or hidden
//! client costs is bounded by the state it watches.

use std::collections::BTreeMap;

use tickdesk_wire::{merge, Delta};

/// Pending deltas of one client, one (conflated) delta per topic.
#[derive(Debug, Default)]
pub struct Outbox {
    pending: BTreeMap<String, Delta>,
}

impl Outbox {
    /// Adds a delta. Returns true if it was merged into one already pending (a conflation).
    ///
    /// A delta that does not follow the pending one (a different epoch, or not consecutive) replaces it: the
    /// caller re-snapshots in that case, so this only guards against misuse.
    pub fn push(&mut self, delta: Delta) -> bool {
        match self.pending.get_mut(&delta.topic) {
            Some(p) if p.epoch == delta.epoch && p.seq == delta.prev => {
                merge::absorb(p, delta);
                true
            }
            _ => {
                self.pending.insert(delta.topic.clone(), delta);
                false
            }
        }
    }

    pub fn has(&self, topic: &str) -> bool {
        self.pending.contains_key(topic)
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    pub fn topics(&self) -> impl Iterator<Item = &String> {
        self.pending.keys()
    }

    /// Takes what is pending for `topic`.
    pub fn take(&mut self, topic: &str) -> Option<Delta> {
        self.pending.remove(topic)
    }

    /// A rough size of what is pending, for the queue-bytes metric (items × fields, 32 bytes each).
    pub fn approx_bytes(&self) -> usize {
        self.pending
            .values()
            .map(|d| {
                64 + d.del.len() * 32 + d.set.values().map(|f| 32 + f.len() * 32).sum::<usize>()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tickdesk_wire::Items;

    fn d(topic: &str, prev: u64, item: &str, v: f64) -> Delta {
        let mut set = Items::new();
        set.insert(
            item.into(),
            [("v".to_string(), json!(v))].into_iter().collect(),
        );
        Delta {
            topic: topic.into(),
            epoch: "e".into(),
            prev,
            seq: prev + 1,
            set,
            del: vec![],
        }
    }

    #[test]
    fn a_stalled_client_holds_one_entry_per_item_whatever_the_rate() {
        let mut o = Outbox::default();
        assert!(!o.push(d("c", 0, "10Y", 0.0)));
        let small = o.approx_bytes();
        for i in 1..50_000u64 {
            assert!(o.push(d("c", i, &format!("T{}", i % 11), i as f64)));
        }
        assert!(
            o.approx_bytes() < small * 16,
            "bounded by 12 items, not 50k updates"
        );
        let merged = o.take("c").unwrap();
        assert_eq!((merged.prev, merged.seq), (0, 50_000));
        assert_eq!(merged.set.len(), 12);
        assert_eq!(
            merged.set["T5"]["v"],
            json!(49_989.0),
            "latest value wins (49_989 is the last i with i % 11 == 5)"
        );
        assert!(o.is_empty());
    }

    #[test]
    fn topics_are_kept_apart_and_a_non_consecutive_delta_replaces() {
        let mut o = Outbox::default();
        o.push(d("a", 0, "x", 1.0));
        o.push(d("b", 7, "x", 2.0));
        assert!(o.has("a") && o.has("b"));
        assert!(!o.push(d("a", 5, "y", 3.0)));
        let a = o.take("a").unwrap();
        assert_eq!((a.prev, a.seq), (5, 6));
        assert_eq!(o.topics().collect::<Vec<_>>(), vec!["b"]);
    }
}
