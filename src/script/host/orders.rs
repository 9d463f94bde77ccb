//! `orders::…`: submit (single and pair), cancel, open orders, one order, and the upkeep passes
//! the execution flows run. Every submission goes through the host's risk engine and returns its
//! decision; nothing here reaches the broker any other way.

use rhai::{Array, Dynamic, Map, Module, NativeCallContext};
use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;

use super::{block_on, desk, error, located};
use crate::domain::{OrderSide, OrderType, Price, Quantity, Symbol, TimeInForce};
use crate::trading::{LegRequest, TradeRequest};

type Result<T> = std::result::Result<T, Box<rhai::EvalAltResult>>;

/// A script value (JSON-convertible host result) as a script value.
pub(super) fn to_script<T: serde::Serialize>(value: &T) -> Result<Dynamic> {
    let json = serde_json::to_value(value).map_err(|failure| error(failure.to_string()))?;
    rhai::serde::to_dynamic(json)
}

pub(super) fn symbol(text: &str) -> Result<Symbol> {
    text.parse()
        .map_err(|failure| error(format!("`{text}` is not a symbol: {failure}")))
}

pub(super) fn side(text: &str) -> Result<OrderSide> {
    text.to_ascii_lowercase()
        .parse()
        .map_err(|_| error(format!("side must be \"buy\" or \"sell\", not `{text}`")))
}

/// A number from a script (integer, float or decimal string) as an exact decimal.
pub(super) fn decimal(value: &Dynamic, what: &str) -> Result<Decimal> {
    let parsed = if let Ok(integer) = value.as_int() {
        Some(Decimal::from(integer))
    } else if let Ok(float) = value.as_float() {
        // Nine places: Alpaca's finest fractional quantity; floats carry noise beyond that.
        Decimal::from_f64(float).map(|decimal| decimal.round_dp(9).normalize())
    } else if let Ok(text) = value.clone().into_string() {
        text.trim().parse().ok()
    } else {
        None
    };
    parsed.ok_or_else(|| {
        error(format!(
            "{what} must be a number, got {} `{value}`",
            value.type_name()
        ))
    })
}

pub(super) fn quantity(value: &Dynamic) -> Result<Quantity> {
    let amount = decimal(value, "quantity")?;
    let quantity =
        Quantity::new(amount).map_err(|failure| error(format!("quantity {amount}: {failure}")))?;
    if quantity.is_zero() {
        return Err(error("quantity must be above zero"));
    }
    Ok(quantity)
}

fn price(map: &Map, key: &str) -> Result<Option<Price>> {
    map.get(key)
        .map(|value| {
            let amount = decimal(value, key)?;
            Price::new(amount).map_err(|failure| error(format!("{key} {amount}: {failure}")))
        })
        .transpose()
}

/// The order type and time in force from an options map: `#{ type: "limit", limit: 101.5,
/// stop: 99, tif: "gtc" }`; market and day when absent.
fn order_options(options: &Map) -> Result<(OrderType, TimeInForce)> {
    for key in options.keys() {
        if !["type", "limit", "stop", "tif"].contains(&key.as_str()) {
            return Err(error(format!(
                "unknown order option `{key}`; use type, limit, stop and tif"
            )));
        }
    }
    let kind = options
        .get("type")
        .map(|value| value.clone().into_string())
        .transpose()
        .map_err(|_| error("order option `type` must be a string"))?
        .unwrap_or_else(|| "market".to_owned());
    let order_type =
        OrderType::from_parts(&kind, price(options, "limit")?, price(options, "stop")?)
            .map_err(|failure| error(format!("order options: {failure}")))?;
    let time_in_force = match options.get("tif") {
        None => TimeInForce::Day,
        Some(value) => value
            .clone()
            .into_string()
            .map_err(|_| error("order option `tif` must be a string"))?
            .to_ascii_lowercase()
            .parse()
            .map_err(|failure| error(format!("order option tif: {failure}")))?,
    };
    Ok((order_type, time_in_force))
}

fn submit(symbol_text: &str, side_text: &str, amount: &Dynamic, options: &Map) -> Result<Dynamic> {
    let (invocation, host, desk) = desk()?;
    let (order_type, time_in_force) = order_options(options)?;
    let request = TradeRequest {
        strategy: invocation.script.clone(),
        script_hash: Some(invocation.hash.clone()),
        run_id: invocation.flow.as_ref().and_then(|flow| flow.run_id),
        symbol: symbol(symbol_text)?,
        side: side(side_text)?,
        quantity: quantity(amount)?,
        order_type,
        time_in_force,
        operator_flatten: false,
    };
    let outcome = block_on(&host, desk.submit(request))
        .map_err(|failure| error(format!("orders::submit failed: {failure}")))?;
    to_script(&outcome)
}

/// The `orders` module.
pub fn module() -> Module {
    let mut module = Module::new();
    module.set_native_fn(
        "submit",
        |context: NativeCallContext, symbol: &str, side: &str, amount: Dynamic| {
            located(&context, || submit(symbol, side, &amount, &Map::new()))
        },
    );
    module.set_native_fn(
        "submit",
        |context: NativeCallContext, symbol: &str, side: &str, amount: Dynamic, options: Map| {
            located(&context, || submit(symbol, side, &amount, &options))
        },
    );
    module.set_native_fn("submit_pair", |context: NativeCallContext, legs: Array| {
        located(&context, || submit_pair(legs))
    });
    module.set_native_fn(
        "cancel",
        |context: NativeCallContext, client_order_id: &str| {
            located(&context, || {
                let (_, host, desk) = desk()?;
                let order = block_on(&host, desk.cancel(client_order_id))
                    .map_err(|failure| error(format!("orders::cancel: {failure}")))?;
                to_script(&order)
            })
        },
    );
    module.set_native_fn("open", |context: NativeCallContext| {
        located(&context, || {
            let (_, host, desk) = desk()?;
            let orders = block_on(&host, desk.ledger().open_orders())
                .map_err(|failure| error(format!("orders::open: {failure}")))?;
            to_script(&orders)
        })
    });
    module.set_native_fn(
        "get",
        |context: NativeCallContext, client_order_id: &str| {
            located(&context, || {
                let (_, host, desk) = desk()?;
                let id = crate::domain::ClientOrderId::parse(client_order_id)
                    .map_err(|failure| error(failure.to_string()))?;
                let order = block_on(&host, desk.ledger().order(&id))
                    .map_err(|failure| error(format!("orders::get: {failure}")))?;
                match order {
                    Some(order) => to_script(&order),
                    None => Ok(Dynamic::UNIT),
                }
            })
        },
    );
    module.set_native_fn("manage", |context: NativeCallContext| {
        located(&context, || {
            let (_, host, desk) = desk()?;
            let summary = block_on(&host, desk.sync_orders())
                .map_err(|failure| error(format!("orders::manage: {failure}")))?;
            to_script(&summary)
        })
    });
    module.set_native_fn("pair_trades", |context: NativeCallContext| {
        located(&context, || {
            let (_, host, desk) = desk()?;
            let trades = block_on(&host, desk.ledger().pair_trades_with_status(&["pending"]))
                .map_err(|failure| error(format!("orders::pair_trades: {failure}")))?;
            to_script(&trades)
        })
    });
    module
}

/// `orders::submit_pair([#{symbol, side, quantity}, #{symbol, side, quantity}])`: both legs pass
/// risk or neither is sent.
fn submit_pair(legs: Array) -> Result<Dynamic> {
    let (invocation, host, desk) = desk()?;
    if legs.len() != 2 {
        return Err(error(format!(
            "orders::submit_pair takes two legs, got {}",
            legs.len()
        )));
    }
    let mut parsed = Vec::with_capacity(2);
    for leg in legs {
        let map = leg.try_cast::<Map>().ok_or_else(|| {
            error("each leg is a map: #{ symbol: \"SIMA\", side: \"buy\", quantity: 10 }")
        })?;
        let field = |key: &str| {
            map.get(key)
                .cloned()
                .ok_or_else(|| error(format!("a leg needs `{key}`")))
        };
        let symbol_text = field("symbol")?
            .into_string()
            .map_err(|_| error("a leg's symbol is a string"))?;
        let side_text = field("side")?
            .into_string()
            .map_err(|_| error("a leg's side is a string"))?;
        parsed.push(LegRequest {
            symbol: symbol(&symbol_text)?,
            side: side(&side_text)?,
            quantity: quantity(&field("quantity")?)?,
        });
    }
    let second = parsed.pop().ok_or_else(|| error("two legs"))?;
    let first = parsed.pop().ok_or_else(|| error("two legs"))?;
    let outcome = block_on(
        &host,
        desk.submit_pair(
            &invocation.script,
            Some(&invocation.hash),
            invocation.flow.as_ref().and_then(|flow| flow.run_id),
            [first, second],
        ),
    )
    .map_err(|failure| error(format!("orders::submit_pair failed: {failure}")))?;
    to_script(&outcome)
}
