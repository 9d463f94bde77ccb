//! Which Alpaca endpoints the host may talk to: paper by default, live only when asked for.

use reqwest::Url;

use crate::broker::BrokerError;

/// Alpaca's paper-trading host.
const PAPER_HOST: &str = "paper-api.alpaca.markets";

/// Checks a trading URL against the `live` switch and returns it parsed.
///
/// Paper trading (Alpaca's `paper-api` host) and a loopback host (a local fake in tests) are always
/// allowed. Any other host — Alpaca's live `api.alpaca.markets` or anything we do not recognise —
/// could move real money, so it is refused unless `live` is true. A non-loopback URL must use
/// HTTPS, because the keys travel in headers.
pub fn trading_url(text: &str, live: bool) -> Result<Url, BrokerError> {
    let url = parse(text, "broker.alpaca.trading_url")?;
    let host = url.host_str().unwrap_or_default();
    if !(host == PAPER_HOST || is_loopback(&url) || live) {
        return Err(BrokerError::Rejected {
            reason: format!(
                "broker.alpaca.trading_url {url} is a live trading endpoint; set \
                 broker.alpaca.live = true to trade real money, or use https://{PAPER_HOST}"
            ),
        });
    }
    Ok(url)
}

/// Checks the market-data URL (no money moves there, so only the scheme matters).
pub fn data_url(text: &str) -> Result<Url, BrokerError> {
    parse(text, "broker.alpaca.data_url")
}

fn parse(text: &str, key: &str) -> Result<Url, BrokerError> {
    let invalid = |message: String| BrokerError::Rejected {
        reason: format!("{key} `{text}`: {message}"),
    };
    let url = Url::parse(text).map_err(|error| invalid(error.to_string()))?;
    if url.host_str().is_none() {
        return Err(invalid("has no host".into()));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(invalid(
            "plain HTTP would send the API keys in clear; use https".into(),
        )),
        other => Err(invalid(format!("scheme {other} is not http(s)"))),
    }
}

fn is_loopback(url: &Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    // IPv6 hosts come bracketed in URLs.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_paper_endpoint_and_a_local_fake_need_no_live_switch() {
        assert!(trading_url("https://paper-api.alpaca.markets", false).is_ok());
        assert!(trading_url("http://127.0.0.1:4000", false).is_ok());
        assert!(trading_url("http://localhost:4000", false).is_ok());
    }

    #[test]
    fn a_live_endpoint_is_refused_without_the_live_switch() {
        let error = trading_url("https://api.alpaca.markets", false).expect_err("live");
        assert!(error.to_string().contains("live = true"), "{error}");
        assert!(trading_url("https://broker.example.com", false).is_err());
        assert!(trading_url("https://api.alpaca.markets", true).is_ok());
    }

    #[test]
    fn plain_http_to_a_remote_host_is_refused() {
        assert!(data_url("http://data.alpaca.markets").is_err());
        assert!(data_url("https://data.alpaca.markets").is_ok());
    }
}
