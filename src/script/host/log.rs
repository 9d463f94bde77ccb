//! `log::info(…)` and friends, and where `print` and `debug` go: the current call's log and the
//! host's tracing output, tagged with the script.

use chrono::{DateTime, Utc};
use rhai::{Dynamic, Module};
use serde::Serialize;

/// Lines one call may keep; a script printing in a tight loop must not exhaust memory.
const MAX_LINES_PER_CALL: usize = 10_000;

/// A log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// `debug(…)`. (`debug` is a Rhai keyword, so there is no `log::debug`.)
    Debug,
    /// `print` and `log::info`.
    Info,
    /// `log::warn`.
    Warn,
    /// `log::error`.
    Error,
}

/// One line a script logged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogLine {
    /// Host clock time.
    pub at: DateTime<Utc>,
    /// The level.
    pub level: Level,
    /// The text.
    pub message: String,
}

/// Records a line for the current call and emits it as a tracing event.
pub fn script_line(level: Level, text: &str) {
    let invocation = super::current();
    let script = invocation
        .as_ref()
        .map_or("-", |invocation| invocation.script.as_str());
    match level {
        Level::Debug => tracing::debug!(script, "{text}"),
        Level::Info => tracing::info!(script, "{text}"),
        Level::Warn => tracing::warn!(script, "{text}"),
        Level::Error => tracing::error!(script, "{text}"),
    }
    if let Some(invocation) = invocation {
        let at = invocation
            .host
            .as_ref()
            .map_or_else(Utc::now, |host| host.clock.now());
        let mut logs = invocation
            .logs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if logs.len() < MAX_LINES_PER_CALL {
            logs.push(LogLine {
                at,
                level,
                message: text.to_owned(),
            });
        } else if logs.len() == MAX_LINES_PER_CALL {
            logs.push(LogLine {
                at,
                level: Level::Warn,
                message: "log truncated: too many lines in one call".into(),
            });
        }
    }
}

/// The `log` module.
pub fn module() -> Module {
    let mut module = Module::new();
    // No `debug` here: it is a Rhai keyword, so `log::debug(…)` would not parse; the built-in
    // `debug(…)` logs at that level.
    for (name, level) in [
        ("info", Level::Info),
        ("warn", Level::Warn),
        ("error", Level::Error),
    ] {
        module.set_native_fn(name, move |value: Dynamic| {
            script_line(level, &value.to_string());
            Ok(())
        });
    }
    module
}
