//! The retry policy shared by the trading and market-data clients: a timeout on every request,
//! exponential backoff with jitter on transient failures, and Alpaca's Retry-After when we have it.

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

use crate::broker::BrokerError;
use crate::config::AlpacaConfig;

/// The longest Retry-After we sleep for; a longer one is treated as an outage and reported.
const LONGEST_RETRY_AFTER: Duration = Duration::from_secs(60);

/// How requests are timed and retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The limit on one request, reply included.
    pub timeout: Duration,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The first backoff delay; each retry doubles it, with jitter.
    pub min_delay: Duration,
    /// The cap on one backoff delay.
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// The policy from configuration; the delays are Alpaca-friendly defaults (its rate limit is
    /// per minute, so a few seconds of backoff is what a 429 needs).
    pub fn from_config(config: &AlpacaConfig) -> Self {
        Self {
            timeout: Duration::from_millis(config.timeout_ms),
            max_retries: config.max_retries,
            min_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
        }
    }

    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_retries as usize)
            .with_jitter()
    }

    /// Runs one request under the timeout. A request that outlives it is abandoned (its
    /// connection dropped), and the outcome is unknown, as for any other dropped connection.
    pub async fn timed<T>(
        &self,
        what: &str,
        request: impl Future<Output = Result<T, BrokerError>>,
    ) -> Result<T, BrokerError> {
        match tokio::time::timeout(self.timeout, request).await {
            Ok(outcome) => outcome,
            Err(_) => Err(BrokerError::Unavailable(format!(
                "{what} timed out after {} ms",
                self.timeout.as_millis()
            ))),
        }
    }

    /// Runs `attempt` until it succeeds, fails with an error `retryable` refuses, or the retries
    /// are spent, sleeping the backoff (or Alpaca's Retry-After) in between. Attempts time their
    /// own requests with [`RetryPolicy::timed`], because some make two.
    pub async fn run<T, F, Fut>(
        &self,
        what: &str,
        retryable: fn(&BrokerError) -> bool,
        attempt: F,
    ) -> Result<T, BrokerError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, BrokerError>>,
    {
        attempt
            .retry(self.backoff())
            .when(retryable)
            .adjust(|error, backoff| {
                // `backoff` is None once the retries are spent; a Retry-After must not revive it.
                let backoff = backoff?;
                match error {
                    BrokerError::RateLimited {
                        retry_after: Some(after),
                    } if *after <= LONGEST_RETRY_AFTER => Some(*after),
                    _ => Some(backoff),
                }
            })
            .notify(|error, delay| {
                tracing::warn!(request = what, %error, delay_ms = delay.as_millis() as u64, "alpaca request failed; retrying");
            })
            .await
    }
}
