//! Script errors that point at the script, line and column, as compilers do.

use std::fmt;

use rhai::{EvalAltResult, ParseError, Position};
use serde::Serialize;

/// What kind of failure a script had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The source does not parse.
    Syntax,
    /// It parses but lacks a required entry point or has bad metadata.
    Validation,
    /// It ran past its wall-clock budget.
    Timeout,
    /// Its run was cancelled while it ran.
    Cancelled,
    /// It exceeded a sandbox limit: operations, call depth, string, array or map size.
    Limit,
    /// It failed while running: a thrown error, a type error, an undefined function, a refused
    /// host call.
    Runtime,
    /// The file could not be read.
    Io,
}

/// A script failure, displayed as `script:line:column: message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct ScriptError {
    /// The script's path or name.
    pub script: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// What kind of failure.
    pub kind: ErrorKind,
    /// What went wrong, without the position (that is in `line` and `column`).
    pub message: String,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.script)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

impl ScriptError {
    /// An error without a position.
    pub fn new(script: impl Into<String>, kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            script: script.into(),
            line: None,
            column: None,
            kind,
            message: message.into(),
        }
    }

    /// A parse error.
    pub fn from_parse(script: &str, error: &ParseError) -> Self {
        let mut message = error.err_type().to_string();
        if message.contains("'eval'")
            || message.contains("`eval`")
            || message.contains("eval") && message.contains("reserved")
        {
            message = format!("{message} (eval is disabled in tradehost scripts)");
        }
        Self::at(script, ErrorKind::Syntax, message, error.position())
    }

    /// A run-time error. Errors raised inside a called function report the innermost position,
    /// where the failing statement is, and name the chain of functions in the message.
    pub fn from_eval(
        script: &str,
        error: &EvalAltResult,
        budget: Option<std::time::Duration>,
    ) -> Self {
        let mut current = error;
        let mut calls = Vec::new();
        let mut position = error.position();
        loop {
            match current {
                EvalAltResult::ErrorInFunctionCall(name, _, inner, at) => {
                    calls.push(name.clone());
                    if !at.is_none() {
                        position = *at;
                    }
                    current = inner;
                }
                EvalAltResult::ErrorInModule(name, inner, at) => {
                    calls.push(format!("module {name}"));
                    if !at.is_none() {
                        position = *at;
                    }
                    current = inner;
                }
                _ => break,
            }
        }
        if !current.position().is_none() {
            position = current.position();
        }
        let (kind, message) = describe(current, budget);
        let message = if calls.is_empty() {
            message
        } else {
            format!("{message} (in {})", calls.join(" → "))
        };
        Self::at(script, kind, message, position)
    }

    fn at(script: &str, kind: ErrorKind, message: String, position: Position) -> Self {
        Self {
            script: script.to_owned(),
            line: position.line(),
            column: position.position(),
            kind,
            message,
        }
    }
}

/// The kind and the message of an innermost error, without Rhai's position suffix.
fn describe(error: &EvalAltResult, budget: Option<std::time::Duration>) -> (ErrorKind, String) {
    use EvalAltResult as E;
    match error {
        E::ErrorTerminated(token, ..) if token.to_string() == super::sandbox::CANCEL_TOKEN => (
            ErrorKind::Cancelled,
            "stopped: the run was cancelled".into(),
        ),
        E::ErrorTerminated(..) => {
            let budget = budget.map_or_else(String::new, |budget| {
                format!(" of {} ms", budget.as_millis())
            });
            (
                ErrorKind::Timeout,
                format!("stopped: the call ran past its time budget{budget}"),
            )
        }
        E::ErrorTooManyOperations(..) => (
            ErrorKind::Limit,
            "stopped: too many operations (the per-call operation limit)".into(),
        ),
        E::ErrorStackOverflow(..) => (
            ErrorKind::Limit,
            "stopped: calls nested too deeply (the call-depth limit; unbounded recursion?)".into(),
        ),
        E::ErrorDataTooLarge(what, ..) => (
            ErrorKind::Limit,
            format!("stopped: {what} exceeds its size limit"),
        ),
        E::ErrorTooManyModules(..) => (
            ErrorKind::Limit,
            "stopped: too many modules imported".into(),
        ),
        E::ErrorParsing(parse_error, ..) => (ErrorKind::Syntax, parse_error.to_string()),
        E::ErrorRuntime(value, ..) => (ErrorKind::Runtime, format!("script error: {value}")),
        E::ErrorFunctionNotFound(signature, ..) => (
            ErrorKind::Runtime,
            format!(
                "no function {signature} (undefined, or called with arguments of the wrong types)"
            ),
        ),
        E::ErrorModuleNotFound(path, ..) => (ErrorKind::Runtime, format!("cannot import `{path}`")),
        other => (ErrorKind::Runtime, strip_position(&other.to_string())),
    }
}

/// Rhai appends ` (line L, position P)` to messages; the position is reported separately.
fn strip_position(message: &str) -> String {
    match message.rfind(" (line ") {
        Some(index) if message.ends_with(')') => message[..index].to_owned(),
        _ => message.to_owned(),
    }
}
