//! The daemon: opens the store, starts the clock, the simulated feed and the API, and owns the one
//! shutdown signal they all obey.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use serde_json::json;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::{ApiParts, ApiState, Keys, router};
use crate::broker::alpaca::MarketData;
use crate::clock::Clock;
use crate::config::{ClockKind, ProviderKind, Settings};
use crate::domain::Symbol;
use crate::ingest::feed::Feed;
use crate::market::simulated::SimulatedConfig;
use crate::orchestrator::{Orchestrator, OrchestratorSettings};
use crate::script::host::Host;
use crate::script::reload::Watcher;
use crate::script::{ScriptFolders, ScriptRuntime};
use crate::store::{AuditEntry, Store};

/// How long a stop waits for tasks to finish their current work before giving up on them.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// A running daemon.
pub struct Daemon {
    address: SocketAddr,
    orchestrator: Arc<Orchestrator>,
    scripts: Arc<ScriptRuntime>,
    store: Store,
    clock: Clock,
    shutdown: CancellationToken,
    tasks: Vec<(&'static str, JoinHandle<anyhow::Result<()>>)>,
}

/// The API keys, refusing to listen beyond loopback without configured ones: a generated key in
/// a file is for a single operator on this machine, not for a network.
fn api_keys(settings: &Settings) -> anyhow::Result<Keys> {
    let bind = settings.config.server.bind;
    let keys = Keys::load(&settings.data_dir()).map_err(anyhow::Error::msg)?;
    match keys.source() {
        crate::api::auth::KeySource::File(path) => {
            if !bind.ip().is_loopback() {
                anyhow::bail!(
                    "refusing to listen on {bind} without configured API keys: set {} (and {} for read-only clients) or bind to 127.0.0.1",
                    crate::api::auth::ADMIN_KEY_VARIABLE,
                    crate::api::auth::READ_KEY_VARIABLE
                );
            }
            tracing::info!(
                key_file = %path.display(),
                "API admin key in this file (owner-readable only); the CLI reads it there, and the dashboard asks for it"
            );
        }
        crate::api::auth::KeySource::Environment | crate::api::auth::KeySource::Given => {
            tracing::info!("API keys from the environment");
        }
    }
    Ok(keys)
}

/// Starts every part of the daemon and returns once the API is listening.
pub async fn start(settings: &Settings) -> anyhow::Result<Daemon> {
    let config = &settings.config;
    let keys = api_keys(settings)?;
    let store = Store::open(&settings.database, config.database.max_connections)
        .await
        .with_context(|| format!("opening the database at {}", settings.database))?;
    tracing::info!(database = %settings.database, backend = ?store.backend(), "database ready");

    let shutdown = CancellationToken::new();
    let mut tasks = Vec::new();
    let clock = match config.clock.mode {
        ClockKind::Real => Clock::real(),
        ClockKind::Simulated if config.market.provider == ProviderKind::Alpaca => {
            // Simulated time over a real provider: no simulated feed, whose bars would collide
            // with Alpaca's under the same symbols.
            let clock = Clock::manual(config.clock.start);
            clock.set_speed(config.clock.speed);
            tracing::info!(now = %clock.now(), speed = config.clock.speed, "simulated clock started (alpaca market data)");
            clock
        }
        ClockKind::Simulated => {
            // The clock stays paused until the feed knows where the stored history ends, so a
            // restart continues from there rather than from the configured start.
            let clock = Clock::manual(config.clock.start);
            let market = SimulatedConfig {
                seed: config.market.seed,
                ..SimulatedConfig::default()
            };
            let origin =
                config.clock.start - chrono::Duration::days(i64::from(config.market.history_days));
            let mut feed = Feed::resume(store.clone(), clock.clone(), market, origin)
                .await
                .context("resuming the simulated feed")?;
            clock.set(feed.stored_until().max(config.clock.start));
            // History before the start is stored now, before any flow or strategy runs.
            let history = feed
                .catch_up()
                .await
                .context("storing the simulated history")?;
            if history > 0 {
                tracing::info!(bars = history, from = %origin, "simulated history stored");
            }
            clock.set_speed(config.clock.speed);
            tracing::info!(now = %clock.now(), speed = config.clock.speed, "simulated clock started");
            let token = shutdown.clone();
            tasks.push((
                "feed",
                tokio::spawn(async move { Ok(feed.run(token).await?) }),
            ));
            clock
        }
    };

    let (scripts, watcher) = start_scripts(settings, &store, &clock).await?;
    let token = shutdown.clone();
    tasks.push(("script watcher", tokio::spawn(watcher.run(token))));

    let trading = crate::trading::runner::open(settings, &store, &clock).await?;
    let desk = trading.desk.clone();
    scripts.set_desk(desk.clone());
    // Before anything trades: intents a crash left unconfirmed become exactly one order each.
    match desk.recover().await {
        Ok(summary) => tracing::info!(
            recovered = summary.recovered,
            resent = summary.resent,
            unresolved = summary.errors.len(),
            broker = desk.broker().name(),
            "order desk ready"
        ),
        Err(error) => {
            tracing::error!(%error, "recovering the outbox failed; manage_orders will retry")
        }
    }
    if let Some(paper) = trading.paper.clone() {
        let (store, clock, token) = (store.clone(), clock.clone(), shutdown.clone());
        tasks.push((
            "paper broker",
            tokio::spawn(crate::trading::runner::drive_paper(
                paper, store, clock, token,
            )),
        ));
    }
    {
        let (desk, file, token) = (desk.clone(), trading.risk_file.clone(), shutdown.clone());
        tasks.push((
            "risk limits watch",
            tokio::spawn(async move {
                crate::trading::runner::watch_limits(desk, file, token).await;
                Ok(())
            }),
        ));
    }

    let orchestrator = Orchestrator::new(
        store.clone(),
        clock.clone(),
        scripts.clone(),
        OrchestratorSettings {
            market_fetch: Some(market_fetch(settings, &store, &clock)),
            ..orchestrator_settings(settings)
        },
    );
    // Deployments are registered before the API listens, so its first answer lists them all.
    orchestrator
        .sync_deployments()
        .await
        .context("registering the deployments")?;
    let token = shutdown.clone();
    tasks.push((
        "orchestrator",
        tokio::spawn(orchestrator.clone().run(token)),
    ));

    let listener = tokio::net::TcpListener::bind(config.server.bind)
        .await
        .with_context(|| format!("listening on {}", config.server.bind))?;
    let address = listener.local_addr().context("reading the bound address")?;
    let app = router(ApiState::new(ApiParts {
        store: store.clone(),
        clock: clock.clone(),
        keys,
        desk: Some(desk),
        orchestrator: Some(orchestrator.clone()),
        scripts: Some(scripts.clone()),
        rate_limit_per_second: config.server.rate_limit_per_second,
        rate_limit_burst: config.server.rate_limit_burst,
        body_limit_bytes: config.server.body_limit_bytes,
        shutdown: shutdown.clone(),
    }));
    let token = shutdown.clone();
    tasks.push((
        "api",
        tokio::spawn(async move {
            // The client's address feeds the per-address rate limit.
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move { token.cancelled().await })
            .await
            .context("serving the API")
        }),
    ));
    tracing::info!(%address, "api listening");
    record(
        &store,
        &clock,
        "daemon.start",
        json!({ "address": address.to_string(), "version": env!("CARGO_PKG_VERSION") }),
    )
    .await;
    Ok(Daemon {
        address,
        orchestrator,
        scripts,
        store,
        clock,
        shutdown,
        tasks,
    })
}

/// The configured provider's batch fetch, for the `fetch_market_data` flow.
pub fn market_fetch(
    settings: &Settings,
    store: &Store,
    clock: &Clock,
) -> crate::orchestrator::MarketFetch {
    match settings.config.market.provider {
        ProviderKind::Simulated => simulated_fetch(settings, store, clock),
        ProviderKind::Alpaca => alpaca_fetch(settings, store, clock),
    }
}

fn simulated_fetch(
    settings: &Settings,
    store: &Store,
    clock: &Clock,
) -> crate::orchestrator::MarketFetch {
    let (store, clock) = (store.clone(), clock.clone());
    let (seed, start) = (settings.config.market.seed, settings.config.clock.start);
    Arc::new(move || {
        let (store, clock) = (store.clone(), clock.clone());
        Box::pin(async move {
            let config = SimulatedConfig {
                seed,
                ..SimulatedConfig::default()
            };
            crate::ingest::feed::fetch_simulated(&store, &clock, config, start)
                .await
                .map_err(|error| format!("{error:#}"))
        })
    })
}

/// Alpaca's fetch. The client is built once; if the keys or URL are wrong, every fetch fails with
/// that message (the daemon still starts: the paper broker and the stored data need no Alpaca).
fn alpaca_fetch(
    settings: &Settings,
    store: &Store,
    clock: &Clock,
) -> crate::orchestrator::MarketFetch {
    let (store, clock) = (store.clone(), clock.clone());
    let start = settings.config.clock.start;
    let symbols: Result<Vec<Symbol>, String> = settings
        .config
        .market
        .symbols
        .iter()
        .map(|symbol| Symbol::parse(symbol).map_err(|error| format!("market.symbols: {error}")))
        .collect();
    let client = MarketData::from_env(&settings.config.broker.alpaca)
        .map(Arc::new)
        .map_err(|error| format!("alpaca market data: {error}"));
    if let Err(error) = &client {
        tracing::warn!(%error, "market.provider is alpaca but its client cannot be built");
    }
    let prepared = client.and_then(|client| symbols.map(|symbols| (client, Arc::new(symbols))));
    Arc::new(move || {
        let (store, clock, prepared) = (store.clone(), clock.clone(), prepared.clone());
        Box::pin(async move {
            let (client, symbols) = prepared?;
            crate::ingest::alpaca::fetch_alpaca(&store, &clock, &client, &symbols, start)
                .await
                .map_err(|error| format!("{error:#}"))
        })
    })
}

/// The `run_backtest` flow's backtest: the configured strategy (`strategies/<strategy>.rhai`,
/// default `pairs`) and pairs over `days` (default 120) of the simulated market, hourly, with the
/// configured limits, fill model and desk; the run is stored in `backtest_runs`.
pub fn backtest_runner(settings: &Settings) -> crate::orchestrator::BacktestRunner {
    let settings = settings.clone();
    Arc::new(move |parameters: serde_json::Value| {
        let settings = settings.clone();
        Box::pin(async move {
            let number = |key: &str, default: i64| {
                parameters
                    .get(key)
                    .and_then(serde_json::Value::as_i64)
                    .unwrap_or(default)
            };
            let days = number("days", 120).clamp(1, 3650);
            let strategy = parameters
                .get("strategy")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("pairs")
                .to_owned();
            if !strategy
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(format!("`{strategy}` is not a strategy name"));
            }
            let config = &settings.config;
            let pairs = crate::strategy::load_pairs(&settings.config_dir.join("pairs.toml"))?;
            let limits = crate::trading::limits_file::load(&settings.config_dir.join("risk.toml"))?;
            let seed = u64::try_from(number(
                "seed",
                i64::try_from(config.market.seed).unwrap_or(0),
            ))
            .unwrap_or(config.market.seed);
            let history = crate::backtest::History::simulated(
                seed,
                config.clock.start,
                days,
                crate::domain::Timeframe::HOUR,
            )
            .map_err(|error| error.to_string())?;
            let path = settings.strategies_dir().join(format!("{strategy}.rhai"));
            let backtest = crate::backtest::BacktestSettings {
                strategy: path,
                native: None,
                pairs,
                initial_cash: config.broker.paper.initial_cash,
                limits,
                paper: config.broker.paper.clone(),
                trading: config.trading.clone(),
                script_limits: config.scripts.limits.clone(),
                desk_ledger: crate::backtest::DeskLedger::default(),
            };
            let result = crate::backtest::run(backtest.clone(), Arc::new(history))
                .await
                .map_err(|error| format!("{error:#}"))?;
            let store = Store::open(&settings.database, 2)
                .await
                .map_err(|error| error.to_string())?;
            let record = crate::store::BacktestRunRecord {
                id: 0,
                created_at: Utc::now(),
                strategy: result.strategy.clone(),
                script_hash: result.script_hash.clone(),
                source: format!("simulated market, seed {seed}, {days} days, hourly"),
                parameters: serde_json::to_value(&backtest.pairs).unwrap_or_default(),
                start: result
                    .equity
                    .first()
                    .map_or(config.clock.start, |point| point.time),
                end: result
                    .equity
                    .last()
                    .map_or(config.clock.start, |point| point.time),
                bars: i64::try_from(result.bars).unwrap_or(i64::MAX),
                metrics: serde_json::to_value(&result.metrics).unwrap_or_default(),
                trades: serde_json::to_value(&result.trades).unwrap_or_default(),
                report: None,
            };
            let id = store
                .insert_backtest_run(&record)
                .await
                .map_err(|error| error.to_string())?;
            Ok(
                json!({ "backtest_run": id, "bars": result.bars, "trades": result.metrics.trades, "metrics": result.metrics }),
            )
        })
    })
}

/// The orchestrator's settings from configuration.
pub fn orchestrator_settings(settings: &Settings) -> OrchestratorSettings {
    let config = &settings.config.orchestrator;
    OrchestratorSettings {
        max_parallel_runs: config.max_parallel_runs,
        lease: std::time::Duration::from_secs_f64(config.lease_seconds),
        poll: std::time::Duration::from_millis(config.poll_ms),
        disabled: config.disabled.clone(),
        lease_clock: Clock::real(),
        worker_id: None,
        backup_dir: Some(settings.data_dir().join("backups")),
        archive_dir: Some(settings.data_dir().join("archive")),
        market_fetch: None,
        overrides: config.overrides.clone(),
        pairs_file: Some(settings.config_dir.join("pairs.toml")),
        reports_dir: Some(settings.data_dir().join("reports")),
        backtest: Some(backtest_runner(settings)),
    }
}

/// Builds the script runtime over the configured folders, starts watching them, then loads every
/// script (watching first, so no save is missed between the two). Flow metadata is validated by
/// the orchestrator's rules, so a bad schedule refuses the save.
pub async fn start_scripts(
    settings: &Settings,
    store: &Store,
    clock: &Clock,
) -> anyhow::Result<(Arc<ScriptRuntime>, Watcher)> {
    let folders = ScriptFolders {
        scripts: settings.scripts_dir(),
        strategies: settings.strategies_dir(),
    };
    let host = Host {
        store: store.clone(),
        clock: clock.clone(),
        runtime: tokio::runtime::Handle::current(),
    };
    let runtime = ScriptRuntime::new(folders, settings.config.scripts.limits.clone(), host)
        .context("preparing the script folders")?;
    runtime
        .registry()
        .set_validator(crate::orchestrator::meta_validator());
    let watcher = Watcher::start(runtime.clone()).context("watching the script folders")?;
    runtime
        .registry()
        .load_all()
        .await
        .context("loading scripts")?;
    let loaded = runtime.registry().scripts().len();
    let refused = runtime
        .registry()
        .outcomes()
        .iter()
        .filter(|outcome| outcome.error.is_some())
        .count();
    tracing::info!(loaded, refused, "scripts loaded");
    Ok((runtime, watcher))
}

impl Daemon {
    /// Where the API listens (useful with port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The orchestrator.
    pub fn orchestrator(&self) -> &Arc<Orchestrator> {
        &self.orchestrator
    }

    /// The script runtime.
    pub fn scripts(&self) -> &Arc<ScriptRuntime> {
        &self.scripts
    }

    /// The daemon's clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The daemon's store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Resolves when a task stopped on its own (an error) — the caller should then stop the rest.
    pub async fn failed(&mut self) -> &'static str {
        loop {
            for (name, task) in &self.tasks {
                if task.is_finished() {
                    return name;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Signals every task to stop, waits for them to finish their current work, and closes the
    /// store. Errors of individual tasks are logged and returned as the first one.
    pub async fn stop(self) -> anyhow::Result<()> {
        tracing::info!("stopping");
        self.shutdown.cancel();
        let mut first_error = None;
        for (name, task) in self.tasks {
            let outcome = tokio::time::timeout(STOP_TIMEOUT, task).await;
            let error = match outcome {
                Ok(Ok(Ok(()))) => None,
                Ok(Ok(Err(error))) => Some(error),
                Ok(Err(panic)) => Some(anyhow::anyhow!("{name} panicked: {panic}")),
                Err(_) => Some(anyhow::anyhow!(
                    "{name} did not stop within {STOP_TIMEOUT:?}"
                )),
            };
            if let Some(error) = error {
                tracing::error!(
                    task = name,
                    error = format!("{error:#}"),
                    "task ended with an error"
                );
                first_error.get_or_insert(error);
            }
        }
        record(
            &self.store,
            &self.clock,
            "daemon.stop",
            json!({ "clean": first_error.is_none(), "real_time": Utc::now() }),
        )
        .await;
        self.store.close().await;
        tracing::info!("stopped");
        first_error.map_or(Ok(()), Err)
    }
}

/// Audits a lifecycle event; a failure to audit is logged, never fatal to the daemon.
async fn record(store: &Store, clock: &Clock, action: &str, details: serde_json::Value) {
    let entry = AuditEntry {
        at: clock.now(),
        actor: "daemon".into(),
        action: action.into(),
        subject: None,
        details,
    };
    if let Err(error) = store.audit(&entry).await {
        tracing::warn!(%error, action, "could not write the audit log");
    }
}
