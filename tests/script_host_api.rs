//! The host API through Rhai on real data: a week of simulated minute bars in SQLite, flows that
//! call `data`, `ta`, `Series`, `state`, `db` and `log`, and their answers checked against the store
//! and the native indicators (SPEC §4.2).

mod support;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Value, json};
use support::scripts::{ScriptProject, line_of};
use tradehost::domain::{Bar, Symbol, Timeframe};
use tradehost::indicators;
use tradehost::market::simulated::{SimulatedConfig, SimulatedMarket};
use tradehost::script::host::log::Level;
use tradehost::script::host::pair::cycle_context;
use tradehost::script::{CallOptions, ErrorKind, Limits, ScriptRuntime};
use tradehost::store::BarQuery;
use tradehost::strategy::PairsFile;
use tradehost::strategy::pairs::parse_pairs;

/// Monday 8 January 2024, midnight UTC: the simulated week runs Monday to Friday.
fn first_day() -> DateTime<Utc> {
    "2024-01-08T00:00:00Z".parse().expect("a valid time")
}

/// Saturday after the simulated week: every stored bar is in the past.
fn after_the_week() -> DateTime<Utc> {
    "2024-01-13T00:00:00Z".parse().expect("a valid time")
}

fn symbol(text: &str) -> Symbol {
    Symbol::parse(text).expect("a valid symbol")
}

/// A project whose store holds five sessions of SIMA and SIMB minute bars, the clock at `now`.
async fn project_with_market(now: DateTime<Utc>) -> ScriptProject {
    let project = ScriptProject::new(Limits::default(), now).await;
    let mut market =
        SimulatedMarket::new(SimulatedConfig::default(), first_day()).expect("the default market");
    let bars: Vec<Bar> = market
        .bars_between(first_day(), first_day() + Duration::days(5))
        .into_iter()
        .filter(|bar| matches!(bar.symbol.as_str(), "SIMA" | "SIMB"))
        .collect();
    assert_eq!(bars.len(), 2 * 5 * 390, "five full sessions of two symbols");
    project
        .database
        .store
        .insert_bars(&bars, "test")
        .await
        .expect("insert the simulated bars");
    project
}

/// The latest `count` stored minute bars of `symbol` that start before `now`, oldest first.
async fn stored_minutes(
    project: &ScriptProject,
    symbol_text: &str,
    count: Option<u32>,
    now: DateTime<Utc>,
) -> Vec<Bar> {
    let query = BarQuery {
        to: Some(now),
        limit: count,
        ..BarQuery::all(symbol(symbol_text), Timeframe::MINUTE)
    };
    project
        .database
        .store
        .bars(&query)
        .await
        .expect("read stored bars")
}

fn closes(bars: &[Bar]) -> Vec<f64> {
    bars.iter().map(|bar| bar.close.to_f64()).collect()
}

fn number(value: &Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("{value} is not a number"))
}

fn numbers(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("{value} is not an array"))
        .iter()
        .map(number)
        .collect()
}

/// Asserts two numbers agree to within rounding: the script computes on the same native code.
fn assert_same(name: &str, actual: f64, expected: f64) {
    let tolerance = 1e-12 * expected.abs().max(1.0);
    assert!(
        (actual - expected).abs() <= tolerance,
        "{name}: the script gave {actual}, natively {expected}"
    );
}

fn last(series: Result<indicators::Series, indicators::IndicatorError>) -> f64 {
    series
        .expect("the indicator computes")
        .last()
        .expect("a non-empty series")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bars_and_indicators_in_a_script_equal_the_store_and_the_native_functions() {
    let project = project_with_market(after_the_week()).await;
    project.write_flow(
        "inspect",
        r#"fn run(params) {
    let a = data::bars("SIMA", "1Min", 500);
    let b = data::bars("SIMB", "1Min", 500);
    let close = a.close;
    #{
        len: a.len(),
        symbol: a.symbol,
        timeframe: a.timeframe,
        last_time: a.last_time,
        last_close: close.last(),
        latest_price: data::latest_price("SIMA"),
        sma: ta::sma(close, 20).last(),
        zscore: close.zscore(20).last(),
        ta_zscore: ta::zscore(close, 20).last(),
        rsi: ta::rsi(close, 14).last(),
        macd_signal: ta::macd(close, 12, 26, 9).signal.last(),
        bollinger_upper: ta::bollinger(close, 20, 2.0).upper.last(),
        beta: ta::ols(a.close.ln(), b.close.ln()).beta,
        alpha: ta::ols(a.close.ln(), b.close.ln()).alpha,
        spread_len: (a.close - b.close * 2.0).len(),
        spread_last: (a.close - b.close * 2.0).last(),
        first: close[0],
        last_by_negative_index: close[-1],
        second_last: close[-2],
    }
}
"#,
    );
    project.load().await;
    let result = project.run_ok("inspect").await;

    let a = stored_minutes(&project, "SIMA", Some(500), after_the_week()).await;
    let b = stored_minutes(&project, "SIMB", Some(500), after_the_week()).await;
    let (a_close, b_close) = (closes(&a), closes(&b));
    let last_bar = a.last().expect("stored bars");
    assert_eq!(result["len"], json!(500));
    assert_eq!(result["symbol"], json!("SIMA"));
    assert_eq!(result["timeframe"], json!("1Min"));
    assert_eq!(
        result["last_time"],
        json!(last_bar.time.to_rfc3339_opts(SecondsFormat::Secs, true))
    );
    assert_eq!(result["last_time"], json!("2024-01-12T20:59:00Z"));
    assert_same(
        "last close",
        number(&result["last_close"]),
        last_bar.close.to_f64(),
    );
    assert_same(
        "latest price",
        number(&result["latest_price"]),
        last_bar.close.to_f64(),
    );
    assert_same(
        "sma",
        number(&result["sma"]),
        last(indicators::sma(&a_close, 20)),
    );
    let zscore = last(indicators::rolling_zscore(&a_close, 20));
    assert_same("zscore", number(&result["zscore"]), zscore);
    assert_same("ta::zscore", number(&result["ta_zscore"]), zscore);
    assert_same(
        "rsi",
        number(&result["rsi"]),
        last(indicators::rsi(&a_close, 14)),
    );
    let macd = indicators::macd(&a_close, 12, 26, 9).expect("macd computes");
    assert_same(
        "macd signal",
        number(&result["macd_signal"]),
        macd.signal.last().expect("a signal line"),
    );
    let bands = indicators::bollinger(&a_close, 20, 2.0, 2.0).expect("bands compute");
    assert_same(
        "bollinger upper",
        number(&result["bollinger_upper"]),
        bands.upper.last().expect("an upper band"),
    );
    let a_log: Vec<f64> = a_close.iter().map(|close| close.ln()).collect();
    let b_log: Vec<f64> = b_close.iter().map(|close| close.ln()).collect();
    let fit = indicators::ols(&a_log, &b_log).expect("the fit computes");
    assert_same("ols beta", number(&result["beta"]), fit.beta);
    assert_same("ols alpha", number(&result["alpha"]), fit.alpha);
    assert_eq!(result["spread_len"], json!(500));
    assert_same(
        "spread",
        number(&result["spread_last"]),
        a_close[499] - b_close[499] * 2.0,
    );
    assert_same("s[0]", number(&result["first"]), a_close[0]);
    assert_same(
        "s[-1]",
        number(&result["last_by_negative_index"]),
        a_close[499],
    );
    assert_same("s[-2]", number(&result["second_last"]), a_close[498]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hourly_bars_are_resampled_from_the_stored_minutes() {
    let project = project_with_market(after_the_week()).await;
    project.write_flow(
        "hourly",
        r#"fn run(params) {
    let hours = data::bars("SIMA", "1Hour", 5);
    #{
        len: hours.len(),
        timeframe: hours.timeframe,
        time: hours.time,
        open: hours.open,
        high: hours.high,
        low: hours.low,
        close: hours.close,
        volume: hours.volume,
    }
}
"#,
    );
    project.load().await;
    let result = project.run_ok("hourly").await;

    // Natively: every stored minute grouped by clock hour, the last five hours.
    let minutes = stored_minutes(&project, "SIMA", None, after_the_week()).await;
    let mut hours: Vec<Vec<&Bar>> = Vec::new();
    for bar in &minutes {
        let hour = bar.time.timestamp().div_euclid(3600);
        match hours.last_mut() {
            Some(group) if group[0].time.timestamp().div_euclid(3600) == hour => group.push(bar),
            _ => hours.push(vec![bar]),
        }
    }
    let hours = &hours[hours.len() - 5..];
    assert_eq!(result["len"], json!(5));
    assert_eq!(result["timeframe"], json!("1Hour"));
    let expected_times: Vec<f64> = hours
        .iter()
        .map(|group| (group[0].time.timestamp().div_euclid(3600) * 3600) as f64)
        .collect();
    assert_eq!(numbers(&result["time"]), expected_times);
    // Friday's last five hours, 16:00 to 20:00 UTC (11:00 to 15:00 in New York).
    assert_eq!(
        expected_times.first().copied(),
        Some(
            "2024-01-12T16:00:00Z"
                .parse::<DateTime<Utc>>()
                .expect("a valid time")
                .timestamp() as f64
        )
    );
    let column = |name: &str, field: fn(&[&Bar]) -> f64| {
        let expected: Vec<f64> = hours.iter().map(|group| field(group)).collect();
        let actual = numbers(&result[name]);
        assert_eq!(actual.len(), 5, "{name}");
        for (actual, expected) in actual.iter().zip(&expected) {
            assert_same(name, *actual, *expected);
        }
    };
    // Each hour closes at its last minute's close and opens at its first minute's open.
    column("close", |group| {
        group.last().expect("a minute").close.to_f64()
    });
    column("open", |group| group[0].open.to_f64());
    column("high", |group| {
        group
            .iter()
            .map(|bar| bar.high.to_f64())
            .fold(f64::MIN, f64::max)
    });
    column("low", |group| {
        group
            .iter()
            .map(|bar| bar.low.to_f64())
            .fold(f64::MAX, f64::min)
    });
    column("volume", |group| {
        group
            .iter()
            .map(|bar| bar.volume.value().to_f64().expect("a volume"))
            .sum()
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexing_past_either_end_of_a_series_fails_at_its_line() {
    let project = project_with_market(after_the_week()).await;
    let past_the_end = "fn run(params) {\n    let close = data::bars(\"SIMA\", \"1Min\", 500).close;\n    close[500]\n}\n";
    let before_the_start = "fn run(params) {\n    let close = data::bars(\"SIMA\", \"1Min\", 500).close;\n    let first = close[-500];\n    close[-501]\n}\n";
    project.write_flow("past_the_end", past_the_end);
    project.write_flow("before_the_start", before_the_start);
    project.load().await;

    let (error, _) = project.run_err("past_the_end").await;
    assert_eq!(error.kind, ErrorKind::Runtime, "{error}");
    assert!(
        error
            .message
            .contains("index 500 is outside a Series of length 500"),
        "{error}"
    );
    assert_eq!(error.line, Some(3), "{error}");

    let (error, _) = project.run_err("before_the_start").await;
    assert!(
        error
            .message
            .contains("index -501 is outside a Series of length 500"),
        "{error}"
    );
    assert_eq!(error.line, Some(4), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn script_state_round_trips_and_survives_a_restart_and_a_reload() {
    let project = ScriptProject::new(Limits::default(), after_the_week()).await;
    let version_one = r#"fn run(params) {
    let count = state::get("count", 0) + 1;
    state::set("count", count);
    state::set("profile", #{ name: "pairs", windows: [20, 60], active: true, ratio: 0.5 });
    #{
        version: 1,
        count: state::get("count"),
        profile: state::get("profile"),
        missing: type_of(state::get("missing")),
        keys: state::keys(),
    }
}
"#;
    let path = project.write_flow("counter", version_one);
    // Another script's state is its own: it does not see `count`.
    project.write_flow(
        "neighbour",
        "fn run(params) {\n    type_of(state::get(\"count\"))\n}\n",
    );
    project.load().await;

    let first = project.run_ok("counter").await;
    assert_eq!(first["count"], json!(1));
    assert_eq!(
        first["profile"],
        json!({ "name": "pairs", "windows": [20, 60], "active": true, "ratio": 0.5 })
    );
    assert_eq!(first["missing"], json!("()"));
    assert_eq!(first["keys"], json!(["count", "profile"]));
    assert_eq!(project.run_ok("counter").await["count"], json!(2));
    assert_eq!(project.run_ok("neighbour").await, json!("()"));

    // A restart: a new runtime on a new connection to the same database file.
    let restarted = project.restart().await;
    let outcome = restarted
        .call("counter", "run", json!({}))
        .await
        .expect("the counter runs after a restart");
    assert_eq!(outcome.result["count"], json!(3));

    // A reload: a new version of the file is served and finds the same state.
    let version_two = version_one.replace("version: 1", "version: 2").replace(
        "    #{\n        version",
        "    state::remove(\"profile\");\n    #{\n        version",
    );
    std::fs::write(&path, &version_two).expect("rewrite the counter");
    let old_hash = project
        .runtime
        .registry()
        .get("counter")
        .expect("serving")
        .hash
        .clone();
    project
        .runtime
        .registry()
        .reload(std::slice::from_ref(&path))
        .await
        .expect("reload");
    let outcome = project
        .runtime
        .call("counter", "run", json!({}))
        .await
        .expect("the new version runs");
    assert_ne!(outcome.hash, old_hash, "the new version serves");
    assert_eq!(outcome.result["version"], json!(2));
    assert_eq!(outcome.result["count"], json!(4));
    assert_eq!(outcome.result["profile"], Value::Null);
    assert_eq!(outcome.result["keys"], json!(["count"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parametrised_query_counts_the_stored_bars() {
    let project = project_with_market(after_the_week()).await;
    project.write_flow(
        "count_bars",
        r#"fn run(params) {
    let rows = db::query("SELECT COUNT(*) AS n FROM bars WHERE symbol = $1", ["SIMA"]);
    #{ rows: rows.len(), n: rows[0].n }
}
"#,
    );
    project.load().await;
    let result = project.run_ok("count_bars").await;
    let stored = project
        .database
        .store
        .count_bars(Some(&symbol("SIMA")))
        .await
        .expect("count bars");
    assert_eq!(stored, 5 * 390);
    assert_eq!(result, json!({ "rows": 1, "n": stored }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_print_and_debug_lines_are_in_the_call_outcome() {
    let project = ScriptProject::new(Limits::default(), after_the_week()).await;
    let source = r#"fn run(params) {
    log::info("info line");
    print("printed line");
    log::warn(`warned ${1 + 1} times`);
    log::error("error line");
    debug("debugged line");
    "done"
}
"#;
    project.write_flow("chatty", source);
    project.load().await;
    let outcome = project
        .runtime
        .call("chatty", "run", json!({}))
        .await
        .expect("the call succeeds");
    assert_eq!(outcome.result, json!("done"));
    let lines: Vec<(Level, &str)> = outcome
        .logs
        .iter()
        .map(|line| (line.level, line.message.as_str()))
        .collect();
    let debug_line = format!("[line {}] \"debugged line\"", line_of(source, "debug(\""));
    assert_eq!(
        lines,
        vec![
            (Level::Info, "info line"),
            (Level::Info, "printed line"),
            (Level::Warn, "warned 2 times"),
            (Level::Error, "error line"),
            (Level::Debug, debug_line.as_str()),
        ]
    );
    // Lines are stamped with the host clock, not the wall clock.
    assert!(outcome.logs.iter().all(|line| line.at == after_the_week()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_debug_does_not_parse_because_debug_is_a_keyword() {
    let project = ScriptProject::new(Limits::default(), after_the_week()).await;
    project.write_flow(
        "log_debug",
        "fn run(params) {\n    log::info(1);\n    log::debug(42)\n}\n",
    );
    project.load().await;
    let error = project.load_error("log_debug");
    assert_eq!(error.kind, ErrorKind::Syntax, "{error}");
    assert!(
        error.message.contains("'debug' is a reserved keyword"),
        "{error}"
    );
    assert_eq!(error.line, Some(3), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_now_follows_the_host_clock() {
    let wednesday_morning: DateTime<Utc> = "2024-01-10T15:00:00Z".parse().expect("a valid time");
    let project = ScriptProject::new(Limits::default(), wednesday_morning).await;
    project.write_flow(
        "clock",
        "fn run(params) {\n    #{ now: data::now(), open: data::market_open() }\n}\n",
    );
    project.load().await;
    assert_eq!(
        project.run_ok("clock").await,
        json!({ "now": "2024-01-10T15:00:00Z", "open": true })
    );
    // The same compiled version sees the clock move: nothing was frozen at compile time.
    project.clock.set(after_the_week());
    assert_eq!(
        project.run_ok("clock").await,
        json!({ "now": "2024-01-13T00:00:00Z", "open": false })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_is_constant_and_a_meta_that_calls_the_host_is_refused_at_load() {
    let project = ScriptProject::new(Limits::default(), after_the_week()).await;
    let dynamic =
        "fn meta() {\n    #{ description: data::now() }\n}\n\nfn run(params) {\n    1\n}\n";
    project.write_flow("dynamic_meta", dynamic);
    project.write_flow(
        "constant_meta",
        "fn meta() {\n    #{ description: \"Counts things\", tags: [\"demo\"] }\n}\n\nfn run(params) {\n    1\n}\n",
    );
    project.load().await;

    let error = project.load_error("dynamic_meta");
    assert_eq!(error.kind, ErrorKind::Validation, "{error}");
    assert!(error.message.starts_with("meta(): "), "{error}");
    assert!(
        error.message.contains("metadata must be constant"),
        "{error}"
    );
    assert_eq!(error.line, Some(line_of(dynamic, "data::now")), "{error}");
    assert!(project.runtime.registry().get("dynamic_meta").is_none());

    let serving = project
        .runtime
        .registry()
        .get("constant_meta")
        .expect("constant metadata loads");
    assert_eq!(serving.meta.description.as_deref(), Some("Counts things"));
    assert_eq!(serving.meta.tags, vec!["demo".to_owned()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bars_are_never_returned_beyond_the_clocks_now() {
    // Wednesday 12:00 in New York, mid-session; the store holds bars up to Friday's close.
    let now: DateTime<Utc> = "2024-01-10T17:00:00Z".parse().expect("a valid time");
    let project = project_with_market(now).await;
    project.write_flow(
        "peek",
        r#"fn run(params) {
    let minutes = data::bars("SIMA", "1Min", 500);
    let hours = data::bars("SIMA", "1Hour", 3);
    let range = data::bars_between("SIMA", "1Min", "2024-01-10T16:00:00Z", "2024-01-12T21:00:00Z");
    #{
        minutes_last: minutes.last_time,
        minutes_len: minutes.len(),
        last_close: minutes.close.last(),
        hours_last: hours.last_time,
        hours_last_close: hours.close.last(),
        range_first: range.first_time,
        range_last: range.last_time,
        range_len: range.len(),
        latest_price: data::latest_price("SIMA"),
    }
}
"#,
    );
    project.load().await;
    let result = project.run_ok("peek").await;

    let before_now = stored_minutes(&project, "SIMA", Some(500), now).await;
    let last_before_now = before_now.last().expect("bars before now");
    assert_eq!(last_before_now.time, now - Duration::minutes(1));
    assert_eq!(result["minutes_last"], json!("2024-01-10T16:59:00Z"));
    assert_eq!(result["minutes_len"], json!(500));
    assert_same(
        "last close",
        number(&result["last_close"]),
        last_before_now.close.to_f64(),
    );
    assert_same(
        "latest price",
        number(&result["latest_price"]),
        last_before_now.close.to_f64(),
    );
    // The current hour is partial: it closes at the last minute before now.
    assert_eq!(result["hours_last"], json!("2024-01-10T16:00:00Z"));
    assert_same(
        "hour close",
        number(&result["hours_last_close"]),
        last_before_now.close.to_f64(),
    );
    // A range reaching into the future stops at now.
    assert_eq!(result["range_first"], json!("2024-01-10T16:00:00Z"));
    assert_eq!(result["range_last"], json!("2024-01-10T16:59:00Z"));
    assert_eq!(result["range_len"], json!(60));
}

/// SIMA/SIMB fitted on minute bars (the stored week has no more hours than a window).
fn minute_pairs() -> PairsFile {
    parse_pairs(&minute_pairs_text(), "test").expect("the pairs")
}

/// The pairs file of [`minute_pairs`].
fn minute_pairs_text() -> String {
    String::from(
        "[defaults]\ntimeframe = \"1Min\"\nlookback = 300\nwindow = 60\nentry_z = 2.0\nexit_z = 0.5\nstop_z = 3.5\nmax_holding_hours = 120\nbase_notional = 5000\nmin_trades = 10\nkelly_multiplier = 0.5\nmax_fraction = 0.02\n\n[[pairs]]\nleg_a = \"SIMA\"\nleg_b = \"SIMB\"\n",
    )
}

/// One live cycle of strategy `name` on `runtime` over `pairs`, as the daemon calls it.
/// The SIMA/SIMB standing row that `strategy` wrote.
async fn standing_of(
    store: &tradehost::store::Store,
    strategy: &str,
) -> tradehost::store::PairPerformanceRecord {
    store
        .pair_performance()
        .await
        .expect("the standing")
        .into_iter()
        .find(|record| record.pair == "SIMA/SIMB" && record.strategy == strategy)
        .expect("a standing row for the pair")
}

async fn cycle_call(
    runtime: &ScriptRuntime,
    name: &str,
    pairs: &PairsFile,
) -> Result<Value, String> {
    let script = runtime
        .registry()
        .get(name)
        .expect("the strategy is loaded");
    let context = cycle_context(name, "live", pairs).expect("the cycle's context");
    runtime
        .call_compiled(script, "on_cycle", context, CallOptions::default())
        .await
        .map(|outcome| outcome.result)
        .map_err(|failure| failure.error.to_string())
}

/// What one live cycle returned; it must succeed.
async fn live_cycle(runtime: &ScriptRuntime, name: &str, pairs: &PairsFile) -> Value {
    match cycle_call(runtime, name, pairs).await {
        Ok(result) => result,
        Err(message) => panic!("`{name}` failed: {message}"),
    }
}

/// The error of one live cycle; it must fail.
async fn failed_cycle(runtime: &ScriptRuntime, name: &str, pairs: &PairsFile) -> String {
    match cycle_call(runtime, name, pairs).await {
        Ok(result) => panic!("`{name}` should have failed, returned {result}"),
        Err(message) => message,
    }
}

/// A strategy that opens its pair's book when flat and closes it otherwise, writing the three
/// pair tables from the pair, its model and its book.
const BOOK_STRATEGY: &str = r#"fn on_cycle(ctx) {
    let pair = ctx.pairs[0];
    let model = pairs::model(pair);
    let book = pairs::book(pair);
    let before = #{
        side: book.side, trades: book.trades, wins: book.wins, realised: book.realised,
        results: book.results, entry_ms: book.entry_ms, held: book.held_hours(),
        pair_trade_id: book.pair_trade_id,
    };
    let pnl = ();
    if book.flat {
        book.open("long_spread", 30.0, 50.0, model, "pt-1");
    } else {
        pnl = book.close(model);
    }
    db::record_spread(pair, model);
    db::record_signal(pair, model, #{ signal: "hold", reason: "testing the book", position: book.side });
    db::record_pair_performance(pair, model, book);
    #{
        before: before, pnl: pnl, side: book.side, trades: book.trades,
        unrealised: book.unrealised(model), entry_a: book.entry_a, entry_b: book.entry_b,
        price_a: model.price_a, price_b: model.price_b, z: model.zscore,
        name: pair.name, leg_b: pair.leg_b, lookback: pair.lookback, entry_z: pair.entry_z,
    }
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pairs_book_is_kept_in_the_database_across_a_restart_and_feeds_the_pair_tables() {
    let project = project_with_market(after_the_week()).await;
    let pairs = minute_pairs();
    project.write_strategy("booked", BOOK_STRATEGY);
    project.load().await;

    // Flat: the book opens at the model's prices, at the clock's time.
    let opened = live_cycle(&project.runtime, "booked", &pairs).await;
    assert_eq!(opened["before"]["side"], json!("flat"));
    assert_eq!(opened["side"], json!("long_spread"));
    assert_eq!(opened["entry_a"], opened["price_a"]);
    assert_eq!(opened["entry_b"], opened["price_b"]);
    assert_eq!(number(&opened["unrealised"]), 0.0);
    assert_eq!(
        (
            &opened["name"],
            &opened["leg_b"],
            &opened["lookback"],
            &opened["entry_z"]
        ),
        (
            &json!("SIMA/SIMB"),
            &json!("SIMB"),
            &json!(300),
            &json!(2.0)
        )
    );
    let stored = project
        .database
        .store
        .script_state("booked", "book:SIMA/SIMB")
        .await
        .expect("read the state")
        .expect("the book is stored when it opens");
    let stored: Value = serde_json::from_str(&stored).expect("JSON");
    assert_eq!(stored["side"], json!("long_spread"));
    assert_eq!(
        (&stored["quantity_a"], &stored["quantity_b"]),
        (&json!(30.0), &json!(50.0))
    );
    assert_eq!(
        stored["entry_ms"],
        json!(after_the_week().timestamp_millis())
    );

    // A restart two hours later: the trade is still held, and closing it counts in the standing.
    project.clock.set(after_the_week() + Duration::hours(2));
    let restarted = project.restart().await;
    let closed = live_cycle(&restarted, "booked", &pairs).await;
    assert_eq!(closed["before"]["side"], json!("long_spread"));
    assert_eq!(closed["before"]["pair_trade_id"], json!("pt-1"));
    assert_eq!(number(&closed["before"]["held"]), 2.0);
    // The week's bars are all in the past, so the prices have not moved: the P&L is zero.
    assert_eq!(number(&closed["pnl"]), 0.0);
    assert_eq!(
        (&closed["side"], &closed["trades"]),
        (&json!("flat"), &json!(1))
    );

    let store = &project.database.store;
    let standing = standing_of(store, "booked").await;
    assert_eq!(
        (standing.position.as_str(), standing.trades, standing.wins),
        ("flat", 1, 0)
    );
    assert_eq!(standing.current_z, Some(number(&closed["z"])));
    assert_eq!(standing.details["entry_z"], json!(2.0));
    assert!(standing.script_hash.is_some());
    let signals = store
        .pair_signals(Some("SIMA/SIMB"), None, 10)
        .await
        .expect("the signals");
    assert_eq!(signals.len(), 2, "one signal per cycle");
    assert_eq!(signals[0].zscore, Some(number(&closed["z"])));
    assert_eq!(signals[1].position, "long_spread");
    let spreads = store.pair_spreads("SIMA/SIMB", 10).await.expect("spreads");
    assert_eq!(spreads.len(), 2, "one spread per cycle");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_book_is_read_from_the_earlier_scripts_state_keys_and_refuses_a_second_open() {
    let project = project_with_market(after_the_week()).await;
    let pairs = minute_pairs();
    let store = &project.database.store;
    let entered = after_the_week() - Duration::hours(30);
    for (key, value) in [
        (
            "trade:SIMA/SIMB",
            json!({ "side": "short_spread", "quantity_a": 12.0, "quantity_b": 7.0,
                    "entry_a": 101.5, "entry_b": 55.25, "entry_z": 2.3,
                    "entry_ms": entered.timestamp_millis(), "pair_trade_id": "pt-9" }),
        ),
        (
            "standing:SIMA/SIMB",
            json!({ "trades": 4, "wins": 3, "realised": 120.5 }),
        ),
        ("results:SIMA/SIMB", json!([10.0, -5.0, 80.0, 35.5])),
    ] {
        store
            .set_script_state("booked", key, &value.to_string(), entered)
            .await
            .expect("write the earlier keys");
    }
    project.write_strategy("booked", BOOK_STRATEGY);
    project.load().await;
    let closed = live_cycle(&project.runtime, "booked", &pairs).await;
    let before = &closed["before"];
    assert_eq!(before["side"], json!("short_spread"));
    assert_eq!((&before["trades"], &before["wins"]), (&json!(4), &json!(3)));
    assert_eq!(before["realised"], json!(120.5));
    assert_eq!(before["results"], json!([10.0, -5.0, 80.0, 35.5]));
    assert_eq!(number(&before["held"]), 30.0);
    // Closed at the model's prices: short the spread, so B falling from 55.25 and A rising from
    // 101.5 earn.
    let expected =
        -(7.0 * (number(&closed["price_b"]) - 55.25) - 12.0 * (number(&closed["price_a"]) - 101.5));
    assert_same("close P&L", number(&closed["pnl"]), expected);
    assert_eq!(closed["trades"], json!(5));

    // A script that opens twice without closing is stopped at the line of the second open.
    let twice = "fn on_cycle(ctx) {\n    let pair = ctx.pairs[0];\n    let model = pairs::model(pair);\n    let book = pairs::book(pair);\n    book.open(\"long_spread\", 1.0, 1.0, model, ());\n    book.open(\"short_spread\", 1.0, 1.0, model, ());\n}\n";
    project.write_strategy("twice", twice);
    project.load().await;
    let message = failed_cycle(&project.runtime, "twice", &pairs).await;
    assert!(message.contains("already holds a long_spread"), "{message}");
    assert!(
        message.contains(&format!(":{}", line_of(twice, "short_spread"))),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pair_writes_refuse_a_model_that_is_not_ready_and_an_unknown_field() {
    let project = project_with_market(after_the_week()).await;
    // Five sessions hold 1,950 minutes: a z-score window of 3,000 leaves the model waiting.
    let waiting = parse_pairs(
        &minute_pairs_text()
            .replace("lookback = 300", "lookback = 5000")
            .replace("window = 60", "window = 3000"),
        "test",
    )
    .expect("the pairs");
    let unready = "fn on_cycle(ctx) {\n    let pair = ctx.pairs[0];\n    let model = pairs::model(pair);\n    db::record_spread(pair, model);\n}\n";
    project.write_strategy("unready", unready);
    let unknown = "fn on_cycle(ctx) {\n    let pair = ctx.pairs[0];\n    let model = pairs::model(pair);\n    db::record_signal(pair, model, #{ signal: \"hold\", zscore: 1.0 });\n}\n";
    project.write_strategy("unknown", unknown);
    project.load().await;
    for (name, pairs, source, expected) in [
        (
            "unready",
            &waiting,
            unready,
            "db::record_spread: the model is not ready (waiting for aligned history",
        ),
        (
            "unknown",
            &minute_pairs(),
            unknown,
            "db::record_signal: unknown field `zscore`",
        ),
    ] {
        let message = failed_cycle(&project.runtime, name, pairs).await;
        assert!(message.contains(expected), "{name}: {message}");
        assert!(
            message.contains(&format!(":{}", line_of(source, "db::record"))),
            "{name}: {message}"
        );
    }
    let (spreads, signals, _) = project
        .database
        .store
        .pair_table_counts()
        .await
        .expect("the counts");
    assert_eq!((spreads, signals), (0, 0), "nothing was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_cycle_writes_the_three_pair_rows_and_returns_the_cycles_outcome() {
    let project = project_with_market(after_the_week()).await;
    let pairs = minute_pairs();
    let entering = r#"fn on_cycle(ctx) {
    let pair = ctx.pairs[0];
    let model = pairs::model(pair);
    let book = pairs::book(pair);
    book.open("long_spread", 30.0, 50.0, model, "pt-7");
    let outcome = db::record_cycle(pair, model, book, "enter_long_spread", "z below -2", "pt-7");
    #{ outcome: outcome, z: model.zscore, hedge_ratio: model.hedge_ratio }
}
"#;
    project.write_strategy("entering", entering);
    project.load().await;
    let cycle = live_cycle(&project.runtime, "entering", &pairs).await;
    let outcome = &cycle["outcome"];
    assert_eq!(
        (
            &outcome["pair"],
            &outcome["signal"],
            &outcome["position"],
            &outcome["reason"],
            &outcome["pair_trade_id"]
        ),
        (
            &json!("SIMA/SIMB"),
            &json!("enter_long_spread"),
            &json!("long_spread"),
            &json!("z below -2"),
            &json!("pt-7")
        )
    );
    assert_eq!(number(&outcome["z"]), number(&cycle["z"]));

    let store = &project.database.store;
    let spreads = store.pair_spreads("SIMA/SIMB", 10).await.expect("spreads");
    assert_eq!(spreads.len(), 1, "one spread row");
    assert_eq!(spreads[0].hedge_ratio, number(&cycle["hedge_ratio"]));
    assert_eq!(spreads[0].zscore, Some(number(&cycle["z"])));
    let signals = store
        .pair_signals(Some("SIMA/SIMB"), None, 10)
        .await
        .expect("the signals");
    assert_eq!(signals.len(), 1, "one signal row");
    let signal = &signals[0];
    assert_eq!(
        (
            signal.signal.as_str(),
            signal.position.as_str(),
            signal.reason.as_str(),
            signal.pair_trade_id.as_deref()
        ),
        (
            "enter_long_spread",
            "long_spread",
            "z below -2",
            Some("pt-7")
        )
    );
    assert_eq!(signal.hedge_ratio, Some(number(&cycle["hedge_ratio"])));
    assert!(signal.script_hash.is_some());
    assert_eq!(
        signal.time, spreads[0].time,
        "one clock reading for the rows"
    );
    let standing = standing_of(store, "entering").await;
    assert_eq!(
        (standing.position.as_str(), standing.holding_hours),
        ("long_spread", Some(0.0))
    );
    assert_eq!(standing.details["stop_z"], json!(3.5));

    // A signal the strategy does not know, or a pair trade id that is not text, is refused at
    // the call's line and writes none of the three rows.
    for (name, arguments, expected) in [
        (
            "unknown_signal",
            r#""buy", "", ()"#,
            "db::record_cycle: `buy` is not a signal",
        ),
        (
            "numeric_id",
            r#""hold", "", 5"#,
            "db::record_cycle: the pair trade id is a string or (), got i64",
        ),
    ] {
        let source = format!(
            "fn on_cycle(ctx) {{\n    let pair = ctx.pairs[0];\n    let model = pairs::model(pair);\n    let book = pairs::book(pair);\n    db::record_cycle(pair, model, book, {arguments});\n}}\n"
        );
        project.write_strategy(name, &source);
        project.load().await;
        let message = failed_cycle(&project.runtime, name, &pairs).await;
        assert!(message.contains(expected), "{name}: {message}");
        assert!(
            message.contains(&format!(":{}", line_of(&source, "db::record_cycle"))),
            "{name}: {message}"
        );
    }
    let (spreads, signals, _) = store.pair_table_counts().await.expect("the counts");
    assert_eq!(
        (spreads, signals),
        (1, 1),
        "the refused calls wrote nothing"
    );
}
