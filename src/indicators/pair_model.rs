//! The pairs model kept up to date point by point: the hedge ratio (OLS of `y` on `x` over the
//! last `lookback` points), its intercept and r², the latest spread `y − beta · x − alpha`, and
//! that spread's z-score over the last `window` points under the current fit — one more point
//! costs O(1) instead of a fresh fit over the lookback.
//!
//! The numbers are those of [`super::ols`] followed by `Series::zscore` on the spread series: the
//! z-score is the last spread's distance from the window's mean spread in *sample* standard
//! deviations (n − 1). Under one line, the window's spread moments follow from the window's
//! moments of `x` and `y`: `mean_s = ȳ − beta · x̄ − alpha` and
//! `(n − 1) var_s = Syy − 2 beta Sxy + beta² Sxx`, so the z-score needs no spread series.
//!
//! Both sets of moments (the lookback's and the window's) are kept centred on their means and
//! updated by Welford's add and remove steps, whose rounding is relative to the deviations rather
//! than to the prices. What rounding still accumulates is bounded by summing both sets afresh (two
//! passes, as `ols` does) every `lookback` points.

use std::collections::VecDeque;

use super::IndicatorError;
use super::statistics::Moments;

/// What the model says after the latest point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairFit {
    /// The hedge ratio: the slope of `y` on `x`.
    pub beta: f64,
    /// The intercept.
    pub alpha: f64,
    /// The share of `y`'s variance the line explains; NaN when `y` is constant.
    pub r_squared: f64,
    /// The latest spread `y − beta · x − alpha`.
    pub spread: f64,
    /// The latest spread's z-score over the window; NaN while fewer than `window` points are
    /// held and when the window's spread is flat.
    pub zscore: f64,
    /// The points the fit used.
    pub points: usize,
}

/// The rolling pairs model over the last `lookback` points `(x, y)`.
#[derive(Debug, Clone)]
pub struct PairModel {
    lookback: usize,
    window: usize,
    /// The points held, oldest first.
    points: VecDeque<(f64, f64)>,
    /// Over every point held.
    whole: Moments,
    /// Over the last `window` points held (fewer while warming up).
    recent: Moments,
    /// Points added since both moments were last summed afresh.
    updates: usize,
    /// How many of the latest points have exactly the latest `x` (and `y`): an exactly flat leg
    /// is known as flat whatever rounding the running moments carry.
    streak_x: usize,
    streak_y: usize,
}

impl PairModel {
    /// An empty model; `lookback` must be at least 3 and `window` between 2 and `lookback`.
    pub fn new(lookback: usize, window: usize) -> Result<Self, IndicatorError> {
        if lookback < 3 {
            return Err(IndicatorError::TooSmall {
                name: "lookback",
                minimum: 3,
                value: lookback,
            });
        }
        if window < 2 {
            return Err(IndicatorError::TooSmall {
                name: "window",
                minimum: 2,
                value: window,
            });
        }
        if window > lookback {
            return Err(IndicatorError::TooSmall {
                name: "lookback",
                minimum: window,
                value: lookback,
            });
        }
        Ok(Self {
            lookback,
            window,
            points: VecDeque::with_capacity(lookback + 1),
            whole: Moments::default(),
            recent: Moments::default(),
            updates: 0,
            streak_x: 0,
            streak_y: 0,
        })
    }

    /// A model fitted afresh to the last `lookback` points of `x` and `y` (of equal length).
    pub fn from_history(
        lookback: usize,
        window: usize,
        x: &[f64],
        y: &[f64],
    ) -> Result<Self, IndicatorError> {
        super::check_same_length(("x", x), ("y", y))?;
        let mut model = Self::new(lookback, window)?;
        let start = x.len().saturating_sub(lookback);
        for (&x, &y) in x[start..].iter().zip(&y[start..]) {
            check_point(x, y)?;
            model.count_streaks(x, y);
            model.points.push_back((x, y));
        }
        model.resum();
        Ok(model)
    }

    /// The lookback it fits over.
    pub fn lookback(&self) -> usize {
        self.lookback
    }

    /// The window of the z-score.
    pub fn window(&self) -> usize {
        self.window
    }

    /// The number of points held.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether no point is held.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Adds the next point, dropping the oldest beyond the lookback. Points must be finite (a
    /// pairs model runs on log prices, and prices are positive).
    pub fn push(&mut self, x: f64, y: f64) -> Result<(), IndicatorError> {
        check_point(x, y)?;
        self.count_streaks(x, y);
        self.points.push_back((x, y));
        self.whole.add(x, y);
        self.recent.add(x, y);
        if self.points.len() > self.window {
            let (old_x, old_y) = self.points[self.points.len() - 1 - self.window];
            self.recent.remove(old_x, old_y);
        }
        if self.points.len() > self.lookback
            && let Some((old_x, old_y)) = self.points.pop_front()
        {
            self.whole.remove(old_x, old_y);
        }
        self.updates += 1;
        if self.updates >= self.lookback {
            self.resum();
        }
        Ok(())
    }

    /// Both moments summed afresh from the points held: the running updates' rounding never
    /// builds up over more than one lookback of points.
    fn resum(&mut self) {
        self.whole = Moments::of(self.points.iter().copied());
        let recent = self.points.len().saturating_sub(self.window);
        self.recent = Moments::of(self.points.range(recent..).copied());
        self.updates = 0;
    }

    fn count_streaks(&mut self, x: f64, y: f64) {
        let (streak_x, streak_y) = match self.points.back() {
            Some(&(last_x, last_y)) => (
                if last_x == x { self.streak_x + 1 } else { 1 },
                if last_y == y { self.streak_y + 1 } else { 1 },
            ),
            None => (1, 1),
        };
        self.streak_x = streak_x;
        self.streak_y = streak_y;
    }

    /// The fit and z-score at the latest point. Errors with fewer than 3 points or when `x` is
    /// constant over the lookback (the slope is undefined, as for `ols`).
    pub fn fit(&self) -> Result<PairFit, IndicatorError> {
        let count = self.points.len();
        if count < 3 {
            return Err(IndicatorError::TooFewPoints {
                what: "pair model",
                needed: 3,
                got: count,
            });
        }
        let whole = &self.whole;
        // Running removals can leave a hair of variance (or a hair below zero) where the data
        // are exactly flat; the streak says so exactly.
        if self.streak_x >= count || whole.xx <= 0.0 {
            return Err(IndicatorError::ZeroVariance {
                name: "x",
                what: "pair model",
            });
        }
        let beta = whole.xy / whole.xx;
        let alpha = whole.mean_y - beta * whole.mean_x;
        let r_squared = if self.streak_y >= count || whole.yy <= 0.0 {
            f64::NAN
        } else {
            // SSR = Syy − beta · Sxy at the least-squares slope; it cannot be negative, so a
            // negative value is rounding of a near-perfect fit.
            let residual_squares = (whole.yy - beta * whole.xy).max(0.0);
            1.0 - residual_squares / whole.yy
        };
        let (last_x, last_y) = self.points.back().copied().unwrap_or((f64::NAN, f64::NAN));
        // Relative to the means, not `y − beta·x − alpha` on raw log prices: the same number,
        // without subtracting quantities of the prices' size.
        let spread = (last_y - whole.mean_y) - beta * (last_x - whole.mean_x);
        Ok(PairFit {
            beta,
            alpha,
            r_squared,
            spread,
            zscore: self.zscore(beta, last_x, last_y),
            points: count,
        })
    }

    /// The latest spread's z-score over the window under the slope `beta`.
    fn zscore(&self, beta: f64, last_x: f64, last_y: f64) -> f64 {
        let recent = &self.recent;
        let flat = self.streak_x >= self.window && self.streak_y >= self.window;
        if self.points.len() < self.window || flat {
            return f64::NAN;
        }
        let squares = recent.yy - 2.0 * beta * recent.xy + beta * beta * recent.xx;
        // The three terms cancel when the window's spread is (nearly) flat; below this share of
        // their size what is left is the moments' rounding (relative error well under 1e-12
        // after at most one lookback of updates), not a spread.
        let scale = recent.yy + beta * beta * recent.xx;
        if squares <= ROUNDING * scale {
            return f64::NAN;
        }
        let distance = (last_y - recent.mean_y) - beta * (last_x - recent.mean_x);
        distance / (squares / (self.window - 1) as f64).sqrt()
    }
}

/// The share of the window's moments below which the spread's variance is rounding.
const ROUNDING: f64 = 1e-12;

fn check_point(x: f64, y: f64) -> Result<(), IndicatorError> {
    super::check_finite("x", x)?;
    super::check_finite("y", y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::{Series, ols};

    /// A deterministic pair: x wanders, y follows it with a mean-reverting spread.
    fn pair(count: usize) -> (Vec<f64>, Vec<f64>) {
        let (mut x, mut spread, mut state) = (4.0_f64, 0.0_f64, 7_u64);
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 11) as f64 / (1u64 << 53) as f64) - 0.5
        };
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        for _ in 0..count {
            x += 0.004 * next();
            spread = 0.95 * spread + 0.006 * next();
            xs.push(x);
            ys.push(0.3 + 0.8 * x + spread);
        }
        (xs, ys)
    }

    /// What the script computed before: OLS, the spread series, its rolling z-score.
    fn reference(x: &[f64], y: &[f64], window: usize) -> (f64, f64, f64, f64) {
        let fit = ols(x, y).expect("fit");
        let spread: Vec<f64> = x
            .iter()
            .zip(y)
            .map(|(x, y)| y - fit.beta * x - fit.alpha)
            .collect();
        let z = Series::new(spread.clone())
            .zscore(window)
            .expect("zscore")
            .last()
            .unwrap_or(f64::NAN);
        (fit.beta, fit.alpha, spread[spread.len() - 1], z)
    }

    #[test]
    fn the_running_model_follows_a_fresh_fit_on_a_synthetic_pair() -> Result<(), IndicatorError> {
        let (x, y) = pair(3000);
        let (lookback, window) = (500, 60);
        let mut model = PairModel::new(lookback, window)?;
        for end in 1..=x.len() {
            model.push(x[end - 1], y[end - 1])?;
            if end < 3 {
                assert!(model.fit().is_err());
                continue;
            }
            let start = end.saturating_sub(lookback);
            let (beta, alpha, spread, z) = reference(&x[start..end], &y[start..end], window);
            let fit = model.fit()?;
            // A well-conditioned synthetic pair (x spreads over ~0.1 after a few points): the
            // relative agreement is limited by the reference's own rounding.
            let close = |got: f64, want: f64, scale: f64| (got - want).abs() <= 1e-8 * scale;
            assert!(close(fit.beta, beta, beta.abs().max(1.0)), "beta at {end}");
            assert!(
                close(fit.alpha, alpha, alpha.abs().max(1.0)),
                "alpha at {end}"
            );
            assert!(close(fit.spread, spread, 1e-3), "spread at {end}");
            if end >= window {
                assert!(close(fit.zscore, z, z.abs().max(1.0)), "z at {end}");
            } else {
                assert!(fit.zscore.is_nan());
            }
        }
        Ok(())
    }

    #[test]
    fn a_flat_leg_has_no_hedge_ratio_and_a_flat_spread_no_zscore() -> Result<(), IndicatorError> {
        let mut model = PairModel::new(10, 4)?;
        for step in 0..30 {
            model.push(1.0 + 0.1 * f64::from(step), 2.0)?;
        }
        for _ in 0..10 {
            model.push(4.1, 2.0)?;
        }
        assert!(matches!(
            model.fit(),
            Err(IndicatorError::ZeroVariance { .. })
        ));
        let mut model = PairModel::new(10, 4)?;
        for step in 0..12 {
            model.push(f64::from(step % 3), f64::from(step % 5))?;
        }
        for _ in 0..4 {
            model.push(3.0, 3.0)?;
        }
        let fit = model.fit()?;
        assert!(fit.zscore.is_nan() && fit.beta.is_finite());
        Ok(())
    }

    #[test]
    fn bad_parameters_and_points_are_refused() {
        assert!(PairModel::new(2, 2).is_err());
        assert!(PairModel::new(10, 1).is_err());
        assert!(PairModel::new(10, 11).is_err());
        assert!(PairModel::from_history(10, 4, &[1.0], &[1.0, 2.0]).is_err());
        assert!(PairModel::from_history(10, 4, &[1.0, f64::NAN], &[1.0, 2.0]).is_err());
        let mut model = PairModel::new(10, 4).expect("valid parameters");
        assert!(model.push(f64::INFINITY, 1.0).is_err());
        assert!(model.is_empty());
    }

    #[test]
    fn a_model_from_history_is_the_same_as_one_pushed_point_by_point() -> Result<(), IndicatorError>
    {
        let (x, y) = pair(700);
        let fresh = PairModel::from_history(500, 60, &x, &y)?.fit()?;
        let mut pushed = PairModel::new(500, 60)?;
        for (&x, &y) in x.iter().zip(&y) {
            pushed.push(x, y)?;
        }
        let pushed = pushed.fit()?;
        assert_eq!(fresh.points, 500);
        assert!((fresh.beta - pushed.beta).abs() <= 1e-9 * fresh.beta.abs());
        assert!((fresh.zscore - pushed.zscore).abs() <= 1e-9 * fresh.zscore.abs().max(1.0));
        Ok(())
    }
}
