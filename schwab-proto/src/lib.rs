//! The Schwab Trader API's vocabulary, in one place for the Schwab client (in the relay) and the Schwab simulator:
//! the streamer's services and numbered fields, and the desk's names for the fields it shows.
//!
//! The simulator is checked independently of this crate by schwab-py (from PyPI) and by captured frames in its
//! tests, so the client and the simulator cannot agree on the same mistake unnoticed.
//!
//! # Layout
//! - [`codes`]: the streamer's response codes by name.
//! - [`rest`]: typed shapes of the REST replies the client reads as records (user preferences, expirations).
//! - [`fields`]: services, field numbers → the desk's field names and value kinds.

pub mod codes;
pub mod fields;
pub mod rest;
