//! `risk::…`: read-only views of the host's risk engine (limits, state, utilisation, a dry-run
//! check), Kelly sizing clipped by host limits, and raising alerts from risk events. There is no
//! function that changes a limit or the state: scripts read them, never write them, and the maps
//! they get are copies.

use rhai::{Array, Dynamic, Map, Module, NativeCallContext};

use super::orders::{decimal, quantity, side, symbol, to_script};
use super::{block_on, desk, error, located};
use crate::domain::{Money, OrderType, Price, TimeInForce};
use crate::trading::TradeRequest;

type Result<T> = std::result::Result<T, Box<rhai::EvalAltResult>>;

fn kelly(options: &Map) -> Result<Dynamic> {
    let (_, host, desk) = desk()?;
    for key in options.keys() {
        if !["symbol", "price", "pnls", "multiplier", "max_fraction"].contains(&key.as_str()) {
            return Err(error(format!(
                "unknown kelly_size option `{key}`; use symbol, price, pnls, multiplier and max_fraction"
            )));
        }
    }
    let get = |key: &str| {
        options
            .get(key)
            .cloned()
            .ok_or_else(|| error(format!("risk::kelly_size needs `{key}`")))
    };
    let name = get("symbol")?
        .into_string()
        .map_err(|_| error("kelly_size: symbol is a string"))?;
    let price = Price::new(decimal(&get("price")?, "price")?)
        .map_err(|failure| error(format!("kelly_size: price: {failure}")))?;
    let pnls = get("pnls")?
        .try_cast::<Array>()
        .ok_or_else(|| error("kelly_size: pnls is an array of trade results"))?
        .iter()
        .map(|value| decimal(value, "a trade result").map(Money::new))
        .collect::<Result<Vec<_>>>()?;
    let number = |key: &str, default: f64| -> Result<f64> {
        match options.get(key) {
            None => Ok(default),
            Some(value) => value
                .as_float()
                .or_else(|_| value.as_int().map(|integer| integer as f64))
                .map_err(|_| error(format!("kelly_size: {key} is a number"))),
        }
    };
    let multiplier = number("multiplier", 0.5)?;
    let max_fraction = number("max_fraction", 0.2)?;
    let size = block_on(
        &host,
        desk.kelly_size(&symbol(&name)?, price, &pnls, multiplier, max_fraction),
    )
    .map_err(|failure| error(format!("risk::kelly_size: {failure}")))?;
    to_script(&size)
}

/// The `risk` module.
pub fn module() -> Module {
    let mut module = Module::new();
    module.set_native_fn("limits", |context: NativeCallContext| {
        located(&context, || {
            let (_, _, desk) = desk()?;
            to_script(&desk.limits())
        })
    });
    module.set_native_fn("status", |context: NativeCallContext| {
        located(&context, || {
            let (_, host, desk) = desk()?;
            let status = block_on(&host, desk.status())
                .map_err(|failure| error(format!("risk::status: {failure}")))?;
            to_script(&status)
        })
    });
    module.set_native_fn("mode", |context: NativeCallContext| {
        located(&context, || {
            let (_, host, desk) = desk()?;
            let status = block_on(&host, desk.status())
                .map_err(|failure| error(format!("risk::mode: {failure}")))?;
            Ok(status.mode)
        })
    });
    module.set_native_fn("utilisation", |context: NativeCallContext| {
        located(&context, || {
            let (_, host, desk) = desk()?;
            let usage = block_on(&host, desk.utilisation())
                .map_err(|failure| error(format!("risk::utilisation: {failure}")))?;
            to_script(&usage)
        })
    });
    module.set_native_fn(
        "check",
        |context: NativeCallContext, name: &str, side_text: &str, amount: Dynamic| {
            located(&context, || {
                let (invocation, host, desk) = desk()?;
                let request = TradeRequest {
                    strategy: invocation.script.clone(),
                    script_hash: Some(invocation.hash.clone()),
                    run_id: None,
                    symbol: symbol(name)?,
                    side: side(side_text)?,
                    quantity: quantity(&amount)?,
                    order_type: OrderType::Market,
                    time_in_force: TimeInForce::Day,
                    operator_flatten: false,
                };
                let preview = block_on(&host, desk.preview(&request))
                    .map_err(|failure| error(format!("risk::check: {failure}")))?;
                to_script(&preview)
            })
        },
    );
    module.set_native_fn("kelly_size", |context: NativeCallContext, options: Map| {
        located(&context, || kelly(&options))
    });
    module.set_native_fn("events", |context: NativeCallContext, limit: rhai::INT| {
        located(&context, || {
            let (_, host, desk) = desk()?;
            let limit = u32::try_from(limit.clamp(1, 1000)).unwrap_or(100);
            let events = block_on(&host, desk.ledger().risk_events(false, limit))
                .map_err(|failure| error(format!("risk::events: {failure}")))?;
            to_script(&events)
        })
    });
    module.set_native_fn("raise_alerts", |context: NativeCallContext| {
        located(&context, || {
            let (_, host, desk) = desk()?;
            let raised = block_on(&host, desk.raise_risk_alerts())
                .map_err(|failure| error(format!("risk::raise_alerts: {failure}")))?;
            to_script(&raised)
        })
    });
    module
}
