//! Sorting apca's and HTTP failures into [`BrokerError`], so callers decide on one vocabulary.

use std::time::Duration;

use apca::RequestError;
use http::StatusCode;

use crate::broker::BrokerError;

/// Alpaca's message for a second order with a client order id it already has (code 40010001).
const DUPLICATE_MESSAGE: &str = "client_order_id must be unique";

/// Converts a failed apca request. apca hands over only the status and body of an error reply:
/// the headers, and with them `Retry-After`, are lost, so a 429 from a trading call carries no
/// delay and the retry falls back to exponential backoff.
pub fn from_request<E, C>(error: RequestError<E>) -> BrokerError
where
    E: Into<http_endpoint::Error<C>>,
    C: std::error::Error,
{
    match error {
        RequestError::Endpoint(error) => match error.into() {
            http_endpoint::Error::HttpStatus(status, body) => {
                from_status(status, &String::from_utf8_lossy(&body), None)
            }
            http_endpoint::Error::Conversion(error) => {
                BrokerError::Protocol(format!("unreadable reply: {}", chain(&error)))
            }
            http_endpoint::Error::Http(error) => {
                BrokerError::Protocol(format!("could not build the request: {error}"))
            }
        },
        // Connection refused, reset or closed without a reply: the request may or may not have
        // reached Alpaca, which is what `Unavailable` means.
        RequestError::Hyper(error) => {
            BrokerError::Unavailable(format!("connection failed: {}", chain(&error)))
        }
        RequestError::HyperUtil(error) => {
            BrokerError::Unavailable(format!("connection failed: {}", chain(&error)))
        }
        RequestError::Io(error) => {
            BrokerError::Unavailable(format!("reading the reply failed: {error}"))
        }
    }
}

/// Sorts an error reply by status. `message` is Alpaca's `message` field when the body was JSON,
/// else the raw body.
pub fn from_status(
    status: StatusCode,
    message: &str,
    retry_after: Option<Duration>,
) -> BrokerError {
    let message = alpaca_message(message);
    let described = format!("HTTP {}: {message}", status.as_u16());
    match status.as_u16() {
        429 => BrokerError::RateLimited { retry_after },
        401 => BrokerError::Unauthorized(described),
        // Alpaca answers 403 both for refused keys and for orders it will not take (buying power,
        // shorting, pattern day trading); only the message tells them apart.
        403 if is_auth_message(&message) => BrokerError::Unauthorized(described),
        404 => BrokerError::NotFound(described),
        422 if message.contains(DUPLICATE_MESSAGE) => BrokerError::DuplicateClientOrderId(message),
        408 | 500..=599 => BrokerError::Unavailable(described),
        _ => BrokerError::Rejected { reason: described },
    }
}

/// Alpaca's `{"code": …, "message": "…"}` body reduced to its message; apca already does this for
/// endpoint errors, our own clients get the raw body.
fn alpaca_message(body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Reply {
        message: String,
    }
    match serde_json::from_str::<Reply>(body) {
        Ok(reply) => reply.message,
        Err(_) if body.trim().is_empty() => "(empty body)".into(),
        Err(_) => body.trim().chars().take(500).collect(),
    }
}

fn is_auth_message(message: &str) -> bool {
    let lower = message.to_lowercase();
    [
        "forbidden",
        "unauthorized",
        "not authorized",
        "access key",
        "credentials",
    ]
    .iter()
    .any(|word| lower.contains(word))
}

/// An error and its sources on one line, because hyper's top-level messages ("client error") say
/// little on their own.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_sort_into_what_the_caller_may_do() {
        let duplicate = from_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            r#"{"code":40010001,"message":"client_order_id must be unique"}"#,
            None,
        );
        assert!(matches!(duplicate, BrokerError::DuplicateClientOrderId(_)));
        let buying_power = from_status(
            StatusCode::FORBIDDEN,
            r#"{"code":40310000,"message":"insufficient buying power"}"#,
            None,
        );
        assert_eq!(
            buying_power,
            BrokerError::Rejected {
                reason: "HTTP 403: insufficient buying power".into()
            }
        );
        assert!(matches!(
            from_status(StatusCode::FORBIDDEN, r#"{"message":"forbidden."}"#, None),
            BrokerError::Unauthorized(_)
        ));
        assert!(matches!(
            from_status(StatusCode::SERVICE_UNAVAILABLE, "", None),
            BrokerError::Unavailable(_)
        ));
        assert_eq!(
            from_status(
                StatusCode::TOO_MANY_REQUESTS,
                "",
                Some(Duration::from_secs(2))
            ),
            BrokerError::RateLimited {
                retry_after: Some(Duration::from_secs(2))
            }
        );
    }
}
