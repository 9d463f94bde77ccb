//! Parquet archives of bars: columns `symbol`, `timeframe`, `time` (UTC), `ts` (epoch ms) and the
//! prices and volume as exact decimal text, so an archive loses nothing a bar held.

use std::path::Path;

use polars::prelude::*;

use crate::domain::Bar;

/// Why an archive could not be written or read back.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Polars refused the data or the file.
    #[error("parquet: {0}")]
    Parquet(#[from] PolarsError),
    /// The file could not be created or opened.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Writes `bars` to a new Parquet file at `path` and returns the rows written.
pub fn write_bars(path: &Path, bars: &[Bar]) -> Result<usize, ArchiveError> {
    let text = |field: fn(&Bar) -> String| bars.iter().map(field).collect::<Vec<String>>();
    let milliseconds: Vec<i64> = bars.iter().map(|bar| bar.time.timestamp_millis()).collect();
    let time = Series::new("time".into(), milliseconds.clone()).cast(&DataType::Datetime(
        TimeUnit::Milliseconds,
        Some(TimeZone::UTC),
    ))?;
    let mut frame = DataFrame::new(
        bars.len(),
        vec![
            Column::new("symbol".into(), text(|bar| bar.symbol.to_string())),
            Column::new("timeframe".into(), text(|bar| bar.timeframe.to_string())),
            time.into(),
            Column::new("ts".into(), milliseconds),
            Column::new("open".into(), text(|bar| bar.open.to_string())),
            Column::new("high".into(), text(|bar| bar.high.to_string())),
            Column::new("low".into(), text(|bar| bar.low.to_string())),
            Column::new("close".into(), text(|bar| bar.close.to_string())),
            Column::new("volume".into(), text(|bar| bar.volume.to_string())),
        ],
    )?;
    let file = std::fs::File::create_new(path).map_err(|source| ArchiveError::File {
        path: path.display().to_string(),
        source,
    })?;
    ParquetWriter::new(file).finish(&mut frame)?;
    Ok(frame.height())
}

/// The number of rows in a Parquet file, read back to verify an archive before deleting.
pub fn row_count(path: &Path) -> Result<usize, ArchiveError> {
    let file = std::fs::File::open(path).map_err(|source| ArchiveError::File {
        path: path.display().to_string(),
        source,
    })?;
    Ok(ParquetReader::new(file).finish()?.height())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Price, Quantity, Symbol, Timeframe};

    #[test]
    fn bars_survive_a_round_trip_through_parquet_digit_for_digit() {
        let folder = tempfile::tempdir().expect("folder");
        let path = folder.path().join("bars.parquet");
        let price = |text: &str| text.parse::<Price>().expect("price");
        let bar = Bar::new(
            Symbol::parse("SIMA").expect("symbol"),
            Timeframe::MINUTE,
            "2026-01-05T14:30:00Z".parse().expect("time"),
            price("100.01"),
            price("100.05"),
            price("99.99"),
            price("100.02"),
            Quantity::new(rust_decimal::Decimal::new(12345, 1)).expect("volume"),
        )
        .expect("bar");
        assert_eq!(
            write_bars(&path, &[bar.clone(), bar.clone()]).expect("write"),
            2
        );
        assert_eq!(row_count(&path).expect("read"), 2);
        let frame = ParquetReader::new(std::fs::File::open(&path).expect("open"))
            .finish()
            .expect("read");
        let close = frame
            .column("close")
            .expect("close")
            .str()
            .expect("text")
            .get(0)
            .map(str::to_owned);
        assert_eq!(close.as_deref(), Some("100.02"));
        assert!(
            write_bars(&path, &[bar]).is_err(),
            "an archive never overwrites a file"
        );
    }
}
