//! Two daemons' orchestrators sharing one PostgreSQL database: every scheduled tick runs exactly
//! once, claims never exceed a deployment's concurrency, and both workers take work. Built only
//! with `--features postgres-tests` (TEST_DATABASE_URL names the server).

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use tradehost::clock::Clock;
use tradehost::domain::RunState;
use tradehost::orchestrator::{Orchestrator, OrchestratorSettings, meta_validator};
use tradehost::script::host::Host;
use tradehost::script::{Limits, ScriptFolders, ScriptRuntime};
use tradehost::store::Store;

fn utc(text: &str) -> DateTime<Utc> {
    text.parse().expect("valid time")
}

async fn orchestrator(
    store: &Store,
    clock: &Clock,
    folders: &ScriptFolders,
    worker: &str,
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
        lease_clock: Clock::manual(utc("2030-01-01T00:00:00Z")),
        ..OrchestratorSettings::default()
    };
    Orchestrator::new(store.clone(), clock.clone(), runtime, settings)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_on_one_database_run_every_tick_exactly_once() {
    let database = support::postgres().await;
    let folder = tempfile::tempdir().expect("project folder");
    let scripts = folder.path().join("scripts");
    std::fs::create_dir_all(&scripts).expect("scripts folder");
    // Every 15 minutes on weekdays (UTC); a short busy loop so both workers overlap.
    std::fs::write(
        scripts.join("quarterly.rhai"),
        "fn meta() { #{ schedules: [#{ cron: \"*/15 * * * 1-5\", timezone: \"UTC\" }], concurrency: 2, on_overlap: \"queue\" } }\n\
         fn run(params) { let n = 0; while n < 2000 { n += 1; } n }\n",
    )
    .expect("write flow");
    let folders = ScriptFolders {
        scripts,
        strategies: folder.path().join("strategies"),
    };
    let clock = Clock::manual(utc("2026-03-02T00:00:00Z"));
    let first = orchestrator(&database.store, &clock, &folders, "worker-a").await;
    let second = orchestrator(&database.store, &clock, &folders, "worker-b").await;

    let step = |orchestrator: Arc<Orchestrator>| async move {
        for handle in orchestrator.step().await.expect("step") {
            handle.await.expect("run task");
        }
    };
    step(first.clone()).await;
    // Three simulated days (Monday to Wednesday), both workers stepping at once every 15 minutes.
    while clock.now() < utc("2026-03-05T00:00:00Z") {
        clock.advance(Duration::minutes(15));
        tokio::join!(step(first.clone()), step(second.clone()));
    }
    tokio::time::sleep(StdDuration::from_millis(50)).await;
    tokio::join!(step(first.clone()), step(second.clone()));

    let runs = database
        .store
        .runs(Some("quarterly"), None, 10_000)
        .await
        .expect("runs");
    // 3 days × 24 hours × 4 ticks = 288 ticks, each exactly once.
    assert_eq!(runs.len(), 288);
    let mut per_tick: BTreeMap<DateTime<Utc>, usize> = BTreeMap::new();
    for run in &runs {
        *per_tick.entry(run.scheduled_at).or_default() += 1;
        assert_eq!(
            run.state,
            RunState::Completed,
            "run {} ended {:?}",
            run.id,
            run.state
        );
        assert_eq!(run.attempt, 1, "no run was executed twice");
    }
    assert!(per_tick.values().all(|count| *count == 1));
    let by_worker = |worker: &str| {
        runs.iter()
            .filter(|run| run.worker.as_deref() == Some(worker))
            .count()
    };
    assert_eq!(by_worker("worker-a") + by_worker("worker-b"), 288);
    assert!(
        by_worker("worker-a") > 0 && by_worker("worker-b") > 0,
        "both workers took work"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_run_wakes_a_listening_worker() {
    let database = support::postgres().await;
    let mut notifications = database
        .store
        .run_notifications()
        .await
        .expect("listen")
        .expect("PostgreSQL listens");
    database.store.notify_runs().await.expect("notify");
    tokio::time::timeout(StdDuration::from_secs(5), notifications.next())
        .await
        .expect("woken within 5 s")
        .expect("notification");
}
