//! The HTTP API: the only module that knows axum. Routes live under `/api/v1`.

mod health;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
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
            }),
        }
    }
}

/// The whole API.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/v1/health", get(health::health))
        .with_state(state)
}
