//! Analytics: the only module that knows polars (and plotters). Parquet archives of bars, the
//! performance metrics of a run, trade analysis, trade exports and the HTML report.
//!
//! The backtester and the daily report hand this module plain data — [`TradeRecord`]s,
//! [`EquityPoint`]s and [`ZPath`]s — and call it; nothing here reads the store or the clock.
//!
//! # Conventions (every metric follows these exactly)
//!
//! - **Returns** are simple returns of the equity series from one point to the next,
//!   `r_i = e_i / e_(i-1) - 1`. A step whose previous equity is not positive has no return and is
//!   skipped (an account at or below zero has no meaningful percentage change).
//! - **Annualisation** multiplies by `periods_per_year` (252 for daily bars, 252 × 6.5 for hourly).
//! - **Volatility** is the sample standard deviation (n − 1) of the returns × √`periods_per_year`.
//! - **Sharpe** = mean(r) / sample std(r) × √`periods_per_year`, risk-free rate 0.
//! - **Sortino** = mean(r) / downside deviation × √`periods_per_year`, where the downside deviation
//!   is the root mean square of `min(r, 0)` over *all* periods (not only the losing ones).
//! - **Total return** = last equity / first equity − 1.
//! - **CAGR** = (last / first)^(1 / years) − 1 with years = elapsed calendar days / 365.25 between the
//!   first and last equity points.
//! - **Max drawdown** is a positive fraction of the running peak, `(peak − e) / peak`; its
//!   **duration** runs from that drawdown's peak to the first point back at or above the peak, or to
//!   the last point when equity never recovered. Ties keep the first, deepest drawdown.
//! - **Calmar** = CAGR / max drawdown.
//! - **Trades** are taken in exit-time order. A win has P&L > 0, a loss P&L < 0; a trade at exactly
//!   zero counts as a trade (so it lowers the win rate) and breaks both streaks.
//! - **Win rate** = wins / trades; **profit factor** = gross wins / gross losses (both positive);
//!   **expectancy** = mean trade P&L; **average win** is the mean P&L of wins, **average loss** the
//!   mean P&L of losses (a negative number, as in the trade list).
//! - **Exposure** = share of equity points whose exposure (gross notional held) is above zero.
//!
//! Edge cases never produce NaN or a panic: a value that is undefined is `None` (serialised as
//! `null`): fewer than two equity points (no returns), a zero standard deviation (flat equity), no
//! downside, no drawdown (Calmar), no losing trade (profit factor would be infinite), no trades
//! (win rate, expectancy). Counts and sums of nothing are 0, and so is the max drawdown of a curve
//! that never fell.
//!
//! Group-bys (per pair, per period, by entry hour, weekday and holding time) are polars
//! `DataFrame::group_by`s; the scalar formulas above are plain Rust, so a reader can check them by
//! hand, and every group runs through the same formulas as the whole run.

mod analysis;
pub mod archive;
mod charts;
mod error;
mod frames;
mod grouping;
mod metrics;
mod records;
mod report;

pub use analysis::{GroupStats, HoldingBucket, TradeAnalysis, trade_analysis};
pub use error::AnalyticsError;
pub use frames::{trades_frame, write_trades_csv, write_trades_parquet};
pub use grouping::{Period, metrics_by_pair, metrics_by_period};
pub use metrics::{Metrics, metrics, periods_per_year};
pub use records::{EquityPoint, TradeRecord, ZPath};
pub use report::{ReportData, render_report, write_report};
