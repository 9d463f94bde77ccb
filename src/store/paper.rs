//! The paper broker's book: its account, orders, executions and positions (`paper_*` tables).
//!
//! An execution, the order it fills, the account's cash and the symbol's position are written in
//! one transaction ([`Store::paper_record_execution`]), so the book never disagrees with itself
//! after a crash.

use chrono::{DateTime, Utc};

use super::{Error, Result, Store, from_millis, on_pool, parse_column, to_millis};
use crate::domain::{
    ClientOrderId, Money, OrderSide, OrderStatus, OrderType, Position, Price, Quantity, Symbol,
    TimeInForce,
};

/// The paper account's cash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaperAccountRecord {
    /// Cash on the fresh account.
    pub initial_cash: Money,
    /// Cash now.
    pub cash: Money,
    /// When the account was opened.
    pub created_at: DateTime<Utc>,
    /// When the cash last changed.
    pub updated_at: DateTime<Utc>,
}

/// One paper order with the fill model's working state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaperOrderRecord {
    /// The broker's id.
    pub broker_order_id: String,
    /// The host's id, unique.
    pub client_order_id: ClientOrderId,
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
    /// Status.
    pub status: OrderStatus,
    /// Filled so far.
    pub filled_quantity: Quantity,
    /// Volume-weighted fill price.
    pub average_fill_price: Option<Price>,
    /// A stop or stop-limit whose stop has traded.
    pub triggered: bool,
    /// When a day, IOC or FOK order expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// The start of the last bar that changed the order.
    pub last_bar_at: Option<DateTime<Utc>>,
    /// Executions so far (numbers the next execution's id).
    pub execution_count: i64,
    /// The broker id of the order this one replaced.
    pub replaces: Option<String>,
    /// When the broker accepted it.
    pub submitted_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// One paper execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaperExecutionRecord {
    /// Its id.
    pub execution_id: String,
    /// The order it fills.
    pub broker_order_id: String,
    /// The instrument.
    pub symbol: Symbol,
    /// Buy or sell.
    pub side: OrderSide,
    /// Shares.
    pub quantity: Quantity,
    /// Price per share.
    pub price: Price,
    /// Commission charged.
    pub commission: Money,
    /// When it happened.
    pub time: DateTime<Utc>,
}

const ORDER_COLUMNS: &str = "broker_order_id, client_order_id, symbol, side, quantity, order_type, \
     limit_price, stop_price, time_in_force, status, filled_quantity, average_fill_price, triggered, \
     expires_at, last_bar_at, execution_count, replaces, submitted_at, updated_at";

/// Statuses after which nothing can happen to an order; the SQL twin of `is_terminal`.
const OPEN: &str = "status NOT IN ('filled', 'canceled', 'rejected', 'expired', 'replaced')";

#[derive(sqlx::FromRow)]
struct OrderRow {
    broker_order_id: String,
    client_order_id: String,
    symbol: String,
    side: String,
    quantity: String,
    order_type: String,
    limit_price: Option<String>,
    stop_price: Option<String>,
    time_in_force: String,
    status: String,
    filled_quantity: String,
    average_fill_price: Option<String>,
    triggered: i64,
    expires_at: Option<i64>,
    last_bar_at: Option<i64>,
    execution_count: i64,
    replaces: Option<String>,
    submitted_at: i64,
    updated_at: i64,
}

const ORDERS: &str = "paper_orders";

fn corrupt(table: &'static str, column: &'static str, message: String) -> Error {
    Error::Corrupt {
        table,
        column,
        message,
    }
}

fn side_text(side: OrderSide) -> &'static str {
    match side {
        OrderSide::Buy => "buy",
        OrderSide::Sell => "sell",
    }
}

fn parse_side(table: &'static str, text: &str) -> Result<OrderSide> {
    match text {
        "buy" => Ok(OrderSide::Buy),
        "sell" => Ok(OrderSide::Sell),
        other => Err(corrupt(table, "side", format!("unknown side `{other}`"))),
    }
}

fn time_in_force_text(time_in_force: TimeInForce) -> &'static str {
    match time_in_force {
        TimeInForce::Day => "day",
        TimeInForce::Gtc => "gtc",
        TimeInForce::Ioc => "ioc",
        TimeInForce::Fok => "fok",
    }
}

fn parse_time_in_force(text: &str) -> Result<TimeInForce> {
    Ok(match text {
        "day" => TimeInForce::Day,
        "gtc" => TimeInForce::Gtc,
        "ioc" => TimeInForce::Ioc,
        "fok" => TimeInForce::Fok,
        other => {
            return Err(corrupt(
                ORDERS,
                "time_in_force",
                format!("unknown time in force `{other}`"),
            ));
        }
    })
}

/// The type's name and its limit and stop prices as stored.
fn order_type_columns(order_type: OrderType) -> (&'static str, Option<String>, Option<String>) {
    match order_type {
        OrderType::Market => ("market", None, None),
        OrderType::Limit { limit } => ("limit", Some(limit.to_string()), None),
        OrderType::Stop { stop } => ("stop", None, Some(stop.to_string())),
        OrderType::StopLimit { stop, limit } => (
            "stop_limit",
            Some(limit.to_string()),
            Some(stop.to_string()),
        ),
    }
}

fn parse_order_type(name: &str, limit: Option<&str>, stop: Option<&str>) -> Result<OrderType> {
    let price = |column, text: Option<&str>| -> Result<Price> {
        let text =
            text.ok_or_else(|| corrupt(ORDERS, column, format!("missing for a {name} order")))?;
        parse_column(ORDERS, column, text)
    };
    Ok(match name {
        "market" => OrderType::Market,
        "limit" => OrderType::Limit {
            limit: price("limit_price", limit)?,
        },
        "stop" => OrderType::Stop {
            stop: price("stop_price", stop)?,
        },
        "stop_limit" => OrderType::StopLimit {
            stop: price("stop_price", stop)?,
            limit: price("limit_price", limit)?,
        },
        other => {
            return Err(corrupt(
                ORDERS,
                "order_type",
                format!("unknown order type `{other}`"),
            ));
        }
    })
}

fn optional_millis(column: &'static str, millis: Option<i64>) -> Result<Option<DateTime<Utc>>> {
    millis
        .map(|millis| from_millis(ORDERS, column, millis))
        .transpose()
}

impl OrderRow {
    fn into_record(self) -> Result<PaperOrderRecord> {
        let client_order_id = ClientOrderId::parse(&self.client_order_id)
            .map_err(|error| corrupt(ORDERS, "client_order_id", error.to_string()))?;
        Ok(PaperOrderRecord {
            client_order_id,
            symbol: parse_column(ORDERS, "symbol", &self.symbol)?,
            side: parse_side(ORDERS, &self.side)?,
            quantity: parse_column(ORDERS, "quantity", &self.quantity)?,
            order_type: parse_order_type(
                &self.order_type,
                self.limit_price.as_deref(),
                self.stop_price.as_deref(),
            )?,
            time_in_force: parse_time_in_force(&self.time_in_force)?,
            status: parse_column(ORDERS, "status", &self.status)?,
            filled_quantity: parse_column(ORDERS, "filled_quantity", &self.filled_quantity)?,
            average_fill_price: self
                .average_fill_price
                .as_deref()
                .map(|text| parse_column(ORDERS, "average_fill_price", text))
                .transpose()?,
            triggered: self.triggered != 0,
            expires_at: optional_millis("expires_at", self.expires_at)?,
            last_bar_at: optional_millis("last_bar_at", self.last_bar_at)?,
            execution_count: self.execution_count,
            replaces: self.replaces,
            submitted_at: from_millis(ORDERS, "submitted_at", self.submitted_at)?,
            updated_at: from_millis(ORDERS, "updated_at", self.updated_at)?,
            broker_order_id: self.broker_order_id,
        })
    }
}

/// Binds an order's columns in `ORDER_COLUMNS` order to `$1 ..= $19`.
macro_rules! bind_order {
    ($query:expr, $order:expr) => {{
        let order: &PaperOrderRecord = $order;
        let (type_name, limit, stop) = order_type_columns(order.order_type);
        $query
            .bind(order.broker_order_id.clone())
            .bind(order.client_order_id.as_str().to_owned())
            .bind(order.symbol.as_str().to_owned())
            .bind(side_text(order.side))
            .bind(order.quantity.to_string())
            .bind(type_name)
            .bind(limit)
            .bind(stop)
            .bind(time_in_force_text(order.time_in_force))
            .bind(order.status.as_str())
            .bind(order.filled_quantity.to_string())
            .bind(order.average_fill_price.map(|price| price.to_string()))
            .bind(i64::from(order.triggered))
            .bind(order.expires_at.map(to_millis))
            .bind(order.last_bar_at.map(to_millis))
            .bind(order.execution_count)
            .bind(order.replaces.clone())
            .bind(to_millis(order.submitted_at))
            .bind(to_millis(order.updated_at))
    }};
}

/// Every mutable column of an order, set from `$2 ..`; `$1` is the broker id.
const UPDATE_ORDER: &str = "UPDATE paper_orders SET status = $2, filled_quantity = $3, \
     average_fill_price = $4, triggered = $5, last_bar_at = $6, execution_count = $7, updated_at = $8 \
     WHERE broker_order_id = $1";

macro_rules! bind_order_update {
    ($query:expr, $order:expr) => {{
        let order: &PaperOrderRecord = $order;
        $query
            .bind(order.broker_order_id.clone())
            .bind(order.status.as_str())
            .bind(order.filled_quantity.to_string())
            .bind(order.average_fill_price.map(|price| price.to_string()))
            .bind(i64::from(order.triggered))
            .bind(order.last_bar_at.map(to_millis))
            .bind(order.execution_count)
            .bind(to_millis(order.updated_at))
    }};
}

type ExecutionRow = (String, String, String, String, String, String, String, i64);
type PositionRow = (String, String, Option<String>, String);

const EXECUTIONS: &str = "paper_executions";
const POSITIONS: &str = "paper_positions";

impl Store {
    /// The paper account, if one was opened.
    pub async fn paper_account(&self) -> Result<Option<PaperAccountRecord>> {
        let row: Option<(String, String, i64, i64)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT initial_cash, cash, created_at, updated_at FROM paper_account WHERE id = 1",
            )
            .fetch_optional(pool)
            .await
        })?;
        row.map(|(initial_cash, cash, created_at, updated_at)| {
            Ok(PaperAccountRecord {
                initial_cash: parse_column("paper_account", "initial_cash", &initial_cash)?,
                cash: parse_column("paper_account", "cash", &cash)?,
                created_at: from_millis("paper_account", "created_at", created_at)?,
                updated_at: from_millis("paper_account", "updated_at", updated_at)?,
            })
        })
        .transpose()
    }

    /// Opens the paper account with `initial_cash` unless it exists, and returns it either way.
    pub async fn paper_open_account(
        &self,
        initial_cash: Money,
        at: DateTime<Utc>,
    ) -> Result<PaperAccountRecord> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO paper_account (id, initial_cash, cash, created_at, updated_at) \
                 VALUES (1, $1, $1, $2, $2) ON CONFLICT (id) DO NOTHING",
            )
            .bind(initial_cash.to_string())
            .bind(to_millis(at))
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        self.paper_account().await?.ok_or_else(|| {
            corrupt(
                "paper_account",
                "id",
                "the account row vanished after insert".into(),
            )
        })
    }

    /// Stores a new order; with `replaced`, also stores that order (now `replaced`) in the same
    /// transaction, so a replacement is never half done.
    pub async fn paper_insert_order(
        &self,
        order: &PaperOrderRecord,
        replaced: Option<&PaperOrderRecord>,
    ) -> Result<()> {
        let insert = format!(
            "INSERT INTO paper_orders ({ORDER_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
        );
        on_pool!(self, |pool| {
            let mut transaction = pool.begin().await?;
            if let Some(old) = replaced {
                bind_order_update!(sqlx::query(UPDATE_ORDER), old)
                    .execute(&mut *transaction)
                    .await?;
            }
            bind_order!(sqlx::query(sqlx::AssertSqlSafe(insert)), order)
                .execute(&mut *transaction)
                .await?;
            transaction.commit().await
        })?;
        Ok(())
    }

    /// Stores an order's status, fills and working state (not its terms, which never change).
    pub async fn paper_update_order(&self, order: &PaperOrderRecord) -> Result<()> {
        on_pool!(self, |pool| {
            bind_order_update!(sqlx::query(UPDATE_ORDER), order)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Stores one execution with everything it changes, in one transaction: the order (fills,
    /// status), the account's cash and the symbol's position.
    pub async fn paper_record_execution(
        &self,
        order: &PaperOrderRecord,
        execution: &PaperExecutionRecord,
        cash: Money,
        position: &Position,
    ) -> Result<()> {
        let at = to_millis(execution.time);
        on_pool!(self, |pool| {
            let mut transaction = pool.begin().await?;
            sqlx::query(
                "INSERT INTO paper_executions (execution_id, broker_order_id, symbol, side, quantity, \
                 price, commission, ts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&execution.execution_id)
            .bind(&execution.broker_order_id)
            .bind(execution.symbol.as_str())
            .bind(side_text(execution.side))
            .bind(execution.quantity.to_string())
            .bind(execution.price.to_string())
            .bind(execution.commission.to_string())
            .bind(at)
            .execute(&mut *transaction)
            .await?;
            bind_order_update!(sqlx::query(UPDATE_ORDER), order)
                .execute(&mut *transaction)
                .await?;
            sqlx::query("UPDATE paper_account SET cash = $1, updated_at = $2 WHERE id = 1")
                .bind(cash.to_string())
                .bind(at)
                .execute(&mut *transaction)
                .await?;
            sqlx::query(
                "INSERT INTO paper_positions (symbol, quantity, average_entry_price, realised_pnl, updated_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (symbol) DO UPDATE SET \
                 quantity = excluded.quantity, average_entry_price = excluded.average_entry_price, \
                 realised_pnl = excluded.realised_pnl, updated_at = excluded.updated_at",
            )
            .bind(position.symbol.as_str())
            .bind(position.quantity.normalize().to_string())
            .bind(position.average_entry_price.map(|price| price.to_string()))
            .bind(position.realised_pnl.to_string())
            .bind(at)
            .execute(&mut *transaction)
            .await?;
            transaction.commit().await
        })?;
        Ok(())
    }

    async fn paper_orders_where(
        &self,
        condition: &str,
        text: Option<&str>,
        millis: Option<i64>,
    ) -> Result<Vec<PaperOrderRecord>> {
        let sql = format!(
            "SELECT {ORDER_COLUMNS} FROM paper_orders WHERE {condition} \
             ORDER BY submitted_at, broker_order_id"
        );
        let rows: Vec<OrderRow> = on_pool!(self, |pool| {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
            if let Some(text) = text {
                query = query.bind(text.to_owned());
            }
            if let Some(millis) = millis {
                query = query.bind(millis);
            }
            query.fetch_all(pool).await
        })?;
        rows.into_iter().map(OrderRow::into_record).collect()
    }

    /// One order by the broker's id.
    pub async fn paper_order(&self, broker_order_id: &str) -> Result<Option<PaperOrderRecord>> {
        let mut orders = self
            .paper_orders_where("broker_order_id = $1", Some(broker_order_id), None)
            .await?;
        Ok(orders.pop())
    }

    /// One order by the host's client order id.
    pub async fn paper_order_by_client_id(
        &self,
        client_order_id: &ClientOrderId,
    ) -> Result<Option<PaperOrderRecord>> {
        let mut orders = self
            .paper_orders_where("client_order_id = $1", Some(client_order_id.as_str()), None)
            .await?;
        Ok(orders.pop())
    }

    /// Orders that can still fill, oldest first.
    pub async fn paper_open_orders(&self) -> Result<Vec<PaperOrderRecord>> {
        self.paper_orders_where(OPEN, None, None).await
    }

    /// Orders submitted at or after `after`, oldest first.
    pub async fn paper_orders_since(&self, after: DateTime<Utc>) -> Result<Vec<PaperOrderRecord>> {
        self.paper_orders_where("submitted_at >= $1", None, Some(to_millis(after)))
            .await
    }

    /// How many orders the paper broker ever accepted (numbers the next order's id).
    pub async fn paper_order_count(&self) -> Result<i64> {
        let count: i64 = on_pool!(self, |pool| {
            sqlx::query_scalar("SELECT COUNT(*) FROM paper_orders")
                .fetch_one(pool)
                .await
        })?;
        Ok(count)
    }

    /// Executions at or after `after`, oldest first.
    pub async fn paper_executions_since(
        &self,
        after: DateTime<Utc>,
    ) -> Result<Vec<PaperExecutionRecord>> {
        let rows: Vec<ExecutionRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT execution_id, broker_order_id, symbol, side, quantity, price, commission, ts \
                 FROM paper_executions WHERE ts >= $1 ORDER BY ts, execution_id",
            )
            .bind(to_millis(after))
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter()
            .map(
                |(execution_id, broker_order_id, symbol, side, quantity, price, commission, ts)| {
                    Ok(PaperExecutionRecord {
                        execution_id,
                        broker_order_id,
                        symbol: parse_column(EXECUTIONS, "symbol", &symbol)?,
                        side: parse_side(EXECUTIONS, &side)?,
                        quantity: parse_column(EXECUTIONS, "quantity", &quantity)?,
                        price: parse_column(EXECUTIONS, "price", &price)?,
                        commission: parse_column(EXECUTIONS, "commission", &commission)?,
                        time: from_millis(EXECUTIONS, "ts", ts)?,
                    })
                },
            )
            .collect()
    }

    /// Every position row, flat ones included (they keep their realised P&L), by symbol.
    pub async fn paper_positions(&self) -> Result<Vec<Position>> {
        let rows: Vec<PositionRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT symbol, quantity, average_entry_price, realised_pnl FROM paper_positions \
                 ORDER BY symbol",
            )
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter()
            .map(|(symbol, quantity, average, realised)| {
                Ok(Position {
                    symbol: parse_column(POSITIONS, "symbol", &symbol)?,
                    quantity: parse_column(POSITIONS, "quantity", &quantity)?,
                    average_entry_price: average
                        .as_deref()
                        .map(|text| parse_column(POSITIONS, "average_entry_price", text))
                        .transpose()?,
                    realised_pnl: parse_column(POSITIONS, "realised_pnl", &realised)?,
                })
            })
            .collect()
    }
}
