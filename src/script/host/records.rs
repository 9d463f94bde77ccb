//! `db::record_spread`, `db::record_signal`, `db::record_pair_performance`: the typed writes of the
//! pairs strategy's tables. Every row carries the strategy's name and the hash of the script
//! version that wrote it; times are the host clock's.

use rhai::{Dynamic, Map, Module, NativeCallContext};

use super::{block_on, error, host, located};
use crate::store::{PairPerformanceRecord, SignalRecord, SpreadRecord};

type Result<T> = std::result::Result<T, Box<rhai::EvalAltResult>>;

/// A number from a map: integers and floats; `()` and NaN are absent.
fn number(map: &Map, key: &str) -> Result<Option<f64>> {
    match map.get(key) {
        None => Ok(None),
        Some(value) if value.is_unit() => Ok(None),
        Some(value) => {
            let number = value
                .as_float()
                .or_else(|_| value.as_int().map(|integer| integer as f64))
                .map_err(|_| {
                    error(format!(
                        "`{key}` must be a number, got {}",
                        value.type_name()
                    ))
                })?;
            Ok((!number.is_nan()).then_some(number))
        }
    }
}

fn required(map: &Map, key: &str) -> Result<f64> {
    number(map, key)?.ok_or_else(|| error(format!("`{key}` is required and must be a number")))
}

fn text(map: &Map, key: &str) -> Result<Option<String>> {
    match map.get(key) {
        None => Ok(None),
        Some(value) if value.is_unit() => Ok(None),
        Some(value) => Ok(Some(value.to_string())),
    }
}

fn only(map: &Map, allowed: &[&str], what: &str) -> Result<()> {
    match map.keys().find(|key| !allowed.contains(&key.as_str())) {
        Some(key) => Err(error(format!(
            "{what}: unknown field `{key}`; use {}",
            allowed.join(", ")
        ))),
        None => Ok(()),
    }
}

fn run_id() -> Option<i64> {
    super::current().and_then(|invocation| invocation.flow.as_ref().and_then(|flow| flow.run_id))
}

fn record_spread(pair: &str, fields: &Map) -> Result<Dynamic> {
    only(
        fields,
        &["hedge_ratio", "intercept", "spread", "zscore"],
        "db::record_spread",
    )?;
    let (invocation, host) = host()?;
    let record = SpreadRecord {
        strategy: invocation.script.clone(),
        pair: pair.to_owned(),
        time: host.clock.now(),
        hedge_ratio: required(fields, "hedge_ratio")?,
        intercept: number(fields, "intercept")?.unwrap_or(0.0),
        spread: required(fields, "spread")?,
        zscore: number(fields, "zscore")?,
        script_hash: Some(invocation.hash.clone()),
        run_id: run_id(),
    };
    if let Some(overlay) = &invocation.overlay {
        overlay.recorder.spread(record);
        return Ok(Dynamic::UNIT);
    }
    block_on(&host, host.store.record_spread(&record))
        .map_err(|failure| error(format!("db::record_spread failed: {failure}")))?;
    Ok(Dynamic::UNIT)
}

fn record_signal(pair: &str, fields: &Map) -> Result<Dynamic> {
    only(
        fields,
        &[
            "signal",
            "zscore",
            "hedge_ratio",
            "position",
            "reason",
            "pair_trade_id",
        ],
        "db::record_signal",
    )?;
    let (invocation, host) = host()?;
    let signal =
        text(fields, "signal")?.ok_or_else(|| error("db::record_signal needs `signal`"))?;
    const SIGNALS: [&str; 6] = [
        "enter_long_spread",
        "enter_short_spread",
        "exit",
        "stop",
        "time_stop",
        "hold",
    ];
    if !SIGNALS.contains(&signal.as_str()) {
        return Err(error(format!(
            "db::record_signal: `{signal}` is not a signal; use {}",
            SIGNALS.join(", ")
        )));
    }
    let record = SignalRecord {
        strategy: invocation.script.clone(),
        pair: pair.to_owned(),
        time: host.clock.now(),
        signal,
        zscore: number(fields, "zscore")?,
        hedge_ratio: number(fields, "hedge_ratio")?,
        position: text(fields, "position")?.unwrap_or_else(|| "flat".to_owned()),
        reason: text(fields, "reason")?.unwrap_or_default(),
        pair_trade_id: text(fields, "pair_trade_id")?,
        script_hash: Some(invocation.hash.clone()),
        run_id: run_id(),
    };
    if let Some(overlay) = &invocation.overlay {
        overlay.recorder.signal(record);
        return Ok(Dynamic::UNIT);
    }
    block_on(&host, host.store.record_signal(&record))
        .map_err(|failure| error(format!("db::record_signal failed: {failure}")))?;
    Ok(Dynamic::UNIT)
}

fn record_performance(pair: &str, fields: &Map) -> Result<Dynamic> {
    only(
        fields,
        &[
            "position",
            "realised_pnl",
            "unrealised_pnl",
            "trades",
            "wins",
            "current_z",
            "holding_hours",
            "details",
        ],
        "db::record_pair_performance",
    )?;
    let (invocation, host) = host()?;
    let money =
        |key: &str| -> Result<String> { Ok(format!("{:.2}", number(fields, key)?.unwrap_or(0.0))) };
    let count = |key: &str| -> Result<i64> { Ok(number(fields, key)?.unwrap_or(0.0) as i64) };
    let details = match fields.get("details") {
        Some(value) => rhai::serde::from_dynamic::<serde_json::Value>(value)
            .map_err(|failure| error(format!("details: {failure}")))?,
        None => serde_json::json!({}),
    };
    let record = PairPerformanceRecord {
        strategy: invocation.script.clone(),
        pair: pair.to_owned(),
        position: text(fields, "position")?.unwrap_or_else(|| "flat".to_owned()),
        realised_pnl: money("realised_pnl")?,
        unrealised_pnl: money("unrealised_pnl")?,
        trades: count("trades")?,
        wins: count("wins")?,
        current_z: number(fields, "current_z")?,
        holding_hours: number(fields, "holding_hours")?,
        details,
        script_hash: Some(invocation.hash.clone()),
        updated_at: host.clock.now(),
    };
    if let Some(overlay) = &invocation.overlay {
        overlay.recorder.performance(record);
        return Ok(Dynamic::UNIT);
    }
    block_on(&host, host.store.record_pair_performance(&record))
        .map_err(|failure| error(format!("db::record_pair_performance failed: {failure}")))?;
    Ok(Dynamic::UNIT)
}

/// Adds the pair-table writes to the `db` module.
pub fn register(module: &mut Module) {
    module.set_native_fn(
        "record_spread",
        |context: NativeCallContext, pair: &str, fields: Map| {
            located(&context, || record_spread(pair, &fields))
        },
    );
    module.set_native_fn(
        "record_signal",
        |context: NativeCallContext, pair: &str, fields: Map| {
            located(&context, || record_signal(pair, &fields))
        },
    );
    module.set_native_fn(
        "record_pair_performance",
        |context: NativeCallContext, pair: &str, fields: Map| {
            located(&context, || record_performance(pair, &fields))
        },
    );
}

/// Where the pair-table writes go instead of the database (a backtest keeps them in memory and
/// stores the run's results at its end).
pub trait Recorder: Send + Sync {
    /// A spread row.
    fn spread(&self, record: SpreadRecord);
    /// A signal row.
    fn signal(&self, record: SignalRecord);
    /// A pair's standing.
    fn performance(&self, record: PairPerformanceRecord);
}
