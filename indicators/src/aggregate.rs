//! 1-minute bars into the chart's timeframes.
//!
//! The relay only ever sends 1-minute bars; the 5m/15m/1h views are built here from them, so switching timeframe
//! costs no request and the live minute updates every timeframe at once.

use crate::Bar;

/// A chart timeframe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timeframe {
    M1,
    M5,
    M15,
    H1,
}

impl Timeframe {
    /// Every timeframe, shortest first (the order of the chart's buttons).
    pub const ALL: [Timeframe; 4] = [Timeframe::M1, Timeframe::M5, Timeframe::M15, Timeframe::H1];

    /// Its length in minutes.
    #[must_use]
    pub fn minutes(self) -> i64 {
        match self {
            Timeframe::M1 => 1,
            Timeframe::M5 => 5,
            Timeframe::M15 => 15,
            Timeframe::H1 => 60,
        }
    }

    /// Its length in milliseconds.
    #[must_use]
    pub fn ms(self) -> i64 {
        self.minutes() * 60_000
    }

    /// Its label: "1m", "5m", "15m", "1h".
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Timeframe::M1 => "1m",
            Timeframe::M5 => "5m",
            Timeframe::M15 => "15m",
            Timeframe::H1 => "1h",
        }
    }

    /// The start of the bucket holding `t` (ms): `t` floored to the timeframe in UTC. Every timeframe here divides
    /// an hour, and New York's offset from UTC is whole hours, so UTC buckets are also New York's: the 9:30 open
    /// starts a 5m and a 15m bucket, and the hourly bars are 9:00–10:00, … as most charting sites draw them.
    #[must_use]
    pub fn bucket(self, t: i64) -> i64 {
        t - t.rem_euclid(self.ms())
    }
}

/// Incremental aggregation of 1-minute bars into a timeframe (bucket = t floored to the timeframe in UTC ms).
///
/// It keeps the bucket as it was before the last minute, so the live minute updating in place (many times a
/// second) re-merges one bar instead of the whole bucket, and its volume is never counted twice.
#[derive(Clone, Debug)]
pub struct Aggregator {
    tf: Timeframe,
    /// The start of the last 1-minute bar pushed.
    last_minute: Option<i64>,
    /// The current bucket without its last minute; `None` when the last minute opened it.
    before_last: Option<Bar>,
    /// The current bucket.
    current: Option<Bar>,
}

impl Aggregator {
    #[must_use]
    pub fn new(tf: Timeframe) -> Self {
        Self {
            tf,
            last_minute: None,
            before_last: None,
            current: None,
        }
    }

    /// The timeframe it aggregates into.
    #[must_use]
    pub fn timeframe(&self) -> Timeframe {
        self.tf
    }

    /// A 1-minute bar, new (t after the last) or the last one again updated in place (same t). Returns the
    /// aggregated bar it changed and whether that aggregated bar is new.
    ///
    /// Missing minutes (no trade, a feed gap) are simply absent from their bucket; a gap past the bucket's end
    /// opens the next bucket that has a minute. A minute older than the last cannot be merged without the ones
    /// after it and is ignored (the current bucket is returned, not new); callers that receive history late
    /// rebuild from the whole series.
    pub fn push(&mut self, bar: Bar) -> (Bar, bool) {
        match (self.last_minute, self.current) {
            (Some(last), Some(current)) if bar.t < last => (current, false),
            (Some(last), Some(_)) if bar.t == last => {
                let merged = self.merge(self.before_last, bar);
                self.current = Some(merged);
                (merged, false)
            }
            (_, current) => {
                let bucket = self.tf.bucket(bar.t);
                let (before, is_new) = match current {
                    Some(c) if c.t == bucket => (Some(c), false),
                    _ => (None, true),
                };
                let merged = self.merge(before, bar);
                self.before_last = before;
                self.current = Some(merged);
                self.last_minute = Some(bar.t);
                (merged, is_new)
            }
        }
    }

    /// `bar` added to the bucket `before` (or opening its bucket): the first open, the highest high, the lowest
    /// low, the last close, the summed volume.
    fn merge(&self, before: Option<Bar>, bar: Bar) -> Bar {
        match before {
            Some(b) => Bar {
                t: b.t,
                o: b.o,
                h: b.h.max(bar.h),
                l: b.l.min(bar.l),
                c: bar.c,
                v: b.v + bar.v,
            },
            None => Bar {
                t: self.tf.bucket(bar.t),
                ..bar
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;
    /// 2025-12-09 14:30 UTC, the 9:30 New York open: a multiple of an hour plus 30 minutes.
    const OPEN: i64 = 1_765_290_600_000;

    fn m(i: i64, o: f64, h: f64, l: f64, c: f64, v: f64) -> Bar {
        Bar {
            t: OPEN + i * MIN,
            o,
            h,
            l,
            c,
            v,
        }
    }

    fn minute(i: i64) -> Bar {
        let base = 100.0 + i as f64;
        m(i, base, base + 2.0, base - 1.0, base + 0.5, 10.0 + i as f64)
    }

    #[test]
    fn labels_minutes_and_buckets() {
        let labels: Vec<_> = Timeframe::ALL.iter().map(|t| t.label()).collect();
        assert_eq!(labels, ["1m", "5m", "15m", "1h"]);
        let minutes: Vec<_> = Timeframe::ALL.iter().map(|t| t.minutes()).collect();
        assert_eq!(minutes, [1, 5, 15, 60]);
        assert_eq!(Timeframe::M5.bucket(OPEN + 4 * MIN + 59_999), OPEN);
        assert_eq!(Timeframe::M5.bucket(OPEN + 5 * MIN), OPEN + 5 * MIN);
        assert_eq!(Timeframe::M15.bucket(OPEN + 14 * MIN), OPEN);
        // The hour bucket of 9:30–9:59 New York starts at 9:00 (14:00 UTC).
        assert_eq!(Timeframe::H1.bucket(OPEN + 29 * MIN), OPEN - 30 * MIN);
        assert_eq!(Timeframe::H1.bucket(OPEN + 30 * MIN), OPEN + 30 * MIN);
        // Before 1970 still floors down, not toward zero.
        assert_eq!(Timeframe::M5.bucket(-1), -5 * MIN);
    }

    #[test]
    fn five_minute_buckets_merge_open_high_low_close_and_volume() {
        let mut agg = Aggregator::new(Timeframe::M5);
        let mut out = Vec::new();
        for i in 0..12 {
            out.push(agg.push(minute(i)));
        }
        let news: Vec<_> = out.iter().map(|(_, new)| *new).collect();
        assert_eq!(
            news,
            [true, false, false, false, false, true, false, false, false, false, true, false]
        );
        let (first, _) = out[4];
        assert_eq!(
            first,
            Bar {
                t: OPEN,
                o: 100.0,
                h: 106.0,
                l: 99.0,
                c: 104.5,
                v: 10.0 + 11.0 + 12.0 + 13.0 + 14.0,
            }
        );
        let (second, _) = out[9];
        assert_eq!(
            (second.t, second.o, second.c, second.h, second.l),
            (OPEN + 5 * MIN, 105.0, 109.5, 111.0, 104.0)
        );
        assert_eq!(out[11].0.t, OPEN + 10 * MIN);
    }

    #[test]
    fn one_minute_passes_bars_through_and_fifteen_and_sixty_bucket() {
        let mut one = Aggregator::new(Timeframe::M1);
        assert_eq!(one.push(minute(3)), (minute(3), true));
        assert_eq!(one.push(minute(4)), (minute(4), true));
        let mut q = Aggregator::new(Timeframe::M15);
        let mut h = Aggregator::new(Timeframe::H1);
        let mut q_new = 0;
        let mut h_new = 0;
        for i in 0..90 {
            q_new += usize::from(q.push(minute(i)).1);
            h_new += usize::from(h.push(minute(i)).1);
        }
        // 9:30–11:00: six quarter hours, and two hours (9:00–10:00 from 9:30, 10:00–11:00).
        assert_eq!(q_new, 6);
        assert_eq!(h_new, 2);
        let (hour, _) = h.push(minute(89));
        assert_eq!(hour.t, OPEN + 30 * MIN);
        assert_eq!(hour.o, minute(30).o);
        assert_eq!(hour.v, (30..90).map(|i| 10.0 + i as f64).sum::<f64>());
    }

    #[test]
    fn the_buckets_last_minute_updating_in_place_never_counts_twice() {
        let mut agg = Aggregator::new(Timeframe::M5);
        agg.push(minute(0));
        agg.push(minute(1));
        // Minute 2 ticks three times: a new high, then a new low, then settles.
        let (b, new) = agg.push(m(2, 102.0, 150.0, 101.0, 149.0, 5.0));
        assert!(!new);
        assert_eq!((b.h, b.c, b.v), (150.0, 149.0, 10.0 + 11.0 + 5.0));
        let (b, _) = agg.push(m(2, 102.0, 150.0, 50.0, 60.0, 7.0));
        assert_eq!((b.h, b.l, b.c, b.v), (150.0, 50.0, 60.0, 10.0 + 11.0 + 7.0));
        // The final values are what a fresh aggregation of the final minutes gives: the 150 high and 50 low
        // were only intermediate states of minute 2 and are gone.
        let (b, new) = agg.push(minute(2));
        assert!(!new);
        let mut fresh = Aggregator::new(Timeframe::M5);
        fresh.push(minute(0));
        fresh.push(minute(1));
        assert_eq!((b, false), fresh.push(minute(2)));
        // A bucket's first minute updating in place keeps the bucket new only the first time.
        let (b, new) = agg.push(m(5, 1.0, 2.0, 0.5, 1.5, 3.0));
        assert!(new);
        assert_eq!(b.t, OPEN + 5 * MIN);
        let (b, new) = agg.push(m(5, 1.0, 3.0, 0.5, 2.5, 4.0));
        assert!(!new);
        assert_eq!((b.o, b.h, b.c, b.v), (1.0, 3.0, 2.5, 4.0));
    }

    #[test]
    fn gaps_leave_minutes_out_and_open_the_next_bucket_that_has_one() {
        let mut agg = Aggregator::new(Timeframe::M5);
        agg.push(minute(0));
        // Minutes 1–3 never traded.
        let (b, new) = agg.push(minute(4));
        assert!(!new);
        assert_eq!((b.t, b.o, b.c, b.v), (OPEN, 100.0, 104.5, 10.0 + 14.0));
        // Nothing from 9:35 to 9:47: the next bar opens the 9:45 bucket, with its own open.
        let (b, new) = agg.push(minute(17));
        assert!(new);
        assert_eq!((b.t, b.o, b.v), (OPEN + 15 * MIN, 117.0, 27.0));
        // A late, older minute is ignored.
        assert_eq!(agg.push(minute(3)), (b, false));
        assert_eq!(agg.push(minute(18)).0.v, 27.0 + 28.0);
    }
}
