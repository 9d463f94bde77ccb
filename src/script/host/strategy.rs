//! `strategy::cycle(name)`: runs one cycle of a strategy in `strategies/` (its `on_cycle(ctx)`
//! with the active pairs of `config/pairs.toml`) from a flow, as part of the flow's run.

use rhai::{Module, NativeCallContext};

use super::{block_on, current, error, host, located};

/// The `strategy` module.
pub fn module() -> Module {
    let mut module = Module::new();
    module.set_native_fn("cycle", |context: NativeCallContext, name: &str| {
        located(&context, || {
            let (_, host) = host()?;
            let flow = current()
                .and_then(|invocation| invocation.flow.clone())
                .ok_or_else(|| {
                    error(
                        "strategy::cycle runs from a flow the daemon or `tradehost flow run` runs",
                    )
                })?;
            let outcome = block_on(
                &host,
                flow.host.strategy_cycle(flow.run_id, name.to_owned()),
            );
            match outcome {
                Ok(result) => rhai::serde::to_dynamic(result),
                Err(message) => Err(error(format!("strategy {name}: {message}"))),
            }
        })
    });
    module
}
