//! `db::query(sql, params)`: read-only parametrised SQL; and typed writes to the tables scripts
//! may change. There is no free-form write.

use rhai::{Array, Dynamic, Map, Module, NativeCallContext};

use super::{block_on, error, host, located};
use crate::indicators::Series;
use crate::store::{QualityIssue, Severity};

/// What a script's SQL may begin with: statements that only read.
const READING_STATEMENTS: [&str; 3] = ["select", "with", "values"];

/// Accepts one statement that reads, and refuses anything else. The read-only connection refuses
/// writes to the database, but not `ATTACH` (which reads any SQLite file on disk), `VACUUM INTO`
/// (which writes a copy of the database to any path) or `PRAGMA`; and SQLite runs every statement
/// of a string, so one string must hold one statement.
fn check_one_read(sql: &str) -> Result<(), Box<rhai::EvalAltResult>> {
    let code = without_literals_and_comments(sql);
    let statement = code.trim().trim_end_matches(';');
    if statement.contains(';') {
        return Err(error(
            "db::query: one statement per query (this one has several)",
        ));
    }
    let first_word: String = statement
        .trim_start()
        .chars()
        .take_while(char::is_ascii_alphabetic)
        .collect::<String>()
        .to_ascii_lowercase();
    if !READING_STATEMENTS.contains(&first_word.as_str()) {
        return Err(error(format!(
            "db::query only reads: a query starts with SELECT, WITH or VALUES, not `{}`",
            statement.split_whitespace().next().unwrap_or_default()
        )));
    }
    Ok(())
}

/// `sql` with comments blanked and the insides of quoted strings and names removed, so that
/// keywords and semicolons are only found in code.
fn without_literals_and_comments(sql: &str) -> String {
    let mut code = String::with_capacity(sql.len());
    let mut characters = sql.chars().peekable();
    while let Some(character) = characters.next() {
        match character {
            '\'' | '"' | '`' | '[' => {
                let close = if character == '[' { ']' } else { character };
                code.push(character);
                // A doubled quote inside a literal reads as closing and reopening it: the same.
                for inner in characters.by_ref() {
                    if inner == close {
                        code.push(close);
                        break;
                    }
                }
            }
            '-' if characters.peek() == Some(&'-') => {
                for inner in characters.by_ref() {
                    if inner == '\n' {
                        break;
                    }
                }
                code.push(' ');
            }
            '/' if characters.peek() == Some(&'*') => {
                characters.next();
                let mut previous = ' ';
                for inner in characters.by_ref() {
                    if previous == '*' && inner == '/' {
                        break;
                    }
                    previous = inner;
                }
                code.push(' ');
            }
            other => code.push(other),
        }
    }
    code
}

fn rows(sql: &str, params: Array) -> Result<Array, Box<rhai::EvalAltResult>> {
    check_one_read(sql)?;
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
    super::records::register(&mut module);
    module.set_native_fn("query", |context: NativeCallContext, sql: &str| {
        located(&context, || rows(sql, Array::new()))
    });
    module.set_native_fn(
        "query",
        |context: NativeCallContext, sql: &str, params: Array| {
            located(&context, || rows(sql, params))
        },
    );
    // A data-quality finding, as validate_data_quality records them.
    module.set_native_fn(
        "record_quality_issue",
        |context: NativeCallContext, issue: Map| {
            located(&context, || {
                let (invocation, host) = host()?;
                let text = |key: &str| issue.get(key).map(|value| value.to_string());
                let kind =
                    text("kind").ok_or_else(|| error("record_quality_issue needs `kind`"))?;
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
            })
        },
    );
    // An indicator's values per bar: `times` are the bars' `.time` (epoch seconds), `values` the
    // indicator, both of one length; warm-up NaN are skipped. Returns how many were stored.
    module.set_native_fn(
        "record_indicator",
        |context: NativeCallContext,
         symbol: &str,
         timeframe: &str,
         name: &str,
         times: Series,
         values: Series| {
            located(&context, || {
                let (_, host) = host()?;
                if times.len() != values.len() {
                    return Err(error(format!(
                        "record_indicator: {} times but {} values",
                        times.len(),
                        values.len()
                    )));
                }
                let mut points = Vec::with_capacity(values.len());
                for (time, value) in times.values().iter().zip(values.values()) {
                    let time =
                        chrono::DateTime::from_timestamp(*time as i64, 0).ok_or_else(|| {
                            error(format!("record_indicator: {time} is not a bar time"))
                        })?;
                    points.push((time, *value));
                }
                let stored = block_on(
                    &host,
                    host.store.upsert_indicator_values(
                        symbol,
                        timeframe,
                        name,
                        &points,
                        host.clock.now(),
                    ),
                )
                .map_err(|failure| error(format!("record_indicator failed: {failure}")))?;
                Ok(stored as rhai::INT)
            })
        },
    );
    // The start (epoch seconds) of the last bar with a stored value of the indicator, or ().
    module.set_native_fn(
        "last_indicator_time",
        |context: NativeCallContext, symbol: &str, timeframe: &str, name: &str| {
            located(&context, || {
                let (_, host) = host()?;
                let last = block_on(
                    &host,
                    host.store.last_indicator_time(symbol, timeframe, name),
                )
                .map_err(|failure| error(failure.to_string()))?;
                Ok(last.map_or(Dynamic::UNIT, |time| Dynamic::from_int(time.timestamp())))
            })
        },
    );
    module
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_reading_statements_are_accepted() {
        for sql in [
            "SELECT 1",
            "  select * from bars where symbol = $1;",
            "-- latest\nSELECT ';' AS semicolon, \"a;b\" FROM bars",
            "/* count */ WITH x AS (SELECT 1) SELECT * FROM x",
            "VALUES (1), (2)",
        ] {
            assert!(check_one_read(sql).is_ok(), "{sql}");
        }
    }

    #[test]
    fn statements_that_do_not_only_read_are_refused() {
        for sql in [
            "ATTACH DATABASE '/tmp/other.db' AS other",
            "VACUUM INTO '/tmp/copy.db'",
            "PRAGMA journal_mode = DELETE",
            "DELETE FROM audit_log",
            "/* SELECT */ DROP TABLE bars",
            "SELECT 1; ATTACH '/tmp/other.db' AS other",
            "SELECT 1 -- ; fine\n; VACUUM INTO '/tmp/x'",
            "",
        ] {
            assert!(check_one_read(sql).is_err(), "{sql}");
        }
    }
}
