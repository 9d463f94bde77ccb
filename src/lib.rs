//! tradehost: a host daemon for scripted trading.
//!
//! Modules in reading order: the pure vocabulary (`domain`), the injected clock, configuration,
//! storage, market data providers, ingestion into the store, the script runtime, the HTTP API, the application that
//! wires them together, and the command line.

pub mod domain;
pub mod indicators;
pub mod risk;

pub mod clock;
pub mod config;
pub mod events;
pub mod store;
pub mod telemetry;

pub mod analytics;
pub mod backtest;
pub mod broker;
pub mod ingest;
pub mod market;
pub mod orchestrator;
pub mod script;
pub mod strategy;
pub mod trading;

pub mod api;
pub mod app;
pub mod cli;
