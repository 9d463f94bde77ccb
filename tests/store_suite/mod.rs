//! The store test suite, run unchanged on SQLite (`tests/store_sqlite.rs`) and PostgreSQL
//! (`tests/store_postgres.rs`), so both backends are held to the same behaviour.

use chrono::{DateTime, Duration, TimeZone, Utc};
use rust_decimal::Decimal;
use serde_json::json;
use tradehost::domain::{Bar, Price, Quantity, Symbol, Timeframe};
use tradehost::store::{
    AuditEntry, BarQuery, LoadRunStatus, LoadRunSummary, QualityIssue, Severity, Store,
};

mod trading;
pub use trading::*;

/// Generates one `#[tokio::test]` per suite function, each on a fresh database from `$open`.
#[macro_export]
macro_rules! store_suite {
    ($open:path) => {
        $crate::store_suite!(@tests $open,
            migrations_are_applied_once,
            reinserting_bars_adds_nothing,
            bars_read_back_exactly_in_time_order,
            a_limit_returns_the_latest_bars_oldest_first,
            range_queries_are_half_open,
            large_batches_and_duplicates_within_a_batch,
            last_bars_per_symbol,
            load_runs_record_their_counts,
            quality_issues_are_kept_per_run,
            audit_entries_keep_their_details,
            the_outbox_keeps_intents_and_their_progress,
            fills_are_stored_once,
            risk_decisions_state_events_and_alerts,
            positions_and_equity_snapshots,
            pair_trades_and_reconciliation_mismatches,
        );
    };
    (@tests $open:path, $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let database = $open().await;
                store_suite::$name(&database.store).await;
            }
        )+
    };
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 14, 30, 0)
        .single()
        .expect("valid time")
}

fn symbol(text: &str) -> Symbol {
    Symbol::parse(text).expect("valid symbol")
}

fn price(text: &str) -> Price {
    text.parse().expect("valid price")
}

/// `count` one-minute bars of `symbol` from `start()`, with distinct exact prices.
fn bars(symbol_text: &str, count: i64) -> Vec<Bar> {
    (0..count)
        .map(|index| {
            let close = Decimal::new(10_000 + index, 2);
            let close = Price::new(close).expect("positive");
            let high = Price::new(close.value() + Decimal::new(5, 2)).expect("positive");
            let low = Price::new(close.value() - Decimal::new(5, 2)).expect("positive");
            Bar::new(
                symbol(symbol_text),
                Timeframe::MINUTE,
                start() + Duration::minutes(index),
                close,
                high,
                low,
                close,
                Quantity::new(Decimal::from(100 + index)).expect("non-negative"),
            )
            .expect("consistent bar")
        })
        .collect()
}

pub async fn migrations_are_applied_once(store: &Store) {
    // The store was opened (and migrated) by the fixture; a second run has nothing to do.
    assert_eq!(store.migrate().await.expect("migrate"), Vec::<i64>::new());
    store.ping().await.expect("ping");
}

pub async fn reinserting_bars_adds_nothing(store: &Store) {
    let batch = bars("SIMA", 50);
    let first = store.insert_bars(&batch, "test").await.expect("insert");
    assert_eq!((first.inserted, first.existing), (50, 0));
    let second = store
        .insert_bars(&batch, "test")
        .await
        .expect("insert again");
    assert_eq!((second.inserted, second.existing), (0, 50));
    assert_eq!(store.count_bars(None).await.expect("count"), 50);
    assert_eq!(
        store
            .count_bars(Some(&symbol("SIMA")))
            .await
            .expect("count"),
        50
    );
    assert_eq!(
        store
            .count_bars(Some(&symbol("OTHER")))
            .await
            .expect("count"),
        0
    );
}

pub async fn bars_read_back_exactly_in_time_order(store: &Store) {
    // Extreme but valid decimals must survive the round trip digit for digit.
    let odd = Bar::new(
        symbol("BRK.A"),
        Timeframe::DAY,
        start(),
        price("123456789.12345678"),
        price("123456789.87654321"),
        price("0.00000001"),
        price("0.1"),
        Quantity::new(Decimal::new(15, 1)).expect("fractional volume"),
    )
    .expect("consistent");
    store
        .insert_bars(std::slice::from_ref(&odd), "test")
        .await
        .expect("insert");
    let read = store
        .bars(&BarQuery::all(symbol("BRK.A"), Timeframe::DAY))
        .await
        .expect("read");
    assert_eq!(read, vec![odd]);

    let mut shuffled = bars("SIMB", 20);
    shuffled.reverse();
    store.insert_bars(&shuffled, "test").await.expect("insert");
    let read = store
        .bars(&BarQuery::all(symbol("SIMB"), Timeframe::MINUTE))
        .await
        .expect("read");
    shuffled.reverse();
    assert_eq!(read, shuffled);
    // Another timeframe of the same symbol is a different series.
    let daily = store
        .bars(&BarQuery::all(symbol("SIMB"), Timeframe::DAY))
        .await
        .expect("read");
    assert!(daily.is_empty());
}

pub async fn a_limit_returns_the_latest_bars_oldest_first(store: &Store) {
    let batch = bars("SIMC", 30);
    store.insert_bars(&batch, "test").await.expect("insert");
    let query = BarQuery {
        limit: Some(5),
        ..BarQuery::all(symbol("SIMC"), Timeframe::MINUTE)
    };
    let latest = store.bars(&query).await.expect("read");
    assert_eq!(latest, batch[25..].to_vec());
}

pub async fn range_queries_are_half_open(store: &Store) {
    let batch = bars("SIMD", 10);
    store.insert_bars(&batch, "test").await.expect("insert");
    let query = BarQuery {
        from: Some(start() + Duration::minutes(2)),
        to: Some(start() + Duration::minutes(5)),
        ..BarQuery::all(symbol("SIMD"), Timeframe::MINUTE)
    };
    let read = store.bars(&query).await.expect("read");
    assert_eq!(read, batch[2..5].to_vec());
}

pub async fn large_batches_and_duplicates_within_a_batch(store: &Store) {
    // Larger than one statement on either backend, with every bar repeated in the same batch.
    let mut batch = bars("SIMX", 12_500);
    batch.extend(bars("SIMX", 12_500));
    let result = store.insert_bars(&batch, "test").await.expect("insert");
    assert_eq!((result.inserted, result.existing), (12_500, 12_500));
    assert_eq!(
        store
            .count_bars(Some(&symbol("SIMX")))
            .await
            .expect("count"),
        12_500
    );
}

pub async fn last_bars_per_symbol(store: &Store) {
    store
        .insert_bars(&bars("SIMA", 3), "test")
        .await
        .expect("insert");
    store
        .insert_bars(&bars("SIMB", 7), "test")
        .await
        .expect("insert");
    let last = store
        .last_bars(
            &[symbol("SIMA"), symbol("SIMB"), symbol("NONE")],
            Timeframe::MINUTE,
        )
        .await
        .expect("read");
    assert_eq!(last.len(), 2);
    assert_eq!(last[&symbol("SIMA")].time, start() + Duration::minutes(2));
    assert_eq!(last[&symbol("SIMB")].time, start() + Duration::minutes(6));
}

pub async fn load_runs_record_their_counts(store: &Store) {
    let id = store
        .start_load_run("csv", "prices.csv", start())
        .await
        .expect("start");
    let running = store.load_runs(10).await.expect("list");
    assert_eq!(running[0].status, LoadRunStatus::Running);
    let summary = LoadRunSummary {
        rows_read: 10,
        bars_inserted: 7,
        bars_existing: 1,
        rows_rejected: 2,
        first_bar: Some(start()),
        last_bar: Some(start() + Duration::days(9)),
    };
    let finished_at = start() + Duration::seconds(3);
    store
        .finish_load_run(id, LoadRunStatus::Completed, &summary, None, finished_at)
        .await
        .expect("finish");
    let refused = store
        .start_load_run("csv", "bad.csv", start())
        .await
        .expect("start");
    store
        .finish_load_run(
            refused,
            LoadRunStatus::Refused,
            &LoadRunSummary::default(),
            Some("2 bad rows"),
            finished_at,
        )
        .await
        .expect("finish");
    let runs = store.load_runs(10).await.expect("list");
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].id, refused);
    assert_eq!(runs[0].error.as_deref(), Some("2 bad rows"));
    assert_eq!(runs[1].summary, summary);
    assert_eq!(runs[1].status, LoadRunStatus::Completed);
    assert_eq!(runs[1].finished_at, Some(finished_at));
}

pub async fn quality_issues_are_kept_per_run(store: &Store) {
    let run = store
        .start_load_run("csv", "bad.csv", start())
        .await
        .expect("start");
    let issue = |line: u64, message: &str| QualityIssue {
        load_run_id: Some(run),
        detected_at: start(),
        source: "bad.csv".into(),
        symbol: Some("SIMA".into()),
        timeframe: Some("1Day".into()),
        time: Some(start()),
        line: Some(line),
        kind: "rejected_row".into(),
        severity: Severity::Error,
        message: message.into(),
    };
    let issues = vec![
        issue(7, "high 9 is below low 11"),
        issue(3, "close is not a positive price: -1"),
    ];
    store.record_quality_issues(&issues).await.expect("record");
    let read = store.quality_issues_of_run(run).await.expect("read");
    assert_eq!(read, vec![issues[1].clone(), issues[0].clone()]);
    assert!(
        store
            .quality_issues_of_run(run + 1)
            .await
            .expect("read")
            .is_empty()
    );
}

pub async fn audit_entries_keep_their_details(store: &Store) {
    let entry = AuditEntry {
        at: start(),
        actor: "cli".into(),
        action: "ingest.csv".into(),
        subject: Some("prices.csv".into()),
        details: json!({"inserted": 10, "note": "quote ' and \" survive"}),
    };
    store.audit(&entry).await.expect("append");
    let later = AuditEntry {
        at: start() + Duration::minutes(1),
        action: "daemon.stop".into(),
        subject: None,
        ..entry.clone()
    };
    store.audit(&later).await.expect("append");
    assert_eq!(
        store.audit_entries(10).await.expect("read"),
        vec![later, entry]
    );
}
