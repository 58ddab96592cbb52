//! The market model's constants, and the percent change that underlyings and options both report.

use tickdesk_market::DAY_MS;

use crate::pricing::round_to;

/// The risk-free rate used for every valuation (decimal). Reported as `interestRate` 4.3 in the chain.
pub const RATE: f64 = 0.043;
/// The value Schwab reports for volatility and greeks it cannot compute.
pub const NOT_COMPUTABLE: f64 = -999.0;
pub(super) const SESSION_SECONDS: f64 = 23_400.0;
pub(super) const TRADING_SECONDS_PER_YEAR: f64 = 252.0 * SESSION_SECONDS;
pub(super) const YEAR_MS: f64 = 365.0 * DAY_MS as f64;
/// Volatility of the market factor that drives every underlying.
pub(super) const MARKET_VOL: f64 = 0.13;
/// ATM vol sensitivity to the underlying's log return since the close (spot down 1% → vol up ~3%).
pub(super) const VOL_SPOT_BETA: f64 = 3.0;

/// The change from `base` to `now` in percent (4 decimals); 0 without a base. Shared by underlyings and options.
pub(super) fn pct(now: f64, base: f64) -> f64 {
    if base == 0.0 {
        0.0
    } else {
        round_to((now - base) / base * 100.0, 4)
    }
}
