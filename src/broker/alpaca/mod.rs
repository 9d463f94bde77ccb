//! Alpaca through apca (SPEC §6.1), with our own market-data client.
//!
//! Paper trading by default: a live endpoint is refused unless `broker.alpaca.live` is set. Keys
//! come only from `APCA_API_KEY_ID` and `APCA_API_SECRET_KEY`. Every request is timed out and
//! transient failures are retried with backoff; an order submission is retried only after asking
//! Alpaca whether the previous attempt created the order, so a client order id never makes two.

mod broker;
mod convert;
pub mod credentials;
pub mod data;
pub mod endpoints;
mod errors;
mod orders_after;
pub mod retry;

pub use broker::AlpacaBroker;
pub use credentials::Credentials;
pub use data::MarketData;
pub use retry::RetryPolicy;
