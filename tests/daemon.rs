//! The real binary as a user runs it: `tradehost run` on a fresh project folder creates the
//! database, stores simulated bars as simulated time passes, answers the health check, stops
//! cleanly on SIGINT, and on the next start continues from the stored state.

mod support;

use std::time::{Duration, Instant};

use support::daemon::{open_store, start, start_with};
use tradehost::domain::{Symbol, Timeframe};
use tradehost::store::BarQuery;

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_stores_bars_answers_health_stops_cleanly_and_resumes() {
    let project = tempfile::tempdir().expect("project folder");
    let root = project.path();

    // 3600×: a simulated hour per real second, so a few seconds cover a session's morning.
    let daemon = start(root, 3600);
    assert!(
        root.join("data/tradehost.db").exists(),
        "database created on first run"
    );
    let health = daemon.health().await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["database"]["status"], "ok");
    assert_eq!(health["database"]["backend"], "sqlite");
    assert_eq!(health["clock"]["mode"], "simulated");
    let first_now = health["clock"]["now"]
        .as_str()
        .expect("clock time")
        .to_owned();

    // Wait (in real time, bounded) until simulated time has produced bars.
    let store = open_store(root).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.count_bars(None).await.expect("count") < 100 {
        assert!(
            Instant::now() < deadline,
            "no bars stored after 30 s at 3600×"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let later = daemon.health().await;
    assert!(
        later["clock"]["now"].as_str().expect("clock time") > first_now.as_str(),
        "simulated time advances"
    );

    let log = daemon.interrupt();
    assert!(
        log.iter()
            .any(|line| line.contains("simulated feed stopped")),
        "the feed stopped cleanly: {log:?}"
    );
    let symbol = Symbol::parse("SIMA").expect("valid symbol");
    let query = BarQuery::all(symbol.clone(), Timeframe::MINUTE);
    let before = store.bars(&query).await.expect("bars");
    let last_before = before.last().expect("bars of SIMA").clone();

    // Second run, logging to files too: the clock resumes at the end of the stored bars, and the
    // series continues with the next minute — no gap inside a session, no duplicate.
    let daemon = start_with(root, 3600, &[("TRADEHOST_LOG__DIRECTORY", "logs")]);
    let resumed = daemon.health().await;
    let resumed_now: chrono::DateTime<chrono::Utc> = resumed["clock"]["now"]
        .as_str()
        .expect("clock time")
        .parse()
        .expect("RFC 3339 time");
    assert!(
        resumed_now >= last_before.time,
        "the clock resumes from the stored state, not the configured start"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.bars(&query).await.expect("bars").len() <= before.len() {
        assert!(Instant::now() < deadline, "no new bars after restart");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    daemon.interrupt();
    let log_files: Vec<_> = std::fs::read_dir(root.join("logs"))
        .expect("log folder created")
        .map(|entry| entry.expect("log entry").path())
        .collect();
    assert_eq!(log_files.len(), 1, "one daily log file: {log_files:?}");
    let name = log_files[0]
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or_default()
        .to_owned();
    assert!(
        name.starts_with("tradehost.") && name.ends_with(".log"),
        "{name}"
    );
    let logged = std::fs::read_to_string(&log_files[0]).expect("read log file");
    assert!(
        logged
            .lines()
            .any(|line| line.contains("simulated feed stopped")),
        "{logged}"
    );
    assert!(
        logged
            .lines()
            .all(|line| serde_json::from_str::<serde_json::Value>(line).is_ok()),
        "the file log is JSON lines like the console"
    );

    let after = store.bars(&query).await.expect("bars");
    assert_eq!(
        &after[..before.len()],
        &before[..],
        "stored history is unchanged"
    );
    let next = &after[before.len()];
    let calendar = tradehost::market::calendar::UsEquityCalendar;
    let expected_next = if calendar.is_open(last_before.time + chrono::Duration::minutes(1)) {
        last_before.time + chrono::Duration::minutes(1)
    } else {
        calendar.next_open(last_before.time + chrono::Duration::minutes(1))
    };
    assert_eq!(
        next.time, expected_next,
        "the series continues at the next minute"
    );
    if expected_next == last_before.time + chrono::Duration::minutes(1) {
        assert_eq!(
            next.open, last_before.close,
            "within a session a bar opens at the last close"
        );
    }
}
