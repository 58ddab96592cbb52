//! Per-client conflation: what a client has not been sent yet, per topic.
//!
//! Pure and synchronous. A client a little behind (the writer busy for a frame or two) keeps the store's shared
//! deltas as they are — reference-counted, already encoded — so catching up costs no copy and no JSON encode: the
//! frame is the shared encodings spliced together. Past [`SHARED_PER_TOPIC`] pending deltas in a topic, they are
//! merged by item and field into one delta, so whatever the upstream rate or however long a client stalls, an
//! [`Outbox`] holds at most that many shared deltas (which every other client shares too) or one merged delta per
//! topic: the memory a slow, paused or hidden client costs is bounded by the state it watches.

use std::collections::BTreeMap;
use std::sync::Arc;

use tickdesk_wire::{merge, Delta};

use crate::frame::Text;

/// Shared deltas a topic may pile up for one client before they are merged into one.
pub const SHARED_PER_TOPIC: usize = 8;

/// A delta as the store broadcasts it: the value, its JSON (encoded once for every client), and the `deltas` frame
/// that carries it alone.
#[derive(Debug)]
pub struct SharedDelta {
    pub delta: Delta,
    pub json: Text,
    pub frame: Text,
    /// When the change entered the store (for the delivery-latency histogram).
    pub at: std::time::Instant,
}

/// What one topic has pending for one client, in seq order.
#[derive(Debug)]
pub enum Pending {
    /// A few consecutive deltas, as the store shared them.
    Shared(Vec<Arc<SharedDelta>>),
    /// Many, merged into one (its own copy).
    Merged(Delta),
}

impl Pending {
    /// The (epoch, seq) the client stands at once this is applied.
    pub fn last_seq(&self) -> (&str, u64) {
        match self {
            Pending::Shared(v) => v
                .last()
                .map_or(("", 0), |d| (d.delta.epoch.as_str(), d.delta.seq)),
            Pending::Merged(d) => (d.epoch.as_str(), d.seq),
        }
    }

    /// The pending change as one delta (copies the shared ones).
    pub fn into_delta(self) -> Option<Delta> {
        match self {
            Pending::Merged(d) => Some(d),
            Pending::Shared(v) => {
                let mut it = v.into_iter();
                let mut out = it.next()?.delta.clone();
                for d in it {
                    merge::absorb(&mut out, d.delta.clone());
                }
                Some(out)
            }
        }
    }
}

/// Pending changes of one client, per topic.
#[derive(Debug, Default)]
pub struct Outbox {
    pending: BTreeMap<String, Pending>,
}

impl Outbox {
    /// Adds a delta. Returns true if it was merged into a pending one (a conflation).
    ///
    /// A delta that does not follow what is pending (a different epoch, or not consecutive) replaces it: the
    /// caller re-snapshots in that case, so this only guards against misuse.
    pub fn push(&mut self, d: &Arc<SharedDelta>) -> bool {
        let topic = &d.delta.topic;
        let follows = self.pending.get(topic).is_some_and(|p| {
            let (epoch, seq) = p.last_seq();
            epoch == d.delta.epoch && seq == d.delta.prev
        });
        if !follows {
            self.pending
                .insert(topic.clone(), Pending::Shared(vec![d.clone()]));
            return false;
        }
        let Some(p) = self.pending.get_mut(topic) else {
            return false;
        };
        match p {
            Pending::Shared(v) if v.len() < SHARED_PER_TOPIC => {
                v.push(d.clone());
                false
            }
            Pending::Shared(v) => {
                // `follows` above: the pending deltas are consecutive and `d` comes right after them.
                let mut merged = Pending::Shared(std::mem::take(v))
                    .into_delta()
                    .unwrap_or_else(|| d.delta.clone());
                if merged.seq == d.delta.prev {
                    merge::absorb(&mut merged, d.delta.clone());
                }
                *p = Pending::Merged(merged);
                true
            }
            Pending::Merged(m) => {
                merge::absorb(m, d.delta.clone());
                true
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
    pub fn take(&mut self, topic: &str) -> Option<Pending> {
        self.pending.remove(topic)
    }

    /// A rough size of what this client alone holds, for the queue-bytes metric: merged deltas at items × fields,
    /// 32 bytes each; shared deltas at a pointer each (their bytes are the store's, shared by every client).
    pub fn approx_bytes(&self) -> usize {
        self.pending
            .values()
            .map(|p| match p {
                Pending::Shared(v) => 64 + v.len() * 8,
                Pending::Merged(d) => {
                    64 + d.del.len() * 32 + d.set.values().map(|f| 32 + f.len() * 32).sum::<usize>()
                }
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tickdesk_wire::Items;

    fn d(topic: &str, prev: u64, item: &str, v: f64) -> Arc<SharedDelta> {
        let mut set = Items::new();
        set.insert(
            item.into(),
            [("v".to_string(), json!(v))].into_iter().collect(),
        );
        let delta = Delta {
            topic: topic.into(),
            epoch: "e".into(),
            prev,
            seq: prev + 1,
            set,
            del: vec![],
        };
        let json = Text::from(serde_json::to_string(&delta).unwrap());
        Arc::new(SharedDelta {
            delta,
            frame: json.clone(),
            json,
            at: std::time::Instant::now(),
        })
    }

    #[test]
    fn a_client_a_little_behind_keeps_the_shared_deltas_without_copying() {
        let mut o = Outbox::default();
        let sent: Vec<_> = (0..SHARED_PER_TOPIC as u64)
            .map(|i| d("c", i, "10Y", i as f64))
            .collect();
        for s in &sent {
            assert!(!o.push(s), "kept as shared, not merged");
        }
        let Some(Pending::Shared(v)) = o.take("c") else {
            panic!("expected shared deltas")
        };
        assert_eq!(v.len(), SHARED_PER_TOPIC);
        assert!(
            v.iter().zip(&sent).all(|(a, b)| Arc::ptr_eq(a, b)),
            "the very same deltas, in order"
        );
    }

    #[test]
    fn a_stalled_client_holds_one_entry_per_item_whatever_the_rate() {
        let mut o = Outbox::default();
        assert!(!o.push(&d("c", 0, "10Y", 0.0)));
        for i in 1..50_000u64 {
            let merged = o.push(&d("c", i, &format!("T{}", i % 11), i as f64));
            assert_eq!(merged, i >= SHARED_PER_TOPIC as u64);
        }
        assert!(
            o.approx_bytes() <= 64 + 12 * 64,
            "bounded by 12 items, not 50k updates"
        );
        let merged = o.take("c").unwrap().into_delta().unwrap();
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
        o.push(&d("a", 0, "x", 1.0));
        o.push(&d("b", 7, "x", 2.0));
        assert!(o.has("a") && o.has("b"));
        assert!(!o.push(&d("a", 5, "y", 3.0)));
        let a = o.take("a").unwrap().into_delta().unwrap();
        assert_eq!((a.prev, a.seq), (5, 6));
        assert_eq!(o.topics().collect::<Vec<_>>(), vec!["b"]);
    }
}
