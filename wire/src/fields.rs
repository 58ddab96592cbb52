//! The field names of the items the relay serves, one home each: the relay, the sources, the derived topics, the
//! app and the load tool all name a field through these. PROTOCOL.md says what each one holds.

/// Last trade price (quotes, chain contracts, crypto).
pub const LAST: &str = "last";
/// Best bid and ask.
pub const BID: &str = "bid";
pub const ASK: &str = "ask";
/// Schwab's mark (mid or last, as Schwab computes it).
pub const MARK: &str = "mark";
/// The day's volume (contracts, shares or base-asset units).
pub const VOLUME: &str = "volume";
/// A contract's open interest, as of the previous close.
pub const OPEN_INTEREST: &str = "open_interest";
/// Change from the previous close, in price and in percent.
pub const NET_CHANGE: &str = "net_change";
pub const NET_CHANGE_PCT: &str = "net_change_pct";
/// A contract's strike, underlying, side (`C`/`P`) and expiry (`YYYY-MM-DD`).
pub const STRIKE: &str = "strike";
pub const UNDERLYING: &str = "underlying";
pub const SIDE: &str = "side";
pub const EXPIRY: &str = "expiry";
/// Implied volatility in percent, and the greeks, as Schwab sends them.
pub const IV: &str = "iv";
pub const DELTA: &str = "delta";
pub const GAMMA: &str = "gamma";
pub const THETA: &str = "theta";
pub const VEGA: &str = "vega";
pub const RHO: &str = "rho";
/// Whether a contract streams (`false`: a REST picture).
pub const LIVE: &str = "live";
/// Schwab's security status (`Normal`, `Halted`, …), as sent.
pub const SECURITY_STATUS: &str = "security_status";
