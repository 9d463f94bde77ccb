//! Analytics: the only module that knows polars. For now, Parquet archives of bars; metrics,
//! trade analysis and reports come with the backtester.

pub mod archive;
