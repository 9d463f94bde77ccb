//! The paper broker's persistence on PostgreSQL: the restart scenario of `tests/broker_paper.rs`
//! on a fresh database. Built only with `--features postgres-tests` (as `.ci/run` does), so a run
//! without a server is not mistaken for a pass.

mod paper_suite;
mod support;

#[tokio::test]
async fn a_restart_loses_nothing() {
    paper_suite::a_restart_loses_nothing(support::postgres().await).await;
}
