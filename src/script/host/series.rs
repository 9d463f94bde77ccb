//! The `Series` type in scripts: a native vector of numbers with vectorised arithmetic and
//! rolling statistics, so numeric work never loops per element in Rhai.

use rhai::{Array, Dynamic, Engine, EvalAltResult, FLOAT, INT};

use super::error;
use crate::indicators::{IndicatorError, Series};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

/// Converts an indicator error into a script error.
pub fn failed(failure: IndicatorError) -> Box<EvalAltResult> {
    error(failure.to_string())
}

/// A count or window from a script integer.
pub fn count(name: &str, value: INT) -> Result<usize> {
    usize::try_from(value).map_err(|_| error(format!("{name} must not be negative, got {value}")))
}

/// A number from a script value that may be an integer or a float.
fn number(value: &Dynamic) -> Option<FLOAT> {
    value
        .as_float()
        .ok()
        .or_else(|| value.as_int().ok().map(|integer| integer as FLOAT))
}

fn from_array(values: Array) -> Result<Series> {
    values
        .iter()
        .enumerate()
        .map(|(index, value)| {
            number(value).ok_or_else(|| {
                error(format!(
                    "series(): element {index} is a {}, not a number",
                    value.type_name()
                ))
            })
        })
        .collect::<Result<Vec<FLOAT>>>()
        .map(Series::new)
}

fn element(series: &mut Series, index: INT) -> Result<FLOAT> {
    series.get(index).ok_or_else(|| {
        error(format!(
            "index {index} is outside a Series of length {}",
            series.len()
        ))
    })
}

/// Registers the type, its operators and its methods.
pub fn register(engine: &mut Engine) {
    engine
        .register_type_with_name::<Series>("Series")
        .register_fn("series", from_array)
        .register_fn("len", |series: &mut Series| series.len() as INT)
        .register_fn("is_empty", |series: &mut Series| series.is_empty())
        .register_indexer_get(element)
        .register_fn("last", |series: &mut Series| {
            series
                .last()
                .ok_or_else(|| error("last() of an empty Series"))
        })
        .register_fn("first", |series: &mut Series| {
            series
                .first()
                .ok_or_else(|| error("first() of an empty Series"))
        })
        .register_fn("to_array", |series: &mut Series| {
            series
                .values()
                .iter()
                .map(|value| Dynamic::from_float(*value))
                .collect::<Array>()
        })
        .register_fn("to_string", |series: &mut Series| describe(series))
        .register_fn("to_debug", |series: &mut Series| describe(series));

    // Arithmetic: series with series (same length), series with number, number with series.
    engine
        .register_fn("+", |a: Series, b: Series| a.add(&b).map_err(failed))
        .register_fn("-", |a: Series, b: Series| a.sub(&b).map_err(failed))
        .register_fn("*", |a: Series, b: Series| a.mul(&b).map_err(failed))
        .register_fn("/", |a: Series, b: Series| a.div(&b).map_err(failed))
        .register_fn("-", |a: Series| a.neg());
    macro_rules! scalar_operators {
        ($number:ty) => {
            engine
                .register_fn("+", |a: Series, b: $number| a.add_scalar(b as FLOAT))
                .register_fn("-", |a: Series, b: $number| a.sub_scalar(b as FLOAT))
                .register_fn("*", |a: Series, b: $number| a.mul_scalar(b as FLOAT))
                .register_fn("/", |a: Series, b: $number| a.div_scalar(b as FLOAT))
                .register_fn("+", |a: $number, b: Series| b.add_scalar(a as FLOAT))
                .register_fn("-", |a: $number, b: Series| b.neg().add_scalar(a as FLOAT))
                .register_fn("*", |a: $number, b: Series| b.mul_scalar(a as FLOAT))
                .register_fn("/", |a: $number, b: Series| {
                    Series::new(b.values().iter().map(|value| a as FLOAT / value).collect())
                })
                .register_fn("pow", |a: &mut Series, exponent: $number| {
                    a.pow(exponent as FLOAT)
                });
        };
    }
    scalar_operators!(FLOAT);
    scalar_operators!(INT);

    engine
        .register_fn("ln", |series: &mut Series| series.ln())
        .register_fn("exp", |series: &mut Series| series.exp())
        .register_fn("sqrt", |series: &mut Series| series.sqrt())
        .register_fn("abs", |series: &mut Series| series.abs())
        .register_fn("diff", |series: &mut Series| series.diff(1))
        .register_fn("diff", |series: &mut Series, periods: INT| {
            Ok::<_, Box<EvalAltResult>>(series.diff(count("periods", periods)?))
        })
        .register_fn("pct_change", |series: &mut Series| series.pct_change(1))
        .register_fn("pct_change", |series: &mut Series, periods: INT| {
            Ok::<_, Box<EvalAltResult>>(series.pct_change(count("periods", periods)?))
        })
        .register_fn("shift", |series: &mut Series, periods: INT| {
            Ok::<_, Box<EvalAltResult>>(series.shift(count("periods", periods)?))
        })
        .register_fn("rolling_mean", |series: &mut Series, window: INT| {
            series
                .rolling_mean(count("window", window)?)
                .map_err(failed)
        })
        .register_fn("rolling_std", |series: &mut Series, window: INT| {
            series.rolling_std(count("window", window)?).map_err(failed)
        })
        .register_fn("rolling_sum", |series: &mut Series, window: INT| {
            series.rolling_sum(count("window", window)?).map_err(failed)
        })
        .register_fn("rolling_min", |series: &mut Series, window: INT| {
            series.rolling_min(count("window", window)?).map_err(failed)
        })
        .register_fn("rolling_max", |series: &mut Series, window: INT| {
            series.rolling_max(count("window", window)?).map_err(failed)
        })
        .register_fn("zscore", |series: &mut Series, window: INT| {
            series.zscore(count("window", window)?).map_err(failed)
        })
        .register_fn("mean", |series: &mut Series| series.mean())
        .register_fn("std", |series: &mut Series| series.std())
        .register_fn("sum", |series: &mut Series| series.sum())
        .register_fn("min", |series: &mut Series| series.min())
        .register_fn("max", |series: &mut Series| series.max())
        .register_fn("tail", |series: &mut Series, length: INT| {
            Ok::<_, Box<EvalAltResult>>(series.tail(count("count", length)?))
        })
        .register_fn("slice", |series: &mut Series, start: INT, end: INT| {
            series.slice(start, end)
        })
        .register_fn("dropna", |series: &mut Series| series.dropna())
        .register_fn("cumsum", |series: &mut Series| series.cumsum());
}

fn describe(series: &Series) -> String {
    let shown: Vec<String> = series
        .values()
        .iter()
        .rev()
        .take(5)
        .rev()
        .map(|value| format!("{value:.6}"))
        .collect();
    let ellipsis = if series.len() > 5 { "…, " } else { "" };
    format!(
        "Series(len {}: [{ellipsis}{}])",
        series.len(),
        shown.join(", ")
    )
}
