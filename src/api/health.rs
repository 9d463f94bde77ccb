//! Liveness (`/api/v1/health`: is the daemon alive, can it reach its database?) and readiness
//! (`/api/v1/health/ready`: database, broker and market data each checked).

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::ApiState;
use super::error::Json;
use crate::clock::ClockMode;
use crate::store::BackendKind;

/// A check that takes longer than this counts as a failure: a stuck dependency is down.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Market data older than this (host clock) makes the daemon not ready.
const STALE_DATA: chrono::Duration = chrono::Duration::days(5);

/// The health report.
#[derive(Debug, Serialize, ToSchema)]
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
#[derive(Debug, Serialize, ToSchema)]
pub struct ClockReport {
    /// The host's current time (simulated or real).
    pub now: DateTime<Utc>,
    /// Real or simulated, and its speed.
    #[serde(flatten)]
    pub mode: ClockMode,
}

/// The database check.
#[derive(Debug, Serialize, ToSchema)]
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

/// One readiness check.
#[derive(Debug, Serialize, ToSchema)]
pub struct Check {
    /// `ok`, `unavailable` or `not_configured`.
    pub status: &'static str,
    /// What was found, for people.
    pub detail: String,
}

/// The readiness report.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` when every configured check passes, else `not_ready`.
    pub status: &'static str,
    /// The database answers queries.
    pub database: Check,
    /// The broker answers (its market clock).
    pub broker: Check,
    /// Bars are stored and recent on the host clock.
    pub data: Check,
}

async fn database_report(state: &ApiState) -> DatabaseReport {
    let store = &state.inner.store;
    match tokio::time::timeout(CHECK_TIMEOUT, store.ping()).await {
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
    }
}

/// Liveness, and whether the database answers; 503 when it does not.
#[utoipa::path(
    get,
    path = "/api/v1/health",
    tag = "health",
    responses(
        (status = 200, description = "Alive, database reachable", body = Health),
        (status = 503, description = "Alive, database unreachable", body = Health),
    )
)]
pub async fn health(State(state): State<ApiState>) -> (StatusCode, Json<Health>) {
    let database = database_report(&state).await;
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

/// Readiness: the database, the broker and market data; 503 unless all pass.
#[utoipa::path(
    get,
    path = "/api/v1/health/ready",
    tag = "health",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Ready to trade", body = Readiness),
        (status = 503, description = "A dependency is down", body = Readiness),
        (status = 401, description = "No or a wrong key", body = super::error::ErrorBody),
    )
)]
pub async fn ready(State(state): State<ApiState>) -> (StatusCode, Json<Readiness>) {
    let database = database_report(&state).await;
    let database = Check {
        status: database.status,
        detail: database
            .error
            .map_or_else(|| format!("{:?} answers", database.backend), str::to_owned),
    };
    let broker = match &state.inner.desk {
        None => Check {
            status: "not_configured",
            detail: "trading is not running in this daemon".into(),
        },
        Some(desk) => match tokio::time::timeout(CHECK_TIMEOUT, desk.broker().clock()).await {
            Ok(Ok(clock)) => Check {
                status: "ok",
                detail: format!(
                    "{} answers; market {}",
                    desk.broker().name(),
                    if clock.is_open { "open" } else { "closed" }
                ),
            },
            Ok(Err(error)) => Check {
                // The broker's own text can name hosts; it goes to the log only.
                status: "unavailable",
                detail: format!(
                    "{} {}",
                    desk.broker().name(),
                    if error.is_transient() {
                        "is unavailable or rate limiting"
                    } else {
                        "refused the check (see the daemon's log)"
                    }
                ),
            },
            Err(_) => Check {
                status: "unavailable",
                detail: format!("{} did not answer in time", desk.broker().name()),
            },
        },
    };
    let now = state.inner.clock.now();
    let data = match state.inner.store.newest_bar_time().await {
        Ok(Some(newest)) if now - newest <= STALE_DATA => Check {
            status: "ok",
            detail: format!("newest bar at {}", newest.to_rfc3339()),
        },
        Ok(Some(newest)) => Check {
            status: "unavailable",
            detail: format!("the newest bar is stale ({})", newest.to_rfc3339()),
        },
        Ok(None) => Check {
            status: "unavailable",
            detail: "no bars are stored yet".into(),
        },
        Err(error) => {
            tracing::warn!(%error, "readiness: reading the newest bar failed");
            Check {
                status: "unavailable",
                detail: "the bars could not be read".into(),
            }
        }
    };
    let ready = [&database, &broker, &data]
        .iter()
        .all(|check| check.status != "unavailable");
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Readiness {
            status: if ready { "ready" } else { "not_ready" },
            database,
            broker,
            data,
        }),
    )
}
