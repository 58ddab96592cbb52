//! Pure statistics: a log-bucketed latency histogram (about 1% resolution, constant memory whatever the number of
//! samples, cheap to merge across clients) and the per-client counters a run adds up.

use serde::Serialize;

/// Bucket growth factor: each bucket is this much wider than the one before (≈ 1% relative error).
const GROWTH: f64 = 1.02;
/// Values (microseconds) below this get exact 1-µs buckets.
const LINEAR: u64 = 100;
/// Bucket count: covers up to about 100 s.
const BUCKETS: usize = 1100;

/// Latencies in microseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
    sum: u128,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            max: 0,
            sum: 0,
        }
    }
}

fn bucket_of(v: u64) -> usize {
    if v < LINEAR {
        return v as usize;
    }
    let i = LINEAR as f64 + ((v as f64) / LINEAR as f64).ln() / GROWTH.ln();
    (i as usize).min(BUCKETS - 1)
}

/// The largest value that lands in bucket `i` (what a percentile reports: never an underestimate).
fn bucket_high(i: usize) -> u64 {
    if (i as u64) < LINEAR {
        return i as u64;
    }
    let hi = LINEAR as f64 * GROWTH.powf((i + 1) as f64 - LINEAR as f64);
    (hi.ceil() as u64).saturating_sub(1)
}

impl Histogram {
    /// Records `n` samples of `v` µs.
    pub fn record_n(&mut self, v: u64, n: u64) {
        if n == 0 {
            return;
        }
        self.counts[bucket_of(v)] += n;
        self.total += n;
        self.max = self.max.max(v);
        self.sum += u128::from(v) * u128::from(n);
    }

    pub fn record(&mut self, v: u64) {
        self.record_n(v, 1);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
        self.sum += other.sum;
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    pub fn mean(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.sum as f64 / self.total as f64
        }
    }

    /// The value at or below which `q` (0..=1) of the samples fall, to the bucket's resolution, never above the
    /// maximum seen. 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return bucket_high(i).min(self.max);
            }
        }
        self.max
    }
}

/// What one client saw during the measured window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientStats {
    /// Contract updates (items) received.
    pub updates: u64,
    pub frames: u64,
    pub bytes: u64,
    /// Upstream timestamp → receipt, per update.
    pub latency: Histogram,
    /// Deltas whose `prev` was not the seq held (the protocol's gap), or epochs that changed under a delta.
    pub gaps: u64,
    /// The connection ended before the run did.
    pub disconnected: bool,
}

impl ClientStats {
    pub fn merge(&mut self, o: &ClientStats) {
        self.updates += o.updates;
        self.frames += o.frames;
        self.bytes += o.bytes;
        self.latency.merge(&o.latency);
        self.gaps += o.gaps;
    }
}

/// A run's figures, as printed (one JSON line).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    pub clients: usize,
    pub measured_clients: usize,
    pub seconds: f64,
    pub updates: u64,
    pub updates_per_s: f64,
    pub frames_per_s: f64,
    pub bytes_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
    pub gaps: u64,
    pub disconnects: usize,
}

impl Summary {
    /// Adds up the measured clients' stats over a window of `seconds`.
    pub fn of(clients: usize, measured: &[ClientStats], seconds: f64) -> Summary {
        let mut all = ClientStats::default();
        for c in measured {
            all.merge(c);
        }
        let per_s = |x: u64| {
            if seconds > 0.0 {
                x as f64 / seconds
            } else {
                0.0
            }
        };
        let ms = |us: u64| us as f64 / 1000.0;
        Summary {
            clients,
            measured_clients: measured.len(),
            seconds,
            updates: all.updates,
            updates_per_s: per_s(all.updates),
            frames_per_s: per_s(all.frames),
            bytes_per_s: per_s(all.bytes),
            p50_ms: ms(all.latency.quantile(0.50)),
            p99_ms: ms(all.latency.quantile(0.99)),
            max_ms: ms(all.latency.max()),
            mean_ms: all.latency.mean() / 1000.0,
            gaps: all.gaps,
            disconnects: measured.iter().filter(|c| c.disconnected).count(),
        }
    }
}

/// Nearest-rank percentile of a list of durations (ms), for small lists such as per-client recovery times.
pub fn percentile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((q.clamp(0.0, 1.0) * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut last = 0;
        for v in [
            0u64, 1, 50, 99, 100, 101, 150, 1_000, 12_345, 1_000_000, 60_000_000,
        ] {
            let b = bucket_of(v);
            assert!(b >= last, "bucket of {v} went backwards");
            last = b;
            let hi = bucket_high(b);
            assert!(hi >= v, "bucket {b} high {hi} < {v}");
            assert!(
                hi as f64 <= v as f64 * 1.021 + 1.0,
                "{v} → {hi}: too coarse"
            );
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_of_a_known_distribution() {
        let mut h = Histogram::default();
        for v in 1..=1000u64 {
            h.record(v * 1000); // 1 ms … 1000 ms
        }
        assert_eq!(h.count(), 1000);
        let p50 = h.quantile(0.5) as f64;
        let p99 = h.quantile(0.99) as f64;
        assert!((p50 - 500_000.0).abs() / 500_000.0 < 0.025, "p50 {p50}");
        assert!((p99 - 990_000.0).abs() / 990_000.0 < 0.025, "p99 {p99}");
        assert_eq!(h.quantile(1.0), 1_000_000);
        assert_eq!(h.max(), 1_000_000);
        assert!((h.mean() - 500_500.0).abs() < 1.0);
        assert_eq!(Histogram::default().quantile(0.99), 0);
    }

    #[test]
    fn record_n_and_merge_equal_separate_records() {
        let mut a = Histogram::default();
        a.record_n(2_000, 3);
        a.record(90);
        let mut b = Histogram::default();
        b.record(5_000_000);
        a.merge(&b);
        let mut c = Histogram::default();
        for v in [2_000, 2_000, 2_000, 90, 5_000_000] {
            c.record(v);
        }
        assert_eq!(a, c);
        assert_eq!(a.quantile(0.2), 90);
        assert_eq!(a.quantile(1.0), 5_000_000);
    }

    #[test]
    fn summary_adds_clients_and_rates_over_the_window() {
        let mut x = ClientStats {
            updates: 100,
            frames: 10,
            bytes: 1000,
            ..Default::default()
        };
        x.latency.record_n(1_000, 100);
        let mut y = x.clone();
        y.disconnected = true;
        y.gaps = 2;
        let s = Summary::of(3, &[x, y], 2.0);
        assert_eq!(s.clients, 3);
        assert_eq!(s.measured_clients, 2);
        assert_eq!(s.updates, 200);
        assert_eq!(s.updates_per_s, 100.0);
        assert_eq!(s.frames_per_s, 10.0);
        assert_eq!(s.bytes_per_s, 1000.0);
        assert_eq!(s.p99_ms, 1.0);
        assert_eq!(s.gaps, 2);
        assert_eq!(s.disconnects, 1);
    }

    #[test]
    fn nearest_rank_percentile() {
        assert_eq!(percentile(&[], 0.5), 0.0);
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 0.5), 2.0);
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 1.0), 3.0);
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.99), 99.0);
    }
}
