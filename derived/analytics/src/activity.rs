//! Unusual options activity (pure): a contract whose day volume passes `ratio ×` its open interest and at least
//! `min_volume`, or whose volume rate jumps to `jump_multiple ×` its usual rate, raises one event per crossing — a
//! condition that stays true raises nothing more; one that clears (with hysteresis for the jump) re-arms.
//!
//! Rates are exponentially weighted (an exact kernel estimate for irregular samples): a fast one over
//! [`ActivityRules::fast_secs`] and a slow baseline over [`ActivityRules::slow_secs`], seeded with the day's
//! average rate when the contract is first seen. Volume falling (a new day) starts the contract afresh.

use std::collections::HashMap;

/// The thresholds (settings `TICKDESK_ACTIVITY_*`).
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityRules {
    /// Volume over open interest that counts as unusual (1.25).
    pub ratio: f64,
    /// ... with at least this day volume (500).
    pub min_volume: f64,
    /// The fast rate over the slow one that counts as a jump.
    pub jump_multiple: f64,
    /// ... with at least this much volume in the fast window.
    pub jump_min_volume: f64,
    pub fast_secs: f64,
    pub slow_secs: f64,
}

impl Default for ActivityRules {
    fn default() -> Self {
        ActivityRules {
            ratio: 1.25,
            min_volume: 500.0,
            jump_multiple: 5.0,
            jump_min_volume: 250.0,
            fast_secs: 60.0,
            slow_secs: 1800.0,
        }
    }
}

/// Why an event fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Day volume passed `ratio ×` open interest.
    VolumeOverOi,
    /// The volume rate jumped.
    Jump,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::VolumeOverOi => "volume_over_oi",
            Reason::Jump => "volume_jump",
        }
    }
}

#[derive(Debug, Clone)]
struct Seen {
    volume: f64,
    at_ms: i64,
    /// Contracts per second, fast and slow.
    fast: f64,
    slow: f64,
    over_oi: bool,
    jumping: bool,
}

/// Per-contract state, keyed by the contract's symbol.
#[derive(Debug, Default)]
pub struct Detector {
    rules: ActivityRules,
    seen: HashMap<String, Seen>,
}

impl Detector {
    pub fn new(rules: ActivityRules) -> Self {
        Detector {
            rules,
            seen: HashMap::new(),
        }
    }

    pub fn rules(&self) -> &ActivityRules {
        &self.rules
    }

    /// Contracts tracked.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Forgets contracts not seen since `before_ms` (they left the held chains).
    pub fn forget_older_than(&mut self, before_ms: i64) {
        self.seen.retain(|_, s| s.at_ms >= before_ms);
    }

    /// One look at a contract: its day volume and open interest (`None` when unknown) at `now_ms`, `day_secs`
    /// seconds into its trading day (seeds the baseline rate). Returns the reasons that newly became true.
    pub fn observe(
        &mut self,
        symbol: &str,
        volume: f64,
        open_interest: Option<f64>,
        now_ms: i64,
        day_secs: f64,
    ) -> Vec<Reason> {
        let r = &self.rules;
        let fresh = |volume: f64| Seen {
            volume,
            at_ms: now_ms,
            fast: 0.0,
            slow: volume / day_secs.max(r.fast_secs),
            over_oi: false,
            jumping: false,
        };
        let s = self
            .seen
            .entry(symbol.to_string())
            .or_insert_with(|| fresh(volume));
        if volume < s.volume {
            *s = fresh(volume);
        }
        let dt = ((now_ms - s.at_ms).max(0) as f64) / 1000.0;
        let added = volume - s.volume;
        s.fast = s.fast * (-dt / r.fast_secs).exp() + added / r.fast_secs;
        // The baseline learns from what it saw before this sample: a burst does not raise its own bar at once.
        let slow_before = s.slow;
        s.slow = s.slow * (-dt / r.slow_secs).exp() + added / r.slow_secs;
        s.volume = volume;
        s.at_ms = now_ms;
        let mut out = Vec::new();
        let over = volume >= r.min_volume && open_interest.is_some_and(|oi| volume > r.ratio * oi);
        if over && !s.over_oi {
            out.push(Reason::VolumeOverOi);
        }
        s.over_oi = over;
        let bar = r.jump_multiple * slow_before.max(1e-9);
        let recent = s.fast * r.fast_secs;
        if !s.jumping && s.fast > bar && recent >= r.jump_min_volume {
            s.jumping = true;
            out.push(Reason::Jump);
        } else if s.jumping && s.fast < bar / 2.0 {
            s.jumping = false;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_over_open_interest_fires_once_per_crossing() {
        let mut d = Detector::new(ActivityRules::default());
        let t0 = 1_000_000;
        // 400 OI: the bar is 500 (1.25 × 400), and at least 500.
        assert!(d.observe("X", 300.0, Some(400.0), t0, 3600.0).is_empty());
        assert!(
            d.observe("X", 500.0, Some(400.0), t0 + 60_000, 3600.0)
                .is_empty(),
            "500 is not over 500"
        );
        assert_eq!(
            d.observe("X", 501.0, Some(400.0), t0 + 120_000, 3600.0),
            vec![Reason::VolumeOverOi]
        );
        // Every later tick above the bar: nothing more.
        for i in 1..50 {
            assert!(!d
                .observe(
                    "X",
                    501.0 + i as f64,
                    Some(400.0),
                    t0 + 120_000 + i * 60_000,
                    3600.0
                )
                .contains(&Reason::VolumeOverOi));
        }
        // A new day (volume falls) re-arms it.
        assert!(d
            .observe("X", 10.0, Some(400.0), t0 + 86_400_000, 60.0)
            .is_empty());
        assert_eq!(
            d.observe("X", 900.0, Some(400.0), t0 + 86_460_000, 120.0),
            vec![Reason::VolumeOverOi, Reason::Jump]
        );
    }

    #[test]
    fn min_volume_and_unknown_open_interest() {
        let mut d = Detector::new(ActivityRules::default());
        // Zero OI but only 100 contracts traded: under the minimum.
        assert!(d.observe("A", 100.0, Some(0.0), 0, 3600.0).is_empty());
        // No OI known: no ratio to pass.
        assert!(d.observe("B", 5000.0, None, 0, 3600.0).is_empty());
        // Seen first already over the bar: that is a crossing too (once).
        assert_eq!(
            d.observe("C", 600.0, Some(10.0), 0, 3600.0),
            vec![Reason::VolumeOverOi]
        );
        assert!(d.observe("C", 700.0, Some(10.0), 1000, 3600.0).is_empty());
    }

    #[test]
    fn a_jump_in_the_rate_fires_once_and_rearms_when_it_calms() {
        let rules = ActivityRules {
            ratio: 1e9,
            ..ActivityRules::default()
        };
        let mut d = Detector::new(rules);
        // 3600 contracts in the first hour: 1 per second, steady, ticked every second for ten minutes.
        let mut v = 3600.0;
        let mut t = 0i64;
        assert!(d.observe("X", v, Some(1e6), t, 3600.0).is_empty());
        for _ in 0..600 {
            t += 1000;
            v += 1.0;
            assert!(d.observe("X", v, Some(1e6), t, 3600.0).is_empty());
        }
        // A sweep of 2000 contracts: a jump, once.
        t += 1000;
        v += 2000.0;
        assert_eq!(d.observe("X", v, Some(1e6), t, 3600.0), vec![Reason::Jump]);
        let mut fired = 0;
        for _ in 0..120 {
            t += 1000;
            v += 1.0;
            fired += d.observe("X", v, Some(1e6), t, 3600.0).len();
        }
        assert_eq!(fired, 0, "the elevated rate does not fire again");
        // Calm for ten minutes, then another sweep: fires again.
        for _ in 0..600 {
            t += 1000;
            v += 1.0;
            d.observe("X", v, Some(1e6), t, 3600.0);
        }
        t += 1000;
        v += 3000.0;
        assert_eq!(d.observe("X", v, Some(1e6), t, 3600.0), vec![Reason::Jump]);
    }

    #[test]
    fn small_prints_on_a_quiet_contract_are_not_jumps() {
        let mut d = Detector::new(ActivityRules::default());
        d.observe("Q", 0.0, Some(100.0), 0, 3600.0);
        // 50 contracts on a contract that never traded: a big multiple, but under the 250 minimum.
        assert!(d.observe("Q", 50.0, Some(100.0), 1000, 3600.0).is_empty());
    }
}
