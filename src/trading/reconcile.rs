//! Reconciliation: orders, positions and cash compared with the broker, the diff stored, the
//! per-symbol policy applied, and the symbol refused new orders until it is consistent again.
//!
//! Local truth is the outbox (orders) and the stored executions (positions are the signed sum of
//! fills; cash moves by each fill's notional and commission since the last reconciliation). The
//! broker's truth is what it answers now. Every mismatch but an ignored one blocks its symbol
//! (cash blocks the account) until a later reconciliation finds it consistent or an operator
//! resolves it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::json;

use super::{Desk, Result, TradeRequest};
use crate::broker::BrokerOrder;
use crate::config::MismatchPolicy;
use crate::domain::{Money, OrderSide, OrderStatus, OrderType, Quantity, TimeInForce};
use crate::store::{FillRecord, MismatchRecord, OrderRecord};

/// What one reconciliation found and did.
#[derive(Debug, Clone, Serialize)]
pub struct ReconciliationReport {
    /// The stored reconciliation's id.
    pub id: i64,
    /// What differed, with the policy applied.
    pub mismatches: Vec<MismatchRecord>,
    /// Earlier mismatches this run found consistent again and resolved.
    pub resolved: u64,
    /// The whole diff as stored.
    pub diff: serde_json::Value,
}

fn policy_name(policy: MismatchPolicy) -> &'static str {
    match policy {
        MismatchPolicy::Adopt => "adopt",
        MismatchPolicy::Ignore => "ignore",
        MismatchPolicy::Flatten => "flatten",
        MismatchPolicy::Halt => "halt",
    }
}

/// The broker order id of the adjustment fills reconciliation books: they move the local
/// position to the broker's, and no cash (the broker's cash already moved, or never will).
const ADJUSTMENT: &str = "reconciliation";

/// Cash a fill moves: a buy pays its notional, a sell receives it; both pay commission.
fn cash_flow(fill: &FillRecord) -> Decimal {
    if fill.broker_order_id == ADJUSTMENT {
        return Decimal::ZERO;
    }
    let notional = fill.quantity.value() * fill.price.value();
    -fill.side.sign() * notional - fill.commission.value()
}

impl Desk {
    fn policy_for(&self, symbol: &str) -> MismatchPolicy {
        self.config
            .reconciliation
            .policies
            .get(symbol)
            .copied()
            .unwrap_or(self.config.reconciliation.default_policy)
    }

    /// Compares orders, positions and cash with the broker, stores the diff and applies the
    /// policies.
    pub async fn reconcile(&self) -> Result<ReconciliationReport> {
        // Executions the broker reported but we have not stored would read as mismatches.
        self.sync_orders().await?;
        let now = self.clock.now();
        // Orders first, with their policies applied at once: adopting an unknown order brings
        // its executions in, which explains the position and the cash it moved.
        let mut mismatches = Vec::new();
        let orders = self.reconcile_orders(now, &mut mismatches).await?;
        for mismatch in &mut mismatches {
            self.apply_policy(mismatch).await?;
        }
        // What those policies sent (a flatten) may have filled already.
        self.sync_orders().await?;
        let mut book = Vec::new();
        let positions = self.reconcile_positions(&mut book).await?;
        let cash = self.reconcile_cash(&mut book).await?;
        for mismatch in &mut book {
            self.apply_policy(mismatch).await?;
        }
        mismatches.extend(book);
        let diff = json!({ "orders": orders, "positions": positions, "cash": cash, "time": now });
        let id = self
            .ledger
            .insert_reconciliation(now, self.broker.name(), &diff, &mismatches)
            .await?;
        // Earlier mismatches of symbols that are consistent now are resolved by this run.
        let still: BTreeSet<Option<String>> = mismatches
            .iter()
            .map(|mismatch| mismatch.symbol.clone())
            .collect();
        let mut resolved = 0;
        let earlier: BTreeSet<Option<String>> = self
            .ledger
            .unresolved_mismatches()
            .await?
            .into_iter()
            .filter(|mismatch| mismatch.reconciliation_id != id)
            .map(|mismatch| mismatch.symbol)
            .collect();
        for symbol in earlier.difference(&still) {
            resolved += self
                .ledger
                .resolve_mismatches(symbol.as_deref(), &format!("reconciliation #{id}"), now)
                .await?;
        }
        for mismatch in &mut mismatches {
            mismatch.reconciliation_id = id;
        }
        if !mismatches.is_empty() {
            let summary: Vec<String> = mismatches
                .iter()
                .map(|mismatch| {
                    format!(
                        "{} {} (local {}, broker {}): {}",
                        mismatch.symbol.as_deref().unwrap_or("account"),
                        mismatch.kind,
                        mismatch.local_value.as_deref().unwrap_or("none"),
                        mismatch.broker_value.as_deref().unwrap_or("none"),
                        mismatch.action
                    )
                })
                .collect();
            self.ledger
                .insert_alert(
                    now,
                    "reconciliation",
                    "critical",
                    &format!(
                        "reconciliation #{id} found {} mismatches: {}",
                        mismatches.len(),
                        summary.join("; ")
                    ),
                    &json!({ "reconciliation_id": id }),
                )
                .await?;
        }
        Ok(ReconciliationReport {
            id,
            mismatches,
            resolved,
            diff,
        })
    }

    async fn reconcile_orders(
        &self,
        now: DateTime<Utc>,
        mismatches: &mut Vec<MismatchRecord>,
    ) -> Result<serde_json::Value> {
        let mut broker_orders: BTreeMap<String, BrokerOrder> = BTreeMap::new();
        for order in self
            .broker
            .orders_since(now - chrono::Duration::days(7))
            .await?
            .into_iter()
            .chain(self.broker.open_orders().await?)
        {
            broker_orders.insert(order.client_order_id.as_str().to_owned(), order);
        }
        let mut rows = Vec::new();
        for (client_id, order) in &broker_orders {
            match self.ledger.order(&order.client_order_id).await? {
                None => {
                    rows.push(
                        json!({ "client_order_id": client_id, "local": null, "broker": order }),
                    );
                    mismatches.push(mismatch(
                        Some(order.symbol.as_str()),
                        "unknown_order",
                        None,
                        Some(format!(
                            "{} {} {} ({})",
                            order.side.as_str(),
                            order.quantity,
                            order.symbol,
                            order.status
                        )),
                    ));
                }
                Some(local)
                    if local.status != order.status
                        || local.filled_quantity != order.filled_quantity =>
                {
                    // A lagging status is not a disagreement about the book: adopt it quietly.
                    rows.push(json!({ "client_order_id": client_id, "local": local.status, "broker": order.status, "adopted": true }));
                    self.adopt(&local, order).await?;
                }
                Some(_) => {}
            }
        }
        for local in self.ledger.open_orders().await? {
            let known = broker_orders.contains_key(local.client_order_id.as_str());
            if known || local.broker_order_id.is_none() {
                continue;
            }
            if let Ok(Some(order)) = self.broker.order_by_client_id(&local.client_order_id).await {
                self.adopt(&local, &order).await?;
                continue;
            }
            rows.push(json!({ "client_order_id": local.client_order_id, "local": local.status, "broker": null }));
            mismatches.push(mismatch(
                Some(local.symbol.as_str()),
                "missing_order",
                Some(format!(
                    "{} {} {} ({})",
                    local.side.as_str(),
                    local.quantity,
                    local.symbol,
                    local.status
                )),
                None,
            ));
        }
        Ok(serde_json::Value::Array(rows))
    }

    async fn reconcile_positions(
        &self,
        mismatches: &mut Vec<MismatchRecord>,
    ) -> Result<serde_json::Value> {
        let mut local: BTreeMap<String, Decimal> = BTreeMap::new();
        for fill in self.ledger.fills_since(DateTime::<Utc>::UNIX_EPOCH).await? {
            *local.entry(fill.symbol.as_str().to_owned()).or_default() +=
                fill.side.sign() * fill.quantity.value();
        }
        let broker: BTreeMap<String, Decimal> = self
            .broker
            .positions()
            .await?
            .into_iter()
            .map(|position| (position.symbol.as_str().to_owned(), position.quantity))
            .collect();
        let symbols: BTreeSet<&String> = local.keys().chain(broker.keys()).collect();
        let mut rows = Vec::new();
        for symbol in symbols {
            let ours = local.get(symbol).copied().unwrap_or_default();
            let theirs = broker.get(symbol).copied().unwrap_or_default();
            if ours != theirs {
                rows.push(json!({ "symbol": symbol, "local": ours.to_string(), "broker": theirs.to_string() }));
                mismatches.push(mismatch(
                    Some(symbol),
                    "position",
                    Some(ours.normalize().to_string()),
                    Some(theirs.normalize().to_string()),
                ));
            }
        }
        Ok(serde_json::Value::Array(rows))
    }

    /// Cash: the host's ledger is an offset plus the cash flows of every stored execution. The
    /// first reconciliation sets the offset from the broker's cash; later ones expect
    /// `offset + flows` and report any difference beyond the tolerance. Adopting a cash
    /// difference moves the offset to the broker's figure.
    async fn reconcile_cash(
        &self,
        mismatches: &mut Vec<MismatchRecord>,
    ) -> Result<serde_json::Value> {
        let account = self.broker.account().await?;
        let flows: Decimal = self
            .ledger
            .fills_since(DateTime::<Utc>::UNIX_EPOCH)
            .await?
            .iter()
            .map(cash_flow)
            .sum();
        let broker_cash = account.cash.value();
        let previous = self.ledger.last_reconciliation().await?;
        let offset = previous.as_ref().and_then(|(_, diff)| {
            diff.get("cash")?
                .get("offset")?
                .as_str()?
                .parse::<Decimal>()
                .ok()
        });
        let Some(offset) = offset else {
            return Ok(
                json!({ "broker": broker_cash.to_string(), "offset": (broker_cash - flows).to_string() }),
            );
        };
        let expected = offset + flows;
        let difference = broker_cash - expected;
        let mut next_offset = offset;
        if difference.abs() > self.config.reconciliation.cash_tolerance {
            let policy = self.config.reconciliation.cash_policy;
            let mut record = mismatch(
                None,
                "cash",
                Some(Money::new(expected).to_string()),
                Some(account.cash.to_string()),
            );
            record.policy = policy_name(policy).to_owned();
            mismatches.push(record);
            if policy == MismatchPolicy::Adopt {
                next_offset = broker_cash - flows;
            }
        }
        Ok(json!({
            "broker": broker_cash.to_string(),
            "expected": expected.to_string(),
            "difference": difference.to_string(),
            "offset": next_offset.to_string(),
        }))
    }

    async fn apply_policy(&self, mismatch: &mut MismatchRecord) -> Result<()> {
        if mismatch.policy.is_empty() {
            let policy = mismatch
                .symbol
                .as_deref()
                .map_or(self.config.reconciliation.default_policy, |symbol| {
                    self.policy_for(symbol)
                });
            mismatch.policy = policy_name(policy).to_owned();
        }
        mismatch.blocking = mismatch.policy != "ignore";
        mismatch.action = match (mismatch.policy.as_str(), mismatch.kind.as_str()) {
            ("ignore", _) => "recorded only".to_owned(),
            ("halt", _) => {
                let what = format!(
                    "reconciliation: {} {} mismatch (local {}, broker {})",
                    mismatch.symbol.as_deref().unwrap_or("account"),
                    mismatch.kind,
                    mismatch.local_value.as_deref().unwrap_or("none"),
                    mismatch.broker_value.as_deref().unwrap_or("none")
                );
                self.halt(&what, "reconciliation", false).await?;
                "trading halted".to_owned()
            }
            ("adopt", "position") => self.adopt_position(mismatch).await?,
            ("adopt", "unknown_order") => self.adopt_unknown_order(mismatch).await?,
            ("adopt", "missing_order") => self.adopt_missing_order(mismatch).await?,
            ("adopt", _) => "broker's figure taken as the new baseline".to_owned(),
            ("flatten", "position") => self.flatten_symbol(mismatch).await?,
            ("flatten", "unknown_order") => {
                let adopted = self.adopt_unknown_order(mismatch).await?;
                let closed = self.flatten_symbol(mismatch).await?;
                format!("{adopted}; {closed}")
            }
            ("flatten", _) => "blocked; nothing to flatten for this kind".to_owned(),
            (other, _) => format!("unknown policy {other}; blocked"),
        };
        Ok(())
    }

    /// Adopting a position difference books an adjustment fill at the broker's average price,
    /// so the local book equals the broker's.
    async fn adopt_position(&self, mismatch: &MismatchRecord) -> Result<String> {
        let Some(symbol) = mismatch.symbol.as_deref() else {
            return Ok("nothing to adopt".to_owned());
        };
        // The book as it is now: adopting orders may already have brought it in line.
        let local: Decimal = self
            .ledger
            .fills_since(DateTime::<Utc>::UNIX_EPOCH)
            .await?
            .iter()
            .filter(|fill| fill.symbol.as_str() == symbol)
            .map(|fill| fill.side.sign() * fill.quantity.value())
            .sum();
        let positions = self.broker.positions().await?;
        let broker: Decimal = positions
            .iter()
            .find(|position| position.symbol.as_str() == symbol)
            .map(|position| position.quantity)
            .unwrap_or_default();
        let difference = broker - local;
        if difference.is_zero() {
            return Ok("the book already matches the broker's".to_owned());
        }
        let price = positions
            .iter()
            .find(|position| position.symbol.as_str() == symbol)
            .map(|position| position.average_entry_price);
        let price = match price {
            Some(price) => price,
            None => match self
                .last_price(
                    &symbol
                        .parse()
                        .map_err(|error| super::DeskError::Invalid(format!("{error}")))?,
                )
                .await?
            {
                Some(price) => price,
                None => return Ok("blocked; no price to book the adjustment at".to_owned()),
            },
        };
        let Ok(quantity) = Quantity::new(difference.abs()) else {
            return Ok("nothing to adopt".to_owned());
        };
        let now = self.clock.now();
        let side = if difference > Decimal::ZERO {
            OrderSide::Buy
        } else {
            OrderSide::Sell
        };
        self.ledger
            .insert_fill(&FillRecord {
                execution_id: format!("adjustment-{}-{symbol}", now.timestamp_millis()),
                client_order_id: None,
                broker_order_id: ADJUSTMENT.to_owned(),
                strategy: Some("reconciliation".to_owned()),
                symbol: symbol
                    .parse()
                    .map_err(|error| super::DeskError::Invalid(format!("{error}")))?,
                side,
                quantity,
                price,
                commission: Money::ZERO,
                time: now,
            })
            .await?;
        Ok(format!(
            "adopted: booked an adjustment of {} {quantity} at {price}; blocked until the next reconciliation confirms",
            side.as_str()
        ))
    }

    async fn adopt_unknown_order(&self, mismatch: &MismatchRecord) -> Result<String> {
        let now = self.clock.now();
        let orders = self
            .broker
            .orders_since(now - chrono::Duration::days(7))
            .await?;
        let mut adopted = 0;
        for order in orders {
            if Some(order.symbol.as_str()) != mismatch.symbol.as_deref()
                || self.ledger.order(&order.client_order_id).await?.is_some()
            {
                continue;
            }
            self.ledger
                .insert_order(&OrderRecord {
                    client_order_id: order.client_order_id.clone(),
                    strategy: "adopted".to_owned(),
                    script_hash: None,
                    run_id: None,
                    pair_trade_id: None,
                    symbol: order.symbol.clone(),
                    side: order.side,
                    quantity: order.quantity,
                    order_type: order.order_type,
                    time_in_force: order.time_in_force,
                    status: order.status,
                    broker: self.broker.name().to_owned(),
                    broker_order_id: Some(order.broker_order_id.clone()),
                    filled_quantity: order.filled_quantity,
                    average_fill_price: order.average_fill_price,
                    decision_id: None,
                    error: Some("placed outside the host; adopted by reconciliation".to_owned()),
                    submit_attempts: 0,
                    created_at: order.submitted_at,
                    submitted_at: Some(order.submitted_at),
                    updated_at: now,
                })
                .await?;
            adopted += 1;
            if mismatch.policy == "flatten"
                && order.status.is_open()
                && let Err(error) = self.broker.cancel(&order.broker_order_id).await
            {
                tracing::warn!(%error, "could not cancel an order placed outside the host");
            }
        }
        // Its executions, now attributable, make the local book match what it did.
        self.store_executions(now - chrono::Duration::days(7), &[])
            .await?;
        Ok(format!(
            "adopted {adopted} order(s) into the outbox; blocked until the next reconciliation confirms"
        ))
    }

    async fn adopt_missing_order(&self, mismatch: &MismatchRecord) -> Result<String> {
        let mut closed = 0;
        for local in self.ledger.open_orders().await? {
            if Some(local.symbol.as_str()) != mismatch.symbol.as_deref() {
                continue;
            }
            if let Some(broker_id) = &local.broker_order_id
                && matches!(
                    self.broker.order(broker_id).await,
                    Err(crate::broker::BrokerError::NotFound(_))
                )
            {
                self.ledger
                    .update_order(
                        &local.client_order_id,
                        &crate::store::OrderProgress {
                            broker_order_id: None,
                            status: OrderStatus::Canceled,
                            filled_quantity: local.filled_quantity,
                            average_fill_price: local.average_fill_price,
                            error: Some(
                                "unknown at the broker; closed by reconciliation".to_owned(),
                            ),
                        },
                        self.clock.now(),
                    )
                    .await?;
                closed += 1;
            }
        }
        Ok(format!(
            "closed {closed} local order(s) the broker does not have"
        ))
    }

    async fn flatten_symbol(&self, mismatch: &MismatchRecord) -> Result<String> {
        let Some(symbol) = mismatch.symbol.as_deref() else {
            return Ok("nothing to flatten".to_owned());
        };
        // Book the broker's position first, so that closing it brings both sides to zero.
        self.adopt_position(mismatch).await?;
        let positions = self.broker.positions().await?;
        let Some(position) = positions
            .into_iter()
            .find(|position| position.symbol.as_str() == symbol && !position.quantity.is_zero())
        else {
            return Ok("blocked; the broker holds nothing to flatten".to_owned());
        };
        let side = if position.quantity > Decimal::ZERO {
            OrderSide::Sell
        } else {
            OrderSide::Buy
        };
        let Ok(quantity) = Quantity::new(position.quantity.abs()) else {
            return Ok("nothing to flatten".to_owned());
        };
        let outcome = self
            .submit(TradeRequest {
                strategy: "reconciliation".to_owned(),
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
        Ok(format!(
            "flatten: {} {quantity} {symbol} {} ({}); blocked until the next reconciliation confirms",
            side.as_str(),
            outcome.outcome,
            outcome.client_order_id.unwrap_or_default()
        ))
    }
}

fn mismatch(
    symbol: Option<&str>,
    kind: &str,
    local_value: Option<String>,
    broker_value: Option<String>,
) -> MismatchRecord {
    MismatchRecord {
        id: 0,
        reconciliation_id: 0,
        symbol: symbol.map(str::to_owned),
        kind: kind.to_owned(),
        local_value,
        broker_value,
        policy: String::new(),
        action: String::new(),
        blocking: true,
        resolved_at: None,
        resolved_by: None,
    }
}
