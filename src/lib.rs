//! tradehost: a host daemon for scripted trading.
//!
//! Modules in reading order: the pure vocabulary first, then the clock, configuration, storage,
//! market data, the HTTP API, and the application that wires them together.

pub mod clock;
pub mod config;
pub mod domain;
pub mod market;
pub mod store;
