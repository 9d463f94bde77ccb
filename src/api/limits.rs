//! Rate limits per API key and per client address (GCRA buckets from `governor`), answered with
//! 429 and `Retry-After`.
//!
//! Every request counts against its address before its key is even looked at, so guessing keys
//! is throttled too; an authenticated request then counts against its key as well.

use std::net::SocketAddr;
use std::num::NonZeroU32;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::ApiState;
use super::error::ApiError;

/// Past this many tracked clients, buckets that are full again are forgotten.
const FORGET_AFTER: usize = 10_000;

/// The limiter shared by every request.
#[derive(Debug)]
pub struct Limits {
    buckets: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl Limits {
    /// `per_second` sustained, with bursts of `burst`, for each key and each address.
    pub fn new(per_second: u32, burst: u32) -> Self {
        let rate = NonZeroU32::new(per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        Self {
            buckets: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one request from `who`'s bucket, or the 429 reply.
    pub fn check(&self, who: &str) -> Result<(), Box<Response>> {
        if self.buckets.len() > FORGET_AFTER {
            self.buckets.retain_recent();
        }
        match self.buckets.check_key(&who.to_owned()) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                let mut response = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("too many requests; try again in {seconds} s"),
                )
                .into_response();
                if let Ok(value) = HeaderValue::from_str(&seconds.max(1).to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
                Err(Box::new(response))
            }
        }
    }
}

/// The middleware: one request from the client address's bucket.
pub async fn limit_address(
    State(state): State<ApiState>,
    request: Request,
    next: Next,
) -> Response {
    let address = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |info| info.0.ip().to_string());
    if let Err(response) = state.inner.limits.check(&format!("address:{address}")) {
        return *response;
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_empties_after_its_burst_and_names_the_wait() {
        let limits = Limits::new(1, 3);
        for _ in 0..3 {
            assert!(limits.check("a").is_ok());
        }
        let refused = limits
            .check("a")
            .expect_err("fourth request in the same instant");
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(refused.headers().contains_key(header::RETRY_AFTER));
        // Another client has its own bucket.
        assert!(limits.check("b").is_ok());
    }
}
