//! The daemon's live event bus: what the store has just committed (runs, orders, fills, signals,
//! risk decisions and events, script versions), fanned out to the API's server-sent event stream.
//!
//! Events are announcements, not the record: the database stays the truth, and a subscriber that
//! falls behind loses the oldest events (it is told how many) rather than slowing a writer. A
//! writer never waits on a reader.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::broadcast;

/// How many events a slow subscriber may fall behind before it loses the oldest.
const CAPACITY: usize = 1024;

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A flow run was created or changed state.
    Run,
    /// An order was created or its status changed.
    Order,
    /// A fill was stored.
    Fill,
    /// A strategy recorded a signal.
    Signal,
    /// The risk engine decided on an order.
    Decision,
    /// A risk event: a mode change, a halt, a resume, a loosened limit.
    Risk,
    /// A script version was loaded or refused.
    Script,
}

impl EventKind {
    /// Every kind, in the order the API documents them.
    pub const ALL: [Self; 7] = [
        Self::Run,
        Self::Order,
        Self::Fill,
        Self::Signal,
        Self::Decision,
        Self::Risk,
        Self::Script,
    ];

    /// The name used on the wire (the SSE `event:` field).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Run => "run",
            Self::Order => "order",
            Self::Fill => "fill",
            Self::Signal => "signal",
            Self::Decision => "decision",
            Self::Risk => "risk",
            Self::Script => "script",
        }
    }

    /// Parses a wire name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

/// One announcement.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Event {
    /// What changed.
    pub kind: EventKind,
    /// When it was committed (wall clock: the stream is for people watching now).
    pub at: DateTime<Utc>,
    /// A summary of the row: enough to update a view, with its id to fetch the rest.
    pub data: serde_json::Value,
}

/// The sending side; cheap to clone. Publishing with no subscriber costs one failed send.
#[derive(Debug, Clone)]
pub struct Bus {
    sender: broadcast::Sender<Event>,
    /// Moves on every announcement and every other committed change a reader may show, before
    /// the writer returns: a reader that saw the same generation before and after computing a
    /// reply knows nothing it shows has changed since (the API's reply cache relies on it).
    generation: Arc<AtomicU64>,
}

impl Default for Bus {
    fn default() -> Self {
        Self::new()
    }
}

impl Bus {
    /// A bus with no subscribers.
    pub fn new() -> Self {
        let (sender, _) = broadcast::channel(CAPACITY);
        Self {
            sender,
            generation: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The current generation of what the store holds.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Marks a committed change that has no event of its own (a pause, a position's mark, a
    /// pair's standing), so cached replies built before it are not served after it.
    pub fn touch(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Announces a committed change. Never blocks and never fails: with nobody listening, the
    /// event is dropped.
    pub fn publish(&self, kind: EventKind, data: serde_json::Value) {
        self.touch();
        if self.sender.receiver_count() == 0 {
            return;
        }
        let _ = self.sender.send(Event {
            kind,
            at: Utc::now(),
            data,
        });
    }

    /// A new subscriber, which sees events published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_see_events_published_after_they_subscribed() {
        let bus = Bus::new();
        bus.publish(EventKind::Run, serde_json::json!({ "id": 1 }));
        let mut receiver = bus.subscribe();
        bus.publish(EventKind::Order, serde_json::json!({ "id": "a" }));
        let event = receiver.recv().await.expect("event");
        assert_eq!(event.kind, EventKind::Order);
        assert_eq!(event.data["id"], "a");
        assert!(receiver.try_recv().is_err());
    }

    #[test]
    fn every_publish_and_touch_moves_the_generation_even_with_nobody_listening() {
        let bus = Bus::new();
        let clone = bus.clone();
        let start = bus.generation();
        bus.publish(EventKind::Run, serde_json::json!({}));
        assert_eq!(clone.generation(), start + 1);
        clone.touch();
        assert_eq!(bus.generation(), start + 2);
    }

    #[test]
    fn kinds_round_trip_through_their_wire_names() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EventKind::parse("nope"), None);
    }
}
