//! The backtester (SPEC §7): the same strategy script and the same risk engine and order desk as
//! live trading, over a history in memory, with the backtest broker and a manual clock that the
//! loop moves bar by bar. Deterministic: the same history, script and settings give the same
//! trades.

pub mod history;
pub mod recorder;
mod run;

pub use history::History;
pub use recorder::BacktestRecorder;
pub use run::{BacktestResult, BacktestSettings, DeskLedger, NativeContext, NativeCycle, run};
