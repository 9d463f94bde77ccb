//! `analytics::…`: live performance for flows — metrics of the equity curve and closed pair
//! trades over the last days (`performance`), trade analysis by pair, hour, weekday and holding
//! time (`trade_analysis`), and the HTML report (`report`, written by the orchestrator into the
//! daemon's reports folder).

use rhai::{INT, Module, NativeCallContext};

use super::{block_on, current, error, host, located};
use crate::analytics::{metrics, periods_per_year, trade_analysis};
use crate::strategy::performance;

fn since(days: INT) -> Result<chrono::DateTime<chrono::Utc>, Box<rhai::EvalAltResult>> {
    if !(1..=3650).contains(&days) {
        return Err(error(format!("days must be 1 to 3650, got {days}")));
    }
    Ok(host()?.1.clock.now() - chrono::Duration::days(days))
}

/// The `analytics` module.
pub fn module() -> Module {
    let mut module = Module::new();
    module.set_native_fn("performance", |context: NativeCallContext, days: INT| {
        located(&context, || {
            let (_, host) = host()?;
            let from = since(days)?;
            let (equity, trades) = block_on(&host, async {
                Ok::<_, crate::store::Error>((
                    performance::equity(&host.store, from).await?,
                    performance::trades(&host.store, from).await?,
                ))
            })
            .map_err(|failure| error(format!("analytics::performance: {failure}")))?;
            let result = metrics(&equity, &trades, periods_per_year(&equity));
            let json =
                serde_json::to_value(&result).map_err(|failure| error(failure.to_string()))?;
            rhai::serde::to_dynamic(json)
        })
    });
    module.set_native_fn("trade_analysis", |context: NativeCallContext, days: INT| {
        located(&context, || {
            let (_, host) = host()?;
            let from = since(days)?;
            let trades = block_on(&host, performance::trades(&host.store, from))
                .map_err(|failure| error(format!("analytics::trade_analysis: {failure}")))?;
            let analysis = trade_analysis(&trades)
                .map_err(|failure| error(format!("analytics::trade_analysis: {failure}")))?;
            let json =
                serde_json::to_value(&analysis).map_err(|failure| error(failure.to_string()))?;
            rhai::serde::to_dynamic(json)
        })
    });
    module.set_native_fn("report", |context: NativeCallContext, days: INT| {
        located(&context, || {
            let (_, host) = host()?;
            since(days)?;
            let flow = current()
                .and_then(|invocation| invocation.flow.clone())
                .ok_or_else(|| error("analytics::report runs from a flow the daemon or `tradehost flow run` runs"))?;
            match block_on(&host, flow.host.write_report(days)) {
                Ok(path) => rhai::serde::to_dynamic(path),
                Err(message) => Err(error(format!("analytics::report: {message}"))),
            }
        })
    });
    module.set_native_fn("backtest", |context: NativeCallContext, parameters: rhai::Map| {
        located(&context, || {
            let (_, host) = host()?;
            let flow = current()
                .and_then(|invocation| invocation.flow.clone())
                .ok_or_else(|| error("analytics::backtest runs from a flow the daemon or `tradehost flow run` runs"))?;
            let parameters: serde_json::Value =
                rhai::serde::from_dynamic(&rhai::Dynamic::from_map(parameters))
                    .map_err(|failure| error(format!("analytics::backtest parameters: {failure}")))?;
            match block_on(&host, flow.host.run_backtest(parameters)) {
                Ok(summary) => rhai::serde::to_dynamic(summary),
                Err(message) => Err(error(format!("analytics::backtest: {message}"))),
            }
        })
    });
    module
}
