//! Test support: fresh databases on SQLite (a file in a temporary folder) and PostgreSQL (a new
//! database per test on the server named by TEST_DATABASE_URL, dropped afterwards), and script
//! projects served by the real runtime (`scripts`), and a fake Alpaca (`fake_alpaca`).

#![allow(dead_code)] // Each test binary uses a different part of this module.

pub mod browser;
pub mod daemon;
pub mod fake_alpaca;
pub mod scripts;

use std::sync::atomic::{AtomicU32, Ordering};

use tradehost::config::DatabaseLocation;
use tradehost::store::Store;

/// A store on a fresh database, removed when dropped.
pub struct TestDatabase {
    /// The migrated store.
    pub store: Store,
    /// Where it lives.
    pub location: DatabaseLocation,
    cleanup: Cleanup,
}

enum Cleanup {
    Folder(#[allow(dead_code)] tempfile::TempDir),
    PostgresDatabase { admin_url: String, name: String },
}

/// A fresh SQLite database file, migrated.
pub async fn sqlite() -> TestDatabase {
    let folder = tempfile::tempdir().expect("temporary folder");
    let location = DatabaseLocation::Sqlite(folder.path().join("data/tradehost.db"));
    let store = Store::open(&location, 4).await.expect("open SQLite store");
    TestDatabase {
        store,
        location,
        cleanup: Cleanup::Folder(folder),
    }
}

/// The PostgreSQL server for tests. The suite is built only with `--features postgres-tests`, and
/// then a missing or unreachable server is a failure, never a silent skip.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").expect(
        "TEST_DATABASE_URL must name a PostgreSQL server for the PostgreSQL suite, \
         e.g. postgres://postgres@127.0.0.1:5432/test",
    )
}

/// A fresh PostgreSQL database, migrated.
pub async fn postgres() -> TestDatabase {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let admin_url = postgres_admin_url();
    let name = format!(
        "tradehost_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        chrono::Utc::now().timestamp_micros()
    );
    let admin = admin_connection(&admin_url).await;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .expect("create test database");
    admin.close().await;
    let location = DatabaseLocation::Postgres(with_database(&admin_url, &name));
    let store = Store::open(&location, 4)
        .await
        .expect("open PostgreSQL store");
    TestDatabase {
        store,
        location,
        cleanup: Cleanup::PostgresDatabase { admin_url, name },
    }
}

async fn admin_connection(admin_url: &str) -> sqlx::PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .connect(admin_url)
        .await
        .unwrap_or_else(|error| {
            panic!("cannot connect to TEST_DATABASE_URL ({admin_url}): {error}")
        })
}

/// The same server URL with another database name.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |index| index + 3);
    let server = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    format!("{server}/{database}{query}")
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Cleanup::PostgresDatabase { admin_url, name } = &self.cleanup {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Drop runs outside any async context we could await in, so drop the database from a
            // short-lived runtime on its own thread.
            let dropped = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime for cleanup");
                runtime.block_on(async {
                    let admin = admin_connection(&admin_url).await;
                    let statement = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(statement))
                        .execute(&admin)
                        .await;
                    admin.close().await;
                });
            });
            let _ = dropped.join();
        }
    }
}

/// The shared real-data folder (`TRADEHOST_SHARED_DATA`, default `../shared/data` beside the
/// crate), or `None` after printing why the calling test is skipped.
pub fn shared_data() -> Option<std::path::PathBuf> {
    let folder = std::env::var_os("TRADEHOST_SHARED_DATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data"))
        });
    if folder.is_dir() {
        Some(folder)
    } else {
        println!(
            "skipped: shared data folder {} is absent (set TRADEHOST_SHARED_DATA)",
            folder.display()
        );
        None
    }
}
