//! The order outbox and fills: every order intent is a row before the broker hears of it.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Result, Store, from_millis, on_pool, parse_column, to_millis};
use crate::domain::{
    ClientOrderId, Money, OrderSide, OrderStatus, OrderType, Price, Quantity, Symbol, TimeInForce,
};
use crate::events::EventKind;

/// One order as the host knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OrderRecord {
    /// The host's id, sent to the broker.
    pub client_order_id: ClientOrderId,
    /// The strategy or flow that placed it.
    pub strategy: String,
    /// The content hash of the script version that decided it.
    pub script_hash: Option<String>,
    /// The flow run that placed it.
    pub run_id: Option<i64>,
    /// The pair trade it is a leg of.
    pub pair_trade_id: Option<String>,
    /// The instrument.
    pub symbol: Symbol,
    /// Buy or sell.
    pub side: OrderSide,
    /// Ordered quantity.
    pub quantity: Quantity,
    /// Type and prices.
    pub order_type: OrderType,
    /// Time in force.
    pub time_in_force: TimeInForce,
    /// Where it is in its life.
    pub status: OrderStatus,
    /// The broker it went to.
    pub broker: String,
    /// The broker's id, once acknowledged.
    pub broker_order_id: Option<String>,
    /// Filled so far.
    pub filled_quantity: Quantity,
    /// Average fill price.
    pub average_fill_price: Option<Price>,
    /// The risk decision that let it through.
    pub decision_id: Option<i64>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// How many times it was sent to the broker.
    pub submit_attempts: u32,
    /// When the intent was written.
    pub created_at: DateTime<Utc>,
    /// When the broker acknowledged it.
    pub submitted_at: Option<DateTime<Utc>>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// What the broker said about an order, to be written over the stored row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderProgress {
    /// The broker's id.
    pub broker_order_id: Option<String>,
    /// The new status.
    pub status: OrderStatus,
    /// Filled so far.
    pub filled_quantity: Quantity,
    /// Average fill price.
    pub average_fill_price: Option<Price>,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// One stored execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FillRecord {
    /// The broker's execution id.
    pub execution_id: String,
    /// The host order it belongs to, when known.
    pub client_order_id: Option<ClientOrderId>,
    /// The broker's order id.
    pub broker_order_id: String,
    /// The strategy of that order.
    pub strategy: Option<String>,
    /// The instrument.
    pub symbol: Symbol,
    /// Buy or sell.
    pub side: OrderSide,
    /// Shares.
    pub quantity: Quantity,
    /// Price.
    pub price: Price,
    /// Commission.
    pub commission: Money,
    /// When.
    pub time: DateTime<Utc>,
}

const ORDER_COLUMNS: &str = "client_order_id, strategy, script_hash, run_id, pair_trade_id, symbol, side, quantity, order_type, limit_price, stop_price, time_in_force, status, broker, broker_order_id, filled_quantity, average_fill_price, decision_id, error, submit_attempts, created_at, submitted_at, updated_at";

/// An `orders` row as selected (more columns than sqlx's tuples take).
#[derive(sqlx::FromRow)]
struct OrderRow {
    client_order_id: String,
    strategy: String,
    script_hash: Option<String>,
    run_id: Option<i64>,
    pair_trade_id: Option<String>,
    symbol: String,
    side: String,
    quantity: String,
    order_type: String,
    limit_price: Option<String>,
    stop_price: Option<String>,
    time_in_force: String,
    status: String,
    broker: String,
    broker_order_id: Option<String>,
    filled_quantity: String,
    average_fill_price: Option<String>,
    decision_id: Option<i64>,
    error: Option<String>,
    submit_attempts: i64,
    created_at: i64,
    submitted_at: Option<i64>,
    updated_at: i64,
}

fn order_from_row(row: OrderRow) -> Result<OrderRecord> {
    const T: &str = "orders";
    let limit = row
        .limit_price
        .as_deref()
        .map(|text| parse_column::<Price>(T, "limit_price", text))
        .transpose()?;
    let stop = row
        .stop_price
        .as_deref()
        .map(|text| parse_column::<Price>(T, "stop_price", text))
        .transpose()?;
    let order_type = OrderType::from_parts(&row.order_type, limit, stop).map_err(|error| {
        super::Error::Corrupt {
            table: T,
            column: "order_type",
            message: error.to_string(),
        }
    })?;
    Ok(OrderRecord {
        client_order_id: parse_client_id(T, &row.client_order_id)?,
        strategy: row.strategy,
        script_hash: row.script_hash,
        run_id: row.run_id,
        pair_trade_id: row.pair_trade_id,
        symbol: parse_column(T, "symbol", &row.symbol)?,
        side: parse_column(T, "side", &row.side)?,
        quantity: parse_column(T, "quantity", &row.quantity)?,
        order_type,
        time_in_force: parse_column(T, "time_in_force", &row.time_in_force)?,
        status: parse_column(T, "status", &row.status)?,
        broker: row.broker,
        broker_order_id: row.broker_order_id,
        filled_quantity: parse_column(T, "filled_quantity", &row.filled_quantity)?,
        average_fill_price: row
            .average_fill_price
            .as_deref()
            .map(|text| parse_column(T, "average_fill_price", text))
            .transpose()?,
        decision_id: row.decision_id,
        error: row.error,
        submit_attempts: u32::try_from(row.submit_attempts).unwrap_or(u32::MAX),
        created_at: from_millis(T, "created_at", row.created_at)?,
        submitted_at: row
            .submitted_at
            .map(|millis| from_millis(T, "submitted_at", millis))
            .transpose()?,
        updated_at: from_millis(T, "updated_at", row.updated_at)?,
    })
}

pub(crate) fn parse_client_id(table: &'static str, text: &str) -> Result<ClientOrderId> {
    ClientOrderId::parse(text).map_err(|error| super::Error::Corrupt {
        table,
        column: "client_order_id",
        message: error.to_string(),
    })
}

/// The statuses of orders that may still change at the broker.
pub const OPEN_STATUSES: [&str; 5] = [
    "pending_new",
    "new",
    "accepted",
    "partially_filled",
    "pending_cancel",
];

impl Store {
    /// Writes an intent to the outbox. Fails if the client order id exists: ids are never reused.
    pub async fn insert_order(&self, order: &OrderRecord) -> Result<()> {
        on_pool!(self, |pool| {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO orders ({ORDER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)"
            )))
            .bind(order.client_order_id.as_str())
            .bind(&order.strategy)
            .bind(&order.script_hash)
            .bind(order.run_id)
            .bind(&order.pair_trade_id)
            .bind(order.symbol.as_str())
            .bind(order.side.as_str())
            .bind(order.quantity.to_string())
            .bind(order.order_type.kind())
            .bind(order.order_type.limit_price().map(|price| price.to_string()))
            .bind(order.order_type.stop_price().map(|price| price.to_string()))
            .bind(order.time_in_force.as_str())
            .bind(order.status.as_str())
            .bind(&order.broker)
            .bind(&order.broker_order_id)
            .bind(order.filled_quantity.to_string())
            .bind(order.average_fill_price.map(|price| price.to_string()))
            .bind(order.decision_id)
            .bind(&order.error)
            .bind(i64::from(order.submit_attempts))
            .bind(to_millis(order.created_at))
            .bind(order.submitted_at.map(to_millis))
            .bind(to_millis(order.updated_at))
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        self.events.publish(
            EventKind::Order,
            serde_json::json!({
                "client_order_id": order.client_order_id.as_str(),
                "symbol": order.symbol.as_str(),
                "side": order.side.as_str(),
                "quantity": order.quantity.to_string(),
                "status": order.status.as_str(),
                "strategy": order.strategy,
            }),
        );
        Ok(())
    }

    /// Counts one more send of an intent to the broker, before the call.
    pub async fn count_submit_attempt(&self, id: &ClientOrderId, at: DateTime<Utc>) -> Result<()> {
        on_pool!(self, |pool| {
            sqlx::query("UPDATE orders SET submit_attempts = submit_attempts + 1, updated_at = $2 WHERE client_order_id = $1")
                .bind(id.as_str())
                .bind(to_millis(at))
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(())
    }

    /// Writes what the broker said about an order. `submitted_at` is set the first time the
    /// broker acknowledges it.
    pub async fn update_order(
        &self,
        id: &ClientOrderId,
        progress: &OrderProgress,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let acknowledged = progress.broker_order_id.is_some().then(|| to_millis(at));
        on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE orders SET broker_order_id = COALESCE($2, broker_order_id), status = $3, \
                 filled_quantity = $4, average_fill_price = $5, error = COALESCE($6, error), \
                 submitted_at = COALESCE(submitted_at, $7), updated_at = $8 WHERE client_order_id = $1",
            )
            .bind(id.as_str())
            .bind(&progress.broker_order_id)
            .bind(progress.status.as_str())
            .bind(progress.filled_quantity.to_string())
            .bind(progress.average_fill_price.map(|price| price.to_string()))
            .bind(&progress.error)
            .bind(acknowledged)
            .bind(to_millis(at))
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        self.events.publish(
            EventKind::Order,
            serde_json::json!({
                "client_order_id": id.as_str(),
                "status": progress.status.as_str(),
                "filled_quantity": progress.filled_quantity.to_string(),
                "error": progress.error,
            }),
        );
        Ok(())
    }

    /// One order by client order id.
    pub async fn order(&self, id: &ClientOrderId) -> Result<Option<OrderRecord>> {
        let row: Option<OrderRow> = on_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {ORDER_COLUMNS} FROM orders WHERE client_order_id = $1"
            )))
            .bind(id.as_str())
            .fetch_optional(pool)
            .await
        })?;
        row.map(order_from_row).transpose()
    }

    /// One order by the broker's id.
    pub async fn order_by_broker_id(&self, broker_order_id: &str) -> Result<Option<OrderRecord>> {
        let row: Option<OrderRow> = on_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {ORDER_COLUMNS} FROM orders WHERE broker_order_id = $1"
            )))
            .bind(broker_order_id)
            .fetch_optional(pool)
            .await
        })?;
        row.map(order_from_row).transpose()
    }

    /// Orders in any of `statuses`, oldest first.
    pub async fn orders_with_status(&self, statuses: &[&str]) -> Result<Vec<OrderRecord>> {
        let list = super::in_list(statuses);
        let rows: Vec<OrderRow> = on_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {ORDER_COLUMNS} FROM orders WHERE status IN ({list}) ORDER BY created_at, client_order_id"
            )))
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter().map(order_from_row).collect()
    }

    /// Orders that may still change at the broker, oldest first.
    pub async fn open_orders(&self) -> Result<Vec<OrderRecord>> {
        self.orders_with_status(&OPEN_STATUSES).await
    }

    /// How many orders may still change at the broker (the risk status reports the count only).
    pub async fn open_order_count(&self) -> Result<usize> {
        let list = super::in_list(&OPEN_STATUSES);
        let count: i64 = on_pool!(self, |pool| {
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM orders WHERE status IN ({list})"
            )))
            .fetch_one(pool)
            .await
        })?;
        Ok(usize::try_from(count).unwrap_or_default())
    }

    /// The newest orders, newest first.
    pub async fn recent_orders(&self, limit: u32) -> Result<Vec<OrderRecord>> {
        let rows: Vec<OrderRow> = on_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {ORDER_COLUMNS} FROM orders ORDER BY created_at DESC, client_order_id DESC LIMIT $1"
            )))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter().map(order_from_row).collect()
    }

    /// Orders of a pair trade.
    pub async fn orders_of_pair_trade(&self, pair_trade_id: &str) -> Result<Vec<OrderRecord>> {
        let rows: Vec<OrderRow> = on_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {ORDER_COLUMNS} FROM orders WHERE pair_trade_id = $1 ORDER BY created_at, client_order_id"
            )))
            .bind(pair_trade_id)
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter().map(order_from_row).collect()
    }

    /// Orders sent since `since` (for the orders-per-day limit); refused intents never get a row.
    pub async fn count_orders_since(&self, since: DateTime<Utc>) -> Result<u32> {
        let count: i64 = on_pool!(self, |pool| {
            sqlx::query_scalar("SELECT COUNT(*) FROM orders WHERE created_at >= $1")
                .bind(to_millis(since))
                .fetch_one(pool)
                .await
        })?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    /// Stores an execution once; returns whether it was new.
    pub async fn insert_fill(&self, fill: &FillRecord) -> Result<bool> {
        let inserted = on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO fills (execution_id, client_order_id, broker_order_id, strategy, symbol, side, quantity, price, commission, ts) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (execution_id) DO NOTHING",
            )
            .bind(&fill.execution_id)
            .bind(fill.client_order_id.as_ref().map(ClientOrderId::as_str))
            .bind(&fill.broker_order_id)
            .bind(&fill.strategy)
            .bind(fill.symbol.as_str())
            .bind(fill.side.as_str())
            .bind(fill.quantity.to_string())
            .bind(fill.price.to_string())
            .bind(fill.commission.to_string())
            .bind(to_millis(fill.time))
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        if inserted > 0 {
            self.events.publish(
                EventKind::Fill,
                serde_json::json!({
                    "execution_id": fill.execution_id,
                    "client_order_id": fill.client_order_id.as_ref().map(ClientOrderId::as_str),
                    "symbol": fill.symbol.as_str(),
                    "side": fill.side.as_str(),
                    "quantity": fill.quantity.to_string(),
                    "price": fill.price.to_string(),
                    "time": fill.time,
                }),
            );
        }
        Ok(inserted > 0)
    }

    /// How many orders are open and how many were created at or after `since`, in one query:
    /// the two counts the risk engine reads before every order.
    pub async fn order_counts(&self, since: DateTime<Utc>) -> Result<(u64, u64)> {
        let (open, recent): (i64, i64) = on_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT (SELECT COUNT(*) FROM orders WHERE status IN ({})), \
                 (SELECT COUNT(*) FROM orders WHERE created_at >= $1)",
                super::in_list(&OPEN_STATUSES)
            )))
            .bind(to_millis(since))
            .fetch_one(pool)
            .await
        })?;
        Ok((
            u64::try_from(open).unwrap_or(0),
            u64::try_from(recent).unwrap_or(0),
        ))
    }

    /// How many executions are stored: fills are only ever added, so an unchanged count means
    /// unchanged fills (what lets the desk keep its position book between syncs).
    pub async fn fill_count(&self) -> Result<u64> {
        let count: i64 = on_pool!(self, |pool| {
            sqlx::query_scalar("SELECT COUNT(*) FROM fills")
                .fetch_one(pool)
                .await
        })?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// Executions at or after `since`, oldest first.
    pub async fn fills_since(&self, since: DateTime<Utc>) -> Result<Vec<FillRecord>> {
        let rows: Vec<FillRow> = on_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {FILL_COLUMNS} FROM fills WHERE ts >= $1 ORDER BY ts, execution_id"
            )))
            .bind(to_millis(since))
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter().map(fill_from_row).collect()
    }

    /// The newest executions, newest first; only those before `before` (epoch ms) when given,
    /// which is how a client pages back.
    pub async fn recent_fills(&self, before: Option<i64>, limit: u32) -> Result<Vec<FillRecord>> {
        let rows: Vec<FillRow> = on_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {FILL_COLUMNS} FROM fills WHERE ts < $1 ORDER BY ts DESC, execution_id DESC LIMIT $2"
            )))
            .bind(before.unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter().map(fill_from_row).collect()
    }
}

const FILL_COLUMNS: &str = "execution_id, client_order_id, broker_order_id, strategy, symbol, side, quantity, price, commission, ts";

type FillRow = (
    String,
    Option<String>,
    String,
    Option<String>,
    String,
    String,
    String,
    String,
    String,
    i64,
);

fn fill_from_row(row: FillRow) -> Result<FillRecord> {
    const T: &str = "fills";
    Ok(FillRecord {
        execution_id: row.0,
        client_order_id: row
            .1
            .as_deref()
            .map(|text| parse_client_id(T, text))
            .transpose()?,
        broker_order_id: row.2,
        strategy: row.3,
        symbol: parse_column(T, "symbol", &row.4)?,
        side: parse_column(T, "side", &row.5)?,
        quantity: parse_column(T, "quantity", &row.6)?,
        price: parse_column(T, "price", &row.7)?,
        commission: parse_column(T, "commission", &row.8)?,
        time: from_millis(T, "ts", row.9)?,
    })
}
