//! The desk's views, one component per file.

pub mod analytics;
pub mod chain;
pub mod chart;
pub mod crypto;
pub mod curve_table;
pub mod error_log;
pub mod indicator;
pub mod indicators;
pub mod rates;
pub mod status;
pub mod tape;
