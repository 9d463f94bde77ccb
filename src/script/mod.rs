//! The script runtime: the only module that knows Rhai.
//!
//! `sandbox` builds the one engine with every limit; `host` registers the API scripts call;
//! `compile` validates a script; `registry` holds the serving version of each and records every
//! version in the store; `reload` watches the folders; `runtime` runs calls on blocking threads;
//! `check` is what `tradehost check` reports.

pub mod check;
mod compile;
mod error;
pub mod host;
mod invoke;
mod registry;
pub mod reload;
mod resolver;
mod runtime;
mod sandbox;

pub use compile::{CompiledScript, MetaValidator, ScriptKind, ScriptMeta, compile, content_hash};
pub use error::{ErrorKind, ScriptError};
pub use registry::{LoadOutcome, Registry, ScriptFolders};
pub use runtime::{CallArgument, CallError, CallOptions, CallOutcome, ScriptRuntime};
pub use sandbox::{Limits, build_engine};
