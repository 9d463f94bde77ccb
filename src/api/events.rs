//! `GET /api/v1/events`: the live event stream (server-sent events) of runs, orders, fills,
//! signals, risk decisions and events, and script reloads, as the store commits them.
//!
//! Each event's `event:` field is its kind and its `data:` the JSON [`crate::events::Event`]. A
//! client that falls behind gets a `lagged` event with how many it missed, and should refetch.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use serde::Deserialize;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use utoipa::IntoParams;

use super::ApiState;
use super::error::{ApiError, ErrorBody, Query};
use crate::events::EventKind;

/// Which kinds to receive.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StreamFilter {
    /// Comma-separated kinds (run, order, fill, signal, decision, risk, script); all when absent.
    pub kinds: Option<String>,
}

/// `GET /api/v1/events`.
#[utoipa::path(
    get,
    path = "/api/v1/events",
    tag = "operations",
    security(("bearer" = [])),
    params(StreamFilter),
    responses(
        (status = 200, description = "A text/event-stream; each event's name is its kind and its data an Event", content_type = "text/event-stream", body = crate::events::Event),
        (status = 400, description = "An unknown kind", body = ErrorBody),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
    )
)]
pub async fn stream(
    State(state): State<ApiState>,
    Query(filter): Query<StreamFilter>,
) -> Result<Sse<impl tokio_stream::Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let kinds: Vec<EventKind> = match &filter.kinds {
        None => EventKind::ALL.to_vec(),
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(|name| {
                EventKind::parse(name).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "unknown event kind `{name}`; the kinds are run, order, fill, signal, decision, risk, script"
                    ))
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let receiver = state.inner.store.events().subscribe();
    let hello = tokio_stream::once(Ok(SseEvent::default()
        .event("ready")
        .data(r#"{"subscribed":true}"#)));
    let events = BroadcastStream::new(receiver).filter_map(move |item| match item {
        Ok(event) if kinds.contains(&event.kind) => Some(Ok(SseEvent::default()
            .event(event.kind.as_str())
            .json_data(&event)
            .unwrap_or_else(|_| SseEvent::default().event("error").data("unencodable event")))),
        Ok(_) => None,
        Err(BroadcastStreamRecvError::Lagged(missed)) => Some(Ok(SseEvent::default()
            .event("lagged")
            .data(format!(r#"{{"missed":{missed}}}"#)))),
    });
    let stopped = state.inner.shutdown.clone().cancelled_owned();
    let stream = futures_util::StreamExt::take_until(hello.chain(events), stopped);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
