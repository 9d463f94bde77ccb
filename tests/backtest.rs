//! The backtester: the same strategy script over the real pairs in ../shared/data/pairs (daily,
//! imported with the CSV importer) and over the simulated market (hourly); deterministic; the
//! cointegrated pairs earn and the negative control (XLF/XLK) does not; `tradehost backtest`
//! writes the report and trades and stores the run.

mod support;

use std::path::PathBuf;
use std::sync::Arc;

use chrono::TimeZone;
use rust_decimal::Decimal;
use tradehost::backtest::{BacktestResult, BacktestSettings, DeskLedger, History};
use tradehost::clock::Clock;
use tradehost::domain::{Symbol, Timeframe};
use tradehost::ingest::csv::import_file;
use tradehost::market::csv::CsvOptions;
use tradehost::store::Store;

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn defaults() -> tradehost::config::Config {
    use figment::Figment;
    use figment::providers::{Format, Toml};
    Figment::new()
        .merge(Toml::string(tradehost::config::EMBEDDED_DEFAULTS))
        .extract()
        .expect("embedded defaults")
}

/// One pair with the shipped defaults, adjusted for daily or hourly bars.
fn pairs(
    leg_a: &str,
    leg_b: &str,
    timeframe: &str,
    lookback: u32,
    window: u32,
) -> tradehost::strategy::PairsFile {
    let text = format!(
        "[defaults]\ntimeframe = \"{timeframe}\"\nlookback = {lookback}\nwindow = {window}\nentry_z = 2.0\nexit_z = 0.5\nstop_z = 3.5\nmax_holding_hours = 720\nbase_notional = 10000\nmin_trades = 10\nkelly_multiplier = 0.5\nmax_fraction = 0.1\n\n[[pairs]]\nleg_a = \"{leg_a}\"\nleg_b = \"{leg_b}\"\n"
    );
    tradehost::strategy::pairs::parse_pairs(&text, "test").expect("pairs")
}

fn settings(pairs: tradehost::strategy::PairsFile) -> BacktestSettings {
    let config = defaults();
    BacktestSettings {
        strategy: repository().join("strategies/pairs.rhai"),
        native: None,
        pairs,
        initial_cash: Decimal::from(100_000),
        limits: tradehost::trading::limits_file::parse(
            tradehost::trading::limits_file::EMBEDDED,
            "embedded",
        )
        .expect("limits"),
        paper: config.broker.paper,
        trading: config.trading,
        script_limits: config.scripts.limits,
        desk_ledger: DeskLedger::default(),
    }
}

async fn import(store: &Store, file: &str) -> bool {
    let Some(data) = support::shared_data() else {
        return false;
    };
    let clock = Clock::manual(
        chrono::Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("time"),
    );
    import_file(
        store,
        &clock,
        &data.join("pairs").join(file),
        &CsvOptions::default(),
        false,
    )
    .await
    .expect("import");
    true
}

async fn daily(store: &Store, leg_a: &str, leg_b: &str) -> BacktestResult {
    let symbols = [
        Symbol::parse(leg_a).expect("a"),
        Symbol::parse(leg_b).expect("b"),
    ];
    let history = History::from_store(store, &symbols, Timeframe::DAY, None, None)
        .await
        .expect("history");
    tradehost::backtest::run(
        settings(pairs(leg_a, leg_b, "1Day", 120, 20)),
        Arc::new(history),
    )
    .await
    .expect("backtest")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cointegrated_pairs_earn_and_the_negative_control_does_not() {
    let database = support::sqlite().await;
    for file in ["ANZ-ADB.csv", "BKD_ESC_2009_2011.csv", "XLF-XLK.csv"] {
        if !import(&database.store, file).await {
            return;
        }
    }
    let anz = daily(&database.store, "ANZ", "ADB").await;
    let bkd = daily(&database.store, "BKD", "ESC").await;
    let xlf = daily(&database.store, "XLF", "XLK").await;
    for (name, result) in [("ANZ/ADB", &anz), ("BKD/ESC", &bkd), ("XLF/XLK", &xlf)] {
        println!(
            "{name}: {} trades, return {:?}, Sharpe {:?}, win rate {:?}",
            result.metrics.trades,
            result.metrics.total_return,
            result.metrics.sharpe,
            result.metrics.win_rate
        );
        assert!(result.metrics.trades >= 5, "{name} trades");
        // Closed trades' P&L comes from their fills, so the trades add up to the equity's change
        // (up to a trade still open at the end, valued from closes without its exit costs).
        let from_trades: f64 = result.trades.iter().map(|trade| trade.pnl).sum();
        let from_equity = result.equity.last().expect("equity").equity - 100_000.0;
        assert!(
            (from_trades - from_equity).abs() < 50.0,
            "{name}: {from_trades} vs {from_equity}"
        );
    }
    assert!(anz.metrics.total_return.expect("return") > 0.0);
    assert!(bkd.metrics.total_return.expect("return") > 0.0);
    assert!(
        xlf.metrics.total_return.expect("return") < 0.0,
        "the negative control loses"
    );
    assert!(anz.metrics.sharpe > xlf.metrics.sharpe && bkd.metrics.sharpe > xlf.metrics.sharpe);
}

/// 120 days of the simulated market in hourly bars, from the same seed every time.
fn simulated_hourly() -> Arc<History> {
    let start = chrono::Utc
        .with_ymd_and_hms(2026, 1, 5, 14, 0, 0)
        .single()
        .expect("time");
    Arc::new(History::simulated(20240101, start, 120, Timeframe::HOUR).expect("history"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_inputs_give_identical_trades() {
    let history = simulated_hourly();
    let run = || {
        let history = history.clone();
        async move {
            tradehost::backtest::run(settings(pairs("SIMA", "SIMB", "1Hour", 200, 60)), history)
                .await
                .expect("backtest")
        }
    };
    let (first, second) = (run().await, run().await);
    assert!(first.metrics.trades >= 3, "{} trades", first.metrics.trades);
    assert_eq!(first.trades, second.trades);
    assert_eq!(first.equity, second.equity);
    assert_eq!(first.orders, second.orders);
    assert_eq!(first.refusals_by_rule, second.refusals_by_rule);
    assert_eq!(
        first.refusals,
        first.refusals_by_rule.values().sum::<usize>(),
        "every refusal is counted under its rule"
    );
}

/// A backtest's desk keeps its book in memory; the same run with the book in a database (as the
/// daemon's desk keeps it) must trade, fill and refuse exactly alike, to the last equity point.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desk_ledger_in_memory_gives_the_run_a_database_gives() {
    let history = simulated_hourly();
    let mut file = pairs("SIMA", "SIMB", "1Hour", 200, 60);
    file.pairs
        .extend(pairs("SIMC", "SIMD", "1Hour", 200, 60).pairs);
    let run = |desk_ledger| {
        let (history, file) = (history.clone(), file.clone());
        async move {
            let settings = BacktestSettings {
                desk_ledger,
                ..settings(file)
            };
            tradehost::backtest::run(settings, history)
                .await
                .expect("backtest")
        }
    };
    let memory = run(DeskLedger::Memory).await;
    let database = run(DeskLedger::ScratchDatabase).await;
    assert!(
        memory.metrics.trades >= 4,
        "{} trades",
        memory.metrics.trades
    );
    assert!(memory.orders >= 16, "{} orders", memory.orders);
    assert_eq!(memory.trades, database.trades);
    assert_eq!(memory.equity, database.equity);
    assert_eq!(memory.orders, database.orders);
    assert_eq!(memory.refusals_by_rule, database.refusals_by_rule);
    assert_eq!(memory.signals, database.signals);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tradehost_backtest_prints_metrics_writes_the_report_and_stores_the_run() {
    let project = tempfile::tempdir().expect("project");
    let root = project.path();
    let database = tradehost::config::DatabaseLocation::Sqlite(root.join("data/tradehost.db"));
    let store = Store::open(&database, 2).await.expect("store");
    if !import(&store, "ANZ-ADB.csv").await {
        return;
    }
    let out = root.join("out");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tradehost"))
        .args(["--root", &root.display().to_string(), "backtest"])
        .arg(repository().join("strategies/pairs.rhai"))
        .args([
            "--pair",
            "ANZ/ADB",
            "--timeframe",
            "1Day",
            "--set",
            "lookback=120",
            "--set",
            "window=20",
        ])
        .arg("--out")
        .arg(&out)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run tradehost backtest");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for line in [
        "total return",
        "Sharpe",
        "max drawdown",
        "win rate",
        "profit factor",
        "stored as backtest run 1",
    ] {
        assert!(stdout.contains(line), "`{line}` in\n{stdout}");
    }
    let report = std::fs::read_to_string(out.join("report.html")).expect("report");
    assert!(
        report.matches("<svg").count() >= 4,
        "equity, drawdown, per-pair and z-score charts"
    );
    assert!(report.contains("ANZ/ADB"));
    let csv = std::fs::read_to_string(out.join("trades.csv")).expect("trades.csv");
    assert!(csv.lines().count() > 5, "{csv}");
    assert!(out.join("trades.parquet").is_file());
    let rows = store
        .read_only_query("SELECT strategy, bars FROM backtest_runs", &[])
        .await
        .expect("runs");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["strategy"], serde_json::json!("pairs"));
    assert_eq!(rows[0]["bars"], serde_json::json!(842));
}

/// A strategy script of `source`, in a folder of its own, run over the simulated market.
async fn backtest_of(source: &str) -> anyhow::Result<BacktestResult> {
    let folder = tempfile::tempdir().expect("folder");
    let strategy = folder.path().join("keeper.rhai");
    std::fs::write(&strategy, source).expect("strategy");
    let settings = BacktestSettings {
        strategy,
        ..settings(pairs("SIMA", "SIMB", "1Hour", 200, 60))
    };
    tradehost::backtest::run(settings, simulated_hourly()).await
}

/// The state a backtest keeps is what the database would give back: a value JSON changes comes
/// back changed, as it does live, and a value live refuses is refused at the script's line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backtests_state_keeps_what_the_database_would() {
    let round_trip = r#"fn on_cycle(ctx) {
    state::set("kept", #{ letter: 'q', nothing: 0.0 / 0.0, count: 3, ratio: 0.25, legs: ["A", "B"] });
    let kept = state::get("kept");
    if type_of(kept.letter) != "string" { throw `a character came back a ${type_of(kept.letter)}`; }
    if kept.nothing != () { throw `NaN came back ${kept.nothing}`; }
    if type_of(kept.count) != "i64" || kept.count != 3 { throw `the count came back ${kept.count}`; }
    if kept.ratio != 0.25 || kept.legs != ["A", "B"] { throw `kept ${kept}`; }
    []
}
"#;
    let result = backtest_of(round_trip).await.expect("the round trip runs");
    assert!(result.cycles > 100, "{} cycles", result.cycles);

    let refused = r#"fn on_cycle(ctx) {
    let pair = ctx.pairs[0];
    state::set("pair", pair);
    []
}
"#;
    let error = backtest_of(refused)
        .await
        .expect_err("a Pair cannot be stored");
    let message = format!("{error:#}");
    assert!(
        message.contains("state::set(`pair`): a Pair cannot be stored"),
        "{message}"
    );
    assert!(message.contains("keeper.rhai:3:"), "{message}");
}
