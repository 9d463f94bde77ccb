//! Calendar gates over schedules: which ticks may start a run (weekdays, NYSE trading days, market hours), and why the others are skipped.
//!
//! The calendar itself lives in [`crate::market::calendar`]; this file only asks it questions.

use std::fmt;

use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::America::New_York;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::Schedule;
use crate::market::calendar::UsEquityCalendar;

/// How far past `after` [`GatedSchedule::next_after`] looks before deciding that no tick passes
/// the gate: five years, so a gate that never opens for a schedule (Saturdays on trading days)
/// ends the search instead of running until 2100.
pub const SEARCH_HORIZON_DAYS: i64 = 5 * 366;

/// Which ticks of a deployment's schedules may start a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CalendarGate {
    /// Every tick runs.
    #[default]
    None,
    /// Monday to Friday, judged by the tick's date in the schedule's own time zone.
    Weekdays,
    /// NYSE trading days, judged by the tick's date in New York whatever the schedule's zone,
    /// because the exchange's day is what the gate is about.
    TradingDays,
    /// Only ticks inside a regular NYSE session: from the open, inclusive, to the close
    /// (16:00, or 13:00 on early-close days), exclusive.
    MarketOpen,
}

/// Why a tick was gated out, for the scheduler to log and record as Skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GateReason {
    /// Saturday or Sunday.
    Weekend,
    /// An exchange holiday, with its name.
    Holiday(&'static str),
    /// A trading day, but outside the regular session.
    MarketClosed,
}

impl fmt::Display for GateReason {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GateReason::Weekend => formatter.write_str("weekend"),
            GateReason::Holiday(name) => write!(formatter, "holiday: {name}"),
            GateReason::MarketClosed => formatter.write_str("market closed"),
        }
    }
}

impl fmt::Display for CalendarGate {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            CalendarGate::None => "none",
            CalendarGate::Weekdays => "weekdays",
            CalendarGate::TradingDays => "trading days",
            CalendarGate::MarketOpen => "market open",
        })
    }
}

impl CalendarGate {
    /// Why `tick` of a schedule evaluated in `zone` is gated out, or `None` when it passes.
    pub fn reason(self, tick: DateTime<Utc>, zone: Tz) -> Option<GateReason> {
        let calendar = UsEquityCalendar;
        let exchange_day = |tick: DateTime<Utc>| {
            let date = tick.with_timezone(&New_York).date_naive();
            if is_weekend(date.weekday()) {
                Some(GateReason::Weekend)
            } else {
                calendar.holiday(date).map(GateReason::Holiday)
            }
        };
        match self {
            CalendarGate::None => None,
            CalendarGate::Weekdays => {
                is_weekend(tick.with_timezone(&zone).weekday()).then_some(GateReason::Weekend)
            }
            CalendarGate::TradingDays => exchange_day(tick),
            CalendarGate::MarketOpen => exchange_day(tick)
                .or_else(|| (!calendar.is_open(tick)).then_some(GateReason::MarketClosed)),
        }
    }

    /// An instant before which no tick can pass, given that `tick` did not: the search goes on
    /// strictly after it. Jumping a day (or to the next open) at a time keeps the search short
    /// for schedules that fire every second.
    fn resume_after(self, tick: DateTime<Utc>, zone: Tz) -> DateTime<Utc> {
        let just_before = |instant: DateTime<Utc>| instant - Duration::nanoseconds(1);
        let resume = match self {
            CalendarGate::None => tick,
            CalendarGate::Weekdays => end_of_local_day(tick, zone),
            CalendarGate::TradingDays => end_of_local_day(tick, New_York),
            CalendarGate::MarketOpen => just_before(UsEquityCalendar.next_open(tick)),
        };
        resume.max(tick)
    }
}

fn is_weekend(weekday: Weekday) -> bool {
    matches!(weekday, Weekday::Sat | Weekday::Sun)
}

/// The last nanosecond of `tick`'s date in `zone`; `tick` itself where the next midnight does
/// not exist (a few zones change clocks at midnight), which only makes the search slower.
fn end_of_local_day(tick: DateTime<Utc>, zone: Tz) -> DateTime<Utc> {
    tick.with_timezone(&zone)
        .date_naive()
        .succ_opt()
        .and_then(|day| {
            zone.from_local_datetime(&day.and_time(NaiveTime::MIN))
                .earliest()
        })
        .map_or(tick, |midnight| {
            midnight.with_timezone(&Utc) - Duration::nanoseconds(1)
        })
}

/// One tick of a gated schedule with the reason it was skipped, if it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// When the tick falls.
    pub at: DateTime<Utc>,
    /// Why the gate refused it; `None` when it should run.
    pub skipped: Option<GateReason>,
}

/// A deployment's schedules (it may have several) behind one calendar gate.
///
/// A tick passes when it passes the gate for at least one schedule that fires at it; this only
/// matters for [`CalendarGate::Weekdays`] with schedules in different zones, where the day of the
/// week depends on the zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatedSchedule {
    schedules: Vec<Schedule>,
    gate: CalendarGate,
}

impl GatedSchedule {
    /// Puts schedules behind a gate. With no schedules nothing ever fires (manual runs only).
    pub fn new(schedules: Vec<Schedule>, gate: CalendarGate) -> GatedSchedule {
        GatedSchedule { schedules, gate }
    }

    /// The schedules, in the order given.
    pub fn schedules(&self) -> &[Schedule] {
        &self.schedules
    }

    /// The gate.
    pub fn gate(&self) -> CalendarGate {
        self.gate
    }

    /// The earliest tick of any schedule strictly after `after` that passes the gate, or `None`
    /// when none does within [`SEARCH_HORIZON_DAYS`] of `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let horizon = after
            .checked_add_signed(Duration::days(SEARCH_HORIZON_DAYS))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        self.schedules
            .iter()
            .filter_map(|schedule| self.next_passing(schedule, after, horizon))
            .min()
    }

    /// The passing ticks in `(from, to]` (exclusive of `from`, inclusive of `to`), in order, an
    /// instant that several schedules hit appearing once.
    pub fn ticks_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        std::iter::successors(self.next_after(from), |tick| self.next_after(*tick))
            .take_while(move |tick| *tick <= to)
    }

    /// The next `count` passing ticks strictly after `after`; fewer when the search runs out.
    pub fn next_n(&self, after: DateTime<Utc>, count: usize) -> Vec<DateTime<Utc>> {
        std::iter::successors(self.next_after(after), |tick| self.next_after(*tick))
            .take(count)
            .collect()
    }

    /// Every tick of the schedules in `(from, to]`, passing or not, each with the reason it was
    /// skipped, so the scheduler can record the skipped ones. It walks every tick, so keep the
    /// range short for schedules that fire often.
    pub fn candidates_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Tick> {
        let mut instants: Vec<DateTime<Utc>> = self
            .schedules
            .iter()
            .flat_map(|schedule| schedule.ticks_between(from, to))
            .collect();
        instants.sort_unstable();
        instants.dedup();
        instants
            .into_iter()
            .map(|at| Tick {
                at,
                skipped: self.gate_reason(at),
            })
            .collect()
    }

    /// Why the gate refuses `tick`, or `None` when it passes. The zone used for
    /// [`CalendarGate::Weekdays`] is that of each schedule that fires at `tick`; if none does,
    /// the first schedule's (UTC when there are none).
    pub fn gate_reason(&self, tick: DateTime<Utc>) -> Option<GateReason> {
        let mut zones: Vec<Tz> = self
            .schedules
            .iter()
            .filter(|schedule| schedule.fires_at(tick))
            .map(Schedule::timezone)
            .collect();
        if zones.is_empty() {
            zones.push(self.schedules.first().map_or(Tz::UTC, Schedule::timezone));
        }
        let reasons: Vec<Option<GateReason>> = zones
            .into_iter()
            .map(|zone| self.gate.reason(tick, zone))
            .collect();
        if reasons.iter().any(Option::is_none) {
            return None;
        }
        reasons.into_iter().flatten().next()
    }

    fn next_passing(
        &self,
        schedule: &Schedule,
        after: DateTime<Utc>,
        horizon: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let zone = schedule.timezone();
        let mut cursor = after;
        // Each pass either returns or moves `cursor` strictly forward (ticks are strictly after
        // it), and the horizon bounds how far it can move, so the loop ends.
        loop {
            let tick = schedule.next_after(cursor)?;
            if tick > horizon {
                return None;
            }
            if self.gate.reason(tick, zone).is_none() {
                return Some(tick);
            }
            cursor = self.gate.resume_after(tick, zone);
        }
    }
}

impl fmt::Display for GatedSchedule {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let schedules: Vec<String> = self.schedules.iter().map(Schedule::describe).collect();
        formatter.write_str(&schedules.join("; "))?;
        if self.gate != CalendarGate::None {
            write!(formatter, ", gated on {}", self.gate)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use chrono::{NaiveDate, Timelike};

    use super::*;

    fn gated(expressions: &[(&str, &str)], gate: CalendarGate) -> GatedSchedule {
        let schedules = expressions
            .iter()
            .map(|(expression, zone)| Schedule::parse(expression, zone).expect("a valid schedule"))
            .collect();
        GatedSchedule::new(schedules, gate)
    }

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().expect("a valid test instant")
    }

    fn utcs(texts: &[&str]) -> Vec<DateTime<Utc>> {
        texts.iter().map(|text| utc(text)).collect()
    }

    fn date(text: &str) -> NaiveDate {
        text.parse().expect("a valid test date")
    }

    fn ticks(gated: &GatedSchedule, from: &str, to: &str) -> Vec<DateTime<Utc>> {
        gated.ticks_between(utc(from), utc(to)).collect()
    }

    #[test]
    fn an_hourly_schedule_gated_on_market_open_fires_six_times_on_each_trading_day_of_a_fortnight()
    {
        // From Monday 2026-03-30 00:00 to Monday 2026-04-13 00:00, New York time. The trading
        // days are March 30 and 31 and April 1 and 2 (4), then April 6 to 10 (5): 9 days, with
        // Good Friday (April 3) and two weekends closed. Inside 09:30–16:00 the on-the-hour
        // ticks are 10:00, 11:00, 12:00, 13:00, 14:00 and 15:00: 6 a day, so 9 × 6 = 54.
        let gated = gated(
            &[("0 * * * *", "America/New_York")],
            CalendarGate::MarketOpen,
        );
        let fired = ticks(&gated, "2026-03-30T04:00:00Z", "2026-04-13T04:00:00Z");
        assert_eq!(fired.len(), 54);
        let local: Vec<_> = fired
            .iter()
            .map(|tick| tick.with_timezone(&New_York))
            .collect();
        let days: BTreeSet<NaiveDate> = local.iter().map(|tick| tick.date_naive()).collect();
        let expected_days: BTreeSet<NaiveDate> = [
            "2026-03-30",
            "2026-03-31",
            "2026-04-01",
            "2026-04-02",
            "2026-04-06",
            "2026-04-07",
            "2026-04-08",
            "2026-04-09",
            "2026-04-10",
        ]
        .into_iter()
        .map(date)
        .collect();
        assert_eq!(days, expected_days);
        let hours: BTreeSet<u32> = local.iter().map(|tick| tick.hour()).collect();
        assert_eq!(hours, (10..=15).collect());
    }

    #[test]
    fn market_open_stops_at_one_in_the_afternoon_on_an_early_close() {
        // The day after Thanksgiving 2026 closes at 13:00 New York time (EST, UTC−5).
        let gated = gated(
            &[("0 * * * *", "America/New_York")],
            CalendarGate::MarketOpen,
        );
        assert_eq!(
            ticks(&gated, "2026-11-27T05:00:00Z", "2026-11-28T05:00:00Z"),
            utcs(&[
                "2026-11-27T15:00:00Z",
                "2026-11-27T16:00:00Z",
                "2026-11-27T17:00:00Z",
            ])
        );
    }

    #[test]
    fn the_trading_days_gate_skips_good_friday_and_the_weekend() {
        // 18:00 New York time is 22:00 UTC in April (EDT).
        let gated = gated(
            &[("0 18 * * *", "America/New_York")],
            CalendarGate::TradingDays,
        );
        assert_eq!(
            ticks(&gated, "2026-03-30T00:00:00Z", "2026-04-07T00:00:00Z"),
            utcs(&[
                "2026-03-30T22:00:00Z",
                "2026-03-31T22:00:00Z",
                "2026-04-01T22:00:00Z",
                "2026-04-02T22:00:00Z",
                "2026-04-06T22:00:00Z",
            ])
        );
    }

    #[test]
    fn a_gated_out_tick_says_why() {
        let trading_days = gated(
            &[("0 18 * * *", "America/New_York")],
            CalendarGate::TradingDays,
        );
        let good_friday = utc("2026-04-03T22:00:00Z");
        assert_eq!(
            trading_days.gate_reason(good_friday),
            Some(GateReason::Holiday("Good Friday"))
        );
        assert_eq!(
            trading_days
                .gate_reason(good_friday)
                .map(|reason| reason.to_string()),
            Some("holiday: Good Friday".to_owned())
        );
        let saturday = utc("2026-04-04T22:00:00Z");
        assert_eq!(
            trading_days.gate_reason(saturday),
            Some(GateReason::Weekend)
        );
        assert_eq!(GateReason::Weekend.to_string(), "weekend");
        assert_eq!(trading_days.gate_reason(utc("2026-04-02T22:00:00Z")), None);

        let market_open = gated(
            &[("0 * * * *", "America/New_York")],
            CalendarGate::MarketOpen,
        );
        let before_the_bell = utc("2026-03-30T12:00:00Z");
        assert_eq!(
            market_open.gate_reason(before_the_bell),
            Some(GateReason::MarketClosed)
        );
        assert_eq!(GateReason::MarketClosed.to_string(), "market closed");
        assert_eq!(
            market_open.gate_reason(good_friday),
            Some(GateReason::Holiday("Good Friday"))
        );

        let ungated = gated(&[("0 18 * * *", "America/New_York")], CalendarGate::None);
        assert_eq!(ungated.gate_reason(good_friday), None);
    }

    #[test]
    fn candidates_between_lists_skipped_ticks_with_their_reasons() {
        let gated = gated(
            &[("0 18 * * *", "America/New_York")],
            CalendarGate::TradingDays,
        );
        let candidates =
            gated.candidates_between(utc("2026-04-02T12:00:00Z"), utc("2026-04-06T23:00:00Z"));
        assert_eq!(
            candidates,
            vec![
                Tick {
                    at: utc("2026-04-02T22:00:00Z"),
                    skipped: None
                },
                Tick {
                    at: utc("2026-04-03T22:00:00Z"),
                    skipped: Some(GateReason::Holiday("Good Friday"))
                },
                Tick {
                    at: utc("2026-04-04T22:00:00Z"),
                    skipped: Some(GateReason::Weekend)
                },
                Tick {
                    at: utc("2026-04-05T22:00:00Z"),
                    skipped: Some(GateReason::Weekend)
                },
                Tick {
                    at: utc("2026-04-06T22:00:00Z"),
                    skipped: None
                },
            ]
        );
    }

    #[test]
    fn ticks_of_several_schedules_are_merged_in_order_and_a_shared_instant_appears_once() {
        // Friday 2026-03-06 to Monday 2026-03-09: the first two schedules both hit 10:00 on
        // weekdays.
        let gated = gated(
            &[
                ("0 10 * * *", "UTC"),
                ("0 10 * * 1-5", "UTC"),
                ("30 15 * * 1-5", "UTC"),
            ],
            CalendarGate::None,
        );
        assert_eq!(
            ticks(&gated, "2026-03-06T00:00:00Z", "2026-03-09T23:59:00Z"),
            utcs(&[
                "2026-03-06T10:00:00Z",
                "2026-03-06T15:30:00Z",
                "2026-03-07T10:00:00Z",
                "2026-03-08T10:00:00Z",
                "2026-03-09T10:00:00Z",
                "2026-03-09T15:30:00Z",
            ])
        );
        assert_eq!(
            gated
                .candidates_between(utc("2026-03-06T00:00:00Z"), utc("2026-03-09T23:59:00Z"))
                .len(),
            6
        );
    }

    #[test]
    fn next_n_lists_the_coming_ticks_across_a_clock_change_and_a_holiday() {
        let gated = gated(
            &[("30 9 * * 1-5", "America/New_York")],
            CalendarGate::TradingDays,
        );
        // From Friday noon before clocks spring forward: the next week opens at 13:30 UTC.
        assert_eq!(
            gated.next_n(utc("2026-03-06T17:00:00Z"), 5),
            utcs(&[
                "2026-03-09T13:30:00Z",
                "2026-03-10T13:30:00Z",
                "2026-03-11T13:30:00Z",
                "2026-03-12T13:30:00Z",
                "2026-03-13T13:30:00Z",
            ])
        );
        // Across Good Friday.
        assert_eq!(
            gated.next_n(utc("2026-04-01T20:00:00Z"), 5),
            utcs(&[
                "2026-04-02T13:30:00Z",
                "2026-04-06T13:30:00Z",
                "2026-04-07T13:30:00Z",
                "2026-04-08T13:30:00Z",
                "2026-04-09T13:30:00Z",
            ])
        );
        assert!(gated.next_n(utc("2026-04-01T20:00:00Z"), 0).is_empty());
    }

    #[test]
    fn a_gate_that_never_opens_for_a_schedule_ends_the_search_with_none() {
        let after = utc("2026-03-02T00:00:00Z");
        let saturdays = gated(
            &[("0 3 * * 6", "America/New_York")],
            CalendarGate::TradingDays,
        );
        assert_eq!(saturdays.next_after(after), None);
        assert!(saturdays.next_n(after, 3).is_empty());
        let before_dawn = gated(
            &[("0 3 * * *", "America/New_York")],
            CalendarGate::MarketOpen,
        );
        assert_eq!(before_dawn.next_after(after), None);
        assert_eq!(
            GatedSchedule::new(Vec::new(), CalendarGate::None).next_after(after),
            None
        );
    }

    #[test]
    fn trading_days_are_judged_by_the_new_york_date_even_for_a_utc_schedule() {
        // Saturday 03:00 UTC is Friday 22:00 in New York, a trading day.
        let gated = gated(&[("0 3 * * 6", "UTC")], CalendarGate::TradingDays);
        assert_eq!(
            gated.next_after(utc("2026-03-02T00:00:00Z")),
            Some(utc("2026-03-07T03:00:00Z"))
        );
    }

    #[test]
    fn the_weekdays_gate_is_judged_in_the_schedules_own_zone() {
        // 02:00 in Tokyo on Monday is 17:00 UTC on Sunday.
        let tokyo = gated(&[("0 2 * * *", "Asia/Tokyo")], CalendarGate::Weekdays);
        assert_eq!(
            tokyo.next_after(utc("2026-03-06T12:00:00Z")),
            Some(utc("2026-03-08T17:00:00Z"))
        );
        // With a UTC schedule hitting the same instants, a tick passes when either zone calls
        // its day a weekday.
        let both = gated(
            &[("0 2 * * *", "Asia/Tokyo"), ("0 17 * * *", "UTC")],
            CalendarGate::Weekdays,
        );
        assert_eq!(both.gate_reason(utc("2026-03-06T17:00:00Z")), None);
        assert_eq!(
            both.gate_reason(utc("2026-03-07T17:00:00Z")),
            Some(GateReason::Weekend)
        );
        assert_eq!(both.gate_reason(utc("2026-03-08T17:00:00Z")), None);
    }

    #[test]
    fn a_per_second_schedule_behind_market_open_finds_monday_open_quickly() {
        let gated = gated(
            &[("* * * * * *", "America/New_York")],
            CalendarGate::MarketOpen,
        );
        assert_eq!(
            gated.next_after(utc("2026-04-02T20:00:00Z")),
            Some(utc("2026-04-06T13:30:00Z"))
        );
    }

    #[test]
    fn gates_are_written_in_snake_case_in_configuration() {
        let written = serde_json::to_string(&CalendarGate::TradingDays).expect("serialisable");
        assert_eq!(written, "\"trading_days\"");
        let read: CalendarGate = serde_json::from_str("\"market_open\"").expect("a known gate");
        assert_eq!(read, CalendarGate::MarketOpen);
        assert!(serde_json::from_str::<CalendarGate>("\"holidays\"").is_err());
        assert_eq!(CalendarGate::default(), CalendarGate::None);
    }

    #[test]
    fn a_gated_schedule_describes_its_schedules_and_gate() {
        let gated = gated(
            &[
                ("0 14-21 * * 1-5", "UTC"),
                ("30 9 * * *", "America/New_York"),
            ],
            CalendarGate::MarketOpen,
        );
        assert_eq!(
            gated.to_string(),
            "0 14-21 * * 1-5 (UTC); 30 9 * * * (America/New_York), gated on market open"
        );
    }
}
