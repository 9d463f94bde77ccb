//! Storage: the only module that speaks SQL, on SQLite (the embedded default) and PostgreSQL.
//!
//! One [`Store`] value wraps either pool. Where the dialects agree, a query is written once and run
//! on whichever pool is present through [`on_pool!`]; where they differ (bulk inserts), each
//! backend has its own statement. Both backends share column names and types: timestamps are
//! BIGINT epoch milliseconds UTC, decimals are TEXT, JSON is TEXT.

mod audit;
mod backup;
mod bars;
mod flows;
mod indicators;
mod load_runs;
mod orders;
mod pairs;
mod paper;
mod quality;
mod query;
mod reconciliation;
mod risk;
mod runs;
mod scripts;

use std::str::FromStr;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

pub use audit::AuditEntry;
pub use backup::restore;
pub use bars::{BarInsert, BarQuery};
pub use flows::{EventRecord, TaskRunRecord};
pub use load_runs::{LoadRun, LoadRunStatus, LoadRunSummary};
pub use orders::{FillRecord, OPEN_STATUSES, OrderProgress, OrderRecord};
pub use pairs::{BacktestRunRecord, PairPerformanceRecord, SignalRecord, SpreadRecord};
pub use paper::{PaperAccountRecord, PaperExecutionRecord, PaperOrderRecord};
pub use quality::{QualityIssue, Severity};
pub use query::{MAX_QUERY_ROWS, QueryError};
pub use reconciliation::{MismatchRecord, PairTradeRecord};
pub use risk::{
    AlertRecord, DecisionRecord, NewDecision, PositionRecord, RiskEventRecord, SnapshotRecord,
};
pub use runs::{
    DeploymentRecord, NewRun, ReapedRun, RunEnding, RunLogRecord, RunNotifications, RunRecord,
    StateRecord,
};
pub use scripts::{ScriptVersionRecord, VersionStatus};

use crate::config::DatabaseLocation;

/// Storage failures. Messages never contain credentials.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database refused or failed a query, or the connection broke.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed or the database has migrations this binary does not know.
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// The SQLite file's folder could not be created.
    #[error("cannot create the database folder {path}: {source}")]
    Folder {
        /// The folder.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// An outside tool (pg_dump, pg_restore) or a backup file failed.
    #[error("{tool}: {detail}")]
    Tool {
        /// The tool or step.
        tool: &'static str,
        /// What it said.
        detail: String,
    },
    /// A row with this key exists (a ledger in memory says so as the database's key would).
    #[error("{table} already has {key}")]
    Duplicate {
        /// The table.
        table: &'static str,
        /// The key.
        key: String,
    },
    /// A stored value does not parse back into its domain type: the row was written by something
    /// other than this store, or by a newer version.
    #[error("corrupt value in {table}.{column}: {message}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// The column.
        column: &'static str,
        /// What did not parse.
        message: String,
    },
}

/// A shorthand for store results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which database is behind a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

#[derive(Debug, Clone)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The database handle shared by the whole host. Cloning shares the pool.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    /// SQLite only: the file, for the read-only pool opened on first use.
    sqlite_path: Option<std::path::PathBuf>,
    /// PostgreSQL only: the connection URL, for `pg_dump` (never logged: it may hold a password).
    postgres_url: Option<ConnectionUrl>,
    read_only: std::sync::Arc<tokio::sync::OnceCell<SqlitePool>>,
    /// Announces each committed change to live subscribers (the API's event stream). The store
    /// publishes because every write passes through it: no writer can forget to announce.
    events: crate::events::Bus,
}

/// A connection URL that may hold a password: its `Debug` shows it redacted.
#[derive(Clone)]
struct ConnectionUrl(String);

impl std::fmt::Debug for ConnectionUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::config::redact_url(&self.0))
    }
}

/// Runs the same expression with `$pool` bound to whichever pool the store has. Each arm is
/// compiled separately, so the body may use anything both `SqlitePool` and `PgPool` support.
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite($pool) => $body,
            $crate::store::Backend::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A SQLite file (created with its folder if missing) with what every use of it needs: a wait
/// rather than an error while another connection writes, and enforced foreign keys. The journal
/// and sync modes are the caller's.
fn sqlite_file(path: &std::path::Path) -> Result<SqliteConnectOptions> {
    create_parent_folder(path)?;
    Ok(SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true))
}

impl Store {
    /// Opens the database (creating a SQLite file and its folder if needed). Does not migrate.
    pub async fn connect(location: &DatabaseLocation, max_connections: u32) -> Result<Self> {
        let backend = match location {
            DatabaseLocation::Sqlite(path) => {
                // WAL lets readers run beside the one writer; NORMAL sync in WAL mode keeps every
                // committed transaction across a process crash (only an OS crash can lose the
                // last ones), at a fraction of FULL's fsync cost.
                let options = sqlite_file(path)?
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal);
                let pool = SqlitePoolOptions::new()
                    .max_connections(max_connections)
                    .connect_with(options)
                    .await?;
                Backend::Sqlite(pool)
            }
            DatabaseLocation::Postgres(url) => {
                let options = PgConnectOptions::from_str(url)?.application_name("tradehost");
                let pool = PgPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await?;
                Backend::Postgres(pool)
            }
        };
        let sqlite_path = match location {
            DatabaseLocation::Sqlite(path) => Some(path.clone()),
            DatabaseLocation::Postgres(_) => None,
        };
        let postgres_url = match location {
            DatabaseLocation::Postgres(url) => Some(ConnectionUrl(url.clone())),
            DatabaseLocation::Sqlite(_) => None,
        };
        Ok(Self {
            backend,
            sqlite_path,
            postgres_url,
            read_only: Default::default(),
            events: crate::events::Bus::new(),
        })
    }

    /// Opens (creating) and migrates a private SQLite database that only this process uses and
    /// that is worthless after a crash: a backtest's scratch database for its desk. Two
    /// connections, the rollback journal in memory and no syncing, so a write costs no disk wait.
    /// Never for the daemon's database, whose every commit must survive a crash.
    pub async fn open_scratch(path: &std::path::Path) -> Result<Self> {
        let options = sqlite_file(path)?
            .journal_mode(SqliteJournalMode::Memory)
            .synchronous(SqliteSynchronous::Off);
        // Two connections: sqlx pings a connection on its way back to the pool (a round trip to
        // its thread), and with a second one the next statement need not wait for that. No ping
        // before each acquire as well: a local file that this process alone opened does not
        // hang up, which is what that ping guards against on a server.
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        let store = Self {
            backend: Backend::Sqlite(pool),
            sqlite_path: Some(path.to_path_buf()),
            postgres_url: None,
            read_only: Default::default(),
            events: crate::events::Bus::new(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// The bus on which this store announces what it commits.
    pub fn events(&self) -> &crate::events::Bus {
        &self.events
    }

    /// Opens the database and applies pending migrations: what the daemon does at start.
    pub async fn open(location: &DatabaseLocation, max_connections: u32) -> Result<Self> {
        let store = Self::connect(location, max_connections).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Applies pending migrations and returns the versions applied now. PostgreSQL takes an
    /// advisory lock meanwhile, so several daemons starting together migrate once.
    pub async fn migrate(&self) -> Result<Vec<i64>> {
        let before = self.applied_migrations().await;
        match &self.backend {
            Backend::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
            Backend::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        let after = self.applied_migrations().await;
        Ok(after
            .into_iter()
            .filter(|version| !before.contains(version))
            .collect())
    }

    /// The migration versions recorded as applied; empty before the first migration (when sqlx's
    /// bookkeeping table does not exist yet).
    async fn applied_migrations(&self) -> Vec<i64> {
        let versions = on_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
            )
            .fetch_all(pool)
            .await
        });
        versions.unwrap_or_default()
    }

    /// Which database this is.
    pub fn backend(&self) -> BackendKind {
        match self.backend {
            Backend::Sqlite(_) => BackendKind::Sqlite,
            Backend::Postgres(_) => BackendKind::Postgres,
        }
    }

    /// Runs a trivial query and reports how long the round trip took.
    pub async fn ping(&self) -> Result<Duration> {
        let started = Instant::now();
        on_pool!(self, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(started.elapsed())
    }

    /// Waits for open connections to finish and closes the pool (SQLite checkpoints its WAL).
    pub async fn close(&self) {
        if let Some(pool) = self.read_only.get() {
            pool.close().await;
        }
        on_pool!(self, |pool| pool.close().await);
    }

    /// SQLite's read-only pool: connections opened with `SQLITE_OPEN_READONLY`, so no statement
    /// run on them can write, whatever its text.
    async fn read_only_pool(&self) -> Result<SqlitePool> {
        let path = self.sqlite_path.clone().ok_or_else(|| Error::Corrupt {
            table: "-",
            column: "-",
            message: "a read-only SQLite pool was asked of a PostgreSQL store".into(),
        })?;
        let pool = self
            .read_only
            .get_or_try_init(|| async move {
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .read_only(true)
                    .busy_timeout(Duration::from_secs(10));
                SqlitePoolOptions::new()
                    .max_connections(2)
                    .connect_with(options)
                    .await
            })
            .await?;
        Ok(pool.clone())
    }
}

/// Creates the folder a database or backup file goes in.
pub(crate) fn create_parent_folder(path: &std::path::Path) -> Result<()> {
    match path
        .parent()
        .filter(|folder| !folder.as_os_str().is_empty())
    {
        Some(folder) => std::fs::create_dir_all(folder).map_err(|source| Error::Folder {
            path: folder.to_path_buf(),
            source,
        }),
        None => Ok(()),
    }
}

/// `'a', 'b'` for a SQL `IN (…)` of fixed status names (quotes stripped: these come from code,
/// never from users, but a stray quote must not break the statement).
pub(crate) fn in_list(values: &[&str]) -> String {
    values
        .iter()
        .map(|value| format!("'{}'", value.replace('\'', "")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Milliseconds since the epoch, the storage form of every timestamp.
pub(crate) fn to_millis(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

/// The inverse of [`to_millis`]; out-of-range values are corrupt rows.
pub(crate) fn from_millis(
    table: &'static str,
    column: &'static str,
    millis: i64,
) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(millis).ok_or_else(|| Error::Corrupt {
        table,
        column,
        message: format!("{millis} is not a timestamp"),
    })
}

/// Parses a stored text value back into its domain type.
pub(crate) fn parse_column<T: FromStr>(
    table: &'static str,
    column: &'static str,
    text: &str,
) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|error: T::Err| Error::Corrupt {
        table,
        column,
        message: format!("`{text}`: {error}"),
    })
}
