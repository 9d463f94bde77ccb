//! `tradehost run` on its defaults with accelerated simulated time: the pairs flow trades the
//! simulated cointegrated pairs on the paper broker, the three pair tables fill, and every order
//! and signal carries the hash of the script that produced it.

mod support;

use std::time::{Duration, Instant};

use support::daemon::{copy_project, open_store, start_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pairs_flow_trades_on_paper_within_a_minute() {
    let project = tempfile::tempdir().expect("project folder");
    let root = project.path();
    copy_project(root);
    let started = Instant::now();
    // The shipped defaults, with the simulated history the daemon stores on a fresh database.
    let daemon = start_with(root, 600, &[("TRADEHOST_MARKET__HISTORY_DAYS", "130")]);
    let store = open_store(root).await;
    let deadline = started + Duration::from_secs(60);
    loop {
        let orders = store.recent_orders(100).await.expect("orders");
        let (spreads, signals, standings) = store.pair_table_counts().await.expect("counts");
        if orders.len() >= 2 && spreads > 0 && signals > 0 && standings > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no pair trade within a minute: {} orders, tables {spreads}/{signals}/{standings}",
            orders.len()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let elapsed = started.elapsed();
    daemon.interrupt();

    let orders = store.recent_orders(100).await.expect("orders");
    let hashes: Vec<_> = store
        .script_versions(Some("pairs"), 10)
        .await
        .expect("versions")
        .into_iter()
        .map(|version| version.hash)
        .collect();
    assert!(!hashes.is_empty(), "the strategy's versions are stored");
    for order in &orders {
        assert_eq!(order.strategy, "pairs");
        let hash = order
            .script_hash
            .as_ref()
            .expect("every order carries a hash");
        assert!(
            hashes.contains(hash),
            "{hash} is a stored version of pairs.rhai"
        );
        assert!(order.pair_trade_id.is_some(), "pairs trade as pairs");
    }
    let (spreads, signals, standings) = store.pair_table_counts().await.expect("counts");
    assert!(
        spreads >= 2 && signals >= 2 && standings == 2,
        "{spreads}/{signals}/{standings}"
    );
    let rows = store
        .read_only_query(
            "SELECT COUNT(*) AS n, COUNT(script_hash) AS hashed FROM pair_signal",
            &[],
        )
        .await
        .expect("signals");
    assert_eq!(
        rows[0]["n"], rows[0]["hashed"],
        "every signal carries the hash"
    );
    // Each standing carries the fit and the thresholds it was decided against (the dashboard
    // draws the thresholds on the pair's z-score chart).
    for standing in store.pair_performance().await.expect("standings") {
        for key in ["hedge_ratio", "entry_z", "exit_z", "stop_z"] {
            assert!(
                standing.details[key].is_number(),
                "{} lacks {key}: {}",
                standing.pair,
                standing.details
            );
        }
    }
    println!(
        "first pair trade after {:.1} s: {} orders, {spreads} spreads, {signals} signals",
        elapsed.as_secs_f64(),
        orders.len()
    );
}
