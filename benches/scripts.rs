//! Script runtime benchmarks (SPEC §12):
//! - save → new version serving, including the debounce (target: median ≤ 250 ms);
//! - the cost of one host-function call from Rhai, and of one whole script call;
//! - Series and indicator work called from Rhai against the same computation in plain Rust
//!   (target: within 1.5×).
//!
//! `cargo bench --bench scripts`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tradehost::clock::Clock;
use tradehost::config::DatabaseLocation;
use tradehost::domain::{Symbol, Timeframe};
use tradehost::indicators::{self, Series};
use tradehost::market::simulated::{SimulatedConfig, SimulatedMarket};
use tradehost::script::host::Host;
use tradehost::script::{Limits, ScriptFolders, ScriptRuntime, content_hash};
use tradehost::store::{BarQuery, Store};

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn percentile(samples: &[Duration], fraction: f64) -> Duration {
    samples[((samples.len() - 1) as f64 * fraction).round() as usize]
}

/// The script's loop body, written in Rust.
fn native_pairs_work(a: &Series, b: &Series, repetitions: i64) -> f64 {
    let mut total = 0.0;
    for _ in 0..repetitions {
        let (la, lb) = (a.ln(), b.ln());
        let fit = indicators::ols(la.values(), lb.values()).expect("fit");
        let spread = lb.sub(&la.mul_scalar(fit.beta)).expect("same length");
        let z = spread
            .zscore(60)
            .expect("window")
            .last()
            .unwrap_or(f64::NAN);
        let rsi = indicators::rsi(a.values(), 14)
            .expect("rsi")
            .last()
            .unwrap_or(f64::NAN);
        let sma = indicators::sma(a.values(), 20)
            .expect("sma")
            .last()
            .unwrap_or(f64::NAN);
        total += std::hint::black_box(z + rsi + sma);
    }
    total
}

#[tokio::main]
async fn main() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let root = folder.path();
    let store = Store::open(&DatabaseLocation::Sqlite(root.join("bench.db")), 4)
        .await
        .expect("store");
    let start = Utc
        .with_ymd_and_hms(2026, 1, 5, 14, 30, 0)
        .single()
        .expect("valid time");
    let mut market = SimulatedMarket::new(SimulatedConfig::default(), start).expect("market");
    let bars = market.bars_between(start, start + chrono::Duration::days(60));
    store.insert_bars(&bars, "bench").await.expect("insert");
    let now = bars.last().expect("bars").time + chrono::Duration::minutes(1);
    let host = Host {
        store: store.clone(),
        clock: Clock::manual(now),
        runtime: tokio::runtime::Handle::current(),
    };
    let folders = ScriptFolders {
        scripts: root.join("scripts"),
        strategies: root.join("strategies"),
    };
    let limits = Limits {
        max_operations: 2_000_000_000,
        timeout_ms: 120_000,
        ..Limits::default()
    };
    let runtime = ScriptRuntime::new(folders, limits, host).expect("runtime");
    let scripts = runtime.registry().folders().scripts.clone();

    // --- Hot reload latency --------------------------------------------------------------------
    let shutdown = CancellationToken::new();
    let watcher = tokio::spawn(tradehost::script::reload::watch(
        runtime.clone(),
        shutdown.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let file = scripts.join("reloaded.rhai");
    let mut latencies = Vec::new();
    for iteration in 0..40 {
        let source = format!("fn run(params) {{ {iteration} }}\n");
        let hash = content_hash(&source);
        let saved = Instant::now();
        std::fs::write(&file, &source).expect("save");
        loop {
            if runtime
                .registry()
                .get("reloaded")
                .is_some_and(|script| script.hash == hash)
            {
                break;
            }
            assert!(
                saved.elapsed() < Duration::from_secs(10),
                "reload never happened"
            );
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        latencies.push(saved.elapsed());
        // Saves a person makes are seconds apart; space them beyond the debounce window.
        tokio::time::sleep(Duration::from_millis(120)).await;
    }
    let median_latency = median(&mut latencies);
    println!(
        "hot reload: save → serving over {} saves: median {:.1} ms, p90 {:.1} ms, max {:.1} ms (debounce {} ms; target median ≤ 250 ms)",
        latencies.len(),
        median_latency.as_secs_f64() * 1e3,
        percentile(&latencies, 0.9).as_secs_f64() * 1e3,
        latencies.last().expect("samples").as_secs_f64() * 1e3,
        tradehost::script::reload::DEBOUNCE.as_millis()
    );
    shutdown.cancel();
    let _ = watcher.await;

    // --- Host-function call cost ----------------------------------------------------------------
    const CALLS: i64 = 200_000;
    std::fs::write(scripts.join("host_calls.rhai"), format!(
        "fn run(params) {{ let n = 0; if params.host {{ for i in 0..{CALLS} {{ n += data::now_ms(); }} }} else {{ for i in 0..{CALLS} {{ n += i; }} }} n }}\n"
    )).expect("write");
    std::fs::write(scripts.join("noop.rhai"), "fn run(params) { () }\n").expect("write");
    runtime.registry().load_all().await.expect("load");
    let time = |argument: serde_json::Value, name: &'static str| {
        let runtime = runtime.clone();
        async move {
            let started = Instant::now();
            runtime.call(name, "run", argument).await.expect("call");
            started.elapsed()
        }
    };
    let with_host = time(json!({"host": true}), "host_calls").await;
    let without = time(json!({"host": false}), "host_calls").await;
    let per_call = (with_host.saturating_sub(without)).as_secs_f64() / CALLS as f64;
    println!(
        "host function: one data::now_ms() from Rhai costs {:.0} ns ({} calls: {:.1} ms with, {:.1} ms without)",
        per_call * 1e9,
        CALLS,
        with_host.as_secs_f64() * 1e3,
        without.as_secs_f64() * 1e3
    );
    let mut noops: Vec<Duration> = Vec::new();
    for _ in 0..2000 {
        noops.push(time(json!({}), "noop").await);
    }
    println!(
        "script call: one no-op call through the runtime (blocking thread, sandbox, JSON in/out): median {:.1} µs",
        median(&mut noops).as_secs_f64() * 1e6
    );

    // --- Series and indicators from Rhai against native Rust ------------------------------------
    let symbol = |text: &str| Symbol::parse(text).expect("valid symbol");
    for (size, repetitions) in [(500usize, 4000i64), (10_000, 200)] {
        let load = |name: &str| BarQuery {
            limit: Some(size as u32),
            ..BarQuery::all(symbol(name), Timeframe::MINUTE)
        };
        let closes = |bars: Vec<tradehost::domain::Bar>| {
            Series::new(bars.iter().map(|bar| bar.close.to_f64()).collect())
        };
        let a = closes(store.bars(&load("SIMA")).await.expect("bars"));
        let b = closes(store.bars(&load("SIMB")).await.expect("bars"));
        assert_eq!(a.len(), size, "enough stored bars");
        // The pairs strategy's numeric core: log prices, hedge ratio, spread, rolling z-score.
        let script = format!(
            "fn run(params) {{\n\
               let a = data::bars(\"SIMA\", \"1Min\", {size}).close;\n\
               let b = data::bars(\"SIMB\", \"1Min\", {size}).close;\n\
               let total = 0.0;\n\
               for i in 0..params.repetitions {{\n\
                 let la = a.ln(); let lb = b.ln();\n\
                 let fit = ta::ols(la, lb);\n\
                 let z = (lb - la * fit.beta).zscore(60).last();\n\
                 total += z + ta::rsi(a, 14).last() + ta::sma(a, 20).last();\n\
               }}\n\
               total\n\
             }}\n"
        );
        std::fs::write(scripts.join("series_work.rhai"), script).expect("write");
        runtime.registry().load_all().await.expect("load");
        // The same call with no repetitions measures loading the bars, which native code skips.
        let started = Instant::now();
        runtime
            .call("series_work", "run", json!({"repetitions": 0}))
            .await
            .expect("call");
        let loading = started.elapsed();
        // Best of three for each side, alternating, so a busy moment on the machine does not decide.
        let mut scripted = Duration::MAX;
        let mut native = Duration::MAX;
        let mut scripted_total = f64::NAN;
        let mut total = 0.0;
        for _ in 0..3 {
            let started = Instant::now();
            let outcome = runtime
                .call("series_work", "run", json!({"repetitions": repetitions}))
                .await
                .expect("call");
            scripted = scripted.min(started.elapsed().saturating_sub(loading));
            scripted_total = outcome.result.as_f64().unwrap_or(f64::NAN);
            let native_started = Instant::now();
            total = native_pairs_work(&a, &b, repetitions);
            native = native.min(native_started.elapsed());
        }

        assert!(
            (scripted_total - total).abs() <= 1e-6 * total.abs().max(1.0),
            "same answer: {scripted_total} vs {total}"
        );
        println!(
            "series work (ln, OLS, spread, z-score, RSI, SMA), {size} values × {repetitions}: Rhai {:.2} ms, native {:.2} ms, ratio {:.2}× (target ≤ 1.5×; loading the bars, {:.1} ms, excluded)",
            scripted.as_secs_f64() * 1e3,
            native.as_secs_f64() * 1e3,
            scripted.as_secs_f64() / native.as_secs_f64(),
            loading.as_secs_f64() * 1e3
        );
    }
    let _ = Arc::strong_count(&runtime);
    store.close().await;
}
