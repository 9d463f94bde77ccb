//! Unit tests of `RiskEngine::check`: for every rule a refusal or clip that names it with the
//! numbers, and a passing case; the modes; the rate buckets; and the clip property.

use chrono::{Duration, NaiveDate, TimeZone};
use proptest::prelude::*;

use super::*;
use crate::domain::{Money, OrderType, Price, Symbol};
use crate::risk::inputs::PositionSnapshot;
use crate::risk::limits::tests::shipped_limits;

fn symbol(text: &str) -> Symbol {
    Symbol::parse(text).expect("valid symbol")
}

fn price(value: i64) -> Price {
    Price::new(Decimal::from(value)).expect("positive")
}

fn money(value: i64) -> Money {
    Money::new(Decimal::from(value))
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 15, 0, 0)
        .single()
        .expect("valid time")
}

/// 100,000 equity; long 100 AAPL at 150 and short 50 MSFT at 400: gross 35,000, net −5,000.
fn portfolio() -> PortfolioSnapshot {
    let mut positions = HashMap::new();
    positions.insert(
        symbol("AAPL"),
        PositionSnapshot {
            quantity: Decimal::from(100),
            average_price: price(140),
        },
    );
    positions.insert(
        symbol("MSFT"),
        PositionSnapshot {
            quantity: Decimal::from(-50),
            average_price: price(410),
        },
    );
    PortfolioSnapshot {
        equity: money(100_000),
        cash: money(85_000),
        positions,
        ..PortfolioSnapshot::default()
    }
}

fn market() -> MarketSnapshot {
    let last_prices = [
        ("AAPL", 150),
        ("MSFT", 400),
        ("TSLA", 200),
        ("SPY", 500),
        ("PENNY", 1),
    ]
    .into_iter()
    .map(|(name, last)| (symbol(name), price(last)))
    .collect();
    MarketSnapshot {
        last_prices,
        market_open: true,
        minutes_to_close: Some(120),
    }
}

fn engine_with(limits: RiskLimits) -> RiskEngine {
    let day = NaiveDate::from_ymd_opt(2026, 3, 2).expect("valid date");
    RiskEngine::new(limits, RiskState::new(money(100_000), day), now())
}

fn engine() -> RiskEngine {
    engine_with(shipped_limits())
}

fn order(side: OrderSide, name: &str, quantity: i64) -> OrderRequest {
    OrderRequest {
        strategy: "pairs".to_owned(),
        symbol: symbol(name),
        side,
        quantity: Quantity::new(Decimal::from(quantity)).expect("non-negative"),
        order_type: OrderType::Market,
        shortable: false,
        operator_flatten: false,
    }
}

fn buy(name: &str, quantity: i64) -> OrderRequest {
    order(OrderSide::Buy, name, quantity)
}

fn sell(name: &str, quantity: i64) -> OrderRequest {
    order(OrderSide::Sell, name, quantity)
}

fn check(engine: &mut RiskEngine, request: &OrderRequest) -> Decision {
    engine.check(request, &portfolio(), &market(), now())
}

#[track_caller]
fn assert_refused(decision: &Decision, rule: RuleName, reason: &str) {
    match &decision.outcome {
        Outcome::Refused {
            rule: actual,
            reason: text,
        } => {
            assert_eq!(*actual, rule, "{text}");
            assert!(
                text.contains(reason),
                "`{text}` does not contain `{reason}`"
            );
        }
        other => panic!("expected a refusal by {rule}, got {other:?}"),
    }
}

#[track_caller]
fn assert_clipped(decision: &Decision, rule: RuleName, quantity: i64, reason: &str) {
    match &decision.outcome {
        Outcome::Clipped {
            quantity: actual,
            rule: actual_rule,
            reason: text,
        } => {
            assert_eq!(*actual_rule, rule, "{text}");
            assert_eq!(actual.value(), Decimal::from(quantity), "{text}");
            assert!(
                text.contains(reason),
                "`{text}` does not contain `{reason}`"
            );
        }
        other => panic!("expected a clip by {rule}, got {other:?}"),
    }
}

#[test]
fn an_order_within_every_limit_is_accepted_with_its_inputs() {
    let decision = check(&mut engine(), &buy("AAPL", 10));
    assert!(decision.is_accepted(), "{decision:?}");
    assert_eq!(decision.inputs.gross_exposure, money(35_000));
    assert_eq!(decision.inputs.net_exposure, money(-5_000));
    assert_eq!(decision.inputs.mode, "active");
    let stored = serde_json::to_value(&decision).expect("serialisable");
    assert_eq!(stored["outcome"]["outcome"], "accepted");
}

#[test]
fn rule_names_are_snake_case() {
    assert_eq!(
        RuleName::PositionEquityPercent.to_string(),
        "position_equity_percent"
    );
}

#[test]
fn a_halt_refuses_everything_but_an_operator_flatten() {
    let mut engine = engine();
    engine.state_mut().halt("kill switch by alice", now());
    assert_refused(
        &check(&mut engine, &buy("AAPL", 1)),
        RuleName::Halted,
        "kill switch by alice",
    );
    assert_refused(
        &check(&mut engine, &sell("AAPL", 100)),
        RuleName::Halted,
        "halted",
    );
    let mut flatten = sell("AAPL", 100);
    flatten.operator_flatten = true;
    assert!(check(&mut engine, &flatten).is_accepted());
    let mut not_a_flatten = buy("AAPL", 100);
    not_a_flatten.operator_flatten = true;
    assert_refused(
        &check(&mut engine, &not_a_flatten),
        RuleName::Halted,
        "halted",
    );
}

#[test]
fn a_drawdown_breach_halts_and_stays_halted_until_resumed() {
    let mut engine = engine();
    let mut poor = portfolio();
    poor.equity = money(89_000);
    let decision = engine.check(&buy("AAPL", 1), &poor, &market(), now());
    assert_refused(
        &decision,
        RuleName::Halted,
        "drawdown of 11.00% from peak equity 100000",
    );
    poor.equity = money(100_000);
    let decision = engine.check(&buy("AAPL", 1), &poor, &market(), now());
    assert_refused(&decision, RuleName::Halted, "drawdown");
    engine.state_mut().resume("alice").expect("halted");
    assert!(
        engine
            .check(&buy("AAPL", 1), &poor, &market(), now())
            .is_accepted()
    );
}

#[test]
fn a_daily_loss_breach_refuses_entries_but_passes_exits_and_clips_flips() {
    let mut engine = engine();
    let mut losing = portfolio();
    losing.equity = money(97_500);
    let entry = engine.check(&buy("AAPL", 1), &losing, &market(), now());
    assert_refused(
        &entry,
        RuleName::DailyLoss,
        "daily loss of 2500 from the day's starting equity 100000 reached the limit of 2000",
    );
    assert_eq!(entry.inputs.mode, "reducing");
    assert!(
        engine
            .check(&sell("AAPL", 60), &losing, &market(), now())
            .is_accepted()
    );
    let flip = engine.check(&sell("AAPL", 150), &losing, &market(), now());
    assert_clipped(&flip, RuleName::DailyLoss, 100, "clipped from 150 to 100");
    // A new day ends reducing.
    engine.state_mut().start_day(
        NaiveDate::from_ymd_opt(2026, 3, 3).expect("valid"),
        money(97_500),
    );
    assert!(
        engine
            .check(&buy("AAPL", 1), &losing, &market(), now())
            .is_accepted()
    );
}

#[test]
fn the_first_check_of_the_next_trading_day_ends_reducing_without_a_position_update() {
    // A desk that only checks orders (a backtest has no position-update flow) must still see
    // the day turn: the daily loss counts from that day's first equity, not the first day's.
    let mut engine = engine();
    let mut losing = portfolio();
    losing.equity = money(97_500);
    let entry = engine.check(&buy("AAPL", 1), &losing, &market(), now());
    assert_refused(&entry, RuleName::DailyLoss, "daily loss of 2500");
    let next_day = now() + Duration::days(1);
    let entry = engine.check(&buy("AAPL", 1), &losing, &market(), next_day);
    assert!(entry.is_accepted(), "{entry:?}");
    assert_eq!(engine.state().day_start_equity, money(97_500));
    losing.equity = money(95_500);
    let entry = engine.check(&buy("AAPL", 1), &losing, &market(), next_day);
    assert_refused(
        &entry,
        RuleName::DailyLoss,
        "daily loss of 2000 from the day's starting equity 97500",
    );
}

#[test]
fn a_losing_streak_refuses_entries_during_the_cooldown_only() {
    let mut engine = engine();
    let limits = engine.limits().clone();
    for _ in 0..4 {
        engine.state_mut().record_trade(&limits, money(-100), now());
    }
    assert_refused(
        &check(&mut engine, &buy("AAPL", 1)),
        RuleName::ConsecutiveLosses,
        "4 losing trades in a row",
    );
    assert!(check(&mut engine, &sell("AAPL", 10)).is_accepted());
    let later = now() + Duration::minutes(31);
    assert!(
        engine
            .check(&buy("AAPL", 1), &portfolio(), &market(), later)
            .is_accepted()
    );
}

#[test]
fn a_closed_market_refuses_orders() {
    let mut closed = market();
    closed.market_open = false;
    let decision = engine().check(&buy("AAPL", 1), &portfolio(), &closed, now());
    assert_refused(&decision, RuleName::MarketHours, "the market is closed");
}

#[test]
fn entries_are_refused_in_the_last_minutes_before_the_close_but_exits_pass() {
    let mut closing = market();
    closing.minutes_to_close = Some(5);
    let mut engine = engine();
    let decision = engine.check(&buy("AAPL", 1), &portfolio(), &closing, now());
    assert_refused(
        &decision,
        RuleName::EntryCutoff,
        "5 minutes to the close; no new entries in the last 10",
    );
    assert!(
        engine
            .check(&sell("AAPL", 10), &portfolio(), &closing, now())
            .is_accepted()
    );
    closing.minutes_to_close = Some(11);
    assert!(
        engine
            .check(&buy("AAPL", 1), &portfolio(), &closing, now())
            .is_accepted()
    );
}

#[test]
fn an_order_without_a_last_price_is_refused() {
    assert_refused(
        &check(&mut engine(), &buy("XYZ", 1)),
        RuleName::NoMarketPrice,
        "no last price for XYZ",
    );
}

#[test]
fn a_limit_price_outside_the_band_is_refused_as_a_fat_finger() {
    let mut engine = engine();
    let mut request = buy("AAPL", 1);
    request.order_type = OrderType::Limit { limit: price(160) };
    assert_refused(
        &check(&mut engine, &request),
        RuleName::PriceBand,
        "limit price 160 is 6.67% from the last price 150; the band is 5%",
    );
    request.order_type = OrderType::StopLimit {
        stop: price(155),
        limit: price(120),
    };
    assert_refused(
        &check(&mut engine, &request),
        RuleName::PriceBand,
        "limit price 120 is 20.00% from",
    );
    request.order_type = OrderType::Limit { limit: price(155) };
    assert!(check(&mut engine, &request).is_accepted());
}

#[test]
fn a_symbol_outside_the_allowed_list_may_only_be_exited() {
    let mut limits = shipped_limits();
    limits.allowed_symbols.insert(symbol("MSFT"));
    let mut engine = engine_with(limits);
    assert_refused(
        &check(&mut engine, &buy("AAPL", 1)),
        RuleName::SymbolNotAllowed,
        "AAPL is not in the allowed symbols",
    );
    assert!(check(&mut engine, &sell("AAPL", 100)).is_accepted());
    assert!(check(&mut engine, &buy("MSFT", 10)).is_accepted());
}

#[test]
fn a_long_only_symbol_may_not_be_sold_below_flat() {
    let mut limits = shipped_limits();
    limits
        .directions
        .insert(symbol("AAPL"), Direction::LongOnly);
    limits
        .directions
        .insert(symbol("MSFT"), Direction::ShortOnly);
    let mut engine = engine_with(limits);
    let mut flip = sell("AAPL", 150);
    flip.shortable = true;
    assert_clipped(
        &check(&mut engine, &flip),
        RuleName::Direction,
        100,
        "AAPL is long-only; a sell may only close the position of 100",
    );
    assert_clipped(
        &check(&mut engine, &buy("MSFT", 60)),
        RuleName::Direction,
        50,
        "MSFT is short-only; a buy may only close the position of -50",
    );
    assert!(check(&mut engine, &buy("AAPL", 10)).is_accepted());
    assert!(check(&mut engine, &buy("MSFT", 50)).is_accepted());
}

#[test]
fn a_short_needs_a_shortable_symbol_or_flag() {
    let mut engine = engine();
    assert_refused(
        &check(&mut engine, &sell("TSLA", 10)),
        RuleName::Shortability,
        "TSLA is not shortable; selling 10 against a position of 0",
    );
    let mut flagged = sell("TSLA", 10);
    flagged.shortable = true;
    assert!(check(&mut engine, &flagged).is_accepted());
    assert!(check(&mut engine, &sell("SPY", 10)).is_accepted());
    assert!(check(&mut engine, &sell("AAPL", 100)).is_accepted());
}

#[test]
fn the_orders_per_day_limit_refuses_the_next_order() {
    let mut busy = portfolio();
    busy.orders_today = 500;
    let mut engine = engine();
    let decision = engine.check(&buy("AAPL", 1), &busy, &market(), now());
    assert_refused(
        &decision,
        RuleName::OrdersPerDay,
        "500 orders were sent today; the limit is 500",
    );
    busy.orders_today = 499;
    assert!(
        engine
            .check(&buy("AAPL", 1), &busy, &market(), now())
            .is_accepted()
    );
}

#[test]
fn the_open_orders_limit_refuses_the_next_order() {
    let mut busy = portfolio();
    busy.open_orders = 50;
    let mut engine = engine();
    let decision = engine.check(&buy("AAPL", 1), &busy, &market(), now());
    assert_refused(
        &decision,
        RuleName::OpenOrders,
        "50 orders are working; the limit is 50",
    );
    busy.open_orders = 49;
    assert!(
        engine
            .check(&buy("AAPL", 1), &busy, &market(), now())
            .is_accepted()
    );
}

#[test]
fn the_strategy_bucket_empties_refills_with_time_and_ignores_refusals() {
    let mut engine = engine();
    let mut closed = market();
    closed.market_open = false;
    for _ in 0..5 {
        assert!(
            !engine
                .check(&buy("AAPL", 1), &portfolio(), &closed, now())
                .is_accepted()
        );
    }
    for _ in 0..10 {
        assert!(check(&mut engine, &buy("AAPL", 1)).is_accepted());
    }
    assert_refused(
        &check(&mut engine, &buy("AAPL", 1)),
        RuleName::StrategyRate,
        "strategy `pairs` has 0.00 order tokens; its bucket holds 10 and refills 1 per second",
    );
    let mut other = buy("AAPL", 1);
    other.strategy = "momentum".to_owned();
    assert!(check(&mut engine, &other).is_accepted());
    let later = now() + Duration::seconds(1);
    assert!(
        engine
            .check(&buy("AAPL", 1), &portfolio(), &market(), later)
            .is_accepted()
    );
}

#[test]
fn the_account_bucket_limits_all_strategies_together() {
    let mut limits = shipped_limits();
    limits.account_rate.capacity = 3;
    let mut engine = engine_with(limits);
    for name in ["a", "b", "c"] {
        let mut request = buy("AAPL", 1);
        request.strategy = name.to_owned();
        assert!(check(&mut engine, &request).is_accepted());
    }
    let mut request = buy("AAPL", 1);
    request.strategy = "d".to_owned();
    assert_refused(
        &check(&mut engine, &request),
        RuleName::AccountRate,
        "the account has 0.00 order tokens; its bucket holds 3",
    );
}

#[test]
fn a_new_position_beyond_the_open_positions_limit_is_refused() {
    let mut limits = shipped_limits();
    limits.max_open_positions = 2;
    let mut engine = engine_with(limits);
    assert_refused(
        &check(&mut engine, &buy("TSLA", 1)),
        RuleName::OpenPositions,
        "2 positions are open; the limit is 2",
    );
    assert!(check(&mut engine, &buy("AAPL", 1)).is_accepted());
}

#[test]
fn an_order_above_the_quantity_limit_is_clipped() {
    let decision = check(&mut engine(), &buy("PENNY", 6_000));
    assert_clipped(
        &decision,
        RuleName::OrderQuantity,
        5_000,
        "order quantity 6000 exceeds the limit of 5000",
    );
}

#[test]
fn an_order_above_the_notional_limit_is_clipped_to_whole_units() {
    let decision = check(&mut engine(), &buy("TSLA", 140));
    assert_clipped(
        &decision,
        RuleName::OrderNotional,
        125,
        "order notional 28000 at 200 exceeds the limit of 25000",
    );
}

#[test]
fn an_exit_above_the_order_caps_still_closes_the_whole_position() {
    let mut limits = shipped_limits();
    limits.max_order_notional = Decimal::from(10_000);
    limits.max_order_quantity = Decimal::from(40);
    let mut engine = engine_with(limits);
    // Short 50 MSFT at 400: buying 50 back is 20,000 notional and 50 shares, above both caps.
    assert!(check(&mut engine, &buy("MSFT", 50)).is_accepted());
    // Beyond the position the caps bind again, but never below the closing 50.
    assert_clipped(
        &check(&mut engine, &buy("MSFT", 80)),
        RuleName::OrderQuantity,
        50,
        "order quantity 80 exceeds the limit of 40",
    );
    // An entry is clipped to the caps as before: 10,000 at 500 is 20 shares.
    assert_clipped(
        &check(&mut engine, &buy("SPY", 30)),
        RuleName::OrderNotional,
        20,
        "order notional 15000 at 500 exceeds the limit of 10000",
    );
}

#[test]
fn a_position_above_its_notional_limit_is_clipped() {
    let decision = check(&mut engine(), &buy("AAPL", 150));
    assert_clipped(
        &decision,
        RuleName::PositionNotional,
        100,
        "position of 250 AAPL at 150 would be 37500 notional; the limit is 30000",
    );
}

#[test]
fn a_position_above_its_share_of_equity_is_refused_when_nothing_fits() {
    let mut limits = shipped_limits();
    limits.max_position_percent_of_equity = Decimal::from(10);
    let mut engine = engine_with(limits);
    assert_refused(
        &check(&mut engine, &buy("AAPL", 10)),
        RuleName::PositionEquityPercent,
        "above 10% of equity 100000 (10000)",
    );
    assert!(check(&mut engine, &buy("TSLA", 50)).is_accepted());
}

#[test]
fn gross_exposure_clips_an_entry_and_never_refuses_an_exit() {
    let mut limits = shipped_limits();
    limits.max_gross_exposure = Decimal::from(40_000);
    let mut engine = engine_with(limits);
    assert_clipped(
        &check(&mut engine, &buy("TSLA", 100)),
        RuleName::GrossExposure,
        25,
        "gross exposure would be 55000; the limit is 40000",
    );
    let mut tight = shipped_limits();
    tight.max_gross_exposure = Decimal::from(1_000);
    let mut engine = engine_with(tight);
    assert!(check(&mut engine, &sell("AAPL", 50)).is_accepted());
    assert!(check(&mut engine, &buy("MSFT", 50)).is_accepted());
}

#[test]
fn net_exposure_clips_an_entry_in_the_direction_it_pushes() {
    let mut limits = shipped_limits();
    limits.max_net_exposure = Decimal::from(10_000);
    let mut engine = engine_with(limits);
    assert_clipped(
        &check(&mut engine, &buy("TSLA", 100)),
        RuleName::NetExposure,
        75,
        "net exposure would be 15000; the limit is 10000",
    );
    // Net is already −5,000, so a short may add only 5,000 more at 500: 10 units.
    assert_clipped(
        &check(&mut engine, &sell("SPY", 20)),
        RuleName::NetExposure,
        10,
        "net exposure would be -15000",
    );
    assert!(check(&mut engine, &sell("SPY", 10)).is_accepted());
}

#[test]
fn leverage_clips_an_entry() {
    let mut limits = shipped_limits();
    limits.max_leverage = Decimal::new(4, 1);
    let mut engine = engine_with(limits);
    assert_clipped(
        &check(&mut engine, &buy("TSLA", 100)),
        RuleName::Leverage,
        25,
        "leverage would be 0.55 (gross 55000 on equity 100000); the limit is 0.4",
    );
}

#[test]
fn reloading_limits_reports_what_they_loosen() {
    let mut engine = engine();
    let mut looser = shipped_limits();
    looser.max_leverage = Decimal::from(4);
    assert_eq!(engine.replace_limits(looser, now()), vec!["max_leverage"]);
}

proptest! {
    #[test]
    fn a_clipped_quantity_is_smaller_and_would_itself_be_accepted(
        name in prop::sample::select(vec!["AAPL", "MSFT", "TSLA", "SPY", "PENNY"]),
        is_buy in any::<bool>(),
        quantity in 1i64..20_000,
        gross in 20_000i64..200_000,
        net in 1_000i64..100_000,
        percent in 1i64..100,
    ) {
        let mut limits = shipped_limits();
        limits.max_gross_exposure = Decimal::from(gross);
        limits.max_net_exposure = Decimal::from(net);
        limits.max_position_percent_of_equity = Decimal::from(percent);
        let mut request = if is_buy { buy(name, quantity) } else { sell(name, quantity) };
        request.shortable = quantity % 2 == 0;
        let fresh = engine_with(limits);
        let decision = fresh.clone().check(&request, &portfolio(), &market(), now());
        if let Outcome::Clipped { quantity: clipped, .. } = decision.outcome {
            prop_assert!(clipped < request.quantity);
            prop_assert!(!clipped.is_zero());
            request.quantity = clipped;
            let again = fresh.clone().check(&request, &portfolio(), &market(), now());
            prop_assert!(again.is_accepted(), "{:?}", again);
        }
    }
}
