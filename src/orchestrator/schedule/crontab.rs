//! Standard crontab expressions as users write them, parsed into sets and translated into the Quartz syntax the `cron` crate reads.
//!
//! The two syntaxes disagree on the day of the week (crontab: 0 or 7 is Sunday, 1 is Monday;
//! Quartz: 1 is Sunday … 7 is Saturday), so every field is expanded here into an explicit set and
//! written back out as a plain list of numbers. Nothing but numbers, commas and `*` reaches the
//! crate, so no crontab spelling can be misread by it.

use std::fmt;

use chrono::{Datelike, NaiveDateTime, Timelike};

use super::ScheduleError;

/// One field of a crontab expression, named in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// The optional leading seconds field, 0–59.
    Second,
    /// Minutes, 0–59.
    Minute,
    /// Hours, 0–23.
    Hour,
    /// Day of the month, 1–31.
    DayOfMonth,
    /// Month, 1–12 or `JAN`–`DEC`.
    Month,
    /// Day of the week, 0–7 (0 and 7 are Sunday) or `SUN`–`SAT`.
    DayOfWeek,
}

const MONTH_NAMES: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl Field {
    /// The smallest and largest number a user may write in this field.
    fn written_range(self) -> (u32, u32) {
        match self {
            Field::Second | Field::Minute => (0, 59),
            Field::Hour => (0, 23),
            Field::DayOfMonth => (1, 31),
            Field::Month => (1, 12),
            Field::DayOfWeek => (0, 7),
        }
    }

    /// The values `*` stands for. Day of week stops at 6 because 7 is only another Sunday.
    fn every(self) -> (u32, u32) {
        match self {
            Field::DayOfWeek => (0, 6),
            other => other.written_range(),
        }
    }

    /// Names and the number each stands for.
    fn name_value(self, text: &str) -> Option<u32> {
        let (names, first): (&[&str], u32) = match self {
            Field::Month => (&MONTH_NAMES, 1),
            Field::DayOfWeek => (&DAY_NAMES, 0),
            _ => return None,
        };
        let position = names
            .iter()
            .position(|name| name.eq_ignore_ascii_case(text))?;
        u32::try_from(position).ok().map(|index| index + first)
    }

    fn expected(self) -> &'static str {
        match self {
            Field::Month => "a number or a month name",
            Field::DayOfWeek => "a number or a day name",
            _ => "a number",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Field::Second => "second",
            Field::Minute => "minute",
            Field::Hour => "hour",
            Field::DayOfMonth => "day-of-month",
            Field::Month => "month",
            Field::DayOfWeek => "day-of-week",
        })
    }
}

/// A set of small numbers (every field fits below 64) as a bit mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Values(u64);

impl Values {
    fn insert(&mut self, value: u32) {
        self.0 |= 1 << value;
    }

    pub(super) fn contains(self, value: u32) -> bool {
        value < 64 && self.0 & (1 << value) != 0
    }

    fn iter(self) -> impl Iterator<Item = u32> {
        (0..64).filter(move |value| self.contains(*value))
    }

    fn covers(self, (first, last): (u32, u32)) -> bool {
        (first..=last).all(|value| self.contains(value))
    }

    /// The set as Quartz text: `*` when it holds every value of the field, otherwise a list with
    /// each value shifted by `offset` (Quartz counts days of the week from 1).
    fn quartz(self, field: Field, offset: u32) -> String {
        if self.covers(field.every()) {
            return "*".to_owned();
        }
        self.iter()
            .map(|value| (value + offset).to_string())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A parsed crontab expression: the set of allowed values of each field, with day of week
/// counted from Sunday = 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Crontab {
    pub(super) seconds: Values,
    pub(super) minutes: Values,
    pub(super) hours: Values,
    pub(super) days_of_month: Values,
    pub(super) months: Values,
    pub(super) days_of_week: Values,
    /// Standard cron's rule: when both day fields are restricted, a day matches if either
    /// matches. A field counts as unrestricted when it starts with `*` (as in Vixie cron, so
    /// `*/2` in one day field still combines with the other by AND).
    pub(super) either_day_matches: bool,
}

/// The macros of Vixie cron and their five-field meaning. `@reboot` has no time and is refused.
const MACROS: [(&str, &str); 7] = [
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
];

impl Crontab {
    /// Parses five fields (`minute hour day-of-month month day-of-week`), six with a leading
    /// seconds field, or one of the `@` macros.
    pub(super) fn parse(expression: &str) -> Result<Crontab, ScheduleError> {
        let expression = expression.trim();
        let expression = if expression.starts_with('@') {
            MACROS
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(expression))
                .map(|(_, fields)| *fields)
                .ok_or_else(|| ScheduleError::UnknownMacro {
                    name: expression.to_owned(),
                })?
        } else {
            expression
        };
        let texts: Vec<&str> = expression.split_ascii_whitespace().collect();
        let fields = match *texts.as_slice() {
            [minute, hour, day_of_month, month, day_of_week] => {
                ["0", minute, hour, day_of_month, month, day_of_week]
            }
            [second, minute, hour, day_of_month, month, day_of_week] => {
                [second, minute, hour, day_of_month, month, day_of_week]
            }
            _ => return Err(ScheduleError::FieldCount { found: texts.len() }),
        };
        let [
            second_text,
            minute_text,
            hour_text,
            day_of_month_text,
            month_text,
            day_of_week_text,
        ] = fields;
        let crontab = Crontab {
            seconds: parse_field(Field::Second, second_text)?,
            minutes: parse_field(Field::Minute, minute_text)?,
            hours: parse_field(Field::Hour, hour_text)?,
            days_of_month: parse_field(Field::DayOfMonth, day_of_month_text)?,
            months: parse_field(Field::Month, month_text)?,
            days_of_week: parse_field(Field::DayOfWeek, day_of_week_text)?,
            either_day_matches: !day_of_month_text.starts_with('*')
                && !day_of_week_text.starts_with('*'),
        };
        if !crontab.some_day_exists() {
            return Err(ScheduleError::NeverFires {
                expression: expression.to_owned(),
            });
        }
        Ok(crontab)
    }

    /// False for expressions such as `0 0 30 2 *` whose days of the month occur in none of its
    /// months, which the crate would otherwise search until 2100 for. When either day field may
    /// match, the day-of-week half always fires, so only the AND form can be empty.
    fn some_day_exists(&self) -> bool {
        const LONGEST_MONTHS: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        self.either_day_matches
            || (1..=12u32).any(|month| {
                let longest = LONGEST_MONTHS[(month - 1) as usize];
                self.months.contains(month)
                    && (1..=longest).any(|day| self.days_of_month.contains(day))
            })
    }

    /// The expression as one or two Quartz expressions for the crate; two when either day field
    /// may match, because Quartz only knows AND. The schedule fires at the earlier of the two.
    pub(super) fn quartz(&self) -> Vec<String> {
        let times = format!(
            "{} {} {}",
            self.seconds.quartz(Field::Second, 0),
            self.minutes.quartz(Field::Minute, 0),
            self.hours.quartz(Field::Hour, 0),
        );
        let months = self.months.quartz(Field::Month, 0);
        let days_of_month = self.days_of_month.quartz(Field::DayOfMonth, 0);
        let days_of_week = self.days_of_week.quartz(Field::DayOfWeek, 1);
        let every_day = self.days_of_month.covers(Field::DayOfMonth.every())
            || self.days_of_week.covers(Field::DayOfWeek.every());
        if self.either_day_matches && every_day {
            // Either day may match and one of them matches every day: no day is excluded.
            vec![format!("{times} * {months} *")]
        } else if self.either_day_matches {
            vec![
                format!("{times} {days_of_month} {months} *"),
                format!("{times} * {months} {days_of_week}"),
            ]
        } else {
            vec![format!("{times} {days_of_month} {months} {days_of_week}")]
        }
    }

    /// True when a local wall-clock time satisfies every field.
    pub(super) fn matches(&self, local: NaiveDateTime) -> bool {
        let day_of_month = self.days_of_month.contains(local.day());
        let day_of_week = self
            .days_of_week
            .contains(local.weekday().num_days_from_sunday());
        let day = if self.either_day_matches {
            day_of_month || day_of_week
        } else {
            day_of_month && day_of_week
        };
        day && local.nanosecond() == 0
            && self.seconds.contains(local.second())
            && self.minutes.contains(local.minute())
            && self.hours.contains(local.hour())
            && self.months.contains(local.month())
    }
}

/// Parses one field: a comma-separated list of `*`, `N`, `N-M`, each optionally `/STEP`.
fn parse_field(field: Field, text: &str) -> Result<Values, ScheduleError> {
    let mut values = Values::default();
    for item in text.split(',') {
        if item.is_empty() {
            return Err(ScheduleError::EmptyItem {
                field,
                text: text.to_owned(),
            });
        }
        let (base, step) = match item.split_once('/') {
            Some((base, step)) => (base, Some(parse_step(field, item, step)?)),
            None => (item, None),
        };
        let (first, last) = if base == "*" {
            field.every()
        } else if let Some((start, end)) = base.split_once('-') {
            let first = parse_value(field, item, start)?;
            let mut last = parse_value(field, item, end)?;
            // `FRI-SUN` reads naturally as Friday to Sunday: SUN is 0, so count it as 7 here.
            if field == Field::DayOfWeek && last == 0 && first > 0 {
                last = 7;
            }
            if first > last {
                return Err(ScheduleError::BackwardsRange {
                    field,
                    range: item.to_owned(),
                });
            }
            (first, last)
        } else {
            let value = parse_value(field, item, base)?;
            // `N/STEP` runs from N to the end of the field, as in Quartz and cronie.
            match step {
                Some(_) => (value, field.every().1.max(value)),
                None => (value, value),
            }
        };
        let step = step.unwrap_or(1);
        for value in (first..=last).step_by(step) {
            // Sunday may be written 7; the set counts it as 0.
            let value = if field == Field::DayOfWeek {
                value % 7
            } else {
                value
            };
            values.insert(value);
        }
    }
    Ok(values)
}

fn parse_value(field: Field, item: &str, text: &str) -> Result<u32, ScheduleError> {
    if let Some(value) = field.name_value(text) {
        return Ok(value);
    }
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(ScheduleError::InvalidValue {
            field,
            value: item.to_owned(),
            expected: field.expected(),
        });
    }
    let (min, max) = field.written_range();
    text.parse::<u32>()
        .ok()
        .filter(|value| (min..=max).contains(value))
        .ok_or_else(|| ScheduleError::OutOfRange {
            field,
            value: text.to_owned(),
            min,
            max,
        })
}

fn parse_step(field: Field, item: &str, text: &str) -> Result<usize, ScheduleError> {
    let invalid = || ScheduleError::InvalidStep {
        field,
        item: item.to_owned(),
    };
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(invalid());
    }
    text.parse::<usize>()
        .ok()
        .filter(|step| *step >= 1)
        .ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(field: Field, text: &str) -> Vec<u32> {
        parse_field(field, text)
            .expect("a valid test field")
            .iter()
            .collect()
    }

    fn quartz(expression: &str) -> Vec<String> {
        Crontab::parse(expression)
            .expect("a valid test expression")
            .quartz()
    }

    fn error(expression: &str) -> String {
        Crontab::parse(expression)
            .expect_err("an invalid test expression")
            .to_string()
    }

    #[test]
    fn weekday_numbers_are_shifted_to_quartz_so_one_to_five_is_monday_to_friday() {
        assert_eq!(
            quartz("0 14-21 * * 1-5"),
            ["0 0 14,15,16,17,18,19,20,21 * * 2,3,4,5,6"]
        );
    }

    #[test]
    fn sunday_is_zero_or_seven_and_names_are_case_insensitive() {
        assert_eq!(values(Field::DayOfWeek, "0"), [0]);
        assert_eq!(values(Field::DayOfWeek, "7"), [0]);
        assert_eq!(values(Field::DayOfWeek, "MON-FRI"), [1, 2, 3, 4, 5]);
        assert_eq!(values(Field::DayOfWeek, "sat,sun"), [0, 6]);
        assert_eq!(values(Field::DayOfWeek, "Fri-Sun"), [0, 5, 6]);
        assert_eq!(values(Field::DayOfWeek, "5-7"), [0, 5, 6]);
        assert_eq!(values(Field::Month, "jan,Jun-AUG"), [1, 6, 7, 8]);
    }

    #[test]
    fn steps_lists_and_ranges_expand_to_explicit_sets() {
        assert_eq!(values(Field::Minute, "*/15"), [0, 15, 30, 45]);
        assert_eq!(values(Field::DayOfWeek, "1-5/2"), [1, 3, 5]);
        assert_eq!(values(Field::DayOfWeek, "1,3,5"), [1, 3, 5]);
        assert_eq!(values(Field::Hour, "9/4"), [9, 13, 17, 21]);
        assert_eq!(values(Field::DayOfMonth, "*/10"), [1, 11, 21, 31]);
        assert_eq!(values(Field::DayOfWeek, "*/2"), [0, 2, 4, 6]);
    }

    #[test]
    fn full_fields_are_written_as_a_star_and_five_fields_get_second_zero() {
        assert_eq!(quartz("* * * * *"), ["0 * * * * *"]);
        assert_eq!(quartz("0-59 0-23 1-31 1-12 0-7"), ["0 * * * * *"]);
        assert_eq!(quartz("*/30 * * * * *"), ["0,30 * * * * *"]);
    }

    #[test]
    fn macros_translate_to_their_five_field_meaning() {
        assert_eq!(quartz("@hourly"), ["0 0 * * * *"]);
        assert_eq!(quartz("@DAILY"), ["0 0 0 * * *"]);
        assert_eq!(quartz("@weekly"), ["0 0 0 * * 1"]);
        assert_eq!(quartz("@monthly"), ["0 0 0 1 * *"]);
        assert_eq!(quartz("@yearly"), ["0 0 0 1 1 *"]);
    }

    #[test]
    fn both_day_fields_restricted_become_two_quartz_expressions() {
        assert_eq!(quartz("0 0 1 * 1"), ["0 0 0 1 * *", "0 0 0 * * 2"]);
        // A day field that starts with `*` is unrestricted, so the two combine by AND.
        assert_eq!(quartz("0 0 */10 * 1"), ["0 0 0 1,11,21,31 * 2"]);
    }

    #[test]
    fn each_kind_of_bad_input_is_refused_with_the_field_and_value_named() {
        assert_eq!(error("0 9 * *"), "expected 5 or 6 fields, found 4");
        assert_eq!(error("0 0 9 * * * 2026"), "expected 5 or 6 fields, found 7");
        assert_eq!(error(""), "expected 5 or 6 fields, found 0");
        assert_eq!(error("0 9 * * 8"), "day-of-week `8` is out of range 0–7");
        assert_eq!(error("60 9 * * *"), "minute `60` is out of range 0–59");
        assert_eq!(error("0 24 * * *"), "hour `24` is out of range 0–23");
        assert_eq!(error("0 9 0 * *"), "day-of-month `0` is out of range 1–31");
        assert_eq!(error("0 9 * 13 *"), "month `13` is out of range 1–12");
        assert_eq!(error("61 0 9 * * *"), "second `61` is out of range 0–59");
        assert_eq!(
            error("0 9 * * FUNDAY"),
            "day-of-week `FUNDAY` is not a number or a day name"
        );
        assert_eq!(
            error("0 9 * SMARCH *"),
            "month `SMARCH` is not a number or a month name"
        );
        assert_eq!(error("0 -5 * * *"), "hour `-5` is not a number");
        assert_eq!(
            error("0 9 * * ?"),
            "day-of-week `?` is not a number or a day name"
        );
        assert_eq!(
            error("*/0 * * * *"),
            "minute `*/0` has an invalid step; expected a whole number of at least 1"
        );
        assert_eq!(error("0 17-9 * * *"), "hour range `17-9` runs backwards");
        assert_eq!(
            error("0 9,,17 * * *"),
            "hour `9,,17` has an empty list item"
        );
        assert_eq!(
            error("@reboot"),
            "unknown macro `@reboot`; expected @yearly, @annually, @monthly, @weekly, @daily, \
             @midnight or @hourly"
        );
        assert_eq!(
            error("0 0 30 2 *"),
            "`0 0 30 2 *` never fires: none of its months has any of its days of the month"
        );
    }

    #[test]
    fn the_thirty_first_of_some_month_and_february_the_twenty_ninth_are_accepted() {
        assert!(Crontab::parse("0 0 31 1-3 *").is_ok());
        assert!(Crontab::parse("0 0 29 2 *").is_ok());
        // Either day may match, so the Mondays of February fire even though the 30th never comes.
        assert!(Crontab::parse("0 0 30 2 1").is_ok());
    }
}
