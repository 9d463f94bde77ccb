//! `db::query(sql, params)`: read-only parametrised SQL; and typed writes to the tables scripts
//! may change. There is no free-form write.

use rhai::{Array, Dynamic, Map, Module};

use super::{block_on, error, host};
use crate::store::{QualityIssue, Severity};

fn rows(sql: &str, params: Array) -> Result<Array, Box<rhai::EvalAltResult>> {
    let (_, host) = host()?;
    let params: Vec<serde_json::Value> = params
        .iter()
        .map(|param| {
            rhai::serde::from_dynamic(param).map_err(|_| {
                error(format!(
                    "db::query: a {} cannot be a parameter",
                    param.type_name()
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    let rows = block_on(&host, host.store.read_only_query(sql, &params))
        .map_err(|failure| error(format!("db::query: {failure}")))?;
    rows.into_iter()
        .map(|row| rhai::serde::to_dynamic(serde_json::Value::Object(row)))
        .collect()
}

/// The `db` module.
pub fn module() -> Module {
    let mut module = Module::new();
    module.set_native_fn("query", |sql: &str| rows(sql, Array::new()));
    module.set_native_fn("query", |sql: &str, params: Array| rows(sql, params));
    // A data-quality finding, as validate_data_quality records them.
    module.set_native_fn("record_quality_issue", |issue: Map| {
        let (invocation, host) = host()?;
        let text = |key: &str| issue.get(key).map(|value| value.to_string());
        let kind = text("kind").ok_or_else(|| error("record_quality_issue needs `kind`"))?;
        let message =
            text("message").ok_or_else(|| error("record_quality_issue needs `message`"))?;
        let severity = match text("severity").as_deref() {
            None | Some("warning") => Severity::Warning,
            Some("error") => Severity::Error,
            Some(other) => {
                return Err(error(format!(
                    "severity must be \"warning\" or \"error\", not `{other}`"
                )));
            }
        };
        let record = QualityIssue {
            load_run_id: None,
            detected_at: host.clock.now(),
            source: format!("script:{}", invocation.script),
            symbol: text("symbol"),
            timeframe: text("timeframe"),
            time: None,
            line: None,
            kind,
            severity,
            message,
        };
        block_on(
            &host,
            host.store
                .record_quality_issues(std::slice::from_ref(&record)),
        )
        .map_err(|failure| error(format!("record_quality_issue failed: {failure}")))?;
        Ok(Dynamic::UNIT)
    });
    module
}
