//! Metrics per pair and per calendar period: a polars `group_by` splits the trades (and the equity
//! points) into groups, and each group runs through the same `metrics` as the whole run.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Utc};
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::error::AnalyticsError;
use super::frames::trades_frame;
use super::metrics::{Metrics, metrics};
use super::records::{EquityPoint, TradeRecord};

/// Splits a frame's rows by the values of one text column with a polars `group_by`, in order of
/// first appearance: each key with the indexes of its rows.
fn partition(frame: &DataFrame, key: &str) -> Result<Vec<(String, Vec<usize>)>, AnalyticsError> {
    if frame.height() == 0 {
        return Ok(Vec::new());
    }
    let groups = frame.group_by_stable([key])?;
    let keys = groups.keys();
    let labels = keys
        .first()
        .ok_or_else(|| PolarsError::ColumnNotFound(key.to_owned().into()))?
        .str()?;
    let mut parts = Vec::with_capacity(labels.len());
    for (position, group) in groups.get_groups().iter().enumerate() {
        let rows: Vec<usize> = match group {
            GroupsIndicator::Idx((_, rows)) => rows.iter().map(|row| *row as usize).collect(),
            GroupsIndicator::Slice([first, length]) => {
                (first as usize..(first + length) as usize).collect()
            }
        };
        let label = labels.get(position).unwrap_or_default().to_owned();
        parts.push((label, rows));
    }
    Ok(parts)
}

/// Metrics per pair, from each pair's trades.
///
/// The equity curve belongs to the whole account, so each pair gets a *realised* curve on the
/// run's own bar times: the run's starting equity plus the P&L of the pair's trades that had exited
/// by each bar. Return metrics (total return, CAGR, volatility, Sharpe, Sortino, drawdown, Calmar)
/// are therefore the pair's contribution to the account, with P&L booked at exit. A pair's
/// exposure is the share of bars at which one of its trades was open (entry ≤ bar < exit); its
/// notional is not known here. Without equity points only the trade metrics are filled.
pub fn metrics_by_pair(
    equity: &[EquityPoint],
    trades: &[TradeRecord],
    periods_per_year: f64,
) -> Result<BTreeMap<String, Metrics>, AnalyticsError> {
    let frame = trades_frame(trades)?;
    let mut by_pair = BTreeMap::new();
    for (pair, rows) in partition(&frame, "pair")? {
        let pair_trades: Vec<TradeRecord> = rows.iter().map(|row| trades[*row].clone()).collect();
        let curve = realised_curve(equity, &pair_trades);
        by_pair.insert(pair, metrics(&curve, &pair_trades, periods_per_year));
    }
    Ok(by_pair)
}

/// The run's starting equity plus the realised P&L of `trades` at each bar, with exposure 1 while a
/// trade is open.
fn realised_curve(equity: &[EquityPoint], trades: &[TradeRecord]) -> Vec<EquityPoint> {
    let Some(start) = equity.first().map(|point| point.equity) else {
        return Vec::new();
    };
    equity
        .iter()
        .map(|point| {
            let realised: f64 = trades
                .iter()
                .filter(|trade| trade.exit_time <= point.time && trade.pnl.is_finite())
                .map(|trade| trade.pnl)
                .sum();
            let open = trades
                .iter()
                .any(|trade| trade.entry_time <= point.time && point.time < trade.exit_time);
            EquityPoint {
                time: point.time,
                equity: start + realised,
                exposure: if open { 1.0 } else { 0.0 },
            }
        })
        .collect()
}

/// A calendar period for [`metrics_by_period`], in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Period {
    /// Calendar months, labelled `2026-01`.
    Month,
    /// Calendar years, labelled `2026`.
    Year,
}

impl Period {
    /// The label of the period holding `time` (UTC); labels sort in time order.
    pub fn label(self, time: DateTime<Utc>) -> String {
        match self {
            Self::Month => format!("{:04}-{:02}", time.year(), time.month()),
            Self::Year => format!("{:04}", time.year()),
        }
    }
}

/// Metrics per calendar period (UTC), in time order, for every period with an equity point or an
/// exited trade.
///
/// `equity` must be in time order, as for [`metrics`].
///
/// A period's equity series starts from the previous period's last point, so its first return is
/// the move across the boundary and the period returns chain: the product of (1 + total return)
/// over all periods is 1 + the run's total return. That opening point does not count towards the
/// period's exposure. Trades belong to the period of their exit (when the P&L was realised). CAGR
/// is the period's return annualised over its elapsed time.
pub fn metrics_by_period(
    equity: &[EquityPoint],
    trades: &[TradeRecord],
    period: Period,
    periods_per_year: f64,
) -> Result<Vec<(String, Metrics)>, AnalyticsError> {
    let equity_labels: Vec<String> = equity
        .iter()
        .map(|point| period.label(point.time))
        .collect();
    let equity_frame = DataFrame::new(
        equity.len(),
        vec![Column::new("period".into(), equity_labels)],
    )?;
    let mut trade_frame = trades_frame(trades)?;
    let trade_labels: Vec<String> = trades
        .iter()
        .map(|trade| period.label(trade.exit_time))
        .collect();
    trade_frame.with_column(Column::new("period".into(), trade_labels))?;

    let mut periods: BTreeMap<String, (Vec<EquityPoint>, Vec<TradeRecord>)> = BTreeMap::new();
    for (label, rows) in partition(&equity_frame, "period")? {
        let first = rows.first().copied().unwrap_or_default();
        let opening = first.checked_sub(1).map(|previous| equity[previous]);
        let points = opening
            .into_iter()
            .chain(rows.iter().map(|row| equity[*row]))
            .collect();
        periods.entry(label).or_default().0 = points;
    }
    for (label, rows) in partition(&trade_frame, "period")? {
        periods.entry(label).or_default().1 = rows.iter().map(|row| trades[*row].clone()).collect();
    }
    Ok(periods
        .into_iter()
        .map(|(label, (points, period_trades))| {
            let mut result = metrics(&points, &period_trades, periods_per_year);
            let own = points
                .iter()
                .filter(|point| period.label(point.time) == label)
                .collect::<Vec<_>>();
            result.exposure = (!own.is_empty()).then(|| {
                own.iter().filter(|point| point.exposure > 0.0).count() as f64 / own.len() as f64
            });
            (label, result)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_keeps_the_order_of_first_appearance_and_every_row() {
        let frame = DataFrame::new(
            5,
            vec![Column::new(
                "key".into(),
                ["b", "a", "b", "c", "a"].map(str::to_owned).to_vec(),
            )],
        )
        .expect("frame");
        let parts = partition(&frame, "key").expect("partition");
        assert_eq!(
            parts,
            [
                ("b".to_owned(), vec![0, 2]),
                ("a".to_owned(), vec![1, 4]),
                ("c".to_owned(), vec![3]),
            ]
        );
    }

    #[test]
    fn period_labels_sort_in_time_order() {
        let time: DateTime<Utc> = "2026-03-31T23:59:59Z".parse().expect("time");
        assert_eq!(Period::Month.label(time), "2026-03");
        assert_eq!(Period::Year.label(time), "2026");
    }
}
