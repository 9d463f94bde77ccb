//! Risk records: every decision with its rule and inputs, the engine's persisted state, risk
//! events, alerts, positions and equity snapshots.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Result, Store, from_millis, on_pool, parse_column, to_millis};
use crate::domain::{Money, Price, Symbol};

/// One risk decision as stored.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DecisionRecord {
    /// Its id.
    pub id: i64,
    /// When it was made.
    pub time: DateTime<Utc>,
    /// The strategy that asked.
    pub strategy: String,
    /// The script version that asked.
    pub script_hash: Option<String>,
    /// The order it let through, if any.
    pub client_order_id: Option<String>,
    /// The instrument.
    pub symbol: String,
    /// `buy` or `sell`.
    pub side: String,
    /// The quantity asked for.
    pub quantity: String,
    /// The quantity allowed (equal when accepted, smaller when clipped, none when refused).
    pub approved_quantity: Option<String>,
    /// `accepted`, `clipped` or `refused`.
    pub outcome: String,
    /// The rule that refused or clipped.
    pub rule: Option<String>,
    /// Why, with the numbers.
    pub reason: Option<String>,
    /// Everything the rules looked at.
    pub inputs: serde_json::Value,
}

/// A decision to store (the id is the database's).
#[derive(Debug, Clone, PartialEq)]
pub struct NewDecision<'a> {
    /// When.
    pub time: DateTime<Utc>,
    /// The strategy that asked.
    pub strategy: &'a str,
    /// The script version that asked.
    pub script_hash: Option<&'a str>,
    /// The order it let through.
    pub client_order_id: Option<&'a str>,
    /// The instrument.
    pub symbol: &'a str,
    /// `buy` or `sell`.
    pub side: &'a str,
    /// The quantity asked for.
    pub quantity: String,
    /// The quantity allowed.
    pub approved_quantity: Option<String>,
    /// `accepted`, `clipped` or `refused`.
    pub outcome: &'a str,
    /// The rule.
    pub rule: Option<String>,
    /// The reason.
    pub reason: Option<String>,
    /// The inputs.
    pub inputs: serde_json::Value,
}

/// One risk event (mode change, halt, resume, breach, limits reloaded).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RiskEventRecord {
    /// Its id.
    pub id: i64,
    /// When.
    pub time: DateTime<Utc>,
    /// `mode_change`, `halt`, `resume`, `limits_reloaded`, `limits_loosened`, `limits_refused`,
    /// `breach`, `kill_switch`.
    pub kind: String,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    /// For people.
    pub message: String,
    /// For machines.
    pub details: serde_json::Value,
    /// When an alert was raised for it.
    pub alerted_at: Option<DateTime<Utc>>,
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AlertRecord {
    /// Its id.
    pub id: i64,
    /// When.
    pub time: DateTime<Utc>,
    /// What raised it: `risk`, `reconciliation`, `orders`, a flow's name.
    pub source: String,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    /// For people.
    pub message: String,
    /// For machines.
    pub details: serde_json::Value,
}

/// A position as last read from the broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PositionRecord {
    /// The instrument.
    pub symbol: Symbol,
    /// Signed shares.
    pub quantity: rust_decimal::Decimal,
    /// Average entry price.
    pub average_entry_price: Price,
    /// The latest mark.
    pub current_price: Option<Price>,
    /// Signed market value.
    pub market_value: Money,
    /// Unrealised P&L.
    pub unrealised_pnl: Money,
    /// When it was read.
    pub updated_at: DateTime<Utc>,
}

/// Equity at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SnapshotRecord {
    /// When.
    pub time: DateTime<Utc>,
    /// Equity.
    pub equity: Money,
    /// Cash.
    pub cash: Money,
    /// Σ |market value|.
    pub gross_exposure: Money,
    /// Σ market value.
    pub net_exposure: Money,
    /// Σ unrealised P&L.
    pub unrealised_pnl: Money,
    /// The risk mode then.
    pub mode: String,
}

/// A risk event as selected.
type EventRow = (i64, i64, String, String, String, String, Option<i64>);

type DecisionRow = (
    i64,
    i64,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    String,
);

fn json_column(table: &'static str, column: &'static str, text: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text).map_err(|error| super::Error::Corrupt {
        table,
        column,
        message: error.to_string(),
    })
}

impl Store {
    /// Stores a risk decision; returns its id.
    pub async fn insert_risk_decision(&self, decision: &NewDecision<'_>) -> Result<i64> {
        let id = on_pool!(self, |pool| {
            sqlx::query_scalar(
                "INSERT INTO risk_decisions (ts, strategy, script_hash, client_order_id, symbol, side, quantity, approved_quantity, outcome, rule, reason, inputs) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
            )
            .bind(to_millis(decision.time))
            .bind(decision.strategy)
            .bind(decision.script_hash)
            .bind(decision.client_order_id)
            .bind(decision.symbol)
            .bind(decision.side)
            .bind(&decision.quantity)
            .bind(&decision.approved_quantity)
            .bind(decision.outcome)
            .bind(&decision.rule)
            .bind(&decision.reason)
            .bind(decision.inputs.to_string())
            .fetch_one(pool)
            .await
        })?;
        self.events.publish(
            crate::events::EventKind::Decision,
            serde_json::json!({
                "id": id,
                "symbol": decision.symbol,
                "side": decision.side,
                "outcome": decision.outcome,
                "rule": decision.rule,
                "reason": decision.reason,
            }),
        );
        Ok(id)
    }

    /// The newest decisions, newest first.
    pub async fn risk_decisions(&self, limit: u32) -> Result<Vec<DecisionRecord>> {
        let rows: Vec<DecisionRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, ts, strategy, script_hash, client_order_id, symbol, side, quantity, approved_quantity, outcome, rule, reason, inputs \
                 FROM risk_decisions ORDER BY id DESC LIMIT $1",
            )
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
        })?;
        const T: &str = "risk_decisions";
        rows.into_iter()
            .map(|row| {
                Ok(DecisionRecord {
                    id: row.0,
                    time: from_millis(T, "ts", row.1)?,
                    strategy: row.2,
                    script_hash: row.3,
                    client_order_id: row.4,
                    symbol: row.5,
                    side: row.6,
                    quantity: row.7,
                    approved_quantity: row.8,
                    outcome: row.9,
                    rule: row.10,
                    reason: row.11,
                    inputs: json_column(T, "inputs", &row.12)?,
                })
            })
            .collect()
    }

    /// How many decisions each rule refused (`unnamed` for a refusal without one), by rule.
    pub async fn refusals_by_rule(&self) -> Result<std::collections::BTreeMap<String, u64>> {
        let rows: Vec<(String, i64)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT COALESCE(rule, 'unnamed'), COUNT(*) FROM risk_decisions \
                 WHERE outcome = 'refused' GROUP BY COALESCE(rule, 'unnamed')",
            )
            .fetch_all(pool)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|(rule, count)| (rule, u64::try_from(count).unwrap_or(0)))
            .collect())
    }

    /// The persisted risk state, if any.
    pub async fn risk_state(&self) -> Result<Option<serde_json::Value>> {
        let text: Option<String> = on_pool!(self, |pool| {
            sqlx::query_scalar("SELECT state FROM risk_state WHERE id = 1")
                .fetch_optional(pool)
                .await
        })?;
        text.map(|text| json_column("risk_state", "state", &text))
            .transpose()
    }

    /// Replaces the persisted risk state.
    pub async fn save_risk_state(
        &self,
        state: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> Result<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO risk_state (id, state, updated_at) VALUES (1, $1, $2) \
                 ON CONFLICT (id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
            )
            .bind(state.to_string())
            .bind(to_millis(at))
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        self.events.touch();
        Ok(())
    }

    /// Records a risk event; returns its id.
    pub async fn insert_risk_event(
        &self,
        time: DateTime<Utc>,
        kind: &str,
        severity: &str,
        message: &str,
        details: &serde_json::Value,
    ) -> Result<i64> {
        let id = on_pool!(self, |pool| {
            sqlx::query_scalar(
                "INSERT INTO risk_events (ts, kind, severity, message, details) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(to_millis(time))
            .bind(kind)
            .bind(severity)
            .bind(message)
            .bind(details.to_string())
            .fetch_one(pool)
            .await
        })?;
        self.events.publish(
            crate::events::EventKind::Risk,
            serde_json::json!({ "id": id, "kind": kind, "severity": severity, "message": message }),
        );
        Ok(id)
    }

    /// Risk events, newest first; only those without an alert when `unalerted`.
    pub async fn risk_events(&self, unalerted: bool, limit: u32) -> Result<Vec<RiskEventRecord>> {
        let filter = if unalerted {
            "WHERE alerted_at IS NULL"
        } else {
            ""
        };
        let rows: Vec<EventRow> = on_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT id, ts, kind, severity, message, details, alerted_at FROM risk_events {filter} ORDER BY id DESC LIMIT $1"
                )))
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
        })?;
        const T: &str = "risk_events";
        rows.into_iter()
            .map(|row| {
                Ok(RiskEventRecord {
                    id: row.0,
                    time: from_millis(T, "ts", row.1)?,
                    kind: row.2,
                    severity: row.3,
                    message: row.4,
                    details: json_column(T, "details", &row.5)?,
                    alerted_at: row
                        .6
                        .map(|millis| from_millis(T, "alerted_at", millis))
                        .transpose()?,
                })
            })
            .collect()
    }

    /// Marks a risk event as alerted; returns false if it already was (another worker won).
    pub async fn mark_risk_event_alerted(&self, id: i64, at: DateTime<Utc>) -> Result<bool> {
        let done = on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE risk_events SET alerted_at = $2 WHERE id = $1 AND alerted_at IS NULL",
            )
            .bind(id)
            .bind(to_millis(at))
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(done > 0)
    }

    /// Raises an alert; returns its id.
    pub async fn insert_alert(
        &self,
        time: DateTime<Utc>,
        source: &str,
        severity: &str,
        message: &str,
        details: &serde_json::Value,
    ) -> Result<i64> {
        let id = on_pool!(self, |pool| {
            sqlx::query_scalar(
                "INSERT INTO alerts (ts, source, severity, message, details) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(to_millis(time))
            .bind(source)
            .bind(severity)
            .bind(message)
            .bind(details.to_string())
            .fetch_one(pool)
            .await
        })?;
        Ok(id)
    }

    /// The newest alerts, newest first.
    pub async fn alerts(&self, limit: u32) -> Result<Vec<AlertRecord>> {
        let rows: Vec<(i64, i64, String, String, String, String)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, ts, source, severity, message, details FROM alerts ORDER BY id DESC LIMIT $1",
            )
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter()
            .map(|row| {
                Ok(AlertRecord {
                    id: row.0,
                    time: from_millis("alerts", "ts", row.1)?,
                    source: row.2,
                    severity: row.3,
                    message: row.4,
                    details: json_column("alerts", "details", &row.5)?,
                })
            })
            .collect()
    }

    /// Replaces the stored positions with the broker's, in one transaction.
    pub async fn replace_positions(&self, positions: &[PositionRecord]) -> Result<()> {
        on_pool!(self, |pool| {
            async {
                let mut transaction = pool.begin().await?;
                sqlx::query("DELETE FROM positions")
                    .execute(&mut *transaction)
                    .await?;
                for position in positions {
                    sqlx::query(
                        "INSERT INTO positions (symbol, quantity, average_entry_price, current_price, market_value, unrealised_pnl, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(position.symbol.as_str())
                    .bind(position.quantity.to_string())
                    .bind(position.average_entry_price.to_string())
                    .bind(position.current_price.map(|price| price.to_string()))
                    .bind(position.market_value.to_string())
                    .bind(position.unrealised_pnl.to_string())
                    .bind(to_millis(position.updated_at))
                    .execute(&mut *transaction)
                    .await?;
                }
                transaction.commit().await
            }
            .await
        })?;
        self.events.touch();
        Ok(())
    }

    /// The stored positions, by symbol.
    pub async fn positions(&self) -> Result<Vec<PositionRecord>> {
        type Row = (String, String, String, Option<String>, String, String, i64);
        let rows: Vec<Row> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT symbol, quantity, average_entry_price, current_price, market_value, unrealised_pnl, updated_at FROM positions ORDER BY symbol",
            )
            .fetch_all(pool)
            .await
        })?;
        const T: &str = "positions";
        rows.into_iter()
            .map(|row| {
                Ok(PositionRecord {
                    symbol: parse_column(T, "symbol", &row.0)?,
                    quantity: parse_column(T, "quantity", &row.1)?,
                    average_entry_price: parse_column(T, "average_entry_price", &row.2)?,
                    current_price: row
                        .3
                        .as_deref()
                        .map(|text| parse_column(T, "current_price", text))
                        .transpose()?,
                    market_value: parse_column(T, "market_value", &row.4)?,
                    unrealised_pnl: parse_column(T, "unrealised_pnl", &row.5)?,
                    updated_at: from_millis(T, "updated_at", row.6)?,
                })
            })
            .collect()
    }

    /// Stores an equity snapshot (one per timestamp; a repeat replaces it).
    pub async fn insert_snapshot(&self, snapshot: &SnapshotRecord) -> Result<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO portfolio_snapshots (ts, equity, cash, gross_exposure, net_exposure, unrealised_pnl, mode) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (ts) DO UPDATE SET equity = excluded.equity, \
                 cash = excluded.cash, gross_exposure = excluded.gross_exposure, net_exposure = excluded.net_exposure, \
                 unrealised_pnl = excluded.unrealised_pnl, mode = excluded.mode",
            )
            .bind(to_millis(snapshot.time))
            .bind(snapshot.equity.to_string())
            .bind(snapshot.cash.to_string())
            .bind(snapshot.gross_exposure.to_string())
            .bind(snapshot.net_exposure.to_string())
            .bind(snapshot.unrealised_pnl.to_string())
            .bind(&snapshot.mode)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        self.events.touch();
        Ok(())
    }

    /// Snapshots at or after `since`, oldest first.
    pub async fn snapshots_since(&self, since: DateTime<Utc>) -> Result<Vec<SnapshotRecord>> {
        let rows: Vec<SnapshotRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT ts, equity, cash, gross_exposure, net_exposure, unrealised_pnl, mode FROM portfolio_snapshots WHERE ts >= $1 ORDER BY ts",
            )
            .bind(to_millis(since))
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter().map(snapshot_from_row).collect()
    }

    /// The newest snapshot, if any.
    pub async fn latest_snapshot(&self) -> Result<Option<SnapshotRecord>> {
        let row: Option<SnapshotRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT ts, equity, cash, gross_exposure, net_exposure, unrealised_pnl, mode FROM portfolio_snapshots ORDER BY ts DESC LIMIT 1",
            )
            .fetch_optional(pool)
            .await
        })?;
        row.map(snapshot_from_row).transpose()
    }
}

type SnapshotRow = (i64, String, String, String, String, String, String);

fn snapshot_from_row(row: SnapshotRow) -> Result<SnapshotRecord> {
    const T: &str = "portfolio_snapshots";
    Ok(SnapshotRecord {
        time: from_millis(T, "ts", row.0)?,
        equity: parse_column(T, "equity", &row.1)?,
        cash: parse_column(T, "cash", &row.2)?,
        gross_exposure: parse_column(T, "gross_exposure", &row.3)?,
        net_exposure: parse_column(T, "net_exposure", &row.4)?,
        unrealised_pnl: parse_column(T, "unrealised_pnl", &row.5)?,
        mode: row.6,
    })
}
