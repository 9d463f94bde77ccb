//! The pairs model kept up to date bar by bar: the hedge ratio (OLS of `y` on `x` over the last
//! `lookback` points) and the rolling z-score of the current line's spread over the last `window`
//! points, from running sums, so one more bar costs O(1) instead of a fresh fit over the lookback.
//!
//! The numbers are those of `ols` followed by `Series::zscore` on the spread
//! `y − beta · x − alpha`: the z-score is the last spread's distance from the window's mean spread
//! in *sample* standard deviations (n − 1), computed from the window's sums as
//! `mean_s = ȳ − beta · x̄ − alpha` and `(n − 1) var_s = Syy + beta² Sxx − 2 beta Sxy`.

use std::collections::VecDeque;

use super::IndicatorError;

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
    /// The latest spread's rolling z-score over the window; NaN when the window's spread is flat.
    pub zscore: f64,
    /// The points the fit used.
    pub points: usize,
}

/// Sums of points shifted by an origin, so that prices far from zero do not cancel when the
/// centred sums `Σx² − n x̄²` are formed.
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    count: usize,
    x: f64,
    y: f64,
    xx: f64,
    xy: f64,
    yy: f64,
}

/// Centred sums: means and the sums of squares and products about them.
#[derive(Debug, Clone, Copy)]
struct Centred {
    mean_x: f64,
    mean_y: f64,
    xx: f64,
    xy: f64,
    yy: f64,
}

impl Sums {
    fn add(&mut self, x: f64, y: f64) {
        self.count += 1;
        self.x += x;
        self.y += y;
        self.xx += x * x;
        self.xy += x * y;
        self.yy += y * y;
    }

    fn remove(&mut self, x: f64, y: f64) {
        self.count -= 1;
        self.x -= x;
        self.y -= y;
        self.xx -= x * x;
        self.xy -= x * y;
        self.yy -= y * y;
    }

    fn of(points: impl Iterator<Item = (f64, f64)>) -> Self {
        let mut sums = Self::default();
        for (x, y) in points {
            sums.add(x, y);
        }
        sums
    }

    /// The centred sums; the squares never go below zero through rounding.
    fn centred(&self) -> Centred {
        let size = self.count as f64;
        let (mean_x, mean_y) = (self.x / size, self.y / size);
        Centred {
            mean_x,
            mean_y,
            xx: (self.xx - mean_x * self.x).max(0.0),
            xy: self.xy - mean_x * self.y,
            yy: (self.yy - mean_y * self.y).max(0.0),
        }
    }
}

/// The rolling pairs model over the last `lookback` points `(x, y)`.
#[derive(Debug, Clone)]
pub struct PairModel {
    lookback: usize,
    window: usize,
    /// The points held, oldest first, shifted by `origin`.
    points: VecDeque<(f64, f64)>,
    /// Subtracted from every point: a recent point, so the shifted values stay small.
    origin: (f64, f64),
    /// Over every point held.
    whole: Sums,
    /// Over the last `window` points held (fewer while warming up).
    recent: Sums,
    /// Points added since the sums were last summed afresh.
    slides: usize,
    /// How many of the latest points have the same `x` (and the same `y`): a run as long as
    /// the data is exactly flat, whatever rounding left in the running sums.
    streak_x: usize,
    streak_y: usize,
    /// The latest point as given, unshifted (shifting and unshifting may round).
    latest: Option<(f64, f64)>,
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
            origin: (0.0, 0.0),
            whole: Sums::default(),
            recent: Sums::default(),
            slides: 0,
            streak_x: 0,
            streak_y: 0,
            latest: None,
        })
    }

    /// A model fitted from scratch to the last `lookback` points of `x` and `y` (same length).
    pub fn from_history(
        lookback: usize,
        window: usize,
        x: &[f64],
        y: &[f64],
    ) -> Result<Self, IndicatorError> {
        super::check_same_length(("x", x), ("y", y))?;
        let mut model = Self::new(lookback, window)?;
        let start = x.len().saturating_sub(lookback);
        model.reset(&x[start..], &y[start..]);
        Ok(model)
    }

    /// The number of points held.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether no point is held.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Replaces the points with `x` and `y` (at most `lookback` of them, the caller's slices of
    /// equal length) and sums them afresh.
    fn reset(&mut self, x: &[f64], y: &[f64]) {
        let origin = (
            x.last().copied().unwrap_or(0.0),
            y.last().copied().unwrap_or(0.0),
        );
        self.points.clear();
        self.points
            .extend(x.iter().zip(y).map(|(x, y)| (x - origin.0, y - origin.1)));
        self.origin = origin;
        self.streak_x = trailing_equal(x);
        self.streak_y = trailing_equal(y);
        self.latest = x.last().copied().zip(y.last().copied());
        self.resum();
    }

    /// Sums the held points afresh about a new origin, the latest point: the running sums'
    /// rounding never builds up over more than one lookback of updates.
    fn resum(&mut self) {
        if let Some(&(last_x, last_y)) = self.points.back() {
            for point in &mut self.points {
                *point = (point.0 - last_x, point.1 - last_y);
            }
            self.origin = (self.origin.0 + last_x, self.origin.1 + last_y);
        }
        self.whole = Sums::of(self.points.iter().copied());
        let recent = self.points.len().saturating_sub(self.window);
        self.recent = Sums::of(self.points.range(recent..).copied());
        self.slides = 0;
    }

    /// Adds the next point, dropping the oldest beyond the lookback.
    pub fn push(&mut self, x: f64, y: f64) {
        let previous = self.latest.replace((x, y));
        self.streak_x = match previous {
            Some((last_x, _)) if last_x == x => self.streak_x + 1,
            _ => 1,
        };
        self.streak_y = match previous {
            Some((_, last_y)) if last_y == y => self.streak_y + 1,
            _ => 1,
        };
        let point = (x - self.origin.0, y - self.origin.1);
        self.points.push_back(point);
        self.whole.add(point.0, point.1);
        self.recent.add(point.0, point.1);
        if self.points.len() > self.window {
            let (old_x, old_y) = self.points[self.points.len() - 1 - self.window];
            self.recent.remove(old_x, old_y);
        }
        if self.points.len() > self.lookback
            && let Some((old_x, old_y)) = self.points.pop_front()
        {
            self.whole.remove(old_x, old_y);
        }
        self.slides += 1;
        if self.slides >= self.lookback {
            self.resum();
        }
    }

    /// The fit and z-score at the latest point. Errors with fewer than `window` points (and
    /// fewer than 3) or when `x` is constant over the lookback; the z-score is NaN when the
    /// window's spread is flat.
    pub fn fit(&self) -> Result<PairFit, IndicatorError> {
        let count = self.points.len();
        let needed = self.window.max(3);
        if count < needed {
            return Err(IndicatorError::TooFewPoints {
                what: "pair model",
                needed,
                got: count,
            });
        }
        let whole = self.whole.centred();
        if self.streak_x >= count || whole.xx <= 0.0 {
            return Err(IndicatorError::ZeroVariance {
                name: "x",
                what: "pair model",
            });
        }
        let beta = whole.xy / whole.xx;
        // The intercept in shifted coordinates, then moved back to the data's.
        let shifted_alpha = whole.mean_y - beta * whole.mean_x;
        let alpha = shifted_alpha + self.origin.1 - beta * self.origin.0;
        let flat_y = self.streak_y >= count || whole.yy <= 0.0;
        let r_squared = if flat_y {
            f64::NAN
        } else {
            // SSR = Syy − beta · Sxy, the residual sum of squares at the least-squares slope.
            let residual_squares = (whole.yy - beta * whole.xy).max(0.0);
            1.0 - residual_squares / whole.yy
        };
        let (last_x, last_y) = self.points.back().copied().unwrap_or((0.0, 0.0));
        let spread = last_y - beta * last_x - shifted_alpha;
        let recent = self.recent.centred();
        let flat_window = self.streak_x >= self.window && self.streak_y >= self.window;
        let squares = recent.yy + beta * beta * recent.xx - 2.0 * beta * recent.xy;
        // Below this, what is left of the window's spread is the rounding of the three terms
        // that cancelled, not a spread.
        let noise = 1e-12 * (recent.yy + beta * beta * recent.xx);
        let zscore = if flat_window || squares <= noise {
            f64::NAN
        } else {
            let distance = (last_y - recent.mean_y) - beta * (last_x - recent.mean_x);
            distance / (squares / (self.window - 1) as f64).sqrt()
        };
        Ok(PairFit {
            beta,
            alpha,
            r_squared,
            spread,
            zscore,
            points: count,
        })
    }
}

/// How many of the last values equal the last one (0 for none).
fn trailing_equal(values: &[f64]) -> usize {
    match values.last() {
        None => 0,
        Some(last) => values
            .iter()
            .rev()
            .take_while(|value| *value == last)
            .count(),
    }
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
    fn the_running_model_matches_a_fresh_fit_at_every_bar() -> Result<(), IndicatorError> {
        let (x, y) = pair(3000);
        let (lookback, window) = (500, 60);
        let mut model = PairModel::new(lookback, window)?;
        for end in 1..=x.len() {
            model.push(x[end - 1], y[end - 1]);
            if end < window {
                assert!(model.fit().is_err());
                continue;
            }
            let start = end.saturating_sub(lookback);
            let (beta, alpha, spread, z) = reference(&x[start..end], &y[start..end], window);
            let fit = model.fit()?;
            assert!((fit.beta - beta).abs() < 1e-9, "beta at {end}");
            assert!((fit.alpha - alpha).abs() < 1e-9, "alpha at {end}");
            assert!((fit.spread - spread).abs() < 1e-9, "spread at {end}");
            assert!(
                (fit.zscore - z).abs() < 1e-9,
                "z at {end}: {} {z}",
                fit.zscore
            );
        }
        Ok(())
    }

    #[test]
    fn a_flat_leg_has_no_hedge_ratio_and_a_flat_spread_no_zscore() -> Result<(), IndicatorError> {
        let mut model = PairModel::new(10, 4)?;
        for step in 0..30 {
            model.push(1.0 + 0.1 * step as f64, 2.0);
        }
        for _ in 0..10 {
            model.push(4.1, 2.0);
        }
        assert!(matches!(
            model.fit(),
            Err(IndicatorError::ZeroVariance { .. })
        ));
        let mut model = PairModel::new(10, 4)?;
        for step in 0..12 {
            model.push(f64::from(step % 3), f64::from(step % 5));
        }
        for _ in 0..4 {
            model.push(3.0, 3.0);
        }
        let fit = model.fit()?;
        assert!(fit.zscore.is_nan() && fit.beta.is_finite());
        Ok(())
    }

    #[test]
    fn parameters_out_of_range_are_refused() {
        assert!(PairModel::new(2, 2).is_err());
        assert!(PairModel::new(10, 1).is_err());
        assert!(PairModel::new(10, 11).is_err());
        assert!(PairModel::from_history(10, 4, &[1.0], &[1.0, 2.0]).is_err());
    }
}
