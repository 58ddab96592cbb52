//! The relay's integration tests, one test binary: each module was a test binary of its own, and each linked the
//! whole relay (slow on a small machine). A new test file is a module here (`mod name;`), not a new
//! `tests/*.rs`.
//!
//! The modules' tests run in parallel threads of this one process, so what a test reads of the process it reads
//! beside the others: `stall` measures the process's memory, so it takes the exclusive turn of
//! [`tickdesk_testkit::serial`] (every relay and simulator fixture holds a shared one, so it runs alone); the log
//! lines come from one global subscriber ([`common::logs`]), which keeps only what the capturing test's own thread
//! logs.

mod common;

mod access;
mod analytics;
mod bars;
mod binance;
mod edge;
mod external_sim;
mod fanout;
mod fuzz;
mod hub;
mod ondemand;
mod promises;
mod publish;
mod rates;
mod schwab_client;
mod skeleton;
mod stall;
