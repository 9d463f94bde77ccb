//! Read-only queries for scripts: parametrised SQL that cannot write, with bounded results.
//!
//! SQLite runs them on a separate pool opened read-only (the file itself refuses writes);
//! PostgreSQL runs them in a `READ ONLY` transaction with a statement timeout, rolled back after.

use serde_json::{Map, Value};
use sqlx::{Column, Row, TypeInfo, ValueRef};

use super::{Backend, Result, Store};

/// Rows a script query may return; more is an error rather than a silent cut.
pub const MAX_QUERY_ROWS: usize = 10_000;

/// Why a read-only query was refused or failed, in words a script author can act on.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The SQL failed (syntax, unknown table, a write attempted on the read-only connection).
    #[error("query failed: {0}")]
    Failed(String),
    /// A parameter of a type SQL cannot take.
    #[error("parameter {index} is {kind}; use a number, string, boolean or ()")]
    Parameter {
        /// 1-based.
        index: usize,
        /// What it was.
        kind: String,
    },
    /// More rows than [`MAX_QUERY_ROWS`].
    #[error("the query returned more than {MAX_QUERY_ROWS} rows; add a LIMIT")]
    TooManyRows,
    /// The store itself failed.
    #[error(transparent)]
    Store(#[from] super::Error),
}

impl From<sqlx::Error> for QueryError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::Database(database) => Self::Failed(database.message().to_owned()),
            other => Self::Failed(other.to_string()),
        }
    }
}

macro_rules! bind_all {
    ($query:expr, $params:expr) => {{
        let mut query = $query;
        for (index, param) in $params.iter().enumerate() {
            query = match param {
                Value::Null => query.bind(None::<String>),
                Value::Bool(flag) => query.bind(*flag),
                Value::Number(number) => match number.as_i64() {
                    Some(integer) => query.bind(integer),
                    None => query.bind(number.as_f64().unwrap_or(f64::NAN)),
                },
                Value::String(text) => query.bind(text.clone()),
                other => {
                    let kind = if other.is_array() {
                        "an array"
                    } else {
                        "a map"
                    };
                    return Err(QueryError::Parameter {
                        index: index + 1,
                        kind: kind.into(),
                    });
                }
            };
        }
        query
    }};
}

impl Store {
    /// Runs `sql` with `$1…` parameters on a connection that cannot write, and returns each row as
    /// a JSON object of column name → value (integers, floats, text, booleans or null).
    pub async fn read_only_query(
        &self,
        sql: &str,
        params: &[Value],
    ) -> Result<Vec<Map<String, Value>>, QueryError> {
        let statement = sqlx::AssertSqlSafe(sql.to_owned());
        match &self.backend {
            Backend::Sqlite(_) => {
                let pool = self.read_only_pool().await?;
                let query = bind_all!(sqlx::query(statement), params);
                let rows = query.fetch_all(&pool).await?;
                rows_to_json(&rows, sqlite_value)
            }
            Backend::Postgres(pool) => {
                let mut transaction = pool.begin().await?;
                sqlx::query("SET TRANSACTION READ ONLY")
                    .execute(&mut *transaction)
                    .await?;
                sqlx::query("SET LOCAL statement_timeout = '10s'")
                    .execute(&mut *transaction)
                    .await?;
                let query = bind_all!(sqlx::query(statement), params);
                let rows = query.fetch_all(&mut *transaction).await;
                transaction.rollback().await?;
                rows_to_json(&rows?, postgres_value)
            }
        }
    }
}

fn rows_to_json<R: Row>(
    rows: &[R],
    value: fn(&R, usize) -> Value,
) -> Result<Vec<Map<String, Value>>, QueryError> {
    if rows.len() > MAX_QUERY_ROWS {
        return Err(QueryError::TooManyRows);
    }
    Ok(rows
        .iter()
        .map(|row| {
            row.columns()
                .iter()
                .enumerate()
                .map(|(index, column)| (column.name().to_owned(), value(row, index)))
                .collect()
        })
        .collect())
}

fn sqlite_value(row: &sqlx::sqlite::SqliteRow, index: usize) -> Value {
    let Ok(raw) = row.try_get_raw(index) else {
        return Value::Null;
    };
    if raw.is_null() {
        return Value::Null;
    }
    // SQLite values carry their storage class, whatever the column was declared as.
    match raw.type_info().name() {
        "INTEGER" => row
            .try_get::<i64, _>(index)
            .map(Value::from)
            .unwrap_or(Value::Null),
        "REAL" => row
            .try_get::<f64, _>(index)
            .map(Value::from)
            .unwrap_or(Value::Null),
        _ => row
            .try_get::<String, _>(index)
            .map(Value::from)
            .unwrap_or(Value::Null),
    }
}

fn postgres_value(row: &sqlx::postgres::PgRow, index: usize) -> Value {
    let Ok(raw) = row.try_get_raw(index) else {
        return Value::Null;
    };
    if raw.is_null() {
        return Value::Null;
    }
    match raw.type_info().name() {
        "INT2" => row
            .try_get::<i16, _>(index)
            .map(Value::from)
            .unwrap_or(Value::Null),
        "INT4" => row
            .try_get::<i32, _>(index)
            .map(Value::from)
            .unwrap_or(Value::Null),
        "INT8" => row
            .try_get::<i64, _>(index)
            .map(Value::from)
            .unwrap_or(Value::Null),
        "FLOAT4" => row
            .try_get::<f32, _>(index)
            .map(Value::from)
            .unwrap_or(Value::Null),
        "FLOAT8" => row
            .try_get::<f64, _>(index)
            .map(Value::from)
            .unwrap_or(Value::Null),
        "BOOL" => row
            .try_get::<bool, _>(index)
            .map(Value::from)
            .unwrap_or(Value::Null),
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => row
            .try_get::<String, _>(index)
            .map(Value::from)
            .unwrap_or(Value::Null),
        other => Value::String(format!(
            "<{other} value: cast it to text or a number in the query>"
        )),
    }
}
