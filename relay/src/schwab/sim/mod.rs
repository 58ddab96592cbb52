//! The built-in Schwab simulator (REST + streamer) on loopback.
