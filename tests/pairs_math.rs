//! The pairs strategy's arithmetic on real data, checked against an independent computation in
//! this test: the hedge ratio and intercept (OLS of log B on log A), the log spread and its
//! rolling z-score, as the script computes them with the host's Series and ta functions.

mod support;

use chrono::TimeZone;
use tradehost::clock::Clock;
use tradehost::ingest::csv::import_file;
use tradehost::market::csv::CsvOptions;

/// The closes of a two-column pairs file, read here without the importer.
fn closes(path: &std::path::Path) -> (Vec<f64>, Vec<f64>) {
    let text = std::fs::read_to_string(path).expect("read");
    let mut a = Vec::new();
    let mut b = Vec::new();
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.trim().split(',').collect();
        if fields.len() == 3 {
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
    #{ beta: fit.beta, alpha: fit.alpha, spread: spread.to_array(), z: z.to_array(), n: a.len() }
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
    }
}
