//! Trading endpoints: the risk status and kill switch, risk decisions, orders and positions.
//! Mutations (halt, resume) are the CLI's way into a running daemon's engine.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::ApiState;
use crate::trading::Desk;

/// A JSON error with a message for people; never internals.
pub(super) fn failure(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

fn desk(state: &ApiState) -> Result<&std::sync::Arc<Desk>, Box<Response>> {
    state.inner.desk.as_ref().ok_or_else(|| {
        Box::new(failure(
            StatusCode::SERVICE_UNAVAILABLE,
            "trading is not running in this daemon",
        ))
    })
}

fn desk_failure(error: &crate::trading::DeskError) -> Response {
    match error {
        crate::trading::DeskError::Invalid(message) => {
            failure(StatusCode::CONFLICT, message.clone())
        }
        crate::trading::DeskError::Broker(error) => {
            failure(StatusCode::BAD_GATEWAY, error.to_string())
        }
        crate::trading::DeskError::Store(error) => {
            tracing::error!(%error, "store failure in a trading endpoint");
            failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the database failed; see the daemon's log",
            )
        }
    }
}

/// `GET /api/v1/risk`: mode, state, limits, open orders, blocked symbols.
pub async fn status(State(state): State<ApiState>) -> Response {
    let desk = match desk(&state) {
        Ok(desk) => desk,
        Err(response) => return *response,
    };
    match desk.status().await {
        Ok(status) => Json(status).into_response(),
        Err(error) => desk_failure(&error),
    }
}

/// The kill switch's request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HaltRequest {
    /// Why.
    pub reason: String,
    /// Who.
    pub operator: String,
    /// Also close every position.
    #[serde(default)]
    pub flatten: bool,
}

/// `POST /api/v1/risk/halt`: halt, cancel open orders, optionally flatten.
pub async fn halt(State(state): State<ApiState>, Json(request): Json<HaltRequest>) -> Response {
    let desk = match desk(&state) {
        Ok(desk) => desk,
        Err(response) => return *response,
    };
    if request.operator.trim().is_empty() || request.reason.trim().is_empty() {
        return failure(
            StatusCode::UNPROCESSABLE_ENTITY,
            "a halt needs a reason and an operator",
        );
    }
    match desk
        .halt(&request.reason, &request.operator, request.flatten)
        .await
    {
        Ok(report) => Json(report).into_response(),
        Err(error) => desk_failure(&error),
    }
}

/// The resume request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResumeRequest {
    /// Who.
    pub operator: String,
}

/// `POST /api/v1/risk/resume`: lift a halt.
pub async fn resume(State(state): State<ApiState>, Json(request): Json<ResumeRequest>) -> Response {
    let desk = match desk(&state) {
        Ok(desk) => desk,
        Err(response) => return *response,
    };
    match desk.resume(&request.operator).await {
        Ok(status) => Json(status).into_response(),
        Err(error) => desk_failure(&error),
    }
}

/// `?limit=`.
#[derive(Debug, Deserialize)]
pub struct Limit {
    /// How many rows, newest first (1–1000, default 100).
    pub limit: Option<u32>,
}

/// `GET /api/v1/risk/decisions`.
pub async fn decisions(State(state): State<ApiState>, Query(query): Query<Limit>) -> Response {
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    match state.inner.store.risk_decisions(limit).await {
        Ok(rows) => Json(rows).into_response(),
        Err(error) => desk_failure(&error.into()),
    }
}

/// `GET /api/v1/orders`.
pub async fn orders(State(state): State<ApiState>, Query(query): Query<Limit>) -> Response {
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    match state.inner.store.recent_orders(limit).await {
        Ok(rows) => Json(rows).into_response(),
        Err(error) => desk_failure(&error.into()),
    }
}

/// `GET /api/v1/positions`.
pub async fn positions(State(state): State<ApiState>) -> Response {
    match state.inner.store.positions().await {
        Ok(rows) => Json(rows).into_response(),
        Err(error) => desk_failure(&error.into()),
    }
}
