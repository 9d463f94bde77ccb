//! Shared pieces of the paper broker tests: a harness on a manual clock, bars, orders, and the
//! restart scenario that runs on SQLite (`tests/broker_paper.rs`) and PostgreSQL
//! (`tests/broker_paper_postgres.rs`).

#![allow(dead_code)] // Each test binary uses a different part of this module.

use chrono::{DateTime, TimeZone, Utc};
use rust_decimal::Decimal;
use tradehost::broker::paper::PaperBroker;
use tradehost::broker::{Broker, NewOrder};
use tradehost::clock::Clock;
use tradehost::config::PaperConfig;
use tradehost::domain::{
    Bar, ClientOrderId, OrderSide, OrderStatus, OrderType, Price, Quantity, Symbol, TimeInForce,
    Timeframe,
};
use tradehost::market::calendar::UsEquityCalendar;
use tradehost::store::Store;

use crate::support::TestDatabase;

/// A decimal from text.
pub fn d(text: &str) -> Decimal {
    text.parse().expect("decimal")
}

/// A price from text.
pub fn px(text: &str) -> Price {
    text.parse().expect("price")
}

/// A quantity from text.
pub fn qty(text: &str) -> Quantity {
    text.parse().expect("quantity")
}

/// A symbol.
pub fn sym(text: &str) -> Symbol {
    Symbol::parse(text).expect("symbol")
}

/// A UTC time on a date.
pub fn utc(year: i32, month: u32, day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, hour, minute, 0)
        .single()
        .expect("valid time")
}

/// Wednesday 10 January 2024 (EST: the session is 14:30–21:00 UTC), at `hour:minute` UTC.
pub fn jan10(hour: u32, minute: u32) -> DateTime<Utc> {
    utc(2024, 1, 10, hour, minute)
}

/// The default `[broker.paper]` figures; AAA and BBB may be shorted, NOS may not.
pub fn config() -> PaperConfig {
    PaperConfig {
        initial_cash: d("100000"),
        commission_per_share: d("0.005"),
        commission_minimum: d("1"),
        slippage_bps: d("2"),
        participation_rate: d("0.1"),
        shortable: vec!["AAA".into(), "BBB".into()],
    }
}

/// A broker on a store with a manual clock.
pub struct Harness {
    /// The database (kept alive for the test).
    pub database: TestDatabase,
    /// The store (reopened on restart).
    pub store: Store,
    /// The manual clock.
    pub clock: Clock,
    /// The broker under test.
    pub broker: PaperBroker,
}

impl Harness {
    /// A broker at 13:00 UTC on 10 January 2024 (before the open), with a last bar at the
    /// previous close for AAA, BBB and NOS at 100.
    pub async fn start(database: TestDatabase) -> Self {
        let clock = Clock::manual(jan10(13, 0));
        let store = database.store.clone();
        for symbol in ["AAA", "BBB", "NOS"] {
            insert(
                &store,
                &[bar(
                    symbol,
                    utc(2024, 1, 9, 20, 59),
                    "100",
                    "100",
                    "100",
                    "100",
                    "5000",
                )],
            )
            .await;
        }
        let broker = PaperBroker::new(store.clone(), clock.clone(), UsEquityCalendar, &config())
            .await
            .expect("paper broker");
        Self {
            database,
            store,
            clock,
            broker,
        }
    }

    /// Drops the broker, closes and reopens the store, and builds a new broker on it.
    pub async fn restart(self) -> Self {
        let Self {
            database,
            store,
            clock,
            broker,
        } = self;
        drop(broker);
        store.close().await;
        let store = Store::open(&database.location, 4)
            .await
            .expect("reopen store");
        let broker = PaperBroker::new(store.clone(), clock.clone(), UsEquityCalendar, &config())
            .await
            .expect("paper broker after restart");
        Self {
            database,
            store,
            clock,
            broker,
        }
    }

    /// Stores `bars`, moves the clock to a minute after the last one starts (when the feed would
    /// have stored it) and hands them to the broker.
    pub async fn feed(&self, bars: &[Bar]) -> Vec<tradehost::broker::Execution> {
        insert(&self.store, bars).await;
        if let Some(last) = bars.iter().map(|bar| bar.time).max() {
            self.clock.set(last + chrono::Duration::minutes(1));
        }
        self.broker.on_bars(bars).await.expect("on_bars")
    }
}

/// Stores bars.
pub async fn insert(store: &Store, bars: &[Bar]) {
    store.insert_bars(bars, "test").await.expect("insert bars");
}

/// A 1-minute bar.
pub fn bar(
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
        Timeframe::MINUTE,
        time,
        px(open),
        px(high),
        px(low),
        px(close),
        qty(volume),
    )
    .expect("consistent bar")
}

/// A new order.
pub fn order(
    id: &str,
    symbol: &str,
    side: OrderSide,
    quantity: &str,
    order_type: OrderType,
    time_in_force: TimeInForce,
) -> NewOrder {
    NewOrder {
        client_order_id: ClientOrderId::parse(id).expect("client id"),
        symbol: sym(symbol),
        side,
        quantity: qty(quantity),
        order_type,
        time_in_force,
    }
}

/// Restart loses nothing: account, positions, orders (working and done) and executions are
/// identical after the broker and the store are reopened, and a working order keeps filling.
pub async fn a_restart_loses_nothing(database: TestDatabase) {
    let harness = Harness::start(database).await;
    let broker = &harness.broker;
    // A filled buy, a short, a canceled order and a GTC buy that is half filled.
    broker
        .submit(&order(
            "buy",
            "AAA",
            OrderSide::Buy,
            "100",
            OrderType::Market,
            TimeInForce::Day,
        ))
        .await
        .expect("buy");
    broker
        .submit(&order(
            "short",
            "BBB",
            OrderSide::Sell,
            "50",
            OrderType::Market,
            TimeInForce::Day,
        ))
        .await
        .expect("short");
    let canceled = broker
        .submit(&order(
            "cancel-me",
            "AAA",
            OrderSide::Buy,
            "10",
            OrderType::Limit { limit: px("50") },
            TimeInForce::Gtc,
        ))
        .await
        .expect("limit");
    let working = broker
        .submit(&order(
            "gtc",
            "AAA",
            OrderSide::Buy,
            "200",
            OrderType::Market,
            TimeInForce::Gtc,
        ))
        .await
        .expect("gtc");
    broker
        .cancel(&canceled.broker_order_id)
        .await
        .expect("cancel");
    // Each order may take 10% of the bar's 1 000 shares: the day buy fills its 100, the GTC buy
    // gets 100 of its 200 and keeps working.
    harness
        .feed(&[
            bar("AAA", jan10(14, 30), "100", "101", "99", "100.5", "1000"),
            bar("BBB", jan10(14, 30), "50", "50.5", "49.5", "50", "1000"),
        ])
        .await;
    let gtc = broker
        .order(&working.broker_order_id)
        .await
        .expect("gtc order");
    assert_eq!(gtc.status, OrderStatus::PartiallyFilled);
    assert_eq!(gtc.filled_quantity, qty("100"));

    let epoch = DateTime::<Utc>::UNIX_EPOCH;
    let account = broker.account().await.expect("account");
    let positions = broker.positions().await.expect("positions");
    let orders = broker.orders_since(epoch).await.expect("orders");
    let open = broker.open_orders().await.expect("open orders");
    let executions = broker.executions_since(epoch).await.expect("executions");
    assert_eq!(orders.len(), 4);
    assert_eq!(open.len(), 1);
    assert_eq!(executions.len(), 3);
    // Cash by hand: AAA 100 @ 100.02 + 1 commission; BBB short 50 @ 49.99 − 1; GTC 100 @ 100.02 + 1.
    // 100000 − 10002 − 1 + 2499.5 − 1 − 10002 − 1 = 82492.5
    assert_eq!(account.cash.value(), d("82492.5"));

    let harness = harness.restart().await;
    let broker = &harness.broker;
    assert_eq!(broker.account().await.expect("account"), account);
    assert_eq!(broker.positions().await.expect("positions"), positions);
    assert_eq!(broker.orders_since(epoch).await.expect("orders"), orders);
    assert_eq!(broker.open_orders().await.expect("open"), open);
    assert_eq!(
        broker.executions_since(epoch).await.expect("executions"),
        executions
    );

    // The working order keeps filling after the restart: the remaining 100 at 101 × 1.0002.
    let fills = harness
        .feed(&[bar(
            "AAA",
            jan10(14, 31),
            "101",
            "101",
            "100",
            "100",
            "1000",
        )])
        .await;
    assert_eq!(fills.len(), 1);
    assert_eq!(fills[0].price, px("101.0202"));
    let gtc = broker
        .order(&working.broker_order_id)
        .await
        .expect("gtc order");
    assert_eq!(gtc.status, OrderStatus::Filled);
    assert_eq!(gtc.filled_quantity, qty("200"));
    // (100 × 100.02 + 100 × 101.0202) / 200 = 100.5201
    assert_eq!(gtc.average_fill_price, Some(px("100.5201")));
    let account = broker.account().await.expect("account");
    assert_eq!(account.cash.value(), d("82492.5") - d("10102.02") - d("1"));
}
