//! Statistical checks of the simulated market: hedge ratios, mean reversion, volatility, volume.
//!
//! They run on one fixed seed, so they pass or fail deterministically; the thresholds were checked
//! against 20 other seeds as well (see `quarter`).

use chrono::Duration;
use rust_decimal::prelude::ToPrimitive;

use super::tests::bars;
use super::universe::{SESSION_MINUTES, SimulatedConfig};
use crate::domain::Bar;
use crate::market::calendar::UsEquityCalendar;

fn log_closes(bars: &[Bar], wanted: &str) -> Vec<f64> {
    bars.iter()
        .filter(|bar| bar.symbol.as_str() == wanted)
        .map(|bar| bar.close.to_f64().ln())
        .collect()
}

/// Ordinary least squares of `y` on `x`: (intercept, slope).
fn regression(x: &[f64], y: &[f64]) -> (f64, f64) {
    let count = x.len() as f64;
    let mean_x = x.iter().sum::<f64>() / count;
    let mean_y = y.iter().sum::<f64>() / count;
    let covariance: f64 = x
        .iter()
        .zip(y)
        .map(|(a, b)| (a - mean_x) * (b - mean_y))
        .sum();
    let variance: f64 = x.iter().map(|a| (a - mean_x).powi(2)).sum();
    let slope = covariance / variance;
    (mean_y - slope * mean_x, slope)
}

/// The half-life, in bars, of an AR(1) fitted to `series`: Δr = c + b·r₋₁ gives
/// −ln 2 / ln(1 + b); infinite when the series does not revert.
fn half_life(series: &[f64]) -> f64 {
    let lagged = &series[..series.len() - 1];
    let changes: Vec<f64> = series.windows(2).map(|pair| pair[1] - pair[0]).collect();
    let (_, slope) = regression(lagged, &changes);
    if slope >= 0.0 {
        f64::INFINITY
    } else {
        -std::f64::consts::LN_2 / (1.0 + slope).ln()
    }
}

/// The Dickey–Fuller t statistic of `series`: the t value of b in Δr = c + b·r₋₁. Applied to
/// regression residuals it is the Engle–Granger test, whose critical values for two
/// series are −3.34 at 5% and −3.90 at 1%.
fn dickey_fuller(series: &[f64]) -> f64 {
    let lagged = &series[..series.len() - 1];
    let changes: Vec<f64> = series.windows(2).map(|pair| pair[1] - pair[0]).collect();
    let (intercept, slope) = regression(lagged, &changes);
    let count = lagged.len() as f64;
    let mean = lagged.iter().sum::<f64>() / count;
    let residual: f64 = lagged
        .iter()
        .zip(&changes)
        .map(|(x, y)| (y - intercept - slope * x).powi(2))
        .sum::<f64>()
        / (count - 2.0);
    let variance: f64 = lagged.iter().map(|x| (x - mean).powi(2)).sum();
    slope / (residual / variance).sqrt()
}

/// The residuals of ln B on ln A and the fitted hedge ratio.
fn cointegration(bars: &[Bar], leg_a: &str, leg_b: &str) -> (f64, Vec<f64>) {
    let a = log_closes(bars, leg_a);
    let b = log_closes(bars, leg_b);
    let (intercept, slope) = regression(&a, &b);
    let residuals = a
        .iter()
        .zip(&b)
        .map(|(x, y)| y - intercept - slope * x)
        .collect();
    (slope, residuals)
}

/// A quarter of minute bars of the default universe, generated once for the statistical
/// tests. They are statistical checks on one fixed seed: with 20 other seeds tried, the pair
/// checks held for all and the independent check failed for one combination in three seeds,
/// as a 5% test should now and then.
fn quarter() -> &'static [Bar] {
    static QUARTER: std::sync::OnceLock<Vec<Bar>> = std::sync::OnceLock::new();
    QUARTER.get_or_init(|| {
        let seed = SimulatedConfig::default().seed;
        bars(seed, "2026-01-05T09:30:00", "2026-04-03T16:00:00")
    })
}

#[test]
fn each_pair_has_its_true_hedge_ratio_and_a_mean_reverting_spread() {
    for pair in SimulatedConfig::default().pairs() {
        let (slope, residuals) = cointegration(quarter(), pair.leg_a.as_str(), pair.leg_b.as_str());
        assert!(
            (slope - pair.hedge_ratio).abs() < 0.1,
            "{}/{}: hedge ratio {slope}, true {}",
            pair.leg_a,
            pair.leg_b,
            pair.hedge_ratio
        );
        let estimated = half_life(&residuals);
        assert!(
            (pair.half_life_bars / 2.0..pair.half_life_bars * 2.0).contains(&estimated),
            "{}/{}: half-life {estimated}, true {}",
            pair.leg_a,
            pair.leg_b,
            pair.half_life_bars
        );
        let statistic = dickey_fuller(&residuals);
        assert!(
            statistic < -3.9,
            "{}/{}: Engle–Granger statistic {statistic}",
            pair.leg_a,
            pair.leg_b
        );
    }
}

#[test]
fn independent_symbols_do_not_look_cointegrated() {
    for (first, second) in [
        ("SIMX", "SIMY"),
        ("SIMY", "SIMZ"),
        ("SIMX", "SIMZ"),
        ("SIMA", "SIMZ"),
        ("SIMC", "SIMY"),
    ] {
        let (_, residuals) = cointegration(quarter(), first, second);
        let statistic = dickey_fuller(&residuals);
        assert!(
            statistic > -3.34,
            "{first}/{second}: Engle–Granger statistic {statistic}"
        );
    }
}

#[test]
fn minute_volatility_matches_the_configured_daily_volatility() {
    let config = SimulatedConfig::default();
    let second_legs: Vec<_> = config.pairs().iter().map(|pair| &pair.leg_b).collect();
    for instrument in &config.instruments {
        if second_legs.contains(&&instrument.symbol) {
            continue;
        }
        // Returns within sessions only: consecutive minutes, no overnight gaps.
        let series: Vec<&Bar> = quarter()
            .iter()
            .filter(|bar| bar.symbol == instrument.symbol)
            .collect();
        let returns: Vec<f64> = series
            .windows(2)
            .filter(|pair| pair[1].time - pair[0].time == Duration::minutes(1))
            .map(|pair| (pair[1].close.to_f64() / pair[0].close.to_f64()).ln())
            .collect();
        let count = returns.len() as f64;
        let mean = returns.iter().sum::<f64>() / count;
        let variance = returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / count;
        let daily = (variance * SESSION_MINUTES).sqrt();
        let ratio = daily / instrument.daily_volatility;
        assert!(
            (0.9..1.1).contains(&ratio),
            "{}: {daily}",
            instrument.symbol
        );
    }
}

#[test]
fn volume_is_higher_near_the_open_and_close_than_at_midday() {
    let all = quarter();
    let average_volume = |from: i64, to: i64| {
        let selected: Vec<f64> = all
            .iter()
            .filter(|bar| bar.symbol.as_str() == "SIMA")
            .filter(|bar| {
                let open = UsEquityCalendar
                    .session_at(bar.time)
                    .expect("bars are inside sessions")
                    .open;
                (from..to).contains(&(bar.time - open).num_minutes())
            })
            .map(|bar| bar.volume.value().to_f64().unwrap_or(0.0))
            .collect();
        selected.iter().sum::<f64>() / selected.len() as f64
    };
    let midday = average_volume(165, 225);
    assert!(average_volume(0, 30) > 2.0 * midday);
    assert!(average_volume(360, 390) > 2.0 * midday);
}
