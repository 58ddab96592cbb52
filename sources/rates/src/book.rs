//! The book: positions, how each is risked off the curve, and the default book the desk opens with.
//!
//! # Sign conventions
//! - **Notional** is signed so that positive is long duration: a long Treasury (face value), or a swap where the
//!   desk *receives* fixed. Negative is a short Treasury or a swap where the desk *pays* fixed.
//! - **DV01** is the value gained when rates fall by 1bp: `(V(curve − 1bp) − V(curve + 1bp)) / 2`, a central
//!   difference of full revaluations. Positive DV01 = makes money when rates fall (long duration), so to first
//!   order `PnL ≈ −DV01 × Δy(bp)`.
//! - **Bucketed (key-rate) DV01** is the same central difference with only one tenor node bumped. Because the
//!   curve interpolates linearly between nodes, the buckets of a position add up to its DV01.

use super::curve::TENORS;
use super::pricing::{Bond, Instrument, Swap, ZeroCurve, BP, NODES};

/// A position as configured: what it is and how much, before it is marked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PositionSpec {
    pub instrument: Instrument,
    /// Signed notional, see the module's conventions.
    pub notional: f64,
    /// PnL accumulated before today (realized and carry up to the prior close), in cents. A given of the book:
    /// the desk's history is not simulated, only today is.
    pub prior_pnl_cents: i64,
}

/// A position's risk at one curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Risk {
    /// Market value in dollars: dirty value of the face for a Treasury, the swap's PV for a swap.
    pub value: f64,
    /// Clean price per 100 (Treasuries only).
    pub price: Option<f64>,
    /// Yield to maturity (Treasury) or par swap rate (swap), percent.
    pub yield_pct: f64,
    /// Dollars per 1bp fall in every rate.
    pub dv01: f64,
    /// Dollars per 1bp fall at each tenor node alone.
    pub key_dv01: [f64; NODES],
}

/// Where a position's day PnL is measured from: the prior close for positions held overnight, the trade for
/// positions opened today. Explain uses the risk as of that point, as a desk's PnL explain does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mark {
    pub curve: ZeroCurve,
    pub value: f64,
    pub key_dv01: [f64; NODES],
}

/// A position in the book.
#[derive(Debug, Clone, PartialEq)]
pub struct Position {
    /// Stable item key, e.g. `P007`.
    pub id: String,
    pub instrument: Instrument,
    pub notional: f64,
    /// e.g. `UST 4.25% 2035` or `IRS 5Y pay fixed`.
    pub description: String,
    /// Index into [`TENORS`] of the tenor bucket the position's PnL is reported under: the node nearest its
    /// maturity.
    pub bucket: usize,
    pub prior_pnl_cents: i64,
    pub open: Mark,
    /// Opened today (by a simulated trade), so it has no PnL before today and may be unwound.
    pub intraday: bool,
}

impl Position {
    /// Marks `spec` at `curve` (its opening mark) and names it for an as-of year.
    pub fn new(
        id: String,
        spec: &PositionSpec,
        curve: &ZeroCurve,
        as_of_year: i32,
        intraday: bool,
    ) -> Self {
        let r = risk(&spec.instrument, spec.notional, curve);
        Position {
            id,
            instrument: spec.instrument,
            notional: spec.notional,
            description: describe(&spec.instrument, spec.notional, as_of_year),
            bucket: bucket_of(spec.instrument.maturity()),
            prior_pnl_cents: spec.prior_pnl_cents,
            open: Mark {
                curve: *curve,
                value: r.value,
                key_dv01: r.key_dv01,
            },
            intraday,
        }
    }

    pub fn risk(&self, curve: &ZeroCurve) -> Risk {
        risk(&self.instrument, self.notional, curve)
    }
}

/// Values `notional` of `instrument` at `curve`, with its quote, DV01 and key-rate DV01s.
///
/// The DV01s are the central differences of the module's conventions, evaluated flow by flow rather than by
/// repricing whole bumped curves, because both instruments are linear in discount factors
/// ([`Instrument::flows`]). Bumping the curve by ±h moves the zero rate at `t` by ±h·ωᵢ(t) for node `i`
/// (ωᵢ its interpolation weight, 1 for a parallel bump), which scales `DF(t)` by `e^(∓h·ωᵢ(t)·t)`. So
/// `(V(−h) − V(+h)) / 2 = Σ PV(flow) · sinh(h·ωᵢ(t)·t)`: the same number as bump-and-reprice (the tests check
/// it), for one interpolation and one exponential per flow instead of 25 revaluations per position per tick.
pub fn risk(instrument: &Instrument, notional: f64, curve: &ZeroCurve) -> Risk {
    let h = BP / 100.0; // 1bp as a decimal rate.
    let (constant, flows) = instrument.flows();
    let (mut value, mut dv01, mut key_dv01) = (constant, 0.0, [0.0; NODES]);
    for (t, w) in flows {
        let pv = w * curve.df(t);
        value += pv;
        dv01 += pv * (h * t).sinh();
        for (node, weight) in ZeroCurve::node_weights(t) {
            if weight != 0.0 {
                key_dv01[node] += pv * (h * weight * t).sinh();
            }
        }
    }
    let (price, yield_pct) = instrument.quote(curve);
    Risk {
        value: notional * value,
        price,
        yield_pct,
        dv01: notional * dv01,
        key_dv01: key_dv01.map(|k| notional * k),
    }
}

/// The tenor node nearest `maturity` years (ties go to the longer tenor).
pub fn bucket_of(maturity: f64) -> usize {
    let mut best = 0;
    for (i, (_, t)) in TENORS.iter().enumerate() {
        if (t - maturity).abs() <= (TENORS[best].1 - maturity).abs() {
            best = i;
        }
    }
    best
}

/// A rate as a desk writes it: at least two decimals, three when needed (4.25%, 4.125%, 4.50%).
pub fn fmt_rate(r: f64) -> String {
    let s = format!("{r:.3}");
    match s.strip_suffix('0') {
        Some(t) => t.to_string(),
        None => s,
    }
}

/// `UST 4.25% 2035` (the maturity year, counting whole years up from the as-of year) or `IRS 5Y pay fixed`.
pub fn describe(instrument: &Instrument, notional: f64, as_of_year: i32) -> String {
    match instrument {
        Instrument::Ust(b) => format!(
            "UST {}% {}",
            fmt_rate(b.coupon),
            as_of_year + b.maturity.ceil() as i32
        ),
        Instrument::Irs(s) => format!(
            "IRS {}Y {} fixed",
            s.years,
            if notional >= 0.0 { "receive" } else { "pay" }
        ),
    }
}

/// The desk's opening book: twelve positions from 2Y to 30Y, Treasuries and SOFR swaps, long and short, in the
/// size a rates desk runs ($15mm–$100mm). Coupons are those of notes and bonds issued near today's levels;
/// swap rates are where they were traded on earlier days, so swaps carry some PV. Curve trades pair up the way a
/// desk would hold them: long 2Y against short 3Y notes, receiving 5Y against paying 7Y and 10Y, long the 10Y
/// note against a 10Y payer (a swap-spread position), short 20Y bonds against a received 30Y swap.
pub fn default_book() -> Vec<PositionSpec> {
    let ust = |coupon, maturity, notional_mm: f64, prior: i64| PositionSpec {
        instrument: Instrument::Ust(Bond { coupon, maturity }),
        notional: notional_mm * 1e6,
        prior_pnl_cents: prior,
    };
    let irs = |fixed_rate, years, notional_mm: f64, prior: i64| PositionSpec {
        instrument: Instrument::Irs(Swap { fixed_rate, years }),
        notional: notional_mm * 1e6,
        prior_pnl_cents: prior,
    };
    vec![
        ust(4.25, 2.0, 50.0, 1_842_500),
        irs(4.10, 2, -100.0, -6_315_000),
        ust(4.375, 3.0, -25.0, 734_250),
        irs(4.20, 5, 75.0, 12_480_000),
        ust(4.125, 4.5, 40.0, -2_107_500),
        ust(4.25, 6.5, -30.0, 4_418_800),
        irs(4.55, 7, -20.0, 2_950_000),
        ust(4.25, 9.5, 60.0, -8_764_000),
        irs(4.35, 10, -50.0, 15_022_500),
        ust(4.625, 19.5, -15.0, 3_377_000),
        irs(4.30, 30, 25.0, -10_540_000),
        ust(4.75, 29.5, 20.0, 6_128_000),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve() -> ZeroCurve {
        ZeroCurve::new(TENORS.map(|(_, t)| 4.3 + 0.012 * t))
    }

    #[test]
    fn dv01_matches_the_analytic_derivative_and_a_one_sided_difference() {
        let c = curve();
        for spec in default_book() {
            let r = risk(&spec.instrument, spec.notional, &c);
            // A parallel shift of continuous zero rates scales each discount factor by e^(−Δ·t): the derivative
            // of the value is −Σ t·CF·DF, per unit of rate (decimal), so per bp it is 1e-4 of that.
            let analytic = match spec.instrument {
                Instrument::Ust(b) => {
                    spec.notional / 100.0
                        * b.cash_flows()
                            .iter()
                            .map(|(t, cf)| t * cf * c.df(*t))
                            .sum::<f64>()
                        * 1e-4
                }
                Instrument::Irs(s) => {
                    let fixed: f64 = (1..=s.years)
                        .map(|i| f64::from(i) * c.df(f64::from(i)))
                        .sum();
                    let t = f64::from(s.years);
                    spec.notional * (s.fixed_rate / 100.0 * fixed + t * c.df(t)) * 1e-4
                }
            };
            // The central difference is off by V'''·h²/6, relatively about (t·1bp)²/6: 1.5e-6 at 30 years.
            assert!(
                (r.dv01 - analytic).abs() < 1e-5 * analytic.abs(),
                "{spec:?}: {} vs {analytic}",
                r.dv01
            );
            // A small one-sided difference agrees to first order.
            let h = 0.01;
            let fd = (spec.notional * spec.instrument.unit_value(&c)
                - spec.notional * spec.instrument.unit_value(&c.shifted(h)))
                / h;
            assert!((r.dv01 - fd).abs() < 1e-3 * r.dv01.abs(), "{spec:?}");
        }
    }

    #[test]
    fn positive_notional_is_long_duration() {
        let c = curve();
        for spec in default_book() {
            let r = risk(&spec.instrument, spec.notional, &c);
            assert_eq!(r.dv01 > 0.0, spec.notional > 0.0, "{spec:?}");
            let rallied = spec.notional * spec.instrument.unit_value(&c.shifted(-5.0));
            assert_eq!(rallied > r.value, r.dv01 > 0.0, "gains when rates fall");
        }
    }

    #[test]
    fn bucketed_dv01_adds_up_to_the_parallel_dv01() {
        let c = curve();
        for spec in default_book() {
            let r = risk(&spec.instrument, spec.notional, &c);
            let sum: f64 = r.key_dv01.iter().sum();
            assert!(
                (sum - r.dv01).abs() < 1e-6 * r.dv01.abs(),
                "{spec:?}: {sum} vs {}",
                r.dv01
            );
        }
    }

    #[test]
    fn dv01s_equal_bump_and_reprice_of_the_whole_curve() {
        let c = curve();
        for spec in default_book() {
            let r = risk(&spec.instrument, spec.notional, &c);
            let v = |cc: &ZeroCurve| spec.notional * spec.instrument.unit_value(cc);
            assert!((r.value - v(&c)).abs() < 1e-6, "{spec:?}");
            let parallel = (v(&c.shifted(-1.0)) - v(&c.shifted(1.0))) / 2.0;
            assert!(
                (r.dv01 - parallel).abs() < 1e-6,
                "{spec:?}: {} vs {parallel}",
                r.dv01
            );
            for node in 0..NODES {
                let bumped = (v(&c.node_shifted(node, -1.0)) - v(&c.node_shifted(node, 1.0))) / 2.0;
                assert!(
                    (r.key_dv01[node] - bumped).abs() < 1e-6,
                    "{spec:?} node {node}: {} vs {bumped}",
                    r.key_dv01[node]
                );
            }
        }
    }

    #[test]
    fn dv01_is_sized_like_a_real_book() {
        let c = curve();
        // A 10Y note has a DV01 of roughly $800 per $1mm; a 30Y bond roughly $1,700.
        let ten = risk(
            &Instrument::Ust(Bond {
                coupon: 4.25,
                maturity: 9.5,
            }),
            1e6,
            &c,
        );
        assert!((700.0..900.0).contains(&ten.dv01), "{}", ten.dv01);
        let thirty = risk(
            &Instrument::Ust(Bond {
                coupon: 4.75,
                maturity: 29.5,
            }),
            1e6,
            &c,
        );
        assert!((1400.0..1900.0).contains(&thirty.dv01), "{}", thirty.dv01);
        assert!(ten.price.unwrap() > 90.0 && ten.price.unwrap() < 110.0);
    }

    #[test]
    fn names_and_buckets_read_like_a_desk() {
        assert_eq!(fmt_rate(4.25), "4.25");
        assert_eq!(fmt_rate(4.125), "4.125");
        assert_eq!(fmt_rate(4.5), "4.50");
        let b = Instrument::Ust(Bond {
            coupon: 4.25,
            maturity: 9.5,
        });
        assert_eq!(describe(&b, 1.0, 2025), "UST 4.25% 2035");
        let s = Instrument::Irs(Swap {
            fixed_rate: 4.0,
            years: 5,
        });
        assert_eq!(describe(&s, -1.0, 2025), "IRS 5Y pay fixed");
        assert_eq!(describe(&s, 1.0, 2025), "IRS 5Y receive fixed");
        assert_eq!(TENORS[bucket_of(9.5)].0, "10Y");
        assert_eq!(TENORS[bucket_of(4.5)].0, "5Y");
        assert_eq!(TENORS[bucket_of(29.5)].0, "30Y");
        assert_eq!(TENORS[bucket_of(2.0)].0, "2Y");
        assert_eq!(TENORS[bucket_of(6.0)].0, "7Y");
    }
}
