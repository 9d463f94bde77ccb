//! Statistics for pairs trading: ordinary least squares with an intercept, Pearson correlation,
//! the half-life of mean reversion, and the rolling z-score.

use super::rolling::zscore;
use super::{IndicatorError, Series, check_period, check_same_length};

/// A fitted line `y = alpha + beta · x`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ols {
    /// The intercept.
    pub alpha: f64,
    /// The slope: the hedge ratio when `x` and `y` are the two legs' (log) prices.
    pub beta: f64,
    /// The share of `y`'s variance the line explains, `1 − SSR / SST`; NaN when `y` is constant.
    pub r_squared: f64,
    /// The standard error of the regression, `√(SSR / (n − 2))`: the residuals' sample standard
    /// deviation with the two fitted parameters as lost degrees of freedom.
    pub residual_std: f64,
    /// The number of points used (those where both `x` and `y` are numbers).
    pub n: usize,
}

/// Sums of a set of (x, y) points about their means: the batch form for `ols`, and Welford's
/// add and remove steps for the running pairs model (`pair_model`).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Moments {
    pub(super) count: usize,
    pub(super) mean_x: f64,
    pub(super) mean_y: f64,
    /// Σ (x − x̄)².
    pub(super) xx: f64,
    /// Σ (x − x̄)(y − ȳ).
    pub(super) xy: f64,
    /// Σ (y − ȳ)².
    pub(super) yy: f64,
}

/// The points where both coordinates are finite: NaN marks missing data, and one infinity would
/// turn every sum into NaN.
fn usable(
    points: impl Iterator<Item = (f64, f64)> + Clone,
) -> impl Iterator<Item = (f64, f64)> + Clone {
    points.filter(|(x, y)| x.is_finite() && y.is_finite())
}

impl Moments {
    /// Means in a first pass, centred sums in a second: the two-pass form stays accurate for
    /// prices far from zero, where `Σx² − n x̄²` would cancel catastrophically. No points give
    /// all zeros.
    pub(super) fn of(points: impl Iterator<Item = (f64, f64)> + Clone) -> Self {
        let (count, sum_x, sum_y) = points
            .clone()
            .fold((0usize, 0.0, 0.0), |(count, sum_x, sum_y), (x, y)| {
                (count + 1, sum_x + x, sum_y + y)
            });
        if count == 0 {
            return Self::default();
        }
        let (mean_x, mean_y) = (sum_x / count as f64, sum_y / count as f64);
        let (xx, xy, yy) = points.fold((0.0, 0.0, 0.0), |(xx, xy, yy), (x, y)| {
            let (dx, dy) = (x - mean_x, y - mean_y);
            (xx + dx * dx, xy + dx * dy, yy + dy * dy)
        });
        Self {
            count,
            mean_x,
            mean_y,
            xx,
            xy,
            yy,
        }
    }

    /// Welford's step: `C_n = C_{n−1} + (x − m_{n−1})(y − m_n)`.
    pub(super) fn add(&mut self, x: f64, y: f64) {
        self.count += 1;
        let size = self.count as f64;
        let (dx, dy) = (x - self.mean_x, y - self.mean_y);
        self.mean_x += dx / size;
        self.mean_y += dy / size;
        self.xx += dx * (x - self.mean_x);
        self.xy += dx * (y - self.mean_y);
        self.yy += dy * (y - self.mean_y);
    }

    /// The inverse step: `m_{n−1} = m_n − (x − m_n) / (n − 1)` and
    /// `C_{n−1} = C_n − (x − m_n)(y − m_{n−1})`.
    pub(super) fn remove(&mut self, x: f64, y: f64) {
        if self.count <= 1 {
            *self = Self::default();
            return;
        }
        self.count -= 1;
        let size = self.count as f64;
        let (dx, dy) = (x - self.mean_x, y - self.mean_y);
        self.mean_x -= dx / size;
        self.mean_y -= dy / size;
        self.xx -= dx * (x - self.mean_x);
        self.xy -= dx * (y - self.mean_y);
        self.yy -= dy * (y - self.mean_y);
    }
}

/// Fits `y = alpha + beta · x` to the points, named `what` and `x_name` in errors.
fn fit(
    points: impl Iterator<Item = (f64, f64)> + Clone,
    what: &'static str,
    x_name: &'static str,
) -> Result<Ols, IndicatorError> {
    let sums = Moments::of(usable(points.clone()));
    if sums.count < 3 {
        return Err(IndicatorError::TooFewPoints {
            what,
            needed: 3,
            got: sums.count,
        });
    }
    if sums.xx == 0.0 {
        return Err(IndicatorError::ZeroVariance { name: x_name, what });
    }
    let beta = sums.xy / sums.xx;
    let alpha = sums.mean_y - beta * sums.mean_x;
    // The residuals are summed directly rather than as `yy − beta·xy`, which cancels to noise
    // exactly when the fit is good, and the residual spread is what a pairs strategy trades on.
    let residual_squares: f64 = usable(points)
        .map(|(x, y)| {
            let residual = y - alpha - beta * x;
            residual * residual
        })
        .sum();
    let r_squared = if sums.yy == 0.0 {
        f64::NAN
    } else {
        1.0 - residual_squares / sums.yy
    };
    Ok(Ols {
        alpha,
        beta,
        r_squared,
        residual_std: (residual_squares / (sums.count - 2) as f64).sqrt(),
        n: sums.count,
    })
}

/// Ordinary least squares with an intercept: `y = alpha + beta · x`.
///
/// Positions where `x` or `y` is NaN (or infinite) are skipped. Errors when the lengths differ,
/// when fewer than 3 usable points remain (two points always fit exactly and leave no residual
/// to measure), or when `x` has zero variance.
pub fn ols(x: &[f64], y: &[f64]) -> Result<Ols, IndicatorError> {
    check_same_length(("x", x), ("y", y))?;
    fit(x.iter().copied().zip(y.iter().copied()), "ols", "x")
}

/// Pearson's correlation of `x` and `y`, in `[-1, 1]`, skipping positions where either is NaN
/// (or infinite). Errors when the lengths differ, with fewer than 2 usable points, or when either
/// input is constant (the correlation is undefined).
pub fn correlation(x: &[f64], y: &[f64]) -> Result<f64, IndicatorError> {
    check_same_length(("x", x), ("y", y))?;
    let what = "correlation";
    let sums = Moments::of(usable(x.iter().copied().zip(y.iter().copied())));
    if sums.count < 2 {
        return Err(IndicatorError::TooFewPoints {
            what,
            needed: 2,
            got: sums.count,
        });
    }
    for (name, spread) in [("x", sums.xx), ("y", sums.yy)] {
        if spread == 0.0 {
            return Err(IndicatorError::ZeroVariance { name, what });
        }
    }
    // Rounding can carry a perfect correlation a hair past ±1.
    Ok((sums.xy / (sums.xx * sums.yy).sqrt()).clamp(-1.0, 1.0))
}

/// The half-life of mean reversion of a spread, in bars.
///
/// Regresses the change `s[t] − s[t−1]` on the previous level `s[t−1]` (with an intercept); the
/// slope `λ` is the speed of reversion and the half-life is `−ln 2 / λ`, the usual definition in
/// pairs trading (the Ornstein–Uhlenbeck approximation). For an AR(1) spread `s[t] = φ s[t−1]`,
/// `λ = φ − 1`, so `φ = 0.9` gives `ln 2 / 0.1 ≈ 6.93` bars (the discrete `ln 2 / −ln φ ≈ 6.58`
/// is close for φ near 1). When `λ ≥ 0` the spread does not revert and the half-life is `+∞`.
///
/// Pairs with a NaN are skipped. Errors with fewer than 3 usable changes or a constant spread.
pub fn half_life(spread: &[f64]) -> Result<f64, IndicatorError> {
    let changes = spread.windows(2).map(|pair| (pair[0], pair[1] - pair[0]));
    let speed = fit(changes, "half_life", "spread")?.beta;
    Ok(if speed >= 0.0 {
        f64::INFINITY
    } else {
        -std::f64::consts::LN_2 / speed
    })
}

/// The rolling z-score, the same as `Series::zscore`: `(x − mean) / std` over each `window`
/// values ending at each position, with the sample standard deviation. NaN during the warm-up,
/// wherever the window holds a NaN, and where the window is constant. Errors when `window` is 0.
pub fn rolling_zscore(values: &[f64], window: usize) -> Result<Series, IndicatorError> {
    check_period("window", window)?;
    Ok(zscore(values, window))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAN: f64 = f64::NAN;

    #[test]
    fn ols_recovers_an_exact_line() -> Result<(), IndicatorError> {
        // y = 2 + 3x.
        let x = [0.0, 1.0, 2.0, 3.0, 4.0];
        let y = [2.0, 5.0, 8.0, 11.0, 14.0];
        let fit = ols(&x, &y)?;
        assert!((fit.alpha - 2.0).abs() < 1e-12);
        assert!((fit.beta - 3.0).abs() < 1e-12);
        assert!((fit.r_squared - 1.0).abs() < 1e-12);
        assert!(fit.residual_std.abs() < 1e-12);
        assert_eq!(fit.n, 5);
        Ok(())
    }

    #[test]
    fn ols_measures_residuals_that_the_line_cannot_explain() -> Result<(), IndicatorError> {
        // y = 1 + 2x + e with e = [1, −1, −1, 1]: Σe = 0 and Σxe = 0 − 1 − 2 + 3 = 0, so the
        // residuals are orthogonal to the line and the fit is still alpha 1, beta 2.
        // SSR = 4, residual std = √(4/(4−2)) = √2. y = [2, 2, 4, 8] has mean 4 and
        // SST = 4 + 4 + 0 + 16 = 24, so r² = 1 − 4/24 = 5/6.
        let x = [0.0, 1.0, 2.0, 3.0];
        let y = [2.0, 2.0, 4.0, 8.0];
        let fit = ols(&x, &y)?;
        assert!((fit.alpha - 1.0).abs() < 1e-12);
        assert!((fit.beta - 2.0).abs() < 1e-12);
        assert!((fit.residual_std - 2.0_f64.sqrt()).abs() < 1e-12);
        assert!((fit.r_squared - 5.0 / 6.0).abs() < 1e-12);
        Ok(())
    }

    #[test]
    fn ols_skips_points_where_either_coordinate_is_nan() -> Result<(), IndicatorError> {
        let x = [NAN, 0.0, 1.0, 2.0, 7.0, 3.0];
        let y = [5.0, 2.0, 5.0, 8.0, NAN, 11.0];
        let fit = ols(&x, &y)?;
        assert_eq!(fit.n, 4);
        assert!((fit.beta - 3.0).abs() < 1e-12);
        Ok(())
    }

    #[test]
    fn ols_refuses_too_few_points_a_constant_x_and_mismatched_lengths() {
        let error = ols(&[1.0, 2.0, NAN], &[1.0, 2.0, 3.0]).expect_err("two usable points");
        assert_eq!(
            error.to_string(),
            "ols needs at least 3 points where every input is a number, got 2"
        );
        let error = ols(&[1.0; 4], &[1.0, 2.0, 3.0, 4.0]).expect_err("constant x");
        assert_eq!(
            error.to_string(),
            "x has zero variance, so ols is undefined"
        );
        let error = ols(&[1.0; 4], &[1.0; 3]).expect_err("lengths differ");
        assert_eq!(
            error.to_string(),
            "x has 4 values but y has 3; they must have the same length"
        );
    }

    #[test]
    fn ols_of_a_constant_y_has_an_undefined_r_squared() -> Result<(), IndicatorError> {
        let fit = ols(&[1.0, 2.0, 3.0], &[5.0; 3])?;
        assert_eq!(fit.beta, 0.0);
        assert!(fit.r_squared.is_nan());
        Ok(())
    }

    #[test]
    fn perfectly_correlated_data_has_correlation_one_and_mirrored_data_minus_one()
    -> Result<(), IndicatorError> {
        let x = [1.0, 2.0, 4.0, 8.0, NAN];
        assert!((correlation(&x, &[3.0, 5.0, 9.0, 17.0, 1.0])? - 1.0).abs() < 1e-12);
        assert!((correlation(&x, &[-1.0, -2.0, -4.0, -8.0, NAN])? + 1.0).abs() < 1e-12);
        let error = correlation(&x, &[2.0; 5]).expect_err("constant y");
        assert_eq!(
            error.to_string(),
            "y has zero variance, so correlation is undefined"
        );
        Ok(())
    }

    #[test]
    fn half_life_of_an_ar1_spread_with_phi_nine_tenths_is_ln2_over_a_tenth()
    -> Result<(), IndicatorError> {
        // s[t] = 0.9 s[t−1] makes Δs[t] = −0.1 s[t−1] exactly: λ = −0.1, half-life = ln 2 / 0.1.
        let spread: Vec<f64> = (0..60).map(|step| 100.0 * 0.9_f64.powi(step)).collect();
        let bars = half_life(&spread)?;
        assert!(
            (bars - std::f64::consts::LN_2 / 0.1).abs() < 1e-9,
            "got {bars}"
        );
        Ok(())
    }

    #[test]
    fn half_life_with_deterministic_noise_stays_near_the_true_value() -> Result<(), IndicatorError>
    {
        // The same AR(1) pushed by small, zero-mean shocks from a fixed xorshift generator, so
        // the test is reproducible; over 5000 bars the estimate lands close to ln 2 / 0.1.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut shock = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        let mut spread = vec![0.0];
        for _ in 1..5000 {
            let next = 0.9 * spread[spread.len() - 1] + shock();
            spread.push(next);
        }
        let bars = half_life(&spread)?;
        assert!((bars - 6.93).abs() < 0.7, "got {bars}");
        Ok(())
    }

    #[test]
    fn a_spread_that_drifts_away_never_reverts() -> Result<(), IndicatorError> {
        let spread: Vec<f64> = (0..30).map(|step| 1.05_f64.powi(step)).collect();
        assert_eq!(half_life(&spread)?, f64::INFINITY);
        let error = half_life(&[3.0; 10]).expect_err("constant spread");
        assert_eq!(
            error.to_string(),
            "spread has zero variance, so half_life is undefined"
        );
        Ok(())
    }

    #[test]
    fn rolling_zscore_is_the_series_method() -> Result<(), IndicatorError> {
        let values = [1.0, 3.0, 2.0, 5.0, 4.0, NAN, 6.0, 7.0, 9.0];
        let free = rolling_zscore(&values, 3)?;
        let method = Series::from_slice(&values).zscore(3)?;
        assert_eq!(free.len(), method.len());
        for (left, right) in free.values().iter().zip(method.values()) {
            assert!(left.to_bits() == right.to_bits());
        }
        Ok(())
    }
}
