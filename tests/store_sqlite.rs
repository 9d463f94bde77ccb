//! The store suite on SQLite: a fresh database file per test.

mod store_suite;
mod support;

store_suite!(support::sqlite);
