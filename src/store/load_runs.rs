//! Load runs: one row per ingestion, so incremental loads know where they stopped and users can
//! see what each import did.

use chrono::{DateTime, Utc};

use super::{Result, Store, from_millis, on_pool, to_millis};

/// Where a load run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadRunStatus {
    /// Still going (or its process died).
    Running,
    /// Finished; its bars are stored.
    Completed,
    /// Stopped by an error; nothing of it is stored.
    Failed,
    /// Refused by a strict import because of bad rows; nothing of it is stored.
    Refused,
}

impl LoadRunStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Refused => "refused",
        }
    }

    fn parse(text: &str) -> Result<Self> {
        match text {
            "running" => Ok(Self::Running),
            "completed" => Ok(Self::Completed),
            "failed" => Ok(Self::Failed),
            "refused" => Ok(Self::Refused),
            other => Err(super::Error::Corrupt {
                table: "load_runs",
                column: "status",
                message: format!("unknown status `{other}`"),
            }),
        }
    }
}

/// The counts a load run ends with.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct LoadRunSummary {
    /// Rows (or provider records) read.
    pub rows_read: u64,
    /// Bars newly stored.
    pub bars_inserted: u64,
    /// Bars already stored before this run.
    pub bars_existing: u64,
    /// Rows refused as bad data.
    pub rows_rejected: u64,
    /// The first bar's start.
    pub first_bar: Option<DateTime<Utc>>,
    /// The last bar's start.
    pub last_bar: Option<DateTime<Utc>>,
}

/// A stored load run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LoadRun {
    /// Its id.
    pub id: i64,
    /// `csv`, `simulated`, `alpaca`, …
    pub source: String,
    /// A file path or a symbol list.
    pub target: String,
    /// Where it ended.
    pub status: LoadRunStatus,
    /// When it began.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Its counts.
    pub summary: LoadRunSummary,
    /// Why it failed or was refused.
    pub error: Option<String>,
}

#[derive(sqlx::FromRow)]
struct LoadRunRow {
    id: i64,
    source: String,
    target: String,
    status: String,
    started_at: i64,
    finished_at: Option<i64>,
    rows_read: i64,
    bars_inserted: i64,
    bars_existing: i64,
    rows_rejected: i64,
    first_bar_ts: Option<i64>,
    last_bar_ts: Option<i64>,
    error: Option<String>,
}

fn count(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn uncount(value: i64) -> u64 {
    u64::try_from(value).unwrap_or_default()
}

impl Store {
    /// Records the start of an ingestion and returns its id.
    pub async fn start_load_run(
        &self,
        source: &str,
        target: &str,
        started_at: DateTime<Utc>,
    ) -> Result<i64> {
        let id = on_pool!(self, |pool| {
            sqlx::query_scalar(
                "INSERT INTO load_runs (source, target, status, started_at) \
                 VALUES ($1, $2, 'running', $3) RETURNING id",
            )
            .bind(source)
            .bind(target)
            .bind(to_millis(started_at))
            .fetch_one(pool)
            .await
        })?;
        Ok(id)
    }

    /// Records how an ingestion ended.
    pub async fn finish_load_run(
        &self,
        id: i64,
        status: LoadRunStatus,
        summary: &LoadRunSummary,
        error: Option<&str>,
        finished_at: DateTime<Utc>,
    ) -> Result<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE load_runs SET status = $2, finished_at = $3, rows_read = $4, \
                 bars_inserted = $5, bars_existing = $6, rows_rejected = $7, first_bar_ts = $8, \
                 last_bar_ts = $9, error = $10 WHERE id = $1",
            )
            .bind(id)
            .bind(status.as_str())
            .bind(to_millis(finished_at))
            .bind(count(summary.rows_read))
            .bind(count(summary.bars_inserted))
            .bind(count(summary.bars_existing))
            .bind(count(summary.rows_rejected))
            .bind(summary.first_bar.map(to_millis))
            .bind(summary.last_bar.map(to_millis))
            .bind(error)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// The most recent load runs, newest first.
    pub async fn load_runs(&self, limit: u32) -> Result<Vec<LoadRun>> {
        let rows: Vec<LoadRunRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, source, target, status, started_at, finished_at, rows_read, \
                 bars_inserted, bars_existing, rows_rejected, first_bar_ts, last_bar_ts, error \
                 FROM load_runs ORDER BY id DESC LIMIT $1",
            )
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter()
            .map(|row| {
                let time = |column, millis: Option<i64>| {
                    millis
                        .map(|millis| from_millis("load_runs", column, millis))
                        .transpose()
                };
                Ok(LoadRun {
                    id: row.id,
                    source: row.source,
                    target: row.target,
                    status: LoadRunStatus::parse(&row.status)?,
                    started_at: from_millis("load_runs", "started_at", row.started_at)?,
                    finished_at: time("finished_at", row.finished_at)?,
                    summary: LoadRunSummary {
                        rows_read: uncount(row.rows_read),
                        bars_inserted: uncount(row.bars_inserted),
                        bars_existing: uncount(row.bars_existing),
                        rows_rejected: uncount(row.rows_rejected),
                        first_bar: time("first_bar_ts", row.first_bar_ts)?,
                        last_bar: time("last_bar_ts", row.last_bar_ts)?,
                    },
                    error: row.error,
                })
            })
            .collect()
    }
}
