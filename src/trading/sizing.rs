//! Sizing and the read-only risk views scripts get: fractional Kelly clipped by host limits (the
//! clip recorded), limit utilisation, a dry-run check, and alerts raised from risk events.

use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use serde::Serialize;

use super::{Desk, Result, TradeRequest};
use crate::domain::{Money, Price, Quantity, Symbol};
use crate::risk::{EdgeStats, kelly_size};

/// A Kelly size and how it was bounded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KellySize {
    /// The quantity to trade after every bound.
    pub quantity: Quantity,
    /// The full Kelly fraction from the realised edge.
    pub kelly: f64,
    /// The fraction of equity used after the multiplier and the cap.
    pub fraction: f64,
    /// Whether the configured maximum fraction bound.
    pub capped: bool,
    /// The quantity before host limits.
    pub unclipped: Quantity,
    /// The host limit that clipped it, if any.
    pub clipped_by: Option<String>,
    /// The edge it came from.
    pub trades: usize,
    /// Winning share of those trades.
    pub win_rate: f64,
}

/// How much of one limit is in use.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Usage {
    /// The limit's key in `risk.toml`.
    pub limit: String,
    /// In use now.
    pub used: f64,
    /// The limit.
    pub maximum: f64,
    /// used / maximum.
    pub ratio: f64,
}

/// A dry-run decision: what the engine would say now, with nothing sent or taken.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Preview {
    /// `accepted`, `clipped` or `refused`.
    pub outcome: String,
    /// The quantity that would pass.
    pub quantity: Option<Quantity>,
    /// The rule that bound.
    pub rule: Option<String>,
    /// Why.
    pub reason: Option<String>,
}

fn usage(limit: &str, used: Decimal, maximum: Decimal) -> Usage {
    let used = used.to_f64().unwrap_or(0.0);
    let maximum = maximum.to_f64().unwrap_or(0.0);
    Usage {
        limit: limit.to_owned(),
        used,
        maximum,
        ratio: if maximum > 0.0 { used / maximum } else { 0.0 },
    }
}

impl Desk {
    /// Fractional Kelly from realised trade results (`pnls`), `multiplier` of full Kelly capped
    /// at `max_fraction` of equity, then clipped by the per-order and per-position limits. A clip
    /// by a host limit is stored as a risk event.
    pub async fn kelly_size(
        &self,
        symbol: &Symbol,
        price: Price,
        pnls: &[Money],
        multiplier: f64,
        max_fraction: f64,
    ) -> Result<KellySize> {
        let account = self.broker.account().await?;
        let edge = EdgeStats::from_trades(pnls);
        let kelly = edge.kelly_fraction();
        let (unclipped, capped) =
            kelly_size(account.equity, kelly, multiplier, max_fraction, price);
        let limits = self.limits();
        let per_price = |notional: Decimal| {
            (notional / price.value())
                .round_dp_with_strategy(0, rust_decimal::RoundingStrategy::ToZero)
        };
        let bounds = [
            ("max_order_quantity", limits.max_order_quantity),
            ("max_order_notional", per_price(limits.max_order_notional)),
            (
                "max_position_notional",
                per_price(limits.max_position_notional),
            ),
            (
                "max_position_percent_of_equity",
                per_price(
                    account.equity.value().max(Decimal::ZERO)
                        * limits.max_position_percent_of_equity
                        / Decimal::ONE_HUNDRED,
                ),
            ),
        ];
        let mut quantity = unclipped.value();
        let mut clipped_by = None;
        for (key, bound) in bounds {
            if quantity > bound {
                quantity = bound;
                clipped_by = Some(key.to_owned());
            }
        }
        let quantity = Quantity::new(quantity.max(Decimal::ZERO)).unwrap_or(Quantity::ZERO);
        if let Some(key) = &clipped_by {
            self.ledger
                .insert_risk_event(
                    self.clock.now(),
                    "sizing_clip",
                    "info",
                    &format!("Kelly size {unclipped} {symbol} clipped to {quantity} by {key}"),
                    &serde_json::json!({ "symbol": symbol, "unclipped": unclipped, "quantity": quantity, "limit": key, "kelly": kelly }),
                )
                .await?;
        }
        Ok(KellySize {
            quantity,
            kelly,
            fraction: (kelly * multiplier).clamp(0.0, max_fraction.max(0.0)),
            capped,
            unclipped,
            clipped_by,
            trades: edge.trades,
            win_rate: edge.win_rate,
        })
    }

    /// How much of each portfolio-wide limit is in use.
    pub async fn utilisation(&self) -> Result<Vec<Usage>> {
        let account = self.broker.account().await?;
        let positions = self.broker.positions().await?;
        let limits = self.limits();
        let state = self.risk_state();
        let gross: Decimal = positions.iter().map(|p| p.market_value.value().abs()).sum();
        let net: Decimal = positions.iter().map(|p| p.market_value.value()).sum();
        let equity = account.equity.value();
        let leverage = if equity > Decimal::ZERO {
            gross / equity
        } else {
            Decimal::ZERO
        };
        let open_orders = Decimal::from(self.ledger.open_order_count().await?);
        let daily_loss = (-state.daily_pnl().value()).max(Decimal::ZERO);
        Ok(vec![
            usage("max_gross_exposure", gross, limits.max_gross_exposure),
            usage("max_net_exposure", net.abs(), limits.max_net_exposure),
            usage("max_leverage", leverage, limits.max_leverage),
            usage(
                "max_open_positions",
                Decimal::from(positions.iter().filter(|p| !p.quantity.is_zero()).count()),
                Decimal::from(limits.max_open_positions),
            ),
            usage(
                "max_open_orders",
                open_orders,
                Decimal::from(limits.max_open_orders),
            ),
            usage("max_daily_loss", daily_loss, limits.max_daily_loss),
            usage(
                "max_drawdown_percent",
                state.drawdown_percent(),
                limits.max_drawdown_percent,
            ),
        ])
    }

    /// What the engine would decide for `request` now; nothing is stored, sent or taken.
    pub async fn preview(&self, request: &TradeRequest) -> Result<Preview> {
        let (decision, quantity) = self.preview_decision(request).await?;
        let (outcome, rule, reason) = super::submit::describe(&decision);
        Ok(Preview {
            outcome: outcome.to_owned(),
            quantity,
            rule,
            reason,
        })
    }

    /// Turns risk events that need people (warnings and worse) into alerts, once each.
    pub async fn raise_risk_alerts(&self) -> Result<Vec<String>> {
        let now = self.clock.now();
        let mut raised = Vec::new();
        let mut events = self.ledger.risk_events(true, 500).await?;
        events.reverse();
        for event in events {
            if !self.ledger.mark_risk_event_alerted(event.id, now).await? {
                continue;
            }
            if event.severity == "info" {
                continue;
            }
            self.ledger
                .insert_alert(
                    now,
                    "risk",
                    &event.severity,
                    &event.message,
                    &serde_json::json!({ "risk_event": event.id, "kind": event.kind }),
                )
                .await?;
            raised.push(event.message);
        }
        Ok(raised)
    }
}

/// A float from a script as a price.
pub fn price_from_f64(value: f64) -> Option<Price> {
    Decimal::from_f64(value).and_then(|decimal| Price::new(decimal.round_dp(6)).ok())
}
