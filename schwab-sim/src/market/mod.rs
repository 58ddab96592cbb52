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
//! - Each option is priced by Black–Scholes–Merton on a skewed smile ([`Smile`](crate::pricing::Smile)); bid/ask sit on the tick grid
//!   around that value ([`QuoteRules`](crate::pricing::QuoteRules)); trades arrive at random (more near the money and near expiry) and only
//!   ever add to the day's volume; open interest is fixed for the day (some zero).
//! - Repricing is lazy, because it is most of the cost: contracts that are streamed are repriced every step, the
//!   others when they trade or are read (the REST routes call [`Market::refresh`] / [`Market::refresh_underlying`]
//!   first), so an idle simulator costs almost nothing whatever the number of contracts.
//! - At the New York date change the day rolls: yesterday's last becomes the close, series are relisted,
//!   volumes restart.
//!
//! # Layout
//! - `specs.rs`: the listed underlyings and what shapes their options (kind, expiry style, strike grid, smile).
//! - `series.rs`: which expiries are listed on a given day ([`series_for`]), on the options calendar.
//! - `osi.rs`: the contract's OSI symbol and its human-readable description.
//! - `underlying.rs` and `contract.rs`: the day's state of one underlying and of one option, with the quoting
//!   and valuation that move them.
//! - `bars.rs`: each underlying's 1-minute bars: recorded from the walk, a deterministic past before it.
//! - `params.rs`: the model's constants (rate, year, session length, vols) and the percent change both quotes use.
//! - `draws.rs`: the random draws (seeded hashes for per-contract values, normal, Poisson, trade sizes).
//! - `state.rs`: the [`Market`] itself: listing, the day roll, the step, watching and lazy repricing.
//!
//! Everything is re-exported here, so the rest of the crate names `market::X` whatever file `X` lives in.

mod bars;
mod contract;
mod draws;
mod osi;
mod params;
mod series;
mod specs;
mod state;
mod underlying;

pub use bars::{minute_of, MINUTE_HISTORY_DAYS, RECORDED_BARS};
pub use contract::Contract;
pub use draws::normal;
pub use osi::{option_description, osi_symbol};
pub use series::{series_for, Series};
pub use specs::{default_specs, AssetKind, ExpiryStyle, Strikes, UnderlyingSpec};
pub use state::{Market, MarketConfig};
pub use underlying::Underlying;

pub use params::{NOT_COMPUTABLE, RATE};
