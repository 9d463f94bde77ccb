//! Batch fetches from Alpaca's market data: the minute bars completed since the last stored ones,
//! stored idempotently with source `alpaca` and recorded as a load run.

use chrono::{DateTime, Duration, Utc};

use crate::broker::alpaca::MarketData;
use crate::clock::Clock;
use crate::domain::{Symbol, Timeframe};
use crate::store::{LoadRunStatus, LoadRunSummary, Store};

/// The source name stored with Alpaca's bars.
pub const SOURCE: &str = "alpaca";

/// Fetches and stores the minute bars of `symbols` from the bar after each one's last stored bar
/// (or from `start` on an empty store) up to the last completed minute. A symbol that fails does
/// not stop the others; the run then ends Failed with every failure named, and what was stored
/// stays stored, so the next fetch resumes after it.
pub async fn fetch_alpaca(
    store: &Store,
    clock: &Clock,
    client: &MarketData,
    symbols: &[Symbol],
    start: DateTime<Utc>,
) -> anyhow::Result<serde_json::Value> {
    let names: Vec<&str> = symbols.iter().map(Symbol::as_str).collect();
    let run = store
        .start_load_run(SOURCE, &names.join(","), clock.now())
        .await?;
    let timeframe = Timeframe::MINUTE;
    // The bar that starts this minute is still forming; Alpaca's `end` is inclusive.
    let end = timeframe.floor_intraday(clock.now()) - Duration::seconds(1);
    let last = store.last_bars(symbols, timeframe).await?;
    let mut summary = LoadRunSummary::default();
    let mut failures = Vec::new();
    for symbol in symbols {
        let from = last
            .get(symbol)
            .map_or(start, |bar| bar.time + timeframe.nominal_duration());
        if from > end {
            continue;
        }
        let bars = match client.bars(symbol, timeframe, from, end).await {
            Ok(bars) => bars,
            Err(error) => {
                failures.push(format!("{symbol}: {error}"));
                continue;
            }
        };
        let written = store.insert_bars(&bars, SOURCE).await?;
        summary.rows_read += bars.len() as u64;
        summary.bars_inserted += written.inserted;
        summary.bars_existing += written.existing;
        if let (Some(first), Some(last)) = (bars.first(), bars.last()) {
            summary.first_bar = Some(summary.first_bar.map_or(first.time, |t| t.min(first.time)));
            summary.last_bar = Some(summary.last_bar.map_or(last.time, |t| t.max(last.time)));
        }
        tracing::debug!(%symbol, bars = bars.len(), inserted = written.inserted, "stored alpaca bars");
    }
    if summary.bars_inserted > 0 {
        let payload = serde_json::json!({ "source": SOURCE, "until": summary.last_bar, "bars": summary.bars_inserted });
        if let Err(error) = store
            .emit_event("bars.ingested", &payload, clock.now())
            .await
        {
            tracing::warn!(%error, "could not emit bars.ingested");
        }
    }
    if !failures.is_empty() {
        let message = format!("fetching from Alpaca failed for {}", failures.join("; "));
        store
            .finish_load_run(
                run,
                LoadRunStatus::Failed,
                &summary,
                Some(&message),
                clock.now(),
            )
            .await?;
        anyhow::bail!(message);
    }
    store
        .finish_load_run(run, LoadRunStatus::Completed, &summary, None, clock.now())
        .await?;
    Ok(serde_json::json!({
        "load_run": run,
        "bars": summary.bars_inserted,
        "existing": summary.bars_existing,
        "first_bar": summary.first_bar,
        "last_bar": summary.last_bar,
        "symbols": names,
    }))
}
