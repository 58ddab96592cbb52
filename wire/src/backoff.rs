//! Reconnect policy: full-jitter exponential backoff, as centrifuge-js does it.
//!
//! `delay = min(max, min + rand(0, min(max, min * 2^attempt)))`. The jitter spreads a crowd of clients that lost
//! the relay at the same instant, so a restart is not met by a synchronized stampede; the floor keeps a single
//! client from hammering a relay that is down. Randomness is passed in, so the policy is pure and testable.

/// The reconnect schedule of one client.
#[derive(Debug, Clone)]
pub struct Backoff {
    min_ms: f64,
    max_ms: f64,
    attempt: u32,
}

impl Default for Backoff {
    /// 0.5 s to 20 s: quick enough after a blip, and at most one try every 20 s per client against a relay that is
    /// down, so a thousand desks reconnecting do not storm it.
    fn default() -> Self {
        Backoff::new(500.0, 20_000.0)
    }
}

impl Backoff {
    pub fn new(min_ms: f64, max_ms: f64) -> Self {
        Backoff {
            min_ms,
            max_ms: max_ms.max(min_ms),
            attempt: 0,
        }
    }

    /// The delay before the next attempt, given a uniform random number in `[0, 1)`; counts the attempt.
    pub fn next_delay_ms(&mut self, rand01: f64) -> f64 {
        let exp = self.min_ms * 2f64.powi(self.attempt.min(30) as i32);
        let spread = exp.min(self.max_ms);
        self.attempt = self.attempt.saturating_add(1);
        (self.min_ms + rand01.clamp(0.0, 1.0) * spread).min(self.max_ms)
    }

    /// Attempts made since the last success.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Call once a connection is live again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_then_cap_and_stay_within_bounds() {
        let mut b = Backoff::default();
        let highs: Vec<f64> = (0..10).map(|_| b.next_delay_ms(0.999_999)).collect();
        assert!(highs.windows(2).all(|w| w[1] >= w[0]), "{highs:?}");
        assert!(
            (highs[0] - 1000.0).abs() < 1.0,
            "first high delay is min + min: {}",
            highs[0]
        );
        assert_eq!(*highs.last().unwrap(), 20_000.0);
        let mut b = Backoff::default();
        for _ in 0..40 {
            let d = b.next_delay_ms(0.0);
            assert_eq!(d, 500.0, "the floor holds with zero jitter");
        }
        assert_eq!(b.attempt(), 40);
    }

    #[test]
    fn jitter_spreads_delays_and_reset_starts_over() {
        let mut b = Backoff::default();
        for _ in 0..5 {
            b.next_delay_ms(0.5);
        }
        let lo = b.clone().next_delay_ms(0.1);
        let hi = b.clone().next_delay_ms(0.9);
        assert!(
            hi - lo > 10_000.0,
            "jitter spreads the 6th attempt widely: {lo} vs {hi}"
        );
        b.reset();
        assert_eq!(b.attempt(), 0);
        assert!(b.next_delay_ms(0.9) <= 1000.0);
    }
}
