//! `ops::…`: the upkeep the original design's maintenance flows did — database backups with
//! retention, Parquet archives of old bars, and deleting old run logs. Typed operations, not free-form file or SQL access.

use rhai::{INT, Module, NativeCallContext};

use super::{block_on, current, error, host, located};

/// The `ops` module.
pub fn module() -> Module {
    let mut module = Module::new();
    module.set_native_fn("backup_database", |context: NativeCallContext, keep: INT| {
        located(&context, || {
            let (_, host) = host()?;
            let keep = usize::try_from(keep).ok().filter(|keep| *keep >= 1).ok_or_else(|| error(format!("keep must be at least 1, got {keep}")))?;
            let flows = current()
                .and_then(|invocation| invocation.flow.clone())
                .ok_or_else(|| error("ops::backup_database runs only inside a flow run by the daemon or `tradehost flow run`"))?;
            match block_on(&host, flows.host.backup_database(keep)) {
                Ok(path) => rhai::serde::to_dynamic(path),
                Err(message) => Err(error(format!("backup failed: {message}"))),
            }
        })
    });
    module.set_native_fn("archive_old_bars", |context: NativeCallContext, retention_days: INT| {
        located(&context, || {
            let (_, host) = host()?;
            let days = u32::try_from(retention_days)
                .ok()
                .filter(|days| *days >= 1)
                .ok_or_else(|| error(format!("retention_days must be at least 1, got {retention_days}")))?;
            let flows = current().and_then(|invocation| invocation.flow.clone()).ok_or_else(|| {
                error("ops::archive_old_bars runs only inside a flow run by the daemon or `tradehost flow run`")
            })?;
            match block_on(&host, flows.host.archive_bars(days)) {
                Ok(outcome) => rhai::serde::to_dynamic(outcome),
                Err(message) => Err(error(format!("archiving failed: {message}"))),
            }
        })
    });
    module.set_native_fn(
        "delete_logs_older_than",
        |context: NativeCallContext, days: INT| {
            located(&context, || {
                let (_, host) = host()?;
                if days < 1 {
                    return Err(error(format!("days must be at least 1, got {days}")));
                }
                let cutoff = host.clock.now() - chrono::Duration::days(days);
                let deleted = block_on(&host, host.store.delete_run_logs_before(cutoff))
                    .map_err(|failure| error(format!("deleting logs failed: {failure}")))?;
                Ok(deleted as INT)
            })
        },
    );
    module
}
