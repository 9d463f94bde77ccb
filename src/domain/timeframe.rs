//! Bar durations in Alpaca's spelling (`1Min`, `5Min`, `1Hour`, `1Day`, `1Week`, `1Month`).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// Why a timeframe was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a timeframe; use a count and a unit such as 1Min, 5Min, 1Hour, 1Day, 1Week or 1Month"
)]
pub struct TimeframeError(pub String);

/// The unit of a timeframe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimeframeUnit {
    /// Minutes.
    Minute,
    /// Hours.
    Hour,
    /// Calendar days (one trading session for daily bars).
    Day,
    /// Weeks.
    Week,
    /// Calendar months (not a fixed duration).
    Month,
}

/// A count of units, such as five minutes. The count is 1..=59 for minutes, 1..=23 for hours, 1 for
/// days and weeks, and 1, 2, 3, 6 or 12 for months — the same bounds Alpaca's bars API enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Timeframe {
    amount: u32,
    unit: TimeframeUnit,
}

impl Timeframe {
    /// One minute.
    pub const MINUTE: Self = Self {
        amount: 1,
        unit: TimeframeUnit::Minute,
    };
    /// One hour.
    pub const HOUR: Self = Self {
        amount: 1,
        unit: TimeframeUnit::Hour,
    };
    /// One day.
    pub const DAY: Self = Self {
        amount: 1,
        unit: TimeframeUnit::Day,
    };
    /// One week.
    pub const WEEK: Self = Self {
        amount: 1,
        unit: TimeframeUnit::Week,
    };
    /// One month.
    pub const MONTH: Self = Self {
        amount: 1,
        unit: TimeframeUnit::Month,
    };

    /// Checks the count against the unit's bounds.
    pub fn new(amount: u32, unit: TimeframeUnit) -> Result<Self, TimeframeError> {
        let valid = match unit {
            TimeframeUnit::Minute => (1..=59).contains(&amount),
            TimeframeUnit::Hour => (1..=23).contains(&amount),
            TimeframeUnit::Day | TimeframeUnit::Week => amount == 1,
            TimeframeUnit::Month => matches!(amount, 1 | 2 | 3 | 6 | 12),
        };
        let timeframe = Self { amount, unit };
        if valid {
            Ok(timeframe)
        } else {
            Err(TimeframeError(timeframe.to_string()))
        }
    }

    /// The count of units.
    pub fn amount(self) -> u32 {
        self.amount
    }

    /// The unit.
    pub fn unit(self) -> TimeframeUnit {
        self.unit
    }

    /// The nominal length; a month counts as 30 days (only used for ordering and gap detection).
    pub fn nominal_duration(self) -> Duration {
        let amount = i64::from(self.amount);
        match self.unit {
            TimeframeUnit::Minute => Duration::minutes(amount),
            TimeframeUnit::Hour => Duration::hours(amount),
            TimeframeUnit::Day => Duration::days(amount),
            TimeframeUnit::Week => Duration::weeks(amount),
            TimeframeUnit::Month => Duration::days(30 * amount),
        }
    }

    /// True for timeframes shorter than a day.
    pub fn is_intraday(self) -> bool {
        matches!(self.unit, TimeframeUnit::Minute | TimeframeUnit::Hour)
    }

    /// The start of the bar of this timeframe that contains `time`, for intraday timeframes
    /// aligned to the hour in UTC (as US exchanges' minute and hour bars are); for daily and longer
    /// bars the caller aligns to the exchange's sessions instead.
    pub fn floor_intraday(self, time: DateTime<Utc>) -> DateTime<Utc> {
        let step = self.nominal_duration().num_seconds().max(1);
        let seconds = time.timestamp().div_euclid(step) * step;
        Utc.timestamp_opt(seconds, 0).single().unwrap_or(time)
    }

    /// Guesses the timeframe of a series from the typical gap between consecutive bar times: the
    /// median gap, so that weekends, holidays and the odd missing bar do not mislead it.
    pub fn infer(times: &[DateTime<Utc>]) -> Option<Self> {
        let mut gaps: Vec<i64> = times
            .windows(2)
            .map(|pair| (pair[1] - pair[0]).num_seconds())
            .filter(|gap| *gap > 0)
            .collect();
        if gaps.is_empty() {
            return None;
        }
        gaps.sort_unstable();
        let median = gaps[gaps.len() / 2];
        let minutes = median / 60;
        let days = median / 86_400;
        let timeframe = if median < 3_600 {
            Self::new(u32::try_from(minutes.max(1)).ok()?, TimeframeUnit::Minute).ok()?
        } else if median < 86_400 {
            Self::new(u32::try_from(median / 3_600).ok()?, TimeframeUnit::Hour).ok()?
        } else if days < 7 {
            Self::DAY
        } else if days < 28 {
            Self::WEEK
        } else {
            let months = ((days + 15) / 30).clamp(1, 12);
            [12, 6, 3, 2, 1]
                .into_iter()
                .find(|candidate| i64::from(*candidate) <= months)
                .and_then(|amount| Self::new(amount, TimeframeUnit::Month).ok())?
        };
        Some(timeframe)
    }

    /// The first day of the month of `time`, for monthly series.
    pub fn month_start(time: DateTime<Utc>) -> Option<DateTime<Utc>> {
        Utc.with_ymd_and_hms(time.year(), time.month(), 1, 0, 0, 0)
            .single()
    }
}

impl fmt::Display for Timeframe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.unit {
            TimeframeUnit::Minute => "Min",
            TimeframeUnit::Hour => "Hour",
            TimeframeUnit::Day => "Day",
            TimeframeUnit::Week => "Week",
            TimeframeUnit::Month => "Month",
        };
        write!(f, "{}{unit}", self.amount)
    }
}

impl FromStr for Timeframe {
    type Err = TimeframeError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || TimeframeError(text.to_owned());
        let trimmed = text.trim();
        let split = trimmed
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(error)?;
        let (digits, unit) = trimmed.split_at(split);
        let amount = if digits.is_empty() {
            1
        } else {
            digits.parse().map_err(|_| error())?
        };
        let unit = match unit.to_ascii_lowercase().as_str() {
            "min" | "m" | "t" | "minute" | "minutes" => TimeframeUnit::Minute,
            "hour" | "h" | "hours" => TimeframeUnit::Hour,
            "day" | "d" | "days" => TimeframeUnit::Day,
            "week" | "w" | "weeks" => TimeframeUnit::Week,
            "month" | "mo" | "months" => TimeframeUnit::Month,
            _ => return Err(error()),
        };
        Self::new(amount, unit).map_err(|_| error())
    }
}

impl TryFrom<String> for Timeframe {
    type Error = TimeframeError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<Timeframe> for String {
    fn from(timeframe: Timeframe) -> Self {
        timeframe.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn alpaca_spellings_and_aliases_parse() {
        assert_eq!("1Min".parse(), Ok(Timeframe::MINUTE));
        assert_eq!("1h".parse(), Ok(Timeframe::HOUR));
        assert_eq!("Day".parse(), Ok(Timeframe::DAY));
        assert_eq!(
            "5min".parse::<Timeframe>().map(|t| t.to_string()),
            Ok("5Min".to_owned())
        );
        assert!("0Min".parse::<Timeframe>().is_err());
        assert!("60Min".parse::<Timeframe>().is_err());
        assert!("2Day".parse::<Timeframe>().is_err());
        assert!("1Fortnight".parse::<Timeframe>().is_err());
        assert!("".parse::<Timeframe>().is_err());
    }

    #[test]
    fn inference_uses_the_median_gap() {
        let start = Utc
            .with_ymd_and_hms(2024, 1, 2, 14, 30, 0)
            .single()
            .expect("valid");
        let five_minutes: Vec<_> = (0..20).map(|i| start + Duration::minutes(5 * i)).collect();
        assert_eq!(
            Timeframe::infer(&five_minutes).map(|t| t.to_string()),
            Some("5Min".into())
        );
        // Weekdays only: the two-day weekend gaps do not outvote the one-day gaps.
        let weekdays: Vec<_> = (0..30)
            .map(|i| start + Duration::days(i))
            .filter(|t| t.weekday().num_days_from_monday() < 5)
            .collect();
        assert_eq!(Timeframe::infer(&weekdays), Some(Timeframe::DAY));
        let months: Vec<_> = (0..12)
            .filter_map(|m| Utc.with_ymd_and_hms(2020, m + 1, 15, 0, 0, 0).single())
            .collect();
        assert_eq!(Timeframe::infer(&months), Some(Timeframe::MONTH));
        assert_eq!(Timeframe::infer(&[start]), None);
    }

    proptest! {
        #[test]
        fn display_round_trips(amount in 1u32..60, unit in 0usize..5) {
            let unit = [TimeframeUnit::Minute, TimeframeUnit::Hour, TimeframeUnit::Day, TimeframeUnit::Week, TimeframeUnit::Month][unit];
            if let Ok(timeframe) = Timeframe::new(amount, unit) {
                prop_assert_eq!(timeframe.to_string().parse(), Ok(timeframe));
            }
        }
    }
}
