//! The host-enforced risk engine (SPEC §6.3–6.4): limits, state and the check every order passes.
//!
//! Pure: state and request in, decision out. No I/O, no clock (time is passed in), no tokio, sqlx or
//! Rhai. A refusal is a value (`Outcome::Refused`), not an error, and every decision carries the
//! inputs it was made on, so the host can store "rule, inputs, outcome".

pub mod bucket;
pub mod engine;
pub mod inputs;
pub mod kelly;
pub mod limits;
mod rules;
pub mod state;

pub use bucket::TokenBucket;
pub use engine::RiskEngine;
pub use inputs::{
    CheckInputs, Decision, MarketSnapshot, OrderRequest, Outcome, PortfolioSnapshot,
    PositionSnapshot, RuleName,
};
pub use kelly::{EdgeStats, kelly_fraction, kelly_size};
pub use limits::{Direction, LimitsError, RateLimit, RiskLimits};
pub use state::{RiskState, StateError, TradingMode, trading_day};
