//! The yield-curve model: Nelson–Siegel with level, slope and curvature factors that follow mean-reverting
//! (Ornstein–Uhlenbeck) random walks.
//!
//! Why this model: real curves move mostly in parallel (level), sometimes steepen or flatten (slope) and bend
//! (curvature); three factors reproduce that with a handful of parameters, and mean reversion keeps a long run
//! from wandering off to implausible rates. Pure: the caller supplies the random normals.

/// The tenors the desk shows, with their maturity in years (the contract's list).
pub use tickdesk_wire::topics::CURVE_TENORS as TENORS;

/// One mean-reverting factor (in percent).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Factor {
    pub value: f64,
    pub mean: f64,
    /// Speed of mean reversion, per year.
    pub kappa: f64,
    /// Volatility, percent per sqrt(year).
    pub sigma: f64,
}

impl Factor {
    /// Advances by `dt` years with the standard normal draw `z` (exact OU transition).
    pub fn step(&mut self, dt: f64, z: f64) {
        let decay = (-self.kappa * dt).exp();
        let sd = self.sigma * ((1.0 - decay * decay) / (2.0 * self.kappa)).sqrt();
        self.value = self.mean + (self.value - self.mean) * decay + sd * z;
    }
}

/// Level, slope and curvature, and the decay constant that shapes the loadings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NelsonSiegel {
    pub level: Factor,
    pub slope: Factor,
    pub curvature: Factor,
    /// Years at which the curvature loading peaks (roughly).
    pub tau: f64,
}

impl Default for NelsonSiegel {
    /// A curve like late-2020s US Treasuries: about 4.3% at the front, 4.6% at 30 years, a mild hump.
    /// Volatilities are scaled up from real ones (~1%/sqrt(yr)) so a demo moves visibly within seconds.
    fn default() -> Self {
        NelsonSiegel {
            level: Factor {
                value: 4.7,
                mean: 4.7,
                kappa: 0.5,
                sigma: 1.2,
            },
            slope: Factor {
                value: -0.4,
                mean: -0.4,
                kappa: 0.8,
                sigma: 1.0,
            },
            curvature: Factor {
                value: -0.5,
                mean: -0.5,
                kappa: 1.0,
                sigma: 1.5,
            },
            tau: 2.0,
        }
    }
}

impl NelsonSiegel {
    /// The zero yield in percent at maturity `t` years.
    pub fn yield_at(&self, t: f64) -> f64 {
        let x = t.max(1e-6) / self.tau;
        let l1 = (1.0 - (-x).exp()) / x;
        let l2 = l1 - (-x).exp();
        self.level.value + self.slope.value * l1 + self.curvature.value * l2
    }

    /// Advances every factor by `dt` years; `z` holds three standard normal draws.
    pub fn step(&mut self, dt: f64, z: [f64; 3]) {
        self.level.step(dt, z[0]);
        self.slope.step(dt, z[1]);
        self.curvature.step(dt, z[2]);
    }

    /// Yields at every desk tenor.
    pub fn curve(&self) -> [f64; 11] {
        TENORS.map(|(_, t)| self.yield_at(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_curve_is_plausible_and_upward_sloping_at_the_long_end() {
        let c = NelsonSiegel::default().curve();
        assert!(c.iter().all(|y| (3.0..6.0).contains(y)), "{c:?}");
        assert!(c[10] > c[4], "30Y above 2Y: {c:?}");
    }

    #[test]
    fn factors_mean_revert() {
        let mut f = Factor {
            value: 9.0,
            mean: 4.0,
            kappa: 2.0,
            sigma: 0.0,
        };
        f.step(1.0, 0.0);
        assert!((f.value - (4.0 + 5.0 * (-2.0f64).exp())).abs() < 1e-12);
        let mut g = Factor {
            value: 9.0,
            mean: 4.0,
            kappa: 2.0,
            sigma: 0.0,
        };
        for _ in 0..1000 {
            g.step(0.01, 0.0);
        }
        assert!((g.value - 4.0).abs() < 1e-6);
    }

    #[test]
    fn with_noise_a_factor_wanders_around_its_mean_with_the_stationary_spread() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let mut f = NelsonSiegel::default().level;
        let (mean, sd) = (f.mean, f.sigma / (2.0 * f.kappa).sqrt());
        f.value = mean + 4.0 * sd;
        let path: Vec<f64> = (0..40_000)
            .map(|_| {
                f.step(0.05, crate::desk::normal(&mut rng));
                f.value
            })
            .collect();
        // Pulled back from four standard deviations out within a few half-lives (ln 2 / κ ≈ 1.4 years).
        assert!((path[200] - mean).abs() < 3.0 * sd, "{}", path[200]);
        let tail = &path[1000..];
        let m = tail.iter().sum::<f64>() / tail.len() as f64;
        let s = (tail.iter().map(|x| (x - m).powi(2)).sum::<f64>() / tail.len() as f64).sqrt();
        assert!((m - mean).abs() < 0.15, "long-run mean {m} vs {mean}");
        assert!((s / sd - 1.0).abs() < 0.15, "long-run sd {s} vs {sd}");
    }

    #[test]
    fn a_level_shock_moves_every_tenor_by_the_same_amount() {
        let mut ns = NelsonSiegel::default();
        let before = ns.curve();
        ns.level.value += 0.1;
        let after = ns.curve();
        for (a, b) in after.iter().zip(before) {
            assert!((a - b - 0.1).abs() < 1e-12);
        }
    }
}
