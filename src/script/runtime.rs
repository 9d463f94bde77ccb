//! The script runtime the daemon owns: engine, registry and host, and calls that run on blocking
//! threads so a slow or hostile script never stalls the async workers.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rhai::Dynamic;
use serde::Serialize;

use super::compile::{CompiledScript, ScriptKind, compile};
use super::error::{ErrorKind, ScriptError};
use super::host::Host;
use super::host::log::LogLine;
use super::invoke::invoke;
use super::registry::{Registry, ScriptFolders};
use super::sandbox::{Limits, build_engine};
use crate::indicators::Series;

/// What a call returned.
#[derive(Debug, Clone, Serialize)]
pub struct CallOutcome {
    /// The script's name.
    pub script: String,
    /// The hash of the version that served the call.
    pub hash: String,
    /// The function's return value as JSON.
    pub result: serde_json::Value,
    /// What the call logged.
    pub logs: Vec<LogLine>,
}

/// A failed call: the error and what the script logged before it.
#[derive(Debug, Clone, Serialize, thiserror::Error)]
#[error("{error}")]
pub struct CallError {
    /// Why it failed.
    pub error: ScriptError,
    /// The hash of the version that ran, when one did.
    pub hash: Option<String>,
    /// What it logged before failing.
    pub logs: Vec<LogLine>,
}

/// How one call may be stopped early.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// The wall-clock budget; the sandbox's `timeout_ms` when `None`.
    pub budget: Option<std::time::Duration>,
    /// Set to true to stop the call (a cancelled run); checked as often as the budget.
    pub cancel: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// The flow run the call serves (for `flow::run_id()` and subflows' parent).
    pub run_id: Option<i64>,
}

/// The argument of a call: JSON (a flow's parameters), converted to a script value on the
/// script's thread, or a script value built by the host (a strategy's cycle context, whose pairs
/// are host objects).
#[derive(Debug, Clone)]
pub enum CallArgument {
    /// JSON, converted when the call starts.
    Json(serde_json::Value),
    /// A script value as it is.
    Value(Dynamic),
}

impl From<serde_json::Value> for CallArgument {
    fn from(value: serde_json::Value) -> Self {
        Self::Json(value)
    }
}

impl From<Dynamic> for CallArgument {
    fn from(value: Dynamic) -> Self {
        Self::Value(value)
    }
}

/// The engine, the registry and the host, shared by the daemon's tasks.
pub struct ScriptRuntime {
    /// The orchestrator behind `flow::…`, installed once when the daemon starts it.
    flows: std::sync::OnceLock<Arc<dyn super::host::FlowHost>>,
    /// The order desk behind `orders`, `broker` and `risk`, installed once when trading starts.
    desk: std::sync::OnceLock<Arc<crate::trading::Desk>>,
    registry: Registry,
    host: Host,
    limits: Limits,
}

impl ScriptRuntime {
    /// Builds the engine and an empty registry over `folders` (created if missing, and made
    /// absolute so file events match them).
    pub fn new(folders: ScriptFolders, limits: Limits, host: Host) -> std::io::Result<Arc<Self>> {
        let folders = ScriptFolders {
            scripts: absolute(&folders.scripts)?,
            strategies: absolute(&folders.strategies)?,
        };
        let engine = Arc::new(build_engine(&limits, folders.library_roots()));
        let registry = Registry::new(engine, folders, host.store.clone(), host.clock.clone());
        Ok(Arc::new(Self {
            flows: std::sync::OnceLock::new(),
            desk: std::sync::OnceLock::new(),
            registry,
            host,
            limits,
        }))
    }

    /// Installs the orchestrator that `flow::run` and friends reach (once).
    pub fn set_flow_host(&self, flows: Arc<dyn super::host::FlowHost>) {
        let _ = self.flows.set(flows);
    }

    /// Installs the order desk that `orders`, `broker` and `risk` reach (once).
    pub fn set_desk(&self, desk: Arc<crate::trading::Desk>) {
        let _ = self.desk.set(desk);
    }

    /// The order desk, once installed.
    pub fn desk(&self) -> Option<&Arc<crate::trading::Desk>> {
        self.desk.get()
    }

    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The sandbox limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Calls `function` of the serving version of `name` with one argument (a JSON value,
    /// converted to a script value), on a blocking thread. The call finishes on the version it
    /// started with, whatever reloads happen meanwhile.
    pub async fn call(
        &self,
        name: &str,
        function: &str,
        argument: serde_json::Value,
    ) -> Result<CallOutcome, CallError> {
        let script = self.registry.get(name).ok_or_else(|| CallError {
            error: ScriptError::new(
                name,
                ErrorKind::Runtime,
                format!("no script named `{name}` is loaded"),
            ),
            hash: None,
            logs: Vec::new(),
        })?;
        self.call_compiled(script, function, argument, CallOptions::default())
            .await
    }

    /// Calls `function` of `script` on the current thread with `overlay` in place of the store,
    /// for a backtest's loop: no thread hop per call. Must run on a blocking thread.
    pub fn call_direct(
        &self,
        script: &CompiledScript,
        function: &str,
        argument: rhai::Dynamic,
        overlay: Arc<super::host::overlay::Overlay>,
    ) -> Result<rhai::Dynamic, ScriptError> {
        let label = script.path.display().to_string();
        invoke(
            self.registry.engine(),
            &label,
            &script.name,
            &script.hash,
            &script.ast,
            function,
            vec![argument],
            Some(self.host.clone()),
            self.limits.timeout(),
            None,
            None,
            self.desk.get().cloned(),
            Some(overlay),
        )
        .map(|(value, _)| value)
    }

    /// Calls a function of a given compiled script (used by `tradehost script run`).
    pub async fn call_compiled(
        &self,
        script: Arc<CompiledScript>,
        function: &str,
        argument: impl Into<CallArgument>,
        options: CallOptions,
    ) -> Result<CallOutcome, CallError> {
        let argument = argument.into();
        let engine = self.registry.engine().clone();
        let host = self.host.clone();
        let budget = options.budget.unwrap_or_else(|| self.limits.timeout());
        let cancel = options.cancel;
        let flow = self.flows.get().map(|flows| super::host::FlowContext {
            run_id: options.run_id,
            host: flows.clone(),
        });
        let trading = self.desk.get().cloned();
        let function = function.to_owned();
        let label = script.path.display().to_string();
        let task = tokio::task::spawn_blocking(move || {
            let argument = match argument {
                CallArgument::Value(value) => value,
                CallArgument::Json(json) => rhai::serde::to_dynamic(json).map_err(|error| {
                    ScriptError::new(&label, ErrorKind::Runtime, format!("bad argument: {error}"))
                })?,
            };
            let (value, logs) = invoke(
                &engine,
                &label,
                &script.name,
                &script.hash,
                &script.ast,
                &function,
                vec![argument],
                Some(host),
                budget,
                cancel,
                flow,
                trading,
                None,
            )?;
            let result = to_json(&value)
                .map_err(|message| ScriptError::new(&label, ErrorKind::Runtime, message))?;
            Ok::<_, ScriptError>(CallOutcome {
                script: script.name.clone(),
                hash: script.hash.clone(),
                result,
                logs,
            })
        });
        match task.await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(error)) => Err(CallError {
                error,
                hash: None,
                logs: Vec::new(),
            }),
            Err(join) => Err(CallError {
                error: ScriptError::new(
                    name_of(&join),
                    ErrorKind::Runtime,
                    format!("the script call panicked: {join}"),
                ),
                hash: None,
                logs: Vec::new(),
            }),
        }
    }

    /// Compiles a file outside the registry (for `tradehost script run` and `check`).
    pub fn compile_file(
        &self,
        path: &Path,
        kind: ScriptKind,
    ) -> Result<CompiledScript, ScriptError> {
        let source = std::fs::read_to_string(path).map_err(|error| {
            ScriptError::new(
                path.display().to_string(),
                ErrorKind::Io,
                format!("cannot read: {error}"),
            )
        })?;
        compile(
            self.registry.engine(),
            path,
            kind,
            &source,
            self.registry.validator(),
        )
    }
}

fn name_of(join: &tokio::task::JoinError) -> String {
    format!("task {}", join.id())
}

fn absolute(path: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(path)?;
    path.canonicalize()
}

/// A script's return value as JSON; a `Series` becomes an array of numbers (NaN as null),
/// also inside maps and arrays.
fn to_json(value: &Dynamic) -> Result<serde_json::Value, String> {
    if let Some(series) = value.read_lock::<Series>() {
        return Ok(series
            .values()
            .iter()
            .map(|value| {
                serde_json::Number::from_f64(*value)
                    .map_or(serde_json::Value::Null, serde_json::Value::Number)
            })
            .collect());
    }
    if let Some(map) = value.read_lock::<rhai::Map>() {
        return map
            .iter()
            .map(|(key, value)| Ok((key.to_string(), to_json(value)?)))
            .collect::<Result<serde_json::Map<_, _>, String>>()
            .map(serde_json::Value::Object);
    }
    if let Some(array) = value.read_lock::<rhai::Array>() {
        return array
            .iter()
            .map(to_json)
            .collect::<Result<Vec<_>, String>>()
            .map(serde_json::Value::Array);
    }
    rhai::serde::from_dynamic(value).map_err(|error| {
        format!(
            "the result ({}) cannot be returned as JSON: {error}",
            value.type_name()
        )
    })
}
