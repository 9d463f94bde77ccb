//! The command line: the only module that knows clap. Each subcommand loads configuration, sets up
//! logging and calls into the library.

mod backtest;
mod client;
mod flow;
mod ingest;
mod risk;
mod script;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::config::{self, LogFormat, Overrides, Settings, Sources};
use crate::store::Store;
use crate::telemetry;

/// A host daemon for scripted trading: Rust supplies market data, brokers, risk and storage;
/// Rhai scripts hold the trading logic.
#[derive(Debug, Parser)]
#[command(name = "tradehost", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalOptions,
    #[command(subcommand)]
    command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
struct GlobalOptions {
    /// The project folder; relative paths in the configuration are resolved against it.
    #[arg(long, global = true, env = "TRADEHOST_ROOT", default_value = ".")]
    root: PathBuf,
    /// The configuration folder [default: <root>/config].
    #[arg(long, global = true, env = "TRADEHOST_CONFIG_DIR")]
    config_dir: Option<PathBuf>,
    /// Also read <config dir>/<ENV>.toml, e.g. `production`.
    #[arg(long = "env", global = true, env = "TRADEHOST_ENV")]
    environment: Option<String>,
    /// The database: sqlite:PATH or postgres://… (overrides configuration and DATABASE_URL).
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Log lines as readable text or as JSON objects.
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormatArgument>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormatArgument {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon: database, clock, market feed and API, until Ctrl-C or SIGTERM.
    Run(RunOptions),
    /// Load market data into the database.
    #[command(subcommand)]
    Ingest(IngestCommand),
    /// Database maintenance.
    #[command(subcommand)]
    Db(DbCommand),
    /// Compile and validate scripts as the daemon would on save; print each problem as
    /// file:line:column: message and exit 1 if there is any.
    Check(script::CheckArguments),
    /// Work with one script.
    #[command(subcommand)]
    Script(ScriptCommand),
    /// Flows and their runs.
    #[command(subcommand)]
    Flow(flow::FlowCommand),
    /// Deployments: the schedules of flows.
    #[command(subcommand)]
    Deployment(flow::DeploymentCommand),
    /// The risk engine: status and the kill switch.
    #[command(subcommand)]
    Risk(risk::RiskCommand),
    /// Run a strategy over stored or simulated history with the backtest broker and the live risk
    /// engine; print the metrics, write an HTML report and the trades (CSV, Parquet), store the run.
    Backtest(backtest::BacktestArguments),
}

#[derive(Debug, Subcommand)]
enum ScriptCommand {
    /// Call one function of a script once, in the daemon's sandbox, against the configured store
    /// and market, and print its result as JSON.
    Run(script::RunArguments),
}

/// Options of `tradehost run`.
#[derive(Debug, Args)]
struct RunOptions {
    /// Listen on this address (port 0 picks a free port) [default: server.bind, 127.0.0.1:8080].
    #[arg(long)]
    bind: Option<SocketAddr>,
    /// Run simulated time this many times faster than real time (simulated clock only).
    #[arg(long)]
    speed: Option<f64>,
}

#[derive(Debug, Subcommand)]
enum IngestCommand {
    /// Import bars from CSV files: Yahoo-style OHLCV, date + time intraday, or wide close-only
    /// files with one column per symbol. Bad rows are reported one by one; good rows are stored.
    /// Importing the same file again adds nothing.
    Csv(ingest::CsvArguments),
}

#[derive(Debug, Subcommand)]
enum DbCommand {
    /// Create the database if needed and apply pending migrations.
    Migrate,
    /// Write a consistent copy of the database (SQLite: VACUUM INTO, safe while the daemon runs;
    /// PostgreSQL: pg_dump's custom format).
    Backup {
        /// The file to write [default: <data>/backups/tradehost-<time>.db or .dump].
        #[arg(long)]
        to: Option<PathBuf>,
    },
    /// Replace the database with a backup (SQLite: stop the daemon first; PostgreSQL:
    /// pg_restore --clean).
    Restore {
        /// The backup file.
        file: PathBuf,
    },
}

/// Parses the command line and runs the command; the process's whole life.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", describe(&error));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, leaving out a cause whose text the message before it
/// already contains (drivers often repeat their source in their own message).
fn describe(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let message = cause.to_string();
        if !text.contains(&message) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&message);
        }
    }
    text
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let (bind, speed) = match &cli.command {
        Command::Run(options) => (options.bind, options.speed),
        _ => (None, None),
    };
    let overrides = Overrides {
        bind,
        speed,
        database_url: cli.global.database_url.clone(),
        log_format: cli.global.log_format.map(|format| match format {
            LogFormatArgument::Text => LogFormat::Text,
            LogFormatArgument::Json => LogFormat::Json,
        }),
    };
    let sources = Sources {
        root: cli.global.root.clone(),
        config_dir: cli.global.config_dir.clone(),
        environment: cli.global.environment.clone(),
    };
    let mut settings = config::load(&sources, &overrides).context("invalid configuration")?;
    if !matches!(cli.command, Command::Run(_)) && std::env::var_os("RUST_LOG").is_none() {
        // A one-off command prints its own results; the host's progress lines would bury them.
        // Scripts' own log lines still show.
        settings.config.log.level = "warn,tradehost::script::host::log=info".into();
    }
    let _logs = telemetry::init(&settings.config.log, settings.log_dir().as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Run(_) => run_daemon(&settings).await,
            Command::Ingest(IngestCommand::Csv(arguments)) => {
                ingest::csv(&settings, &arguments).await
            }
            Command::Db(DbCommand::Migrate) => migrate(&settings).await,
            Command::Db(DbCommand::Backup { to }) => backup(&settings, to.as_deref()).await,
            Command::Db(DbCommand::Restore { file }) => restore(&settings, &file).await,
            Command::Check(arguments) => script::check(&settings, &arguments).await,
            Command::Script(ScriptCommand::Run(arguments)) => {
                script::run(&settings, &arguments).await
            }
            Command::Flow(command) => flow::flow(&settings, &command).await,
            Command::Deployment(command) => flow::deployment(&settings, &command).await,
            Command::Risk(command) => risk::risk(&settings, &command).await,
            Command::Backtest(arguments) => backtest::backtest(&settings, &arguments).await,
        }
    })
}

async fn run_daemon(settings: &Settings) -> anyhow::Result<ExitCode> {
    let mut daemon = crate::app::start(settings).await?;
    tokio::select! {
        signal = shutdown_signal() => tracing::info!(signal, "shutdown requested"),
        task = daemon.failed() => tracing::error!(task, "a daemon task stopped unexpectedly"),
    }
    daemon.stop().await?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM, naming which.
async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = terminate.recv() => "SIGTERM",
            },
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops the daemon");
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

async fn backup(settings: &Settings, to: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    let store = Store::open(&settings.database, 2)
        .await
        .with_context(|| format!("opening the database at {}", settings.database))?;
    let path = match to {
        Some(path) => path.to_path_buf(),
        None => default_backup_path(settings, store.backend()),
    };
    anyhow::ensure!(
        !path.exists(),
        "{} already exists; a backup never overwrites a file",
        path.display()
    );
    let written = store.backup_to(&path).await.context("backing up")?;
    store.close().await;
    println!("{}", written.display());
    Ok(ExitCode::SUCCESS)
}

/// `<data>/backups/tradehost-YYYYMMDD-HHMMSS.{db,dump}`.
pub fn default_backup_path(settings: &Settings, backend: crate::store::BackendKind) -> PathBuf {
    let extension = match backend {
        crate::store::BackendKind::Sqlite => "db",
        crate::store::BackendKind::Postgres => "dump",
    };
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
    settings
        .data_dir()
        .join("backups")
        .join(format!("tradehost-{stamp}.{extension}"))
}

async fn restore(settings: &Settings, file: &std::path::Path) -> anyhow::Result<ExitCode> {
    if matches!(settings.database, config::DatabaseLocation::Sqlite(_)) {
        let running = tokio::time::timeout(
            std::time::Duration::from_millis(300),
            tokio::net::TcpStream::connect(settings.config.server.bind),
        )
        .await
        .is_ok_and(|connected| connected.is_ok());
        anyhow::ensure!(
            !running,
            "a daemon is listening on {}; stop it before restoring a SQLite database",
            settings.config.server.bind
        );
    }
    crate::store::restore(&settings.database, file)
        .await
        .context("restoring")?;
    let store = Store::open(&settings.database, 1)
        .await
        .context("opening the restored database")?;
    let bars = store.count_bars(None).await?;
    store.close().await;
    println!(
        "restored {} into {} ({bars} bars)",
        file.display(),
        settings.database
    );
    Ok(ExitCode::SUCCESS)
}

async fn migrate(settings: &Settings) -> anyhow::Result<ExitCode> {
    let store = Store::connect(&settings.database, 1)
        .await
        .with_context(|| format!("opening the database at {}", settings.database))?;
    let applied = store.migrate().await?;
    if applied.is_empty() {
        println!("{}: up to date", settings.database);
    } else {
        let versions: Vec<String> = applied.iter().map(ToString::to_string).collect();
        println!(
            "{}: applied migrations {}",
            settings.database,
            versions.join(", ")
        );
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn repeated_causes_are_printed_once() {
        let error = anyhow::anyhow!("role x does not exist")
            .context("database error: role x does not exist");
        let error = error.context("opening the database");
        assert_eq!(
            describe(&error),
            "opening the database: database error: role x does not exist"
        );
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
