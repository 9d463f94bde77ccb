//! The host API scripts call: `data`, `ta`, `pairs`, `state`, `db`, `log`, and the `Series`,
//! `Bars` and `PairModel` types. Each Rhai module is a small file here; numeric work is done by
//! `crate::indicators`.
//!
//! Host functions run on the script's blocking thread. Those that need I/O block on it there (the
//! runtime handle's `block_on`), never on an async worker. The call being served is found through
//! a thread-local [`Invocation`], set by the runtime for the duration of one call.

pub mod analytics;
pub mod book;
pub mod broker;
pub mod data;
pub mod db;
pub mod flow;
pub mod log;
pub mod ops;
pub mod orders;
pub mod overlay;
pub mod pair;
pub mod pairs;
pub mod records;
pub mod risk;
pub mod series;
pub mod state;
pub mod strategy;
pub mod ta;

use std::cell::RefCell;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use rhai::{Engine, EvalAltResult, NativeCallContext, Position};

use crate::clock::Clock;
use crate::store::Store;

/// What host functions reach: the store, the clock and the async runtime to block on.
#[derive(Clone)]
pub struct Host {
    /// The database.
    pub store: Store,
    /// The host clock (simulated in backtests and accelerated runs).
    pub clock: Clock,
    /// The runtime that owns the store's connections.
    pub runtime: tokio::runtime::Handle,
}

/// One call being served: which script, and where its log lines go.
pub struct Invocation {
    /// The script's name (its state namespace).
    pub script: String,
    /// The content hash of the version serving the call.
    pub hash: String,
    /// The host, or `None` while validating metadata (no I/O is allowed then). Shared: every
    /// host function reaches it, and a `Host` clone copies the store's paths.
    pub host: Option<Arc<Host>>,
    /// Lines logged by `print`, `debug` and `log::*` during the call.
    pub logs: Mutex<Vec<log::LogLine>>,
    /// The flow run this call serves and the orchestrator behind `flow::run` and `flow::emit`.
    pub flow: Option<FlowContext>,
    /// The order desk behind `orders`, `broker` and `risk`, when the host trades.
    pub trading: Option<Arc<crate::trading::Desk>>,
    /// A backtest's history, state and records in place of the store.
    pub overlay: Option<Arc<overlay::Overlay>>,
}

/// What `flow::…` functions reach: the orchestrator, and the run being served.
#[derive(Clone)]
pub struct FlowContext {
    /// The flow run this call belongs to, if any.
    pub run_id: Option<i64>,
    /// The orchestrator.
    pub host: Arc<dyn FlowHost>,
}

/// A result that a host future hands back to a script.
pub type FlowResult = Result<serde_json::Value, String>;

/// The orchestrator as scripts see it. Implemented by `orchestrator::Orchestrator`; the script
/// runtime knows only this trait, so the dependency points from orchestrator to script.
pub trait FlowHost: Send + Sync {
    /// Runs flow `name` as a subflow of `parent` to its end and returns its result.
    fn run_subflow(
        &self,
        parent: Option<i64>,
        name: String,
        parameters: serde_json::Value,
    ) -> std::pin::Pin<Box<dyn Future<Output = FlowResult> + Send + '_>>;

    /// Backs the database up into the daemon's backup folder, keeping the newest `keep` backups;
    /// returns the new file's path.
    fn backup_database(
        &self,
        keep: usize,
    ) -> std::pin::Pin<Box<dyn Future<Output = FlowResult> + Send + '_>>;

    /// Fetches the bars completed since the last stored ones from the configured provider,
    /// stores them and announces `bars.ingested`; returns what was stored.
    fn fetch_market_data(&self) -> std::pin::Pin<Box<dyn Future<Output = FlowResult> + Send + '_>>;

    /// Runs one cycle of strategy `name`: its `on_cycle(ctx)` with the active pairs from
    /// `config/pairs.toml`, as part of flow run `parent`; returns what the cycle returned.
    fn strategy_cycle(
        &self,
        parent: Option<i64>,
        name: String,
    ) -> std::pin::Pin<Box<dyn Future<Output = FlowResult> + Send + '_>>;

    /// Writes the HTML report of the last `days` of live trading into the reports folder;
    /// returns its path.
    fn write_report(
        &self,
        days: i64,
    ) -> std::pin::Pin<Box<dyn Future<Output = FlowResult> + Send + '_>>;

    /// Runs a backtest of the configured strategy with `parameters`; returns its summary.
    fn run_backtest(
        &self,
        parameters: serde_json::Value,
    ) -> std::pin::Pin<Box<dyn Future<Output = FlowResult> + Send + '_>>;

    /// Archives the oldest month of bars older than `retention_days` to Parquet and deletes
    /// them; returns `#{ rows, file, done }` (done: nothing older is left).
    fn archive_bars(
        &self,
        retention_days: u32,
    ) -> std::pin::Pin<Box<dyn Future<Output = FlowResult> + Send + '_>>;
}

impl Invocation {
    /// Takes the lines logged so far.
    pub fn take_logs(&self) -> Vec<log::LogLine> {
        std::mem::take(&mut *self.logs.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Invocation>>> = const { RefCell::new(None) };
}

/// Runs `call` with `invocation` as this thread's current call.
pub fn with_invocation<T>(invocation: Arc<Invocation>, call: impl FnOnce() -> T) -> T {
    struct Reset(Option<Arc<Invocation>>);
    impl Drop for Reset {
        fn drop(&mut self) {
            let previous = self.0.take();
            CURRENT.with(|current| *current.borrow_mut() = previous);
        }
    }
    let previous = CURRENT.with(|current| current.borrow_mut().replace(invocation));
    let _reset = Reset(previous);
    call()
}

/// The call being served on this thread, if any.
pub fn current() -> Option<Arc<Invocation>> {
    CURRENT.with(|current| current.borrow().clone())
}

/// The host of the current call, or a script error saying why there is none.
pub fn host() -> Result<(Arc<Invocation>, Arc<Host>), Box<EvalAltResult>> {
    let invocation =
        current().ok_or_else(|| error("host functions are only available while a script runs"))?;
    let host = invocation.host.clone().ok_or_else(|| {
        error("host functions are not available in meta(); metadata must be constant")
    })?;
    Ok((invocation, host))
}

/// What a trading host function reaches: the call, its host and the order desk.
pub type Trading = (Arc<Invocation>, Arc<Host>, Arc<crate::trading::Desk>);

/// The order desk of the current call, or a script error saying why there is none.
pub fn desk() -> Result<Trading, Box<EvalAltResult>> {
    let (invocation, host) = host()?;
    let desk = invocation.trading.clone().ok_or_else(|| {
        error("trading is not available here: the daemon, a backtest or `tradehost flow run` provides the broker")
    })?;
    Ok((invocation, host, desk))
}

/// Runs a future to completion from the script's blocking thread.
pub fn block_on<F: Future>(host: &Host, future: F) -> F::Output {
    host.runtime.block_on(future)
}

/// A script-visible run-time error. Its position is the calling line, filled in by [`located`].
pub fn error(message: impl Into<String>) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(
        message.into().into(),
        Position::NONE,
    ))
}

/// Runs the body of a host module function and gives its error the line that called it. Rhai fills
/// in the calling position for methods and operators, but not for namespaced calls such as
/// `db::query(…)`, whose errors would otherwise point nowhere in the script.
pub fn located<T>(
    context: &NativeCallContext,
    body: impl FnOnce() -> Result<T, Box<EvalAltResult>>,
) -> Result<T, Box<EvalAltResult>> {
    body().map_err(|mut failure| {
        if failure.position().is_none() {
            failure.set_position(context.call_position());
        }
        failure
    })
}

/// Registers every host type and module on the engine.
pub fn register(engine: &mut Engine) {
    series::register(engine);
    data::register(engine);
    pair::register(engine);
    pairs::register(engine);
    engine.register_static_module("ta", ta::module().into());
    engine.register_static_module("state", state::module().into());
    engine.register_static_module("db", db::module().into());
    engine.register_static_module("log", log::module().into());
    engine.register_static_module("flow", flow::module().into());
    engine.register_static_module("ops", ops::module().into());
    engine.register_static_module("orders", orders::module().into());
    engine.register_static_module("broker", broker::module().into());
    engine.register_static_module("risk", risk::module().into());
    engine.register_static_module("strategy", strategy::module().into());
    engine.register_static_module("analytics", analytics::module().into());
}
