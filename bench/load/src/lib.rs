//! The load tool's pure parts, unit-tested: frame reading ([`frames`]) and statistics ([`stats`]). The binary
//! (`src/main.rs`) drives the sockets and processes.

pub mod frames;
pub mod stats;
