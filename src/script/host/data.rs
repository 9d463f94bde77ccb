//! `data::…`: bars by symbol, timeframe and count or range, the latest price, and the clock.
//!
//! Bars come from the store. A timeframe with no stored bars (scripts ask for `1Hour`; the feed
//! stores `1Min`) is resampled from minute bars on the fly.

use chrono::{DateTime, Utc};
use rhai::{Engine, INT, Module, NativeCallContext};

use super::{Host, block_on, error, host, located};
use crate::domain::{Bar, Symbol, Timeframe, resample};
use crate::indicators::Series;
use crate::market::calendar::UsEquityCalendar;
use crate::store::BarQuery;

/// The most bars one call may ask for.
const MAX_BARS: INT = 100_000;

/// A symbol's bars as columns: each field is a [`Series`] scripts compute on.
#[derive(Debug, Clone)]
pub struct Bars {
    symbol: String,
    timeframe: String,
    times: Vec<DateTime<Utc>>,
    open: Series,
    high: Series,
    low: Series,
    close: Series,
    volume: Series,
}

impl Bars {
    /// Bars from columns (a backtest's history); all columns have the times' length.
    #[allow(clippy::too_many_arguments)] // One argument per column.
    pub fn from_columns(
        symbol: &Symbol,
        timeframe: Timeframe,
        times: Vec<DateTime<Utc>>,
        open: Series,
        high: Series,
        low: Series,
        close: Series,
        volume: Series,
    ) -> Self {
        Self {
            symbol: symbol.to_string(),
            timeframe: timeframe.to_string(),
            times,
            open,
            high,
            low,
            close,
            volume,
        }
    }

    /// The closes (for native code that works on the same bars as a script).
    pub fn close(&self) -> Series {
        self.close.clone()
    }

    fn from_bars(symbol: &Symbol, timeframe: Timeframe, bars: &[Bar]) -> Self {
        let column = |field: fn(&Bar) -> f64| Series::new(bars.iter().map(field).collect());
        Self {
            symbol: symbol.to_string(),
            timeframe: timeframe.to_string(),
            times: bars.iter().map(|bar| bar.time).collect(),
            open: column(|bar| bar.open.to_f64()),
            high: column(|bar| bar.high.to_f64()),
            low: column(|bar| bar.low.to_f64()),
            close: column(|bar| bar.close.to_f64()),
            volume: column(|bar| {
                rust_decimal::prelude::ToPrimitive::to_f64(&bar.volume.value()).unwrap_or(f64::NAN)
            }),
        }
    }
}

fn parse_symbol(text: &str) -> Result<Symbol, Box<rhai::EvalAltResult>> {
    Symbol::parse(text).map_err(|failure| error(failure.to_string()))
}

fn parse_timeframe(text: &str) -> Result<Timeframe, Box<rhai::EvalAltResult>> {
    text.parse()
        .map_err(|failure: crate::domain::TimeframeError| error(failure.to_string()))
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, Box<rhai::EvalAltResult>> {
    text.parse().map_err(|_| {
        error(format!(
            "`{text}` is not an RFC 3339 time such as 2026-01-05T14:30:00Z"
        ))
    })
}

/// Loads bars, resampling from minutes when the timeframe is not stored. `count` limits to the
/// latest bars; the range is `[from, to)`, and never beyond the host clock's now (no peeking at
/// the future in a backtest).
pub(crate) fn load(
    host: &Host,
    symbol: &Symbol,
    timeframe: Timeframe,
    count: Option<INT>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<Vec<Bar>, Box<rhai::EvalAltResult>> {
    if let Some(count) = count.filter(|count| !(1..=MAX_BARS).contains(count)) {
        return Err(error(format!("count must be 1 to {MAX_BARS}, got {count}")));
    }
    let now = host.clock.now();
    let to = Some(to.map_or(now, |to| to.min(now)));
    let limit = count.map(|count| u32::try_from(count).unwrap_or(u32::MAX));
    let query = BarQuery {
        symbol: symbol.clone(),
        timeframe,
        from,
        to,
        limit,
    };
    let stored = block_on(host, host.store.bars(&query))
        .map_err(|failure| error(format!("data::bars: {failure}")))?;
    if !stored.is_empty() || timeframe == Timeframe::MINUTE {
        return Ok(stored);
    }
    // Resample from minutes: enough minutes for `count` buckets, plus one for a partial bucket.
    let minutes_per_bucket = (timeframe.nominal_duration().num_minutes()).max(1);
    let minute_limit = count.map(|count| {
        let wanted = (count + 1).saturating_mul(minutes_per_bucket);
        // A daily bucket holds at most 390 session minutes, not 1440.
        let wanted = if timeframe.is_intraday() {
            wanted
        } else {
            (count + 1).saturating_mul(390)
        };
        u32::try_from(wanted.min(MAX_BARS * 60)).unwrap_or(u32::MAX)
    });
    let query = BarQuery {
        symbol: symbol.clone(),
        timeframe: Timeframe::MINUTE,
        from,
        to,
        limit: minute_limit,
    };
    let minutes = block_on(host, host.store.bars(&query))
        .map_err(|failure| error(format!("data::bars: {failure}")))?;
    let mut bars = resample(&minutes, timeframe).map_err(|failure| error(failure.to_string()))?;
    if let Some(count) = count {
        let keep = usize::try_from(count).unwrap_or(usize::MAX);
        if bars.len() > keep {
            bars.drain(..bars.len() - keep);
        }
    }
    Ok(bars)
}

/// Registers the `Bars` type and the `data` module.
pub fn register(engine: &mut Engine) {
    engine
        .register_type_with_name::<Bars>("Bars")
        .register_get("symbol", |bars: &mut Bars| bars.symbol.clone())
        .register_get("timeframe", |bars: &mut Bars| bars.timeframe.clone())
        .register_get("open", |bars: &mut Bars| bars.open.clone())
        .register_get("high", |bars: &mut Bars| bars.high.clone())
        .register_get("low", |bars: &mut Bars| bars.low.clone())
        .register_get("close", |bars: &mut Bars| bars.close.clone())
        .register_get("volume", |bars: &mut Bars| bars.volume.clone())
        .register_get("time", |bars: &mut Bars| {
            Series::new(
                bars.times
                    .iter()
                    .map(|time| time.timestamp() as f64)
                    .collect(),
            )
        })
        .register_fn("len", |bars: &mut Bars| bars.times.len() as INT)
        .register_fn("is_empty", |bars: &mut Bars| bars.times.is_empty())
        .register_get("first_time", |bars: &mut Bars| {
            bars.times.first().map_or_else(String::new, |t| {
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            })
        })
        .register_get("last_time", |bars: &mut Bars| {
            bars.times.last().map_or_else(String::new, |t| {
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            })
        })
        .register_fn("to_string", |bars: &mut Bars| {
            format!(
                "Bars({} {} × {})",
                bars.symbol,
                bars.timeframe,
                bars.times.len()
            )
        });

    let mut module = Module::new();
    module.set_native_fn(
        "bars",
        |context: NativeCallContext, symbol: &str, timeframe: &str, count: INT| {
            located(&context, || {
                let (invocation, host) = host()?;
                let (symbol, timeframe) = (parse_symbol(symbol)?, parse_timeframe(timeframe)?);
                if let Some(overlay) = &invocation.overlay {
                    let count = usize::try_from(count.clamp(1, MAX_BARS)).unwrap_or(1);
                    return overlay
                        .market
                        .bars(&symbol, timeframe, count, host.clock.now())
                        .map_err(|failure| error(format!("data::bars: {failure}")));
                }
                let bars = load(&host, &symbol, timeframe, Some(count), None, None)?;
                Ok(Bars::from_bars(&symbol, timeframe, &bars))
            })
        },
    );
    module.set_native_fn(
        "bars_between",
        |context: NativeCallContext, symbol: &str, timeframe: &str, from: &str, to: &str| {
            located(&context, || {
                let (_, host) = host()?;
                let (symbol, timeframe) = (parse_symbol(symbol)?, parse_timeframe(timeframe)?);
                let bars = load(
                    &host,
                    &symbol,
                    timeframe,
                    None,
                    Some(parse_time(from)?),
                    Some(parse_time(to)?),
                )?;
                Ok(Bars::from_bars(&symbol, timeframe, &bars))
            })
        },
    );
    module.set_native_fn(
        "latest_price",
        |context: NativeCallContext, symbol: &str| {
            located(&context, || {
                let (_, host) = host()?;
                let symbol = parse_symbol(symbol)?;
                let bars = load(&host, &symbol, Timeframe::MINUTE, Some(1), None, None)?;
                bars.last()
                    .map(|bar| bar.close.to_f64())
                    .ok_or_else(|| error(format!("no prices stored for {symbol}")))
            })
        },
    );
    module.set_native_fn("now", |context: NativeCallContext| {
        located(&context, || {
            Ok(host()?
                .1
                .clock
                .now()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        })
    });
    module.set_native_fn("now_ms", |context: NativeCallContext| {
        located(&context, || Ok(host()?.1.clock.now().timestamp_millis()))
    });
    module.set_native_fn("market_open", |context: NativeCallContext| {
        located(&context, || {
            Ok(UsEquityCalendar.is_open(host()?.1.clock.now()))
        })
    });
    module.set_native_fn("next_open", |context: NativeCallContext| {
        located(&context, || {
            Ok(UsEquityCalendar
                .next_open(host()?.1.clock.now())
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        })
    });
    module.set_native_fn("next_close", |context: NativeCallContext| {
        located(&context, || {
            Ok(UsEquityCalendar
                .next_close(host()?.1.clock.now())
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        })
    });
    module.set_native_fn("fetch_latest", |context: NativeCallContext| {
        located(&context, || {
            let (_, host) = host()?;
            let flows = super::current()
                .and_then(|invocation| invocation.flow.clone())
                .ok_or_else(|| error("data::fetch_latest runs only inside a flow run by the daemon or `tradehost flow run`"))?;
            match block_on(&host, flows.host.fetch_market_data()) {
                Ok(outcome) => rhai::serde::to_dynamic(outcome),
                Err(message) => Err(error(format!("fetching market data failed: {message}"))),
            }
        })
    });
    engine.register_static_module("data", module.into());
}
