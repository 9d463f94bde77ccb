//! Element-wise arithmetic on `Series`: with another series of the same length, with a scalar,
//! and the usual one-argument functions, plus the `std::ops` operators over references.

use std::ops::{Add, Div, Mul, Neg, Sub};

use super::{IndicatorError, Series, check_same_length};

impl Series {
    /// Combines two series value by value; they must have the same length, because silently
    /// aligning series of different lengths would pair up different bars.
    fn zip_with(
        &self,
        other: &Series,
        combine: impl Fn(f64, f64) -> f64,
    ) -> Result<Series, IndicatorError> {
        check_same_length(
            ("left series", self.values()),
            ("right series", other.values()),
        )?;
        Ok(self
            .values()
            .iter()
            .zip(other.values())
            .map(|(&left, &right)| combine(left, right))
            .collect())
    }

    /// `self + other`, value by value. Errors when the lengths differ.
    pub fn add(&self, other: &Series) -> Result<Series, IndicatorError> {
        self.zip_with(other, |left, right| left + right)
    }

    /// `self - other`, value by value. Errors when the lengths differ.
    pub fn sub(&self, other: &Series) -> Result<Series, IndicatorError> {
        self.zip_with(other, |left, right| left - right)
    }

    /// `self * other`, value by value. Errors when the lengths differ.
    pub fn mul(&self, other: &Series) -> Result<Series, IndicatorError> {
        self.zip_with(other, |left, right| left * right)
    }

    /// `self / other`, value by value (IEEE rules: `x / 0` is infinite, `0 / 0` is NaN). Errors
    /// when the lengths differ.
    pub fn div(&self, other: &Series) -> Result<Series, IndicatorError> {
        self.zip_with(other, |left, right| left / right)
    }

    /// `self + scalar` for every value.
    pub fn add_scalar(&self, scalar: f64) -> Series {
        self.map(|value| value + scalar)
    }

    /// `self - scalar` for every value.
    pub fn sub_scalar(&self, scalar: f64) -> Series {
        self.map(|value| value - scalar)
    }

    /// `self * scalar` for every value.
    pub fn mul_scalar(&self, scalar: f64) -> Series {
        self.map(|value| value * scalar)
    }

    /// `self / scalar` for every value.
    pub fn div_scalar(&self, scalar: f64) -> Series {
        self.map(|value| value / scalar)
    }

    /// `-self`.
    pub fn neg(&self) -> Series {
        self.map(|value| -value)
    }

    /// The absolute value of every value.
    pub fn abs(&self) -> Series {
        self.map(f64::abs)
    }

    /// The natural logarithm of every value; NaN for zero and negative values (rather than the
    /// `-inf` that `ln(0)` gives), because a log price of a non-positive price is meaningless and
    /// an infinity would poison running sums downstream.
    pub fn ln(&self) -> Series {
        self.map(|value| if value > 0.0 { value.ln() } else { f64::NAN })
    }

    /// `e` raised to every value.
    pub fn exp(&self) -> Series {
        self.map(f64::exp)
    }

    /// The square root of every value (NaN for negative values).
    pub fn sqrt(&self) -> Series {
        self.map(f64::sqrt)
    }

    /// Every value raised to `exponent`.
    pub fn pow(&self, exponent: f64) -> Series {
        self.map(|value| value.powf(exponent))
    }
}

/// Implements an operator between two series (fallible: lengths must match) and between a series
/// and a scalar on either side.
macro_rules! operator {
    ($trait:ident, $method:ident, $series:ident, $scalar:ident, $operation:expr) => {
        impl $trait<&Series> for &Series {
            type Output = Result<Series, IndicatorError>;
            fn $method(self, other: &Series) -> Self::Output {
                Series::$series(self, other)
            }
        }

        impl $trait<f64> for &Series {
            type Output = Series;
            fn $method(self, scalar: f64) -> Series {
                Series::$scalar(self, scalar)
            }
        }

        impl $trait<&Series> for f64 {
            type Output = Series;
            fn $method(self, series: &Series) -> Series {
                let operation: fn(f64, f64) -> f64 = $operation;
                series.map(|value| operation(self, value))
            }
        }
    };
}

operator!(Add, add, add, add_scalar, |left, right| left + right);
operator!(Sub, sub, sub, sub_scalar, |left, right| left - right);
operator!(Mul, mul, mul, mul_scalar, |left, right| left * right);
operator!(Div, div, div, div_scalar, |left, right| left / right);

impl Neg for &Series {
    type Output = Series;
    fn neg(self) -> Series {
        Series::neg(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NAN: f64 = f64::NAN;

    use crate::indicators::testing::same;

    #[test]
    fn series_combine_value_by_value() -> Result<(), IndicatorError> {
        let left = Series::from_slice(&[1.0, 2.0, 3.0]);
        let right = Series::from_slice(&[4.0, 5.0, 6.0]);
        assert!(same(&left.add(&right)?, &[5.0, 7.0, 9.0]));
        assert!(same(&left.sub(&right)?, &[-3.0, -3.0, -3.0]));
        assert!(same(&left.mul(&right)?, &[4.0, 10.0, 18.0]));
        assert!(same(&left.div(&right)?, &[0.25, 0.4, 0.5]));
        assert!(same(&(&left + &right)?, &[5.0, 7.0, 9.0]));
        Ok(())
    }

    #[test]
    fn series_of_different_lengths_are_refused_naming_both_lengths() {
        let left = Series::from_slice(&[1.0, 2.0, 3.0]);
        let right = Series::from_slice(&[1.0, 2.0]);
        let error = left.sub(&right).expect_err("lengths differ");
        assert_eq!(
            error.to_string(),
            "left series has 3 values but right series has 2; they must have the same length"
        );
        assert!((&left * &right).is_err());
    }

    #[test]
    fn scalars_apply_on_either_side() {
        let series = Series::from_slice(&[1.0, 2.0, NAN]);
        assert!(same(&(&series + 1.0), &[2.0, 3.0, NAN]));
        assert!(same(&(&series * 2.0), &[2.0, 4.0, NAN]));
        assert!(same(&(10.0 - &series), &[9.0, 8.0, NAN]));
        assert!(same(&(2.0 / &series), &[2.0, 1.0, NAN]));
        assert!(same(&(&series / 2.0), &[0.5, 1.0, NAN]));
        assert!(same(&(&series - 1.0), &[0.0, 1.0, NAN]));
        assert!(same(&-&series, &[-1.0, -2.0, NAN]));
    }

    #[test]
    fn logarithms_of_non_positive_values_are_nan_not_infinite() {
        let series = Series::from_slice(&[std::f64::consts::E, 1.0, 0.0, -1.0]);
        assert!(same(&series.ln(), &[1.0, 0.0, NAN, NAN]));
        assert!(same(
            &series.ln().exp(),
            &[std::f64::consts::E, 1.0, NAN, NAN]
        ));
    }

    #[test]
    fn one_argument_functions_apply_to_every_value() {
        let series = Series::from_slice(&[-4.0, 9.0]);
        assert!(same(&series.abs(), &[4.0, 9.0]));
        assert!(same(&series.sqrt(), &[NAN, 3.0]));
        assert!(same(&series.pow(2.0), &[16.0, 81.0]));
    }

    fn pair() -> impl Strategy<Value = (Vec<f64>, Vec<f64>)> {
        (0usize..200).prop_flat_map(|len| {
            (
                proptest::collection::vec(-1e6f64..1e6, len),
                proptest::collection::vec(-1e6f64..1e6, len),
            )
        })
    }

    proptest! {
        #[test]
        fn adding_then_subtracting_a_series_gives_back_the_original((a, b) in pair()) {
            let (left, right) = (Series::new(a.clone()), Series::new(b));
            let back = left.add(&right).and_then(|sum| sum.sub(&right)).expect("same lengths");
            prop_assert_eq!(back.len(), a.len());
            for (got, want) in back.values().iter().zip(&a) {
                // The sum's rounding is relative to the larger operand, up to 2e6 here.
                prop_assert!((got - want).abs() <= 1e-9 * 2e6_f64.max(want.abs()));
            }
        }

        #[test]
        fn multiplying_then_dividing_by_a_scalar_gives_back_the_original(
            (a, _) in pair(),
            factor in prop_oneof![-1e3f64..-1e-3, 1e-3f64..1e3],
        ) {
            let series = Series::new(a.clone());
            let back = (&series * factor).div_scalar(factor);
            prop_assert_eq!(back.len(), a.len());
            for (got, want) in back.values().iter().zip(&a) {
                prop_assert!((got - want).abs() <= 1e-12 * want.abs().max(1.0));
            }
        }
    }
}
