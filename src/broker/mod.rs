//! Brokers: one interface over the built-in paper broker, Alpaca and the backtest broker
//! (SPEC §6.1).
//!
//! The host's order desk (`trading`) is the only caller. It writes every intent to the outbox
//! before it calls [`Broker::submit`], and it relies on two promises every implementation keeps:
//! a client order id is accepted at most once (a second submit with the same id is refused with
//! [`BrokerError::DuplicateClientOrderId`]), and [`Broker::order_by_client_id`] finds an order by
//! that id. Together they make a retried or recovered submission safe.

pub mod alpaca;
pub mod backtest;
pub mod paper;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::{
    ClientOrderId, Money, OrderSide, OrderStatus, OrderType, Price, Quantity, Symbol, TimeInForce,
};

/// What the host asks a broker to do: one order, named by the host's client order id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewOrder {
    /// The host's id, unique forever; the key that makes submission idempotent.
    pub client_order_id: ClientOrderId,
    /// The instrument.
    pub symbol: Symbol,
    /// Buy or sell.
    pub side: OrderSide,
    /// Shares, possibly fractional.
    pub quantity: Quantity,
    /// Market, limit, stop or stop-limit with its prices.
    pub order_type: OrderType,
    /// Day, GTC, IOC or FOK.
    pub time_in_force: TimeInForce,
}

/// An order as the broker sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerOrder {
    /// The broker's own id.
    pub broker_order_id: String,
    /// The host's id the order was submitted with.
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
    /// The broker's status.
    pub status: OrderStatus,
    /// Filled so far.
    pub filled_quantity: Quantity,
    /// Volume-weighted price of the fills, if any.
    pub average_fill_price: Option<Price>,
    /// When the broker received it.
    pub submitted_at: DateTime<Utc>,
    /// When the broker last changed it.
    pub updated_at: DateTime<Utc>,
}

/// Changes to a working order; `None` keeps the current value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replacement {
    /// New total quantity.
    pub quantity: Option<Quantity>,
    /// New limit price (limit and stop-limit orders).
    pub limit: Option<Price>,
    /// New stop price (stop and stop-limit orders).
    pub stop: Option<Price>,
    /// New time in force.
    pub time_in_force: Option<TimeInForce>,
}

/// The account's money.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Account {
    /// Settled and unsettled cash; negative when the account borrows.
    pub cash: Money,
    /// Cash plus the market value of all positions.
    pub equity: Money,
    /// What the broker would let the account buy now.
    pub buying_power: Money,
    /// Market value of long positions.
    pub long_market_value: Money,
    /// Market value of short positions (negative or zero).
    pub short_market_value: Money,
    /// True when the broker blocks all trading on the account.
    pub trading_blocked: bool,
}

/// One open position as the broker sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerPosition {
    /// The instrument.
    pub symbol: Symbol,
    /// Signed shares: negative is short.
    pub quantity: Decimal,
    /// Average entry price.
    pub average_entry_price: Price,
    /// The broker's last price for it, if it has one.
    pub current_price: Option<Price>,
    /// Signed market value.
    pub market_value: Money,
    /// Unrealised profit or loss.
    pub unrealised_pnl: Money,
}

/// One execution (a fill or partial fill).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Execution {
    /// The broker's id of the execution; unique, so fills are stored once.
    pub execution_id: String,
    /// The broker's id of the order it belongs to.
    pub broker_order_id: String,
    /// The instrument.
    pub symbol: Symbol,
    /// Buy or sell.
    pub side: OrderSide,
    /// Shares filled in this execution.
    pub quantity: Quantity,
    /// The price of this execution.
    pub price: Price,
    /// The commission charged for it.
    pub commission: Money,
    /// When it happened.
    pub time: DateTime<Utc>,
}

/// What the broker says about the market's hours now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketClock {
    /// The broker's time.
    pub timestamp: DateTime<Utc>,
    /// Whether the regular session is open.
    pub is_open: bool,
    /// The next open.
    pub next_open: DateTime<Utc>,
    /// The next close.
    pub next_close: DateTime<Utc>,
}

/// One trading day of the broker's calendar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarDay {
    /// The exchange date.
    pub date: NaiveDate,
    /// The regular open, UTC.
    pub open: DateTime<Utc>,
    /// The regular close, UTC.
    pub close: DateTime<Utc>,
}

/// What the broker allows for one instrument.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asset {
    /// The instrument.
    pub symbol: Symbol,
    /// Whether it may be traded at all.
    pub tradable: bool,
    /// Whether it may be sold short.
    pub shortable: bool,
    /// Whether fractional quantities are accepted.
    pub fractionable: bool,
}

/// Why a broker call failed, sorted by what the caller may do next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokerError {
    /// The broker refused the request; nothing happened. Not retried.
    #[error("the broker rejected the request: {reason}")]
    Rejected {
        /// The broker's reason.
        reason: String,
    },
    /// An order with this client order id already exists; the caller should look it up.
    #[error("the broker already has an order with client order id {0}")]
    DuplicateClientOrderId(String),
    /// The order, position or asset does not exist at the broker.
    #[error("not found at the broker: {0}")]
    NotFound(String),
    /// The broker asked us to slow down. Safe to retry after the delay: nothing happened.
    #[error("rate limited by the broker{}", retry_after_text(*.retry_after))]
    RateLimited {
        /// The broker's Retry-After, when it sent one.
        retry_after: Option<Duration>,
    },
    /// The broker failed (5xx), timed out or the connection dropped. For a read, retrying is safe;
    /// for a submission the outcome is unknown until the order is looked up by client order id.
    #[error("the broker is unavailable: {0}")]
    Unavailable(String),
    /// The credentials were refused. Not retried.
    #[error("the broker refused the credentials: {0}")]
    Unauthorized(String),
    /// The reply could not be understood. Not retried: it would fail the same way.
    #[error("the broker's reply could not be read: {0}")]
    Protocol(String),
}

fn retry_after_text(retry_after: Option<Duration>) -> String {
    match retry_after {
        Some(delay) => format!(" (retry after {} ms)", delay.as_millis()),
        None => String::new(),
    }
}

impl BrokerError {
    /// True when trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::RateLimited { .. } | Self::Unavailable(_))
    }
}

/// The operations the host needs from a broker. Every method may be called concurrently.
#[async_trait]
pub trait Broker: Send + Sync {
    /// A short name for logs and the API: `paper`, `alpaca` or `backtest`.
    fn name(&self) -> &'static str;
    /// The market's hours now.
    async fn clock(&self) -> Result<MarketClock, BrokerError>;
    /// Trading days between two dates, inclusive.
    async fn calendar(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<CalendarDay>, BrokerError>;
    /// The account's money.
    async fn account(&self) -> Result<Account, BrokerError>;
    /// Open positions.
    async fn positions(&self) -> Result<Vec<BrokerPosition>, BrokerError>;
    /// What the broker allows for `symbol`.
    async fn asset(&self, symbol: &Symbol) -> Result<Asset, BrokerError>;
    /// Sends one order. At most once per client order id.
    async fn submit(&self, order: &NewOrder) -> Result<BrokerOrder, BrokerError>;
    /// One order by the broker's id.
    async fn order(&self, broker_order_id: &str) -> Result<BrokerOrder, BrokerError>;
    /// One order by the host's client order id; `Ok(None)` when the broker never received it.
    async fn order_by_client_id(
        &self,
        client_order_id: &ClientOrderId,
    ) -> Result<Option<BrokerOrder>, BrokerError>;
    /// Orders still working.
    async fn open_orders(&self) -> Result<Vec<BrokerOrder>, BrokerError>;
    /// Orders submitted at or after `after`, in any status.
    async fn orders_since(&self, after: DateTime<Utc>) -> Result<Vec<BrokerOrder>, BrokerError>;
    /// Requests a cancel. Success means the request was accepted, not that the order is canceled:
    /// a fill may still win the race, so the caller reads the order again.
    async fn cancel(&self, broker_order_id: &str) -> Result<(), BrokerError>;
    /// Replaces a working order; returns the new order (the old one ends `replaced`).
    async fn replace(
        &self,
        broker_order_id: &str,
        replacement: &Replacement,
    ) -> Result<BrokerOrder, BrokerError>;
    /// Executions at or after `after`, oldest first.
    async fn executions_since(&self, after: DateTime<Utc>) -> Result<Vec<Execution>, BrokerError>;
}
