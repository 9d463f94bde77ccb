//! The sandboxed engine: one function builds it and sets every limit.
//!
//! Rhai's defaults differ between debug and release builds (call depth 8 in debug), so every limit
//! is set explicitly. The wall-clock budget lives in a thread-local deadline that the progress
//! callback checks, because the callback has no other context; each call runs on its own blocking
//! thread, so the thread-local belongs to exactly one call.

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rhai::packages::{Package, StandardPackage};
use rhai::{Dynamic, Engine, OptimizationLevel};
use serde::{Deserialize, Serialize};

use super::resolver::SandboxResolver;

/// The sandbox's limits. Deserialised from `[scripts.limits]` in the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Rhai operations per call (a loop iteration is a few operations).
    pub max_operations: u64,
    /// Nested function calls.
    pub max_call_depth: usize,
    /// Nested expressions at global level.
    pub max_expression_depth: usize,
    /// Nested expressions inside functions.
    pub max_function_expression_depth: usize,
    /// Bytes in one string.
    pub max_string_size: usize,
    /// Elements in one array.
    pub max_array_size: usize,
    /// Entries in one object map.
    pub max_map_size: usize,
    /// Modules one call may import.
    pub max_modules: usize,
    /// Wall-clock time per call, in milliseconds.
    pub timeout_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_operations: 50_000_000,
            max_call_depth: 64,
            max_expression_depth: 64,
            max_function_expression_depth: 64,
            max_string_size: 1 << 20,
            max_array_size: 100_000,
            max_map_size: 10_000,
            max_modules: 32,
            timeout_ms: 10_000,
        }
    }
}

impl Limits {
    /// The wall-clock budget.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// How often (in operations) the progress callback looks at the clock: reading the time on every
/// operation would dominate tight loops.
const CLOCK_CHECK_INTERVAL: u64 = 1024;

/// Why the progress callback stopped a call; the token Rhai returns in `ErrorTerminated`.
pub const TIMEOUT_TOKEN: &str = "timeout";
/// The token of a call stopped because its run was cancelled.
pub const CANCEL_TOKEN: &str = "cancelled";

/// What stops one call early: its deadline, and optionally a flag set when its run is cancelled.
#[derive(Clone)]
struct Stop {
    deadline: Instant,
    cancel: Option<Arc<AtomicBool>>,
}

thread_local! {
    static STOP: RefCell<Option<Stop>> = const { RefCell::new(None) };
}

/// Sets this thread's deadline (and cancel flag) for the duration of `call`, then clears them.
pub fn with_deadline<T>(
    budget: Duration,
    cancel: Option<Arc<AtomicBool>>,
    call: impl FnOnce() -> T,
) -> T {
    struct Reset(Option<Stop>);
    impl Drop for Reset {
        fn drop(&mut self) {
            let previous = self.0.take();
            STOP.with(|stop| *stop.borrow_mut() = previous);
        }
    }
    let stop = Stop {
        deadline: Instant::now() + budget,
        cancel,
    };
    let previous = STOP.with(|current| current.borrow_mut().replace(stop));
    let _reset = Reset(previous);
    call()
}

/// Whether the current call should stop, and why.
fn stop_reason() -> Option<&'static str> {
    STOP.with(|stop| {
        let stop = stop.borrow();
        let stop = stop.as_ref()?;
        if stop
            .cancel
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
        {
            Some(CANCEL_TOKEN)
        } else if Instant::now() >= stop.deadline {
            Some(TIMEOUT_TOKEN)
        } else {
            None
        }
    })
}

/// Builds the engine every script runs in: the standard library without file or network access,
/// no `eval`, imports only from `module_roots`, `print`/`debug` routed to `log`, and every limit.
pub fn build_engine(limits: &Limits, module_roots: Vec<PathBuf>) -> Engine {
    let mut engine = Engine::new_raw();
    engine.register_global_module(StandardPackage::new().as_shared_module());
    engine
        .set_max_operations(limits.max_operations)
        .set_max_call_levels(limits.max_call_depth)
        .set_max_expr_depths(
            limits.max_expression_depth,
            limits.max_function_expression_depth,
        )
        .set_max_string_size(limits.max_string_size)
        .set_max_array_size(limits.max_array_size)
        .set_max_map_size(limits.max_map_size)
        .set_max_modules(limits.max_modules)
        // Full optimisation would call host functions with constant arguments at compile time,
        // freezing a data accessor's answer into the AST.
        .set_optimization_level(OptimizationLevel::Simple)
        .set_strict_variables(true)
        .set_fail_on_invalid_map_property(false);
    engine.disable_symbol("eval");
    engine.set_module_resolver(SandboxResolver::new(module_roots));
    engine.on_progress(|operations| {
        if operations % CLOCK_CHECK_INTERVAL != 0 {
            return None;
        }
        stop_reason().map(Dynamic::from)
    });
    engine.on_print(|text| super::host::log::script_line(super::host::log::Level::Info, text));
    engine.on_debug(|text, _source, position| {
        let text = match position.line() {
            Some(line) => format!("[line {line}] {text}"),
            None => text.to_owned(),
        };
        super::host::log::script_line(super::host::log::Level::Debug, &text);
    });
    super::host::register(&mut engine);
    engine
}
