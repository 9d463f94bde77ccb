//! The audit log: an append-only record of operator actions and important state changes.

use chrono::{DateTime, Utc};

use super::{Result, Store, from_millis, on_pool, to_millis};

/// One audit record.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AuditEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// Who: `cli`, `api:<key name>`, `daemon`, a script's name.
    pub actor: String,
    /// What, as a dotted verb: `daemon.start`, `ingest.csv`, `risk.halt`.
    pub action: String,
    /// What it acted on, if anything.
    pub subject: Option<String>,
    /// Details as JSON.
    pub details: serde_json::Value,
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    at: i64,
    actor: String,
    action: String,
    subject: Option<String>,
    details: String,
}

impl Store {
    /// Appends a record.
    pub async fn audit(&self, entry: &AuditEntry) -> Result<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO audit_log (at, actor, action, subject, details) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(to_millis(entry.at))
            .bind(&entry.actor)
            .bind(&entry.action)
            .bind(&entry.subject)
            .bind(entry.details.to_string())
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// The latest records, newest first.
    pub async fn audit_entries(&self, limit: u32) -> Result<Vec<AuditEntry>> {
        let rows: Vec<AuditRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT at, actor, action, subject, details FROM audit_log ORDER BY id DESC LIMIT $1",
            )
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter()
            .map(|row| {
                Ok(AuditEntry {
                    at: from_millis("audit_log", "at", row.at)?,
                    actor: row.actor,
                    action: row.action,
                    subject: row.subject,
                    details: serde_json::from_str(&row.details).map_err(|error| {
                        super::Error::Corrupt {
                            table: "audit_log",
                            column: "details",
                            message: error.to_string(),
                        }
                    })?,
                })
            })
            .collect()
    }
}
