//! Script projects for tests: a temporary folder with `scripts/` and `strategies/`, a fresh SQLite
//! store, a paused clock, and the real script runtime over them.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tradehost::clock::Clock;
use tradehost::script::host::Host;
use tradehost::script::{
    CallError, CallOutcome, Limits, ScriptError, ScriptFolders, ScriptRuntime,
};
use tradehost::store::Store;

use super::TestDatabase;

/// A project folder, its database and clock, and a runtime serving its scripts.
pub struct ScriptProject {
    /// The database scripts read and write.
    pub database: TestDatabase,
    /// The host clock, paused.
    pub clock: Clock,
    /// The runtime under test.
    pub runtime: Arc<ScriptRuntime>,
    folders: ScriptFolders,
    _folder: tempfile::TempDir,
}

impl ScriptProject {
    /// An empty project on a fresh SQLite database, the clock paused at `now`.
    pub async fn new(limits: Limits, now: DateTime<Utc>) -> Self {
        let folder = tempfile::tempdir().expect("temporary project folder");
        let database = super::sqlite().await;
        let clock = Clock::manual(now);
        let folders = ScriptFolders {
            scripts: folder.path().join("scripts"),
            strategies: folder.path().join("strategies"),
        };
        let runtime = runtime_over(&folders, limits, database.store.clone(), &clock);
        // The runtime made the folders absolute; paths written from here on match its labels.
        let folders = runtime.registry().folders().clone();
        std::fs::create_dir_all(folders.scripts.join("lib")).expect("scripts/lib folder");
        std::fs::create_dir_all(folders.strategies.join("lib")).expect("strategies/lib folder");
        Self {
            database,
            clock,
            runtime,
            folders,
            _folder: folder,
        }
    }

    /// Writes `scripts/<name>.rhai` and returns its path (the label errors carry).
    pub fn write_flow(&self, name: &str, source: &str) -> PathBuf {
        let path = self.folders.scripts.join(format!("{name}.rhai"));
        std::fs::write(&path, source).expect("write the flow");
        path
    }

    /// Writes `strategies/<name>.rhai` and returns its path.
    pub fn write_strategy(&self, name: &str, source: &str) -> PathBuf {
        let path = self.folders.strategies.join(format!("{name}.rhai"));
        std::fs::write(&path, source).expect("write the strategy");
        path
    }

    /// Writes `scripts/lib/<name>.rhai` and returns its path.
    pub fn write_library(&self, name: &str, source: &str) -> PathBuf {
        let path = self
            .folders
            .scripts
            .join("lib")
            .join(format!("{name}.rhai"));
        std::fs::write(&path, source).expect("write the library");
        path
    }

    /// The label errors of `scripts/<name>.rhai` start with.
    pub fn flow_label(&self, name: &str) -> String {
        self.folders
            .scripts
            .join(format!("{name}.rhai"))
            .display()
            .to_string()
    }

    /// Loads every script, as the daemon does at start.
    pub async fn load(&self) {
        self.runtime
            .registry()
            .load_all()
            .await
            .expect("recording script versions in the store");
    }

    /// Why loading `name` was refused; panics when it was not.
    pub fn load_error(&self, name: &str) -> ScriptError {
        self.runtime
            .registry()
            .outcomes()
            .into_iter()
            .find(|outcome| outcome.name == name)
            .unwrap_or_else(|| panic!("no load outcome for `{name}`"))
            .error
            .unwrap_or_else(|| panic!("`{name}` loaded, but it should have been refused"))
    }

    /// Calls `run({})` of flow `name` and measures how long the call took.
    pub async fn run(&self, name: &str) -> (Result<CallOutcome, CallError>, Duration) {
        let started = Instant::now();
        let result = self.runtime.call(name, "run", serde_json::json!({})).await;
        (result, started.elapsed())
    }

    /// Calls `run({})` of flow `name`, expecting success, and returns its result.
    pub async fn run_ok(&self, name: &str) -> serde_json::Value {
        match self.run(name).await.0 {
            Ok(outcome) => outcome.result,
            Err(failure) => panic!("`{name}` failed: {failure}"),
        }
    }

    /// Calls `run({})` of flow `name`, expecting failure, and returns the error and the time taken.
    pub async fn run_err(&self, name: &str) -> (ScriptError, Duration) {
        match self.run(name).await {
            (Ok(outcome), _) => panic!("`{name}` should have failed; it returned {outcome:?}"),
            (Err(failure), elapsed) => (failure.error, elapsed),
        }
    }

    /// A second runtime over the same folders, limits and clock, on a new connection to the same
    /// database file: what the daemon has after a restart. Scripts are loaded.
    pub async fn restart(&self) -> Arc<ScriptRuntime> {
        let store = Store::open(&self.database.location, 2)
            .await
            .expect("reopen the database");
        let runtime = runtime_over(
            &self.folders,
            self.runtime.limits().clone(),
            store,
            &self.clock,
        );
        runtime
            .registry()
            .load_all()
            .await
            .expect("recording script versions in the store");
        runtime
    }
}

fn runtime_over(
    folders: &ScriptFolders,
    limits: Limits,
    store: Store,
    clock: &Clock,
) -> Arc<ScriptRuntime> {
    let host = Host {
        store,
        clock: clock.clone(),
        runtime: tokio::runtime::Handle::current(),
    };
    ScriptRuntime::new(folders.clone(), limits, host).expect("script folders")
}

/// The 1-based number of the first line of `source` containing `needle`.
pub fn line_of(source: &str, needle: &str) -> usize {
    source
        .lines()
        .position(|line| line.contains(needle))
        .map(|index| index + 1)
        .unwrap_or_else(|| panic!("`{needle}` is not in the script"))
}
