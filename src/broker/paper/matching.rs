//! The paper fill model: pure rules that turn one working order and one bar into a trigger, a fill
//! and a cancel, with no I/O, so the backtest broker can reuse them.
//!
//! # Rules
//!
//! Prices inside a bar are known only as open, high, low and close; the model assumes the worst
//! plausible path for the order and never fills better than the bar allows.
//!
//! - **Market** orders fill at the bar's open, moved against the order by the slippage:
//!   buys pay `open × (1 + bps / 10 000)`, sells receive `open × (1 − bps / 10 000)`.
//! - **Limit** buys fill when `low ≤ limit`, at `min(limit, open)` (a bar that gaps below the
//!   limit fills at its better open); sells fill when `high ≥ limit`, at `max(limit, open)`. A
//!   limit is the worst price the owner accepts, so no slippage is added.
//! - **Stop** buys trigger when `high ≥ stop` and fill at `max(stop, open)` plus slippage (a gap
//!   through the stop fills at the worse open); sells trigger when `low ≤ stop` and fill at
//!   `min(stop, open)` minus slippage. Once triggered an order stays triggered.
//! - **Stop-limit** orders trigger like stops and then behave as limits. On the trigger bar the
//!   trigger price stands in for the open: the order cannot have traded before it triggered.
//! - **Submission**: an order submitted while the market is open, with a recent bar, is matched at
//!   once against that bar's close as if it were a bar whose open, high, low and close all equal
//!   the last close (the caller decides what is recent). A marketable limit therefore fills at the
//!   better of the last close and its limit, and a stop already through the last close triggers.
//! - **Volume**: one evaluation fills at most `participation_rate × bar volume`, rounded down to
//!   whole shares unless the order's quantity is itself fractional. The rest stays working. A bar
//!   with zero volume comes from a close-only source that does not know its volume, so it sets no
//!   cap.
//! - **Commission** per execution: `max(commission_per_share × quantity, commission_minimum)`,
//!   rounded to cents.
//! - **Time in force**: IOC fills what this one evaluation allows and cancels the rest (also when
//!   nothing fills); FOK fills the whole remaining quantity in this one evaluation or cancels it
//!   all. Day and GTC orders keep working; day expiry depends on the calendar, so the broker
//!   handles it.
//!
//! Slipped prices are exact products, not rounded to a tick: slippage models a cost, and exact
//! figures keep cash reconcilable by hand.

use rust_decimal::Decimal;

use crate::config::PaperConfig;
use crate::domain::{Bar, Money, OrderSide, OrderType, Price, Quantity, TimeInForce};

/// The costs and liquidity of the paper market, from `[broker.paper]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FillModel {
    /// Commission per share.
    pub commission_per_share: Decimal,
    /// Smallest commission per execution.
    pub commission_minimum: Decimal,
    /// Slippage against the order in basis points of the price.
    pub slippage_bps: Decimal,
    /// Largest share of one bar's volume an order may take.
    pub participation_rate: Decimal,
}

impl FillModel {
    /// The model that `config` describes.
    pub fn from_config(config: &PaperConfig) -> Self {
        Self {
            commission_per_share: config.commission_per_share,
            commission_minimum: config.commission_minimum,
            slippage_bps: config.slippage_bps,
            participation_rate: config.participation_rate,
        }
    }

    /// The commission of one execution of `quantity` shares.
    pub fn commission(&self, quantity: Quantity) -> Money {
        let per_share = self.commission_per_share * quantity.value();
        Money::new(per_share.max(self.commission_minimum)).round_to_cents()
    }

    /// `price` moved against an order on `side` by the slippage.
    pub fn slipped(&self, side: OrderSide, price: Price) -> Price {
        let factor = Decimal::ONE + side.sign() * self.slippage_bps / Decimal::from(10_000);
        // A sell slipped by 10 000 bps or more would be free; keep the unslipped price instead.
        Price::new(price.value() * factor).unwrap_or(price)
    }

    /// The most one evaluation may fill of an order of `order_quantity` on a bar of `volume`;
    /// `None` when the bar sets no cap (its volume is unknown).
    pub fn liquidity(&self, volume: Quantity, order_quantity: Quantity) -> Option<Quantity> {
        if volume.is_zero() {
            return None;
        }
        let mut cap = self.participation_rate * volume.value();
        if order_quantity.value().fract().is_zero() {
            cap = cap.floor();
        }
        Some(Quantity::new(cap.max(Decimal::ZERO)).unwrap_or(Quantity::ZERO))
    }
}

/// What the model needs to know about a working order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkingOrder {
    /// Buy or sell.
    pub side: OrderSide,
    /// Type and prices.
    pub order_type: OrderType,
    /// Time in force.
    pub time_in_force: TimeInForce,
    /// Ordered quantity.
    pub quantity: Quantity,
    /// Filled so far.
    pub filled_quantity: Quantity,
    /// True once a stop or stop-limit has triggered.
    pub triggered: bool,
}

impl WorkingOrder {
    /// What is still open.
    pub fn remaining(&self) -> Quantity {
        self.quantity
            .checked_sub(self.filled_quantity)
            .unwrap_or(Quantity::ZERO)
    }
}

/// One execution the model decided on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedFill {
    /// Shares to fill.
    pub quantity: Quantity,
    /// At this price, slippage included.
    pub price: Price,
    /// The commission for it.
    pub commission: Money,
}

/// What one evaluation decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Decision {
    /// The stop triggered in this evaluation.
    pub triggered: bool,
    /// The execution, if any.
    pub fill: Option<PlannedFill>,
    /// Whatever is left after the fill is to be canceled (IOC and FOK).
    pub cancel_rest: bool,
}

/// Matches a working order against one bar.
pub fn on_bar(order: &WorkingOrder, bar: &Bar, model: &FillModel) -> Decision {
    let remaining = order.remaining();
    let one_shot = matches!(order.time_in_force, TimeInForce::Ioc | TimeInForce::Fok);
    let nothing = Decision {
        cancel_rest: one_shot,
        ..Decision::default()
    };
    if remaining.is_zero() {
        return Decision::default();
    }
    // The price the order could first trade at in this bar: the open, or the trigger price on
    // the bar that triggers a stop.
    let (triggered, reference) = match order.order_type {
        OrderType::Market | OrderType::Limit { .. } => (false, bar.open),
        OrderType::Stop { stop } | OrderType::StopLimit { stop, .. } => {
            if order.triggered {
                (false, bar.open)
            } else {
                match order.side {
                    OrderSide::Buy if bar.high >= stop => (true, stop.max(bar.open)),
                    OrderSide::Sell if bar.low <= stop => (true, stop.min(bar.open)),
                    _ => return nothing,
                }
            }
        }
    };
    let price = match order.order_type {
        OrderType::Market | OrderType::Stop { .. } => Some(model.slipped(order.side, reference)),
        OrderType::Limit { limit } | OrderType::StopLimit { limit, .. } => match order.side {
            OrderSide::Buy => (bar.low <= limit).then(|| limit.min(reference)),
            OrderSide::Sell => (bar.high >= limit).then(|| limit.max(reference)),
        },
    };
    let Some(price) = price else {
        return Decision {
            triggered,
            ..nothing
        };
    };
    let available = match model.liquidity(bar.volume, order.quantity) {
        Some(cap) => cap.min(remaining),
        None => remaining,
    };
    let complete = available == remaining;
    if available.is_zero() || (order.time_in_force == TimeInForce::Fok && !complete) {
        return Decision {
            triggered,
            ..nothing
        };
    }
    Decision {
        triggered,
        fill: Some(PlannedFill {
            quantity: available,
            price,
            commission: model.commission(available),
        }),
        cancel_rest: one_shot && !complete,
    }
}

/// Matches a just-submitted order against the last close: a bar whose open, high, low and close
/// all equal `last.close`, with `last`'s volume as the liquidity.
pub fn on_submit(order: &WorkingOrder, last: &Bar, model: &FillModel) -> Decision {
    let quote = Bar {
        open: last.close,
        high: last.close,
        low: last.close,
        ..last.clone()
    };
    on_bar(order, &quote, model)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Symbol, Timeframe};
    use chrono::DateTime;

    fn d(text: &str) -> Decimal {
        text.parse().expect("decimal")
    }

    fn px(text: &str) -> Price {
        text.parse().expect("price")
    }

    fn qty(text: &str) -> Quantity {
        text.parse().expect("quantity")
    }

    fn model() -> FillModel {
        FillModel {
            commission_per_share: d("0.005"),
            commission_minimum: d("1"),
            slippage_bps: d("2"),
            participation_rate: d("0.1"),
        }
    }

    fn bar(open: &str, high: &str, low: &str, close: &str, volume: &str) -> Bar {
        Bar::new(
            Symbol::parse("SPY").expect("symbol"),
            Timeframe::MINUTE,
            DateTime::UNIX_EPOCH,
            px(open),
            px(high),
            px(low),
            px(close),
            qty(volume),
        )
        .expect("consistent bar")
    }

    fn order(side: OrderSide, order_type: OrderType, quantity: &str) -> WorkingOrder {
        WorkingOrder {
            side,
            order_type,
            time_in_force: TimeInForce::Gtc,
            quantity: qty(quantity),
            filled_quantity: Quantity::ZERO,
            triggered: false,
        }
    }

    fn fill(decision: Decision) -> (Decimal, Decimal, Decimal) {
        let fill = decision.fill.expect("a fill");
        (
            fill.quantity.value(),
            fill.price.value(),
            fill.commission.value(),
        )
    }

    #[test]
    fn a_market_buy_fills_at_the_open_plus_slippage() {
        // 100 × 1.0002 = 100.02; 50 shares × 0.005 = 0.25 < 1, so the minimum applies.
        let decision = on_bar(
            &order(OrderSide::Buy, OrderType::Market, "50"),
            &bar("100", "101", "99", "100.5", "10000"),
            &model(),
        );
        assert_eq!(fill(decision), (d("50"), d("100.02"), d("1")));
        assert!(!decision.cancel_rest);
    }

    #[test]
    fn a_market_sell_receives_the_open_minus_slippage() {
        // 50 × 0.9998 = 49.99; 400 shares × 0.005 = 2.00.
        let decision = on_bar(
            &order(OrderSide::Sell, OrderType::Market, "400"),
            &bar("50", "51", "49", "50", "10000"),
            &model(),
        );
        assert_eq!(fill(decision), (d("400"), d("49.99"), d("2")));
    }

    #[test]
    fn a_market_order_on_submission_fills_at_the_last_close_plus_slippage() {
        // 200 × 1.0002 = 200.04, whatever the last bar's open was.
        let decision = on_submit(
            &order(OrderSide::Buy, OrderType::Market, "10"),
            &bar("190", "201", "189", "200", "1000"),
            &model(),
        );
        assert_eq!(fill(decision), (d("10"), d("200.04"), d("1")));
    }

    #[test]
    fn a_limit_buy_fills_at_its_limit_when_the_low_reaches_it() {
        let limit = OrderType::Limit { limit: px("99.5") };
        let decision = on_bar(
            &order(OrderSide::Buy, limit, "10"),
            &bar("100", "100.2", "99.4", "99.8", "1000"),
            &model(),
        );
        assert_eq!(fill(decision), (d("10"), d("99.5"), d("1")));
        let untouched = on_bar(
            &order(OrderSide::Buy, limit, "10"),
            &bar("100", "100.2", "99.6", "99.8", "1000"),
            &model(),
        );
        assert_eq!(untouched, Decision::default());
    }

    #[test]
    fn a_limit_buy_gapped_through_fills_at_the_better_open() {
        let decision = on_bar(
            &order(OrderSide::Buy, OrderType::Limit { limit: px("99.5") }, "10"),
            &bar("98", "98.5", "97", "98.2", "1000"),
            &model(),
        );
        assert_eq!(fill(decision), (d("10"), d("98"), d("1")));
    }

    #[test]
    fn a_limit_sell_fills_at_its_limit_or_a_better_open() {
        let limit = OrderType::Limit { limit: px("101") };
        let touched = on_bar(
            &order(OrderSide::Sell, limit, "10"),
            &bar("100", "101.5", "99.5", "100", "1000"),
            &model(),
        );
        assert_eq!(fill(touched), (d("10"), d("101"), d("1")));
        let gapped = on_bar(
            &order(OrderSide::Sell, limit, "10"),
            &bar("102", "102.5", "101.5", "102", "1000"),
            &model(),
        );
        assert_eq!(fill(gapped), (d("10"), d("102"), d("1")));
    }

    #[test]
    fn a_marketable_limit_on_submission_fills_at_the_last_close() {
        let decision = on_submit(
            &order(OrderSide::Buy, OrderType::Limit { limit: px("105") }, "10"),
            &bar("100", "104", "99", "103", "1000"),
            &model(),
        );
        assert_eq!(fill(decision), (d("10"), d("103"), d("1")));
        let not_marketable = on_submit(
            &order(OrderSide::Buy, OrderType::Limit { limit: px("102") }, "10"),
            &bar("100", "104", "99", "103", "1000"),
            &model(),
        );
        assert_eq!(not_marketable.fill, None);
    }

    #[test]
    fn a_buy_stop_triggers_at_the_high_and_fills_at_the_stop_plus_slippage() {
        // max(105, 104) = 105; 105 × 1.0002 = 105.021.
        let decision = on_bar(
            &order(OrderSide::Buy, OrderType::Stop { stop: px("105") }, "10"),
            &bar("104", "105.5", "103.5", "105.2", "1000"),
            &model(),
        );
        assert!(decision.triggered);
        assert_eq!(fill(decision), (d("10"), d("105.021"), d("1")));
    }

    #[test]
    fn a_buy_stop_gapped_through_fills_at_the_worse_open() {
        // max(105, 106) = 106; 106 × 1.0002 = 106.0212.
        let decision = on_bar(
            &order(OrderSide::Buy, OrderType::Stop { stop: px("105") }, "10"),
            &bar("106", "107", "105.5", "106.5", "1000"),
            &model(),
        );
        assert_eq!(fill(decision), (d("10"), d("106.0212"), d("1")));
    }

    #[test]
    fn a_sell_stop_triggers_at_the_low_and_an_untouched_stop_waits() {
        // min(95, 96) = 95; 95 × 0.9998 = 94.981.
        let stop = OrderType::Stop { stop: px("95") };
        let decision = on_bar(
            &order(OrderSide::Sell, stop, "10"),
            &bar("96", "96.5", "94", "94.5", "1000"),
            &model(),
        );
        assert_eq!(fill(decision), (d("10"), d("94.981"), d("1")));
        let waiting = on_bar(
            &order(OrderSide::Sell, stop, "10"),
            &bar("96", "96.5", "95.1", "95.5", "1000"),
            &model(),
        );
        assert_eq!(waiting, Decision::default());
    }

    #[test]
    fn a_stop_limit_triggers_then_fills_as_a_limit_from_the_trigger_price() {
        // Triggered at 105 (above the open of 104); the trigger price is within the limit, so the
        // fill is at 105, not at the open the order never saw.
        let stop_limit = OrderType::StopLimit {
            stop: px("105"),
            limit: px("105.5"),
        };
        let decision = on_bar(
            &order(OrderSide::Buy, stop_limit, "10"),
            &bar("104", "106", "103.5", "105.8", "1000"),
            &model(),
        );
        assert!(decision.triggered);
        assert_eq!(fill(decision), (d("10"), d("105"), d("1")));
    }

    #[test]
    fn a_stop_limit_gapped_past_its_limit_triggers_without_filling() {
        let stop_limit = OrderType::StopLimit {
            stop: px("105"),
            limit: px("105.5"),
        };
        let decision = on_bar(
            &order(OrderSide::Buy, stop_limit, "10"),
            &bar("107", "108", "106", "107", "1000"),
            &model(),
        );
        assert!(decision.triggered);
        assert_eq!(decision.fill, None);
        // Triggered, it now rests as a buy limit at 105.5 and fills when the low comes back.
        let triggered = WorkingOrder {
            triggered: true,
            ..order(OrderSide::Buy, stop_limit, "10")
        };
        let later = on_bar(
            &triggered,
            &bar("106", "106", "105", "105.2", "1000"),
            &model(),
        );
        assert!(!later.triggered);
        assert_eq!(fill(later), (d("10"), d("105.5"), d("1")));
    }

    #[test]
    fn volume_participation_caps_a_fill_to_whole_shares() {
        // 10% of 1 234 is 123.4 → 123 whole shares; commission 123 × 0.005 = 0.615 → minimum 1.
        let decision = on_bar(
            &order(OrderSide::Buy, OrderType::Market, "500"),
            &bar("10", "10", "10", "10", "1234"),
            &model(),
        );
        assert_eq!(fill(decision), (d("123"), d("10.002"), d("1")));
        assert!(!decision.cancel_rest);
        let rest = WorkingOrder {
            filled_quantity: qty("480"),
            ..order(OrderSide::Buy, OrderType::Market, "500")
        };
        let last = on_bar(&rest, &bar("10", "10", "10", "10", "1234"), &model());
        assert_eq!(fill(last).0, d("20"));
    }

    #[test]
    fn a_fractional_order_takes_a_fractional_share_of_the_volume() {
        // 10% of 12.5 is 1.25, below the 2.5 ordered.
        let decision = on_bar(
            &order(OrderSide::Buy, OrderType::Market, "2.5"),
            &bar("10", "10", "10", "10", "12.5"),
            &model(),
        );
        assert_eq!(fill(decision).0, d("1.25"));
    }

    #[test]
    fn too_little_volume_for_one_share_fills_nothing() {
        let decision = on_bar(
            &order(OrderSide::Buy, OrderType::Market, "5"),
            &bar("10", "10", "10", "10", "9"),
            &model(),
        );
        assert_eq!(decision, Decision::default());
    }

    #[test]
    fn a_bar_without_volume_sets_no_cap() {
        let decision = on_bar(
            &order(OrderSide::Buy, OrderType::Market, "5000"),
            &bar("10", "10", "10", "10", "0"),
            &model(),
        );
        assert_eq!(fill(decision).0, d("5000"));
    }

    #[test]
    fn commission_is_per_share_above_the_minimum_rounded_to_cents() {
        let model = model();
        assert_eq!(model.commission(qty("100")).value(), d("1"));
        // 1 001 × 0.005 = 5.005 → 5.01 (half away from zero).
        assert_eq!(model.commission(qty("1001")).value(), d("5.01"));
        assert_eq!(model.commission(qty("0.5")).value(), d("1"));
    }

    #[test]
    fn ioc_fills_what_the_bar_allows_and_cancels_the_rest() {
        let ioc = WorkingOrder {
            time_in_force: TimeInForce::Ioc,
            ..order(OrderSide::Buy, OrderType::Market, "500")
        };
        let decision = on_bar(&ioc, &bar("10", "10", "10", "10", "1000"), &model());
        assert_eq!(fill(decision).0, d("100"));
        assert!(decision.cancel_rest);
        let unfillable = WorkingOrder {
            order_type: OrderType::Limit { limit: px("9") },
            ..ioc
        };
        let nothing = on_bar(&unfillable, &bar("10", "10", "10", "10", "1000"), &model());
        assert_eq!(nothing.fill, None);
        assert!(nothing.cancel_rest);
    }

    #[test]
    fn fok_fills_everything_at_once_or_nothing() {
        let fok = WorkingOrder {
            time_in_force: TimeInForce::Fok,
            ..order(OrderSide::Buy, OrderType::Market, "100")
        };
        let whole = on_bar(&fok, &bar("10", "10", "10", "10", "1000"), &model());
        assert_eq!(fill(whole).0, d("100"));
        assert!(!whole.cancel_rest);
        let killed = on_bar(&fok, &bar("10", "10", "10", "10", "999"), &model());
        assert_eq!(killed.fill, None);
        assert!(killed.cancel_rest);
    }

    #[test]
    fn a_filled_order_does_nothing() {
        let done = WorkingOrder {
            filled_quantity: qty("10"),
            ..order(OrderSide::Buy, OrderType::Market, "10")
        };
        assert_eq!(
            on_bar(&done, &bar("10", "10", "10", "10", "0"), &model()),
            Decision::default()
        );
    }
}
