//! Replies of the hot list reads, kept until the store changes. A dashboard and its neighbours
//! ask for the same lists many times a second while the data moves a few times a minute, so the
//! second and later asks are answered from memory.
//!
//! A reply is served from memory only while the store's generation (`events::Bus`, moved before
//! every announcing or touching writer returns) is the one read before the reply was built, and
//! for at most [`MAX_AGE`]: the bound covers what the store does not hear of, such as another
//! daemon writing to the same PostgreSQL database, the broker's own account between syncs, or a
//! price mark moving a position's value. Only successful replies to key-checked GETs of the routes in [`CACHED`] are kept; the key check runs
//! before this layer, so a cached reply never reaches a caller the handler would have refused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiState;

/// The longest a reply is served from memory, even with no change seen.
pub const MAX_AGE: Duration = Duration::from_secs(1);

/// The most distinct addresses (path and query) kept at once; beyond it, new replies are not
/// kept, so odd queries cannot grow the memory.
const MAX_ENTRIES: usize = 256;

/// The largest reply kept.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The list reads served from memory (route patterns as axum matches them). Health, the event
/// stream, metrics, one run's logs, the scripts (read from the live registry) and anything that
/// acts are always computed.
const CACHED: [&str; 15] = [
    "/api/v1/deployments",
    "/api/v1/runs",
    "/api/v1/account",
    "/api/v1/positions",
    "/api/v1/orders",
    "/api/v1/fills",
    "/api/v1/risk",
    "/api/v1/risk/limits",
    "/api/v1/risk/decisions",
    "/api/v1/risk/events",
    "/api/v1/performance",
    "/api/v1/pairs",
    "/api/v1/pairs/{pair}/spreads",
    "/api/v1/pairs/{pair}/signals",
    "/api/v1/backtests",
];

/// A kept reply.
struct Kept {
    generation: u64,
    at: Instant,
    content_type: Option<HeaderValue>,
    body: Bytes,
}

/// The kept replies, by path and query.
#[derive(Default)]
pub struct ReplyCache {
    kept: Mutex<HashMap<String, Kept>>,
    /// One builder per address at a time: when a change invalidates a list that two dozen
    /// clients are polling, one request rebuilds it and the others wait for its reply instead of
    /// all querying the database at once.
    builders: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl ReplyCache {
    /// The gate a request holds while it builds the reply for `address`.
    fn builder(&self, address: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut builders = self.builders.lock().unwrap_or_else(PoisonError::into_inner);
        if builders.len() >= MAX_ENTRIES && !builders.contains_key(address) {
            // Odd queries must not grow this either; a cleared gate costs one duplicate build.
            builders.clear();
        }
        builders.entry(address.to_owned()).or_default().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Kept>> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A reply still valid at `generation`.
    fn fresh(&self, address: &str, generation: u64) -> Option<(Option<HeaderValue>, Bytes)> {
        let kept = self.lock();
        let entry = kept.get(address)?;
        (entry.generation == generation && entry.at.elapsed() < MAX_AGE)
            .then(|| (entry.content_type.clone(), entry.body.clone()))
    }

    /// Keeps a reply built from the store as of `generation`; replies of older generations go,
    /// as none of them can be served again.
    fn keep(
        &self,
        address: String,
        generation: u64,
        content_type: Option<HeaderValue>,
        body: Bytes,
    ) {
        let mut kept = self.lock();
        kept.retain(|_, entry| entry.generation == generation && entry.at.elapsed() < MAX_AGE);
        if kept.len() < MAX_ENTRIES || kept.contains_key(&address) {
            kept.insert(
                address,
                Kept {
                    generation,
                    at: Instant::now(),
                    content_type,
                    body,
                },
            );
        }
    }
}

/// Middleware: answers a cached route's GET from memory when nothing has changed since.
pub async fn serve(
    State(state): State<ApiState>,
    matched: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let cacheable = request.method() == Method::GET
        && matched.is_some_and(|path| CACHED.contains(&path.as_str()));
    if !cacheable {
        return next.run(request).await;
    }
    let address = request.uri().to_string();
    let bus = state.inner.store.events();
    let cache = &state.inner.replies;
    if let Some((content_type, body)) = cache.fresh(&address, bus.generation()) {
        return reply(content_type, body);
    }
    let builder = cache.builder(&address);
    let _turn = builder.lock().await;
    // Read before the handler runs: a change committed while it runs leaves the reply tagged
    // with the older generation, so it is never served after that change.
    let generation = bus.generation();
    if let Some((content_type, body)) = cache.fresh(&address, generation) {
        // Built by the request this one waited for.
        return reply(content_type, body);
    }
    let response = next.run(request).await;
    if response.status() != StatusCode::OK {
        return response;
    }
    let (parts, body) = response.into_parts();
    match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => {
            cache.keep(
                address,
                generation,
                parts.headers.get(header::CONTENT_TYPE).cloned(),
                bytes.clone(),
            );
            Response::from_parts(parts, Body::from(bytes))
        }
        Err(error) => {
            tracing::warn!(%error, "reading a reply to keep failed");
            super::error::ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the reply could not be produced".to_owned(),
            )
            .into_response()
        }
    }
}

fn reply(content_type: Option<HeaderValue>, body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    if let Some(content_type) = content_type {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_is_served_only_at_its_generation() {
        let cache = ReplyCache::default();
        cache.keep(
            "/api/v1/runs".to_owned(),
            7,
            None,
            Bytes::from_static(b"[1]"),
        );
        assert_eq!(
            cache.fresh("/api/v1/runs", 7).map(|(_, body)| body),
            Some(Bytes::from_static(b"[1]"))
        );
        assert!(cache.fresh("/api/v1/runs", 8).is_none());
        assert!(cache.fresh("/api/v1/runs?limit=5", 7).is_none());
    }

    #[test]
    fn a_new_generation_drops_the_old_replies_and_the_count_is_bounded() {
        let cache = ReplyCache::default();
        for index in 0..(MAX_ENTRIES + 50) {
            cache.keep(format!("/api/v1/runs?limit={index}"), 1, None, Bytes::new());
        }
        assert_eq!(cache.lock().len(), MAX_ENTRIES);
        cache.keep("/api/v1/pairs".to_owned(), 2, None, Bytes::new());
        assert_eq!(cache.lock().len(), 1);
    }

    #[test]
    fn every_cached_route_is_a_documented_get() {
        let document = super::super::openapi();
        for route in CACHED {
            let item = document
                .paths
                .paths
                .get(route)
                .unwrap_or_else(|| panic!("{route} is not documented"));
            assert!(item.get.is_some(), "{route} has no GET");
        }
    }
}
