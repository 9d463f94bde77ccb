//! The store suite on PostgreSQL: a fresh database per test on the server named by
//! TEST_DATABASE_URL. Built only with `--features postgres-tests` (as `.ci/run` does), so a run
//! without a server is not mistaken for a pass.

mod store_suite;
mod support;

store_suite!(support::postgres);
