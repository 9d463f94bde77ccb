//! The live feed: stores the simulated market's bars as (simulated) time passes.
//!
//! Each wake-up stores every bar that has completed since the last one, in one transaction, then
//! sleeps on the host clock until the next bar completes (or the next session opens). A restart
//! resumes from the last stored bar of each symbol, so the series continues without a gap or a
//! duplicate, and the simulated market makes the same bars it would have made without the stop.

use chrono::{DateTime, Duration, Utc};
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::domain::Timeframe;
use crate::market::calendar::UsEquityCalendar;
use crate::market::simulated::{SimulatedConfig, SimulatedMarket};
use crate::store::Store;

/// The source name stored with simulated bars.
pub const SOURCE: &str = "simulated";

/// Caps one catch-up write, so a clock far ahead (a high `--speed`, a long pause) is stored in
/// bounded transactions and a stop request is noticed between them.
const MAX_BATCH: Duration = Duration::days(5);

/// The simulated feed and where it has got to.
pub struct Feed {
    store: Store,
    clock: Clock,
    market: SimulatedMarket,
    calendar: UsEquityCalendar,
    /// Every bar starting before this time is stored.
    stored_until: DateTime<Utc>,
    /// The hour of the last `bars.ingested` event, so flows triggered by it run hourly, as the
    /// original design's fetch_market_data did, not on every minute bar.
    announced_hour: Option<DateTime<Utc>>,
}

impl Feed {
    /// Prepares a feed whose market resumes from the last stored bar of its symbols, or starts at
    /// `start` on an empty database. [`Feed::stored_until`] then says where the clock should start.
    pub async fn resume(
        store: Store,
        clock: Clock,
        config: SimulatedConfig,
        start: DateTime<Utc>,
    ) -> anyhow::Result<Self> {
        let symbols: Vec<_> = config
            .instruments
            .iter()
            .map(|instrument| instrument.symbol.clone())
            .collect();
        let last = store.last_bars(&symbols, Timeframe::MINUTE).await?;
        let (market, stored_until) = match last.values().map(|bar| bar.time).max() {
            Some(last_time) => {
                let closes = last
                    .iter()
                    .map(|(symbol, bar)| (symbol.clone(), bar.close))
                    .collect();
                let market = SimulatedMarket::resume(config, &closes, last_time)?;
                (market, last_time + Timeframe::MINUTE.nominal_duration())
            }
            None => (SimulatedMarket::new(config, start)?, start),
        };
        Ok(Self {
            store,
            clock,
            market,
            calendar: UsEquityCalendar,
            stored_until,
            announced_hour: None,
        })
    }

    /// Every bar starting before this time is stored.
    pub fn stored_until(&self) -> DateTime<Utc> {
        self.stored_until
    }

    /// Stores every bar completed by now and returns how many were new.
    pub async fn catch_up(&mut self) -> crate::store::Result<u64> {
        let mut stored = 0;
        loop {
            let now = Timeframe::MINUTE.floor_intraday(self.clock.now());
            if now <= self.stored_until {
                return Ok(stored);
            }
            let until = now.min(self.stored_until + MAX_BATCH);
            let bars = self.market.bars_between(self.stored_until, until);
            let written = self.store.insert_bars(&bars, SOURCE).await?;
            stored += written.inserted;
            self.stored_until = until;
            if written.inserted > 0 {
                self.announce(until, written.inserted).await;
            }
            if let Some(last) = bars.last() {
                tracing::debug!(bars = bars.len(), until = %last.time, "stored simulated bars");
            }
            if until == now {
                return Ok(stored);
            }
        }
    }

    /// Emits `bars.ingested` once per hour of stored data; a failure is logged, never fatal.
    async fn announce(&mut self, until: DateTime<Utc>, bars: u64) {
        let hour = Timeframe::HOUR.floor_intraday(until);
        if self.announced_hour == Some(hour) {
            return;
        }
        self.announced_hour = Some(hour);
        let payload = serde_json::json!({ "source": SOURCE, "until": until, "bars": bars });
        if let Err(error) = self
            .store
            .emit_event("bars.ingested", &payload, self.clock.now())
            .await
        {
            tracing::warn!(%error, "could not emit bars.ingested");
        }
    }

    /// When the next bar completes: a minute from now in a session, else a minute after the next
    /// open.
    fn next_wake(&self) -> DateTime<Utc> {
        let next_bar_end = self.stored_until + Duration::minutes(1);
        if self.calendar.is_open(self.stored_until) {
            next_bar_end
        } else {
            self.calendar.next_open(self.stored_until) + Duration::minutes(1)
        }
    }

    /// Runs until `shutdown`, then stores what completed before stopping, so a stop loses nothing.
    pub async fn run(mut self, shutdown: CancellationToken) -> crate::store::Result<()> {
        tracing::info!(from = %self.stored_until, symbols = self.market.symbols().len(), "simulated feed started");
        loop {
            match self.catch_up().await {
                Ok(_) => {}
                // A database outage must not end the feed: the bars are regenerated on the next
                // attempt, because the market is deterministic and `stored_until` did not move.
                Err(error) => tracing::warn!(%error, "storing simulated bars failed; retrying"),
            }
            let wake = self.next_wake();
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.clock.sleep_until(wake) => {}
            }
        }
        self.catch_up().await?;
        tracing::info!(until = %self.stored_until, "simulated feed stopped");
        Ok(())
    }
}

/// One batch fetch from the simulated provider, as the `fetch_market_data` flow does hourly: the
/// bars completed since the last stored ones, stored idempotently, recorded as a load run, and
/// announced with `bars.ingested`. Running beside the live feed is harmless: the market is
/// deterministic, so both produce the same bars and the second insert adds nothing.
pub async fn fetch_simulated(
    store: &Store,
    clock: &Clock,
    config: SimulatedConfig,
    start: DateTime<Utc>,
) -> anyhow::Result<serde_json::Value> {
    let symbols: Vec<String> = config
        .instruments
        .iter()
        .map(|instrument| instrument.symbol.to_string())
        .collect();
    let started = clock.now();
    let run = store
        .start_load_run(SOURCE, &symbols.join(","), started)
        .await?;
    let mut feed = Feed::resume(store.clone(), clock.clone(), config, start).await?;
    let from = feed.stored_until();
    let outcome = feed.catch_up().await;
    let summary = crate::store::LoadRunSummary {
        bars_inserted: *outcome.as_ref().unwrap_or(&0),
        first_bar: Some(from),
        last_bar: Some(feed.stored_until()),
        ..Default::default()
    };
    match outcome {
        Ok(inserted) => {
            store
                .finish_load_run(
                    run,
                    crate::store::LoadRunStatus::Completed,
                    &summary,
                    None,
                    clock.now(),
                )
                .await?;
            Ok(
                serde_json::json!({ "load_run": run, "bars": inserted, "from": from, "up_to": feed.stored_until(), "symbols": symbols }),
            )
        }
        Err(error) => {
            let message = error.to_string();
            store
                .finish_load_run(
                    run,
                    crate::store::LoadRunStatus::Failed,
                    &summary,
                    Some(&message),
                    clock.now(),
                )
                .await?;
            Err(error.into())
        }
    }
}
