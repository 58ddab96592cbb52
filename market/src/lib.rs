//! Market time for tickdesk: the one clock every market decision reads, New York time, and the US listed-options
//! calendar. Used by the relay, the Schwab simulator and the rates desk, so all three agree on "today", the
//! session and the expiries.
//!
//! # Layout
//! - [`clock`]: [`Clock`], the injectable "now": the wall clock in production, a clock started at a chosen
//!   instant for demos and replays, a frozen one for tests.
//! - [`date`]: [`Date`], a calendar date in the market's sense, with the formats Schwab and OSI symbols use.
//! - [`zone`]: New York time from the IANA database (bundled, via `jiff`): instants ↔ dates and times of day.
//! - [`calendar`]: trading days, holidays and early closes, the session's phases, the next open, expiry dates
//!   moved off holidays.
//!
//! Nothing here performs I/O or reads the wall clock except [`Clock::wall`] itself.

pub mod calendar;
pub mod clock;
pub mod date;
pub mod zone;

pub use calendar::{Phase, Session};
pub use clock::Clock;
pub use date::Date;

/// Milliseconds in a day, an hour and a minute.
pub const DAY_MS: i64 = 86_400_000;
pub const HOUR_MS: i64 = 3_600_000;
pub const MINUTE_MS: i64 = 60_000;
