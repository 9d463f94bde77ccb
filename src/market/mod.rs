//! Market data: the US equity calendar, the simulated provider and CSV import.
//!
//! Providers turn outside data into validated [`crate::domain::Bar`]s; they never write to the
//! store themselves (ingestion does that), so each can be tested without a database.

pub mod calendar;
pub mod csv;
pub mod simulated;
