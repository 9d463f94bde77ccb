//! Conversions between apca's types and the host's: exact decimals both ways (through their
//! decimal text, never through `f64`), and every Alpaca value checked as it comes in.

use std::str::FromStr;

use apca::api::v2::{account, account_activities, asset, calendar, clock, order, position};
use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::America::New_York;
use rust_decimal::Decimal;

use crate::broker::{
    Account, Asset, BrokerError, BrokerOrder, BrokerPosition, CalendarDay, Execution, MarketClock,
    NewOrder, Replacement,
};
use crate::domain::{
    ClientOrderId, Money, OrderSide, OrderStatus, OrderType, Price, Quantity, Symbol, TimeInForce,
};

fn protocol(what: &str, detail: impl std::fmt::Display) -> BrokerError {
    BrokerError::Protocol(format!("{what}: {detail}"))
}

/// An apca number as an exact decimal. apca keeps numbers as rationals and prints them as decimal
/// text, which `Decimal` reads without rounding.
fn decimal<N: ToString>(what: &str, number: &N) -> Result<Decimal, BrokerError> {
    let text = number.to_string();
    Decimal::from_str_exact(&text).map_err(|error| protocol(what, format!("`{text}`: {error}")))
}

/// A decimal as an apca number (the type is inferred from where it goes).
fn number<N>(value: Decimal) -> Result<N, BrokerError>
where
    N: FromStr,
    N::Err: std::fmt::Display,
{
    value
        .to_string()
        .parse()
        .map_err(|error| protocol("converting a decimal for apca", error))
}

fn price<N: ToString>(what: &str, number: &N) -> Result<Price, BrokerError> {
    Price::new(decimal(what, number)?).map_err(|error| protocol(what, error))
}

fn quantity<N: ToString>(what: &str, number: &N) -> Result<Quantity, BrokerError> {
    Quantity::new(decimal(what, number)?).map_err(|error| protocol(what, error))
}

fn money<N: ToString>(what: &str, number: &N) -> Result<Money, BrokerError> {
    decimal(what, number).map(Money::new)
}

fn symbol(text: &str) -> Result<Symbol, BrokerError> {
    Symbol::parse(text).map_err(|error| protocol("symbol", error))
}

/// The market clock.
pub fn market_clock(clock: &clock::Clock) -> MarketClock {
    MarketClock {
        timestamp: clock.current,
        is_open: clock.open,
        next_open: clock.next_open,
        next_close: clock.next_close,
    }
}

/// One calendar day; Alpaca gives open and close as New York wall-clock times.
pub fn calendar_day(day: &calendar::OpenClose) -> Result<CalendarDay, BrokerError> {
    let at = |time: NaiveTime| -> Result<DateTime<Utc>, BrokerError> {
        New_York
            .from_local_datetime(&day.date.and_time(time))
            .single()
            .map(|local| local.with_timezone(&Utc))
            .ok_or_else(|| {
                protocol(
                    "calendar",
                    format!("{} {time} is not a New York time", day.date),
                )
            })
    };
    Ok(CalendarDay {
        date: day.date,
        open: at(day.open)?,
        close: at(day.close)?,
    })
}

/// The calendar request for an inclusive date range.
pub fn calendar_request(from: NaiveDate, to: NaiveDate) -> calendar::ListReq {
    calendar::ListReqInit::default().init(from, to)
}

/// The account's money.
pub fn account(account: &account::Account) -> Result<Account, BrokerError> {
    Ok(Account {
        cash: money("account cash", &account.cash)?,
        equity: money("account equity", &account.equity)?,
        buying_power: money("account buying power", &account.buying_power)?,
        long_market_value: money("long market value", &account.market_value_long)?,
        short_market_value: money("short market value", &account.market_value_short)?,
        trading_blocked: account.trading_blocked
            || account.account_blocked
            || account.trading_suspended,
    })
}

/// One position; Alpaca's quantity is signed already (negative for shorts).
pub fn position(position: &position::Position) -> Result<BrokerPosition, BrokerError> {
    let mut quantity = decimal("position quantity", &position.quantity)?;
    // Some Alpaca replies give a short's quantity unsigned; the side says which it is.
    if position.side == position::Side::Short && quantity > Decimal::ZERO {
        quantity = -quantity;
    }
    let optional_money = |what, value: &Option<_>| -> Result<Money, BrokerError> {
        value
            .as_ref()
            .map_or(Ok(Money::default()), |value| money(what, value))
    };
    Ok(BrokerPosition {
        symbol: symbol(&position.symbol)?,
        quantity,
        average_entry_price: price("average entry price", &position.average_entry_price)?,
        current_price: position
            .current_price
            .as_ref()
            .map(|value| price("current price", value))
            .transpose()?,
        market_value: optional_money("market value", &position.market_value)?,
        unrealised_pnl: optional_money("unrealised gain", &position.unrealized_gain_total)?,
    })
}

/// What Alpaca allows for one asset.
pub fn asset(asset: &asset::Asset) -> Result<Asset, BrokerError> {
    Ok(Asset {
        symbol: symbol(&asset.symbol)?,
        tradable: asset.tradable && asset.status == asset::Status::Active,
        shortable: asset.shortable,
        fractionable: asset.fractionable,
    })
}

/// The create request for a new order, always named by the host's client order id.
pub fn create_request(order: &NewOrder) -> Result<order::CreateReq, BrokerError> {
    let (type_, limit, stop) = match order.order_type {
        OrderType::Market => (order::Type::Market, None, None),
        OrderType::Limit { limit } => (order::Type::Limit, Some(limit), None),
        OrderType::Stop { stop } => (order::Type::Stop, None, Some(stop)),
        OrderType::StopLimit { stop, limit } => (order::Type::StopLimit, Some(limit), Some(stop)),
    };
    let side = match order.side {
        OrderSide::Buy => order::Side::Buy,
        OrderSide::Sell => order::Side::Sell,
    };
    let init = order::CreateReqInit {
        type_,
        time_in_force: time_in_force(order.time_in_force),
        limit_price: limit.map(|limit| number(limit.value())).transpose()?,
        stop_price: stop.map(|stop| number(stop.value())).transpose()?,
        client_order_id: Some(order.client_order_id.as_str().to_owned()),
        ..Default::default()
    };
    let amount = order::Amount::Quantity {
        quantity: number(order.quantity.value())?,
    };
    Ok(init.init(order.symbol.as_str(), side, amount))
}

/// The change request for a replacement.
pub fn change_request(replacement: &Replacement) -> Result<order::ChangeReq, BrokerError> {
    Ok(order::ChangeReq {
        quantity: replacement
            .quantity
            .map(|quantity| number(quantity.value()))
            .transpose()?,
        time_in_force: replacement.time_in_force.map(time_in_force),
        limit_price: replacement
            .limit
            .map(|limit| number(limit.value()))
            .transpose()?,
        stop_price: replacement
            .stop
            .map(|stop| number(stop.value()))
            .transpose()?,
        ..Default::default()
    })
}

fn time_in_force(time_in_force: TimeInForce) -> order::TimeInForce {
    match time_in_force {
        TimeInForce::Day => order::TimeInForce::Day,
        TimeInForce::Gtc => order::TimeInForce::UntilCanceled,
        TimeInForce::Ioc => order::TimeInForce::ImmediateOrCancel,
        TimeInForce::Fok => order::TimeInForce::FillOrKill,
    }
}

/// An Alpaca order id from its text (with or without hyphens).
pub fn order_id(text: &str) -> Result<order::Id, BrokerError> {
    uuid::Uuid::parse_str(text)
        .map(order::Id)
        .map_err(|_| BrokerError::NotFound(format!("`{text}` is not an Alpaca order id")))
}

/// An order as the host sees it. Alpaca statuses the host has no word for are mapped to the
/// nearest one that keeps `is_open` right, since that is what the host decides on.
pub fn order(order: &order::Order) -> Result<BrokerOrder, BrokerError> {
    let what = |field: &str| format!("order {} {field}", order.id.as_hyphenated());
    let order::Amount::Quantity { quantity: ordered } = &order.amount else {
        return Err(protocol(
            &what("amount"),
            "notional orders are not used by the host",
        ));
    };
    let quantity = quantity(&what("qty"), ordered)?;
    let filled = self::quantity(&what("filled_qty"), &order.filled_quantity)?;
    let limit = || -> Result<Price, BrokerError> {
        let value = order
            .limit_price
            .as_ref()
            .ok_or_else(|| protocol(&what("limit_price"), "missing"))?;
        price(&what("limit_price"), value)
    };
    let stop = || -> Result<Price, BrokerError> {
        let value = order
            .stop_price
            .as_ref()
            .ok_or_else(|| protocol(&what("stop_price"), "missing"))?;
        price(&what("stop_price"), value)
    };
    let order_type = match order.type_ {
        order::Type::Market => OrderType::Market,
        order::Type::Limit => OrderType::Limit { limit: limit()? },
        order::Type::Stop => OrderType::Stop { stop: stop()? },
        order::Type::StopLimit => OrderType::StopLimit {
            stop: stop()?,
            limit: limit()?,
        },
        // Trailing stops (and any type apca adds later) are never sent by the host.
        _ => {
            return Err(protocol(&what("type"), "order type not used by the host"));
        }
    };
    let time_in_force = match order.time_in_force {
        order::TimeInForce::Day => TimeInForce::Day,
        order::TimeInForce::UntilCanceled => TimeInForce::Gtc,
        order::TimeInForce::ImmediateOrCancel => TimeInForce::Ioc,
        order::TimeInForce::FillOrKill => TimeInForce::Fok,
        // opg and cls (and any later addition) are never sent by the host.
        _ => {
            return Err(protocol(
                &what("time_in_force"),
                "time in force not used by the host",
            ));
        }
    };
    let submitted_at = order.submitted_at.unwrap_or(order.created_at);
    Ok(BrokerOrder {
        broker_order_id: order.id.as_hyphenated().to_string(),
        client_order_id: ClientOrderId::parse(&order.client_order_id)
            .map_err(|error| protocol(&what("client_order_id"), error))?,
        symbol: symbol(&order.symbol)?,
        side: match order.side {
            order::Side::Buy => OrderSide::Buy,
            order::Side::Sell => OrderSide::Sell,
        },
        quantity,
        order_type,
        time_in_force,
        status: status(order.status, filled)
            .ok_or_else(|| protocol(&what("status"), "unknown status"))?,
        filled_quantity: filled,
        average_fill_price: order
            .average_fill_price
            .as_ref()
            .map(|value| price(&what("filled_avg_price"), value))
            .transpose()?,
        submitted_at,
        updated_at: order.updated_at.unwrap_or(submitted_at),
    })
}

fn status(status: order::Status, filled: Quantity) -> Option<OrderStatus> {
    use order::Status as Alpaca;
    let working = if filled.is_zero() {
        OrderStatus::Accepted
    } else {
        OrderStatus::PartiallyFilled
    };
    Some(match status {
        Alpaca::New => OrderStatus::New,
        Alpaca::PendingNew => OrderStatus::PendingNew,
        Alpaca::Accepted => OrderStatus::Accepted,
        Alpaca::PartiallyFilled => OrderStatus::PartiallyFilled,
        Alpaca::Filled => OrderStatus::Filled,
        Alpaca::Canceled => OrderStatus::Canceled,
        Alpaca::Expired => OrderStatus::Expired,
        Alpaca::Rejected => OrderStatus::Rejected,
        Alpaca::Replaced => OrderStatus::Replaced,
        // A replace is a cancel of this order plus a new one.
        Alpaca::PendingCancel | Alpaca::PendingReplace => OrderStatus::PendingCancel,
        // Still alive at Alpaca (done for today, held, stopped, awaiting settlement figures): open.
        Alpaca::DoneForDay
        | Alpaca::AcceptedForBidding
        | Alpaca::Stopped
        | Alpaca::Suspended
        | Alpaca::Calculated
        | Alpaca::Held => working,
        _ => return None,
    })
}

/// One fill. Alpaca charges no per-trade commission on equities, so the commission is zero.
pub fn execution(fill: &account_activities::TradeActivity) -> Result<Execution, BrokerError> {
    let what = |field: &str| format!("fill {} {field}", fill.id);
    Ok(Execution {
        execution_id: fill.id.clone(),
        broker_order_id: fill.order_id.as_hyphenated().to_string(),
        symbol: symbol(&fill.symbol)?,
        side: match fill.side {
            account_activities::Side::Buy => OrderSide::Buy,
            account_activities::Side::Sell | account_activities::Side::ShortSell => OrderSide::Sell,
            _ => return Err(protocol(&what("side"), "unknown side")),
        },
        quantity: quantity(&what("qty"), &fill.quantity)?,
        price: price(&what("price"), &fill.price)?,
        commission: Money::default(),
        time: fill.transaction_time,
    })
}
