//! Hot reload: watches the script folders (not files: editors save by rename), debounces bursts
//! of events, and hands the changed paths to the registry on the async runtime.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify_debouncer_mini::notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_mini::{DebounceEventResult, Debouncer, new_debouncer};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

use super::runtime::ScriptRuntime;

/// Events within this window are one change: long enough to merge an editor's write-then-rename
/// burst, short enough that a save serves in well under a quarter of a second.
pub const DEBOUNCE: Duration = Duration::from_millis(50);

/// A watcher whose watches are in place: every save after [`Watcher::start`] returns is seen.
pub struct Watcher {
    runtime: Arc<ScriptRuntime>,
    receiver: UnboundedReceiver<Vec<PathBuf>>,
    debouncer: Debouncer<RecommendedWatcher>,
}

impl Watcher {
    /// Registers the watches now (synchronously), so a save made right after start-up — or while
    /// the scripts are first loaded — is not missed.
    pub fn start(runtime: Arc<ScriptRuntime>) -> anyhow::Result<Self> {
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel::<Vec<PathBuf>>();
        // The debouncer calls back on its own thread; the channel carries the paths to the task.
        let mut debouncer =
            new_debouncer(DEBOUNCE, move |result: DebounceEventResult| match result {
                Ok(events) => {
                    let _ = sender.send(events.into_iter().map(|event| event.path).collect());
                }
                Err(error) => tracing::warn!(%error, "file watcher error"),
            })?;
        let folders = runtime.registry().folders().clone();
        for folder in [&folders.scripts, &folders.strategies] {
            // Recursive, so `lib/` changes are seen too; the registry ignores what is not a script.
            debouncer
                .watcher()
                .watch(folder, RecursiveMode::Recursive)?;
        }
        tracing::info!(scripts = %folders.scripts.display(), strategies = %folders.strategies.display(), "watching scripts for changes");
        Ok(Self {
            runtime,
            receiver,
            debouncer,
        })
    }

    /// Reloads on every change until `shutdown`. Errors of individual reloads are logged; the
    /// watcher keeps going and the previous versions keep serving.
    pub async fn run(mut self, shutdown: CancellationToken) -> anyhow::Result<()> {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                paths = self.receiver.recv() => {
                    let Some(mut paths) = paths else { break };
                    // Take everything already queued, so one burst is one reload.
                    while let Ok(more) = self.receiver.try_recv() {
                        paths.extend(more);
                    }
                    paths.sort();
                    paths.dedup();
                    if let Err(error) = self.runtime.registry().reload(&paths).await {
                        tracing::error!(%error, "reloading scripts failed; the previous versions keep serving");
                    }
                }
            }
        }
        drop(self.debouncer);
        Ok(())
    }
}

/// Starts watching and runs until `shutdown` (for callers that need no start-up ordering).
pub async fn watch(runtime: Arc<ScriptRuntime>, shutdown: CancellationToken) -> anyhow::Result<()> {
    Watcher::start(runtime)?.run(shutdown).await
}
