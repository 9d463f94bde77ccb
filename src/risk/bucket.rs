//! A token bucket for order rates, on time passed in by the caller, never read from a clock, so the
//! backtester and the tests can run it on simulated time.

use chrono::{DateTime, Utc};
use rust_decimal::prelude::ToPrimitive;

use super::limits::RateLimit;

/// Up to `capacity` tokens, refilled continuously; each order that passes takes one.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBucket {
    capacity: f64,
    refill_per_second: f64,
    tokens: f64,
    last_refill: DateTime<Utc>,
}

impl TokenBucket {
    /// A full bucket shaped by `rate`, as of `now`.
    pub fn new(rate: RateLimit, now: DateTime<Utc>) -> Self {
        // Token counts are a rate, not cash, so f64 is fine; the decimal came from the config file.
        let capacity = f64::from(rate.capacity);
        Self {
            capacity,
            refill_per_second: rate.refill_per_second.to_f64().unwrap_or(0.0),
            tokens: capacity,
            last_refill: now,
        }
    }

    /// Adds the tokens earned since the last refill. Time that runs backwards earns nothing.
    pub fn refill(&mut self, now: DateTime<Utc>) {
        let elapsed = (now - self.last_refill)
            .to_std()
            .map_or(0.0, |elapsed| elapsed.as_secs_f64());
        if now > self.last_refill {
            self.last_refill = now;
        }
        self.tokens = (self.tokens + elapsed * self.refill_per_second).min(self.capacity);
    }

    /// The tokens available now, after `refill`.
    pub fn tokens(&self) -> f64 {
        self.tokens
    }

    /// True when an order may pass.
    pub fn has_token(&self) -> bool {
        self.tokens >= 1.0
    }

    /// Takes one token for an order that passed.
    pub fn take(&mut self) {
        self.tokens = (self.tokens - 1.0).max(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use rust_decimal::Decimal;

    #[test]
    fn an_empty_bucket_refills_with_time_up_to_its_capacity() {
        let start = Utc
            .with_ymd_and_hms(2026, 3, 2, 15, 0, 0)
            .single()
            .expect("valid time");
        let rate = RateLimit {
            capacity: 2,
            refill_per_second: Decimal::new(5, 1),
        };
        let mut bucket = TokenBucket::new(rate, start);
        bucket.take();
        bucket.take();
        assert!(!bucket.has_token());
        bucket.refill(start + Duration::seconds(1));
        assert!(!bucket.has_token(), "half a token after one second");
        bucket.refill(start + Duration::seconds(2));
        assert!(bucket.has_token());
        bucket.refill(start + Duration::seconds(100));
        assert_eq!(bucket.tokens(), 2.0);
    }
}
