//! Deployment schedules: crontab expressions evaluated in their own IANA time zone, returned as UTC instants, with optional market-calendar gates.
//!
//! Pure and synchronous: the scheduler asks "which ticks fell in (last scheduled, now]" and this
//! module answers from the expression, the zone and the calendar alone. Ranges are always
//! exclusive of their start and inclusive of their end, so consecutive questions never count a
//! tick twice or lose one.
//!
//! Daylight saving time, decided once for every schedule:
//! - A local time that does not exist (New York's 02:30 on the day clocks spring forward) does
//!   not fire that day. This is what the `cron` crate does, and it keeps "each matching local
//!   time fires once" true without inventing a time the user did not write.
//! - A local time that exists twice (New York's 01:30 on the day clocks fall back) fires once, at
//!   its first occurrence. The crate would yield both instants; this module drops the second.
//!   The price is that an interval schedule in a DST zone (`*/15 * * * *` in New York) pauses for
//!   the repeated hour once a year; interval schedules that must keep their cadence belong in UTC.

mod crontab;
mod gate;

pub use crontab::Field;
pub use gate::{CalendarGate, GateReason, GatedSchedule, SEARCH_HORIZON_DAYS, Tick};

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use chrono_tz::Tz;

use crontab::Crontab;

/// The last year the `cron` crate searches; it finds nothing after 2100.
const LAST_YEAR: i32 = 2100;

/// Why a schedule expression or its time zone was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// Neither five nor six whitespace-separated fields.
    #[error("expected 5 or 6 fields, found {found}")]
    FieldCount {
        /// How many fields the expression had.
        found: usize,
    },
    /// A number outside what its field allows.
    #[error("{field} `{value}` is out of range {min}–{max}")]
    OutOfRange {
        /// The field the number was in.
        field: Field,
        /// The number as written.
        value: String,
        /// The smallest number the field allows.
        min: u32,
        /// The largest number the field allows.
        max: u32,
    },
    /// Something that is neither a number nor a name the field knows.
    #[error("{field} `{value}` is not {expected}")]
    InvalidValue {
        /// The field the value was in.
        field: Field,
        /// The list item as written.
        value: String,
        /// What the field accepts, in words.
        expected: &'static str,
    },
    /// A step of zero or one that is not a whole number.
    #[error("{field} `{item}` has an invalid step; expected a whole number of at least 1")]
    InvalidStep {
        /// The field the step was in.
        field: Field,
        /// The list item as written.
        item: String,
    },
    /// A range whose start is after its end.
    #[error("{field} range `{range}` runs backwards")]
    BackwardsRange {
        /// The field the range was in.
        field: Field,
        /// The range as written.
        range: String,
    },
    /// Two commas in a row, or a comma at either end.
    #[error("{field} `{text}` has an empty list item")]
    EmptyItem {
        /// The field with the empty item.
        field: Field,
        /// The whole field as written.
        text: String,
    },
    /// An `@` word that is not one of the time macros.
    #[error(
        "unknown macro `{name}`; expected @yearly, @annually, @monthly, @weekly, @daily, \
         @midnight or @hourly"
    )]
    UnknownMacro {
        /// The macro as written.
        name: String,
    },
    /// An expression that no date satisfies, such as February the 30th.
    #[error("`{expression}` never fires: none of its months has any of its days of the month")]
    NeverFires {
        /// The expression as written.
        expression: String,
    },
    /// A time zone name that is not in the IANA database.
    #[error("unknown time zone `{name}`")]
    UnknownTimeZone {
        /// The name as written.
        name: String,
    },
    /// The `cron` crate refused the Quartz text this module produced; a bug here, not in the input.
    #[error("the cron crate refused `{quartz}`, translated from `{expression}`: {message}")]
    Translation {
        /// The expression as written.
        expression: String,
        /// The Quartz text it was translated to.
        quartz: String,
        /// The crate's message.
        message: String,
    },
}

/// A crontab expression evaluated in an IANA time zone.
///
/// Five fields `minute hour day-of-month month day-of-week`, or six with a leading seconds
/// field; day of week 0 or 7 is Sunday and 1 is Monday; names, ranges, lists, steps and the
/// `@hourly`-style macros as in Vixie cron, including its rule that a day matches if either day
/// field matches when both are restricted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    expression: String,
    zone: Tz,
    crontab: Crontab,
    /// One Quartz schedule, or two when either day field may match (Quartz only knows AND).
    quartz: Vec<cron::Schedule>,
}

impl Schedule {
    /// Parses a crontab expression and an IANA time zone name such as `America/New_York`.
    pub fn parse(expression: &str, timezone: &str) -> Result<Schedule, ScheduleError> {
        let zone = Tz::from_str(timezone.trim()).map_err(|_| ScheduleError::UnknownTimeZone {
            name: timezone.to_owned(),
        })?;
        let expression = expression.trim();
        let crontab = Crontab::parse(expression)?;
        let quartz = crontab
            .quartz()
            .into_iter()
            .map(|text| {
                cron::Schedule::from_str(&text).map_err(|error| ScheduleError::Translation {
                    expression: expression.to_owned(),
                    quartz: text.clone(),
                    message: error.to_string(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Schedule {
            expression: expression.to_owned(),
            zone,
            crontab,
            quartz,
        })
    }

    /// The expression as the user wrote it (trimmed).
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The zone the expression is evaluated in.
    pub fn timezone(&self) -> Tz {
        self.zone
    }

    /// The expression and its zone for listings, e.g. `30 9 * * 1-5 (America/New_York)`.
    pub fn describe(&self) -> String {
        self.to_string()
    }

    /// The first tick strictly after `after`, or `None` when there is none before the end of
    /// 2100 (where the `cron` crate stops).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if after.year() > LAST_YEAR {
            return None;
        }
        self.quartz
            .iter()
            .filter_map(|quartz| self.next_from(quartz, after))
            .min()
    }

    /// The ticks in `(from, to]`, in order: exclusive of `from`, inclusive of `to`.
    pub fn ticks_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        std::iter::successors(self.next_after(from), |tick| self.next_after(*tick))
            .take_while(move |tick| *tick <= to)
    }

    /// True when `instant` is a tick: its local time matches every field and it is the first
    /// occurrence of that local time.
    pub fn fires_at(&self, instant: DateTime<Utc>) -> bool {
        let local = instant.with_timezone(&self.zone);
        self.crontab.matches(local.naive_local()) && self.first_instant_of(local) == instant
    }

    fn next_from(&self, quartz: &cron::Schedule, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // The crate walks local wall-clock time and yields both instants of a repeated local
        // time, and, asked from inside the repeated hour, local times whose first occurrence has
        // already passed. Mapping each to its first occurrence and keeping the first one after
        // `after` removes both.
        quartz
            .after(&after.with_timezone(&self.zone))
            .map(|local| self.first_instant_of(local))
            .find(|instant| *instant > after)
    }

    fn first_instant_of(&self, local: DateTime<Tz>) -> DateTime<Utc> {
        self.zone
            .from_local_datetime(&local.naive_local())
            .earliest()
            .unwrap_or(local)
            .with_timezone(&Utc)
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} ({})", self.expression, self.zone.name())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use chrono::{Duration, Timelike};
    use proptest::prelude::*;

    use super::*;

    fn schedule(expression: &str, zone: &str) -> Schedule {
        Schedule::parse(expression, zone).expect("a valid test schedule")
    }

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().expect("a valid test instant")
    }

    fn utcs(texts: &[&str]) -> Vec<DateTime<Utc>> {
        texts.iter().map(|text| utc(text)).collect()
    }

    fn ticks(schedule: &Schedule, from: &str, to: &str) -> Vec<DateTime<Utc>> {
        schedule.ticks_between(utc(from), utc(to)).collect()
    }

    fn weekdays(ticks: &[DateTime<Utc>]) -> BTreeSet<u32> {
        ticks
            .iter()
            .map(|tick| tick.weekday().num_days_from_monday())
            .collect()
    }

    #[test]
    fn fourteen_to_twenty_one_on_one_to_five_fires_monday_to_friday_not_sunday_to_thursday() {
        // 2026-03-01 is a Sunday; the range covers one whole week.
        let fired = ticks(
            &schedule("0 14-21 * * 1-5", "UTC"),
            "2026-03-01T00:00:00Z",
            "2026-03-08T00:00:00Z",
        );
        assert_eq!(fired.len(), 5 * 8);
        assert_eq!(weekdays(&fired), BTreeSet::from([0, 1, 2, 3, 4]));
        let hours: BTreeSet<u32> = fired.iter().map(|tick| tick.hour()).collect();
        assert_eq!(hours, (14..=21).collect());
        assert_eq!(fired.first(), Some(&utc("2026-03-02T14:00:00Z")));
        assert_eq!(fired.last(), Some(&utc("2026-03-06T21:00:00Z")));
    }

    #[test]
    fn day_of_week_zero_and_seven_both_fire_on_sunday() {
        for expression in ["0 9 * * 0", "0 9 * * 7", "0 9 * * SUN", "0 9 * * sun"] {
            assert_eq!(
                schedule(expression, "UTC").next_after(utc("2026-03-02T00:00:00Z")),
                Some(utc("2026-03-08T09:00:00Z")),
                "{expression}"
            );
        }
    }

    #[test]
    fn day_names_steps_and_lists_pick_the_expected_weekdays() {
        let week = |expression| {
            weekdays(&ticks(
                &schedule(expression, "UTC"),
                "2026-03-01T00:00:00Z",
                "2026-03-08T00:00:00Z",
            ))
        };
        assert_eq!(week("0 9 * * MON-FRI"), BTreeSet::from([0, 1, 2, 3, 4]));
        assert_eq!(week("0 9 * * sat,sun"), BTreeSet::from([5, 6]));
        assert_eq!(week("0 9 * * 1-5/2"), BTreeSet::from([0, 2, 4]));
        assert_eq!(week("0 9 * * 1,3,5"), BTreeSet::from([0, 2, 4]));
        assert_eq!(week("0 9 * * FRI-SUN"), BTreeSet::from([4, 5, 6]));
    }

    #[test]
    fn minute_steps_macros_and_a_seconds_field_fire_at_the_expected_instants() {
        assert_eq!(
            ticks(
                &schedule("*/15 * * * *", "UTC"),
                "2026-03-02T10:00:00Z",
                "2026-03-02T11:00:00Z"
            ),
            utcs(&[
                "2026-03-02T10:15:00Z",
                "2026-03-02T10:30:00Z",
                "2026-03-02T10:45:00Z",
                "2026-03-02T11:00:00Z",
            ])
        );
        assert_eq!(
            ticks(
                &schedule("@daily", "UTC"),
                "2026-03-01T12:00:00Z",
                "2026-03-03T12:00:00Z"
            ),
            utcs(&["2026-03-02T00:00:00Z", "2026-03-03T00:00:00Z"])
        );
        assert_eq!(
            ticks(
                &schedule("*/30 * * * * *", "UTC"),
                "2026-03-02T10:00:00Z",
                "2026-03-02T10:01:30Z"
            ),
            utcs(&[
                "2026-03-02T10:00:30Z",
                "2026-03-02T10:01:00Z",
                "2026-03-02T10:01:30Z",
            ])
        );
    }

    #[test]
    fn both_day_fields_restricted_fire_on_the_first_of_the_month_and_on_every_monday() {
        // March 1 is a Sunday and April 1 a Wednesday; the Mondays are March 2 to 30 and
        // April 6 to 27.
        assert_eq!(
            ticks(
                &schedule("0 0 1 * 1", "UTC"),
                "2026-02-28T12:00:00Z",
                "2026-04-30T00:00:00Z"
            ),
            utcs(&[
                "2026-03-01T00:00:00Z",
                "2026-03-02T00:00:00Z",
                "2026-03-09T00:00:00Z",
                "2026-03-16T00:00:00Z",
                "2026-03-23T00:00:00Z",
                "2026-03-30T00:00:00Z",
                "2026-04-01T00:00:00Z",
                "2026-04-06T00:00:00Z",
                "2026-04-13T00:00:00Z",
                "2026-04-20T00:00:00Z",
                "2026-04-27T00:00:00Z",
            ])
        );
    }

    #[test]
    fn a_day_field_starting_with_a_star_combines_with_the_other_by_and() {
        // Days 1, 11, 21 and 31 that are Mondays: the first is May 11, 2026.
        assert_eq!(
            schedule("0 0 */10 * 1", "UTC").next_after(utc("2026-03-01T00:00:00Z")),
            Some(utc("2026-05-11T00:00:00Z"))
        );
    }

    #[test]
    fn an_unknown_time_zone_is_refused_by_name() {
        assert_eq!(
            Schedule::parse("0 9 * * *", "Mars/Olympus")
                .expect_err("not a zone")
                .to_string(),
            "unknown time zone `Mars/Olympus`"
        );
        assert_eq!(
            Schedule::parse("0 9 * * 8", "UTC")
                .expect_err("out of range")
                .to_string(),
            "day-of-week `8` is out of range 0–7"
        );
    }

    #[test]
    fn a_schedule_describes_itself_with_its_zone() {
        let schedule = schedule(" 30 9 * * 1-5 ", "America/New_York");
        assert_eq!(schedule.describe(), "30 9 * * 1-5 (America/New_York)");
        assert_eq!(schedule.expression(), "30 9 * * 1-5");
        assert_eq!(schedule.timezone(), chrono_tz::America::New_York);
    }

    #[test]
    fn half_past_nine_in_new_york_moves_an_hour_earlier_in_utc_when_clocks_spring_forward() {
        // Clocks spring forward on Sunday 2026-03-08.
        assert_eq!(
            ticks(
                &schedule("30 9 * * 1-5", "America/New_York"),
                "2026-03-02T00:00:00Z",
                "2026-03-14T00:00:00Z"
            ),
            utcs(&[
                "2026-03-02T14:30:00Z",
                "2026-03-03T14:30:00Z",
                "2026-03-04T14:30:00Z",
                "2026-03-05T14:30:00Z",
                "2026-03-06T14:30:00Z",
                "2026-03-09T13:30:00Z",
                "2026-03-10T13:30:00Z",
                "2026-03-11T13:30:00Z",
                "2026-03-12T13:30:00Z",
                "2026-03-13T13:30:00Z",
            ])
        );
    }

    #[test]
    fn half_past_nine_in_new_york_moves_an_hour_later_in_utc_when_clocks_fall_back() {
        // Clocks fall back on Sunday 2026-11-01.
        assert_eq!(
            ticks(
                &schedule("30 9 * * 1-5", "America/New_York"),
                "2026-10-26T00:00:00Z",
                "2026-11-07T00:00:00Z"
            ),
            utcs(&[
                "2026-10-26T13:30:00Z",
                "2026-10-27T13:30:00Z",
                "2026-10-28T13:30:00Z",
                "2026-10-29T13:30:00Z",
                "2026-10-30T13:30:00Z",
                "2026-11-02T14:30:00Z",
                "2026-11-03T14:30:00Z",
                "2026-11-04T14:30:00Z",
                "2026-11-05T14:30:00Z",
                "2026-11-06T14:30:00Z",
            ])
        );
    }

    #[test]
    fn a_local_time_that_does_not_exist_is_skipped_that_day() {
        // 02:30 New York time does not exist on 2026-03-08: 02:00 EST became 03:00 EDT.
        assert_eq!(
            ticks(
                &schedule("30 2 * * *", "America/New_York"),
                "2026-03-06T00:00:00Z",
                "2026-03-10T12:00:00Z"
            ),
            utcs(&[
                "2026-03-06T07:30:00Z",
                "2026-03-07T07:30:00Z",
                "2026-03-09T06:30:00Z",
                "2026-03-10T06:30:00Z",
            ])
        );
    }

    #[test]
    fn a_local_time_that_exists_twice_fires_once_at_its_first_occurrence() {
        // 01:30 New York time happens at 05:30 UTC (EDT) and again at 06:30 UTC (EST) on
        // 2026-11-01.
        let schedule = schedule("30 1 * * *", "America/New_York");
        assert_eq!(
            ticks(&schedule, "2026-10-31T00:00:00Z", "2026-11-02T12:00:00Z"),
            utcs(&[
                "2026-10-31T05:30:00Z",
                "2026-11-01T05:30:00Z",
                "2026-11-02T06:30:00Z",
            ])
        );
        // Asked from inside the repeated hour, the second 01:30 is not a new tick either.
        assert_eq!(
            schedule.next_after(utc("2026-11-01T06:00:00Z")),
            Some(utc("2026-11-02T06:30:00Z"))
        );
        assert!(schedule.fires_at(utc("2026-11-01T05:30:00Z")));
        assert!(!schedule.fires_at(utc("2026-11-01T06:30:00Z")));
    }

    #[test]
    fn an_hourly_schedule_in_new_york_pauses_for_the_repeated_hour_and_one_in_utc_does_not() {
        let range = ("2026-11-01T04:00:00Z", "2026-11-01T08:00:00Z");
        assert_eq!(
            ticks(&schedule("0 * * * *", "America/New_York"), range.0, range.1),
            utcs(&[
                "2026-11-01T05:00:00Z",
                "2026-11-01T07:00:00Z",
                "2026-11-01T08:00:00Z",
            ])
        );
        assert_eq!(
            ticks(&schedule("0 * * * *", "UTC"), range.0, range.1).len(),
            4
        );
    }

    #[test]
    fn the_cron_crate_skips_a_missing_local_time_and_yields_a_repeated_one_twice() {
        // Pins the crate behaviour the decisions above rest on, so an upgrade that changes it
        // fails here first.
        let new_york = chrono_tz::America::New_York;
        let quartz = |text: &str| cron::Schedule::from_str(text).expect("valid Quartz");
        let spring: Vec<_> = quartz("0 30 2 * * *")
            .after(&utc("2026-03-07T12:00:00Z").with_timezone(&new_york))
            .take(1)
            .map(|tick| tick.with_timezone(&Utc))
            .collect();
        assert_eq!(spring, utcs(&["2026-03-09T06:30:00Z"]));
        let autumn: Vec<_> = quartz("0 30 1 * * *")
            .after(&utc("2026-10-31T12:00:00Z").with_timezone(&new_york))
            .take(2)
            .map(|tick| tick.with_timezone(&Utc))
            .collect();
        assert_eq!(
            autumn,
            utcs(&["2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z"])
        );
    }

    #[test]
    fn a_zone_with_a_half_hour_offset_is_honoured() {
        assert_eq!(
            schedule("0 9 * * *", "Asia/Kolkata").next_after(utc("2026-03-02T00:00:00Z")),
            Some(utc("2026-03-02T03:30:00Z"))
        );
    }

    #[test]
    fn next_after_is_strictly_after_even_between_whole_seconds() {
        let schedule = schedule("0 9 * * *", "UTC");
        assert_eq!(
            schedule.next_after(utc("2026-03-02T09:00:00Z")),
            Some(utc("2026-03-03T09:00:00Z"))
        );
        assert_eq!(
            schedule.next_after(utc("2026-03-02T08:59:59.999Z")),
            Some(utc("2026-03-02T09:00:00Z"))
        );
        assert_eq!(schedule.next_after(utc("2100-12-31T09:00:00Z")), None);
    }

    /// One generated field: its text and the values it stands for, computed independently of the
    /// parser. `star` weighs a plain `*` against the four other kinds of item, so that the day
    /// and month fields leave enough ticks in a window of a few days to be worth checking.
    fn field(
        min: u32,
        max: u32,
        every_max: u32,
        star: u32,
    ) -> impl Strategy<Value = (String, BTreeSet<u32>)> {
        let item = prop_oneof![
            star => Just(("*".to_owned(), (min..=every_max).collect::<BTreeSet<u32>>())),
            1 => (1..=max).prop_map(move |step| (
                format!("*/{step}"),
                (min..=every_max).step_by(step as usize).collect()
            )),
            1 => (min..=max).prop_map(|value| (value.to_string(), BTreeSet::from([value]))),
            1 => (min..=max, min..=max, 1..=4u32).prop_map(|(one, two, step)| {
                let (first, last) = (one.min(two), one.max(two));
                (
                    format!("{first}-{last}/{step}"),
                    (first..=last).step_by(step as usize).collect(),
                )
            }),
        ];
        prop::collection::vec(item, 1..=2).prop_map(|items| {
            let text = items
                .iter()
                .map(|(text, _)| text.as_str())
                .collect::<Vec<_>>()
                .join(",");
            let values = items.into_iter().flat_map(|(_, values)| values).collect();
            (text, values)
        })
    }

    /// Fields in order second, minute, hour, day of month, month, day of week; five-field
    /// expressions leave the seconds out and mean second 0.
    #[derive(Debug, Clone)]
    struct Generated {
        texts: Vec<String>,
        values: Vec<BTreeSet<u32>>,
        with_seconds: bool,
    }

    impl Generated {
        fn expression(&self) -> String {
            let skip = usize::from(!self.with_seconds);
            self.texts[skip..].join(" ")
        }

        fn matches(&self, local: chrono::NaiveDateTime) -> bool {
            let has = |index: usize, value: u32| self.values[index].contains(&value);
            let weekday = local.weekday().num_days_from_sunday();
            let day_of_month = has(3, local.day());
            // Sunday may be generated as 7.
            let day_of_week = has(5, weekday) || (weekday == 0 && has(5, 7));
            let restricted = |index: usize| !self.texts[index].starts_with('*');
            let day = if restricted(3) && restricted(5) {
                day_of_month || day_of_week
            } else {
                day_of_month && day_of_week
            };
            day && has(0, local.second())
                && has(1, local.minute())
                && has(2, local.hour())
                && has(4, local.month())
        }
    }

    fn generated() -> impl Strategy<Value = Generated> {
        (
            any::<bool>(),
            field(0, 59, 59, 1),
            field(0, 59, 59, 1),
            field(0, 23, 23, 1),
            field(1, 31, 31, 8),
            field(1, 12, 12, 12),
            field(0, 7, 6, 2),
        )
            .prop_map(
                |(with_seconds, second, minute, hour, day_of_month, month, day_of_week)| {
                    let second = if with_seconds {
                        second
                    } else {
                        ("0".to_owned(), BTreeSet::from([0]))
                    };
                    let fields = [second, minute, hour, day_of_month, month, day_of_week];
                    Generated {
                        texts: fields.iter().map(|(text, _)| text.clone()).collect(),
                        values: fields.into_iter().map(|(_, values)| values).collect(),
                        with_seconds,
                    }
                },
            )
    }

    /// A window start: anywhere in 2020–2030, or within a few hours before a DST change.
    fn window_start() -> impl Strategy<Value = DateTime<Utc>> {
        let transitions = [
            "2026-03-08T07:00:00Z", // New York springs forward
            "2026-11-01T06:00:00Z", // New York falls back
            "2026-03-29T01:00:00Z", // London springs forward
            "2026-10-25T01:00:00Z", // London falls back
            "2026-04-04T15:00:00Z", // Lord Howe falls back half an hour
            "2026-10-03T15:30:00Z", // Lord Howe springs forward half an hour
        ];
        prop_oneof![
            (1_577_836_800i64..1_893_456_000).prop_map(|seconds| seconds / 60 * 60),
            (0..transitions.len(), 0..180i64).prop_map(move |(index, minutes)| utc(
                transitions[index]
            )
            .timestamp()
                - minutes * 60),
        ]
        .prop_map(|seconds| DateTime::from_timestamp(seconds, 0).expect("a valid test instant"))
    }

    /// Checks the ticks in a window of three hours (six fields) or four days (five fields) from
    /// `from` against every second or minute of the window tried by hand, and returns them.
    fn check_window(
        schedule: &Schedule,
        generated: &Generated,
        from: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>, TestCaseError> {
        let (step, count) = if generated.with_seconds {
            (1, 3 * 3600)
        } else {
            (60, 4 * 1440)
        };
        let to = from + Duration::seconds(step * count);
        let fired: Vec<_> = schedule.ticks_between(from, to).collect();
        let zone = schedule.timezone();
        let expected: Vec<_> = (1..=count)
            .map(|index| from + Duration::seconds(step * index))
            .filter(|instant| {
                let local = instant.with_timezone(&zone).naive_local();
                generated.matches(local)
                    && zone.from_local_datetime(&local).earliest()
                        == Some(instant.with_timezone(&zone))
            })
            .collect();
        for tick in &fired {
            let local = tick.with_timezone(&zone).naive_local();
            prop_assert!(generated.matches(local), "{} is {} locally", tick, local);
        }
        prop_assert!(fired.windows(2).all(|pair| pair[0] < pair[1]));
        prop_assert_eq!(&fired, &expected);
        let far_future = from + Duration::days(3660);
        for after in std::iter::once(from).chain(fired.iter().copied().take(3)) {
            prop_assert_eq!(
                schedule.next_after(after),
                schedule.ticks_between(after, far_future).next()
            );
        }
        Ok(fired)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn ticks_are_exactly_the_first_occurrences_of_matching_local_times(
            generated in generated(),
            zone in prop::sample::select(vec![
                "UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata",
            ]),
            from in window_start(),
            lead_minutes in 0..120i64,
        ) {
            let schedule = match Schedule::parse(&generated.expression(), zone) {
                Ok(schedule) => schedule,
                // A generated day/month pair may never occur (`0 0 30 2 *`); that refusal is
                // tested elsewhere. Any other refusal of a valid expression is a failure.
                Err(ScheduleError::NeverFires { .. }) => return Ok(()),
                Err(error) => return Err(TestCaseError::fail(error.to_string())),
            };
            let fired = check_window(&schedule, &generated, from)?;
            // A sparse schedule may leave the window empty; then check a second window that
            // starts a little before its next tick, so every case checks some ticks.
            if fired.is_empty() {
                let next = schedule.next_after(from);
                prop_assert!(next.is_some(), "{} never fires", schedule);
                if let Some(next) = next {
                    // One step before, so the window's exclusive start keeps it in.
                    let step = if generated.with_seconds { 1 } else { 60 };
                    let start = next - Duration::minutes(lead_minutes) - Duration::seconds(step);
                    let again = check_window(&schedule, &generated, start)?;
                    prop_assert!(again.first() == Some(&next));
                }
            }
        }
    }
}
