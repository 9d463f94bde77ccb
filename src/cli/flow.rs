//! `tradehost flow …` and `tradehost deployment …`: the orchestrator from the terminal.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};

use super::client::DaemonClient;
use crate::config::Settings;
use crate::domain::RunState;
use crate::orchestrator::Orchestrator;
use crate::store::{RunRecord, Store};

/// `tradehost flow …`.
#[derive(Debug, Subcommand)]
pub enum FlowCommand {
    /// List the flows and their deployments.
    Ls,
    /// Run a flow now. With a daemon running on this database it picks the run up; otherwise the
    /// flow runs here in the foreground, recorded like any other run.
    Run(RunArguments),
    /// List recent runs.
    Runs(RunsArguments),
    /// Show one run with its state history.
    Inspect {
        /// The run's id.
        run: i64,
    },
    /// Show one run's logs.
    Logs {
        /// The run's id.
        run: i64,
    },
    /// Cancel a run: at once if it has not started, else its worker stops it.
    Cancel {
        /// The run's id.
        run: i64,
    },
}

/// `tradehost deployment …`.
#[derive(Debug, Subcommand)]
pub enum DeploymentCommand {
    /// List deployments with their schedules, state and next tick.
    Ls,
    /// Stop creating runs for a deployment.
    Pause {
        /// The deployment (flow) name.
        name: String,
    },
    /// Create runs for a paused deployment again (missed ticks follow its missed-run policy).
    Resume {
        /// The deployment (flow) name.
        name: String,
    },
    /// The next ticks a deployment would fire, after calendar gating.
    Next(NextArguments),
}

/// Arguments of `flow run`.
#[derive(Debug, Args)]
pub struct RunArguments {
    /// The flow's name.
    name: String,
    /// A parameter as key=value (JSON when it parses, else text); repeatable.
    #[arg(long = "param", value_parser = super::script::parse_param)]
    params: Vec<(String, serde_json::Value)>,
    /// Always run here, even when a daemon is running.
    #[arg(long)]
    foreground: bool,
}

/// Arguments of `flow runs`.
#[derive(Debug, Args)]
pub struct RunsArguments {
    /// Only this deployment's runs.
    #[arg(long)]
    deployment: Option<String>,
    /// Only runs in this state (scheduled, running, completed, failed, awaiting_retry, …).
    #[arg(long)]
    state: Option<RunState>,
    /// How many.
    #[arg(long, default_value_t = 20)]
    limit: u32,
}

/// Arguments of `deployment next`.
#[derive(Debug, Args)]
pub struct NextArguments {
    /// The deployment (flow) name.
    name: String,
    /// How many ticks.
    #[arg(long, default_value_t = 5)]
    count: usize,
    /// Ticks after this time (RFC 3339) [default: now].
    #[arg(long)]
    after: Option<DateTime<Utc>>,
}

async fn orchestrator(settings: &Settings) -> anyhow::Result<(Store, Arc<Orchestrator>)> {
    let (store, runtime, clock) = super::script::runtime(settings).await?;
    runtime
        .registry()
        .set_validator(crate::orchestrator::meta_validator());
    runtime
        .registry()
        .load_all()
        .await
        .context("loading scripts")?;
    let mut orchestrator_settings = crate::app::orchestrator_settings(settings);
    orchestrator_settings.market_fetch = Some(crate::app::market_fetch(settings, &store, &clock));
    orchestrator_settings.max_parallel_runs = 1;
    let trading = crate::trading::runner::open(settings, &store, &clock).await?;
    runtime.set_desk(trading.desk);
    let orchestrator = Orchestrator::new(store.clone(), clock, runtime, orchestrator_settings);
    orchestrator.sync_deployments().await?;
    Ok((store, orchestrator))
}

fn show_time(time: Option<DateTime<Utc>>) -> String {
    time.map_or_else(
        || "-".into(),
        |time| time.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

fn print_run(run: &RunRecord) {
    println!(
        "{:>6}  {:<28} {:<15} {:<9} attempt {}/{}  scheduled {}  ended {}",
        run.id,
        run.deployment,
        run.state.as_str(),
        run.trigger,
        run.attempt,
        run.max_attempts,
        show_time(Some(run.scheduled_at)),
        show_time(run.ended_at)
    );
}

/// Runs a `flow` command.
pub async fn flow(settings: &Settings, command: &FlowCommand) -> anyhow::Result<ExitCode> {
    match command {
        FlowCommand::Ls => {
            let (store, orchestrator) = orchestrator(settings).await?;
            for deployment in store.deployments().await? {
                let spec = orchestrator.spec(&deployment.name).unwrap_or_default();
                let schedules: Vec<String> = spec
                    .schedules
                    .iter()
                    .map(|schedule| format!("{} {}", schedule.cron, schedule.timezone))
                    .collect();
                println!(
                    "{:<28} {:<7} {}",
                    deployment.name,
                    if deployment.paused {
                        "paused"
                    } else {
                        "active"
                    },
                    if schedules.is_empty() {
                        "manual".to_owned()
                    } else {
                        schedules.join("; ")
                    }
                );
            }
            store.close().await;
            Ok(ExitCode::SUCCESS)
        }
        FlowCommand::Run(arguments) => {
            let params: serde_json::Map<String, serde_json::Value> =
                arguments.params.iter().cloned().collect();
            let daemon = if arguments.foreground {
                None
            } else {
                DaemonClient::connect(settings).await?
            };
            if let Some(daemon) = daemon {
                let created = daemon
                    .post(
                        &format!("/api/v1/deployments/{}/run", arguments.name),
                        &serde_json::json!({ "parameters": params }),
                    )
                    .await?;
                let id = created["run_id"]
                    .as_i64()
                    .context("the daemon's answer has no run id")?;
                eprintln!("run {id} submitted to the running daemon; waiting for it to finish");
                let store = open(settings).await?;
                let run = wait_for_end(&store, id).await?;
                store.close().await;
                return finish(&run);
            }
            let (store, orchestrator) = orchestrator(settings).await?;
            let run = {
                orchestrator
                    .run_in_foreground(&arguments.name, Some(params))
                    .await?
            };
            store.close().await;
            finish(&run)
        }
        FlowCommand::Runs(arguments) => {
            let store = open(settings).await?;
            for run in store
                .runs(
                    arguments.deployment.as_deref(),
                    arguments.state,
                    arguments.limit,
                )
                .await?
            {
                print_run(&run);
            }
            store.close().await;
            Ok(ExitCode::SUCCESS)
        }
        FlowCommand::Inspect { run } => {
            let store = open(settings).await?;
            let Some(record) = store.run(*run).await? else {
                eprintln!("no run {run}");
                return Ok(ExitCode::FAILURE);
            };
            println!("{}", serde_json::to_string_pretty(&record)?);
            println!("history:");
            for state in store.run_states(*run).await? {
                println!(
                    "  {}  attempt {}  {:<15} {}",
                    show_time(Some(state.at)),
                    state.attempt,
                    state.state.as_str(),
                    state.message.unwrap_or_default()
                );
            }
            store.close().await;
            Ok(ExitCode::SUCCESS)
        }
        FlowCommand::Logs { run } => {
            let store = open(settings).await?;
            for line in store.run_logs(*run).await? {
                println!(
                    "{}  attempt {}  {:<5} {}",
                    show_time(Some(line.at)),
                    line.attempt,
                    line.level,
                    line.message
                );
            }
            store.close().await;
            Ok(ExitCode::SUCCESS)
        }
        FlowCommand::Cancel { run } => {
            if let Some(daemon) = DaemonClient::connect(settings).await? {
                let answer = daemon
                    .post(
                        &format!("/api/v1/runs/{run}/cancel"),
                        &serde_json::json!({}),
                    )
                    .await?;
                match answer["state"].as_str() {
                    Some("cancelled") => println!("run {run} cancelled"),
                    _ => println!("run {run} is running; its worker will stop it"),
                }
                return Ok(ExitCode::SUCCESS);
            }
            let store = open(settings).await?;
            let outcome = store.request_cancel(*run, Utc::now()).await?;
            store.close().await;
            match outcome {
                Some(RunState::Cancelled) => println!("run {run} cancelled"),
                Some(_) => println!("run {run} is running; its worker will stop it"),
                None => {
                    eprintln!("run {run} is unknown or already finished");
                    return Ok(ExitCode::FAILURE);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Prints a finished run; success only when it completed.
fn finish(run: &RunRecord) -> anyhow::Result<ExitCode> {
    print_run(run);
    if let Some(result) = &run.result {
        println!("{}", serde_json::to_string_pretty(result)?);
    }
    if let Some(error) = &run.error {
        eprintln!("{error}");
    }
    Ok(if run.state == RunState::Completed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Runs a `deployment` command.
pub async fn deployment(
    settings: &Settings,
    command: &DeploymentCommand,
) -> anyhow::Result<ExitCode> {
    match command {
        DeploymentCommand::Ls => flow(settings, &FlowCommand::Ls).await,
        DeploymentCommand::Pause { name } | DeploymentCommand::Resume { name } => {
            let paused = matches!(command, DeploymentCommand::Pause { .. });
            if let Some(daemon) = DaemonClient::connect(settings).await? {
                let action = if paused { "pause" } else { "resume" };
                daemon
                    .post(
                        &format!("/api/v1/deployments/{name}/{action}"),
                        &serde_json::json!({}),
                    )
                    .await?;
                println!("{name} {}", if paused { "paused" } else { "resumed" });
                return Ok(ExitCode::SUCCESS);
            }
            let (store, _) = orchestrator(settings).await?;
            let found = store.set_deployment_paused(name, paused).await?;
            store.close().await;
            if !found {
                eprintln!("no deployment named `{name}`");
                return Ok(ExitCode::FAILURE);
            }
            println!("{name} {}", if paused { "paused" } else { "resumed" });
            Ok(ExitCode::SUCCESS)
        }
        DeploymentCommand::Next(arguments) => {
            let (store, orchestrator) = orchestrator(settings).await?;
            store.close().await;
            let Some(spec) = orchestrator.spec(&arguments.name) else {
                eprintln!("no deployment named `{}`", arguments.name);
                return Ok(ExitCode::FAILURE);
            };
            let schedule = spec.gated_schedule().map_err(anyhow::Error::msg)?;
            let after = arguments.after.unwrap_or_else(Utc::now);
            for tick in schedule.next_n(after, arguments.count) {
                println!(
                    "{}",
                    tick.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn open(settings: &Settings) -> anyhow::Result<Store> {
    Store::open(&settings.database, 2)
        .await
        .with_context(|| format!("opening the database at {}", settings.database))
}

async fn wait_for_end(store: &Store, id: i64) -> anyhow::Result<RunRecord> {
    loop {
        let run = store
            .run(id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("run {id} vanished"))?;
        if run.state.is_terminal() {
            return Ok(run);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
