//! Volatility: true range and average true range (Wilder), TA-Lib's standard deviation and
//! Bollinger bands (both with the population standard deviation).

use super::rolling::{rolling_moments, std};
use super::{IndicatorError, Series, check_finite, check_period, check_same_length, first_number};

/// Checks that high, low and close line up bar by bar.
fn check_bars(high: &[f64], low: &[f64], close: &[f64]) -> Result<(), IndicatorError> {
    check_same_length(("high", high), ("low", low))?;
    check_same_length(("high", high), ("close", close))
}

/// The true range of each bar (TA-Lib TRANGE): `max(high, previous close) − min(low, previous
/// close)`. The first bar has no previous close, so the first value is NaN and the first number is
/// at bar 1; a bar is NaN where its high, low or the previous close is. Errors when the lengths
/// differ.
pub fn true_range(high: &[f64], low: &[f64], close: &[f64]) -> Result<Series, IndicatorError> {
    check_bars(high, low, close)?;
    Ok(Series::build(high.len(), |out| {
        for index in 1..high.len() {
            let (top, bottom, previous) = (high[index], low[index], close[index - 1]);
            // `f64::max` ignores a NaN operand; a missing price must not look like a range.
            out[index] = if top.is_nan() || bottom.is_nan() || previous.is_nan() {
                f64::NAN
            } else {
                top.max(previous) - bottom.min(previous)
            };
        }
    }))
}

/// The average true range over `period` bars with Wilder's smoothing (TA-Lib ATR).
///
/// As TA-Lib seeds it: the first value is the simple average of the first `period` true ranges
/// (bars 1 to `period`), so it is at bar `period`; after that `(previous · (period − 1) + true
/// range) / period`. Leading NaN are skipped; a NaN later poisons every later value. Errors when
/// `period` is 0 or the lengths differ.
pub fn atr(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    period: usize,
) -> Result<Series, IndicatorError> {
    check_period("period", period)?;
    let ranges = true_range(high, low, close)?;
    let ranges = ranges.values();
    let seed_end = first_number(ranges).saturating_add(period - 1);
    Ok(Series::build(ranges.len(), |out| {
        if seed_end >= ranges.len() {
            return;
        }
        let size = period as f64;
        let mut average = ranges[seed_end + 1 - period..=seed_end].iter().sum::<f64>() / size;
        out[seed_end] = average;
        for index in seed_end + 1..ranges.len() {
            average = (average * (size - 1.0) + ranges[index]) / size;
            out[index] = average;
        }
    }))
}

/// TA-Lib's STDDEV: the *population* standard deviation (ddof = 0) of each `period` values,
/// times `deviations`. First value at bar `period − 1`, NaN wherever the window holds a NaN.
/// Errors when `period` is 0 or `deviations` is not finite.
pub fn stddev(values: &[f64], period: usize, deviations: f64) -> Result<Series, IndicatorError> {
    check_period("period", period)?;
    check_finite("deviations", deviations)?;
    Ok(std(values, period, 0, deviations))
}

/// The three Bollinger bands, each as long as the input.
#[derive(Debug, Clone, PartialEq)]
pub struct Bollinger {
    /// The middle band plus `deviations_up` standard deviations.
    pub upper: Series,
    /// The simple moving average.
    pub middle: Series,
    /// The middle band minus `deviations_down` standard deviations.
    pub lower: Series,
}

/// Bollinger bands as TA-Lib computes them (BBANDS with an SMA): the middle band is the SMA of
/// `period` values and the bands are `deviations_up` above and `deviations_down` below it, in
/// units of the *population* standard deviation of the same window. First values at bar
/// `period − 1`. Errors when `period` is 0 or a deviation is not finite.
pub fn bollinger(
    values: &[f64],
    period: usize,
    deviations_up: f64,
    deviations_down: f64,
) -> Result<Bollinger, IndicatorError> {
    check_period("period", period)?;
    check_finite("deviations_up", deviations_up)?;
    check_finite("deviations_down", deviations_down)?;
    let size = period as f64;
    let [upper, middle, lower] = Series::build_many(values.len(), |[upper, middle, lower]| {
        rolling_moments(values, period, |index, mean, squares| {
            let deviation = (squares / size).sqrt();
            upper[index] = mean + deviations_up * deviation;
            middle[index] = mean;
            lower[index] = mean - deviations_down * deviation;
        });
    });
    Ok(Bollinger {
        upper,
        middle,
        lower,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Four bars: a gap up, an inside bar, and a gap down.
    const HIGH: [f64; 4] = [10.0, 14.0, 13.0, 9.0];
    const LOW: [f64; 4] = [8.0, 12.0, 11.0, 7.0];
    const CLOSE: [f64; 4] = [9.0, 13.0, 12.0, 8.0];

    #[test]
    fn true_range_reaches_back_to_the_previous_close_across_gaps() {
        // Bar 1: max(14, 9) − min(12, 9) = 5 (gap up: the range starts at the previous close).
        // Bar 2: max(13, 13) − min(11, 13) = 2. Bar 3: max(9, 12) − min(7, 12) = 5 (gap down).
        let ranges = true_range(&HIGH, &LOW, &CLOSE).expect("same lengths");
        assert_close(&ranges, &[NAN, 5.0, 2.0, 5.0]);
    }

    #[test]
    fn atr_seeds_with_the_average_true_range_then_smooths_like_wilder() {
        // Period 2: seed (5 + 2)/2 = 3.5 at bar 2; bar 3: (3.5·1 + 5)/2 = 4.25.
        let average = atr(&HIGH, &LOW, &CLOSE, 2).expect("valid period");
        assert_close(&average, &[NAN, NAN, 3.5, 4.25]);
        // Period 1 is the true range itself.
        let same = atr(&HIGH, &LOW, &CLOSE, 1).expect("valid period");
        assert_close(&same, &[NAN, 5.0, 2.0, 5.0]);
    }

    #[test]
    fn true_range_of_a_bar_with_a_missing_price_is_nan() {
        let ranges = true_range(&HIGH, &[8.0, NAN, 11.0, 7.0], &CLOSE).expect("same lengths");
        assert_close(&ranges, &[NAN, NAN, 2.0, 5.0]);
    }

    #[test]
    fn bars_of_different_lengths_are_refused_naming_both() {
        let error = atr(&HIGH, &LOW[..3], &CLOSE, 2).expect_err("mismatched lengths");
        assert_eq!(
            error.to_string(),
            "high has 4 values but low has 3; they must have the same length"
        );
        let error = true_range(&HIGH, &LOW, &CLOSE[..2]).expect_err("mismatched lengths");
        assert!(error.to_string().contains("but close has 2;"));
    }

    #[test]
    fn bollinger_bands_use_the_population_standard_deviation() {
        // Window [2, 4, 4, 4, 5]: mean 19/5 = 3.8; squared deviations 3.24 + 0.04·3 + 1.44 = 4.8;
        // population variance 4.8/5 = 0.96, deviation √0.96.
        // Next window [4, 4, 4, 5, 5]: mean 4.4; squares 0.16·3 + 0.36·2 = 1.2; variance 0.24.
        let values = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0];
        let bands = bollinger(&values, 5, 2.0, 1.0).expect("valid parameters");
        let (first, second) = (0.96_f64.sqrt(), 0.24_f64.sqrt());
        let warm_up = [NAN; 4];
        let with = |rest: [f64; 2]| [warm_up.as_slice(), &rest].concat();
        assert_close(&bands.middle, &with([3.8, 4.4]));
        assert_close(&bands.upper, &with([3.8 + 2.0 * first, 4.4 + 2.0 * second]));
        assert_close(&bands.lower, &with([3.8 - first, 4.4 - second]));
        let deviation = stddev(&values, 5, 1.5).expect("valid parameters");
        assert_close(&deviation, &with([1.5 * first, 1.5 * second]));
    }

    #[test]
    fn non_finite_deviations_are_refused_with_their_name() {
        let error = bollinger(&[1.0; 5], 5, 2.0, f64::INFINITY).expect_err("infinite");
        assert_eq!(
            error.to_string(),
            "deviations_down must be a finite number, got inf"
        );
        let error = stddev(&[1.0; 5], 5, NAN).expect_err("NaN");
        assert_eq!(
            error.to_string(),
            "deviations must be a finite number, got NaN"
        );
    }
}
