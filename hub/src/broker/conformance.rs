//! The contract every [`Broker`] keeps, as tests written against the traits alone. An engine runs them all with
//! [`run_all`] and a factory of fresh brokers; each check panics with what broke.
//!
//! `make(n)` must return an empty broker that keeps at least `n` deltas of each topic for resume and at most `n`
//! (so the suite can push a resume point out of the history). Each check uses topics of its own.

use std::sync::Arc;

use serde_json::{json, Value};
use tickdesk_wire::{Delta, ErrorCode, Fields, Items, ServerMsg};
use tokio::sync::broadcast::error::TryRecvError;

use super::{Broker, Changes, Event, ResumeMiss};

/// A factory of fresh brokers keeping exactly `n` deltas per topic for resume.
pub type Factory<'a> = &'a dyn Fn(usize) -> Arc<dyn Broker>;

/// One `#[test]` per check of the suite, for an engine's test module: `broker_conformance!(|n| Arc::new(…))`.
#[macro_export]
macro_rules! broker_conformance {
    ($make:expr) => {
        $crate::broker_conformance!(@each $make;
            seq_rises_by_one_per_change_and_an_unchanged_field_is_no_change,
            a_subscriber_registered_before_the_snapshot_misses_nothing,
            a_change_reaches_only_its_topic,
            deleting_an_item_is_a_change_and_an_unknown_one_is_not,
            reset_changes_the_epoch_restarts_seq_and_tells_subscribers,
            a_resume_replays_exactly_what_live_subscribers_got,
            a_resume_says_why_not_when_it_cannot,
            append_keeps_the_newest_events_under_rising_ids,
            a_notice_reaches_subscribers_and_changes_nothing,
            the_snapshot_frame_is_the_snapshot);
    };
    (@each $make:expr; $($check:ident),+) => {
        $(
            #[test]
            fn $check() {
                let make = $make;
                $crate::broker::conformance::$check(&make);
            }
        )+
    };
}

/// Runs every check of the suite.
pub fn run_all(make: Factory<'_>) {
    seq_rises_by_one_per_change_and_an_unchanged_field_is_no_change(make);
    a_subscriber_registered_before_the_snapshot_misses_nothing(make);
    a_change_reaches_only_its_topic(make);
    deleting_an_item_is_a_change_and_an_unknown_one_is_not(make);
    reset_changes_the_epoch_restarts_seq_and_tells_subscribers(make);
    a_resume_replays_exactly_what_live_subscribers_got(make);
    a_resume_says_why_not_when_it_cannot(make);
    append_keeps_the_newest_events_under_rising_ids(make);
    a_notice_reaches_subscribers_and_changes_nothing(make);
    the_snapshot_frame_is_the_snapshot(make);
}

fn row(key: &str, pairs: &[(&str, Value)]) -> Items {
    let f: Fields = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    [(key.to_string(), f)].into_iter().collect()
}

fn deltas(rx: &mut Changes) -> Vec<Delta> {
    let mut out = Vec::new();
    loop {
        match rx.try_recv() {
            Ok(ev) => match &*ev {
                Event::Delta(d) => out.push(d.delta.clone()),
                other => panic!("expected only deltas, got {other:?}"),
            },
            Err(TryRecvError::Empty) => return out,
            Err(e) => panic!("the topic's channel failed: {e}"),
        }
    }
}

/// Each change moves the seq by exactly one, and publishing a value the topic already holds moves nothing.
pub fn seq_rises_by_one_per_change_and_an_unchanged_field_is_no_change(make: Factory<'_>) {
    let b = make(16);
    assert_eq!(
        b.publish("c:seq", row("a", &[("x", json!(1))]), vec![]),
        Some(1)
    );
    assert_eq!(
        b.publish("c:seq", row("a", &[("x", json!(2))]), vec![]),
        Some(2)
    );
    assert_eq!(
        b.publish("c:seq", row("a", &[("x", json!(2))]), vec![]),
        None,
        "an unchanged field is no change"
    );
    let mut rx = b.subscribe("c:seq").expect("a published topic exists");
    assert_eq!(
        b.publish(
            "c:seq",
            row("a", &[("x", json!(2)), ("y", json!("new"))]),
            vec![]
        ),
        Some(3)
    );
    let d = deltas(&mut rx);
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].prev, d[0].seq), (2, 3));
    assert_eq!(
        d[0].set["a"],
        [("y".to_string(), json!("new"))]
            .into_iter()
            .collect::<Fields>(),
        "a delta carries only the fields that changed"
    );
    let s = b.snapshot("c:seq").unwrap();
    assert_eq!(s.seq, 3);
    assert_eq!(s.items["a"]["x"], json!(2));
    assert_eq!(s.items["a"]["y"], json!("new"));
}

/// Subscribe, then read the snapshot: every change is either in the snapshot or on the channel after it.
pub fn a_subscriber_registered_before_the_snapshot_misses_nothing(make: Factory<'_>) {
    let b = make(64);
    b.ensure_topic("c:gap");
    assert!(b.has_topic("c:gap"));
    assert_eq!(b.snapshot("c:gap").unwrap().seq, 0, "a new topic is empty");
    let mut rx = b.subscribe("c:gap").unwrap();
    assert_eq!(b.subscribers("c:gap"), 1);
    for i in 0..3 {
        b.publish("c:gap", row(&format!("k{i}"), &[("v", json!(i))]), vec![]);
    }
    let snap = b.snapshot("c:gap").unwrap();
    for i in 3..6 {
        b.publish("c:gap", row(&format!("k{i}"), &[("v", json!(i))]), vec![]);
    }
    let mut state = snap.items.clone();
    let mut at = snap.seq;
    for d in deltas(&mut rx) {
        if d.seq <= snap.seq {
            continue;
        }
        assert_eq!(
            d.prev, at,
            "deltas after the snapshot follow it without a gap"
        );
        assert_eq!(d.epoch, snap.epoch);
        tickdesk_wire::merge::apply(&mut state, &d);
        at = d.seq;
    }
    let now = b.snapshot("c:gap").unwrap();
    assert_eq!(at, now.seq);
    assert_eq!(state, now.items, "snapshot + deltas = the broker's state");
    drop(rx);
    assert_eq!(b.subscribers("c:gap"), 0);
}

/// A change wakes only the subscribers of its own topic.
pub fn a_change_reaches_only_its_topic(make: Factory<'_>) {
    let b = make(16);
    b.ensure_topic("c:one");
    b.ensure_topic("c:two");
    let mut one = b.subscribe("c:one").unwrap();
    let mut two = b.subscribe("c:two").unwrap();
    b.publish("c:one", row("a", &[("x", json!(1))]), vec![]);
    assert_eq!(deltas(&mut one).len(), 1);
    assert!(
        deltas(&mut two).is_empty(),
        "another topic's change woke it"
    );
    assert!(b.subscribe("c:unknown").is_none());
    assert!(!b.has_topic("c:unknown"));
    let names = b.topic_names();
    assert!(
        names.windows(2).all(|w| w[0] < w[1]),
        "names are sorted: {names:?}"
    );
    assert!(names.contains(&"c:one".to_string()) && names.contains(&"c:two".to_string()));
}

/// Deleting a held item is a change with `del`; deleting one the topic does not hold changes nothing.
pub fn deleting_an_item_is_a_change_and_an_unknown_one_is_not(make: Factory<'_>) {
    let b = make(16);
    b.publish("c:del", row("a", &[("x", json!(1))]), vec![]);
    assert_eq!(b.publish("c:del", Items::new(), vec!["zz".into()]), None);
    let mut rx = b.subscribe("c:del").unwrap();
    assert_eq!(b.publish("c:del", Items::new(), vec!["a".into()]), Some(2));
    let d = deltas(&mut rx);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].del, vec!["a".to_string()]);
    assert!(b.snapshot("c:del").unwrap().items.is_empty());
}

/// A reset is a new epoch at seq 0 with the new items, and subscribers are told to take a fresh snapshot.
pub fn reset_changes_the_epoch_restarts_seq_and_tells_subscribers(make: Factory<'_>) {
    let b = make(16);
    b.publish("c:reset", row("a", &[("x", json!(1))]), vec![]);
    let before = b.snapshot("c:reset").unwrap();
    let mut rx = b.subscribe("c:reset").unwrap();
    b.reset("c:reset", row("b", &[("y", json!(2))]));
    match rx.try_recv().map(|e| (*e).clone_kind()) {
        Ok(Kind::Reset(t)) => assert_eq!(t, "c:reset"),
        other => panic!("expected a reset event, got {other:?}"),
    }
    let after = b.snapshot("c:reset").unwrap();
    assert_ne!(after.epoch, before.epoch);
    assert_eq!(after.seq, 0);
    assert_eq!(after.items, row("b", &[("y", json!(2))]));
    assert_eq!(
        b.publish("c:reset", row("b", &[("y", json!(3))]), vec![]),
        Some(1),
        "seq counts again from the reset"
    );
}

/// A resume within the history is answered with the very deltas live subscribers got, ending at the topic's seq.
pub fn a_resume_replays_exactly_what_live_subscribers_got(make: Factory<'_>) {
    let b = make(16);
    b.publish("c:resume", row("a", &[("x", json!(0))]), vec![]);
    let at = b.snapshot("c:resume").unwrap();
    let mut rx = b.subscribe("c:resume").unwrap();
    for i in 1..=4 {
        b.publish("c:resume", row("a", &[("x", json!(i))]), vec![]);
    }
    let live = deltas(&mut rx);
    let r = b
        .resume("c:resume", &at.epoch, at.seq)
        .expect("a resume within the history is honoured");
    assert_eq!((r.seq, r.deltas), (5, 4));
    match serde_json::from_str::<ServerMsg>(r.frame.as_str()).unwrap() {
        ServerMsg::Snapshot {
            recovered,
            deltas,
            seq,
            epoch,
            ..
        } => {
            assert!(recovered);
            assert_eq!((seq, epoch), (5, at.epoch.clone()));
            assert_eq!(deltas, live, "the replay is what live subscribers got");
        }
        other => panic!("expected a recovered snapshot, got {other:?}"),
    }
    let current = b.resume("c:resume", &at.epoch, 5).unwrap();
    assert_eq!(
        current.deltas, 0,
        "a client at the head gets nothing to replay"
    );
}

/// A resume that cannot be honoured says why: another epoch, a seq the history no longer reaches, a seq from the
/// future.
pub fn a_resume_says_why_not_when_it_cannot(make: Factory<'_>) {
    let b = make(4);
    b.publish("c:miss", row("a", &[("x", json!(0))]), vec![]);
    let epoch = b.snapshot("c:miss").unwrap().epoch;
    assert_eq!(
        b.resume("c:miss", "another-life", 1)
            .map(|r| r.seq)
            .unwrap_err(),
        ResumeMiss::EpochChanged
    );
    assert_eq!(
        b.resume("c:miss", &epoch, 99).map(|r| r.seq).unwrap_err(),
        ResumeMiss::FromTheFuture
    );
    for i in 1..=10 {
        b.publish("c:miss", row("a", &[("x", json!(i))]), vec![]);
    }
    assert_eq!(
        b.resume("c:miss", &epoch, 1).map(|r| r.seq).unwrap_err(),
        ResumeMiss::HistoryGone,
        "4 deltas kept, the client is 10 behind"
    );
    assert!(
        b.resume("c:miss", &epoch, 8).is_ok(),
        "3 behind is within the history"
    );
    b.reset("c:miss", Items::new());
    assert_eq!(
        b.resume("c:miss", &epoch, 11).map(|r| r.seq).unwrap_err(),
        ResumeMiss::EpochChanged
    );
}

/// Events get rising ids, arrive in order, and only the newest `keep` stay.
pub fn append_keeps_the_newest_events_under_rising_ids(make: Factory<'_>) {
    let b = make(16);
    let mut ids = Vec::new();
    for i in 0..5 {
        let f: Fields = [("n".to_string(), json!(i))].into_iter().collect();
        ids.push(b.append("c:tape", f, 3).expect("an append is a change"));
    }
    let snap = b.snapshot("c:tape").unwrap();
    assert_eq!(snap.seq, 5, "one change per append, its evictions included");
    let kept: Vec<i64> = snap
        .items
        .values()
        .map(|f| f["n"].as_i64().unwrap())
        .collect();
    assert_eq!(
        kept,
        vec![2, 3, 4],
        "the newest three, in arrival order (keys sort by id)"
    );
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(sorted, ids, "ids rise");
    for id in &ids[2..] {
        assert!(snap.items.contains_key(id));
    }
}

/// A notice goes to the topic's subscribers as it is, and the topic's state and seq stay.
pub fn a_notice_reaches_subscribers_and_changes_nothing(make: Factory<'_>) {
    let b = make(16);
    b.publish("c:notice", row("a", &[("x", json!(1))]), vec![]);
    let mut rx = b.subscribe("c:notice").unwrap();
    b.notify(
        "c:notice",
        ErrorCode::UnknownSymbol,
        "no such symbol".into(),
    );
    match rx.try_recv().map(|e| (*e).clone_kind()) {
        Ok(Kind::Notice(t, code, m)) => {
            assert_eq!(
                (t.as_str(), code, m.as_str()),
                ("c:notice", ErrorCode::UnknownSymbol, "no such symbol")
            )
        }
        other => panic!("expected a notice, got {other:?}"),
    }
    assert_eq!(b.snapshot("c:notice").unwrap().seq, 1);
}

/// The encoded snapshot frame says what [`super::Publisher::snapshot`] says.
pub fn the_snapshot_frame_is_the_snapshot(make: Factory<'_>) {
    let b = make(16);
    b.publish(
        "c:frame",
        row("a", &[("x", json!(1.5)), ("s", json!("t"))]),
        vec![],
    );
    b.publish("c:frame", row("b", &[("x", json!(2))]), vec![]);
    let snap = b.snapshot("c:frame").unwrap();
    let (frame, epoch, seq) = b.snapshot_frame("c:frame").unwrap();
    assert_eq!((epoch.as_str(), seq), (snap.epoch.as_str(), snap.seq));
    match serde_json::from_str::<ServerMsg>(frame.as_str()).unwrap() {
        ServerMsg::Snapshot {
            topic,
            epoch,
            seq,
            recovered,
            items,
            deltas,
        } => {
            assert_eq!(
                (topic, epoch, seq),
                (snap.topic.clone(), snap.epoch.clone(), snap.seq)
            );
            assert!(!recovered && deltas.is_empty());
            assert_eq!(items, snap.items);
        }
        other => panic!("expected a snapshot, got {other:?}"),
    }
    assert!(b.snapshot_frame("c:none").is_none());
}

/// An event's kind with owned fields, for assertions.
#[derive(Debug)]
enum Kind {
    Delta,
    Reset(String),
    Notice(String, ErrorCode, String),
}

impl Event {
    fn clone_kind(&self) -> Kind {
        match self {
            Event::Delta(_) => Kind::Delta,
            Event::Reset { topic } => Kind::Reset(topic.clone()),
            Event::Notice {
                topic,
                code,
                message,
            } => Kind::Notice(topic.clone(), *code, message.clone()),
        }
    }
}
