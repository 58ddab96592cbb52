//! The one clock every market decision reads: "today", DTE, session open/closed, the day roll, candle ranges and
//! token expiry. Production reads the wall clock; a demo or a bug report runs from a chosen instant; tests pin the
//! time and move it by hand, so no test depends on when it runs.
//!
//! Durations between events (heartbeats, tick periods, backoff) are not market decisions and stay on tokio's
//! timers; only instants that mean something on the exchange's calendar come from here.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// A shareable clock (cloning shares it: setting one clone moves them all).
#[derive(Clone)]
pub struct Clock(Arc<Inner>);

struct Inner {
    kind: Kind,
    /// `Running`: milliseconds added to the wall clock. `Frozen`: the instant itself.
    value: AtomicI64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The wall clock, unshifted: what a desk on a real account runs on.
    Wall,
    /// The wall clock's pace from a chosen starting instant (demos, replays, integration tests).
    Running,
    /// Stands still until set or advanced (unit tests, and integration tests that step through the day).
    Frozen,
}

/// Wall-clock milliseconds since the Unix epoch: for timestamps about the link itself (when a frame was sent, when
/// a connection changed state), never for a market decision.
pub fn wall_ms() -> i64 {
    system_ms()
}

fn system_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Clock {
    /// The wall clock.
    pub fn wall() -> Clock {
        Clock::new(Kind::Wall, 0)
    }

    /// A clock that reads `start_ms` now and then advances with the wall clock.
    pub fn starting_at(start_ms: i64) -> Clock {
        Clock::new(Kind::Running, start_ms - system_ms())
    }

    /// A clock that reads `at_ms` until it is set or advanced.
    pub fn frozen(at_ms: i64) -> Clock {
        Clock::new(Kind::Frozen, at_ms)
    }

    fn new(kind: Kind, value: i64) -> Clock {
        Clock(Arc::new(Inner {
            kind,
            value: AtomicI64::new(value),
        }))
    }

    /// Now, in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        let v = self.0.value.load(Relaxed);
        match self.0.kind {
            Kind::Frozen => v,
            Kind::Wall | Kind::Running => system_ms() + v,
        }
    }

    /// Now as an unsigned count (the store's and the wire's timestamps are `u64` ms).
    pub fn now_ms_u64(&self) -> u64 {
        self.now_ms().max(0) as u64
    }

    /// Makes the clock read `at_ms` (a running clock goes on from there).
    ///
    /// # Panics
    /// On the wall clock: a desk on real time is never moved.
    pub fn set(&self, at_ms: i64) {
        match self.0.kind {
            Kind::Wall => panic!("the wall clock cannot be set"),
            Kind::Frozen => self.0.value.store(at_ms, Relaxed),
            Kind::Running => self.0.value.store(at_ms - system_ms(), Relaxed),
        }
    }

    /// Moves the clock forward (or back, with a negative count) by `ms`.
    ///
    /// # Panics
    /// On the wall clock.
    pub fn advance_ms(&self, ms: i64) {
        assert!(self.0.kind != Kind::Wall, "the wall clock cannot be moved");
        self.0.value.fetch_add(ms, Relaxed);
    }

    /// True unless this is the plain wall clock: the desk labels a simulated time as such.
    pub fn is_simulated(&self) -> bool {
        self.0.kind != Kind::Wall
    }
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::wall()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Clock")
            .field("kind", &self.0.kind)
            .field("now_ms", &self.now_ms())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frozen_clock_moves_only_when_told_and_clones_share_it() {
        let c = Clock::frozen(1_000);
        let other = c.clone();
        assert_eq!(c.now_ms(), 1_000);
        c.advance_ms(500);
        assert_eq!(other.now_ms(), 1_500);
        other.set(42);
        assert_eq!(c.now_ms(), 42);
        assert!(c.is_simulated());
    }

    #[test]
    fn a_running_clock_starts_where_it_is_told_and_keeps_pace() {
        let start = 1_764_700_000_000; // 2025-12-02, whatever today is
        let c = Clock::starting_at(start);
        let a = c.now_ms();
        assert!((start..start + 60_000).contains(&a), "{a}");
        c.advance_ms(3_600_000);
        assert!(c.now_ms() >= a + 3_600_000);
        c.set(start);
        assert!((start..start + 60_000).contains(&c.now_ms()));
    }

    #[test]
    fn the_wall_clock_is_not_simulated() {
        assert!(!Clock::wall().is_simulated());
        assert!(Clock::wall().now_ms() > 1_700_000_000_000);
    }

    #[test]
    #[should_panic(expected = "cannot be set")]
    fn the_wall_clock_cannot_be_set() {
        Clock::wall().set(0);
    }
}
