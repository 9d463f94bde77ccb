//! What a risk check reads and what it returns: the order request, the portfolio and market
//! snapshots, and the decision with the rule and the inputs it was made on.

use std::collections::HashMap;
use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::{Money, OrderSide, OrderType, Price, Quantity, Symbol};

/// An order a strategy (or an operator) wants to place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRequest {
    /// The strategy asking, which owns a rate-limit bucket.
    pub strategy: String,
    /// The instrument.
    pub symbol: Symbol,
    /// Buy or sell.
    pub side: OrderSide,
    /// How much.
    pub quantity: Quantity,
    /// Market, limit, stop or stop-limit, with their prices.
    pub order_type: OrderType,
    /// The broker reports the asset shortable (or a locate is held) for this request.
    pub shortable: bool,
    /// An operator's flatten: the only order that passes a halt, and only when it reduces.
    pub operator_flatten: bool,
}

impl OrderRequest {
    /// The signed change in position this order would make.
    pub fn signed_quantity(&self) -> Decimal {
        self.side.sign() * self.quantity.value()
    }

    /// True when the order only reduces an existing position: opposite side, and no larger than
    /// the position, so it can neither open nor flip one.
    pub fn reduces_position(&self, portfolio: &PortfolioSnapshot) -> bool {
        let position = portfolio.position_quantity(&self.symbol);
        !position.is_zero()
            && position.is_sign_positive() != self.side.sign().is_sign_positive()
            && self.quantity.value() <= position.abs()
    }

    /// The price the order is expected to fill at: its limit (or stop) price when it has one,
    /// otherwise the last price.
    pub fn expected_price(&self, last: Price) -> Price {
        match self.order_type {
            OrderType::Market => last,
            OrderType::Limit { limit } | OrderType::StopLimit { limit, .. } => limit,
            OrderType::Stop { stop } => stop,
        }
    }
}

/// One holding as the risk engine needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PositionSnapshot {
    /// Signed quantity: long above zero, short below.
    pub quantity: Decimal,
    /// The average entry price, used when no last price is known.
    pub average_price: Price,
}

/// The account as of the check.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PortfolioSnapshot {
    /// Cash plus the market value of positions.
    pub equity: Money,
    /// Cash.
    pub cash: Money,
    /// Open positions by symbol.
    pub positions: HashMap<Symbol, PositionSnapshot>,
    /// Orders still working at the broker.
    pub open_orders: u32,
    /// Orders sent today.
    pub orders_today: u32,
    /// Realised profit and loss since the day started.
    pub realised_pnl_today: Money,
    /// Unrealised profit and loss of the open positions.
    pub unrealised_pnl: Money,
}

impl PortfolioSnapshot {
    /// The signed quantity held in `symbol`; zero when flat.
    pub fn position_quantity(&self, symbol: &Symbol) -> Decimal {
        self.positions
            .get(symbol)
            .map_or(Decimal::ZERO, |position| position.quantity)
    }

    /// Positions that are not flat.
    pub fn open_positions(&self) -> usize {
        self.positions
            .values()
            .filter(|position| !position.quantity.is_zero())
            .count()
    }
}

/// Prices and session state as of the check.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MarketSnapshot {
    /// The last trade price by symbol.
    pub last_prices: HashMap<Symbol, Price>,
    /// Whether the market is in its regular session.
    pub market_open: bool,
    /// Minutes until the close, when known.
    pub minutes_to_close: Option<i64>,
}

/// The rule behind a refusal or a clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleName {
    /// Trading is halted (drawdown or kill switch).
    Halted,
    /// Reducing-only after the daily loss limit.
    DailyLoss,
    /// Cooldown after a losing streak.
    ConsecutiveLosses,
    /// The market is closed.
    MarketHours,
    /// Too close to the close for new entries.
    EntryCutoff,
    /// No last price to check the order against.
    NoMarketPrice,
    /// The limit or stop price is too far from the last price.
    PriceBand,
    /// The symbol is not in the allowed list.
    SymbolNotAllowed,
    /// The symbol may not be traded in this direction.
    Direction,
    /// The order would open or increase a short that is not allowed.
    Shortability,
    /// Too many orders today.
    OrdersPerDay,
    /// Too many orders working.
    OpenOrders,
    /// The strategy's order rate.
    StrategyRate,
    /// The account's order rate.
    AccountRate,
    /// Too many positions held.
    OpenPositions,
    /// The order's quantity.
    OrderQuantity,
    /// The order's notional.
    OrderNotional,
    /// The position's notional.
    PositionNotional,
    /// The position's share of equity.
    PositionEquityPercent,
    /// Gross exposure.
    GrossExposure,
    /// Net exposure.
    NetExposure,
    /// Leverage.
    Leverage,
    /// Reconciliation found the symbol (or the account) out of step with the broker; no new
    /// orders until it is resolved. Checked by the order desk before the engine.
    ReconciliationMismatch,
}

impl fmt::Display for RuleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The serde name is the one stored and shown in the API, so Display uses it too.
        let name = serde_json::to_value(self)
            .ok()
            .and_then(|value| value.as_str().map(str::to_owned))
            .unwrap_or_default();
        f.write_str(&name)
    }
}

/// What the engine decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The order may be sent as requested.
    Accepted,
    /// A smaller order passes every rule; send `quantity` instead.
    Clipped {
        /// The quantity that passes.
        quantity: Quantity,
        /// The rule that bound.
        rule: RuleName,
        /// Why, with the numbers.
        reason: String,
    },
    /// The order may not be sent.
    Refused {
        /// The rule that refused.
        rule: RuleName,
        /// Why, with the numbers.
        reason: String,
    },
}

/// The numbers a decision was made on, stored with it so a refusal can be explained later.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CheckInputs {
    /// The mode at the time of the check (`active`, `reducing`, `halted`).
    pub mode: String,
    /// True when the order only reduces a position.
    pub reduces_position: bool,
    /// The last price of the symbol, when known.
    pub last_price: Option<Price>,
    /// The price the notional was computed at.
    pub expected_price: Option<Price>,
    /// The signed position before the order.
    pub position_before: Decimal,
    /// Equity.
    pub equity: Money,
    /// Gross exposure before the order.
    pub gross_exposure: Money,
    /// Net exposure before the order.
    pub net_exposure: Money,
    /// Positions held before the order.
    pub open_positions: usize,
    /// Orders working before the order.
    pub open_orders: u32,
    /// Orders sent today before the order.
    pub orders_today: u32,
    /// Tokens in the strategy's bucket before the order.
    pub strategy_tokens: f64,
    /// Tokens in the account's bucket before the order.
    pub account_tokens: f64,
    /// The day's profit and loss so far.
    pub daily_pnl: Money,
}

/// A decision and the inputs it was made on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Accepted, clipped or refused.
    pub outcome: Outcome,
    /// What the engine looked at.
    pub inputs: CheckInputs,
}

impl Decision {
    /// True when the order may be sent as requested.
    pub fn is_accepted(&self) -> bool {
        self.outcome == Outcome::Accepted
    }

    /// The rule behind a clip or a refusal.
    pub fn rule(&self) -> Option<RuleName> {
        match &self.outcome {
            Outcome::Accepted => None,
            Outcome::Clipped { rule, .. } | Outcome::Refused { rule, .. } => Some(*rule),
        }
    }

    /// The reason behind a clip or a refusal.
    pub fn reason(&self) -> Option<&str> {
        match &self.outcome {
            Outcome::Accepted => None,
            Outcome::Clipped { reason, .. } | Outcome::Refused { reason, .. } => Some(reason),
        }
    }
}
