//! Trading inside the daemon: opening the configured broker and the desk, the paper broker's
//! minute-by-minute fill loop, and the watch on `config/risk.toml`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use chrono::{DateTime, Timelike, Utc};
use tokio_util::sync::CancellationToken;

use super::{Desk, limits_file};
use crate::broker::Broker;
use crate::broker::alpaca::AlpacaBroker;
use crate::broker::paper::PaperBroker;
use crate::clock::Clock;
use crate::config::{BrokerKind, Settings};
use crate::domain::{Symbol, Timeframe};
use crate::market::calendar::UsEquityCalendar;
use crate::store::{BarQuery, Store};

/// The desk and, with the paper broker, the broker itself (the daemon drives its fills).
pub struct Trading {
    /// The order desk.
    pub desk: Arc<Desk>,
    /// The paper broker, when it is the configured one.
    pub paper: Option<Arc<PaperBroker>>,
    /// `config/risk.toml`.
    pub risk_file: PathBuf,
}

/// Opens the configured broker and the desk over it, with the limits from `config/risk.toml`
/// (the embedded ones when the project has none). Invalid limits refuse to start.
pub async fn open(settings: &Settings, store: &Store, clock: &Clock) -> anyhow::Result<Trading> {
    let config = &settings.config;
    let risk_file = settings.config_dir.join("risk.toml");
    let limits = limits_file::load(&risk_file)
        .map_err(anyhow::Error::msg)
        .context("invalid risk limits")?;
    let (broker, paper): (Arc<dyn Broker>, Option<Arc<PaperBroker>>) = match config.broker.kind {
        BrokerKind::Paper => {
            let paper = Arc::new(
                PaperBroker::new(
                    store.clone(),
                    clock.clone(),
                    UsEquityCalendar,
                    &config.broker.paper,
                )
                .await
                .context("opening the paper broker")?,
            );
            (paper.clone(), Some(paper))
        }
        BrokerKind::Alpaca => (
            Arc::new(AlpacaBroker::from_env(&config.broker.alpaca).context("configuring Alpaca")?),
            None,
        ),
    };
    let desk = Desk::open(
        Arc::new(store.clone()),
        broker,
        clock.clone(),
        config.trading.clone(),
        limits,
        Some(risk_file.clone()),
    )
    .await
    .context("opening the order desk")?;
    Ok(Trading {
        desk,
        paper,
        risk_file,
    })
}

/// Feeds each completed minute's bars of the symbols with working orders to the paper broker,
/// and expires day orders at the close, until `shutdown`.
pub async fn drive_paper(
    broker: Arc<PaperBroker>,
    store: Store,
    clock: Clock,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // The bar each symbol was last matched against, so no bar fills an order twice.
    let mut matched: HashMap<Symbol, DateTime<Utc>> = HashMap::new();
    loop {
        let now = clock.now();
        let next_minute = (now + chrono::Duration::minutes(1))
            .with_second(1)
            .and_then(|time| time.with_nanosecond(0))
            .unwrap_or(now + chrono::Duration::minutes(1));
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = clock.sleep_until(next_minute) => {}
        }
        if let Err(error) = paper_step(&broker, &store, &clock, &mut matched).await {
            tracing::warn!(%error, "paper broker step failed; retrying next minute");
        }
    }
}

async fn paper_step(
    broker: &PaperBroker,
    store: &Store,
    clock: &Clock,
    matched: &mut HashMap<Symbol, DateTime<Utc>>,
) -> anyhow::Result<()> {
    let now = clock.now();
    let mut symbols: Vec<Symbol> = broker
        .open_orders()
        .await?
        .into_iter()
        .map(|order| order.symbol)
        .collect();
    symbols.sort();
    symbols.dedup();
    let mut bars = Vec::new();
    for symbol in symbols {
        let from = matched
            .get(&symbol)
            .map(|time| *time + chrono::Duration::milliseconds(1));
        let query = BarQuery {
            from,
            to: Some(now),
            limit: Some(60),
            ..BarQuery::all(symbol.clone(), Timeframe::MINUTE)
        };
        let fresh = store.bars(&query).await?;
        if let Some(last) = fresh.last() {
            matched.insert(symbol, last.time);
        }
        bars.extend(fresh);
    }
    bars.sort_by_key(|bar| bar.time);
    if !bars.is_empty() {
        broker.on_bars(&bars).await?;
    }
    broker.expire(now).await?;
    Ok(())
}

/// Rereads `config/risk.toml` whenever it changes (checked every half second in real time; an
/// editor's rename-save counts). A bad file keeps the limits in force.
pub async fn watch_limits(desk: Arc<Desk>, file: PathBuf, shutdown: CancellationToken) {
    let stamp = |path: &PathBuf| -> Option<(SystemTime, u64)> {
        let metadata = std::fs::metadata(path).ok()?;
        Some((metadata.modified().ok()?, metadata.len()))
    };
    let mut seen = stamp(&file);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        let now = stamp(&file);
        if now != seen {
            seen = now;
            match desk.reload_limits().await {
                Ok(Some(loosened)) if !loosened.is_empty() => {
                    tracing::warn!(?loosened, "risk limits LOOSENED by a reload");
                }
                Ok(_) => tracing::info!("risk limits reloaded"),
                Err(error) => tracing::error!(%error, "risk limits refused; the old ones stay"),
            }
        }
    }
}
