//! Data-quality issues: rejected import rows now, and the findings of the quality flow later.

use chrono::{DateTime, Utc};

use super::{Result, Store, from_millis, on_pool, to_millis};

/// How bad an issue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Suspicious but stored.
    Warning,
    /// Refused; the data was not stored.
    Error,
}

impl Severity {
    fn as_str(self) -> &'static str {
        match self {
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

/// One problem found in data.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct QualityIssue {
    /// The load run that found it, if any.
    pub load_run_id: Option<i64>,
    /// When it was found.
    pub detected_at: DateTime<Utc>,
    /// The file or provider.
    pub source: String,
    /// The instrument, when known.
    pub symbol: Option<String>,
    /// The bar length, when known.
    pub timeframe: Option<String>,
    /// The bar's start, when known.
    pub time: Option<DateTime<Utc>>,
    /// The line in the source file, for imports.
    pub line: Option<u64>,
    /// A short machine-readable kind, e.g. `rejected_row`, `gap`, `ohlc`.
    pub kind: String,
    /// How bad it is.
    pub severity: Severity,
    /// What is wrong, for people.
    pub message: String,
}

#[derive(sqlx::FromRow)]
struct QualityRow {
    load_run_id: Option<i64>,
    detected_at: i64,
    source: String,
    symbol: Option<String>,
    timeframe: Option<String>,
    ts: Option<i64>,
    line: Option<i64>,
    kind: String,
    severity: String,
    message: String,
}

impl Store {
    /// Stores issues in one transaction.
    pub async fn record_quality_issues(&self, issues: &[QualityIssue]) -> Result<()> {
        on_pool!(self, |pool| {
            let mut transaction = pool.begin().await?;
            for issue in issues {
                sqlx::query(
                    "INSERT INTO data_quality_issues (load_run_id, detected_at, source, symbol, \
                     timeframe, ts, line, kind, severity, message) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(issue.load_run_id)
                .bind(to_millis(issue.detected_at))
                .bind(&issue.source)
                .bind(&issue.symbol)
                .bind(&issue.timeframe)
                .bind(issue.time.map(to_millis))
                .bind(
                    issue
                        .line
                        .map(|line| i64::try_from(line).unwrap_or(i64::MAX)),
                )
                .bind(&issue.kind)
                .bind(issue.severity.as_str())
                .bind(&issue.message)
                .execute(&mut *transaction)
                .await?;
            }
            transaction.commit().await
        })?;
        Ok(())
    }

    /// The issues found by one load run, in line order.
    pub async fn quality_issues_of_run(&self, load_run_id: i64) -> Result<Vec<QualityIssue>> {
        let rows: Vec<QualityRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT load_run_id, detected_at, source, symbol, timeframe, ts, line, kind, \
                 severity, message FROM data_quality_issues WHERE load_run_id = $1 \
                 ORDER BY line, id",
            )
            .bind(load_run_id)
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter()
            .map(|row| {
                Ok(QualityIssue {
                    load_run_id: row.load_run_id,
                    detected_at: from_millis(
                        "data_quality_issues",
                        "detected_at",
                        row.detected_at,
                    )?,
                    source: row.source,
                    symbol: row.symbol,
                    timeframe: row.timeframe,
                    time: row
                        .ts
                        .map(|ts| from_millis("data_quality_issues", "ts", ts))
                        .transpose()?,
                    line: row.line.and_then(|line| u64::try_from(line).ok()),
                    kind: row.kind,
                    severity: if row.severity == "error" {
                        Severity::Error
                    } else {
                        Severity::Warning
                    },
                    message: row.message,
                })
            })
            .collect()
    }
}
