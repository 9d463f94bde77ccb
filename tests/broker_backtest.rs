//! The backtest broker fed bar by bar on a manual clock: next-bar fills, the shared fill model,
//! partial fills, shorts, sign flips, day expiry, cancel and replace, valuation and determinism.
//! Figures are computed by hand from the inputs (fill model: 0.005/share, minimum 1, 2 bps
//! slippage, 10% participation; 100 000 initial cash).

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use tradehost::broker::backtest::BacktestBroker;
use tradehost::broker::paper::matching::FillModel;
use tradehost::broker::{Broker, BrokerError, BrokerOrder, Execution, NewOrder, Replacement};
use tradehost::clock::Clock;
use tradehost::domain::{
    Bar, ClientOrderId, Money, OrderSide, OrderStatus, OrderType, Price, Quantity, Symbol,
    TimeInForce, Timeframe,
};

use OrderSide::{Buy, Sell};

fn d(text: &str) -> Decimal {
    text.parse().expect("decimal")
}

fn px(text: &str) -> Price {
    text.parse().expect("price")
}

fn money(text: &str) -> Money {
    Money::new(d(text))
}

fn sym(text: &str) -> Symbol {
    Symbol::parse(text).expect("symbol")
}

fn utc(text: &str) -> DateTime<Utc> {
    text.parse().expect("RFC 3339 time")
}

/// 10 January 2024 at `hour:minute` UTC (New York is five hours behind in January).
fn jan10(hour: u32, minute: u32) -> DateTime<Utc> {
    utc(&format!("2024-01-10T{hour:02}:{minute:02}:00Z"))
}

#[allow(clippy::too_many_arguments)] // A bar is exactly these fields.
fn bar_of(
    timeframe: Timeframe,
    symbol: &str,
    time: DateTime<Utc>,
    open: &str,
    high: &str,
    low: &str,
    close: &str,
    volume: &str,
) -> Bar {
    Bar::new(
        sym(symbol),
        timeframe,
        time,
        px(open),
        px(high),
        px(low),
        px(close),
        volume.parse().expect("volume"),
    )
    .expect("consistent bar")
}

fn bar(
    symbol: &str,
    time: DateTime<Utc>,
    open: &str,
    high: &str,
    low: &str,
    close: &str,
    volume: &str,
) -> Bar {
    bar_of(
        Timeframe::MINUTE,
        symbol,
        time,
        open,
        high,
        low,
        close,
        volume,
    )
}

/// A one-minute bar at one price with plenty of volume.
fn flat(symbol: &str, time: DateTime<Utc>, price: &str) -> Bar {
    bar(symbol, time, price, price, price, price, "1000000")
}

fn order(
    client: &str,
    symbol: &str,
    side: OrderSide,
    quantity: &str,
    order_type: OrderType,
    time_in_force: TimeInForce,
) -> NewOrder {
    NewOrder {
        client_order_id: ClientOrderId::parse(client).expect("client id"),
        symbol: sym(symbol),
        side,
        quantity: quantity.parse::<Quantity>().expect("quantity"),
        order_type,
        time_in_force,
    }
}

fn market(client: &str, symbol: &str, side: OrderSide, quantity: &str) -> NewOrder {
    order(
        client,
        symbol,
        side,
        quantity,
        OrderType::Market,
        TimeInForce::Gtc,
    )
}

fn limit(price: &str) -> OrderType {
    OrderType::Limit { limit: px(price) }
}

fn rejected_reason(error: BrokerError) -> String {
    match error {
        BrokerError::Rejected { reason } => reason,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// A broker and the clock the backtester drives: after each bar the clock reads the bar's end,
/// when a script deciding on that bar would submit.
struct Harness {
    broker: BacktestBroker,
    clock: Clock,
}

impl Harness {
    fn new() -> Self {
        let model = FillModel {
            commission_per_share: d("0.005"),
            commission_minimum: d("1"),
            slippage_bps: d("2"),
            participation_rate: d("0.1"),
        };
        let clock = Clock::manual(jan10(14, 0));
        Self {
            broker: BacktestBroker::new(money("100000"), model, clock.clone()),
            clock,
        }
    }

    fn feed(&self, bar: &Bar) -> Vec<Execution> {
        let executions = self.broker.on_bar(bar);
        self.clock.set(bar.time + bar.timeframe.nominal_duration());
        executions
    }

    async fn submit(&self, new: &NewOrder) -> BrokerOrder {
        self.broker.submit(new).await.expect("submit")
    }

    async fn status(&self, broker_order_id: &str) -> BrokerOrder {
        self.broker.order(broker_order_id).await.expect("order")
    }

    async fn all_executions(&self) -> Vec<Execution> {
        self.broker
            .executions_since(DateTime::UNIX_EPOCH)
            .await
            .expect("executions")
    }
}

#[tokio::test]
async fn a_market_buy_fills_at_the_next_bars_open_with_slippage_and_commission() {
    let harness = Harness::new();
    harness.feed(&bar(
        "AAA",
        jan10(14, 30),
        "100",
        "101",
        "99",
        "100.5",
        "100000",
    ));
    let submitted = harness.submit(&market("m1", "AAA", Buy, "100")).await;
    assert_eq!(submitted.broker_order_id, "bt-00000001");
    assert_eq!(submitted.status, OrderStatus::Accepted);
    assert_eq!(submitted.submitted_at, jan10(14, 31));
    assert!(harness.all_executions().await.is_empty());

    let fills = harness.feed(&bar(
        "AAA",
        jan10(14, 31),
        "101",
        "102",
        "100.5",
        "101.5",
        "100000",
    ));
    assert_eq!(fills.len(), 1);
    let fill = &fills[0];
    // 101 × 1.0002 = 101.0202; 100 × 0.005 = 0.50 < 1, so the minimum.
    assert_eq!(fill.execution_id, "bt-00000001-1");
    assert_eq!(
        (fill.quantity.value(), fill.price),
        (d("100"), px("101.0202"))
    );
    assert_eq!(fill.commission, money("1"));
    assert_eq!(fill.time, jan10(14, 31));
    assert_eq!(harness.all_executions().await, fills);

    let filled = harness.status("bt-00000001").await;
    assert_eq!(filled.status, OrderStatus::Filled);
    assert_eq!(filled.average_fill_price, Some(px("101.0202")));
    assert_eq!(filled.updated_at, jan10(14, 31));
    assert!(!harness.broker.has_working_orders());

    // Cash 100 000 − 10 102.02 − 1; the position is marked at the close of 101.5.
    let account = harness.broker.account().await.expect("account");
    assert_eq!(account.cash, money("89896.98"));
    assert_eq!(account.long_market_value, money("10150"));
    assert_eq!(account.short_market_value, Money::ZERO);
    assert_eq!(account.equity, money("100046.98"));
    // 2 × 100 046.98 − 10 150.
    assert_eq!(account.buying_power, money("189943.96"));
    assert_eq!(harness.broker.equity(), money("100046.98"));
    assert_eq!(harness.broker.gross_exposure(), money("10150"));
    let positions = harness.broker.positions().await.expect("positions");
    assert_eq!(positions.len(), 1);
    assert_eq!(positions[0].quantity, d("100"));
    assert_eq!(positions[0].average_entry_price, px("101.0202"));
    assert_eq!(positions[0].current_price, Some(px("101.5")));
    assert_eq!(positions[0].market_value, money("10150"));
    // (101.5 − 101.0202) × 100.
    assert_eq!(positions[0].unrealised_pnl, money("47.98"));
}

#[tokio::test]
async fn nothing_fills_on_the_submission_bar_even_when_it_is_handed_in_again() {
    let harness = Harness::new();
    let first = bar("AAA", jan10(14, 30), "100", "101", "99", "100.5", "100000");
    harness.feed(&first);
    // The submission bar's low reached 99.5, but the order did not exist while it traded.
    harness
        .submit(&order(
            "l1",
            "AAA",
            Buy,
            "10",
            limit("99.5"),
            TimeInForce::Gtc,
        ))
        .await;
    assert!(harness.feed(&first).is_empty());
    // A bar of another symbol at a later time leaves it alone too.
    assert!(harness.feed(&flat("BBB", jan10(14, 31), "99")).is_empty());
    assert_eq!(
        harness.status("bt-00000001").await.status,
        OrderStatus::Accepted
    );
    assert!(harness.broker.has_working_orders());
}

#[tokio::test]
async fn limit_stop_and_stop_limit_orders_follow_the_shared_fill_model() {
    let harness = Harness::new();
    harness.feed(&flat("AAA", jan10(14, 30), "100"));
    harness
        .submit(&order(
            "lim",
            "AAA",
            Buy,
            "10",
            limit("99.5"),
            TimeInForce::Gtc,
        ))
        .await;
    harness
        .submit(&order(
            "stp",
            "AAA",
            Buy,
            "10",
            OrderType::Stop { stop: px("105") },
            TimeInForce::Gtc,
        ))
        .await;
    harness
        .submit(&order(
            "stl",
            "AAA",
            Buy,
            "10",
            OrderType::StopLimit {
                stop: px("107"),
                limit: px("107.5"),
            },
            TimeInForce::Gtc,
        ))
        .await;
    // The low stays above the limit and the high below both stops.
    assert!(
        harness
            .feed(&bar(
                "AAA",
                jan10(14, 31),
                "100",
                "100.2",
                "99.6",
                "100",
                "10000"
            ))
            .is_empty()
    );
    // The low reaches the limit: it fills at 99.5, without slippage.
    let fills = harness.feed(&bar(
        "AAA",
        jan10(14, 32),
        "100",
        "100.2",
        "99.4",
        "99.8",
        "10000",
    ));
    assert_eq!(fills.len(), 1);
    assert_eq!(
        (fills[0].broker_order_id.as_str(), fills[0].price),
        ("bt-00000001", px("99.5"))
    );
    // The high reaches 105: the stop fills at 105 × 1.0002 = 105.021.
    let fills = harness.feed(&bar(
        "AAA",
        jan10(14, 33),
        "104",
        "105.5",
        "103.5",
        "105.2",
        "10000",
    ));
    assert_eq!(fills.len(), 1);
    assert_eq!(
        (fills[0].broker_order_id.as_str(), fills[0].price),
        ("bt-00000002", px("105.021"))
    );
    // A gap through 107 above the 107.5 limit triggers the stop-limit without filling...
    assert!(
        harness
            .feed(&bar(
                "AAA",
                jan10(14, 34),
                "109",
                "110",
                "108",
                "109",
                "10000"
            ))
            .is_empty()
    );
    let triggered = harness.status("bt-00000003").await;
    assert_eq!(triggered.status, OrderStatus::Accepted);
    // ...and it rests as a limit at 107.5 from then on, although the stop is no longer touched.
    let fills = harness.feed(&bar(
        "AAA",
        jan10(14, 35),
        "108",
        "108",
        "107.2",
        "107.4",
        "10000",
    ));
    assert_eq!(fills.len(), 1);
    assert_eq!(fills[0].price, px("107.5"));
    assert!(!harness.broker.has_working_orders());
}

#[tokio::test]
async fn a_large_order_fills_over_bars_by_volume_participation() {
    let harness = Harness::new();
    harness.feed(&flat("AAA", jan10(14, 30), "10"));
    harness.submit(&market("big", "AAA", Buy, "500")).await;
    // 10% of 2 000 is 200 shares a bar.
    let first = harness.feed(&bar("AAA", jan10(14, 31), "10", "10", "10", "10", "2000"));
    assert_eq!(first[0].quantity.value(), d("200"));
    let partial = harness.status("bt-00000001").await;
    assert_eq!(partial.status, OrderStatus::PartiallyFilled);
    assert_eq!(partial.filled_quantity.value(), d("200"));
    let second = harness.feed(&bar("AAA", jan10(14, 32), "11", "11", "11", "11", "2000"));
    let third = harness.feed(&bar("AAA", jan10(14, 33), "12", "12", "12", "12", "2000"));
    assert_eq!(third[0].quantity.value(), d("100"));
    let prices: Vec<Price> = [&first, &second, &third]
        .iter()
        .map(|fills| fills[0].price)
        .collect();
    assert_eq!(prices, [px("10.002"), px("11.0022"), px("12.0024")]);
    let ids: Vec<String> = harness
        .all_executions()
        .await
        .into_iter()
        .map(|execution| execution.execution_id)
        .collect();
    assert_eq!(ids, ["bt-00000001-1", "bt-00000001-2", "bt-00000001-3"]);
    let filled = harness.status("bt-00000001").await;
    assert_eq!(filled.status, OrderStatus::Filled);
    // (2 000.4 + 2 200.44 + 1 200.24) / 500.
    assert_eq!(filled.average_fill_price, Some(px("10.80216")));
    // Three minimum commissions.
    let account = harness.broker.account().await.expect("account");
    assert_eq!(account.cash, money("94595.92"));
}

#[tokio::test]
async fn a_short_and_its_cover_realise_the_price_difference() {
    let harness = Harness::new();
    harness.feed(&flat("AAA", jan10(14, 30), "50"));
    harness.submit(&market("short", "AAA", Sell, "100")).await;
    // 50 × 0.9998 = 49.99; the sale brings 4 999 less 1 commission.
    let fills = harness.feed(&bar("AAA", jan10(14, 31), "50", "50", "45", "45", "100000"));
    assert_eq!(fills[0].price, px("49.99"));
    let account = harness.broker.account().await.expect("account");
    assert_eq!(account.cash, money("104998"));
    assert_eq!(account.short_market_value, money("-4500"));
    assert_eq!(account.long_market_value, Money::ZERO);
    assert_eq!(account.equity, money("100498"));
    // 2 × 100 498 − 4 500.
    assert_eq!(account.buying_power, money("196496"));
    let positions = harness.broker.positions().await.expect("positions");
    assert_eq!(positions[0].quantity, d("-100"));
    assert_eq!(positions[0].market_value, money("-4500"));
    // (45 − 49.99) × −100.
    assert_eq!(positions[0].unrealised_pnl, money("499"));

    harness.submit(&market("cover", "AAA", Buy, "100")).await;
    // 45 × 1.0002 = 45.009.
    let fills = harness.feed(&flat("AAA", jan10(14, 32), "45"));
    assert_eq!(fills[0].price, px("45.009"));
    // (49.99 − 45.009) × 100.
    assert_eq!(harness.broker.realised_pnl(), money("498.1"));
    assert!(
        harness
            .broker
            .positions()
            .await
            .expect("positions")
            .is_empty()
    );
    // 100 000 + 498.1 realised − 2 commissions.
    assert_eq!(harness.broker.equity(), money("100496.1"));
    assert_eq!(harness.broker.gross_exposure(), Money::ZERO);
}

#[tokio::test]
async fn a_sell_larger_than_the_long_flips_the_position_at_the_fill_price() {
    let harness = Harness::new();
    harness.feed(&flat("AAA", jan10(14, 30), "20"));
    harness.submit(&market("long", "AAA", Buy, "100")).await;
    // 20 × 1.0002 = 20.004.
    harness.feed(&flat("AAA", jan10(14, 31), "20"));
    harness.submit(&market("flip", "AAA", Sell, "150")).await;
    // 22 × 0.9998 = 21.9956; 150 × 0.005 = 0.75 < 1.
    let fills = harness.feed(&bar(
        "AAA",
        jan10(14, 32),
        "22",
        "22.5",
        "22",
        "22.5",
        "100000",
    ));
    assert_eq!(fills[0].price, px("21.9956"));
    // (21.9956 − 20.004) × 100 on the 100 closed.
    assert_eq!(harness.broker.realised_pnl(), money("199.16"));
    let positions = harness.broker.positions().await.expect("positions");
    assert_eq!(positions[0].quantity, d("-50"));
    assert_eq!(positions[0].average_entry_price, px("21.9956"));
    assert_eq!(positions[0].market_value, money("-1125"));
    // (22.5 − 21.9956) × −50.
    assert_eq!(positions[0].unrealised_pnl, money("-25.22"));
    // 100 000 − 2 000.4 − 1 + 3 299.34 − 1.
    let account = harness.broker.account().await.expect("account");
    assert_eq!(account.cash, money("101296.94"));
    // Cash − 1 125, which is also 100 000 + 199.16 − 25.22 − 2.
    assert_eq!(account.equity, money("100171.94"));
}

#[tokio::test]
async fn a_day_order_expires_at_the_first_bar_of_the_next_new_york_date_and_gtc_survives() {
    let harness = Harness::new();
    // 15:59 in New York.
    harness.feed(&flat("AAA", jan10(20, 59), "91"));
    harness
        .submit(&order(
            "day",
            "AAA",
            Buy,
            "10",
            limit("90"),
            TimeInForce::Day,
        ))
        .await;
    harness
        .submit(&order(
            "gtc",
            "AAA",
            Buy,
            "10",
            limit("90"),
            TimeInForce::Gtc,
        ))
        .await;
    // 20:00 in New York is the next date in UTC but the same exchange date.
    assert!(
        harness
            .feed(&flat("AAA", utc("2024-01-11T01:00:00Z"), "91"))
            .is_empty()
    );
    assert_eq!(
        harness.status("bt-00000001").await.status,
        OrderStatus::Accepted
    );
    // A bar of another symbol opens 11 January; the day order expires before AAA trades at 90.
    assert!(
        harness
            .feed(&flat("BBB", utc("2024-01-11T14:30:00Z"), "5"))
            .is_empty()
    );
    let expired = harness.status("bt-00000001").await;
    assert_eq!(expired.status, OrderStatus::Expired);
    assert_eq!(expired.updated_at, utc("2024-01-11T14:30:00Z"));
    let fills = harness.feed(&bar(
        "AAA",
        utc("2024-01-11T14:30:00Z"),
        "91",
        "91",
        "89",
        "89.5",
        "10000",
    ));
    assert_eq!(fills.len(), 1);
    assert_eq!(
        (fills[0].broker_order_id.as_str(), fills[0].price),
        ("bt-00000002", px("90"))
    );
    let open = harness.broker.open_orders().await.expect("open orders");
    assert!(open.is_empty());
}

#[tokio::test]
async fn a_partly_filled_day_order_keeps_its_fills_when_it_expires() {
    let harness = Harness::new();
    harness.feed(&flat("AAA", jan10(20, 58), "10"));
    harness
        .submit(&order(
            "day",
            "AAA",
            Buy,
            "500",
            OrderType::Market,
            TimeInForce::Day,
        ))
        .await;
    harness.feed(&bar("AAA", jan10(20, 59), "10", "10", "10", "10", "2000"));
    harness.feed(&flat("AAA", utc("2024-01-11T14:30:00Z"), "10"));
    let expired = harness.status("bt-00000001").await;
    assert_eq!(expired.status, OrderStatus::Expired);
    assert_eq!(expired.filled_quantity.value(), d("200"));
    let positions = harness.broker.positions().await.expect("positions");
    assert_eq!(positions[0].quantity, d("200"));
}

#[tokio::test]
async fn a_day_order_after_a_daily_bar_works_the_next_session_and_then_expires() {
    let harness = Harness::new();
    // Daily bars start at midnight in New York.
    let day = |date: &str, low: &str| {
        bar_of(
            Timeframe::DAY,
            "AAA",
            utc(&format!("{date}T05:00:00Z")),
            "100",
            "101",
            low,
            "100",
            "0",
        )
    };
    harness.feed(&day("2024-01-10", "99"));
    harness
        .submit(&order(
            "next",
            "AAA",
            Buy,
            "10",
            limit("95"),
            TimeInForce::Day,
        ))
        .await;
    harness
        .submit(&order(
            "later",
            "AAA",
            Buy,
            "10",
            limit("90"),
            TimeInForce::Day,
        ))
        .await;
    // 11 January is the session both orders were placed for: the one reached fills.
    let fills = harness.feed(&day("2024-01-11", "94"));
    assert_eq!(fills.len(), 1);
    assert_eq!(fills[0].broker_order_id, "bt-00000001");
    assert_eq!(
        harness.status("bt-00000002").await.status,
        OrderStatus::Accepted
    );
    // 12 January is not its session: it expires before the bar that would have filled it.
    assert!(harness.feed(&day("2024-01-12", "89")).is_empty());
    assert_eq!(
        harness.status("bt-00000002").await.status,
        OrderStatus::Expired
    );
}

#[tokio::test]
async fn ioc_fills_what_the_next_bar_allows_and_cancels_the_rest() {
    let harness = Harness::new();
    harness.feed(&flat("AAA", jan10(14, 30), "10"));
    harness
        .submit(&order(
            "ioc",
            "AAA",
            Buy,
            "500",
            OrderType::Market,
            TimeInForce::Ioc,
        ))
        .await;
    let fills = harness.feed(&bar("AAA", jan10(14, 31), "10", "10", "10", "10", "1000"));
    assert_eq!(fills[0].quantity.value(), d("100"));
    let done = harness.status("bt-00000001").await;
    assert_eq!(
        (done.status, done.filled_quantity.value()),
        (OrderStatus::Canceled, d("100"))
    );
    assert!(!harness.broker.has_working_orders());
}

#[tokio::test]
async fn cancel_and_replace_follow_the_order_state_machine() {
    let harness = Harness::new();
    harness.feed(&flat("AAA", jan10(14, 30), "100"));
    harness
        .submit(&order(
            "orig",
            "AAA",
            Buy,
            "10",
            limit("95"),
            TimeInForce::Gtc,
        ))
        .await;
    harness.clock.set(jan10(14, 31) + Duration::seconds(5));
    let replacement = Replacement {
        limit: Some(px("96")),
        ..Replacement::default()
    };
    let new = harness
        .broker
        .replace("bt-00000001", &replacement)
        .await
        .expect("replace");
    assert_eq!(new.broker_order_id, "bt-00000002");
    assert_eq!(new.client_order_id.as_str(), "replaces-bt-00000001");
    assert_eq!(
        (new.quantity.value(), new.order_type),
        (d("10"), limit("96"))
    );
    assert_eq!(new.status, OrderStatus::Accepted);
    let old = harness.status("bt-00000001").await;
    assert_eq!(old.status, OrderStatus::Replaced);
    assert_eq!(old.updated_at, jan10(14, 31) + Duration::seconds(5));
    let open = harness.broker.open_orders().await.expect("open orders");
    assert_eq!(open, [new]);

    let reason = rejected_reason(
        harness
            .broker
            .cancel("bt-00000001")
            .await
            .expect_err("terminal"),
    );
    assert!(reason.starts_with("order is not cancelable"), "{reason}");
    let reason = rejected_reason(
        harness
            .broker
            .replace("bt-00000001", &replacement)
            .await
            .expect_err("terminal"),
    );
    assert!(reason.starts_with("order is not replaceable"), "{reason}");
    let wrong_price = Replacement {
        stop: Some(px("90")),
        ..Replacement::default()
    };
    rejected_reason(
        harness
            .broker
            .replace("bt-00000002", &wrong_price)
            .await
            .expect_err("a limit has no stop"),
    );

    harness.broker.cancel("bt-00000002").await.expect("cancel");
    assert_eq!(
        harness.status("bt-00000002").await.status,
        OrderStatus::Canceled
    );
    assert!(!harness.broker.has_working_orders());
    // The canceled order no longer fills, however low the price goes.
    assert!(harness.feed(&flat("AAA", jan10(14, 32), "80")).is_empty());
    rejected_reason(
        harness
            .broker
            .cancel("bt-00000002")
            .await
            .expect_err("terminal"),
    );
    assert!(matches!(
        harness.broker.cancel("bt-00000099").await,
        Err(BrokerError::NotFound(_))
    ));
}

#[tokio::test]
async fn replacing_a_partly_filled_order_carries_on_with_what_is_left() {
    let harness = Harness::new();
    harness.feed(&flat("AAA", jan10(14, 30), "10"));
    harness.submit(&market("big", "AAA", Buy, "500")).await;
    harness.feed(&bar("AAA", jan10(14, 31), "10", "10", "10", "10", "2000"));
    let new = harness
        .broker
        .replace("bt-00000001", &Replacement::default())
        .await
        .expect("replace");
    assert_eq!(new.quantity.value(), d("300"));
    let old = harness.status("bt-00000001").await;
    assert_eq!(
        (old.status, old.filled_quantity.value()),
        (OrderStatus::Replaced, d("200"))
    );
    let fills = harness.feed(&flat("AAA", jan10(14, 32), "10"));
    assert_eq!(
        (fills[0].broker_order_id.as_str(), fills[0].quantity.value()),
        ("bt-00000002", d("300"))
    );
}

#[tokio::test]
async fn submissions_are_refused_for_duplicates_unknown_symbols_and_inverted_prices() {
    let harness = Harness::new();
    harness.feed(&flat("AAA", jan10(14, 30), "100"));
    let first = harness.submit(&market("dup", "AAA", Buy, "1")).await;
    let again = harness
        .broker
        .submit(&market("dup", "AAA", Sell, "5"))
        .await;
    assert_eq!(
        again,
        Err(BrokerError::DuplicateClientOrderId("dup".into()))
    );
    let found = harness
        .broker
        .order_by_client_id(&ClientOrderId::parse("dup").expect("id"))
        .await
        .expect("lookup");
    assert_eq!(found, Some(first));
    let missing = harness
        .broker
        .order_by_client_id(&ClientOrderId::parse("never").expect("id"))
        .await
        .expect("lookup");
    assert_eq!(missing, None);

    let reason = rejected_reason(
        harness
            .broker
            .submit(&market("zzz", "ZZZ", Buy, "1"))
            .await
            .expect_err("no data"),
    );
    assert!(reason.contains("unknown symbol ZZZ"), "{reason}");
    let inverted = order(
        "inv",
        "AAA",
        Buy,
        "1",
        OrderType::StopLimit {
            stop: px("101"),
            limit: px("100"),
        },
        TimeInForce::Gtc,
    );
    rejected_reason(
        harness
            .broker
            .submit(&inverted)
            .await
            .expect_err("inverted"),
    );
    // Refused submissions take no id: the next order is the second.
    let next = harness.submit(&market("next", "AAA", Buy, "1")).await;
    assert_eq!(next.broker_order_id, "bt-00000002");

    let asset = harness.broker.asset(&sym("AAA")).await.expect("asset");
    assert!(asset.tradable && asset.shortable && asset.fractionable);
    assert!(matches!(
        harness.broker.asset(&sym("ZZZ")).await,
        Err(BrokerError::NotFound(_))
    ));
    assert_eq!(harness.broker.name(), "backtest");
}

#[tokio::test]
async fn orders_and_executions_since_a_time_are_filtered_and_oldest_first() {
    let harness = Harness::new();
    harness.feed(&flat("AAA", jan10(14, 30), "10"));
    harness.submit(&market("a", "AAA", Buy, "1")).await;
    harness.feed(&flat("AAA", jan10(14, 31), "10"));
    harness.submit(&market("b", "AAA", Buy, "1")).await;
    harness.feed(&flat("AAA", jan10(14, 32), "10"));
    let orders = harness
        .broker
        .orders_since(jan10(14, 32))
        .await
        .expect("orders");
    let clients: Vec<&str> = orders
        .iter()
        .map(|order| order.client_order_id.as_str())
        .collect();
    assert_eq!(clients, ["b"]);
    let all = harness.all_executions().await;
    assert_eq!(
        all.iter().map(|e| e.time).collect::<Vec<_>>(),
        [jan10(14, 31), jan10(14, 32)]
    );
    let later = harness
        .broker
        .executions_since(jan10(14, 32))
        .await
        .expect("executions");
    assert_eq!(later, all[1..]);
    assert!(
        harness
            .broker
            .executions_since(jan10(14, 33))
            .await
            .expect("executions")
            .is_empty()
    );
}

/// One scripted session over two symbols: every kind of event, fed to a fresh broker.
async fn scripted_run() -> (Vec<Execution>, Vec<BrokerOrder>, Money) {
    let harness = Harness::new();
    let mut executions = Vec::new();
    for minute in 0..30u32 {
        let time = jan10(14, 30 + minute);
        let step = Decimal::from(minute) / Decimal::from(10);
        let aaa = (d("100") + step).to_string();
        let bbb = (d("50") - step).to_string();
        executions.extend(harness.feed(&bar("AAA", time, &aaa, &aaa, &aaa, &aaa, "3000")));
        executions.extend(harness.feed(&bar("BBB", time, &bbb, &bbb, &bbb, &bbb, "3000")));
        match minute {
            0 => {
                harness.submit(&market("a1", "AAA", Buy, "700")).await;
                harness.submit(&market("b1", "BBB", Sell, "350")).await;
            }
            5 => {
                harness
                    .submit(&order(
                        "a2",
                        "AAA",
                        Sell,
                        "200",
                        limit("100.8"),
                        TimeInForce::Gtc,
                    ))
                    .await;
            }
            10 => {
                let stop = OrderType::Stop { stop: px("48.5") };
                harness
                    .submit(&order("b2", "BBB", Sell, "100", stop, TimeInForce::Day))
                    .await;
            }
            12 => {
                let new = Replacement {
                    quantity: Some("150".parse().expect("quantity")),
                    ..Replacement::default()
                };
                harness
                    .broker
                    .replace("bt-00000004", &new)
                    .await
                    .expect("replace");
            }
            _ => {}
        }
    }
    let orders = harness
        .broker
        .orders_since(DateTime::UNIX_EPOCH)
        .await
        .expect("orders");
    (executions, orders, harness.broker.equity())
}

#[tokio::test]
async fn two_brokers_fed_the_same_bars_and_orders_agree_exactly() {
    let (first_executions, first_orders, first_equity) = scripted_run().await;
    let (second_executions, second_orders, second_equity) = scripted_run().await;
    assert!(first_executions.len() >= 5, "{first_executions:?}");
    assert_eq!(first_executions, second_executions);
    assert_eq!(first_orders, second_orders);
    assert_eq!(first_equity, second_equity);
}
