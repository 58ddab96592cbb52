//! Raw topics: a view that reads a topic as a whole (the chart's bars) gets, once per animation frame, the replica's
//! items and the keys that changed, instead of one signal per cell.
//!
//! Why: a `bars:` topic holds ~2,000 items of six fields; as cells that would be 12,000 signals per symbol, all
//! created at the first snapshot, while the chart only ever needs "the last bar moved" or "a bar was added". The
//! frame batching is the same as for cell views ([`super::sink::Batch`]), so a raw sink also runs at most once per
//! frame however fast the relay sends.

use std::rc::Rc;

use tickdesk_wire::Items;

use super::sink::Batch;

/// What a raw topic's sink gets once per frame.
#[derive(Debug, Clone, Copy)]
pub struct RawFrame<'a> {
    /// The topic's items now (the replica's own map: sorted by key).
    pub items: &'a Items,
    /// A snapshot replaced the topic: everything the sink derived from it is void.
    pub reset: bool,
    /// The keys set or removed since the last frame, sorted (a key absent from `items` was removed).
    pub changed: &'a [String],
}

/// Receives a raw topic's frames. It runs inside the feed's frame callback, so it must not call back into the
/// [`super::Feed`] (it may write signals: their effects run later).
pub type RawSink = Rc<dyn Fn(RawFrame<'_>)>;

/// Moves the raw topics' changes out of `batch` (so no cell view is written for them): per topic with anything
/// changed, whether it was reset and its changed keys in order. Plain loops and [`Batch::forget`]: every new
/// collection method instantiated costs the bundle its code.
pub(crate) fn take<S>(batch: &mut Batch, raw: &[(String, S)]) -> Vec<(String, bool, Vec<String>)> {
    let mut out = Vec::new();
    for (topic, _) in raw {
        let reset = batch.reset.contains(topic);
        let mut keys = Vec::new();
        for (t, item) in &batch.dirty {
            if t == topic {
                keys.push(item.clone());
            }
        }
        if reset || !keys.is_empty() {
            batch.forget(topic);
            out.push((topic.clone(), reset, keys));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_topics_leave_the_batch_with_their_keys_in_order_and_the_rest_stays() {
        let mut batch = Batch::default();
        for (t, i) in [
            ("bars:AAPL", "1765307160000"),
            ("curve", "2Y"),
            ("bars:AAPL", "1765307100000"),
            ("bars:SPY", "1765307100000"),
        ] {
            batch.dirty.insert((t.into(), i.into()));
        }
        batch.reset.insert("bars:SPY".into());
        batch.reset.insert("curve".into());
        let raw = [("bars:AAPL".to_string(), ()), ("bars:SPY".into(), ())];
        let got = take(&mut batch, &raw);
        assert_eq!(
            got,
            vec![
                (
                    "bars:AAPL".to_string(),
                    false,
                    vec!["1765307100000".to_string(), "1765307160000".into()]
                ),
                ("bars:SPY".to_string(), true, vec!["1765307100000".into()]),
            ]
        );
        assert_eq!(
            batch.dirty.into_iter().collect::<Vec<_>>(),
            vec![("curve".to_string(), "2Y".to_string())]
        );
        assert_eq!(batch.reset.into_iter().collect::<Vec<_>>(), vec!["curve"]);
    }
}
