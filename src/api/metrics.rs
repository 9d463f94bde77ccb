//! Prometheus metrics at `/metrics`: request counts and latencies measured by a middleware, and
//! the daemon's state (runs by state, open orders, positions, equity, trading mode, scripts)
//! read when scraped. The registry belongs to the API state, not the process, so several daemons
//! can share a test process.

use std::sync::atomic::AtomicU64;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::ApiState;
use super::error::ApiError;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.25 ms to about 4 s: API reads should sit in the first buckets.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 15))
}

/// The metrics and their registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
    runs: Family<StateLabels, Gauge>,
    open_orders: Gauge,
    positions: Gauge,
    equity: Gauge<f64, AtomicU64>,
    halted: Gauge,
    scripts: Gauge,
    rejected_scripts: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("tradehost");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            requests.clone(),
        );
        let latency: LatencyFamily = Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route",
            latency.clone(),
        );
        let runs = Family::<StateLabels, Gauge>::default();
        registry.register("flow_runs", "Flow runs by state", runs.clone());
        let open_orders = Gauge::default();
        registry.register(
            "open_orders",
            "Orders working at the broker",
            open_orders.clone(),
        );
        let positions = Gauge::default();
        registry.register("positions", "Open positions", positions.clone());
        let equity = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "equity",
            "Account equity at the last snapshot",
            equity.clone(),
        );
        let halted = Gauge::default();
        registry.register(
            "trading_halted",
            "1 when the kill switch is latched",
            halted.clone(),
        );
        let scripts = Gauge::default();
        registry.register("scripts_loaded", "Scripts serving calls", scripts.clone());
        let rejected_scripts = Gauge::default();
        registry.register(
            "scripts_rejected",
            "Scripts whose latest save was refused (the previous version still serves)",
            rejected_scripts.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            runs,
            open_orders,
            positions,
            equity,
            halted,
            scripts,
            rejected_scripts,
        }
    }
}

/// The middleware: counts and times every request by its route pattern (never the raw path, which
/// would make one series per id).
pub async fn measure(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    let metrics = &state.inner.metrics;
    metrics
        .latency
        .get_or_create(&RouteLabels {
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

/// `GET /metrics`: the Prometheus text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Prometheus text exposition format", content_type = "text/plain", body = String),
        (status = 401, description = "No or a wrong key", body = super::error::ErrorBody),
    )
)]
pub async fn metrics(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let inner = &state.inner;
    let metrics = &inner.metrics;
    for (run_state, count) in inner.store.run_state_counts().await? {
        metrics
            .runs
            .get_or_create(&StateLabels { state: run_state })
            .set(count);
    }
    metrics
        .open_orders
        .set(i64::try_from(inner.store.open_order_count().await?).unwrap_or(i64::MAX));
    metrics
        .positions
        .set(i64::try_from(inner.store.positions().await?.len()).unwrap_or(i64::MAX));
    if let Some(snapshot) = inner.store.latest_snapshot().await? {
        metrics
            .equity
            .set(f64::try_from(snapshot.equity.value()).unwrap_or(f64::NAN));
    }
    if let Some(desk) = &inner.desk {
        metrics
            .halted
            .set(i64::from(desk.risk_state().mode.name() == "halted"));
    }
    if let Some(scripts) = &inner.scripts {
        let outcomes = scripts.registry().outcomes();
        metrics
            .scripts
            .set(i64::try_from(scripts.registry().scripts().len()).unwrap_or(0));
        metrics.rejected_scripts.set(
            i64::try_from(
                outcomes
                    .iter()
                    .filter(|outcome| outcome.error.is_some())
                    .count(),
            )
            .unwrap_or(0),
        );
    }
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &metrics.registry)
        .map_err(|error| ApiError::internal(&error))?;
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
}
