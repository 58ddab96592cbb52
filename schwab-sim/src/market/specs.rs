//! The listed underlyings and everything that shapes their options: asset kind, which expiries they list, the
//! strike grid around the previous close, the smile and quoting rules. Static for the life of the simulator.

use crate::pricing::{round_to, QuoteRules, Smile};

/// What an underlying is, as Schwab types it (`assetMainType` / `assetSubType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssetKind {
    Index,
    Etf,
    Equity,
}

impl AssetKind {
    /// `assetMainType` on the stream and in quotes.
    pub fn main_type(self) -> &'static str {
        match self {
            AssetKind::Index => "INDEX",
            AssetKind::Etf | AssetKind::Equity => "EQUITY",
        }
    }

    /// `assetSubType`: none for an index.
    pub fn sub_type(self) -> Option<&'static str> {
        match self {
            AssetKind::Index => None,
            AssetKind::Etf => Some("ETF"),
            AssetKind::Equity => Some("COE"),
        }
    }
}

/// Which expiries an underlying lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryStyle {
    /// PM-settled dailies/weeklies under `pm_root` plus AM-settled monthlies under `root` (SPX/SPXW).
    Index,
    /// Dailies (incl. today), weeklies and monthlies, one root (SPY).
    Daily,
    /// Friday weeklies and monthlies (AAPL).
    Weekly,
    /// Load mode: one expiry on each of the next N trading days, today included when it trades (`SIMX` with
    /// `load_expiries`, for benchmarks that spread clients over many chain topics).
    Every(usize),
}

/// The strikes an underlying lists, fixed for the day around the previous close.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Strikes {
    /// `inner_step` apart within ±`inner_pct` of the centre, then `outer_step` apart out to ±`outer_pct`.
    Grid {
        inner_step: f64,
        inner_pct: f64,
        outer_step: f64,
        outer_pct: f64,
    },
    /// Evenly spaced from 40% to 160% of the centre, as many as it takes to list `contracts` options over
    /// `series` expiries (the load underlying).
    Count { contracts: usize },
}

impl Strikes {
    pub fn list(&self, center: f64, series: usize) -> Vec<f64> {
        let mut out = Vec::new();
        match *self {
            Strikes::Grid {
                inner_step,
                inner_pct,
                outer_step,
                outer_pct,
            } => {
                let c0 = (center / inner_step).round() * inner_step;
                let n_in = (center * inner_pct / inner_step).floor() as i64;
                for i in -n_in..=n_in {
                    out.push(c0 + i as f64 * inner_step);
                }
                let (lo_in, hi_in) = (c0 - n_in as f64 * inner_step, c0 + n_in as f64 * inner_step);
                let mut k = (hi_in / outer_step).floor() * outer_step + outer_step;
                while k <= center * (1.0 + outer_pct) {
                    out.push(k);
                    k += outer_step;
                }
                let mut k = (lo_in / outer_step).ceil() * outer_step - outer_step;
                while k >= center * (1.0 - outer_pct) && k > 0.0 {
                    out.push(k);
                    k -= outer_step;
                }
            }
            Strikes::Count { contracts } => {
                let n = contracts.div_ceil(2 * series.max(1)).max(1);
                let step = round_to((1.2 * center / n as f64).max(0.001), 3);
                let lo = round_to(center * 0.4, 2);
                for i in 0..n {
                    out.push(lo + i as f64 * step);
                }
            }
        }
        let mut out: Vec<f64> = out
            .into_iter()
            .map(|k| round_to(k, 3))
            .filter(|k| *k > 0.0)
            .collect();
        out.sort_by(f64::total_cmp);
        out.dedup();
        out
    }
}

/// A listed underlying and everything that shapes its options.
#[derive(Debug, Clone)]
pub struct UnderlyingSpec {
    pub symbol: &'static str,
    pub description: &'static str,
    pub kind: AssetKind,
    pub cusip: Option<&'static str>,
    pub exchange_name: &'static str,
    /// The option root of the monthlies (and of every series but `pm_root`'s).
    pub root: &'static str,
    /// The PM-settled root of an index's weeklies/dailies (`SPXW`).
    pub pm_root: Option<&'static str>,
    pub style: ExpiryStyle,
    pub strikes: Strikes,
    /// Reference price (the seed moves it by up to ±1%).
    pub price: f64,
    pub div_yield: f64,
    /// Base ATM implied vol (decimal).
    pub atm_vol: f64,
    pub smile: Smile,
    pub beta: f64,
    /// Own (non-market) volatility of the walk.
    pub idio_vol: f64,
    pub rules: QuoteRules,
    /// Shares a day (0 for an index).
    pub daily_volume: f64,
    /// Contracts a day traded in a near-dated ATM option.
    pub option_activity: f64,
    pub pe_ratio: f64,
    pub annual_dividend: f64,
}

/// `$SPX`, `SPY`, `AAPL`, and `SIMX` with `load_contracts` options when that is non-zero.
/// With `load_expiries` > 0, `SIMX` lists that many expiries, one per trading day ([`ExpiryStyle::Every`]).
pub fn default_specs(load_contracts: usize, load_expiries: usize) -> Vec<UnderlyingSpec> {
    let mut specs = vec![
        UnderlyingSpec {
            symbol: "$SPX",
            description: "S&P 500 INDEX",
            kind: AssetKind::Index,
            cusip: None,
            exchange_name: "IND",
            root: "SPX",
            pm_root: Some("SPXW"),
            style: ExpiryStyle::Index,
            strikes: Strikes::Grid {
                inner_step: 5.0,
                inner_pct: 0.08,
                outer_step: 25.0,
                outer_pct: 0.20,
            },
            price: 6000.0,
            div_yield: 0.013,
            atm_vol: 0.15,
            smile: Smile {
                skew: -0.14,
                curvature: 0.035,
            },
            beta: 1.0,
            idio_vol: 0.0,
            rules: QuoteRules::INDEX,
            daily_volume: 0.0,
            option_activity: 9000.0,
            pe_ratio: 0.0,
            annual_dividend: 0.0,
        },
        UnderlyingSpec {
            symbol: "SPY",
            description: "SPDR S&P 500 ETF",
            kind: AssetKind::Etf,
            cusip: Some("78462F103"),
            exchange_name: "NYSE Arca",
            root: "SPY",
            pm_root: None,
            style: ExpiryStyle::Daily,
            strikes: Strikes::Grid {
                inner_step: 1.0,
                inner_pct: 0.10,
                outer_step: 5.0,
                outer_pct: 0.20,
            },
            price: 600.0,
            div_yield: 0.012,
            atm_vol: 0.145,
            smile: Smile {
                skew: -0.14,
                curvature: 0.035,
            },
            beta: 1.0,
            idio_vol: 0.01,
            rules: QuoteRules::PENNY,
            daily_volume: 60_000_000.0,
            option_activity: 25_000.0,
            pe_ratio: 0.0,
            annual_dividend: 7.2,
        },
        UnderlyingSpec {
            symbol: "AAPL",
            description: "APPLE INC",
            kind: AssetKind::Equity,
            cusip: Some("037833100"),
            exchange_name: "NASDAQ",
            root: "AAPL",
            pm_root: None,
            style: ExpiryStyle::Weekly,
            strikes: Strikes::Grid {
                inner_step: 2.5,
                inner_pct: 0.10,
                outer_step: 5.0,
                outer_pct: 0.30,
            },
            price: 230.0,
            div_yield: 0.0045,
            atm_vol: 0.26,
            smile: Smile {
                skew: -0.08,
                curvature: 0.05,
            },
            beta: 1.1,
            idio_vol: 0.2,
            rules: QuoteRules::PENNY,
            daily_volume: 50_000_000.0,
            option_activity: 6000.0,
            pe_ratio: 35.2,
            annual_dividend: 1.04,
        },
    ];
    if load_contracts > 0 {
        specs.push(UnderlyingSpec {
            symbol: "SIMX",
            description: "SIMULATED LOAD UNDERLYING",
            kind: AssetKind::Equity,
            cusip: None,
            exchange_name: "NASDAQ",
            root: "SIMX",
            pm_root: None,
            style: if load_expiries > 0 {
                ExpiryStyle::Every(load_expiries)
            } else {
                ExpiryStyle::Weekly
            },
            strikes: Strikes::Count {
                contracts: load_contracts,
            },
            price: 100.0,
            div_yield: 0.0,
            atm_vol: 0.35,
            smile: Smile {
                skew: -0.05,
                curvature: 0.05,
            },
            beta: 1.2,
            idio_vol: 0.3,
            rules: QuoteRules::PENNY,
            daily_volume: 5_000_000.0,
            option_activity: 2000.0,
            pe_ratio: 20.0,
            annual_dividend: 0.0,
        });
    }
    specs
}
#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn strike_grids() {
        let spx = default_specs(0, 0)[0].strikes.list(6003.0, 1);
        assert!(spx.contains(&6005.0) && spx.contains(&5525.0) && spx.contains(&7200.0));
        assert!(!spx.contains(&7205.0) && !spx.contains(&4790.0));
        assert!(spx.windows(2).all(|w| w[1] > w[0]));
        let aapl = default_specs(0, 0)[2].strikes.list(231.0, 1);
        assert!(aapl.contains(&232.5) && aapl.contains(&230.0) && aapl.contains(&295.0));
        let even = Strikes::Count { contracts: 10_000 }.list(100.0, 10);
        assert_eq!(even.len(), 500);
    }
}
