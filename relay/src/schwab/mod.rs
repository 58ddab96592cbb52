//! Schwab options: the Trader API client (OAuth, REST chain, streamer session) and the built-in simulator that
//! speaks the same protocol on loopback.

pub mod sim;
