//! PostgreSQL backups: `pg_dump` of a database with data, `pg_restore` into a fresh database, the
//! same bars come back. Built with `--features postgres-tests`.

mod support;

use tradehost::market::simulated::{SimulatedConfig, SimulatedMarket};

#[tokio::test]
async fn a_postgres_backup_restores_the_same_data_into_a_fresh_database() {
    let source = support::postgres().await;
    let start = "2026-03-02T14:30:00Z".parse().expect("time");
    let mut market = SimulatedMarket::new(SimulatedConfig::default(), start).expect("market");
    let bars = market.bars_between(start, start + chrono::Duration::days(1));
    source
        .store
        .insert_bars(&bars, "test")
        .await
        .expect("insert");
    let folder = tempfile::tempdir().expect("folder");
    let backup = folder.path().join("backup.dump");
    source.store.backup_to(&backup).await.expect("pg_dump");

    let target = support::postgres().await;
    target.store.close().await;
    tradehost::store::restore(&target.location, &backup)
        .await
        .expect("pg_restore");
    let restored = tradehost::store::Store::open(&target.location, 1)
        .await
        .expect("open restored");
    assert_eq!(
        restored.count_bars(None).await.expect("count"),
        bars.len() as u64
    );
    restored.close().await;
}
