//! `db::record_spread`, `db::record_signal`, `db::record_pair_performance`: the typed writes of the
//! pairs strategy's tables. Every row carries the strategy's name and the hash of the script
//! version that wrote it; times are the host clock's.

use chrono::{DateTime, Utc};
use rhai::{Dynamic, ImmutableString, Map, Module, NativeCallContext};

use super::book::{PairBook, Side};
use super::pair::Pair;
use super::pairs::PairView;
use super::{Host, Invocation, block_on, error, host, located};
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

fn run_id(invocation: &Invocation) -> Option<i64> {
    invocation.flow.as_ref().and_then(|flow| flow.run_id)
}

/// A row of one of the pair tables.
enum Row {
    Spread(SpreadRecord),
    Signal(SignalRecord),
    Performance(PairPerformanceRecord),
}

/// Writes `row` where the call's rows go: a backtest's recorder, else the database.
fn write(invocation: &Invocation, host: &Host, row: Row) -> Result<()> {
    if let Some(overlay) = &invocation.overlay {
        match row {
            Row::Spread(record) => overlay.recorder.spread(record),
            Row::Signal(record) => overlay.recorder.signal(record),
            Row::Performance(record) => overlay.recorder.performance(record),
        }
        return Ok(());
    }
    let (written, what) = match &row {
        Row::Spread(record) => (
            block_on(host, host.store.record_spread(record)),
            "db::record_spread",
        ),
        Row::Signal(record) => (
            block_on(host, host.store.record_signal(record)),
            "db::record_signal",
        ),
        Row::Performance(record) => (
            block_on(host, host.store.record_pair_performance(record)),
            "db::record_pair_performance",
        ),
    };
    written.map_err(|failure| error(format!("{what} failed: {failure}")))
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
        run_id: run_id(&invocation),
    };
    write(&invocation, &host, Row::Spread(record))?;
    Ok(Dynamic::UNIT)
}

/// `db::record_spread(pair, model)`: the model's fit as the pair's spread row.
fn spread_of(pair: &Pair, model: &PairView) -> Result<Dynamic> {
    let fit = ready(model, "db::record_spread")?;
    let (invocation, host) = host()?;
    let record = spread_row(&invocation, host.clock.now(), pair, fit);
    write(&invocation, &host, Row::Spread(record))?;
    Ok(Dynamic::UNIT)
}

fn spread_row(
    invocation: &Invocation,
    now: DateTime<Utc>,
    pair: &Pair,
    fit: &crate::indicators::PairFit,
) -> SpreadRecord {
    SpreadRecord {
        strategy: invocation.script.clone(),
        pair: pair.config().name.clone(),
        time: now,
        hedge_ratio: fit.beta,
        intercept: fit.alpha,
        spread: fit.spread,
        zscore: finite(fit.zscore),
        script_hash: Some(invocation.hash.clone()),
        run_id: run_id(invocation),
    }
}

/// The fit of a ready model, or an error naming `what` and why the model is not ready.
fn ready<'a>(model: &'a PairView, what: &str) -> Result<&'a crate::indicators::PairFit> {
    if model.ready {
        Ok(&model.fit)
    } else {
        Err(error(format!(
            "{what}: the model is not ready ({})",
            model.reason
        )))
    }
}

fn finite(value: f64) -> Option<f64> {
    (!value.is_nan()).then_some(value)
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
    let signal = signal_named(fields)?;
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
        run_id: run_id(&invocation),
    };
    write(&invocation, &host, Row::Signal(record))?;
    Ok(Dynamic::UNIT)
}

/// The `signal` field, one of the strategy's signals.
fn signal_named(fields: &Map) -> Result<String> {
    let signal =
        text(fields, "signal")?.ok_or_else(|| error("db::record_signal needs `signal`"))?;
    known_signal(&signal, "db::record_signal")?;
    Ok(signal)
}

/// `signal` when it is one of the strategy's signals, else an error naming `what` and them.
fn known_signal<'a>(signal: &'a str, what: &str) -> Result<&'a str> {
    const SIGNALS: [&str; 6] = [
        "enter_long_spread",
        "enter_short_spread",
        "exit",
        "stop",
        "time_stop",
        "hold",
    ];
    if SIGNALS.contains(&signal) {
        Ok(signal)
    } else {
        Err(error(format!(
            "{what}: `{signal}` is not a signal; use {}",
            SIGNALS.join(", ")
        )))
    }
}

/// `db::record_signal(pair, model, #{ signal, reason, position, pair_trade_id })`: the z-score
/// and hedge ratio are the model's.
fn signal_of(pair: &Pair, model: &PairView, fields: &Map) -> Result<Dynamic> {
    only(
        fields,
        &["signal", "position", "reason", "pair_trade_id"],
        "db::record_signal",
    )?;
    let fit = ready(model, "db::record_signal")?;
    let (invocation, host) = host()?;
    let record = SignalRecord {
        signal: signal_named(fields)?,
        position: text(fields, "position")?.unwrap_or_else(|| "flat".to_owned()),
        reason: text(fields, "reason")?.unwrap_or_default(),
        pair_trade_id: text(fields, "pair_trade_id")?,
        ..hold_row(&invocation, host.clock.now(), pair, fit)
    };
    write(&invocation, &host, Row::Signal(record))?;
    Ok(Dynamic::UNIT)
}

/// A flat pair's `hold` row at the model's z and hedge ratio, for the caller to give its signal.
fn hold_row(
    invocation: &Invocation,
    now: DateTime<Utc>,
    pair: &Pair,
    fit: &crate::indicators::PairFit,
) -> SignalRecord {
    SignalRecord {
        strategy: invocation.script.clone(),
        pair: pair.config().name.clone(),
        time: now,
        signal: "hold".to_owned(),
        zscore: finite(fit.zscore),
        hedge_ratio: finite(fit.beta),
        position: "flat".to_owned(),
        reason: String::new(),
        pair_trade_id: None,
        script_hash: Some(invocation.hash.clone()),
        run_id: run_id(invocation),
    }
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
    write(&invocation, &host, Row::Performance(record))?;
    Ok(Dynamic::UNIT)
}

/// `db::record_pair_performance(pair, model, book)`: the pair's standing from its book at the
/// model's prices, with the fit and the thresholds this cycle decided against (what the
/// dashboard's z-score chart draws).
fn performance_of(pair: &Pair, model: &PairView, book: &PairBook) -> Result<Dynamic> {
    let fit = ready(model, "db::record_pair_performance")?;
    let (invocation, host) = host()?;
    let record = performance_row(&invocation, host.clock.now(), pair, model, fit, book);
    write(&invocation, &host, Row::Performance(record))?;
    Ok(Dynamic::UNIT)
}

fn performance_row(
    invocation: &Invocation,
    now: DateTime<Utc>,
    pair: &Pair,
    model: &PairView,
    fit: &crate::indicators::PairFit,
    book: &PairBook,
) -> PairPerformanceRecord {
    let parameters = &pair.config().parameters;
    let held = book.side != Side::Flat;
    PairPerformanceRecord {
        strategy: invocation.script.clone(),
        pair: pair.config().name.clone(),
        position: book.side.as_str().to_owned(),
        realised_pnl: format!("{:.2}", book.realised),
        unrealised_pnl: format!("{:.2}", book.pnl_at(model.price_a, model.price_b)),
        trades: book.trades,
        wins: book.wins,
        current_z: finite(fit.zscore),
        holding_hours: held.then(|| book.held_hours(now.timestamp_millis())),
        details: serde_json::json!({
            "hedge_ratio": fit.beta, "intercept": fit.alpha, "r_squared": fit.r_squared,
            "entry_z": parameters.entry_z, "exit_z": parameters.exit_z,
            "stop_z": parameters.stop_z,
        }),
        script_hash: Some(invocation.hash.clone()),
        updated_at: now,
    }
}

/// `db::record_cycle(pair, model, book, signal, reason, pair_trade_id)`: the cycle's three rows
/// at once — the model's spread, the signal (with the model's z and hedge ratio and the book's
/// position) and the pair's standing from its book — and the cycle's outcome for the flow,
/// `#{ pair, z, signal, position, reason, pair_trade_id }`. In a backtest this runs for every
/// pair at every bar: one call rather than three (each copying its arguments, one building a
/// map) and one clock read rather than three are a large part of what a scripted bar costs.
fn cycle_of(
    pair: &Pair,
    model: &PairView,
    book: &PairBook,
    signal: ImmutableString,
    reason: ImmutableString,
    pair_trade_id: &Dynamic,
) -> Result<Dynamic> {
    let fit = ready(model, "db::record_cycle")?;
    known_signal(&signal, "db::record_cycle")?;
    let pair_trade_id = if pair_trade_id.is_unit() {
        None
    } else {
        Some(pair_trade_id.clone().into_string().map_err(|kind| {
            error(format!(
                "db::record_cycle: the pair trade id is a string or (), got {kind}"
            ))
        })?)
    };
    let (invocation, host) = host()?;
    let now = host.clock.now();
    let position = book.side.as_str();
    write(
        &invocation,
        &host,
        Row::Spread(spread_row(&invocation, now, pair, fit)),
    )?;
    write(
        &invocation,
        &host,
        Row::Signal(SignalRecord {
            signal: signal.to_string(),
            position: position.to_owned(),
            reason: reason.to_string(),
            pair_trade_id: pair_trade_id.clone(),
            ..hold_row(&invocation, now, pair, fit)
        }),
    )?;
    write(
        &invocation,
        &host,
        Row::Performance(performance_row(&invocation, now, pair, model, fit, book)),
    )?;
    let mut outcome = Map::new();
    outcome.insert("pair".into(), pair.name().into());
    outcome.insert("z".into(), fit.zscore.into());
    outcome.insert("signal".into(), signal.into());
    outcome.insert("position".into(), position.into());
    outcome.insert("reason".into(), reason.into());
    outcome.insert(
        "pair_trade_id".into(),
        pair_trade_id.map_or(Dynamic::UNIT, Dynamic::from),
    );
    Ok(Dynamic::from_map(outcome))
}

/// Adds the pair-table writes to the `db` module: each with the pair's name and a map of its
/// fields, and the pairs strategy's forms that take the `Pair`, its `PairModel` and (for the
/// standing) its `PairBook`, which carry most of the fields already.
pub fn register(module: &mut Module) {
    module.set_native_fn(
        "record_spread",
        |context: NativeCallContext, pair: Pair, model: PairView| {
            located(&context, || spread_of(&pair, &model))
        },
    );
    module.set_native_fn(
        "record_signal",
        |context: NativeCallContext, pair: Pair, model: PairView, fields: Map| {
            located(&context, || signal_of(&pair, &model, &fields))
        },
    );
    module.set_native_fn(
        "record_pair_performance",
        |context: NativeCallContext, pair: Pair, model: PairView, book: PairBook| {
            located(&context, || performance_of(&pair, &model, &book))
        },
    );
    module.set_native_fn(
        "record_cycle",
        |context: NativeCallContext,
         pair: &mut Pair,
         model: PairView,
         book: PairBook,
         signal: ImmutableString,
         reason: ImmutableString,
         pair_trade_id: Dynamic| {
            located(&context, || {
                cycle_of(pair, &model, &book, signal, reason, &pair_trade_id)
            })
        },
    );
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
