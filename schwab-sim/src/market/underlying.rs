//! An underlying's state during the day (the walk, the day's range and volume, its inside market) and how it is
//! quoted. The walk itself is stepped by [`Market::step`](super::Market::step), which moves every underlying
//! off one market factor.

use rand::Rng;

use super::params::pct;
use super::specs::{AssetKind, UnderlyingSpec};
use crate::pricing::round_to;

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
    /// The mean-reverting noise on the ATM vol, stepped by the market.
    pub(super) vol_noise: f64,
    pub high52: f64,
    pub low52: f64,
    pub quote_time: i64,
    pub trade_time: i64,
    /// The minute the live walk started (the market's creation): bars from it on are recorded, before it synthetic.
    pub live_from: i64,
    /// The price when the live walk started: the synthetic past ends here.
    pub live_open: f64,
    /// The recorded 1-minute bars, oldest first (see `bars.rs`).
    pub bars: std::collections::VecDeque<tickdesk_wire::bars::Bar>,
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

/// An equity's inside market: a cent or two wide around the walk; an index has no bid or ask.
pub(super) fn quote_underlying(u: &mut Underlying, rng: &mut impl Rng, now_ms: i64) {
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
