//! The resume history of one topic: its recent deltas as the JSON clients were sent live, bounded by count, bytes
//! and age.
//!
//! Kept as the encoded text (shared with the live broadcast, so keeping it costs no copy) rather than as JSON value
//! maps, which took several times the bytes; and bounded by bytes and age rather than by count alone, because a
//! count says nothing about memory when one topic's delta is 100 bytes and another's 20 KB. A resume answer is the
//! kept texts spliced together, so a resumed client gets exactly the bytes a live client got.
//!
//! Pure: time is an argument, so age is tested without a clock.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::frame::Text;

/// Bytes counted per kept delta on top of its text: the entry in the deque (56), the shared buffer's header (24)
/// and the allocator's headers and rounding for both allocations (about 32).
pub const ENTRY_OVERHEAD: usize = 112;

/// What one topic's history may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Deltas kept at most.
    pub max_deltas: usize,
    /// Bytes kept at most (texts plus [`ENTRY_OVERHEAD`] each).
    pub max_bytes: usize,
    /// Deltas older than this are dropped, and never used for a resume.
    pub max_age: Duration,
}

/// How many deltas a trim dropped, by the bound that dropped them, and the bytes freed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Trimmed {
    pub by_count: usize,
    pub by_bytes: usize,
    pub by_age: usize,
    pub bytes: usize,
}

#[derive(Debug)]
struct Entry {
    /// The seq the delta leads to (it applies to `seq - 1`).
    seq: u64,
    at: Instant,
    json: Text,
}

/// Consecutive deltas of one topic, oldest first.
#[derive(Debug, Default)]
pub struct History {
    entries: VecDeque<Entry>,
    bytes: usize,
}

/// What keeping `json` costs.
pub fn cost(json: &Text) -> usize {
    json.len() + ENTRY_OVERHEAD
}

impl History {
    /// Keeps the delta that took the topic to `seq`, made at `at`. Returns the bytes added.
    ///
    /// Deltas must come in seq order, one by one; one that does not follow the newest kept one (a caller's bug)
    /// clears the rest, so the history never holds a gap it would replay.
    pub fn push(&mut self, seq: u64, json: Text, at: Instant) -> usize {
        if self.entries.back().is_some_and(|e| e.seq + 1 != seq) {
            self.clear();
        }
        let added = cost(&json);
        self.bytes += added;
        self.entries.push_back(Entry { seq, at, json });
        added
    }

    /// Drops the oldest deltas until the history is within `b` at `now`. The newest delta goes too if it alone
    /// is over the byte bound: a history that cannot hold it says so at resume time instead.
    pub fn trim(&mut self, b: &Bounds, now: Instant) -> Trimmed {
        let mut t = Trimmed::default();
        while let Some(front) = self.entries.front() {
            let counter = if now.saturating_duration_since(front.at) > b.max_age {
                &mut t.by_age
            } else if self.entries.len() > b.max_deltas {
                &mut t.by_count
            } else if self.bytes > b.max_bytes {
                &mut t.by_bytes
            } else {
                break;
            };
            *counter += 1;
            t.bytes += self.pop_oldest();
        }
        t
    }

    /// Drops the oldest delta (for a budget shared by all topics). Returns the bytes freed, 0 when empty.
    pub fn pop_oldest(&mut self) -> usize {
        let freed = self.entries.pop_front().map_or(0, |e| cost(&e.json));
        self.bytes -= freed;
        freed
    }

    /// Drops everything (the topic was reset). Returns the bytes freed.
    pub fn clear(&mut self) -> usize {
        self.entries.clear();
        std::mem::take(&mut self.bytes)
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The encoded deltas after `seq` up to `current` (the topic's seq), in order, if every one is still kept and
    /// none is older than `max_age` at `now`; `None` when the history no longer reaches back to `seq`.
    /// `seq == current` is an empty answer; `seq > current` is `None` (the caller tells that case apart).
    pub fn since(
        &self,
        seq: u64,
        current: u64,
        now: Instant,
        max_age: Duration,
    ) -> Option<Vec<Text>> {
        if seq == current {
            return Some(Vec::new());
        }
        let newest = self.entries.back()?;
        let oldest = self.entries.front()?;
        if seq > current || newest.seq != current || oldest.seq > seq + 1 {
            return None;
        }
        let skip = usize::try_from(seq + 1 - oldest.seq).ok()?;
        let first = self.entries.get(skip)?;
        if now.saturating_duration_since(first.at) > max_age {
            return None;
        }
        Some(self.entries.range(skip..).map(|e| e.json.clone()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    fn text(n: usize) -> Text {
        Text::from("x".repeat(n))
    }

    fn bounds(max_deltas: usize, max_bytes: usize, max_age: Duration) -> Bounds {
        Bounds {
            max_deltas,
            max_bytes,
            max_age,
        }
    }

    /// A history of deltas 1..=n, 100 bytes of text each, one second apart from `t0`.
    fn filled(n: u64, t0: Instant) -> History {
        let mut h = History::default();
        for seq in 1..=n {
            h.push(seq, text(100), t0 + SEC * (seq as u32));
        }
        h
    }

    #[test]
    fn since_replays_exactly_the_kept_texts_after_a_seq() {
        let t0 = Instant::now();
        let mut h = History::default();
        for seq in 1..=5u64 {
            h.push(seq, Text::from(format!("d{seq}")), t0);
        }
        let got = h.since(2, 5, t0, SEC).unwrap();
        assert_eq!(
            got,
            vec![
                Text::from("d3".to_string()),
                "d4".to_string().into(),
                "d5".to_string().into()
            ]
        );
        assert_eq!(h.since(5, 5, t0, SEC), Some(vec![]));
        assert_eq!(
            h.since(0, 5, t0, SEC).unwrap().len(),
            5,
            "reaches back to seq 0"
        );
        assert_eq!(h.since(6, 5, t0, SEC), None, "from the future");
        assert_eq!(h.since(2, 6, t0, SEC), None, "the newest delta is not kept");
    }

    #[test]
    fn the_byte_bound_drops_the_oldest_and_resume_says_it_no_longer_reaches() {
        let t0 = Instant::now();
        let mut h = filled(10, t0);
        assert_eq!(h.bytes(), 10 * (100 + ENTRY_OVERHEAD));
        let b = bounds(1000, 4 * (100 + ENTRY_OVERHEAD), Duration::MAX);
        let t = h.trim(&b, t0);
        assert_eq!(
            t,
            Trimmed {
                by_bytes: 6,
                bytes: 6 * (100 + ENTRY_OVERHEAD),
                ..Trimmed::default()
            }
        );
        assert_eq!((h.len(), h.bytes()), (4, 4 * (100 + ENTRY_OVERHEAD)));
        assert_eq!(h.since(5, 10, t0, Duration::MAX), None, "delta 6 is gone");
        assert_eq!(
            h.since(6, 10, t0, Duration::MAX).unwrap().len(),
            4,
            "7..=10 are kept"
        );
    }

    #[test]
    fn a_delta_bigger_than_the_bound_is_not_kept() {
        let t0 = Instant::now();
        let mut h = filled(2, t0);
        h.push(3, text(10_000), t0);
        let t = h.trim(&bounds(1000, 1000, Duration::MAX), t0);
        assert_eq!(t.by_bytes, 3);
        assert!(h.is_empty() && h.bytes() == 0);
        assert_eq!(h.since(2, 3, t0, Duration::MAX), None);
        // It carries on from the next delta.
        h.push(4, text(10), t0);
        assert_eq!(h.since(3, 4, t0, Duration::MAX).unwrap().len(), 1);
    }

    #[test]
    fn age_drops_old_deltas_and_is_checked_again_at_resume_time() {
        let t0 = Instant::now();
        let mut h = filled(10, t0); // delta n made at t0 + n s
        let b = bounds(1000, usize::MAX, SEC * 5);
        let now = t0 + SEC * 12;
        assert_eq!(h.trim(&b, now).by_age, 6, "1..=6 are over 5 s old at 12 s");
        assert_eq!(h.since(6, 10, now, b.max_age).unwrap().len(), 4);
        // Nothing was published since, but time went on: delta 7 is now too old to replay.
        let later = t0 + SEC * 13;
        assert_eq!(h.since(6, 10, later, b.max_age), None);
        assert_eq!(h.since(7, 10, later, b.max_age).unwrap().len(), 3);
    }

    #[test]
    fn the_count_bound_still_holds() {
        let t0 = Instant::now();
        let mut h = filled(10, t0);
        assert_eq!(
            h.trim(&bounds(3, usize::MAX, Duration::MAX), t0).by_count,
            7
        );
        assert_eq!(h.len(), 3);
        assert_eq!(h.since(7, 10, t0, Duration::MAX).unwrap().len(), 3);
    }

    #[test]
    fn a_delta_out_of_order_clears_rather_than_keep_a_gap() {
        let t0 = Instant::now();
        let mut h = filled(3, t0);
        h.push(7, text(1), t0);
        assert_eq!(h.len(), 1);
        assert_eq!(h.bytes(), 1 + ENTRY_OVERHEAD);
        assert_eq!(h.since(3, 7, t0, Duration::MAX), None);
        assert_eq!(h.pop_oldest(), 1 + ENTRY_OVERHEAD);
        assert_eq!((h.pop_oldest(), h.bytes()), (0, 0));
    }
}
