//! `flow::…`: composition inside a flow — subflows (`run`, `run_all`), tasks with retries and a
//! result cache (`task`), events (`emit`), and the current run's id.

use rhai::{Array, Dynamic, FnPtr, INT, Map, Module, NativeCallContext};

use super::{block_on, current, error, host, located};
use crate::store::TaskRunRecord;

type Result<T> = std::result::Result<T, Box<rhai::EvalAltResult>>;

fn to_json(value: &Dynamic, what: &str) -> Result<serde_json::Value> {
    rhai::serde::from_dynamic(value).map_err(|_| {
        error(format!(
            "{what}: a {} cannot be passed on; use numbers, strings, booleans, arrays and maps",
            value.type_name()
        ))
    })
}

fn flow_context() -> Result<super::FlowContext> {
    current()
        .and_then(|invocation| invocation.flow.clone())
        .ok_or_else(|| error("flow::run needs the orchestrator: call it from a flow the daemon or `tradehost flow run` runs"))
}

fn subflow(name: &str, parameters: Dynamic) -> Result<Dynamic> {
    let (_, host) = host()?;
    let context = flow_context()?;
    let parameters = to_json(&parameters, "flow::run parameters")?;
    let outcome = block_on(
        &host,
        context
            .host
            .run_subflow(context.run_id, name.to_owned(), parameters),
    );
    match outcome {
        Ok(result) => rhai::serde::to_dynamic(result),
        Err(message) => Err(error(format!("subflow {name} failed: {message}"))),
    }
}

fn parallel(calls: Array) -> Result<Array> {
    let (_, host) = host()?;
    let context = flow_context()?;
    let mut requests = Vec::with_capacity(calls.len());
    for call in calls {
        let (name, parameters) = if call.is_string() {
            (
                call.into_string()
                    .map_err(|_| error("flow::run_all: a name must be a string"))?,
                serde_json::json!({}),
            )
        } else if let Some(map) = call.clone().try_cast::<Map>() {
            let name = map
                .get("name")
                .and_then(|name| name.clone().into_string().ok())
                .ok_or_else(|| error("flow::run_all: each call needs a `name`"))?;
            let parameters = map
                .get("params")
                .map(|params| to_json(params, "flow::run_all params"))
                .transpose()?
                .unwrap_or(serde_json::json!({}));
            (name, parameters)
        } else {
            return Err(error(
                "flow::run_all takes flow names or #{ name, params } maps",
            ));
        };
        requests.push((name, parameters));
    }
    let results = block_on(&host, async {
        let handles: Vec<_> = requests
            .into_iter()
            .map(|(name, parameters)| {
                let flows = context.host.clone();
                let parent = context.run_id;
                tokio::spawn(async move {
                    let outcome = flows.run_subflow(parent, name.clone(), parameters).await;
                    (name, outcome)
                })
            })
            .collect();
        let mut results = Vec::with_capacity(handles.len());
        for handle in handles {
            results.push(handle.await.map_err(|failure| failure.to_string()));
        }
        results
    });
    let mut values = Array::new();
    let mut failures = Vec::new();
    for result in results {
        match result {
            Ok((_, Ok(value))) => values.push(rhai::serde::to_dynamic(value)?),
            Ok((name, Err(message))) => failures.push(format!("{name}: {message}")),
            Err(message) => failures.push(message),
        }
    }
    if failures.is_empty() {
        Ok(values)
    } else {
        Err(error(format!("subflows failed: {}", failures.join("; "))))
    }
}

fn task(
    context: &NativeCallContext,
    name: &str,
    options: Map,
    function: FnPtr,
    args: Array,
) -> Result<Dynamic> {
    let (_, host) = host()?;
    let run_id =
        current().and_then(|invocation| invocation.flow.as_ref().and_then(|flow| flow.run_id));
    let retries = options
        .get("retries")
        .and_then(|value| value.as_int().ok())
        .unwrap_or(0)
        .clamp(0, 100) as u32;
    let cache_key = options.get("cache_key").map(|value| value.to_string());
    let cache_seconds = options
        .get("cache_seconds")
        .and_then(|value| {
            value
                .as_float()
                .ok()
                .or_else(|| value.as_int().ok().map(|integer| integer as f64))
        })
        .unwrap_or(0.0);
    let started = host.clock.now();
    let record = |state: &str,
                  attempts: u32,
                  hit: bool,
                  result: Option<serde_json::Value>,
                  error: Option<String>| TaskRunRecord {
        run_id,
        name: name.to_owned(),
        cache_key: cache_key.clone(),
        state: state.to_owned(),
        attempts,
        cache_hit: hit,
        result,
        error,
    };
    if let Some(key) = &cache_key {
        let cached = block_on(&host, host.store.cached_task_result(key, started))
            .map_err(|failure| error(format!("flow::task cache: {failure}")))?;
        if let Some(value) = cached {
            let entry = record("completed", 0, true, Some(value.clone()), None);
            block_on(
                &host,
                host.store
                    .record_task_run(&entry, started, host.clock.now()),
            )
            .map_err(|failure| error(failure.to_string()))?;
            return rhai::serde::to_dynamic(value);
        }
    }
    let mut last_error = String::new();
    for attempt in 1..=retries + 1 {
        match function.call_within_context::<Dynamic>(context, args.clone()) {
            Ok(value) => {
                let json = to_json(&value, "flow::task result")?;
                if let Some(key) = &cache_key
                    && cache_seconds > 0.0
                {
                    let expires = host.clock.now()
                        + chrono::Duration::milliseconds((cache_seconds * 1000.0) as i64);
                    block_on(&host, host.store.cache_task_result(key, &json, expires))
                        .map_err(|failure| error(failure.to_string()))?;
                }
                let entry = record("completed", attempt, false, Some(json), None);
                block_on(
                    &host,
                    host.store
                        .record_task_run(&entry, started, host.clock.now()),
                )
                .map_err(|failure| error(failure.to_string()))?;
                return Ok(value);
            }
            // Budget and limit stops are not the task's failure to retry: they end the run.
            Err(failure)
                if matches!(
                    *failure,
                    rhai::EvalAltResult::ErrorTerminated(..)
                        | rhai::EvalAltResult::ErrorTooManyOperations(..)
                ) =>
            {
                return Err(failure);
            }
            Err(failure) => last_error = failure.to_string(),
        }
    }
    let entry = record("failed", retries + 1, false, None, Some(last_error.clone()));
    block_on(
        &host,
        host.store
            .record_task_run(&entry, started, host.clock.now()),
    )
    .map_err(|failure| error(failure.to_string()))?;
    Err(error(format!(
        "task {name} failed after {} attempts: {last_error}",
        retries + 1
    )))
}

/// The `flow` module.
pub fn module() -> Module {
    let mut module = Module::new();
    module.set_native_fn("run_id", || {
        Ok(current()
            .and_then(|invocation| invocation.flow.as_ref().and_then(|flow| flow.run_id))
            .map_or(Dynamic::UNIT, |id| Dynamic::from_int(id as INT)))
    });
    module.set_native_fn("run", |context: NativeCallContext, name: &str| {
        located(&context, || subflow(name, Dynamic::from_map(Map::new())))
    });
    module.set_native_fn(
        "run",
        |context: NativeCallContext, name: &str, parameters: Dynamic| {
            located(&context, || subflow(name, parameters))
        },
    );
    module.set_native_fn("run_all", |context: NativeCallContext, calls: Array| {
        located(&context, || parallel(calls))
    });
    module.set_native_fn(
        "task",
        |context: NativeCallContext, name: &str, options: Map, function: FnPtr, args: Array| {
            located(&context, || task(&context, name, options, function, args))
        },
    );
    module.set_native_fn(
        "emit",
        |context: NativeCallContext, event: &str, payload: Dynamic| {
            located(&context, || {
                let (_, host) = host()?;
                let payload = to_json(&payload, "flow::emit payload")?;
                let id = block_on(
                    &host,
                    host.store.emit_event(event, &payload, host.clock.now()),
                )
                .map_err(|failure| error(format!("flow::emit: {failure}")))?;
                Ok(id as INT)
            })
        },
    );
    module
}
