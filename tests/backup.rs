//! Backups and restores through the real binary: `tradehost db backup` while data is stored,
//! `tradehost db restore` into a fresh project, and the same bars come back. PostgreSQL is covered
//! in `backup_postgres.rs`.

mod support;

use std::path::Path;
use std::process::Command;

use tradehost::config::DatabaseLocation;
use tradehost::market::simulated::{SimulatedConfig, SimulatedMarket};
use tradehost::store::Store;

fn tradehost(root: &Path, arguments: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tradehost"))
        .args(["--root", &root.display().to_string()])
        .args(arguments)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run tradehost")
}

#[tokio::test]
async fn a_sqlite_backup_restores_the_same_data_into_another_project() {
    let source = tempfile::tempdir().expect("source project");
    let store = Store::open(
        &DatabaseLocation::Sqlite(source.path().join("data/tradehost.db")),
        2,
    )
    .await
    .expect("store");
    let start = "2026-03-02T14:30:00Z".parse().expect("time");
    let mut market = SimulatedMarket::new(SimulatedConfig::default(), start).expect("market");
    let bars = market.bars_between(start, start + chrono::Duration::days(2));
    store.insert_bars(&bars, "test").await.expect("insert");

    // The backup is taken with the store still open, as it would be under a running daemon.
    let backup = source.path().join("backup.db");
    let output = tradehost(
        source.path(),
        &["db", "backup", "--to", &backup.display().to_string()],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(backup.is_file());
    let again = tradehost(
        source.path(),
        &["db", "backup", "--to", &backup.display().to_string()],
    );
    assert!(!again.status.success(), "a backup never overwrites a file");
    store.close().await;

    let target = tempfile::tempdir().expect("target project");
    let output = tradehost(
        target.path(),
        &["db", "restore", &backup.display().to_string()],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains(&format!("({} bars)", bars.len())));
    let restored = Store::open(
        &DatabaseLocation::Sqlite(target.path().join("data/tradehost.db")),
        1,
    )
    .await
    .expect("restored store");
    assert_eq!(
        restored.count_bars(None).await.expect("count"),
        bars.len() as u64
    );

    let missing = tradehost(target.path(), &["db", "restore", "no-such-backup.db"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no-such-backup.db"));
}
