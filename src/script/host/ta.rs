//! `ta::…`: technical indicators and statistics on `Series`, following TA-Lib's conventions.

use rhai::{Dynamic, FLOAT, INT, Map, Module, NativeCallContext};

use super::located;
use super::series::{count, failed};
use crate::indicators::{self, Series};

fn map(entries: impl IntoIterator<Item = (&'static str, Dynamic)>) -> Map {
    entries
        .into_iter()
        .map(|(key, value)| (key.into(), value))
        .collect()
}

/// The `ta` module.
pub fn module() -> Module {
    let mut module = Module::new();
    module.set_native_fn(
        "sma",
        |context: NativeCallContext, values: Series, period: INT| {
            located(&context, || {
                indicators::sma(values.values(), count("period", period)?).map_err(failed)
            })
        },
    );
    module.set_native_fn(
        "ema",
        |context: NativeCallContext, values: Series, period: INT| {
            located(&context, || {
                indicators::ema(values.values(), count("period", period)?).map_err(failed)
            })
        },
    );
    module.set_native_fn(
        "wma",
        |context: NativeCallContext, values: Series, period: INT| {
            located(&context, || {
                indicators::wma(values.values(), count("period", period)?).map_err(failed)
            })
        },
    );
    module.set_native_fn(
        "rsi",
        |context: NativeCallContext, values: Series, period: INT| {
            located(&context, || {
                indicators::rsi(values.values(), count("period", period)?).map_err(failed)
            })
        },
    );
    module.set_native_fn(
        "macd",
        |context: NativeCallContext, values: Series, fast: INT, slow: INT, signal: INT| {
            located(&context, || {
                let lines = indicators::macd(
                    values.values(),
                    count("fast", fast)?,
                    count("slow", slow)?,
                    count("signal", signal)?,
                )
                .map_err(failed)?;
                Ok(map([
                    ("macd", Dynamic::from(lines.macd)),
                    ("signal", Dynamic::from(lines.signal)),
                    ("histogram", Dynamic::from(lines.histogram)),
                ]))
            })
        },
    );
    module.set_native_fn(
        "bollinger",
        |context: NativeCallContext, values: Series, period: INT, deviations: FLOAT| {
            located(&context, || {
                let bands = indicators::bollinger(
                    values.values(),
                    count("period", period)?,
                    deviations,
                    deviations,
                )
                .map_err(failed)?;
                Ok(map([
                    ("upper", Dynamic::from(bands.upper)),
                    ("middle", Dynamic::from(bands.middle)),
                    ("lower", Dynamic::from(bands.lower)),
                ]))
            })
        },
    );
    module.set_native_fn(
        "true_range",
        |context: NativeCallContext, high: Series, low: Series, close: Series| {
            located(&context, || {
                indicators::true_range(high.values(), low.values(), close.values()).map_err(failed)
            })
        },
    );
    module.set_native_fn(
        "atr",
        |context: NativeCallContext, high: Series, low: Series, close: Series, period: INT| {
            located(&context, || {
                indicators::atr(
                    high.values(),
                    low.values(),
                    close.values(),
                    count("period", period)?,
                )
                .map_err(failed)
            })
        },
    );
    module.set_native_fn(
        "stddev",
        |context: NativeCallContext, values: Series, period: INT| {
            located(&context, || {
                indicators::stddev(values.values(), count("period", period)?, 1.0).map_err(failed)
            })
        },
    );
    module.set_native_fn(
        "zscore",
        |context: NativeCallContext, values: Series, window: INT| {
            located(&context, || {
                indicators::rolling_zscore(values.values(), count("window", window)?)
                    .map_err(failed)
            })
        },
    );
    module.set_native_fn("ols", |context: NativeCallContext, x: Series, y: Series| {
        located(&context, || {
            let fit = indicators::ols(x.values(), y.values()).map_err(failed)?;
            Ok(map([
                ("alpha", Dynamic::from_float(fit.alpha)),
                ("beta", Dynamic::from_float(fit.beta)),
                ("r_squared", Dynamic::from_float(fit.r_squared)),
                ("residual_std", Dynamic::from_float(fit.residual_std)),
                ("n", Dynamic::from_int(fit.n as INT)),
            ]))
        })
    });
    module.set_native_fn(
        "correlation",
        |context: NativeCallContext, x: Series, y: Series| {
            located(&context, || {
                indicators::correlation(x.values(), y.values()).map_err(failed)
            })
        },
    );
    module.set_native_fn("half_life", |context: NativeCallContext, spread: Series| {
        located(&context, || {
            indicators::half_life(spread.values()).map_err(failed)
        })
    });
    module
}
