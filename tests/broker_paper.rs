//! The paper broker against a real SQLite file on a manual clock: every order type, partial fills,
//! expiry, time in force, shorts, fractional shares, buying power, cancel, replace and a restart.
//! Figures are computed by hand from the inputs (default fill model: 0.005/share, minimum 1,
//! 2 bps slippage, 10% participation, 100 000 initial cash).

mod paper_suite;
mod support;

use chrono::DateTime;
use paper_suite::{Harness, bar, d, jan10, order, px, qty, sym, utc};
use tradehost::broker::{Broker, BrokerError, Replacement};
use tradehost::domain::{ClientOrderId, OrderSide, OrderStatus, OrderType, TimeInForce};

use OrderSide::{Buy, Sell};

async fn harness() -> Harness {
    Harness::start(support::sqlite().await).await
}

fn rejected_reason(error: BrokerError) -> String {
    match error {
        BrokerError::Rejected { reason } => reason,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn a_market_order_before_the_open_fills_at_the_first_bar_open_with_slippage() {
    let harness = harness().await;
    let submitted = harness
        .broker
        .submit(&order(
            "m1",
            "AAA",
            Buy,
            "100",
            OrderType::Market,
            TimeInForce::Day,
        ))
        .await
        .expect("submit");
    assert_eq!(submitted.status, OrderStatus::New);
    let fills = harness
        .feed(&[bar(
            "AAA",
            jan10(14, 30),
            "100",
            "101",
            "99",
            "100.5",
            "100000",
        )])
        .await;
    assert_eq!(fills.len(), 1);
    // 100 × 1.0002 = 100.02; 100 × 0.005 = 0.50 < 1, so the minimum.
    assert_eq!(
        (fills[0].quantity, fills[0].price),
        (qty("100"), px("100.02"))
    );
    assert_eq!(fills[0].commission.value(), d("1"));
    let account = harness.broker.account().await.expect("account");
    // 100 000 − 10 002 − 1
    assert_eq!(account.cash.value(), d("89997"));
    // Marked at the close 100.5: equity 89 997 + 10 050.
    assert_eq!(account.long_market_value.value(), d("10050"));
    assert_eq!(account.equity.value(), d("100047"));
    // 2 × 100 047 − 10 050
    assert_eq!(account.buying_power.value(), d("190044"));
    let positions = harness.broker.positions().await.expect("positions");
    assert_eq!(positions.len(), 1);
    assert_eq!(positions[0].quantity, d("100"));
    assert_eq!(positions[0].average_entry_price, px("100.02"));
    assert_eq!(positions[0].current_price, Some(px("100.5")));
    // (100.5 − 100.02) × 100
    assert_eq!(positions[0].unrealised_pnl.value(), d("48"));
}

#[tokio::test]
async fn a_market_order_while_open_fills_at_once_at_the_last_close() {
    let harness = harness().await;
    harness
        .feed(&[bar(
            "AAA",
            jan10(14, 34),
            "100",
            "101.5",
            "99",
            "101",
            "100000",
        )])
        .await;
    harness
        .clock
        .set(jan10(14, 35) + chrono::Duration::seconds(30));
    let filled = harness
        .broker
        .submit(&order(
            "m2",
            "AAA",
            Sell,
            "10",
            OrderType::Market,
            TimeInForce::Day,
        ))
        .await
        .expect("submit");
    // A short sale of AAA (shortable) at 101 × 0.9998 = 100.9798.
    assert_eq!(filled.status, OrderStatus::Filled);
    assert_eq!(filled.average_fill_price, Some(px("100.9798")));
    let account = harness.broker.account().await.expect("account");
    // 100 000 + 1 009.798 − 1
    assert_eq!(account.cash.value(), d("101008.798"));
    assert_eq!(account.short_market_value.value(), d("-1010"));
}

#[tokio::test]
async fn limit_orders_fill_at_the_limit_or_a_better_gapped_open() {
    let harness = harness().await;
    let touched = harness
        .broker
        .submit(&order(
            "l1",
            "AAA",
            Buy,
            "10",
            OrderType::Limit { limit: px("99.5") },
            TimeInForce::Gtc,
        ))
        .await
        .expect("submit");
    let gapped = harness
        .broker
        .submit(&order(
            "l2",
            "BBB",
            Buy,
            "10",
            OrderType::Limit { limit: px("99.5") },
            TimeInForce::Gtc,
        ))
        .await
        .expect("submit");
    // A bar above both limits fills nothing.
    let none = harness
        .feed(&[bar(
            "AAA",
            jan10(14, 30),
            "100",
            "100.5",
            "99.6",
            "100",
            "10000",
        )])
        .await;
    assert!(none.is_empty());
    let fills = harness
        .feed(&[
            bar(
                "AAA",
                jan10(14, 31),
                "100",
                "100.2",
                "99.4",
                "99.8",
                "10000",
            ),
            bar("BBB", jan10(14, 31), "98", "98.5", "97", "98.2", "10000"),
        ])
        .await;
    assert_eq!(fills.len(), 2);
    let price_of = |id: &str| {
        fills
            .iter()
            .find(|fill| fill.broker_order_id == id)
            .map(|fill| fill.price)
    };
    assert_eq!(price_of(&touched.broker_order_id), Some(px("99.5")));
    assert_eq!(price_of(&gapped.broker_order_id), Some(px("98")));
    let account = harness.broker.account().await.expect("account");
    // 100 000 − 995 − 1 − 980 − 1
    assert_eq!(account.cash.value(), d("98023"));
}

#[tokio::test]
async fn stop_orders_trigger_and_fill_at_the_stop_or_a_worse_gapped_open() {
    let harness = harness().await;
    let stop = harness
        .broker
        .submit(&order(
            "s1",
            "AAA",
            Buy,
            "10",
            OrderType::Stop { stop: px("105") },
            TimeInForce::Gtc,
        ))
        .await
        .expect("submit");
    let gapped = harness
        .broker
        .submit(&order(
            "s2",
            "BBB",
            Sell,
            "10",
            OrderType::Stop { stop: px("95") },
            TimeInForce::Gtc,
        ))
        .await
        .expect("submit");
    let fills = harness
        .feed(&[
            bar(
                "AAA",
                jan10(14, 30),
                "104",
                "105.5",
                "103.5",
                "105.2",
                "10000",
            ),
            bar("BBB", jan10(14, 30), "94", "94.5", "93", "94", "10000"),
        ])
        .await;
    assert_eq!(fills.len(), 2);
    let stop_fill = fills
        .iter()
        .find(|fill| fill.broker_order_id == stop.broker_order_id)
        .expect("stop fill");
    // max(105, 104) × 1.0002 = 105.021
    assert_eq!(stop_fill.price, px("105.021"));
    let gap_fill = fills
        .iter()
        .find(|fill| fill.broker_order_id == gapped.broker_order_id)
        .expect("gap fill");
    // min(95, 94) × 0.9998 = 93.9812: the gap fills at the worse open.
    assert_eq!(gap_fill.price, px("93.9812"));
    let account = harness.broker.account().await.expect("account");
    // 100 000 − 1 050.21 − 1 + 939.812 − 1
    assert_eq!(account.cash.value(), d("99887.602"));
}

#[tokio::test]
async fn a_stop_limit_triggers_then_rests_as_a_limit() {
    let harness = harness().await;
    let submitted = harness
        .broker
        .submit(&order(
            "sl",
            "AAA",
            Buy,
            "10",
            OrderType::StopLimit {
                stop: px("105"),
                limit: px("105.5"),
            },
            TimeInForce::Gtc,
        ))
        .await
        .expect("submit");
    // Gaps over the limit: triggers without filling.
    let none = harness
        .feed(&[bar(
            "AAA",
            jan10(14, 30),
            "107",
            "108",
            "106",
            "107",
            "10000",
        )])
        .await;
    assert!(none.is_empty());
    let order = harness
        .broker
        .order(&submitted.broker_order_id)
        .await
        .expect("order");
    assert_eq!(order.status, OrderStatus::New);
    // Back within the limit: fills at the limit, no slippage.
    let fills = harness
        .feed(&[bar(
            "AAA",
            jan10(14, 31),
            "106",
            "106",
            "105",
            "105.2",
            "10000",
        )])
        .await;
    assert_eq!(fills.len(), 1);
    assert_eq!(fills[0].price, px("105.5"));
    let order = harness
        .broker
        .order(&submitted.broker_order_id)
        .await
        .expect("order");
    assert_eq!(order.status, OrderStatus::Filled);
}

#[tokio::test]
async fn partial_fills_follow_the_volume_over_several_bars() {
    let harness = harness().await;
    let submitted = harness
        .broker
        .submit(&order(
            "p",
            "AAA",
            Buy,
            "250",
            OrderType::Market,
            TimeInForce::Gtc,
        ))
        .await
        .expect("submit");
    let mut statuses = Vec::new();
    for (minute, open) in [(30, "100"), (31, "101"), (32, "102")] {
        let fills = harness
            .feed(&[bar(
                "AAA",
                jan10(14, minute),
                open,
                open,
                open,
                open,
                "1000",
            )])
            .await;
        assert_eq!(fills.len(), 1);
        let order = harness
            .broker
            .order(&submitted.broker_order_id)
            .await
            .expect("order");
        statuses.push((order.status, order.filled_quantity));
    }
    assert_eq!(
        statuses,
        vec![
            (OrderStatus::PartiallyFilled, qty("100")),
            (OrderStatus::PartiallyFilled, qty("200")),
            (OrderStatus::Filled, qty("250")),
        ]
    );
    let executions = harness
        .broker
        .executions_since(DateTime::UNIX_EPOCH)
        .await
        .expect("executions");
    let quantities: Vec<_> = executions
        .iter()
        .map(|execution| execution.quantity)
        .collect();
    assert_eq!(quantities, vec![qty("100"), qty("100"), qty("50")]);
    // 100 × 100.02 + 100 × 101.0202 + 50 × 102.0204 + 3 × 1 commission
    let account = harness.broker.account().await.expect("account");
    assert_eq!(
        account.cash.value(),
        d("100000") - d("10002") - d("10102.02") - d("5101.02") - d("3")
    );
    let order = harness
        .broker
        .order(&submitted.broker_order_id)
        .await
        .expect("order");
    // 25 205.04 / 250
    assert_eq!(order.average_fill_price, Some(px("100.82016")));
}

#[tokio::test]
async fn a_day_order_expires_at_the_close_and_a_gtc_order_survives_into_the_next_day() {
    let harness = harness().await;
    let day = harness
        .broker
        .submit(&order(
            "day",
            "AAA",
            Buy,
            "10",
            OrderType::Limit { limit: px("90") },
            TimeInForce::Day,
        ))
        .await
        .expect("day");
    let gtc = harness
        .broker
        .submit(&order(
            "gtc",
            "AAA",
            Buy,
            "10",
            OrderType::Limit { limit: px("90") },
            TimeInForce::Gtc,
        ))
        .await
        .expect("gtc");
    assert!(
        harness
            .broker
            .expire(jan10(20, 59))
            .await
            .expect("expire")
            .is_empty()
    );
    // 16:00 New York is 21:00 UTC in January; expiry happens without any new bar.
    let expired = harness.broker.expire(jan10(21, 0)).await.expect("expire");
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].broker_order_id, day.broker_order_id);
    assert_eq!(expired[0].status, OrderStatus::Expired);
    // The next morning the GTC order fills on the first bar that reaches its limit.
    let fills = harness
        .feed(&[bar(
            "AAA",
            utc(2024, 1, 11, 14, 30),
            "91",
            "91",
            "89",
            "89.5",
            "10000",
        )])
        .await;
    assert_eq!(fills.len(), 1);
    assert_eq!(fills[0].broker_order_id, gtc.broker_order_id);
    assert_eq!(fills[0].price, px("90"));
    assert_eq!(
        harness
            .broker
            .order(&day.broker_order_id)
            .await
            .expect("day")
            .status,
        OrderStatus::Expired
    );
}

#[tokio::test]
async fn a_day_order_expires_at_an_early_close() {
    let harness = harness().await;
    // Friday 29 November 2024, the day after Thanksgiving: the close is 13:00 New York, 18:00 UTC.
    harness.clock.set(utc(2024, 11, 29, 15, 0));
    let day = harness
        .broker
        .submit(&order(
            "early",
            "AAA",
            Buy,
            "10",
            OrderType::Limit { limit: px("90") },
            TimeInForce::Day,
        ))
        .await
        .expect("day");
    assert!(
        harness
            .broker
            .expire(utc(2024, 11, 29, 17, 59))
            .await
            .expect("expire")
            .is_empty()
    );
    // A bar after the early close does not fill it, and the clock's expiry runs with on_bars.
    let fills = harness
        .feed(&[bar(
            "AAA",
            utc(2024, 11, 29, 18, 0),
            "89",
            "89",
            "89",
            "89",
            "10000",
        )])
        .await;
    assert!(fills.is_empty());
    let order = harness
        .broker
        .order(&day.broker_order_id)
        .await
        .expect("order");
    assert_eq!(order.status, OrderStatus::Expired);
}

#[tokio::test]
async fn ioc_fills_what_it_can_and_fok_fills_all_or_nothing() {
    let harness = harness().await;
    harness
        .feed(&[bar(
            "AAA",
            jan10(14, 30),
            "100",
            "100",
            "100",
            "100",
            "1000",
        )])
        .await;
    let ioc = harness
        .broker
        .submit(&order(
            "ioc",
            "AAA",
            Buy,
            "500",
            OrderType::Market,
            TimeInForce::Ioc,
        ))
        .await
        .expect("ioc");
    // 10% of 1 000 fills at 100 × 1.0002; the other 400 are canceled.
    assert_eq!(ioc.status, OrderStatus::Canceled);
    assert_eq!(ioc.filled_quantity, qty("100"));
    assert_eq!(ioc.average_fill_price, Some(px("100.02")));
    let killed = harness
        .broker
        .submit(&order(
            "fok-big",
            "AAA",
            Buy,
            "500",
            OrderType::Market,
            TimeInForce::Fok,
        ))
        .await
        .expect("fok");
    assert_eq!(killed.status, OrderStatus::Canceled);
    assert_eq!(killed.filled_quantity, qty("0"));
    let filled = harness
        .broker
        .submit(&order(
            "fok-small",
            "AAA",
            Buy,
            "50",
            OrderType::Market,
            TimeInForce::Fok,
        ))
        .await
        .expect("fok");
    assert_eq!(filled.status, OrderStatus::Filled);
    // An IOC submitted before the open waits for the first bar, then ends.
    harness.clock.set(utc(2024, 1, 11, 13, 0));
    let waiting = harness
        .broker
        .submit(&order(
            "ioc-early",
            "AAA",
            Buy,
            "500",
            OrderType::Limit { limit: px("99") },
            TimeInForce::Ioc,
        ))
        .await
        .expect("ioc");
    assert_eq!(waiting.status, OrderStatus::New);
    harness
        .feed(&[bar(
            "AAA",
            utc(2024, 1, 11, 14, 30),
            "100",
            "100",
            "100",
            "100",
            "1000",
        )])
        .await;
    let ended = harness
        .broker
        .order(&waiting.broker_order_id)
        .await
        .expect("order");
    assert_eq!(
        (ended.status, ended.filled_quantity),
        (OrderStatus::Canceled, qty("0"))
    );
    let account = harness.broker.account().await.expect("account");
    // 100 000 − (100 + 50) × 100.02 − 2
    assert_eq!(account.cash.value(), d("84995"));
}

#[tokio::test]
async fn shorts_are_allowed_only_for_shortable_symbols_and_whole_shares() {
    let harness = harness().await;
    let short = harness
        .broker
        .submit(&order(
            "short",
            "AAA",
            Sell,
            "10",
            OrderType::Market,
            TimeInForce::Day,
        ))
        .await
        .expect("short");
    assert_eq!(short.status, OrderStatus::New);
    let refused = harness
        .broker
        .submit(&order(
            "nos",
            "NOS",
            Sell,
            "10",
            OrderType::Market,
            TimeInForce::Day,
        ))
        .await
        .expect_err("not shortable");
    assert_eq!(rejected_reason(refused), "NOS is not shortable");
    let fractional = harness
        .broker
        .submit(&order(
            "frac-short",
            "BBB",
            Sell,
            "0.5",
            OrderType::Market,
            TimeInForce::Day,
        ))
        .await
        .expect_err("fractional short");
    assert_eq!(
        rejected_reason(fractional),
        "fractional short sales are not allowed"
    );
    // Rejected submissions store nothing.
    for id in ["nos", "frac-short"] {
        let client = ClientOrderId::parse(id).expect("id");
        assert_eq!(
            harness
                .broker
                .order_by_client_id(&client)
                .await
                .expect("lookup"),
            None
        );
    }
    let fills = harness
        .feed(&[bar(
            "AAA",
            jan10(14, 30),
            "100",
            "100",
            "100",
            "100",
            "1000",
        )])
        .await;
    assert_eq!(fills.len(), 1);
    let positions = harness.broker.positions().await.expect("positions");
    assert_eq!(positions[0].quantity, d("-10"));
    assert_eq!(positions[0].average_entry_price, px("99.98"));
    // A long can be sold down to flat in a non-shortable symbol, but not past it.
    harness
        .broker
        .submit(&order(
            "nos-long",
            "NOS",
            Buy,
            "5",
            OrderType::Market,
            TimeInForce::Gtc,
        ))
        .await
        .expect("buy NOS");
    harness
        .feed(&[bar("NOS", jan10(14, 31), "20", "20", "20", "20", "1000")])
        .await;
    // Before the next open nothing fills at once, so the sell below stays working.
    harness.clock.set(utc(2024, 1, 11, 13, 0));
    harness
        .broker
        .submit(&order(
            "nos-sell",
            "NOS",
            Sell,
            "5",
            OrderType::Market,
            TimeInForce::Day,
        ))
        .await
        .expect("selling the long is not a short");
    let past_flat = harness
        .broker
        .submit(&order(
            "nos-more",
            "NOS",
            Sell,
            "1",
            OrderType::Market,
            TimeInForce::Day,
        ))
        .await
        .expect_err("the open sell already covers the long");
    assert_eq!(rejected_reason(past_flat), "NOS is not shortable");
}

#[tokio::test]
async fn fractional_longs_are_day_orders_only() {
    let harness = harness().await;
    let gtc = harness
        .broker
        .submit(&order(
            "frac-gtc",
            "AAA",
            Buy,
            "0.5",
            OrderType::Market,
            TimeInForce::Gtc,
        ))
        .await
        .expect_err("fractional GTC");
    assert_eq!(rejected_reason(gtc), "fractional orders must be day orders");
    harness
        .broker
        .submit(&order(
            "frac",
            "AAA",
            Buy,
            "2.5",
            OrderType::Market,
            TimeInForce::Day,
        ))
        .await
        .expect("fractional day order");
    let fills = harness
        .feed(&[bar(
            "AAA",
            jan10(14, 30),
            "100",
            "100",
            "100",
            "100",
            "1000",
        )])
        .await;
    assert_eq!(fills[0].quantity, qty("2.5"));
    let account = harness.broker.account().await.expect("account");
    // 100 000 − 2.5 × 100.02 − 1
    assert_eq!(account.cash.value(), d("99748.95"));
}

#[tokio::test]
async fn an_order_beyond_buying_power_is_rejected_with_the_figures() {
    let harness = harness().await;
    // Buying power is 2 × 100 000 = 200 000; 2 000 at a 100 limit needs exactly that.
    let too_big = harness
        .broker
        .submit(&order(
            "big",
            "AAA",
            Buy,
            "2001",
            OrderType::Limit { limit: px("100") },
            TimeInForce::Day,
        ))
        .await
        .expect_err("too big");
    assert_eq!(
        rejected_reason(too_big),
        "insufficient buying power: needs 200100, has 200000"
    );
    harness
        .broker
        .submit(&order(
            "fits",
            "AAA",
            Buy,
            "2000",
            OrderType::Limit { limit: px("100") },
            TimeInForce::Day,
        ))
        .await
        .expect("fits exactly");
    // The open buy now holds all of it: even one share more is refused.
    let account = harness.broker.account().await.expect("account");
    assert_eq!(account.buying_power.value(), d("0"));
    let one_more = harness
        .broker
        .submit(&order(
            "one",
            "BBB",
            Buy,
            "1",
            OrderType::Market,
            TimeInForce::Day,
        ))
        .await
        .expect_err("no buying power left");
    assert_eq!(
        rejected_reason(one_more),
        "insufficient buying power: needs 100, has 0"
    );
}

#[tokio::test]
async fn duplicate_client_ids_and_unknown_symbols_are_refused() {
    let harness = harness().await;
    let first = order("same", "AAA", Buy, "1", OrderType::Market, TimeInForce::Day);
    harness.broker.submit(&first).await.expect("first");
    let error = harness.broker.submit(&first).await.expect_err("duplicate");
    assert_eq!(error, BrokerError::DuplicateClientOrderId("same".into()));
    let unknown = harness
        .broker
        .submit(&order(
            "zzz",
            "ZZZ",
            Buy,
            "1",
            OrderType::Market,
            TimeInForce::Day,
        ))
        .await
        .expect_err("unknown");
    assert_eq!(
        rejected_reason(unknown),
        "unknown symbol ZZZ: no market data"
    );
    let asset = harness.broker.asset(&sym("ZZZ")).await.expect("asset");
    assert!(!asset.tradable);
    let asset = harness.broker.asset(&sym("NOS")).await.expect("asset");
    assert!(asset.tradable && !asset.shortable && asset.fractionable);
}

#[tokio::test]
async fn canceling_a_partially_filled_order_keeps_its_fills() {
    let harness = harness().await;
    let mut updates = harness.broker.subscribe();
    let submitted = harness
        .broker
        .submit(&order(
            "part",
            "AAA",
            Buy,
            "250",
            OrderType::Market,
            TimeInForce::Gtc,
        ))
        .await
        .expect("submit");
    harness
        .feed(&[bar(
            "AAA",
            jan10(14, 30),
            "100",
            "100",
            "100",
            "100",
            "1000",
        )])
        .await;
    harness
        .broker
        .cancel(&submitted.broker_order_id)
        .await
        .expect("cancel");
    let order = harness
        .broker
        .order(&submitted.broker_order_id)
        .await
        .expect("order");
    assert_eq!(
        (order.status, order.filled_quantity),
        (OrderStatus::Canceled, qty("100"))
    );
    let again = harness
        .broker
        .cancel(&submitted.broker_order_id)
        .await
        .expect_err("terminal");
    assert_eq!(rejected_reason(again), "order is not cancelable");
    let mut seen = Vec::new();
    while let Ok(update) = updates.try_recv() {
        seen.push(update.status);
    }
    assert_eq!(
        seen,
        vec![
            OrderStatus::New,
            OrderStatus::PartiallyFilled,
            OrderStatus::Canceled
        ]
    );
    assert!(harness.broker.open_orders().await.expect("open").is_empty());
    let missing = harness
        .broker
        .cancel("paper-99999999")
        .await
        .expect_err("missing");
    assert!(matches!(missing, BrokerError::NotFound(_)));
}

#[tokio::test]
async fn replacing_an_order_ends_the_old_one_and_works_the_new_one() {
    let harness = harness().await;
    let old = harness
        .broker
        .submit(&order(
            "rep",
            "AAA",
            Buy,
            "10",
            OrderType::Limit { limit: px("90") },
            TimeInForce::Gtc,
        ))
        .await
        .expect("submit");
    let replacement = Replacement {
        quantity: Some(qty("20")),
        limit: Some(px("95")),
        ..Replacement::default()
    };
    let new = harness
        .broker
        .replace(&old.broker_order_id, &replacement)
        .await
        .expect("replace");
    assert_eq!(
        new.client_order_id.as_str(),
        format!("replaces-{}", old.broker_order_id)
    );
    assert_eq!(new.order_type, OrderType::Limit { limit: px("95") });
    assert_eq!(new.quantity, qty("20"));
    let old_now = harness
        .broker
        .order(&old.broker_order_id)
        .await
        .expect("old");
    assert_eq!(old_now.status, OrderStatus::Replaced);
    let fills = harness
        .feed(&[bar("AAA", jan10(14, 30), "96", "96", "89", "94", "10000")])
        .await;
    assert_eq!(fills.len(), 1);
    assert_eq!(fills[0].broker_order_id, new.broker_order_id);
    assert_eq!((fills[0].quantity, fills[0].price), (qty("20"), px("95")));
    let again = harness
        .broker
        .replace(&old.broker_order_id, &replacement)
        .await
        .expect_err("replaced orders are terminal");
    assert_eq!(rejected_reason(again), "order is not replaceable");
    let wrong = harness
        .broker
        .replace(
            &new.broker_order_id,
            &Replacement {
                stop: Some(px("1")),
                ..Replacement::default()
            },
        )
        .await
        .expect_err("terminal and wrong");
    assert!(matches!(wrong, BrokerError::Rejected { .. }));
}

#[tokio::test]
async fn the_clock_and_calendar_come_from_the_exchange_calendar() {
    let harness = harness().await;
    let clock = harness.broker.clock().await.expect("clock");
    assert!(!clock.is_open);
    assert_eq!(clock.next_open, jan10(14, 30));
    assert_eq!(clock.next_close, jan10(21, 0));
    let days = harness
        .broker
        .calendar(
            chrono::NaiveDate::from_ymd_opt(2024, 1, 12).expect("date"),
            chrono::NaiveDate::from_ymd_opt(2024, 1, 16).expect("date"),
        )
        .await
        .expect("calendar");
    // Friday, then Tuesday: the weekend and Martin Luther King Jr. Day are closed.
    assert_eq!(days.len(), 2);
}

#[tokio::test]
async fn a_restart_loses_nothing() {
    paper_suite::a_restart_loses_nothing(support::sqlite().await).await;
}
