//! Orchestrator benchmarks (SPEC §12): start lateness p50/p99 of scheduled runs on the real
//! clock (target p99 ≤ 50 ms), the cost of one no-op flow run with its states persisted (target
//! ≤ 2 ms), and no-op runs per second on SQLite (target ≥ 500) and on PostgreSQL with one and two
//! workers. `cargo bench --bench orchestrator`; PostgreSQL is measured when TEST_DATABASE_URL (or
//! BENCH_DATABASE_URL) names a server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio_util::sync::CancellationToken;
use tradehost::clock::Clock;
use tradehost::config::DatabaseLocation;
use tradehost::domain::RunState;
use tradehost::orchestrator::{Orchestrator, OrchestratorSettings, meta_validator};
use tradehost::script::host::Host;
use tradehost::script::{Limits, ScriptFolders, ScriptRuntime};
use tradehost::store::Store;

fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * fraction).round() as usize]
}

async fn orchestrator(
    store: &Store,
    clock: &Clock,
    folders: &ScriptFolders,
    worker: &str,
    poll: Duration,
) -> Arc<Orchestrator> {
    let host = Host {
        store: store.clone(),
        clock: clock.clone(),
        runtime: tokio::runtime::Handle::current(),
    };
    let runtime = ScriptRuntime::new(folders.clone(), Limits::default(), host).expect("runtime");
    runtime.registry().set_validator(meta_validator());
    runtime.registry().load_all().await.expect("load");
    let settings = OrchestratorSettings {
        worker_id: Some(worker.into()),
        poll,
        ..OrchestratorSettings::default()
    };
    let orchestrator = Orchestrator::new(store.clone(), clock.clone(), runtime, settings);
    orchestrator.sync_deployments().await.expect("sync");
    orchestrator
}

fn project(flows: &[(&str, &str)]) -> (tempfile::TempDir, ScriptFolders) {
    let folder = tempfile::tempdir().expect("folder");
    let scripts = folder.path().join("scripts");
    std::fs::create_dir_all(&scripts).expect("scripts");
    for (name, source) in flows {
        std::fs::write(scripts.join(format!("{name}.rhai")), source).expect("write");
    }
    let folders = ScriptFolders {
        scripts,
        strategies: folder.path().join("strategies"),
    };
    (folder, folders)
}

/// Submits `count` no-op runs and lets `workers` orchestrators finish them; returns runs/s.
async fn throughput(store: &Store, folders: &ScriptFolders, workers: usize, count: usize) -> f64 {
    let clock = Clock::real();
    let mut orchestrators = Vec::new();
    for index in 0..workers {
        orchestrators.push(
            orchestrator(
                store,
                &clock,
                folders,
                &format!("worker-{index}"),
                Duration::from_millis(5),
            )
            .await,
        );
    }
    for _ in 0..count {
        orchestrators[0].submit("noop", None).await.expect("submit");
    }
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let loops: Vec<_> = orchestrators
        .iter()
        .map(|orchestrator| tokio::spawn(orchestrator.clone().run(shutdown.clone())))
        .collect();
    loop {
        let open = store
            .runs(Some("noop"), Some(RunState::Scheduled), 1)
            .await
            .expect("runs")
            .len()
            + store
                .runs(Some("noop"), Some(RunState::Running), 1)
                .await
                .expect("runs")
                .len();
        if open == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = started.elapsed();
    shutdown.cancel();
    for handle in loops {
        let _ = handle.await;
    }
    let all = store.runs(Some("noop"), None, 100_000).await.expect("runs");
    let completed = all
        .iter()
        .filter(|run| run.state == RunState::Completed)
        .count();
    if completed < count {
        let mut states = std::collections::BTreeMap::<String, usize>::new();
        for run in &all {
            *states.entry(run.state.to_string()).or_default() += 1;
        }
        let example = all
            .iter()
            .find(|run| run.state != RunState::Completed)
            .cloned();
        panic!("not every run completed: {states:?}; e.g. {example:?}");
    }
    count as f64 / elapsed.as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let noop = "fn meta() { #{ concurrency: 64, on_overlap: \"queue\" } }\nfn run(params) { () }\n";

    // --- One no-op run at a time: the cost with every state change persisted -------------------
    let (_folder, folders) = project(&[("noop", noop)]);
    let database = tempfile::tempdir().expect("database folder");
    let store = Store::open(
        &DatabaseLocation::Sqlite(database.path().join("bench.db")),
        8,
    )
    .await
    .expect("store");
    let clock = Clock::real();
    let single = orchestrator(&store, &clock, &folders, "single", Duration::from_millis(5)).await;
    let mut costs = Vec::new();
    for _ in 0..300 {
        let started = Instant::now();
        single.submit("noop", None).await.expect("submit");
        for handle in single.step().await.expect("step") {
            handle.await.expect("run");
        }
        costs.push(started.elapsed().as_secs_f64() * 1e3);
    }
    costs.sort_by(f64::total_cmp);
    println!(
        "no-op flow run (create, claim, run, finish; 4 states persisted) on SQLite: p50 {:.2} ms, p99 {:.2} ms (target ≤ 2 ms)",
        percentile(&costs, 0.5),
        percentile(&costs, 0.99)
    );

    // --- Throughput --------------------------------------------------------------------------------
    let database = tempfile::tempdir().expect("database folder");
    let store = Store::open(
        &DatabaseLocation::Sqlite(database.path().join("throughput.db")),
        8,
    )
    .await
    .expect("store");
    let rate = throughput(&store, &folders, 1, 2000).await;
    println!("no-op runs per second, SQLite, one daemon: {rate:.0} (target ≥ 500)");
    store.close().await;

    let server =
        std::env::var("BENCH_DATABASE_URL").or_else(|_| std::env::var("TEST_DATABASE_URL"));
    if let Ok(server) = server {
        for workers in [1, 2] {
            let name = format!("tradehost_bench_runs_{}_{workers}", std::process::id());
            let admin = sqlx::PgPool::connect(&server).await.expect("connect");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&admin)
                .await
                .expect("create");
            let base = server
                .rsplit_once('/')
                .map_or(server.as_str(), |(base, _)| base);
            let store = Store::open(&DatabaseLocation::Postgres(format!("{base}/{name}")), 16)
                .await
                .expect("store");
            let rate = throughput(&store, &folders, workers, 2000).await;
            println!("no-op runs per second, PostgreSQL, {workers} worker(s): {rate:.0}");
            store.close().await;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE {name} WITH (FORCE)"
            )))
            .execute(&admin)
            .await
            .expect("drop");
        }
    } else {
        println!("PostgreSQL skipped: set TEST_DATABASE_URL to measure it");
    }

    // --- Start lateness on the real clock ------------------------------------------------------------
    let every_second =
        "fn meta() { #{ schedules: [#{ cron: \"* * * * * *\" }] } }\nfn run(params) { () }\n";
    let flows: Vec<(String, &str)> = (0..5)
        .map(|index| (format!("tick{index}"), every_second))
        .collect();
    let borrowed: Vec<(&str, &str)> = flows
        .iter()
        .map(|(name, source)| (name.as_str(), *source))
        .collect();
    let (_folder, folders) = project(&borrowed);
    let database = tempfile::tempdir().expect("database folder");
    let store = Store::open(
        &DatabaseLocation::Sqlite(database.path().join("lateness.db")),
        8,
    )
    .await
    .expect("store");
    let scheduler = orchestrator(
        &store,
        &clock,
        &folders,
        "lateness",
        Duration::from_millis(250),
    )
    .await;
    let shutdown = CancellationToken::new();
    let started = Utc::now();
    let task = tokio::spawn(scheduler.clone().run(shutdown.clone()));
    tokio::time::sleep(Duration::from_secs(20)).await;
    shutdown.cancel();
    let _ = task.await;
    let mut lateness: Vec<f64> = store
        .runs(None, Some(RunState::Completed), 10_000)
        .await
        .expect("runs")
        .into_iter()
        .filter(|run| run.scheduled_at > started)
        .filter_map(|run| {
            run.started_at.map(|at| {
                (at - run.scheduled_at)
                    .num_microseconds()
                    .unwrap_or_default() as f64
                    / 1e3
            })
        })
        .collect();
    lateness.sort_by(f64::total_cmp);
    println!(
        "start lateness over {} scheduled runs (5 deployments, every second, 20 s): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (target p99 ≤ 50 ms)",
        lateness.len(),
        percentile(&lateness, 0.5),
        percentile(&lateness, 0.99),
        lateness.last().copied().unwrap_or_default()
    );
}
