//! Position sizing by fractional Kelly (SPEC §6.4): the edge from realised trades, the Kelly
//! fraction it implies, and the quantity that fraction of equity buys, capped by a maximum fraction.
//!
//! The result is a suggestion; the engine's limits still clip it. Kelly statistics are analytics, so
//! they use `f64`; cash and quantities stay decimal.

use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::domain::{Money, Price, Quantity};

/// The realised edge of a strategy over a lookback of closed trades.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EdgeStats {
    /// How many trades the figures come from.
    pub trades: usize,
    /// The share of trades that made money, 0 to 1. Break-even trades count as trades, not wins.
    pub win_rate: f64,
    /// The mean profit of winning trades (positive).
    pub average_win: f64,
    /// The mean loss of losing trades, as a positive number.
    pub average_loss: f64,
}

impl EdgeStats {
    /// The statistics of `pnls`, one entry per closed trade; all zero when there are none.
    pub fn from_trades(pnls: &[Money]) -> Self {
        let (mut wins, mut win_total, mut losses, mut loss_total) = (0usize, 0.0, 0usize, 0.0);
        for pnl in pnls {
            let value = pnl.value().to_f64().unwrap_or(0.0);
            if value > 0.0 {
                wins += 1;
                win_total += value;
            } else if value < 0.0 {
                losses += 1;
                loss_total -= value;
            }
        }
        let mean = |total: f64, count: usize| {
            if count == 0 {
                0.0
            } else {
                total / count as f64
            }
        };
        Self {
            trades: pnls.len(),
            win_rate: mean(wins as f64, pnls.len()),
            average_win: mean(win_total, wins),
            average_loss: mean(loss_total, losses),
        }
    }

    /// The full Kelly fraction these statistics imply.
    pub fn kelly_fraction(&self) -> f64 {
        kelly_fraction(self.win_rate, self.average_win, self.average_loss)
    }
}

/// The full Kelly fraction f* = p − (1 − p) / b with b = average win / average loss. No edge
/// (f* ≤ 0) gives 0. Without losses the formula says "bet everything", which a lookback without a
/// loss does not justify, so it gives the win rate instead; without wins it gives 0.
pub fn kelly_fraction(win_rate: f64, average_win: f64, average_loss: f64) -> f64 {
    let valid = win_rate.is_finite() && average_win.is_finite() && average_loss.is_finite();
    if !valid || win_rate <= 0.0 || average_win <= 0.0 {
        return 0.0;
    }
    let win_rate = win_rate.min(1.0);
    if average_loss <= 0.0 {
        return win_rate;
    }
    let payoff = average_win / average_loss;
    (win_rate - (1.0 - win_rate) / payoff).max(0.0)
}

/// The whole units that `kelly × multiplier` of `equity` buys at `price`, with the fraction capped
/// at `max_fraction`. Returns the quantity and whether the cap bound.
pub fn kelly_size(
    equity: Money,
    kelly: f64,
    multiplier: f64,
    max_fraction: f64,
    price: Price,
) -> (Quantity, bool) {
    let wanted = (kelly * multiplier).max(0.0);
    let cap = max_fraction.max(0.0);
    let clipped = wanted > cap;
    let fraction = Decimal::from_f64(wanted.min(cap)).unwrap_or(Decimal::ZERO);
    let units = (equity.value().max(Decimal::ZERO) * fraction / price.value())
        .round_dp_with_strategy(0, RoundingStrategy::ToZero);
    (Quantity::new(units).unwrap_or(Quantity::ZERO), clipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(value: i64) -> Money {
        Money::new(Decimal::from(value))
    }

    fn close(left: f64, right: f64) -> bool {
        (left - right).abs() < 1e-12
    }

    #[test]
    fn sixty_percent_wins_at_even_payoff_gives_a_fifth() {
        assert!(close(kelly_fraction(0.6, 1.0, 1.0), 0.2));
    }

    #[test]
    fn half_the_trades_winning_twice_the_loss_gives_a_quarter() {
        // f* = 0.5 − 0.5 / 2 = 0.25.
        assert!(close(kelly_fraction(0.5, 2.0, 1.0), 0.25));
    }

    #[test]
    fn no_edge_gives_zero() {
        assert_eq!(kelly_fraction(0.4, 1.0, 1.0), 0.0);
        assert_eq!(kelly_fraction(0.5, 1.0, 1.0), 0.0);
        assert_eq!(kelly_fraction(f64::NAN, 1.0, 1.0), 0.0);
        assert_eq!(kelly_fraction(0.6, 0.0, 1.0), 0.0);
    }

    #[test]
    fn edge_stats_come_from_wins_and_losses() {
        let stats =
            EdgeStats::from_trades(&[money(100), money(-50), money(200), money(-50), money(0)]);
        assert_eq!(stats.trades, 5);
        assert!(close(stats.win_rate, 0.4));
        assert!(close(stats.average_win, 150.0));
        assert!(close(stats.average_loss, 50.0));
        // 0.4 − 0.6 / 3 = 0.2.
        assert!(close(stats.kelly_fraction(), 0.2));
        assert_eq!(EdgeStats::from_trades(&[]).kelly_fraction(), 0.0);
    }

    #[test]
    fn half_kelly_below_the_cap_is_not_clipped() {
        let price = Price::new(Decimal::from(50)).expect("positive");
        // 100,000 × 0.2 × 0.5 = 10,000 → 200 units at 50.
        let (quantity, clipped) = kelly_size(money(100_000), 0.2, 0.5, 0.25, price);
        assert_eq!(quantity, Quantity::new(Decimal::from(200)).expect("valid"));
        assert!(!clipped);
    }

    #[test]
    fn full_kelly_above_the_cap_is_clipped_to_the_cap() {
        let price = Price::new(Decimal::from(30)).expect("positive");
        // 0.4 wanted, capped at 0.1: 10,000 / 30 = 333.3 → 333 whole units.
        let (quantity, clipped) = kelly_size(money(100_000), 0.4, 1.0, 0.1, price);
        assert_eq!(quantity, Quantity::new(Decimal::from(333)).expect("valid"));
        assert!(clipped);
    }
}
