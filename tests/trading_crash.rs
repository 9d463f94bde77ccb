//! SIGKILL in the middle of order submission, on the real daemon with the paper broker: between
//! writing the intent and calling the broker, and between the broker accepting the order and the
//! acknowledgement being stored. After a restart the broker holds exactly one order per intent.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::daemon::{RunningDaemon, open_store, start_with};
use tradehost::broker::Broker;
use tradehost::broker::paper::PaperBroker;
use tradehost::clock::Clock;
use tradehost::domain::OrderStatus;
use tradehost::market::calendar::UsEquityCalendar;
use tradehost::store::Store;

/// Sends one order, once: the state flag is set before the submission, so a retried run never
/// asks twice; exactly-once is then the desk's job.
const BUY_ONCE: &str = r#"
fn meta() {
    #{
        schedules: [#{ cron: "* * * * *" }],
        timeout_seconds: 60,
        on_overlap: "skip",
    }
}
fn run(params) {
    if state::get("sent", false) { return "already sent"; }
    let prices = db::query("SELECT COUNT(*) AS n FROM bars WHERE symbol = 'SIMA'");
    if prices[0].n == 0 { return "no price yet"; }
    state::set("sent", true);
    orders::submit("SIMA", "buy", 5)
}
"#;

/// 10:00 in New York on a Monday, so the market is open and the risk engine lets entries pass.
const ENVIRONMENT_START: (&str, &str) = ("TRADEHOST_CLOCK__START", "2026-01-05T15:00:00Z");

fn project() -> tempfile::TempDir {
    let project = tempfile::tempdir().expect("project folder");
    std::fs::create_dir_all(project.path().join("scripts")).expect("scripts folder");
    std::fs::write(project.path().join("scripts/buy_once.rhai"), BUY_ONCE).expect("write flow");
    project
}

/// Waits until the daemon prints that it stopped at `failpoint`.
fn wait_for_failpoint(daemon: &RunningDaemon, failpoint: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    let needle = format!("FAILPOINT {failpoint} reached");
    while Instant::now() < deadline {
        if let Ok(line) = daemon.lines.recv_timeout(Duration::from_millis(500))
            && line.contains(&needle)
        {
            return;
        }
    }
    panic!("the daemon never reached failpoint {failpoint} within 90 s");
}

async fn paper_view(store: &Store) -> Arc<PaperBroker> {
    let config = tradehost::config::PaperConfig {
        initial_cash: "100000".parse().expect("cash"),
        commission_per_share: "0.005".parse().expect("commission"),
        commission_minimum: "1".parse().expect("minimum"),
        slippage_bps: "2".parse().expect("slippage"),
        participation_rate: "0.1".parse().expect("participation"),
        shortable: Vec::new(),
    };
    Arc::new(
        PaperBroker::new(store.clone(), Clock::real(), UsEquityCalendar, &config)
            .await
            .expect("paper broker view"),
    )
}

async fn crash_at(failpoint: &str, broker_has_it_after_crash: bool) {
    let project = project();
    let root: &Path = project.path();
    let daemon = start_with(
        root,
        60,
        &[ENVIRONMENT_START, ("TRADEHOST_FAILPOINT", failpoint)],
    );
    wait_for_failpoint(&daemon, failpoint);
    daemon.kill();

    let store = open_store(root).await;
    let intents = store.recent_orders(10).await.expect("orders");
    assert_eq!(intents.len(), 1, "one intent was written: {intents:?}");
    let intent = intents[0].clone();
    assert_eq!(intent.status, OrderStatus::PendingNew, "never acknowledged");
    assert!(intent.broker_order_id.is_none());
    let paper = paper_view(&store).await;
    let at_broker = paper
        .order_by_client_id(&intent.client_order_id)
        .await
        .expect("ask the paper broker");
    assert_eq!(
        at_broker.is_some(),
        broker_has_it_after_crash,
        "{failpoint}: the broker's copy after the crash"
    );

    let daemon = start_with(root, 60, &[ENVIRONMENT_START]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let repaired = loop {
        let row = store
            .order(&intent.client_order_id)
            .await
            .expect("read")
            .expect("the intent");
        if row.broker_order_id.is_some() {
            break row;
        }
        assert!(
            Instant::now() < deadline,
            "the restart did not repair the intent"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Let the restarted daemon run on a little: a bug that sends again would show now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    daemon.interrupt();

    let copies: Vec<_> = paper
        .orders_since(chrono::DateTime::<chrono::Utc>::UNIX_EPOCH)
        .await
        .expect("broker orders")
        .into_iter()
        .filter(|order| order.client_order_id == intent.client_order_id)
        .collect();
    assert_eq!(
        copies.len(),
        1,
        "{failpoint}: exactly one broker order for the intent"
    );
    assert_eq!(
        Some(copies[0].broker_order_id.clone()),
        repaired.broker_order_id
    );
    assert_eq!(
        store.recent_orders(10).await.expect("orders").len(),
        1,
        "the flow did not ask again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_writing_the_intent_the_restart_sends_it_exactly_once() {
    crash_at("after_intent", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_before_the_acknowledgement_the_restart_adopts_the_broker_order() {
    crash_at("after_submit", true).await;
}

/// Against the fake Alpaca: the broker records the order, then the daemon is killed while the
/// reply is held. The restart finds the order by its client order id and never sends it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_while_alpaca_holds_the_reply_the_restart_finds_the_order_and_sends_nothing() {
    use support::fake_alpaca::{FakeAlpaca, Fault};
    let fake = FakeAlpaca::start().await;
    fake.fail(
        "POST",
        "/v2/orders",
        1,
        Fault::HoldAfterCreate(Duration::from_secs(120)),
    );
    let project = project();
    let root: &Path = project.path();
    let mut environment: Vec<(String, String)> = fake.environment();
    environment.push(("TRADEHOST_BROKER__KIND".into(), "alpaca".into()));
    environment.push((ENVIRONMENT_START.0.into(), ENVIRONMENT_START.1.into()));
    let pairs: Vec<(&str, &str)> = environment
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .collect();

    let daemon = start_with(root, 60, &pairs);
    let store = open_store(root).await;
    let deadline = Instant::now() + Duration::from_secs(90);
    let intent = loop {
        let rows = store.recent_orders(10).await.expect("orders");
        if let Some(row) = rows.first()
            && fake.orders_with_client_id(row.client_order_id.as_str()) == 1
        {
            break row.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no order reached the fake within 90 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    daemon.kill();
    let row = store
        .order(&intent.client_order_id)
        .await
        .expect("read")
        .expect("intent");
    assert_eq!(
        row.status,
        OrderStatus::PendingNew,
        "the reply never arrived"
    );
    assert_eq!(fake.requests_to("POST", "/v2/orders").len(), 1);

    let daemon = start_with(root, 60, &pairs);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let row = store
            .order(&intent.client_order_id)
            .await
            .expect("read")
            .expect("intent");
        if row.broker_order_id.is_some() {
            assert_ne!(row.status, OrderStatus::PendingNew);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the restart did not adopt the order"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    daemon.interrupt();
    assert_eq!(
        fake.orders_with_client_id(intent.client_order_id.as_str()),
        1
    );
    assert_eq!(
        fake.requests_to("POST", "/v2/orders").len(),
        1,
        "the order was never sent a second time"
    );
    assert!(
        fake.requests()
            .iter()
            .any(|request| request.path.contains("by_client_order_id")),
        "the restart asked by client order id"
    );
}
