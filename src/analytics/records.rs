//! The plain data a run hands to analytics: closed trades, the equity curve and z-score paths.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One closed round trip of a pair (or of a single symbol).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TradeRecord {
    /// The pair (`"KO/PEP"`) or symbol traded.
    pub pair: String,
    /// When the position was opened.
    pub entry_time: DateTime<Utc>,
    /// When the position was closed.
    pub exit_time: DateTime<Utc>,
    /// `"long_spread"` or `"short_spread"` (or `"long"`/`"short"` for one symbol).
    pub direction: String,
    /// Realised P&L net of costs, in USD.
    pub pnl: f64,
    /// The z-score at entry.
    pub entry_z: f64,
    /// The z-score at exit.
    pub exit_z: f64,
    /// Why the trade closed: `exit`, `stop`, `time_stop` or `end` (closed when the run ended).
    pub exit_reason: String,
}

/// The account's equity at one time: the end of each bar of the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EquityPoint {
    /// The end of the bar.
    pub time: DateTime<Utc>,
    /// Cash plus the marked value of open positions, in USD.
    pub equity: f64,
    /// Gross notional held (sum of absolute position values), in USD; 0 when flat.
    pub exposure: f64,
}

/// A pair's z-score path with its entry and exit marks, for the report's chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZPath {
    /// The pair.
    pub pair: String,
    /// The bar times of `z`, in order.
    pub times: Vec<DateTime<Utc>>,
    /// The z-score at each of `times` (non-finite values are left out of the chart).
    pub z: Vec<f64>,
    /// Entries: when and at which z-score.
    pub entries: Vec<(DateTime<Utc>, f64)>,
    /// Exits (including stops): when and at which z-score.
    pub exits: Vec<(DateTime<Utc>, f64)>,
    /// The entry threshold (|z| above it opens a trade).
    pub entry: f64,
    /// The exit threshold (|z| below it closes a trade).
    pub exit: f64,
    /// The stop threshold (|z| above it stops a trade out).
    pub stop: f64,
}
