//! The account, positions, orders and fills; risk (status, limits, decisions, events) and the
//! kill switch; live performance.

use axum::extract::State;
use chrono::Duration;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody, Json, Path, Query, Reply};
use super::{ApiState, Limit, Page};
use crate::analytics::{EquityPoint, Metrics, TradeRecord};
use crate::broker::Account;
use crate::domain::ClientOrderId;
use crate::store::{DecisionRecord, FillRecord, OrderRecord, PositionRecord, RiskEventRecord};
use crate::trading::{DeskError, HaltReport, RiskStatus, Usage};

fn desk_failure(error: DeskError) -> ApiError {
    match error {
        DeskError::Invalid(message) => ApiError::conflict(message),
        DeskError::Broker(error) => {
            tracing::warn!(%error, "broker failure in an API request");
            ApiError::new(
                axum::http::StatusCode::BAD_GATEWAY,
                "the broker did not accept the request; see the daemon's log",
            )
        }
        DeskError::Store(error) => ApiError::internal(&error),
    }
}

/// `GET /api/v1/account`: the broker's account now.
#[utoipa::path(
    get,
    path = "/api/v1/account",
    tag = "trading",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Cash, equity, buying power", body = Account),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
        (status = 502, description = "The broker failed", body = ErrorBody),
        (status = 503, description = "Trading is not running", body = ErrorBody),
    )
)]
pub async fn account(State(state): State<ApiState>) -> Reply<Account> {
    let desk = state.desk()?;
    let account = desk
        .broker()
        .account()
        .await
        .map_err(|error| desk_failure(DeskError::Broker(error)))?;
    Ok(Json(account))
}

/// `GET /api/v1/positions`: the host's positions with P&L, as of the last update.
#[utoipa::path(
    get,
    path = "/api/v1/positions",
    tag = "trading",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Open positions", body = Vec<PositionRecord>),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
    )
)]
pub async fn positions(State(state): State<ApiState>) -> Reply<Vec<PositionRecord>> {
    Ok(Json(state.inner.store.positions().await?))
}

/// `GET /api/v1/orders`: the newest orders.
#[utoipa::path(
    get,
    path = "/api/v1/orders",
    tag = "trading",
    security(("bearer" = [])),
    params(Limit),
    responses(
        (status = 200, description = "Orders, newest first", body = Vec<OrderRecord>),
        (status = 400, description = "A bad limit", body = ErrorBody),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
    )
)]
pub async fn orders(
    State(state): State<ApiState>,
    Query(limit): Query<Limit>,
) -> Reply<Vec<OrderRecord>> {
    Ok(Json(state.inner.store.recent_orders(limit.value()?).await?))
}

/// `GET /api/v1/orders/{id}`: one order by client order id.
#[utoipa::path(
    get,
    path = "/api/v1/orders/{id}",
    tag = "trading",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The client order id")),
    responses(
        (status = 200, description = "The order", body = OrderRecord),
        (status = 400, description = "Not a client order id", body = ErrorBody),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
        (status = 404, description = "No such order", body = ErrorBody),
    )
)]
pub async fn order(State(state): State<ApiState>, Path(id): Path<String>) -> Reply<OrderRecord> {
    let id = ClientOrderId::parse(&id)
        .map_err(|error| ApiError::bad_request(format!("not a client order id: {error}")))?;
    state
        .inner
        .store
        .order(&id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no order with client order id {id}")))
}

/// A page of fills.
#[derive(Debug, Serialize, ToSchema)]
pub struct FillPage {
    /// Fills, newest first.
    pub fills: Vec<FillRecord>,
    /// The cursor (epoch milliseconds) for the next, older page.
    pub next: Option<i64>,
}

/// `GET /api/v1/fills`.
#[utoipa::path(
    get,
    path = "/api/v1/fills",
    tag = "trading",
    security(("bearer" = [])),
    params(Page),
    responses(
        (status = 200, description = "Fills, newest first", body = FillPage),
        (status = 400, description = "A bad limit", body = ErrorBody),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
    )
)]
pub async fn fills(State(state): State<ApiState>, Query(page): Query<Page>) -> Reply<FillPage> {
    let limit = page.limit()?;
    let fills = state.inner.store.recent_fills(page.before, limit).await?;
    let next = (fills.len() == limit as usize)
        .then(|| fills.last().map(|fill| fill.time.timestamp_millis()))
        .flatten();
    Ok(Json(FillPage { fills, next }))
}

/// `GET /api/v1/risk`: mode, state, limits, open orders, blocked symbols.
#[utoipa::path(
    get,
    path = "/api/v1/risk",
    tag = "risk",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The risk picture", body = RiskStatus),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
        (status = 503, description = "Trading is not running", body = ErrorBody),
    )
)]
pub async fn status(State(state): State<ApiState>) -> Reply<RiskStatus> {
    state.desk()?.status().await.map(Json).map_err(desk_failure)
}

/// The limits in force and how much of each is used.
#[derive(Debug, Serialize, ToSchema)]
pub struct LimitsReport {
    /// The limits (host-enforced; scripts cannot change them).
    #[schema(value_type = Object)]
    pub limits: crate::risk::RiskLimits,
    /// Use of each limit now (ratio 0 is none, 1 is at the limit).
    pub utilisation: Vec<Usage>,
}

/// `GET /api/v1/risk/limits`.
#[utoipa::path(
    get,
    path = "/api/v1/risk/limits",
    tag = "risk",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Limits and their use", body = LimitsReport),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
        (status = 503, description = "Trading is not running", body = ErrorBody),
    )
)]
pub async fn limits(State(state): State<ApiState>) -> Reply<LimitsReport> {
    let desk = state.desk()?;
    let utilisation = desk.utilisation().await.map_err(desk_failure)?;
    Ok(Json(LimitsReport {
        limits: desk.limits(),
        utilisation,
    }))
}

/// `GET /api/v1/risk/decisions`: the newest decisions.
#[utoipa::path(
    get,
    path = "/api/v1/risk/decisions",
    tag = "risk",
    security(("bearer" = [])),
    params(Limit),
    responses(
        (status = 200, description = "Decisions, newest first", body = Vec<DecisionRecord>),
        (status = 400, description = "A bad limit", body = ErrorBody),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
    )
)]
pub async fn decisions(
    State(state): State<ApiState>,
    Query(limit): Query<Limit>,
) -> Reply<Vec<DecisionRecord>> {
    Ok(Json(
        state.inner.store.risk_decisions(limit.value()?).await?,
    ))
}

/// `GET /api/v1/risk/events`: mode changes, halts, resumes, limit reloads.
#[utoipa::path(
    get,
    path = "/api/v1/risk/events",
    tag = "risk",
    security(("bearer" = [])),
    params(Limit),
    responses(
        (status = 200, description = "Risk events, newest first", body = Vec<RiskEventRecord>),
        (status = 400, description = "A bad limit", body = ErrorBody),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
    )
)]
pub async fn events(
    State(state): State<ApiState>,
    Query(limit): Query<Limit>,
) -> Reply<Vec<RiskEventRecord>> {
    Ok(Json(
        state.inner.store.risk_events(false, limit.value()?).await?,
    ))
}

/// The kill switch's request.
#[derive(Debug, Deserialize, ToSchema)]
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

fn required(field: &str, value: &str) -> Result<(), ApiError> {
    if value.trim().is_empty() {
        return Err(ApiError::invalid(format!("`{field}` may not be empty")));
    }
    if value.len() > 500 {
        return Err(ApiError::invalid(format!(
            "`{field}` is longer than 500 characters"
        )));
    }
    Ok(())
}

/// `POST /api/v1/risk/halt`: the kill switch. Halts (latched), cancels every open order and,
/// with `flatten`, closes every position.
#[utoipa::path(
    post,
    path = "/api/v1/risk/halt",
    tag = "risk",
    security(("bearer" = [])),
    request_body = HaltRequest,
    responses(
        (status = 200, description = "Halted; what was cancelled and closed", body = HaltReport),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
        (status = 403, description = "A read-only key", body = ErrorBody),
        (status = 422, description = "A missing reason or operator", body = ErrorBody),
        (status = 503, description = "Trading is not running", body = ErrorBody),
    )
)]
pub async fn halt(
    State(state): State<ApiState>,
    Json(request): Json<HaltRequest>,
) -> Reply<HaltReport> {
    required("reason", &request.reason)?;
    required("operator", &request.operator)?;
    state
        .desk()?
        .halt(&request.reason, &request.operator, request.flatten)
        .await
        .map(Json)
        .map_err(desk_failure)
}

/// The resume request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResumeRequest {
    /// Who.
    pub operator: String,
}

/// `POST /api/v1/risk/resume`: lifts a halt.
#[utoipa::path(
    post,
    path = "/api/v1/risk/resume",
    tag = "risk",
    security(("bearer" = [])),
    request_body = ResumeRequest,
    responses(
        (status = 200, description = "Resumed", body = RiskStatus),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
        (status = 403, description = "A read-only key", body = ErrorBody),
        (status = 409, description = "Not halted", body = ErrorBody),
        (status = 422, description = "A missing operator", body = ErrorBody),
        (status = 503, description = "Trading is not running", body = ErrorBody),
    )
)]
pub async fn resume(
    State(state): State<ApiState>,
    Json(request): Json<ResumeRequest>,
) -> Reply<RiskStatus> {
    required("operator", &request.operator)?;
    state
        .desk()?
        .resume(&request.operator)
        .await
        .map(Json)
        .map_err(desk_failure)
}

/// `?days=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// Days back from now on the host clock (1–3650, default 30).
    pub days: Option<u32>,
}

/// Live performance: metrics, the equity curve and closed trades.
#[derive(Debug, Serialize, ToSchema)]
pub struct Performance {
    /// The metrics of SPEC §7 over the window.
    pub metrics: Metrics,
    /// Equity at each portfolio snapshot.
    pub equity: Vec<EquityPoint>,
    /// Closed pair trades.
    pub trades: Vec<TradeRecord>,
}

/// `GET /api/v1/performance`.
#[utoipa::path(
    get,
    path = "/api/v1/performance",
    tag = "trading",
    security(("bearer" = [])),
    params(Window),
    responses(
        (status = 200, description = "Metrics, equity curve and trades", body = Performance),
        (status = 400, description = "A bad window", body = ErrorBody),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
    )
)]
pub async fn performance(
    State(state): State<ApiState>,
    Query(window): Query<Window>,
) -> Reply<Performance> {
    let days = super::bounded("days", window.days, 30, 3650)?;
    let since = state.inner.clock.now() - Duration::days(i64::from(days));
    let store = &state.inner.store;
    let equity = crate::strategy::performance::equity(store, since).await?;
    let trades = crate::strategy::performance::trades(store, since).await?;
    let metrics = crate::analytics::metrics(
        &equity,
        &trades,
        crate::analytics::periods_per_year(&equity),
    );
    Ok(Json(Performance {
        metrics,
        equity,
        trades,
    }))
}
