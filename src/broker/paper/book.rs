//! The paper account's valuation and the checks an order must pass before the broker accepts it:
//! pure arithmetic over positions, open orders and last closes, so the rules read in one place.

use std::collections::HashMap;

use rust_decimal::Decimal;

use crate::broker::{Account, BrokerPosition};
use crate::domain::{Money, OrderSide, OrderType, Position, Price, Quantity, Symbol, TimeInForce};
use crate::store::PaperOrderRecord;

/// Everything the valuation reads: cash, positions, open orders and the last close per symbol.
pub(crate) struct Book<'a> {
    /// Cash now.
    pub cash: Money,
    /// Position rows, flat ones included.
    pub positions: &'a [Position],
    /// Orders still working.
    pub open_orders: &'a [PaperOrderRecord],
    /// The last 1-minute close of each symbol that has one.
    pub closes: &'a HashMap<Symbol, Price>,
}

/// The price an order's notional is measured at: its limit when it has one (the worst it accepts),
/// a buy stop's stop when above the last close (it cannot fill below it), else the last close.
pub(crate) fn reference_price(
    order_type: OrderType,
    side: OrderSide,
    last_close: Option<Price>,
) -> Option<Price> {
    match order_type {
        OrderType::Limit { limit } | OrderType::StopLimit { limit, .. } => Some(limit),
        OrderType::Stop { stop } if side == OrderSide::Buy => {
            Some(last_close.map_or(stop, |close| close.max(stop)))
        }
        OrderType::Stop { .. } | OrderType::Market => last_close,
    }
}

impl Book<'_> {
    /// The signed quantity held in `symbol`.
    pub fn position_quantity(&self, symbol: &Symbol) -> Decimal {
        self.positions
            .iter()
            .find(|position| &position.symbol == symbol)
            .map_or(Decimal::ZERO, |position| position.quantity)
    }

    /// Open positions priced at their last close (at their entry price when no bar exists).
    pub fn broker_positions(&self) -> Vec<BrokerPosition> {
        self.positions
            .iter()
            .filter(|position| !position.quantity.is_zero())
            .filter_map(|position| {
                let average = position.average_entry_price?;
                let current = self.closes.get(&position.symbol).copied();
                let mark = current.unwrap_or(average);
                Some(BrokerPosition {
                    symbol: position.symbol.clone(),
                    quantity: position.quantity,
                    average_entry_price: average,
                    current_price: current,
                    market_value: position.market_value(mark),
                    unrealised_pnl: position.unrealised_pnl(mark),
                })
            })
            .collect()
    }

    /// The notional of open buy orders' remaining quantities, which buying power sets aside.
    pub fn open_buy_notional(&self) -> Money {
        self.open_orders
            .iter()
            .filter(|order| order.side == OrderSide::Buy)
            .filter_map(|order| {
                let close = self.closes.get(&order.symbol).copied();
                let price = reference_price(order.order_type, order.side, close)?;
                let remaining = order.quantity.checked_sub(order.filled_quantity)?;
                Some(Money::notional(price, remaining))
            })
            .fold(Money::ZERO, |total, notional| total + notional)
    }

    /// Cash, market values, equity and Reg-T-like buying power:
    /// `2 × equity − gross market value − open buy order notional`, never below zero.
    pub fn account(&self) -> Account {
        let positions = self.broker_positions();
        let mut long = Money::ZERO;
        let mut short = Money::ZERO;
        for position in &positions {
            if position.quantity.is_sign_positive() {
                long += position.market_value;
            } else {
                short += position.market_value;
            }
        }
        let equity = self.cash + long + short;
        let gross = long - short;
        let buying_power =
            (equity * Decimal::TWO - gross - self.open_buy_notional()).max(Money::ZERO);
        Account {
            cash: self.cash,
            equity,
            buying_power,
            long_market_value: long,
            short_market_value: short,
            trading_blocked: false,
        }
    }
}

/// What a new order asks for, as the checks see it.
pub(crate) struct Request<'a> {
    pub symbol: &'a Symbol,
    pub side: OrderSide,
    pub quantity: Quantity,
    pub order_type: OrderType,
    pub time_in_force: TimeInForce,
}

/// The submission rules: fractional quantities only as day orders and never short; short sales
/// only of shortable symbols; orders that increase exposure only within buying power. `Err` holds
/// the reason the order is rejected.
pub(crate) fn check(
    book: &Book<'_>,
    request: &Request<'_>,
    shortable: impl Fn(&Symbol) -> bool,
) -> Result<(), String> {
    let quantity = request.quantity.value();
    let fractional = !quantity.fract().is_zero();
    if fractional && request.time_in_force != TimeInForce::Day {
        return Err("fractional orders must be day orders".into());
    }
    let position = book.position_quantity(request.symbol);
    // Shares already promised to open sell orders cannot also cover this one.
    let pending_sells: Decimal = book
        .open_orders
        .iter()
        .filter(|order| &order.symbol == request.symbol && order.side == OrderSide::Sell)
        .map(|order| order.quantity.value() - order.filled_quantity.value())
        .sum();
    let increase = match request.side {
        OrderSide::Sell => {
            let sellable_long = (position - pending_sells).max(Decimal::ZERO);
            let short = (quantity - sellable_long).max(Decimal::ZERO);
            if short > Decimal::ZERO {
                if !shortable(request.symbol) {
                    return Err(format!("{} is not shortable", request.symbol));
                }
                if fractional {
                    return Err("fractional short sales are not allowed".into());
                }
            }
            short
        }
        OrderSide::Buy => (quantity - (-position).max(Decimal::ZERO)).max(Decimal::ZERO),
    };
    if increase.is_zero() {
        return Ok(());
    }
    let close = book.closes.get(request.symbol).copied();
    let Some(price) = reference_price(request.order_type, request.side, close) else {
        return Err(format!("unknown symbol {}: no market data", request.symbol));
    };
    let needs = Money::new(price.value() * increase);
    let has = book.account().buying_power;
    if needs > has {
        return Err(format!(
            "insufficient buying power: needs {}, has {}",
            needs.round_to_cents(),
            has.round_to_cents()
        ));
    }
    Ok(())
}
