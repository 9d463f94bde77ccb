//! Every `.rhai` file in the repository's `scripts/` and `strategies/` folders (and their `lib/`)
//! compiles and validates as the daemon would load it, and the shipped pairs library computes what
//! the native functions do.

mod support;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use support::scripts::ScriptProject;
use tradehost::domain::{Bar, Symbol, Timeframe};
use tradehost::indicators;
use tradehost::market::simulated::{SimulatedConfig, SimulatedMarket};
use tradehost::script::check::check_paths;
use tradehost::script::{Limits, ScriptFolders, build_engine};
use tradehost::store::BarQuery;

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The repository's script folders, absolute, as the daemon's registry holds them.
fn repository_folders() -> ScriptFolders {
    let absolute = |name: &str| {
        repository()
            .join(name)
            .canonicalize()
            .unwrap_or_else(|error| panic!("the repository has no {name}/ folder: {error}"))
    };
    ScriptFolders {
        scripts: absolute("scripts"),
        strategies: absolute("strategies"),
    }
}

/// Every `.rhai` file under `folder`, at any depth, so a script the check would not reach is
/// noticed rather than skipped.
fn rhai_files(folder: &Path, files: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(folder)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", folder.display()));
    for entry in entries {
        let path = entry.expect("a folder entry").path();
        if path.is_dir() {
            rhai_files(&path, files);
        } else if path
            .extension()
            .is_some_and(|extension| extension == "rhai")
        {
            files.push(path);
        }
    }
}

#[test]
fn every_script_in_the_repository_compiles_and_validates() {
    let folders = repository_folders();
    let mut files = Vec::new();
    rhai_files(&folders.scripts, &mut files);
    rhai_files(&folders.strategies, &mut files);
    if files.is_empty() {
        println!("skipped: no scripts in the repository yet");
        return;
    }
    files.sort();

    let engine = build_engine(&Limits::default(), folders.library_roots());
    // Flows are checked with the orchestrator's validator, as the daemon checks them: their
    // schedules and policies are part of what a save must pass.
    let validator = tradehost::orchestrator::meta_validator();
    let report = check_paths(
        &engine,
        &folders,
        Some(&validator),
        &[folders.scripts.clone(), folders.strategies.clone()],
    );
    let errors: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
    assert!(
        errors.is_empty(),
        "scripts that fail:\n{}",
        errors.join("\n")
    );
    let mut checked = report.checked.clone();
    checked.sort();
    assert_eq!(
        checked, files,
        "every .rhai file is checked: flows and strategies sit directly in scripts/ and \
         strategies/, libraries under their lib/ folders, and a file anywhere else is never loaded"
    );
    assert!(
        checked
            .iter()
            .any(|file| file.ends_with("scripts/lib/pairs_math.rhai")),
        "the pairs library is checked"
    );
    println!("checked {} script files", checked.len());
}

/// The natural logarithms of every stored minute close of `symbol` before `now`.
async fn log_closes(project: &ScriptProject, symbol: &str, now: DateTime<Utc>) -> Vec<f64> {
    let query = BarQuery {
        to: Some(now),
        ..BarQuery::all(
            Symbol::parse(symbol).expect("a valid symbol"),
            Timeframe::MINUTE,
        )
    };
    project
        .database
        .store
        .bars(&query)
        .await
        .expect("read stored bars")
        .iter()
        .map(|bar| bar.close.to_f64().ln())
        .collect()
}

fn first_day() -> DateTime<Utc> {
    "2024-01-08T00:00:00Z".parse().expect("a valid time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pairs_library_fits_the_hedge_and_spread_as_the_native_functions_do() {
    let now = first_day() + Duration::days(5);
    let project = ScriptProject::new(Limits::default(), now).await;
    let library = std::fs::read_to_string(repository().join("scripts/lib/pairs_math.rhai"))
        .expect("the repository's pairs library");
    project.write_library("pairs_math", &library);
    let mut market =
        SimulatedMarket::new(SimulatedConfig::default(), first_day()).expect("the default market");
    let bars: Vec<Bar> = market
        .bars_between(first_day(), now)
        .into_iter()
        .filter(|bar| matches!(bar.symbol.as_str(), "SIMA" | "SIMB"))
        .collect();
    project
        .database
        .store
        .insert_bars(&bars, "test")
        .await
        .expect("insert the simulated bars");
    project.write_flow(
        "pairs_check",
        r#"import "pairs_math" as pairs;

fn run(params) {
    let a = data::bars("SIMA", "1Min", 1950).close;
    let b = data::bars("SIMB", "1Min", 1950).close;
    let fit = pairs::hedge(a, b);
    let spread = pairs::log_spread(a, b, fit.beta);
    #{
        beta: fit.beta,
        alpha: fit.alpha,
        spread_len: spread.len(),
        spread_last: spread.last(),
        zscore: pairs::spread_zscore(a, b, fit.beta, 60),
        half_life: pairs::spread_half_life(a, b, fit.beta),
    }
}
"#,
    );
    project.load().await;
    let result = project.run_ok("pairs_check").await;

    let a = log_closes(&project, "SIMA", now).await;
    let b = log_closes(&project, "SIMB", now).await;
    assert_eq!(a.len(), 1950);
    let fit = indicators::ols(&a, &b).expect("the fit computes");
    let spread: Vec<f64> = a.iter().zip(&b).map(|(a, b)| b - fit.beta * a).collect();
    let number = |key: &str| {
        result[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} is not a number: {result}"))
    };
    let assert_same = |key: &str, expected: f64| {
        let actual = number(key);
        assert!(
            (actual - expected).abs() <= 1e-12 * expected.abs().max(1.0),
            "{key}: the library gave {actual}, natively {expected}"
        );
    };
    assert_same("beta", fit.beta);
    assert_same("alpha", fit.alpha);
    assert_eq!(result["spread_len"], Value::from(1950));
    assert_same("spread_last", spread[1949]);
    assert_same(
        "zscore",
        indicators::rolling_zscore(&spread, 60)
            .expect("the z-score computes")
            .last()
            .expect("a last value"),
    );
    assert_same(
        "half_life",
        indicators::half_life(&spread).expect("the half-life computes"),
    );
}
