//! The one trading call apca lacks: `GET /v2/orders` with `after` and `direction`, which
//! `orders_since` needs to page through history. Defined as an endpoint apca's client can issue,
//! so it shares apca's connection, authentication and error handling.

use std::borrow::Cow;

use apca::api::v2::order::Order;
use chrono::{DateTime, SecondsFormat, Utc};
use http::StatusCode;
use http_endpoint::{Bytes, Endpoint, Str};

/// Alpaca's largest page of orders.
pub const PAGE_LIMIT: usize = 500;

/// Which orders to list.
#[derive(Debug, Clone, Copy)]
pub struct OrdersQuery {
    /// `open`, `closed` or `all`.
    pub status: &'static str,
    /// Only orders submitted after this time, oldest first; `None` lists newest first.
    pub after: Option<DateTime<Utc>>,
}

/// `GET /v2/orders` with the query above.
#[derive(Debug, Clone, Copy)]
pub struct ListOrders;

/// Why listing orders failed.
#[derive(Debug, thiserror::Error)]
pub enum ListOrdersError {
    /// An error status with Alpaca's message (or the raw body).
    #[error("HTTP status {0}: {body}", body = String::from_utf8_lossy(.1))]
    Status(StatusCode, Vec<u8>),
    /// The request could not be built.
    #[error(transparent)]
    Http(#[from] http::Error),
    /// The reply was not the JSON we expect.
    #[error(transparent)]
    Conversion(#[from] serde_json::Error),
}

impl From<ListOrdersError> for http_endpoint::Error<serde_json::Error> {
    fn from(error: ListOrdersError) -> Self {
        match error {
            ListOrdersError::Status(status, body) => Self::HttpStatus(status, body),
            ListOrdersError::Http(error) => Self::Http(error),
            ListOrdersError::Conversion(error) => Self::Conversion(error),
        }
    }
}

impl Endpoint for ListOrders {
    type Input = OrdersQuery;
    type Output = Vec<Order>;
    type Error = ListOrdersError;
    type ConversionError = serde_json::Error;
    type ApiError = apca::ApiError;

    fn path(_input: &Self::Input) -> Str {
        Cow::Borrowed("/v2/orders")
    }

    fn query(input: &Self::Input) -> Result<Option<Str>, Self::ConversionError> {
        // Every value is URL-safe as written: fixed words, digits, and RFC 3339 in UTC ("Z", no "+").
        let mut query = format!("status={}&limit={PAGE_LIMIT}&nested=false", input.status);
        match input.after {
            Some(after) => {
                let after = after.to_rfc3339_opts(SecondsFormat::Micros, true);
                query.push_str(&format!("&direction=asc&after={after}"));
            }
            None => query.push_str("&direction=desc"),
        }
        Ok(Some(Cow::Owned(query)))
    }

    fn body(_input: &Self::Input) -> Result<Option<Bytes>, Self::ConversionError> {
        Ok(None)
    }

    fn parse(body: &[u8]) -> Result<Self::Output, Self::ConversionError> {
        serde_json::from_slice(body)
    }

    fn parse_err(body: &[u8]) -> Result<Self::ApiError, Vec<u8>> {
        serde_json::from_slice(body).map_err(|_| body.to_vec())
    }

    fn evaluate(status: StatusCode, body: &[u8]) -> Result<Self::Output, Self::Error> {
        if status == StatusCode::OK {
            return Ok(Self::parse(body)?);
        }
        let message = match Self::parse_err(body) {
            Ok(error) => error.message.into_bytes(),
            Err(raw) => raw,
        };
        Err(ListOrdersError::Status(status, message))
    }
}
