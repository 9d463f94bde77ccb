//! The one error type of the analytics module: polars, files and charts.

/// Why an analytics computation, export or report failed.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    /// Polars refused the data or the file.
    #[error("polars: {0}")]
    Polars(#[from] polars::prelude::PolarsError),
    /// A file could not be created, written or opened.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A file read back held a different number of rows than were written.
    #[error("{path}: wrote {written} rows but read back {read}")]
    RowCount {
        /// The file.
        path: String,
        /// Rows written.
        written: usize,
        /// Rows read back.
        read: usize,
    },
    /// A chart could not be drawn.
    #[error("chart `{chart}`: {reason}")]
    Chart {
        /// Which chart.
        chart: String,
        /// Why, as plotters put it.
        reason: String,
    },
}

impl AnalyticsError {
    /// Wraps an I/O error with the file it concerns.
    pub(crate) fn file(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::File {
            path: path.display().to_string(),
            source,
        }
    }
}
