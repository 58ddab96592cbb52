//! The simulated options market (pure: the caller supplies the clock and the random numbers).
//!
//! # Underlyings
//! | symbol | kind | ~price | expiries | strikes |
//! |---|---|---|---|---|
//! | `$SPX` | index | 6000 | `SPXW` (PM, European) today (0DTE), the next 5 weekdays, every Friday for 6 weeks, the next 3 monthlies; `SPX` (AM-settled) monthlies | 5 within ±8%, 25 out to ±20% |
//! | `SPY` | ETF | 600 | today (0DTE), the next 5 weekdays, Fridays for 6 weeks, 3 monthlies | 1 within ±10%, 5 out to ±20% |
//! | `AAPL` | equity | 230 | Fridays for 5 weeks (today if it is a Friday), 4 monthlies | 2.5 within ±10%, 5 out to ±30% |
//! | `SIMX` | equity, only with `load_contracts` > 0 | 100 | as AAPL | evenly spaced, as many as needed |
//!
//! The market follows the US options calendar ([`tickdesk_market::calendar`]) on the clock it is given: prices
//! move only in the regular session (09:30–16:00 ET, 13:00 on early closes) and stand still at night, on weekends
//! and holidays; dailies are listed on trading days only (no 0DTE on a holiday), and a weekly or monthly whose
//! Friday is a holiday expires the trading day before. Time to expiry is measured to the clock during the session
//! (held ten minutes before the close, so today's series never reach zero time), to the open before it and to
//! ten minutes before the close after it. The relay's default demo runs the simulator on a clock that starts in a
//! session (`--sim-start auto`), so it moves whenever it is started.
//!
//! # Dynamics
//! - Underlyings follow a geometric random walk driven by one market factor (`$SPX`, with `SPY` ≈ `$SPX`/10
//!   and AAPL at beta 1.1 plus its own noise), at real-time speed (`speed` scales the variance clock).
//! - ATM implied vol moves against the underlying (spot down → vol up) plus a small mean-reverting noise.
//! - Each option is priced by Black–Scholes–Merton on a skewed smile ([`Smile`]); bid/ask sit on the tick grid
//!   around that value ([`QuoteRules`]); trades arrive at random (more near the money and near expiry) and only
//!   ever add to the day's volume; open interest is fixed for the day (some zero).
//! - Repricing is lazy, because it is most of the cost: contracts that are streamed are repriced every step, the
//!   others when they trade or are read (the REST routes call [`Market::refresh`] / [`Market::refresh_underlying`]
//!   first), so an idle simulator costs almost nothing whatever the number of contracts.
//! - At the New York date change the day rolls: yesterday's last becomes the close, series are relisted,
//!   volumes restart.

use std::collections::HashMap;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::pricing::{black_scholes, round_to, BsInputs, Greeks, QuoteRules, Smile};
use tickdesk_market::calendar;
use tickdesk_market::zone::et_date;
use tickdesk_market::{Date, DAY_MS};
use tickdesk_wire::osi::{Osi, Side};

/// The risk-free rate used for every valuation (decimal). Reported as `interestRate` 4.3 in the chain.
pub const RATE: f64 = 0.043;
/// The value Schwab reports for volatility and greeks it cannot compute.
pub const NOT_COMPUTABLE: f64 = -999.0;
const SESSION_SECONDS: f64 = 23_400.0;
const TRADING_SECONDS_PER_YEAR: f64 = 252.0 * SESSION_SECONDS;
const YEAR_MS: f64 = 365.0 * DAY_MS as f64;
/// Volatility of the market factor that drives every underlying.
const MARKET_VOL: f64 = 0.13;
/// ATM vol sensitivity to the underlying's log return since the close (spot down 1% → vol up ~3%).
const VOL_SPOT_BETA: f64 = 3.0;

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

/// One expiry of one root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    pub root: &'static str,
    pub expiry: Date,
    /// AM-settled (SPX monthlies) rather than PM.
    pub am: bool,
    /// `S` standard monthly, `W` anything else (Schwab's `expirationType`).
    pub exp_type: char,
}

/// The series listed on `today`, sorted by expiry then root.
pub fn series_for(
    style: ExpiryStyle,
    root: &'static str,
    pm_root: Option<&'static str>,
    today: Date,
) -> Vec<Series> {
    let next_trading_days = |n: usize| -> Vec<Date> {
        (1..=14)
            .map(|i| today.add_days(i))
            .filter(|d| calendar::is_trading_day(*d))
            .take(n)
            .collect()
    };
    // Fridays (and third Fridays) move to the trading day before when they are holidays.
    let fridays = |days: i64| -> Vec<Date> {
        (0..=days)
            .map(|i| today.add_days(i))
            .filter(|d| d.weekday() == 4)
            .map(calendar::expiry_for)
            .filter(|d| *d >= today)
            .collect()
    };
    let monthlies = |months: u32| -> Vec<Date> {
        (0..=months)
            .map(|m| calendar::expiry_for(today.third_friday_of_month(m)))
            .filter(|d| *d >= today)
            .collect()
    };
    let monthly_set = monthlies(4);
    let mut dates: Vec<Date> = match style {
        ExpiryStyle::Index | ExpiryStyle::Daily => {
            // No daily on a holiday or a weekend: no 0DTE then.
            let mut v: Vec<Date> = calendar::is_trading_day(today)
                .then_some(today)
                .into_iter()
                .collect();
            v.extend(next_trading_days(5));
            v.extend(fridays(45));
            v.extend(monthlies(3));
            v
        }
        ExpiryStyle::Weekly => {
            let mut v = fridays(35);
            v.extend(monthlies(4));
            v
        }
        ExpiryStyle::Every(n) => (0..=(n as i64) * 2 + 14)
            .map(|i| today.add_days(i))
            .filter(|d| calendar::is_trading_day(*d))
            .take(n)
            .collect(),
    };
    dates.sort();
    dates.dedup();
    let typ = |d: Date| if monthly_set.contains(&d) { 'S' } else { 'W' };
    let mut out: Vec<Series> = match (style, pm_root) {
        (ExpiryStyle::Index, Some(pm)) => {
            let mut v: Vec<Series> = dates
                .iter()
                .map(|d| Series {
                    root: pm,
                    expiry: *d,
                    am: false,
                    exp_type: 'W',
                })
                .collect();
            v.extend(
                monthlies(3)
                    .into_iter()
                    .filter(|d| *d > today)
                    .map(|d| Series {
                        root,
                        expiry: d,
                        am: true,
                        exp_type: 'S',
                    }),
            );
            v
        }
        _ => dates
            .iter()
            .map(|d| Series {
                root,
                expiry: *d,
                am: false,
                exp_type: typ(*d),
            })
            .collect(),
    };
    out.sort_by(|a, b| a.expiry.cmp(&b.expiry).then(a.root.cmp(b.root)));
    out
}

/// The OSI option symbol, exactly as Schwab writes it: root left-justified and space-padded to 6, `YYMMDD`,
/// `C`/`P`, strike × 1000 zero-padded to 8 (`AAPL  251219C00230000`).
pub fn osi_symbol(root: &str, expiry: Date, call: bool, strike: f64) -> String {
    let side = if call { Side::Call } else { Side::Put };
    Osi::new(root, expiry.ymd(), side, strike).to_string()
}

/// The human-readable form used by the chain's `description` and stream field 1: `AAPL 10/18/2024 230.00 C`.
pub fn option_description(root: &str, expiry: Date, call: bool, strike: f64) -> String {
    format!(
        "{root} {} {strike:.2} {}",
        expiry.mdy(),
        if call { 'C' } else { 'P' }
    )
}

/// An underlying's state during the day.
#[derive(Debug, Clone)]
pub struct Underlying {
    pub spec: UnderlyingSpec,
    /// The unrounded walk; `last` is this to the cent.
    pub spot: f64,
    pub last: f64,
    pub prev_close: f64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub volume: i64,
    pub bid: f64,
    pub ask: f64,
    pub bid_size: i64,
    pub ask_size: i64,
    pub last_size: i64,
    pub atm_vol: f64,
    vol_noise: f64,
    pub high52: f64,
    pub low52: f64,
    pub quote_time: i64,
    pub trade_time: i64,
}

impl Underlying {
    pub fn mark(&self) -> f64 {
        if self.bid > 0.0 && self.ask > 0.0 {
            round_to((self.bid + self.ask) / 2.0, 3)
        } else {
            self.last
        }
    }
    pub fn net_change(&self) -> f64 {
        round_to(self.last - self.prev_close, 2)
    }
    pub fn pct_change(&self) -> f64 {
        pct(self.last, self.prev_close)
    }
}

fn pct(now: f64, base: f64) -> f64 {
    if base == 0.0 {
        0.0
    } else {
        round_to((now - base) / base * 100.0, 4)
    }
}

/// One option contract: static terms, the model's latest valuation, and the day's market.
#[derive(Debug, Clone)]
pub struct Contract {
    pub symbol: Arc<str>,
    pub description: Arc<str>,
    /// Index into [`Market::underlyings`].
    pub underlying: usize,
    pub root: &'static str,
    pub call: bool,
    pub strike: f64,
    pub expiry: Date,
    /// The settlement instant (16:00 ET, or 09:30 ET for AM-settled).
    pub expiry_ms: i64,
    pub am: bool,
    pub exp_type: char,
    pub last_trading_day_ms: i64,
    pub open_interest: i64,
    /// Yesterday's closing price.
    pub close: f64,
    pub high52: f64,
    pub low52: f64,
    /// Expected trades per second.
    trade_rate: f64,
    /// Streamed somewhere: repriced every step (others only when they trade or are read).
    watched: bool,
    /// The model's volatility (decimal) and valuation at the last step.
    pub vol: f64,
    pub greeks: Greeks,
    pub bid: f64,
    pub ask: f64,
    pub bid_size: i64,
    pub ask_size: i64,
    pub last: f64,
    pub last_size: i64,
    pub volume: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub quote_time: i64,
    pub trade_time: i64,
}

impl Contract {
    pub fn mark(&self) -> f64 {
        round_to((self.bid + self.ask) / 2.0, 3)
    }
    /// Last − close, 0 when there is no close (Schwab's rule for field 19).
    pub fn net_change(&self) -> f64 {
        if self.close == 0.0 {
            0.0
        } else {
            round_to(self.last - self.close, 2)
        }
    }
    pub fn pct_change(&self) -> f64 {
        pct(self.last, self.close)
    }
    pub fn mark_change(&self) -> f64 {
        if self.close == 0.0 {
            0.0
        } else {
            round_to(self.mark() - self.close, 3)
        }
    }
    pub fn mark_pct_change(&self) -> f64 {
        pct(self.mark(), self.close)
    }
    /// Signed: positive in the money, negative out of it (field 11).
    pub fn money_intrinsic(&self, spot: f64) -> f64 {
        let v = if self.call {
            spot - self.strike
        } else {
            self.strike - spot
        };
        round_to(v, 2)
    }
    pub fn intrinsic(&self, spot: f64) -> f64 {
        self.money_intrinsic(spot).max(0.0)
    }
    pub fn time_value(&self, spot: f64) -> f64 {
        round_to(self.mark() - self.intrinsic(spot), 2)
    }
    pub fn in_the_money(&self, spot: f64) -> bool {
        self.money_intrinsic(spot) > 0.0
    }
    /// Whether vol and greeks can be implied: not for an option bid at 0 and worth less than half a tick.
    pub fn computable(&self, rules: &QuoteRules) -> bool {
        !(self.bid == 0.0 && self.greeks.price < rules.tick_below_3 / 2.0)
    }
    /// The option's implied vol in percent, or -999.
    pub fn vol_pct(&self, rules: &QuoteRules) -> f64 {
        if self.computable(rules) {
            round_to(self.vol * 100.0, 3)
        } else {
            NOT_COMPUTABLE
        }
    }
    /// delta, gamma, theta, vega, rho rounded for the wire, or -999 each when not computable.
    pub fn greeks_out(&self, rules: &QuoteRules) -> [f64; 5] {
        if !self.computable(rules) {
            return [NOT_COMPUTABLE; 5];
        }
        let g = &self.greeks;
        [
            round_to(g.delta, 4),
            round_to(g.gamma, 4),
            round_to(g.theta, 4),
            round_to(g.vega, 4),
            round_to(g.rho, 4),
        ]
    }
    pub fn theo(&self) -> f64 {
        round_to(self.greeks.price, 3)
    }
    /// Calendar days from `today` to expiry.
    pub fn dte(&self, today: Date) -> i64 {
        today.days_until(self.expiry)
    }
    /// Settlement letter: `P` (PM) or `A` (AM).
    pub fn settlement(&self) -> char {
        if self.am {
            'A'
        } else {
            'P'
        }
    }
}

/// How the market runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MarketConfig {
    pub seed: u64,
    /// Multiplies the walk's variance clock (1 = real-time volatility).
    pub speed: f64,
    /// Options to list on the extra `SIMX` underlying (0 = none).
    pub load_contracts: usize,
    /// Expiries `SIMX` lists: 0 for weeklies and monthlies (about 8), else one per trading day, this many.
    pub load_expiries: usize,
}

/// The whole market: underlyings, every listed contract, and the day.
#[derive(Debug)]
pub struct Market {
    pub cfg: MarketConfig,
    pub today: Date,
    pub now_ms: i64,
    pub steps: u64,
    pub underlyings: Vec<Underlying>,
    pub contracts: Vec<Contract>,
    by_symbol: HashMap<Arc<str>, usize>,
    /// How many streamer subscriptions watch each option symbol (see [`Market::watch`]).
    watchers: HashMap<Arc<str>, u32>,
    /// Running sum of the contracts' trade rates, for picking which contract a trade lands on.
    cum_rates: Vec<f64>,
}

/// A 64-bit mix of the seed, a name and a salt, for per-contract values that must not depend on listing order.
fn hash_mix(seed: u64, name: &str, salt: u64) -> u64 {
    let mut h: u64 =
        0xcbf2_9ce4_8422_2325 ^ seed.rotate_left(17) ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // splitmix64 finaliser
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// A uniform number in [0, 1) from [`hash_mix`].
fn unit(seed: u64, name: &str, salt: u64) -> f64 {
    (hash_mix(seed, name, salt) >> 11) as f64 / (1u64 << 53) as f64
}

/// A standard normal draw (Box–Muller).
pub fn normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// A Poisson draw: Knuth's product method for small means, a rounded normal for large ones.
fn poisson(rng: &mut impl Rng, lambda: f64) -> u64 {
    if lambda <= 0.0 {
        return 0;
    }
    if lambda > 30.0 {
        return (lambda + lambda.sqrt() * normal(rng)).round().max(0.0) as u64;
    }
    let limit = (-lambda).exp();
    let mut p = 1.0;
    let mut k = 0;
    loop {
        p *= rng.random::<f64>();
        if p <= limit {
            return k;
        }
        k += 1;
    }
}

/// A trade size in contracts: mostly small, sometimes a block.
fn trade_size(rng: &mut impl Rng) -> i64 {
    let u: f64 = rng.random::<f64>().max(1e-12);
    (1.0 + (-u.ln()) * 4.0).min(250.0) as i64
}

impl Market {
    /// Opens the market at `now_ms` (UTC ms), the day's series listed and a plausible morning already traded.
    pub fn new(cfg: MarketConfig, now_ms: i64) -> Market {
        let specs = default_specs(cfg.load_contracts, cfg.load_expiries);
        let underlyings = specs
            .into_iter()
            .map(|spec| {
                let close = round_to(
                    spec.price * (1.0 + 0.02 * (unit(cfg.seed, spec.symbol, 1) - 0.5)),
                    2,
                );
                Underlying {
                    spot: close,
                    last: close,
                    prev_close: close,
                    open: close,
                    high: close,
                    low: close,
                    volume: 0,
                    bid: 0.0,
                    ask: 0.0,
                    bid_size: 0,
                    ask_size: 0,
                    last_size: 0,
                    atm_vol: spec.atm_vol,
                    vol_noise: 0.0,
                    high52: round_to(close * (1.12 + 0.1 * unit(cfg.seed, spec.symbol, 2)), 2),
                    low52: round_to(close * (0.72 + 0.1 * unit(cfg.seed, spec.symbol, 3)), 2),
                    quote_time: now_ms,
                    trade_time: now_ms,
                    spec,
                }
            })
            .collect();
        let mut m = Market {
            cfg,
            today: et_date(now_ms),
            now_ms,
            steps: 0,
            underlyings,
            contracts: Vec::new(),
            by_symbol: HashMap::new(),
            watchers: HashMap::new(),
            cum_rates: Vec::new(),
        };
        m.start_day(et_date(now_ms), now_ms);
        m
    }

    /// The instant used for time to expiry: now during the regular session (at most ten minutes before the
    /// close), the open before it, ten minutes before the close after it; 12:00 ET on a day that does not trade.
    pub fn pricing_ms(&self) -> i64 {
        match calendar::session(self.today) {
            Some(s) => self.now_ms.clamp(s.open_ms, s.close_ms - 10 * 60_000),
            None => self.today.at_et(12, 0),
        }
    }

    /// True during the regular session: prices move, trades print.
    pub fn is_open(&self) -> bool {
        calendar::is_open(self.now_ms)
    }

    /// The fraction of the regular session elapsed at the market clock.
    fn session_fraction(&self) -> f64 {
        let Some(s) = calendar::session(self.today) else {
            return 0.5;
        };
        ((self.pricing_ms() - s.open_ms) as f64 / (s.close_ms - s.open_ms) as f64).clamp(0.0, 1.0)
    }

    /// Lists the day's series and sets up each underlying's morning: a seeded overnight gap, the range so far,
    /// and volume for the elapsed part of the session.
    fn start_day(&mut self, today: Date, now_ms: i64) {
        let fresh = self.contracts.is_empty() && self.steps == 0;
        self.today = today;
        self.now_ms = now_ms;
        let frac = self.session_fraction().max(0.02);
        let seed = self.cfg.seed;
        for u in &mut self.underlyings {
            if !fresh {
                u.prev_close = u.last;
            }
            let mut rng =
                StdRng::seed_from_u64(hash_mix(seed, u.spec.symbol, today.day_number() as u64));
            let gap = 0.006 * normal(&mut rng);
            u.open = round_to(u.prev_close * (0.5 * gap).exp(), 2);
            u.spot = u.prev_close * gap.exp();
            u.last = round_to(u.spot, 2);
            let range = 0.004 * frac.sqrt();
            u.high = round_to(u.open.max(u.last) * (1.0 + range * rng.random::<f64>()), 2);
            u.low = round_to(u.open.min(u.last) * (1.0 - range * rng.random::<f64>()), 2);
            u.volume = (u.spec.daily_volume * frac * (0.8 + 0.4 * rng.random::<f64>())) as i64;
            u.vol_noise = 0.0;
            u.atm_vol = u.spec.atm_vol * (-VOL_SPOT_BETA * (u.spot / u.prev_close).ln()).exp();
            u.high52 = u.high52.max(u.high);
            u.low52 = u.low52.min(u.low);
            quote_underlying(u, &mut rng, now_ms);
        }
        self.list_contracts();
    }

    fn list_contracts(&mut self) {
        let today = self.today;
        let seed = self.cfg.seed;
        let prev_close_ms = today.add_days(-1).at_et(16, 0);
        let frac = self.session_fraction().max(0.02);
        let pricing = self.pricing_ms();
        let mut contracts = Vec::new();
        for (ui, u) in self.underlyings.iter().enumerate() {
            let spec = &u.spec;
            let series = series_for(spec.style, spec.root, spec.pm_root, today);
            let strikes = spec.strikes.list(u.prev_close, series.len());
            for s in series {
                let expiry_ms = if s.am {
                    s.expiry.at_et(9, 30)
                } else {
                    s.expiry.at_et(16, 0)
                };
                let last_trading_day = if s.am {
                    let mut d = s.expiry.add_days(-1);
                    while !d.is_weekday() {
                        d = d.add_days(-1);
                    }
                    d
                } else {
                    s.expiry
                };
                for &strike in &strikes {
                    for call in [true, false] {
                        let symbol: Arc<str> = osi_symbol(s.root, s.expiry, call, strike).into();
                        // Yesterday's close, from yesterday's spot and base vol a day further from expiry.
                        let t_close = (expiry_ms - prev_close_ms) as f64 / YEAR_MS;
                        let fwd_c = u.prev_close * ((RATE - spec.div_yield) * t_close).exp();
                        let g_close = black_scholes(&BsInputs {
                            spot: u.prev_close,
                            strike,
                            t: t_close,
                            r: RATE,
                            q: spec.div_yield,
                            vol: spec.smile.vol(spec.atm_vol, strike, fwd_c, t_close),
                            call,
                        });
                        let close = round_to(g_close.price, 2);
                        let t = ((expiry_ms - pricing) as f64 / YEAR_MS).max(1e-6);
                        let x = (strike / fwd_c).ln().abs() / (spec.atm_vol * t.sqrt());
                        let dte = today.days_until(s.expiry) as f64;
                        let daily = spec.option_activity * (-1.2 * x).exp() / (1.0 + dte / 7.0);
                        let trade_rate = daily / 5.0 / SESSION_SECONDS;
                        let r = |salt| unit(seed, &symbol, salt);
                        let oi = if r(1) < 0.12 || (x > 3.0 && r(2) < 0.5) {
                            0
                        } else {
                            (spec.option_activity * 3.0 * (-0.8 * x).exp() * (0.5 + r(3))
                                / (1.0 + dte / 60.0)) as i64
                        };
                        let volume = (daily * frac * (0.5 + r(4))) as i64;
                        contracts.push(Contract {
                            description: option_description(s.root, s.expiry, call, strike).into(),
                            underlying: ui,
                            root: s.root,
                            call,
                            strike,
                            expiry: s.expiry,
                            expiry_ms,
                            am: s.am,
                            exp_type: s.exp_type,
                            last_trading_day_ms: last_trading_day.at_et(16, 0),
                            open_interest: oi,
                            close,
                            high52: round_to(close.max(0.05) * (2.0 + 3.0 * r(5)), 2),
                            low52: round_to(close * 0.3 * r(6), 2),
                            trade_rate,
                            watched: self.watchers.contains_key(&symbol),
                            vol: spec.atm_vol,
                            greeks: g_close,
                            bid: 0.0,
                            ask: 0.0,
                            bid_size: 1 + (r(7) * 40.0) as i64,
                            ask_size: 1 + (r(8) * 40.0) as i64,
                            last: close,
                            last_size: 0,
                            volume,
                            open: 0.0,
                            high: 0.0,
                            low: 0.0,
                            quote_time: self.now_ms,
                            trade_time: if volume > 0 {
                                self.now_ms
                            } else {
                                prev_close_ms
                            },
                            symbol,
                        });
                    }
                }
            }
        }
        // Value everything at the open, then give the contracts that traded this morning a day's range.
        let underlyings = &self.underlyings;
        for c in &mut contracts {
            reprice(c, &underlyings[c.underlying], pricing, self.now_ms);
            if c.volume > 0 {
                let r = |salt| unit(seed, &c.symbol, salt);
                c.last = round_to(((c.bid + c.ask) / 2.0).max(0.01), 2);
                c.last_size = 1 + (r(9) * 10.0) as i64;
                c.open = if c.close > 0.0 {
                    round_to((c.close * (0.9 + 0.2 * r(10))).max(0.01), 2)
                } else {
                    c.last
                };
                c.high = round_to(c.open.max(c.last) * (1.0 + 0.1 * r(11)), 2);
                c.low = round_to(c.open.min(c.last) * (1.0 - 0.1 * r(12)), 2).max(0.01);
            }
        }
        self.cum_rates = contracts
            .iter()
            .scan(0.0, |acc, c| {
                *acc += c.trade_rate;
                Some(*acc)
            })
            .collect();
        self.by_symbol = contracts
            .iter()
            .enumerate()
            .map(|(i, c)| (c.symbol.clone(), i))
            .collect();
        self.contracts = contracts;
    }

    /// Advances the market to `now_ms`: walks the underlyings, moves vols, prints random trades, and reprices and
    /// requotes the contracts that are watched or trade. Rolls the day first when the New York date has changed.
    ///
    /// Repricing is lazy because it is most of the cost (thousands of contracts, several times a second): a
    /// contract nobody streams is repriced when it trades, when it is read through [`Market::refresh`] /
    /// [`Market::refresh_underlying`] (the REST routes do), or when [`Market::watch`] starts streaming it.
    pub fn step(&mut self, rng: &mut impl Rng, now_ms: i64) {
        let dt_s = ((now_ms - self.now_ms).max(0) as f64 / 1000.0).min(5.0);
        let today = et_date(now_ms);
        if today != self.today {
            self.start_day(today, now_ms);
        }
        self.now_ms = now_ms;
        self.steps += 1;
        if !calendar::is_open(now_ms) {
            // Closed: quotes stand still until the next open.
            return;
        }
        let dt_y = dt_s * self.cfg.speed / TRADING_SECONDS_PER_YEAR;
        let zm = normal(rng);
        for u in &mut self.underlyings {
            let s = &u.spec;
            let var = (s.beta * MARKET_VOL).powi(2) + s.idio_vol.powi(2);
            let ret = s.beta * MARKET_VOL * dt_y.sqrt() * zm
                + s.idio_vol * dt_y.sqrt() * normal(rng)
                - 0.5 * var * dt_y;
            u.spot *= ret.exp();
            u.last = round_to(u.spot, 2);
            u.high = u.high.max(u.last);
            u.low = u.low.min(u.last);
            u.high52 = u.high52.max(u.high);
            u.low52 = u.low52.min(u.low);
            u.vol_noise =
                u.vol_noise * (1.0 - (0.01 * dt_s).min(1.0)) + 0.004 * dt_s.sqrt() * normal(rng);
            u.atm_vol = (u.spec.atm_vol
                * (-VOL_SPOT_BETA * (u.spot / u.prev_close).ln() + u.vol_noise).exp())
            .clamp(u.spec.atm_vol * 0.5, u.spec.atm_vol * 3.0);
            if u.spec.daily_volume > 0.0 {
                let traded =
                    u.spec.daily_volume / SESSION_SECONDS * dt_s * (0.5 + rng.random::<f64>());
                if traded >= 1.0 {
                    u.volume += traded as i64;
                    u.last_size = 100 * rng.random_range(1..=10);
                    u.trade_time = now_ms;
                }
            } else {
                u.trade_time = now_ms;
            }
            quote_underlying(u, rng, now_ms);
        }
        let pricing = self.pricing_ms();
        let underlyings = &self.underlyings;
        // Streamed contracts: repriced, and their sizes change now and then.
        let resize_p = 0.2 * dt_s.min(1.0);
        for c in self.contracts.iter_mut().filter(|c| c.watched) {
            reprice(c, &underlyings[c.underlying], pricing, now_ms);
            if rng.random::<f64>() < resize_p {
                c.bid_size = rng.random_range(1..=60);
                c.ask_size = rng.random_range(1..=60);
                c.quote_time = now_ms;
            }
        }
        // Trades: a Poisson number over the whole market, each landing on a contract in proportion to its rate,
        // which costs per trade rather than per contract.
        let total = self.cum_rates.last().copied().unwrap_or(0.0);
        for _ in 0..poisson(rng, total * dt_s) {
            let u = rng.random::<f64>() * total;
            let i = self
                .cum_rates
                .partition_point(|c| *c <= u)
                .min(self.contracts.len() - 1);
            let c = &mut self.contracts[i];
            reprice(c, &underlyings[c.underlying], pricing, now_ms);
            let size = trade_size(rng);
            let side: f64 = rng.random();
            let price = if c.bid == 0.0 || side < 0.4 {
                if c.bid == 0.0 {
                    c.ask
                } else {
                    c.bid
                }
            } else if side < 0.8 {
                c.ask
            } else {
                round_to((c.bid + c.ask) / 2.0, 2)
            };
            c.volume += size;
            c.last = price;
            c.last_size = size;
            c.trade_time = now_ms;
            if c.open == 0.0 {
                c.open = price;
            }
            c.high = c.high.max(price);
            c.low = if c.low == 0.0 {
                price
            } else {
                c.low.min(price)
            };
        }
    }

    /// Starts streaming a contract: it is repriced now and at every step until [`Market::unwatch`]ed as often.
    /// Counts survive the day roll (a symbol listed again is watched again).
    pub fn watch(&mut self, symbol: &str) {
        let key: Arc<str> = symbol.into();
        *self.watchers.entry(key).or_insert(0) += 1;
        if let Some(&i) = self.by_symbol.get(symbol) {
            self.contracts[i].watched = true;
            self.refresh_index(i);
        }
    }

    pub fn unwatch(&mut self, symbol: &str) {
        let Some(n) = self.watchers.get_mut(symbol) else {
            return;
        };
        *n -= 1;
        if *n == 0 {
            self.watchers.remove(symbol);
            if let Some(&i) = self.by_symbol.get(symbol) {
                self.contracts[i].watched = false;
            }
        }
    }

    /// How many contracts are being streamed.
    pub fn watched(&self) -> usize {
        self.contracts.iter().filter(|c| c.watched).count()
    }

    fn refresh_index(&mut self, i: usize) {
        let pricing = self.pricing_ms();
        let c = &mut self.contracts[i];
        reprice(c, &self.underlyings[c.underlying], pricing, self.now_ms);
    }

    /// Reprices one contract at the current market (before reading it).
    pub fn refresh(&mut self, symbol: &str) {
        if let Some(&i) = self.by_symbol.get(symbol) {
            self.refresh_index(i);
        }
    }

    /// A gap: the underlying's price is multiplied by `factor` at once (news, a halt reopening), its contracts
    /// repriced. For tests of what follows the money. Returns false for an unknown symbol.
    pub fn gap(&mut self, symbol: &str, factor: f64) -> bool {
        let Some(i) = self.underlying_index(symbol) else {
            return false;
        };
        let u = &mut self.underlyings[i];
        u.spot *= factor;
        u.last = round_to(u.spot, 2);
        u.high = u.high.max(u.last);
        u.low = u.low.min(u.last);
        self.refresh_underlying(i);
        true
    }

    /// Reprices every contract of one underlying (before serving its chain).
    pub fn refresh_underlying(&mut self, underlying: usize) {
        let pricing = self.pricing_ms();
        let now = self.now_ms;
        let underlyings = &self.underlyings;
        for c in self
            .contracts
            .iter_mut()
            .filter(|c| c.underlying == underlying)
        {
            reprice(c, &underlyings[c.underlying], pricing, now);
        }
    }

    pub fn contract(&self, symbol: &str) -> Option<&Contract> {
        self.by_symbol.get(symbol).map(|i| &self.contracts[*i])
    }

    pub fn underlying_index(&self, symbol: &str) -> Option<usize> {
        self.underlyings
            .iter()
            .position(|u| u.spec.symbol == symbol)
    }

    pub fn underlying(&self, symbol: &str) -> Option<&Underlying> {
        self.underlying_index(symbol).map(|i| &self.underlyings[i])
    }

    /// The contracts of one underlying, in listing order (expiry, root, strike, call before put).
    pub fn contracts_of(&self, underlying: usize) -> impl Iterator<Item = &Contract> {
        self.contracts
            .iter()
            .filter(move |c| c.underlying == underlying)
    }
}

/// Values a contract at the market clock and requotes it; the quote time moves only when bid or ask does.
fn reprice(c: &mut Contract, u: &Underlying, pricing_ms: i64, now_ms: i64) {
    let spec = &u.spec;
    let t = ((c.expiry_ms - pricing_ms) as f64 / YEAR_MS).max(1e-6);
    let fwd = u.spot * ((RATE - spec.div_yield) * t).exp();
    c.vol = spec.smile.vol(u.atm_vol, c.strike, fwd, t);
    c.greeks = black_scholes(&BsInputs {
        spot: u.spot,
        strike: c.strike,
        t,
        r: RATE,
        q: spec.div_yield,
        vol: c.vol,
        call: c.call,
    });
    let (bid, ask) = spec.rules.bid_ask(c.greeks.price);
    if bid != c.bid || ask != c.ask {
        c.bid = bid;
        c.ask = ask;
        c.quote_time = now_ms;
    }
}

/// An equity's inside market: a cent or two wide around the walk; an index has no bid or ask.
fn quote_underlying(u: &mut Underlying, rng: &mut impl Rng, now_ms: i64) {
    u.quote_time = now_ms;
    if u.spec.kind == AssetKind::Index {
        (u.bid, u.ask, u.bid_size, u.ask_size) = (0.0, 0.0, 0, 0);
        return;
    }
    let wide = if rng.random::<f64>() < 0.3 {
        0.02
    } else {
        0.01
    };
    u.bid = round_to(
        (u.spot * 100.0).floor() / 100.0 - if wide > 0.015 { 0.01 } else { 0.0 },
        2,
    );
    u.ask = round_to(u.bid + wide, 2);
    if rng.random::<f64>() < 0.3 {
        u.bid_size = 100 * rng.random_range(1..=20);
        u.ask_size = 100 * rng.random_range(1..=20);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn market(seed: u64) -> Market {
        // Tuesday 2025-12-09, 11:00 ET.
        let now = Date::from_ymd(2025, 12, 9).at_et(11, 0);
        Market::new(
            MarketConfig {
                seed,
                speed: 1.0,
                load_contracts: 0,
                load_expiries: 0,
            },
            now,
        )
    }

    #[test]
    fn osi_symbols_match_schwab() {
        let d = Date::from_ymd(2025, 12, 19);
        assert_eq!(osi_symbol("AAPL", d, true, 230.0), "AAPL  251219C00230000");
        assert_eq!(
            osi_symbol("SPXW", Date::from_ymd(2025, 12, 8), true, 6880.0),
            "SPXW  251208C06880000"
        );
        assert_eq!(
            osi_symbol("GOOGL", Date::from_ymd(2025, 12, 12), true, 315.0),
            "GOOGL 251212C00315000"
        );
        assert_eq!(
            osi_symbol("AAPL", Date::from_ymd(2024, 5, 17), false, 192.5),
            "AAPL  240517P00192500"
        );
        assert_eq!(osi_symbol("AAPL", d, true, 230.0).len(), 21);
        assert_eq!(
            option_description("SPXW", Date::from_ymd(2025, 12, 8), true, 6880.0),
            "SPXW 12/08/2025 6880.00 C"
        );
        assert_eq!(
            option_description("AAPL", Date::from_ymd(2024, 10, 18), false, 192.5),
            "AAPL 10/18/2024 192.50 P"
        );
    }

    #[test]
    fn series_have_0dte_weeklies_and_monthlies() {
        let tue = Date::from_ymd(2025, 12, 9);
        let spx = series_for(ExpiryStyle::Index, "SPX", Some("SPXW"), tue);
        assert_eq!(spx[0].expiry, tue);
        assert_eq!(spx[0].root, "SPXW");
        assert!(spx.iter().filter(|s| s.root == "SPXW").count() >= 10);
        // The December monthly is listed twice: AM-settled SPX ('S') and PM-settled SPXW.
        let dec19 = Date::from_ymd(2025, 12, 19);
        let on_19: Vec<_> = spx.iter().filter(|s| s.expiry == dec19).collect();
        assert_eq!(on_19.len(), 2);
        assert!(on_19
            .iter()
            .any(|s| s.root == "SPX" && s.am && s.exp_type == 'S'));
        assert!(on_19.iter().any(|s| s.root == "SPXW" && !s.am));
        // Next five weekdays skip the weekend.
        assert!(spx.iter().any(|s| s.expiry == Date::from_ymd(2025, 12, 15)));
        assert!(!spx.iter().any(|s| s.expiry == Date::from_ymd(2025, 12, 13)));
        // AAPL lists Fridays only; on a Friday, today is one of them.
        let aapl = series_for(ExpiryStyle::Weekly, "AAPL", None, tue);
        assert!(aapl.iter().all(|s| s.expiry.weekday() == 4));
        assert!(aapl.iter().any(|s| s.expiry == dec19 && s.exp_type == 'S'));
        let fri = Date::from_ymd(2025, 12, 12);
        assert_eq!(
            series_for(ExpiryStyle::Weekly, "AAPL", None, fri)[0].expiry,
            fri
        );
        // The SPX AM monthly expiring today is already settled and not listed; SPXW is.
        let spx_on_19 = series_for(ExpiryStyle::Index, "SPX", Some("SPXW"), dec19);
        assert!(!spx_on_19
            .iter()
            .any(|s| s.root == "SPX" && s.expiry == dec19));
        assert!(spx_on_19
            .iter()
            .any(|s| s.root == "SPXW" && s.expiry == dec19));
    }

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

    #[test]
    fn market_lists_everything_and_is_seeded() {
        let m = market(7);
        assert_eq!(m.today, Date::from_ymd(2025, 12, 9));
        assert!(m.contracts.len() > 5000, "{}", m.contracts.len());
        let spx = m.underlying("$SPX").unwrap();
        assert!((5800.0..6200.0).contains(&spx.last));
        // 0DTE SPXW exists and is findable by its exact symbol.
        let zero = m
            .contracts
            .iter()
            .find(|c| c.root == "SPXW" && c.expiry == m.today)
            .unwrap();
        assert_eq!(m.contract(&zero.symbol).unwrap().symbol, zero.symbol);
        // Same seed, same market; other seed, other market.
        let again = market(7);
        assert_eq!(again.underlyings[2].last, m.underlyings[2].last);
        assert_eq!(
            again.contracts[100].open_interest,
            m.contracts[100].open_interest
        );
        assert_ne!(market(8).underlyings[2].last, m.underlyings[2].last);
        // Some open interest is zero, most is not.
        let zero_oi = m.contracts.iter().filter(|c| c.open_interest == 0).count();
        assert!(zero_oi > 0 && zero_oi < m.contracts.len() / 2, "{zero_oi}");
    }

    #[test]
    fn quotes_are_consistent() {
        let m = market(3);
        for c in &m.contracts {
            let u = &m.underlyings[c.underlying];
            assert!(c.bid >= 0.0 && c.ask > c.bid, "{}", c.symbol);
            assert!(
                c.greeks.price >= c.bid - 1e-9 && c.greeks.price <= c.ask + 1e-9,
                "{}",
                c.symbol
            );
            // European: deep in-the-money puts may sit a little under intrinsic (the strike is paid later).
            assert!(
                c.greeks.price + 1e-6 >= c.intrinsic(u.spot) * 0.85,
                "{}",
                c.symbol
            );
            if c.call {
                assert!((0.0..=1.0).contains(&c.greeks.delta));
            } else {
                assert!((-1.0..=0.0).contains(&c.greeks.delta));
            }
        }
        // Near-the-money SPX options have a sensible IV around the base ATM vol.
        let spx = &m.underlyings[0];
        let atm = m
            .contracts_of(0)
            .filter(|c| m.today.days_until(c.expiry) > 20)
            .min_by(|a, b| {
                (a.strike - spx.spot)
                    .abs()
                    .total_cmp(&(b.strike - spx.spot).abs())
            })
            .unwrap();
        let iv = atm.vol_pct(&spx.spec.rules);
        assert!((8.0..30.0).contains(&iv), "{iv}");
        // A far OTM 0DTE put is worthless: -999 vol and greeks, as Schwab reports.
        let far = m
            .contracts_of(0)
            .find(|c| !c.call && c.expiry == m.today && c.strike < spx.spot * 0.85)
            .unwrap();
        assert_eq!(far.vol_pct(&spx.spec.rules), NOT_COMPUTABLE);
        assert_eq!(far.greeks_out(&spx.spec.rules), [NOT_COMPUTABLE; 5]);
    }

    #[test]
    fn volume_only_rises_and_oi_is_fixed() {
        let mut m = market(11);
        let mut rng = StdRng::seed_from_u64(1);
        let before: Vec<(i64, i64)> = m
            .contracts
            .iter()
            .map(|c| (c.volume, c.open_interest))
            .collect();
        let spot0 = m.underlyings[0].spot;
        let mut now = m.now_ms;
        for _ in 0..60 {
            now += 1000;
            m.step(&mut rng, now);
        }
        let mut rose = 0;
        for (c, (v0, oi0)) in m.contracts.iter().zip(&before) {
            assert!(c.volume >= *v0);
            assert_eq!(c.open_interest, *oi0);
            if c.volume > *v0 {
                rose += 1;
            }
        }
        assert!(rose > 10, "{rose}");
        assert_ne!(m.underlyings[0].spot, spot0);
        // SPY tracks SPX/10 closely.
        let ratio = m.underlyings[1].spot / m.underlyings[0].spot;
        assert!((0.095..0.105).contains(&ratio), "{ratio}");
    }

    #[test]
    fn only_watched_or_trading_contracts_are_repriced_until_read() {
        let mut m = market(12);
        let mut rng = StdRng::seed_from_u64(3);
        let sym = m
            .contracts_of(0)
            .find(|c| {
                m.today.days_until(c.expiry) > 20 && (c.strike - m.underlyings[0].spot).abs() < 30.0
            })
            .unwrap()
            .symbol
            .to_string();
        let other = m
            .contracts_of(0)
            .filter(|c| m.today.days_until(c.expiry) > 20)
            .nth(3)
            .unwrap()
            .symbol
            .to_string();
        m.watch(&sym);
        assert_eq!(m.watched(), 1);
        let (d0, o0) = (
            m.contract(&sym).unwrap().greeks.delta,
            m.contract(&other).unwrap().greeks.delta,
        );
        let mut now = m.now_ms;
        for _ in 0..20 {
            now += 1000;
            m.step(&mut rng, now);
        }
        assert_ne!(
            m.contract(&sym).unwrap().greeks.delta,
            d0,
            "watched: repriced every step"
        );
        m.refresh(&other);
        assert_ne!(
            m.contract(&other).unwrap().greeks.delta,
            o0,
            "refresh reprices"
        );
        m.unwatch(&sym);
        assert_eq!(m.watched(), 0);
        // Watch counts survive the day roll.
        m.watch(&other);
        m.step(&mut rng, Date::from_ymd(2025, 12, 10).at_et(10, 0));
        assert_eq!(m.watched(), usize::from(m.contract(&other).is_some()));
    }

    #[test]
    fn day_rolls_at_the_new_york_date_change() {
        let mut m = market(5);
        let mut rng = StdRng::seed_from_u64(2);
        let last = m.underlyings[2].last;
        let next = Date::from_ymd(2025, 12, 10).at_et(10, 0);
        m.step(&mut rng, next);
        assert_eq!(m.today, Date::from_ymd(2025, 12, 10));
        assert_eq!(m.underlyings[2].prev_close, last);
        assert!(m.contracts.iter().all(|c| c.expiry >= m.today));
        assert!(m
            .contracts
            .iter()
            .any(|c| c.root == "SPXW" && c.expiry == m.today));
    }

    #[test]
    fn load_underlying_has_the_requested_contracts() {
        let now = Date::from_ymd(2025, 12, 9).at_et(11, 0);
        let m = Market::new(
            MarketConfig {
                seed: 1,
                speed: 1.0,
                load_contracts: 20_000,
                load_expiries: 0,
            },
            now,
        );
        let i = m.underlying_index("SIMX").unwrap();
        let n = m.contracts_of(i).count();
        assert!((20_000..20_100).contains(&n), "{n}");
    }
}
