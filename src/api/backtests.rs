//! Backtests: submitted as runs of the `run_backtest` flow (so they are scheduled, retried and
//! logged like any run), listed and read from `backtest_runs`.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody, Json, Path, Query, Reply};
use super::flows::Created;
use super::{ApiState, Limit};
use crate::store::BacktestRunRecord;

/// The flow that runs backtests.
const BACKTEST_FLOW: &str = "run_backtest";

/// A backtest to run.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BacktestRequest {
    /// The strategy script's name (default `pairs`).
    #[serde(default)]
    pub strategy: Option<String>,
    /// Days of simulated history (1–3650, default 120).
    #[serde(default)]
    pub days: Option<u32>,
}

/// `GET /api/v1/backtests`: stored backtests (without their trades).
#[utoipa::path(
    get,
    path = "/api/v1/backtests",
    tag = "backtests",
    security(("bearer" = [])),
    params(Limit),
    responses(
        (status = 200, description = "Backtests, newest first", body = Vec<BacktestRunRecord>),
        (status = 400, description = "A bad limit", body = ErrorBody),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<ApiState>,
    Query(limit): Query<Limit>,
) -> Reply<Vec<BacktestRunRecord>> {
    Ok(Json(state.inner.store.backtest_runs(limit.value()?).await?))
}

/// `POST /api/v1/backtests`: submits a backtest; follow it as the returned run, then read it here.
#[utoipa::path(
    post,
    path = "/api/v1/backtests",
    tag = "backtests",
    security(("bearer" = [])),
    request_body = BacktestRequest,
    responses(
        (status = 202, description = "Submitted as a run of run_backtest", body = Created),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
        (status = 403, description = "A read-only key", body = ErrorBody),
        (status = 422, description = "A bad strategy name or number of days", body = ErrorBody),
        (status = 409, description = "The backtest flow is not loaded", body = ErrorBody),
    )
)]
pub async fn submit(
    State(state): State<ApiState>,
    Json(request): Json<BacktestRequest>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let strategy = request.strategy.unwrap_or_else(|| "pairs".into());
    if strategy.is_empty()
        || strategy.len() > 64
        || !strategy
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(ApiError::invalid(
            "`strategy` must be a script name: letters, digits and underscores",
        ));
    }
    let days = request.days.unwrap_or(120);
    if !(1..=3650).contains(&days) {
        return Err(ApiError::invalid(format!(
            "`days` must be between 1 and 3650, not {days}"
        )));
    }
    let orchestrator = state.orchestrator()?;
    // The loaded scripts may be newer than the scheduler's view of them (just saved, or the
    // daemon just started).
    orchestrator.sync_deployments().await?;
    if orchestrator.spec(BACKTEST_FLOW).is_none() {
        return Err(ApiError::conflict(format!(
            "the `{BACKTEST_FLOW}` flow is not loaded in this daemon (scripts/{BACKTEST_FLOW}.rhai)"
        )));
    }
    let mut parameters = serde_json::Map::new();
    parameters.insert("strategy".into(), strategy.into());
    parameters.insert("days".into(), days.into());
    let run_id = orchestrator
        .submit_triggered(BACKTEST_FLOW, Some(parameters), "api")
        .await
        .map_err(|error| ApiError::internal(&error))?;
    Ok((StatusCode::ACCEPTED, Json(Created { run_id })))
}

/// `GET /api/v1/backtests/{id}`: one backtest with its metrics and trades.
#[utoipa::path(
    get,
    path = "/api/v1/backtests/{id}",
    tag = "backtests",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The backtest's id")),
    responses(
        (status = 200, description = "The backtest", body = BacktestRunRecord),
        (status = 400, description = "Not an id", body = ErrorBody),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
        (status = 404, description = "No such backtest", body = ErrorBody),
    )
)]
pub async fn get(State(state): State<ApiState>, Path(id): Path<i64>) -> Reply<BacktestRunRecord> {
    state
        .inner
        .store
        .backtest_run(id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no backtest with id {id}")))
}
