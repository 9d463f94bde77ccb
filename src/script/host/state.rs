//! `state::get/set/remove/keys`: a per-script key-value store in the database. Values are any
//! script value that converts to JSON; they survive reloads and restarts.

use rhai::{Array, Dynamic, Module, NativeCallContext};

use super::{block_on, error, host, located};

/// Longest key accepted.
const MAX_KEY_LENGTH: usize = 200;

fn check_key(key: &str) -> Result<(), Box<rhai::EvalAltResult>> {
    if key.is_empty() || key.len() > MAX_KEY_LENGTH {
        return Err(error(format!(
            "state keys are 1 to {MAX_KEY_LENGTH} characters"
        )));
    }
    Ok(())
}

/// The `state` module.
pub fn module() -> Module {
    let mut module = Module::new();
    module.set_native_fn("get", |context: NativeCallContext, key: &str| {
        located(&context, || {
            check_key(key)?;
            let (invocation, host) = host()?;
            if let Some(overlay) = &invocation.overlay {
                let state = overlay
                    .state
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                return Ok(state.get(key).cloned().unwrap_or(Dynamic::UNIT));
            }
            let stored = block_on(&host, host.store.script_state(&invocation.script, key))
                .map_err(|failure| error(format!("state::get failed: {failure}")))?;
            match stored {
                None => Ok(Dynamic::UNIT),
                Some(text) => {
                    let value: serde_json::Value =
                        serde_json::from_str(&text).map_err(|failure| {
                            error(format!("state `{key}` is not valid JSON: {failure}"))
                        })?;
                    rhai::serde::to_dynamic(value)
                }
            }
        })
    });
    module.set_native_fn(
        "get",
        |context: NativeCallContext, key: &str, default: Dynamic| {
            located(&context, || {
                check_key(key)?;
                let (invocation, host) = host()?;
                if let Some(overlay) = &invocation.overlay {
                    let state = overlay
                        .state
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    return Ok(state.get(key).cloned().unwrap_or(default));
                }
                let stored = block_on(&host, host.store.script_state(&invocation.script, key))
                    .map_err(|failure| error(format!("state::get failed: {failure}")))?;
                match stored {
                    None => Ok(default),
                    Some(text) => {
                        let value: serde_json::Value =
                            serde_json::from_str(&text).map_err(|failure| {
                                error(format!("state `{key}` is not valid JSON: {failure}"))
                            })?;
                        rhai::serde::to_dynamic(value)
                    }
                }
            })
        },
    );
    module.set_native_fn("set", |context: NativeCallContext, key: &str, value: Dynamic| located(&context, || {
        check_key(key)?;
        let (invocation, host) = host()?;
        if let Some(overlay) = &invocation.overlay {
            overlay
                .state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(key.to_owned(), value);
            return Ok(());
        }
        let json: serde_json::Value = rhai::serde::from_dynamic(&value)
            .map_err(|_| error(format!("state::set(`{key}`): a {} cannot be stored; use numbers, strings, booleans, arrays and maps", value.type_name())))?;
        let now = host.clock.now();
        block_on(&host, host.store.set_script_state(&invocation.script, key, &json.to_string(), now))
            .map_err(|failure| error(format!("state::set failed: {failure}")))?;
        Ok(())
    }));
    module.set_native_fn("remove", |context: NativeCallContext, key: &str| {
        located(&context, || {
            check_key(key)?;
            let (invocation, host) = host()?;
            block_on(
                &host,
                host.store.remove_script_state(&invocation.script, key),
            )
            .map_err(|failure| error(format!("state::remove failed: {failure}")))
        })
    });
    module.set_native_fn("keys", |context: NativeCallContext| {
        located(&context, || {
            let (invocation, host) = host()?;
            let keys = block_on(&host, host.store.script_state_keys(&invocation.script))
                .map_err(|failure| error(format!("state::keys failed: {failure}")))?;
            Ok(keys.into_iter().map(Dynamic::from).collect::<Array>())
        })
    });
    module
}
