//! What a load client reads from a frame, parsed lightly (borrowed keys, every other field skipped) so the load
//! tool spends as little of the shared CPU as it can, in both modes alike:
//! - `tickdesk`: the relay's frames (`PROTOCOL.md`): per topic the epoch, seq and item count, each delta's items
//!   with their `ts`, and the protocol's gap rule (`prev` must be the seq held, in the same epoch);
//! - `plain`: the peers' frames, `{"type":"ticks","ts":…,"contracts":{"<symbol>":{…,"ts":…}}}`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// A JSON object's entries in order, borrowed where possible: what a frame's `set`/`contracts`/`items` hold. A plain
/// vector, not a hash map: the load tool only walks them, and hashing every key of every frame was a measurable
/// share of its CPU at 1,000 clients.
#[derive(Debug)]
struct Pairs<'a, V>(Vec<(Cow<'a, str>, V)>);

impl<V> Default for Pairs<'_, V> {
    fn default() -> Self {
        Pairs(Vec::new())
    }
}

impl<'a, V> Pairs<'a, V> {
    fn keys(&self) -> impl Iterator<Item = &Cow<'a, str>> {
        self.0.iter().map(|(k, _)| k)
    }
    fn values(&self) -> impl Iterator<Item = &V> {
        self.0.iter().map(|(_, v)| v)
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A key borrowed from the frame when it has no escapes (serde's own `Cow<str>` always copies).
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KV<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for KV<'a> {
            type Value = Key<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KV(PhantomData))
    }
}

impl<'de: 'a, 'a, V: Deserialize<'de>> Deserialize<'de> for Pairs<'a, V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V2<'a, V>(PhantomData<(&'a (), V)>);
        impl<'de: 'a, 'a, V: Deserialize<'de>> Visitor<'de> for V2<'a, V> {
            type Value = Pairs<'a, V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut v = Vec::with_capacity(m.size_hint().unwrap_or(0));
                while let Some(Key(k)) = m.next_key::<Key<'a>>()? {
                    v.push((k, m.next_value::<V>()?));
                }
                Ok(Pairs(v))
            }
        }
        d.deserialize_map(V2(PhantomData))
    }
}

#[derive(Debug, Deserialize)]
struct Row {
    #[serde(default)]
    ts: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct LightDelta<'a> {
    #[serde(borrow)]
    topic: Cow<'a, str>,
    #[serde(borrow)]
    epoch: Cow<'a, str>,
    prev: u64,
    seq: u64,
    #[serde(default, borrow)]
    set: Pairs<'a, Row>,
    #[serde(default, borrow)]
    del: Vec<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
struct LightMsg<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    updates: Vec<LightDelta<'a>>,
    #[serde(default, borrow)]
    topic: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    epoch: Option<Cow<'a, str>>,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(default)]
    recovered: bool,
    #[serde(default, borrow)]
    items: Pairs<'a, IgnoredAny>,
    #[serde(default, borrow)]
    deltas: Vec<LightDelta<'a>>,
    #[serde(default)]
    ts: Option<f64>,
    #[serde(default, borrow)]
    contracts: Pairs<'a, Row>,
}

/// Where this client stands on one topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicState {
    pub epoch: String,
    pub seq: u64,
    /// Items held (a snapshot's count, plus items first seen in deltas, minus deletions).
    pub items: usize,
    /// Item keys seen, to count new items in deltas.
    keys: std::collections::HashSet<String>,
}

/// What one frame carried, for the statistics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Seen {
    /// `(upstream timestamp ms, number of updates)` groups: one per delta / ticks frame.
    pub updates: Vec<(Option<f64>, u64)>,
    /// Protocol gaps found in this frame.
    pub gaps: u64,
    /// A snapshot arrived (topic name).
    pub snapshot: Option<String>,
    /// The frame was a `welcome`.
    pub welcome: bool,
}

impl Seen {
    pub fn update_count(&self) -> u64 {
        self.updates.iter().map(|(_, n)| n).sum()
    }
}

/// A tickdesk client's view of its topics.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    pub topics: HashMap<String, TopicState>,
}

impl Tracker {
    /// Reads one relay frame. Errors only on frames that are not JSON objects with a `type`.
    pub fn on_frame(&mut self, text: &str) -> serde_json::Result<Seen> {
        let m: LightMsg<'_> = serde_json::from_str(text)?;
        let mut seen = Seen::default();
        match m.kind.as_ref() {
            "welcome" => seen.welcome = true,
            "snapshot" => {
                let topic = m.topic.unwrap_or_default().into_owned();
                let epoch = m.epoch.unwrap_or_default().into_owned();
                let seq = m.seq.unwrap_or(0);
                if m.recovered {
                    // The missed deltas, in order, onto what is held.
                    for d in &m.deltas {
                        self.apply_delta(d, &mut seen, false);
                    }
                    let st = self.topics.entry(topic.clone()).or_default();
                    st.epoch = epoch;
                    st.seq = seq;
                } else {
                    let keys: std::collections::HashSet<String> =
                        m.items.keys().map(|k| k.to_string()).collect();
                    self.topics.insert(
                        topic.clone(),
                        TopicState {
                            epoch,
                            seq,
                            items: keys.len(),
                            keys,
                        },
                    );
                }
                seen.snapshot = Some(topic);
            }
            "deltas" => {
                for d in &m.updates {
                    self.apply_delta(d, &mut seen, true);
                }
            }
            _ => {}
        }
        Ok(seen)
    }

    fn apply_delta(&mut self, d: &LightDelta<'_>, seen: &mut Seen, count: bool) {
        let st = self.topics.entry(d.topic.to_string()).or_default();
        if st.epoch != d.epoch || st.seq != d.prev {
            seen.gaps += 1;
            st.epoch = d.epoch.to_string();
        }
        st.seq = d.seq;
        for k in &d.del {
            st.keys.remove(k.as_ref());
        }
        for k in d.set.keys() {
            if !st.keys.contains(k.as_ref()) {
                st.keys.insert(k.to_string());
            }
        }
        st.items = st.keys.len();
        if count && !d.set.is_empty() {
            // Rows of one delta carry the same upstream timestamp in practice; group by value anyway.
            let mut groups: Vec<(Option<f64>, u64)> = Vec::new();
            for row in d.set.values() {
                match groups.iter_mut().find(|(t, _)| *t == row.ts) {
                    Some(g) => g.1 += 1,
                    None => groups.push((row.ts, 1)),
                }
            }
            seen.updates.extend(groups);
        }
    }

    /// The resume points to send in `hello` after a reconnect.
    pub fn resume_points(&self) -> std::collections::BTreeMap<String, tickdesk_wire::ResumePoint> {
        self.topics
            .iter()
            .filter(|(_, s)| !s.epoch.is_empty())
            .map(|(t, s)| {
                (
                    t.clone(),
                    tickdesk_wire::ResumePoint {
                        epoch: s.epoch.clone(),
                        seq: s.seq,
                    },
                )
            })
            .collect()
    }
}

/// Reads one peer frame (`ticks`): its updates grouped by timestamp.
pub fn plain_frame(text: &str) -> serde_json::Result<Seen> {
    let m: LightMsg<'_> = serde_json::from_str(text)?;
    let mut seen = Seen::default();
    if m.kind == "ticks" && !m.contracts.is_empty() {
        let mut groups: Vec<(Option<f64>, u64)> = Vec::new();
        for row in m.contracts.values() {
            let ts = row.ts.or(m.ts);
            match groups.iter_mut().find(|(t, _)| *t == ts) {
                Some(g) => g.1 += 1,
                None => groups.push((ts, 1)),
            }
        }
        seen.updates = groups;
    }
    Ok(seen)
}

/// Dates of an `expirations:` snapshot or delta (their item keys), for finding the nearest expiry.
pub fn expiration_dates(text: &str, topic: &str) -> Vec<String> {
    let Ok(m) = serde_json::from_str::<LightMsg<'_>>(text) else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    if m.kind == "snapshot" && m.topic.as_deref() == Some(topic) {
        out.extend(m.items.keys().map(|k| k.to_string()));
    }
    for d in m.updates.iter().filter(|d| d.topic == topic) {
        out.extend(d.set.keys().map(|k| k.to_string()));
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn snapshot(topic: &str, epoch: &str, seq: u64, keys: &[&str]) -> String {
        let items: serde_json::Map<String, serde_json::Value> = keys
            .iter()
            .map(|k| (k.to_string(), json!({"bid": 1.0, "ts": 5})))
            .collect();
        json!({"type":"snapshot","topic":topic,"epoch":epoch,"seq":seq,"recovered":false,"items":items})
            .to_string()
    }

    #[test]
    fn snapshot_then_deltas_count_updates_and_find_gaps() {
        let mut t = Tracker::default();
        let s = t
            .on_frame(&snapshot("chain:X:2030-01-04", "e1", 10, &["A", "B"]))
            .unwrap();
        assert_eq!(s.snapshot.as_deref(), Some("chain:X:2030-01-04"));
        assert_eq!(s.update_count(), 0, "a snapshot is state, not updates");
        assert_eq!(t.topics["chain:X:2030-01-04"].items, 2);
        let d = json!({"type":"deltas","updates":[
            {"topic":"chain:X:2030-01-04","epoch":"e1","prev":10,"seq":11,"set":{"A":{"bid":1.1,"ts":1000},"B":{"ask":2,"ts":1000}}},
            {"topic":"chain:X:2030-01-04","epoch":"e1","prev":11,"seq":13,"set":{"C":{"bid":3,"ts":1100}}}
        ]}).to_string();
        let s = t.on_frame(&d).unwrap();
        assert_eq!(s.gaps, 0, "a conflated delta (seq - prev > 1) is not a gap");
        assert_eq!(s.update_count(), 3);
        assert_eq!(s.updates, vec![(Some(1000.0), 2), (Some(1100.0), 1)]);
        assert_eq!(t.topics["chain:X:2030-01-04"].items, 3, "C is new");
        let gap = json!({"type":"deltas","updates":[
            {"topic":"chain:X:2030-01-04","epoch":"e1","prev":20,"seq":21,"set":{"A":{"bid":1,"ts":1}}}
        ]}).to_string();
        assert_eq!(t.on_frame(&gap).unwrap().gaps, 1);
        let rp = t.resume_points();
        assert_eq!(rp["chain:X:2030-01-04"].seq, 21);
        assert_eq!(rp["chain:X:2030-01-04"].epoch, "e1");
    }

    #[test]
    fn a_new_epoch_snapshot_replaces_the_topic() {
        let mut t = Tracker::default();
        t.on_frame(&snapshot("c", "e1", 3, &["A", "B", "C"]))
            .unwrap();
        t.on_frame(&snapshot("c", "e2", 0, &[])).unwrap();
        assert_eq!(t.topics["c"].items, 0);
        assert_eq!(t.topics["c"].epoch, "e2");
        assert!(
            t.on_frame(r#"{"type":"welcome","v":1,"client_id":"x","heartbeat_ms":1,"topics":[]}"#)
                .unwrap()
                .welcome
        );
        assert!(t.on_frame("not json").is_err());
    }

    #[test]
    fn plain_ticks_frames() {
        let f = json!({"type":"ticks","ts":1000,"underlying":"SIMX","contracts":{
            "A":{"bid":1,"ts":1000},"B":{"bid":2,"ts":1000},"C":{"bid":3}}})
        .to_string();
        let s = plain_frame(&f).unwrap();
        assert_eq!(s.update_count(), 3);
        assert_eq!(
            s.updates,
            vec![(Some(1000.0), 3)],
            "a row without ts takes the frame's"
        );
        assert_eq!(
            plain_frame(r#"{"type":"hello"}"#).unwrap().update_count(),
            0
        );
    }

    #[test]
    fn expiration_dates_from_snapshot_or_delta() {
        let s = snapshot("expirations:SIMX", "e", 1, &["2030-01-11", "2030-01-04"]);
        assert_eq!(
            expiration_dates(&s, "expirations:SIMX"),
            vec!["2030-01-04", "2030-01-11"]
        );
        assert!(expiration_dates(&s, "expirations:OTHER").is_empty());
        let d = json!({"type":"deltas","updates":[{"topic":"expirations:SIMX","epoch":"e","prev":1,"seq":2,"set":{"2030-02-01":{"dte":3}}}]}).to_string();
        assert_eq!(expiration_dates(&d, "expirations:SIMX"), vec!["2030-02-01"]);
    }
}
