//! Submission: risk check, outbox row, broker call. Single orders and pair trades.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Desk, DeskError, Result, failpoint};
use crate::broker::{BrokerError, BrokerOrder, NewOrder};
use crate::domain::{
    ClientOrderId, OrderSide, OrderStatus, OrderType, Quantity, Symbol, TimeInForce,
};
use crate::risk::{Decision, OrderRequest, Outcome};
use crate::store::{NewDecision, OrderProgress, OrderRecord, PairTradeRecord};

/// One order a strategy, flow or operator asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeRequest {
    /// Who asks: the script's name, or `operator`.
    pub strategy: String,
    /// The script version that decided it.
    pub script_hash: Option<String>,
    /// The flow run it belongs to.
    pub run_id: Option<i64>,
    /// The instrument.
    pub symbol: Symbol,
    /// Buy or sell.
    pub side: OrderSide,
    /// Shares.
    pub quantity: Quantity,
    /// Type and prices.
    pub order_type: OrderType,
    /// Time in force.
    pub time_in_force: TimeInForce,
    /// An operator's flatten (the kill switch), which a halt lets through.
    pub operator_flatten: bool,
}

/// What happened to one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TradeOutcome {
    /// True when an order went to the broker (accepted or clipped by risk).
    pub accepted: bool,
    /// `accepted`, `clipped` or `refused`.
    pub outcome: String,
    /// The rule that refused or clipped.
    pub rule: Option<String>,
    /// Why, with the numbers.
    pub reason: Option<String>,
    /// The stored decision.
    pub decision_id: i64,
    /// The order's id, when one was written.
    pub client_order_id: Option<String>,
    /// The quantity sent.
    pub quantity: Option<String>,
    /// The order's status after the broker answered.
    pub status: Option<String>,
    /// A broker failure, when the order could not be confirmed.
    pub error: Option<String>,
}

/// One leg of a pair trade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegRequest {
    /// The instrument.
    pub symbol: Symbol,
    /// Buy or sell.
    pub side: OrderSide,
    /// Shares.
    pub quantity: Quantity,
}

/// What happened to a pair trade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PairOutcome {
    /// True when both legs went to the broker.
    pub accepted: bool,
    /// The pair trade's id, when both legs passed risk.
    pub pair_trade_id: Option<String>,
    /// Each leg's outcome.
    pub legs: Vec<TradeOutcome>,
    /// Why neither leg was sent (an entry's or an exit's).
    pub reason: Option<String>,
}

/// A fresh client order id: unique forever, short enough for every broker (Alpaca allows 128).
pub fn new_client_order_id(prefix: &str) -> ClientOrderId {
    let text = format!("{prefix}-{}", uuid::Uuid::new_v4().simple());
    ClientOrderId::parse(&text).unwrap_or_else(|_| {
        ClientOrderId::parse(&uuid::Uuid::new_v4().simple().to_string())
            .expect("a uuid is a valid client order id")
    })
}

impl Desk {
    /// Checks `request` against risk and, if it passes, writes the intent and sends it. A refusal
    /// is an outcome, not an error; errors are the store's or an unusable request.
    pub async fn submit(&self, request: TradeRequest) -> Result<TradeOutcome> {
        let _turn = self.submissions.lock().await;
        self.submit_locked(request, None).await
    }

    async fn submit_locked(
        &self,
        request: TradeRequest,
        pair_trade_id: Option<&str>,
    ) -> Result<TradeOutcome> {
        let (decision, approved) = self.decide(&request).await?;
        let now = self.clock.now();
        let client_order_id = approved.map(|_| new_client_order_id("th"));
        let decision_id = self
            .store_decision(&request, &decision, approved, client_order_id.as_ref(), now)
            .await?;
        let (Some(quantity), Some(client_order_id)) = (approved, client_order_id) else {
            return Ok(outcome_of(&decision, decision_id, None, None));
        };
        let record = OrderRecord {
            client_order_id: client_order_id.clone(),
            strategy: request.strategy.clone(),
            script_hash: request.script_hash.clone(),
            run_id: request.run_id,
            pair_trade_id: pair_trade_id.map(str::to_owned),
            symbol: request.symbol.clone(),
            side: request.side,
            quantity,
            order_type: request.order_type,
            time_in_force: request.time_in_force,
            status: OrderStatus::PendingNew,
            broker: self.broker.name().to_owned(),
            broker_order_id: None,
            filled_quantity: Quantity::ZERO,
            average_fill_price: None,
            decision_id: Some(decision_id),
            error: None,
            submit_attempts: 0,
            created_at: now,
            submitted_at: None,
            updated_at: now,
        };
        self.ledger.insert_order(&record).await?;
        failpoint::reach(failpoint::AFTER_INTENT).await;
        let sent = self.send(&record).await?;
        let mut result = outcome_of(&decision, decision_id, Some(&record), Some(quantity));
        match sent {
            Ok(order) => result.status = Some(order.status.as_str().to_owned()),
            Err(error) => {
                result.status = Some(self.stored_status(&record.client_order_id).await?);
                result.error = Some(error.to_string());
            }
        }
        Ok(result)
    }

    /// Opens a pair trade: both legs pass risk before either is sent, so a refusal of one leg
    /// sends nothing. After sending, a leg that fails or does not fill by the deadline leaves an
    /// orphan that [`Desk::sync_orders`] flattens.
    pub async fn submit_pair(
        &self,
        strategy: &str,
        script_hash: Option<&str>,
        run_id: Option<i64>,
        legs: [LegRequest; 2],
    ) -> Result<PairOutcome> {
        let _turn = self.submissions.lock().await;
        let requests = legs.map(|leg| TradeRequest {
            strategy: strategy.to_owned(),
            script_hash: script_hash.map(str::to_owned),
            run_id,
            symbol: leg.symbol,
            side: leg.side,
            quantity: leg.quantity,
            order_type: OrderType::Market,
            time_in_force: TimeInForce::Day,
            operator_flatten: false,
        });
        // A dry run of both legs first: the pair opens whole or not at all. A clipped leg would
        // break the hedge, so it counts as a refusal of the pair.
        for request in &requests {
            let (decision, approved) = self.preview_decision(request).await?;
            if approved != Some(request.quantity) {
                let now = self.clock.now();
                let id = self
                    .store_decision(request, &decision, None, None, now)
                    .await?;
                let leg = outcome_of(&decision, id, None, None);
                // Not "not opened": a pair's exit is refused the same way (by the market hours,
                // say), and its reason must not read as if a new trade had been turned away.
                let reason = format!(
                    "neither leg sent: the {} leg was {}: {}",
                    request.symbol,
                    leg.outcome,
                    leg.reason.clone().unwrap_or_default()
                );
                return Ok(PairOutcome {
                    accepted: false,
                    pair_trade_id: None,
                    legs: vec![leg],
                    reason: Some(reason),
                });
            }
        }
        let now = self.clock.now();
        let id = new_client_order_id("pair").as_str().to_owned();
        let [first, second] = requests;
        let pair = format!("{}/{}", first.symbol, second.symbol);
        let mut outcomes = Vec::with_capacity(2);
        // The trade row exists before its legs, so a crash leaves a pending trade whose legs
        // manage_orders can find by pair_trade_id.
        self.ledger
            .insert_pair_trade(&PairTradeRecord {
                id: id.clone(),
                strategy: strategy.to_owned(),
                pair,
                leg_a: String::new(),
                leg_b: String::new(),
                status: "pending".to_owned(),
                opened_at: now,
                deadline: now + self.pair_leg_timeout(),
                closed_at: None,
                note: None,
            })
            .await?;
        for request in [first, second] {
            outcomes.push(self.submit_locked(request, Some(&id)).await?);
        }
        let accepted = outcomes
            .iter()
            .all(|leg| leg.accepted && leg.error.is_none());
        let legs: Vec<String> = outcomes
            .iter()
            .map(|leg| leg.client_order_id.clone().unwrap_or_default())
            .collect();
        self.ledger
            .set_pair_trade_legs(&id, &legs[0], &legs[1])
            .await?;
        Ok(PairOutcome {
            accepted,
            pair_trade_id: Some(id),
            legs: outcomes,
            reason: None,
        })
    }

    /// The risk decision for `request` and the quantity it allows, with the engine's state and
    /// tokens updated.
    async fn decide(&self, request: &TradeRequest) -> Result<(Decision, Option<Quantity>)> {
        if let Some(refusal) = self.blocked(request).await? {
            return Ok((refusal, None));
        }
        let (portfolio, market, shortable) = self.inputs_for(request).await?;
        let now = self.clock.now();
        let risk_request = risk_request(request, shortable);
        let (decision, state) = self.with_engine(|engine| {
            let mode_before = engine.state().mode.clone();
            let decision = engine.check(&risk_request, &portfolio, &market, now);
            let changed = engine.state().mode != mode_before;
            (decision, changed.then(|| engine.state().clone()))
        });
        self.persist_state(state).await?;
        let approved = approved_quantity(request, &decision);
        Ok((decision, approved))
    }

    /// Like [`Desk::decide`] but on a copy of the engine: nothing is taken or changed.
    pub(super) async fn preview_decision(
        &self,
        request: &TradeRequest,
    ) -> Result<(Decision, Option<Quantity>)> {
        if let Some(refusal) = self.blocked(request).await? {
            return Ok((refusal, None));
        }
        let (portfolio, market, shortable) = self.inputs_for(request).await?;
        let now = self.clock.now();
        let risk_request = risk_request(request, shortable);
        let decision = self.with_engine(|engine| {
            let mut copy = engine.clone();
            copy.check(&risk_request, &portfolio, &market, now)
        });
        let approved = approved_quantity(request, &decision);
        Ok((decision, approved))
    }

    async fn store_decision(
        &self,
        request: &TradeRequest,
        decision: &Decision,
        approved: Option<Quantity>,
        client_order_id: Option<&ClientOrderId>,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let (outcome, rule, reason) = describe(decision);
        let id = self
            .ledger
            .insert_risk_decision(&NewDecision {
                time: now,
                strategy: &request.strategy,
                script_hash: request.script_hash.as_deref(),
                client_order_id: client_order_id.map(ClientOrderId::as_str),
                symbol: request.symbol.as_str(),
                side: request.side.as_str(),
                quantity: request.quantity.to_string(),
                approved_quantity: approved.map(|quantity| quantity.to_string()),
                outcome,
                rule,
                reason,
                inputs: serde_json::to_value(&decision.inputs).unwrap_or_default(),
            })
            .await?;
        if outcome == "refused" {
            tracing::info!(strategy = %request.strategy, symbol = %request.symbol, reason = ?decision.reason(), "risk refused an order");
        }
        Ok(id)
    }

    /// Sends a stored intent: asks the broker first whether it already has the order (a retry or
    /// a recovery), so every intent becomes at most one broker order. The outer error is the
    /// store's; the inner one is the broker failure that left the order unconfirmed.
    pub(super) async fn send(
        &self,
        record: &OrderRecord,
    ) -> Result<std::result::Result<BrokerOrder, BrokerError>> {
        let order = NewOrder {
            client_order_id: record.client_order_id.clone(),
            symbol: record.symbol.clone(),
            side: record.side,
            quantity: record.quantity,
            order_type: record.order_type,
            time_in_force: record.time_in_force,
        };
        let attempts = self.config.submit_attempts.max(1);
        let mut last_error = None;
        for attempt in 0..attempts {
            if attempt > 0 || record.submit_attempts > 0 {
                match self.broker.order_by_client_id(&order.client_order_id).await {
                    Ok(Some(existing)) => return self.acknowledge(record, existing).await.map(Ok),
                    Ok(None) => {}
                    Err(error) => {
                        // Unknown whether the broker has it: sending again could duplicate.
                        last_error = Some(error);
                        backoff(attempt).await;
                        continue;
                    }
                }
            }
            self.ledger
                .count_submit_attempt(&order.client_order_id, self.clock.now())
                .await?;
            match self.broker.submit(&order).await {
                Ok(accepted) => {
                    failpoint::reach(failpoint::AFTER_SUBMIT).await;
                    return self.acknowledge(record, accepted).await.map(Ok);
                }
                Err(BrokerError::DuplicateClientOrderId(_)) => {
                    // Sent before (a lost reply); the next turn looks it up.
                    last_error = Some(BrokerError::DuplicateClientOrderId(
                        order.client_order_id.as_str().to_owned(),
                    ));
                }
                Err(error) if error.is_transient() => {
                    last_error = Some(error);
                    backoff(attempt).await;
                }
                Err(error) => {
                    self.ledger
                        .update_order(
                            &order.client_order_id,
                            &OrderProgress {
                                broker_order_id: None,
                                status: OrderStatus::Rejected,
                                filled_quantity: Quantity::ZERO,
                                average_fill_price: None,
                                error: Some(error.to_string()),
                            },
                            self.clock.now(),
                        )
                        .await?;
                    return Ok(Err(error));
                }
            }
        }
        let error = last_error
            .unwrap_or_else(|| BrokerError::Unavailable("the broker did not answer".to_owned()));
        // Left pending_new: recovery asks the broker again later and never sends blindly.
        self.ledger
            .update_order(
                &order.client_order_id,
                &OrderProgress {
                    broker_order_id: None,
                    status: OrderStatus::PendingNew,
                    filled_quantity: Quantity::ZERO,
                    average_fill_price: None,
                    error: Some(format!("not confirmed after {attempts} attempts: {error}")),
                },
                self.clock.now(),
            )
            .await?;
        Ok(Err(error))
    }

    async fn acknowledge(&self, record: &OrderRecord, order: BrokerOrder) -> Result<BrokerOrder> {
        self.ledger
            .update_order(
                &record.client_order_id,
                &OrderProgress {
                    broker_order_id: Some(order.broker_order_id.clone()),
                    status: order.status,
                    filled_quantity: order.filled_quantity,
                    average_fill_price: order.average_fill_price,
                    error: None,
                },
                self.clock.now(),
            )
            .await?;
        Ok(order)
    }

    async fn stored_status(&self, id: &ClientOrderId) -> Result<String> {
        Ok(self
            .ledger
            .order(id)
            .await?
            .map(|order| order.status.as_str().to_owned())
            .unwrap_or_default())
    }
}

/// A short pause between attempts: 100 ms, 200 ms, 400 ms … capped at 2 s.
async fn backoff(attempt: u32) {
    let millis = 100u64.saturating_mul(1 << attempt.min(5)).min(2_000);
    tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
}

fn risk_request(request: &TradeRequest, shortable: bool) -> OrderRequest {
    OrderRequest {
        strategy: request.strategy.clone(),
        symbol: request.symbol.clone(),
        side: request.side,
        quantity: request.quantity,
        order_type: request.order_type,
        shortable,
        operator_flatten: request.operator_flatten,
    }
}

fn approved_quantity(request: &TradeRequest, decision: &Decision) -> Option<Quantity> {
    match &decision.outcome {
        Outcome::Accepted => Some(request.quantity),
        Outcome::Clipped { quantity, .. } => Some(*quantity),
        Outcome::Refused { .. } => None,
    }
}

pub(super) fn describe(decision: &Decision) -> (&'static str, Option<String>, Option<String>) {
    match &decision.outcome {
        Outcome::Accepted => ("accepted", None, None),
        Outcome::Clipped { rule, reason, .. } => {
            ("clipped", Some(rule.to_string()), Some(reason.clone()))
        }
        Outcome::Refused { rule, reason } => {
            ("refused", Some(rule.to_string()), Some(reason.clone()))
        }
    }
}

fn outcome_of(
    decision: &Decision,
    decision_id: i64,
    record: Option<&OrderRecord>,
    quantity: Option<Quantity>,
) -> TradeOutcome {
    let (outcome, rule, reason) = describe(decision);
    TradeOutcome {
        accepted: outcome != "refused",
        outcome: outcome.to_owned(),
        rule,
        reason,
        decision_id,
        client_order_id: record.map(|record| record.client_order_id.as_str().to_owned()),
        quantity: quantity.map(|quantity| quantity.to_string()),
        status: None,
        error: None,
    }
}

impl From<String> for DeskError {
    fn from(message: String) -> Self {
        Self::Invalid(message)
    }
}
