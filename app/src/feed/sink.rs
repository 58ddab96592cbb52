//! The frame sink: changes from the replica reach the view model once per animation frame.
//!
//! Why: the relay may deliver several frames between two paints, and a delta may touch the same cell many times.
//! Writing each into the per-cell signals at once would re-render for nothing; instead the feed records *which*
//! items changed (a set, so it coalesces: bounded by the items watched, never by the upstream rate) and, on the next
//! animation frame, writes each changed item's current value from the replica into its view. A hidden tab gets no
//! animation frames; the batch then just stays coalesced until it is visible again.
//!
//! [`Batch`] is the pure bookkeeping (unit-tested natively); [`write`] applies one batch to the views, and
//! [`next_frame`] asks the browser for the frame.

use std::collections::{BTreeMap, BTreeSet};

use leptos::prelude::WithUntracked;
use tickdesk_wire::replica::{Changes, Replica};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;

use crate::model::TopicView;

/// What changed since the last frame.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Batch {
    /// (topic, item) whose value changed or that went.
    pub(crate) dirty: BTreeSet<(String, String)>,
    /// Topics replaced by a snapshot: their rows are rebuilt and their cells do not flash.
    pub(crate) reset: BTreeSet<String>,
    /// Whether a frame is already requested for this batch.
    pub(crate) scheduled: bool,
}

impl Batch {
    /// Adds the replica's changes of one frame from the relay.
    pub(crate) fn record(&mut self, changes: Changes) {
        self.dirty
            .extend(changes.set.into_iter().chain(changes.del));
        self.reset.extend(changes.reset);
    }

    /// A topic no longer watched: nothing of it is written.
    pub(crate) fn forget(&mut self, topic: &str) {
        self.dirty.retain(|(t, _)| t != topic);
        self.reset.remove(topic);
    }

    /// A polled snapshot replaced `topic`, but its values moved since the last poll: let them flash like deltas.
    pub(crate) fn flash_anyway(&mut self, topic: &str) {
        self.reset.remove(topic);
    }

    /// `true` if the caller must request a frame (none is pending).
    pub(crate) fn needs_frame(&mut self) -> bool {
        !std::mem::replace(&mut self.scheduled, true)
    }

    /// The batch to write now; the next one starts empty.
    pub(crate) fn take(&mut self) -> Batch {
        std::mem::take(self)
    }
}

/// Writes `batch` from `replica` into `views`; returns the upstream timestamps (`ts`) of the chain items written, for
/// the `?perf` latency figures when `collect_ts`.
pub(crate) fn write(
    batch: Batch,
    replica: &Replica,
    views: &BTreeMap<String, TopicView>,
    now_ms: f64,
    collect_ts: bool,
) -> Vec<f64> {
    let Batch { dirty, reset, .. } = batch;
    for topic in &reset {
        if let (Some(view), Some(t)) = (views.get(topic), replica.topic(topic)) {
            view.set_keys(t.items.keys().cloned().collect());
        }
    }
    let mut shown_ts = Vec::new();
    for (topic, item) in dirty {
        let (Some(view), Some(t)) = (views.get(&topic), replica.topic(&topic)) else {
            continue;
        };
        match t.items.get(&item) {
            Some(fields) => {
                view.write_item(&item, fields, !reset.contains(&topic), now_ms);
                if collect_ts && topic.starts_with("chain:") {
                    shown_ts.extend(fields.get("ts").and_then(serde_json::Value::as_f64));
                }
            }
            None => {
                view.set_keys(t.items.keys().cloned().collect());
                view.remove_item(&item);
            }
        }
        // Keys are the replica's map order (sorted), so a binary search finds a new row in O(log n).
        if !view.keys.with_untracked(|k| k.binary_search(&item).is_ok())
            && t.items.contains_key(&item)
        {
            view.set_keys(t.items.keys().cloned().collect());
        }
    }
    shown_ts
}

/// Runs `f` at the browser's next animation frame.
pub(crate) fn next_frame(f: impl FnOnce() + 'static) {
    let cb = Closure::once_into_js(f);
    if let Some(w) = web_sys::window() {
        let _ = w.request_animation_frame(cb.unchecked_ref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use leptos::prelude::*;
    use serde_json::json;
    use tickdesk_wire::{Delta, ServerMsg};

    fn items(v: serde_json::Value) -> tickdesk_wire::Items {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_batch_coalesces_repeated_changes_and_asks_for_one_frame() {
        let mut replica = Replica::new();
        let mut batch = Batch::default();
        let snap = ServerMsg::Snapshot {
            topic: "curve".into(),
            epoch: "e".into(),
            seq: 1,
            recovered: false,
            items: items(json!({"2Y": {"yield": 4.0}, "10Y": {"yield": 4.5}})),
            deltas: vec![],
        };
        batch.record(replica.apply(&snap).unwrap());
        assert!(batch.needs_frame());
        for seq in 2..50u64 {
            let d: Delta = serde_json::from_value(json!({
                "topic": "curve", "epoch": "e", "prev": seq - 1, "seq": seq, "set": {"2Y": {"yield": 4.0 + seq as f64 / 100.0}}
            }))
            .unwrap();
            batch.record(
                replica
                    .apply(&ServerMsg::Deltas { updates: vec![d] })
                    .unwrap(),
            );
            assert!(!batch.needs_frame(), "one frame per batch");
        }
        let b = batch.take();
        assert_eq!(b.dirty.len(), 2, "{:?}", b.dirty);
        assert!(b.reset.contains("curve"));
        assert_eq!(batch, Batch::default(), "the next batch starts empty");
        assert!(batch.needs_frame());
    }

    #[test]
    fn a_written_batch_shows_the_replicas_latest_values_and_flashes_only_deltas() {
        let mut replica = Replica::new();
        let views: BTreeMap<String, TopicView> =
            [("curve".to_string(), TopicView::default())].into();
        let mut batch = Batch::default();
        let snap = ServerMsg::Snapshot {
            topic: "curve".into(),
            epoch: "e".into(),
            seq: 1,
            recovered: false,
            items: items(json!({"2Y": {"yield": 4.0}, "10Y": {"yield": 4.5}})),
            deltas: vec![],
        };
        batch.record(replica.apply(&snap).unwrap());
        write(batch.take(), &replica, &views, 1_000.0, false);
        let view = &views["curve"];
        assert_eq!(view.keys.get_untracked(), vec!["10Y", "2Y"]);
        let y2 = view.cell("2Y", "yield");
        assert_eq!(y2.value.get_untracked(), Some(json!(4.0)));
        assert_eq!(y2.flash.get_untracked().dir, 0, "a snapshot does not flash");

        let d: Delta = serde_json::from_value(json!({
            "topic": "curve", "epoch": "e", "prev": 1, "seq": 2, "set": {"2Y": {"yield": 3.9}, "5Y": {"yield": 4.2}}
        }))
        .unwrap();
        batch.record(
            replica
                .apply(&ServerMsg::Deltas { updates: vec![d] })
                .unwrap(),
        );
        batch.forget("other");
        write(batch.take(), &replica, &views, 2_000.0, false);
        assert_eq!(y2.value.get_untracked(), Some(json!(3.9)));
        assert_eq!(y2.flash.get_untracked().dir, -1, "down");
        assert_eq!(
            view.keys.get_untracked(),
            vec!["10Y", "2Y", "5Y"],
            "a new row"
        );
    }
}
