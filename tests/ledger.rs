//! The desk's ledger in memory answers as the database does: random sequences of the desk's writes
//! go to a SQLite store (a real file, migrated) and to a `MemoryLedger`, and after every write each
//! read the desk makes must give the same rows in the same order from both.

mod support;

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use rust_decimal::Decimal;
use tradehost::domain::{
    ClientOrderId, Money, OrderSide, OrderStatus, OrderType, Price, Quantity, Symbol, TimeInForce,
};
use tradehost::store::{
    FillRecord, MismatchRecord, NewDecision, OrderProgress, OrderRecord, PairTradeRecord,
    PositionRecord, SnapshotRecord,
};
use tradehost::trading::ledger::{Ledger, MemoryLedger};

const SYMBOLS: [&str; 3] = ["AAA", "BBB", "CCC"];
const STATUSES: [OrderStatus; 6] = [
    OrderStatus::PendingNew,
    OrderStatus::New,
    OrderStatus::PartiallyFilled,
    OrderStatus::Filled,
    OrderStatus::Canceled,
    OrderStatus::Rejected,
];
const PAIR_STATUSES: [&str; 4] = ["pending", "filled", "flattened", "failed"];

/// One write the desk makes. Small index spaces, so writes meet the same rows again.
#[derive(Debug, Clone)]
enum Write {
    Order {
        id: u8,
        pair: Option<u8>,
        symbol: usize,
        at: i64,
    },
    Progress {
        id: u8,
        acknowledged: bool,
        status: usize,
        filled: u32,
        error: bool,
        at: i64,
    },
    Attempt {
        id: u8,
        at: i64,
    },
    Fill {
        execution: u8,
        order: Option<u8>,
        symbol: usize,
        at: i64,
    },
    Decision {
        order: Option<u8>,
        refused: bool,
        at: i64,
    },
    RiskState {
        value: u32,
        at: i64,
    },
    RiskEvent {
        at: i64,
    },
    Alerted {
        id: i64,
        at: i64,
    },
    Alert {
        at: i64,
    },
    Positions {
        symbols: Vec<usize>,
        at: i64,
    },
    Snapshot {
        at: i64,
        equity: u32,
    },
    PairTrade {
        id: u8,
        at: i64,
    },
    PairStatus {
        id: u8,
        status: usize,
        note: bool,
        closed: Option<i64>,
    },
    PairLegs {
        id: u8,
        a: u8,
        b: u8,
    },
    Reconciliation {
        mismatches: Vec<(Option<usize>, bool)>,
        at: i64,
    },
    Resolve {
        symbol: Option<usize>,
        at: i64,
    },
}

/// Microseconds after the base time: sub-millisecond parts test that both keep whole milliseconds.
fn offset() -> impl Strategy<Value = i64> {
    0i64..5_000_000
}

fn write() -> impl Strategy<Value = Write> {
    prop_oneof![
        4 => (0u8..12, proptest::option::of(0u8..4), 0..SYMBOLS.len(), offset())
            .prop_map(|(id, pair, symbol, at)| Write::Order { id, pair, symbol, at }),
        4 => (0u8..12, any::<bool>(), 0..STATUSES.len(), 0u32..100, any::<bool>(), offset())
            .prop_map(|(id, acknowledged, status, filled, error, at)| Write::Progress {
                id, acknowledged, status, filled, error, at,
            }),
        1 => (0u8..12, offset()).prop_map(|(id, at)| Write::Attempt { id, at }),
        3 => (0u8..16, proptest::option::of(0u8..12), 0..SYMBOLS.len(), offset())
            .prop_map(|(execution, order, symbol, at)| Write::Fill { execution, order, symbol, at }),
        2 => (proptest::option::of(0u8..12), any::<bool>(), offset())
            .prop_map(|(order, refused, at)| Write::Decision { order, refused, at }),
        1 => (any::<u32>(), offset()).prop_map(|(value, at)| Write::RiskState { value, at }),
        1 => offset().prop_map(|at| Write::RiskEvent { at }),
        1 => (0i64..6, offset()).prop_map(|(id, at)| Write::Alerted { id, at }),
        1 => offset().prop_map(|at| Write::Alert { at }),
        1 => (proptest::collection::vec(0..SYMBOLS.len(), 0..4), offset())
            .prop_map(|(symbols, at)| Write::Positions { symbols, at }),
        1 => (0i64..4, any::<u32>()).prop_map(|(at, equity)| Write::Snapshot { at: at * 1_000, equity }),
        2 => (0u8..4, offset()).prop_map(|(id, at)| Write::PairTrade { id, at }),
        2 => (0u8..4, 0..PAIR_STATUSES.len(), any::<bool>(), proptest::option::of(offset()))
            .prop_map(|(id, status, note, closed)| Write::PairStatus { id, status, note, closed }),
        1 => (0u8..4, 0u8..12, 0u8..12).prop_map(|(id, a, b)| Write::PairLegs { id, a, b }),
        1 => (proptest::collection::vec((proptest::option::of(0..SYMBOLS.len()), any::<bool>()), 0..3), offset())
            .prop_map(|(mismatches, at)| Write::Reconciliation { mismatches, at }),
        1 => (proptest::option::of(0..SYMBOLS.len()), offset())
            .prop_map(|(symbol, at)| Write::Resolve { symbol, at }),
    ]
}

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 14, 30, 0)
        .single()
        .expect("time")
}

fn time(micros: i64) -> DateTime<Utc> {
    base() + Duration::microseconds(micros)
}

fn client_id(id: u8) -> ClientOrderId {
    ClientOrderId::parse(&format!("order-{id:02}")).expect("id")
}

fn symbol(index: usize) -> Symbol {
    Symbol::parse(SYMBOLS[index]).expect("symbol")
}

fn quantity(shares: u32) -> Quantity {
    Quantity::new(Decimal::from(shares)).expect("quantity")
}

fn price(cents: i64) -> Price {
    Price::new(Decimal::new(cents, 2)).expect("price")
}

/// An order intent as the desk writes it; `id` picks its side, size and type.
fn order_record(id: u8, pair: Option<u8>, index: usize, at: i64) -> OrderRecord {
    OrderRecord {
        client_order_id: client_id(id),
        strategy: "pairs".to_owned(),
        script_hash: Some("abc".to_owned()),
        run_id: None,
        pair_trade_id: pair.map(|pair| format!("pair-{pair}")),
        symbol: symbol(index),
        side: if id.is_multiple_of(2) {
            OrderSide::Buy
        } else {
            OrderSide::Sell
        },
        quantity: quantity(u32::from(id) + 1),
        order_type: if id.is_multiple_of(3) {
            OrderType::Limit {
                limit: price(10_025),
            }
        } else {
            OrderType::Market
        },
        time_in_force: TimeInForce::Day,
        status: OrderStatus::PendingNew,
        broker: "paper".to_owned(),
        broker_order_id: None,
        filled_quantity: Quantity::ZERO,
        average_fill_price: None,
        decision_id: Some(i64::from(id)),
        error: None,
        submit_attempts: 0,
        created_at: time(at),
        submitted_at: None,
        updated_at: time(at),
    }
}

/// Applies one write; what it returned, as text both must agree on (an error only as "error":
/// the database and memory word a duplicate key differently).
async fn apply(ledger: &dyn Ledger, write: &Write) -> String {
    fn said<T: std::fmt::Debug>(result: tradehost::store::Result<T>) -> String {
        match result {
            Ok(value) => format!("{value:?}"),
            Err(_) => "error".to_owned(),
        }
    }
    match write {
        Write::Order {
            id,
            pair,
            symbol: index,
            at,
        } => {
            let record = order_record(*id, *pair, *index, *at);
            said(ledger.insert_order(&record).await)
        }
        Write::Progress {
            id,
            acknowledged,
            status,
            filled,
            error,
            at,
        } => {
            let progress = OrderProgress {
                broker_order_id: acknowledged.then(|| format!("broker-{id}")),
                status: STATUSES[*status],
                filled_quantity: quantity(*filled),
                average_fill_price: (*filled > 0).then(|| price(10_000 + i64::from(*filled))),
                error: error.then(|| format!("failed at {at}")),
            };
            said(
                ledger
                    .update_order(&client_id(*id), &progress, time(*at))
                    .await,
            )
        }
        Write::Attempt { id, at } => said(
            ledger
                .count_submit_attempt(&client_id(*id), time(*at))
                .await,
        ),
        Write::Fill {
            execution,
            order,
            symbol: index,
            at,
        } => {
            let fill = FillRecord {
                execution_id: format!("exec-{execution:02}"),
                client_order_id: order.map(client_id),
                broker_order_id: format!("broker-{}", order.unwrap_or(99)),
                strategy: order.map(|_| "pairs".to_owned()),
                symbol: symbol(*index),
                side: OrderSide::Buy,
                quantity: quantity(u32::from(*execution) + 1),
                price: price(9_950 + i64::from(*execution)),
                commission: Money::new(Decimal::new(35, 2)),
                time: time(*at),
            };
            said(ledger.insert_fill(&fill).await)
        }
        Write::Decision { order, refused, at } => {
            let id = order.map(client_id);
            let decision = NewDecision {
                time: time(*at),
                strategy: "pairs",
                script_hash: Some("abc"),
                client_order_id: id.as_ref().map(ClientOrderId::as_str),
                symbol: "AAA",
                side: "buy",
                quantity: "10".to_owned(),
                approved_quantity: (!refused).then(|| "10".to_owned()),
                outcome: if *refused { "refused" } else { "accepted" },
                // Refusals under two rules and without one, so the counts group.
                rule: match (refused, at % 3) {
                    (false, _) => None,
                    (true, 0) => Some("entry_cutoff".to_owned()),
                    (true, 1) => Some("daily_loss".to_owned()),
                    (true, _) => None,
                },
                reason: refused.then(|| "too close to the close".to_owned()),
                inputs: serde_json::json!({ "equity": "100000.00", "z": 2.25, "at": at }),
            };
            said(ledger.insert_risk_decision(&decision).await)
        }
        Write::RiskState { value, at } => {
            let state =
                serde_json::json!({ "mode": "active", "peak": value.to_string(), "day": at });
            said(ledger.save_risk_state(&state, time(*at)).await)
        }
        Write::RiskEvent { at } => said(
            ledger
                .insert_risk_event(
                    time(*at),
                    "mode_change",
                    "warning",
                    "reducing only",
                    &serde_json::json!({ "at": at }),
                )
                .await,
        ),
        Write::Alerted { id, at } => said(ledger.mark_risk_event_alerted(*id, time(*at)).await),
        Write::Alert { at } => said(
            ledger
                .insert_alert(
                    time(*at),
                    "orders",
                    "warning",
                    "a leg failed",
                    &serde_json::json!([at]),
                )
                .await,
        ),
        Write::Positions { symbols, at } => {
            let positions: Vec<PositionRecord> = symbols
                .iter()
                .map(|index| PositionRecord {
                    symbol: symbol(*index),
                    quantity: Decimal::from(*index as i64 * 10 - 5),
                    average_entry_price: price(10_000),
                    current_price: Some(price(10_100)),
                    market_value: Money::new(Decimal::from(1_010)),
                    unrealised_pnl: Money::new(Decimal::from(10)),
                    updated_at: time(*at),
                })
                .collect();
            said(ledger.replace_positions(&positions).await)
        }
        Write::Snapshot { at, equity } => said(
            ledger
                .insert_snapshot(&SnapshotRecord {
                    time: time(*at),
                    equity: Money::new(Decimal::from(*equity)),
                    cash: Money::new(Decimal::new(i64::from(*equity), 2)),
                    gross_exposure: Money::ZERO,
                    net_exposure: Money::ZERO,
                    unrealised_pnl: Money::ZERO,
                    mode: "active".to_owned(),
                })
                .await,
        ),
        Write::PairTrade { id, at } => said(
            ledger
                .insert_pair_trade(&PairTradeRecord {
                    id: format!("pair-{id}"),
                    strategy: "pairs".to_owned(),
                    pair: "AAA/BBB".to_owned(),
                    leg_a: String::new(),
                    leg_b: String::new(),
                    status: "pending".to_owned(),
                    opened_at: time(*at),
                    deadline: time(*at) + Duration::seconds(30),
                    closed_at: None,
                    note: None,
                })
                .await,
        ),
        Write::PairStatus {
            id,
            status,
            note,
            closed,
        } => said(
            ledger
                .update_pair_trade(
                    &format!("pair-{id}"),
                    PAIR_STATUSES[*status],
                    note.then_some("orphaned: a leg failed"),
                    closed.map(time),
                )
                .await,
        ),
        Write::PairLegs { id, a, b } => said(
            ledger
                .set_pair_trade_legs(
                    &format!("pair-{id}"),
                    client_id(*a).as_str(),
                    client_id(*b).as_str(),
                )
                .await,
        ),
        Write::Reconciliation { mismatches, at } => {
            let mismatches: Vec<MismatchRecord> = mismatches
                .iter()
                .map(|(index, blocking)| MismatchRecord {
                    id: 0,
                    reconciliation_id: 0,
                    symbol: index.map(|index| SYMBOLS[index].to_owned()),
                    kind: "position".to_owned(),
                    local_value: Some("10".to_owned()),
                    broker_value: None,
                    policy: "block".to_owned(),
                    action: "blocked".to_owned(),
                    blocking: *blocking,
                    resolved_at: None,
                    resolved_by: None,
                })
                .collect();
            said(
                ledger
                    .insert_reconciliation(
                        time(*at),
                        "paper",
                        &serde_json::json!({ "at": at }),
                        &mismatches,
                    )
                    .await,
            )
        }
        Write::Resolve { symbol: index, at } => said(
            ledger
                .resolve_mismatches(index.map(|index| SYMBOLS[index]), "operator", time(*at))
                .await,
        ),
    }
}

/// Every read the desk makes, as text.
async fn reads(ledger: &dyn Ledger) -> Vec<String> {
    let mut seen = Vec::new();
    for id in 0..12 {
        seen.push(format!(
            "{:?}",
            ledger.order(&client_id(id)).await.expect("order")
        ));
        seen.push(format!(
            "{:?}",
            ledger
                .order_by_broker_id(&format!("broker-{id}"))
                .await
                .expect("by broker id")
        ));
    }
    seen.push(format!("{:?}", ledger.open_orders().await.expect("open")));
    seen.push(format!(
        "{:?}",
        ledger.open_order_count().await.expect("count")
    ));
    for since in [-1, 0, 1_500, 2_500_000, 2_500_001, 6_000_000] {
        seen.push(format!(
            "{:?}",
            ledger.order_counts(time(since)).await.expect("counts")
        ));
        seen.push(format!(
            "{:?}",
            ledger.fills_since(time(since)).await.expect("fills")
        ));
    }
    for pair in 0..4 {
        let id = format!("pair-{pair}");
        seen.push(format!(
            "{:?}",
            ledger.orders_of_pair_trade(&id).await.expect("legs")
        ));
        seen.push(format!("{:?}", ledger.pair_trade(&id).await.expect("pair")));
    }
    for limit in [0, 3, u32::MAX] {
        seen.push(format!(
            "{:?}",
            ledger.recent_orders(limit).await.expect("recent")
        ));
        seen.push(format!(
            "{:?}",
            ledger.risk_decisions(limit).await.expect("decisions")
        ));
        seen.push(format!("{:?}", ledger.alerts(limit).await.expect("alerts")));
        for unalerted in [false, true] {
            seen.push(format!(
                "{:?}",
                ledger.risk_events(unalerted, limit).await.expect("events")
            ));
        }
    }
    seen.push(format!(
        "{:?}",
        ledger.fill_count().await.expect("fill count")
    ));
    seen.push(format!(
        "{:?}",
        ledger.refusals_by_rule().await.expect("refusals")
    ));
    for since in [-1, 2_500_000] {
        seen.push(format!(
            "{:?}",
            ledger
                .count_orders_since(time(since))
                .await
                .expect("order count")
        ));
    }
    seen.push(format!("{:?}", ledger.risk_state().await.expect("state")));
    seen.push(format!(
        "{:?}",
        ledger.positions().await.expect("positions")
    ));
    seen.push(format!(
        "{:?}",
        ledger.latest_snapshot().await.expect("snapshot")
    ));
    for statuses in [
        &["pending"][..],
        &["filled", "flattened"],
        &["failed", "pending", "pending"],
        &[],
    ] {
        seen.push(format!(
            "{:?}",
            ledger
                .pair_trades_with_status(statuses)
                .await
                .expect("pairs by status")
        ));
    }
    seen.push(format!(
        "{:?}",
        ledger.last_reconciliation().await.expect("reconciliation")
    ));
    seen.push(format!(
        "{:?}",
        ledger.unresolved_mismatches().await.expect("unresolved")
    ));
    seen.push(format!(
        "{:?}",
        ledger.blocked_symbols().await.expect("blocked")
    ));
    for symbol in SYMBOLS {
        seen.push(format!(
            "{:?}",
            ledger.blocking_mismatch(symbol).await.expect("blocking")
        ));
    }
    seen
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn memory_answers_as_the_database_does(writes in proptest::collection::vec(write(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let database = support::sqlite().await;
            let memory = MemoryLedger::new();
            for (step, write) in writes.iter().enumerate() {
                let stored = apply(&database.store, write).await;
                let held = apply(&memory, write).await;
                prop_assert_eq!(&stored, &held, "write {} ({:?}) answered differently", step, write);
                let (stored, held) = (reads(&database.store).await, reads(&memory).await);
                for (read, (stored, held)) in stored.iter().zip(&held).enumerate() {
                    prop_assert_eq!(stored, held, "read {} differs after write {} ({:?})", read, step, write);
                }
            }
            Ok(())
        })?;
    }
}

/// The desk reads a pending pair trade's legs and its last prices through the ledger; memory has
/// no bars, so its desk must be given a price source (a backtest's history).
#[tokio::test]
async fn memory_holds_no_bars() {
    let memory = MemoryLedger::new();
    assert_eq!(
        memory
            .last_minute_close(&symbol(0), base())
            .await
            .expect("read"),
        None
    );
    let duplicate = order_record(1, None, 0, 0);
    memory.insert_order(&duplicate).await.expect("first");
    let error = memory
        .insert_order(&duplicate)
        .await
        .expect_err("an id is never reused");
    assert!(error.to_string().contains("order-01"), "{error}");
}
