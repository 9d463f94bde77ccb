//! The pairs strategy's tables: spreads and z-scores per cycle, signals, each pair's standing, and
//! stored backtest runs.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Result, Store, from_millis, on_pool, to_millis};

/// One cycle's spread of a pair.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SpreadRecord {
    /// The strategy (script) that computed it.
    pub strategy: String,
    /// `LEGA/LEGB`.
    pub pair: String,
    /// The bar time it belongs to.
    pub time: DateTime<Utc>,
    /// OLS slope of log B on log A.
    pub hedge_ratio: f64,
    /// OLS intercept.
    pub intercept: f64,
    /// log B − β log A − α.
    pub spread: f64,
    /// Rolling z-score of the spread (None during warm-up).
    pub zscore: Option<f64>,
    /// The script version.
    pub script_hash: Option<String>,
    /// The flow run.
    pub run_id: Option<i64>,
}

/// One evaluated signal.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SignalRecord {
    /// The strategy.
    pub strategy: String,
    /// `LEGA/LEGB`.
    pub pair: String,
    /// The bar time.
    pub time: DateTime<Utc>,
    /// `enter_long_spread`, `enter_short_spread`, `exit`, `stop`, `time_stop` or `hold`.
    pub signal: String,
    /// The z-score behind it.
    pub zscore: Option<f64>,
    /// The hedge ratio then.
    pub hedge_ratio: Option<f64>,
    /// The pair's position once the signal was acted on (an entry's row says the trade it
    /// opened): `flat`, `long_spread`, `short_spread`.
    pub position: String,
    /// Why, for people.
    pub reason: String,
    /// The pair trade it opened or closed.
    pub pair_trade_id: Option<String>,
    /// The script version.
    pub script_hash: Option<String>,
    /// The flow run.
    pub run_id: Option<i64>,
}

/// A pair's standing.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PairPerformanceRecord {
    /// The strategy.
    pub strategy: String,
    /// `LEGA/LEGB`.
    pub pair: String,
    /// `flat`, `long_spread` or `short_spread`.
    pub position: String,
    /// Realised P&L, exact decimal text.
    pub realised_pnl: String,
    /// Unrealised P&L, exact decimal text.
    pub unrealised_pnl: String,
    /// Closed trades.
    pub trades: i64,
    /// Winning closed trades.
    pub wins: i64,
    /// The latest z-score.
    pub current_z: Option<f64>,
    /// Hours in the current trade.
    pub holding_hours: Option<f64>,
    /// Anything else the strategy keeps (entry time and z, hedge ratio, legs).
    pub details: serde_json::Value,
    /// The script version.
    pub script_hash: Option<String>,
    /// When it was written.
    pub updated_at: DateTime<Utc>,
}

/// A stored backtest.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct BacktestRunRecord {
    /// Its id (0 before it is stored).
    pub id: i64,
    /// When it ran (wall time).
    pub created_at: DateTime<Utc>,
    /// The strategy script's name.
    pub strategy: String,
    /// Its content hash.
    pub script_hash: String,
    /// Where the bars came from.
    pub source: String,
    /// The parameters, as given.
    pub parameters: serde_json::Value,
    /// First bar.
    pub start: DateTime<Utc>,
    /// Last bar.
    pub end: DateTime<Utc>,
    /// Bars processed (every symbol's every bar).
    pub bars: i64,
    /// The metrics.
    pub metrics: serde_json::Value,
    /// The closed trades.
    pub trades: serde_json::Value,
    /// The HTML report's path, if one was written.
    pub report: Option<String>,
}

impl Store {
    /// Stores a cycle's spread (a repeat of the same bar replaces it).
    pub async fn record_spread(&self, spread: &SpreadRecord) -> Result<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO pair_spread (strategy, pair, ts, hedge_ratio, intercept, spread, zscore, script_hash, run_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (strategy, pair, ts) DO UPDATE SET \
                 hedge_ratio = excluded.hedge_ratio, intercept = excluded.intercept, spread = excluded.spread, \
                 zscore = excluded.zscore, script_hash = excluded.script_hash, run_id = excluded.run_id",
            )
            .bind(&spread.strategy)
            .bind(&spread.pair)
            .bind(to_millis(spread.time))
            .bind(spread.hedge_ratio)
            .bind(spread.intercept)
            .bind(spread.spread)
            .bind(spread.zscore)
            .bind(&spread.script_hash)
            .bind(spread.run_id)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        self.events.touch();
        Ok(())
    }

    /// Stores a signal.
    pub async fn record_signal(&self, signal: &SignalRecord) -> Result<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO pair_signal (strategy, pair, ts, signal, zscore, hedge_ratio, position, reason, pair_trade_id, script_hash, run_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(&signal.strategy)
            .bind(&signal.pair)
            .bind(to_millis(signal.time))
            .bind(&signal.signal)
            .bind(signal.zscore)
            .bind(signal.hedge_ratio)
            .bind(&signal.position)
            .bind(&signal.reason)
            .bind(&signal.pair_trade_id)
            .bind(&signal.script_hash)
            .bind(signal.run_id)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        self.events.publish(
            crate::events::EventKind::Signal,
            serde_json::json!({
                "strategy": signal.strategy,
                "pair": signal.pair,
                "time": signal.time,
                "signal": signal.signal,
                "zscore": signal.zscore,
                "position": signal.position,
            }),
        );
        Ok(())
    }

    /// Writes a pair's standing.
    pub async fn record_pair_performance(&self, record: &PairPerformanceRecord) -> Result<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO pair_performance (strategy, pair, position, realised_pnl, unrealised_pnl, trades, wins, current_z, holding_hours, details, script_hash, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (strategy, pair) DO UPDATE SET \
                 position = excluded.position, realised_pnl = excluded.realised_pnl, unrealised_pnl = excluded.unrealised_pnl, \
                 trades = excluded.trades, wins = excluded.wins, current_z = excluded.current_z, holding_hours = excluded.holding_hours, \
                 details = excluded.details, script_hash = excluded.script_hash, updated_at = excluded.updated_at",
            )
            .bind(&record.strategy)
            .bind(&record.pair)
            .bind(&record.position)
            .bind(&record.realised_pnl)
            .bind(&record.unrealised_pnl)
            .bind(record.trades)
            .bind(record.wins)
            .bind(record.current_z)
            .bind(record.holding_hours)
            .bind(record.details.to_string())
            .bind(&record.script_hash)
            .bind(to_millis(record.updated_at))
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        self.events.touch();
        Ok(())
    }

    /// Every pair's standing, by strategy and pair.
    pub async fn pair_performance(&self) -> Result<Vec<PairPerformanceRecord>> {
        type Row = (
            String,
            String,
            String,
            String,
            String,
            i64,
            i64,
            Option<f64>,
            Option<f64>,
            String,
            Option<String>,
            i64,
        );
        let rows: Vec<Row> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT strategy, pair, position, realised_pnl, unrealised_pnl, trades, wins, current_z, holding_hours, details, script_hash, updated_at \
                 FROM pair_performance ORDER BY strategy, pair",
            )
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter()
            .map(|row| {
                Ok(PairPerformanceRecord {
                    strategy: row.0,
                    pair: row.1,
                    position: row.2,
                    realised_pnl: row.3,
                    unrealised_pnl: row.4,
                    trades: row.5,
                    wins: row.6,
                    current_z: row.7,
                    holding_hours: row.8,
                    details: serde_json::from_str(&row.9).map_err(|error| {
                        super::Error::Corrupt {
                            table: "pair_performance",
                            column: "details",
                            message: error.to_string(),
                        }
                    })?,
                    script_hash: row.10,
                    updated_at: from_millis("pair_performance", "updated_at", row.11)?,
                })
            })
            .collect()
    }

    /// Signals that opened or closed a pair trade at or after `since`, oldest first.
    pub async fn trade_signals_since(&self, since: DateTime<Utc>) -> Result<Vec<SignalRecord>> {
        let rows: Vec<SignalRow> = on_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {SIGNAL_COLUMNS} FROM pair_signal WHERE ts >= $1 AND pair_trade_id IS NOT NULL ORDER BY ts, id"
            )))
            .bind(to_millis(since))
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter().map(signal_from_row).collect()
    }

    /// The newest signals (of one pair, or all), newest first, before `before` (epoch ms) when
    /// given.
    pub async fn pair_signals(
        &self,
        pair: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<SignalRecord>> {
        let rows: Vec<SignalRow> = on_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {SIGNAL_COLUMNS} FROM pair_signal WHERE ($1 IS NULL OR pair = $1) AND ts < $2 ORDER BY ts DESC, id DESC LIMIT $3"
            )))
            .bind(pair)
            .bind(before.unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter().map(signal_from_row).collect()
    }

    /// A pair's newest spreads and z-scores, newest first.
    pub async fn pair_spreads(&self, pair: &str, limit: u32) -> Result<Vec<SpreadRecord>> {
        type Row = (
            String,
            String,
            i64,
            f64,
            f64,
            f64,
            Option<f64>,
            Option<String>,
            Option<i64>,
        );
        let rows: Vec<Row> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT strategy, pair, ts, hedge_ratio, intercept, spread, zscore, script_hash, run_id \
                 FROM pair_spread WHERE pair = $1 ORDER BY ts DESC LIMIT $2",
            )
            .bind(pair)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter()
            .map(|row| {
                Ok(SpreadRecord {
                    strategy: row.0,
                    pair: row.1,
                    time: from_millis("pair_spread", "ts", row.2)?,
                    hedge_ratio: row.3,
                    intercept: row.4,
                    spread: row.5,
                    zscore: row.6,
                    script_hash: row.7,
                    run_id: row.8,
                })
            })
            .collect()
    }

    /// Counts of the three pair tables' rows: spreads, signals, pairs with a standing.
    pub async fn pair_table_counts(&self) -> Result<(i64, i64, i64)> {
        let counts: (i64, i64, i64) = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM pair_spread), (SELECT COUNT(*) FROM pair_signal), (SELECT COUNT(*) FROM pair_performance)",
            )
            .fetch_one(pool)
            .await
        })?;
        Ok(counts)
    }

    /// Stores a backtest run; returns its id.
    pub async fn insert_backtest_run(&self, run: &BacktestRunRecord) -> Result<i64> {
        let id = on_pool!(self, |pool| {
            sqlx::query_scalar(
                "INSERT INTO backtest_runs (created_at, strategy, script_hash, source, parameters, start_ts, end_ts, bars, metrics, trades, report) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
            )
            .bind(to_millis(run.created_at))
            .bind(&run.strategy)
            .bind(&run.script_hash)
            .bind(&run.source)
            .bind(run.parameters.to_string())
            .bind(to_millis(run.start))
            .bind(to_millis(run.end))
            .bind(run.bars)
            .bind(run.metrics.to_string())
            .bind(run.trades.to_string())
            .bind(&run.report)
            .fetch_one(pool)
            .await
        })?;
        self.events.touch();
        Ok(id)
    }

    /// Stored backtests, newest first (their trades left out: they can be long).
    pub async fn backtest_runs(&self, limit: u32) -> Result<Vec<BacktestRunRecord>> {
        let rows: Vec<BacktestRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, created_at, strategy, script_hash, source, parameters, start_ts, end_ts, bars, metrics, '[]' AS trades, report \
                 FROM backtest_runs ORDER BY id DESC LIMIT $1",
            )
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter().map(backtest_from_row).collect()
    }

    /// One stored backtest with its trades.
    pub async fn backtest_run(&self, id: i64) -> Result<Option<BacktestRunRecord>> {
        let row: Option<BacktestRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, created_at, strategy, script_hash, source, parameters, start_ts, end_ts, bars, metrics, trades, report \
                 FROM backtest_runs WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await
        })?;
        row.map(backtest_from_row).transpose()
    }
}

const SIGNAL_COLUMNS: &str = "strategy, pair, ts, signal, zscore, hedge_ratio, position, reason, pair_trade_id, script_hash, run_id";

type SignalRow = (
    String,
    String,
    i64,
    String,
    Option<f64>,
    Option<f64>,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
);

fn signal_from_row(row: SignalRow) -> Result<SignalRecord> {
    Ok(SignalRecord {
        strategy: row.0,
        pair: row.1,
        time: from_millis("pair_signal", "ts", row.2)?,
        signal: row.3,
        zscore: row.4,
        hedge_ratio: row.5,
        position: row.6,
        reason: row.7,
        pair_trade_id: row.8,
        script_hash: row.9,
        run_id: row.10,
    })
}

#[derive(sqlx::FromRow)]
struct BacktestRow {
    id: i64,
    created_at: i64,
    strategy: String,
    script_hash: String,
    source: String,
    parameters: String,
    start_ts: i64,
    end_ts: i64,
    bars: i64,
    metrics: String,
    trades: String,
    report: Option<String>,
}

fn backtest_from_row(row: BacktestRow) -> Result<BacktestRunRecord> {
    const T: &str = "backtest_runs";
    let json = |column: &'static str, text: &str| {
        serde_json::from_str(text).map_err(|error| super::Error::Corrupt {
            table: T,
            column,
            message: error.to_string(),
        })
    };
    Ok(BacktestRunRecord {
        id: row.id,
        created_at: from_millis(T, "created_at", row.created_at)?,
        strategy: row.strategy,
        script_hash: row.script_hash,
        source: row.source,
        parameters: json("parameters", &row.parameters)?,
        start: from_millis(T, "start_ts", row.start_ts)?,
        end: from_millis(T, "end_ts", row.end_ts)?,
        bars: row.bars,
        metrics: json("metrics", &row.metrics)?,
        trades: json("trades", &row.trades)?,
        report: row.report,
    })
}
