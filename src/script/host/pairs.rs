//! `pairs::model(leg_a, leg_b, timeframe, lookback, window)`: a pair's numbers for one cycle —
//! the hedge ratio (OLS of log B on log A over the last `lookback` bars), the log spread and its
//! z-score over the last `window` bars — in one host call.
//!
//! In a backtest the model is kept between cycles in the overlay and advanced by one bar when
//! the legs' new bars are the successors of the last ones it saw, so a cycle costs O(1) instead
//! of a fresh fit over the lookback; anything else (a gap, the first call) fits afresh. Live, the
//! bars come from the store and the model is fitted afresh from them each call, which gives the
//! same numbers up to rounding.

use chrono::{DateTime, Utc};
use rhai::{Dynamic, INT, Map, Module, NativeCallContext};

use super::overlay::{Closes, ModelKey, TrackedModel};
use super::{error, host, located};
use crate::domain::{Symbol, Timeframe};
use crate::indicators::{PairFit, PairModel};

type Result<T> = std::result::Result<T, Box<rhai::EvalAltResult>>;

/// The most bars a model may look back over (as `data::bars`).
const MAX_LOOKBACK: INT = 100_000;

/// What one call found: the fit, or why there is none yet.
struct Assessment {
    fit: std::result::Result<PairFit, String>,
    price_a: f64,
    price_b: f64,
    bars: usize,
    last_time: Option<DateTime<Utc>>,
}

/// Why the legs' latest bars cannot be fitted together, if they cannot: fewer bars of one leg
/// within the lookback, or latest bars that started at different times.
fn misalignment(a: &Closes<'_>, b: &Closes<'_>, lookback: usize) -> Option<String> {
    let (count_a, count_b) = (a.close.len().min(lookback), b.close.len().min(lookback));
    if count_a != count_b || a.times.last() != b.times.last() {
        return Some(format!(
            "waiting for aligned history ({count_a} and {count_b} bars)"
        ));
    }
    None
}

fn logs(values: &[f64]) -> Vec<f64> {
    values.iter().map(|value| value.ln()).collect()
}

/// A model fitted afresh to the legs' last `lookback` bars.
fn fresh(a: &Closes<'_>, b: &Closes<'_>, lookback: usize, window: usize) -> Result<PairModel> {
    let (start_a, start_b) = (
        a.close.len().saturating_sub(lookback),
        b.close.len().saturating_sub(lookback),
    );
    PairModel::from_history(
        lookback,
        window,
        &logs(&a.close[start_a..]),
        &logs(&b.close[start_b..]),
    )
    .map_err(|failure| error(format!("pairs::model: {failure}")))
}

/// The legs' model brought up to their latest bars: advanced by one point when both legs have
/// exactly one more bar than `tracked` saw, kept when they have none, fitted afresh otherwise.
fn advance(
    tracked: Option<TrackedModel>,
    a: &Closes<'_>,
    b: &Closes<'_>,
    lookback: usize,
    window: usize,
) -> Result<TrackedModel> {
    let ends = (a.close.len(), b.close.len());
    match tracked {
        Some(tracked) if tracked.ends == ends => Ok(tracked),
        Some(mut tracked) if tracked.ends.0 + 1 == ends.0 && tracked.ends.1 + 1 == ends.1 => {
            let (last_a, last_b) = (a.close[ends.0 - 1], b.close[ends.1 - 1]);
            tracked.model.push(last_a.ln(), last_b.ln());
            tracked.ends = ends;
            Ok(tracked)
        }
        _ => Ok(TrackedModel {
            model: fresh(a, b, lookback, window)?,
            ends,
        }),
    }
}

fn assessment(a: &Closes<'_>, b: &Closes<'_>, model: Option<&PairModel>) -> Assessment {
    let fit = match model {
        Some(model) => model.fit().map_err(|failure| failure.to_string()),
        None => Err(String::new()),
    };
    Assessment {
        fit,
        price_a: a.close.last().copied().unwrap_or(f64::NAN),
        price_b: b.close.last().copied().unwrap_or(f64::NAN),
        bars: model.map_or(0, PairModel::len),
        last_time: a.times.last().copied(),
    }
}

/// The pair's numbers as of the host clock.
fn model(leg_a: &str, leg_b: &str, timeframe: &str, lookback: INT, window: INT) -> Result<Map> {
    let parse_symbol =
        |text: &str| Symbol::parse(text).map_err(|failure| error(failure.to_string()));
    let (symbol_a, symbol_b) = (parse_symbol(leg_a)?, parse_symbol(leg_b)?);
    let timeframe: Timeframe = timeframe
        .parse()
        .map_err(|failure: crate::domain::TimeframeError| error(failure.to_string()))?;
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
    let (lookback, window) = (lookback as usize, window as usize);
    let (invocation, host) = host()?;
    let now = host.clock.now();
    if let Some(overlay) = &invocation.overlay {
        let closes = |symbol: &Symbol| {
            overlay
                .market
                .closes(symbol, timeframe, now)
                .map_err(|failure| error(format!("pairs::model: {failure}")))
        };
        let (a, b) = (closes(&symbol_a)?, closes(&symbol_b)?);
        let key: ModelKey = (symbol_a, symbol_b, timeframe, lookback, window);
        let mut models = overlay
            .models
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(reason) = misalignment(&a, &b, lookback) {
            models.remove(&key);
            return Ok(to_map(&waiting(&a, &b, reason)));
        }
        let tracked = advance(models.remove(&key), &a, &b, lookback, window)?;
        let found = assessment(&a, &b, Some(&tracked.model));
        models.insert(key, tracked);
        return Ok(to_map(&found));
    }
    let count = Some(lookback as INT);
    let bars_a = super::data::load(&host, &symbol_a, timeframe, count, None, None)?;
    let bars_b = super::data::load(&host, &symbol_b, timeframe, count, None, None)?;
    let columns = |bars: &[crate::domain::Bar]| -> (Vec<DateTime<Utc>>, Vec<f64>) {
        bars.iter()
            .map(|bar| (bar.time, bar.close.to_f64()))
            .unzip()
    };
    let ((times_a, close_a), (times_b, close_b)) = (columns(&bars_a), columns(&bars_b));
    let a = Closes {
        times: &times_a,
        close: &close_a,
    };
    let b = Closes {
        times: &times_b,
        close: &close_b,
    };
    if let Some(reason) = misalignment(&a, &b, lookback) {
        return Ok(to_map(&waiting(&a, &b, reason)));
    }
    let model = fresh(&a, &b, lookback, window)?;
    Ok(to_map(&assessment(&a, &b, Some(&model))))
}

fn waiting(a: &Closes<'_>, b: &Closes<'_>, reason: String) -> Assessment {
    Assessment {
        fit: Err(reason),
        ..assessment(a, b, None)
    }
}

fn to_map(found: &Assessment) -> Map {
    let (ready, reason, fit) = match &found.fit {
        Ok(fit) => (true, String::new(), *fit),
        Err(reason) => (
            false,
            reason.clone(),
            PairFit {
                beta: f64::NAN,
                alpha: f64::NAN,
                r_squared: f64::NAN,
                spread: f64::NAN,
                zscore: f64::NAN,
                points: 0,
            },
        ),
    };
    let last_time = found.last_time.map_or_else(String::new, |time| {
        time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    });
    [
        ("ready", Dynamic::from_bool(ready)),
        ("reason", Dynamic::from(reason)),
        ("beta", Dynamic::from_float(fit.beta)),
        ("alpha", Dynamic::from_float(fit.alpha)),
        ("r_squared", Dynamic::from_float(fit.r_squared)),
        ("spread", Dynamic::from_float(fit.spread)),
        ("zscore", Dynamic::from_float(fit.zscore)),
        ("price_a", Dynamic::from_float(found.price_a)),
        ("price_b", Dynamic::from_float(found.price_b)),
        ("bars", Dynamic::from_int(found.bars as INT)),
        ("last_time", Dynamic::from(last_time)),
    ]
    .into_iter()
    .map(|(key, value)| (key.into(), value))
    .collect()
}

/// The `pairs` module.
pub fn module() -> Module {
    let mut module = Module::new();
    module.set_native_fn(
        "model",
        |context: NativeCallContext,
         leg_a: &str,
         leg_b: &str,
         timeframe: &str,
         lookback: INT,
         window: INT| {
            located(&context, || {
                model(leg_a, leg_b, timeframe, lookback, window)
            })
        },
    );
    module
}
