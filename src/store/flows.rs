//! Task runs, the task result cache and events: the parts of flow composition that scripts reach
//! through `flow::task` and `flow::emit`.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Result, Store, from_millis, on_pool, to_millis};

/// One stored event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRecord {
    /// Its id.
    pub id: i64,
    /// `bars.ingested`, `order.filled`, or a script's own name.
    pub name: String,
    /// Its payload.
    pub payload: serde_json::Value,
    /// When it was emitted (host clock).
    pub emitted_at: DateTime<Utc>,
}

/// A finished task run.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TaskRunRecord {
    /// The flow run it ran in.
    pub run_id: Option<i64>,
    /// The task's name.
    pub name: String,
    /// Its cache key.
    pub cache_key: Option<String>,
    /// `completed` or `failed`.
    pub state: String,
    /// Attempts made (0 for a cache hit).
    pub attempts: u32,
    /// Served from the cache.
    pub cache_hit: bool,
    /// What it returned.
    pub result: Option<serde_json::Value>,
    /// Why it failed.
    pub error: Option<String>,
}

/// A task run as selected: run id, name, cache key, state, attempts, cache hit, result, error.
type TaskRow = (
    Option<i64>,
    String,
    Option<String>,
    String,
    i64,
    i64,
    Option<String>,
    Option<String>,
);

impl Store {
    /// Stores an event for event-triggered deployments.
    pub async fn emit_event(
        &self,
        name: &str,
        payload: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> Result<i64> {
        let id = on_pool!(self, |pool| {
            sqlx::query_scalar(
                "INSERT INTO events (name, payload, emitted_at) VALUES ($1, $2, $3) RETURNING id",
            )
            .bind(name)
            .bind(payload.to_string())
            .bind(to_millis(at))
            .fetch_one(pool)
            .await
        })?;
        Ok(id)
    }

    /// Events not yet turned into runs, oldest first.
    pub async fn unprocessed_events(&self, limit: u32) -> Result<Vec<EventRecord>> {
        let rows: Vec<(i64, String, String, i64)> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT id, name, payload, emitted_at FROM events WHERE processed_at IS NULL ORDER BY id LIMIT $1")
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
        })?;
        rows.into_iter()
            .map(|(id, name, payload, at)| {
                Ok(EventRecord {
                    id,
                    name,
                    payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
                    emitted_at: from_millis("events", "emitted_at", at)?,
                })
            })
            .collect()
    }

    /// Marks an event as turned into runs.
    pub async fn mark_event_processed(&self, id: i64, at: DateTime<Utc>) -> Result<()> {
        on_pool!(self, |pool| {
            sqlx::query("UPDATE events SET processed_at = $2 WHERE id = $1")
                .bind(id)
                .bind(to_millis(at))
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// A cached task result that has not expired.
    pub async fn cached_task_result(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<serde_json::Value>> {
        let text: Option<String> = on_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT result FROM task_cache WHERE cache_key = $1 AND expires_at > $2",
            )
            .bind(key)
            .bind(to_millis(now))
            .fetch_optional(pool)
            .await
        })?;
        Ok(text.and_then(|text| serde_json::from_str(&text).ok()))
    }

    /// Caches a task result until `expires_at`.
    pub async fn cache_task_result(
        &self,
        key: &str,
        result: &serde_json::Value,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO task_cache (cache_key, result, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (cache_key) DO UPDATE SET result = excluded.result, expires_at = excluded.expires_at",
            )
            .bind(key)
            .bind(result.to_string())
            .bind(to_millis(expires_at))
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Records a finished task run.
    pub async fn record_task_run(
        &self,
        task: &TaskRunRecord,
        started_at: DateTime<Utc>,
        ended_at: DateTime<Utc>,
    ) -> Result<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO task_runs (run_id, name, cache_key, state, attempts, cache_hit, result, error, started_at, ended_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(task.run_id)
            .bind(&task.name)
            .bind(&task.cache_key)
            .bind(&task.state)
            .bind(i64::from(task.attempts))
            .bind(i64::from(task.cache_hit))
            .bind(task.result.as_ref().map(ToString::to_string))
            .bind(&task.error)
            .bind(to_millis(started_at))
            .bind(to_millis(ended_at))
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// The task runs of a flow run, oldest first.
    pub async fn task_runs(&self, run_id: i64) -> Result<Vec<TaskRunRecord>> {
        let rows: Vec<TaskRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT run_id, name, cache_key, state, attempts, cache_hit, result, error FROM task_runs WHERE run_id = $1 ORDER BY id",
            )
            .bind(run_id)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(
                |(run_id, name, cache_key, state, attempts, cache_hit, result, error)| {
                    TaskRunRecord {
                        run_id,
                        name,
                        cache_key,
                        state,
                        attempts: u32::try_from(attempts).unwrap_or_default(),
                        cache_hit: cache_hit != 0,
                        result: result.and_then(|text| serde_json::from_str(&text).ok()),
                        error,
                    }
                },
            )
            .collect())
    }
}
