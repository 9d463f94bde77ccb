//! Ingestion: moves provider output into the store — CSV files on demand, and the live feed as
//! time passes. Providers (in `market`) parse and validate; this module records load runs,
//! data-quality issues and the bars themselves.

pub mod alpaca;
pub mod csv;
pub mod feed;
