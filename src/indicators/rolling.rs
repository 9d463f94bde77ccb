//! Rolling-window statistics in O(n): running moments for sum, mean, standard deviation and
//! z-score, a monotonic queue for minimum and maximum, and the `Series::rolling_*` methods.

use std::collections::VecDeque;

use super::{IndicatorError, Series, check_period};

/// How many window slides the running moments may take before they are recomputed exactly.
///
/// Welford's sliding update is stable step by step, but its rounding error is absolute: after a
/// stretch of large values, a later window of small, quiet values would inherit the old error.
/// Recomputing every `max(window, RESYNC_MIN_SLIDES)` slides bounds that drift while adding at
/// most two passes' worth of work per value on average.
const RESYNC_MIN_SLIDES: usize = 1024;

/// Calls `kernel(start, run)` for every maximal run of finite values, where `start` is the run's
/// position in `values`. Windows never straddle a NaN or an infinity this way, which is what makes
/// those windows NaN in the output (the output buffer starts as all NaN).
pub(super) fn for_each_finite_run(values: &[f64], mut kernel: impl FnMut(usize, &[f64])) {
    let mut start = 0;
    while start < values.len() {
        let length = values[start..]
            .iter()
            .position(|value| !value.is_finite())
            .unwrap_or(values.len() - start);
        if length > 0 {
            kernel(start, &values[start..start + length]);
        }
        start += length + 1;
    }
}

/// The mean and the sum of squared deviations from it, by two passes (exact to rounding).
fn exact_moments(window: &[f64]) -> (f64, f64) {
    let mean = window.iter().sum::<f64>() / window.len() as f64;
    let squares = window
        .iter()
        .map(|value| (value - mean) * (value - mean))
        .sum();
    (mean, squares)
}

/// Calls `emit(index, mean, squares)` for every position whose window of `window` values is all
/// finite, where `squares` is the sum of squared deviations from the mean (never negative).
///
/// `window` must be at least 1; callers check it so their error can name their parameter.
pub(super) fn rolling_moments(
    values: &[f64],
    window: usize,
    mut emit: impl FnMut(usize, f64, f64),
) {
    debug_assert!(window >= 1, "callers check the window");
    let resync_every = window.max(RESYNC_MIN_SLIDES);
    let size = window as f64;
    for_each_finite_run(values, |start, run| {
        if run.len() < window {
            return;
        }
        let (mut mean, mut squares) = exact_moments(&run[..window]);
        // A window of identical values has exactly zero spread; tracking the length of the
        // current streak of equal values keeps rounding from inventing a tiny one, which would
        // turn the z-score of a flat price into noise.
        let mut streak = 1 + run[..window]
            .windows(2)
            .rev()
            .take_while(|pair| pair[0] == pair[1])
            .count();
        emit(start + window - 1, mean, squares.max(0.0));
        let mut slides = 0;
        for end in window..run.len() {
            let (old, new) = (run[end - window], run[end]);
            streak = if new == run[end - 1] { streak + 1 } else { 1 };
            slides += 1;
            if slides == resync_every {
                (mean, squares) = exact_moments(&run[end + 1 - window..=end]);
                slides = 0;
            } else {
                let delta = new - old;
                let previous_mean = mean;
                mean += delta / size;
                squares += delta * (new - mean + old - previous_mean);
            }
            if streak >= window {
                emit(start + end, new, 0.0);
            } else {
                emit(start + end, mean, squares.max(0.0));
            }
        }
    });
}

/// The rolling mean over `window` values (the caller has checked `window >= 1`).
pub(super) fn mean(values: &[f64], window: usize) -> Series {
    Series::build(values.len(), |out| {
        rolling_moments(values, window, |index, mean, _| out[index] = mean);
    })
}

/// The rolling standard deviation with `ddof` delta degrees of freedom, times `scale` (the
/// caller has checked `window >= 1`). NaN where the window has no more than `ddof` values.
pub(super) fn std(values: &[f64], window: usize, ddof: usize, scale: f64) -> Series {
    Series::build(values.len(), |out| {
        if window <= ddof {
            return;
        }
        let divisor = (window - ddof) as f64;
        rolling_moments(values, window, |index, _, squares| {
            out[index] = (squares / divisor).sqrt() * scale;
        });
    })
}

/// The rolling z-score `(x - mean) / std` with the sample standard deviation, NaN where the
/// window is constant (the z-score is undefined there).
pub(super) fn zscore(values: &[f64], window: usize) -> Series {
    Series::build(values.len(), |out| {
        if window < 2 {
            return;
        }
        let divisor = (window - 1) as f64;
        rolling_moments(values, window, |index, mean, squares| {
            out[index] = if squares > 0.0 {
                (values[index] - mean) / (squares / divisor).sqrt()
            } else {
                f64::NAN
            };
        });
    })
}

/// The rolling extreme over `window` values: the maximum when `keeps(candidate, newer)` is `>`,
/// the minimum when it is `<`.
///
/// A queue holds the positions that can still become the extreme, their values ordered from
/// best to worst; each position enters and leaves it once, so the whole pass is O(n).
fn extreme(values: &[f64], window: usize, keeps: fn(f64, f64) -> bool) -> Series {
    let mut queue: VecDeque<usize> = VecDeque::with_capacity(window.min(values.len()));
    Series::build(values.len(), |out| {
        for_each_finite_run(values, |start, run| {
            queue.clear();
            for (end, &value) in run.iter().enumerate() {
                while queue.back().is_some_and(|&back| !keeps(run[back], value)) {
                    queue.pop_back();
                }
                queue.push_back(end);
                if queue.front().is_some_and(|&front| end - front >= window) {
                    queue.pop_front();
                }
                if end + 1 >= window
                    && let Some(&front) = queue.front()
                {
                    out[start + end] = run[front];
                }
            }
        });
    })
}

impl Series {
    /// The sum of each `window` values ending at each position (NaN during the warm-up and
    /// wherever the window holds a NaN). Errors when `window` is 0; all NaN when it exceeds the
    /// length.
    pub fn rolling_sum(&self, window: usize) -> Result<Series, IndicatorError> {
        check_period("window", window)?;
        let size = window as f64;
        Ok(Series::build(self.len(), |out| {
            rolling_moments(self.values(), window, |index, mean, _| {
                out[index] = mean * size;
            });
        }))
    }

    /// The mean of each `window` values ending at each position (NaN during the warm-up and
    /// wherever the window holds a NaN). Errors when `window` is 0; all NaN when it exceeds the
    /// length.
    pub fn rolling_mean(&self, window: usize) -> Result<Series, IndicatorError> {
        check_period("window", window)?;
        Ok(mean(self.values(), window))
    }

    /// The *sample* standard deviation (ddof = 1, as pandas) of each `window` values ending at
    /// each position; NaN during the warm-up, wherever the window holds a NaN, and everywhere when
    /// `window` is 1. Errors when `window` is 0.
    pub fn rolling_std(&self, window: usize) -> Result<Series, IndicatorError> {
        self.rolling_std_ddof(window, 1)
    }

    /// The standard deviation of each `window` values with `ddof` delta degrees of freedom
    /// (0 = population, as TA-Lib; 1 = sample, as pandas). NaN when `window <= ddof`. Errors
    /// when `window` is 0.
    pub fn rolling_std_ddof(&self, window: usize, ddof: usize) -> Result<Series, IndicatorError> {
        check_period("window", window)?;
        Ok(std(self.values(), window, ddof, 1.0))
    }

    /// The smallest of each `window` values ending at each position (NaN during the warm-up and
    /// wherever the window holds a NaN). Errors when `window` is 0.
    pub fn rolling_min(&self, window: usize) -> Result<Series, IndicatorError> {
        check_period("window", window)?;
        Ok(extreme(self.values(), window, |kept, newer| kept < newer))
    }

    /// The largest of each `window` values ending at each position (NaN during the warm-up and
    /// wherever the window holds a NaN). Errors when `window` is 0.
    pub fn rolling_max(&self, window: usize) -> Result<Series, IndicatorError> {
        check_period("window", window)?;
        Ok(extreme(self.values(), window, |kept, newer| kept > newer))
    }

    /// The rolling z-score: `(x - rolling_mean) / rolling_std` over each `window` values ending at
    /// each position, with the sample standard deviation. NaN during the warm-up, wherever the
    /// window holds a NaN, where the window is constant, and everywhere when `window` is 1.
    /// Errors when `window` is 0.
    pub fn zscore(&self, window: usize) -> Result<Series, IndicatorError> {
        check_period("window", window)?;
        Ok(zscore(self.values(), window))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NAN: f64 = f64::NAN;

    fn assert_close(actual: &Series, expected: &[f64]) {
        assert_eq!(actual.len(), expected.len(), "length of {actual:?}");
        for (index, (&got, &want)) in actual.values().iter().zip(expected).enumerate() {
            assert!(
                (got.is_nan() && want.is_nan()) || (got - want).abs() < 1e-12,
                "at {index}: got {got}, expected {want} in {actual:?}"
            );
        }
    }

    const VALUES: [f64; 5] = [1.0, 3.0, 2.0, 5.0, 4.0];

    #[test]
    fn rolling_statistics_over_three_values_match_the_arithmetic() -> Result<(), IndicatorError> {
        let series = Series::from_slice(&VALUES);
        // Windows [1,3,2], [3,2,5], [2,5,4].
        assert_close(&series.rolling_sum(3)?, &[NAN, NAN, 6.0, 10.0, 11.0]);
        assert_close(
            &series.rolling_mean(3)?,
            &[NAN, NAN, 2.0, 10.0 / 3.0, 11.0 / 3.0],
        );
        assert_close(&series.rolling_min(3)?, &[NAN, NAN, 1.0, 2.0, 2.0]);
        assert_close(&series.rolling_max(3)?, &[NAN, NAN, 3.0, 5.0, 5.0]);
        // Squared deviations: 1+1+0 = 2; (1/3)²+(4/3)²+(5/3)² = 42/9; (5/3)²+(4/3)²+(1/3)² = 42/9.
        // Sample variance divides by 2: 1, 7/3, 7/3; population by 3: 2/3, 14/9, 14/9.
        let spread = (7.0_f64 / 3.0).sqrt();
        assert_close(&series.rolling_std(3)?, &[NAN, NAN, 1.0, spread, spread]);
        let population = (14.0_f64 / 9.0).sqrt();
        assert_close(
            &series.rolling_std_ddof(3, 0)?,
            &[NAN, NAN, (2.0_f64 / 3.0).sqrt(), population, population],
        );
        Ok(())
    }

    #[test]
    fn zscore_measures_the_last_value_against_its_own_window() -> Result<(), IndicatorError> {
        // (2 − 2)/1 = 0; (5 − 10/3)/√(7/3); (4 − 11/3)/√(7/3).
        let spread = (7.0_f64 / 3.0).sqrt();
        let expected = [NAN, NAN, 0.0, (5.0 / 3.0) / spread, (1.0 / 3.0) / spread];
        assert_close(&Series::from_slice(&VALUES).zscore(3)?, &expected);
        Ok(())
    }

    #[test]
    fn zscore_of_a_constant_window_is_nan_even_when_the_mean_does_not_round_exactly()
    -> Result<(), IndicatorError> {
        // Three 0.1s sum to 0.30000000000000004, so a naive mean is off by a hair and a naive
        // standard deviation is a tiny positive number instead of zero.
        let series = Series::from_slice(&[0.3, 0.1, 0.1, 0.1, 0.1, 0.2]);
        let scores = series.zscore(3)?;
        assert!(scores.values()[3..5].iter().all(|value| value.is_nan()));
        assert!(scores.values()[5].is_finite());
        assert_eq!(series.rolling_std(3)?.values()[4], 0.0);
        Ok(())
    }

    #[test]
    fn a_nan_blanks_exactly_the_windows_that_hold_it() -> Result<(), IndicatorError> {
        let series = Series::from_slice(&[1.0, 2.0, NAN, 4.0, 5.0, 6.0]);
        assert_close(&series.rolling_mean(2)?, &[NAN, 1.5, NAN, NAN, 4.5, 5.5]);
        assert_close(&series.rolling_max(2)?, &[NAN, 2.0, NAN, NAN, 5.0, 6.0]);
        assert_close(&series.rolling_min(2)?, &[NAN, 1.0, NAN, NAN, 4.0, 5.0]);
        Ok(())
    }

    #[test]
    fn a_window_of_zero_is_refused_and_one_longer_than_the_data_is_all_nan() {
        let series = Series::from_slice(&VALUES);
        let error = series.rolling_mean(0).expect_err("window 0");
        assert_eq!(error.to_string(), "window must be at least 1, got 0");
        for result in [
            series.rolling_sum(0),
            series.rolling_std(0),
            series.rolling_min(0),
            series.rolling_max(0),
            series.zscore(0),
        ] {
            assert!(result.is_err());
        }
        let long = series.rolling_std(6).expect("long windows are allowed");
        assert_close(&long, &[NAN; 5]);
        let single = series.rolling_std(1).expect("window 1 is allowed");
        assert_close(&single, &[NAN; 5]);
    }

    #[test]
    fn rolling_std_stays_accurate_after_a_regime_of_huge_values() -> Result<(), IndicatorError> {
        // Values near 1e8 leave absolute rounding error in running sums that would swamp the
        // quiet values near 1 that follow, unless the moments are recomputed now and then.
        let values: Vec<f64> = (0..20_000)
            .map(|index| {
                let wiggle = (f64::from(index) * 0.7).sin();
                if index < 10_000 {
                    1e8 + 1e3 * wiggle
                } else {
                    1.0 + 1e-3 * wiggle
                }
            })
            .collect();
        let rolling = Series::from_slice(&values).rolling_std(50)?;
        for end in 15_000..values.len() {
            let expected = naive_std(&values[end - 49..=end], 1);
            let got = rolling.values()[end];
            assert!(
                (got - expected).abs() <= 1e-9 * expected,
                "at {end}: {got} vs {expected}"
            );
        }
        Ok(())
    }

    fn naive_std(window: &[f64], ddof: usize) -> f64 {
        let mean = window.iter().sum::<f64>() / window.len() as f64;
        let squares: f64 = window.iter().map(|value| (value - mean).powi(2)).sum();
        (squares / (window.len() - ddof) as f64).sqrt()
    }

    /// Random price-like data with an occasional NaN, and a window.
    fn data_and_window() -> impl Strategy<Value = (Vec<f64>, usize)> {
        let value = prop_oneof![
            20 => 50.0f64..150.0,
            1 => Just(f64::NAN),
        ];
        (proptest::collection::vec(value, 0..300), 1usize..40)
    }

    /// Checks `rolling` against `naive` applied to every full, NaN-free window.
    fn agrees(values: &[f64], window: usize, rolling: &Series, naive: impl Fn(&[f64]) -> f64) {
        assert_eq!(rolling.len(), values.len());
        for end in 0..values.len() {
            let got = rolling.values()[end];
            let slice = &values[(end + 1).saturating_sub(window)..=end];
            if end + 1 < window || slice.iter().any(|value| value.is_nan()) {
                assert!(got.is_nan(), "at {end}: expected NaN, got {got}");
            } else {
                let expected = naive(slice);
                // Running sums of prices near 100 carry rounding of about ε·100² into a variance;
                // a tiny standard deviation turns that into ε·100²/σ (1e-9 and more when σ is
                // 1e-3), so the tolerance grows as σ shrinks.
                let scale = slice
                    .iter()
                    .fold(0.0_f64, |most, value| most.max(value.abs()));
                let rounding = 64.0 * f64::EPSILON * scale * scale / expected.abs().max(1e-12);
                assert!(
                    (got - expected).abs() <= 1e-9 * expected.abs().max(1.0) + rounding,
                    "at {end}: got {got}, naive {expected}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn rolling_mean_agrees_with_the_naive_computation((values, window) in data_and_window()) {
            let rolling = Series::from_slice(&values).rolling_mean(window).expect("window ≥ 1");
            agrees(&values, window, &rolling, |slice| slice.iter().sum::<f64>() / slice.len() as f64);
        }

        #[test]
        fn rolling_std_agrees_with_the_naive_computation((values, window) in data_and_window()) {
            prop_assume!(window >= 2);
            let series = Series::from_slice(&values);
            let sample = series.rolling_std(window).expect("window ≥ 1");
            agrees(&values, window, &sample, |slice| naive_std(slice, 1));
            let population = series.rolling_std_ddof(window, 0).expect("window ≥ 1");
            agrees(&values, window, &population, |slice| naive_std(slice, 0));
        }

        #[test]
        fn rolling_extremes_agree_with_the_naive_computation((values, window) in data_and_window()) {
            let series = Series::from_slice(&values);
            let highest = series.rolling_max(window).expect("window ≥ 1");
            agrees(&values, window, &highest, |slice| slice.iter().copied().fold(f64::MIN, f64::max));
            let lowest = series.rolling_min(window).expect("window ≥ 1");
            agrees(&values, window, &lowest, |slice| slice.iter().copied().fold(f64::MAX, f64::min));
        }
    }
}
