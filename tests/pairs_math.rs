//! The pairs strategy's arithmetic on real data, checked against an independent computation in
//! this test: the hedge ratio and intercept (OLS of log B on log A), the log spread and its
//! rolling z-score, as scripts compute them with the host's Series and ta functions, and as
//! `pairs::model` keeps them up to date bar by bar in a backtest.

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

/// The closes of a two-column pairs file, rows where both legs have a number only (some files
/// miss a close here and there; dropping the row keeps the legs in step).
fn complete_closes(path: &std::path::Path) -> (Vec<f64>, Vec<f64>) {
    let text = std::fs::read_to_string(path).expect("read");
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.trim().split(',').collect();
            let number = |index: usize| fields.get(index)?.trim().parse::<f64>().ok();
            Some((number(1)?, number(2)?))
        })
        .unzip()
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

/// The fit of the last `lookback` points and the z-score of the last `window` spreads, computed
/// here in two passes from scratch (no running sums): what `pairs::model` must agree with.
struct FreshFit {
    beta: f64,
    alpha: f64,
    r_squared: f64,
    spread: f64,
    zscore: f64,
    /// The means, the largest distance of x (and y) from its mean over the lookback, and Sxx,
    /// Sxy, Syy.
    mean_x: f64,
    mean_y: f64,
    reach_x: f64,
    reach_y: f64,
    sxx: f64,
    sxy: f64,
    syy: f64,
    /// The same reaches and the spread's (n − 1)·variance over the window.
    window_reach_x: f64,
    window_reach_y: f64,
    window_squares: f64,
}

fn fresh_fit(x: &[f64], y: &[f64], window: usize) -> FreshFit {
    let n = x.len() as f64;
    let mean_x = x.iter().sum::<f64>() / n;
    let mean_y = y.iter().sum::<f64>() / n;
    let sxx: f64 = x.iter().map(|x| (x - mean_x).powi(2)).sum();
    let syy: f64 = y.iter().map(|y| (y - mean_y).powi(2)).sum();
    let sxy: f64 = x
        .iter()
        .zip(y)
        .map(|(x, y)| (x - mean_x) * (y - mean_y))
        .sum();
    let beta = sxy / sxx;
    let alpha = mean_y - beta * mean_x;
    let residuals: f64 = x
        .iter()
        .zip(y)
        .map(|(x, y)| (y - alpha - beta * x).powi(2))
        .sum();
    let spreads: Vec<f64> = x.iter().zip(y).map(|(x, y)| y - beta * x - alpha).collect();
    let recent = &spreads[spreads.len() - window..];
    let mean = recent.iter().sum::<f64>() / window as f64;
    let window_squares: f64 = recent.iter().map(|s| (s - mean).powi(2)).sum();
    let reach = |values: &[f64]| {
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        values.iter().map(|v| (v - mean).abs()).fold(0.0, f64::max)
    };
    let (recent_x, recent_y) = (&x[x.len() - window..], &y[y.len() - window..]);
    FreshFit {
        beta,
        alpha,
        r_squared: 1.0 - residuals / syy,
        spread: spreads[spreads.len() - 1],
        zscore: (recent[window - 1] - mean) / (window_squares / (window - 1) as f64).sqrt(),
        mean_x,
        mean_y,
        reach_x: reach(x),
        reach_y: reach(y),
        sxx,
        sxy,
        syy,
        window_reach_x: reach(recent_x),
        window_reach_y: reach(recent_y),
        window_squares,
    }
}

/// Asserts that a `pairs::model` view agrees with a fresh fit within what rounding can explain.
///
/// The model keeps centred moments by Welford's add and remove steps and sums them afresh every
/// `lookback` points, so between two fresh sums at most `2 · lookback` steps each round a few
/// times. Each step's deviation `x − m` is rounded at the size of the *level* of the data, not of
/// the deviation: the running mean `m` is a log price (2 to 5 here) held to ε relative, while the
/// deviations are a tenth of that. With `Ax = |x̄| + Dx` (the level plus the reach `Dx`, the
/// largest distance of x from its mean), likewise `Ay`, and `K = 16` covering the few roundings per
/// step and the fresh fit's own two-pass sums:
/// - `|δSxx| ≤ K ε L Ax Dx`, `|δSxy| ≤ K ε L (Ax Dy + Ay Dx)`, so the slope `Sxy / Sxx` is off
///   by at most `δβ = K ε L (Ax Dy + Ay Dx + |β| Ax Dx) / Sxx` — relative to how well the
///   lookback pins the slope down (`Sxx`), which is why an absolute bound fails just after
///   warm-up, when `Sxx` is small;
/// - the means by `K ε L (Ay + |β| Ax)`, so the intercept `ȳ − β x̄` by `|x̄| δβ` plus that;
/// - the z-score's distance `d` by `dx δβ` plus the window means' rounding, and its
///   `(w − 1) σ²` by the window moments' rounding plus `2 |Sxy_w − β Sxx_w| δβ`;
///   `δz ≤ δd / σ + |z| δ(σ²) / (2 σ²)`.
fn assert_agrees(
    view: &tradehost::script::host::pairs::PairView,
    fresh: &FreshFit,
    lookback: usize,
    window: usize,
    at: &str,
) {
    const K: f64 = 16.0;
    let rounding = K * f64::EPSILON * (2 * lookback) as f64;
    let beta = fresh.beta.abs();
    let (reach_x, reach_y) = (fresh.reach_x, fresh.reach_y);
    let (level_x, level_y) = (fresh.mean_x.abs() + reach_x, fresh.mean_y.abs() + reach_y);
    let tolerance_beta =
        rounding * (level_x * reach_y + level_y * reach_x + beta * level_x * reach_x) / fresh.sxx;
    let means = rounding * (level_y + beta * level_x);
    let tolerance_alpha = fresh.mean_x.abs() * tolerance_beta + means;
    let tolerance_spread = 2.0 * reach_x * tolerance_beta + means;
    let fit = &view.fit;
    assert!(
        (fit.beta - fresh.beta).abs() <= tolerance_beta,
        "{at}: hedge ratio {} vs {} (tolerance {tolerance_beta:e})",
        fit.beta,
        fresh.beta
    );
    assert!(
        (fit.alpha - fresh.alpha).abs() <= tolerance_alpha,
        "{at}: intercept {} vs {} (tolerance {tolerance_alpha:e})",
        fit.alpha,
        fresh.alpha
    );
    assert!(
        (fit.spread - fresh.spread).abs() <= tolerance_spread,
        "{at}: spread {} vs {} (tolerance {tolerance_spread:e})",
        fit.spread,
        fresh.spread
    );
    let tolerance_r_squared = (rounding
        * (level_y * reach_y + beta * (level_x * reach_y + level_y * reach_x))
        + fresh.sxy.abs() * tolerance_beta)
        / fresh.syy;
    assert!(
        (fit.r_squared - fresh.r_squared).abs() <= tolerance_r_squared,
        "{at}: r² {} vs {} (tolerance {tolerance_r_squared:e})",
        fit.r_squared,
        fresh.r_squared
    );
    if !fresh.zscore.is_finite() {
        // A window whose spread is flat has no z-score.
        assert!(
            fit.zscore.is_nan(),
            "{at}: z {} of a flat window",
            fit.zscore
        );
        return;
    }
    let (window_x, window_y) = (2.0 * fresh.window_reach_x, 2.0 * fresh.window_reach_y);
    let sigma_squared = fresh.window_squares / (window - 1) as f64;
    let distance_error = window_x * tolerance_beta + means;
    let squares_error = rounding
        * (level_y * window_y
            + 2.0 * beta * (level_x * window_y + level_y * window_x)
            + beta * beta * level_x * window_x)
        + 2.0 * (window_x * window_y + beta * window_x * window_x) * window as f64 * tolerance_beta;
    let tolerance_z = distance_error / sigma_squared.sqrt()
        + fresh.zscore.abs() * squares_error / (window - 1) as f64 / (2.0 * sigma_squared);
    assert!(
        (fit.zscore - fresh.zscore).abs() <= tolerance_z,
        "{at}: z {} vs {} (tolerance {tolerance_z:e})",
        fit.zscore,
        fresh.zscore
    );
}

/// Bar times for a series: one a day (only their order and equality matter to the model).
fn days(count: usize) -> Vec<chrono::DateTime<chrono::Utc>> {
    let start = chrono::Utc
        .with_ymd_and_hms(1990, 1, 1, 21, 0, 0)
        .single()
        .expect("time");
    (0..count)
        .map(|day| start + chrono::Duration::days(day as i64))
        .collect()
}

/// Walks both legs bar by bar through `pairs::follow` (what `pairs::model` runs in a backtest)
/// and checks every ready bar against a fresh fit of the index-paired last `lookback` closes.
/// Returns how many bars were ready.
fn walk(
    times: (
        &[chrono::DateTime<chrono::Utc>],
        &[chrono::DateTime<chrono::Utc>],
    ),
    closes: (&[f64], &[f64]),
    parameters: &dyn Fn(usize) -> (usize, usize),
    file: &str,
) -> usize {
    use tradehost::script::host::overlay::Closes;
    let mut slot = None;
    let mut ready = 0;
    let mut all_times: Vec<_> = times.0.iter().chain(times.1).copied().collect();
    all_times.sort_unstable();
    all_times.dedup();
    for (step, now) in all_times.iter().enumerate() {
        let (lookback, window) = parameters(step);
        let end_a = times.0.partition_point(|time| time <= now);
        let end_b = times.1.partition_point(|time| time <= now);
        let a = Closes {
            times: &times.0[..end_a],
            close: &closes.0[..end_a],
        };
        let b = Closes {
            times: &times.1[..end_b],
            close: &closes.1[..end_b],
        };
        let view = tradehost::script::host::pairs::follow(&mut slot, &a, &b, lookback, window)
            .expect("finite prices");
        let count = end_a.min(lookback);
        let aligned = end_a.min(lookback) == end_b.min(lookback)
            && times.0[..end_a].last() == times.1[..end_b].last();
        assert_eq!(
            view.ready,
            aligned && count >= window + 2,
            "{file} at {now}: ready {} ({})",
            view.ready,
            view.reason
        );
        if !view.ready {
            continue;
        }
        ready += 1;
        let logs = |values: &[f64]| -> Vec<f64> {
            values[values.len() - count..]
                .iter()
                .map(|value| value.ln())
                .collect()
        };
        let (x, y) = (logs(a.close), logs(b.close));
        let fresh = fresh_fit(&x, &y, window);
        assert_eq!(view.bars, count);
        assert_eq!(view.price_a, closes.0[end_a - 1]);
        assert_eq!(view.price_b, closes.1[end_b - 1]);
        let at = format!("{file} at {now} (lookback {lookback}, window {window})");
        assert_agrees(&view, &fresh, lookback, window, &at);
    }
    ready
}

#[test]
fn the_running_pairs_model_matches_a_fresh_fit_at_every_bar_of_real_pairs() {
    let Some(data) = support::shared_data() else {
        return;
    };
    for (file, lookback, window) in [
        ("shell-rdp-close_USD.csv", 500, 60),
        ("BKD_ESC_2009_2011.csv", 120, 20),
        ("ANZ-ADB.csv", 120, 20),
        ("crude.csv", 60, 12),
    ] {
        let (a, b) = complete_closes(&data.join("pairs").join(file));
        let times = days(a.len());
        let ready = walk((&times, &times), (&a, &b), &|_| (lookback, window), file);
        assert_eq!(
            ready,
            a.len() - (window + 1),
            "{file}: every bar after warm-up"
        );
    }
}

#[test]
fn the_pairs_model_refits_after_a_gap_and_a_change_of_parameters() {
    let Some(data) = support::shared_data() else {
        return;
    };
    let (a, b) = complete_closes(&data.join("pairs").join("shell-rdp-close_USD.csv"));
    let times = days(a.len());
    // Leg A misses two bars: the legs are out of step until both have `lookback` bars again,
    // and the model is fitted afresh when they line up.
    let missing = [700, 1900];
    let (times_a, close_a): (Vec<_>, Vec<_>) = times
        .iter()
        .zip(&a)
        .enumerate()
        .filter(|(index, _)| !missing.contains(index))
        .map(|(_, (time, close))| (*time, *close))
        .unzip();
    let ready = walk(
        (&times_a, &times),
        (&close_a, &b),
        &|_| (300, 40),
        "shell-rdp with gaps",
    );
    // Ready at every bar after the warm-up (41 bars) but the two where A has no bar.
    assert_eq!(ready, a.len() - 41 - missing.len());
    // The lookback and window change mid-run (as when config/pairs.toml is edited): every bar
    // still agrees with a fresh fit under the parameters of its call.
    let ready = walk(
        (&times, &times),
        (&a, &b),
        &|step| match step {
            0..1500 => (500, 60),
            1500..3000 => (200, 30),
            _ => (400, 100),
        },
        "shell-rdp with new parameters",
    );
    // The history is there at each change, so only the first warm-up (61 bars) waits.
    assert_eq!(ready, a.len() - 61);
}
