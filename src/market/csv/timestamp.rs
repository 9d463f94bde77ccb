//! Dates and times in CSV files: the date formats, guessing which one a file uses, and turning a
//! local wall-clock time into the UTC start of a bar.

use std::fmt;
use std::str::FromStr;

use chrono::format::{Item, StrftimeItems};
use chrono::{
    DateTime, Datelike, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone,
    Utc,
};
use chrono_tz::Tz;

/// How the date column is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DateFormat {
    /// `2024-01-31` (`%Y-%m-%d`).
    Iso,
    /// `1/31/2024` (`%m/%d/%Y`), the usual US spreadsheet export.
    MonthDayYear,
    /// `31/01/2024` (`%d/%m/%Y`), the usual European spreadsheet export.
    DayMonthYear,
    /// Any chrono `strftime` pattern, such as `%d.%m.%Y` or `%Y%m%d %H%M%S`.
    Custom(String),
}

/// Why a date format was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a date format; use ymd (2024-01-31), mdy (1/31/2024), dmy (31/01/2024) or a chrono pattern such as %d.%m.%Y"
)]
pub struct DateFormatError(pub String);

impl DateFormat {
    /// The chrono pattern the format stands for.
    pub fn pattern(&self) -> &str {
        match self {
            Self::Iso => "%Y-%m-%d",
            Self::MonthDayYear => "%m/%d/%Y",
            Self::DayMonthYear => "%d/%m/%Y",
            Self::Custom(pattern) => pattern,
        }
    }

    /// Refuses custom patterns chrono cannot use, so a typo fails once instead of on every row.
    fn check(&self) -> Result<(), DateFormatError> {
        let broken = StrftimeItems::new(self.pattern()).any(|item| matches!(item, Item::Error));
        if broken {
            Err(DateFormatError(self.pattern().to_owned()))
        } else {
            Ok(())
        }
    }
}

impl FromStr for DateFormat {
    type Err = DateFormatError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        let format = match trimmed.to_ascii_lowercase().as_str() {
            "ymd" | "iso" => Self::Iso,
            "mdy" => Self::MonthDayYear,
            "dmy" => Self::DayMonthYear,
            _ if trimmed.contains('%') => Self::Custom(trimmed.to_owned()),
            _ => return Err(DateFormatError(trimmed.to_owned())),
        };
        format.check()?;
        Ok(format)
    }
}

impl fmt::Display for DateFormat {
    /// The spelling [`DateFormat::from_str`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Iso => f.write_str("ymd"),
            Self::MonthDayYear => f.write_str("mdy"),
            Self::DayMonthYear => f.write_str("dmy"),
            Self::Custom(pattern) => f.write_str(pattern),
        }
    }
}

/// What the date column of a whole file suggests about its format.
#[derive(Debug, Default)]
pub(super) struct FormatDetector {
    iso_dates: u64,
    slash_dates: u64,
    /// The first slash date whose first number cannot be a month, and its line.
    day_first: Option<(String, u64)>,
    /// Whether some slash date has a second number that cannot be a month.
    month_first: bool,
}

/// The outcome of [`FormatDetector::conclude`].
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Detected {
    /// The file can be read with this format.
    Format(DateFormat),
    /// Every slash date that tells the orders apart puts the day first; reading them as
    /// month/day/year would be wrong, and guessing silently could be, so the caller must say.
    DayFirst {
        /// A date from the file that shows it.
        example: String,
        /// Its line.
        line: u64,
    },
}

impl FormatDetector {
    /// Notes one date cell.
    pub(super) fn observe(&mut self, line: u64, text: &str) {
        let day = text.split([' ', 'T']).next().unwrap_or_default();
        if looks_iso(day) {
            self.iso_dates += 1;
            return;
        }
        let mut parts = day.split('/');
        let (Some(first), Some(second), Some(year), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return;
        };
        let number = |part: &str| {
            (!part.is_empty() && part.len() <= 2 && part.bytes().all(|b| b.is_ascii_digit()))
                .then(|| part.parse::<u32>().ok())
                .flatten()
        };
        let (Some(first), Some(second)) = (number(first), number(second)) else {
            return;
        };
        if year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
            return;
        }
        self.slash_dates += 1;
        if first > 12 && self.day_first.is_none() {
            self.day_first = Some((text.to_owned(), line));
        }
        if second > 12 {
            self.month_first = true;
        }
    }

    /// The format the file evidently uses: ISO unless slash dates are the majority, and then
    /// month/day/year unless the file can only be day/month/year.
    pub(super) fn conclude(self) -> Detected {
        if self.slash_dates <= self.iso_dates {
            return Detected::Format(DateFormat::Iso);
        }
        match self.day_first {
            Some((example, line)) if !self.month_first => Detected::DayFirst { example, line },
            _ => Detected::Format(DateFormat::MonthDayYear),
        }
    }
}

fn looks_iso(day: &str) -> bool {
    let bytes = day.as_bytes();
    bytes.len() >= 8 && bytes[..4].iter().all(u8::is_ascii_digit) && bytes[4] == b'-'
}

/// Turns the date (and time) cells of a row into the UTC start of its bar.
#[derive(Debug)]
pub(super) struct TimestampReader {
    format: DateFormat,
    timezone: Tz,
}

impl TimestampReader {
    /// A reader for dates in `format` and local times in `timezone`.
    pub(super) fn new(format: DateFormat, timezone: Tz) -> Result<Self, DateFormatError> {
        format.check()?;
        Ok(Self { format, timezone })
    }

    /// The start of the bar: a date alone is midnight of that date in the time zone (the session
    /// of that day), a date and a time are a local wall-clock time, and a timestamp with an
    /// offset is taken as it is. The error is the reason the row is rejected.
    pub(super) fn read(&self, date: &str, time: Option<&str>) -> Result<DateTime<Utc>, String> {
        if date.is_empty() {
            return Err("date is empty".to_owned());
        }
        if time == Some("") {
            return Err("time is empty".to_owned());
        }
        if let DateFormat::Custom(pattern) = &self.format {
            return self.read_custom(pattern, date, time);
        }
        // Only text longer than a date can carry its own offset; trying it first keeps plain
        // dates on the fast path.
        if date.len() > 10
            && let Ok(stamped) = DateTime::<FixedOffset>::from_str(date)
        {
            return match time {
                Some(_) => Err(already_timed(date)),
                None => Ok(stamped.with_timezone(&Utc)),
            };
        }
        let (day_text, time_in_date) = match date.split_once([' ', 'T']) {
            Some((day, rest)) => (day, Some(rest.trim())),
            None => (date, None),
        };
        let time_of_day = match (time_in_date, time) {
            (Some(_), Some(_)) => return Err(already_timed(date)),
            (Some(text), None) | (None, Some(text)) => read_time(text)?,
            (None, None) => NaiveTime::MIN,
        };
        let day = NaiveDate::parse_from_str(day_text, self.format.pattern())
            .ok()
            // chrono reads `1/2/01` as the year 1; real price data has four-digit years.
            .filter(|day| day.year() >= 1000)
            .ok_or_else(|| format!("date `{date}` is not {}", describe(&self.format)))?;
        self.to_utc(day.and_time(time_of_day))
    }

    fn read_custom(
        &self,
        pattern: &str,
        date: &str,
        time: Option<&str>,
    ) -> Result<DateTime<Utc>, String> {
        let unreadable = || format!("date `{date}` does not match the pattern `{pattern}`");
        if let Ok(stamped) = DateTime::parse_from_str(date, pattern) {
            return match time {
                Some(_) => Err(already_timed(date)),
                None => Ok(stamped.with_timezone(&Utc)),
            };
        }
        if let Ok(local) = NaiveDateTime::parse_from_str(date, pattern) {
            return match time {
                Some(_) => Err(already_timed(date)),
                None => self.to_utc(local),
            };
        }
        let day = NaiveDate::parse_from_str(date, pattern).map_err(|_| unreadable())?;
        let time_of_day = time.map_or(Ok(NaiveTime::MIN), read_time)?;
        self.to_utc(day.and_time(time_of_day))
    }

    /// A local time in the reader's zone, in UTC. In the autumn hour that happens twice the
    /// earlier (daylight-saving) instant is taken, as exchanges do not trade then anyway; a time
    /// skipped by the spring change cannot be a real bar and is refused.
    fn to_utc(&self, local: NaiveDateTime) -> Result<DateTime<Utc>, String> {
        match self.timezone.from_local_datetime(&local) {
            LocalResult::Single(time) | LocalResult::Ambiguous(time, _) => {
                Ok(time.with_timezone(&Utc))
            }
            LocalResult::None => Err(format!(
                "local time {local} does not exist in {} (the clocks skip it for daylight saving)",
                self.timezone
            )),
        }
    }
}

fn read_time(text: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(text, "%H:%M:%S%.f")
        .or_else(|_| NaiveTime::parse_from_str(text, "%H:%M"))
        .map_err(|_| format!("time `{text}` is not hh:mm or hh:mm:ss"))
}

fn already_timed(date: &str) -> String {
    format!("date `{date}` already holds a time of day, so the time column must not")
}

fn describe(format: &DateFormat) -> String {
    match format {
        DateFormat::Iso => "year-month-day (yyyy-mm-dd)".to_owned(),
        DateFormat::MonthDayYear => "month/day/year (m/d/yyyy)".to_owned(),
        DateFormat::DayMonthYear => "day/month/year (d/m/yyyy)".to_owned(),
        DateFormat::Custom(pattern) => format!("in the pattern `{pattern}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().expect("valid test timestamp")
    }

    fn reader(format: DateFormat) -> TimestampReader {
        TimestampReader::new(format, chrono_tz::America::New_York).expect("valid format")
    }

    #[test]
    fn format_names_and_patterns_parse() {
        assert_eq!("ymd".parse(), Ok(DateFormat::Iso));
        assert_eq!("ISO".parse(), Ok(DateFormat::Iso));
        assert_eq!("mdy".parse(), Ok(DateFormat::MonthDayYear));
        assert_eq!("dmy".parse(), Ok(DateFormat::DayMonthYear));
        assert_eq!(
            "%d.%m.%Y".parse(),
            Ok(DateFormat::Custom("%d.%m.%Y".to_owned()))
        );
        assert!("european".parse::<DateFormat>().is_err());
        assert!("%Q-%m".parse::<DateFormat>().is_err());
        for format in ["ymd", "mdy", "dmy", "%Y%m%d"] {
            let parsed: DateFormat = format.parse().expect("valid format");
            assert_eq!(parsed.to_string(), format);
        }
    }

    #[test]
    fn each_date_format_reads_midnight_new_york() {
        // 2024-01-31 is in standard time, so midnight in New York is 05:00 UTC.
        let expected = utc("2024-01-31T05:00:00Z");
        assert_eq!(
            reader(DateFormat::Iso).read("2024-01-31", None),
            Ok(expected)
        );
        assert_eq!(
            reader(DateFormat::MonthDayYear).read("1/31/2024", None),
            Ok(expected)
        );
        assert_eq!(
            reader(DateFormat::DayMonthYear).read("31/01/2024", None),
            Ok(expected)
        );
        assert_eq!(
            reader(DateFormat::Custom("%d.%m.%Y".to_owned())).read("31.01.2024", None),
            Ok(expected)
        );
        // In summer New York is four hours behind UTC.
        assert_eq!(
            reader(DateFormat::Iso).read("2024-07-01", None),
            Ok(utc("2024-07-01T04:00:00Z"))
        );
    }

    #[test]
    fn a_time_in_a_dst_transition_week_converts_with_the_offset_of_its_day() {
        let iso = reader(DateFormat::Iso);
        assert_eq!(
            iso.read("2024-03-08", Some("09:30")),
            Ok(utc("2024-03-08T14:30:00Z"))
        );
        assert_eq!(
            iso.read("2024-03-11", Some("09:30:00")),
            Ok(utc("2024-03-11T13:30:00Z"))
        );
        assert_eq!(
            iso.read("2024-03-11 09:30", None),
            Ok(utc("2024-03-11T13:30:00Z"))
        );
    }

    #[test]
    fn a_skipped_local_time_is_refused_and_a_repeated_one_takes_the_earlier_instant() {
        let iso = reader(DateFormat::Iso);
        let skipped = iso
            .read("2024-03-10", Some("02:30"))
            .expect_err("02:30 does not exist");
        assert!(
            skipped.contains("does not exist in America/New_York"),
            "{skipped}"
        );
        // 01:30 on 2024-11-03 happens first in EDT (UTC-4), then in EST (UTC-5).
        assert_eq!(
            iso.read("2024-11-03", Some("01:30")),
            Ok(utc("2024-11-03T05:30:00Z"))
        );
    }

    #[test]
    fn timestamps_with_an_offset_are_taken_as_they_are() {
        let iso = reader(DateFormat::MonthDayYear);
        assert_eq!(
            iso.read("2024-01-02T14:30:00Z", None),
            Ok(utc("2024-01-02T14:30:00Z"))
        );
        assert_eq!(
            iso.read("2024-01-02T09:30:00-05:00", None),
            Ok(utc("2024-01-02T14:30:00Z"))
        );
        assert!(iso.read("2024-01-02T14:30:00Z", Some("09:30")).is_err());
    }

    #[test]
    fn unreadable_dates_and_times_name_the_text() {
        let mdy = reader(DateFormat::MonthDayYear);
        assert_eq!(
            mdy.read("19/07/2005", None),
            Err("date `19/07/2005` is not month/day/year (m/d/yyyy)".to_owned())
        );
        assert!(mdy.read("1/2/01", None).is_err());
        assert_eq!(
            mdy.read("1/2/2001", Some("9h30")),
            Err("time `9h30` is not hh:mm or hh:mm:ss".to_owned())
        );
        assert_eq!(mdy.read("", None), Err("date is empty".to_owned()));
    }

    #[test]
    fn detection_prefers_iso_then_month_first_and_refuses_evident_day_first() {
        let detect = |dates: &[&str]| {
            let mut detector = FormatDetector::default();
            for (index, date) in dates.iter().enumerate() {
                detector.observe(index as u64 + 2, date);
            }
            detector.conclude()
        };
        assert_eq!(
            detect(&["2024-01-02", "2024-01-03"]),
            Detected::Format(DateFormat::Iso)
        );
        assert_eq!(
            detect(&["1/2/2024", "1/3/2024"]),
            Detected::Format(DateFormat::MonthDayYear)
        );
        assert_eq!(
            detect(&["12/31/2024", "13/01/2025"]),
            Detected::Format(DateFormat::MonthDayYear)
        );
        assert_eq!(
            detect(&["02/01/1990", "16/02/1990", "17/02/1990"]),
            Detected::DayFirst {
                example: "16/02/1990".to_owned(),
                line: 3
            }
        );
    }
}
