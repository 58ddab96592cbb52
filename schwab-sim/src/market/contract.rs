//! One option contract: its static terms, the model's latest valuation and the day's market, what the wire
//! formats read from it (mark, changes, intrinsic, implied vol and greeks or Schwab's -999), and [`reprice`]:
//! Black–Scholes on the smile at the market clock, then bid/ask on the tick grid.

use std::sync::Arc;

use tickdesk_market::Date;

use super::params::{pct, NOT_COMPUTABLE, RATE, YEAR_MS};
use super::underlying::Underlying;
use crate::pricing::{black_scholes, round_to, BsInputs, Greeks, QuoteRules};

/// One option contract: static terms, the model's latest valuation, and the day's market.
#[derive(Debug, Clone)]
pub struct Contract {
    pub symbol: Arc<str>,
    pub description: Arc<str>,
    /// Index into [`Market::underlyings`](super::Market::underlyings).
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
    pub(super) trade_rate: f64,
    /// Streamed somewhere: repriced every step (others only when they trade or are read).
    pub(super) watched: bool,
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

/// Values a contract at the market clock and requotes it; the quote time moves only when bid or ask does.
pub(super) fn reprice(c: &mut Contract, u: &Underlying, pricing_ms: i64, now_ms: i64) {
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
