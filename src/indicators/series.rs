//! `Series`: an immutable, cheaply cloned vector of `f64`, with indexing, slicing, lagged
//! transforms and whole-series reductions.

use std::sync::Arc;

/// An immutable vector of `f64` values, one per bar, shared by reference count.
///
/// Cloning bumps a counter and copies no values, so a series can pass to and from scripts freely.
/// Every operation returns a new series; none changes one in place. Positions that have no value
/// (warm-up, missing data) hold NaN, and outputs keep their input's length so series stay aligned
/// by index (see the module documentation). Equality compares values by IEEE rules, so two
/// series holding NaN are never equal.
#[derive(Debug, Clone, PartialEq)]
pub struct Series(Arc<[f64]>);

impl Series {
    /// Wraps the values (one copy into the shared allocation).
    pub fn new(values: Vec<f64>) -> Self {
        Self(values.into())
    }

    /// Copies the values into a new series.
    pub fn from_slice(values: &[f64]) -> Self {
        Self(values.into())
    }

    /// A series of `len` values written by `fill` into a buffer that starts as all NaN.
    ///
    /// The buffer is the series' own allocation, so building an output costs one allocation and
    /// no copy; `fill` only has to write the positions that have a value.
    pub(crate) fn build(len: usize, fill: impl FnOnce(&mut [f64])) -> Self {
        let [series] = Self::build_many(len, |[buffer]| fill(buffer));
        series
    }

    /// `N` series of `len` values written together by `fill`, each buffer starting as all NaN, for
    /// indicators with several outputs computed in one pass.
    pub(crate) fn build_many<const N: usize>(
        len: usize,
        fill: impl FnOnce([&mut [f64]; N]),
    ) -> [Self; N] {
        // Collecting a `Range` map allocates each shared slice once, at its exact length.
        let mut shared: [Arc<[f64]>; N] =
            std::array::from_fn(|_| (0..len).map(|_| f64::NAN).collect());
        fill(shared.each_mut().map(|buffer| {
            Arc::get_mut(buffer).expect("a freshly collected Arc has no other owner")
        }));
        shared.map(Self)
    }

    /// Applies `function` to every value.
    pub(crate) fn map(&self, mut function: impl FnMut(f64) -> f64) -> Self {
        Self(self.0.iter().map(|&value| function(value)).collect())
    }

    /// The values, in bar order.
    pub fn values(&self) -> &[f64] {
        &self.0
    }

    /// The number of values, NaN included.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the series has no values at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value at `index`; a negative index counts from the end (`-1` is the last value), as in
    /// Python. `None` when the index is out of range.
    pub fn get(&self, index: i64) -> Option<f64> {
        let position = resolve_index(index, self.len())?;
        self.0.get(position).copied()
    }

    /// The first value, even if it is NaN; `None` for an empty series.
    pub fn first(&self) -> Option<f64> {
        self.0.first().copied()
    }

    /// The last value, even if it is NaN (an indicator's last value is NaN only while it is still
    /// warming up, and hiding that would report a stale bar as the current one); `None` for an
    /// empty series.
    pub fn last(&self) -> Option<f64> {
        self.0.last().copied()
    }

    /// The last `count` values (all of them when `count` exceeds the length).
    pub fn tail(&self, count: usize) -> Self {
        let start = self.len().saturating_sub(count);
        Self::from_slice(&self.0[start..])
    }

    /// The values from `start` up to but excluding `end`, as Python slices: negative positions
    /// count from the end, positions beyond either end are clamped, and an empty range gives an
    /// empty series.
    pub fn slice(&self, start: i64, end: i64) -> Self {
        let start = clamp_index(start, self.len());
        let end = clamp_index(end, self.len());
        if start >= end {
            return Self::default();
        }
        Self::from_slice(&self.0[start..end])
    }

    /// The series without its NaN values. The result is shorter and no longer aligned by bar.
    pub fn dropna(&self) -> Self {
        self.0
            .iter()
            .copied()
            .filter(|value| !value.is_nan())
            .collect()
    }

    /// The value `periods` bars earlier at each position (NaN for the first `periods`).
    pub fn shift(&self, periods: usize) -> Self {
        self.lagged(periods, |_, earlier| earlier)
    }

    /// The change from `periods` bars earlier, `x[i] - x[i - periods]` (NaN for the first
    /// `periods`).
    pub fn diff(&self, periods: usize) -> Self {
        self.lagged(periods, |now, earlier| now - earlier)
    }

    /// The relative change from `periods` bars earlier, `x[i] / x[i - periods] - 1` (NaN for the
    /// first `periods`; infinite after a zero).
    pub fn pct_change(&self, periods: usize) -> Self {
        self.lagged(periods, |now, earlier| now / earlier - 1.0)
    }

    /// Combines each value with the one `periods` bars earlier.
    fn lagged(&self, periods: usize, combine: impl Fn(f64, f64) -> f64) -> Self {
        let values = self.values();
        Self::build(values.len(), |out| {
            for index in periods..values.len() {
                out[index] = combine(values[index], values[index - periods]);
            }
        })
    }

    /// The running total. A NaN stays NaN at its own position and adds nothing to the total, as in
    /// pandas, so the warm-up NaN of an indicator do not blank the whole result.
    pub fn cumsum(&self) -> Self {
        let mut total = 0.0;
        self.map(|value| {
            if value.is_nan() {
                f64::NAN
            } else {
                total += value;
                total
            }
        })
    }

    /// The sum of the values that are not NaN (0 when there are none).
    pub fn sum(&self) -> f64 {
        self.numbers().sum()
    }

    /// The mean of the values that are not NaN (NaN when there are none).
    pub fn mean(&self) -> f64 {
        let (count, total) = self.numbers().fold((0usize, 0.0), |(count, total), value| {
            (count + 1, total + value)
        });
        if count == 0 {
            f64::NAN
        } else {
            total / count as f64
        }
    }

    /// The sample standard deviation (ddof = 1) of the values that are not NaN; NaN with fewer
    /// than two.
    pub fn std(&self) -> f64 {
        self.std_ddof(1)
    }

    /// The standard deviation with `ddof` delta degrees of freedom (0 = population, 1 = sample) of
    /// the values that are not NaN; NaN when there are no more than `ddof` of them.
    pub fn std_ddof(&self, ddof: usize) -> f64 {
        let mean = self.mean();
        let (count, squares) = self
            .numbers()
            .fold((0usize, 0.0), |(count, squares), value| {
                (count + 1, squares + (value - mean) * (value - mean))
            });
        if count <= ddof {
            f64::NAN
        } else {
            (squares / (count - ddof) as f64).sqrt()
        }
    }

    /// The smallest value that is not NaN (NaN when there are none).
    pub fn min(&self) -> f64 {
        self.numbers().reduce(f64::min).unwrap_or(f64::NAN)
    }

    /// The largest value that is not NaN (NaN when there are none).
    pub fn max(&self) -> f64 {
        self.numbers().reduce(f64::max).unwrap_or(f64::NAN)
    }

    /// The values that are not NaN.
    fn numbers(&self) -> impl Iterator<Item = f64> + '_ {
        self.0.iter().copied().filter(|value| !value.is_nan())
    }
}

/// A Python-style index resolved against `len`: negative counts from the end.
fn resolve_index(index: i64, len: usize) -> Option<usize> {
    if index >= 0 {
        usize::try_from(index).ok()
    } else {
        len.checked_sub(usize::try_from(index.unsigned_abs()).ok()?)
    }
}

/// A Python-style slice bound resolved against `len` and clamped into `0..=len`.
fn clamp_index(index: i64, len: usize) -> usize {
    if index >= 0 {
        usize::try_from(index).map_or(len, |position| position.min(len))
    } else {
        usize::try_from(index.unsigned_abs()).map_or(0, |back| len.saturating_sub(back))
    }
}

impl Default for Series {
    /// The empty series.
    fn default() -> Self {
        Self(Arc::from([]))
    }
}

impl From<Vec<f64>> for Series {
    fn from(values: Vec<f64>) -> Self {
        Self::new(values)
    }
}

impl From<&[f64]> for Series {
    fn from(values: &[f64]) -> Self {
        Self::from_slice(values)
    }
}

impl FromIterator<f64> for Series {
    fn from_iter<I: IntoIterator<Item = f64>>(values: I) -> Self {
        Self(values.into_iter().collect())
    }
}

impl AsRef<[f64]> for Series {
    fn as_ref(&self) -> &[f64] {
        self.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAN: f64 = f64::NAN;

    use crate::indicators::testing::same;

    #[test]
    fn a_clone_shares_the_values_instead_of_copying_them() {
        let series = Series::new(vec![1.0, 2.0, 3.0]);
        let copy = series.clone();
        assert!(Arc::ptr_eq(&series.0, &copy.0));
    }

    #[test]
    fn negative_indexes_count_from_the_end() {
        let series = Series::from_slice(&[1.0, 2.0, 3.0]);
        assert_eq!(series.get(0), Some(1.0));
        assert_eq!(series.get(2), Some(3.0));
        assert_eq!(series.get(-1), Some(3.0));
        assert_eq!(series.get(-3), Some(1.0));
        assert_eq!(series.get(3), None);
        assert_eq!(series.get(-4), None);
        assert_eq!(series.get(i64::MIN), None);
        assert_eq!(series.get(i64::MAX), None);
    }

    #[test]
    fn first_and_last_report_nan_and_are_none_only_when_empty() {
        let series = Series::from(vec![NAN, 1.0, NAN]);
        assert!(series.first().is_some_and(f64::is_nan));
        assert!(series.last().is_some_and(f64::is_nan));
        assert_eq!(Series::default().last(), None);
        assert_eq!(Series::default().first(), None);
        assert!(Series::default().is_empty());
    }

    #[test]
    fn diff_pct_change_and_shift_leave_leading_nan_and_keep_the_length() {
        let series = Series::from_slice(&[1.0, 2.0, 4.0, 7.0]);
        // 2−1, 4−2, 7−4; and two apart 4−1, 7−2.
        assert!(same(&series.diff(1), &[NAN, 1.0, 2.0, 3.0]));
        assert!(same(&series.diff(2), &[NAN, NAN, 3.0, 5.0]));
        // 2/1 − 1, 4/2 − 1, 7/4 − 1.
        assert!(same(&series.pct_change(1), &[NAN, 1.0, 1.0, 0.75]));
        assert!(same(&series.shift(1), &[NAN, 1.0, 2.0, 4.0]));
        assert!(same(&series.shift(0), series.values()));
        assert!(same(&series.shift(9), &[NAN; 4]));
        assert!(same(&series.diff(usize::MAX), &[NAN; 4]));
    }

    #[test]
    fn slices_follow_python_with_negative_and_out_of_range_bounds() {
        let series = Series::from_slice(&[1.0, 2.0, 4.0, 7.0]);
        assert!(same(&series.slice(1, 3), &[2.0, 4.0]));
        assert!(same(&series.slice(-2, i64::MAX), &[4.0, 7.0]));
        assert!(same(&series.slice(i64::MIN, 2), &[1.0, 2.0]));
        assert!(same(&series.slice(0, -1), &[1.0, 2.0, 4.0]));
        assert!(series.slice(3, 1).is_empty());
        assert!(same(&series.tail(2), &[4.0, 7.0]));
        assert!(same(&series.tail(10), series.values()));
        assert!(series.tail(0).is_empty());
    }

    #[test]
    fn dropna_and_cumsum_step_over_missing_values() {
        let series = Series::from_slice(&[1.0, NAN, 2.0, 3.0]);
        assert!(same(&series.dropna(), &[1.0, 2.0, 3.0]));
        assert!(same(&series.cumsum(), &[1.0, NAN, 3.0, 6.0]));
    }

    #[test]
    fn reductions_skip_nan() {
        let series = Series::from_slice(&[NAN, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(series.sum(), 10.0);
        assert_eq!(series.mean(), 2.5);
        // Squared deviations from 2.5: 2.25 + 0.25 + 0.25 + 2.25 = 5; sample 5/3, population 5/4.
        assert!((series.std() - (5.0_f64 / 3.0).sqrt()).abs() < 1e-15);
        assert!((series.std_ddof(0) - 1.25_f64.sqrt()).abs() < 1e-15);
        assert_eq!(series.min(), 1.0);
        assert_eq!(series.max(), 4.0);
    }

    #[test]
    fn reductions_of_nothing_are_nan_except_the_empty_sum() {
        let nothing = Series::from_slice(&[NAN, NAN]);
        assert_eq!(nothing.sum(), 0.0);
        assert!(nothing.mean().is_nan());
        assert!(nothing.std().is_nan());
        assert!(nothing.min().is_nan());
        assert!(nothing.max().is_nan());
        assert!(Series::from_slice(&[1.0]).std().is_nan());
    }
}
