//! The order desk over the Alpaca broker against the fake Alpaca: faults on submission end in
//! exactly one order per intent, a rejection is stored with Alpaca's reason, fills come back as
//! executions, and reconciliation finds an order placed behind the host's back.

mod support;

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use support::fake_alpaca::{FakeAlpaca, Fault};
use tradehost::broker::alpaca::{AlpacaBroker, Credentials};
use tradehost::clock::Clock;
use tradehost::config::{MismatchPolicy, ReconciliationConfig, TradingConfig};
use tradehost::domain::{
    Bar, ClientOrderId, OrderSide, OrderStatus, OrderType, Price, Quantity, Symbol, TimeInForce,
    Timeframe,
};
use tradehost::trading::{Desk, TradeRequest, limits_file};

fn symbol(text: &str) -> Symbol {
    Symbol::parse(text).expect("symbol")
}

async fn desk(fake: &FakeAlpaca, database: &support::TestDatabase) -> Arc<Desk> {
    let now = Utc
        .with_ymd_and_hms(2026, 3, 2, 15, 0, 0)
        .single()
        .expect("time");
    let price = Price::new("100".parse().expect("price")).expect("price");
    let bar = Bar::new(
        symbol("SIMA"),
        Timeframe::MINUTE,
        now - chrono::Duration::minutes(1),
        price,
        price,
        price,
        price,
        Quantity::new("1000".parse().expect("volume")).expect("volume"),
    )
    .expect("bar");
    database
        .store
        .insert_bars(&[bar], "test")
        .await
        .expect("bar");
    let credentials =
        Credentials::new(support::fake_alpaca::KEY_ID, support::fake_alpaca::SECRET).expect("keys");
    let broker = AlpacaBroker::new(&fake.config(500, 2), &credentials).expect("broker");
    Desk::open(
        std::sync::Arc::new(database.store.clone()),
        Arc::new(broker),
        Clock::manual(now),
        TradingConfig {
            pair_leg_timeout_seconds: 300,
            submit_attempts: 3,
            reconciliation: ReconciliationConfig {
                default_policy: MismatchPolicy::Adopt,
                cash_policy: MismatchPolicy::Halt,
                cash_tolerance: "0.01".parse().expect("tolerance"),
                policies: Default::default(),
            },
        },
        limits_file::parse(limits_file::EMBEDDED, "embedded").expect("limits"),
        None,
    )
    .await
    .expect("desk")
}

fn buy(amount: &str) -> TradeRequest {
    TradeRequest {
        strategy: "test".into(),
        script_hash: None,
        run_id: None,
        symbol: symbol("SIMA"),
        side: OrderSide::Buy,
        quantity: Quantity::new(amount.parse().expect("quantity")).expect("quantity"),
        order_type: OrderType::Market,
        time_in_force: TimeInForce::Day,
        operator_flatten: false,
    }
}

#[tokio::test]
async fn every_submission_fault_ends_in_exactly_one_order_per_intent() {
    let faults = [
        ("429 with Retry-After", Fault::rate_limited(Some(1))),
        ("503", Fault::server_error(503)),
        ("slow reply past the timeout", FakeAlpaca::slower_than(500)),
        ("dropped connection", Fault::Drop),
        ("dropped after processing", Fault::DropAfterProcessing),
    ];
    for (name, fault) in faults {
        let fake = FakeAlpaca::start().await;
        let database = support::sqlite().await;
        let desk = desk(&fake, &database).await;
        fake.fail("POST", "/v2/orders", 1, fault);
        let outcome = desk.submit(buy("3")).await.expect("submit");
        assert!(outcome.accepted, "{name}: {outcome:?}");
        assert!(outcome.error.is_none(), "{name}: recovered: {outcome:?}");
        let id = outcome.client_order_id.expect("id");
        assert_eq!(
            fake.orders_with_client_id(&id),
            1,
            "{name}: exactly one order"
        );
        let row = database
            .store
            .order(&ClientOrderId::parse(&id).expect("id"))
            .await
            .expect("read")
            .expect("row");
        assert!(row.broker_order_id.is_some(), "{name}: acknowledged");
        assert_eq!(row.status, OrderStatus::Accepted, "{name}");
    }
}

#[tokio::test]
async fn an_unreachable_broker_leaves_the_intent_for_recovery_with_a_clear_error() {
    let fake = FakeAlpaca::start().await;
    let database = support::sqlite().await;
    let desk = desk(&fake, &database).await;
    // More failures than the broker's retries and the desk's attempts together.
    fake.fail("POST", "/v2/orders", 50, Fault::server_error(503));
    fake.fail(
        "GET",
        "/v2/orders:by_client_order_id",
        50,
        Fault::server_error(503),
    );
    let outcome = desk.submit(buy("2")).await.expect("submit");
    let error = outcome.error.clone().expect("an error");
    assert!(
        error.contains("unavailable") || error.contains("503"),
        "{error}"
    );
    assert_eq!(
        outcome.status.as_deref(),
        Some("pending_new"),
        "{outcome:?}"
    );
    let id = outcome.client_order_id.expect("id");
    assert!(fake.orders_with_client_id(&id) <= 1);

    // The broker comes back: recovery asks first, and sends only if the broker has nothing.
    fake.clear_faults();
    let mut recovered = desk.recover().await.expect("recover");
    for _ in 0..20 {
        if recovered.recovered + recovered.resent == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        recovered = desk.recover().await.expect("recover");
    }
    assert_eq!(recovered.recovered + recovered.resent, 1, "{recovered:?}");
    assert_eq!(fake.orders_with_client_id(&id), 1);
}

#[tokio::test]
async fn a_rejection_is_stored_with_alpacas_reason_and_fills_come_back() {
    let fake = FakeAlpaca::start().await;
    let database = support::sqlite().await;
    let desk = desk(&fake, &database).await;
    fake.fail("POST", "/v2/orders", 1, Fault::insufficient_buying_power());
    let refused = desk.submit(buy("4")).await.expect("submit");
    assert_eq!(refused.status.as_deref(), Some("rejected"));
    assert!(
        refused
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("insufficient buying power"),
        "{refused:?}"
    );
    assert_eq!(
        fake.requests_to("POST", "/v2/orders").len(),
        1,
        "a rejection is not retried"
    );

    let accepted = desk.submit(buy("4")).await.expect("submit");
    let id = accepted.client_order_id.expect("id");
    let broker_id = fake.order_json(&id).expect("order")["id"]
        .as_str()
        .expect("broker id")
        .to_owned();
    fake.fill(&broker_id, "1", "100.5", Utc::now());
    fake.fill(&broker_id, "3", "100.25", Utc::now());
    let summary = desk.sync_orders().await.expect("sync");
    assert_eq!(summary.fills, 2, "{summary:?}");
    let row = database
        .store
        .order(&ClientOrderId::parse(&id).expect("id"))
        .await
        .expect("read")
        .expect("row");
    assert_eq!(row.status, OrderStatus::Filled);
    assert_eq!(row.filled_quantity.to_string(), "4");
    let report = desk.reconcile().await.expect("reconcile");
    assert!(report.mismatches.is_empty(), "{:?}", report.mismatches);
}
