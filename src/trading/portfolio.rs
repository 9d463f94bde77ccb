//! What the risk engine looks at (the broker's account and positions, the last prices, the
//! market's hours) and the positions and equity snapshots the `update_positions` flow stores.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde::Serialize;

use super::{Desk, Result};
use crate::broker::BrokerPosition;
use crate::domain::{Money, OrderSide, Price, Symbol};
use crate::risk::{
    CheckInputs, Decision, MarketSnapshot, Outcome, PortfolioSnapshot, PositionSnapshot, RiskState,
    RuleName,
};
use crate::store::{PositionRecord, SnapshotRecord};

/// The account as `update_positions` found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortfolioSummary {
    /// Equity.
    pub equity: Money,
    /// Cash.
    pub cash: Money,
    /// Open positions.
    pub positions: usize,
    /// Σ unrealised P&L.
    pub unrealised_pnl: Money,
    /// Σ |market value|.
    pub gross_exposure: Money,
    /// Σ market value.
    pub net_exposure: Money,
    /// The risk mode after observing this equity.
    pub mode: String,
}

impl Desk {
    /// The portfolio, the market and the shortability the engine checks `request` against.
    pub(super) async fn inputs_for(
        &self,
        request: &super::TradeRequest,
    ) -> Result<(PortfolioSnapshot, MarketSnapshot, bool)> {
        let account = self.broker.account().await?;
        let positions = self.broker.positions().await?;
        let now = self.clock.now();
        let day_start = self
            .calendar
            .session(crate::risk::trading_day(now))
            .map(|session| session.open - chrono::Duration::hours(6))
            .unwrap_or(now - chrono::Duration::hours(24));
        let (open_orders, orders_today) = self.ledger.order_counts(day_start).await?;
        let open_orders = u32::try_from(open_orders).unwrap_or(u32::MAX);
        let orders_today = u32::try_from(orders_today).unwrap_or(u32::MAX);
        let mut last_prices = HashMap::new();
        for position in &positions {
            if let Some(price) = position.current_price {
                last_prices.insert(position.symbol.clone(), price);
            }
        }
        if let Some(price) = self.last_price(&request.symbol).await? {
            last_prices.insert(request.symbol.clone(), price);
        }
        let held = positions
            .iter()
            .find(|position| position.symbol == request.symbol)
            .map_or(Decimal::ZERO, |position| position.quantity);
        // Asking the broker costs a request, so only when the order would sell beyond the holding.
        let shortable = if request.side == OrderSide::Sell && request.quantity.value() > held {
            self.broker
                .asset(&request.symbol)
                .await
                .map(|asset| asset.shortable)
                .unwrap_or(false)
        } else {
            false
        };
        let portfolio = PortfolioSnapshot {
            equity: account.equity,
            cash: account.cash,
            positions: snapshot_positions(&positions),
            open_orders,
            orders_today,
            realised_pnl_today: Money::ZERO,
            unrealised_pnl: positions
                .iter()
                .fold(Money::ZERO, |sum, position| sum + position.unrealised_pnl),
        };
        let market = MarketSnapshot {
            last_prices,
            market_open: self.calendar.is_open(now),
            minutes_to_close: self
                .calendar
                .session_at(now)
                .map(|session| (session.close - now).num_minutes()),
        };
        Ok((portfolio, market, shortable))
    }

    /// The newest price the host has for `symbol`: the last stored one-minute bar's close.
    pub async fn last_price(&self, symbol: &Symbol) -> Result<Option<Price>> {
        if let Some(source) = self.prices.get() {
            return Ok(source(symbol));
        }
        Ok(self
            .ledger
            .last_minute_close(symbol, self.clock.now())
            .await?)
    }

    /// A refusal when reconciliation blocks the symbol or the whole account.
    pub(super) async fn blocked(&self, request: &super::TradeRequest) -> Result<Option<Decision>> {
        let blocking = self
            .ledger
            .blocking_mismatch(request.symbol.as_str())
            .await?;
        // An operator's flatten must get through: it is how a blocked book is brought home.
        if request.operator_flatten {
            return Ok(None);
        }
        Ok(blocking.map(|mismatch| Decision {
            outcome: Outcome::Refused {
                rule: RuleName::ReconciliationMismatch,
                reason: format!(
                    "{} is blocked by reconciliation #{} ({}: local {}, broker {}) until it is resolved",
                    mismatch.symbol.as_deref().unwrap_or("the account"),
                    mismatch.reconciliation_id,
                    mismatch.kind,
                    mismatch.local_value.as_deref().unwrap_or("none"),
                    mismatch.broker_value.as_deref().unwrap_or("none"),
                ),
            },
            inputs: CheckInputs::default(),
        }))
    }

    /// Stores the engine's state when it changed, with an event for the new mode.
    pub(super) async fn persist_state(&self, changed: Option<RiskState>) -> Result<()> {
        let Some(state) = changed else {
            return Ok(());
        };
        let now = self.clock.now();
        self.ledger
            .save_risk_state(&serde_json::to_value(&state).unwrap_or_default(), now)
            .await?;
        let (severity, message) = match &state.mode {
            crate::risk::TradingMode::Active => ("info", "trading is active".to_owned()),
            crate::risk::TradingMode::Reducing { reason, .. } => {
                ("warning", format!("reducing only: {reason}"))
            }
            crate::risk::TradingMode::Halted { reason, .. } => {
                ("critical", format!("trading halted: {reason}"))
            }
        };
        self.ledger
            .insert_risk_event(
                now,
                "mode_change",
                severity,
                &message,
                &serde_json::to_value(&state.mode).unwrap_or_default(),
            )
            .await?;
        tracing::warn!(%message, "risk mode changed");
        Ok(())
    }

    /// Reads the broker's positions and account, stores them with an equity snapshot, and lets
    /// the engine observe the equity (a new day, a daily loss or a drawdown changes the mode).
    pub async fn update_positions(&self) -> Result<PortfolioSummary> {
        let account = self.broker.account().await?;
        let positions = self.broker.positions().await?;
        let now = self.clock.now();
        let records: Vec<PositionRecord> = positions
            .iter()
            .map(|position| PositionRecord {
                symbol: position.symbol.clone(),
                quantity: position.quantity,
                average_entry_price: position.average_entry_price,
                current_price: position.current_price,
                market_value: position.market_value,
                unrealised_pnl: position.unrealised_pnl,
                updated_at: now,
            })
            .collect();
        self.ledger.replace_positions(&records).await?;
        let changed = self.with_engine(|engine| {
            let before = engine.state().mode.clone();
            let limits = engine.limits().clone();
            let state = engine.state_mut();
            state.observe_equity(&limits, account.equity, now);
            (state.mode != before).then(|| state.clone())
        });
        self.persist_state(changed).await?;
        // The peak and the day's figures move with every observation; keep them across restarts.
        let state = self.risk_state();
        self.ledger
            .save_risk_state(&serde_json::to_value(&state).unwrap_or_default(), now)
            .await?;
        let unrealised = positions
            .iter()
            .fold(Money::ZERO, |sum, position| sum + position.unrealised_pnl);
        let gross = positions.iter().fold(Money::ZERO, |sum, position| {
            sum + Money::new(position.market_value.value().abs())
        });
        let net = positions
            .iter()
            .fold(Money::ZERO, |sum, position| sum + position.market_value);
        let mode = state.mode.name().to_owned();
        self.ledger
            .insert_snapshot(&SnapshotRecord {
                time: now,
                equity: account.equity,
                cash: account.cash,
                gross_exposure: gross,
                net_exposure: net,
                unrealised_pnl: unrealised,
                mode: mode.clone(),
            })
            .await?;
        Ok(PortfolioSummary {
            equity: account.equity,
            cash: account.cash,
            positions: positions.len(),
            unrealised_pnl: unrealised,
            gross_exposure: gross,
            net_exposure: net,
            mode,
        })
    }
}

fn snapshot_positions(positions: &[BrokerPosition]) -> HashMap<Symbol, PositionSnapshot> {
    positions
        .iter()
        .map(|position| {
            (
                position.symbol.clone(),
                PositionSnapshot {
                    quantity: position.quantity,
                    average_price: position.average_entry_price,
                },
            )
        })
        .collect()
}
