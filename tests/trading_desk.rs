//! The order desk over the real paper broker and a real SQLite file: risk decisions stored with
//! their rule and inputs, refusals and clips, the kill switch, mode transitions, recovery of the
//! outbox, pair trades and the orphan-leg rule, reconciliation, limit reloads, and scripts that
//! try to get around risk.

mod support;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use rust_decimal::Decimal;
use tradehost::broker::paper::PaperBroker;
use tradehost::broker::{Broker, NewOrder};
use tradehost::clock::Clock;
use tradehost::config::{MismatchPolicy, PaperConfig, ReconciliationConfig, TradingConfig};
use tradehost::domain::{
    Bar, ClientOrderId, OrderSide, OrderStatus, OrderType, Price, Quantity, Symbol, TimeInForce,
    Timeframe,
};
use tradehost::market::calendar::UsEquityCalendar;
use tradehost::risk::RiskLimits;
use tradehost::store::Store;
use tradehost::trading::{Desk, LegRequest, TradeRequest, limits_file};

/// Monday 2 March 2026, 10:00 in New York: the market is open.
fn open_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 15, 0, 0)
        .single()
        .expect("time")
}

fn decimal(text: &str) -> Decimal {
    Decimal::from_str(text).expect("decimal")
}

fn symbol(text: &str) -> Symbol {
    Symbol::parse(text).expect("symbol")
}

fn quantity(text: &str) -> Quantity {
    Quantity::new(decimal(text)).expect("quantity")
}

fn price(text: &str) -> Price {
    Price::new(decimal(text)).expect("price")
}

/// One-minute bars of `name` at a flat `close` with `volume`, for `minutes` before `until`.
fn flat_bars(
    name: &str,
    close: &str,
    volume: &str,
    until: DateTime<Utc>,
    minutes: i64,
) -> Vec<Bar> {
    (1..=minutes)
        .rev()
        .map(|back| {
            let value = price(close);
            Bar::new(
                symbol(name),
                Timeframe::MINUTE,
                until - Duration::minutes(back),
                value,
                value,
                value,
                value,
                quantity(volume),
            )
            .expect("bar")
        })
        .collect()
}

fn paper_config() -> PaperConfig {
    PaperConfig {
        initial_cash: decimal("100000"),
        commission_per_share: decimal("0.005"),
        commission_minimum: decimal("1"),
        slippage_bps: decimal("0"),
        participation_rate: decimal("0.1"),
        shortable: Vec::new(),
    }
}

fn trading_config(policies: &[(&str, MismatchPolicy)]) -> TradingConfig {
    TradingConfig {
        pair_leg_timeout_seconds: 300,
        submit_attempts: 3,
        reconciliation: ReconciliationConfig {
            default_policy: MismatchPolicy::Adopt,
            cash_policy: MismatchPolicy::Halt,
            cash_tolerance: decimal("0.01"),
            policies: policies
                .iter()
                .map(|(name, policy)| ((*name).to_owned(), *policy))
                .collect::<BTreeMap<_, _>>(),
        },
    }
}

fn default_limits() -> RiskLimits {
    limits_file::parse(limits_file::EMBEDDED, "embedded").expect("embedded limits")
}

struct Harness {
    database: support::TestDatabase,
    clock: Clock,
    broker: Arc<PaperBroker>,
    desk: Arc<Desk>,
}

impl Harness {
    async fn new() -> Self {
        Self::with(default_limits(), paper_config(), trading_config(&[])).await
    }

    async fn with(limits: RiskLimits, paper: PaperConfig, trading: TradingConfig) -> Self {
        let database = support::sqlite().await;
        let clock = Clock::manual(open_time());
        let store = database.store.clone();
        for (name, close, volume) in [
            ("SIMA", "100", "100000"),
            ("SIMB", "50", "100000"),
            ("SIMC", "20", "100000"),
        ] {
            store
                .insert_bars(&flat_bars(name, close, volume, open_time(), 30), "test")
                .await
                .expect("bars");
        }
        let (broker, desk) = open_desk(&store, &clock, limits, &paper, trading).await;
        Self {
            database,
            clock,
            broker,
            desk,
        }
    }

    fn store(&self) -> &Store {
        &self.database.store
    }

    /// Another minute of flat bars for `name`, delivered to the paper broker as the feed would.
    async fn bar(&self, name: &str, close: &str, volume: &str) {
        let now = self.clock.now();
        let bars = flat_bars(name, close, volume, now + Duration::minutes(1), 1);
        self.store().insert_bars(&bars, "test").await.expect("bar");
        self.clock.set(now + Duration::minutes(1));
        self.broker.on_bars(&bars).await.expect("paper fills");
    }
}

async fn open_desk(
    store: &Store,
    clock: &Clock,
    limits: RiskLimits,
    paper: &PaperConfig,
    trading: TradingConfig,
) -> (Arc<PaperBroker>, Arc<Desk>) {
    let broker = Arc::new(
        PaperBroker::new(store.clone(), clock.clone(), UsEquityCalendar, paper)
            .await
            .expect("paper broker"),
    );
    let desk = Desk::open(
        std::sync::Arc::new(store.clone()),
        broker.clone(),
        clock.clone(),
        trading,
        limits,
        None,
    )
    .await
    .expect("desk");
    (broker, desk)
}

fn request(name: &str, side: OrderSide, amount: &str) -> TradeRequest {
    TradeRequest {
        strategy: "test".to_owned(),
        script_hash: Some("hash".to_owned()),
        run_id: None,
        symbol: symbol(name),
        side,
        quantity: quantity(amount),
        order_type: OrderType::Market,
        time_in_force: TimeInForce::Day,
        operator_flatten: false,
    }
}

async fn order_count(store: &Store) -> usize {
    store.recent_orders(1000).await.expect("orders").len()
}

#[tokio::test]
async fn an_accepted_order_reaches_the_broker_once_with_its_decision_stored() {
    let harness = Harness::new().await;
    let outcome = harness
        .desk
        .submit(request("SIMA", OrderSide::Buy, "10"))
        .await
        .expect("submit");
    assert!(outcome.accepted, "{outcome:?}");
    assert_eq!(outcome.outcome, "accepted");
    let id = ClientOrderId::parse(outcome.client_order_id.as_deref().expect("id")).expect("id");
    let stored = harness
        .store()
        .order(&id)
        .await
        .expect("read")
        .expect("row");
    assert_eq!(stored.script_hash.as_deref(), Some("hash"));
    assert_eq!(stored.quantity, quantity("10"));
    assert!(stored.broker_order_id.is_some(), "acknowledged: {stored:?}");
    assert_eq!(stored.submit_attempts, 1);
    let at_broker = harness
        .broker
        .order_by_client_id(&id)
        .await
        .expect("broker")
        .expect("the broker has it");
    assert_eq!(Some(at_broker.broker_order_id), stored.broker_order_id);
    let decision = &harness.store().risk_decisions(1).await.expect("decisions")[0];
    assert_eq!(decision.outcome, "accepted");
    assert_eq!(decision.client_order_id.as_deref(), Some(id.as_str()));
    assert_eq!(decision.inputs["equity"], serde_json::json!("100000"));
    assert_eq!(decision.inputs["last_price"], serde_json::json!("100"));
}

/// Each case: limits to apply, the request, and the rule that must refuse or clip it.
#[tokio::test]
async fn refusals_and_clips_are_stored_with_their_rule_and_reason_and_never_reach_the_broker() {
    struct Case {
        rule: &'static str,
        limits: fn(&mut RiskLimits),
        paper_shortable: Vec<String>,
        request: TradeRequest,
        at: Option<DateTime<Utc>>,
        /// Orders sent first (each must be accepted) to set the scene.
        before: Vec<TradeRequest>,
    }
    let limit_order = |name: &str, limit: &str| TradeRequest {
        order_type: OrderType::Limit {
            limit: price(limit),
        },
        ..request(name, OrderSide::Buy, "10")
    };
    let cases = vec![
        Case {
            rule: "order_notional",
            limits: |limits| limits.max_order_notional = decimal("1000"),
            paper_shortable: Vec::new(),
            request: request("SIMA", OrderSide::Buy, "100"),
            at: None,
            before: Vec::new(),
        },
        Case {
            rule: "order_quantity",
            limits: |limits| limits.max_order_quantity = decimal("5"),
            paper_shortable: Vec::new(),
            request: request("SIMA", OrderSide::Buy, "10"),
            at: None,
            before: Vec::new(),
        },
        Case {
            rule: "symbol_not_allowed",
            limits: |limits| {
                limits.allowed_symbols = [symbol("SIMB")].into_iter().collect();
            },
            paper_shortable: Vec::new(),
            request: request("SIMA", OrderSide::Buy, "10"),
            at: None,
            before: Vec::new(),
        },
        Case {
            rule: "price_band",
            limits: |_| {},
            paper_shortable: Vec::new(),
            request: limit_order("SIMA", "120"),
            at: None,
            before: Vec::new(),
        },
        Case {
            rule: "shortability",
            limits: |limits| limits.shortable_symbols.clear(),
            paper_shortable: vec!["SIMB".to_owned()],
            request: request("SIMA", OrderSide::Sell, "10"),
            at: None,
            before: Vec::new(),
        },
        Case {
            rule: "market_hours",
            limits: |_| {},
            paper_shortable: Vec::new(),
            request: request("SIMA", OrderSide::Buy, "10"),
            // 08:00 in New York.
            at: Some(open_time() - Duration::hours(2)),
            before: Vec::new(),
        },
        Case {
            rule: "position_notional",
            limits: |limits| {
                limits.max_position_notional = decimal("500");
                limits.max_order_notional = decimal("100000");
            },
            paper_shortable: Vec::new(),
            request: request("SIMA", OrderSide::Buy, "10"),
            at: None,
            before: Vec::new(),
        },
        Case {
            rule: "no_market_price",
            limits: |_| {},
            paper_shortable: Vec::new(),
            request: request("SIMD", OrderSide::Buy, "10"),
            at: None,
            before: Vec::new(),
        },
        Case {
            rule: "entry_cutoff",
            limits: |_| {},
            paper_shortable: Vec::new(),
            request: request("SIMA", OrderSide::Buy, "10"),
            // 15:52 in New York, eight minutes before the close.
            at: Some(open_time() + Duration::minutes(352)),
            before: Vec::new(),
        },
        Case {
            rule: "direction",
            limits: |limits| {
                limits
                    .directions
                    .insert(symbol("SIMA"), tradehost::risk::Direction::ShortOnly);
            },
            paper_shortable: Vec::new(),
            request: request("SIMA", OrderSide::Buy, "10"),
            at: None,
            before: Vec::new(),
        },
        Case {
            rule: "orders_per_day",
            limits: |limits| limits.max_orders_per_day = 1,
            paper_shortable: Vec::new(),
            request: request("SIMA", OrderSide::Buy, "10"),
            at: None,
            before: vec![request("SIMB", OrderSide::Buy, "1")],
        },
        Case {
            rule: "open_orders",
            limits: |limits| limits.max_open_orders = 1,
            paper_shortable: Vec::new(),
            request: request("SIMA", OrderSide::Buy, "10"),
            at: None,
            before: vec![limit_order("SIMB", "48")],
        },
        Case {
            rule: "strategy_rate",
            limits: |limits| {
                limits.strategy_rate.capacity = 1;
                limits.strategy_rate.refill_per_second = decimal("0.001");
            },
            paper_shortable: Vec::new(),
            request: request("SIMA", OrderSide::Buy, "10"),
            at: None,
            before: vec![request("SIMB", OrderSide::Buy, "1")],
        },
        Case {
            rule: "account_rate",
            limits: |limits| {
                limits.account_rate.capacity = 1;
                limits.account_rate.refill_per_second = decimal("0.001");
            },
            paper_shortable: Vec::new(),
            request: request("SIMA", OrderSide::Buy, "10"),
            at: None,
            before: vec![TradeRequest {
                strategy: "another".to_owned(),
                ..request("SIMB", OrderSide::Buy, "1")
            }],
        },
        Case {
            rule: "open_positions",
            limits: |limits| limits.max_open_positions = 1,
            paper_shortable: Vec::new(),
            request: request("SIMA", OrderSide::Buy, "10"),
            at: None,
            before: vec![request("SIMB", OrderSide::Buy, "1")],
        },
        Case {
            rule: "position_equity_percent",
            limits: |limits| limits.max_position_percent_of_equity = decimal("0.5"),
            paper_shortable: Vec::new(),
            request: request("SIMA", OrderSide::Buy, "10"),
            at: None,
            before: Vec::new(),
        },
        Case {
            rule: "gross_exposure",
            limits: |limits| limits.max_gross_exposure = decimal("500"),
            paper_shortable: Vec::new(),
            request: request("SIMA", OrderSide::Buy, "10"),
            at: None,
            before: Vec::new(),
        },
        Case {
            rule: "net_exposure",
            limits: |limits| limits.max_net_exposure = decimal("500"),
            paper_shortable: Vec::new(),
            request: request("SIMA", OrderSide::Buy, "10"),
            at: None,
            before: Vec::new(),
        },
        Case {
            rule: "leverage",
            limits: |limits| limits.max_leverage = decimal("0.005"),
            paper_shortable: Vec::new(),
            request: request("SIMA", OrderSide::Buy, "10"),
            at: None,
            before: Vec::new(),
        },
    ];
    for case in cases {
        let mut limits = default_limits();
        (case.limits)(&mut limits);
        let paper = PaperConfig {
            shortable: case.paper_shortable.clone(),
            ..paper_config()
        };
        let harness = Harness::with(limits, paper, trading_config(&[])).await;
        if let Some(at) = case.at {
            harness.clock.set(at);
        }
        for earlier in case.before {
            let outcome = harness.desk.submit(earlier).await.expect("setup order");
            assert!(outcome.accepted, "{}: setup {outcome:?}", case.rule);
        }
        let orders_before = order_count(harness.store()).await;
        let requested = case.request.quantity;
        let outcome = harness.desk.submit(case.request).await.expect("submit");
        assert_eq!(outcome.rule.as_deref(), Some(case.rule), "{outcome:?}");
        let reason = outcome.reason.clone().expect("a reason");
        assert!(
            reason.len() > 10,
            "{}: a reason for people: {reason}",
            case.rule
        );
        let decision = &harness.store().risk_decisions(1).await.expect("decisions")[0];
        assert_eq!(decision.rule.as_deref(), Some(case.rule));
        assert_eq!(decision.reason.as_deref(), Some(reason.as_str()));
        assert!(decision.inputs.is_object());
        match outcome.outcome.as_str() {
            "refused" => {
                assert!(!outcome.accepted);
                assert_eq!(
                    order_count(harness.store()).await,
                    orders_before,
                    "{}: nothing sent",
                    case.rule
                );
            }
            "clipped" => {
                let sent = quantity(outcome.quantity.as_deref().expect("quantity"));
                assert!(
                    sent < requested,
                    "{}: clipped {sent} < {requested}",
                    case.rule
                );
                let id = ClientOrderId::parse(outcome.client_order_id.as_deref().expect("id"))
                    .expect("id");
                let at_broker = harness
                    .broker
                    .order_by_client_id(&id)
                    .await
                    .expect("broker")
                    .expect("sent");
                assert_eq!(
                    at_broker.quantity, sent,
                    "the broker got the clipped quantity"
                );
                assert_eq!(
                    decision.approved_quantity.as_deref(),
                    Some(sent.to_string().as_str())
                );
            }
            other => panic!("{}: unexpected outcome {other}", case.rule),
        }
    }
}

#[tokio::test]
async fn the_kill_switch_halts_cancels_open_orders_and_flattens_until_an_operator_resumes() {
    let harness = Harness::new().await;
    let bought = harness
        .desk
        .submit(request("SIMA", OrderSide::Buy, "20"))
        .await
        .expect("buy");
    assert!(bought.accepted);
    harness.bar("SIMA", "100", "100000").await;
    let resting = harness
        .desk
        .submit(TradeRequest {
            order_type: OrderType::Limit { limit: price("48") },
            time_in_force: TimeInForce::Gtc,
            ..request("SIMB", OrderSide::Buy, "10")
        })
        .await
        .expect("limit");
    assert!(resting.accepted, "{resting:?}");
    harness.desk.sync_orders().await.expect("sync");
    let positions = harness.broker.positions().await.expect("positions");
    assert_eq!(positions.len(), 1);
    assert_eq!(harness.broker.open_orders().await.expect("open").len(), 1);

    let report = harness
        .desk
        .halt("test of the kill switch", "tester", true)
        .await
        .expect("halt");
    assert_eq!(report.cancelled.len(), 1, "{report:?}");
    assert_eq!(report.flattened.len(), 1, "{report:?}");
    assert!(
        report.flattened[0].accepted,
        "a halt lets the operator's flatten through"
    );
    harness.bar("SIMA", "100", "100000").await;
    harness.desk.sync_orders().await.expect("sync");
    assert!(harness.broker.open_orders().await.expect("open").is_empty());
    let left: Vec<_> = harness
        .broker
        .positions()
        .await
        .expect("positions")
        .into_iter()
        .filter(|position| !position.quantity.is_zero())
        .collect();
    assert!(left.is_empty(), "flattened: {left:?}");
    let resting_id =
        ClientOrderId::parse(resting.client_order_id.as_deref().expect("id")).expect("id");
    let resting_row = harness
        .store()
        .order(&resting_id)
        .await
        .expect("read")
        .expect("row");
    assert_eq!(resting_row.status, OrderStatus::Canceled);

    let status = harness.desk.status().await.expect("status");
    assert_eq!(status.mode, "halted");
    let refused = harness
        .desk
        .submit(request("SIMA", OrderSide::Buy, "1"))
        .await
        .expect("submit");
    assert_eq!(refused.rule.as_deref(), Some("halted"));
    let events = harness
        .store()
        .risk_events(false, 10)
        .await
        .expect("events");
    assert!(events.iter().any(|event| event.kind == "kill_switch"));

    // The halt is stored: a desk opened again (a restart) is still halted.
    let (_, reopened) = open_desk(
        harness.store(),
        &harness.clock,
        default_limits(),
        &paper_config(),
        trading_config(&[]),
    )
    .await;
    assert_eq!(reopened.status().await.expect("status").mode, "halted");
    reopened.resume("tester").await.expect("resume");
    let again = reopened
        .submit(request("SIMA", OrderSide::Buy, "1"))
        .await
        .expect("submit");
    assert!(again.accepted, "{again:?}");
    assert!(
        reopened.resume("tester").await.is_err(),
        "nothing to resume"
    );
}

#[tokio::test]
async fn a_daily_loss_reduces_and_a_drawdown_halts() {
    let harness = Harness::new().await;
    let bought = harness
        .desk
        .submit(request("SIMA", OrderSide::Buy, "250"))
        .await
        .expect("buy");
    assert!(bought.accepted, "{bought:?}");
    harness.bar("SIMA", "100", "100000").await;
    harness.desk.sync_orders().await.expect("sync");
    assert_eq!(
        harness.desk.update_positions().await.expect("update").mode,
        "active"
    );

    // 250 shares down 10 each: a loss of 2,500 against a daily limit of 2,000.
    harness.bar("SIMA", "90", "100000").await;
    let summary = harness.desk.update_positions().await.expect("update");
    assert_eq!(summary.mode, "reducing", "{summary:?}");
    let entry = harness
        .desk
        .submit(request("SIMB", OrderSide::Buy, "10"))
        .await
        .expect("entry");
    assert_eq!(entry.rule.as_deref(), Some("daily_loss"), "{entry:?}");
    let exit = harness
        .desk
        .submit(request("SIMA", OrderSide::Sell, "50"))
        .await
        .expect("exit");
    assert!(exit.accepted, "exits pass while reducing: {exit:?}");
    harness.bar("SIMA", "90", "100000").await;
    harness.desk.sync_orders().await.expect("sync");

    // 200 shares falling to 40: a drawdown far beyond 10% of peak equity halts.
    harness.bar("SIMA", "40", "100000").await;
    let summary = harness.desk.update_positions().await.expect("update");
    assert_eq!(summary.mode, "halted", "{summary:?}");
    let kinds: Vec<String> = harness
        .store()
        .risk_events(false, 20)
        .await
        .expect("events")
        .into_iter()
        .map(|event| event.message)
        .collect();
    assert!(
        kinds.iter().any(|message| message.contains("reducing")),
        "{kinds:?}"
    );
    assert!(
        kinds.iter().any(|message| message.contains("halted")),
        "{kinds:?}"
    );
    let snapshots = harness
        .store()
        .snapshots_since(open_time() - Duration::days(1))
        .await
        .expect("snapshots");
    assert_eq!(snapshots.last().expect("snapshot").mode, "halted");
}

#[tokio::test]
async fn recovery_turns_every_intent_into_exactly_one_broker_order() {
    let harness = Harness::new().await;
    // A crash after the intent was written and before the broker was called.
    let never_sent = ClientOrderId::parse("crash-before-send").expect("id");
    // A crash after the broker accepted the order and before its acknowledgement was stored.
    let sent_unacknowledged = ClientOrderId::parse("crash-before-ack").expect("id");
    for id in [&never_sent, &sent_unacknowledged] {
        harness
            .store()
            .insert_order(&tradehost::store::OrderRecord {
                client_order_id: id.clone(),
                strategy: "test".to_owned(),
                script_hash: None,
                run_id: None,
                pair_trade_id: None,
                symbol: symbol("SIMA"),
                side: OrderSide::Buy,
                quantity: quantity("5"),
                order_type: OrderType::Market,
                time_in_force: TimeInForce::Day,
                status: OrderStatus::PendingNew,
                broker: "paper".to_owned(),
                broker_order_id: None,
                filled_quantity: Quantity::ZERO,
                average_fill_price: None,
                decision_id: None,
                error: None,
                submit_attempts: 1,
                created_at: open_time(),
                submitted_at: None,
                updated_at: open_time(),
            })
            .await
            .expect("intent");
    }
    harness
        .broker
        .submit(&NewOrder {
            client_order_id: sent_unacknowledged.clone(),
            symbol: symbol("SIMA"),
            side: OrderSide::Buy,
            quantity: quantity("5"),
            order_type: OrderType::Market,
            time_in_force: TimeInForce::Day,
        })
        .await
        .expect("the send that was never acknowledged");

    let summary = harness.desk.recover().await.expect("recover");
    assert_eq!((summary.recovered, summary.resent), (1, 1), "{summary:?}");
    let again = harness.desk.recover().await.expect("recover again");
    assert_eq!((again.recovered, again.resent), (0, 0), "{again:?}");
    let broker_orders = harness
        .broker
        .orders_since(open_time() - Duration::days(1))
        .await
        .expect("orders");
    for id in [&never_sent, &sent_unacknowledged] {
        let copies = broker_orders
            .iter()
            .filter(|order| &order.client_order_id == id)
            .count();
        assert_eq!(copies, 1, "{id}: exactly one broker order");
        let row = harness.store().order(id).await.expect("read").expect("row");
        assert!(row.broker_order_id.is_some(), "{id} acknowledged");
        assert_ne!(row.status, OrderStatus::PendingNew);
    }
}

#[tokio::test]
async fn a_pair_trade_opens_whole_and_an_orphan_leg_is_flattened() {
    let harness = Harness::new().await;
    let legs = |a: &str, b: &str| {
        [
            LegRequest {
                symbol: symbol("SIMA"),
                side: OrderSide::Buy,
                quantity: quantity(a),
            },
            LegRequest {
                symbol: symbol("SIMB"),
                side: OrderSide::Sell,
                quantity: quantity(b),
            },
        ]
    };
    let pair = harness
        .desk
        .submit_pair("pairs", Some("hash"), None, legs("10", "20"))
        .await
        .expect("pair");
    assert!(pair.accepted, "{pair:?}");
    harness.bar("SIMA", "100", "100000").await;
    harness.bar("SIMB", "50", "100000").await;
    let summary = harness.desk.sync_orders().await.expect("sync");
    assert_eq!(summary.pairs_filled, 1, "{summary:?}");

    // A refused leg opens nothing: a pair is whole or not at all.
    let too_big = harness
        .desk
        .submit_pair("pairs", None, None, legs("10", "100000"))
        .await
        .expect("pair");
    assert!(!too_big.accepted);
    assert!(too_big.pair_trade_id.is_none());
    assert!(
        too_big
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("SIMB"),
        "{too_big:?}"
    );

    // SIMC trades thinly: 10% of 30 shares a bar is 3, so its leg cannot fill before the deadline.
    harness.bar("SIMC", "20", "30").await;
    let thin = harness
        .desk
        .submit_pair(
            "pairs",
            None,
            None,
            [
                LegRequest {
                    symbol: symbol("SIMA"),
                    side: OrderSide::Buy,
                    quantity: quantity("10"),
                },
                LegRequest {
                    symbol: symbol("SIMC"),
                    side: OrderSide::Sell,
                    quantity: quantity("50"),
                },
            ],
        )
        .await
        .expect("pair");
    assert!(thin.accepted, "{thin:?}");
    let id = thin.pair_trade_id.clone().expect("pair id");
    // Two minutes later: 3 + 3 + 3 of 50 shares filled, and the deadline is three minutes away.
    harness.bar("SIMA", "100", "100000").await;
    harness.bar("SIMC", "20", "30").await;
    harness.desk.sync_orders().await.expect("sync");
    assert_eq!(
        harness
            .store()
            .pair_trade(&id)
            .await
            .expect("read")
            .expect("trade")
            .status,
        "pending",
        "before the deadline the pair waits: {:?} {:?}",
        harness.store().pair_trade(&id).await.expect("read"),
        harness
            .store()
            .orders_of_pair_trade(&id)
            .await
            .expect("legs")
    );
    harness
        .clock
        .set(harness.clock.now() + Duration::seconds(301));
    let summary = harness.desk.sync_orders().await.expect("sync");
    assert_eq!(summary.pairs_flattened, 1, "{summary:?}");
    let trade = harness
        .store()
        .pair_trade(&id)
        .await
        .expect("read")
        .expect("trade");
    assert_eq!(trade.status, "flattened", "{trade:?}");
    assert!(
        trade
            .note
            .as_deref()
            .unwrap_or_default()
            .contains("deadline"),
        "{trade:?}"
    );
    // The flattening orders fill on the next bars; the orphan is gone, the first pair stays.
    harness.bar("SIMA", "100", "100000").await;
    for _ in 0..5 {
        harness.bar("SIMC", "20", "100000").await;
    }
    harness.desk.sync_orders().await.expect("sync");
    let positions: BTreeMap<String, Decimal> = harness
        .broker
        .positions()
        .await
        .expect("positions")
        .into_iter()
        .map(|position| (position.symbol.to_string(), position.quantity))
        .collect();
    assert_eq!(
        positions.get("SIMA").copied(),
        Some(decimal("10")),
        "{positions:?}"
    );
    assert_eq!(
        positions.get("SIMB").copied(),
        Some(decimal("-20")),
        "{positions:?}"
    );
    assert_eq!(
        positions.get("SIMC").copied().unwrap_or_default(),
        Decimal::ZERO,
        "{positions:?}"
    );
    let alerts = harness.store().alerts(10).await.expect("alerts");
    assert!(alerts.iter().any(|alert| alert.message.contains(&id)));
}

/// A pair's exit is whole or nothing, so a leg the per-order caps cut would leave the trade open
/// for good: a position that grew past the caps since it was opened must still close in one pair.
#[tokio::test]
async fn a_pair_whose_legs_outgrew_the_order_caps_still_exits_whole() {
    let harness = Harness::new().await;
    let legs = |side: OrderSide| {
        [
            LegRequest {
                symbol: symbol("SIMA"),
                side,
                quantity: quantity("200"),
            },
            LegRequest {
                symbol: symbol("SIMB"),
                side,
                quantity: quantity("400"),
            },
        ]
    };
    // 200 SIMA at 100 and 400 SIMB at 50: 20,000 each, inside the 25,000 order cap.
    let entry = harness
        .desk
        .submit_pair("pairs", None, None, legs(OrderSide::Buy))
        .await
        .expect("entry");
    assert!(entry.accepted, "{entry:?}");
    harness.bar("SIMA", "100", "100000").await;
    harness.bar("SIMB", "50", "100000").await;
    assert_eq!(
        harness.desk.sync_orders().await.expect("sync").pairs_filled,
        1
    );
    // SIMA rises to 150: selling the 200 back is 30,000, above the cap.
    harness.bar("SIMA", "150", "100000").await;
    let exit = harness
        .desk
        .submit_pair("pairs", None, None, legs(OrderSide::Sell))
        .await
        .expect("exit");
    assert!(exit.accepted, "{exit:?}");
    assert_eq!(
        exit.legs
            .iter()
            .map(|leg| (leg.outcome.as_str(), leg.quantity.as_deref()))
            .collect::<Vec<_>>(),
        [("accepted", Some("200")), ("accepted", Some("400"))]
    );
    harness.bar("SIMA", "150", "100000").await;
    harness.bar("SIMB", "50", "100000").await;
    assert_eq!(
        harness.desk.sync_orders().await.expect("sync").pairs_filled,
        1
    );
    assert!(
        harness
            .broker
            .positions()
            .await
            .expect("positions")
            .is_empty(),
        "both legs closed"
    );
    // A new entry of the same size at the higher price is still cut by the cap, so refused whole.
    let again = harness
        .desk
        .submit_pair("pairs", None, None, legs(OrderSide::Buy))
        .await
        .expect("entry");
    assert!(!again.accepted, "{again:?}");
    assert_eq!(again.legs[0].rule.as_deref(), Some("order_notional"));
}

#[tokio::test]
async fn reconciliation_stores_the_diff_applies_the_policy_and_blocks_the_symbol() {
    let harness = Harness::with(
        default_limits(),
        paper_config(),
        trading_config(&[("SIMB", MismatchPolicy::Flatten)]),
    )
    .await;
    let bought = harness
        .desk
        .submit(request("SIMA", OrderSide::Buy, "10"))
        .await
        .expect("buy");
    assert!(bought.accepted);
    harness.bar("SIMA", "100", "100000").await;
    let clean = harness.desk.reconcile().await.expect("reconcile");
    assert!(clean.mismatches.is_empty(), "{:?}", clean.mismatches);

    // Orders placed at the broker behind the host's back: one for SIMA (policy adopt), one for
    // SIMB (policy flatten).
    for (name, id) in [("SIMA", "outside-a"), ("SIMB", "outside-b")] {
        harness
            .broker
            .submit(&NewOrder {
                client_order_id: ClientOrderId::parse(id).expect("id"),
                symbol: symbol(name),
                side: OrderSide::Buy,
                quantity: quantity("7"),
                order_type: OrderType::Market,
                time_in_force: TimeInForce::Day,
            })
            .await
            .expect("outside order");
    }
    harness.bar("SIMA", "100", "100000").await;
    harness.bar("SIMB", "50", "100000").await;
    let report = harness.desk.reconcile().await.expect("reconcile");
    let kinds: Vec<(String, String, String)> = report
        .mismatches
        .iter()
        .map(|mismatch| {
            (
                mismatch.symbol.clone().unwrap_or_default(),
                mismatch.kind.clone(),
                mismatch.policy.clone(),
            )
        })
        .collect();
    for expected in [
        ("SIMA", "unknown_order", "adopt"),
        ("SIMB", "unknown_order", "flatten"),
    ] {
        assert!(
            kinds.contains(&(
                expected.0.to_owned(),
                expected.1.to_owned(),
                expected.2.to_owned()
            )),
            "{expected:?} in {kinds:?}"
        );
    }
    // Adopting the orders brought their executions in, so positions and cash agree.
    assert!(
        !kinds
            .iter()
            .any(|(_, kind, _)| kind == "position" || kind == "cash"),
        "{kinds:?}"
    );
    let diff = harness
        .store()
        .reconciliation_diff(report.id)
        .await
        .expect("read")
        .expect("stored diff");
    assert_eq!(
        diff["orders"].as_array().expect("orders").len(),
        2,
        "{diff}"
    );
    // Adopted: the outside order is in the outbox and the position booked.
    let adopted = harness
        .store()
        .order(&ClientOrderId::parse("outside-a").expect("id"))
        .await
        .expect("read")
        .expect("adopted into the outbox");
    assert_eq!(adopted.strategy, "adopted");
    // Both symbols are blocked until a reconciliation finds them consistent.
    for name in ["SIMA", "SIMB"] {
        let refused = harness
            .desk
            .submit(request(name, OrderSide::Buy, "1"))
            .await
            .expect("submit");
        assert_eq!(
            refused.rule.as_deref(),
            Some("reconciliation_mismatch"),
            "{name}: {refused:?}"
        );
    }
    assert_eq!(
        harness.desk.status().await.expect("status").blocked_symbols,
        vec!["SIMA".to_owned(), "SIMB".to_owned()]
    );
    // The flatten order fills; the next reconciliation finds both consistent and unblocks them.
    harness.bar("SIMB", "50", "100000").await;
    let settled = harness.desk.reconcile().await.expect("reconcile");
    assert!(settled.mismatches.is_empty(), "{:?}", settled.mismatches);
    assert!(settled.resolved >= 2, "{settled:?}");
    let simb = harness.broker.positions().await.expect("positions");
    assert!(
        simb.iter()
            .all(|position| position.symbol.as_str() != "SIMB" || position.quantity.is_zero())
    );
    let accepted = harness
        .desk
        .submit(request("SIMA", OrderSide::Buy, "1"))
        .await
        .expect("submit");
    assert!(accepted.accepted, "{accepted:?}");
}

#[tokio::test]
async fn a_position_and_cash_difference_are_adopted_and_halted_by_policy() {
    let harness = Harness::new().await;
    harness.desk.reconcile().await.expect("baseline");
    // The host's book gains an execution the broker never had: a position the broker does not
    // hold and cash it never received.
    let phantom = tradehost::store::FillRecord {
        execution_id: "phantom".to_owned(),
        client_order_id: None,
        broker_order_id: "unknown".to_owned(),
        strategy: None,
        symbol: symbol("SIMC"),
        side: OrderSide::Sell,
        quantity: quantity("3"),
        price: price("1000"),
        commission: tradehost::domain::Money::ZERO,
        time: harness.clock.now() + Duration::seconds(1),
    };
    harness.store().insert_fill(&phantom).await.expect("fill");
    harness
        .clock
        .set(harness.clock.now() + Duration::seconds(2));
    let report = harness.desk.reconcile().await.expect("reconcile");
    let position = report
        .mismatches
        .iter()
        .find(|mismatch| mismatch.kind == "position")
        .unwrap_or_else(|| panic!("a position mismatch in {:?}", report.mismatches));
    assert_eq!(position.symbol.as_deref(), Some("SIMC"));
    assert_eq!(
        (
            position.local_value.as_deref(),
            position.broker_value.as_deref()
        ),
        (Some("-3"), Some("0"))
    );
    assert_eq!(position.policy, "adopt");
    assert!(
        position.action.contains("adjustment"),
        "{}",
        position.action
    );
    let cash = report
        .mismatches
        .iter()
        .find(|mismatch| mismatch.kind == "cash")
        .unwrap_or_else(|| panic!("a cash mismatch in {:?}", report.mismatches));
    assert_eq!(cash.policy, "halt");
    // The ledger expects the 3,000 the phantom sale would have brought; the broker has none.
    assert_eq!(
        decimal(cash.local_value.as_deref().expect("local")),
        decimal("103000"),
        "{cash:?}"
    );
    assert_eq!(
        decimal(cash.broker_value.as_deref().expect("broker")),
        decimal("100000"),
        "{cash:?}"
    );
    let status = harness.desk.status().await.expect("status");
    assert_eq!(status.mode, "halted");
    assert!(
        status.blocked_symbols.contains(&"(account)".to_owned()),
        "{status:?}"
    );
    assert!(
        status.blocked_symbols.contains(&"SIMC".to_owned()),
        "{status:?}"
    );
    let alerts = harness.store().alerts(5).await.expect("alerts");
    assert!(alerts.iter().any(|alert| alert.source == "reconciliation"));
}

#[tokio::test]
async fn risk_limits_reload_only_after_validation_and_loosening_is_logged() {
    let folder = tempfile::tempdir().expect("folder");
    let file = folder.path().join("risk.toml");
    std::fs::write(&file, limits_file::EMBEDDED).expect("write");
    let database = support::sqlite().await;
    let clock = Clock::manual(open_time());
    let broker = Arc::new(
        PaperBroker::new(
            database.store.clone(),
            clock.clone(),
            UsEquityCalendar,
            &paper_config(),
        )
        .await
        .expect("paper"),
    );
    let desk = Desk::open(
        std::sync::Arc::new(database.store.clone()),
        broker,
        clock,
        trading_config(&[]),
        limits_file::load(&file).expect("limits"),
        Some(file.clone()),
    )
    .await
    .expect("desk");
    assert_eq!(desk.reload_limits().await.expect("same"), Some(Vec::new()));

    // Tightening is applied and logged as a reload.
    std::fs::write(
        &file,
        limits_file::EMBEDDED.replace("max_order_notional = 25000", "max_order_notional = 10000"),
    )
    .expect("write");
    assert_eq!(
        desk.reload_limits().await.expect("tighten"),
        Some(Vec::new())
    );
    assert_eq!(desk.limits().max_order_notional, decimal("10000"));

    // Loosening is applied and named.
    std::fs::write(
        &file,
        limits_file::EMBEDDED.replace("max_order_notional = 25000", "max_order_notional = 90000"),
    )
    .expect("write");
    let loosened = desk.reload_limits().await.expect("loosen").expect("file");
    assert_eq!(loosened, vec!["max_order_notional".to_owned()]);
    let events = database.store.risk_events(false, 5).await.expect("events");
    assert_eq!(events[0].kind, "limits_loosened");
    assert!(
        events[0].message.contains("LOOSENED: max_order_notional"),
        "{}",
        events[0].message
    );

    // An invalid file (negative limit, unknown key) is refused and the limits stay.
    for bad in [
        limits_file::EMBEDDED.replace("max_order_notional = 25000", "max_order_notional = -5"),
        format!("{}\nmax_sanity = 3\n", limits_file::EMBEDDED),
    ] {
        std::fs::write(&file, bad).expect("write");
        let error = desk.reload_limits().await.expect_err("refused");
        assert!(error.to_string().contains("risk.toml"), "{error}");
        assert_eq!(desk.limits().max_order_notional, decimal("90000"));
    }
    let events = database.store.risk_events(false, 1).await.expect("events");
    assert_eq!(events[0].kind, "limits_refused");
}

#[tokio::test]
async fn scripts_cannot_change_limits_or_reach_the_broker_another_way() {
    let project =
        support::scripts::ScriptProject::new(tradehost::script::Limits::default(), open_time())
            .await;
    let store = project.database.store.clone();
    store
        .insert_bars(&flat_bars("SIMA", "100", "100000", open_time(), 30), "test")
        .await
        .expect("bars");
    let (broker, desk) = open_desk(
        &store,
        &project.clock,
        default_limits(),
        &paper_config(),
        trading_config(&[]),
    )
    .await;
    project.runtime.set_desk(desk.clone());
    project.write_flow(
        "greedy",
        r#"
fn run(params) {
    let limits = risk::limits();
    limits.max_order_notional = 100000000;
    limits.max_order_quantity = 100000000;
    let outcome = orders::submit("SIMA", "buy", 900);
    #{ outcome: outcome, limit_after: risk::limits().max_order_notional }
}
"#,
    );
    project.write_flow(
        "setter",
        "fn run(params) { risk::set_limit(\"max_order_notional\", 1) }",
    );
    project.write_flow(
        "direct",
        "fn run(params) { broker::submit(\"SIMA\", \"buy\", 1) }",
    );
    project.write_flow(
        "query_write",
        "fn run(params) { db::query(\"UPDATE risk_state SET state = '{}'\") }",
    );
    project.load().await;
    let result = project.run_ok("greedy").await;
    assert_eq!(result["outcome"]["accepted"], serde_json::json!(true));
    assert_eq!(
        result["outcome"]["outcome"],
        serde_json::json!("clipped"),
        "{result}"
    );
    assert_eq!(result["limit_after"], serde_json::json!("25000"));
    let sent = quantity(result["outcome"]["quantity"].as_str().expect("quantity"));
    assert!(
        sent.value() * decimal("100") <= decimal("25000"),
        "clipped to the host limit: {sent}"
    );
    for (name, needle) in [
        ("setter", "risk::set_limit"),
        ("direct", "broker::submit"),
        ("query_write", "db::query only reads"),
    ] {
        let (error, _) = project.run_err(name).await;
        assert!(error.to_string().contains(needle), "{name}: {error}");
    }
    assert_eq!(desk.limits(), default_limits());
    assert_eq!(
        broker
            .orders_since(open_time() - Duration::days(1))
            .await
            .expect("orders")
            .len(),
        1
    );
    let decision = &store.risk_decisions(1).await.expect("decisions")[0];
    assert_eq!(decision.strategy, "greedy");
    assert!(decision.script_hash.is_some());
}

#[tokio::test]
async fn losing_trades_in_a_row_start_a_cooldown() {
    let mut limits = default_limits();
    limits.max_consecutive_losses = 2;
    limits.cooldown_minutes = 30;
    let harness = Harness::with(limits, paper_config(), trading_config(&[])).await;
    for _ in 0..2 {
        let bought = harness
            .desk
            .submit(request("SIMA", OrderSide::Buy, "10"))
            .await
            .expect("buy");
        assert!(bought.accepted, "{bought:?}");
        harness.bar("SIMA", "99", "100000").await;
        let sold = harness
            .desk
            .submit(request("SIMA", OrderSide::Sell, "10"))
            .await
            .expect("sell");
        assert!(sold.accepted, "{sold:?}");
        harness.desk.sync_orders().await.expect("sync");
        harness.bar("SIMA", "100", "100000").await;
    }
    // The second loss reached the limit: the streak starts a cooldown (and counts from zero again).
    assert!(
        harness.desk.risk_state().cooldown_until.is_some(),
        "{:?}",
        harness.desk.risk_state()
    );
    let entry = harness
        .desk
        .submit(request("SIMB", OrderSide::Buy, "1"))
        .await
        .expect("entry");
    assert_eq!(
        entry.rule.as_deref(),
        Some("consecutive_losses"),
        "{entry:?}"
    );
    harness
        .clock
        .set(harness.clock.now() + Duration::minutes(31));
    harness.bar("SIMB", "50", "100000").await;
    let later = harness
        .desk
        .submit(request("SIMB", OrderSide::Buy, "1"))
        .await
        .expect("entry");
    assert!(later.accepted, "after the cooldown: {later:?}");
}

#[tokio::test]
async fn kelly_sizing_is_capped_and_clipped_by_host_limits_and_the_clip_recorded() {
    let harness = Harness::new().await;
    // 6 wins of 200 and 4 losses of 100: p = 0.6, b = 2, Kelly = 0.6 - 0.4 / 2 = 0.4.
    let pnls: Vec<tradehost::domain::Money> =
        [200, -100, 200, 200, -100, 200, -100, 200, 200, -100]
            .into_iter()
            .map(|value| tradehost::domain::Money::new(Decimal::from(value)))
            .collect();
    let half = harness
        .desk
        .kelly_size(&symbol("SIMA"), price("100"), &pnls, 0.5, 0.5)
        .await
        .expect("size");
    assert!((half.kelly - 0.4).abs() < 1e-12, "{half:?}");
    // Half Kelly: 20% of 100,000 at 100 is 200 shares, under every host limit.
    assert_eq!(half.quantity, quantity("200"));
    assert_eq!(half.clipped_by, None);
    // Full Kelly capped at 30%: 300 shares = 30,000 > max_order_notional 25,000 → 250 shares.
    let full = harness
        .desk
        .kelly_size(&symbol("SIMA"), price("100"), &pnls, 1.0, 0.3)
        .await
        .expect("size");
    assert!(full.capped);
    assert_eq!(full.unclipped, quantity("300"));
    assert_eq!(full.quantity, quantity("250"));
    assert_eq!(full.clipped_by.as_deref(), Some("max_order_notional"));
    let events = harness.store().risk_events(false, 1).await.expect("events");
    assert_eq!(events[0].kind, "sizing_clip");
    assert!(
        events[0].message.contains("clipped to 250"),
        "{}",
        events[0].message
    );
}
