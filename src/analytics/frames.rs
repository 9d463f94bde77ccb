//! Trades as a polars `DataFrame`, and their exports: CSV for people and spreadsheets, Parquet for
//! tools. Both read the file back and check the row count, as `archive` does before it deletes.

use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use polars::prelude::*;

use super::error::AnalyticsError;
use super::records::TradeRecord;

/// The trade list as a `DataFrame`: `pair`, `entry_time`, `exit_time` (UTC, milliseconds),
/// `direction`, `pnl`, `entry_z`, `exit_z`, `exit_reason`, one row per trade in the given order.
pub fn trades_frame(trades: &[TradeRecord]) -> Result<DataFrame, AnalyticsError> {
    let times = |name: &str, field: fn(&TradeRecord) -> DateTime<Utc>| {
        let milliseconds: Vec<i64> = trades.iter().map(|t| field(t).timestamp_millis()).collect();
        Series::new(name.into(), milliseconds).cast(&DataType::Datetime(
            TimeUnit::Milliseconds,
            Some(TimeZone::UTC),
        ))
    };
    Ok(DataFrame::new(
        trades.len(),
        vec![
            text_column("pair", trades, |t| t.pair.clone()),
            times("entry_time", |t| t.entry_time)?.into(),
            times("exit_time", |t| t.exit_time)?.into(),
            text_column("direction", trades, |t| t.direction.clone()),
            number_column("pnl", trades, |t| t.pnl),
            number_column("entry_z", trades, |t| t.entry_z),
            number_column("exit_z", trades, |t| t.exit_z),
            text_column("exit_reason", trades, |t| t.exit_reason.clone()),
        ],
    )?)
}

fn text_column(
    name: &str,
    trades: &[TradeRecord],
    field: impl Fn(&TradeRecord) -> String,
) -> Column {
    Column::new(
        name.into(),
        trades.iter().map(field).collect::<Vec<String>>(),
    )
}

fn number_column(
    name: &str,
    trades: &[TradeRecord],
    field: impl Fn(&TradeRecord) -> f64,
) -> Column {
    Column::new(name.into(), trades.iter().map(field).collect::<Vec<f64>>())
}

/// Writes the trades to a CSV file at `path` (replacing it) with a header row, times as RFC 3339
/// UTC text (`2026-01-05T14:30:00Z`) so any spreadsheet reads them; returns the rows read back.
pub fn write_trades_csv(path: &Path, trades: &[TradeRecord]) -> Result<usize, AnalyticsError> {
    let rfc3339 = |time: DateTime<Utc>| time.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    let mut frame = trades_frame(trades)?;
    frame.replace(
        "entry_time",
        text_column("entry_time", trades, |t| rfc3339(t.entry_time)),
    )?;
    frame.replace(
        "exit_time",
        text_column("exit_time", trades, |t| rfc3339(t.exit_time)),
    )?;
    let file = std::fs::File::create(path).map_err(|error| AnalyticsError::file(path, error))?;
    CsvWriter::new(file)
        .include_header(true)
        .finish(&mut frame)?;
    let read = CsvReadOptions::default()
        .with_has_header(true)
        .try_into_reader_with_file_path(Some(path.to_path_buf()))?
        .finish()?
        .height();
    check_rows(path, frame.height(), read)
}

/// Writes the trades to a Parquet file at `path` (replacing it), times as UTC datetimes; returns
/// the rows read back.
pub fn write_trades_parquet(path: &Path, trades: &[TradeRecord]) -> Result<usize, AnalyticsError> {
    let mut frame = trades_frame(trades)?;
    let file = std::fs::File::create(path).map_err(|error| AnalyticsError::file(path, error))?;
    ParquetWriter::new(file).finish(&mut frame)?;
    let file = std::fs::File::open(path).map_err(|error| AnalyticsError::file(path, error))?;
    let read = ParquetReader::new(file).finish()?.height();
    check_rows(path, frame.height(), read)
}

fn check_rows(path: &Path, written: usize, read: usize) -> Result<usize, AnalyticsError> {
    if written == read {
        Ok(read)
    } else {
        Err(AnalyticsError::RowCount {
            path: path.display().to_string(),
            written,
            read,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parquet_keeps_every_column_and_utc_times() {
        let folder = tempfile::tempdir().expect("folder");
        let path = folder.path().join("trades.parquet");
        let trade = TradeRecord {
            pair: "KO/PEP".to_owned(),
            entry_time: "2026-01-05T14:30:00Z".parse().expect("time"),
            exit_time: "2026-01-06T15:30:00Z".parse().expect("time"),
            direction: "short_spread".to_owned(),
            pnl: -12.5,
            entry_z: 2.2,
            exit_z: 3.6,
            exit_reason: "stop".to_owned(),
        };
        assert_eq!(
            write_trades_parquet(&path, &[trade.clone(), trade]).expect("write"),
            2
        );
        let frame = ParquetReader::new(std::fs::File::open(&path).expect("open"))
            .finish()
            .expect("read");
        let names: Vec<&str> = frame
            .get_column_names()
            .into_iter()
            .map(|name| name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "pair",
                "entry_time",
                "exit_time",
                "direction",
                "pnl",
                "entry_z",
                "exit_z",
                "exit_reason"
            ]
        );
        // Polars here is built without `timezones`, so it reads the time zone back as none; the
        // values are the UTC instants in milliseconds either way.
        let entry = frame.column("entry_time").expect("column");
        assert!(matches!(
            entry.dtype(),
            DataType::Datetime(TimeUnit::Milliseconds, _)
        ));
        let milliseconds = entry.cast(&DataType::Int64).expect("cast");
        assert_eq!(
            milliseconds.i64().expect("i64").get(0),
            Some(1_767_623_400_000)
        );
        let pnl = frame.column("pnl").expect("pnl").f64().expect("f64").get(1);
        assert_eq!(pnl, Some(-12.5));
    }
}
