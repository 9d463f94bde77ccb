//! `pairs::model(pair)`: a pair's numbers for one cycle in one host call — the hedge ratio (OLS of
//! log B on log A over the last `lookback` bars), its intercept and r², the last log spread and
//! its z-score over the last `window` bars under the current fit, both last prices, and whether
//! the legs have enough aligned history for any of it.
//!
//! In a backtest the model is kept between cycles in the overlay and advanced by one point when
//! both legs have exactly one more bar than it last saw, so a cycle costs O(1) instead of a fit
//! over the lookback; anything else (the first call, a gap in one leg, other parameters) fits
//! afresh. Live and on paper the bars come from the store and the model is fitted afresh on every
//! call: cycles are hourly there, and a fresh fit needs no state that could go stale.

use chrono::{DateTime, Utc};
use rhai::{Dynamic, Engine, INT, Map, Module, NativeCallContext};

use super::overlay::{Closes, Overlay, TrackedModel};
use super::pair::Pair;
use super::{error, host, located};
use crate::domain::{Symbol, Timeframe};
use crate::indicators::{PairFit, PairModel};

type Result<T> = std::result::Result<T, Box<rhai::EvalAltResult>>;

/// The most bars a model may look back over (as many as `data::bars` serves).
const MAX_LOOKBACK: usize = 100_000;

/// What `pairs::model` returns to a script (and the benchmark's native cycle reads).
#[derive(Debug, Clone)]
pub struct PairView {
    /// False while the legs lack `window + 2` aligned bars or the fit is undefined.
    pub ready: bool,
    /// Why it is not ready (empty when it is).
    pub reason: String,
    /// The fit (NaN numbers when not ready).
    pub fit: PairFit,
    /// Leg A's last close.
    pub price_a: f64,
    /// Leg B's last close.
    pub price_b: f64,
    /// The points the fit used.
    pub bars: usize,
    /// When leg A's last bar started.
    pub last_time: Option<DateTime<Utc>>,
}

/// The parameters a call reads from the pair (an element of `ctx.pairs`).
struct Request {
    leg_a: Symbol,
    leg_b: Symbol,
    timeframe: Timeframe,
    lookback: usize,
    window: usize,
}

fn field<'a>(pair: &'a Map, key: &str) -> Result<&'a Dynamic> {
    pair.get(key)
        .ok_or_else(|| error(format!("pairs::model: the pair has no `{key}`")))
}

fn text(pair: &Map, key: &str) -> Result<String> {
    field(pair, key)?.clone().into_string().map_err(|kind| {
        error(format!(
            "pairs::model: `{key}` must be a string, got {kind}"
        ))
    })
}

fn count(pair: &Map, key: &str) -> Result<usize> {
    let value = field(pair, key)?.as_int().map_err(|kind| {
        error(format!(
            "pairs::model: `{key}` must be an integer, got {kind}"
        ))
    })?;
    usize::try_from(value).map_err(|_| {
        error(format!(
            "pairs::model: `{key}` must not be negative, got {value}"
        ))
    })
}

fn request(pair: &Map) -> Result<Request> {
    let symbol = |key: &str| -> Result<Symbol> {
        Symbol::parse(&text(pair, key)?).map_err(|failure| error(failure.to_string()))
    };
    let timeframe = text(pair, "timeframe")?
        .parse()
        .map_err(|failure: crate::domain::TimeframeError| error(failure.to_string()))?;
    let (lookback, window) = (count(pair, "lookback")?, count(pair, "window")?);
    if !(3..=MAX_LOOKBACK).contains(&lookback) {
        return Err(error(format!(
            "pairs::model: lookback must be 3 to {MAX_LOOKBACK}, got {lookback}"
        )));
    }
    if !(2..=lookback).contains(&window) {
        return Err(error(format!(
            "pairs::model: window must be 2 to the lookback ({lookback}), got {window}"
        )));
    }
    Ok(Request {
        leg_a: symbol("leg_a")?,
        leg_b: symbol("leg_b")?,
        timeframe,
        lookback,
        window,
    })
}

/// Why the legs' latest bars cannot be fitted together, if they cannot: fewer than `window + 2`
/// bars within the lookback (as the strategy always required), a different number of bars of
/// each leg, or latest bars that started at different times.
fn misalignment(a: &Closes<'_>, b: &Closes<'_>, lookback: usize, window: usize) -> Option<String> {
    let (count_a, count_b) = (a.close.len().min(lookback), b.close.len().min(lookback));
    let aligned = count_a == count_b && a.times.last() == b.times.last();
    (!aligned || count_a < window + 2)
        .then(|| format!("waiting for aligned history ({count_a} and {count_b} bars)"))
}

fn logs(values: &[f64], lookback: usize) -> Vec<f64> {
    let start = values.len().saturating_sub(lookback);
    values[start..].iter().map(|value| value.ln()).collect()
}

/// A model fitted afresh to the legs' last `lookback` bars.
fn fresh(
    a: &Closes<'_>,
    b: &Closes<'_>,
    lookback: usize,
    window: usize,
) -> std::result::Result<PairModel, String> {
    PairModel::from_history(
        lookback,
        window,
        &logs(a.close, lookback),
        &logs(b.close, lookback),
    )
    .map_err(|failure| failure.to_string())
}

/// The legs' model brought up to their latest bars: kept when they have no new bar, advanced by
/// one point when both have exactly one more, fitted afresh otherwise.
fn advance(
    tracked: Option<TrackedModel>,
    a: &Closes<'_>,
    b: &Closes<'_>,
    lookback: usize,
    window: usize,
) -> std::result::Result<TrackedModel, String> {
    let ends = (a.close.len(), b.close.len());
    let same_parameters = |tracked: &TrackedModel| {
        tracked.model.lookback() == lookback && tracked.model.window() == window
    };
    match tracked {
        Some(tracked) if same_parameters(&tracked) && tracked.ends == ends => Ok(tracked),
        Some(mut tracked)
            if same_parameters(&tracked)
                && tracked.ends.0 + 1 == ends.0
                && tracked.ends.1 + 1 == ends.1 =>
        {
            let (last_a, last_b) = (a.close[ends.0 - 1], b.close[ends.1 - 1]);
            tracked
                .model
                .push(last_a.ln(), last_b.ln())
                .map_err(|failure| failure.to_string())?;
            tracked.ends = ends;
            Ok(tracked)
        }
        _ => Ok(TrackedModel {
            model: fresh(a, b, lookback, window)?,
            ends,
        }),
    }
}

/// The pair's numbers in a backtest, with its model kept in `slot` between calls: advanced when
/// the legs moved on by one bar each, fitted afresh after anything else, dropped while the legs
/// are not aligned. The error is a bar that cannot be fitted (a non-finite log price).
pub fn follow(
    slot: &mut Option<TrackedModel>,
    a: &Closes<'_>,
    b: &Closes<'_>,
    lookback: usize,
    window: usize,
) -> std::result::Result<PairView, String> {
    let tracked = slot.take();
    if let Some(reason) = misalignment(a, b, lookback, window) {
        return Ok(view(a, b, Err(reason)));
    }
    let tracked = advance(tracked, a, b, lookback, window)?;
    let found = view(a, b, Ok(&tracked.model));
    *slot = Some(tracked);
    Ok(found)
}

/// The view of the legs with `model` (if they are aligned).
fn view(
    a: &Closes<'_>,
    b: &Closes<'_>,
    model: std::result::Result<&PairModel, String>,
) -> PairView {
    let (fit, reason, bars) = match model.map(|model| (model.fit(), model.len())) {
        Ok((Ok(fit), bars)) => (Some(fit), String::new(), bars),
        Ok((Err(failure), bars)) => (None, format!("no hedge ratio: {failure}"), bars),
        Err(reason) => (None, reason, 0),
    };
    PairView {
        ready: fit.is_some(),
        reason,
        fit: fit.unwrap_or(PairFit {
            beta: f64::NAN,
            alpha: f64::NAN,
            r_squared: f64::NAN,
            spread: f64::NAN,
            zscore: f64::NAN,
            points: 0,
        }),
        price_a: a.close.last().copied().unwrap_or(f64::NAN),
        price_b: b.close.last().copied().unwrap_or(f64::NAN),
        bars,
        last_time: a.times.last().copied(),
    }
}

/// The backtest's way: the overlay's history and the model it keeps.
fn from_overlay(overlay: &Overlay, request: Request, now: DateTime<Utc>) -> Result<PairView> {
    let closes = |symbol: &Symbol| {
        overlay
            .market
            .closes(symbol, request.timeframe, now)
            .map_err(|failure| error(format!("pairs::model: {failure}")))
    };
    let (a, b) = (closes(&request.leg_a)?, closes(&request.leg_b)?);
    let mut models = overlay
        .models
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let slot = models
        .entry((request.leg_a, request.leg_b, request.timeframe))
        .or_default();
    follow(slot, &a, &b, request.lookback, request.window)
        .map_err(|failure| error(format!("pairs::model: {failure}")))
}

/// The daemon's way: the legs' last `lookback` bars from the store, fitted afresh.
fn from_store(host: &super::Host, request: Request) -> Result<PairView> {
    let count = Some(INT::try_from(request.lookback).unwrap_or(INT::MAX));
    let load = |symbol: &Symbol| -> Result<(Vec<DateTime<Utc>>, Vec<f64>)> {
        let bars = super::data::load(host, symbol, request.timeframe, count, None, None)?;
        Ok(bars
            .iter()
            .map(|bar| (bar.time, bar.close.to_f64()))
            .unzip())
    };
    let ((times_a, close_a), (times_b, close_b)) = (load(&request.leg_a)?, load(&request.leg_b)?);
    let a = Closes {
        times: &times_a,
        close: &close_a,
    };
    let b = Closes {
        times: &times_b,
        close: &close_b,
    };
    if let Some(reason) = misalignment(&a, &b, request.lookback, request.window) {
        return Ok(view(&a, &b, Err(reason)));
    }
    let model = fresh(&a, &b, request.lookback, request.window)
        .map_err(|failure| error(format!("pairs::model: {failure}")))?;
    Ok(view(&a, &b, Ok(&model)))
}

/// The request of a [`Pair`]: parsed when its configuration was read.
fn request_of(pair: &Pair) -> Request {
    let config = pair.config();
    Request {
        leg_a: config.leg_a.clone(),
        leg_b: config.leg_b.clone(),
        timeframe: pair.timeframe(),
        lookback: config.parameters.lookback as usize,
        window: config.parameters.window as usize,
    }
}

fn model(request: Request) -> Result<PairView> {
    let (invocation, host) = host()?;
    match &invocation.overlay {
        Some(overlay) => from_overlay(overlay, request, host.clock.now()),
        None => from_store(&host, request),
    }
}

/// Registers the `PairModel` type and the `pairs` module.
pub fn register(engine: &mut Engine) {
    engine
        .register_type_with_name::<PairView>("PairModel")
        .register_get("ready", |view: &mut PairView| view.ready)
        .register_get("reason", |view: &mut PairView| view.reason.clone())
        .register_get("hedge_ratio", |view: &mut PairView| view.fit.beta)
        .register_get("intercept", |view: &mut PairView| view.fit.alpha)
        .register_get("r_squared", |view: &mut PairView| view.fit.r_squared)
        .register_get("spread", |view: &mut PairView| view.fit.spread)
        .register_get("zscore", |view: &mut PairView| view.fit.zscore)
        .register_get("price_a", |view: &mut PairView| view.price_a)
        .register_get("price_b", |view: &mut PairView| view.price_b)
        .register_get("bars", |view: &mut PairView| view.bars as INT)
        .register_get("last_time", |view: &mut PairView| {
            view.last_time.map_or_else(String::new, |time| {
                time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            })
        })
        .register_fn("to_string", |view: &mut PairView| {
            if view.ready {
                format!(
                    "PairModel(hedge ratio {}, z {}, {} bars)",
                    view.fit.beta, view.fit.zscore, view.bars
                )
            } else {
                format!("PairModel(not ready: {})", view.reason)
            }
        });
    let mut module = Module::new();
    super::book::register(engine, &mut module);
    module.set_native_fn("model", |context: NativeCallContext, pair: &mut Pair| {
        located(&context, || model(request_of(pair)))
    });
    // A pair written as an object map (a script's own, or one built in a test) is parsed and
    // checked on each call.
    module.set_native_fn("model", |context: NativeCallContext, pair: &mut Map| {
        located(&context, || model(request(pair)?))
    });
    engine.register_static_module("pairs", module.into());
}
