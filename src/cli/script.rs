//! `tradehost check` and `tradehost script run`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::clock::Clock;
use crate::config::{ClockKind, Settings};
use crate::script::check::check_paths;
use crate::script::{ScriptKind, ScriptRuntime};
use crate::store::Store;

/// Arguments of `tradehost check`.
#[derive(Debug, Args)]
pub struct CheckArguments {
    /// Script files or folders [default: the scripts and strategies folders].
    paths: Vec<PathBuf>,
}

/// Arguments of `tradehost script run`.
#[derive(Debug, Args)]
pub struct RunArguments {
    /// The script file.
    path: PathBuf,
    /// The function to call [default: `run` for flows, `on_cycle` for strategies].
    #[arg(long = "fn")]
    function: Option<String>,
    /// A parameter passed in the argument map, as key=value; the value is read as JSON when it
    /// parses (numbers, booleans, arrays), else as text. Repeatable.
    #[arg(long = "param", value_parser = parse_param)]
    params: Vec<(String, serde_json::Value)>,
}

pub(super) fn parse_param(text: &str) -> Result<(String, serde_json::Value), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not key=value"))?;
    if key.is_empty() {
        return Err(format!("`{text}` has an empty key"));
    }
    let value =
        serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
    Ok((key.to_owned(), value))
}

pub(super) async fn runtime(
    settings: &Settings,
) -> anyhow::Result<(Store, std::sync::Arc<ScriptRuntime>, Clock)> {
    let store = Store::open(&settings.database, settings.config.database.max_connections)
        .await
        .with_context(|| format!("opening the database at {}", settings.database))?;
    // On simulated time, "now" for a one-off command starts at the end of the stored market data
    // and runs at real speed (a retry delay then passes as it would on the daemon at 1×).
    let clock = match settings.config.clock.mode {
        ClockKind::Real => Clock::real(),
        ClockKind::Simulated => {
            let symbols = crate::market::simulated::SimulatedConfig::default().symbols();
            let last = store
                .last_bars(&symbols, crate::domain::Timeframe::MINUTE)
                .await?;
            let end = last
                .values()
                .map(|bar| bar.time + chrono::Duration::minutes(1))
                .max();
            Clock::simulated(end.unwrap_or(settings.config.clock.start), 1.0)
        }
    };
    let folders = crate::script::ScriptFolders {
        scripts: settings.scripts_dir(),
        strategies: settings.strategies_dir(),
    };
    let host = crate::script::host::Host {
        store: store.clone(),
        clock: clock.clone(),
        runtime: tokio::runtime::Handle::current(),
    };
    let runtime = ScriptRuntime::new(folders, settings.config.scripts.limits.clone(), host)?;
    runtime
        .registry()
        .set_validator(crate::orchestrator::meta_validator());
    Ok((store, runtime, clock))
}

/// Checks scripts; exit status 1 when any has a problem.
pub async fn check(settings: &Settings, arguments: &CheckArguments) -> anyhow::Result<ExitCode> {
    let folders = crate::script::ScriptFolders {
        scripts: settings.scripts_dir(),
        strategies: settings.strategies_dir(),
    };
    let paths = if arguments.paths.is_empty() {
        vec![folders.scripts.clone(), folders.strategies.clone()]
    } else {
        arguments.paths.clone()
    };
    let absolute = crate::script::ScriptFolders {
        scripts: folders
            .scripts
            .canonicalize()
            .unwrap_or(folders.scripts.clone()),
        strategies: folders
            .strategies
            .canonicalize()
            .unwrap_or(folders.strategies.clone()),
    };
    let engine =
        crate::script::build_engine(&settings.config.scripts.limits, absolute.library_roots());
    let report = tokio::task::spawn_blocking(move || {
        check_paths(
            &engine,
            &absolute,
            Some(&crate::orchestrator::meta_validator()),
            &paths,
        )
    })
    .await?;
    for error in &report.errors {
        println!("{error}");
    }
    eprintln!(
        "checked {} files (and the configuration): {} with errors",
        report.checked.len(),
        report.errors.len()
    );
    Ok(if report.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Calls one function of one script and prints its result as JSON.
pub async fn run(settings: &Settings, arguments: &RunArguments) -> anyhow::Result<ExitCode> {
    let (store, runtime, _) = runtime(settings).await?;
    let source = std::fs::read_to_string(&arguments.path)
        .with_context(|| format!("reading {}", arguments.path.display()))?;
    let kind = if source.contains("fn on_cycle") && !source.contains("fn run(") {
        ScriptKind::Strategy
    } else {
        ScriptKind::Flow
    };
    let outcome = match runtime.compile_file(&arguments.path, kind) {
        Ok(compiled) => {
            let function = arguments
                .function
                .clone()
                .unwrap_or_else(|| kind.entry_point().0.to_owned());
            let params: serde_json::Map<String, serde_json::Value> =
                arguments.params.iter().cloned().collect();
            runtime
                .call_compiled(
                    std::sync::Arc::new(compiled),
                    &function,
                    serde_json::Value::Object(params),
                    crate::script::CallOptions::default(),
                )
                .await
                .map_err(|failure| failure.error)
        }
        Err(error) => Err(error),
    };
    store.close().await;
    match outcome {
        Ok(outcome) => {
            // The script's log lines were already printed through the log output.
            println!("{}", serde_json::to_string_pretty(&outcome.result)?);
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("{error}");
            Ok(ExitCode::FAILURE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_json_when_they_parse_and_text_otherwise() {
        assert_eq!(
            parse_param("window=20"),
            Ok(("window".into(), serde_json::json!(20)))
        );
        assert_eq!(
            parse_param("symbol=SIMA"),
            Ok(("symbol".into(), serde_json::json!("SIMA")))
        );
        assert_eq!(
            parse_param("pairs=[1,2]"),
            Ok(("pairs".into(), serde_json::json!([1, 2])))
        );
        assert!(parse_param("novalue").is_err());
        assert!(parse_param("=1").is_err());
    }
}
