//! Discounting and the two instruments the desk holds: a fixed-coupon Treasury and a vanilla fixed-vs-float
//! interest-rate swap. Pure maths, no state.
//!
//! # The curve convention
//! The desk's curve ([`ZeroCurve`]) holds **continuously compounded zero rates**, in percent, at the desk tenors.
//! That is what a Nelson–Siegel yield is: the model's formula is the average, from 0 to `t`, of its
//! instantaneous forward curve `f(s) = β0 + β1·e^(−s/τ) + β2·(s/τ)·e^(−s/τ)`, and the average forward is by
//! definition the continuously compounded zero rate. So `DF(t) = exp(−z(t)·t)` with no compounding-frequency
//! conversion to get wrong.
//!
//! Between tenors, zero rates are interpolated **linearly in maturity**; before 1M and beyond 30Y they are flat.
//! Linear interpolation has a property the risk relies on: the interpolation weights of the tenor nodes
//! ([`ZeroCurve::node_weights`]) sum to one at every maturity, so bumping every node by 1bp is exactly a parallel 1bp bump, and the bucketed
//! (key-rate) DV01s add up to the parallel DV01 (to the second order left by central differences).
//!
//! Instruments quote in their own market conventions, derived from the curve: a Treasury's yield is its
//! semi-annual bond-equivalent yield to maturity (what a Treasury screen shows), a swap's rate is its par fixed
//! rate on an annual fixed leg (USD SOFR swaps pay fixed annually).
//!
//! Valuation is at one instant: the desk's clock is frozen at the as-of date, so there is no roll-down or accrual
//! during the simulated day (see `pnl`).

use super::curve::TENORS;

/// Number of tenor nodes on the curve.
pub const NODES: usize = TENORS.len();

/// One basis point, in the percent units the curve is kept in.
pub const BP: f64 = 0.01;

/// Continuously compounded zero rates (percent) at the desk tenors ([`TENORS`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZeroCurve {
    pub zeros: [f64; NODES],
}

impl ZeroCurve {
    pub fn new(zeros: [f64; NODES]) -> Self {
        ZeroCurve { zeros }
    }

    /// A flat curve, for tests and examples.
    pub fn flat(rate_pct: f64) -> Self {
        ZeroCurve {
            zeros: [rate_pct; NODES],
        }
    }

    /// The interpolation weights of the tenor nodes at `t` years, as two (node, weight) pairs summing to one:
    /// the nodes either side of `t`, or the end node alone (weight 1, paired with a zero weight) outside them.
    pub fn node_weights(t: f64) -> [(usize, f64); 2] {
        let (first, last) = (TENORS[0].1, TENORS[NODES - 1].1);
        if t <= first {
            return [(0, 1.0), (0, 0.0)];
        }
        if t >= last {
            return [(NODES - 1, 1.0), (NODES - 1, 0.0)];
        }
        let hi = TENORS
            .iter()
            .position(|(_, y)| *y >= t)
            .unwrap_or(NODES - 1);
        let (t0, t1) = (TENORS[hi - 1].1, TENORS[hi].1);
        let w = (t - t0) / (t1 - t0);
        [(hi - 1, 1.0 - w), (hi, w)]
    }

    /// The zero rate (percent) at `t` years: linear in maturity between nodes, flat outside them.
    pub fn zero(&self, t: f64) -> f64 {
        Self::node_weights(t)
            .iter()
            .map(|(node, w)| w * self.zeros[*node])
            .sum()
    }

    /// The discount factor to `t` years.
    pub fn df(&self, t: f64) -> f64 {
        (-self.zero(t) / 100.0 * t).exp()
    }

    /// Every node moved by `bp` basis points.
    pub fn shifted(&self, bp: f64) -> Self {
        ZeroCurve {
            zeros: self.zeros.map(|z| z + bp * BP),
        }
    }

    /// Only node `node` moved by `bp` basis points (a key-rate bump).
    pub fn node_shifted(&self, node: usize, bp: f64) -> Self {
        let mut c = *self;
        c.zeros[node] += bp * BP;
        c
    }
}

/// A fixed-coupon Treasury note or bond: semi-annual coupons, principal at maturity. Prices are per 100 face.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bond {
    /// Annual coupon rate, percent (paid as `coupon / 2` twice a year).
    pub coupon: f64,
    /// Years to maturity from the as-of date.
    pub maturity: f64,
}

impl Bond {
    /// Coupon dates fall every half year back from maturity; the first one left is at `t1 ∈ (0, 0.5]`.
    fn periods(&self) -> (usize, f64) {
        let n = ((2.0 * self.maturity) - 1e-9).ceil().max(1.0) as usize;
        let t1 = self.maturity - 0.5 * (n as f64 - 1.0);
        (n, t1)
    }

    /// The remaining cash flows as (years, amount per 100 face), in time order.
    pub fn cash_flows(&self) -> Vec<(f64, f64)> {
        let (n, t1) = self.periods();
        (0..n)
            .map(|k| {
                let t = t1 + 0.5 * k as f64;
                let amount = self.coupon / 2.0 + if k + 1 == n { 100.0 } else { 0.0 };
                (t, amount)
            })
            .collect()
    }

    /// Interest accrued since the last coupon date (per 100 face): the buyer pays it on top of the clean price.
    pub fn accrued(&self) -> f64 {
        let (_, t1) = self.periods();
        self.coupon / 2.0 * (0.5 - t1) / 0.5
    }

    /// The full (dirty) price off the curve: every cash flow discounted.
    pub fn dirty_price(&self, curve: &ZeroCurve) -> f64 {
        self.cash_flows()
            .iter()
            .map(|(t, cf)| cf * curve.df(*t))
            .sum()
    }

    /// The quoted (clean) price off the curve.
    pub fn clean_price(&self, curve: &ZeroCurve) -> f64 {
        self.dirty_price(curve) - self.accrued()
    }

    /// The dirty price at a semi-annual bond-equivalent yield `y_pct` (street convention, fractional first
    /// period discounted at the same rate).
    pub fn dirty_from_yield(&self, y_pct: f64) -> f64 {
        let g = 1.0 + y_pct / 200.0;
        self.cash_flows()
            .iter()
            .map(|(t, cf)| cf * g.powf(-2.0 * t))
            .sum()
    }

    /// The yield to maturity (semi-annual, percent) that reprices `dirty` exactly, by Newton's method. The price
    /// is a smooth, decreasing, convex function of the yield, so Newton from the coupon converges in a few steps.
    pub fn yield_from_dirty(&self, dirty: f64) -> f64 {
        let flows = self.cash_flows();
        let mut y = self.coupon.max(0.5);
        for _ in 0..100 {
            let g = 1.0 + y / 200.0;
            let (mut f, mut df) = (-dirty, 0.0);
            for &(t, cf) in &flows {
                f += cf * g.powf(-2.0 * t);
                // d/dy of g^(−2t) = −2t·g^(−2t−1)·(1/200).
                df += cf * (-2.0 * t) * g.powf(-2.0 * t - 1.0) / 200.0;
            }
            let step = f / df;
            y -= step;
            if step.abs() < 1e-12 {
                break;
            }
        }
        y
    }
}

/// A vanilla fixed-vs-float swap on an annual fixed leg, valued single-curve: at a reset date the floating leg
/// is worth par, so its value is `1 − DF(T)` per unit notional. Values are per unit notional for the
/// **receiver** of fixed; the payer's value is the negative.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Swap {
    /// The fixed rate, percent per year.
    pub fixed_rate: f64,
    /// Whole years to maturity (one fixed payment a year).
    pub years: u32,
}

impl Swap {
    /// The fixed leg's annuity: the value of receiving 1 per year, `Σ DF(i)`.
    pub fn annuity(&self, curve: &ZeroCurve) -> f64 {
        (1..=self.years).map(|i| curve.df(f64::from(i))).sum()
    }

    /// The floating leg's value per unit notional.
    pub fn float_leg(&self, curve: &ZeroCurve) -> f64 {
        1.0 - curve.df(f64::from(self.years))
    }

    /// The fixed rate (percent) at which the swap is worth zero.
    pub fn par_rate(&self, curve: &ZeroCurve) -> f64 {
        100.0 * self.float_leg(curve) / self.annuity(curve)
    }

    /// The receiver's value per unit notional: fixed leg minus floating leg.
    pub fn receiver_value(&self, curve: &ZeroCurve) -> f64 {
        self.fixed_rate / 100.0 * self.annuity(curve) - self.float_leg(curve)
    }
}

/// What a position holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Instrument {
    /// A Treasury: notional is face value, positive = long.
    Ust(Bond),
    /// A swap: notional positive = receive fixed, negative = pay fixed.
    Irs(Swap),
}

impl Instrument {
    /// Years to the last cash flow.
    pub fn maturity(&self) -> f64 {
        match self {
            Instrument::Ust(b) => b.maturity,
            Instrument::Irs(s) => f64::from(s.years),
        }
    }

    /// `UST` or `IRS`.
    pub fn kind(&self) -> &'static str {
        match self {
            Instrument::Ust(_) => "UST",
            Instrument::Irs(_) => "IRS",
        }
    }

    /// The coupon or fixed rate, percent.
    pub fn coupon(&self) -> f64 {
        match self {
            Instrument::Ust(b) => b.coupon,
            Instrument::Irs(s) => s.fixed_rate,
        }
    }

    /// The instrument as a sum of discount factors: `(c, [(t, w)])` with value per unit of signed notional
    /// `c + Σ w·DF(t)`. Both instruments are linear in discount factors (a bond's cash flows; a swap's fixed
    /// coupons plus `DF(T) − 1` for receiving fixed against a par floating leg), which is what lets `book`
    /// evaluate curve bumps flow by flow.
    pub fn flows(&self) -> (f64, Vec<(f64, f64)>) {
        match self {
            Instrument::Ust(b) => (
                0.0,
                b.cash_flows()
                    .into_iter()
                    .map(|(t, cf)| (t, cf / 100.0))
                    .collect(),
            ),
            Instrument::Irs(s) => {
                let k = s.fixed_rate / 100.0;
                let mut f: Vec<(f64, f64)> = (1..=s.years).map(|i| (f64::from(i), k)).collect();
                f.push((f64::from(s.years), 1.0));
                (-1.0, f)
            }
        }
    }

    /// Value per unit of signed notional. Both signs are chosen so that a positive notional is long duration
    /// (gains when rates fall): a long bond, a received swap.
    pub fn unit_value(&self, curve: &ZeroCurve) -> f64 {
        match self {
            Instrument::Ust(b) => b.dirty_price(curve) / 100.0,
            Instrument::Irs(s) => s.receiver_value(curve),
        }
    }

    /// The instrument's own quote: (clean price per 100, yield to maturity %) for a Treasury, (no price, par
    /// rate %) for a swap.
    pub fn quote(&self, curve: &ZeroCurve) -> (Option<f64>, f64) {
        match self {
            Instrument::Ust(b) => {
                let dirty = b.dirty_price(curve);
                (Some(dirty - b.accrued()), b.yield_from_dirty(dirty))
            }
            Instrument::Irs(s) => (None, s.par_rate(curve)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sloped() -> ZeroCurve {
        ZeroCurve::new(TENORS.map(|(_, t)| 4.0 + 0.03 * t))
    }

    #[test]
    fn discount_factors_interpolate_zero_rates_linearly_and_extrapolate_flat() {
        let c = sloped();
        assert!((c.zero(10.0) - 4.3).abs() < 1e-12);
        // Halfway between 10Y (4.3) and 20Y (4.6).
        assert!((c.zero(15.0) - 4.45).abs() < 1e-12);
        assert!((c.df(15.0) - (-0.0445f64 * 15.0).exp()).abs() < 1e-15);
        assert_eq!(c.zero(40.0), c.zeros[NODES - 1]);
        assert_eq!(c.zero(0.01), c.zeros[0]);
        assert!((c.df(0.0) - 1.0).abs() < 1e-15);
        // Discount factors fall with maturity on a positive curve.
        let dfs: Vec<f64> = (1..=60).map(|h| c.df(h as f64 / 2.0)).collect();
        assert!(dfs.windows(2).all(|w| w[1] < w[0]));
    }

    #[test]
    fn a_bond_with_the_curves_semiannual_coupon_prices_at_par_on_a_flat_curve() {
        // A flat 4% continuous curve is 2·(e^(0.02) − 1) semi-annual: a bond paying that coupon is worth 100,
        // and its yield to maturity is that coupon.
        let z = 4.0;
        let c_semi = 200.0 * ((z / 200.0f64).exp() - 1.0);
        let b = Bond {
            coupon: c_semi,
            maturity: 10.0,
        };
        let curve = ZeroCurve::flat(z);
        assert!((b.clean_price(&curve) - 100.0).abs() < 1e-9);
        assert!((b.yield_from_dirty(b.dirty_price(&curve)) - c_semi).abs() < 1e-9);
        assert_eq!(b.cash_flows().len(), 20);
        assert_eq!(b.accrued(), 0.0);
    }

    #[test]
    fn price_and_yield_round_trip() {
        let curve = sloped();
        for (coupon, maturity) in [
            (4.25, 2.0),
            (0.5, 9.5),
            (6.0, 29.5),
            (4.125, 6.8),
            (3.0, 0.3),
        ] {
            let b = Bond { coupon, maturity };
            let dirty = b.dirty_price(&curve);
            let y = b.yield_from_dirty(dirty);
            assert!(
                (b.dirty_from_yield(y) - dirty).abs() < 1e-9,
                "price → yield → price for {b:?}"
            );
            for y0 in [0.1, 3.7, 4.4, 9.0] {
                let back = b.yield_from_dirty(b.dirty_from_yield(y0));
                assert!((back - y0).abs() < 1e-9, "yield → price → yield {y0} {b:?}");
            }
        }
    }

    #[test]
    fn a_bond_between_coupon_dates_carries_accrued_interest() {
        let b = Bond {
            coupon: 4.0,
            maturity: 6.8,
        };
        let flows = b.cash_flows();
        assert!((flows[0].0 - 0.3).abs() < 1e-12);
        assert!((flows.last().unwrap().0 - 6.8).abs() < 1e-12);
        // 0.2 of a 0.5-year period has run: 40% of a 2.0 coupon.
        assert!((b.accrued() - 0.8).abs() < 1e-12);
        let c = sloped();
        assert!((b.dirty_price(&c) - b.clean_price(&c) - 0.8).abs() < 1e-12);
    }

    #[test]
    fn a_swap_at_its_par_rate_is_worth_zero_and_receiving_above_par_is_worth_money() {
        let c = sloped();
        let par = Swap {
            fixed_rate: 0.0,
            years: 10,
        }
        .par_rate(&c);
        let at_par = Swap {
            fixed_rate: par,
            years: 10,
        };
        assert!(at_par.receiver_value(&c).abs() < 1e-14);
        let rich = Swap {
            fixed_rate: par + 0.10,
            years: 10,
        };
        // 10bp above par on the annuity.
        let expect = 0.001 * rich.annuity(&c);
        assert!((rich.receiver_value(&c) - expect).abs() < 1e-14);
        // On a flat continuous curve, the annual par rate is e^z − 1.
        let flat = ZeroCurve::flat(4.0);
        assert!((at_par.par_rate(&flat) - 100.0 * (0.04f64.exp() - 1.0)).abs() < 1e-10);
    }

    #[test]
    fn node_bumps_sum_to_a_parallel_bump() {
        let c = sloped();
        for t in [0.05, 0.7, 2.5, 9.5, 17.0, 35.0] {
            let parallel = c.shifted(1.0).zero(t) - c.zero(t);
            let by_node: f64 = (0..NODES)
                .map(|i| c.node_shifted(i, 1.0).zero(t) - c.zero(t))
                .sum();
            assert!((parallel - by_node).abs() < 1e-12, "{t}");
            assert!((parallel - BP).abs() < 1e-12);
        }
    }

    #[test]
    fn instruments_are_their_discounted_flows() {
        let c = sloped();
        let insts = [
            Instrument::Ust(Bond {
                coupon: 4.125,
                maturity: 6.8,
            }),
            Instrument::Irs(Swap {
                fixed_rate: 4.4,
                years: 30,
            }),
        ];
        for i in insts {
            let (k, flows) = i.flows();
            let v = k + flows.iter().map(|(t, w)| w * c.df(*t)).sum::<f64>();
            assert!((v - i.unit_value(&c)).abs() < 1e-14, "{i:?}");
        }
    }
}
