//! Configuration: embedded defaults, project files and environment, validated once at start.
//!
//! Layers, later ones winning: the `config/default.toml` compiled into the binary; the project's
//! `<config dir>/default.toml`; `<config dir>/<environment>.toml` when an environment is named;
//! `TRADEHOST_<SECTION>__<KEY>` variables; `DATABASE_URL`. Unknown keys are errors in every layer,
//! and every error names the key, the file or variable it came from, and what is wrong.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// The defaults shipped in the binary.
pub const EMBEDDED_DEFAULTS: &str = include_str!("../config/default.toml");

/// Environment variables read by the loader itself (or, `failpoint`, by the crash tests' hook in
/// `trading`) rather than as configuration keys.
const LOADER_VARIABLES: [&str; 7] = [
    "env",
    "root",
    "config_dir",
    "shared_data",
    "failpoint",
    // API keys are secrets: read by `api::auth` from the environment only, never from files.
    "admin_key",
    "read_key",
];

/// Everything that can go wrong while loading configuration, with the place to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Parsing or type errors reported by the layers (figment names key and source).
    #[error("{0}")]
    Load(String),
    /// A value that parses but is not acceptable.
    #[error("{key} (from {origin}): {message}")]
    Invalid {
        /// The dotted key, e.g. `clock.speed`.
        key: String,
        /// Where the value came from: a file path, an environment variable or a default.
        origin: String,
        /// What is wrong and what is expected.
        message: String,
    },
    /// An environment file that was named but does not exist.
    #[error("environment `{environment}` names {path}, which does not exist")]
    MissingEnvironment {
        /// The environment's name.
        environment: String,
        /// The file looked for.
        path: PathBuf,
    },
}

/// Where the loader looks, chosen before any configuration is read (command line or environment).
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The project root; relative paths in the configuration are resolved against it.
    pub root: PathBuf,
    /// The configuration folder; `<root>/config` when not given.
    pub config_dir: Option<PathBuf>,
    /// An environment name selecting `<config dir>/<name>.toml`.
    pub environment: Option<String>,
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Project folders.
    pub paths: PathsConfig,
    /// The database connection.
    pub database: DatabaseConfig,
    /// The HTTP server.
    pub server: ServerConfig,
    /// Real or simulated time.
    pub clock: ClockConfig,
    /// Market data.
    pub market: MarketConfig,
    /// Where orders go.
    pub broker: BrokerConfig,
    /// The order desk: pair legs, submission and reconciliation.
    pub trading: TradingConfig,
    /// Logging.
    pub log: LogConfig,
    /// The script sandbox.
    pub scripts: ScriptsConfig,
    /// The flow orchestrator.
    pub orchestrator: OrchestratorConfig,
}

/// The flow orchestrator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrchestratorConfig {
    /// Flow runs one daemon executes at once.
    pub max_parallel_runs: usize,
    /// How long a worker's claim on a run holds without renewal (real seconds); a run whose
    /// worker died becomes Crashed this long after.
    pub lease_seconds: f64,
    /// How often the loop looks for work created elsewhere (real milliseconds).
    pub poll_ms: u64,
    /// Flows that get no deployment in this environment.
    #[serde(default)]
    pub disabled: Vec<String>,
    /// Deployment settings that override a flow's `meta()` here, by flow name, e.g.
    /// `[orchestrator.overrides.validate_data_quality] timeout_seconds = 60`.
    #[serde(default)]
    pub overrides: std::collections::BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
}

/// The script sandbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptsConfig {
    /// Limits every script call runs under.
    pub limits: crate::script::Limits,
}

/// Project folders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathsConfig {
    /// Where the SQLite database, keys and logs live by default.
    pub data: PathBuf,
    /// Flow scripts.
    pub scripts: PathBuf,
    /// Strategy scripts.
    pub strategies: PathBuf,
}

/// The database connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite:PATH` or `postgres://…`.
    pub url: String,
    /// Connection pool size.
    pub max_connections: u32,
}

/// The HTTP server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port to listen on; port 0 picks a free port.
    pub bind: SocketAddr,
    /// Requests per second allowed to each API key and to each client address.
    pub rate_limit_per_second: u32,
    /// Requests a key or address may send at once above the steady rate.
    pub rate_limit_burst: u32,
    /// The largest request body accepted, in bytes.
    pub body_limit_bytes: usize,
}

/// Which clock drives the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockKind {
    /// Wall-clock time.
    Real,
    /// Simulated time.
    Simulated,
}

/// Real or simulated time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockConfig {
    /// Real or simulated.
    pub mode: ClockKind,
    /// Where simulated time starts on an empty database.
    pub start: DateTime<Utc>,
    /// Simulated seconds per real second.
    pub speed: f64,
}

/// Which market-data provider feeds the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// The built-in seeded market.
    Simulated,
    /// Alpaca's market-data API at `broker.alpaca.data_url`.
    Alpaca,
}

/// Which broker receives orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BrokerKind {
    /// The built-in paper broker, persisted in the database.
    Paper,
    /// Alpaca through apca.
    Alpaca,
}

/// Where orders go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerConfig {
    /// The broker.
    pub kind: BrokerKind,
    /// The paper broker's account and fill model.
    pub paper: PaperConfig,
    /// Alpaca's endpoints and client behaviour; keys come only from the environment.
    pub alpaca: AlpacaConfig,
}

/// The paper broker's account and fill model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaperConfig {
    /// Cash the account starts with on a fresh database.
    pub initial_cash: rust_decimal::Decimal,
    /// Commission per share.
    pub commission_per_share: rust_decimal::Decimal,
    /// Smallest commission per execution.
    pub commission_minimum: rust_decimal::Decimal,
    /// Slippage against the order, in basis points of the fill price.
    pub slippage_bps: rust_decimal::Decimal,
    /// Largest share of one bar's volume an order may take (0 < x ≤ 1).
    pub participation_rate: rust_decimal::Decimal,
    /// Symbols that may be sold short; empty allows every symbol.
    pub shortable: Vec<String>,
}

/// What reconciliation does about a mismatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MismatchPolicy {
    /// Take the broker's view into the local records; the symbol stays blocked until a later
    /// reconciliation finds it consistent.
    Adopt,
    /// Record it and go on; nothing is blocked.
    Ignore,
    /// Close the broker's position; blocked until a later reconciliation finds it flat.
    Flatten,
    /// Halt all trading; blocked until an operator resolves it.
    Halt,
}

/// The order desk: pair legs, submission and reconciliation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TradingConfig {
    /// Both legs of a pair trade must fill within this many seconds, or the filled leg is
    /// flattened.
    pub pair_leg_timeout_seconds: u64,
    /// Sends of one intent before the desk gives up and leaves it for recovery.
    pub submit_attempts: u32,
    /// Reconciliation policies.
    pub reconciliation: ReconciliationConfig,
}

/// Reconciliation policies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconciliationConfig {
    /// For symbols without their own policy.
    pub default_policy: MismatchPolicy,
    /// For a cash difference.
    pub cash_policy: MismatchPolicy,
    /// A cash difference up to this is not a mismatch (rounding at the broker).
    pub cash_tolerance: rust_decimal::Decimal,
    /// Per-symbol policies.
    pub policies: std::collections::BTreeMap<String, MismatchPolicy>,
}

/// Alpaca's endpoints and client behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlpacaConfig {
    /// The trading API; the paper endpoint unless `live` is set.
    pub trading_url: String,
    /// The market-data API (apca hard-codes Alpaca's; ours honours this).
    pub data_url: String,
    /// Must be set to trade against a live account; a live URL without it is refused.
    pub live: bool,
    /// Per-request timeout in milliseconds.
    pub timeout_ms: u64,
    /// Retries of a transient failure (429, 5xx, timeout, dropped connection).
    pub max_retries: u32,
    /// The data feed for bars: "iex" or "sip".
    pub feed: String,
}

/// Market data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketConfig {
    /// The provider.
    pub provider: ProviderKind,
    /// The simulated market's seed.
    pub seed: u64,
    /// The symbols a real provider (Alpaca) fetches bars for.
    pub symbols: Vec<String>,
    /// On a fresh database, the simulated market starts this many days before `clock.start`, so
    /// strategies find history (500 hourly bars need about 80 trading days) from the first cycle.
    pub history_days: u32,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Logging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// Text or JSON.
    pub format: LogFormat,
    /// A tracing filter directive.
    pub level: String,
    /// A folder for daily-rotated log files, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<PathBuf>,
    /// How many daily files to keep.
    pub retention_days: usize,
}

/// Where the database lives, resolved from `database.url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseLocation {
    /// A SQLite file (created on first use).
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL.
    Postgres(String),
}

impl fmt::Display for DatabaseLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            // Never print credentials: keep scheme, host and database only.
            Self::Postgres(url) => f.write_str(&redact_url(url)),
        }
    }
}

/// Replaces the password of a `scheme://user:password@host/…` URL with `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    }
}

/// A loaded and validated configuration with its paths resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The configuration as loaded.
    pub config: Config,
    /// The project root.
    pub root: PathBuf,
    /// The configuration folder.
    pub config_dir: PathBuf,
    /// The resolved database.
    pub database: DatabaseLocation,
}

impl Settings {
    /// The data folder, resolved.
    pub fn data_dir(&self) -> PathBuf {
        self.root.join(&self.config.paths.data)
    }

    /// The flow scripts folder, resolved.
    pub fn scripts_dir(&self) -> PathBuf {
        self.root.join(&self.config.paths.scripts)
    }

    /// The strategies folder, resolved.
    pub fn strategies_dir(&self) -> PathBuf {
        self.root.join(&self.config.paths.strategies)
    }

    /// The log folder, resolved, if file logging is on.
    pub fn log_dir(&self) -> Option<PathBuf> {
        self.config
            .log
            .directory
            .as_ref()
            .map(|directory| self.root.join(directory))
    }
}

/// Loads every layer and validates the result. `overrides` (from the command line) win over all.
pub fn load(sources: &Sources, overrides: &Overrides) -> Result<Settings, ConfigError> {
    let config_dir = sources
        .config_dir
        .clone()
        .unwrap_or_else(|| sources.root.join("config"));
    let mut figment = Figment::new().merge(Toml::string(EMBEDDED_DEFAULTS));
    let project_defaults = config_dir.join("default.toml");
    if project_defaults.is_file() {
        figment = figment.merge(Toml::file_exact(&project_defaults));
    }
    if let Some(environment) = &sources.environment {
        let path = config_dir.join(format!("{environment}.toml"));
        if !path.is_file() {
            return Err(ConfigError::MissingEnvironment {
                environment: environment.clone(),
                path,
            });
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    figment = figment
        .merge(
            Env::prefixed("TRADEHOST_")
                .split("__")
                .ignore(&LOADER_VARIABLES),
        )
        .merge(
            Env::raw()
                .only(&["database_url"])
                .map(|_| "database.url".into()),
        );
    figment = overrides.apply(figment);
    let config: Config = figment.extract().map_err(|error| {
        ConfigError::Load(
            error
                .into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        )
    })?;
    validate(config, &figment, sources.root.clone(), config_dir)
}

/// Values given on the command line, applied last.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--bind`.
    pub bind: Option<SocketAddr>,
    /// `--speed`.
    pub speed: Option<f64>,
    /// `--database-url`.
    pub database_url: Option<String>,
    /// `--log-format`.
    pub log_format: Option<LogFormat>,
}

impl Overrides {
    fn apply(&self, mut figment: Figment) -> Figment {
        if let Some(bind) = self.bind {
            figment = figment.merge(Serialized::default("server.bind", bind));
        }
        if let Some(speed) = self.speed {
            figment = figment.merge(Serialized::default("clock.speed", speed));
        }
        if let Some(url) = &self.database_url {
            figment = figment.merge(Serialized::default("database.url", url));
        }
        if let Some(format) = self.log_format {
            figment = figment.merge(Serialized::default("log.format", format));
        }
        figment
    }
}

fn validate(
    config: Config,
    figment: &Figment,
    root: PathBuf,
    config_dir: PathBuf,
) -> Result<Settings, ConfigError> {
    let invalid = |key: &str, message: String| ConfigError::Invalid {
        key: key.to_owned(),
        origin: source_of(figment, key),
        message,
    };
    let speed = config.clock.speed;
    if !(speed.is_finite() && speed > 0.0) {
        return Err(invalid(
            "clock.speed",
            format!("must be a number above zero, got {speed}"),
        ));
    }
    if config.clock.mode == ClockKind::Real && speed != 1.0 {
        return Err(invalid(
            "clock.speed",
            format!("{speed}× needs clock.mode = \"simulated\"; real time runs at 1×"),
        ));
    }
    if config.database.max_connections == 0 {
        return Err(invalid(
            "database.max_connections",
            "must be at least 1".into(),
        ));
    }
    let limits = &config.scripts.limits;
    for (key, value) in [
        ("scripts.limits.max_operations", limits.max_operations),
        ("scripts.limits.timeout_ms", limits.timeout_ms),
        (
            "scripts.limits.max_call_depth",
            limits.max_call_depth as u64,
        ),
        (
            "scripts.limits.max_string_size",
            limits.max_string_size as u64,
        ),
        (
            "scripts.limits.max_array_size",
            limits.max_array_size as u64,
        ),
        ("scripts.limits.max_map_size", limits.max_map_size as u64),
    ] {
        if value == 0 {
            // Zero means "unlimited" to Rhai: never what a sandbox wants.
            return Err(invalid(
                key,
                "must be at least 1 (0 would mean unlimited)".into(),
            ));
        }
    }
    if config.orchestrator.max_parallel_runs == 0 {
        return Err(invalid(
            "orchestrator.max_parallel_runs",
            "must be at least 1".into(),
        ));
    }
    if !(config.orchestrator.lease_seconds.is_finite() && config.orchestrator.lease_seconds >= 1.0)
    {
        return Err(invalid(
            "orchestrator.lease_seconds",
            format!(
                "must be at least 1 second, got {}",
                config.orchestrator.lease_seconds
            ),
        ));
    }
    if config.orchestrator.poll_ms == 0 {
        return Err(invalid("orchestrator.poll_ms", "must be at least 1".into()));
    }
    for (flow, settings) in &config.orchestrator.overrides {
        let key = format!("orchestrator.overrides.{flow}");
        if let Err(message) = crate::orchestrator::deployment::DeploymentSpec::from_meta(settings) {
            return Err(invalid(&key, message));
        }
    }
    if config.log.retention_days == 0 {
        return Err(invalid("log.retention_days", "must be at least 1".into()));
    }
    if let Err(error) = tracing_subscriber::EnvFilter::try_new(&config.log.level) {
        return Err(invalid(
            "log.level",
            format!("`{}` is not a log filter: {error}", config.log.level),
        ));
    }
    for symbol in &config.market.symbols {
        if let Err(error) = crate::domain::Symbol::parse(symbol) {
            return Err(invalid("market.symbols", format!("`{symbol}`: {error}")));
        }
    }
    let database = resolve_database(&config.database.url, &root)
        .map_err(|message| invalid("database.url", message))?;
    Ok(Settings {
        config,
        root,
        config_dir,
        database,
    })
}

fn resolve_database(url: &str, root: &Path) -> Result<DatabaseLocation, String> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(DatabaseLocation::Postgres(url.to_owned()));
    }
    let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        return Err(format!(
            "`{}` is neither sqlite:PATH nor postgres://…",
            redact_url(url)
        ));
    };
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Err(
            "a SQLite database needs a file path (the daemon keeps its state in it)".into(),
        );
    }
    Ok(DatabaseLocation::Sqlite(root.join(path)))
}

/// Names the layer a key's value came from, for error messages.
fn source_of(figment: &Figment, key: &str) -> String {
    match figment.find_metadata(key) {
        Some(metadata) => match &metadata.source {
            Some(source) => format!("{} {source}", metadata.name),
            None => metadata.name.to_string(),
        },
        None => "built-in defaults".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
        let root = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(root.path().join("config")).expect("config dir");
        for (name, text) in files {
            std::fs::write(root.path().join("config").join(name), text).expect("write");
        }
        root
    }

    fn load_from(root: &Path, environment: Option<&str>) -> Result<Settings, ConfigError> {
        let sources = Sources {
            root: root.to_path_buf(),
            config_dir: None,
            environment: environment.map(str::to_owned),
        };
        load(&sources, &Overrides::default())
    }

    // Environment variables are process-wide; these tests only read the defaults and never set
    // TRADEHOST_* variables, so they can run in parallel with each other.

    #[test]
    fn embedded_defaults_load_on_an_empty_project() {
        let root = project(&[]);
        let settings = load_from(root.path(), None).expect("defaults are valid");
        assert_eq!(settings.config.server.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(
            settings.database,
            DatabaseLocation::Sqlite(root.path().join("data/tradehost.db"))
        );
        assert_eq!(settings.config.clock.mode, ClockKind::Simulated);
    }

    #[test]
    fn project_and_environment_files_override_in_order() {
        let root = project(&[
            (
                "default.toml",
                "[server]\nbind = \"127.0.0.1:9000\"\n[market]\nseed = 7\n",
            ),
            ("staging.toml", "[server]\nbind = \"127.0.0.1:9100\"\n"),
        ]);
        let settings = load_from(root.path(), Some("staging")).expect("valid");
        assert_eq!(settings.config.server.bind.port(), 9100);
        assert_eq!(settings.config.market.seed, 7);
    }

    #[test]
    fn an_unknown_key_is_an_error_naming_the_key_and_file() {
        let root = project(&[("default.toml", "[server]\nbnid = \"127.0.0.1:9000\"\n")]);
        let message = load_from(root.path(), None).expect_err("typo").to_string();
        assert!(message.contains("bnid"), "{message}");
        assert!(message.contains("default.toml"), "{message}");
    }

    #[test]
    fn a_wrong_type_is_an_error_naming_the_key_and_file() {
        let root = project(&[("default.toml", "[database]\nmax_connections = \"many\"\n")]);
        let message = load_from(root.path(), None)
            .expect_err("wrong type")
            .to_string();
        assert!(message.contains("max_connections"), "{message}");
        assert!(message.contains("default.toml"), "{message}");
    }

    #[test]
    fn an_invalid_value_names_the_key_the_file_and_the_problem() {
        let root = project(&[("default.toml", "[clock]\nspeed = -5.0\n")]);
        let error = load_from(root.path(), None).expect_err("negative speed");
        let message = error.to_string();
        assert!(message.starts_with("clock.speed (from "), "{message}");
        assert!(message.contains("default.toml"), "{message}");
        assert!(message.contains("above zero"), "{message}");
    }

    #[test]
    fn acceleration_is_refused_on_real_time() {
        let root = project(&[("default.toml", "[clock]\nmode = \"real\"\nspeed = 10.0\n")]);
        let message = load_from(root.path(), None)
            .expect_err("real and fast")
            .to_string();
        assert!(message.contains("simulated"), "{message}");
    }

    #[test]
    fn a_missing_environment_file_is_an_error() {
        let root = project(&[]);
        assert!(matches!(
            load_from(root.path(), Some("production")),
            Err(ConfigError::MissingEnvironment { .. })
        ));
    }

    #[test]
    fn database_urls_resolve_and_passwords_are_never_shown() {
        let root = Path::new("/project");
        assert_eq!(
            resolve_database("sqlite:db/x.db", root),
            Ok(DatabaseLocation::Sqlite(root.join("db/x.db")))
        );
        assert!(resolve_database("mysql://x", root).is_err());
        assert!(resolve_database("sqlite::memory:", root).is_err());
        let location =
            resolve_database("postgres://trader:hunter2@db:5432/prod", root).expect("valid");
        assert_eq!(location.to_string(), "postgres://trader:***@db:5432/prod");
    }

    #[test]
    fn deployment_overrides_are_validated_like_a_flows_metadata() {
        let good = project(&[(
            "default.toml",
            "[orchestrator.overrides.report]\ntimeout_seconds = 60\n",
        )]);
        let settings = load_from(good.path(), None).expect("valid override");
        assert_eq!(
            settings.config.orchestrator.overrides["report"]["timeout_seconds"],
            60
        );
        let bad = project(&[(
            "default.toml",
            "[orchestrator.overrides.report]\nschedules = [{ cron = \"61 * * * *\" }]\n",
        )]);
        let message = load_from(bad.path(), None)
            .expect_err("bad cron")
            .to_string();
        assert!(
            message.starts_with("orchestrator.overrides.report (from "),
            "{message}"
        );
        assert!(message.contains("61 * * * *"), "{message}");
    }

    #[test]
    fn command_line_overrides_win() {
        let root = project(&[("default.toml", "[clock]\nspeed = 2.0\n")]);
        let sources = Sources {
            root: root.path().to_path_buf(),
            ..Sources::default()
        };
        let overrides = Overrides {
            speed: Some(600.0),
            ..Overrides::default()
        };
        let settings = load(&sources, &overrides).expect("valid");
        assert_eq!(settings.config.clock.speed, 600.0);
    }
}
