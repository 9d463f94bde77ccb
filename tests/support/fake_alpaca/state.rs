//! The fake's memory: orders and their state machine, fills, positions, cash, scheduled faults
//! and the request log.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

/// A fault the fake injects instead of (or around) a normal reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Reply with this status and Alpaca-style body, optionally with Retry-After (seconds);
    /// the request is not processed.
    Status {
        /// The HTTP status.
        status: u16,
        /// Alpaca's error code.
        code: u64,
        /// Alpaca's message.
        message: String,
        /// The Retry-After header, in seconds.
        retry_after: Option<u64>,
    },
    /// Wait this long, then process and reply (a slow server).
    Delay(Duration),
    /// Process the request (the order IS recorded), then hold the reply this long.
    HoldAfterCreate(Duration),
    /// Close the connection without a reply; the request is not processed.
    Drop,
    /// Process the request, then close the connection without a reply.
    DropAfterProcessing,
}

impl Fault {
    /// A 429 with an optional Retry-After in seconds.
    pub fn rate_limited(retry_after: Option<u64>) -> Self {
        Self::Status {
            status: 429,
            code: 42910000,
            message: "rate limit exceeded".into(),
            retry_after,
        }
    }

    /// A server error (500, 503, …).
    pub fn server_error(status: u16) -> Self {
        Self::Status {
            status,
            code: 50010000,
            message: "internal server error occurred".into(),
            retry_after: None,
        }
    }

    /// Alpaca's 403 for an order the account cannot afford.
    pub fn insufficient_buying_power() -> Self {
        Self::Status {
            status: 403,
            code: 40310000,
            message: "insufficient buying power".into(),
            retry_after: None,
        }
    }

    /// A 422 with Alpaca's message.
    pub fn unprocessable(message: &str) -> Self {
        Self::Status {
            status: 422,
            code: 42210000,
            message: message.into(),
            retry_after: None,
        }
    }
}

/// A fault scheduled for the next `remaining` requests matching `method` and `path`
/// (`*` matches one path segment).
#[derive(Debug, Clone)]
struct Rule {
    method: String,
    path: String,
    remaining: usize,
    fault: Fault,
}

fn path_matches(pattern: &str, path: &str) -> bool {
    let (pattern, path): (Vec<_>, Vec<_>) =
        (pattern.split('/').collect(), path.split('/').collect());
    pattern.len() == path.len()
        && pattern
            .iter()
            .zip(&path)
            .all(|(want, got)| *want == "*" || want == got)
}

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    /// GET, POST, …
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query string, if any.
    pub query: String,
    /// The client order id in the body or the query, if any.
    pub client_order_id: Option<String>,
    /// The fault injected, if any.
    pub fault: Option<Fault>,
    /// When it arrived.
    pub at: Instant,
}

/// One order at the fake.
#[derive(Debug, Clone)]
pub struct FakeOrder {
    pub id: Uuid,
    pub client_order_id: String,
    pub symbol: String,
    pub side: String,
    pub order_type: String,
    pub time_in_force: String,
    pub quantity: Decimal,
    pub limit_price: Option<Decimal>,
    pub stop_price: Option<Decimal>,
    pub status: String,
    pub filled_quantity: Decimal,
    pub filled_notional: Decimal,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub filled_at: Option<DateTime<Utc>>,
    pub canceled_at: Option<DateTime<Utc>>,
    pub replaced_by: Option<Uuid>,
    pub replaces: Option<Uuid>,
}

impl FakeOrder {
    pub fn is_open(&self) -> bool {
        matches!(
            self.status.as_str(),
            "new" | "accepted" | "partially_filled" | "pending_new"
        )
    }

    /// Alpaca's order JSON.
    pub fn json(&self) -> Value {
        let text = |value: Option<Decimal>| value.map(|value| value.to_string());
        let average = (!self.filled_quantity.is_zero()).then(|| {
            (self.filled_notional / self.filled_quantity)
                .round_dp(4)
                .normalize()
        });
        json!({
            "id": self.id.to_string(),
            "client_order_id": self.client_order_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "submitted_at": self.created_at,
            "filled_at": self.filled_at,
            "expired_at": null,
            "canceled_at": self.canceled_at,
            "failed_at": null,
            "replaced_at": self.replaced_by.map(|_| self.updated_at),
            "replaced_by": self.replaced_by.map(|id| id.to_string()),
            "replaces": self.replaces.map(|id| id.to_string()),
            "asset_id": asset_id(&self.symbol).to_string(),
            "symbol": self.symbol,
            "asset_class": "us_equity",
            "notional": null,
            "qty": self.quantity.to_string(),
            "filled_qty": self.filled_quantity.to_string(),
            "filled_avg_price": text(average),
            "order_class": "",
            "order_type": self.order_type,
            "type": self.order_type,
            "side": self.side,
            "time_in_force": self.time_in_force,
            "limit_price": text(self.limit_price),
            "stop_price": text(self.stop_price),
            "status": self.status,
            "extended_hours": false,
            "legs": null,
            "trail_percent": null,
            "trail_price": null,
            "hwm": null,
        })
    }
}

/// A stable asset id per symbol, as Alpaca has.
pub fn asset_id(symbol: &str) -> Uuid {
    let mut bytes = [0u8; 16];
    for (index, byte) in symbol.bytes().enumerate().take(16) {
        bytes[index] = byte;
    }
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// One fill activity.
#[derive(Debug, Clone)]
pub struct FakeFill {
    pub id: String,
    pub order_id: Uuid,
    pub symbol: String,
    pub side: String,
    pub quantity: Decimal,
    pub price: Decimal,
    pub cumulative: Decimal,
    pub leaves: Decimal,
    pub final_fill: bool,
    pub time: DateTime<Utc>,
}

impl FakeFill {
    /// Alpaca's FILL activity JSON.
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "activity_type": "FILL",
            "transaction_time": self.time,
            "type": if self.final_fill { "fill" } else { "partial_fill" },
            "price": self.price.to_string(),
            "qty": self.quantity.to_string(),
            "side": self.side,
            "symbol": self.symbol,
            "leaves_qty": self.leaves.to_string(),
            "order_id": self.order_id.to_string(),
            "cum_qty": self.cumulative.to_string(),
            "order_status": if self.final_fill { "filled" } else { "partially_filled" },
        })
    }
}

fn sign(value: Decimal) -> i8 {
    if value.is_zero() {
        0
    } else if value.is_sign_negative() {
        -1
    } else {
        1
    }
}

/// A position: signed quantity and average entry price.
#[derive(Debug, Clone, Default)]
pub struct FakePosition {
    pub quantity: Decimal,
    pub average_entry: Decimal,
}

/// Everything the fake holds.
#[derive(Debug)]
pub struct State {
    pub key_id: String,
    pub secret: String,
    pub orders: Vec<FakeOrder>,
    pub fills: Vec<FakeFill>,
    pub positions: BTreeMap<String, FakePosition>,
    pub last_price: HashMap<String, Decimal>,
    pub cash: Decimal,
    pub assets: BTreeMap<String, (bool, bool)>,
    pub bars: HashMap<String, Vec<Value>>,
    pub bars_page_size: usize,
    pub clock_time: DateTime<Utc>,
    rules: Vec<Rule>,
    parked: HashMap<u64, Fault>,
    next_parked: u64,
    pub log: Vec<LoggedRequest>,
}

impl State {
    pub fn new(key_id: &str, secret: &str) -> Self {
        let assets = [
            "AAPL", "MSFT", "SIMA", "SIMB", "SIMC", "SIMD", "SIMX", "SIMY", "SIMZ",
        ]
        .into_iter()
        .map(|symbol| (symbol.to_owned(), (true, true)))
        .collect();
        Self {
            key_id: key_id.to_owned(),
            secret: secret.to_owned(),
            orders: Vec::new(),
            fills: Vec::new(),
            positions: BTreeMap::new(),
            last_price: HashMap::new(),
            cash: Decimal::from(100_000),
            assets,
            bars: HashMap::new(),
            bars_page_size: 10_000,
            clock_time: "2024-01-02T15:00:00Z".parse().expect("valid time"),
            rules: Vec::new(),
            parked: HashMap::new(),
            next_parked: 0,
            log: Vec::new(),
        }
    }

    pub fn schedule(&mut self, method: &str, path: &str, times: usize, fault: Fault) {
        self.rules.push(Rule {
            method: method.to_uppercase(),
            path: path.to_owned(),
            remaining: times,
            fault,
        });
    }

    /// Drops every scheduled fault: the broker is healthy again.
    pub fn clear_faults(&mut self) {
        self.rules.clear();
    }

    /// The fault for this request, if one is scheduled (using up one of its matches).
    pub fn take_fault(&mut self, method: &str, path: &str) -> Option<Fault> {
        let rule = self.rules.iter_mut().find(|rule| {
            rule.remaining > 0 && rule.method == method && path_matches(&rule.path, path)
        })?;
        rule.remaining -= 1;
        Some(rule.fault.clone())
    }

    /// Hands a fault from the connection front to the HTTP layer through a header.
    pub fn park(&mut self, fault: Fault) -> u64 {
        self.next_parked += 1;
        self.parked.insert(self.next_parked, fault);
        self.next_parked
    }

    pub fn unpark(&mut self, id: u64) -> Option<Fault> {
        self.parked.remove(&id)
    }

    pub fn order_mut(&mut self, id: Uuid) -> Option<&mut FakeOrder> {
        self.orders.iter_mut().find(|order| order.id == id)
    }

    /// Fills `quantity` of an open order at `price`, moving cash and the position.
    pub fn fill(&mut self, id: Uuid, quantity: Decimal, price: Decimal, time: DateTime<Utc>) {
        let order = self.order_mut(id).expect("fill of an unknown order");
        assert!(order.is_open(), "fill of a closed order ({})", order.status);
        let leaves = order.quantity - order.filled_quantity - quantity;
        assert!(leaves >= Decimal::ZERO, "overfill");
        order.filled_quantity += quantity;
        order.filled_notional += quantity * price;
        order.updated_at = time;
        let final_fill = leaves.is_zero();
        order.status = if final_fill {
            "filled"
        } else {
            "partially_filled"
        }
        .into();
        if final_fill {
            order.filled_at = Some(time);
        }
        let (symbol, side, cumulative) = (
            order.symbol.clone(),
            order.side.clone(),
            order.filled_quantity,
        );
        let signed = if side == "buy" { quantity } else { -quantity };
        self.cash -= signed * price;
        let position = self.positions.entry(symbol.clone()).or_default();
        let new_quantity = position.quantity + signed;
        if position.quantity.is_zero() || sign(position.quantity) == sign(signed) {
            // Adding to a position moves its average entry; reducing it does not.
            let cost = position.average_entry * position.quantity.abs() + price * quantity;
            position.average_entry = cost / new_quantity.abs();
        } else if sign(new_quantity) == sign(signed) && !new_quantity.is_zero() {
            // Flipped through zero: the remainder was entered at this price.
            position.average_entry = price;
        }
        position.quantity = new_quantity;
        if position.quantity.is_zero() {
            self.positions.remove(&symbol);
        }
        self.last_price.insert(symbol.clone(), price);
        self.fills.push(FakeFill {
            id: format!("{}::{}", time.format("%Y%m%d%H%M%S%3f"), Uuid::new_v4()),
            order_id: id,
            symbol,
            side,
            quantity,
            price,
            cumulative,
            leaves,
            final_fill,
            time,
        });
    }

    /// Market value of long and short positions at the last prices.
    pub fn market_values(&self) -> (Decimal, Decimal) {
        let mut long = Decimal::ZERO;
        let mut short = Decimal::ZERO;
        for (symbol, position) in &self.positions {
            let price = self
                .last_price
                .get(symbol)
                .copied()
                .unwrap_or(position.average_entry);
            let value = position.quantity * price;
            if value > Decimal::ZERO {
                long += value;
            } else {
                short += value;
            }
        }
        (long, short)
    }
}
