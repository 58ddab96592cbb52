//! Pure statistics: latency percentiles from an HDR histogram (`hdrhistogram`, 3 significant digits: 0.1%
//! resolution, constant memory whatever the number of samples, cheap to merge across clients) and the per-client
//! counters a run adds up.

use serde::Serialize;

/// The largest latency recorded exactly (µs): 100 s. Longer ones are recorded as 100 s (the maximum stays exact).
const HIGHEST_US: u64 = 100_000_000;
/// Significant digits kept per value (3: 0.1%).
const SIGFIG: u8 = 3;

/// Latencies in microseconds. Counts live in the HDR histogram; the maximum and the sum are kept exactly beside it
/// (the histogram reports a bucket's upper end), so `max` and `mean` are exact and no percentile exceeds `max`.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    hist: hdrhistogram::Histogram<u64>,
    max: u64,
    sum: u128,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            // Bounds are constants that hdrhistogram accepts (1 ≤ low, high ≥ 2·low, sigfig ≤ 5).
            hist: hdrhistogram::Histogram::new_with_bounds(1, HIGHEST_US, SIGFIG)
                .expect("valid histogram bounds"),
            max: 0,
            sum: 0,
        }
    }
}

impl Histogram {
    /// Records `n` samples of `v` µs.
    pub fn record_n(&mut self, v: u64, n: u64) {
        if n == 0 {
            return;
        }
        self.hist.saturating_record_n(v.min(HIGHEST_US), n);
        self.max = self.max.max(v);
        self.sum += u128::from(v) * u128::from(n);
    }

    pub fn record(&mut self, v: u64) {
        self.record_n(v, 1);
    }

    pub fn merge(&mut self, other: &Histogram) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.hist.add(&other.hist);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
    }

    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    pub fn mean(&self) -> f64 {
        if self.count() == 0 {
            0.0
        } else {
            self.sum as f64 / self.count() as f64
        }
    }

    /// The value at or below which `q` (0..=1) of the samples fall, to the histogram's resolution (the top of the
    /// value's bucket: never an underestimate), never above the maximum seen. 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count() == 0 {
            return 0;
        }
        self.hist.value_at_quantile(q.clamp(0.0, 1.0)).min(self.max)
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
    fn quantiles_are_tight_and_never_above_the_maximum() {
        for v in [
            0u64, 1, 50, 99, 100, 101, 150, 1_000, 12_345, 1_000_000, 60_000_000,
        ] {
            let mut h = Histogram::default();
            h.record(v);
            let q = h.quantile(0.5);
            assert_eq!(q, v, "one sample of {v} reads back as {q}");
        }
        let mut h = Histogram::default();
        h.record(u64::MAX);
        assert_eq!(h.count(), 1);
        assert_eq!(h.max(), u64::MAX);
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
