//! The pairs strategy's tables: each pair's standing, its spreads and z-scores, and its signals
//! (the entries and exits on the dashboard's z-score charts).

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ApiState;
use super::error::{ApiError, ErrorBody, Json, Path, Query, Reply};
use crate::store::{PairPerformanceRecord, SignalRecord, SpreadRecord};

/// `GET /api/v1/pairs`: every pair's standing.
#[utoipa::path(
    get,
    path = "/api/v1/pairs",
    tag = "pairs",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Each pair's position, P&L, trades and z-score", body = Vec<PairPerformanceRecord>),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
    )
)]
pub async fn pairs(State(state): State<ApiState>) -> Reply<Vec<PairPerformanceRecord>> {
    Ok(Json(state.inner.store.pair_performance().await?))
}

/// A pair name in a path: `LEGA-LEGB` (a slash cannot travel in one path segment).
fn pair_name(segment: &str) -> Result<String, ApiError> {
    let valid = |leg: &str| {
        !leg.is_empty()
            && leg.len() <= 16
            && leg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
    };
    match segment.split_once('-') {
        Some((a, b)) if valid(a) && valid(b) => Ok(format!("{a}/{b}")),
        _ => Err(ApiError::bad_request(format!(
            "`{segment}` is not a pair; write it as LEGA-LEGB, for example KO-PEP"
        ))),
    }
}

/// `?limit=` of spreads.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SpreadWindow {
    /// How many bars, newest first (1–5000, default 500).
    pub limit: Option<u32>,
}

/// `GET /api/v1/pairs/{pair}/spreads`: hedge ratio, spread and z-score per bar.
#[utoipa::path(
    get,
    path = "/api/v1/pairs/{pair}/spreads",
    tag = "pairs",
    security(("bearer" = [])),
    params(("pair" = String, Path, description = "The pair as LEGA-LEGB"), SpreadWindow),
    responses(
        (status = 200, description = "Spreads, newest first", body = Vec<SpreadRecord>),
        (status = 400, description = "Not a pair, or a bad limit", body = ErrorBody),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
        (status = 404, description = "No spreads for that pair", body = ErrorBody),
    )
)]
pub async fn spreads(
    State(state): State<ApiState>,
    Path(pair): Path<String>,
    Query(window): Query<SpreadWindow>,
) -> Reply<Vec<SpreadRecord>> {
    let pair = pair_name(&pair)?;
    let limit = super::bounded("limit", window.limit, 500, 5000)?;
    let spreads = state.inner.store.pair_spreads(&pair, limit).await?;
    if spreads.is_empty() {
        return Err(ApiError::not_found(format!(
            "no spreads recorded for {pair}"
        )));
    }
    Ok(Json(spreads))
}

/// Signal filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SignalFilter {
    /// Only entries, exits and stops (leave out `hold`).
    #[serde(default)]
    pub trades_only: bool,
    /// How many, newest first (1–1000, default 100).
    pub limit: Option<u32>,
    /// Only signals older than this cursor (epoch milliseconds).
    pub before: Option<i64>,
}

/// A page of signals.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignalPage {
    /// Signals, newest first.
    pub signals: Vec<SignalRecord>,
    /// The cursor for the next, older page.
    pub next: Option<i64>,
}

/// `GET /api/v1/pairs/{pair}/signals`: every evaluated signal of a pair (`all` for every pair).
#[utoipa::path(
    get,
    path = "/api/v1/pairs/{pair}/signals",
    tag = "pairs",
    security(("bearer" = [])),
    params(("pair" = String, Path, description = "The pair as LEGA-LEGB, or `all`"), SignalFilter),
    responses(
        (status = 200, description = "Signals, newest first", body = SignalPage),
        (status = 400, description = "Not a pair, or a bad limit", body = ErrorBody),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
    )
)]
pub async fn signals(
    State(state): State<ApiState>,
    Path(pair): Path<String>,
    Query(filter): Query<SignalFilter>,
) -> Reply<SignalPage> {
    let pair = if pair == "all" {
        None
    } else {
        Some(pair_name(&pair)?)
    };
    let limit = super::Page {
        limit: filter.limit,
        before: filter.before,
    }
    .limit()?;
    let mut signals = state
        .inner
        .store
        .pair_signals(pair.as_deref(), filter.before, limit)
        .await?;
    let next = (signals.len() == limit as usize)
        .then(|| signals.last().map(|signal| signal.time.timestamp_millis()))
        .flatten();
    if filter.trades_only {
        signals.retain(|signal| signal.signal != "hold");
    }
    Ok(Json(SignalPage { signals, next }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_segments_become_pair_names() {
        assert_eq!(pair_name("KO-PEP").expect("pair"), "KO/PEP");
        assert_eq!(pair_name("BRK.B-XLF").expect("pair"), "BRK.B/XLF");
        for bad in ["KO", "-PEP", "KO-", "KO-PEP;DROP", "a-b-c", "' OR 1=1 --"] {
            assert!(pair_name(bad).is_err(), "{bad}");
        }
    }
}
