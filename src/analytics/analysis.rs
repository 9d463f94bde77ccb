//! Trade analysis: count, P&L and win rate of the trades grouped by pair, by entry hour and
//! weekday in New York, and by holding time, each aggregated by a polars group-by.

use chrono::{Datelike, TimeDelta, Timelike};
use chrono_tz::America::New_York;
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::error::AnalyticsError;
use super::records::TradeRecord;

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
}
