//! A backtest's stand-ins for the store behind the host API: bars from the loaded history, the
//! per-script state in memory, and the pair-table writes kept for the report. The same script
//! calls the same functions; only where the answers come from changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use rhai::Dynamic;

use super::data::Bars;
use super::records::Recorder;
use crate::domain::{Symbol, Timeframe};

/// Bars as of a time, from memory.
pub trait MarketView: Send + Sync {
    /// The latest `count` bars of `symbol` in `timeframe` that started at or before `now`.
    fn bars(
        &self,
        symbol: &Symbol,
        timeframe: Timeframe,
        count: usize,
        now: DateTime<Utc>,
    ) -> Result<Bars, String>;
    /// The close of the latest bar of `symbol` at or before `now`.
    fn latest_price(&self, symbol: &Symbol, now: DateTime<Utc>) -> Option<f64>;
}

/// What a backtest puts in place of the store for scripts.
pub struct Overlay {
    /// The history.
    pub market: Arc<dyn MarketView>,
    /// Per-script state for this run only, by key.
    pub state: Mutex<HashMap<String, Dynamic>>,
    /// The pair-table writes.
    pub recorder: Arc<dyn Recorder>,
}

impl Overlay {
    /// An overlay with empty state.
    pub fn new(market: Arc<dyn MarketView>, recorder: Arc<dyn Recorder>) -> Self {
        Self {
            market,
            state: Mutex::new(HashMap::new()),
            recorder,
        }
    }
}
