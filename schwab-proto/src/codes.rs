//! The streamer's response and notify codes that a client must act on, by name (the Trader API's streamer guide;
//! the meanings and what the relay does about each are in the relay's `schwab::upstream` docs).

/// The command succeeded.
pub const SUCCESS: i64 = 0;
/// LOGIN refused: the access token is invalid or expired.
pub const LOGIN_DENIED: i64 = 3;
/// The service is not available (or not one the streamer knows).
pub const SERVICE_NOT_AVAILABLE: i64 = 11;
/// Another connection of the same user took over: this one is closed.
pub const CLOSE_CONNECTION: i64 = 12;
/// Over the number of symbols the connection may subscribe.
pub const REACHED_SYMBOL_LIMIT: i64 = 19;
/// No streamer session for these customer/correlation ids (log in again).
pub const STREAM_CONN_NOT_FOUND: i64 = 20;
/// The request was not understood.
pub const BAD_COMMAND_FORMAT: i64 = 21;
/// The streamer stops (usually "empty subscription") and closes.
pub const STOP_STREAMING: i64 = 30;
