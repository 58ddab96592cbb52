//! The [`Market`]: every underlying and listed contract, and the day. It lists the day's series at the open,
//! rolls the day at the New York date change, and steps the walk, the vols and the random trades; repricing is
//! lazy (watched contracts every step, the others when they trade or are read).

use std::collections::HashMap;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tickdesk_market::calendar;
use tickdesk_market::zone::et_date;
use tickdesk_market::Date;

use super::contract::{reprice, Contract};
use super::draws::{hash_mix, normal, poisson, trade_size, unit};
use super::osi::{option_description, osi_symbol};
use super::params::{
    MARKET_VOL, RATE, SESSION_SECONDS, TRADING_SECONDS_PER_YEAR, VOL_SPOT_BETA, YEAR_MS,
};
use super::series::series_for;
use super::specs::default_specs;
use super::underlying::{quote_underlying, Underlying};
use crate::pricing::{black_scholes, round_to, BsInputs};

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
    /// Option symbols halted by the exchange (a test fault): their security status says `Halted`.
    halted: std::collections::HashSet<Arc<str>>,
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
                    live_from: super::bars::minute_of(now_ms),
                    live_open: close,
                    bars: Default::default(),
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
            halted: Default::default(),
        };
        m.start_day(et_date(now_ms), now_ms);
        let open = m.is_open();
        for u in &mut m.underlyings {
            // The live walk starts here: the synthetic past ends at this price, the bars from now are recorded.
            u.live_open = u.last;
            if open {
                u.record_bar(now_ms, 0.0);
            }
        }
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
        // The previous session's close (Friday's on a Monday, 13:00 after an early close).
        let prev_close_ms = calendar::last_close(today.at_et(0, 0));
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
                    // AM-settled: trading ends the trading day before the settlement morning.
                    calendar::previous_trading_day(s.expiry)
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
                            (spec.option_activity
                                * 3.0
                                * (-0.8 * x).exp()
                                * (0.5 + r(3))
                                * round_strike_weight(strike)
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

    /// Rolls the day (relists the series) when the clock's New York date differs from the market's: the REST
    /// routes call it, so a request just after midnight never sees yesterday's series before the next tick.
    pub fn roll_to(&mut self, now_ms: i64) {
        let today = et_date(now_ms);
        if today != self.today {
            self.start_day(today, now_ms);
        }
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
            for u in &mut self.underlyings {
                u.close_out(now_ms);
            }
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
            let mut printed = 0;
            if u.spec.daily_volume > 0.0 {
                let traded =
                    u.spec.daily_volume / SESSION_SECONDS * dt_s * (0.5 + rng.random::<f64>());
                if traded >= 1.0 {
                    printed = traded as i64;
                    u.volume += printed;
                    u.last_size = 100 * rng.random_range(1..=10);
                    u.trade_time = now_ms;
                }
            } else {
                u.trade_time = now_ms;
            }
            u.record_bar(now_ms, printed as f64);
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
            // Now and then a sweep: a block many times the usual print (unusual activity to find).
            let size = if rng.random::<f64>() < SWEEP_PROBABILITY {
                trade_size(rng) * rng.random_range(40..=120)
            } else {
                trade_size(rng)
            };
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
    /// Halts (or resumes) trading in one option contract; false for an unknown symbol.
    pub fn set_halted(&mut self, symbol: &str, halted: bool) -> bool {
        let Some(c) = self.contract(symbol) else {
            return false;
        };
        let key = c.symbol.clone();
        if halted {
            self.halted.insert(key);
        } else {
            self.halted.remove(&key);
        }
        true
    }

    /// Schwab's security status of a contract: `Halted`, else `Normal` in the session and `Closed` outside it.
    pub fn security_status(&self, symbol: &str) -> &'static str {
        if self.halted.contains(symbol) {
            "Halted"
        } else if self.is_open() {
            "Normal"
        } else {
            "Closed"
        }
    }

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

/// Of the trades printed, the share that are sweeps (a block of 40–120 times a usual print).
const SWEEP_PROBABILITY: f64 = 0.002;

/// Open interest clusters at round strikes, as it does in the real market (the walls traders look for): ×3 at
/// multiples of 50, ×2 of 25, ×1.5 of 10, ×1 elsewhere.
fn round_strike_weight(strike: f64) -> f64 {
    let on = |m: f64| (strike / m - (strike / m).round()).abs() < 1e-9;
    if on(50.0) {
        3.0
    } else if on(25.0) {
        2.0
    } else if on(10.0) {
        1.5
    } else {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::params::NOT_COMPUTABLE;

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

    #[test]
    fn open_interest_clusters_at_round_strikes() {
        assert_eq!(
            [6000.0, 6025.0, 6010.0, 6005.0, 232.5].map(round_strike_weight),
            [3.0, 2.0, 1.5, 1.0, 1.0]
        );
    }
}
