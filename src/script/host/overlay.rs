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
use crate::indicators::PairModel;

/// One symbol's bars up to a time, borrowed from memory: their start times and closes.
#[derive(Debug, Clone, Copy)]
pub struct Closes<'a> {
    /// Every bar's start, oldest first.
    pub times: &'a [DateTime<Utc>],
    /// Every bar's close, in the same order.
    pub close: &'a [f64],
}

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
    /// Every bar of `symbol` in `timeframe` that started at or before `now`, without copying:
    /// what `pairs::model` advances its running moments from.
    fn closes(
        &self,
        symbol: &Symbol,
        timeframe: Timeframe,
        now: DateTime<Utc>,
    ) -> Result<Closes<'_>, String>;
}

/// Which pairs model: the legs and the timeframe (its lookback and window are the model's own;
/// a call with others fits afresh).
pub type ModelKey = (Symbol, Symbol, Timeframe);

/// A pairs model and how many bars of each leg it has seen, so the next call knows whether its
/// bars are the successors (one more point) or anything else (fit afresh).
#[derive(Debug, Clone)]
pub struct TrackedModel {
    /// The running model.
    pub model: PairModel,
    /// The number of bars of leg A and of leg B up to the latest point.
    pub ends: (usize, usize),
}

/// What a backtest puts in place of the store for scripts.
pub struct Overlay {
    /// The history.
    pub market: Arc<dyn MarketView>,
    /// Per-script state for this run only, by key.
    pub state: Mutex<HashMap<String, Dynamic>>,
    /// The pair-table writes.
    pub recorder: Arc<dyn Recorder>,
    /// The pairs models kept between cycles, advanced one bar at a time.
    pub models: Mutex<HashMap<ModelKey, Option<TrackedModel>>>,
}

impl Overlay {
    /// An overlay with empty state.
    pub fn new(market: Arc<dyn MarketView>, recorder: Arc<dyn Recorder>) -> Self {
        Self {
            market,
            state: Mutex::new(HashMap::new()),
            recorder,
            models: Mutex::new(HashMap::new()),
        }
    }
}
