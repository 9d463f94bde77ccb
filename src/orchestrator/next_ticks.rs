//! Each deployment's next tick, remembered until it passes. The first passing tick after `now`
//! is the same for every `now` before it, so the calendar walk behind it runs once per tick
//! instead of on every scheduler pass and every API read of the deployments.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};

use super::deployment::DeploymentSpec;

/// A remembered answer: valid for any `now` in `[from, next)` while the spec is unchanged.
#[derive(Debug)]
struct Remembered {
    spec: DeploymentSpec,
    from: DateTime<Utc>,
    next: DateTime<Utc>,
}

/// The next ticks of the deployments.
#[derive(Debug, Default)]
pub struct NextTicks {
    remembered: Mutex<HashMap<String, Remembered>>,
}

impl NextTicks {
    /// The first tick of `spec`'s gated schedule strictly after `now`; `None` for a schedule that
    /// does not parse or has no tick within the search horizon (neither is remembered, so a
    /// horizon that moves with `now` is searched again).
    pub fn next_after(
        &self,
        name: &str,
        spec: &DeploymentSpec,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        if let Some(remembered) = self.lock().get(name)
            && remembered.from <= now
            && now < remembered.next
            && remembered.spec == *spec
        {
            return Some(remembered.next);
        }
        let next = spec.gated_schedule().ok()?.next_after(now)?;
        self.lock().insert(
            name.to_owned(),
            Remembered {
                spec: spec.clone(),
                from: now,
                next,
            },
        );
        Some(next)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Remembered>> {
        self.remembered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn hourly_in_session() -> DeploymentSpec {
        let meta = serde_json::json!({
            "schedules": [{ "cron": "30 9-15 * * 1-5", "timezone": "America/New_York" }],
            "calendar": "trading_days",
        });
        let extra = meta
            .as_object()
            .expect("object")
            .iter()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        DeploymentSpec::from_meta(&extra).expect("a valid spec")
    }

    #[test]
    fn a_remembered_tick_equals_a_fresh_walk_at_every_minute_of_a_week() {
        let ticks = NextTicks::default();
        let spec = hourly_in_session();
        let schedule = spec.gated_schedule().expect("schedule");
        // Friday 2024-07-05 (after the Independence Day holiday) into the next week.
        let start = Utc
            .with_ymd_and_hms(2024, 7, 5, 12, 0, 0)
            .single()
            .expect("time");
        for minute in 0..(7 * 24 * 60) {
            let now = start + chrono::Duration::minutes(minute) + chrono::Duration::seconds(7);
            assert_eq!(
                ticks.next_after("pairs", &spec, now),
                schedule.next_after(now),
                "at {now}"
            );
        }
    }

    #[test]
    fn a_changed_spec_or_an_earlier_clock_is_not_served_from_memory() {
        let ticks = NextTicks::default();
        let spec = hourly_in_session();
        let monday = Utc
            .with_ymd_and_hms(2024, 7, 8, 15, 0, 0)
            .single()
            .expect("time");
        let first = ticks.next_after("pairs", &spec, monday).expect("a tick");
        assert_eq!(
            first,
            Utc.with_ymd_and_hms(2024, 7, 8, 15, 30, 0)
                .single()
                .expect("time")
        );

        let mut every_minute = spec.clone();
        every_minute.schedules[0].cron = "* * * * *".to_owned();
        assert_eq!(
            ticks.next_after("pairs", &every_minute, monday),
            Some(monday + chrono::Duration::minutes(1))
        );

        let earlier = monday - chrono::Duration::days(3);
        assert_eq!(
            ticks.next_after("pairs", &spec, earlier),
            spec.gated_schedule().expect("schedule").next_after(earlier)
        );
    }
}
