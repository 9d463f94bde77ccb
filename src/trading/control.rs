//! Operator control: the kill switch (halt, cancel, optionally flatten), resume, the risk status,
//! and hot reload of `config/risk.toml` (validated first; loosening logged as such).

use serde::Serialize;

use super::{Desk, Result, TradeRequest, limits_file};
use crate::domain::{OrderSide, OrderType, Quantity, TimeInForce};
use crate::risk::{RiskLimits, RiskState};

/// The risk picture for the CLI, the API and scripts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RiskStatus {
    /// `active`, `reducing` or `halted`.
    pub mode: String,
    /// The engine's whole state (reason, since, peak equity, day start, losing streak).
    #[schema(value_type = Object)]
    pub state: RiskState,
    /// The limits in force.
    #[schema(value_type = Object)]
    pub limits: RiskLimits,
    /// Orders working.
    pub open_orders: usize,
    /// Symbols refused until reconciliation is resolved.
    pub blocked_symbols: Vec<String>,
}

/// What the kill switch did.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct HaltReport {
    /// Orders whose cancel the broker accepted.
    pub cancelled: Vec<String>,
    /// Closing orders sent (when flattening).
    pub flattened: Vec<super::TradeOutcome>,
    /// What could not be done, and why.
    pub errors: Vec<String>,
}

impl Desk {
    /// The kill switch: halts trading (latched until an operator resumes), cancels every open
    /// order at the broker, and, when asked, closes every position with market orders.
    pub async fn halt(&self, reason: &str, operator: &str, flatten: bool) -> Result<HaltReport> {
        let now = self.clock.now();
        let state = self.with_engine(|engine| {
            engine
                .state_mut()
                .halt(&format!("{reason} (by {operator})"), now);
            engine.state().clone()
        });
        self.ledger
            .save_risk_state(&serde_json::to_value(&state).unwrap_or_default(), now)
            .await?;
        self.ledger
            .insert_risk_event(
                now,
                "kill_switch",
                "critical",
                &format!("trading halted by {operator}: {reason}"),
                &serde_json::json!({ "operator": operator, "reason": reason, "flatten": flatten }),
            )
            .await?;
        tracing::error!(%operator, %reason, flatten, "kill switch: trading halted");
        let mut report = HaltReport::default();
        // The broker's list, not ours: an order we do not know about must stop too.
        match self.broker.open_orders().await {
            Ok(orders) => {
                for order in orders {
                    match self.broker.cancel(&order.broker_order_id).await {
                        Ok(()) => report
                            .cancelled
                            .push(order.client_order_id.as_str().to_owned()),
                        Err(error) => report
                            .errors
                            .push(format!("cancel {}: {error}", order.client_order_id)),
                    }
                }
            }
            Err(error) => report.errors.push(format!("listing open orders: {error}")),
        }
        if flatten {
            match self.broker.positions().await {
                Ok(positions) => {
                    for position in positions.into_iter().filter(|p| !p.quantity.is_zero()) {
                        let side = if position.quantity > rust_decimal::Decimal::ZERO {
                            OrderSide::Sell
                        } else {
                            OrderSide::Buy
                        };
                        let Ok(quantity) = Quantity::new(position.quantity.abs()) else {
                            continue;
                        };
                        let outcome = self
                            .submit(TradeRequest {
                                strategy: "operator".to_owned(),
                                script_hash: None,
                                run_id: None,
                                symbol: position.symbol.clone(),
                                side,
                                quantity,
                                order_type: OrderType::Market,
                                time_in_force: TimeInForce::Day,
                                operator_flatten: true,
                            })
                            .await?;
                        report.flattened.push(outcome);
                    }
                }
                Err(error) => report.errors.push(format!("listing positions: {error}")),
            }
        }
        // Cancels and flattening orders show up in the outbox on the next pass anyway; doing it
        // now makes the status the operator sees true at once.
        if let Err(error) = self.sync_orders().await {
            report.errors.push(format!("syncing orders: {error}"));
        }
        Ok(report)
    }

    /// Lifts a halt. Only an operator can, by name.
    pub async fn resume(&self, operator: &str) -> Result<RiskStatus> {
        let now = self.clock.now();
        let state = self.with_engine(|engine| {
            engine
                .state_mut()
                .resume(operator)
                .map(|()| engine.state().clone())
        });
        let state = state.map_err(|error| super::DeskError::Invalid(error.to_string()))?;
        self.ledger
            .save_risk_state(&serde_json::to_value(&state).unwrap_or_default(), now)
            .await?;
        self.ledger
            .insert_risk_event(
                now,
                "resume",
                "warning",
                &format!("trading resumed by {operator}"),
                &serde_json::json!({ "operator": operator }),
            )
            .await?;
        tracing::warn!(%operator, "trading resumed");
        self.status().await
    }

    /// The risk picture now.
    pub async fn status(&self) -> Result<RiskStatus> {
        let state = self.risk_state();
        Ok(RiskStatus {
            mode: state.mode.name().to_owned(),
            state,
            limits: self.limits(),
            open_orders: self.ledger.open_order_count().await?,
            blocked_symbols: self.ledger.blocked_symbols().await?,
        })
    }

    /// Rereads `config/risk.toml`. Invalid limits keep the old ones (an event says why); valid
    /// ones take effect at once, and the keys they loosen are logged and stored as such.
    pub async fn reload_limits(&self) -> Result<Option<Vec<String>>> {
        let Some(path) = self.risk_file.clone() else {
            return Ok(None);
        };
        let now = self.clock.now();
        match limits_file::load(&path) {
            Err(message) => {
                tracing::error!(%message, "risk limits refused; the old limits stay in force");
                self.ledger
                    .insert_risk_event(
                        now,
                        "limits_refused",
                        "warning",
                        &format!("risk limits refused, the old limits stay: {message}"),
                        &serde_json::json!({ "error": message }),
                    )
                    .await?;
                Err(super::DeskError::Invalid(message))
            }
            Ok(limits) => {
                if limits == self.limits() {
                    return Ok(Some(Vec::new()));
                }
                let loosened = self.with_engine(|engine| engine.replace_limits(limits, now));
                let (kind, severity, message) = if loosened.is_empty() {
                    ("limits_reloaded", "info", "risk limits reloaded".to_owned())
                } else {
                    (
                        "limits_loosened",
                        "warning",
                        format!("risk limits reloaded; LOOSENED: {}", loosened.join(", ")),
                    )
                };
                tracing::warn!(%message, "risk limits changed");
                self.ledger
                    .insert_risk_event(
                        now,
                        kind,
                        severity,
                        &message,
                        &serde_json::json!({ "loosened": loosened }),
                    )
                    .await?;
                Ok(Some(loosened))
            }
        }
    }
}
