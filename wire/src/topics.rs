//! The names of the relay's fixed topics and the curve's tenors: part of the contract, so the relay and the app
//! share one definition. (Per-underlying option topics are `chain:{UNDERLYING}:{YYYY-MM-DD}`.)

pub const CURVE: &str = "curve";
pub const SPREADS: &str = "spreads";
pub const POSITIONS: &str = "positions";
pub const PNL: &str = "pnl";
pub const SIGNALS: &str = "signals";
pub const TRADES: &str = "trades";
pub const STATUS: &str = "status";
pub const QUOTES: &str = "quotes";
/// Unusual options activity (append-only, like `signals`).
pub const ACTIVITY: &str = "activity";
/// Per-underlying options analytics: `analytics:{UNDERLYING}`.
pub const ANALYTICS_PREFIX: &str = "analytics:";

/// The curve's tenors (its item keys) with their maturity in years, shortest first.
pub const CURVE_TENORS: [(&str, f64); 11] = [
    ("1M", 1.0 / 12.0),
    ("3M", 0.25),
    ("6M", 0.5),
    ("1Y", 1.0),
    ("2Y", 2.0),
    ("3Y", 3.0),
    ("5Y", 5.0),
    ("7Y", 7.0),
    ("10Y", 10.0),
    ("20Y", 20.0),
    ("30Y", 30.0),
];
