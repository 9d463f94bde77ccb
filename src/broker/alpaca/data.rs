//! Our own client for Alpaca's market-data API (`/v2/stocks/{symbol}/bars`), because apca
//! hard-codes Alpaca's data host and tests need a local fake. Same keys, same retry policy.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::{StatusCode, Url};
use rust_decimal::Decimal;
use serde::Deserialize;

use super::credentials::Credentials;
use super::retry::RetryPolicy;
use super::{endpoints, errors};
use crate::broker::BrokerError;
use crate::config::AlpacaConfig;
use crate::domain::{Bar, Price, Quantity, Symbol, Timeframe, TimeframeUnit};

/// Alpaca's largest page of bars.
const PAGE_LIMIT: u32 = 10_000;

/// A market-data client for one data URL and feed.
#[derive(Debug, Clone)]
pub struct MarketData {
    http: reqwest::Client,
    base: Url,
    feed: String,
    credentials: Credentials,
    policy: RetryPolicy,
}

/// One page of Alpaca's bars reply.
#[derive(Debug, Deserialize)]
struct BarsPage {
    /// Null when the range has no bars.
    bars: Option<Vec<RawBar>>,
    next_page_token: Option<String>,
}

/// One bar as Alpaca sends it. Prices are JSON numbers; they are read through their decimal text
/// so that 130.19 stays 130.19.
#[derive(Debug, Deserialize)]
struct RawBar {
    t: DateTime<Utc>,
    o: serde_json::Number,
    h: serde_json::Number,
    l: serde_json::Number,
    c: serde_json::Number,
    v: serde_json::Number,
}

impl MarketData {
    /// A client for `config.data_url` and `config.feed`.
    pub fn new(config: &AlpacaConfig, credentials: Credentials) -> Result<Self, BrokerError> {
        let base = endpoints::data_url(&config.data_url)?;
        let policy = RetryPolicy::from_config(config);
        let http = reqwest::Client::builder()
            .timeout(policy.timeout)
            .build()
            .map_err(|error| BrokerError::Protocol(format!("building the HTTP client: {error}")))?;
        Ok(Self {
            http,
            base,
            feed: config.feed.clone(),
            credentials,
            policy,
        })
    }

    /// As [`MarketData::new`], with the keys from the environment.
    pub fn from_env(config: &AlpacaConfig) -> Result<Self, BrokerError> {
        Self::new(config, Credentials::from_env()?)
    }

    /// Replaces the retry policy (tests use short delays).
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Every bar of `symbol` starting in `[start, end]`, oldest first, following Alpaca's pages.
    pub async fn bars(
        &self,
        symbol: &Symbol,
        timeframe: Timeframe,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<Bar>, BrokerError> {
        let mut bars = Vec::new();
        let mut page_token: Option<String> = None;
        loop {
            let url = self.bars_url(symbol, timeframe, start, end, page_token.as_deref())?;
            let page = self
                .policy
                .run("read bars", BrokerError::is_transient, || {
                    self.get_page(&url)
                })
                .await?;
            for raw in page.bars.unwrap_or_default() {
                bars.push(convert_bar(symbol, timeframe, &raw)?);
            }
            match page.next_page_token {
                Some(token) if !token.is_empty() => page_token = Some(token),
                _ => return Ok(bars),
            }
        }
    }

    fn bars_url(
        &self,
        symbol: &Symbol,
        timeframe: Timeframe,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        page_token: Option<&str>,
    ) -> Result<Url, BrokerError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| BrokerError::Protocol(format!("{} cannot take a path", self.base)))?
            .pop_if_empty()
            .extend(["v2", "stocks", symbol.as_str(), "bars"]);
        let time = |at: DateTime<Utc>| at.to_rfc3339_opts(SecondsFormat::Secs, true);
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("timeframe", &timeframe_text(timeframe))
                .append_pair("start", &time(start))
                .append_pair("end", &time(end))
                .append_pair("limit", &PAGE_LIMIT.to_string())
                .append_pair("feed", &self.feed)
                .append_pair("adjustment", "raw");
            if let Some(token) = page_token {
                query.append_pair("page_token", token);
            }
        }
        Ok(url)
    }

    async fn get_page(&self, url: &Url) -> Result<BarsPage, BrokerError> {
        self.policy
            .timed("read bars", async {
                let response = self
                    .http
                    .get(url.clone())
                    .header("APCA-API-KEY-ID", self.credentials.key_id())
                    .header("APCA-API-SECRET-KEY", self.credentials.secret())
                    .send()
                    .await
                    .map_err(transport)?;
                let status = response.status();
                let retry_after = retry_after(&response);
                let body = response.bytes().await.map_err(transport)?;
                if status != StatusCode::OK {
                    return Err(errors::from_status(
                        status,
                        &String::from_utf8_lossy(&body),
                        retry_after,
                    ));
                }
                serde_json::from_slice(&body).map_err(|error| {
                    BrokerError::Protocol(format!(
                        "unreadable bars reply from {}: {error}",
                        url.path()
                    ))
                })
            })
            .await
    }
}

/// A failure before a status arrived: the server is unreachable, slow or hung up.
fn transport(error: reqwest::Error) -> BrokerError {
    BrokerError::Unavailable(format!("market data: {}", errors::chain(&error)))
}

/// Retry-After in seconds, when the server sent one.
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?;
    let seconds: f64 = value.to_str().ok()?.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

/// Alpaca's spelling of a timeframe: `1Min`, `1Hour`, `1Day`, `1Week`, `1Month`.
fn timeframe_text(timeframe: Timeframe) -> String {
    let unit = match timeframe.unit() {
        TimeframeUnit::Minute => "Min",
        TimeframeUnit::Hour => "Hour",
        TimeframeUnit::Day => "Day",
        TimeframeUnit::Week => "Week",
        TimeframeUnit::Month => "Month",
    };
    format!("{}{unit}", timeframe.amount())
}

fn convert_bar(symbol: &Symbol, timeframe: Timeframe, raw: &RawBar) -> Result<Bar, BrokerError> {
    let bad = |detail: String| {
        BrokerError::Protocol(format!(
            "bad bar for {symbol} at {}: {detail}",
            raw.t.to_rfc3339()
        ))
    };
    let number = |field: &str, value: &serde_json::Number| -> Result<Decimal, BrokerError> {
        let text = value.to_string();
        Decimal::from_str_exact(&text)
            .or_else(|_| Decimal::from_scientific(&text))
            .map_err(|_| bad(format!("{field} `{text}` is not a decimal")))
    };
    let price = |field: &str, value| -> Result<Price, BrokerError> {
        Price::new(number(field, value)?).map_err(|error| bad(format!("{field}: {error}")))
    };
    let volume = Quantity::new(number("volume", &raw.v)?)
        .map_err(|error| bad(format!("volume: {error}")))?;
    Bar::new(
        symbol.clone(),
        timeframe,
        raw.t,
        price("open", &raw.o)?,
        price("high", &raw.h)?,
        price("low", &raw.l)?,
        price("close", &raw.c)?,
        volume,
    )
    .map_err(|error| bad(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeframes_are_spelled_as_alpaca_expects() {
        assert_eq!(timeframe_text(Timeframe::MINUTE), "1Min");
        assert_eq!(timeframe_text(Timeframe::HOUR), "1Hour");
        assert_eq!(timeframe_text(Timeframe::DAY), "1Day");
    }

    #[test]
    fn an_inconsistent_bar_names_the_symbol_and_time() {
        let raw: RawBar = serde_json::from_str(
            r#"{"t":"2024-01-02T15:30:00Z","o":10.5,"h":10.0,"l":9.5,"c":9.8,"v":100}"#,
        )
        .expect("valid JSON");
        let symbol = Symbol::parse("AAPL").expect("valid symbol");
        let error = convert_bar(&symbol, Timeframe::MINUTE, &raw).expect_err("open above high");
        let message = error.to_string();
        assert!(message.contains("AAPL"), "{message}");
        assert!(message.contains("2024-01-02T15:30:00"), "{message}");
    }

    #[test]
    fn prices_keep_their_decimal_digits() {
        let raw: RawBar = serde_json::from_str(
            r#"{"t":"2024-01-02T15:30:00Z","o":130.19,"h":130.2,"l":130.1,"c":130.15,"v":1200}"#,
        )
        .expect("valid JSON");
        let symbol = Symbol::parse("AAPL").expect("valid symbol");
        let bar = convert_bar(&symbol, Timeframe::MINUTE, &raw).expect("valid bar");
        assert_eq!(bar.open.to_string(), "130.19");
    }
}
