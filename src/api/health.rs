//! `GET /api/v1/health`: is the daemon alive, and can it reach its database?

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::ApiState;
use crate::clock::ClockMode;
use crate::store::BackendKind;

/// A health check that takes longer than this counts as a failure: a stuck database is down.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(2);

/// The health report.
#[derive(Debug, Serialize)]
pub struct Health {
    /// `ok` when every check passes, `degraded` otherwise.
    pub status: &'static str,
    /// The daemon's version.
    pub version: &'static str,
    /// Seconds since the API started, in real time.
    pub uptime_seconds: i64,
    /// The host clock.
    pub clock: ClockReport,
    /// The database check.
    pub database: DatabaseReport,
}

/// The clock as the daemon sees it.
#[derive(Debug, Serialize)]
pub struct ClockReport {
    /// The host's current time (simulated or real).
    pub now: DateTime<Utc>,
    /// Real or simulated, and its speed.
    #[serde(flatten)]
    pub mode: ClockMode,
}

/// The database check.
#[derive(Debug, Serialize)]
pub struct DatabaseReport {
    /// `ok` or `unavailable`.
    pub status: &'static str,
    /// SQLite or PostgreSQL.
    pub backend: BackendKind,
    /// The round trip of a trivial query, when it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// Why it is unavailable; a summary, never the driver's text, which can name hosts and users.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
}

/// Reports liveness and database readiness; 503 when the database does not answer.
pub async fn health(State(state): State<ApiState>) -> (StatusCode, Json<Health>) {
    let store = &state.inner.store;
    let database = match tokio::time::timeout(DATABASE_TIMEOUT, store.ping()).await {
        Ok(Ok(latency)) => DatabaseReport {
            status: "ok",
            backend: store.backend(),
            latency_ms: Some(latency.as_secs_f64() * 1000.0),
            error: None,
        },
        Ok(Err(error)) => {
            tracing::warn!(%error, "health check: database query failed");
            DatabaseReport {
                status: "unavailable",
                backend: store.backend(),
                latency_ms: None,
                error: Some("the database query failed"),
            }
        }
        Err(_) => DatabaseReport {
            status: "unavailable",
            backend: store.backend(),
            latency_ms: None,
            error: Some("the database did not answer in time"),
        },
    };
    let healthy = database.status == "ok";
    let report = Health {
        status: if healthy { "ok" } else { "degraded" },
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: (Utc::now() - state.inner.started_at).num_seconds(),
        clock: ClockReport {
            now: state.inner.clock.now(),
            mode: state.inner.clock.mode(),
        },
        database,
    };
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report))
}
