//! Deployments (list, pause, resume, run now with parameters) and runs (filter, page, inspect,
//! logs, cancel, retry).

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody, Json, Path, Query, Reply};
use super::{ApiState, Page};
use crate::domain::RunState;
use crate::store::{DeploymentRecord, RunLogRecord, RunRecord, StateRecord, TaskRunRecord};

/// A deployment with its next tick.
#[derive(Debug, Serialize, ToSchema)]
pub struct Deployment {
    /// The stored deployment.
    #[serde(flatten)]
    pub record: DeploymentRecord,
    /// The next time it fires after calendar gating (none without a schedule or while paused).
    pub next_run: Option<DateTime<Utc>>,
    /// Its newest run.
    pub last_run: Option<RunRecord>,
}

/// `GET /api/v1/deployments`.
#[utoipa::path(
    get,
    path = "/api/v1/deployments",
    tag = "flows",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every deployment", body = Vec<Deployment>),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
    )
)]
pub async fn deployments(State(state): State<ApiState>) -> Reply<Vec<Deployment>> {
    let store = &state.inner.store;
    let now = state.inner.clock.now();
    let mut latest: std::collections::HashMap<String, RunRecord> = store
        .latest_runs()
        .await?
        .into_iter()
        .map(|run| (run.deployment.clone(), run))
        .collect();
    let mut out = Vec::new();
    for record in store.deployments().await? {
        let next_run = if record.paused {
            None
        } else {
            state
                .inner
                .orchestrator
                .as_ref()
                .and_then(|orchestrator| orchestrator.next_tick(&record.name, now))
        };
        let last_run = latest.remove(&record.name);
        out.push(Deployment {
            record,
            next_run,
            last_run,
        });
    }
    Ok(Json(out))
}

/// The reply to a pause or resume.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paused {
    /// The deployment.
    pub name: String,
    /// Whether it is paused now.
    pub paused: bool,
}

async fn set_paused(state: &ApiState, name: String, paused: bool) -> Reply<Paused> {
    if !state
        .inner
        .store
        .set_deployment_paused(&name, paused)
        .await?
    {
        return Err(ApiError::not_found(format!("no deployment named `{name}`")));
    }
    if let Some(orchestrator) = &state.inner.orchestrator {
        orchestrator.wake();
    }
    Ok(Json(Paused { name, paused }))
}

/// `POST /api/v1/deployments/{name}/pause`: no new runs until resumed.
#[utoipa::path(
    post,
    path = "/api/v1/deployments/{name}/pause",
    tag = "flows",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "The deployment (flow) name")),
    responses(
        (status = 200, description = "Paused", body = Paused),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
        (status = 403, description = "A read-only key", body = ErrorBody),
        (status = 404, description = "No such deployment", body = ErrorBody),
    )
)]
pub async fn pause(State(state): State<ApiState>, Path(name): Path<String>) -> Reply<Paused> {
    set_paused(&state, name, true).await
}

/// `POST /api/v1/deployments/{name}/resume`: runs again (missed ticks follow its policy).
#[utoipa::path(
    post,
    path = "/api/v1/deployments/{name}/resume",
    tag = "flows",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "The deployment (flow) name")),
    responses(
        (status = 200, description = "Resumed", body = Paused),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
        (status = 403, description = "A read-only key", body = ErrorBody),
        (status = 404, description = "No such deployment", body = ErrorBody),
    )
)]
pub async fn resume(State(state): State<ApiState>, Path(name): Path<String>) -> Reply<Paused> {
    set_paused(&state, name, false).await
}

/// A manual run's request.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// Parameters merged over the deployment's defaults.
    #[serde(default)]
    pub parameters: serde_json::Map<String, serde_json::Value>,
}

/// A created run.
#[derive(Debug, Serialize, ToSchema)]
pub struct Created {
    /// The new run's id.
    pub run_id: i64,
}

/// `POST /api/v1/deployments/{name}/run`: a run now, with parameters.
#[utoipa::path(
    post,
    path = "/api/v1/deployments/{name}/run",
    tag = "flows",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "The deployment (flow) name")),
    request_body = RunRequest,
    responses(
        (status = 201, description = "The run was created", body = Created),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
        (status = 403, description = "A read-only key", body = ErrorBody),
        (status = 404, description = "No such deployment", body = ErrorBody),
        (status = 422, description = "The body does not fit", body = ErrorBody),
    )
)]
pub async fn run_now(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Json(request): Json<RunRequest>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let run_id = submit(&state, &name, request.parameters, "api").await?;
    Ok((StatusCode::CREATED, Json(Created { run_id })))
}

async fn submit(
    state: &ApiState,
    name: &str,
    parameters: serde_json::Map<String, serde_json::Value>,
    trigger: &str,
) -> Result<i64, ApiError> {
    let orchestrator = state.orchestrator()?;
    // The loaded scripts may be newer than the scheduler's view of them (just saved, or the
    // daemon just started).
    orchestrator.sync_deployments().await?;
    if orchestrator.spec(name).is_none() {
        return Err(ApiError::not_found(format!("no deployment named `{name}`")));
    }
    orchestrator
        .submit_triggered(name, Some(parameters), trigger)
        .await
        .map_err(|error| ApiError::internal(&error))
}

/// Filters of the run list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RunFilter {
    /// Only this deployment's runs.
    pub deployment: Option<String>,
    /// Only runs in this state.
    pub state: Option<RunState>,
    /// How many (1–1000, default 100), newest first.
    pub limit: Option<u32>,
    /// Only runs with a smaller id (the `next` of the previous page).
    pub before: Option<i64>,
}

/// A page of runs.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunPage {
    /// The runs, newest first.
    pub runs: Vec<RunRecord>,
    /// The cursor for the next (older) page, when there may be one.
    pub next: Option<i64>,
}

/// `GET /api/v1/runs`.
#[utoipa::path(
    get,
    path = "/api/v1/runs",
    tag = "flows",
    security(("bearer" = [])),
    params(RunFilter),
    responses(
        (status = 200, description = "A page of runs", body = RunPage),
        (status = 400, description = "A bad filter", body = ErrorBody),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
    )
)]
pub async fn runs(
    State(state): State<ApiState>,
    Query(filter): Query<RunFilter>,
) -> Reply<RunPage> {
    let limit = Page {
        limit: filter.limit,
        before: filter.before,
    }
    .limit()?;
    let runs = state
        .inner
        .store
        .runs_before(
            filter.deployment.as_deref(),
            filter.state,
            filter.before,
            limit,
        )
        .await?;
    let next = (runs.len() == limit as usize)
        .then(|| runs.last().map(|run| run.id))
        .flatten();
    Ok(Json(RunPage { runs, next }))
}

/// One run with its history.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunDetail {
    /// The run.
    pub run: RunRecord,
    /// Every state it passed through.
    pub states: Vec<StateRecord>,
    /// Its tasks.
    pub tasks: Vec<TaskRunRecord>,
}

async fn find_run(state: &ApiState, id: i64) -> Result<RunRecord, ApiError> {
    state
        .inner
        .store
        .run(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no run with id {id}")))
}

/// `GET /api/v1/runs/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/runs/{id}",
    tag = "flows",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The run's id")),
    responses(
        (status = 200, description = "The run, its states and tasks", body = RunDetail),
        (status = 400, description = "Not an id", body = ErrorBody),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
        (status = 404, description = "No such run", body = ErrorBody),
    )
)]
pub async fn run(State(state): State<ApiState>, Path(id): Path<i64>) -> Reply<RunDetail> {
    let run = find_run(&state, id).await?;
    let states = state.inner.store.run_states(id).await?;
    let tasks = state.inner.store.task_runs(id).await?;
    Ok(Json(RunDetail { run, states, tasks }))
}

/// `GET /api/v1/runs/{id}/logs`.
#[utoipa::path(
    get,
    path = "/api/v1/runs/{id}/logs",
    tag = "flows",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The run's id")),
    responses(
        (status = 200, description = "The run's log lines, oldest first", body = Vec<RunLogRecord>),
        (status = 400, description = "Not an id", body = ErrorBody),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
        (status = 404, description = "No such run", body = ErrorBody),
    )
)]
pub async fn logs(State(state): State<ApiState>, Path(id): Path<i64>) -> Reply<Vec<RunLogRecord>> {
    find_run(&state, id).await?;
    Ok(Json(state.inner.store.run_logs(id).await?))
}

/// The reply to a cancel.
#[derive(Debug, Serialize, ToSchema)]
pub struct Cancelled {
    /// The run.
    pub run_id: i64,
    /// Its state now: `cancelled`, or `running` while its worker stops it.
    pub state: RunState,
}

/// `POST /api/v1/runs/{id}/cancel`: at once if it has not started, else its worker stops it.
#[utoipa::path(
    post,
    path = "/api/v1/runs/{id}/cancel",
    tag = "flows",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The run's id")),
    responses(
        (status = 200, description = "Cancelled or being stopped", body = Cancelled),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
        (status = 403, description = "A read-only key", body = ErrorBody),
        (status = 404, description = "No such run", body = ErrorBody),
        (status = 409, description = "The run already ended", body = ErrorBody),
    )
)]
pub async fn cancel(State(state): State<ApiState>, Path(id): Path<i64>) -> Reply<Cancelled> {
    let run = find_run(&state, id).await?;
    let now = state.inner.clock.now();
    match state.inner.store.request_cancel(id, now).await? {
        Some(after) => {
            if let Some(orchestrator) = &state.inner.orchestrator {
                orchestrator.wake();
            }
            Ok(Json(Cancelled {
                run_id: id,
                state: after,
            }))
        }
        None => Err(ApiError::conflict(format!(
            "run {id} already ended ({})",
            run.state.as_str()
        ))),
    }
}

/// `POST /api/v1/runs/{id}/retry`: a new run of the same deployment with the same parameters.
#[utoipa::path(
    post,
    path = "/api/v1/runs/{id}/retry",
    tag = "flows",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The run's id")),
    responses(
        (status = 201, description = "The new run", body = Created),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
        (status = 403, description = "A read-only key", body = ErrorBody),
        (status = 404, description = "No such run or deployment", body = ErrorBody),
        (status = 409, description = "The run has not ended", body = ErrorBody),
    )
)]
pub async fn retry(
    State(state): State<ApiState>,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let run = find_run(&state, id).await?;
    if !run.state.is_terminal() {
        return Err(ApiError::conflict(format!(
            "run {id} is {}; only an ended run can be retried",
            run.state.as_str()
        )));
    }
    let parameters = match run.parameters {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    let run_id = submit(&state, &run.deployment, parameters, "retry").await?;
    Ok((StatusCode::CREATED, Json(Created { run_id })))
}
