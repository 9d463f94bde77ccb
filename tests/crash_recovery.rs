//! A daemon killed with SIGKILL in the middle of a flow run: on restart the run becomes Crashed
//! (its lease expired), is retried by its policy and completes, and no scheduled tick is lost or
//! run twice.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use support::daemon::{open_store, start_with};
use tradehost::domain::RunState;

/// Ticks every simulated minute; each run spins for about two real seconds.
const SLOW_FLOW: &str = r#"
fn meta() {
    #{
        schedules: [#{ cron: "* * * * *" }],
        retries: 1,
        retry_delay_seconds: 0,
        timeout_seconds: 60,
        on_overlap: "skip",
    }
}
fn run(params) {
    let n = 0;
    while n < 2500000 { n += 1; }
    "finished"
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_mid_flight_is_crashed_retried_and_completed_with_no_tick_lost_or_doubled() {
    let project = tempfile::tempdir().expect("project folder");
    let root = project.path();
    std::fs::create_dir_all(root.join("scripts")).expect("scripts folder");
    std::fs::write(root.join("scripts/slow.rhai"), SLOW_FLOW).expect("write flow");
    // A short lease so the restarted daemon finds the dead run quickly; 30× so a simulated
    // minute (one tick) passes every two real seconds.
    let environment = [("TRADEHOST_ORCHESTRATOR__LEASE_SECONDS", "2")];

    let daemon = start_with(root, 30, &environment);
    let store = open_store(root).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let victim = loop {
        let running = store
            .runs(Some("slow"), Some(RunState::Running), 10)
            .await
            .expect("runs");
        if let Some(run) = running.first() {
            break run.clone();
        }
        assert!(Instant::now() < deadline, "no run started within 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    daemon.kill();
    let after_kill = store.run(victim.id).await.expect("run").expect("exists");
    assert_eq!(
        after_kill.state,
        RunState::Running,
        "the killed daemon could not record an ending"
    );

    let daemon = start_with(root, 30, &environment);
    let deadline = Instant::now() + Duration::from_secs(60);
    let recovered = loop {
        let run = store.run(victim.id).await.expect("run").expect("exists");
        if run.state.is_terminal() && run.state != RunState::Crashed {
            break run;
        }
        assert!(
            Instant::now() < deadline,
            "the crashed run was not retried to an end within 60 s: {:?}",
            run.state
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    daemon.interrupt();

    assert_eq!(
        (recovered.state, recovered.attempt),
        (RunState::Completed, 2)
    );
    let history: Vec<RunState> = store
        .run_states(victim.id)
        .await
        .expect("history")
        .into_iter()
        .map(|state| state.state)
        .collect();
    use RunState::*;
    assert_eq!(
        &history[history.len() - 5..],
        &[Crashed, AwaitingRetry, Pending, Running, Completed],
        "{history:?}"
    );
    let mut per_tick: BTreeMap<_, usize> = BTreeMap::new();
    for run in store.runs(Some("slow"), None, 10_000).await.expect("runs") {
        assert_ne!(
            run.state,
            RunState::Running,
            "a stop leaves nothing running: run {}",
            run.id
        );
        if run.trigger == "schedule" {
            *per_tick.entry(run.scheduled_at).or_default() += 1;
        }
    }
    assert!(
        per_tick.values().all(|count| *count == 1),
        "a tick ran twice: {per_tick:?}"
    );
}
