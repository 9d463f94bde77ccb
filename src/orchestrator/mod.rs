//! The flow orchestrator: what Prefect did, inside the host. Deployments come from flow scripts'
//! `meta()`; the scheduler creates each tick's run exactly once; workers claim due runs with
//! leases, run them under their timeout, retry with backoff, and reap runs whose worker died.
//!
//! `schedule` evaluates crontab expressions in their time zones behind a market-calendar gate;
//! `deployment` validates a flow's settings; `scheduler` plans ticks into runs; `worker` executes.

mod bridge;
pub mod deployment;
mod next_ticks;
pub mod schedule;
pub mod scheduler;
mod upkeep;
pub mod worker;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use self::deployment::{DeploymentSpec, OverlapPolicy};
use self::next_ticks::NextTicks;
use self::worker::Worker;
use crate::clock::Clock;
use crate::domain::RunState;
use crate::script::{MetaValidator, ScriptKind, ScriptRuntime};
use crate::store::{NewRun, RunRecord, Store};

/// The validator that makes a flow's orchestration settings part of what a save must pass.
pub fn meta_validator() -> MetaValidator {
    Arc::new(|kind, extra| match kind {
        ScriptKind::Flow => DeploymentSpec::from_meta(extra).map(|_| ()),
        ScriptKind::Strategy if extra.is_empty() => Ok(()),
        ScriptKind::Strategy => Err(format!(
            "unknown keys {}; a strategy's meta() takes description and tags",
            extra.keys().cloned().collect::<Vec<_>>().join(", ")
        )),
    })
}

/// A batch fetch from the market-data provider, returning what it stored.
pub type MarketFetch = Arc<
    dyn Fn() -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<serde_json::Value, String>> + Send>,
        > + Send
        + Sync,
>;

/// Runs a backtest for the `run_backtest` flow with the given parameters, returning its summary.
pub type BacktestRunner = Arc<
    dyn Fn(
            serde_json::Value,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<serde_json::Value, String>> + Send>,
        > + Send
        + Sync,
>;

/// Settings of the orchestrator loop.
#[derive(Clone)]
pub struct OrchestratorSettings {
    /// Runs this daemon executes at once.
    pub max_parallel_runs: usize,
    /// A claim's lease, in real time.
    pub lease: Duration,
    /// How often the loop looks for work others created (manual runs, other workers), real time.
    pub poll: Duration,
    /// Deployments disabled by configuration.
    pub disabled: Vec<String>,
    /// The clock leases run on; wall time unless a test injects another.
    pub lease_clock: Clock,
    /// This worker's id [default: host name and process id].
    pub worker_id: Option<String>,
    /// Where `ops::backup_database` writes; backups are refused when unset.
    pub backup_dir: Option<std::path::PathBuf>,
    /// What `data::fetch_latest()` runs: the configured provider's batch fetch.
    pub market_fetch: Option<MarketFetch>,
    /// Where `ops::archive_old_bars` writes Parquet files; archiving is refused when unset.
    pub archive_dir: Option<std::path::PathBuf>,
    /// Settings that override flows' `meta()` in this environment, by flow name.
    pub overrides: BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
    /// `config/pairs.toml`, read by `strategy::cycle` at every cycle [default: the embedded one].
    pub pairs_file: Option<std::path::PathBuf>,
    /// Where `analytics::report` writes HTML reports; reports are refused when unset.
    pub reports_dir: Option<std::path::PathBuf>,
    /// What `analytics::backtest` runs.
    pub backtest: Option<BacktestRunner>,
}

impl Default for OrchestratorSettings {
    fn default() -> Self {
        Self {
            max_parallel_runs: 8,
            lease: Duration::from_secs(30),
            poll: Duration::from_millis(250),
            disabled: Vec::new(),
            lease_clock: Clock::real(),
            worker_id: None,
            backup_dir: None,
            archive_dir: None,
            market_fetch: None,
            overrides: BTreeMap::new(),
            pairs_file: None,
            reports_dir: None,
            backtest: None,
        }
    }
}

/// The orchestrator of one daemon.
pub struct Orchestrator {
    worker: Worker,
    settings: OrchestratorSettings,
    wake: Notify,
    slots: Arc<Semaphore>,
    /// The effective spec of each deployment, as last synchronised from the scripts.
    specs: Mutex<BTreeMap<String, DeploymentSpec>>,
    next_ticks: NextTicks,
}

impl Orchestrator {
    /// An orchestrator over the daemon's scripts, store and clock.
    pub fn new(
        store: Store,
        clock: Clock,
        scripts: Arc<ScriptRuntime>,
        settings: OrchestratorSettings,
    ) -> Arc<Self> {
        let id = settings
            .worker_id
            .clone()
            .unwrap_or_else(|| format!("{}-{}", hostname(), std::process::id()));
        let worker = Worker {
            store,
            clock,
            scripts,
            id,
            lease: settings.lease,
            lease_clock: settings.lease_clock.clone(),
        };
        let slots = Arc::new(Semaphore::new(settings.max_parallel_runs.max(1)));
        let scripts = worker.scripts.clone();
        let orchestrator = Arc::new(Self {
            worker,
            settings,
            wake: Notify::new(),
            slots,
            specs: Mutex::new(BTreeMap::new()),
            next_ticks: NextTicks::default(),
        });
        // Scripts reach the orchestrator through `flow::…`; a weak reference, because the
        // orchestrator owns the script runtime.
        scripts.set_flow_host(Arc::new(bridge::FlowBridge(Arc::downgrade(&orchestrator))));
        orchestrator
    }

    /// This daemon's worker id.
    pub fn worker_id(&self) -> &str {
        &self.worker.id
    }

    /// The deployment settings of a flow, as last synchronised.
    pub fn spec(&self, name: &str) -> Option<DeploymentSpec> {
        self.specs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// The next tick of a deployment strictly after `now`, on its calendar; `None` for an unknown
    /// deployment or a schedule with no tick ahead.
    pub fn next_tick(&self, name: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let spec = self.spec(name)?;
        self.next_ticks.next_after(name, &spec, now)
    }

    /// Wakes the loop (after a manual run or a deployment change).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Brings the deployments table in line with the serving flow scripts.
    pub async fn sync_deployments(&self) -> crate::store::Result<()> {
        let now = self.worker.clock.now();
        let mut specs = BTreeMap::new();
        for script in self.worker.scripts.registry().scripts() {
            if script.kind != ScriptKind::Flow || self.settings.disabled.contains(&script.name) {
                continue;
            }
            let mut settings = script.meta.extra.clone();
            if let Some(overrides) = self.settings.overrides.get(&script.name) {
                settings.extend(overrides.clone());
            }
            let Ok(spec) = DeploymentSpec::from_meta(&settings) else {
                continue;
            };
            let changed = self
                .spec(&script.name)
                .is_none_or(|previous| previous != spec);
            if changed {
                let json = serde_json::to_value(&spec).unwrap_or_default();
                self.worker
                    .store
                    .upsert_deployment(&script.name, &json, spec.concurrency, now)
                    .await?;
            }
            specs.insert(script.name.clone(), spec);
        }
        *self.specs.lock().unwrap_or_else(PoisonError::into_inner) = specs;
        Ok(())
    }

    /// One pass: sync deployments, plan ticks, reap dead runs, apply overlap policies, start due
    /// runs. Returns the handles of the runs started.
    pub async fn step(self: &Arc<Self>) -> crate::store::Result<Vec<tokio::task::JoinHandle<()>>> {
        self.sync_deployments().await?;
        let now = self.worker.clock.now();
        // Ticks older than this were missed: the daemon was down or stalled. A minute of clock
        // time, or the clock's distance covered in one poll at high speed, whichever is longer.
        let grace = self.grace();
        for deployment in self.worker.store.deployments().await? {
            if let Some(spec) = self.spec(&deployment.name) {
                scheduler::plan(&self.worker.store, &deployment, &spec, now, grace).await?;
            }
        }
        self.start_event_runs(now).await?;
        let specs = |name: &str| self.spec(name);
        self.worker.reap(&specs).await?;
        self.apply_overlap_policies(now).await?;
        let mut started = Vec::new();
        while let Ok(permit) = self.slots.clone().try_acquire_owned() {
            let Some(run) = self.worker.claim().await? else {
                break;
            };
            let spec = self.spec(&run.deployment).unwrap_or_default();
            let worker = self.worker.clone();
            started.push(tokio::spawn(async move {
                let id = run.id;
                if let Err(error) = worker.execute(run, &spec).await {
                    tracing::error!(run = id, %error, "recording a run failed");
                }
                drop(permit);
            }));
        }
        Ok(started)
    }

    /// Turns new events into runs of the deployments they trigger, each at most once per event
    /// (the run's schedule key is the event's id), whichever worker sees it first.
    async fn start_event_runs(&self, now: DateTime<Utc>) -> crate::store::Result<()> {
        let specs = self
            .specs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for event in self.worker.store.unprocessed_events(100).await? {
            for (name, spec) in specs
                .iter()
                .filter(|(_, spec)| spec.triggers.contains(&event.name))
            {
                let mut parameters = spec.parameters.clone();
                parameters.insert("event".into(), serde_json::json!({ "id": event.id, "name": event.name, "payload": event.payload }));
                let run = NewRun {
                    deployment: name.clone(),
                    parent_run_id: None,
                    trigger: "event".into(),
                    schedule_key: Some(format!("event:{}", event.id)),
                    scheduled_at: event.emitted_at,
                    due_at: now,
                    max_attempts: spec.max_attempts(),
                    parameters: serde_json::Value::Object(parameters),
                    state: RunState::Scheduled,
                    message: Some(format!("event {}", event.name)),
                    worker: None,
                };
                self.worker.store.insert_run(&run, now).await?;
            }
            self.worker
                .store
                .mark_event_processed(event.id, now)
                .await?;
        }
        Ok(())
    }

    /// The HTML report of the last `days` of live trading (equity from the portfolio snapshots,
    /// closed pair trades from their fills), written into the reports folder.
    pub async fn write_report(&self, days: i64) -> Result<serde_json::Value, String> {
        let folder = self
            .settings
            .reports_dir
            .clone()
            .ok_or("no reports folder is configured")?;
        let store = &self.worker.store;
        let now = self.worker.clock.now();
        let since = now - chrono::Duration::days(days);
        let equity = crate::strategy::performance::equity(store, since)
            .await
            .map_err(|error| error.to_string())?;
        let trades = crate::strategy::performance::trades(store, since)
            .await
            .map_err(|error| error.to_string())?;
        let mut parameters = std::collections::BTreeMap::new();
        parameters.insert("period".to_owned(), format!("{days} days to {now}"));
        let report = crate::analytics::ReportData::from_run(
            format!("Trading report, {}", now.format("%Y-%m-%d")),
            parameters,
            equity,
            trades,
            Vec::new(),
            crate::analytics::Period::Month,
            252.0 * 7.0,
        )
        .map_err(|error| error.to_string())?;
        std::fs::create_dir_all(&folder)
            .map_err(|error| format!("{}: {error}", folder.display()))?;
        let path = folder.join(format!("report-{}.html", now.format("%Y%m%d-%H%M")));
        crate::analytics::write_report(&path, &report).map_err(|error| error.to_string())?;
        Ok(serde_json::Value::String(path.display().to_string()))
    }

    /// One cycle of strategy `name`: `on_cycle(ctx)` with the active pairs of
    /// `config/pairs.toml` (read now, so an edit applies at the next cycle), under the sandbox's
    /// budget; its log lines go into the run that asked for it.
    pub async fn strategy_cycle(
        &self,
        parent: Option<i64>,
        name: &str,
    ) -> Result<serde_json::Value, String> {
        let pairs = match &self.settings.pairs_file {
            Some(path) => crate::strategy::load_pairs(path)?,
            None => crate::strategy::pairs::parse_pairs(
                crate::strategy::pairs::EMBEDDED,
                "embedded config/pairs.toml",
            )?,
        };
        let script = self
            .worker
            .scripts
            .registry()
            .get(name)
            .ok_or_else(|| format!("no strategy named `{name}` is loaded"))?;
        let context = crate::script::host::pair::cycle_context(name, "live", &pairs)?;
        let outcome = self
            .worker
            .scripts
            .call_compiled(
                script,
                "on_cycle",
                context,
                crate::script::CallOptions {
                    run_id: parent,
                    ..Default::default()
                },
            )
            .await;
        let logs = match &outcome {
            Ok(outcome) => &outcome.logs,
            Err(failure) => &failure.logs,
        };
        if let Some(run) = parent {
            let attempt = match self.worker.store.run(run).await {
                Ok(Some(record)) => record.attempt,
                _ => 1,
            };
            let records: Vec<crate::store::RunLogRecord> = logs
                .iter()
                .map(|line| crate::store::RunLogRecord {
                    attempt,
                    at: line.at,
                    level: format!("{:?}", line.level).to_lowercase(),
                    message: format!("[{name}] {}", line.message),
                })
                .collect();
            if let Err(error) = self
                .worker
                .store
                .append_run_logs(run, attempt, &records)
                .await
            {
                tracing::warn!(%error, "could not store the strategy's log lines");
            }
        }
        match outcome {
            Ok(outcome) => Ok(outcome.result),
            Err(failure) => Err(failure.error.to_string()),
        }
    }

    /// Runs flow `name` as a subflow: created Running under `parent`, executed here, one attempt
    /// (the parent decides about retries).
    pub async fn run_subflow(
        &self,
        parent: Option<i64>,
        name: &str,
        parameters: serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let spec = self
            .spec(name)
            .ok_or_else(|| format!("no flow named `{name}` is loaded"))?;
        let now = self.worker.clock.now();
        let mut merged = spec.parameters.clone();
        if let serde_json::Value::Object(given) = parameters {
            merged.extend(given);
        }
        let run = NewRun {
            deployment: name.to_owned(),
            parent_run_id: parent,
            trigger: "parent".into(),
            schedule_key: None,
            scheduled_at: now,
            due_at: now,
            max_attempts: 1,
            parameters: serde_json::Value::Object(merged),
            state: RunState::Running,
            message: parent.map(|parent| format!("subflow of run {parent}")),
            worker: Some(self.worker.id.clone()),
        };
        let store = &self.worker.store;
        let id = store
            .insert_run(&run, now)
            .await
            .map_err(|error| error.to_string())?
            .ok_or("the subflow run was not created")?;
        let record = store
            .run(id)
            .await
            .map_err(|error| error.to_string())?
            .ok_or("the subflow run vanished")?;
        let state = self
            .worker
            .execute(record, &spec)
            .await
            .map_err(|error| error.to_string())?;
        let finished = store
            .run(id)
            .await
            .map_err(|error| error.to_string())?
            .ok_or("the subflow run vanished")?;
        if state == RunState::Completed {
            Ok(finished.result.unwrap_or(serde_json::Value::Null))
        } else {
            Err(finished.error.unwrap_or_else(|| format!("ended {state}")))
        }
    }

    fn grace(&self) -> chrono::Duration {
        let speed = match self.worker.clock.mode() {
            crate::clock::ClockMode::Simulated { speed } => speed.max(1.0),
            crate::clock::ClockMode::Real => 1.0,
        };
        let per_poll = chrono::Duration::milliseconds(
            (self.settings.poll.as_secs_f64() * speed * 4000.0) as i64,
        );
        per_poll.max(chrono::Duration::minutes(1))
    }

    /// Skips or cancels per the deployment's overlap policy when due runs find it at its limit.
    async fn apply_overlap_policies(&self, now: DateTime<Utc>) -> crate::store::Result<()> {
        let specs = self
            .specs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for (name, spec) in specs {
            if spec.on_overlap == OverlapPolicy::Queue {
                continue;
            }
            let running = self
                .worker
                .store
                .runs(Some(&name), Some(RunState::Running), 1000)
                .await?;
            if running.len() < spec.concurrency as usize {
                continue;
            }
            let scheduled = self
                .worker
                .store
                .runs(Some(&name), Some(RunState::Scheduled), 1000)
                .await?;
            let due: Vec<&RunRecord> = scheduled.iter().filter(|run| run.due_at <= now).collect();
            if due.is_empty() {
                continue;
            }
            match spec.on_overlap {
                OverlapPolicy::Skip => {
                    for run in due {
                        self.worker
                            .store
                            .skip_run(
                                run.id,
                                "skipped: the previous run was still running (on_overlap = skip)",
                                now,
                            )
                            .await?;
                    }
                }
                OverlapPolicy::CancelOlder => {
                    // Oldest first: `runs` lists newest first.
                    for run in running.iter().rev().take(due.len()) {
                        self.worker.store.request_cancel(run.id, now).await?;
                    }
                }
                OverlapPolicy::Queue => {}
            }
        }
        Ok(())
    }

    /// When the loop should next look, in clock time: the next tick of any deployment.
    async fn next_wake(&self) -> Option<DateTime<Utc>> {
        let now = self.worker.clock.now();
        let specs = self
            .specs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        specs
            .iter()
            .filter_map(|(name, spec)| self.next_ticks.next_after(name, spec, now))
            .min()
    }

    /// Runs until `shutdown`; then waits for running flows to finish (they are bounded by their
    /// timeouts), so a stop leaves no run Running.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) -> anyhow::Result<()> {
        tracing::info!(worker = %self.worker.id, "orchestrator started");
        // On PostgreSQL, another daemon's new run wakes this one at once instead of at the next poll.
        let listener = match self.worker.store.run_notifications().await {
            Ok(Some(mut notifications)) => {
                let orchestrator = self.clone();
                let token = shutdown.clone();
                Some(tokio::spawn(async move {
                    loop {
                        tokio::select! {
                            _ = token.cancelled() => break,
                            received = notifications.next() => match received {
                                Ok(()) => orchestrator.wake(),
                                Err(error) => {
                                    tracing::warn!(%error, "run notifications interrupted");
                                    tokio::time::sleep(Duration::from_secs(1)).await;
                                }
                            },
                        }
                    }
                }))
            }
            Ok(None) => None,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for runs; polling only");
                None
            }
        };
        let mut in_flight: Vec<tokio::task::JoinHandle<()>> = Vec::new();
        loop {
            match self.step().await {
                Ok(started) => in_flight.extend(started),
                Err(error) => tracing::warn!(%error, "orchestrator pass failed; retrying"),
            }
            in_flight.retain(|handle| !handle.is_finished());
            let next = self.next_wake().await;
            let clock = self.worker.clock.clone();
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.settings.poll) => {}
                _ = async { match next { Some(at) => clock.sleep_until(at).await, None => std::future::pending().await } } => {}
            }
        }
        for handle in in_flight {
            let _ = handle.await;
        }
        if let Some(listener) = listener {
            listener.abort();
        }
        tracing::info!("orchestrator stopped");
        Ok(())
    }

    /// Creates a manual run of `name` due now, for this or another daemon to pick up.
    pub async fn submit(
        &self,
        name: &str,
        parameters: Option<serde_json::Map<String, serde_json::Value>>,
    ) -> anyhow::Result<i64> {
        self.submit_triggered(name, parameters, "manual").await
    }

    /// As [`Orchestrator::submit`], naming the trigger (`manual`, `retry`, `api`) in the run and
    /// its first state.
    pub async fn submit_triggered(
        &self,
        name: &str,
        parameters: Option<serde_json::Map<String, serde_json::Value>>,
        trigger: &str,
    ) -> anyhow::Result<i64> {
        self.sync_deployments().await?;
        let spec = self
            .spec(name)
            .ok_or_else(|| anyhow::anyhow!("no flow named `{name}` is loaded"))?;
        let now = self.worker.clock.now();
        let mut merged = spec.parameters.clone();
        merged.extend(parameters.unwrap_or_default());
        let run = NewRun {
            deployment: name.to_owned(),
            parent_run_id: None,
            trigger: trigger.into(),
            schedule_key: None,
            scheduled_at: now,
            due_at: now,
            max_attempts: spec.max_attempts(),
            parameters: serde_json::Value::Object(merged),
            state: RunState::Scheduled,
            message: Some(trigger.into()),
            worker: None,
        };
        let id = self
            .worker
            .store
            .insert_run(&run, now)
            .await?
            .ok_or_else(|| anyhow::anyhow!("the run was not created"))?;
        self.wake();
        Ok(id)
    }

    /// Runs `name` now in this process (the CLI without a daemon): created, claimed and executed
    /// like any other run, retries included. Returns the finished run.
    pub async fn run_in_foreground(
        self: &Arc<Self>,
        name: &str,
        parameters: Option<serde_json::Map<String, serde_json::Value>>,
    ) -> anyhow::Result<RunRecord> {
        let id = self.submit(name, parameters).await?;
        loop {
            let run = self
                .worker
                .store
                .run(id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("run {id} vanished"))?;
            if run.state.is_terminal() {
                return Ok(run);
            }
            if run.state == RunState::AwaitingRetry {
                // Wait out the retry delay on the clock, then run the next attempt.
                self.worker.clock.sleep_until(run.due_at).await;
            }
            for handle in self.step().await? {
                let _ = handle.await;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "tradehost".into())
}
