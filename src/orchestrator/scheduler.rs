//! Planning: turns each deployment's schedule into runs — every tick exactly once (the store's
//! unique key), missed ticks handled by the deployment's policy, paused deployments skipped.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::deployment::{DeploymentSpec, MissedPolicy};
use crate::domain::RunState;
use crate::store::{DeploymentRecord, NewRun, Store};

/// The schedule key of a deployment's schedules as a whole. Ticks of several schedules at the
/// same instant are one run.
pub const SCHEDULE_KEY: &str = "schedule";

/// What planning did for one deployment.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Planned {
    /// Runs created.
    pub created: usize,
    /// Ticks dropped by the missed-run policy.
    pub dropped: usize,
}

/// Creates the runs of every tick in `(scheduled_until, now]`. Ticks older than `now - grace` were
/// missed (the daemon was down or stalled) and follow the missed-run policy. A deployment seen
/// for the first time starts at `now`: it does not backfill its history.
pub async fn plan(
    store: &Store,
    deployment: &DeploymentRecord,
    spec: &DeploymentSpec,
    now: DateTime<Utc>,
    grace: Duration,
) -> crate::store::Result<Planned> {
    let mut planned = Planned::default();
    if deployment.paused || spec.schedules.is_empty() {
        store.set_scheduled_until(&deployment.name, now).await?;
        return Ok(planned);
    }
    let Some(from) = deployment.scheduled_until else {
        store.set_scheduled_until(&deployment.name, now).await?;
        return Ok(planned);
    };
    if from >= now {
        return Ok(planned);
    }
    let Ok(schedule) = spec.gated_schedule() else {
        return Ok(planned);
    };
    let ticks: Vec<DateTime<Utc>> = schedule.ticks_between(from, now).collect();
    let missed_before = now - grace;
    let (missed, on_time): (Vec<_>, Vec<_>) =
        ticks.into_iter().partition(|tick| *tick < missed_before);
    let mut to_run: Vec<DateTime<Utc>> = match spec.missed {
        MissedPolicy::Skip => Vec::new(),
        MissedPolicy::RunOnce => missed.last().copied().into_iter().collect(),
        MissedPolicy::CatchUp => {
            let window = Duration::milliseconds((spec.catch_up_window_seconds * 1000.0) as i64);
            missed
                .iter()
                .copied()
                .filter(|tick| *tick >= now - window)
                .collect()
        }
    };
    planned.dropped = missed.len() - to_run.len();
    if planned.dropped > 0 {
        tracing::warn!(deployment = %deployment.name, dropped = planned.dropped, policy = ?spec.missed, "ticks missed while down were dropped");
    }
    to_run.extend(on_time);
    for tick in to_run {
        let run = NewRun {
            deployment: deployment.name.clone(),
            parent_run_id: None,
            trigger: "schedule".into(),
            schedule_key: Some(SCHEDULE_KEY.into()),
            scheduled_at: tick,
            due_at: tick,
            max_attempts: spec.max_attempts(),
            parameters: Value::Object(spec.parameters.clone()),
            state: RunState::Scheduled,
            message: None,
            worker: None,
        };
        if store.insert_run(&run, now).await?.is_some() {
            planned.created += 1;
        }
    }
    store.set_scheduled_until(&deployment.name, now).await?;
    Ok(planned)
}
