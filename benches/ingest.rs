//! Ingestion throughput: bars per second stored into SQLite and PostgreSQL, first insert and an
//! idempotent re-insert of the same bars. Target (SPEC §12): ≥ 100k bars/s on each backend.
//!
//! `cargo bench --bench ingest`. PostgreSQL is measured when TEST_DATABASE_URL (or
//! BENCH_DATABASE_URL) names a server; a fresh database is created there and dropped afterwards.

use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use rust_decimal::Decimal;
use tradehost::config::DatabaseLocation;
use tradehost::domain::{Bar, Price, Quantity, Symbol, Timeframe};
use tradehost::store::Store;

const SYMBOLS: usize = 10;
const MINUTES: i64 = 50_000;
/// The size of one write, as the feed and the CSV importer hand the store whole batches.
const BATCH: usize = 10_000;

fn bars() -> Vec<Bar> {
    let start = Utc
        .with_ymd_and_hms(2025, 1, 2, 14, 30, 0)
        .single()
        .expect("valid time");
    let mut bars = Vec::with_capacity(SYMBOLS * MINUTES as usize);
    for index in 0..SYMBOLS {
        let symbol = Symbol::parse(&format!("BENCH{index}")).expect("valid symbol");
        let mut cents: i64 = 10_000 + 1_000 * index as i64;
        for minute in 0..MINUTES {
            // A cheap deterministic walk; the prices only need to vary like real ones do.
            cents = (cents + ((minute * 7919 + index as i64 * 104_729) % 41) - 20).max(100);
            let price =
                |offset: i64| Price::new(Decimal::new(cents + offset, 2)).expect("positive");
            let volume = Quantity::new(Decimal::from(100 + minute % 900)).expect("non-negative");
            let bar = Bar::new(
                symbol.clone(),
                Timeframe::MINUTE,
                start + Duration::minutes(minute),
                price(0),
                price(7),
                price(-7),
                price(3),
                volume,
            )
            .expect("consistent bar");
            bars.push(bar);
        }
    }
    bars
}

async fn measure(name: &str, store: &Store, bars: &[Bar]) {
    for pass in ["first insert", "re-insert (idempotent)"] {
        let started = Instant::now();
        let mut inserted = 0;
        for batch in bars.chunks(BATCH) {
            inserted += store
                .insert_bars(batch, "bench")
                .await
                .expect("insert")
                .inserted;
        }
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "{name:<10} {pass:<24} {:>9} bars in {seconds:>6.2} s = {:>9.0} bars/s ({inserted} new)",
            bars.len(),
            bars.len() as f64 / seconds
        );
    }
    let stored = store.count_bars(None).await.expect("count");
    assert_eq!(stored, bars.len() as u64, "every bar stored exactly once");
    // Reading a series back, as scripts' data::bars does: every bar parsed and checked.
    let query = tradehost::store::BarQuery::all(bars[0].symbol.clone(), Timeframe::MINUTE);
    let started = Instant::now();
    let read = store.bars(&query).await.expect("read");
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{name:<10} {:<24} {:>9} bars in {seconds:>6.2} s = {:>9.0} bars/s ({:.2} µs per bar)",
        "read one series",
        read.len(),
        read.len() as f64 / seconds,
        seconds * 1e6 / read.len() as f64
    );
}

#[tokio::main]
async fn main() {
    let bars = bars();
    println!(
        "ingest benchmark: {} one-minute bars of {SYMBOLS} symbols, {BATCH} bars per write",
        bars.len()
    );

    let folder = tempfile::tempdir().expect("temporary folder");
    let location = DatabaseLocation::Sqlite(folder.path().join("bench.db"));
    let store = Store::open(&location, 4).await.expect("open SQLite");
    measure("sqlite", &store, &bars).await;
    store.close().await;

    let server =
        std::env::var("BENCH_DATABASE_URL").or_else(|_| std::env::var("TEST_DATABASE_URL"));
    let Ok(server) = server else {
        println!("postgres   skipped: set TEST_DATABASE_URL to a PostgreSQL server to measure it");
        return;
    };
    let name = format!("tradehost_bench_{}", std::process::id());
    let admin = sqlx::PgPool::connect(&server)
        .await
        .expect("connect to the PostgreSQL server");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .expect("create database");
    let url = match server.rsplit_once('/') {
        Some((base, _))
            if base.contains("://") && base.len() > base.find("://").unwrap_or(0) + 3 =>
        {
            format!("{base}/{name}")
        }
        _ => format!("{server}/{name}"),
    };
    let store = Store::open(&DatabaseLocation::Postgres(url), 4)
        .await
        .expect("open PostgreSQL");
    measure("postgres", &store, &bars).await;
    store.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(&admin)
    .await
    .expect("drop database");
}
