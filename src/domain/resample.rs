//! Resampling: building longer bars (five minutes, an hour, a day) from shorter ones.
//!
//! Intraday buckets are aligned to the clock in UTC (an hour bar holds minutes :00–:59, as
//! Alpaca's do); daily buckets are the exchange's calendar day in New York, so a session's bars
//! form one daily bar whatever the DST offset.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::America::New_York;

use super::{Bar, Timeframe, TimeframeUnit};

/// Why bars could not be resampled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResampleError {
    /// Weekly and monthly buckets are not supported from intraday bars yet.
    #[error("cannot resample into {0}; use minutes, hours or 1Day")]
    Unsupported(Timeframe),
    /// The target is not longer than the source.
    #[error("cannot resample {from} bars into {to} bars")]
    NotLonger {
        /// The source timeframe.
        from: Timeframe,
        /// The target timeframe.
        to: Timeframe,
    },
}

/// The start of the bucket of `timeframe` holding `time`.
pub fn bucket_start(
    timeframe: Timeframe,
    time: DateTime<Utc>,
) -> Result<DateTime<Utc>, ResampleError> {
    match timeframe.unit() {
        TimeframeUnit::Minute | TimeframeUnit::Hour => Ok(timeframe.floor_intraday(time)),
        TimeframeUnit::Day => {
            let date = time.with_timezone(&New_York).date_naive();
            let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
            Ok(New_York
                .from_local_datetime(&midnight)
                .earliest()
                .map_or(time, |local| local.with_timezone(&Utc)))
        }
        TimeframeUnit::Week | TimeframeUnit::Month => Err(ResampleError::Unsupported(timeframe)),
    }
}

/// Combines time-ordered bars of one symbol into bars of `timeframe`: first open, highest high,
/// lowest low, last close, summed volume. The last bucket may be partial (the current hour).
pub fn resample(bars: &[Bar], timeframe: Timeframe) -> Result<Vec<Bar>, ResampleError> {
    let Some(first) = bars.first() else {
        return Ok(Vec::new());
    };
    if timeframe.nominal_duration() <= first.timeframe.nominal_duration() {
        return Err(ResampleError::NotLonger {
            from: first.timeframe,
            to: timeframe,
        });
    }
    let mut output: Vec<Bar> = Vec::with_capacity(bars.len() / 2 + 1);
    for bar in bars {
        let start = bucket_start(timeframe, bar.time)?;
        match output.last_mut() {
            Some(current) if current.time == start => {
                current.high = current.high.max(bar.high);
                current.low = current.low.min(bar.low);
                current.close = bar.close;
                current.volume = current.volume + bar.volume;
            }
            _ => output.push(Bar {
                timeframe,
                time: start,
                ..bar.clone()
            }),
        }
    }
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Price, Quantity, Symbol};
    use chrono::Duration;
    use rust_decimal::Decimal;

    fn minute(start: DateTime<Utc>, index: i64, open: i64, high: i64, low: i64, close: i64) -> Bar {
        let price = |value: i64| Price::new(Decimal::from(value)).expect("positive");
        Bar::new(
            Symbol::parse("SIMA").expect("valid"),
            Timeframe::MINUTE,
            start + Duration::minutes(index),
            price(open),
            price(high),
            price(low),
            price(close),
            Quantity::new(Decimal::from(10)).expect("non-negative"),
        )
        .expect("consistent")
    }

    #[test]
    fn minutes_combine_into_hours_aligned_to_the_clock() {
        // 14:30–15:29 UTC: the 14:00 bucket holds 30 minutes, the 15:00 bucket the other 30.
        let start = Utc
            .with_ymd_and_hms(2026, 1, 5, 14, 30, 0)
            .single()
            .expect("valid");
        let bars: Vec<Bar> = (0..60)
            .map(|i| minute(start, i, 100 + i, 101 + i, 99 + i, 100 + i))
            .collect();
        let hours = resample(&bars, Timeframe::HOUR).expect("resample");
        assert_eq!(hours.len(), 2);
        assert_eq!(
            hours[0].time,
            Utc.with_ymd_and_hms(2026, 1, 5, 14, 0, 0)
                .single()
                .expect("valid")
        );
        assert_eq!(hours[0].open.to_string(), "100");
        assert_eq!(hours[0].close.to_string(), "129");
        assert_eq!(hours[0].high.to_string(), "130");
        assert_eq!(hours[0].low.to_string(), "99");
        assert_eq!(hours[0].volume.to_string(), "300");
        assert_eq!(hours[1].open.to_string(), "130");
        assert_eq!(hours[1].timeframe, Timeframe::HOUR);
    }

    #[test]
    fn a_session_becomes_one_daily_bar_at_new_york_midnight() {
        let start = Utc
            .with_ymd_and_hms(2026, 7, 6, 13, 30, 0)
            .single()
            .expect("valid");
        let bars: Vec<Bar> = (0..390).map(|i| minute(start, i, 50, 60, 40, 55)).collect();
        let days = resample(&bars, Timeframe::DAY).expect("resample");
        assert_eq!(days.len(), 1);
        assert_eq!(
            days[0].time,
            Utc.with_ymd_and_hms(2026, 7, 6, 4, 0, 0)
                .single()
                .expect("valid")
        );
        assert_eq!(days[0].volume.to_string(), "3900");
    }

    #[test]
    fn shorter_or_unsupported_targets_are_refused() {
        let start = Utc
            .with_ymd_and_hms(2026, 1, 5, 14, 30, 0)
            .single()
            .expect("valid");
        let bars = vec![minute(start, 0, 1, 1, 1, 1)];
        assert!(resample(&bars, Timeframe::MINUTE).is_err());
        assert!(resample(&bars, Timeframe::WEEK).is_err());
        assert_eq!(resample(&[], Timeframe::HOUR), Ok(Vec::new()));
    }
}
