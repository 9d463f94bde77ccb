//! `tradehost backtest STRATEGY`: runs a strategy over stored or simulated history with the
//! backtest broker and the live risk engine, prints the metrics, writes the HTML report and the
//! trades (CSV and Parquet), and stores the run. `--sweep` runs a parameter grid on both cores.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Args;

use crate::analytics::{
    Metrics, Period, ReportData, write_report, write_trades_csv, write_trades_parquet,
};
use crate::backtest::{BacktestResult, BacktestSettings, DeskLedger, History};
use crate::config::Settings;
use crate::domain::{Symbol, Timeframe};
use crate::store::{BacktestRunRecord, Store};
use crate::strategy::{PairsFile, load_pairs};

/// Arguments of `backtest`.
#[derive(Debug, Args)]
pub struct BacktestArguments {
    /// The strategy script, e.g. strategies/pairs.rhai.
    strategy: PathBuf,
    /// Pairs to trade instead of config/pairs.toml's, as LEGA/LEGB (repeatable); the file's
    /// [defaults] apply.
    #[arg(long = "pair")]
    pairs: Vec<String>,
    /// The bar length, overriding the pairs' (1Day for the daily CSV pairs).
    #[arg(long)]
    timeframe: Option<String>,
    /// First bar (RFC 3339 or YYYY-MM-DD).
    #[arg(long)]
    from: Option<String>,
    /// End of the history, exclusive (RFC 3339 or YYYY-MM-DD).
    #[arg(long)]
    to: Option<String>,
    /// Run on this many days of the seeded simulated market instead of stored bars.
    #[arg(long)]
    simulated_days: Option<i64>,
    /// The simulated market's seed [default: market.seed].
    #[arg(long)]
    seed: Option<u64>,
    /// Starting cash [default: broker.paper.initial_cash].
    #[arg(long)]
    cash: Option<rust_decimal::Decimal>,
    /// A pair parameter for every pair, as key=value (repeatable), e.g. --set entry_z=1.5.
    #[arg(long = "set")]
    sets: Vec<String>,
    /// A parameter grid, as key=v1,v2,… (repeatable): every combination runs, two at a time.
    #[arg(long = "sweep")]
    sweeps: Vec<String>,
    /// Where the report and trades go [default: <data>/backtests/<time>].
    #[arg(long)]
    out: Option<PathBuf>,
}

fn parse_time(text: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(time) = text.parse::<DateTime<Utc>>() {
        return Ok(time);
    }
    let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .with_context(|| format!("`{text}` is neither RFC 3339 nor YYYY-MM-DD"))?;
    Ok(date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
}

/// Applies `key=value` to every pair, checked by the same validation as the file.
fn with_parameters(pairs: &PairsFile, sets: &[(String, String)]) -> anyhow::Result<PairsFile> {
    let mut pairs = pairs.clone();
    for pair in &mut pairs.pairs {
        let mut value = serde_json::to_value(&pair.parameters)?;
        for (key, text) in sets {
            let object = value
                .as_object_mut()
                .ok_or_else(|| anyhow::anyhow!("pair parameters are a table"))?;
            if !object.contains_key(key) {
                anyhow::bail!(
                    "unknown pair parameter `{key}`; use one of {}",
                    object.keys().cloned().collect::<Vec<_>>().join(", ")
                );
            }
            let parsed: serde_json::Value = serde_json::from_str(text)
                .unwrap_or_else(|_| serde_json::Value::String(text.clone()));
            object.insert(key.clone(), parsed);
        }
        pair.parameters = serde_json::from_value(value)
            .with_context(|| format!("pair {}: bad parameter value", pair.name))?;
    }
    // The file's own validation, on the result.
    let text = toml_of(&pairs)?;
    crate::strategy::pairs::parse_pairs(&text, "the command line").map_err(anyhow::Error::msg)
}

/// The pairs as a pairs.toml text (so command-line edits pass the file's validation).
fn toml_of(pairs: &PairsFile) -> anyhow::Result<String> {
    let first = pairs
        .pairs
        .first()
        .ok_or_else(|| anyhow::anyhow!("no pairs to trade"))?;
    let mut text = String::from("[defaults]\n");
    let defaults = serde_json::to_value(&first.parameters)?;
    for (key, value) in defaults.as_object().into_iter().flatten() {
        text.push_str(&format!("{key} = {value}\n"));
    }
    for pair in &pairs.pairs {
        text.push_str(&format!(
            "\n[[pairs]]\nleg_a = \"{}\"\nleg_b = \"{}\"\n",
            pair.leg_a, pair.leg_b
        ));
        let own = serde_json::to_value(&pair.parameters)?;
        for (key, value) in own.as_object().into_iter().flatten() {
            text.push_str(&format!("{key} = {value}\n"));
        }
    }
    Ok(text)
}

fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |value| format!("{:.2}%", value * 100.0))
}

fn number(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |value| format!("{value:.2}"))
}

fn print_metrics(result: &BacktestResult) {
    let m: &Metrics = &result.metrics;
    let rows = [
        ("bars", result.bars.to_string()),
        ("cycles", result.cycles.to_string()),
        (
            "speed",
            format!(
                "{:.0} bars/s",
                result.bars as f64 / result.elapsed.as_secs_f64().max(1e-9)
            ),
        ),
        ("orders", result.orders.to_string()),
        ("risk refusals", refusals(result)),
        ("trades", m.trades.to_string()),
        ("total return", percent(m.total_return)),
        ("CAGR", percent(m.cagr)),
        ("annualised volatility", percent(m.annualised_volatility)),
        ("Sharpe", number(m.sharpe)),
        ("Sortino", number(m.sortino)),
        ("max drawdown", percent(Some(m.max_drawdown))),
        (
            "max drawdown duration",
            format!(
                "{:.1} days",
                m.max_drawdown_duration_seconds as f64 / 86400.0
            ),
        ),
        ("Calmar", number(m.calmar)),
        ("win rate", percent(m.win_rate)),
        ("profit factor", number(m.profit_factor)),
        ("expectancy", number(m.expectancy)),
        ("average win", number(m.average_win)),
        ("average loss", number(m.average_loss)),
        ("max consecutive wins", m.max_consecutive_wins.to_string()),
        (
            "max consecutive losses",
            m.max_consecutive_losses.to_string(),
        ),
        ("exposure", percent(m.exposure)),
        ("net P&L", format!("{:.2}", m.net_pnl)),
    ];
    for (name, value) in rows {
        println!("{name:<24} {value:>16}");
    }
}

/// Runs `backtest`.
pub async fn backtest(
    settings: &Settings,
    arguments: &BacktestArguments,
) -> anyhow::Result<ExitCode> {
    let config = &settings.config;
    let mut pairs =
        load_pairs(&settings.config_dir.join("pairs.toml")).map_err(anyhow::Error::msg)?;
    if !arguments.pairs.is_empty() {
        let template = pairs.pairs.first().cloned().ok_or_else(|| {
            anyhow::anyhow!("config/pairs.toml has no pair to take defaults from")
        })?;
        pairs.pairs = arguments
            .pairs
            .iter()
            .map(|text| {
                let (a, b) = text
                    .split_once('/')
                    .ok_or_else(|| anyhow::anyhow!("--pair takes LEGA/LEGB, not `{text}`"))?;
                let (leg_a, leg_b) = (Symbol::parse(a)?, Symbol::parse(b)?);
                Ok(crate::strategy::PairConfig {
                    name: format!("{leg_a}/{leg_b}"),
                    leg_a,
                    leg_b,
                    parameters: template.parameters.clone(),
                })
            })
            .collect::<anyhow::Result<_>>()?;
    }
    let mut sets: Vec<(String, String)> = Vec::new();
    for text in &arguments.sets {
        let (key, value) = text
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--set takes key=value, not `{text}`"))?;
        sets.push((key.to_owned(), value.to_owned()));
    }
    if let Some(timeframe) = &arguments.timeframe {
        sets.push(("timeframe".to_owned(), format!("\"{timeframe}\"")));
    }
    let pairs = with_parameters(&pairs, &sets)?;
    let timeframe: Timeframe = pairs
        .pairs
        .first()
        .map(|pair| pair.parameters.timeframe.clone())
        .unwrap_or_else(|| "1Hour".to_owned())
        .parse()?;
    let store = Store::open(&settings.database, 2)
        .await
        .with_context(|| format!("opening the database at {}", settings.database))?;
    let (history, source) = match arguments.simulated_days {
        Some(days) => {
            let seed = arguments.seed.unwrap_or(config.market.seed);
            let start = match &arguments.from {
                Some(text) => parse_time(text)?,
                None => config.clock.start,
            };
            (
                History::simulated(seed, start, days, timeframe)?,
                format!("simulated market, seed {seed}, {days} days from {start}"),
            )
        }
        None => {
            let mut symbols: Vec<Symbol> = pairs
                .pairs
                .iter()
                .flat_map(|pair| [pair.leg_a.clone(), pair.leg_b.clone()])
                .collect();
            symbols.sort();
            symbols.dedup();
            let from = arguments.from.as_deref().map(parse_time).transpose()?;
            let to = arguments.to.as_deref().map(parse_time).transpose()?;
            (
                History::from_store(&store, &symbols, timeframe, from, to).await?,
                format!("stored {timeframe} bars in {}", settings.database),
            )
        }
    };
    let history = Arc::new(history);
    let limits = crate::trading::limits_file::load(&settings.config_dir.join("risk.toml"))
        .map_err(anyhow::Error::msg)?;
    let base = BacktestSettings {
        strategy: arguments.strategy.clone(),
        native: None,
        pairs,
        initial_cash: arguments.cash.unwrap_or(config.broker.paper.initial_cash),
        limits,
        paper: config.broker.paper.clone(),
        trading: config.trading.clone(),
        script_limits: config.scripts.limits.clone(),
        desk_ledger: DeskLedger::default(),
    };
    let grid = grid(&arguments.sweeps)?;
    if grid.len() > 1 {
        return sweep(&store, base, history, grid, &source).await;
    }
    let result = crate::backtest::run(base.clone(), history).await?;
    print_metrics(&result);
    let out = arguments.out.clone().unwrap_or_else(|| {
        settings
            .data_dir()
            .join("backtests")
            .join(Utc::now().format("%Y%m%d-%H%M%S").to_string())
    });
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let mut parameters = BTreeMap::new();
    parameters.insert("strategy".to_owned(), base.strategy.display().to_string());
    parameters.insert("script hash".to_owned(), result.script_hash.clone());
    parameters.insert("data".to_owned(), source.clone());
    parameters.insert("initial cash".to_owned(), base.initial_cash.to_string());
    for pair in &base.pairs.pairs {
        parameters.insert(
            format!("pair {}", pair.name),
            serde_json::to_string(&pair.parameters)?,
        );
    }
    let report = ReportData::from_run(
        format!("Backtest of {} ({})", result.strategy, source),
        parameters.clone(),
        result.equity.clone(),
        result.trades.clone(),
        result.z_paths.clone(),
        Period::Month,
        result.periods_per_year,
    )?;
    let report_path = out.join("report.html");
    write_report(&report_path, &report)?;
    write_trades_csv(&out.join("trades.csv"), &result.trades)?;
    write_trades_parquet(&out.join("trades.parquet"), &result.trades)?;
    let id = store_run(
        &store,
        &base,
        &result,
        &source,
        Some(report_path.display().to_string()),
    )
    .await?;
    println!("\nstored as backtest run {id}");
    println!("report: {}", report_path.display());
    println!(
        "trades: {} and trades.parquet",
        out.join("trades.csv").display()
    );
    Ok(ExitCode::SUCCESS)
}

async fn store_run(
    store: &Store,
    settings: &BacktestSettings,
    result: &BacktestResult,
    source: &str,
    report: Option<String>,
) -> anyhow::Result<i64> {
    let start = result
        .equity
        .first()
        .map_or_else(Utc::now, |point| point.time);
    let end = result
        .equity
        .last()
        .map_or_else(Utc::now, |point| point.time);
    Ok(store
        .insert_backtest_run(&BacktestRunRecord {
            id: 0,
            created_at: Utc::now(),
            strategy: result.strategy.clone(),
            script_hash: result.script_hash.clone(),
            source: source.to_owned(),
            parameters: serde_json::to_value(&settings.pairs)?,
            start,
            end,
            bars: i64::try_from(result.bars).unwrap_or(i64::MAX),
            metrics: serde_json::to_value(&result.metrics)?,
            trades: serde_json::to_value(&result.trades)?,
            report,
        })
        .await?)
}

/// Every combination of `key=v1,v2` sweeps (one empty combination without sweeps).
fn grid(sweeps: &[String]) -> anyhow::Result<Vec<Vec<(String, String)>>> {
    let mut combinations: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for text in sweeps {
        let (key, values) = text
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--sweep takes key=v1,v2,…, not `{text}`"))?;
        let mut next = Vec::new();
        for combination in &combinations {
            for value in values.split(',').filter(|value| !value.is_empty()) {
                let mut extended = combination.clone();
                extended.push((key.to_owned(), value.to_owned()));
                next.push(extended);
            }
        }
        combinations = next;
    }
    Ok(combinations)
}

/// Runs every combination, two at a time (one per core), and prints one line each.
async fn sweep(
    store: &Store,
    base: BacktestSettings,
    history: Arc<History>,
    grid: Vec<Vec<(String, String)>>,
    source: &str,
) -> anyhow::Result<ExitCode> {
    let cores = std::thread::available_parallelism().map_or(2, |count| count.get());
    let permits = Arc::new(tokio::sync::Semaphore::new(cores));
    let mut runs = tokio::task::JoinSet::new();
    for (index, combination) in grid.into_iter().enumerate() {
        let mut settings = base.clone();
        settings.pairs = with_parameters(&base.pairs, &combination)?;
        let (history, permits) = (history.clone(), permits.clone());
        runs.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let result = crate::backtest::run(settings.clone(), history).await;
            (index, combination, settings, result)
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = runs.join_next().await {
        results.push(joined?);
    }
    results.sort_by_key(|(index, ..)| *index);
    println!(
        "{:<40} {:>8} {:>10} {:>8} {:>10} {:>12}",
        "parameters", "trades", "return", "Sharpe", "max DD", "bars/s"
    );
    for (_, combination, settings, result) in results {
        let label = combination
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect::<Vec<_>>()
            .join(" ");
        let result = result?;
        let m = &result.metrics;
        println!(
            "{:<40} {:>8} {:>10} {:>8} {:>10} {:>12.0}",
            label,
            m.trades,
            percent(m.total_return),
            number(m.sharpe),
            percent(Some(m.max_drawdown)),
            result.bars as f64 / result.elapsed.as_secs_f64().max(1e-9)
        );
        store_run(store, &settings, &result, source, None).await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The refusal count and, when there were any, the rules behind them: `12 (daily_loss 10, halted 2)`.
fn refusals(result: &BacktestResult) -> String {
    if result.refusals_by_rule.is_empty() {
        return result.refusals.to_string();
    }
    let rules: Vec<String> = result
        .refusals_by_rule
        .iter()
        .map(|(rule, count)| format!("{rule} {count}"))
        .collect();
    format!("{} ({})", result.refusals, rules.join(", "))
}
