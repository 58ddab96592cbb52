//! A client's replica of the topics it watches.
//!
//! It checks every frame against the (epoch, seq) it holds, so a missed or duplicated delta can never corrupt the
//! picture silently: a delta that does not start where the replica stands is a [`Gap`], and the caller asks for
//! a fresh snapshot. After a reconnect, [`Replica::resume_points`] is what the client sends in `hello`.

use std::collections::BTreeMap;

use crate::merge;
use crate::protocol::{Delta, Items, ResumePoint, ServerMsg};

/// One topic as the client holds it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TopicReplica {
    pub epoch: String,
    pub seq: u64,
    pub items: Items,
}

/// The replica found a frame that does not follow from its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    pub topic: String,
    /// What the replica held, if anything.
    pub have: Option<ResumePoint>,
    /// Where the offending delta starts.
    pub got_epoch: String,
    pub got_prev: u64,
}

impl std::fmt::Display for Gap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.have {
            Some(h) => write!(
                f,
                "gap on {}: held {}@{}, got a delta from {}@{}",
                self.topic, h.seq, h.epoch, self.got_prev, self.got_epoch
            ),
            None => write!(
                f,
                "gap on {}: a delta arrived before any snapshot",
                self.topic
            ),
        }
    }
}

impl std::error::Error for Gap {}

/// What a frame changed, so a view can touch only those rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// (topic, item) pairs whose fields changed or that appeared.
    pub set: Vec<(String, String)>,
    /// (topic, item) pairs that were removed.
    pub del: Vec<(String, String)>,
    /// Topics whose state was replaced whole by a snapshot.
    pub reset: Vec<String>,
    /// Deltas skipped because the replica already had them (at or before its seq).
    pub duplicates: usize,
}

/// The topics a client holds.
#[derive(Debug, Clone, Default)]
pub struct Replica {
    topics: BTreeMap<String, TopicReplica>,
}

impl Replica {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn topic(&self, name: &str) -> Option<&TopicReplica> {
        self.topics.get(name)
    }

    pub fn topics(&self) -> impl Iterator<Item = (&String, &TopicReplica)> {
        self.topics.iter()
    }

    /// Drops a topic (after unsubscribing, or after a gap before asking for a fresh snapshot).
    pub fn forget(&mut self, topic: &str) {
        self.topics.remove(topic);
    }

    /// What to send in `hello` after a reconnect.
    pub fn resume_points(&self) -> BTreeMap<String, ResumePoint> {
        // Inserted one by one rather than collected: collecting sorts, and that sort costs the app's WebAssembly a
        // few KB for this one element type.
        let mut out = BTreeMap::new();
        for (k, t) in &self.topics {
            let point = ResumePoint {
                epoch: t.epoch.clone(),
                seq: t.seq,
            };
            out.insert(k.clone(), point);
        }
        out
    }

    /// Applies a frame. Frames that carry no topic data change nothing.
    ///
    /// # Errors
    /// [`Gap`] when a delta does not start at the replica's seq; the topic's state is left as it was (the deltas
    /// of the same frame for other topics are still applied).
    pub fn apply(&mut self, msg: &ServerMsg) -> Result<Changes, Gap> {
        let mut changes = Changes::default();
        match msg {
            ServerMsg::Snapshot {
                topic,
                epoch,
                seq,
                recovered: false,
                items,
                ..
            } => {
                let mut t = TopicReplica {
                    epoch: epoch.clone(),
                    seq: *seq,
                    items: items.clone(),
                };
                if let Some(old) = self.topics.get(topic) {
                    for key in old.items.keys().filter(|k| !t.items.contains_key(*k)) {
                        changes.del.push((topic.clone(), key.clone()));
                    }
                }
                changes
                    .set
                    .extend(t.items.keys().map(|k| (topic.clone(), k.clone())));
                changes.reset.push(topic.clone());
                std::mem::swap(self.topics.entry(topic.clone()).or_default(), &mut t);
            }
            ServerMsg::Snapshot { deltas, .. } => {
                for d in deltas {
                    self.apply_delta(d, &mut changes)?;
                }
            }
            ServerMsg::Deltas { updates } => {
                let mut first_gap = None;
                for d in updates {
                    if let Err(g) = self.apply_delta(d, &mut changes) {
                        first_gap.get_or_insert(g);
                    }
                }
                if let Some(g) = first_gap {
                    return Err(g);
                }
            }
            _ => {}
        }
        Ok(changes)
    }

    fn apply_delta(&mut self, d: &Delta, changes: &mut Changes) -> Result<(), Gap> {
        let gap = |have: Option<&TopicReplica>| Gap {
            topic: d.topic.clone(),
            have: have.map(|t| ResumePoint {
                epoch: t.epoch.clone(),
                seq: t.seq,
            }),
            got_epoch: d.epoch.clone(),
            got_prev: d.prev,
        };
        let Some(t) = self.topics.get_mut(&d.topic) else {
            return Err(gap(None));
        };
        if t.epoch != d.epoch {
            return Err(gap(Some(t)));
        }
        if d.seq <= t.seq {
            changes.duplicates += 1;
            return Ok(());
        }
        if d.prev != t.seq {
            return Err(gap(Some(t)));
        }
        merge::apply(&mut t.items, d);
        t.seq = d.seq;
        changes
            .del
            .extend(d.del.iter().map(|k| (d.topic.clone(), k.clone())));
        changes
            .set
            .extend(d.set.keys().map(|k| (d.topic.clone(), k.clone())));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn snap(seq: u64, items: Items) -> ServerMsg {
        ServerMsg::Snapshot {
            topic: "c".into(),
            epoch: "e1".into(),
            seq,
            recovered: false,
            items,
            deltas: vec![],
        }
    }

    fn d(prev: u64, seq: u64, key: &str, v: f64) -> Delta {
        let mut set = Items::new();
        set.insert(
            key.into(),
            [("y".to_string(), json!(v))].into_iter().collect(),
        );
        Delta {
            topic: "c".into(),
            epoch: "e1".into(),
            prev,
            seq,
            set,
            del: vec![],
        }
    }

    #[test]
    fn snapshot_then_consecutive_and_conflated_deltas_apply() {
        let mut r = Replica::new();
        r.apply(&snap(5, Items::new())).unwrap();
        let ch = r
            .apply(&ServerMsg::Deltas {
                updates: vec![d(5, 6, "10Y", 4.0), d(6, 9, "2Y", 3.0)],
            })
            .unwrap();
        assert_eq!(ch.set.len(), 2);
        let t = r.topic("c").unwrap();
        assert_eq!(t.seq, 9);
        assert_eq!(t.items["10Y"]["y"], json!(4.0));
        assert_eq!(
            r.resume_points()["c"],
            ResumePoint {
                epoch: "e1".into(),
                seq: 9
            }
        );
    }

    #[test]
    fn a_gap_is_reported_and_leaves_state_untouched() {
        let mut r = Replica::new();
        r.apply(&snap(5, Items::new())).unwrap();
        let err = r
            .apply(&ServerMsg::Deltas {
                updates: vec![d(6, 7, "10Y", 4.0)],
            })
            .unwrap_err();
        assert_eq!(err.got_prev, 6);
        assert_eq!(r.topic("c").unwrap().seq, 5);
        assert!(r.topic("c").unwrap().items.is_empty());
    }

    #[test]
    fn duplicates_are_skipped_and_other_epochs_are_gaps() {
        let mut r = Replica::new();
        r.apply(&snap(5, Items::new())).unwrap();
        r.apply(&ServerMsg::Deltas {
            updates: vec![d(5, 6, "a", 1.0)],
        })
        .unwrap();
        let ch = r
            .apply(&ServerMsg::Deltas {
                updates: vec![d(5, 6, "a", 2.0)],
            })
            .unwrap();
        assert_eq!(ch.duplicates, 1);
        assert_eq!(r.topic("c").unwrap().items["a"]["y"], json!(1.0));
        let mut other = d(6, 7, "a", 3.0);
        other.epoch = "e2".into();
        assert!(r
            .apply(&ServerMsg::Deltas {
                updates: vec![other]
            })
            .is_err());
        assert!(Replica::new()
            .apply(&ServerMsg::Deltas {
                updates: vec![d(0, 1, "a", 1.0)]
            })
            .is_err());
    }

    #[test]
    fn recovered_snapshot_applies_missed_deltas_and_fresh_one_replaces() {
        let mut r = Replica::new();
        let mut items = Items::new();
        items.insert("old".into(), Default::default());
        r.apply(&snap(1, items)).unwrap();
        let rec = ServerMsg::Snapshot {
            topic: "c".into(),
            epoch: "e1".into(),
            seq: 3,
            recovered: true,
            items: Items::new(),
            deltas: vec![d(1, 2, "a", 1.0), d(2, 3, "a", 2.0)],
        };
        r.apply(&rec).unwrap();
        assert_eq!(r.topic("c").unwrap().seq, 3);
        assert_eq!(r.topic("c").unwrap().items.len(), 2);
        let ch = r.apply(&snap(10, Items::new())).unwrap();
        let gone: Vec<&str> = ch.del.iter().map(|(_, k)| k.as_str()).collect();
        assert_eq!(gone, vec!["a", "old"]);
        assert_eq!(ch.reset, vec!["c".to_string()]);
        assert!(r.topic("c").unwrap().items.is_empty());
    }
}
