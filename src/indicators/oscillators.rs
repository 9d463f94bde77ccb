//! Oscillators: the relative strength index (RSI, Wilder smoothing) and MACD, both with TA-Lib's
//! seeding so their values match TA-Lib's regression vectors.

use super::moving::ema_into;
use super::{IndicatorError, Series, check_period, first_number};

/// The relative strength index over `period` bars with Wilder's smoothing (TA-Lib RSI).
///
/// As TA-Lib seeds it: the first average gain and loss are the simple averages of the first
/// `period` changes, so the first value is at bar `period` (counted from the first number: leading
/// NaN are skipped); after that each average is `(previous · (period − 1) + current) / period`.
/// RSI is `100 · gain / (gain + loss)`.
///
/// Where both averages are exactly zero (a price that has not moved for the whole seed) RSI is
/// undefined and the value is NaN. TA-Lib writes 0 there, but 0 reads as "deeply oversold", and a
/// script comparing `rsi < 30` must not buy a halted stock. Errors when `period` is 0.
pub fn rsi(values: &[f64], period: usize) -> Result<Series, IndicatorError> {
    check_period("period", period)?;
    let start = first_number(values);
    Ok(Series::build(values.len(), |out| {
        let data = &values[start..];
        let out = &mut out[start..];
        if data.len() <= period {
            return;
        }
        let size = period as f64;
        let (mut gain, mut loss) = (0.0, 0.0);
        for index in 1..=period {
            let (up, down) = split_change(data[index] - data[index - 1]);
            gain += up;
            loss += down;
        }
        gain /= size;
        loss /= size;
        out[period] = strength(gain, loss);
        for index in period + 1..data.len() {
            let (up, down) = split_change(data[index] - data[index - 1]);
            gain = (gain * (size - 1.0) + up) / size;
            loss = (loss * (size - 1.0) + down) / size;
            out[index] = strength(gain, loss);
        }
    }))
}

/// A change as (gain, loss), both non-negative; a NaN change is NaN on both sides so it poisons
/// both averages.
fn split_change(change: f64) -> (f64, f64) {
    if change.is_nan() {
        (f64::NAN, f64::NAN)
    } else if change < 0.0 {
        (0.0, -change)
    } else {
        (change, 0.0)
    }
}

/// RSI from the average gain and loss; NaN when both are zero.
fn strength(gain: f64, loss: f64) -> f64 {
    let total = gain + loss;
    if total == 0.0 {
        f64::NAN
    } else {
        100.0 * gain / total
    }
}

/// The three lines of MACD, each as long as the input.
#[derive(Debug, Clone, PartialEq)]
pub struct Macd {
    /// The fast EMA minus the slow EMA.
    pub macd: Series,
    /// The EMA of the MACD line over the signal period.
    pub signal: Series,
    /// The MACD line minus the signal line.
    pub histogram: Series,
}

/// Moving average convergence/divergence with TA-Lib's seeding (TA-Lib MACD).
///
/// Both EMAs end their warm-up on the same bar, `slow − 1`: the slow EMA is seeded with the
/// average of the first `slow` values and the fast EMA with the average of the `fast` values
/// ending on that bar (not of the first `fast` values). The signal line is an EMA of the MACD
/// line, seeded with the average of its first `signal` values. As in TA-Lib, all three outputs
/// start together at bar `slow + signal − 2` (counted from the first number: leading NaN are
/// skipped).
///
/// Errors when a period is 0 or `fast > slow` (TA-Lib silently swaps them; a swapped call is
/// almost certainly a mistake in the script).
pub fn macd(
    values: &[f64],
    fast: usize,
    slow: usize,
    signal: usize,
) -> Result<Macd, IndicatorError> {
    check_period("fast period", fast)?;
    check_period("slow period", slow)?;
    check_period("signal period", signal)?;
    if fast > slow {
        return Err(IndicatorError::PeriodOrder { fast, slow });
    }
    let slow_end = first_number(values).saturating_add(slow - 1);
    let signal_end = slow_end.saturating_add(signal - 1);
    let [line, signal_line, histogram] =
        Series::build_many(values.len(), |[line, signal_line, histogram]| {
            // The full MACD line goes into the histogram's buffer first, as the signal EMA's input;
            // the outputs are then cut to start together at `signal_end`.
            ema_into(values, fast, slow_end, histogram);
            ema_into(values, slow, slow_end, line);
            for (difference, slow_value) in histogram.iter_mut().zip(line.iter()) {
                *difference -= slow_value;
            }
            ema_into(histogram, signal, signal_end, signal_line);
            let start = signal_end.min(values.len());
            line[..start].fill(f64::NAN);
            line[start..].copy_from_slice(&histogram[start..]);
            histogram[..start].fill(f64::NAN);
            for (difference, signal_value) in
                histogram[start..].iter_mut().zip(&signal_line[start..])
            {
                *difference -= signal_value;
            }
        });
    Ok(Macd {
        macd: line,
        signal: signal_line,
        histogram,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_close(actual: &Series, expected: &[f64]) {
        assert_eq!(actual.len(), expected.len(), "length of {actual:?}");
        for (index, (&got, &want)) in actual.values().iter().zip(expected).enumerate() {
            assert!(
                (got.is_nan() && want.is_nan()) || (got - want).abs() < 1e-12,
                "at {index}: got {got}, expected {want} in {actual:?}"
            );
        }
    }

    const NAN: f64 = f64::NAN;

    #[test]
    fn rsi_seeds_with_simple_averages_then_smooths_like_wilder() {
        // Changes: +2, -1, +3, -2, +1. Period 3: seed gain (2+0+3)/3 = 5/3, loss (0+1+0)/3 = 1/3,
        // RSI at bar 3 = 100·(5/3)/(6/3) = 83.33…
        // Bar 4 (change -2): gain (5/3·2 + 0)/3 = 10/9, loss (1/3·2 + 2)/3 = 8/9, RSI = 100·10/18.
        // Bar 5 (change +1): gain (10/9·2 + 1)/3 = 29/27, loss (8/9·2)/3 = 16/27,
        // RSI = 100·29/45.
        let values = [10.0, 12.0, 11.0, 14.0, 12.0, 13.0];
        let strength = rsi(&values, 3).expect("valid period");
        assert_close(
            &strength,
            &[NAN, NAN, NAN, 500.0 / 6.0, 1000.0 / 18.0, 2900.0 / 45.0],
        );
    }

    #[test]
    fn rsi_of_a_rising_series_is_one_hundred_and_of_a_falling_one_zero() {
        let rising = rsi(&[1.0, 2.0, 3.0, 4.0], 2).expect("valid period");
        assert_close(&rising, &[NAN, NAN, 100.0, 100.0]);
        let falling = rsi(&[4.0, 3.0, 2.0, 1.0], 2).expect("valid period");
        assert_close(&falling, &[NAN, NAN, 0.0, 0.0]);
    }

    #[test]
    fn rsi_of_a_flat_price_is_undefined() {
        let flat = rsi(&[5.0; 5], 2).expect("valid period");
        assert!(flat.values().iter().all(|value| value.is_nan()));
    }

    #[test]
    fn rsi_needs_one_more_value_than_its_period() {
        let short = rsi(&[1.0, 2.0, 3.0], 3).expect("valid period");
        assert!(short.values().iter().all(|value| value.is_nan()));
        assert_eq!(short.len(), 3);
    }

    #[test]
    fn macd_seeds_the_fast_ema_on_the_slow_emas_first_bar() {
        // fast 2, slow 3, signal 2 on [1, 2, 4, 8, 16].
        // Slow (alpha 1/2): seed (1+2+4)/3 = 7/3 at bar 2; 7/3 + (8-7/3)/2 = 31/6;
        // 31/6 + (16-31/6)/2 = 127/12.
        // Fast (alpha 2/3), seeded at bar 2 with (2+4)/2 = 3 (not at bar 1): 3 + 2/3·5 = 19/3;
        // 19/3 + 2/3·(16-19/3) = 115/9.
        // MACD line: 3 - 7/3 = 2/3; 19/3 - 31/6 = 7/6; 115/9 - 127/12 = 79/36.
        // Signal (alpha 2/3) seeded at bar 3 with (2/3 + 7/6)/2 = 11/12;
        // 11/12 + 2/3·(79/36 - 11/12) = 11/12 + 2/3·(46/36) = 11/12 + 23/27.
        let values = [1.0, 2.0, 4.0, 8.0, 16.0];
        let lines = macd(&values, 2, 3, 2).expect("valid periods");
        let signal_last = 11.0 / 12.0 + 23.0 / 27.0;
        assert_close(&lines.macd, &[NAN, NAN, NAN, 7.0 / 6.0, 79.0 / 36.0]);
        assert_close(&lines.signal, &[NAN, NAN, NAN, 11.0 / 12.0, signal_last]);
        assert_close(
            &lines.histogram,
            &[
                NAN,
                NAN,
                NAN,
                7.0 / 6.0 - 11.0 / 12.0,
                79.0 / 36.0 - signal_last,
            ],
        );
    }

    #[test]
    fn macd_refuses_a_fast_period_longer_than_the_slow_one() {
        let error = macd(&[1.0; 40], 26, 12, 9).expect_err("swapped periods");
        assert_eq!(
            error.to_string(),
            "fast period must not exceed slow period, got fast 26 and slow 12"
        );
        let error = macd(&[1.0; 40], 12, 26, 0).expect_err("signal 0");
        assert_eq!(error.to_string(), "signal period must be at least 1, got 0");
    }

    #[test]
    fn macd_on_too_little_data_is_all_nan() {
        let lines = macd(&[1.0; 10], 12, 26, 9).expect("valid periods");
        for line in [&lines.macd, &lines.signal, &lines.histogram] {
            assert_eq!(line.len(), 10);
            assert!(line.values().iter().all(|value| value.is_nan()));
        }
        assert!(macd(&[1.0; 10], 1, usize::MAX, usize::MAX).is_ok());
    }
}
