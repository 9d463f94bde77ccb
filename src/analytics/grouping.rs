//! Metrics and trade statistics per group — per pair, per calendar period, and by entry hour,
//! weekday and holding time — with polars `group_by` doing the grouping and the aggregation.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, TimeDelta, Timelike, Utc};
use chrono_tz::America::New_York;
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

/// How long a trade was held, in the report's buckets: each bucket includes its lower bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum HoldingBucket {
    /// Under one hour.
    UnderOneHour,
    /// One hour up to four hours.
    OneToFourHours,
    /// Four hours up to one day.
    FourHoursToOneDay,
    /// One day up to five days.
    OneToFiveDays,
    /// Five days or more.
    FiveDaysOrMore,
}

impl HoldingBucket {
    /// The bucket of a holding time (a negative one, from bad data, counts as under one hour).
    pub fn of(held: TimeDelta) -> Self {
        if held < TimeDelta::hours(1) {
            Self::UnderOneHour
        } else if held < TimeDelta::hours(4) {
            Self::OneToFourHours
        } else if held < TimeDelta::days(1) {
            Self::FourHoursToOneDay
        } else if held < TimeDelta::days(5) {
            Self::OneToFiveDays
        } else {
            Self::FiveDaysOrMore
        }
    }

    /// The label shown in reports.
    pub fn label(self) -> &'static str {
        match self {
            Self::UnderOneHour => "<1h",
            Self::OneToFourHours => "1h–4h",
            Self::FourHoursToOneDay => "4h–1d",
            Self::OneToFiveDays => "1d–5d",
            Self::FiveDaysOrMore => "≥5d",
        }
    }
}

/// Count, P&L and win rate of the trades in one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupStats {
    /// The group: a pair, an hour (`09:00`), a weekday (`Mon`) or a holding bucket (`1h–4h`).
    pub key: String,
    /// Trades in the group.
    pub trades: usize,
    /// Their summed P&L, in USD.
    pub pnl: f64,
    /// Trades with P&L above zero.
    pub wins: usize,
    /// Wins / trades (a group always has at least one trade).
    pub win_rate: f64,
    /// Mean P&L per trade, in USD.
    pub average_pnl: f64,
}

/// Trade statistics grouped four ways. Hours and weekdays are those of the entry in New York
/// (America/New_York, so daylight saving time moves the UTC hour, not the local one).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TradeAnalysis {
    /// By pair, in name order.
    pub by_pair: Vec<GroupStats>,
    /// By entry hour in New York, in hour order.
    pub by_entry_hour: Vec<GroupStats>,
    /// By entry weekday in New York, Monday first.
    pub by_weekday: Vec<GroupStats>,
    /// By holding time, shortest first.
    pub by_holding_time: Vec<GroupStats>,
}

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// Groups the trades by pair, entry hour and weekday (New York) and holding time; trades with a
/// non-finite P&L are left out. Only groups with trades appear.
pub fn trade_analysis(trades: &[TradeRecord]) -> Result<TradeAnalysis, AnalyticsError> {
    let trades: Vec<&TradeRecord> = trades
        .iter()
        .filter(|trade| trade.pnl.is_finite())
        .collect();
    if trades.is_empty() {
        return Ok(TradeAnalysis::default());
    }
    let local: Vec<_> = trades
        .iter()
        .map(|trade| trade.entry_time.with_timezone(&New_York))
        .collect();
    let buckets: Vec<HoldingBucket> = trades
        .iter()
        .map(|trade| HoldingBucket::of(trade.exit_time - trade.entry_time))
        .collect();
    let text = |name: &str, values: Vec<String>| Column::new(name.into(), values);
    let order = |name: &str, values: Vec<u32>| Column::new(name.into(), values);
    let frame = DataFrame::new(
        trades.len(),
        vec![
            text(
                "pair",
                trades.iter().map(|trade| trade.pair.clone()).collect(),
            ),
            order("pair_order", vec![0; trades.len()]),
            text(
                "hour",
                local
                    .iter()
                    .map(|time| format!("{:02}:00", time.hour()))
                    .collect(),
            ),
            order("hour_order", local.iter().map(|time| time.hour()).collect()),
            text(
                "weekday",
                local
                    .iter()
                    .map(|time| WEEKDAYS[time.weekday().num_days_from_monday() as usize].to_owned())
                    .collect(),
            ),
            order(
                "weekday_order",
                local
                    .iter()
                    .map(|time| time.weekday().num_days_from_monday())
                    .collect(),
            ),
            text(
                "holding",
                buckets
                    .iter()
                    .map(|bucket| bucket.label().to_owned())
                    .collect(),
            ),
            order(
                "holding_order",
                buckets.iter().map(|bucket| *bucket as u32).collect(),
            ),
            Column::new(
                "pnl".into(),
                trades.iter().map(|trade| trade.pnl).collect::<Vec<f64>>(),
            ),
        ],
    )?;
    Ok(TradeAnalysis {
        by_pair: group_stats(&frame, "pair")?,
        by_entry_hour: group_stats(&frame, "hour")?,
        by_weekday: group_stats(&frame, "weekday")?,
        by_holding_time: group_stats(&frame, "holding")?,
    })
}

/// Aggregates `pnl` per value of the text column `key` (sorted by `{key}_order`, then the key) with
/// a polars group-by: trades, summed P&L and wins.
fn group_stats(frame: &DataFrame, key: &str) -> Result<Vec<GroupStats>, AnalyticsError> {
    let order = format!("{key}_order");
    let summary = frame.group_by([key, order.as_str()])?.apply(|group| {
        let pnl = group.column("pnl")?.f64()?;
        let trades = group.height() as u32;
        let wins = pnl.gt(0.0).num_trues() as u32;
        let total = pnl.sum().unwrap_or(0.0);
        DataFrame::new(
            1,
            vec![
                group.column(key)?.head(Some(1)),
                group.column(&order)?.head(Some(1)),
                Column::new("trades".into(), [trades]),
                Column::new("wins".into(), [wins]),
                Column::new("pnl".into(), [total]),
            ],
        )
    })?;
    let keys = summary.column(key)?.str()?;
    let orders = summary.column(&order)?.u32()?;
    let trades = summary.column("trades")?.u32()?;
    let wins = summary.column("wins")?.u32()?;
    let pnl = summary.column("pnl")?.f64()?;
    let mut rows: Vec<(u32, GroupStats)> = (0..summary.height())
        .map(|row| {
            let count = trades.get(row).unwrap_or(0) as usize;
            let won = wins.get(row).unwrap_or(0) as usize;
            let total = pnl.get(row).unwrap_or(0.0);
            let share = |value: f64| {
                if count == 0 {
                    0.0
                } else {
                    value / count as f64
                }
            };
            let stats = GroupStats {
                key: keys.get(row).unwrap_or_default().to_owned(),
                trades: count,
                pnl: total,
                wins: won,
                win_rate: share(won as f64),
                average_pnl: share(total),
            };
            (orders.get(row).unwrap_or(0), stats)
        })
        .collect();
    rows.sort_by(|(left_order, left), (right_order, right)| {
        left_order
            .cmp(right_order)
            .then_with(|| left.key.cmp(&right.key))
    });
    Ok(rows.into_iter().map(|(_, stats)| stats).collect())
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
    fn holding_buckets_include_their_lower_bound() {
        assert_eq!(
            HoldingBucket::of(TimeDelta::seconds(-5)),
            HoldingBucket::UnderOneHour
        );
        assert_eq!(
            HoldingBucket::of(TimeDelta::hours(1)),
            HoldingBucket::OneToFourHours
        );
        assert_eq!(
            HoldingBucket::of(TimeDelta::days(1)),
            HoldingBucket::OneToFiveDays
        );
        assert_eq!(
            HoldingBucket::of(TimeDelta::days(5)),
            HoldingBucket::FiveDaysOrMore
        );
    }

    #[test]
    fn period_labels_sort_in_time_order() {
        let time: DateTime<Utc> = "2026-03-31T23:59:59Z".parse().expect("time");
        assert_eq!(Period::Month.label(time), "2026-03");
        assert_eq!(Period::Year.label(time), "2026");
    }
}
