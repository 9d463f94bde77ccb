//! The orchestrator on a simulated clock (no sleeps decide an outcome): each deployment fires
//! exactly its ticks across a DST change and around holidays, retries follow their backoff,
//! timeouts and cancellation stop runs, dead workers' runs are reaped and retried, and the
//! overlap and missed-run policies do what they say.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use tradehost::clock::Clock;
use tradehost::domain::RunState;
use tradehost::orchestrator::{Orchestrator, OrchestratorSettings, meta_validator};
use tradehost::script::host::Host;
use tradehost::script::{Limits, ScriptFolders, ScriptRuntime};
use tradehost::store::{NewRun, RunRecord, Store};

struct Harness {
    _folder: tempfile::TempDir,
    _database: support::TestDatabase,
    store: Store,
    clock: Clock,
    lease_clock: Clock,
    orchestrator: Arc<Orchestrator>,
    backup_dir: PathBuf,
}

fn utc(text: &str) -> DateTime<Utc> {
    text.parse().expect("valid time")
}

/// A project with the given flow scripts, a fresh SQLite store, a manual clock at `start`.
async fn harness(flows: &[(&str, &str)], start: DateTime<Utc>, lease: StdDuration) -> Harness {
    harness_with(flows, start, lease, |_, _, _| {}).await
}

/// As [`harness`], letting the test adjust the orchestrator's settings.
async fn harness_with(
    flows: &[(&str, &str)],
    start: DateTime<Utc>,
    lease: StdDuration,
    customize: impl FnOnce(&mut OrchestratorSettings, &Store, &Clock),
) -> Harness {
    let folder = tempfile::tempdir().expect("project folder");
    let scripts = folder.path().join("scripts");
    std::fs::create_dir_all(&scripts).expect("scripts folder");
    for (name, source) in flows {
        std::fs::write(scripts.join(format!("{name}.rhai")), source).expect("write flow");
    }
    let database = support::sqlite().await;
    let store = database.store.clone();
    let clock = Clock::manual(start);
    let host = Host {
        store: store.clone(),
        clock: clock.clone(),
        runtime: tokio::runtime::Handle::current(),
    };
    let folders = ScriptFolders {
        scripts,
        strategies: folder.path().join("strategies"),
    };
    let runtime = ScriptRuntime::new(folders, Limits::default(), host).expect("runtime");
    runtime.registry().set_validator(meta_validator());
    runtime.registry().load_all().await.expect("load");
    for outcome in runtime.registry().outcomes() {
        assert!(outcome.error.is_none(), "{:?}", outcome.error);
    }
    // Leases run on their own clock, moved by hand like the business clock.
    let lease_clock = Clock::manual(utc("2030-01-01T00:00:00Z"));
    let backup_dir = folder.path().join("backups");
    let mut settings = OrchestratorSettings {
        lease,
        poll: StdDuration::from_millis(20),
        lease_clock: lease_clock.clone(),
        backup_dir: Some(backup_dir.clone()),
        archive_dir: Some(folder.path().join("archive")),
        ..OrchestratorSettings::default()
    };
    customize(&mut settings, &store, &clock);
    let orchestrator = Orchestrator::new(store.clone(), clock.clone(), runtime, settings);
    Harness {
        _folder: folder,
        _database: database,
        store,
        clock,
        lease_clock,
        orchestrator,
        backup_dir,
    }
}

impl Harness {
    /// Creates a manual run of `flow` due now and returns its id.
    async fn submit(
        &self,
        flow: &str,
        parameters: Option<serde_json::Map<String, serde_json::Value>>,
    ) -> i64 {
        self.orchestrator
            .submit(flow, parameters)
            .await
            .expect("submit")
    }

    /// One orchestrator pass, waiting for the runs it started.
    async fn step(&self) {
        for handle in self.orchestrator.step().await.expect("step") {
            handle.await.expect("run task");
        }
    }

    /// Moves the clock to `until` in steps of `minutes`, with an orchestrator pass at each (the
    /// tests' ticks fall on these boundaries, so none is late).
    async fn advance(&self, until: DateTime<Utc>, minutes: i64) {
        while self.clock.now() < until {
            self.clock.advance(Duration::minutes(minutes));
            self.step().await;
        }
    }

    async fn runs(&self, deployment: &str) -> Vec<RunRecord> {
        let mut runs = self
            .store
            .runs(Some(deployment), None, 10_000)
            .await
            .expect("runs");
        runs.reverse();
        runs
    }

    async fn states(&self, id: i64) -> Vec<RunState> {
        self.store
            .run_states(id)
            .await
            .expect("states")
            .into_iter()
            .map(|state| state.state)
            .collect()
    }
}

fn flow(meta: &str, body: &str) -> String {
    format!("fn meta() {{ #{{ {meta} }} }}\nfn run(params) {{\n{body}\n}}\n")
}

const LEASE: StdDuration = StdDuration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_a_simulated_fortnight_each_deployment_fires_exactly_its_ticks() {
    // 2026-03-02 (Monday) to 2026-03-16: New York moves to daylight time on Sunday 2026-03-08.
    let open_bell = flow(
        r#"schedules: [#{ cron: "30 9 * * 1-5", timezone: "America/New_York" }]"#,
        "\"ok\"",
    );
    let harness = harness(
        &[("open_bell", &open_bell)],
        utc("2026-03-02T00:00:00Z"),
        LEASE,
    )
    .await;
    harness.step().await; // Registers the deployment at the start: no backfill.
    harness.advance(utc("2026-03-16T00:00:00Z"), 15).await;
    let runs = harness.runs("open_bell").await;
    let times: Vec<String> = runs
        .iter()
        .map(|run| run.scheduled_at.format("%m-%d %H:%M").to_string())
        .collect();
    // 09:30 New York is 14:30 UTC in winter and 13:30 UTC from the DST change; weekends never.
    assert_eq!(
        times,
        [
            "03-02 14:30",
            "03-03 14:30",
            "03-04 14:30",
            "03-05 14:30",
            "03-06 14:30",
            "03-09 13:30",
            "03-10 13:30",
            "03-11 13:30",
            "03-12 13:30",
            "03-13 13:30",
        ]
    );
    assert!(
        runs.iter()
            .all(|run| run.state == RunState::Completed && run.trigger == "schedule")
    );
    assert!(
        runs.iter().all(|run| run.script_hash.is_some()),
        "every run records its script version"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trading_day_gate_skips_good_friday_and_weekends() {
    let close_report = flow(
        r#"schedules: [#{ cron: "0 22 * * *", timezone: "UTC" }], calendar: "trading_days""#,
        "\"ok\"",
    );
    let harness = harness(
        &[("close_report", &close_report)],
        utc("2026-03-30T00:00:00Z"),
        LEASE,
    )
    .await;
    harness.step().await;
    harness.advance(utc("2026-04-13T00:00:00Z"), 30).await;
    let days: Vec<String> = harness
        .runs("close_report")
        .await
        .iter()
        .map(|run| run.scheduled_at.format("%m-%d").to_string())
        .collect();
    // Good Friday is 2026-04-03: nine trading days in the fortnight.
    assert_eq!(
        days,
        [
            "03-30", "03-31", "04-01", "04-02", "04-06", "04-07", "04-08", "04-09", "04-10"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_failing_twice_completes_on_its_third_attempt_after_its_backoff() {
    let flaky = flow(
        r#"retries: 2, retry_delay_seconds: 60, backoff: "exponential""#,
        r#"let attempt = state::get("attempts", 0) + 1;
           state::set("attempts", attempt);
           if attempt < 3 { throw `failure ${attempt}`; }
           `succeeded on attempt ${attempt}`"#,
    );
    let harness = harness(&[("flaky", &flaky)], utc("2026-03-02T15:00:00Z"), LEASE).await;
    let id = harness.submit("flaky", None).await;
    harness.step().await;
    let run = harness.store.run(id).await.expect("run").expect("exists");
    assert_eq!((run.state, run.attempt), (RunState::AwaitingRetry, 2));
    assert_eq!(
        run.due_at - harness.clock.now(),
        Duration::seconds(60),
        "first retry after the base delay"
    );
    assert!(
        run.error
            .as_deref()
            .unwrap_or_default()
            .contains("failure 1")
    );

    harness.clock.advance(Duration::seconds(59));
    harness.step().await;
    assert_eq!(
        harness
            .store
            .run(id)
            .await
            .expect("run")
            .expect("exists")
            .attempt,
        2,
        "not before its due time"
    );
    harness.clock.advance(Duration::seconds(1));
    harness.step().await;
    let run = harness.store.run(id).await.expect("run").expect("exists");
    assert_eq!((run.state, run.attempt), (RunState::AwaitingRetry, 3));
    assert_eq!(
        run.due_at - harness.clock.now(),
        Duration::seconds(120),
        "exponential: the delay doubles"
    );

    harness.clock.advance(Duration::seconds(120));
    harness.step().await;
    let run = harness.store.run(id).await.expect("run").expect("exists");
    assert_eq!((run.state, run.attempt), (RunState::Completed, 3));
    assert_eq!(
        run.result,
        Some(serde_json::json!("succeeded on attempt 3"))
    );
    use RunState::*;
    assert_eq!(
        harness.states(id).await,
        [
            Scheduled,
            Pending,
            Running,
            Failed,
            AwaitingRetry,
            Pending,
            Running,
            Failed,
            AwaitingRetry,
            Pending,
            Running,
            Completed
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_flow_stops_at_its_timeout_and_a_cancelled_run_stops() {
    let endless = flow("timeout_seconds: 0.5", "loop { }");
    let long = flow("timeout_seconds: 30", "let n = 0; loop { n += 1; }");
    let harness = harness(
        &[("endless", &endless), ("long", &long)],
        utc("2026-03-02T15:00:00Z"),
        StdDuration::from_millis(1500),
    )
    .await;

    let id = harness.submit("endless", None).await;
    let started = Instant::now();
    harness.step().await;
    let run = harness.store.run(id).await.expect("run").expect("exists");
    assert_eq!(run.state, RunState::TimedOut);
    assert!(
        started.elapsed() < StdDuration::from_secs(5),
        "stopped near its 0.5 s timeout"
    );
    assert!(
        run.error
            .as_deref()
            .unwrap_or_default()
            .contains("time budget")
    );

    // A running run: the cancel is seen at the next lease renewal (a third of the lease).
    let id = harness.submit("long", None).await;
    let handles = harness.orchestrator.step().await.expect("step");
    tokio::time::sleep(StdDuration::from_millis(200)).await;
    assert_eq!(
        harness
            .store
            .request_cancel(id, harness.clock.now())
            .await
            .expect("cancel"),
        Some(RunState::Running)
    );
    let started = Instant::now();
    for handle in handles {
        handle.await.expect("run task");
    }
    assert!(
        started.elapsed() < StdDuration::from_secs(5),
        "stopped well before its 30 s timeout"
    );
    assert_eq!(
        harness
            .store
            .run(id)
            .await
            .expect("run")
            .expect("exists")
            .state,
        RunState::Cancelled
    );

    // A run not yet started is cancelled at once and never runs.
    let id = harness.submit("long", None).await;
    assert_eq!(
        harness
            .store
            .request_cancel(id, harness.clock.now())
            .await
            .expect("cancel"),
        Some(RunState::Cancelled)
    );
    harness.step().await;
    assert_eq!(
        harness.states(id).await,
        [RunState::Scheduled, RunState::Cancelled]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_left_running_by_a_dead_worker_becomes_crashed_and_is_retried() {
    let job = flow("retries: 1, retry_delay_seconds: 5", "\"done\"");
    let harness = harness(&[("job", &job)], utc("2026-03-02T15:00:00Z"), LEASE).await;
    harness.orchestrator.sync_deployments().await.expect("sync");
    // Another worker claims the run and dies without renewing its lease.
    let id = harness.submit("job", None).await;
    let lease_until = harness.lease_clock.now() + Duration::seconds(30);
    let claimed = harness
        .store
        .claim_next_run("dead-worker", harness.clock.now(), lease_until)
        .await
        .expect("claim")
        .expect("a due run");
    assert_eq!(claimed.id, id);
    harness.step().await;
    assert_eq!(
        harness
            .store
            .run(id)
            .await
            .expect("run")
            .expect("exists")
            .state,
        RunState::Running,
        "its lease still holds"
    );

    harness.lease_clock.advance(Duration::seconds(31));
    harness.step().await; // Reaped: Crashed, then AwaitingRetry for attempt 2 in 5 s.
    let run = harness.store.run(id).await.expect("run").expect("exists");
    assert_eq!((run.state, run.attempt), (RunState::AwaitingRetry, 2));
    harness.clock.advance(Duration::seconds(5));
    harness.step().await;
    let run = harness.store.run(id).await.expect("run").expect("exists");
    assert_eq!((run.state, run.attempt), (RunState::Completed, 2));
    use RunState::*;
    assert_eq!(
        harness.states(id).await,
        [
            Scheduled,
            Pending,
            Running,
            Crashed,
            AwaitingRetry,
            Pending,
            Running,
            Completed
        ]
    );
    // The dead worker's late report cannot overwrite the newer attempt.
    let late = tradehost::store::RunEnding {
        state: Failed,
        result: None,
        error: Some("late".into()),
        error_line: None,
        at: harness.clock.now(),
    };
    assert!(
        !harness
            .store
            .finish_run(id, 1, &late)
            .await
            .expect("finish")
    );
    assert_eq!(harness.runs("job").await.len(), 1, "no duplicate run");
}

/// A flow that runs about `seconds` of real time, for the overlap tests.
fn slow_flow(policy: &str, seconds: f64) -> String {
    flow(
        &format!(
            r#"schedules: [#{{ cron: "* * * * *" }}], on_overlap: "{policy}", timeout_seconds: 30"#
        ),
        &format!(
            "let spin = 0; while spin < {} {{ spin += 1; }} \"done\"",
            (seconds * 400_000.0) as i64
        ),
    )
}

async fn overlap(policy: &str) -> (Harness, Vec<RunRecord>) {
    let source = slow_flow(policy, 1.5);
    let harness = harness(
        &[("slow", &source)],
        utc("2026-03-02T15:00:00Z"),
        StdDuration::from_millis(900),
    )
    .await;
    harness.step().await;
    harness.clock.advance(Duration::minutes(1));
    let first = harness.orchestrator.step().await.expect("step"); // Tick 1 starts and keeps running.
    tokio::time::sleep(StdDuration::from_millis(100)).await;
    harness.clock.advance(Duration::minutes(1));
    let second = harness.orchestrator.step().await.expect("step"); // Tick 2 is due while tick 1 runs.
    for handle in first.into_iter().chain(second) {
        handle.await.expect("run task");
    }
    harness.step().await; // A queued tick starts now that the slot is free.
    let runs = harness.runs("slow").await;
    (harness, runs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlap_policies_skip_queue_or_cancel_the_older_run() {
    let (_harness, runs) = overlap("skip").await;
    assert_eq!(
        runs.iter().map(|run| run.state).collect::<Vec<_>>(),
        [RunState::Completed, RunState::Skipped]
    );

    let (_harness, runs) = overlap("queue").await;
    assert_eq!(
        runs.iter().map(|run| run.state).collect::<Vec<_>>(),
        [RunState::Completed, RunState::Completed]
    );
    assert!(
        runs[1].started_at >= runs[0].ended_at,
        "the queued run started after the first ended"
    );

    let (_harness, runs) = overlap("cancel_older").await;
    assert_eq!(
        runs.iter().map(|run| run.state).collect::<Vec<_>>(),
        [RunState::Cancelled, RunState::Completed]
    );
}

async fn missed(policy: &str) -> Vec<DateTime<Utc>> {
    let source = flow(
        &format!(
            r#"schedules: [#{{ cron: "0 * * * *" }}], missed: "{policy}", catch_up_window_seconds: 10800"#
        ),
        "\"ok\"",
    );
    let harness = harness(&[("hourly", &source)], utc("2026-03-02T10:00:00Z"), LEASE).await;
    harness.step().await;
    // The daemon is down from 10:00 to 15:10: ticks at 11, 12, 13, 14 and 15 are missed.
    harness.clock.set(utc("2026-03-02T15:10:00Z"));
    harness.step().await;
    harness
        .runs("hourly")
        .await
        .iter()
        .map(|run| run.scheduled_at)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_run_policies_skip_run_once_or_catch_up_within_their_window() {
    assert_eq!(missed("skip").await, Vec::<DateTime<Utc>>::new());
    assert_eq!(missed("run_once").await, [utc("2026-03-02T15:00:00Z")]);
    // A three-hour window from 15:10 reaches back to 12:10: the 13, 14 and 15 o'clock ticks.
    assert_eq!(
        missed("catch_up").await,
        [
            utc("2026-03-02T13:00:00Z"),
            utc("2026-03-02T14:00:00Z"),
            utc("2026-03-02T15:00:00Z")
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_tick_is_created_once_however_often_it_is_planned() {
    let source = flow(r#"schedules: [#{ cron: "0 * * * *" }]"#, "\"ok\"");
    let harness = harness(&[("hourly", &source)], utc("2026-03-02T10:00:00Z"), LEASE).await;
    harness.orchestrator.sync_deployments().await.expect("sync");
    let tick = NewRun {
        deployment: "hourly".into(),
        parent_run_id: None,
        trigger: "schedule".into(),
        schedule_key: Some(tradehost::orchestrator::scheduler::SCHEDULE_KEY.into()),
        scheduled_at: utc("2026-03-02T11:00:00Z"),
        due_at: utc("2026-03-02T11:00:00Z"),
        max_attempts: 1,
        parameters: serde_json::json!({}),
        state: RunState::Scheduled,
        message: None,
        worker: None,
    };
    let now = harness.clock.now();
    assert!(
        harness
            .store
            .insert_run(&tick, now)
            .await
            .expect("insert")
            .is_some()
    );
    assert!(
        harness
            .store
            .insert_run(&tick, now)
            .await
            .expect("insert")
            .is_none(),
        "the same tick again is refused"
    );
    assert_eq!(harness.runs("hourly").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subflows_run_inside_their_parent_and_in_parallel() {
    let child = flow("", "params.x * 10");
    let pipeline = flow(
        "",
        r#"let one = flow::run("child", #{ x: 1 });
           let many = flow::run_all([#{ name: "child", params: #{ x: 2 } }, #{ name: "child", params: #{ x: 3 } }]);
           #{ one: one, many: many, me: flow::run_id() }"#,
    );
    let harness = harness(
        &[("child", &child), ("pipeline", &pipeline)],
        utc("2026-03-02T15:00:00Z"),
        LEASE,
    )
    .await;
    let id = harness.submit("pipeline", None).await;
    harness.step().await;
    let run = harness.store.run(id).await.expect("run").expect("exists");
    assert_eq!(run.state, RunState::Completed, "{:?}", run.error);
    assert_eq!(
        run.result,
        Some(serde_json::json!({ "one": 10, "many": [20, 30], "me": id }))
    );
    let children = harness.runs("child").await;
    assert_eq!(children.len(), 3);
    assert!(children.iter().all(|child| child.parent_run_id == Some(id)
        && child.trigger == "parent"
        && child.state == RunState::Completed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_task_does_not_run_again_within_its_expiry() {
    // The task's function is a top-level function of the flow; it counts its executions.
    let cached = r#"
fn expensive(x) {
    state::set("executions", state::get("executions", 0) + 1);
    x * 2
}
fn run(params) {
    let value = flow::task("double", #{ cache_key: "double-21", cache_seconds: 3600, retries: 1 }, Fn("expensive"), [21]);
    #{ value: value, executions: state::get("executions", 0) }
}
"#;
    let harness = harness(&[("cached", cached)], utc("2026-03-02T15:00:00Z"), LEASE).await;
    let first = harness.submit("cached", None).await;
    harness.step().await;
    let second = harness.submit("cached", None).await;
    harness.step().await;
    let result = |run: RunRecord| run.result.expect("a result");
    assert_eq!(
        result(
            harness
                .store
                .run(first)
                .await
                .expect("run")
                .expect("exists")
        ),
        serde_json::json!({ "value": 42, "executions": 1 })
    );
    assert_eq!(
        result(
            harness
                .store
                .run(second)
                .await
                .expect("run")
                .expect("exists")
        ),
        serde_json::json!({ "value": 42, "executions": 1 }),
        "served from the cache"
    );
    let tasks = harness.store.task_runs(second).await.expect("task runs");
    assert_eq!(
        (tasks.len(), tasks[0].cache_hit, tasks[0].attempts),
        (1, true, 0)
    );

    // After its expiry the task runs again.
    harness.clock.advance(Duration::hours(2));
    let third = harness.submit("cached", None).await;
    harness.step().await;
    assert_eq!(
        result(
            harness
                .store
                .run(third)
                .await
                .expect("run")
                .expect("exists")
        ),
        serde_json::json!({ "value": 42, "executions": 2 })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_starts_the_flows_it_triggers_once() {
    let producer = flow("", r#"flow::emit("prices.checked", #{ symbols: 7 })"#);
    let consumer = flow(
        r#"triggers: ["prices.checked", "bars.ingested"]"#,
        "params.event.payload",
    );
    let harness = harness(
        &[("producer", &producer), ("consumer", &consumer)],
        utc("2026-03-02T15:00:00Z"),
        LEASE,
    )
    .await;
    harness.submit("producer", None).await;
    harness.step().await; // The producer runs and emits.
    harness.step().await; // The event becomes a consumer run, which runs.
    harness.step().await; // Nothing more: the event was used once.
    let runs = harness.runs("consumer").await;
    assert_eq!(runs.len(), 1);
    assert_eq!(
        (runs[0].trigger.as_str(), runs[0].state),
        ("event", RunState::Completed)
    );
    assert_eq!(runs[0].result, Some(serde_json::json!({ "symbols": 7 })));

    // The host's own event, as the feed emits it after storing bars.
    harness
        .store
        .emit_event(
            "bars.ingested",
            &serde_json::json!({ "bars": 7 }),
            harness.clock.now(),
        )
        .await
        .expect("emit");
    harness.step().await;
    harness.step().await;
    assert_eq!(harness.runs("consumer").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_backup_and_log_cleanup_flows_keep_their_promises() {
    let repository = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts");
    let backup_flow =
        std::fs::read_to_string(repository.join("backup_database.rhai")).expect("backup flow");
    let cleanup_flow =
        std::fs::read_to_string(repository.join("cleanup_logs.rhai")).expect("cleanup flow");
    let talker = flow("", r#"log::info("a line to keep or clean"); 1"#);
    let harness = harness(
        &[
            ("backup_database", &backup_flow),
            ("cleanup_logs", &cleanup_flow),
            ("talker", &talker),
        ],
        utc("2026-03-02T15:00:00Z"),
        LEASE,
    )
    .await;

    // A run with a log line, 40 days before the cleanup.
    harness.submit("talker", None).await;
    harness.step().await;
    harness.clock.advance(Duration::days(40));
    harness.submit("talker", None).await;
    harness.step().await;
    let id = harness.submit("cleanup_logs", None).await;
    harness.step().await;
    let run = harness.store.run(id).await.expect("run").expect("exists");
    assert_eq!(run.state, RunState::Completed, "{:?}", run.error);
    // The 40-day jump also fired the daily schedule once (missed: run_once), which may have
    // cleaned first; across all cleanup runs exactly the one old line went.
    let cleanups = harness.runs("cleanup_logs").await;
    assert!(
        cleanups.iter().any(|run| run.trigger == "schedule"),
        "the missed daily tick ran once"
    );
    assert_eq!(
        cleanups
            .iter()
            .filter(|run| run.trigger == "schedule")
            .count(),
        1
    );
    let deleted: i64 = cleanups
        .iter()
        .filter_map(|run| run.result.as_ref()?.get("deleted")?.as_i64())
        .sum();
    assert_eq!(deleted, 1);
    let talks = harness.runs("talker").await;
    assert!(
        harness
            .store
            .run_logs(talks[0].id)
            .await
            .expect("logs")
            .is_empty(),
        "the old line is gone"
    );
    assert_eq!(
        harness
            .store
            .run_logs(talks[1].id)
            .await
            .expect("logs")
            .len(),
        1,
        "the recent line stays"
    );

    // Three more backups with keep = 2: the newest two remain, and the newest restores.
    for _ in 0..3 {
        let id = harness
            .submit(
                "backup_database",
                Some(
                    serde_json::json!({ "keep": 2 })
                        .as_object()
                        .cloned()
                        .expect("map"),
                ),
            )
            .await;
        harness.step().await;
        let run = harness.store.run(id).await.expect("run").expect("exists");
        assert_eq!(run.state, RunState::Completed, "{:?}", run.error);
    }
    let folder = harness.backup_dir.clone();
    let mut backups: Vec<_> = std::fs::read_dir(&folder)
        .expect("backups")
        .map(|entry| entry.expect("entry").path())
        .collect();
    backups.sort();
    assert_eq!(backups.len(), 2);
    let restored_location = tradehost::config::DatabaseLocation::Sqlite(folder.join("restored.db"));
    tradehost::store::restore(&restored_location, backups.last().expect("a backup"))
        .await
        .expect("restore");
    let restored = Store::open(&restored_location, 1)
        .await
        .expect("open restored");
    assert_eq!(
        restored
            .runs(Some("talker"), None, 10)
            .await
            .expect("runs")
            .len(),
        2,
        "the backup holds the runs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_indicators_flow_stores_daily_values_incrementally_and_backfills() {
    use tradehost::market::simulated::{SimulatedConfig, SimulatedMarket};
    let repository = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts");
    let source = std::fs::read_to_string(repository.join("compute_indicators.rhai"))
        .expect("indicators flow");
    // Runs are started by hand here; the daily schedule would add its own runs as the clock jumps.
    let schedule = r#"schedules: [#{ cron: "30 17 * * 1-5", timezone: "America/New_York" }],"#;
    assert!(
        source.contains(schedule),
        "the flow's schedule changed; update this test"
    );
    let source = source.replace(schedule, "");
    let start = utc("2026-01-05T14:30:00Z");
    let harness = harness(&[("compute_indicators", &source)], start, LEASE).await;
    // Two months of SIMA and SIMB minute bars; two symbols keep the test quick.
    let mut config = SimulatedConfig::default();
    config.pairs.truncate(1);
    config
        .instruments
        .retain(|instrument| ["SIMA", "SIMB"].contains(&instrument.symbol.as_str()));
    let mut market = SimulatedMarket::new(config, start).expect("market");
    let first_part = market.bars_between(start, utc("2026-03-02T00:00:00Z"));
    harness
        .store
        .insert_bars(&first_part, "test")
        .await
        .expect("insert");
    harness.clock.set(utc("2026-03-02T00:00:00Z"));

    let run = |parameters: serde_json::Value| {
        let orchestrator = harness.orchestrator.clone();
        async move {
            orchestrator
                .submit("compute_indicators", parameters.as_object().cloned())
                .await
                .expect("submit")
        }
    };
    let result = |id: i64| {
        let store = harness.store.clone();
        async move {
            let run = store.run(id).await.expect("run").expect("exists");
            assert_eq!(run.state, RunState::Completed, "{:?}", run.error);
            run.result.expect("result")
        }
    };
    let first = run(serde_json::json!({})).await;
    harness.step().await;
    let first = result(first).await;
    assert_eq!(first["symbols"], 2);
    let stored = harness
        .store
        .indicator_values("SIMA", "1Day", "sma_20")
        .await
        .expect("values");
    // 38 sessions from 5 January to 27 February 2026 (19 in January after MLK day, 19 in
    // February after Presidents' Day); the first SMA-20 value is on the 20th session.
    assert_eq!(stored.len(), 38 - 19);
    // The last value against a native SMA of the daily closes built from the stored minutes.
    let minutes = harness
        .store
        .bars(&tradehost::store::BarQuery::all(
            tradehost::domain::Symbol::parse("SIMA").expect("symbol"),
            tradehost::domain::Timeframe::MINUTE,
        ))
        .await
        .expect("bars");
    let daily =
        tradehost::domain::resample(&minutes, tradehost::domain::Timeframe::DAY).expect("daily");
    let closes: Vec<f64> = daily.iter().map(|bar| bar.close.to_f64()).collect();
    let native = tradehost::indicators::sma(&closes, 20).expect("sma");
    let (last_time, last_value) = *stored.last().expect("values");
    assert_eq!(last_time, daily.last().expect("daily").time);
    assert!((last_value - native.last().expect("value")).abs() < 1e-9);

    // Nothing new: nothing stored. A new session: only its values.
    let again = run(serde_json::json!({})).await;
    harness.step().await;
    assert_eq!(result(again).await["values"], 0);
    let next_day = market.bars_between(utc("2026-03-02T00:00:00Z"), utc("2026-03-03T00:00:00Z"));
    harness
        .store
        .insert_bars(&next_day, "test")
        .await
        .expect("insert");
    harness.clock.set(utc("2026-03-03T00:00:00Z"));
    let incremental = run(serde_json::json!({})).await;
    harness.step().await;
    // One new bar × 2 symbols × 6 indicators: SMA-50 is still warming up after 39 sessions, and
    // warm-up NaN are never stored.
    assert_eq!(result(incremental).await["values"], 12);
    assert!(
        harness
            .store
            .indicator_values("SIMA", "1Day", "sma_50")
            .await
            .expect("values")
            .is_empty()
    );

    // A backfill recomputes and rewrites every value.
    let backfill = run(serde_json::json!({ "backfill": true })).await;
    harness.step().await;
    let total = result(backfill).await["values"].as_i64().expect("a count");
    assert!(total > 12 * 10, "the whole history: {total}");
    assert_eq!(
        harness
            .store
            .indicator_values("SIMA", "1Day", "sma_20")
            .await
            .expect("values")
            .len(),
        39 - 19
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_archive_flow_moves_old_bars_to_verified_parquet_files_and_deletes_them() {
    use tradehost::market::simulated::{SimulatedConfig, SimulatedMarket};
    let repository = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts");
    let source =
        std::fs::read_to_string(repository.join("archive_old_data.rhai")).expect("archive flow");
    let start = utc("2026-01-05T14:30:00Z");
    let harness = harness(&[("archive_old_data", &source)], start, LEASE).await;
    let mut config = SimulatedConfig::default();
    config.pairs.clear();
    config
        .instruments
        .retain(|instrument| instrument.symbol.as_str() == "SIMX");
    let mut market = SimulatedMarket::new(config, start).expect("market");
    // January to mid-May. On 2026-05-15 a 90-day retention cuts at 2026-02-14: the bars from
    // 5 January go, a month per file (5 January to 5 February, then to 14 February).
    let bars = market.bars_between(start, utc("2026-05-15T00:00:00Z"));
    harness
        .store
        .insert_bars(&bars, "test")
        .await
        .expect("insert");
    harness.clock.set(utc("2026-05-15T00:00:00Z"));
    let cutoff = utc("2026-02-14T00:00:00Z");
    let expected = bars.iter().filter(|bar| bar.time < cutoff).count();

    let id = harness.submit("archive_old_data", None).await;
    harness.step().await;
    let run = harness.store.run(id).await.expect("run").expect("exists");
    assert_eq!(run.state, RunState::Completed, "{:?}", run.error);
    let result = run.result.expect("result");
    assert_eq!(result["archived"], expected as u64);
    let files: Vec<PathBuf> = result["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|file| PathBuf::from(file.as_str().expect("path")))
        .collect();
    assert_eq!(files.len(), 2, "a month per file: {files:?}");
    let in_files: usize = files
        .iter()
        .map(|file| tradehost::analytics::archive::row_count(file).expect("readable parquet"))
        .sum();
    assert_eq!(in_files, expected);
    assert_eq!(
        harness.store.count_bars(None).await.expect("count") as usize,
        bars.len() - expected
    );
    assert!(
        harness
            .store
            .oldest_bar_time()
            .await
            .expect("oldest")
            .expect("bars remain")
            >= cutoff
    );

    // Nothing older is left: a second run archives nothing.
    let again = harness.submit("archive_old_data", None).await;
    harness.step().await;
    assert_eq!(
        harness
            .store
            .run(again)
            .await
            .expect("run")
            .expect("exists")
            .result
            .expect("result")["archived"],
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fetch_flow_stores_the_latest_bars_once_and_announces_them() {
    let repository = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts");
    let source =
        std::fs::read_to_string(repository.join("fetch_market_data.rhai")).expect("fetch flow");
    let consumer = flow(
        r#"triggers: ["bars.ingested"]"#,
        "params.event.payload.bars",
    );
    let start = utc("2026-03-02T14:30:00Z");
    let harness = harness_with(
        &[("fetch_market_data", &source), ("consumer", &consumer)],
        start,
        LEASE,
        |settings, store, clock| {
            let (store, clock) = (store.clone(), clock.clone());
            settings.market_fetch = Some(Arc::new(move || {
                let (store, clock) = (store.clone(), clock.clone());
                Box::pin(async move {
                    let config = tradehost::market::simulated::SimulatedConfig::default();
                    tradehost::ingest::feed::fetch_simulated(&store, &clock, config, start)
                        .await
                        .map_err(|error| error.to_string())
                })
            }));
        },
    )
    .await;
    let (store, clock, orchestrator) = (
        harness.store.clone(),
        harness.clock.clone(),
        harness.orchestrator.clone(),
    );
    let step = || harness.step();

    // An hour of the session passes: 60 bars of each of the 7 symbols.
    clock.set(utc("2026-03-02T15:30:00Z"));
    let first = orchestrator
        .submit("fetch_market_data", None)
        .await
        .expect("submit");
    step().await;
    let run = store.run(first).await.expect("run").expect("exists");
    assert_eq!(run.state, RunState::Completed, "{:?}", run.error);
    assert_eq!(run.result.as_ref().expect("result")["new_bars"], 7 * 60);
    assert_eq!(store.count_bars(None).await.expect("count"), 7 * 60);
    let load_runs = store.load_runs(10).await.expect("load runs");
    assert_eq!(
        (
            load_runs[0].source.as_str(),
            load_runs[0].summary.bars_inserted
        ),
        ("simulated", 420)
    );

    // Again at once: nothing new, nothing announced.
    let second = orchestrator
        .submit("fetch_market_data", None)
        .await
        .expect("submit");
    step().await;
    assert_eq!(
        store
            .run(second)
            .await
            .expect("run")
            .expect("exists")
            .result
            .expect("result")["new_bars"],
        0
    );
    step().await;
    let consumers = store.runs(Some("consumer"), None, 10).await.expect("runs");
    assert_eq!(consumers.len(), 1, "one announcement, one triggered run");
    assert_eq!(consumers[0].result, Some(serde_json::json!(420)));
}
