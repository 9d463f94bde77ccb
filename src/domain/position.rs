//! Positions and the realised profit and loss that fills produce.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{Money, OrderSide, Price, Quantity, Symbol};

/// A net holding in one symbol: positive quantity is long, negative is short.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The instrument.
    pub symbol: Symbol,
    /// Signed quantity: long above zero, short below.
    pub quantity: Decimal,
    /// The average price of the open quantity; `None` when flat.
    pub average_entry_price: Option<Price>,
    /// Profit and loss locked in by closing fills, before commissions.
    pub realised_pnl: Money,
}

impl Position {
    /// No holding.
    pub fn flat(symbol: Symbol) -> Self {
        Self {
            symbol,
            quantity: Decimal::ZERO,
            average_entry_price: None,
            realised_pnl: Money::ZERO,
        }
    }

    /// Applies a fill. Adding to the position moves the average price; reducing it realises P&L
    /// against the average price; crossing zero realises the closed part and opens the rest at the
    /// fill price.
    pub fn apply_fill(&mut self, side: OrderSide, quantity: Quantity, price: Price) {
        let delta = side.sign() * quantity.value();
        let current = self.quantity;
        let average = self.average_entry_price.map_or(Decimal::ZERO, Price::value);
        let same_direction =
            current.is_zero() || current.is_sign_positive() == delta.is_sign_positive();
        if same_direction {
            let total = current + delta;
            let cost = average * current.abs() + price.value() * delta.abs();
            self.average_entry_price = Price::new(cost / total.abs()).ok();
            self.quantity = total;
            return;
        }
        let closed = delta.abs().min(current.abs());
        // A long closed by a sell gains (price − average); a short closed by a buy gains (average − price).
        let gain_per_unit = (price.value() - average)
            * if current.is_sign_positive() {
                Decimal::ONE
            } else {
                Decimal::NEGATIVE_ONE
            };
        self.realised_pnl += Money::new(gain_per_unit * closed);
        let remaining = current + delta;
        self.quantity = remaining;
        self.average_entry_price = if remaining.is_zero() {
            None
        } else if remaining.is_sign_positive() == current.is_sign_positive() {
            self.average_entry_price
        } else {
            Some(price)
        };
    }

    /// Profit or loss of the open quantity at `mark`.
    pub fn unrealised_pnl(&self, mark: Price) -> Money {
        let average = self.average_entry_price.map_or(Decimal::ZERO, Price::value);
        Money::new((mark.value() - average) * self.quantity)
    }

    /// The absolute market value at `mark`.
    pub fn market_value(&self, mark: Price) -> Money {
        Money::new(mark.value() * self.quantity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn qty(value: i64) -> Quantity {
        Quantity::new(Decimal::from(value)).expect("non-negative")
    }

    fn px(value: i64) -> Price {
        Price::new(Decimal::from(value)).expect("positive")
    }

    fn position() -> Position {
        Position::flat(Symbol::parse("XOM").expect("valid"))
    }

    #[test]
    fn a_round_trip_long_realises_the_price_difference() {
        let mut position = position();
        position.apply_fill(OrderSide::Buy, qty(10), px(100));
        position.apply_fill(OrderSide::Buy, qty(10), px(110));
        assert_eq!(position.average_entry_price, Some(px(105)));
        position.apply_fill(OrderSide::Sell, qty(20), px(120));
        assert_eq!(position.realised_pnl, Money::new(Decimal::from(300)));
        assert_eq!(position.quantity, Decimal::ZERO);
        assert_eq!(position.average_entry_price, None);
    }

    #[test]
    fn a_short_gains_when_the_price_falls_and_flips_at_the_fill_price() {
        let mut position = position();
        position.apply_fill(OrderSide::Sell, qty(5), px(50));
        assert_eq!(
            position.unrealised_pnl(px(40)),
            Money::new(Decimal::from(50))
        );
        position.apply_fill(OrderSide::Buy, qty(8), px(40));
        assert_eq!(position.realised_pnl, Money::new(Decimal::from(50)));
        assert_eq!(position.quantity, Decimal::from(3));
        assert_eq!(position.average_entry_price, Some(px(40)));
    }

    proptest! {
        #[test]
        fn realised_plus_unrealised_equals_cash_flow(fills in proptest::collection::vec((any::<bool>(), 1i64..100, 1i64..500), 1..30), mark in 1i64..500) {
            // Whatever the fills, total P&L must equal the cash spent and received plus the value held.
            let mut position = position();
            let mut cash = Decimal::ZERO;
            for (buy, quantity, price) in fills {
                let side = if buy { OrderSide::Buy } else { OrderSide::Sell };
                position.apply_fill(side, qty(quantity), px(price));
                cash -= side.sign() * Decimal::from(quantity) * Decimal::from(price);
            }
            let total = position.realised_pnl + position.unrealised_pnl(px(mark));
            let expected = cash + Decimal::from(mark) * position.quantity;
            prop_assert_eq!(total.value().round_dp(8), expected.round_dp(8));
        }
    }
}
