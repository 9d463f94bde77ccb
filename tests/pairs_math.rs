//! The pairs strategy's arithmetic on real data, checked against an independent computation in
//! this test: the hedge ratio and intercept (OLS of log B on log A), the log spread and its
//! rolling z-score, as the script computes them with the host's Series and ta functions.

mod support;

use std::sync::Arc;

use chrono::TimeZone;
use tradehost::backtest::{BacktestRecorder, History};
use tradehost::clock::Clock;
use tradehost::ingest::csv::import_file;
use tradehost::market::csv::CsvOptions;
use tradehost::script::host::overlay::Overlay;

/// The closes of a two-column pairs file, read here without the importer.
fn closes(path: &std::path::Path) -> (Vec<f64>, Vec<f64>) {
    let text = std::fs::read_to_string(path).expect("read");
    let mut a = Vec::new();
    let mut b = Vec::new();
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.trim().split(',').collect();
        // A day with a missing close on either leg is not a bar of the pair.
        if fields.len() == 3 && !fields[1].is_empty() && !fields[2].is_empty() {
            a.push(fields[1].parse::<f64>().expect("price a"));
            b.push(fields[2].parse::<f64>().expect("price b"));
        }
    }
    (a, b)
}

/// Least squares of y on x with an intercept, from the normal equations.
fn least_squares(x: &[f64], y: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean_x = x.iter().sum::<f64>() / n;
    let mean_y = y.iter().sum::<f64>() / n;
    let covariance: f64 = x
        .iter()
        .zip(y)
        .map(|(x, y)| (x - mean_x) * (y - mean_y))
        .sum();
    let variance: f64 = x.iter().map(|x| (x - mean_x).powi(2)).sum();
    let beta = covariance / variance;
    (beta, mean_y - beta * mean_x)
}

#[tokio::test]
async fn hedge_ratio_spread_and_z_score_match_an_independent_computation_on_real_pairs() {
    let Some(data) = support::shared_data() else {
        return;
    };
    let now = chrono::Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("time");
    let project =
        support::scripts::ScriptProject::new(tradehost::script::Limits::default(), now).await;
    project.write_flow(
        "fit",
        r#"
fn run(params) {
    let a = data::bars(params.a, "1Day", 100000);
    let b = data::bars(params.b, "1Day", 100000);
    let fit = ta::ols(a.close.ln(), b.close.ln());
    let spread = b.close.ln() - a.close.ln() * fit.beta - fit.alpha;
    let z = spread.zscore(params.window);
    let model = pairs::model(params.a, params.b, "1Day", 100000, params.window);
    #{ beta: fit.beta, alpha: fit.alpha, spread: spread.to_array(), z: z.to_array(), n: a.len(), model: model }
}
"#,
    );
    project.load().await;
    for (file, leg_a, leg_b) in [
        ("ANZ-ADB.csv", "ANZ", "ADB"),
        ("XLF-XLK.csv", "XLF", "XLK"),
        ("gld_gdx_data.csv", "GDX", "GLD"),
    ] {
        let path = data.join("pairs").join(file);
        import_file(
            &project.database.store,
            &Clock::manual(now),
            &path,
            &CsvOptions::default(),
            false,
        )
        .await
        .expect("import");
        let (a, b) = closes(&path);
        let (log_a, log_b): (Vec<f64>, Vec<f64>) = (
            a.iter().map(|v| v.ln()).collect(),
            b.iter().map(|v| v.ln()).collect(),
        );
        let (beta, alpha) = least_squares(&log_a, &log_b);
        let spread: Vec<f64> = log_a
            .iter()
            .zip(&log_b)
            .map(|(x, y)| y - beta * x - alpha)
            .collect();
        let window = 20;
        let result = project
            .runtime
            .call(
                "fit",
                "run",
                serde_json::json!({ "a": leg_a, "b": leg_b, "window": window }),
            )
            .await
            .expect("script")
            .result;
        assert_eq!(
            result["n"],
            serde_json::json!(a.len()),
            "{file}: every row became a bar"
        );
        let close = |x: f64, y: f64| (x - y).abs() <= 1e-9 * (1.0 + y.abs());
        assert!(
            close(result["beta"].as_f64().expect("beta"), beta),
            "{file} beta {} vs {beta}",
            result["beta"]
        );
        assert!(
            close(result["alpha"].as_f64().expect("alpha"), alpha),
            "{file} alpha"
        );
        let script_spread: Vec<f64> = result["spread"]
            .as_array()
            .expect("spread")
            .iter()
            .map(|v| v.as_f64().expect("number"))
            .collect();
        for (got, want) in script_spread.iter().zip(&spread) {
            assert!(close(*got, *want), "{file} spread {got} vs {want}");
        }
        // The z-score of the last `window` spreads, with the sample standard deviation (n − 1).
        let z = result["z"].as_array().expect("z");
        for end in [window, spread.len() / 2, spread.len()] {
            let slice = &spread[end - window..end];
            let mean = slice.iter().sum::<f64>() / window as f64;
            let deviation = (slice.iter().map(|v| (v - mean).powi(2)).sum::<f64>()
                / (window - 1) as f64)
                .sqrt();
            let want = (slice[window - 1] - mean) / deviation;
            let got = z[end - 1].as_f64().expect("z value");
            assert!(
                (got - want).abs() <= 1e-9 * (1.0 + want.abs()),
                "{file} z at {end}: {got} vs {want}"
            );
        }
        assert!(z[window - 2].is_null(), "{file}: warm-up has no z-score");
        // Live, `pairs::model` fits the stored bars afresh: the same numbers.
        let model = &result["model"];
        assert_eq!(model["ready"], serde_json::json!(true), "{file}: {model}");
        let last_z = z[spread.len() - 1].as_f64().expect("z value");
        for (key, want) in [
            ("beta", beta),
            ("alpha", alpha),
            ("spread", spread[spread.len() - 1]),
            ("zscore", last_z),
        ] {
            let got = model[key].as_f64().expect("a number");
            assert!(close(got, want), "{file} model {key}: {got} vs {want}");
        }
    }
}

/// The hedge ratio, intercept, last spread and z-score of the last `lookback` points, from the
/// normal equations and the sample standard deviation: `None` when `x` is constant.
fn fresh_model(
    log_a: &[f64],
    log_b: &[f64],
    lookback: usize,
    window: usize,
) -> Option<(f64, f64, f64, f64)> {
    let start = log_a.len().saturating_sub(lookback);
    let (x, y) = (&log_a[start..], &log_b[start..]);
    if x.iter().all(|value| *value == x[0]) {
        return None;
    }
    let (beta, alpha) = least_squares(x, y);
    let spread: Vec<f64> = x.iter().zip(y).map(|(x, y)| y - beta * x - alpha).collect();
    let slice = &spread[spread.len() - window..];
    let mean = slice.iter().sum::<f64>() / window as f64;
    let deviation =
        (slice.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (window - 1) as f64).sqrt();
    let last = spread[spread.len() - 1];
    // A window of identical spreads has no z-score (Series::zscore's convention), whatever
    // rounding leaves in its mean.
    let z = if slice.iter().all(|value| *value == slice[0]) {
        f64::NAN
    } else {
        (last - mean) / deviation
    };
    Some((beta, alpha, last, z))
}

/// Daily bars of two legs at consecutive midnights from 2000-01-01.
fn history_of(a: &[f64], b: &[f64]) -> (History, Vec<chrono::DateTime<chrono::Utc>>) {
    use rust_decimal::Decimal;
    use tradehost::domain::{Bar, Price, Quantity, Symbol, Timeframe};
    let start = chrono::Utc
        .with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
        .single()
        .expect("time");
    let times: Vec<_> = (0..a.len())
        .map(|day| start + chrono::Duration::days(day as i64))
        .collect();
    let mut legs = std::collections::BTreeMap::new();
    for (name, closes) in [("LEGA", a), ("LEGB", b)] {
        let symbol = Symbol::parse(name).expect("symbol");
        let bars = closes
            .iter()
            .zip(&times)
            .map(|(close, time)| {
                let price = Price::new(Decimal::try_from(*close).expect("decimal")).expect("price");
                Bar::new(
                    symbol.clone(),
                    Timeframe::DAY,
                    *time,
                    price,
                    price,
                    price,
                    price,
                    Quantity::new(Decimal::ONE).expect("volume"),
                )
                .expect("bar")
            })
            .collect();
        legs.insert(symbol, bars);
    }
    (History::from_bars(Timeframe::DAY, legs), times)
}

/// Calls `pairs::model` as a backtest would, as of `time`.
fn model_at(
    project: &support::scripts::ScriptProject,
    script: &tradehost::script::CompiledScript,
    overlay: &Arc<Overlay>,
    time: chrono::DateTime<chrono::Utc>,
    lookback: usize,
    window: usize,
) -> rhai::Map {
    project.clock.set(time);
    let mut parameters = rhai::Map::new();
    parameters.insert("lookback".into(), rhai::Dynamic::from_int(lookback as i64));
    parameters.insert("window".into(), rhai::Dynamic::from_int(window as i64));
    project
        .runtime
        .call_direct(script, "run", parameters.into(), overlay.clone())
        .expect("pairs::model")
        .cast::<rhai::Map>()
}

fn number(map: &rhai::Map, key: &str) -> f64 {
    map.get(key)
        .and_then(|value| value.as_float().ok())
        .unwrap_or_else(|| panic!("`{key}` is a number in {map:?}"))
}

/// Walks `times` (forwards bar by bar, with a jump over bars, a repeated bar and a step back)
/// and checks every answer of the running model against a fresh fit of the bars up to then.
fn check_walk(
    project: &support::scripts::ScriptProject,
    script: &tradehost::script::CompiledScript,
    (a, b): (&[f64], &[f64]),
    lookback: usize,
    window: usize,
    label: &str,
) -> (usize, usize) {
    let (history, times) = history_of(a, b);
    let overlay = Arc::new(Overlay::new(
        Arc::new(history),
        Arc::new(BacktestRecorder::default()),
    ));
    let (log_a, log_b): (Vec<f64>, Vec<f64>) = (
        a.iter().map(|v| v.ln()).collect(),
        b.iter().map(|v| v.ln()).collect(),
    );
    let middle = a.len() / 2;
    let mut steps: Vec<usize> = (0..middle).collect();
    // A gap of seven bars, the same bar twice, one bar back, then on to the end.
    steps.extend([middle + 7, middle + 7, middle + 6]);
    steps.extend(middle + 7..a.len());
    let (mut checked, mut undefined) = (0, 0);
    for index in steps {
        let found = model_at(project, script, &overlay, times[index], lookback, window);
        let seen = (index + 1).min(lookback);
        let ready = found.get("ready").and_then(|v| v.as_bool().ok()) == Some(true);
        if seen < window {
            assert!(!ready, "{label}: no model at bar {index} with {seen} bars");
            continue;
        }
        // Right after a leg was flat for longer than the window, the running sums cancel nearly
        // equal large terms: agreement there is to about 1e-8, elsewhere to 1e-9.
        let tolerance = if label == "flat legs" { 1e-7 } else { 1e-9 };
        let close = |x: f64, y: f64| (x - y).abs() <= tolerance * (1.0 + y.abs());
        match fresh_model(&log_a[..=index], &log_b[..=index], lookback, window) {
            None => {
                assert!(
                    !ready,
                    "{label}: a flat leg has no hedge ratio at bar {index}"
                );
                undefined += 1;
            }
            Some((beta, alpha, spread, z)) => {
                assert!(ready, "{label}: a model at bar {index}: {found:?}");
                assert!(
                    close(number(&found, "beta"), beta),
                    "{label} beta at {index}"
                );
                assert!(
                    close(number(&found, "alpha"), alpha),
                    "{label} alpha at {index}"
                );
                assert!(
                    close(number(&found, "spread"), spread),
                    "{label} spread at {index}"
                );
                let got = number(&found, "zscore");
                if z.is_finite() {
                    assert!(close(got, z), "{label} z at {index}: {got} vs {z}");
                } else {
                    assert!(got.is_nan(), "{label}: a flat spread has no z at {index}");
                }
                // The bar's close went through an exact decimal and back.
                assert!(
                    close(number(&found, "price_a"), a[index]),
                    "{label} price at {index}"
                );
                checked += 1;
            }
        }
    }
    (checked, undefined)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn the_running_pairs_model_matches_a_fresh_fit_bar_by_bar() {
    let Some(data) = support::shared_data() else {
        return;
    };
    let now = chrono::Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("time");
    let project =
        support::scripts::ScriptProject::new(tradehost::script::Limits::default(), now).await;
    let path = project.write_flow(
        "model",
        r#"fn run(p) { pairs::model("LEGA", "LEGB", "1Day", p.lookback, p.window) }"#,
    );
    let script = project
        .runtime
        .compile_file(&path, tradehost::script::ScriptKind::Flow)
        .expect("compile");
    let (lookback, window) = (250, 30);
    // Real pairs over long runs: thousands of one-bar updates, each compared with a fresh fit.
    for file in ["shell-rdp-close_USD.csv", "BKD_ESC_2009_2011.csv"] {
        let (a, b) = closes(&data.join("pairs").join(file));
        let (checked, _) = tokio::task::block_in_place(|| {
            check_walk(&project, &script, (&a, &b), lookback, window, file)
        });
        assert!(
            checked > a.len() - lookback,
            "{file}: {checked} bars checked"
        );
    }
    // A leg that goes flat for longer than the lookback and then moves again, and both legs
    // flat over the window: no hedge ratio, then no z-score, then numbers again.
    let mut a: Vec<f64> = (0..400).map(|i| 20.0 + (i as f64 * 0.37).sin()).collect();
    let mut b: Vec<f64> = (0..400).map(|i| 30.0 + (i as f64 * 0.23).cos()).collect();
    a.extend(std::iter::repeat_n(21.5, 300));
    b.extend((0..300).map(|i| 30.0 + (i as f64 * 0.11).sin()));
    a.extend((0..200).map(|i| 21.5 + (i as f64 * 0.29).sin()));
    b.extend(std::iter::repeat_n(30.5, 200));
    a.extend(std::iter::repeat_n(22.0, 40));
    b.extend(std::iter::repeat_n(31.0, 40));
    a.extend((0..100).map(|i| 22.0 + (i as f64 * 0.41).cos()));
    b.extend((0..100).map(|i| 31.0 + (i as f64 * 0.19).sin()));
    let (checked, undefined) = tokio::task::block_in_place(|| {
        check_walk(&project, &script, (&a, &b), lookback, window, "flat legs")
    });
    assert!(
        checked > 500 && undefined > 40,
        "{checked} checked, {undefined} undefined"
    );
}
