//! Black–Scholes–Merton prices and greeks, the volatility smile, and listed-option quoting rules (pure maths).
//!
//! Units are the ones Schwab reports, so the simulator can hand them out unchanged:
//! - `theta` per calendar day (the annual rate / 365), `vega` per volatility point (per 1% of vol),
//!   `rho` per 1% of interest rate;
//! - implied volatility as a **percent** (22.368 means 22.368%), as in the REST chain's `volatility`.
//!
//! The model has a continuous dividend yield `q`, so an index or ETF forward `S·e^{(r−q)T}` is right.

/// Inputs of one valuation. `t` is in years (calendar time), rates and vol as decimals (0.043, 0.18).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BsInputs {
    pub spot: f64,
    pub strike: f64,
    pub t: f64,
    pub r: f64,
    pub q: f64,
    pub vol: f64,
    pub call: bool,
}

/// Price and greeks in Schwab's units (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Greeks {
    pub price: f64,
    pub delta: f64,
    pub gamma: f64,
    pub theta: f64,
    pub vega: f64,
    pub rho: f64,
}

/// The standard normal density.
pub fn norm_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// The standard normal CDF, by Hart's 1968 rational approximation (as given by West, 2005): double precision,
/// and exactly symmetric (`N(x) + N(−x) = 1`), which makes put–call parity hold to rounding.
pub fn norm_cdf(x: f64) -> f64 {
    let xa = x.abs();
    let tail = if xa > 37.0 {
        0.0
    } else {
        let e = (-xa * xa / 2.0).exp();
        if xa < 7.071_067_811_865_475 {
            let mut n = 3.526_249_659_989_11e-2 * xa + 0.700_383_064_443_688;
            n = n * xa + 6.373_962_203_531_65;
            n = n * xa + 33.912_866_078_383;
            n = n * xa + 112.079_291_497_871;
            n = n * xa + 221.213_596_169_931;
            n = n * xa + 220.206_867_912_376;
            let mut d = 8.838_834_764_831_84e-2 * xa + 1.755_667_163_182_64;
            d = d * xa + 16.064_177_579_207;
            d = d * xa + 86.780_732_202_946_1;
            d = d * xa + 296.564_248_779_674;
            d = d * xa + 637.333_633_378_831;
            d = d * xa + 793.826_512_519_948;
            d = d * xa + 440.413_735_824_752;
            e * n / d
        } else {
            let mut b = xa + 0.65;
            b = xa + 4.0 / b;
            b = xa + 3.0 / b;
            b = xa + 2.0 / b;
            b = xa + 1.0 / b;
            e / b / 2.506_628_274_631
        }
    };
    if x > 0.0 {
        1.0 - tail
    } else {
        tail
    }
}

/// Black–Scholes–Merton value and greeks. At or past expiry (or with no volatility) the option is worth its
/// intrinsic value, delta is 0 or ±1 and the other greeks are 0.
pub fn black_scholes(i: &BsInputs) -> Greeks {
    let sign = if i.call { 1.0 } else { -1.0 };
    if i.t <= 0.0 || i.vol <= 0.0 || i.spot <= 0.0 || i.strike <= 0.0 {
        let intrinsic = (sign * (i.spot - i.strike)).max(0.0);
        let delta = if intrinsic > 0.0 { sign } else { 0.0 };
        return Greeks {
            price: intrinsic,
            delta,
            gamma: 0.0,
            theta: 0.0,
            vega: 0.0,
            rho: 0.0,
        };
    }
    let sqrt_t = i.t.sqrt();
    let sig_t = i.vol * sqrt_t;
    let d1 = ((i.spot / i.strike).ln() + (i.r - i.q + 0.5 * i.vol * i.vol) * i.t) / sig_t;
    let d2 = d1 - sig_t;
    let dq = (-i.q * i.t).exp();
    let dr = (-i.r * i.t).exp();
    let nd1 = norm_cdf(sign * d1);
    let nd2 = norm_cdf(sign * d2);
    let pdf1 = norm_pdf(d1);
    let price = sign * (i.spot * dq * nd1 - i.strike * dr * nd2);
    let delta = sign * dq * nd1;
    let gamma = dq * pdf1 / (i.spot * sig_t);
    // dV/dt (calendar time passing), per year, then per day.
    let theta_year = -i.spot * dq * pdf1 * i.vol / (2.0 * sqrt_t) + sign * i.q * i.spot * dq * nd1
        - sign * i.r * i.strike * dr * nd2;
    let vega = i.spot * dq * pdf1 * sqrt_t;
    let rho = sign * i.strike * i.t * dr * nd2;
    Greeks {
        price,
        delta,
        gamma,
        theta: theta_year / 365.0,
        vega: vega / 100.0,
        rho: rho / 100.0,
    }
}

/// A volatility smile: a skewed quadratic in standardised log-moneyness.
///
/// `x = ln(K/F) / (atm·√T)` measures how many "ATM standard deviations" the strike is from the forward, so one
/// shape fits every expiry (short expiries get steep smiles in strike space, as they do in the market). The vol
/// is `atm · (1 + skew·x + curvature·x²)`, with `x` clamped to ±4 so far wings stay finite, floored at a fifth
/// of the ATM vol. Equity smiles have `skew < 0`: puts (low strikes) are dearer than calls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Smile {
    pub skew: f64,
    pub curvature: f64,
}

impl Smile {
    /// The term structure: the multiple of the base ATM vol at `t` years.
    pub fn term(t: f64) -> f64 {
        (1.0 + 0.08 * ((t / 0.25).sqrt() - 1.0)).clamp(0.9, 1.1)
    }

    /// The vol at `strike`: the ATM vol on a gently rising term structure (×0.92 for a day, ×1 at three months,
    /// ×1.04 at six), then the skew and the curvature in standardised moneyness.
    pub fn vol(&self, atm: f64, strike: f64, forward: f64, t: f64) -> f64 {
        let t = t.max(1.0 / (365.0 * 24.0 * 60.0));
        let atm = atm * Smile::term(t);
        let x = ((strike / forward).ln() / (atm * t.sqrt())).clamp(-4.0, 4.0);
        (atm * (1.0 + self.skew * x + self.curvature * x * x)).max(atm * 0.2)
    }
}

/// How an option series is quoted: the minimum tick below and above $3 (the penny-pilot rule), and the spread the
/// simulated market makers quote.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuoteRules {
    pub tick_below_3: f64,
    pub tick_above_3: f64,
    /// The narrowest spread quoted, in dollars.
    pub min_width: f64,
    /// The spread as a fraction of the theoretical value, when wider than `min_width`.
    pub width_frac: f64,
}

impl QuoteRules {
    /// Penny-pilot classes (SPY, AAPL): $0.01 under $3, $0.05 above.
    pub const PENNY: QuoteRules = QuoteRules {
        tick_below_3: 0.01,
        tick_above_3: 0.05,
        min_width: 0.02,
        width_frac: 0.02,
    };
    /// SPX/SPXW: $0.05 under $3, $0.10 above, and wider markets.
    pub const INDEX: QuoteRules = QuoteRules {
        tick_below_3: 0.05,
        tick_above_3: 0.10,
        min_width: 0.10,
        width_frac: 0.015,
    };

    pub fn tick(&self, price: f64) -> f64 {
        if price < 3.0 {
            self.tick_below_3
        } else {
            self.tick_above_3
        }
    }

    /// Bid and ask around a theoretical value: on the tick grid, bid ≥ 0, ask at least one tick above the bid.
    /// Worthless options are bid 0 and offered at one tick.
    pub fn bid_ask(&self, theo: f64) -> (f64, f64) {
        let theo = theo.max(0.0);
        let tick = self.tick(theo);
        let half = (self.min_width.max(theo * self.width_frac)) / 2.0;
        let mut bid_ticks = ((theo - half) / tick + 1e-9).floor().max(0.0);
        let mut ask_ticks = ((theo + half) / tick - 1e-9).ceil().max(1.0);
        if ask_ticks <= bid_ticks {
            ask_ticks = bid_ticks + 1.0;
        }
        if theo < tick / 2.0 {
            bid_ticks = 0.0;
            ask_ticks = 1.0;
        }
        (round_to(bid_ticks * tick, 2), round_to(ask_ticks * tick, 2))
    }
}

/// Rounds to `places` decimals (for display precision and stable deltas on the wire).
pub fn round_to(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    let r = (x * f).round() / f;
    if r == 0.0 {
        0.0 // no "-0.0" on the wire
    } else {
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(call: bool) -> BsInputs {
        BsInputs {
            spot: 230.0,
            strike: 235.0,
            t: 30.0 / 365.0,
            r: 0.043,
            q: 0.005,
            vol: 0.27,
            call,
        }
    }

    #[test]
    fn normal_cdf_is_accurate_and_symmetric() {
        assert!((norm_cdf(0.0) - 0.5).abs() < 1e-15);
        assert!((norm_cdf(1.959_963_984_540_054) - 0.975).abs() < 1e-12);
        assert!((norm_cdf(-1.0) - 0.158_655_253_931_457_05).abs() < 1e-12);
        for x in [-8.0, -3.3, -0.7, 0.2, 1.1, 5.0, 9.0] {
            assert!((norm_cdf(x) + norm_cdf(-x) - 1.0).abs() < 1e-15);
        }
    }

    #[test]
    fn known_value() {
        // Hull's textbook example: S=42, K=40, r=10%, σ=20%, T=0.5 → call 4.76, put 0.81.
        let c = black_scholes(&BsInputs {
            spot: 42.0,
            strike: 40.0,
            t: 0.5,
            r: 0.1,
            q: 0.0,
            vol: 0.2,
            call: true,
        });
        assert!((c.price - 4.7594).abs() < 1e-3, "{}", c.price);
        let p = black_scholes(&BsInputs {
            call: false,
            spot: 42.0,
            strike: 40.0,
            t: 0.5,
            r: 0.1,
            q: 0.0,
            vol: 0.2,
        });
        assert!((p.price - 0.8086).abs() < 1e-3, "{}", p.price);
    }

    #[test]
    fn put_call_parity() {
        for (spot, strike, t) in [
            (230.0, 235.0, 0.08),
            (6000.0, 5800.0, 0.002),
            (600.0, 650.0, 0.5),
        ] {
            let mut i = inputs(true);
            (i.spot, i.strike, i.t) = (spot, strike, t);
            let c = black_scholes(&i).price;
            i.call = false;
            let p = black_scholes(&i).price;
            let fwd = spot * (-i.q * t).exp() - strike * (-i.r * t).exp();
            assert!(
                (c - p - fwd).abs() < 1e-9 * spot,
                "{spot} {strike}: {}",
                c - p - fwd
            );
        }
    }

    #[test]
    fn greeks_match_finite_differences() {
        for call in [true, false] {
            let i = inputs(call);
            let g = black_scholes(&i);
            let v = |f: &dyn Fn(&mut BsInputs)| {
                let mut j = i;
                f(&mut j);
                black_scholes(&j).price
            };
            let h = 0.01;
            let delta = (v(&|j| j.spot += h) - v(&|j| j.spot -= h)) / (2.0 * h);
            let gamma = (v(&|j| j.spot += h) - 2.0 * g.price + v(&|j| j.spot -= h)) / (h * h);
            let dt = 1e-5;
            let theta = -(v(&|j| j.t += dt) - v(&|j| j.t -= dt)) / (2.0 * dt) / 365.0;
            let dv = 1e-5;
            let vega = (v(&|j| j.vol += dv) - v(&|j| j.vol -= dv)) / (2.0 * dv) / 100.0;
            let dr = 1e-5;
            let rho = (v(&|j| j.r += dr) - v(&|j| j.r -= dr)) / (2.0 * dr) / 100.0;
            assert!(
                (g.delta - delta).abs() < 1e-6,
                "delta {} vs {delta}",
                g.delta
            );
            assert!(
                (g.gamma - gamma).abs() < 1e-4,
                "gamma {} vs {gamma}",
                g.gamma
            );
            assert!(
                (g.theta - theta).abs() < 1e-6,
                "theta {} vs {theta}",
                g.theta
            );
            assert!((g.vega - vega).abs() < 1e-6, "vega {} vs {vega}", g.vega);
            assert!((g.rho - rho).abs() < 1e-6, "rho {} vs {rho}", g.rho);
        }
        let c = black_scholes(&inputs(true));
        let p = black_scholes(&inputs(false));
        assert!(
            c.delta > 0.0
                && p.delta < 0.0
                && c.theta < 0.0
                && c.vega > 0.0
                && c.rho > 0.0
                && p.rho < 0.0
        );
        // Gamma and vega do not depend on the side.
        assert!((c.gamma - p.gamma).abs() < 1e-12 && (c.vega - p.vega).abs() < 1e-12);
    }

    #[test]
    fn expired_is_intrinsic() {
        let mut i = inputs(true);
        i.t = 0.0;
        i.spot = 240.0;
        let g = black_scholes(&i);
        assert_eq!((g.price, g.delta, g.gamma), (5.0, 1.0, 0.0));
        i.call = false;
        assert_eq!(black_scholes(&i).price, 0.0);
    }

    #[test]
    fn smile_is_skewed_and_convex() {
        let s = Smile {
            skew: -0.12,
            curvature: 0.04,
        };
        let (atm, f, t) = (0.15, 6000.0, 30.0 / 365.0);
        let v = |k: f64| s.vol(atm, k, f, t);
        assert!((v(f) - atm * Smile::term(t)).abs() < 1e-12);
        // The term structure rises: a week under three months, six months over it.
        assert!(
            Smile::term(7.0 / 365.0) < Smile::term(0.25) && Smile::term(0.25) < Smile::term(0.5)
        );
        assert!((Smile::term(0.25) - 1.0).abs() < 1e-12);
        // Puts' wing (low strikes) above calls' wing at the same distance.
        assert!(v(5600.0) > v(6400.0));
        assert!(v(5400.0) > v(5700.0) && v(5700.0) > v(f));
        // The minimum sits above the forward (the smile's bottom is on the call side), then the call wing rises.
        let xs: Vec<f64> = (0..=200).map(|i| 5000.0 + 10.0 * f64::from(i)).collect();
        let kmin = xs
            .iter()
            .copied()
            .min_by(|a, b| v(*a).total_cmp(&v(*b)))
            .unwrap();
        assert!(kmin > f && kmin < 7000.0, "{kmin}");
        assert!(v(7000.0) > v(kmin));
        // A shorter expiry has a steeper smile in strike space.
        assert!(s.vol(atm, 5800.0, f, 2.0 / 365.0) > s.vol(atm, 5800.0, f, 60.0 / 365.0));
    }

    #[test]
    fn quotes_sit_on_ticks_around_theo() {
        for theo in [0.0, 0.004, 0.03, 0.87, 2.99, 3.0, 12.345, 140.2] {
            for rules in [QuoteRules::PENNY, QuoteRules::INDEX] {
                let (bid, ask) = rules.bid_ask(theo);
                assert!(bid >= 0.0 && ask > bid, "{theo}: {bid} {ask}");
                assert!(
                    bid <= theo + 1e-9 && ask >= theo - 1e-9,
                    "{theo}: {bid} {ask}"
                );
                let tick = rules.tick(theo).min(rules.tick_below_3);
                let on_grid = |p: f64| ((p / tick).round() * tick - p).abs() < 1e-9;
                assert!(on_grid(bid) && on_grid(ask), "{theo}: {bid} {ask}");
            }
        }
        assert_eq!(QuoteRules::PENNY.bid_ask(0.001), (0.0, 0.01));
        assert_eq!(QuoteRules::INDEX.bid_ask(0.001), (0.0, 0.05));
        let (bid, ask) = QuoteRules::INDEX.bid_ask(50.0);
        assert!(ask - bid <= 1.0 && ask - bid >= 0.5, "{bid} {ask}");
    }
}
