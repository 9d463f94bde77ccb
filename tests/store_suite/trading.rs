//! The trading tables on both backends: the outbox and its progress, fills stored once, risk
//! decisions, state, events and alerts, positions and snapshots, pair trades, reconciliations.

use chrono::{DateTime, Duration, TimeZone, Utc};
use rust_decimal::Decimal;
use serde_json::json;
use tradehost::domain::{
    ClientOrderId, Money, OrderSide, OrderStatus, OrderType, Price, Quantity, Symbol, TimeInForce,
};
use tradehost::store::{
    FillRecord, MismatchRecord, NewDecision, OrderProgress, OrderRecord, PairTradeRecord,
    PositionRecord, SnapshotRecord, Store,
};

fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 15, 0, 0)
        .single()
        .expect("time")
        + Duration::minutes(minute)
}

fn decimal(text: &str) -> Decimal {
    text.parse().expect("decimal")
}

fn intent(id: &str, minute: i64) -> OrderRecord {
    OrderRecord {
        client_order_id: ClientOrderId::parse(id).expect("id"),
        strategy: "pairs".to_owned(),
        script_hash: Some("abc".to_owned()),
        run_id: Some(7),
        pair_trade_id: None,
        symbol: Symbol::parse("SIMA").expect("symbol"),
        side: OrderSide::Sell,
        quantity: Quantity::new(decimal("12.5")).expect("quantity"),
        order_type: OrderType::StopLimit {
            stop: Price::new(decimal("99.5")).expect("stop"),
            limit: Price::new(decimal("99.25")).expect("limit"),
        },
        time_in_force: TimeInForce::Gtc,
        status: OrderStatus::PendingNew,
        broker: "paper".to_owned(),
        broker_order_id: None,
        filled_quantity: Quantity::ZERO,
        average_fill_price: None,
        decision_id: Some(1),
        error: None,
        submit_attempts: 0,
        created_at: at(minute),
        submitted_at: None,
        updated_at: at(minute),
    }
}

/// An intent reads back exactly; progress from the broker is written over it; ids are unique.
pub async fn the_outbox_keeps_intents_and_their_progress(store: &Store) {
    let first = intent("order-1", 0);
    store.insert_order(&first).await.expect("insert");
    assert!(
        store.insert_order(&first).await.is_err(),
        "a client order id is never reused"
    );
    assert_eq!(
        store.order(&first.client_order_id).await.expect("read"),
        Some(first.clone())
    );
    store
        .count_submit_attempt(&first.client_order_id, at(1))
        .await
        .expect("attempt");
    store
        .update_order(
            &first.client_order_id,
            &OrderProgress {
                broker_order_id: Some("b-1".to_owned()),
                status: OrderStatus::PartiallyFilled,
                filled_quantity: Quantity::new(decimal("5")).expect("filled"),
                average_fill_price: Some(Price::new(decimal("99.3")).expect("price")),
                error: None,
            },
            at(2),
        )
        .await
        .expect("progress");
    let read = store
        .order_by_broker_id("b-1")
        .await
        .expect("read")
        .expect("row");
    assert_eq!(read.status, OrderStatus::PartiallyFilled);
    assert_eq!(read.submit_attempts, 1);
    assert_eq!(read.submitted_at, Some(at(2)));
    assert_eq!(read.filled_quantity.value(), decimal("5"));
    store
        .insert_order(&intent("order-2", 3))
        .await
        .expect("insert");
    let open: Vec<String> = store
        .open_orders()
        .await
        .expect("open")
        .into_iter()
        .map(|order| order.client_order_id.as_str().to_owned())
        .collect();
    assert_eq!(open, ["order-1", "order-2"]);
    assert_eq!(
        store
            .orders_with_status(&["pending_new"])
            .await
            .expect("pending")
            .len(),
        1
    );
    assert_eq!(store.count_orders_since(at(1)).await.expect("count"), 1);
    // Both counts the risk engine reads, in one query: two open orders, one created since 1.
    assert_eq!(store.order_counts(at(1)).await.expect("counts"), (2, 1));
    assert_eq!(store.order_counts(at(4)).await.expect("counts"), (2, 0));
    assert_eq!(
        store.recent_orders(1).await.expect("recent")[0]
            .client_order_id
            .as_str(),
        "order-2"
    );
}

/// An execution is stored once however often the broker reports it.
pub async fn fills_are_stored_once(store: &Store) {
    let fill = FillRecord {
        execution_id: "x-1".to_owned(),
        client_order_id: Some(ClientOrderId::parse("order-1").expect("id")),
        broker_order_id: "b-1".to_owned(),
        strategy: Some("pairs".to_owned()),
        symbol: Symbol::parse("SIMA").expect("symbol"),
        side: OrderSide::Buy,
        quantity: Quantity::new(decimal("0.5")).expect("quantity"),
        price: Price::new(decimal("101.0625")).expect("price"),
        commission: Money::new(decimal("1.00")),
        time: at(5),
    };
    assert_eq!(store.fill_count().await.expect("count"), 0);
    assert!(store.insert_fill(&fill).await.expect("first"));
    assert!(!store.insert_fill(&fill).await.expect("again"));
    assert_eq!(store.fill_count().await.expect("count"), 1);
    assert_eq!(store.fills_since(at(0)).await.expect("fills"), vec![fill]);
    assert!(store.fills_since(at(6)).await.expect("fills").is_empty());
}

/// Decisions keep their rule, reason and inputs; the state survives; events are alerted once.
pub async fn risk_decisions_state_events_and_alerts(store: &Store) {
    let id = store
        .insert_risk_decision(&NewDecision {
            time: at(1),
            strategy: "pairs",
            script_hash: Some("abc"),
            client_order_id: None,
            symbol: "SIMA",
            side: "buy",
            quantity: "100".to_owned(),
            approved_quantity: None,
            outcome: "refused",
            rule: Some("order_notional".to_owned()),
            reason: Some("notional 10000 above 5000".to_owned()),
            inputs: json!({ "equity": "100000" }),
        })
        .await
        .expect("decision");
    let decisions = store.risk_decisions(10).await.expect("decisions");
    assert_eq!(decisions[0].id, id);
    assert_eq!(decisions[0].rule.as_deref(), Some("order_notional"));
    assert_eq!(decisions[0].inputs["equity"], json!("100000"));
    for (outcome, rule) in [
        ("refused", None),
        ("accepted", None),
        ("refused", Some("order_notional")),
    ] {
        store
            .insert_risk_decision(&NewDecision {
                time: at(1),
                strategy: "pairs",
                script_hash: None,
                client_order_id: None,
                symbol: "SIMA",
                side: "buy",
                quantity: "1".to_owned(),
                approved_quantity: None,
                outcome,
                rule: rule.map(str::to_owned),
                reason: None,
                inputs: json!({}),
            })
            .await
            .expect("decision");
    }
    let refusals = store.refusals_by_rule().await.expect("refusals");
    assert_eq!(
        refusals.into_iter().collect::<Vec<_>>(),
        vec![("order_notional".to_owned(), 2), ("unnamed".to_owned(), 1)],
        "refusals by rule; an accepted decision is not one"
    );
    assert_eq!(store.risk_state().await.expect("state"), None);
    store
        .save_risk_state(&json!({ "mode": "active" }), at(1))
        .await
        .expect("save");
    store
        .save_risk_state(&json!({ "mode": "halted" }), at(2))
        .await
        .expect("save");
    assert_eq!(
        store.risk_state().await.expect("state"),
        Some(json!({ "mode": "halted" }))
    );
    let event = store
        .insert_risk_event(at(2), "kill_switch", "critical", "halted", &json!({}))
        .await
        .expect("event");
    assert_eq!(
        store.risk_events(true, 10).await.expect("unalerted").len(),
        1
    );
    assert!(
        store
            .mark_risk_event_alerted(event, at(3))
            .await
            .expect("mark")
    );
    assert!(
        !store
            .mark_risk_event_alerted(event, at(3))
            .await
            .expect("twice")
    );
    assert!(
        store
            .risk_events(true, 10)
            .await
            .expect("unalerted")
            .is_empty()
    );
    store
        .insert_alert(
            at(3),
            "risk",
            "critical",
            "halted",
            &json!({ "risk_event": event }),
        )
        .await
        .expect("alert");
    assert_eq!(
        store.alerts(10).await.expect("alerts")[0].details["risk_event"],
        json!(event)
    );
}

/// Positions are replaced as a whole; snapshots are kept in time order.
pub async fn positions_and_equity_snapshots(store: &Store) {
    let position = |name: &str, quantity: &str| PositionRecord {
        symbol: Symbol::parse(name).expect("symbol"),
        quantity: decimal(quantity),
        average_entry_price: Price::new(decimal("50.25")).expect("price"),
        current_price: None,
        market_value: Money::new(decimal("-1005.00")),
        unrealised_pnl: Money::new(decimal("-2.5")),
        updated_at: at(1),
    };
    store
        .replace_positions(&[position("SIMA", "10"), position("SIMB", "-20")])
        .await
        .expect("positions");
    store
        .replace_positions(&[position("SIMB", "-20")])
        .await
        .expect("positions");
    assert_eq!(
        store.positions().await.expect("read"),
        vec![position("SIMB", "-20")]
    );
    for minute in [2, 1] {
        store
            .insert_snapshot(&SnapshotRecord {
                time: at(minute),
                equity: Money::new(decimal("100000.5")),
                cash: Money::new(decimal("90000")),
                gross_exposure: Money::new(decimal("10000")),
                net_exposure: Money::new(decimal("0")),
                unrealised_pnl: Money::new(decimal("0.5")),
                mode: "active".to_owned(),
            })
            .await
            .expect("snapshot");
    }
    let snapshots = store.snapshots_since(at(0)).await.expect("snapshots");
    assert_eq!(
        snapshots.iter().map(|s| s.time).collect::<Vec<_>>(),
        [at(1), at(2)]
    );
}

/// Pair trades move through their statuses; a blocking mismatch holds its symbol until resolved.
pub async fn pair_trades_and_reconciliation_mismatches(store: &Store) {
    let trade = PairTradeRecord {
        id: "pair-1".to_owned(),
        strategy: "pairs".to_owned(),
        pair: "SIMA/SIMB".to_owned(),
        leg_a: String::new(),
        leg_b: String::new(),
        status: "pending".to_owned(),
        opened_at: at(0),
        deadline: at(5),
        closed_at: None,
        note: None,
    };
    store.insert_pair_trade(&trade).await.expect("pair");
    store
        .set_pair_trade_legs("pair-1", "a", "b")
        .await
        .expect("legs");
    assert_eq!(
        store
            .pair_trades_with_status(&["pending"])
            .await
            .expect("pending")
            .len(),
        1
    );
    store
        .update_pair_trade("pair-1", "flattened", Some("orphan"), Some(at(6)))
        .await
        .expect("update");
    let read = store
        .pair_trade("pair-1")
        .await
        .expect("read")
        .expect("trade");
    assert_eq!(
        (read.leg_a.as_str(), read.status.as_str(), read.closed_at),
        ("a", "flattened", Some(at(6)))
    );

    let mismatch = |symbol: Option<&str>, blocking: bool| MismatchRecord {
        id: 0,
        reconciliation_id: 0,
        symbol: symbol.map(str::to_owned),
        kind: "position".to_owned(),
        local_value: Some("0".to_owned()),
        broker_value: Some("7".to_owned()),
        policy: if blocking { "adopt" } else { "ignore" }.to_owned(),
        action: "recorded".to_owned(),
        blocking,
        resolved_at: None,
        resolved_by: None,
    };
    let id = store
        .insert_reconciliation(
            at(7),
            "paper",
            &json!({ "positions": [1] }),
            &[
                mismatch(Some("SIMA"), true),
                mismatch(Some("SIMB"), false),
                mismatch(None, true),
            ],
        )
        .await
        .expect("reconciliation");
    assert_eq!(
        store.reconciliation_diff(id).await.expect("diff"),
        Some(json!({ "positions": [1] }))
    );
    assert_eq!(
        store
            .last_reconciliation()
            .await
            .expect("last")
            .map(|(last, _)| last),
        Some(id)
    );
    assert!(
        store
            .symbol_blocked("SIMA")
            .await
            .expect("blocked")
            .is_some()
    );
    assert!(
        store
            .symbol_blocked("SIMB")
            .await
            .expect("ignored")
            .is_none()
    );
    // What the desk checks: the symbol's own blocking mismatch first, else the account's.
    let symbol_of = |found: Option<tradehost::store::MismatchRecord>| {
        found.map(|mismatch| mismatch.symbol.unwrap_or_else(|| "account".to_owned()))
    };
    assert_eq!(
        symbol_of(store.blocking_mismatch("SIMA").await.expect("blocking")),
        Some("SIMA".to_owned())
    );
    assert_eq!(
        symbol_of(store.blocking_mismatch("SIMB").await.expect("blocking")),
        Some("account".to_owned())
    );
    assert_eq!(store.unresolved_mismatches().await.expect("open").len(), 3);
    assert_eq!(
        store
            .resolve_mismatches(Some("SIMA"), "operator", at(8))
            .await
            .expect("resolve"),
        1
    );
    assert!(
        store
            .symbol_blocked("SIMA")
            .await
            .expect("blocked")
            .is_none()
    );
    assert_eq!(
        store
            .resolve_mismatches(None, "operator", at(8))
            .await
            .expect("resolve"),
        1
    );
    assert_eq!(store.unresolved_mismatches().await.expect("open").len(), 1);
    assert!(
        store
            .blocking_mismatch("SIMA")
            .await
            .expect("blocking")
            .is_none()
    );
}
