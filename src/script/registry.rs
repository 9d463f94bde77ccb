//! The script registry: the compiled version of every script, swapped atomically on reload, and
//! every version (serving or refused) recorded in the store.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use rhai::Engine;
use serde::Serialize;

use super::compile::{
    CompiledScript, MetaValidator, ScriptKind, compile, content_hash, script_name,
};
use super::error::{ErrorKind, ScriptError};
use crate::clock::Clock;
use crate::store::{ScriptVersionRecord, Store, VersionStatus};

/// The folders scripts live in.
#[derive(Debug, Clone)]
pub struct ScriptFolders {
    /// Flows.
    pub scripts: PathBuf,
    /// Strategies.
    pub strategies: PathBuf,
}

impl ScriptFolders {
    /// The library folders imports may reach.
    pub fn library_roots(&self) -> Vec<PathBuf> {
        vec![self.scripts.join("lib"), self.strategies.join("lib")]
    }

    /// What a file in these folders is: a flow, a strategy, a library module, or nothing of ours.
    pub fn classify(&self, path: &Path) -> Option<FileRole> {
        if !is_script_file(path) {
            return None;
        }
        let parent = path.parent()?;
        if parent == self.scripts {
            Some(FileRole::Script(ScriptKind::Flow))
        } else if parent == self.strategies {
            Some(FileRole::Script(ScriptKind::Strategy))
        } else if self
            .library_roots()
            .iter()
            .any(|root| path.starts_with(root))
        {
            Some(FileRole::Library)
        } else {
            None
        }
    }

    /// Every flow and strategy file, sorted.
    pub fn script_files(&self) -> Vec<(PathBuf, ScriptKind)> {
        let mut files = Vec::new();
        for (folder, kind) in [
            (&self.scripts, ScriptKind::Flow),
            (&self.strategies, ScriptKind::Strategy),
        ] {
            if let Ok(entries) = std::fs::read_dir(folder) {
                files.extend(
                    entries
                        .filter_map(Result::ok)
                        .map(|entry| entry.path())
                        .filter(|path| is_script_file(path) && path.is_file())
                        .map(|path| (path, kind)),
                );
            }
        }
        files.sort();
        files
    }
}

/// What a file is to the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileRole {
    /// A flow or strategy.
    Script(ScriptKind),
    /// A module under a `lib/` folder.
    Library,
}

/// A `.rhai` file that is not an editor's temporary or backup file.
pub fn is_script_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or_default();
    name.ends_with(".rhai") && !name.starts_with('.') && !name.starts_with('#')
}

/// The latest outcome of loading one file, for `tradehost check`, the API and the dashboard.
#[derive(Debug, Clone, Serialize)]
pub struct LoadOutcome {
    /// The script's name.
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// The hash of the content that was tried.
    pub hash: String,
    /// `None` when it serves; the error when it was refused.
    pub error: Option<ScriptError>,
}

/// The current versions.
pub struct Registry {
    engine: Arc<Engine>,
    folders: ScriptFolders,
    store: Store,
    clock: Clock,
    current: ArcSwap<BTreeMap<String, Arc<CompiledScript>>>,
    /// The last load outcome per script name (a refused save shows here while the old version serves).
    outcomes: Mutex<BTreeMap<String, LoadOutcome>>,
    /// Checks metadata keys beyond description and tags; set once, before the first load.
    validator: std::sync::OnceLock<MetaValidator>,
}

impl Registry {
    /// An empty registry; call [`Registry::load_all`] to fill it.
    pub fn new(engine: Arc<Engine>, folders: ScriptFolders, store: Store, clock: Clock) -> Self {
        Self {
            engine,
            folders,
            store,
            clock,
            current: ArcSwap::from_pointee(BTreeMap::new()),
            outcomes: Mutex::new(BTreeMap::new()),
            validator: std::sync::OnceLock::new(),
        }
    }

    /// Installs the metadata validator (once; later calls are ignored).
    pub fn set_validator(&self, validator: MetaValidator) {
        let _ = self.validator.set(validator);
    }

    /// The metadata validator, if one is installed.
    pub fn validator(&self) -> Option<&MetaValidator> {
        self.validator.get()
    }

    /// The folders it watches.
    pub fn folders(&self) -> &ScriptFolders {
        &self.folders
    }

    /// The engine scripts run in.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// The version serving `name` now.
    pub fn get(&self, name: &str) -> Option<Arc<CompiledScript>> {
        self.current.load().get(name).cloned()
    }

    /// Every serving script.
    pub fn scripts(&self) -> Vec<Arc<CompiledScript>> {
        self.current.load().values().cloned().collect()
    }

    /// The last load outcome of every script seen.
    pub fn outcomes(&self) -> Vec<LoadOutcome> {
        self.outcomes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    /// Compiles every script at start. A script whose file fails falls back to its last version
    /// that served (from the store), so a broken save made while the daemon was down does not
    /// stop it; the error is still recorded.
    pub async fn load_all(&self) -> crate::store::Result<()> {
        for (path, kind) in self.folders.script_files() {
            self.load_file(&path, kind, true).await?;
        }
        Ok(())
    }

    /// Reacts to changed paths: reloads changed scripts, retires deleted ones, and recompiles
    /// everything when a library module changed (imports are embedded at compile time).
    pub async fn reload(&self, paths: &[PathBuf]) -> crate::store::Result<()> {
        let mut library_changed = false;
        for path in paths {
            match self.folders.classify(path) {
                Some(FileRole::Library) => library_changed = true,
                Some(FileRole::Script(kind)) => {
                    if path.is_file() {
                        self.load_file(path, kind, false).await?;
                    } else {
                        self.retire(path).await?;
                    }
                }
                None => {}
            }
        }
        if library_changed {
            for script in self.scripts() {
                self.recompile(&script).await?;
            }
        }
        Ok(())
    }

    async fn recompile(&self, script: &CompiledScript) -> crate::store::Result<()> {
        match compile(
            &self.engine,
            &script.path,
            script.kind,
            &script.source,
            self.validator(),
        ) {
            Ok(compiled) => self.publish(compiled, true).await,
            Err(error) => {
                tracing::error!(script = %script.name, %error, "a library change broke this script; its previous version keeps serving");
                self.remember(&script.name, &script.path, &script.hash, Some(error));
                Ok(())
            }
        }
    }

    async fn load_file(
        &self,
        path: &Path,
        kind: ScriptKind,
        at_start: bool,
    ) -> crate::store::Result<()> {
        let name = script_name(path);
        let source = match std::fs::read_to_string(path) {
            Ok(source) => source,
            // Between a rename's two events the file may be briefly absent; the next event reloads.
            Err(error) => {
                tracing::debug!(path = %path.display(), %error, "script file unreadable; waiting for the next change");
                return Ok(());
            }
        };
        let hash = content_hash(&source);
        if self.get(&name).is_some_and(|current| current.hash == hash) {
            return Ok(()); // Editors emit several events per save; the content did not change.
        }
        if let Some(other) = self.get(&name).filter(|current| current.path != path) {
            let error = ScriptError::new(
                path.display().to_string(),
                ErrorKind::Validation,
                format!(
                    "the name `{name}` is already used by {}",
                    other.path.display()
                ),
            );
            return self.refuse(path, &name, kind, &hash, &source, error).await;
        }
        match compile(&self.engine, path, kind, &source, self.validator()) {
            Ok(compiled) => self.publish(compiled, false).await,
            Err(error) => {
                self.refuse(path, &name, kind, &hash, &source, error)
                    .await?;
                if at_start && self.get(&name).is_none() {
                    self.fall_back_to_stored(path, &name, kind).await?;
                }
                Ok(())
            }
        }
    }

    async fn publish(
        &self,
        compiled: CompiledScript,
        recompiled: bool,
    ) -> crate::store::Result<()> {
        let compiled = Arc::new(compiled);
        let already_recorded = self
            .store
            .script_versions(Some(&compiled.name), 1)
            .await?
            .first()
            .is_some_and(|last| last.hash == compiled.hash && last.status == VersionStatus::Active);
        if !already_recorded || recompiled {
            self.store
                .record_script_version(&self.record(
                    &compiled.name,
                    &compiled.path,
                    compiled.kind,
                    &compiled.hash,
                    &compiled.source,
                    VersionStatus::Active,
                    None,
                ))
                .await?;
        }
        self.remember(&compiled.name, &compiled.path, &compiled.hash, None);
        let previous = self
            .get(&compiled.name)
            .map(|previous| previous.hash.clone());
        let name = compiled.name.clone();
        self.current.rcu(|current| {
            let mut next = BTreeMap::clone(current);
            next.insert(name.clone(), compiled.clone());
            next
        });
        tracing::info!(script = %compiled.name, hash = &compiled.hash[..12], previous = previous.as_deref().map(|hash| &hash[..12]), "script version serving");
        Ok(())
    }

    async fn refuse(
        &self,
        path: &Path,
        name: &str,
        kind: ScriptKind,
        hash: &str,
        source: &str,
        error: ScriptError,
    ) -> crate::store::Result<()> {
        let serving = self.get(name).is_some();
        tracing::error!(script = name, %error, serving_previous = serving, "script version refused");
        self.store
            .record_script_version(&self.record(
                name,
                path,
                kind,
                hash,
                source,
                VersionStatus::Rejected,
                Some(&error),
            ))
            .await?;
        self.remember(name, path, hash, Some(error));
        Ok(())
    }

    async fn fall_back_to_stored(
        &self,
        path: &Path,
        name: &str,
        kind: ScriptKind,
    ) -> crate::store::Result<()> {
        let versions = self.store.script_versions(Some(name), 50).await?;
        let Some(last_good) = versions.iter().find(|version| {
            matches!(
                version.status,
                VersionStatus::Active | VersionStatus::Superseded
            )
        }) else {
            return Ok(());
        };
        match compile(
            &self.engine,
            path,
            kind,
            &last_good.source,
            self.validator(),
        ) {
            Ok(compiled) => {
                tracing::warn!(
                    script = name,
                    hash = &compiled.hash[..12],
                    "serving the last good stored version until the file is fixed"
                );
                let compiled = Arc::new(compiled);
                self.current.rcu(|current| {
                    let mut next = BTreeMap::clone(current);
                    next.insert(name.to_owned(), compiled.clone());
                    next
                });
            }
            Err(error) => {
                tracing::error!(script = name, %error, "the last stored version no longer compiles either")
            }
        }
        Ok(())
    }

    async fn retire(&self, path: &Path) -> crate::store::Result<()> {
        let name = script_name(path);
        let Some(current) = self.get(&name).filter(|current| current.path == path) else {
            return Ok(());
        };
        self.store
            .record_script_version(&self.record(
                &name,
                path,
                current.kind,
                &current.hash,
                &current.source,
                VersionStatus::Retired,
                None,
            ))
            .await?;
        self.current.rcu(|scripts| {
            let mut next = BTreeMap::clone(scripts);
            next.remove(&name);
            next
        });
        self.outcomes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&name);
        tracing::info!(script = %name, "script deleted; retired");
        Ok(())
    }

    fn remember(&self, name: &str, path: &Path, hash: &str, error: Option<ScriptError>) {
        let outcome = LoadOutcome {
            name: name.to_owned(),
            path: path.to_path_buf(),
            hash: hash.to_owned(),
            error,
        };
        self.outcomes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_owned(), outcome);
    }

    #[allow(clippy::too_many_arguments)] // A stored version is exactly these fields.
    fn record(
        &self,
        name: &str,
        path: &Path,
        kind: ScriptKind,
        hash: &str,
        source: &str,
        status: VersionStatus,
        error: Option<&ScriptError>,
    ) -> ScriptVersionRecord {
        let position = |value: Option<usize>| value.and_then(|value| i64::try_from(value).ok());
        ScriptVersionRecord {
            id: 0,
            name: name.to_owned(),
            path: path.display().to_string(),
            kind: kind.as_str().to_owned(),
            hash: hash.to_owned(),
            source: source.to_owned(),
            loaded_at: self.clock.now(),
            status,
            error: error.map(ToString::to_string),
            line: error.and_then(|error| position(error.line)),
            column: error.and_then(|error| position(error.column)),
        }
    }
}
