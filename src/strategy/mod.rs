//! Strategies' host side: the pairs configuration (`config/pairs.toml`) and the context a
//! strategy's `on_cycle(ctx)` receives, the same live, on paper and in a backtest.

pub mod pairs;
pub mod performance;

pub use pairs::{PairConfig, PairsFile, load_pairs};
