//! The HTTP API and dashboard: the only module that knows axum. Routes live under `/api/v1`, the
//! OpenAPI document (generated from the handlers) at `/api/openapi.json`, Prometheus metrics at
//! `/metrics`, and the dashboard at `/`.
//!
//! Every request passes, outermost first: metrics, the per-address rate limit, the key check
//! (with the per-key rate limit), the body-size limit, then its handler. Errors are JSON
//! ([`error::ApiError`]) with a message about the request, never internals.

pub mod auth;
mod backtests;
mod cache;
mod dashboard;
mod docs;
pub mod error;
mod events;
mod flows;
mod health;
mod limits;
mod metrics;
mod pairs;
mod schema;
mod scripts;
mod trading;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use auth::{Keys, Scope};
pub use limits::Limits;

use crate::clock::Clock;
use crate::orchestrator::Orchestrator;
use crate::script::ScriptRuntime;
use crate::store::Store;
use crate::trading::Desk;

/// What the API is built from; the optional parts are absent in a daemon that does not run them
/// (their endpoints then answer 503).
pub struct ApiParts {
    /// The database.
    pub store: Store,
    /// The host clock.
    pub clock: Clock,
    /// Who may call.
    pub keys: Keys,
    /// The order desk.
    pub desk: Option<Arc<Desk>>,
    /// The scheduler.
    pub orchestrator: Option<Arc<Orchestrator>>,
    /// The scripts.
    pub scripts: Option<Arc<ScriptRuntime>>,
    /// Requests per second per key and per address.
    pub rate_limit_per_second: u32,
    /// Burst allowance per key and per address.
    pub rate_limit_burst: u32,
    /// The largest request body accepted.
    pub body_limit_bytes: usize,
    /// Cancelled when the daemon stops: long-lived responses (the event stream) end then.
    pub shutdown: tokio_util::sync::CancellationToken,
}

/// What handlers share.
#[derive(Clone)]
pub struct ApiState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    clock: Clock,
    started_at: DateTime<Utc>,
    keys: Keys,
    desk: Option<Arc<Desk>>,
    orchestrator: Option<Arc<Orchestrator>>,
    scripts: Option<Arc<ScriptRuntime>>,
    limits: Limits,
    metrics: metrics::Metrics,
    replies: cache::ReplyCache,
    body_limit_bytes: usize,
    shutdown: tokio_util::sync::CancellationToken,
}

impl ApiState {
    /// Wraps the daemon's parts for handlers.
    pub fn new(parts: ApiParts) -> Self {
        Self {
            inner: Arc::new(Inner {
                store: parts.store,
                clock: parts.clock,
                started_at: Utc::now(),
                keys: parts.keys,
                desk: parts.desk,
                orchestrator: parts.orchestrator,
                scripts: parts.scripts,
                limits: Limits::new(parts.rate_limit_per_second, parts.rate_limit_burst),
                metrics: metrics::Metrics::default(),
                replies: cache::ReplyCache::default(),
                body_limit_bytes: parts.body_limit_bytes,
                shutdown: parts.shutdown,
            }),
        }
    }

    fn desk(&self) -> Result<&Arc<Desk>, error::ApiError> {
        self.inner
            .desk
            .as_ref()
            .ok_or_else(|| error::ApiError::unavailable("trading is not running in this daemon"))
    }

    fn orchestrator(&self) -> Result<&Arc<Orchestrator>, error::ApiError> {
        self.inner.orchestrator.as_ref().ok_or_else(|| {
            error::ApiError::unavailable("the scheduler is not running in this daemon")
        })
    }

    fn scripts(&self) -> Result<&Arc<ScriptRuntime>, error::ApiError> {
        self.inner
            .scripts
            .as_ref()
            .ok_or_else(|| error::ApiError::unavailable("scripts are not loaded in this daemon"))
    }
}

/// Every documented route, with its OpenAPI description.
fn documented() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(docs::base())
        .routes(routes!(health::health))
        .routes(routes!(health::ready))
        .routes(routes!(flows::deployments))
        .routes(routes!(flows::pause))
        .routes(routes!(flows::resume))
        .routes(routes!(flows::run_now))
        .routes(routes!(flows::runs))
        .routes(routes!(flows::run))
        .routes(routes!(flows::logs))
        .routes(routes!(flows::cancel))
        .routes(routes!(flows::retry))
        .routes(routes!(scripts::scripts))
        .routes(routes!(scripts::versions))
        .routes(routes!(scripts::validate))
        .routes(routes!(trading::account))
        .routes(routes!(trading::positions))
        .routes(routes!(trading::orders))
        .routes(routes!(trading::order))
        .routes(routes!(trading::fills))
        .routes(routes!(trading::status))
        .routes(routes!(trading::limits))
        .routes(routes!(trading::decisions))
        .routes(routes!(trading::events))
        .routes(routes!(trading::halt))
        .routes(routes!(trading::resume))
        .routes(routes!(trading::performance))
        .routes(routes!(pairs::pairs))
        .routes(routes!(pairs::spreads))
        .routes(routes!(pairs::signals))
        .routes(routes!(backtests::list))
        .routes(routes!(backtests::submit))
        .routes(routes!(backtests::get))
        .routes(routes!(events::stream))
        .routes(routes!(metrics::metrics))
}

/// The OpenAPI document, as served at `/api/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    documented().into_openapi()
}

/// The whole API and dashboard.
pub fn router(state: ApiState) -> Router {
    let (api, document) = documented().split_for_parts();
    let document = Arc::new(document);
    let body_limit = state.inner.body_limit_bytes;
    api.route(
        "/api/openapi.json",
        axum::routing::get(move || {
            let document = document.clone();
            async move { axum::Json((*document).clone()) }
        }),
    )
    .merge(dashboard::routes())
    .fallback(not_found)
    .method_not_allowed_fallback(method_not_allowed)
    // Innermost, so the key check has passed before a kept reply is served.
    .layer(axum::middleware::from_fn_with_state(
        state.clone(),
        cache::serve,
    ))
    .layer(DefaultBodyLimit::max(body_limit))
    .layer(axum::middleware::from_fn_with_state(
        state.clone(),
        auth::authorize,
    ))
    .layer(axum::middleware::from_fn_with_state(
        state.clone(),
        limits::limit_address,
    ))
    .layer(axum::middleware::from_fn_with_state(
        state.clone(),
        metrics::measure,
    ))
    .with_state(state)
}

async fn not_found(uri: axum::http::Uri) -> error::ApiError {
    error::ApiError::not_found(format!("no endpoint at {}", uri.path()))
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> error::ApiError {
    error::ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} does not accept {method}", uri.path()),
    )
}

/// `?limit=` alone, for lists without a cursor.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// How many rows, newest first (1–1000, default 100).
    pub limit: Option<u32>,
}

impl Limit {
    fn value(&self) -> Result<u32, error::ApiError> {
        Page {
            limit: self.limit,
            before: None,
        }
        .limit()
    }
}

/// `?limit=&before=` with the default and bounds every paged list shares.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// How many rows, newest first (1–1000, default 100).
    pub limit: Option<u32>,
    /// Only rows older than this cursor (the `next` of the previous page).
    pub before: Option<i64>,
}

impl Page {
    fn limit(&self) -> Result<u32, error::ApiError> {
        bounded("limit", self.limit, 100, 1000)
    }
}

/// A query value in `1..=maximum`, `default` when absent; out of range is a 400 naming the bounds.
fn bounded(
    name: &str,
    value: Option<u32>,
    default: u32,
    maximum: u32,
) -> Result<u32, error::ApiError> {
    match value {
        None => Ok(default),
        Some(value) if (1..=maximum).contains(&value) => Ok(value),
        Some(other) => Err(error::ApiError::bad_request(format!(
            "{name} must be between 1 and {maximum}, not {other}"
        ))),
    }
}
