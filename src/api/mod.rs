//! The HTTP API: the only module that knows axum. Routes live under `/api/v1`.

mod health;
mod trading;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::store::Store;

/// What handlers share.
#[derive(Clone)]
pub struct ApiState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    clock: Clock,
    started_at: DateTime<Utc>,
    desk: Option<Arc<crate::trading::Desk>>,
}

impl ApiState {
    /// Wraps the daemon's shared parts for handlers.
    pub fn new(store: Store, clock: Clock) -> Self {
        let started_at = Utc::now();
        Self {
            inner: Arc::new(Inner {
                store,
                clock,
                started_at,
                desk: None,
            }),
        }
    }

    /// Wraps the daemon's shared parts, with the order desk.
    pub fn with_desk(store: Store, clock: Clock, desk: Arc<crate::trading::Desk>) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                clock,
                started_at: Utc::now(),
                desk: Some(desk),
            }),
        }
    }
}

/// The whole API.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/v1/health", get(health::health))
        .route("/api/v1/risk", get(trading::status))
        .route("/api/v1/risk/halt", post(trading::halt))
        .route("/api/v1/risk/resume", post(trading::resume))
        .route("/api/v1/risk/decisions", get(trading::decisions))
        .route("/api/v1/orders", get(trading::orders))
        .route("/api/v1/positions", get(trading::positions))
        .with_state(state)
}
