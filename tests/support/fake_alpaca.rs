//! A fake Alpaca for tests: Alpaca's documented trading and market-data JSON on 127.0.0.1, with a
//! small order state machine (fills move positions and cash), enforced unique client order ids,
//! checked keys, faults scheduled per route, and a request log.
//!
//! Usable in-process (`FakeAlpaca::start().await`, then an `AlpacaConfig` from
//! [`FakeAlpaca::config`]) and from a test that runs the real daemon ([`FakeAlpaca::environment`]).

mod front;

mod routes;

mod state;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use tokio::task::JoinHandle;
use uuid::Uuid;

pub use state::{Fault, LoggedRequest};

/// The key id the fake accepts.
pub const KEY_ID: &str = "PKFAKE0000000000TEST";
/// The secret the fake accepts.
pub const SECRET: &str = "fake-secret-0123456789";

/// A running fake, stopped when dropped.
pub struct FakeAlpaca {
    url: String,
    state: routes::Shared,
    tasks: Vec<JoinHandle<()>>,
}

impl FakeAlpaca {
    /// Starts the fake on a free port.
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(state::State::new(KEY_ID, SECRET)));
        let inner = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake");
        let inner_address = inner.local_addr().expect("fake address");
        let app = routes::router(state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(inner, app).await;
        });
        let outer = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the front");
        let url = format!("http://{}", outer.local_addr().expect("front address"));
        let front = tokio::spawn(front::run(outer, inner_address, state.clone()));
        Self {
            url,
            state,
            tasks: vec![server, front],
        }
    }

    /// The base URL, for both the trading and the data API.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// An Alpaca configuration pointing at the fake.
    pub fn config(&self, timeout_ms: u64, max_retries: u32) -> tradehost::config::AlpacaConfig {
        tradehost::config::AlpacaConfig {
            trading_url: self.url.clone(),
            data_url: self.url.clone(),
            live: false,
            timeout_ms,
            max_retries,
            feed: "iex".into(),
        }
    }

    /// Environment variables that point the real daemon at the fake.
    pub fn environment(&self) -> Vec<(String, String)> {
        vec![
            (
                "TRADEHOST_BROKER__ALPACA__TRADING_URL".into(),
                self.url.clone(),
            ),
            (
                "TRADEHOST_BROKER__ALPACA__DATA_URL".into(),
                self.url.clone(),
            ),
            ("APCA_API_KEY_ID".into(), KEY_ID.into()),
            ("APCA_API_SECRET_KEY".into(), SECRET.into()),
        ]
    }

    fn with_state<T>(&self, action: impl FnOnce(&mut state::State) -> T) -> T {
        action(&mut self.state.lock().expect("fake state"))
    }

    /// Injects `fault` into the next `times` requests matching `method` and `path` (`*` matches
    /// one segment, e.g. `/v2/orders/*`).
    pub fn fail(&self, method: &str, path: &str, times: usize, fault: Fault) {
        self.with_state(|state| state.schedule(method, path, times, fault));
    }

    /// Drops every scheduled fault.
    pub fn clear_faults(&self) {
        self.with_state(state::State::clear_faults);
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.with_state(|state| state.log.clone())
    }

    /// Requests so far matching `method` and an exact `path`.
    pub fn requests_to(&self, method: &str, path: &str) -> Vec<LoggedRequest> {
        self.requests()
            .into_iter()
            .filter(|request| request.method == method && request.path == path)
            .collect()
    }

    /// How many orders the fake holds with this client order id (never more than one).
    pub fn orders_with_client_id(&self, client_order_id: &str) -> usize {
        self.with_state(|state| {
            state
                .orders
                .iter()
                .filter(|order| order.client_order_id == client_order_id)
                .count()
        })
    }

    /// The order JSON for a client order id.
    pub fn order_json(&self, client_order_id: &str) -> Option<Value> {
        self.with_state(|state| {
            state
                .orders
                .iter()
                .find(|order| order.client_order_id == client_order_id)
                .map(|order| order.json())
        })
    }

    /// Fills `quantity` of an open order at `price` (a partial fill when less than what remains).
    pub fn fill(&self, broker_order_id: &str, quantity: &str, price: &str, time: DateTime<Utc>) {
        let id = Uuid::parse_str(broker_order_id).expect("an order id");
        let quantity: Decimal = quantity.parse().expect("a quantity");
        let price: Decimal = price.parse().expect("a price");
        self.with_state(|state| state.fill(id, quantity, price, time));
    }

    /// The fake's cash.
    pub fn cash(&self) -> Decimal {
        self.with_state(|state| state.cash)
    }

    /// Makes `symbol` known (or changes it) with its tradable and shortable flags.
    pub fn set_asset(&self, symbol: &str, tradable: bool, shortable: bool) {
        self.with_state(|state| {
            state
                .assets
                .insert(symbol.to_owned(), (tradable, shortable))
        });
    }

    /// Replaces the bars of `symbol`: Alpaca's bar objects (`t`, `o`, `h`, `l`, `c`, `v`, …).
    pub fn set_bars(&self, symbol: &str, bars: Vec<Value>) {
        self.with_state(|state| state.bars.insert(symbol.to_owned(), bars));
    }

    /// The most bars one page holds, whatever the client asks for (to test pagination).
    pub fn set_bars_page_size(&self, size: usize) {
        self.with_state(|state| state.bars_page_size = size);
    }

    /// A slow-reply fault that outlasts a client timeout of `timeout_ms`.
    pub fn slower_than(timeout_ms: u64) -> Fault {
        Fault::Delay(Duration::from_millis(timeout_ms * 3))
    }
}

impl Drop for FakeAlpaca {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
