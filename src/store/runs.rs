//! Deployments and flow runs: creation (a scheduled tick exactly once), claims, leases, guarded
//! state changes, history and logs.
//!
//! Every change of a run names the attempt it belongs to (a fencing token) and only applies to a
//! non-terminal run, so a worker that lost its lease cannot overwrite what happened since.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Backend, Result, Store, from_millis, on_pool, to_millis};
use crate::domain::RunState;

/// A deployment as stored.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DeploymentRecord {
    /// The flow's name.
    pub name: String,
    /// The effective settings, as JSON.
    pub spec: serde_json::Value,
    /// Paused deployments get no new runs.
    pub paused: bool,
    /// Every tick up to this time has its run.
    pub scheduled_until: Option<DateTime<Utc>>,
}

/// A run to create.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// The deployment.
    pub deployment: String,
    /// The parent run of a subflow.
    pub parent_run_id: Option<i64>,
    /// `schedule`, `manual`, `event` or `parent`.
    pub trigger: String,
    /// For scheduled runs: which schedule (with `scheduled_at`, the run's unique key).
    pub schedule_key: Option<String>,
    /// The tick or request time.
    pub scheduled_at: DateTime<Utc>,
    /// When it may start.
    pub due_at: DateTime<Utc>,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Its parameters.
    pub parameters: serde_json::Value,
    /// Its first state: Scheduled, Running (inline subflows), or Skipped.
    pub state: RunState,
    /// Why, for the state history.
    pub message: Option<String>,
    /// The worker, for runs created already running.
    pub worker: Option<String>,
}

/// The LISTEN/NOTIFY channel on which daemons announce new runs.
const RUN_CHANNEL: &str = "tradehost_runs";

/// Notifications of new runs from any daemon sharing the PostgreSQL database.
pub struct RunNotifications {
    listener: sqlx::postgres::PgListener,
}

impl RunNotifications {
    /// Waits for the next notification; an error means the connection broke (sqlx reconnects on
    /// the next call).
    pub async fn next(&mut self) -> Result<()> {
        self.listener.recv().await?;
        Ok(())
    }
}

/// A stored run.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RunRecord {
    /// Its id.
    pub id: i64,
    /// The deployment.
    pub deployment: String,
    /// The parent run of a subflow.
    pub parent_run_id: Option<i64>,
    /// What started it.
    pub trigger: String,
    /// The schedule of a scheduled run.
    pub schedule_key: Option<String>,
    /// The tick or request time.
    pub scheduled_at: DateTime<Utc>,
    /// When it may start (next).
    pub due_at: DateTime<Utc>,
    /// Its state.
    pub state: RunState,
    /// The current attempt (1-based).
    pub attempt: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Its parameters.
    pub parameters: serde_json::Value,
    /// What it returned.
    pub result: Option<serde_json::Value>,
    /// Why it failed.
    pub error: Option<String>,
    /// The script line of the error.
    pub error_line: Option<i64>,
    /// The script version that ran.
    pub script_hash: Option<String>,
    /// The worker running it.
    pub worker: Option<String>,
    /// Until when its worker holds it.
    pub lease_until: Option<DateTime<Utc>>,
    /// When its current attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// An operator asked to cancel it.
    pub cancel_requested: bool,
}

/// One entry of a run's state history.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StateRecord {
    /// The attempt.
    pub attempt: u32,
    /// The state entered.
    pub state: RunState,
    /// When.
    pub at: DateTime<Utc>,
    /// Why.
    pub message: Option<String>,
}

/// One stored log line of a run.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RunLogRecord {
    /// The attempt.
    pub attempt: u32,
    /// When (host clock).
    pub at: DateTime<Utc>,
    /// `debug`, `info`, `warn`, `error`.
    pub level: String,
    /// The text.
    pub message: String,
}

/// Appends to a run's state history inside the caller's transaction (a macro, because the
/// transaction is a different type on each backend).
macro_rules! insert_state {
    ($executor:expr, $id:expr, $attempt:expr, $state:expr, $at:expr, $message:expr) => {
        sqlx::query("INSERT INTO flow_run_states (run_id, attempt, state, at, message) VALUES ($1, $2, $3, $4, $5)")
            .bind($id)
            .bind(i64::from($attempt))
            .bind($state.as_str())
            .bind(to_millis($at))
            .bind($message)
            .execute($executor)
            .await
            .map(|_| ())
    };
}

const RUN_COLUMNS: &str = "id, deployment, parent_run_id, trigger, schedule_key, scheduled_at, due_at, state, attempt, \
     max_attempts, parameters, result, error, error_line, script_hash, worker, lease_until, started_at, ended_at, \
     created_at, cancel_requested";

#[derive(sqlx::FromRow)]
struct RunRow {
    id: i64,
    deployment: String,
    parent_run_id: Option<i64>,
    trigger: String,
    schedule_key: Option<String>,
    scheduled_at: i64,
    due_at: i64,
    state: String,
    attempt: i64,
    max_attempts: i64,
    parameters: String,
    result: Option<String>,
    error: Option<String>,
    error_line: Option<i64>,
    script_hash: Option<String>,
    worker: Option<String>,
    lease_until: Option<i64>,
    started_at: Option<i64>,
    ended_at: Option<i64>,
    created_at: i64,
    cancel_requested: i64,
}

fn corrupt(column: &'static str, message: String) -> super::Error {
    super::Error::Corrupt {
        table: "flow_runs",
        column,
        message,
    }
}

fn json(column: &'static str, text: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text).map_err(|error| corrupt(column, error.to_string()))
}

fn time(column: &'static str, millis: Option<i64>) -> Result<Option<DateTime<Utc>>> {
    millis
        .map(|millis| from_millis("flow_runs", column, millis))
        .transpose()
}

impl RunRow {
    fn into_record(self) -> Result<RunRecord> {
        Ok(RunRecord {
            id: self.id,
            deployment: self.deployment,
            parent_run_id: self.parent_run_id,
            trigger: self.trigger,
            schedule_key: self.schedule_key,
            scheduled_at: from_millis("flow_runs", "scheduled_at", self.scheduled_at)?,
            due_at: from_millis("flow_runs", "due_at", self.due_at)?,
            state: self
                .state
                .parse()
                .map_err(|error: crate::domain::RunStateError| {
                    corrupt("state", error.to_string())
                })?,
            attempt: u32::try_from(self.attempt).unwrap_or_default(),
            max_attempts: u32::try_from(self.max_attempts).unwrap_or_default(),
            parameters: json("parameters", &self.parameters)?,
            result: self
                .result
                .as_deref()
                .map(|text| json("result", text))
                .transpose()?,
            error: self.error,
            error_line: self.error_line,
            script_hash: self.script_hash,
            worker: self.worker,
            lease_until: time("lease_until", self.lease_until)?,
            started_at: time("started_at", self.started_at)?,
            ended_at: time("ended_at", self.ended_at)?,
            created_at: from_millis("flow_runs", "created_at", self.created_at)?,
            cancel_requested: self.cancel_requested != 0,
        })
    }
}

/// How a run's attempt ended, for [`Store::finish_run`].
#[derive(Debug, Clone)]
pub struct RunEnding {
    /// Completed, Failed, Cancelled or TimedOut.
    pub state: RunState,
    /// What it returned.
    pub result: Option<serde_json::Value>,
    /// Why it failed.
    pub error: Option<String>,
    /// The script line of the error.
    pub error_line: Option<i64>,
    /// When.
    pub at: DateTime<Utc>,
}

/// A run whose lease expired, as the reaper found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReapedRun {
    /// Its id.
    pub id: i64,
    /// Its deployment.
    pub deployment: String,
    /// The attempt that crashed.
    pub attempt: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
}

impl Store {
    /// Tells live subscribers that a run changed state (after the change committed).
    fn announce_run(&self, id: i64, deployment: Option<&str>, state: RunState) {
        self.events.publish(
            crate::events::EventKind::Run,
            serde_json::json!({ "id": id, "deployment": deployment, "state": state.as_str() }),
        );
    }

    /// Creates or updates a deployment's settings, keeping its paused flag and schedule progress.
    pub async fn upsert_deployment(
        &self,
        name: &str,
        spec: &serde_json::Value,
        concurrency: u32,
        now: DateTime<Utc>,
    ) -> Result<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO deployments (name, spec, concurrency, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, concurrency = excluded.concurrency, \
                 updated_at = excluded.updated_at",
            )
            .bind(name)
            .bind(spec.to_string())
            .bind(i64::from(concurrency))
            .bind(to_millis(now))
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        self.events.touch();
        Ok(())
    }

    /// Every deployment, by name.
    pub async fn deployments(&self) -> Result<Vec<DeploymentRecord>> {
        let rows: Vec<(String, String, i64, Option<i64>)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT name, spec, paused, scheduled_until FROM deployments ORDER BY name",
            )
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter()
            .map(|(name, spec, paused, until)| {
                Ok(DeploymentRecord {
                    name,
                    spec: serde_json::from_str(&spec).map_err(|error| super::Error::Corrupt {
                        table: "deployments",
                        column: "spec",
                        message: error.to_string(),
                    })?,
                    paused: paused != 0,
                    scheduled_until: until
                        .map(|millis| from_millis("deployments", "scheduled_until", millis))
                        .transpose()?,
                })
            })
            .collect()
    }

    /// Pauses or resumes a deployment; false when there is no such deployment.
    pub async fn set_deployment_paused(&self, name: &str, paused: bool) -> Result<bool> {
        let changed = on_pool!(self, |pool| {
            sqlx::query("UPDATE deployments SET paused = $2 WHERE name = $1")
                .bind(name)
                .bind(i64::from(paused))
                .execute(pool)
                .await
                .map(|result| result.rows_affected())
        })?;
        self.events.touch();
        Ok(changed > 0)
    }

    /// Records that every tick up to `until` has its run. The scheduler writes it on every pass,
    /// so it does not move the store's generation: a cached list may show it up to a second old
    /// (`api::cache::MAX_AGE`), while the runs it created move the generation themselves.
    pub async fn set_scheduled_until(&self, name: &str, until: DateTime<Utc>) -> Result<()> {
        on_pool!(self, |pool| {
            sqlx::query("UPDATE deployments SET scheduled_until = $2 WHERE name = $1")
                .bind(name)
                .bind(to_millis(until))
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Creates a run and its first history entry. A scheduled tick that already has its run
    /// (same deployment, schedule and time) is not created again: `None`.
    pub async fn insert_run(&self, run: &NewRun, now: DateTime<Utc>) -> Result<Option<i64>> {
        let id = self.insert_run_row(run, now).await?;
        if let Some(id) = id {
            self.announce_run(id, Some(&run.deployment), run.state);
        }
        if id.is_some() && run.state == RunState::Scheduled {
            self.notify_runs().await?;
        }
        Ok(id)
    }

    /// Wakes idle workers of other daemons on PostgreSQL (LISTEN/NOTIFY); nothing on SQLite,
    /// where one daemon does everything.
    pub async fn notify_runs(&self) -> Result<()> {
        if let Backend::Postgres(pool) = &self.backend {
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(RUN_CHANNEL)
                .execute(pool)
                .await?;
        }
        Ok(())
    }

    /// On PostgreSQL, a listener that yields when any daemon creates a run; `None` on SQLite.
    pub async fn run_notifications(&self) -> Result<Option<RunNotifications>> {
        match &self.backend {
            Backend::Postgres(pool) => {
                let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
                listener.listen(RUN_CHANNEL).await?;
                Ok(Some(RunNotifications { listener }))
            }
            Backend::Sqlite(_) => Ok(None),
        }
    }

    async fn insert_run_row(&self, run: &NewRun, now: DateTime<Utc>) -> Result<Option<i64>> {
        let running = run.state == RunState::Running;
        let id: Option<i64> = on_pool!(self, |pool| {
            let mut transaction = pool.begin().await?;
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO flow_runs (deployment, parent_run_id, trigger, schedule_key, scheduled_at, due_at, \
                 state, max_attempts, parameters, created_at, worker, started_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                 ON CONFLICT (deployment, schedule_key, scheduled_at) DO NOTHING RETURNING id",
            )
            .bind(&run.deployment)
            .bind(run.parent_run_id)
            .bind(&run.trigger)
            .bind(&run.schedule_key)
            .bind(to_millis(run.scheduled_at))
            .bind(to_millis(run.due_at))
            .bind(run.state.as_str())
            .bind(i64::from(run.max_attempts))
            .bind(run.parameters.to_string())
            .bind(to_millis(now))
            .bind(&run.worker)
            .bind(running.then(|| to_millis(now)))
            .fetch_optional(&mut *transaction)
            .await?;
            if let Some(id) = id {
                sqlx::query("INSERT INTO flow_run_states (run_id, attempt, state, at, message) VALUES ($1, 1, $2, $3, $4)")
                    .bind(id)
                    .bind(run.state.as_str())
                    .bind(to_millis(now))
                    .bind(&run.message)
                    .execute(&mut *transaction)
                    .await?;
            }
            transaction.commit().await?;
            Ok::<_, sqlx::Error>(id)
        })?;
        Ok(id)
    }

    /// Claims the next due run (Scheduled or AwaitingRetry, due, deployment not paused, under its
    /// concurrency limit) for `worker` with a lease, and marks it Running, so two workers never
    /// both fill the last slot of a deployment.
    pub async fn claim_next_run(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<RunRecord>> {
        let statement = format!(
            "UPDATE flow_runs SET state = 'running', worker = $1, lease_until = $2, started_at = $3, cancel_requested = 0 \
             WHERE id = (SELECT r.id FROM flow_runs r JOIN deployments d ON d.name = r.deployment \
                 WHERE r.state IN ('scheduled', 'awaiting_retry') AND r.due_at <= $3 AND d.paused = 0 \
                   AND (SELECT COUNT(*) FROM flow_runs x WHERE x.deployment = r.deployment AND x.state = 'running') < d.concurrency \
                 ORDER BY r.due_at, r.id LIMIT 1) \
             RETURNING {RUN_COLUMNS}"
        );
        // On PostgreSQL, claims by several daemons are serialised by a transaction-scoped
        // advisory lock, and rows another transaction holds are skipped rather than waited for.
        let (prelude, statement): (&[&'static str], String) = match &self.backend {
            Backend::Sqlite(_) => (&[], statement),
            Backend::Postgres(_) => (
                &["SELECT pg_advisory_xact_lock(74191)"],
                statement.replace("LIMIT 1)", "LIMIT 1 FOR UPDATE OF r SKIP LOCKED)"),
            ),
        };
        let row: Option<RunRow> = on_pool!(self, |pool| {
            let mut transaction = pool.begin().await?;
            for step in prelude {
                sqlx::query(*step).execute(&mut *transaction).await?;
            }
            let row: Option<RunRow> = sqlx::query_as(sqlx::AssertSqlSafe(statement.clone()))
                .bind(worker)
                .bind(to_millis(lease_until))
                .bind(to_millis(now))
                .fetch_optional(&mut *transaction)
                .await?;
            if let Some(row) = &row {
                let attempt = u32::try_from(row.attempt).unwrap_or_default();
                // Claimed (Pending) and started (Running) in one step: both go in the history.
                insert_state!(
                    &mut *transaction,
                    row.id,
                    attempt,
                    RunState::Pending,
                    now,
                    Some(worker)
                )?;
                insert_state!(
                    &mut *transaction,
                    row.id,
                    attempt,
                    RunState::Running,
                    now,
                    Some(worker)
                )?;
            }
            transaction.commit().await?;
            Ok::<_, sqlx::Error>(row)
        })?;
        let run = row.map(RunRow::into_record).transpose()?;
        if let Some(run) = &run {
            self.announce_run(run.id, Some(&run.deployment), RunState::Running);
        }
        Ok(run)
    }

    /// Extends a running attempt's lease. Returns `None` when the attempt no longer holds the run
    /// (it was reaped or finished), else whether an operator asked to cancel it.
    pub async fn renew_lease(
        &self,
        id: i64,
        attempt: u32,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<bool>> {
        let cancel: Option<i64> = on_pool!(self, |pool| {
            sqlx::query_scalar(
                "UPDATE flow_runs SET lease_until = $3 WHERE id = $1 AND attempt = $2 AND state = 'running' RETURNING cancel_requested",
            )
            .bind(id)
            .bind(i64::from(attempt))
            .bind(to_millis(lease_until))
            .fetch_optional(pool)
            .await
        })?;
        Ok(cancel.map(|flag| flag != 0))
    }

    /// Ends a running attempt. False when the attempt no longer holds the run.
    pub async fn finish_run(&self, id: i64, attempt: u32, ending: &RunEnding) -> Result<bool> {
        let changed = on_pool!(self, |pool| {
            let mut transaction = pool.begin().await?;
            let changed = sqlx::query(
                "UPDATE flow_runs SET state = $3, result = $4, error = $5, error_line = $6, ended_at = $7, lease_until = NULL \
                 WHERE id = $1 AND attempt = $2 AND state = 'running'",
            )
            .bind(id)
            .bind(i64::from(attempt))
            .bind(ending.state.as_str())
            .bind(ending.result.as_ref().map(ToString::to_string))
            .bind(&ending.error)
            .bind(ending.error_line)
            .bind(to_millis(ending.at))
            .execute(&mut *transaction)
            .await?
            .rows_affected();
            if changed > 0 {
                insert_state!(
                    &mut *transaction,
                    id,
                    attempt,
                    ending.state,
                    ending.at,
                    ending.error.as_deref()
                )?;
            }
            transaction.commit().await?;
            Ok::<_, sqlx::Error>(changed)
        })?;
        if changed > 0 {
            self.announce_run(id, None, ending.state);
        }
        Ok(changed > 0)
    }

    /// Records how an attempt ended in the history without ending the run (it will be retried).
    pub async fn record_attempt_ending(
        &self,
        id: i64,
        attempt: u32,
        ending: &RunEnding,
    ) -> Result<()> {
        on_pool!(self, |pool| insert_state!(
            pool,
            id,
            attempt,
            ending.state,
            ending.at,
            ending.error.as_deref()
        ))?;
        Ok(())
    }

    /// Moves a failed running attempt (or a crashed one) to AwaitingRetry as the next attempt.
    pub async fn schedule_retry(
        &self,
        id: i64,
        attempt: u32,
        from: RunState,
        due_at: DateTime<Utc>,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let changed = on_pool!(self, |pool| {
            let mut transaction = pool.begin().await?;
            let changed = sqlx::query(
                "UPDATE flow_runs SET state = 'awaiting_retry', attempt = attempt + 1, due_at = $4, error = $5, \
                 lease_until = NULL, worker = NULL WHERE id = $1 AND attempt = $2 AND state = $3",
            )
            .bind(id)
            .bind(i64::from(attempt))
            .bind(from.as_str())
            .bind(to_millis(due_at))
            .bind(error)
            .execute(&mut *transaction)
            .await?
            .rows_affected();
            if changed > 0 {
                let message = format!("attempt {} at {}", attempt + 1, due_at.to_rfc3339());
                insert_state!(
                    &mut *transaction,
                    id,
                    attempt + 1,
                    RunState::AwaitingRetry,
                    now,
                    Some(&message)
                )?;
            }
            transaction.commit().await?;
            Ok::<_, sqlx::Error>(changed)
        })?;
        if changed > 0 {
            self.announce_run(id, None, RunState::AwaitingRetry);
        }
        Ok(changed > 0)
    }

    /// Marks running runs whose lease expired by `lease_now` (the lease clock) as Crashed at `now`
    /// (the business clock), in one statement, and returns them so the caller can retry those
    /// whose policy allows.
    pub async fn reap_expired_leases(
        &self,
        lease_now: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<ReapedRun>> {
        let rows: Vec<(i64, String, i64, i64)> = on_pool!(self, |pool| {
            let mut transaction = pool.begin().await?;
            let rows: Vec<(i64, String, i64, i64)> = sqlx::query_as(
                "UPDATE flow_runs SET state = 'crashed', ended_at = $2, lease_until = NULL, \
                 error = 'the worker running it stopped renewing its lease (it died or lost the database)' \
                 WHERE state = 'running' AND lease_until IS NOT NULL AND lease_until < $1 \
                 RETURNING id, deployment, attempt, max_attempts",
            )
            .bind(to_millis(lease_now))
            .bind(to_millis(now))
            .fetch_all(&mut *transaction)
            .await?;
            for (id, _, attempt, _) in &rows {
                let attempt = u32::try_from(*attempt).unwrap_or_default();
                insert_state!(
                    &mut *transaction,
                    *id,
                    attempt,
                    RunState::Crashed,
                    now,
                    Some("lease expired")
                )?;
            }
            transaction.commit().await?;
            Ok::<_, sqlx::Error>(rows)
        })?;
        for (id, deployment, _, _) in &rows {
            self.announce_run(*id, Some(deployment), RunState::Crashed);
        }
        Ok(rows
            .into_iter()
            .map(|(id, deployment, attempt, max_attempts)| ReapedRun {
                id,
                deployment,
                attempt: u32::try_from(attempt).unwrap_or_default(),
                max_attempts: u32::try_from(max_attempts).unwrap_or_default(),
            })
            .collect())
    }

    /// Cancels a run: one not yet started becomes Cancelled at once; a running one is flagged and
    /// its worker stops it. Returns the run's state afterwards, or `None` for an unknown or
    /// finished run.
    pub async fn request_cancel(&self, id: i64, now: DateTime<Utc>) -> Result<Option<RunState>> {
        let outcome = on_pool!(self, |pool| {
            let mut transaction = pool.begin().await?;
            let waiting: Option<i64> = sqlx::query_scalar(
                "UPDATE flow_runs SET state = 'cancelled', ended_at = $2 WHERE id = $1 \
                 AND state IN ('scheduled', 'awaiting_retry', 'pending') RETURNING attempt",
            )
            .bind(id)
            .bind(to_millis(now))
            .fetch_optional(&mut *transaction)
            .await?;
            let outcome = if let Some(attempt) = waiting {
                insert_state!(
                    &mut *transaction,
                    id,
                    u32::try_from(attempt).unwrap_or_default(),
                    RunState::Cancelled,
                    now,
                    Some("cancelled before it started")
                )?;
                Some(RunState::Cancelled)
            } else {
                let flagged = sqlx::query(
                    "UPDATE flow_runs SET cancel_requested = 1 WHERE id = $1 AND state = 'running'",
                )
                .bind(id)
                .execute(&mut *transaction)
                .await?
                .rows_affected();
                (flagged > 0).then_some(RunState::Running)
            };
            transaction.commit().await?;
            Ok::<_, sqlx::Error>(outcome)
        })?;
        if let Some(state) = outcome {
            self.announce_run(id, None, state);
        }
        Ok(outcome)
    }

    /// Marks a not-yet-started run Skipped (an overlap or missed-run policy).
    pub async fn skip_run(&self, id: i64, reason: &str, now: DateTime<Utc>) -> Result<bool> {
        let changed = on_pool!(self, |pool| {
            let mut transaction = pool.begin().await?;
            let changed = sqlx::query("UPDATE flow_runs SET state = 'skipped', ended_at = $2, error = $3 WHERE id = $1 AND state IN ('scheduled', 'awaiting_retry')")
                .bind(id)
                .bind(to_millis(now))
                .bind(reason)
                .execute(&mut *transaction)
                .await?
                .rows_affected();
            if changed > 0 {
                insert_state!(
                    &mut *transaction,
                    id,
                    1,
                    RunState::Skipped,
                    now,
                    Some(reason)
                )?;
            }
            transaction.commit().await?;
            Ok::<_, sqlx::Error>(changed)
        })?;
        if changed > 0 {
            self.announce_run(id, None, RunState::Skipped);
        }
        Ok(changed > 0)
    }

    /// Records the script version serving a run's attempt.
    pub async fn set_run_script_hash(&self, id: i64, hash: &str) -> Result<()> {
        on_pool!(self, |pool| {
            sqlx::query("UPDATE flow_runs SET script_hash = $2 WHERE id = $1")
                .bind(id)
                .bind(hash)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Stores a batch of a run's log lines.
    pub async fn append_run_logs(
        &self,
        id: i64,
        attempt: u32,
        lines: &[RunLogRecord],
    ) -> Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        on_pool!(self, |pool| {
            let mut transaction = pool.begin().await?;
            for line in lines {
                sqlx::query("INSERT INTO flow_run_logs (run_id, attempt, at, level, message) VALUES ($1, $2, $3, $4, $5)")
                    .bind(id)
                    .bind(i64::from(attempt))
                    .bind(to_millis(line.at))
                    .bind(&line.level)
                    .bind(&line.message)
                    .execute(&mut *transaction)
                    .await?;
            }
            transaction.commit().await
        })?;
        Ok(())
    }

    /// Deletes run log lines older than `cutoff`; returns how many.
    pub async fn delete_run_logs_before(&self, cutoff: DateTime<Utc>) -> Result<u64> {
        let deleted = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM flow_run_logs WHERE at < $1")
                .bind(to_millis(cutoff))
                .execute(pool)
                .await
                .map(|result| result.rows_affected())
        })?;
        Ok(deleted)
    }

    /// One run.
    pub async fn run(&self, id: i64) -> Result<Option<RunRecord>> {
        let statement = format!("SELECT {RUN_COLUMNS} FROM flow_runs WHERE id = $1");
        let row: Option<RunRow> = on_pool!(self, |pool| sqlx::query_as(sqlx::AssertSqlSafe(
            statement.clone()
        ))
        .bind(id)
        .fetch_optional(pool)
        .await)?;
        row.map(RunRow::into_record).transpose()
    }

    /// Runs, newest first, optionally of one deployment and/or in one state.
    pub async fn runs(
        &self,
        deployment: Option<&str>,
        state: Option<RunState>,
        limit: u32,
    ) -> Result<Vec<RunRecord>> {
        self.runs_before(deployment, state, None, limit).await
    }

    /// As [`Store::runs`], only runs with an id below `before`: how a client pages back.
    pub async fn runs_before(
        &self,
        deployment: Option<&str>,
        state: Option<RunState>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<RunRecord>> {
        let statement = format!(
            "SELECT {RUN_COLUMNS} FROM flow_runs WHERE ($1 IS NULL OR deployment = $1) AND ($2 IS NULL OR state = $2) \
             AND id < $3 ORDER BY id DESC LIMIT $4"
        );
        let rows: Vec<RunRow> = on_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(statement.clone()))
                .bind(deployment)
                .bind(state.map(RunState::as_str))
                .bind(before.unwrap_or(i64::MAX))
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
        })?;
        rows.into_iter().map(RunRow::into_record).collect()
    }

    /// Each deployment's newest run, in one query.
    pub async fn latest_runs(&self) -> Result<Vec<RunRecord>> {
        let statement = format!(
            "SELECT {RUN_COLUMNS} FROM flow_runs WHERE id IN (SELECT MAX(id) FROM flow_runs GROUP BY deployment)"
        );
        let rows: Vec<RunRow> = on_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(statement.clone()))
                .fetch_all(pool)
                .await
        })?;
        rows.into_iter().map(RunRow::into_record).collect()
    }

    /// How many runs are in each state.
    pub async fn run_state_counts(&self) -> Result<Vec<(String, i64)>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as("SELECT state, COUNT(*) FROM flow_runs GROUP BY state ORDER BY state")
                .fetch_all(pool)
                .await
        })?)
    }

    /// A run's state history, oldest first.
    pub async fn run_states(&self, id: i64) -> Result<Vec<StateRecord>> {
        let rows: Vec<(i64, String, i64, Option<String>)> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT attempt, state, at, message FROM flow_run_states WHERE run_id = $1 ORDER BY id").bind(id).fetch_all(pool).await
        })?;
        rows.into_iter()
            .map(|(attempt, state, at, message)| {
                Ok(StateRecord {
                    attempt: u32::try_from(attempt).unwrap_or_default(),
                    state: state
                        .parse()
                        .map_err(|error: crate::domain::RunStateError| {
                            corrupt("state", error.to_string())
                        })?,
                    at: from_millis("flow_run_states", "at", at)?,
                    message,
                })
            })
            .collect()
    }

    /// A run's log lines, oldest first.
    pub async fn run_logs(&self, id: i64) -> Result<Vec<RunLogRecord>> {
        let rows: Vec<(i64, i64, String, String)> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT attempt, at, level, message FROM flow_run_logs WHERE run_id = $1 ORDER BY id").bind(id).fetch_all(pool).await
        })?;
        rows.into_iter()
            .map(|(attempt, at, level, message)| {
                Ok(RunLogRecord {
                    attempt: u32::try_from(attempt).unwrap_or_default(),
                    at: from_millis("flow_run_logs", "at", at)?,
                    level,
                    message,
                })
            })
            .collect()
    }
}
