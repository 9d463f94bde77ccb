//! The Alpaca broker and market-data client against the fake Alpaca: every `Broker` call with its
//! converted values, every injected fault (retried where safe, never a duplicate order, a clear
//! error where not), the live-endpoint guard, bars with pagination, and `fetch_alpaca` into SQLite.

mod support;

use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use serde_json::json;
use support::fake_alpaca::{FakeAlpaca, Fault, KEY_ID, SECRET};
use tradehost::broker::alpaca::{AlpacaBroker, Credentials, MarketData, RetryPolicy};
use tradehost::broker::{Broker, BrokerError, NewOrder, Replacement};
use tradehost::clock::Clock;
use tradehost::domain::{
    ClientOrderId, OrderSide, OrderStatus, OrderType, Symbol, TimeInForce, Timeframe,
};

const TIMEOUT_MS: u64 = 300;

fn policy(max_retries: u32) -> RetryPolicy {
    RetryPolicy {
        timeout: Duration::from_millis(TIMEOUT_MS),
        max_retries,
        min_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
    }
}

fn credentials() -> Credentials {
    Credentials::new(KEY_ID, SECRET).expect("valid keys")
}

fn broker(fake: &FakeAlpaca) -> AlpacaBroker {
    AlpacaBroker::new(&fake.config(TIMEOUT_MS, 4), &credentials())
        .expect("paper broker")
        .with_retry_policy(policy(4))
}

fn data(fake: &FakeAlpaca) -> MarketData {
    MarketData::new(&fake.config(TIMEOUT_MS, 4), credentials())
        .expect("data client")
        .with_retry_policy(policy(4))
}

fn symbol(text: &str) -> Symbol {
    Symbol::parse(text).expect("valid symbol")
}

fn limit_buy(client_order_id: &str, quantity: &str, limit: &str) -> NewOrder {
    NewOrder {
        client_order_id: ClientOrderId::parse(client_order_id).expect("valid id"),
        symbol: symbol("AAPL"),
        side: OrderSide::Buy,
        quantity: quantity.parse().expect("quantity"),
        order_type: OrderType::Limit {
            limit: limit.parse().expect("price"),
        },
        time_in_force: TimeInForce::Day,
    }
}

fn decimal(text: &str) -> Decimal {
    text.parse().expect("decimal")
}

fn time(text: &str) -> DateTime<Utc> {
    text.parse().expect("RFC 3339 time")
}

#[tokio::test]
async fn clock_calendar_account_and_asset_are_converted() {
    let fake = FakeAlpaca::start().await;
    let broker = broker(&fake);
    let clock = broker.clock().await.expect("clock");
    assert!(clock.is_open);
    assert_eq!(clock.timestamp, time("2024-01-02T15:00:00Z"));
    assert_eq!(clock.next_close, time("2024-01-02T21:00:00Z"));

    let from = NaiveDate::from_ymd_opt(2024, 7, 1).expect("date");
    let to = NaiveDate::from_ymd_opt(2024, 7, 8).expect("date");
    let days = broker.calendar(from, to).await.expect("calendar");
    assert_eq!(days.len(), 6, "weekdays from Monday to the next Monday");
    // 09:30 New York in July is 13:30 UTC (daylight time); the 3rd closes early.
    assert_eq!(days[0].open, time("2024-07-01T13:30:00Z"));
    assert_eq!(days[0].close, time("2024-07-01T20:00:00Z"));
    assert_eq!(days[2].close, time("2024-07-03T17:00:00Z"));

    let account = broker.account().await.expect("account");
    assert_eq!(account.cash.value(), decimal("100000"));
    assert_eq!(account.equity.value(), decimal("100000"));
    assert!(!account.trading_blocked);

    fake.set_asset("HARD", true, false);
    let asset = broker.asset(&symbol("HARD")).await.expect("asset");
    assert!(asset.tradable && !asset.shortable && asset.fractionable);
    let missing = broker
        .asset(&symbol("NOPE"))
        .await
        .expect_err("unknown asset");
    assert!(matches!(missing, BrokerError::NotFound(_)), "{missing}");
}

#[tokio::test]
async fn a_submitted_order_is_read_back_every_way() {
    let fake = FakeAlpaca::start().await;
    let broker = broker(&fake);
    let order = broker
        .submit(&limit_buy("read-back-1", "10", "150.25"))
        .await
        .expect("submit");
    assert_eq!(order.status, OrderStatus::Accepted);
    assert_eq!(order.client_order_id.as_str(), "read-back-1");
    assert_eq!(order.quantity.value(), decimal("10"));
    assert_eq!(
        order.order_type,
        OrderType::Limit {
            limit: "150.25".parse().expect("price")
        }
    );
    assert_eq!(order.broker_order_id.len(), 36, "a hyphenated UUID");

    let by_id = broker.order(&order.broker_order_id).await.expect("by id");
    assert_eq!(by_id, order);
    let by_client = broker
        .order_by_client_id(&order.client_order_id)
        .await
        .expect("by client id");
    assert_eq!(by_client, Some(order.clone()));
    let never_sent = ClientOrderId::parse("never-sent").expect("valid id");
    assert_eq!(
        broker
            .order_by_client_id(&never_sent)
            .await
            .expect("lookup"),
        None
    );
    let open = broker.open_orders().await.expect("open orders");
    assert_eq!(open, vec![order.clone()]);
    let unknown = broker
        .order("00000000-0000-4000-8000-000000000000")
        .await
        .expect_err("unknown order");
    assert!(matches!(unknown, BrokerError::NotFound(_)), "{unknown}");
}

#[tokio::test]
async fn fills_move_the_order_the_positions_the_cash_and_the_executions() {
    let fake = FakeAlpaca::start().await;
    let broker = broker(&fake);
    let start = Utc::now() - chrono::Duration::seconds(1);
    let order = broker
        .submit(&limit_buy("fills-1", "10", "101"))
        .await
        .expect("submit");
    fake.fill(&order.broker_order_id, "4", "100.5", Utc::now());
    let partial = broker.order(&order.broker_order_id).await.expect("read");
    assert_eq!(partial.status, OrderStatus::PartiallyFilled);
    assert_eq!(partial.filled_quantity.value(), decimal("4"));
    fake.fill(&order.broker_order_id, "6", "100.75", Utc::now());
    let filled = broker.order(&order.broker_order_id).await.expect("read");
    assert_eq!(filled.status, OrderStatus::Filled);
    assert_eq!(
        filled.average_fill_price.expect("average").value(),
        decimal("100.65")
    );
    assert!(broker.open_orders().await.expect("open").is_empty());

    let positions = broker.positions().await.expect("positions");
    assert_eq!(positions.len(), 1);
    assert_eq!(positions[0].quantity, decimal("10"));
    assert_eq!(positions[0].average_entry_price.value(), decimal("100.65"));
    assert_eq!(positions[0].market_value.value(), decimal("1007.5"));

    let account = broker.account().await.expect("account");
    assert_eq!(account.cash.value(), decimal("98993.5"));
    assert_eq!(account.long_market_value.value(), decimal("1007.5"));
    assert_eq!(
        account.equity.value(),
        account.cash.value() + account.long_market_value.value()
    );

    let executions = broker.executions_since(start).await.expect("executions");
    assert_eq!(executions.len(), 2);
    assert_eq!(executions[0].quantity.value(), decimal("4"));
    assert_eq!(executions[0].price.value(), decimal("100.5"));
    assert_eq!(executions[1].price.value(), decimal("100.75"));
    assert!(
        executions
            .iter()
            .all(|e| e.broker_order_id == order.broker_order_id)
    );
    let later = broker
        .executions_since(executions[1].time + chrono::Duration::milliseconds(1))
        .await
        .expect("later executions");
    assert!(later.is_empty());
}

#[tokio::test]
async fn orders_since_lists_every_status_from_a_time() {
    let fake = FakeAlpaca::start().await;
    let broker = broker(&fake);
    let first = broker
        .submit(&limit_buy("since-1", "1", "10"))
        .await
        .expect("submit");
    tokio::time::sleep(Duration::from_millis(5)).await;
    let second = broker
        .submit(&limit_buy("since-2", "1", "10"))
        .await
        .expect("submit");
    broker.cancel(&first.broker_order_id).await.expect("cancel");
    let all = broker
        .orders_since(first.submitted_at)
        .await
        .expect("since");
    let ids: Vec<_> = all.iter().map(|o| o.client_order_id.as_str()).collect();
    assert_eq!(ids, ["since-1", "since-2"], "oldest first, closed ones too");
    assert_eq!(all[0].status, OrderStatus::Canceled);
    let later = broker
        .orders_since(second.submitted_at)
        .await
        .expect("since");
    assert_eq!(later.len(), 1);
}

#[tokio::test]
async fn cancel_is_a_204_and_a_closed_order_is_not_cancelable() {
    let fake = FakeAlpaca::start().await;
    let broker = broker(&fake);
    let order = broker
        .submit(&limit_buy("cancel-1", "5", "20"))
        .await
        .expect("submit");
    broker
        .cancel(&order.broker_order_id)
        .await
        .expect("204 is success");
    let canceled = broker.order(&order.broker_order_id).await.expect("read");
    assert_eq!(canceled.status, OrderStatus::Canceled);
    let again = broker
        .cancel(&order.broker_order_id)
        .await
        .expect_err("closed");
    assert!(matches!(again, BrokerError::Rejected { .. }), "{again}");
    assert!(
        again.to_string().contains("order is not cancelable"),
        "{again}"
    );
}

#[tokio::test]
async fn replace_returns_the_new_order_and_ends_the_old_one() {
    let fake = FakeAlpaca::start().await;
    let broker = broker(&fake);
    let order = broker
        .submit(&limit_buy("replace-1", "5", "20"))
        .await
        .expect("submit");
    let replacement = Replacement {
        quantity: Some("7".parse().expect("quantity")),
        limit: Some("21.5".parse().expect("price")),
        ..Replacement::default()
    };
    let new = broker
        .replace(&order.broker_order_id, &replacement)
        .await
        .expect("replace");
    assert_ne!(new.broker_order_id, order.broker_order_id);
    assert_eq!(new.quantity.value(), decimal("7"));
    assert_eq!(
        new.order_type,
        OrderType::Limit {
            limit: "21.5".parse().expect("price")
        }
    );
    let old = broker.order(&order.broker_order_id).await.expect("old");
    assert_eq!(old.status, OrderStatus::Replaced);
}

#[tokio::test]
async fn reads_retry_server_errors_slow_replies_and_dropped_connections() {
    let fake = FakeAlpaca::start().await;
    let broker = broker(&fake);
    fake.fail("GET", "/v2/account", 1, Fault::server_error(500));
    fake.fail("GET", "/v2/account", 1, Fault::server_error(503));
    broker.account().await.expect("third attempt succeeds");
    assert_eq!(fake.requests_to("GET", "/v2/account").len(), 3);

    fake.fail(
        "GET",
        "/v2/positions",
        1,
        FakeAlpaca::slower_than(TIMEOUT_MS),
    );
    broker.positions().await.expect("second attempt succeeds");
    assert_eq!(fake.requests_to("GET", "/v2/positions").len(), 2);

    fake.fail("GET", "/v2/clock", 1, Fault::Drop);
    broker.clock().await.expect("second attempt succeeds");
    assert_eq!(fake.requests_to("GET", "/v2/clock").len(), 2);

    fake.fail("GET", "/v2/clock", 1, Fault::rate_limited(None));
    broker.clock().await.expect("after the rate limit");
    assert_eq!(fake.requests_to("GET", "/v2/clock").len(), 4);
}

#[tokio::test]
async fn retries_end_with_a_clear_error_once_spent() {
    let fake = FakeAlpaca::start().await;
    let broker = AlpacaBroker::new(&fake.config(TIMEOUT_MS, 2), &credentials())
        .expect("broker")
        .with_retry_policy(policy(2));
    fake.fail("GET", "/v2/clock", 10, Fault::server_error(503));
    let error = broker.clock().await.expect_err("always 503");
    assert!(matches!(error, BrokerError::Unavailable(_)), "{error}");
    assert!(error.to_string().contains("503"), "{error}");
    assert_eq!(
        fake.requests_to("GET", "/v2/clock").len(),
        3,
        "one try and two retries"
    );
}

#[tokio::test]
async fn a_rate_limited_submit_is_resent_and_makes_one_order() {
    let fake = FakeAlpaca::start().await;
    let broker = broker(&fake);
    fake.fail("POST", "/v2/orders", 2, Fault::rate_limited(None));
    let order = broker
        .submit(&limit_buy("limited-1", "1", "10"))
        .await
        .expect("submit");
    assert_eq!(fake.requests_to("POST", "/v2/orders").len(), 3);
    assert!(
        fake.requests_to("GET", "/v2/orders:by_client_order_id")
            .is_empty(),
        "a 429 means nothing happened, so no lookup is needed"
    );
    assert_eq!(fake.orders_with_client_id("limited-1"), 1);
    assert_eq!(order.client_order_id.as_str(), "limited-1");
}

#[tokio::test]
async fn a_submit_after_a_server_error_looks_before_it_resends() {
    let fake = FakeAlpaca::start().await;
    let broker = broker(&fake);
    fake.fail("POST", "/v2/orders", 1, Fault::server_error(500));
    let order = broker
        .submit(&limit_buy("error-1", "1", "10"))
        .await
        .expect("submit");
    let sequence: Vec<_> = fake
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        sequence,
        [
            "POST /v2/orders",
            "GET /v2/orders:by_client_order_id",
            "POST /v2/orders"
        ]
    );
    assert_eq!(fake.orders_with_client_id("error-1"), 1);
    assert_eq!(order.client_order_id.as_str(), "error-1");
}

#[tokio::test]
async fn a_submit_whose_reply_is_lost_returns_the_order_it_created() {
    let fake = FakeAlpaca::start().await;
    let broker = broker(&fake);
    fake.fail("POST", "/v2/orders", 1, Fault::DropAfterProcessing);
    let order = broker
        .submit(&limit_buy("dropped-1", "1", "10"))
        .await
        .expect("submit");
    assert_eq!(
        fake.requests_to("POST", "/v2/orders").len(),
        1,
        "never sent twice"
    );
    assert_eq!(fake.orders_with_client_id("dropped-1"), 1);
    let at_fake = fake.order_json("dropped-1").expect("the order");
    assert_eq!(order.broker_order_id, at_fake["id"]);
}

#[tokio::test]
async fn a_submit_that_times_out_after_creating_is_not_sent_twice() {
    let fake = FakeAlpaca::start().await;
    let broker = broker(&fake);
    fake.fail(
        "POST",
        "/v2/orders",
        1,
        Fault::HoldAfterCreate(Duration::from_millis(TIMEOUT_MS * 3)),
    );
    let order = broker
        .submit(&limit_buy("held-1", "1", "10"))
        .await
        .expect("submit");
    assert_eq!(fake.requests_to("POST", "/v2/orders").len(), 1);
    assert_eq!(fake.orders_with_client_id("held-1"), 1);
    assert_eq!(
        order.broker_order_id,
        fake.order_json("held-1").expect("order")["id"]
    );
}

#[tokio::test]
async fn a_submit_dropped_before_arriving_is_sent_again_once() {
    let fake = FakeAlpaca::start().await;
    let broker = broker(&fake);
    fake.fail("POST", "/v2/orders", 1, Fault::Drop);
    fake.fail("POST", "/v2/orders", 1, FakeAlpaca::slower_than(TIMEOUT_MS));
    let order = broker
        .submit(&limit_buy("lost-1", "1", "10"))
        .await
        .expect("submit");
    // Dropped (not created), then slow: the slow one is created after the client gave up on it,
    // so the lookups decide; whichever way, one order.
    assert_eq!(fake.orders_with_client_id("lost-1"), 1);
    assert_eq!(
        order.broker_order_id,
        fake.order_json("lost-1").expect("order")["id"]
    );
    let posts = fake.requests_to("POST", "/v2/orders");
    let lookups = fake.requests_to("GET", "/v2/orders:by_client_order_id");
    assert!(
        posts.len() >= 2 && !lookups.is_empty(),
        "{posts:?} {lookups:?}"
    );
    assert!(
        posts
            .iter()
            .chain(&lookups)
            .all(|r| r.client_order_id.as_deref() == Some("lost-1"))
    );
}

#[tokio::test]
async fn a_duplicate_client_order_id_returns_the_existing_order() {
    let fake = FakeAlpaca::start().await;
    let broker = broker(&fake);
    let first = broker
        .submit(&limit_buy("twice-1", "1", "10"))
        .await
        .expect("first");
    let second = broker
        .submit(&limit_buy("twice-1", "1", "10"))
        .await
        .expect("second");
    assert_eq!(first.broker_order_id, second.broker_order_id);
    assert_eq!(fake.orders_with_client_id("twice-1"), 1);
}

#[tokio::test]
async fn rejections_are_not_retried_and_carry_alpacas_message() {
    let fake = FakeAlpaca::start().await;
    let broker = broker(&fake);
    fake.fail("POST", "/v2/orders", 1, Fault::insufficient_buying_power());
    let error = broker
        .submit(&limit_buy("poor-1", "1000", "10"))
        .await
        .expect_err("403");
    assert!(matches!(error, BrokerError::Rejected { .. }), "{error}");
    assert!(
        error.to_string().contains("insufficient buying power"),
        "{error}"
    );
    fake.fail(
        "POST",
        "/v2/orders",
        1,
        Fault::unprocessable("qty must be > 0"),
    );
    let error = broker
        .submit(&limit_buy("bad-1", "1", "10"))
        .await
        .expect_err("422");
    assert!(error.to_string().contains("qty must be > 0"), "{error}");
    assert_eq!(
        fake.requests_to("POST", "/v2/orders").len(),
        2,
        "one try each"
    );
    assert_eq!(fake.orders_with_client_id("poor-1"), 0);
}

#[tokio::test]
async fn refused_keys_are_unauthorized_and_not_retried() {
    let fake = FakeAlpaca::start().await;
    let wrong = Credentials::new(KEY_ID, "not-the-secret").expect("keys");
    let broker = AlpacaBroker::new(&fake.config(TIMEOUT_MS, 4), &wrong)
        .expect("broker")
        .with_retry_policy(policy(4));
    let error = broker.account().await.expect_err("401");
    assert!(matches!(error, BrokerError::Unauthorized(_)), "{error}");
    assert!(error.to_string().contains("not authorized"), "{error}");
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn a_live_endpoint_is_refused_unless_live_is_set() {
    let fake = FakeAlpaca::start().await;
    let mut config = fake.config(TIMEOUT_MS, 4);
    config.trading_url = "https://api.alpaca.markets".into();
    let error = AlpacaBroker::new(&config, &credentials()).expect_err("live without live = true");
    assert!(
        error.to_string().contains("broker.alpaca.live = true"),
        "{error}"
    );
    config.live = true;
    AlpacaBroker::new(&config, &credentials()).expect("live when asked for");
}

#[tokio::test]
async fn missing_keys_are_a_clear_error() {
    if std::env::var_os("APCA_API_KEY_ID").is_some() {
        println!("skipped: APCA_API_KEY_ID is set in this environment");
        return;
    }
    let fake = FakeAlpaca::start().await;
    let error = AlpacaBroker::from_env(&fake.config(TIMEOUT_MS, 4)).expect_err("no keys");
    assert!(
        error.to_string().contains("APCA_API_KEY_ID is not set"),
        "{error}"
    );
    let error = MarketData::from_env(&fake.config(TIMEOUT_MS, 4)).expect_err("no keys");
    assert!(error.to_string().contains("APCA_API_KEY_ID"), "{error}");
}

fn minute_bars(start: DateTime<Utc>, count: i64) -> Vec<serde_json::Value> {
    (0..count)
        .map(|minute| {
            let t = start + chrono::Duration::minutes(minute);
            json!({ "t": t, "o": 100.25, "h": 101.5, "l": 99.75, "c": 100.5 + 0.01 * minute as f64,
                    "v": 1200 + minute, "n": 12, "vw": 100.4 })
        })
        .collect()
}

#[tokio::test]
async fn bars_follow_pages_and_keep_exact_prices() {
    let fake = FakeAlpaca::start().await;
    let start = time("2024-01-02T14:30:00Z");
    fake.set_bars("AAPL", minute_bars(start, 5));
    fake.set_bars_page_size(2);
    let bars = data(&fake)
        .bars(
            &symbol("AAPL"),
            Timeframe::MINUTE,
            start,
            start + chrono::Duration::hours(1),
        )
        .await
        .expect("bars");
    assert_eq!(bars.len(), 5);
    assert_eq!(bars[0].time, start);
    assert_eq!(bars[0].open.value(), decimal("100.25"));
    assert_eq!(bars[4].close.value(), decimal("100.54"));
    assert_eq!(bars[4].volume.value(), decimal("1204"));
    let pages = fake.requests_to("GET", "/v2/stocks/AAPL/bars");
    assert_eq!(pages.len(), 3);
    assert!(pages[0].query.contains("timeframe=1Min") && pages[0].query.contains("feed=iex"));
    assert!(
        pages[2].query.contains("page_token=page-4"),
        "{}",
        pages[2].query
    );
}

#[tokio::test]
async fn a_rate_limited_bars_request_waits_for_retry_after() {
    let fake = FakeAlpaca::start().await;
    let start = time("2024-01-02T14:30:00Z");
    fake.set_bars("AAPL", minute_bars(start, 2));
    fake.fail("GET", "/v2/stocks/*/bars", 1, Fault::rate_limited(Some(1)));
    let bars = data(&fake)
        .bars(
            &symbol("AAPL"),
            Timeframe::MINUTE,
            start,
            start + chrono::Duration::hours(1),
        )
        .await
        .expect("bars after the wait");
    assert_eq!(bars.len(), 2);
    let requests = fake.requests_to("GET", "/v2/stocks/AAPL/bars");
    assert_eq!(requests.len(), 2);
    let waited = requests[1].at - requests[0].at;
    assert!(
        waited >= Duration::from_millis(950),
        "waited {waited:?}, not the 1 s asked for"
    );
}

#[tokio::test]
async fn a_bad_bar_is_a_protocol_error_naming_symbol_and_time() {
    let fake = FakeAlpaca::start().await;
    let start = time("2024-01-02T14:30:00Z");
    let mut bars = minute_bars(start, 3);
    bars[1]["h"] = json!(90.0);
    fake.set_bars("AAPL", bars);
    let error = data(&fake)
        .bars(
            &symbol("AAPL"),
            Timeframe::MINUTE,
            start,
            start + chrono::Duration::hours(1),
        )
        .await
        .expect_err("high below low");
    assert!(matches!(error, BrokerError::Protocol(_)), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("AAPL") && message.contains("2024-01-02T14:31:00"),
        "{message}"
    );
}

#[tokio::test]
async fn fetch_alpaca_stores_bars_once_and_resumes_after_the_last() {
    let fake = FakeAlpaca::start().await;
    let database = support::sqlite().await;
    let start = time("2024-01-02T14:30:00Z");
    fake.set_bars("SIMA", minute_bars(start, 30));
    fake.set_bars("SIMB", minute_bars(start, 20));
    let clock = Clock::manual(start + chrono::Duration::minutes(25));
    let client = data(&fake);
    let symbols = [symbol("SIMA"), symbol("SIMB")];
    let first =
        tradehost::ingest::alpaca::fetch_alpaca(&database.store, &clock, &client, &symbols, start)
            .await
            .expect("first fetch");
    // The bar starting at the clock's minute is still forming, so 25 of SIMA and all 20 of SIMB.
    assert_eq!(first["bars"], 45, "{first}");
    let again =
        tradehost::ingest::alpaca::fetch_alpaca(&database.store, &clock, &client, &symbols, start)
            .await
            .expect("second fetch");
    assert_eq!(again["bars"], 0, "{again}");
    clock.set(start + chrono::Duration::hours(1));
    let later =
        tradehost::ingest::alpaca::fetch_alpaca(&database.store, &clock, &client, &symbols, start)
            .await
            .expect("later fetch");
    assert_eq!(later["bars"], 5, "the rest of SIMA: {later}");
    let last = database
        .store
        .last_bars(&symbols, Timeframe::MINUTE)
        .await
        .expect("last bars");
    assert_eq!(
        last[&symbols[0]].time,
        start + chrono::Duration::minutes(29)
    );
    let _ = Utc.timestamp_opt(0, 0);
}
