//! The US equity market calendar: sessions, holidays and early closes of NYSE.
//!
//! Pure and synchronous: every answer is computed from the date alone, with no table to refresh
//! except the short list of unscheduled closures since 2000. The rules are today's NYSE rules
//! (NYSE Rule 7.2); Martin Luther King Jr. Day counts from 1998 and Juneteenth from 2022, and the
//! answers are exact from 2000 on. Earlier years follow the same rules, which is close but not
//! historical truth (NYSE closed for other events before 2000).

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::America::New_York;

/// One regular trading session of the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Session {
    /// The exchange's local date of the session.
    pub date: NaiveDate,
    /// The opening bell, 09:30 New York time, in UTC.
    pub open: DateTime<Utc>,
    /// The closing bell, 16:00 (13:00 on early-close days) New York time, in UTC.
    pub close: DateTime<Utc>,
    /// True when the session ends at 13:00 New York time.
    pub early_close: bool,
}

impl Session {
    /// The session's length in whole minutes: 390 for a regular day, 210 for an early close.
    pub fn minutes(&self) -> i64 {
        (self.close - self.open).num_minutes()
    }
}

/// Unscheduled full-day closures since 2000, which no rule can predict.
const SPECIAL_CLOSURES: &[(i32, u32, u32, &str)] = &[
    (2001, 9, 11, "September 11 attacks"),
    (2001, 9, 12, "September 11 attacks"),
    (2001, 9, 13, "September 11 attacks"),
    (2001, 9, 14, "September 11 attacks"),
    (2004, 6, 11, "National Day of Mourning for Ronald Reagan"),
    (2007, 1, 2, "National Day of Mourning for Gerald Ford"),
    (2012, 10, 29, "Hurricane Sandy"),
    (2012, 10, 30, "Hurricane Sandy"),
    (
        2018,
        12,
        5,
        "National Day of Mourning for George H. W. Bush",
    ),
    (2025, 1, 9, "National Day of Mourning for Jimmy Carter"),
];

/// The NYSE calendar for US equities: regular sessions 09:30–16:00 America/New_York, early closes
/// at 13:00, weekends and exchange holidays closed. A value so that callers can hold it where a
/// different venue's calendar might later go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsEquityCalendar;

impl UsEquityCalendar {
    /// The name of the full-day closure on `date`, if the exchange is closed that weekday.
    /// Weekends are not holidays: a holiday that falls on one is observed on the weekday this
    /// returns it for (or not at all, for New Year's Day on a Saturday).
    pub fn holiday(&self, date: NaiveDate) -> Option<&'static str> {
        if is_weekend(date) {
            return None;
        }
        let year = date.year();
        let special = SPECIAL_CLOSURES
            .iter()
            .find(|(y, m, d, _)| *y == year && *m == date.month() && *d == date.day())
            .map(|(.., name)| *name);
        if special.is_some() {
            return special;
        }
        let fixed = |month, day| NaiveDate::from_ymd_opt(year, month, day);
        let rules: [(&'static str, Option<NaiveDate>); 10] = [
            // NYSE Rule 7.2: a Saturday New Year's Day is not observed on the Friday before,
            // because that Friday ends the previous year's accounting period.
            (
                "New Year's Day",
                fixed(1, 1)
                    .filter(|day| day.weekday() != Weekday::Sat)
                    .map(observed),
            ),
            (
                "Martin Luther King Jr. Day",
                (year >= 1998)
                    .then(|| nth_weekday(year, 1, Weekday::Mon, 3))
                    .flatten(),
            ),
            (
                "Washington's Birthday",
                nth_weekday(year, 2, Weekday::Mon, 3),
            ),
            (
                "Good Friday",
                easter_sunday(year).map(|easter| easter - Duration::days(2)),
            ),
            ("Memorial Day", last_weekday(year, 5, Weekday::Mon)),
            (
                "Juneteenth National Independence Day",
                (year >= 2022).then(|| fixed(6, 19).map(observed)).flatten(),
            ),
            ("Independence Day", fixed(7, 4).map(observed)),
            ("Labor Day", nth_weekday(year, 9, Weekday::Mon, 1)),
            ("Thanksgiving Day", nth_weekday(year, 11, Weekday::Thu, 4)),
            ("Christmas Day", fixed(12, 25).map(observed)),
        ];
        rules
            .into_iter()
            .find(|(_, day)| *day == Some(date))
            .map(|(name, _)| name)
    }

    /// True on weekdays that are not holidays.
    pub fn is_trading_day(&self, date: NaiveDate) -> bool {
        !is_weekend(date) && self.holiday(date).is_none()
    }

    /// True when a trading day closes at 13:00 New York time: the day after Thanksgiving,
    /// Christmas Eve and the day before Independence Day. Christmas Eve and July 3 are only
    /// trading days when they fall Monday to Thursday (otherwise they are a weekend or the
    /// observed holiday itself), which is exactly when NYSE closes early on them.
    pub fn is_early_close(&self, date: NaiveDate) -> bool {
        if !self.is_trading_day(date) {
            return false;
        }
        let year = date.year();
        let day_after_thanksgiving =
            nth_weekday(year, 11, Weekday::Thu, 4).map(|day| day + Duration::days(1));
        let christmas_eve = NaiveDate::from_ymd_opt(year, 12, 24);
        let eve_of_independence = NaiveDate::from_ymd_opt(year, 7, 3);
        [day_after_thanksgiving, christmas_eve, eve_of_independence].contains(&Some(date))
    }

    /// The regular session on `date`, or `None` when the exchange is closed all day.
    pub fn session(&self, date: NaiveDate) -> Option<Session> {
        if !self.is_trading_day(date) {
            return None;
        }
        let early_close = self.is_early_close(date);
        let close_hour = if early_close { 13 } else { 16 };
        Some(Session {
            date,
            open: new_york_to_utc(date, 9, 30),
            close: new_york_to_utc(date, close_hour, 0),
            early_close,
        })
    }

    /// The session that contains `time` (open ≤ time < close), if the market is open then.
    pub fn session_at(&self, time: DateTime<Utc>) -> Option<Session> {
        let date = time.with_timezone(&New_York).date_naive();
        self.session(date)
            .filter(|session| session.open <= time && time < session.close)
    }

    /// True while a regular session is in progress: from the open, inclusive, to the close,
    /// exclusive.
    pub fn is_open(&self, time: DateTime<Utc>) -> bool {
        self.session_at(time).is_some()
    }

    /// The first session on `date` or later.
    pub fn first_session_from(&self, date: NaiveDate) -> Session {
        // The longest run of closed days since 2000 is six (September 2001), so this loop is short.
        let mut day = date;
        loop {
            if let Some(session) = self.session(day) {
                return session;
            }
            day = day
                .succ_opt()
                .expect("calendar dates stay far below chrono's maximum year");
        }
    }

    /// The first opening bell strictly after `after`. While the market is open that is the next
    /// session's open; before the open on a trading day it is that day's open; exactly at an open
    /// it is the following session's, so a scheduler that fires at an open and asks again does
    /// not fire twice.
    pub fn next_open(&self, after: DateTime<Utc>) -> DateTime<Utc> {
        self.next_bell(after, |session| session.open)
    }

    /// The first closing bell strictly after `after`: today's close while the market is open or
    /// before it opens, otherwise the close of the next session.
    pub fn next_close(&self, after: DateTime<Utc>) -> DateTime<Utc> {
        self.next_bell(after, |session| session.close)
    }

    /// Every session whose date is in `from ..= to`, in order.
    pub fn sessions_between(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> impl Iterator<Item = Session> + use<> {
        let calendar = *self;
        from.iter_days()
            .take_while(move |day| *day <= to)
            .filter_map(move |day| calendar.session(day))
    }

    fn next_bell(
        &self,
        after: DateTime<Utc>,
        bell: impl Fn(&Session) -> DateTime<Utc>,
    ) -> DateTime<Utc> {
        let today = after.with_timezone(&New_York).date_naive();
        let mut session = self.first_session_from(today);
        while bell(&session) <= after {
            let tomorrow = session
                .date
                .succ_opt()
                .expect("calendar dates stay far below chrono's maximum year");
            session = self.first_session_from(tomorrow);
        }
        bell(&session)
    }
}

fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

/// Moves a fixed-date holiday off the weekend: Saturday to Friday, Sunday to Monday.
fn observed(date: NaiveDate) -> NaiveDate {
    match date.weekday() {
        Weekday::Sat => date - Duration::days(1),
        Weekday::Sun => date + Duration::days(1),
        _ => date,
    }
}

fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u8) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n)
}

fn last_weekday(year: i32, month: u32, weekday: Weekday) -> Option<NaiveDate> {
    nth_weekday(year, month, weekday, 5).or_else(|| nth_weekday(year, month, weekday, 4))
}

/// Easter Sunday by the anonymous Gregorian algorithm (Meeus/Jones/Butcher).
fn easter_sunday(year: i32) -> Option<NaiveDate> {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?)
}

fn new_york_to_utc(date: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    let local = date.and_time(
        NaiveTime::from_hms_opt(hour, minute, 0).expect("bell times are valid times of day"),
    );
    New_York
        .from_local_datetime(&local)
        .single()
        .expect("New York changes clocks at 02:00, never at a bell time")
        .with_timezone(&Utc)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALENDAR: UsEquityCalendar = UsEquityCalendar;

    fn date(text: &str) -> NaiveDate {
        text.parse().expect("valid test date")
    }

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().expect("valid test time")
    }

    fn new_york(text: &str) -> DateTime<Utc> {
        let local: chrono::NaiveDateTime = text.parse().expect("valid local test time");
        New_York
            .from_local_datetime(&local)
            .single()
            .expect("unambiguous local test time")
            .with_timezone(&Utc)
    }

    fn holidays_of(year: i32) -> Vec<NaiveDate> {
        let first = NaiveDate::from_ymd_opt(year, 1, 1).expect("valid year");
        first
            .iter_days()
            .take_while(|day| day.year() == year)
            .filter(|day| CALENDAR.holiday(*day).is_some())
            .collect()
    }

    fn dates(texts: &[&str]) -> Vec<NaiveDate> {
        texts.iter().map(|text| date(text)).collect()
    }

    #[test]
    fn the_2024_holidays_match_the_published_nyse_list() {
        assert_eq!(
            holidays_of(2024),
            dates(&[
                "2024-01-01",
                "2024-01-15",
                "2024-02-19",
                "2024-03-29",
                "2024-05-27",
                "2024-06-19",
                "2024-07-04",
                "2024-09-02",
                "2024-11-28",
                "2024-12-25",
            ])
        );
    }

    #[test]
    fn the_2025_holidays_match_the_published_nyse_list_including_the_carter_mourning_day() {
        assert_eq!(
            holidays_of(2025),
            dates(&[
                "2025-01-01",
                "2025-01-09",
                "2025-01-20",
                "2025-02-17",
                "2025-04-18",
                "2025-05-26",
                "2025-06-19",
                "2025-07-04",
                "2025-09-01",
                "2025-11-27",
                "2025-12-25",
            ])
        );
        assert_eq!(
            CALENDAR.holiday(date("2025-01-09")),
            Some("National Day of Mourning for Jimmy Carter")
        );
    }

    #[test]
    fn the_2026_holidays_match_the_published_nyse_list() {
        assert_eq!(
            holidays_of(2026),
            dates(&[
                "2026-01-01",
                "2026-01-19",
                "2026-02-16",
                "2026-04-03",
                "2026-05-25",
                "2026-06-19",
                "2026-07-03",
                "2026-09-07",
                "2026-11-26",
                "2026-12-25",
            ])
        );
        assert_eq!(CALENDAR.holiday(date("2026-04-03")), Some("Good Friday"));
        assert_eq!(
            CALENDAR.holiday(date("2026-07-03")),
            Some("Independence Day")
        );
    }

    #[test]
    fn the_2027_holidays_match_the_published_nyse_list() {
        assert_eq!(
            holidays_of(2027),
            dates(&[
                "2027-01-01",
                "2027-01-18",
                "2027-02-15",
                "2027-03-26",
                "2027-05-31",
                "2027-06-18",
                "2027-07-05",
                "2027-09-06",
                "2027-11-25",
                "2027-12-24",
            ])
        );
    }

    #[test]
    fn weekend_holidays_are_observed_by_the_nyse_rules() {
        // New Year's Day on a Saturday is not observed at all (NYSE Rule 7.2).
        assert!(CALENDAR.is_trading_day(date("2021-12-31")));
        assert!(CALENDAR.is_trading_day(date("2022-01-03")));
        // New Year's Day on a Sunday moves to Monday.
        assert_eq!(CALENDAR.holiday(date("2023-01-02")), Some("New Year's Day"));
        assert_eq!(
            CALENDAR.holiday(date("2021-07-05")),
            Some("Independence Day")
        );
        assert_eq!(
            CALENDAR.holiday(date("2022-06-20")),
            Some("Juneteenth National Independence Day")
        );
        assert_eq!(CALENDAR.holiday(date("2021-12-24")), Some("Christmas Day"));
        assert_eq!(CALENDAR.holiday(date("2022-12-26")), Some("Christmas Day"));
        // Juneteenth was first observed in 2022; 2021's Friday June 18 was a trading day.
        assert!(CALENDAR.is_trading_day(date("2021-06-18")));
        // Martin Luther King Jr. Day was first observed in 1998.
        assert!(CALENDAR.is_trading_day(date("1997-01-20")));
        assert!(!CALENDAR.is_trading_day(date("1998-01-19")));
    }

    #[test]
    fn weekends_are_closed_but_are_not_holidays() {
        assert!(!CALENDAR.is_trading_day(date("2026-07-04")));
        assert_eq!(CALENDAR.holiday(date("2026-07-04")), None);
        assert_eq!(CALENDAR.session(date("2026-03-07")), None);
    }

    #[test]
    fn easter_is_computed_for_known_years() {
        for (year, easter) in [
            (2000, "2000-04-23"),
            (2008, "2008-03-23"),
            (2019, "2019-04-21"),
            (2024, "2024-03-31"),
            (2038, "2038-04-25"),
        ] {
            assert_eq!(easter_sunday(year), Some(date(easter)));
        }
    }

    #[test]
    fn special_closures_since_2000_are_closed() {
        for closed in [
            "2001-09-11",
            "2001-09-14",
            "2004-06-11",
            "2007-01-02",
            "2012-10-29",
            "2012-10-30",
            "2018-12-05",
        ] {
            assert!(!CALENDAR.is_trading_day(date(closed)), "{closed}");
        }
        assert!(CALENDAR.is_trading_day(date("2001-09-17")));
    }

    #[test]
    fn early_closes_end_at_one_in_the_afternoon() {
        for early in [
            "2023-07-03",
            "2023-11-24",
            "2024-07-03",
            "2024-11-29",
            "2024-12-24",
            "2025-07-03",
            "2025-11-28",
            "2025-12-24",
            "2026-11-27",
            "2026-12-24",
        ] {
            let session = CALENDAR.session(date(early)).expect("a trading day");
            assert!(session.early_close, "{early}");
            assert_eq!(session.minutes(), 210, "{early}");
        }
        let session = CALENDAR.session(date("2024-12-24")).expect("a trading day");
        assert_eq!(session.close, new_york("2024-12-24T13:00:00"));
        // July 4 on a Saturday: July 3 is the holiday and July 2 is a full day.
        assert!(!CALENDAR.is_early_close(date("2026-07-02")));
        // July 4 on a Monday: the Friday before is a full day.
        assert!(!CALENDAR.is_early_close(date("2022-07-01")));
        // Christmas Eve on a Sunday: no early close that week.
        assert!(!CALENDAR.is_early_close(date("2023-12-22")));
        let regular = CALENDAR.session(date("2026-07-02")).expect("a trading day");
        assert_eq!(regular.minutes(), 390);
    }

    #[test]
    fn sessions_open_at_half_past_nine_new_york_time_in_utc() {
        let winter = CALENDAR.session(date("2026-01-15")).expect("a trading day");
        assert_eq!(winter.open, utc("2026-01-15T14:30:00Z"));
        assert_eq!(winter.close, utc("2026-01-15T21:00:00Z"));
        let summer = CALENDAR.session(date("2026-07-15")).expect("a trading day");
        assert_eq!(summer.open, utc("2026-07-15T13:30:00Z"));
        assert_eq!(summer.close, utc("2026-07-15T20:00:00Z"));
    }

    #[test]
    fn the_open_in_utc_follows_daylight_saving_changes() {
        let open = |text| CALENDAR.session(date(text)).expect("a trading day").open;
        assert_eq!(open("2026-03-06"), utc("2026-03-06T14:30:00Z"));
        assert_eq!(open("2026-03-09"), utc("2026-03-09T13:30:00Z"));
        assert_eq!(open("2026-10-30"), utc("2026-10-30T13:30:00Z"));
        assert_eq!(open("2026-11-02"), utc("2026-11-02T14:30:00Z"));
    }

    #[test]
    fn the_market_is_open_from_the_open_inclusive_to_the_close_exclusive() {
        assert!(!CALENDAR.is_open(new_york("2026-03-10T09:29:59")));
        assert!(CALENDAR.is_open(new_york("2026-03-10T09:30:00")));
        assert!(CALENDAR.is_open(new_york("2026-03-10T15:59:00")));
        assert!(!CALENDAR.is_open(new_york("2026-03-10T16:00:00")));
        assert!(!CALENDAR.is_open(new_york("2026-12-24T13:00:00")));
        assert!(!CALENDAR.is_open(new_york("2026-12-25T11:00:00")));
        assert!(!CALENDAR.is_open(new_york("2026-03-07T11:00:00")));
    }

    #[test]
    fn next_open_from_a_friday_evening_is_monday_morning() {
        assert_eq!(
            CALENDAR.next_open(new_york("2026-03-13T18:00:00")),
            new_york("2026-03-16T09:30:00")
        );
    }

    #[test]
    fn next_open_before_the_bell_is_the_same_day_and_at_the_bell_the_next_day() {
        assert_eq!(
            CALENDAR.next_open(new_york("2026-03-10T08:00:00")),
            new_york("2026-03-10T09:30:00")
        );
        assert_eq!(
            CALENDAR.next_open(new_york("2026-03-10T09:30:00")),
            new_york("2026-03-11T09:30:00")
        );
        assert_eq!(
            CALENDAR.next_open(new_york("2026-03-10T12:00:00")),
            new_york("2026-03-11T09:30:00")
        );
    }

    #[test]
    fn next_open_skips_a_holiday_weekend() {
        // Good Friday 2026 and the weekend after it.
        assert_eq!(
            CALENDAR.next_open(new_york("2026-04-02T16:30:00")),
            new_york("2026-04-06T09:30:00")
        );
        // Thanksgiving: from Wednesday evening to Friday's (early-close) session.
        assert_eq!(
            CALENDAR.next_open(new_york("2026-11-25T20:00:00")),
            new_york("2026-11-27T09:30:00")
        );
    }

    #[test]
    fn next_close_is_today_while_open_and_tomorrow_after_the_bell() {
        assert_eq!(
            CALENDAR.next_close(new_york("2026-03-10T10:00:00")),
            new_york("2026-03-10T16:00:00")
        );
        assert_eq!(
            CALENDAR.next_close(new_york("2026-03-10T16:00:00")),
            new_york("2026-03-11T16:00:00")
        );
        assert_eq!(
            CALENDAR.next_close(new_york("2026-12-24T08:00:00")),
            new_york("2026-12-24T13:00:00")
        );
    }

    #[test]
    fn sessions_between_lists_trading_days_inclusively() {
        let sessions: Vec<_> = CALENDAR
            .sessions_between(date("2026-12-21"), date("2027-01-04"))
            .map(|session| session.date)
            .collect();
        assert_eq!(
            sessions,
            dates(&[
                "2026-12-21",
                "2026-12-22",
                "2026-12-23",
                "2026-12-24",
                "2026-12-28",
                "2026-12-29",
                "2026-12-30",
                "2026-12-31",
                "2027-01-04",
            ])
        );
        assert_eq!(
            CALENDAR
                .sessions_between(date("2026-01-01"), date("2026-12-31"))
                .count(),
            251
        );
    }
}
