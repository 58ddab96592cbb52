//! The send path's token bucket (pure): Binance closes a connection that sends more than 5 messages in a second
//! (pings, pongs and JSON requests all count) and bans repeat offenders. Every message the relay sends itself
//! waits for a token; the bucket is sized so that its messages plus the pongs tungstenite sends on its own (one per
//! server ping) stay under the limit in any one-second window: `burst + rate` at most 4.

use std::time::{Duration, Instant};

/// Tokens per second the relay's own messages may use.
pub const RATE_PER_SEC: f64 = 3.0;
/// Tokens that may pile up while idle.
pub const BURST: f64 = 1.0;

/// A token bucket on an injected time.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub fn new(rate_per_sec: f64, burst: f64, now: Instant) -> TokenBucket {
        TokenBucket {
            rate: rate_per_sec.max(0.001),
            burst: burst.max(1.0),
            tokens: burst.max(1.0),
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        self.at = now;
    }

    /// Takes a token if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// How long until a token is there (zero when one is).
    pub fn wait(&mut self, now: Instant) -> Duration {
        self.refill(now);
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / self.rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_one_second_window_holds_more_than_burst_plus_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(RATE_PER_SEC, BURST, t0);
        // Someone trying to send every millisecond for 5 seconds.
        let sent: Vec<Duration> = (0..5000)
            .map(Duration::from_millis)
            .filter(|d| b.try_take(t0 + *d))
            .collect();
        let worst = sent
            .iter()
            .map(|start| {
                sent.iter()
                    .filter(|d| **d >= *start && **d < *start + Duration::from_secs(1))
                    .count()
            })
            .max()
            .unwrap();
        assert!(
            worst <= (BURST + RATE_PER_SEC) as usize,
            "{worst} in one second"
        );
        assert!(worst < 5, "room left for the pong of a server ping");
        assert!(
            sent.len() >= 15,
            "it still sends at its rate: {}",
            sent.len()
        );
        let mut b = TokenBucket::new(2.0, 1.0, t0);
        assert_eq!(b.wait(t0), Duration::ZERO);
        assert!(b.try_take(t0));
        assert_eq!(b.wait(t0), Duration::from_millis(500));
    }
}
