//! Script versions and per-script state.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Result, Store, from_millis, on_pool, to_millis};

/// Where a script version stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VersionStatus {
    /// Serving calls.
    Active,
    /// Served once; replaced by a newer version.
    Superseded,
    /// Failed to compile or validate; the previous version kept serving.
    Rejected,
    /// The file was deleted.
    Retired,
}

impl VersionStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Superseded => "superseded",
            Self::Rejected => "rejected",
            Self::Retired => "retired",
        }
    }

    fn parse(text: &str) -> Result<Self> {
        Ok(match text {
            "active" => Self::Active,
            "superseded" => Self::Superseded,
            "rejected" => Self::Rejected,
            "retired" => Self::Retired,
            other => {
                return Err(super::Error::Corrupt {
                    table: "script_versions",
                    column: "status",
                    message: format!("unknown status `{other}`"),
                });
            }
        })
    }
}

/// One stored script version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ScriptVersionRecord {
    /// Its id.
    pub id: i64,
    /// The script's name (file stem).
    pub name: String,
    /// The file, relative to the project root.
    pub path: String,
    /// `flow`, `strategy` or `library`.
    pub kind: String,
    /// SHA-256 of the source, hex.
    pub hash: String,
    /// The source text.
    pub source: String,
    /// When the registry saw it.
    pub loaded_at: DateTime<Utc>,
    /// Where it stands.
    pub status: VersionStatus,
    /// Why it was rejected.
    pub error: Option<String>,
    /// The error's line.
    pub line: Option<i64>,
    /// The error's column.
    pub column: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct VersionRow {
    id: i64,
    name: String,
    path: String,
    kind: String,
    hash: String,
    source: String,
    loaded_at: i64,
    status: String,
    error: Option<String>,
    line: Option<i64>,
    col: Option<i64>,
}

impl Store {
    /// Records a version. An active version supersedes the name's previous active one in the same
    /// transaction, so at most one version per name is active.
    pub async fn record_script_version(&self, record: &ScriptVersionRecord) -> Result<i64> {
        let id = on_pool!(self, |pool| {
            let mut transaction = pool.begin().await?;
            if matches!(
                record.status,
                VersionStatus::Active | VersionStatus::Retired
            ) {
                sqlx::query(
                    "UPDATE script_versions SET status = 'superseded' WHERE name = $1 AND status = 'active'",
                )
                .bind(&record.name)
                .execute(&mut *transaction)
                .await?;
            }
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO script_versions (name, path, kind, hash, source, loaded_at, status, error, line, col) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
            )
            .bind(&record.name)
            .bind(&record.path)
            .bind(&record.kind)
            .bind(&record.hash)
            .bind(&record.source)
            .bind(to_millis(record.loaded_at))
            .bind(record.status.as_str())
            .bind(&record.error)
            .bind(record.line)
            .bind(record.column)
            .fetch_one(&mut *transaction)
            .await?;
            transaction.commit().await?;
            Ok::<_, sqlx::Error>(id)
        })?;
        self.events.publish(
            crate::events::EventKind::Script,
            serde_json::json!({
                "id": id,
                "name": record.name,
                "hash": record.hash,
                "status": record.status.as_str(),
                "error": record.error,
                "line": record.line,
            }),
        );
        Ok(id)
    }

    /// The versions of one script (or of all), newest first.
    pub async fn script_versions(
        &self,
        name: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ScriptVersionRecord>> {
        let rows: Vec<VersionRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, name, path, kind, hash, source, loaded_at, status, error, line, col \
                 FROM script_versions WHERE $1 IS NULL OR name = $1 ORDER BY id DESC LIMIT $2",
            )
            .bind(name)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter()
            .map(|row| {
                Ok(ScriptVersionRecord {
                    id: row.id,
                    name: row.name,
                    path: row.path,
                    kind: row.kind,
                    hash: row.hash,
                    source: row.source,
                    loaded_at: from_millis("script_versions", "loaded_at", row.loaded_at)?,
                    status: VersionStatus::parse(&row.status)?,
                    error: row.error,
                    line: row.line,
                    column: row.col,
                })
            })
            .collect()
    }

    /// A script's state value (JSON text), if set.
    pub async fn script_state(&self, script: &str, key: &str) -> Result<Option<String>> {
        let value = on_pool!(self, |pool| {
            sqlx::query_scalar("SELECT value FROM script_state WHERE script = $1 AND key = $2")
                .bind(script)
                .bind(key)
                .fetch_optional(pool)
                .await
        })?;
        Ok(value)
    }

    /// Sets a script's state value (JSON text).
    pub async fn set_script_state(
        &self,
        script: &str,
        key: &str,
        value: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO script_state (script, key, value, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (script, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )
            .bind(script)
            .bind(key)
            .bind(value)
            .bind(to_millis(at))
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Removes a script's state value; true when it existed.
    pub async fn remove_script_state(&self, script: &str, key: &str) -> Result<bool> {
        let removed = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM script_state WHERE script = $1 AND key = $2")
                .bind(script)
                .bind(key)
                .execute(pool)
                .await
                .map(|result| result.rows_affected())
        })?;
        Ok(removed > 0)
    }

    /// The keys of a script's state, sorted.
    pub async fn script_state_keys(&self, script: &str) -> Result<Vec<String>> {
        let keys = on_pool!(self, |pool| {
            sqlx::query_scalar("SELECT key FROM script_state WHERE script = $1 ORDER BY key")
                .bind(script)
                .fetch_all(pool)
                .await
        })?;
        Ok(keys)
    }
}
