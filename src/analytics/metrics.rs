//! The performance metrics of one equity curve and its trades, by the conventions in the module
//! documentation. Plain Rust on purpose: each formula is short enough to check by hand, and the
//! polars group-bys in `grouping` run every group through this same function.

use serde::{Deserialize, Serialize};

use super::records::{EquityPoint, TradeRecord};

/// The metrics of a run, a pair or a period. `None` marks a value that is undefined for the data
/// (see the module documentation); it serialises as `null`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Metrics {
    /// Equity at the first point.
    pub start_equity: Option<f64>,
    /// Equity at the last point.
    pub end_equity: Option<f64>,
    /// The number of returns (equity steps with a positive previous equity).
    pub periods: usize,
    /// Last equity / first equity − 1.
    pub total_return: Option<f64>,
    /// Compound annual growth over the elapsed calendar time (years = days / 365.25).
    pub cagr: Option<f64>,
    /// Sample standard deviation of the returns × √periods per year.
    pub annualised_volatility: Option<f64>,
    /// Mean / sample standard deviation of the returns × √periods per year (risk-free 0).
    pub sharpe: Option<f64>,
    /// Mean / downside deviation of the returns × √periods per year.
    pub sortino: Option<f64>,
    /// The deepest fall from a running peak, as a positive fraction of that peak.
    pub max_drawdown: f64,
    /// Seconds from the deepest drawdown's peak to its recovery (or to the last point).
    pub max_drawdown_duration_seconds: i64,
    /// CAGR / max drawdown.
    pub calmar: Option<f64>,
    /// Closed trades.
    pub trades: usize,
    /// Trades with P&L above zero.
    pub wins: usize,
    /// Trades with P&L below zero.
    pub losses: usize,
    /// Wins / trades.
    pub win_rate: Option<f64>,
    /// Sum of all trade P&L, in USD.
    pub net_pnl: f64,
    /// Sum of winning P&L, in USD (positive).
    pub gross_profit: f64,
    /// Sum of losing P&L, in USD, as a positive number.
    pub gross_loss: f64,
    /// Gross profit / gross loss; `None` when there is no loss (it would be infinite).
    pub profit_factor: Option<f64>,
    /// Mean trade P&L, in USD.
    pub expectancy: Option<f64>,
    /// Mean P&L of the winning trades, in USD.
    pub average_win: Option<f64>,
    /// Mean P&L of the losing trades, in USD (negative).
    pub average_loss: Option<f64>,
    /// The longest run of winning trades in exit order.
    pub max_consecutive_wins: usize,
    /// The longest run of losing trades in exit order.
    pub max_consecutive_losses: usize,
    /// Share of equity points with a position (exposure above zero).
    pub exposure: Option<f64>,
}

/// Computes the metrics of an equity curve (in time order) and its closed trades.
///
/// `periods_per_year` is the number of equity points in a year (252 for daily bars, 252 × 6.5 for
/// hourly); a value that is not positive and finite leaves the annualised ratios `None`.
pub fn metrics(equity: &[EquityPoint], trades: &[TradeRecord], periods_per_year: f64) -> Metrics {
    let mut result = Metrics::default();
    equity_metrics(&mut result, equity, periods_per_year);
    trade_metrics(&mut result, trades);
    result
}

/// A finite value, or `None`: the guard that keeps NaN and infinities out of every output.
fn finite(value: f64) -> Option<f64> {
    value.is_finite().then_some(value)
}

/// Simple returns between consecutive points; steps from a non-positive equity are skipped.
pub(crate) fn returns(equity: &[EquityPoint]) -> Vec<f64> {
    equity
        .windows(2)
        .filter(|pair| pair[0].equity > 0.0)
        .filter_map(|pair| finite(pair[1].equity / pair[0].equity - 1.0))
        .collect()
}

fn equity_metrics(result: &mut Metrics, equity: &[EquityPoint], periods_per_year: f64) {
    let (Some(first), Some(last)) = (equity.first(), equity.last()) else {
        return;
    };
    result.start_equity = finite(first.equity);
    result.end_equity = finite(last.equity);
    let with_position = equity.iter().filter(|point| point.exposure > 0.0).count();
    result.exposure = finite(with_position as f64 / equity.len() as f64);

    let growth = (first.equity > 0.0 && equity.len() > 1)
        .then(|| last.equity / first.equity)
        .and_then(finite);
    result.total_return = growth.map(|growth| growth - 1.0);
    let days = (last.time - first.time).num_milliseconds() as f64 / 86_400_000.0;
    let years = days / 365.25;
    result.cagr = match growth {
        Some(growth) if years > 0.0 && growth >= 0.0 => finite(growth.powf(1.0 / years) - 1.0),
        _ => None,
    };

    let returns = returns(equity);
    result.periods = returns.len();
    let annualiser =
        (periods_per_year.is_finite() && periods_per_year > 0.0).then(|| periods_per_year.sqrt());
    if let (Some(annualiser), false) = (annualiser, returns.is_empty()) {
        let count = returns.len() as f64;
        let mean = returns.iter().sum::<f64>() / count;
        if returns.len() > 1 {
            let variance = returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (count - 1.0);
            let deviation = variance.sqrt();
            result.annualised_volatility = finite(deviation * annualiser);
            if deviation > 0.0 {
                result.sharpe = finite(mean / deviation * annualiser);
            }
        }
        let downside = (returns.iter().map(|r| r.min(0.0).powi(2)).sum::<f64>() / count).sqrt();
        if downside > 0.0 {
            result.sortino = finite(mean / downside * annualiser);
        }
    }

    let (depth, duration) = max_drawdown(equity);
    result.max_drawdown = depth;
    result.max_drawdown_duration_seconds = duration;
    if depth > 0.0 {
        result.calmar = result.cagr.and_then(|cagr| finite(cagr / depth));
    }
}

/// The deepest drawdown as a positive fraction of its peak, and its duration in seconds from the
/// peak to the first point back at or above it (or to the last point).
pub(crate) fn max_drawdown(equity: &[EquityPoint]) -> (f64, i64) {
    let mut peak = 0;
    // The deepest drawdown so far: its depth, the index of its peak and of its trough.
    let mut deepest: Option<(f64, usize, usize)> = None;
    for (index, point) in equity.iter().enumerate() {
        if point.equity >= equity[peak].equity {
            peak = index;
            continue;
        }
        let top = equity[peak].equity;
        if top <= 0.0 {
            continue;
        }
        let depth = (top - point.equity) / top;
        // Strictly deeper only, so ties keep the first drawdown.
        if depth.is_finite() && deepest.is_none_or(|(best, _, _)| depth > best) {
            deepest = Some((depth, peak, index));
        }
    }
    let Some((depth, peak, trough)) = deepest else {
        return (0.0, 0);
    };
    let recovery = equity[trough..]
        .iter()
        .position(|point| point.equity >= equity[peak].equity)
        .map_or(equity.len() - 1, |offset| trough + offset);
    (
        depth,
        (equity[recovery].time - equity[peak].time).num_seconds(),
    )
}

fn trade_metrics(result: &mut Metrics, trades: &[TradeRecord]) {
    let mut ordered: Vec<&TradeRecord> = trades.iter().filter(|t| t.pnl.is_finite()).collect();
    ordered.sort_by_key(|trade| trade.exit_time);
    result.trades = ordered.len();
    if ordered.is_empty() {
        return;
    }
    let wins: Vec<f64> = ordered.iter().map(|t| t.pnl).filter(|p| *p > 0.0).collect();
    let losses: Vec<f64> = ordered.iter().map(|t| t.pnl).filter(|p| *p < 0.0).collect();
    result.wins = wins.len();
    result.losses = losses.len();
    result.win_rate = finite(wins.len() as f64 / ordered.len() as f64);
    result.net_pnl = ordered.iter().map(|t| t.pnl).sum();
    result.gross_profit = wins.iter().sum();
    result.gross_loss = -losses.iter().sum::<f64>();
    if result.gross_loss > 0.0 {
        result.profit_factor = finite(result.gross_profit / result.gross_loss);
    }
    result.expectancy = finite(result.net_pnl / ordered.len() as f64);
    if !wins.is_empty() {
        result.average_win = finite(result.gross_profit / wins.len() as f64);
    }
    if !losses.is_empty() {
        result.average_loss = finite(-result.gross_loss / losses.len() as f64);
    }
    let (mut win_run, mut loss_run) = (0, 0);
    for trade in &ordered {
        win_run = if trade.pnl > 0.0 { win_run + 1 } else { 0 };
        loss_run = if trade.pnl < 0.0 { loss_run + 1 } else { 0 };
        result.max_consecutive_wins = result.max_consecutive_wins.max(win_run);
        result.max_consecutive_losses = result.max_consecutive_losses.max(loss_run);
    }
}

/// Periods per year of an equity series from how many points it has per New York trading day:
/// 252 trading days times the points observed per day (1 for daily bars, about 7 for hourly).
pub fn periods_per_year(equity: &[EquityPoint]) -> f64 {
    let mut days: Vec<_> = equity
        .iter()
        .map(|point| {
            point
                .time
                .with_timezone(&chrono_tz::America::New_York)
                .date_naive()
        })
        .collect();
    days.dedup();
    252.0 * equity.len() as f64 / days.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeDelta, Utc};

    use super::*;

    fn curve(values: &[f64]) -> Vec<EquityPoint> {
        let start: DateTime<Utc> = "2026-01-05T00:00:00Z".parse().expect("time");
        values
            .iter()
            .enumerate()
            .map(|(day, equity)| EquityPoint {
                time: start + TimeDelta::days(day as i64),
                equity: *equity,
                exposure: 0.0,
            })
            .collect()
    }

    #[test]
    fn returns_skip_steps_from_a_non_positive_equity() {
        // 100 → 50 is −0.5; 50 → 0 is −1; 0 → 10 has no percentage and is skipped; 10 → 20 is 1.
        assert_eq!(
            returns(&curve(&[100.0, 50.0, 0.0, 10.0, 20.0])),
            [-0.5, -1.0, 1.0]
        );
    }

    #[test]
    fn ties_keep_the_first_deepest_drawdown() {
        // Two 10% drawdowns: 100 → 90 (day 0 to recovery on day 2) and 110 → 99 (day 2 to the
        // end, day 4). The first one is kept: 2 days.
        let (depth, seconds) = max_drawdown(&curve(&[100.0, 90.0, 110.0, 99.0, 105.0]));
        assert!((depth - 0.1).abs() < 1e-12);
        assert_eq!(seconds, 2 * 86_400);
    }

    #[test]
    fn a_deeper_later_drawdown_replaces_an_earlier_one() {
        // 100 → 95 (5%), then 120 → 90 (25%) from day 2, recovered on day 4 at 121.
        let (depth, seconds) = max_drawdown(&curve(&[100.0, 95.0, 120.0, 90.0, 121.0]));
        assert!((depth - 0.25).abs() < 1e-12);
        assert_eq!(seconds, 2 * 86_400);
    }

    #[test]
    fn a_non_positive_periods_per_year_leaves_annualised_ratios_empty() {
        let result = metrics(&curve(&[100.0, 110.0, 99.0]), &[], 0.0);
        assert_eq!(result.sharpe, None);
        assert_eq!(result.annualised_volatility, None);
        assert!(result.total_return.is_some());
    }
}
