//! The built-in paper broker (SPEC §6.1), persisted in the database.

pub mod matching;
