//! Applying and conflating deltas: the pure core shared by the relay's store, its per-client conflation and
//! the client's replica.
//!
//! Order of application within one delta: `del` first, then `set`. That order is what lets two deltas merge
//! into one without loss: an item deleted and then re-created ends up in both lists, and applying the merged
//! delta deletes the old item and then writes the new one whole.

use crate::protocol::{Delta, Items};

/// Applies `delta` to `items` (del, then set; fields merge, latest wins).
pub fn apply(items: &mut Items, delta: &Delta) {
    for key in &delta.del {
        items.remove(key);
    }
    for (key, fields) in &delta.set {
        let row = items.entry(key.clone()).or_default();
        for (f, v) in fields {
            row.insert(f.clone(), v.clone());
        }
    }
}

/// Folds `later` into `earlier`, so that applying the result equals applying both in turn.
///
/// The caller guarantees they are consecutive (`later.prev == earlier.seq`, same topic and epoch); the result
/// spans `earlier.prev ..= later.seq`. Memory: the result never holds more than one entry per item, which is
/// what bounds a stalled client's cost by the size of the state it watches.
pub fn absorb(earlier: &mut Delta, later: Delta) {
    debug_assert_eq!(earlier.seq, later.prev, "absorb needs consecutive deltas");
    for key in later.del {
        earlier.set.remove(&key);
        if !earlier.del.contains(&key) {
            earlier.del.push(key);
        }
    }
    for (key, fields) in later.set {
        let row = earlier.set.entry(key).or_default();
        row.extend(fields);
    }
    earlier.seq = later.seq;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Fields;
    use serde_json::json;

    fn fields(pairs: &[(&str, f64)]) -> Fields {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect()
    }

    fn delta(prev: u64, set: &[(&str, &[(&str, f64)])], del: &[&str]) -> Delta {
        Delta {
            topic: "t".into(),
            epoch: "e".into(),
            prev,
            seq: prev + 1,
            set: set
                .iter()
                .map(|(k, f)| (k.to_string(), fields(f)))
                .collect(),
            del: del.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn apply_merges_fields_and_missing_means_unchanged() {
        let mut items = Items::new();
        apply(
            &mut items,
            &delta(0, &[("a", &[("x", 1.0), ("y", 2.0)])], &[]),
        );
        apply(&mut items, &delta(1, &[("a", &[("y", 3.0)])], &[]));
        assert_eq!(items["a"], fields(&[("x", 1.0), ("y", 3.0)]));
    }

    #[test]
    fn absorbed_delta_equals_applying_each_in_turn() {
        let steps = [
            delta(0, &[("a", &[("x", 1.0)]), ("b", &[("x", 5.0)])], &[]),
            delta(1, &[("a", &[("y", 2.0)])], &["b"]),
            delta(2, &[("b", &[("z", 9.0)])], &[]),
            delta(3, &[("a", &[("x", 7.0)])], &[]),
            delta(4, &[], &["a"]),
            delta(5, &[("c", &[("x", 1.0)])], &[]),
        ];
        let mut start = Items::new();
        start.insert("b".into(), fields(&[("old", 1.0)]));
        start.insert("a".into(), fields(&[("keep", 1.0)]));
        let mut one_by_one = start.clone();
        for d in &steps {
            apply(&mut one_by_one, d);
        }
        let mut merged = steps[0].clone();
        for d in &steps[1..] {
            absorb(&mut merged, d.clone());
        }
        assert_eq!((merged.prev, merged.seq), (0, 6));
        let mut at_once = start;
        apply(&mut at_once, &merged);
        assert_eq!(at_once, one_by_one);
        // Re-created "b" must not keep its pre-delete fields.
        assert_eq!(at_once["b"], fields(&[("z", 9.0)]));
    }

    #[test]
    fn absorbing_many_updates_to_one_item_keeps_one_entry() {
        let mut merged = delta(0, &[("a", &[("x", 0.0)])], &[]);
        for i in 1..10_000u64 {
            absorb(&mut merged, delta(i, &[("a", &[("x", i as f64)])], &[]));
        }
        assert_eq!(merged.set.len(), 1);
        assert_eq!(merged.set["a"]["x"], json!(9999.0));
    }
}
