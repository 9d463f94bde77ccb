//! Pair trades (two legs that must both fill) and reconciliations against the broker, with every
//! mismatch, its policy and whether it still blocks its symbol.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Result, Store, from_millis, on_pool, to_millis};

/// One pair trade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PairTradeRecord {
    /// Its id (also the prefix of its legs' client order ids).
    pub id: String,
    /// The strategy that opened it.
    pub strategy: String,
    /// `LEGA/LEGB`.
    pub pair: String,
    /// Client order id of leg A.
    pub leg_a: String,
    /// Client order id of leg B.
    pub leg_b: String,
    /// `pending` (legs working), `filled`, `orphaned` (one leg failed or timed out, flattening),
    /// `flattened`, `failed` (both legs failed).
    pub status: String,
    /// When it was opened.
    pub opened_at: DateTime<Utc>,
    /// Both legs must have filled by then.
    pub deadline: DateTime<Utc>,
    /// When it reached a final status.
    pub closed_at: Option<DateTime<Utc>>,
    /// What happened, for people.
    pub note: Option<String>,
}

/// One mismatch found by a reconciliation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MismatchRecord {
    /// Its id (0 before it is stored).
    pub id: i64,
    /// The reconciliation that found it.
    pub reconciliation_id: i64,
    /// The symbol, when the mismatch has one (cash has none).
    pub symbol: Option<String>,
    /// `unknown_order`, `missing_order`, `order_status`, `position`, `cash`.
    pub kind: String,
    /// What the host has.
    pub local_value: Option<String>,
    /// What the broker has.
    pub broker_value: Option<String>,
    /// `adopt`, `ignore`, `flatten` or `halt`.
    pub policy: String,
    /// What was done.
    pub action: String,
    /// Whether new orders for the symbol are refused until it is resolved.
    pub blocking: bool,
    /// When it was resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Who or what resolved it.
    pub resolved_by: Option<String>,
}

type PairRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    Option<i64>,
    Option<String>,
);

fn pair_from_row(row: PairRow) -> Result<PairTradeRecord> {
    const T: &str = "pair_trades";
    Ok(PairTradeRecord {
        id: row.0,
        strategy: row.1,
        pair: row.2,
        leg_a: row.3,
        leg_b: row.4,
        status: row.5,
        opened_at: from_millis(T, "opened_at", row.6)?,
        deadline: from_millis(T, "deadline", row.7)?,
        closed_at: row
            .8
            .map(|millis| from_millis(T, "closed_at", millis))
            .transpose()?,
        note: row.9,
    })
}

type MismatchRow = (
    i64,
    i64,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
);

const MISMATCH_COLUMNS: &str = "id, reconciliation_id, symbol, kind, local_value, broker_value, policy, action, blocking, resolved_at, resolved_by";

fn mismatch_from_row(row: MismatchRow) -> Result<MismatchRecord> {
    Ok(MismatchRecord {
        id: row.0,
        reconciliation_id: row.1,
        symbol: row.2,
        kind: row.3,
        local_value: row.4,
        broker_value: row.5,
        policy: row.6,
        action: row.7,
        blocking: row.8 != 0,
        resolved_at: row
            .9
            .map(|millis| from_millis("reconciliation_mismatches", "resolved_at", millis))
            .transpose()?,
        resolved_by: row.10,
    })
}

impl Store {
    /// Records a new pair trade.
    pub async fn insert_pair_trade(&self, trade: &PairTradeRecord) -> Result<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO pair_trades (id, strategy, pair, leg_a, leg_b, status, opened_at, deadline, closed_at, note) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(&trade.id)
            .bind(&trade.strategy)
            .bind(&trade.pair)
            .bind(&trade.leg_a)
            .bind(&trade.leg_b)
            .bind(&trade.status)
            .bind(to_millis(trade.opened_at))
            .bind(to_millis(trade.deadline))
            .bind(trade.closed_at.map(to_millis))
            .bind(&trade.note)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        self.events.touch();
        Ok(())
    }

    /// Moves a pair trade to `status`; a final status sets `closed_at`.
    pub async fn update_pair_trade(
        &self,
        id: &str,
        status: &str,
        note: Option<&str>,
        closed_at: Option<DateTime<Utc>>,
    ) -> Result<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE pair_trades SET status = $2, note = COALESCE($3, note), closed_at = COALESCE($4, closed_at) WHERE id = $1",
            )
            .bind(id)
            .bind(status)
            .bind(note)
            .bind(closed_at.map(to_millis))
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        self.events.touch();
        Ok(())
    }

    /// Names the legs of a pair trade once they have client order ids.
    pub async fn set_pair_trade_legs(&self, id: &str, leg_a: &str, leg_b: &str) -> Result<()> {
        on_pool!(self, |pool| {
            sqlx::query("UPDATE pair_trades SET leg_a = $2, leg_b = $3 WHERE id = $1")
                .bind(id)
                .bind(leg_a)
                .bind(leg_b)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(())
    }

    /// Pair trades in any of `statuses`, oldest first.
    pub async fn pair_trades_with_status(&self, statuses: &[&str]) -> Result<Vec<PairTradeRecord>> {
        let list = super::in_list(statuses);
        let rows: Vec<PairRow> = on_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT id, strategy, pair, leg_a, leg_b, status, opened_at, deadline, closed_at, note FROM pair_trades WHERE status IN ({list}) ORDER BY opened_at, id"
            )))
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter().map(pair_from_row).collect()
    }

    /// One pair trade.
    pub async fn pair_trade(&self, id: &str) -> Result<Option<PairTradeRecord>> {
        let row: Option<PairRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, strategy, pair, leg_a, leg_b, status, opened_at, deadline, closed_at, note FROM pair_trades WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await
        })?;
        row.map(pair_from_row).transpose()
    }

    /// Stores a reconciliation and its mismatches in one transaction; returns its id.
    pub async fn insert_reconciliation(
        &self,
        time: DateTime<Utc>,
        broker: &str,
        diff: &serde_json::Value,
        mismatches: &[MismatchRecord],
    ) -> Result<i64> {
        let count = i64::try_from(mismatches.len()).unwrap_or(i64::MAX);
        let id = on_pool!(self, |pool| {
            async {
                let mut transaction = pool.begin().await?;
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO reconciliations (ts, broker, mismatches, diff) VALUES ($1, $2, $3, $4) RETURNING id",
                )
                .bind(to_millis(time))
                .bind(broker)
                .bind(count)
                .bind(diff.to_string())
                .fetch_one(&mut *transaction)
                .await?;
                for mismatch in mismatches {
                    sqlx::query(
                        "INSERT INTO reconciliation_mismatches (reconciliation_id, symbol, kind, local_value, broker_value, policy, action, blocking, resolved_at, resolved_by) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    )
                    .bind(id)
                    .bind(&mismatch.symbol)
                    .bind(&mismatch.kind)
                    .bind(&mismatch.local_value)
                    .bind(&mismatch.broker_value)
                    .bind(&mismatch.policy)
                    .bind(&mismatch.action)
                    .bind(i64::from(mismatch.blocking))
                    .bind(mismatch.resolved_at.map(to_millis))
                    .bind(&mismatch.resolved_by)
                    .execute(&mut *transaction)
                    .await?;
                }
                transaction.commit().await?;
                Ok::<i64, sqlx::Error>(id)
            }
            .await
        })?;
        self.events.touch();
        Ok(id)
    }

    /// The newest reconciliation's id and diff.
    pub async fn last_reconciliation(&self) -> Result<Option<(i64, serde_json::Value)>> {
        let row: Option<(i64, String)> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT id, diff FROM reconciliations ORDER BY id DESC LIMIT 1")
                .fetch_optional(pool)
                .await
        })?;
        row.map(|(id, text)| {
            serde_json::from_str(&text)
                .map(|diff| (id, diff))
                .map_err(|error| super::Error::Corrupt {
                    table: "reconciliations",
                    column: "diff",
                    message: error.to_string(),
                })
        })
        .transpose()
    }

    /// The stored diff of one reconciliation.
    pub async fn reconciliation_diff(&self, id: i64) -> Result<Option<serde_json::Value>> {
        let text: Option<String> = on_pool!(self, |pool| {
            sqlx::query_scalar("SELECT diff FROM reconciliations WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await
        })?;
        text.map(|text| {
            serde_json::from_str(&text).map_err(|error| super::Error::Corrupt {
                table: "reconciliations",
                column: "diff",
                message: error.to_string(),
            })
        })
        .transpose()
    }

    /// Mismatches not yet resolved, oldest first.
    pub async fn unresolved_mismatches(&self) -> Result<Vec<MismatchRecord>> {
        let rows: Vec<MismatchRow> = on_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {MISMATCH_COLUMNS} FROM reconciliation_mismatches WHERE resolved_at IS NULL ORDER BY id"
            )))
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter().map(mismatch_from_row).collect()
    }

    /// The symbols an unresolved, blocking mismatch holds, sorted, `(account)` for the cash.
    pub async fn blocked_symbols(&self) -> Result<Vec<String>> {
        let mut symbols: Vec<String> = on_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT DISTINCT COALESCE(symbol, '(account)') FROM reconciliation_mismatches \
                 WHERE resolved_at IS NULL AND blocking = 1",
            )
            .fetch_all(pool)
            .await
        })?;
        // Sorted here: PostgreSQL's collation may order the parenthesis differently.
        symbols.sort();
        Ok(symbols)
    }

    /// The unresolved, blocking mismatch that holds `symbol`: the symbol's own (the oldest) if
    /// it has one, else the oldest of the whole account's. One query for what the desk checks
    /// before every order.
    pub async fn blocking_mismatch(&self, symbol: &str) -> Result<Option<MismatchRecord>> {
        let row: Option<MismatchRow> = on_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {MISMATCH_COLUMNS} FROM reconciliation_mismatches \
                 WHERE resolved_at IS NULL AND blocking = 1 AND (symbol = $1 OR symbol IS NULL) \
                 ORDER BY CASE WHEN symbol IS NULL THEN 1 ELSE 0 END, id LIMIT 1"
            )))
            .bind(symbol)
            .fetch_optional(pool)
            .await
        })?;
        row.map(mismatch_from_row).transpose()
    }

    /// Whether an unresolved, blocking mismatch holds `symbol`.
    pub async fn symbol_blocked(&self, symbol: &str) -> Result<Option<MismatchRecord>> {
        let row: Option<MismatchRow> = on_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {MISMATCH_COLUMNS} FROM reconciliation_mismatches WHERE symbol = $1 AND blocking = 1 AND resolved_at IS NULL ORDER BY id LIMIT 1"
            )))
            .bind(symbol)
            .fetch_optional(pool)
            .await
        })?;
        row.map(mismatch_from_row).transpose()
    }

    /// Resolves every open mismatch of `symbol` (or the account-wide ones when `None`); returns
    /// how many.
    pub async fn resolve_mismatches(
        &self,
        symbol: Option<&str>,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<u64> {
        let done = on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE reconciliation_mismatches SET resolved_at = $2, resolved_by = $3 \
                 WHERE resolved_at IS NULL AND ((symbol IS NULL AND $1 IS NULL) OR symbol = $1)",
            )
            .bind(symbol)
            .bind(to_millis(at))
            .bind(by)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        self.events.touch();
        Ok(done)
    }
}
