//! Moving averages: simple (SMA), exponential (EMA, seeded as TA-Lib seeds it) and linearly
//! weighted (WMA).

use super::rolling::{for_each_finite_run, mean};
use super::{IndicatorError, Series, check_period, first_number};

/// The simple moving average of the last `period` values (TA-Lib SMA): first value at bar
/// `period - 1`, NaN wherever the window holds a NaN. Errors when `period` is 0.
pub fn sma(values: &[f64], period: usize) -> Result<Series, IndicatorError> {
    check_period("period", period)?;
    Ok(mean(values, period))
}

/// The exponential moving average with `alpha = 2 / (period + 1)` (TA-Lib EMA).
///
/// Seeded, as TA-Lib does, with the simple average of the first `period` values, so the first
/// value is at bar `period - 1` (counted from the first number: leading NaN are skipped). Errors
/// when `period` is 0.
pub fn ema(values: &[f64], period: usize) -> Result<Series, IndicatorError> {
    check_period("period", period)?;
    let seed_end = first_number(values).saturating_add(period - 1);
    Ok(Series::build(values.len(), |out| {
        ema_into(values, period, seed_end, out);
    }))
}

/// Writes the EMA of `values` into `out` from bar `seed_end` on, seeded there with the simple
/// average of the `period` values ending at `seed_end` (so `seed_end + 1 >= period`).
///
/// MACD needs the seed position as a parameter: TA-Lib seeds its fast EMA late, on the slow
/// EMA's first bar, rather than `fast - 1` bars after the start.
pub(super) fn ema_into(values: &[f64], period: usize, seed_end: usize, out: &mut [f64]) {
    if seed_end >= values.len() || seed_end + 1 < period {
        return;
    }
    let alpha = 2.0 / (period as f64 + 1.0);
    let seed = &values[seed_end + 1 - period..=seed_end];
    let mut average = seed.iter().sum::<f64>() / period as f64;
    out[seed_end] = average;
    for index in seed_end + 1..values.len() {
        // TA-Lib's form `(x - ema) * alpha + ema`, so rounding matches its outputs closely.
        average += (values[index] - average) * alpha;
        out[index] = average;
    }
}

/// The linearly weighted moving average (TA-Lib WMA): the newest value weighs `period`, the one
/// before `period - 1`, down to 1 for the oldest, divided by `period (period + 1) / 2`. First value
/// at bar `period - 1`, NaN wherever the window holds a NaN. Errors when `period` is 0.
pub fn wma(values: &[f64], period: usize) -> Result<Series, IndicatorError> {
    check_period("period", period)?;
    let size = period as f64;
    let divisor = size * (size + 1.0) / 2.0;
    // The running sums lose precision as large terms come and go; recomputing them now and then
    // keeps the error bounded, as for the rolling moments.
    let resync_every = period.max(1024);
    Ok(Series::build(values.len(), |out| {
        for_each_finite_run(values, |start, run| {
            if run.len() < period {
                return;
            }
            let exact = |window: &[f64]| {
                let weighted: f64 = (1..)
                    .zip(window)
                    .map(|(weight, value)| f64::from(weight) * value)
                    .sum();
                (weighted, window.iter().sum::<f64>())
            };
            let (mut weighted, mut total) = exact(&run[..period]);
            out[start + period - 1] = weighted / divisor;
            for end in period..run.len() {
                if (end - period + 1).is_multiple_of(resync_every) {
                    (weighted, total) = exact(&run[end + 1 - period..=end]);
                } else {
                    // Every old value loses one unit of weight (minus the window's sum) and the
                    // new value enters with the full weight.
                    weighted += size * run[end] - total;
                    total += run[end] - run[end - period];
                }
                out[start + end] = weighted / divisor;
            }
        });
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE_TO_SIX: [f64; 6] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];

    fn assert_close(actual: &Series, expected: &[f64]) {
        assert_eq!(actual.len(), expected.len(), "length of {actual:?}");
        for (index, (&got, &want)) in actual.values().iter().zip(expected).enumerate() {
            assert!(
                (got.is_nan() && want.is_nan()) || (got - want).abs() < 1e-12,
                "at {index}: got {got}, expected {want} in {actual:?}"
            );
        }
    }

    #[test]
    fn sma_of_one_to_six_over_three_is_the_middle_value() {
        // (1+2+3)/3 = 2, (2+3+4)/3 = 3, (3+4+5)/3 = 4, (4+5+6)/3 = 5.
        let average = sma(&ONE_TO_SIX, 3).expect("valid period");
        assert_close(&average, &[f64::NAN, f64::NAN, 2.0, 3.0, 4.0, 5.0]);
    }

    #[test]
    fn ema_of_one_to_six_is_seeded_with_the_sma_and_lags_a_straight_line_by_one() {
        // alpha = 2/(3+1) = 0.5; seed (1+2+3)/3 = 2; then 2 + 0.5(4-2) = 3, 3 + 0.5(5-3) = 4,
        // 4 + 0.5(6-4) = 5.
        let average = ema(&ONE_TO_SIX, 3).expect("valid period");
        assert_close(&average, &[f64::NAN, f64::NAN, 2.0, 3.0, 4.0, 5.0]);
    }

    #[test]
    fn ema_follows_the_recursion_on_an_uneven_series() {
        // Seed (1+3+2)/3 = 2; 2 + 0.5(6-2) = 4; 4 + 0.5(4-4) = 4; 4 + 0.5(8-4) = 6.
        let average = ema(&[1.0, 3.0, 2.0, 6.0, 4.0, 8.0], 3).expect("valid period");
        assert_close(&average, &[f64::NAN, f64::NAN, 2.0, 4.0, 4.0, 6.0]);
    }

    #[test]
    fn ema_skips_leading_nan_so_it_can_follow_another_indicator() {
        // The same uneven series as above, after two warm-up NaN.
        let values = [f64::NAN, f64::NAN, 1.0, 3.0, 2.0, 6.0];
        let average = ema(&values, 3).expect("valid period");
        assert_close(
            &average,
            &[f64::NAN, f64::NAN, f64::NAN, f64::NAN, 2.0, 4.0],
        );
    }

    #[test]
    fn a_nan_inside_the_data_poisons_every_later_ema_value() {
        let values = [1.0, 2.0, 3.0, f64::NAN, 5.0, 6.0];
        let average = ema(&values, 2).expect("valid period");
        assert!(average.values()[2].is_finite());
        assert!(average.values()[3..].iter().all(|value| value.is_nan()));
    }

    #[test]
    fn wma_of_one_to_six_weighs_the_newest_value_most() {
        // Divisor 1+2+3 = 6: (1·1+2·2+3·3)/6 = 14/6, (2+6+12)/6 = 20/6, (3+8+15)/6 = 26/6,
        // (4+10+18)/6 = 32/6.
        let average = wma(&ONE_TO_SIX, 3).expect("valid period");
        assert_close(
            &average,
            &[
                f64::NAN,
                f64::NAN,
                14.0 / 6.0,
                20.0 / 6.0,
                26.0 / 6.0,
                32.0 / 6.0,
            ],
        );
    }

    #[test]
    fn wma_is_nan_while_its_window_holds_a_nan() {
        let values = [1.0, 2.0, f64::NAN, 4.0, 5.0, 6.0];
        let average = wma(&values, 2).expect("valid period");
        // (1·1 + 2·2)/3 = 5/3 before the gap; (4 + 2·5)/3 = 14/3 and (5 + 2·6)/3 = 17/3 after.
        assert_close(
            &average,
            &[
                f64::NAN,
                5.0 / 3.0,
                f64::NAN,
                f64::NAN,
                14.0 / 3.0,
                17.0 / 3.0,
            ],
        );
    }

    #[test]
    fn a_period_of_zero_is_refused_with_its_name() {
        for result in [
            sma(&ONE_TO_SIX, 0),
            ema(&ONE_TO_SIX, 0),
            wma(&ONE_TO_SIX, 0),
        ] {
            let error = result.expect_err("period 0 is invalid");
            assert_eq!(error.to_string(), "period must be at least 1, got 0");
        }
    }

    #[test]
    fn a_period_longer_than_the_data_gives_all_nan_of_the_same_length() {
        for result in [
            sma(&ONE_TO_SIX, 7),
            ema(&ONE_TO_SIX, 7),
            wma(&ONE_TO_SIX, 7),
        ] {
            let average = result.expect("long periods are allowed");
            assert_eq!(average.len(), 6);
            assert!(average.values().iter().all(|value| value.is_nan()));
        }
        assert!(ema(&ONE_TO_SIX, usize::MAX).is_ok());
    }

    #[test]
    fn wma_agrees_with_its_definition_over_many_resynchronisations() {
        let values: Vec<f64> = (0..5000)
            .map(|index| 100.0 + (f64::from(index) * 0.37).sin() * 10.0)
            .collect();
        let average = wma(&values, 7).expect("valid period");
        for end in 6..values.len() {
            let expected: f64 = (1..=7)
                .zip(&values[end - 6..=end])
                .map(|(weight, value)| f64::from(weight) * value)
                .sum::<f64>()
                / 28.0;
            assert!((average.values()[end] - expected).abs() < 1e-9, "at {end}");
        }
    }
}
