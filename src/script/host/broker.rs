//! `broker::…`: the account, positions and the market clock as the broker reports them, and the
//! upkeep passes of the `update_positions` and `reconcile_trades` flows. Read-only for scripts:
//! orders go through `orders::`.

use rhai::{Module, NativeCallContext};

use super::orders::{symbol, to_script};
use super::{block_on, desk, error, located};

/// The `broker` module.
pub fn module() -> Module {
    let mut module = Module::new();
    module.set_native_fn("name", |context: NativeCallContext| {
        located(&context, || {
            let (_, _, desk) = desk()?;
            Ok(desk.broker().name().to_owned())
        })
    });
    module.set_native_fn("account", |context: NativeCallContext| {
        located(&context, || {
            let (_, host, desk) = desk()?;
            let account = block_on(&host, desk.broker().account())
                .map_err(|failure| error(format!("broker::account: {failure}")))?;
            to_script(&account)
        })
    });
    module.set_native_fn("positions", |context: NativeCallContext| {
        located(&context, || {
            let (_, host, desk) = desk()?;
            let positions = block_on(&host, desk.broker().positions())
                .map_err(|failure| error(format!("broker::positions: {failure}")))?;
            to_script(&positions)
        })
    });
    module.set_native_fn("position", |context: NativeCallContext, name: &str| {
        located(&context, || {
            let (_, host, desk) = desk()?;
            let wanted = symbol(name)?;
            let positions = block_on(&host, desk.broker().positions())
                .map_err(|failure| error(format!("broker::position: {failure}")))?;
            match positions
                .into_iter()
                .find(|position| position.symbol == wanted)
            {
                Some(position) => to_script(&position),
                None => Ok(rhai::Dynamic::UNIT),
            }
        })
    });
    module.set_native_fn("clock", |context: NativeCallContext| {
        located(&context, || {
            let (_, host, desk) = desk()?;
            let clock = block_on(&host, desk.broker().clock())
                .map_err(|failure| error(format!("broker::clock: {failure}")))?;
            to_script(&clock)
        })
    });
    module.set_native_fn("update_positions", |context: NativeCallContext| {
        located(&context, || {
            let (_, host, desk) = desk()?;
            let summary = block_on(&host, desk.update_positions())
                .map_err(|failure| error(format!("broker::update_positions: {failure}")))?;
            to_script(&summary)
        })
    });
    module.set_native_fn("reconcile", |context: NativeCallContext| {
        located(&context, || {
            let (_, host, desk) = desk()?;
            let report = block_on(&host, desk.reconcile())
                .map_err(|failure| error(format!("broker::reconcile: {failure}")))?;
            to_script(&report)
        })
    });
    module
}
