//! `tradehost risk status|halt|resume`: the kill switch. With a daemon running, through its API
//! (the daemon's engine is the one that trades); without one, on the database and the broker
//! directly, and the daemon picks the state up when it starts.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::json;

use crate::clock::Clock;
use crate::config::Settings;
use crate::store::Store;

/// Risk commands.
#[derive(Debug, Subcommand)]
pub enum RiskCommand {
    /// Show the trading mode, limits, open orders and symbols blocked by reconciliation.
    Status,
    /// The kill switch: halt trading, cancel every open order, and with --flatten close every
    /// position. Trading stays halted until `tradehost risk resume`.
    Halt(HaltArguments),
    /// Lift a halt.
    Resume(ResumeArguments),
}

/// Arguments of `risk halt`.
#[derive(Debug, Args)]
pub struct HaltArguments {
    /// Why, for the record.
    #[arg(long)]
    reason: String,
    /// Also close every position with market orders.
    #[arg(long)]
    flatten: bool,
    /// Who [default: $USER].
    #[arg(long)]
    operator: Option<String>,
}

/// Arguments of `risk resume`.
#[derive(Debug, Args)]
pub struct ResumeArguments {
    /// Who [default: $USER].
    #[arg(long)]
    operator: Option<String>,
}

fn operator(given: Option<&String>) -> String {
    given
        .cloned()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "operator".to_owned())
}

/// Runs a `risk` command.
pub async fn risk(settings: &Settings, command: &RiskCommand) -> anyhow::Result<ExitCode> {
    if let Some(daemon) = super::client::DaemonClient::connect(settings).await? {
        let body = match command {
            RiskCommand::Status => daemon.get("/api/v1/risk").await?,
            RiskCommand::Halt(arguments) => {
                daemon
                    .post(
                        "/api/v1/risk/halt",
                        &json!({
                            "reason": arguments.reason,
                            "operator": operator(arguments.operator.as_ref()),
                            "flatten": arguments.flatten,
                        }),
                    )
                    .await?
            }
            RiskCommand::Resume(arguments) => {
                daemon
                    .post(
                        "/api/v1/risk/resume",
                        &json!({ "operator": operator(arguments.operator.as_ref()) }),
                    )
                    .await?
            }
        };
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(ExitCode::SUCCESS);
    }
    let store = Store::open(&settings.database, 2)
        .await
        .with_context(|| format!("opening the database at {}", settings.database))?;
    let clock = Clock::real();
    let trading = crate::trading::runner::open(settings, &store, &clock).await?;
    let desk = trading.desk;
    let value = match command {
        RiskCommand::Status => serde_json::to_value(desk.status().await?)?,
        RiskCommand::Halt(arguments) => serde_json::to_value(
            desk.halt(
                &arguments.reason,
                &operator(arguments.operator.as_ref()),
                arguments.flatten,
            )
            .await?,
        )?,
        RiskCommand::Resume(arguments) => {
            serde_json::to_value(desk.resume(&operator(arguments.operator.as_ref())).await?)?
        }
    };
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(ExitCode::SUCCESS)
}
