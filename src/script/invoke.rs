//! One call into a script: on the current (blocking) thread, with the deadline and the host
//! context set for exactly that call.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rhai::{AST, CallFnOptions, Dynamic, Engine, Scope};

use super::error::ScriptError;
use super::host::{self, FlowContext, Host, Invocation, log::LogLine};
use super::sandbox::with_deadline;

/// Calls `function` of `ast` with `args`. Must run on a blocking thread (it blocks, and host
/// functions block on I/O). Returns the result and the lines the call logged.
#[allow(clippy::too_many_arguments)] // Every argument is a distinct part of the call.
pub fn invoke(
    engine: &Engine,
    label: &str,
    name: &str,
    hash: &str,
    ast: &AST,
    function: &str,
    args: Vec<Dynamic>,
    host: Option<Host>,
    budget: Duration,
    cancel: Option<Arc<AtomicBool>>,
    flow: Option<FlowContext>,
    trading: Option<Arc<crate::trading::Desk>>,
    overlay: Option<Arc<super::host::overlay::Overlay>>,
) -> Result<(Dynamic, Vec<LogLine>), ScriptError> {
    let invocation = Arc::new(Invocation {
        script: name.to_owned(),
        hash: hash.to_owned(),
        host: host.map(Arc::new),
        logs: Mutex::new(Vec::new()),
        flow,
        trading,
        overlay,
    });
    let result = host::with_invocation(invocation.clone(), || {
        with_deadline(budget, cancel, || {
            let options = CallFnOptions::new().eval_ast(true).rewind_scope(true);
            engine.call_fn_with_options::<Dynamic>(options, &mut Scope::new(), ast, function, args)
        })
    });
    let logs = invocation.take_logs();
    match result {
        Ok(value) => Ok((value, logs)),
        Err(error) => Err(ScriptError::from_eval(label, &error, Some(budget))),
    }
}
