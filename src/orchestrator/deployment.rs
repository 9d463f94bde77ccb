//! Deployments: a flow script's orchestration settings, read from its `meta()` and validated when
//! the script is saved, so a bad cron expression or policy refuses the save.

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::schedule::{CalendarGate, GatedSchedule, Schedule};

/// One schedule: a crontab expression in a time zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    /// Standard crontab (5 fields, or 6 with seconds first); 0 or 7 is Sunday.
    pub cron: String,
    /// IANA zone the expression is read in.
    #[serde(default = "utc")]
    pub timezone: String,
}

fn utc() -> String {
    "UTC".into()
}

/// What happens when a run is due while the deployment's concurrency limit is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverlapPolicy {
    /// The new run is Skipped.
    #[default]
    Skip,
    /// The new run waits for a free slot.
    Queue,
    /// The oldest running run is cancelled to make room.
    CancelOlder,
}

/// What happens to ticks missed while no daemon was running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissedPolicy {
    /// Missed ticks are dropped.
    #[default]
    Skip,
    /// The latest missed tick runs once.
    RunOnce,
    /// Every missed tick within `catch_up_window_seconds` runs.
    CatchUp,
}

/// How retry delays grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backoff {
    /// The same delay each time.
    #[default]
    Fixed,
    /// The delay doubles each attempt, up to `max_retry_delay_seconds`.
    Exponential,
}

/// A flow's orchestration settings: the keys of `meta()` beyond description and tags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentSpec {
    /// When it runs.
    #[serde(default)]
    pub schedules: Vec<ScheduleSpec>,
    /// Which ticks may run.
    #[serde(default)]
    pub calendar: CalendarGate,
    /// Extra attempts after a failure.
    #[serde(default)]
    pub retries: u32,
    /// Delay before the first retry.
    #[serde(default = "default_retry_delay")]
    pub retry_delay_seconds: f64,
    /// Fixed or exponential.
    #[serde(default)]
    pub backoff: Backoff,
    /// The longest delay exponential backoff reaches.
    #[serde(default = "default_max_retry_delay")]
    pub max_retry_delay_seconds: f64,
    /// Random spread added to each delay, as a fraction of it (0.1 = up to +10%).
    #[serde(default)]
    pub jitter: f64,
    /// Wall-clock limit of one attempt.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: f64,
    /// Parameters a run gets unless the trigger gives its own.
    #[serde(default)]
    pub parameters: serde_json::Map<String, serde_json::Value>,
    /// Runs of this deployment at once.
    #[serde(default = "one")]
    pub concurrency: u32,
    /// What to do when a run is due and the limit is reached.
    #[serde(default)]
    pub on_overlap: OverlapPolicy,
    /// What to do with ticks missed while down.
    #[serde(default)]
    pub missed: MissedPolicy,
    /// How far back `catch_up` goes.
    #[serde(default = "default_catch_up_window")]
    pub catch_up_window_seconds: f64,
    /// Events that start a run (`bars.ingested`, …).
    #[serde(default)]
    pub triggers: Vec<String>,
}

fn default_retry_delay() -> f64 {
    10.0
}
fn default_max_retry_delay() -> f64 {
    3600.0
}
fn default_timeout() -> f64 {
    300.0
}
fn one() -> u32 {
    1
}
fn default_catch_up_window() -> f64 {
    3600.0
}

impl Default for DeploymentSpec {
    /// No schedule, one attempt, five minutes, one at a time: what an empty `meta()` means.
    fn default() -> Self {
        Self {
            schedules: Vec::new(),
            calendar: CalendarGate::default(),
            retries: 0,
            retry_delay_seconds: default_retry_delay(),
            backoff: Backoff::default(),
            max_retry_delay_seconds: default_max_retry_delay(),
            jitter: 0.0,
            timeout_seconds: default_timeout(),
            parameters: serde_json::Map::new(),
            concurrency: 1,
            on_overlap: OverlapPolicy::default(),
            missed: MissedPolicy::default(),
            catch_up_window_seconds: default_catch_up_window(),
            triggers: Vec::new(),
        }
    }
}

impl DeploymentSpec {
    /// Reads and validates the settings from a flow's `meta()` keys.
    pub fn from_meta(extra: &serde_json::Map<String, serde_json::Value>) -> Result<Self, String> {
        let spec: Self = serde_json::from_value(serde_json::Value::Object(extra.clone()))
            .map_err(|error| error.to_string())?;
        spec.validate()?;
        Ok(spec)
    }

    fn validate(&self) -> Result<(), String> {
        self.gated_schedule()?;
        let positive = |name: &str, value: f64| {
            if value.is_finite() && value > 0.0 {
                Ok(())
            } else {
                Err(format!("{name} must be a number above zero, got {value}"))
            }
        };
        positive("timeout_seconds", self.timeout_seconds)?;
        positive("max_retry_delay_seconds", self.max_retry_delay_seconds)?;
        positive("catch_up_window_seconds", self.catch_up_window_seconds)?;
        if !(self.retry_delay_seconds.is_finite() && self.retry_delay_seconds >= 0.0) {
            return Err(format!(
                "retry_delay_seconds must be zero or more, got {}",
                self.retry_delay_seconds
            ));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(format!(
                "jitter must be between 0 and 1, got {}",
                self.jitter
            ));
        }
        if self.concurrency == 0 {
            return Err("concurrency must be at least 1".into());
        }
        if self.retries > 100 {
            return Err(format!("retries must be at most 100, got {}", self.retries));
        }
        Ok(())
    }

    /// The schedules with the calendar gate, parsed.
    pub fn gated_schedule(&self) -> Result<GatedSchedule, String> {
        let schedules = self
            .schedules
            .iter()
            .map(|spec| {
                Schedule::parse(&spec.cron, &spec.timezone)
                    .map_err(|error| format!("schedule `{}`: {error}", spec.cron))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(GatedSchedule::new(schedules, self.calendar))
    }

    /// Attempts in all: the first plus the retries.
    pub fn max_attempts(&self) -> u32 {
        self.retries + 1
    }

    /// The delay before attempt `next_attempt` (2 for the first retry), without jitter.
    pub fn retry_delay(&self, next_attempt: u32) -> Duration {
        let base = self.retry_delay_seconds;
        let seconds = match self.backoff {
            Backoff::Fixed => base,
            Backoff::Exponential => base * 2f64.powi(next_attempt.saturating_sub(2).min(60) as i32),
        };
        Duration::from_secs_f64(seconds.min(self.max_retry_delay_seconds).max(0.0))
    }

    /// The delay with up to `jitter` × delay added at random, so retries of many runs spread out.
    pub fn retry_delay_with_jitter(&self, next_attempt: u32, random: &mut impl Rng) -> Duration {
        let delay = self.retry_delay(next_attempt);
        if self.jitter <= 0.0 {
            return delay;
        }
        delay.mul_f64(1.0 + random.random_range(0.0..=self.jitter))
    }

    /// The per-attempt wall-clock budget.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(value: serde_json::Value) -> Result<DeploymentSpec, String> {
        DeploymentSpec::from_meta(value.as_object().expect("an object"))
    }

    #[test]
    fn defaults_are_one_attempt_one_at_a_time_and_five_minutes() {
        let spec = spec(json!({})).expect("empty is valid");
        assert_eq!(spec, DeploymentSpec::default());
        assert_eq!(spec.max_attempts(), 1);
        assert_eq!(spec.concurrency, 1);
        assert_eq!(spec.timeout(), Duration::from_secs(300));
        assert_eq!(spec.on_overlap, OverlapPolicy::Skip);
    }

    #[test]
    fn bad_settings_refuse_the_save_with_a_reason() {
        assert!(
            spec(json!({"schedules": [{"cron": "61 * * * *"}]}))
                .expect_err("bad cron")
                .contains("61 * * * *")
        );
        assert!(
            spec(json!({"retires": 3}))
                .expect_err("typo")
                .contains("retires")
        );
        assert!(
            spec(json!({"jitter": 2.0}))
                .expect_err("jitter")
                .contains("jitter")
        );
        assert!(
            spec(json!({"concurrency": 0}))
                .expect_err("zero")
                .contains("concurrency")
        );
        assert!(spec(json!({"on_overlap": "sometimes"})).is_err());
        assert!(spec(json!({"timeout_seconds": 0})).is_err());
    }

    #[test]
    fn exponential_backoff_doubles_up_to_its_cap() {
        let spec = spec(json!({"retries": 5, "retry_delay_seconds": 10, "backoff": "exponential", "max_retry_delay_seconds": 60})).expect("valid");
        let delays: Vec<u64> = (2..=6)
            .map(|attempt| spec.retry_delay(attempt).as_secs())
            .collect();
        assert_eq!(delays, [10, 20, 40, 60, 60]);
        let fixed = super::DeploymentSpec {
            backoff: Backoff::Fixed,
            ..spec.clone()
        };
        assert_eq!(fixed.retry_delay(5).as_secs(), 10);
    }

    #[test]
    fn jitter_stays_within_its_fraction() {
        let spec =
            spec(json!({"retries": 1, "retry_delay_seconds": 100, "jitter": 0.2})).expect("valid");
        let mut random = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(7);
        for _ in 0..100 {
            let delay = spec.retry_delay_with_jitter(2, &mut random).as_secs_f64();
            assert!((100.0..=120.0).contains(&delay), "{delay}");
        }
    }
}
