//! Indicator values: written by the indicators flow, read by strategies and reports.

use chrono::{DateTime, Utc};

use super::{Result, Store, from_millis, on_pool, to_millis};

impl Store {
    /// Stores one indicator's values for a symbol and timeframe, replacing values already stored
    /// for the same bars (a recomputation wins). NaN values (warm-up) are skipped. Returns how
    /// many were written.
    pub async fn upsert_indicator_values(
        &self,
        symbol: &str,
        timeframe: &str,
        indicator: &str,
        values: &[(DateTime<Utc>, f64)],
        computed_at: DateTime<Utc>,
    ) -> Result<u64> {
        let finite: Vec<&(DateTime<Utc>, f64)> = values
            .iter()
            .filter(|(_, value)| value.is_finite())
            .collect();
        if finite.is_empty() {
            return Ok(0);
        }
        on_pool!(self, |pool| {
            let mut transaction = pool.begin().await?;
            for (time, value) in &finite {
                sqlx::query(
                    "INSERT INTO indicator_values (symbol, timeframe, indicator, ts, value, computed_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (symbol, timeframe, indicator, ts) \
                     DO UPDATE SET value = excluded.value, computed_at = excluded.computed_at",
                )
                .bind(symbol)
                .bind(timeframe)
                .bind(indicator)
                .bind(to_millis(*time))
                .bind(*value)
                .bind(to_millis(computed_at))
                .execute(&mut *transaction)
                .await?;
            }
            transaction.commit().await
        })?;
        Ok(finite.len() as u64)
    }

    /// The latest bar time with a stored value of an indicator.
    pub async fn last_indicator_time(
        &self,
        symbol: &str,
        timeframe: &str,
        indicator: &str,
    ) -> Result<Option<DateTime<Utc>>> {
        let millis: Option<i64> = on_pool!(self, |pool| {
            sqlx::query_scalar("SELECT MAX(ts) FROM indicator_values WHERE symbol = $1 AND timeframe = $2 AND indicator = $3")
                .bind(symbol)
                .bind(timeframe)
                .bind(indicator)
                .fetch_one(pool)
                .await
        })?;
        millis
            .map(|millis| from_millis("indicator_values", "ts", millis))
            .transpose()
    }

    /// Stored values of an indicator, oldest first.
    pub async fn indicator_values(
        &self,
        symbol: &str,
        timeframe: &str,
        indicator: &str,
    ) -> Result<Vec<(DateTime<Utc>, f64)>> {
        let rows: Vec<(i64, f64)> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT ts, value FROM indicator_values WHERE symbol = $1 AND timeframe = $2 AND indicator = $3 ORDER BY ts")
                .bind(symbol)
                .bind(timeframe)
                .bind(indicator)
                .fetch_all(pool)
                .await
        })?;
        rows.into_iter()
            .map(|(ts, value)| Ok((from_millis("indicator_values", "ts", ts)?, value)))
            .collect()
    }
}
