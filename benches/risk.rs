//! Risk check latency: 1,000,000 checks against a realistic portfolio (20 positions, every limit
//! set, the shipped `config/risk.toml` shape), timing each call on its own and printing p50, p99
//! and the maximum in microseconds. The target is p99 ≤ 20 µs.
//!
//! `cargo bench --bench risk`.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use tradehost::domain::{Money, OrderSide, OrderType, Price, Quantity, Symbol};
use tradehost::risk::{
    Direction, MarketSnapshot, OrderRequest, Outcome, PortfolioSnapshot, PositionSnapshot,
    RateLimit, RiskEngine, RiskLimits, RiskState,
};

const CHECKS: usize = 1_000_000;
const SYMBOLS: usize = 20;

fn decimal(value: i64) -> Decimal {
    Decimal::from(value)
}

fn limits(symbols: &[Symbol]) -> RiskLimits {
    RiskLimits {
        max_order_notional: decimal(25_000),
        max_order_quantity: decimal(5_000),
        price_band_percent: decimal(5),
        allowed_symbols: symbols.iter().cloned().collect(),
        directions: symbols
            .iter()
            .step_by(5)
            .map(|symbol| (symbol.clone(), Direction::LongOnly))
            .collect(),
        shortable_symbols: symbols.iter().skip(10).cloned().collect(),
        max_position_notional: decimal(30_000),
        max_position_percent_of_equity: decimal(30),
        max_gross_exposure: decimal(400_000),
        max_net_exposure: decimal(200_000),
        max_leverage: decimal(4),
        max_open_positions: 25,
        max_open_orders: 50,
        // Buckets above the benchmark's rate (10,000 checks per simulated second over four strategies),
        // so it measures full checks rather than early rate refusals.
        strategy_rate: RateLimit {
            capacity: 5_000,
            refill_per_second: decimal(5_000),
        },
        account_rate: RateLimit {
            capacity: 20_000,
            refill_per_second: decimal(20_000),
        },
        max_orders_per_day: 1_000_000,
        no_new_entries_minutes_before_close: 10,
        max_daily_loss: decimal(5_000),
        max_drawdown_percent: decimal(10),
        max_consecutive_losses: 4,
        cooldown_minutes: 30,
    }
}

fn main() {
    let symbols: Vec<Symbol> = (0..SYMBOLS)
        .map(|index| Symbol::parse(&format!("SYM{index}")).expect("valid symbol"))
        .collect();
    let limits = limits(&symbols);
    limits.validate().expect("the benchmark's limits are valid");
    let mut positions = HashMap::new();
    let mut last_prices = HashMap::new();
    for (index, symbol) in symbols.iter().enumerate() {
        let price = Price::new(Decimal::new(5_000 + 731 * index as i64, 2)).expect("positive");
        last_prices.insert(symbol.clone(), price);
        // Alternate long and short holdings of different sizes.
        let quantity = Decimal::from(10 + 7 * index as i64)
            * if index.is_multiple_of(3) {
                Decimal::NEGATIVE_ONE
            } else {
                Decimal::ONE
            };
        positions.insert(
            symbol.clone(),
            PositionSnapshot {
                quantity,
                average_price: price,
            },
        );
    }
    let portfolio = PortfolioSnapshot {
        equity: Money::new(decimal(100_000)),
        cash: Money::new(decimal(60_000)),
        positions,
        open_orders: 5,
        orders_today: 40,
        realised_pnl_today: Money::new(decimal(120)),
        unrealised_pnl: Money::new(decimal(-300)),
    };
    let market = MarketSnapshot {
        last_prices,
        market_open: true,
        minutes_to_close: Some(120),
    };
    let start = Utc
        .with_ymd_and_hms(2026, 3, 2, 15, 0, 0)
        .single()
        .expect("valid time");
    let day = NaiveDate::from_ymd_opt(2026, 3, 2).expect("valid date");
    let mut engine = RiskEngine::new(
        limits,
        RiskState::new(Money::new(decimal(100_000)), day),
        start,
    );
    let requests: Vec<OrderRequest> = (0..256)
        .map(|index: usize| {
            let symbol = symbols[index % SYMBOLS].clone();
            let last = market.last_prices[&symbol];
            let order_type = if index.is_multiple_of(4) {
                OrderType::Limit { limit: last }
            } else {
                OrderType::Market
            };
            OrderRequest {
                strategy: format!("strategy{}", index % 4),
                symbol,
                side: if index.is_multiple_of(2) {
                    OrderSide::Buy
                } else {
                    OrderSide::Sell
                },
                quantity: Quantity::new(Decimal::from(1 + (index * 37) % 400)).expect("positive"),
                order_type,
                shortable: index.is_multiple_of(5),
                operator_flatten: false,
            }
        })
        .collect();

    let mut latencies = Vec::with_capacity(CHECKS);
    let (mut accepted, mut clipped, mut refused) = (0usize, 0usize, 0usize);
    let mut by_rule: HashMap<String, usize> = HashMap::new();
    for index in 0..CHECKS {
        let request = &requests[index % requests.len()];
        let now = start + chrono::Duration::microseconds(index as i64 * 100);
        let began = Instant::now();
        let decision = black_box(engine.check(black_box(request), &portfolio, &market, now));
        latencies.push(began.elapsed());
        if let Some(rule) = decision.rule() {
            *by_rule.entry(rule.to_string()).or_default() += 1;
        }
        match decision.outcome {
            Outcome::Accepted => accepted += 1,
            Outcome::Clipped { .. } => clipped += 1,
            Outcome::Refused { .. } => refused += 1,
        }
    }
    latencies.sort_unstable();
    let at = |fraction: f64| {
        let index = ((CHECKS as f64 * fraction) as usize).min(CHECKS - 1);
        micros(latencies[index])
    };
    println!(
        "risk check over {SYMBOLS} positions, {CHECKS} checks: p50 {:.2} µs, p99 {:.2} µs, max {:.2} µs (target p99 ≤ 20 µs)",
        at(0.50),
        at(0.99),
        micros(latencies[CHECKS - 1])
    );
    println!("outcomes: {accepted} accepted, {clipped} clipped, {refused} refused");
    let mut rules: Vec<_> = by_rule.into_iter().collect();
    rules.sort();
    println!("rules that clipped or refused: {rules:?}");
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}
