//! Native numeric work for scripts: the `Series` type and technical indicators over plain `f64`.
//!
//! Scripts hold the trading logic, but a loop over prices written in Rhai is hundreds of times
//! slower than the same loop in Rust, so every per-element computation lives here and scripts call
//! it. This module is pure: it imports no Rhai, tokio or sqlx, and the script bindings wrap it
//! thinly.
//!
//! # Conventions
//!
//! **Alignment.** Every output that is indexed like its input has the input's length, so series
//! stay aligned bar by bar. Positions where a value cannot be computed yet (the warm-up of a window
//! or of a smoothing) hold NaN. An indicator whose first value TA-Lib reports at bar `k` has NaN at
//! bars `0..k` and its first number at bar `k`.
//!
//! **Missing values.**
//! - Windowed outputs (rolling statistics, SMA, WMA, standard deviation, Bollinger bands, z-score)
//!   are NaN wherever their window holds a NaN or an infinity, and numbers again once the window has
//!   moved past it.
//! - Recursive indicators (EMA, RSI, ATR, MACD) skip *leading* NaN, as TA-Lib's Python wrapper
//!   does, so they can be chained onto another indicator's output: their warm-up starts at the
//!   first number. A NaN after that poisons every later output, because each value depends on all
//!   earlier ones.
//! - Element-wise operations give NaN where an operand is NaN.
//! - Whole-series reductions (`sum`, `mean`, `std`, `min`, `max`, `cumsum`) and the regressions
//!   (`ols`, `correlation`, `half_life`) skip NaN, as pandas does, because almost every indicator
//!   output starts with warm-up NaN.
//!
//! **Standard deviation.** `Series::std`, `Series::rolling_std` and the z-score use the *sample*
//! standard deviation (ddof = 1, as pandas); `std_ddof` and `rolling_std_ddof` take any ddof.
//! The TA-Lib functions `stddev` and `bollinger` use the *population* standard deviation (ddof = 0),
//! as TA-Lib does.
//!
//! **Parameters.** A period or window of 0 is an error naming the parameter ("period must be at
//! least 1, got 0"). A period longer than the data is not an error: the output is all NaN, as with
//! TA-Lib and pandas, because a strategy early in its history simply has no value yet. Inputs that
//! must line up (series arithmetic, high/low/close, x/y) of different lengths are an error naming
//! both lengths. Nothing here panics on any input.
//!
//! **Cost.** Everything is O(n) in the input length and allocates its output once; rolling windows
//! use running sums (Welford's update for variance, resynchronised exactly every so often so
//! rounding cannot drift) and a monotonic queue for minimum and maximum.

mod arithmetic;
mod moving;
mod oscillators;
mod pair_model;
mod rolling;
mod series;
mod statistics;
mod volatility;

pub use moving::{ema, sma, wma};
pub use oscillators::{Macd, macd, rsi};
pub use pair_model::{PairFit, PairModel};
pub use series::Series;
pub use statistics::{Ols, correlation, half_life, ols, rolling_zscore};
pub use volatility::{Bollinger, atr, bollinger, stddev, true_range};

/// Why an indicator or a series operation refused its input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IndicatorError {
    /// A period, window or count was below its minimum.
    #[error("{name} must be at least {minimum}, got {value}")]
    TooSmall {
        /// The parameter's name as the caller sees it (`period`, `window`, …).
        name: &'static str,
        /// The smallest accepted value.
        minimum: usize,
        /// The value given.
        value: usize,
    },
    /// A real-valued parameter was NaN or infinite.
    #[error("{name} must be a finite number, got {value}")]
    NotFinite {
        /// The parameter's name as the caller sees it.
        name: &'static str,
        /// The value given.
        value: f64,
    },
    /// Two inputs that must line up bar by bar have different lengths.
    #[error(
        "{left} has {left_len} values but {right} has {right_len}; they must have the same length"
    )]
    LengthMismatch {
        /// The first input's name.
        left: &'static str,
        /// The first input's length.
        left_len: usize,
        /// The second input's name.
        right: &'static str,
        /// The second input's length.
        right_len: usize,
    },
    /// MACD's fast period was longer than its slow period.
    #[error("fast period must not exceed slow period, got fast {fast} and slow {slow}")]
    PeriodOrder {
        /// The fast EMA's period.
        fast: usize,
        /// The slow EMA's period.
        slow: usize,
    },
    /// A statistic needed more usable (non-NaN) points than the data had.
    #[error("{what} needs at least {needed} points where every input is a number, got {got}")]
    TooFewPoints {
        /// The statistic (`ols`, `correlation`, `half_life`).
        what: &'static str,
        /// The minimum number of points.
        needed: usize,
        /// The number of usable points found.
        got: usize,
    },
    /// An input had no variance, so a regression or correlation on it is undefined.
    #[error("{name} has zero variance, so {what} is undefined")]
    ZeroVariance {
        /// The constant input.
        name: &'static str,
        /// The statistic that needed variance.
        what: &'static str,
    },
}

/// Checks that a period or window is at least 1.
fn check_period(name: &'static str, value: usize) -> Result<(), IndicatorError> {
    if value == 0 {
        return Err(IndicatorError::TooSmall {
            name,
            minimum: 1,
            value,
        });
    }
    Ok(())
}

/// Checks that a real-valued parameter is finite.
fn check_finite(name: &'static str, value: f64) -> Result<(), IndicatorError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(IndicatorError::NotFinite { name, value })
    }
}

/// Checks that two inputs have the same length.
fn check_same_length(
    left: (&'static str, &[f64]),
    right: (&'static str, &[f64]),
) -> Result<(), IndicatorError> {
    if left.1.len() == right.1.len() {
        Ok(())
    } else {
        Err(IndicatorError::LengthMismatch {
            left: left.0,
            left_len: left.1.len(),
            right: right.0,
            right_len: right.1.len(),
        })
    }
}

/// The index of the first value that is not NaN (the length when there is none): where a
/// recursive indicator's warm-up starts.
fn first_number(values: &[f64]) -> usize {
    values
        .iter()
        .position(|value| !value.is_nan())
        .unwrap_or(values.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Any values at all: ordinary numbers, NaN, infinities, huge and tiny magnitudes.
    fn anything() -> impl Strategy<Value = Vec<f64>> {
        let value = prop_oneof![
            8 => -1e3f64..1e3,
            1 => Just(f64::NAN),
            1 => Just(f64::INFINITY),
            1 => Just(f64::NEG_INFINITY),
            1 => any::<f64>(),
        ];
        proptest::collection::vec(value, 0..80)
    }

    /// Periods around the data's length, zero, and absurdly large ones.
    fn period() -> impl Strategy<Value = usize> {
        prop_oneof![8 => 0usize..90, 1 => Just(usize::MAX)]
    }

    /// Every series an indicator or series method produces from `values`, each paired with a
    /// name, where the parameters are accepted.
    fn outputs(values: &[f64], period: usize, second: usize) -> Vec<(&'static str, Series)> {
        let series = Series::from_slice(values);
        let mut all = vec![
            ("diff", series.diff(period)),
            ("pct_change", series.pct_change(period)),
            ("shift", series.shift(period)),
            ("cumsum", series.cumsum()),
            ("ln", series.ln()),
            ("add", (&series + 1.0)),
        ];
        let fallible = [
            ("sma", sma(values, period)),
            ("ema", ema(values, period)),
            ("wma", wma(values, period)),
            ("rsi", rsi(values, period)),
            ("stddev", stddev(values, period, 2.0)),
            ("zscore", rolling_zscore(values, period)),
            ("rolling_sum", series.rolling_sum(period)),
            ("rolling_std", series.rolling_std_ddof(period, second)),
            ("rolling_min", series.rolling_min(period)),
            ("rolling_max", series.rolling_max(period)),
            ("true_range", true_range(values, values, values)),
            ("atr", atr(values, values, values, period)),
        ];
        all.extend(
            fallible
                .into_iter()
                .filter_map(|(name, result)| Some((name, result.ok()?))),
        );
        if let Ok(bands) = bollinger(values, period, 2.0, 2.0) {
            all.extend([
                ("upper", bands.upper),
                ("middle", bands.middle),
                ("lower", bands.lower),
            ]);
        }
        if let Ok(lines) = macd(values, period.min(second), period.max(second), second) {
            all.extend([
                ("macd", lines.macd),
                ("signal", lines.signal),
                ("histogram", lines.histogram),
            ]);
        }
        all
    }

    proptest! {
        #[test]
        fn every_output_has_its_inputs_length(values in anything(), period in period(), second in period()) {
            for (name, output) in outputs(&values, period, second) {
                prop_assert_eq!(output.len(), values.len(), "{}", name);
            }
        }

        #[test]
        fn statistics_never_panic_on_any_input(x in anything(), y in anything()) {
            let length = x.len().min(y.len());
            let (x, y) = (&x[..length], &y[..length]);
            let _ = ols(x, y);
            let _ = correlation(x, y);
            let _ = half_life(x);
            let series = Series::from_slice(x);
            let _ = (series.sum(), series.mean(), series.std(), series.min(), series.max());
        }
    }

    #[test]
    fn a_period_of_zero_is_an_error_everywhere_and_a_long_one_is_not() {
        let values = [1.0, 2.0, 3.0];
        assert!(sma(&values, 0).is_err());
        assert!(rsi(&values, 0).is_err());
        assert!(atr(&values, &values, &values, 0).is_err());
        assert!(bollinger(&values, 0, 2.0, 2.0).is_err());
        assert!(stddev(&values, 0, 1.0).is_err());
        assert!(rolling_zscore(&values, 0).is_err());
        assert!(sma(&values, 4).is_ok());
        assert!(atr(&values, &values, &values, 4).is_ok());
    }
}

/// Helpers shared by the indicator tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::Series;

    /// True when `actual` has `expected`'s values, NaN matching NaN, within 1e-12.
    pub(crate) fn same(actual: &Series, expected: &[f64]) -> bool {
        actual.len() == expected.len()
            && actual
                .values()
                .iter()
                .zip(expected)
                .all(|(&got, &want)| (got.is_nan() && want.is_nan()) || (got - want).abs() < 1e-12)
    }
}
