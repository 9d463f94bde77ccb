//! Bars: idempotent bulk inserts and time-ordered reads.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder, Sqlite};

use super::{Backend, Result, Store, from_millis, on_pool, parse_column, to_millis};
use crate::domain::{Bar, Price, Symbol, Timeframe};

/// What an insert did: new rows, and rows that were already stored (and left untouched).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct BarInsert {
    /// Rows written.
    pub inserted: u64,
    /// Rows skipped because a bar with the same symbol, timeframe and start already existed.
    pub existing: u64,
}

/// Which bars to read.
#[derive(Debug, Clone)]
pub struct BarQuery {
    /// The instrument.
    pub symbol: Symbol,
    /// The bar length.
    pub timeframe: Timeframe,
    /// Bars starting at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Bars starting before this time.
    pub to: Option<DateTime<Utc>>,
    /// At most this many bars: the latest ones when set, still returned oldest first.
    pub limit: Option<u32>,
}

impl BarQuery {
    /// All stored bars of one symbol and timeframe.
    pub fn all(symbol: Symbol, timeframe: Timeframe) -> Self {
        Self {
            symbol,
            timeframe,
            from: None,
            to: None,
            limit: None,
        }
    }
}

/// SQLite allows 32 766 bound parameters per statement; 9 per bar leaves room for 3 640 rows. A
/// smaller batch keeps each statement's parse cost low and is as fast in practice.
const SQLITE_ROWS_PER_STATEMENT: usize = 500;

/// PostgreSQL inserts whole arrays per statement; this bounds the memory of one statement.
const POSTGRES_ROWS_PER_STATEMENT: usize = 10_000;

#[derive(sqlx::FromRow)]
struct BarRow {
    symbol: String,
    timeframe: String,
    ts: i64,
    open: String,
    high: String,
    low: String,
    close: String,
    volume: String,
}

impl BarRow {
    fn into_bar(self) -> Result<Bar> {
        let symbol = parse_column("bars", "symbol", &self.symbol)?;
        let timeframe = parse_column("bars", "timeframe", &self.timeframe)?;
        let values = ValuesRow {
            ts: self.ts,
            open: self.open,
            high: self.high,
            low: self.low,
            close: self.close,
            volume: self.volume,
        };
        values.into_bar(symbol, timeframe)
    }
}

/// A bar's row without its symbol and timeframe: what a read of one series selects, since every
/// row shares them (parsing them once per query, not per row, is most of a read's cost saved).
#[derive(sqlx::FromRow)]
struct ValuesRow {
    ts: i64,
    open: String,
    high: String,
    low: String,
    close: String,
    volume: String,
}

impl ValuesRow {
    fn into_bar(self, symbol: Symbol, timeframe: Timeframe) -> Result<Bar> {
        let price = |column, text: &str| parse_column::<Price>("bars", column, text);
        let bar = Bar::new(
            symbol,
            timeframe,
            from_millis("bars", "ts", self.ts)?,
            price("open", &self.open)?,
            price("high", &self.high)?,
            price("low", &self.low)?,
            price("close", &self.close)?,
            parse_column("bars", "volume", &self.volume)?,
        );
        bar.map_err(|error| super::Error::Corrupt {
            table: "bars",
            column: "open, high, low, close",
            message: error.to_string(),
        })
    }
}

impl Store {
    /// Stores bars, skipping any whose symbol, timeframe and start are already stored, so
    /// re-importing the same data adds nothing. All or nothing: one transaction.
    pub async fn insert_bars(&self, bars: &[Bar], source: &str) -> Result<BarInsert> {
        if bars.is_empty() {
            return Ok(BarInsert::default());
        }
        let inserted = match &self.backend {
            Backend::Sqlite(pool) => {
                let mut transaction = pool.begin().await?;
                let mut inserted = 0;
                for chunk in bars.chunks(SQLITE_ROWS_PER_STATEMENT) {
                    let mut builder = QueryBuilder::<Sqlite>::new(
                        "INSERT INTO bars (symbol, timeframe, ts, open, high, low, close, volume, source) ",
                    );
                    builder.push_values(chunk, |mut row, bar| {
                        row.push_bind(bar.symbol.as_str())
                            .push_bind(bar.timeframe.to_string())
                            .push_bind(to_millis(bar.time))
                            .push_bind(bar.open.to_string())
                            .push_bind(bar.high.to_string())
                            .push_bind(bar.low.to_string())
                            .push_bind(bar.close.to_string())
                            .push_bind(bar.volume.to_string())
                            .push_bind(source);
                    });
                    builder.push(" ON CONFLICT (symbol, timeframe, ts) DO NOTHING");
                    inserted += builder
                        .build()
                        .execute(&mut *transaction)
                        .await?
                        .rows_affected();
                }
                transaction.commit().await?;
                inserted
            }
            Backend::Postgres(pool) => {
                let mut transaction = pool.begin().await?;
                let mut inserted = 0;
                for chunk in bars.chunks(POSTGRES_ROWS_PER_STATEMENT) {
                    inserted += insert_postgres_chunk(&mut transaction, chunk, source).await?;
                }
                transaction.commit().await?;
                inserted
            }
        };
        let total = u64::try_from(bars.len()).unwrap_or(u64::MAX);
        Ok(BarInsert {
            inserted,
            existing: total.saturating_sub(inserted),
        })
    }

    /// Reads bars oldest first. With a limit, the latest `limit` bars of the range.
    pub async fn bars(&self, query: &BarQuery) -> Result<Vec<Bar>> {
        let from = query.from.map_or(i64::MIN, to_millis);
        let to = query.to.map_or(i64::MAX, to_millis);
        let limit = query.limit.map_or(i64::MAX, i64::from);
        // Newest first with the limit, then reversed, so "the last 500 bars" is one index scan.
        let rows: Vec<ValuesRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT ts, open, high, low, close, volume FROM bars \
                 WHERE symbol = $1 AND timeframe = $2 AND ts >= $3 AND ts < $4 \
                 ORDER BY ts DESC LIMIT $5",
            )
            .bind(query.symbol.as_str())
            .bind(query.timeframe.to_string())
            .bind(from)
            .bind(to)
            .bind(limit)
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter()
            .rev()
            .map(|row| row.into_bar(query.symbol.clone(), query.timeframe))
            .collect()
    }

    /// The number of stored bars, optionally of one symbol.
    pub async fn count_bars(&self, symbol: Option<&Symbol>) -> Result<u64> {
        let count: i64 = on_pool!(self, |pool| {
            sqlx::query_scalar("SELECT COUNT(*) FROM bars WHERE $1 IS NULL OR symbol = $1")
                .bind(symbol.map(Symbol::as_str))
                .fetch_one(pool)
                .await
        })?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    /// The last stored bar of each of `symbols` in `timeframe` (symbols without bars are absent).
    pub async fn last_bars(
        &self,
        symbols: &[Symbol],
        timeframe: Timeframe,
    ) -> Result<HashMap<Symbol, Bar>> {
        let mut last = HashMap::new();
        for symbol in symbols {
            let query = BarQuery {
                limit: Some(1),
                ..BarQuery::all(symbol.clone(), timeframe)
            };
            if let Some(bar) = self.bars(&query).await?.pop() {
                last.insert(symbol.clone(), bar);
            }
        }
        Ok(last)
    }
}

impl Store {
    /// The time of the newest stored bar, if any: how fresh the data is.
    pub async fn newest_bar_time(&self) -> Result<Option<DateTime<Utc>>> {
        self.bar_time("SELECT MAX(ts) FROM bars").await
    }

    /// The start of the oldest stored bar.
    pub async fn oldest_bar_time(&self) -> Result<Option<DateTime<Utc>>> {
        self.bar_time("SELECT MIN(ts) FROM bars").await
    }

    /// One bar time from a statement returning a nullable `ts`.
    async fn bar_time(&self, statement: &'static str) -> Result<Option<DateTime<Utc>>> {
        let millis: Option<i64> = on_pool!(self, |pool| {
            sqlx::query_scalar(statement).fetch_one(pool).await
        })?;
        millis
            .map(|millis| from_millis("bars", "ts", millis))
            .transpose()
    }

    /// Archives every bar starting before `until`: reads them, hands them to `write` (which must
    /// store them durably and return how many it stored), then deletes them — all in one
    /// transaction whose snapshot the delete shares, so a failed write leaves every bar stored and
    /// a bar inserted meanwhile is neither lost nor deleted unarchived. Returns the rows archived.
    pub async fn archive_bars_before(
        &self,
        until: DateTime<Utc>,
        write: impl FnOnce(&[Bar]) -> std::result::Result<usize, String>,
    ) -> std::result::Result<usize, String> {
        const SELECT: &str = "SELECT symbol, timeframe, ts, open, high, low, close, volume FROM bars \
                              WHERE ts < $1 ORDER BY symbol, timeframe, ts";
        const DELETE: &str = "DELETE FROM bars WHERE ts < $1";
        let until = to_millis(until);
        let failed = |error: sqlx::Error| error.to_string();
        // On PostgreSQL one snapshot serves the read and the delete: a bar committed in between
        // is seen by neither, so it stays for the next archive run. SQLite's transaction keeps
        // its read snapshot until the delete, which fails rather than deletes unseen rows.
        let prelude: &[&'static str] = match &self.backend {
            Backend::Sqlite(_) => &[],
            Backend::Postgres(_) => &["SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"],
        };
        let mut write = Some(write);
        on_pool!(self, |pool| {
            let mut transaction = pool.begin().await.map_err(failed)?;
            for step in prelude {
                sqlx::query(*step)
                    .execute(&mut *transaction)
                    .await
                    .map_err(failed)?;
            }
            let rows: Vec<BarRow> = sqlx::query_as(SELECT)
                .bind(until)
                .fetch_all(&mut *transaction)
                .await
                .map_err(failed)?;
            let bars = rows
                .into_iter()
                .map(BarRow::into_bar)
                .collect::<Result<Vec<_>>>()
                .map_err(|error| error.to_string())?;
            let write = write.take().ok_or("the archive writer was already used")?;
            let written = write(&bars)?;
            let deleted = sqlx::query(DELETE)
                .bind(until)
                .execute(&mut *transaction)
                .await
                .map_err(failed)?
                .rows_affected();
            if written != bars.len() || deleted != bars.len() as u64 {
                return Err(format!(
                    "archived {written} and would delete {deleted} of {} bars; nothing deleted",
                    bars.len()
                ));
            }
            transaction.commit().await.map_err(failed)?;
            Ok(written)
        })
    }
}

/// One `INSERT … SELECT FROM UNNEST(arrays)`: a single round trip for thousands of rows.
async fn insert_postgres_chunk(
    transaction: &mut sqlx::Transaction<'_, Postgres>,
    chunk: &[Bar],
    source: &str,
) -> Result<u64> {
    let text = |field: fn(&Bar) -> String| chunk.iter().map(field).collect::<Vec<String>>();
    let result = sqlx::query(
        "INSERT INTO bars (symbol, timeframe, ts, open, high, low, close, volume, source) \
         SELECT symbol, timeframe, ts, open, high, low, close, volume, $9 \
         FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], \
                     $7::text[], $8::text[]) \
              AS rows (symbol, timeframe, ts, open, high, low, close, volume) \
         ON CONFLICT (symbol, timeframe, ts) DO NOTHING",
    )
    .bind(text(|bar| bar.symbol.to_string()))
    .bind(text(|bar| bar.timeframe.to_string()))
    .bind(
        chunk
            .iter()
            .map(|bar| to_millis(bar.time))
            .collect::<Vec<i64>>(),
    )
    .bind(text(|bar| bar.open.to_string()))
    .bind(text(|bar| bar.high.to_string()))
    .bind(text(|bar| bar.low.to_string()))
    .bind(text(|bar| bar.close.to_string()))
    .bind(text(|bar| bar.volume.to_string()))
    .bind(source)
    .execute(&mut **transaction)
    .await?;
    Ok(result.rows_affected())
}
