//! `state::get/set/remove/keys`: a per-script key-value store in the database. Values are any
//! script value that converts to JSON; they survive reloads and restarts.

use rhai::{Array, Dynamic, Module, NativeCallContext};

use super::{Host, Invocation, block_on, error, host, located};

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

/// The value under `key`, or `default` when there is none.
fn get(key: &str, default: Dynamic) -> Result<Dynamic, Box<rhai::EvalAltResult>> {
    check_key(key)?;
    let (invocation, host) = host()?;
    if let Some(overlay) = &invocation.overlay {
        let state = overlay
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        return Ok(state.get(key).cloned().unwrap_or(default));
    }
    match stored(&invocation, &host, key)? {
        None => Ok(default),
        Some(value) => rhai::serde::to_dynamic(value),
    }
}

/// The JSON stored under `key` in the calling script's state in the database.
pub(super) fn stored(
    invocation: &Invocation,
    host: &Host,
    key: &str,
) -> Result<Option<serde_json::Value>, Box<rhai::EvalAltResult>> {
    let text = block_on(host, host.store.script_state(&invocation.script, key))
        .map_err(|failure| error(format!("reading state `{key}` failed: {failure}")))?;
    text.map(|text| {
        serde_json::from_str(&text)
            .map_err(|failure| error(format!("state `{key}` is not valid JSON: {failure}")))
    })
    .transpose()
}

/// Keeps `value` under `key`: as it is in a backtest's overlay, else as the JSON text `json`
/// makes of it in the database (only made there: `state::set` hands the overlay the value its
/// JSON gives back, and a pair's book keeps its own object there).
pub(super) fn put(
    invocation: &Invocation,
    host: &Host,
    key: &str,
    value: Dynamic,
    json: impl FnOnce(&Dynamic) -> Result<String, Box<rhai::EvalAltResult>>,
) -> Result<(), Box<rhai::EvalAltResult>> {
    if let Some(overlay) = &invocation.overlay {
        overlay
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key.to_owned(), value);
        return Ok(());
    }
    let text = json(&value)?;
    let now = host.clock.now();
    block_on(
        host,
        host.store
            .set_script_state(&invocation.script, key, &text, now),
    )
    .map_err(|failure| error(format!("saving state `{key}` failed: {failure}")))
}

/// The `state` module.
pub fn module() -> Module {
    let mut module = Module::new();
    module.set_native_fn("get", |context: NativeCallContext, key: &str| {
        located(&context, || get(key, Dynamic::UNIT))
    });
    module.set_native_fn(
        "get",
        |context: NativeCallContext, key: &str, default: Dynamic| {
            located(&context, || get(key, default))
        },
    );
    module.set_native_fn(
        "set",
        |context: NativeCallContext, key: &str, value: Dynamic| {
            located(&context, || {
                check_key(key)?;
                let (invocation, host) = host()?;
                let json: serde_json::Value = rhai::serde::from_dynamic(&value).map_err(|_| {
                    error(format!(
                        "state::set(`{key}`): a {} cannot be stored; use numbers, strings, booleans, arrays and maps",
                        context.engine().map_type_name(value.type_name())
                    ))
                })?;
                // A backtest keeps what the database would give back, so a script reads the
                // same value in a backtest as live (a character comes back a string, a NaN
                // comes back ()), and what live refuses is refused here too.
                let value = if invocation.overlay.is_some() {
                    rhai::serde::to_dynamic(&json)?
                } else {
                    value
                };
                put(&invocation, &host, key, value, |_| Ok(json.to_string()))
            })
        },
    );
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
