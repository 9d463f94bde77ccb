//! Orders, their status state machine, and fills.
//!
//! Statuses follow Alpaca's names, plus `PendingNew` for an intent written to the outbox and not yet
//! acknowledged by the broker. Every status change goes through [`OrderStatus::transition`], so an
//! illegal change (a filled order becoming cancelled) is an error a caller must handle, not a panic.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Money, Price, Quantity, Symbol};

/// Why an order operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// The status machine does not allow this change.
    #[error("an order cannot go from {from} to {to}")]
    IllegalTransition {
        /// The current status.
        from: OrderStatus,
        /// The requested status.
        to: OrderStatus,
    },
    /// A fill larger than what is left of the order.
    #[error("fill of {fill} exceeds the {remaining} left on the order")]
    Overfill {
        /// The fill's quantity.
        fill: Quantity,
        /// What the order still had open.
        remaining: Quantity,
    },
    /// Zero-quantity orders and fills mean nothing.
    #[error("quantity must be above zero")]
    ZeroQuantity,
    /// A limit or stop price is missing or present where it should not be.
    #[error("{0}")]
    BadPrices(&'static str),
    /// Text that names no status, side, type or time in force.
    #[error("`{text}` is not a valid {what}")]
    Unknown {
        /// What was being parsed.
        what: &'static str,
        /// The text.
        text: String,
    },
}

/// Buy or sell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderSide {
    /// Increase a long position or cover a short.
    Buy,
    /// Reduce a long position or open a short.
    Sell,
}

impl OrderSide {
    /// +1 for buys, −1 for sells.
    pub fn sign(self) -> rust_decimal::Decimal {
        match self {
            Self::Buy => rust_decimal::Decimal::ONE,
            Self::Sell => rust_decimal::Decimal::NEGATIVE_ONE,
        }
    }
}

/// How the order is priced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OrderType {
    /// At the market.
    Market,
    /// At `limit` or better.
    Limit {
        /// The worst acceptable price.
        limit: Price,
    },
    /// Becomes a market order once the price trades through `stop`.
    Stop {
        /// The trigger price.
        stop: Price,
    },
    /// Becomes a limit order at `limit` once the price trades through `stop`.
    StopLimit {
        /// The trigger price.
        stop: Price,
        /// The worst acceptable price once triggered.
        limit: Price,
    },
}

/// How long the order stays working.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimeInForce {
    /// Expires at the close of the session it was placed in.
    Day,
    /// Good till cancelled.
    Gtc,
    /// Immediate or cancel.
    Ioc,
    /// Fill or kill.
    Fok,
}

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Written to the outbox; not yet acknowledged by the broker.
    PendingNew,
    /// Received by the broker.
    New,
    /// Accepted by the broker, not yet routed or working.
    Accepted,
    /// Some quantity filled, the rest still working.
    PartiallyFilled,
    /// Completely filled. Terminal.
    Filled,
    /// A cancel was requested and not yet confirmed.
    PendingCancel,
    /// Cancelled; any partial fills stand. Terminal.
    Canceled,
    /// Refused by the broker. Terminal.
    Rejected,
    /// Ran out of time (a day order at the close). Terminal.
    Expired,
    /// Replaced by a new order. Terminal.
    Replaced,
}

impl OrderStatus {
    /// Every status, for tests and listings.
    pub const ALL: [Self; 10] = [
        Self::PendingNew,
        Self::New,
        Self::Accepted,
        Self::PartiallyFilled,
        Self::Filled,
        Self::PendingCancel,
        Self::Canceled,
        Self::Rejected,
        Self::Expired,
        Self::Replaced,
    ];

    /// True once nothing more can happen to the order.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Filled | Self::Canceled | Self::Rejected | Self::Expired | Self::Replaced
        )
    }

    /// True while the order can still fill.
    pub fn is_open(self) -> bool {
        !self.is_terminal()
    }

    /// The one place that decides which status changes are legal. Repeating the current status is
    /// allowed (brokers resend updates); leaving a terminal status is not. Fills may arrive before
    /// the acknowledgement and after a cancel request, so those orders are legal too.
    pub fn transition(self, to: Self) -> Result<Self, OrderError> {
        use OrderStatus::*;
        let legal = self == to
            || match self {
                PendingNew => !matches!(to, PendingCancel | Replaced),
                New => !matches!(to, PendingNew),
                Accepted => !matches!(to, PendingNew | New),
                PartiallyFilled => {
                    matches!(to, Filled | PendingCancel | Canceled | Expired | Replaced)
                }
                PendingCancel => matches!(to, PartiallyFilled | Filled | Canceled | Expired),
                Filled | Canceled | Rejected | Expired | Replaced => false,
            };
        if legal {
            Ok(to)
        } else {
            Err(OrderError::IllegalTransition { from: self, to })
        }
    }

    /// The snake_case name used in the database and by Alpaca.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingNew => "pending_new",
            Self::New => "new",
            Self::Accepted => "accepted",
            Self::PartiallyFilled => "partially_filled",
            Self::Filled => "filled",
            Self::PendingCancel => "pending_cancel",
            Self::Canceled => "canceled",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
            Self::Replaced => "replaced",
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderStatus {
    type Err = OrderError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| OrderError::Unknown {
                what: "order status",
                text: text.to_owned(),
            })
    }
}

impl OrderSide {
    /// `buy` or `sell`, as stored and as Alpaca spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Buy => "buy",
            Self::Sell => "sell",
        }
    }

    /// The other side: what closes a position this side opened.
    pub fn opposite(self) -> Self {
        match self {
            Self::Buy => Self::Sell,
            Self::Sell => Self::Buy,
        }
    }
}

impl FromStr for OrderSide {
    type Err = OrderError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "buy" => Ok(Self::Buy),
            "sell" => Ok(Self::Sell),
            _ => Err(OrderError::Unknown {
                what: "order side",
                text: text.to_owned(),
            }),
        }
    }
}

impl TimeInForce {
    /// `day`, `gtc`, `ioc` or `fok`, as stored and as Alpaca spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Gtc => "gtc",
            Self::Ioc => "ioc",
            Self::Fok => "fok",
        }
    }
}

impl FromStr for TimeInForce {
    type Err = OrderError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "day" => Ok(Self::Day),
            "gtc" => Ok(Self::Gtc),
            "ioc" => Ok(Self::Ioc),
            "fok" => Ok(Self::Fok),
            _ => Err(OrderError::Unknown {
                what: "time in force",
                text: text.to_owned(),
            }),
        }
    }
}

impl OrderType {
    /// `market`, `limit`, `stop` or `stop_limit`, as stored and as Alpaca spells it.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Market => "market",
            Self::Limit { .. } => "limit",
            Self::Stop { .. } => "stop",
            Self::StopLimit { .. } => "stop_limit",
        }
    }

    /// The limit price, if the type has one.
    pub fn limit_price(self) -> Option<Price> {
        match self {
            Self::Limit { limit } | Self::StopLimit { limit, .. } => Some(limit),
            Self::Market | Self::Stop { .. } => None,
        }
    }

    /// The stop price, if the type has one.
    pub fn stop_price(self) -> Option<Price> {
        match self {
            Self::Stop { stop } | Self::StopLimit { stop, .. } => Some(stop),
            Self::Market | Self::Limit { .. } => None,
        }
    }

    /// Rebuilds a type from its stored parts; a type without the prices it needs is an error.
    pub fn from_parts(
        kind: &str,
        limit: Option<Price>,
        stop: Option<Price>,
    ) -> Result<Self, OrderError> {
        let missing = |what: &'static str| OrderError::Unknown {
            what,
            text: kind.to_owned(),
        };
        match kind {
            "market" => Ok(Self::Market),
            "limit" => Ok(Self::Limit {
                limit: limit.ok_or_else(|| missing("limit price for order type"))?,
            }),
            "stop" => Ok(Self::Stop {
                stop: stop.ok_or_else(|| missing("stop price for order type"))?,
            }),
            "stop_limit" => Ok(Self::StopLimit {
                stop: stop.ok_or_else(|| missing("stop price for order type"))?,
                limit: limit.ok_or_else(|| missing("limit price for order type"))?,
            }),
            _ => Err(OrderError::Unknown {
                what: "order type",
                text: kind.to_owned(),
            }),
        }
    }
}

/// The idempotency key of an order: written to the outbox before submission and sent to the broker,
/// so a restart can ask the broker whether an intent was already placed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientOrderId(String);

impl ClientOrderId {
    /// Alpaca accepts up to 128 characters.
    pub const MAX_LEN: usize = 128;

    /// Accepts 1..=128 printable ASCII characters without spaces.
    pub fn parse(text: &str) -> Result<Self, OrderError> {
        let valid = !text.is_empty()
            && text.len() <= Self::MAX_LEN
            && text.chars().all(|c| c.is_ascii_graphic());
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(OrderError::Unknown {
                what: "client order id",
                text: text.to_owned(),
            })
        }
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One execution against an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fill {
    /// The order it belongs to.
    pub client_order_id: ClientOrderId,
    /// The instrument.
    pub symbol: Symbol,
    /// The order's side.
    pub side: OrderSide,
    /// How much filled.
    pub quantity: Quantity,
    /// At what price.
    pub price: Price,
    /// Fees charged for it.
    pub commission: Money,
    /// When, UTC.
    pub time: DateTime<Utc>,
}

/// An order as the host tracks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Our idempotency key.
    pub client_order_id: ClientOrderId,
    /// The broker's id, once acknowledged.
    pub broker_order_id: Option<String>,
    /// The instrument.
    pub symbol: Symbol,
    /// Buy or sell.
    pub side: OrderSide,
    /// The ordered quantity.
    pub quantity: Quantity,
    /// Pricing.
    pub order_type: OrderType,
    /// Lifetime.
    pub time_in_force: TimeInForce,
    /// Current status.
    pub status: OrderStatus,
    /// How much has filled so far.
    pub filled_quantity: Quantity,
    /// The volume-weighted price of the fills so far.
    pub average_fill_price: Option<Price>,
    /// When the intent was created, UTC.
    pub created_at: DateTime<Utc>,
}

impl Order {
    /// A new intent in `PendingNew`.
    pub fn new(
        client_order_id: ClientOrderId,
        symbol: Symbol,
        side: OrderSide,
        quantity: Quantity,
        order_type: OrderType,
        time_in_force: TimeInForce,
        created_at: DateTime<Utc>,
    ) -> Result<Self, OrderError> {
        if quantity.is_zero() {
            return Err(OrderError::ZeroQuantity);
        }
        if let OrderType::StopLimit { stop, limit } = order_type {
            // A buy stop-limit with its limit below the stop could never fill once triggered.
            let inverted = match side {
                OrderSide::Buy => limit < stop,
                OrderSide::Sell => limit > stop,
            };
            if inverted {
                return Err(OrderError::BadPrices(
                    "a stop-limit's limit must be at or beyond its stop in the order's direction",
                ));
            }
        }
        Ok(Self {
            client_order_id,
            broker_order_id: None,
            symbol,
            side,
            quantity,
            order_type,
            time_in_force,
            status: OrderStatus::PendingNew,
            filled_quantity: Quantity::ZERO,
            average_fill_price: None,
            created_at,
        })
    }

    /// What is still open.
    pub fn remaining(&self) -> Quantity {
        self.quantity
            .checked_sub(self.filled_quantity)
            .unwrap_or(Quantity::ZERO)
    }

    /// Moves to `status` if the state machine allows it.
    pub fn set_status(&mut self, status: OrderStatus) -> Result<(), OrderError> {
        self.status = self.status.transition(status)?;
        Ok(())
    }

    /// Applies an execution: updates the filled quantity, the average price and the status.
    pub fn apply_fill(&mut self, quantity: Quantity, price: Price) -> Result<(), OrderError> {
        if quantity.is_zero() {
            return Err(OrderError::ZeroQuantity);
        }
        let remaining = self.remaining();
        if quantity > remaining {
            return Err(OrderError::Overfill {
                fill: quantity,
                remaining,
            });
        }
        let next = if quantity == remaining {
            OrderStatus::Filled
        } else {
            OrderStatus::PartiallyFilled
        };
        let status = self.status.transition(next)?;
        let filled_before = self.filled_quantity.value();
        let total = filled_before + quantity.value();
        let cost_before = self
            .average_fill_price
            .map_or(rust_decimal::Decimal::ZERO, |p| p.value() * filled_before);
        let average = (cost_before + price.value() * quantity.value()) / total;
        self.average_fill_price = Some(Price::new(average).map_err(|_| OrderError::ZeroQuantity)?);
        self.filled_quantity = self.filled_quantity + quantity;
        self.status = status;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal::Decimal;

    fn order(quantity: i64) -> Order {
        Order::new(
            ClientOrderId::parse("t-1").expect("valid"),
            Symbol::parse("AAPL").expect("valid"),
            OrderSide::Buy,
            Quantity::new(Decimal::from(quantity)).expect("valid"),
            OrderType::Market,
            TimeInForce::Day,
            DateTime::UNIX_EPOCH,
        )
        .expect("valid order")
    }

    #[test]
    fn a_filled_order_cannot_be_cancelled() {
        let error = OrderStatus::Filled
            .transition(OrderStatus::Canceled)
            .expect_err("terminal");
        assert_eq!(
            error.to_string(),
            "an order cannot go from filled to canceled"
        );
    }

    #[test]
    fn a_fill_racing_a_cancel_request_is_accepted() {
        assert_eq!(
            OrderStatus::PendingCancel.transition(OrderStatus::Filled),
            Ok(OrderStatus::Filled)
        );
    }

    #[test]
    fn partial_fills_accumulate_to_filled_with_a_weighted_average() {
        let mut order = order(10);
        order
            .apply_fill(
                Quantity::new(Decimal::from(4)).expect("ok"),
                "10".parse().expect("ok"),
            )
            .expect("fill");
        assert_eq!(order.status, OrderStatus::PartiallyFilled);
        order
            .apply_fill(
                Quantity::new(Decimal::from(6)).expect("ok"),
                "20".parse().expect("ok"),
            )
            .expect("fill");
        assert_eq!(order.status, OrderStatus::Filled);
        assert_eq!(
            order.average_fill_price.map(Price::value),
            Some(Decimal::from(16))
        );
        assert!(order.remaining().is_zero());
    }

    #[test]
    fn overfills_and_fills_after_cancel_are_refused() {
        let mut order = order(5);
        let six = Quantity::new(Decimal::from(6)).expect("ok");
        assert!(matches!(
            order.apply_fill(six, "1".parse().expect("ok")),
            Err(OrderError::Overfill { .. })
        ));
        order
            .set_status(OrderStatus::Canceled)
            .expect("pending orders can be cancelled");
        let one = Quantity::new(Decimal::ONE).expect("ok");
        assert!(matches!(
            order.apply_fill(one, "1".parse().expect("ok")),
            Err(OrderError::IllegalTransition { .. })
        ));
    }

    #[test]
    fn inverted_stop_limits_are_refused() {
        let result = Order::new(
            ClientOrderId::parse("t-2").expect("valid"),
            Symbol::parse("AAPL").expect("valid"),
            OrderSide::Buy,
            Quantity::new(Decimal::ONE).expect("ok"),
            OrderType::StopLimit {
                stop: "10".parse().expect("ok"),
                limit: "9".parse().expect("ok"),
            },
            TimeInForce::Gtc,
            DateTime::UNIX_EPOCH,
        );
        assert!(matches!(result, Err(OrderError::BadPrices(_))));
    }

    fn status() -> impl Strategy<Value = OrderStatus> {
        (0..OrderStatus::ALL.len()).prop_map(|index| OrderStatus::ALL[index])
    }

    proptest! {
        #[test]
        fn terminal_statuses_never_change(from in status(), to in status()) {
            if from.is_terminal() && from != to {
                prop_assert!(from.transition(to).is_err());
            }
        }

        #[test]
        fn nothing_returns_to_pending_new(from in status()) {
            if from != OrderStatus::PendingNew {
                prop_assert!(from.transition(OrderStatus::PendingNew).is_err());
            }
        }

        #[test]
        fn status_names_round_trip(status in status()) {
            prop_assert_eq!(status.as_str().parse(), Ok(status));
        }

        #[test]
        fn any_walk_of_legal_transitions_ends_terminal_at_most_once(steps in proptest::collection::vec(status(), 0..20)) {
            let mut current = OrderStatus::PendingNew;
            let mut terminal_reached = false;
            for step in steps {
                if let Ok(next) = current.transition(step) {
                    prop_assert!(!(terminal_reached && next != current), "left a terminal status");
                    current = next;
                    terminal_reached |= current.is_terminal();
                }
            }
        }

        #[test]
        fn fills_never_exceed_the_order(quantity in 1i64..1000, fills in proptest::collection::vec(1i64..400, 1..10)) {
            let mut order = order(quantity);
            for fill in fills {
                let _ = order.apply_fill(Quantity::new(Decimal::from(fill)).expect("ok"), "5".parse().expect("ok"));
                prop_assert!(order.filled_quantity <= order.quantity);
                prop_assert_eq!(order.status == OrderStatus::Filled, order.remaining().is_zero());
            }
        }
    }
}
