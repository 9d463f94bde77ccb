//! Keeping the outbox true: recovery of unconfirmed intents, order status and fills from the
//! broker, cancels, and the orphan-leg rule for pair trades.

use std::cmp::Ordering;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use super::{Desk, DeskError, Result, TradeRequest};
use crate::broker::{BrokerError, BrokerOrder};
use crate::domain::{ClientOrderId, Money, OrderStatus, OrderType, Symbol, TimeInForce};
use crate::store::{FillRecord, OrderProgress, OrderRecord, PairTradeRecord};

/// What one pass of [`Desk::sync_orders`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncSummary {
    /// Unconfirmed intents found at the broker and adopted.
    pub recovered: usize,
    /// Unconfirmed intents the broker never received, sent now.
    pub resent: usize,
    /// Orders whose status or fills changed.
    pub updated: usize,
    /// New executions stored.
    pub fills: usize,
    /// Pair trades whose both legs filled.
    pub pairs_filled: usize,
    /// Pair trades with an orphan leg, flattened.
    pub pairs_flattened: usize,
    /// Orders that could not be checked, with why.
    pub errors: Vec<String>,
}

impl Desk {
    /// Repairs every intent the broker has not confirmed: adopts the broker's order when it has
    /// one, sends the intent when it certainly does not, and leaves it when the broker cannot say.
    /// Runs at start (after a crash) and in every `manage_orders` pass.
    pub async fn recover(&self) -> Result<SyncSummary> {
        Ok(self.recover_then_open().await?.0)
    }

    /// [`Desk::recover`], and the open orders after it: read with the intents under the
    /// submission lock, and read again only when recovery changed one of them.
    async fn recover_then_open(&self) -> Result<(SyncSummary, Vec<OrderRecord>)> {
        let _turn = self.submissions.lock().await;
        let mut summary = SyncSummary::default();
        let open = self.ledger.open_orders().await?;
        let unconfirmed: Vec<&OrderRecord> = open
            .iter()
            .filter(|record| {
                record.status == OrderStatus::PendingNew && record.broker_order_id.is_none()
            })
            .collect();
        if unconfirmed.is_empty() {
            return Ok((summary, open));
        }
        for record in unconfirmed {
            match self
                .broker
                .order_by_client_id(&record.client_order_id)
                .await
            {
                Ok(Some(order)) => {
                    self.adopt(record, &order).await?;
                    summary.recovered += 1;
                    tracing::info!(client_order_id = %record.client_order_id, "recovered an order the broker had");
                }
                Ok(None) => {
                    // Counted as attempted, so send() asks the broker once more before sending.
                    let marked = OrderRecord {
                        submit_attempts: record.submit_attempts.max(1),
                        ..record.clone()
                    };
                    match self.send(&marked).await? {
                        Ok(_) => summary.resent += 1,
                        Err(error) => summary
                            .errors
                            .push(format!("{}: {error}", record.client_order_id)),
                    }
                }
                Err(error) => summary
                    .errors
                    .push(format!("{}: {error}", record.client_order_id)),
            }
        }
        let open = self.ledger.open_orders().await?;
        Ok((summary, open))
    }

    /// One `manage_orders` pass: recovery, every open order's status from the broker, new
    /// executions, and the pair-trade orphan rule.
    pub async fn sync_orders(&self) -> Result<SyncSummary> {
        let (mut summary, open) = self.recover_then_open().await?;
        let since = open
            .iter()
            .map(|order| order.created_at)
            .min()
            .unwrap_or_else(|| self.clock.now())
            - chrono::Duration::days(1);
        for record in &open {
            let Some(broker_id) = &record.broker_order_id else {
                continue;
            };
            match self.broker.order(broker_id).await {
                Ok(order) => {
                    if self.adopt(record, &order).await? {
                        summary.updated += 1;
                    }
                }
                Err(error) => summary
                    .errors
                    .push(format!("{}: {error}", record.client_order_id)),
            }
        }
        summary.fills += self.store_executions(since, &open).await?;
        let (filled, flattened) = self.check_pair_trades().await?;
        summary.pairs_filled = filled;
        summary.pairs_flattened = flattened;
        Ok(summary)
    }

    /// Writes the broker's view of an order over the stored one; true when something changed.
    /// A status the state machine refuses (a broker sending a filled order back to new) is kept
    /// out and logged: the stored history never goes backwards.
    pub(super) async fn adopt(&self, record: &OrderRecord, order: &BrokerOrder) -> Result<bool> {
        let unchanged = record.status == order.status
            && record.filled_quantity == order.filled_quantity
            && record.broker_order_id.as_deref() == Some(order.broker_order_id.as_str());
        if unchanged {
            return Ok(false);
        }
        let status = match record.status.transition(order.status) {
            Ok(status) => status,
            Err(error) => {
                tracing::warn!(client_order_id = %record.client_order_id, %error, "ignoring an impossible status from the broker");
                record.status
            }
        };
        self.ledger
            .update_order(
                &record.client_order_id,
                &OrderProgress {
                    broker_order_id: Some(order.broker_order_id.clone()),
                    status,
                    filled_quantity: order.filled_quantity,
                    average_fill_price: order.average_fill_price,
                    error: None,
                },
                self.clock.now(),
            )
            .await?;
        Ok(true)
    }

    /// Stores the broker's executions since `since` (once each), attributed to their orders, and
    /// feeds closed trades' P&L to the engine's losing-streak rule. `orders` are records the
    /// caller already holds (their ids and strategy never change), looked up before the store.
    pub(super) async fn store_executions(
        &self,
        since: DateTime<Utc>,
        orders: &[OrderRecord],
    ) -> Result<usize> {
        let executions = self.broker.executions_since(since).await?;
        if executions.is_empty() {
            return Ok(0);
        }
        // The book the stored fills add up to, per symbol (shares, average cost), and the ids of
        // the stored fills: kept from the last pass while the store holds exactly the fills it
        // was built from, built afresh otherwise. One pass at a time, so the book and the fills
        // it counts move together.
        let mut cached = self.fill_book.lock().await;
        let stored_fills = self.ledger.fill_count().await?;
        let mut book = match cached.take() {
            Some(book) if book.fills == stored_fills => book,
            _ => {
                let mut book = FillBook::new();
                for fill in self.ledger.fills_since(DateTime::<Utc>::UNIX_EPOCH).await? {
                    book.apply(
                        &fill.symbol,
                        fill.side.sign() * fill.quantity.value(),
                        fill.price.value(),
                        (fill.time, &fill.execution_id),
                    );
                }
                book
            }
        };
        // What is already stored is skipped before any other work: a sync runs often and sees
        // the same executions many times.
        let mut fresh: Vec<_> = executions
            .into_iter()
            .filter(|execution| !book.ids.contains(&execution.execution_id))
            .collect();
        if fresh.is_empty() {
            *cached = book.in_order.then_some(book);
            return Ok(0);
        }
        // In the order a book built afresh applies the stored fills, (time, execution id): a
        // broker may list one moment's executions in another order (the backtest broker lists
        // them by symbol), and a book applied out of that order is not kept, which would rebuild
        // it from every stored fill at each pass.
        fresh.sort_by(book_order);
        let mut stored = 0;
        for execution in fresh {
            let held = orders.iter().find(|order| {
                order.broker_order_id.as_deref() == Some(execution.broker_order_id.as_str())
            });
            let order = match held {
                Some(order) => Some(order.clone()),
                None => {
                    self.ledger
                        .order_by_broker_id(&execution.broker_order_id)
                        .await?
                }
            };
            let pnl = realised(book.position(&execution.symbol), &execution);
            let inserted = self
                .ledger
                .insert_fill(&FillRecord {
                    execution_id: execution.execution_id.clone(),
                    client_order_id: order.as_ref().map(|order| order.client_order_id.clone()),
                    broker_order_id: execution.broker_order_id.clone(),
                    strategy: order.as_ref().map(|order| order.strategy.clone()),
                    symbol: execution.symbol.clone(),
                    side: execution.side,
                    quantity: execution.quantity,
                    price: execution.price,
                    commission: execution.commission,
                    time: execution.time,
                })
                .await?;
            if inserted {
                stored += 1;
                book.apply(
                    &execution.symbol,
                    execution.side.sign() * execution.quantity.value(),
                    execution.price.value(),
                    (execution.time, &execution.execution_id),
                );
                if let Some(pnl) = pnl {
                    self.record_trade_result(pnl).await?;
                }
            }
        }
        // Built afresh, the book applies fills in (time, id) order; one that came in out of that
        // order would be applied differently next time, so such a book is not kept.
        if book.in_order {
            *cached = Some(book);
        }
        Ok(stored)
    }

    /// Feeds a closing execution's P&L to the engine's losing-streak rule.
    async fn record_trade_result(&self, pnl: Money) -> Result<()> {
        let now = self.clock.now();
        let changed = self.with_engine(|engine| {
            let limits = engine.limits().clone();
            let before = engine.state().clone();
            engine.state_mut().record_trade(&limits, pnl, now);
            (engine.state() != &before).then(|| engine.state().clone())
        });
        if let Some(state) = changed {
            self.ledger
                .save_risk_state(&serde_json::to_value(&state).unwrap_or_default(), now)
                .await?;
        }
        Ok(())
    }

    /// Requests a cancel of one order by client order id and stores what the broker then says.
    pub async fn cancel(&self, client_order_id: &str) -> Result<OrderRecord> {
        let id = ClientOrderId::parse(client_order_id)
            .map_err(|error| DeskError::Invalid(error.to_string()))?;
        let record = self
            .ledger
            .order(&id)
            .await?
            .ok_or_else(|| DeskError::Invalid(format!("no order {client_order_id}")))?;
        if record.status.is_terminal() {
            return Err(DeskError::Invalid(format!(
                "order {client_order_id} is already {}",
                record.status
            )));
        }
        let Some(broker_id) = record.broker_order_id.clone() else {
            return Err(DeskError::Invalid(format!(
                "order {client_order_id} is not confirmed by the broker yet; cancel it once it is"
            )));
        };
        match self.broker.cancel(&broker_id).await {
            Ok(()) | Err(BrokerError::NotFound(_)) => {}
            Err(error) => return Err(error.into()),
        }
        // A fill may have won the race: the broker's word decides the stored status.
        let order = self.broker.order(&broker_id).await?;
        self.adopt(&record, &order).await?;
        Ok(self.ledger.order(&id).await?.unwrap_or(record))
    }

    /// The orphan-leg rule: a pair trade whose legs did not both fill by the deadline, or one of
    /// whose legs ended unfilled, has its working leg cancelled and its filled quantity closed.
    async fn check_pair_trades(&self) -> Result<(usize, usize)> {
        let now = self.clock.now();
        let (mut filled, mut flattened) = (0, 0);
        for trade in self.ledger.pair_trades_with_status(&["pending"]).await? {
            let legs = self.ledger.orders_of_pair_trade(&trade.id).await?;
            let all_filled =
                legs.len() == 2 && legs.iter().all(|leg| leg.status == OrderStatus::Filled);
            if all_filled {
                self.ledger
                    .update_pair_trade(&trade.id, "filled", None, Some(now))
                    .await?;
                filled += 1;
                continue;
            }
            let failed_leg = legs.len() < 2
                || legs
                    .iter()
                    .any(|leg| leg.status.is_terminal() && leg.status != OrderStatus::Filled);
            if failed_leg || now >= trade.deadline {
                self.flatten_orphan(&trade, &legs, failed_leg).await?;
                flattened += 1;
            }
        }
        Ok((filled, flattened))
    }

    async fn flatten_orphan(
        &self,
        trade: &PairTradeRecord,
        legs: &[OrderRecord],
        failed_leg: bool,
    ) -> Result<()> {
        for leg in legs.iter().filter(|leg| !leg.status.is_terminal()) {
            if let Err(error) = self.cancel(leg.client_order_id.as_str()).await {
                tracing::warn!(client_order_id = %leg.client_order_id, %error, "could not cancel an orphan leg");
            }
        }
        let mut closed = Vec::new();
        for leg in legs {
            let Some(leg) = self.ledger.order(&leg.client_order_id).await? else {
                continue;
            };
            if leg.filled_quantity.value() <= Decimal::ZERO {
                continue;
            }
            let outcome = self
                .submit(TradeRequest {
                    strategy: trade.strategy.clone(),
                    script_hash: None,
                    run_id: None,
                    symbol: leg.symbol.clone(),
                    side: leg.side.opposite(),
                    quantity: leg.filled_quantity,
                    order_type: OrderType::Market,
                    time_in_force: TimeInForce::Day,
                    operator_flatten: false,
                })
                .await?;
            closed.push(format!(
                "{} {} {} ({})",
                leg.side.opposite().as_str(),
                leg.filled_quantity,
                leg.symbol,
                outcome.outcome
            ));
        }
        let why = if failed_leg {
            "a leg failed"
        } else {
            "the legs did not both fill by the deadline"
        };
        let note = if closed.is_empty() {
            format!("orphaned: {why}; nothing had filled")
        } else {
            format!("orphaned: {why}; closed {}", closed.join(", "))
        };
        let status = if closed.is_empty() {
            "failed"
        } else {
            "flattened"
        };
        self.ledger
            .update_pair_trade(&trade.id, status, Some(&note), Some(self.clock.now()))
            .await?;
        self.ledger
            .insert_alert(
                self.clock.now(),
                "orders",
                "warning",
                &format!("pair trade {} {}: {note}", trade.id, trade.pair),
                &serde_json::json!({ "pair_trade_id": trade.id, "pair": trade.pair }),
            )
            .await?;
        tracing::warn!(pair_trade = %trade.id, %note, "pair trade orphan handled");
        Ok(())
    }
}

/// The position book the stored fills add up to: per symbol, (shares, average cost).
#[derive(Debug)]
pub(super) struct FillBook {
    positions: HashMap<Symbol, (Decimal, Decimal)>,
    /// How many fills it holds, and their execution ids.
    fills: u64,
    ids: std::collections::HashSet<String>,
    /// The latest (time, execution id) applied.
    last: Option<(DateTime<Utc>, String)>,
    /// Whether every fill came in (time, execution id) order.
    in_order: bool,
}

impl FillBook {
    fn new() -> Self {
        Self {
            positions: HashMap::new(),
            fills: 0,
            ids: std::collections::HashSet::new(),
            last: None,
            in_order: true,
        }
    }

    fn position(&self, symbol: &Symbol) -> (Decimal, Decimal) {
        self.positions.get(symbol).copied().unwrap_or_default()
    }

    fn apply(
        &mut self,
        symbol: &Symbol,
        signed: Decimal,
        price: Decimal,
        key: (DateTime<Utc>, &str),
    ) {
        let entry = self.positions.entry(symbol.clone()).or_default();
        apply_to_book(entry, signed, price);
        self.fills += 1;
        if let Some((time, id)) = &self.last
            && (key.0, key.1) < (*time, id.as_str())
        {
            self.in_order = false;
        }
        self.last = Some((key.0, key.1.to_owned()));
        self.ids.insert(key.1.to_owned());
    }
}

/// The order in which a [`FillBook`] applies fills: by time, then execution id.
fn book_order(left: &crate::broker::Execution, right: &crate::broker::Execution) -> Ordering {
    (left.time, &left.execution_id).cmp(&(right.time, &right.execution_id))
}

/// Adds `signed` shares at `price` to a (shares, average cost) book entry.
fn apply_to_book(entry: &mut (Decimal, Decimal), signed: Decimal, price: Decimal) {
    let (held, cost) = *entry;
    let next = held + signed;
    let cost = if held.is_zero() || held.is_sign_negative() == signed.is_sign_negative() {
        if next.is_zero() {
            Decimal::ZERO
        } else {
            (cost * held + price * signed) / next
        }
    } else if next.is_zero() || next.is_sign_negative() != held.is_sign_negative() {
        // Closed through zero: what is left was opened at this price.
        price
    } else {
        cost
    };
    *entry = (next, cost);
}

/// The realised P&L of an execution that reduces the position `entry` describes (at its
/// average cost), for the consecutive-losses rule; `None` when it opens or adds.
fn realised(entry: (Decimal, Decimal), execution: &crate::broker::Execution) -> Option<Money> {
    let (held, cost) = entry;
    let signed = execution.side.sign() * execution.quantity.value();
    if held.is_zero() || held.is_sign_negative() == signed.is_sign_negative() {
        return None;
    }
    let closed = execution.quantity.value().min(held.abs());
    let direction = if held.is_sign_negative() {
        Decimal::NEGATIVE_ONE
    } else {
        Decimal::ONE
    };
    let pnl = (execution.price.value() - cost) * closed * direction;
    Some(Money::new(pnl) - execution.commission)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::Execution;
    use crate::domain::{OrderSide, Price, Quantity};

    fn execution(id: &str, symbol: &str, minute: i64) -> Execution {
        Execution {
            execution_id: id.to_owned(),
            broker_order_id: id.to_owned(),
            symbol: Symbol::parse(symbol).expect("symbol"),
            side: OrderSide::Buy,
            quantity: Quantity::new(Decimal::from(10)).expect("quantity"),
            price: Price::new(Decimal::from(100)).expect("price"),
            commission: Money::ZERO,
            time: DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::minutes(minute),
        }
    }

    fn apply(book: &mut FillBook, executions: &[Execution]) {
        for execution in executions {
            book.apply(
                &execution.symbol,
                execution.quantity.value(),
                execution.price.value(),
                (execution.time, &execution.execution_id),
            );
        }
    }

    #[test]
    fn executions_listed_by_symbol_are_applied_in_book_order_and_the_book_is_kept() {
        // Two legs filled at the same moment, listed as the backtest broker lists them (by
        // symbol): leg A's order was sent second, so its id sorts after leg B's.
        let listed = vec![
            execution("bt-00000002-1", "AAA", 1),
            execution("bt-00000001-1", "BBB", 1),
            execution("bt-00000003-1", "AAA", 2),
        ];
        let mut as_listed = FillBook::new();
        apply(&mut as_listed, &listed);
        assert!(
            !as_listed.in_order,
            "applied as listed, the book is out of order"
        );

        let mut sorted = listed.clone();
        sorted.sort_by(book_order);
        let ids: Vec<_> = sorted.iter().map(|e| e.execution_id.as_str()).collect();
        assert_eq!(ids, ["bt-00000001-1", "bt-00000002-1", "bt-00000003-1"]);
        let mut kept = FillBook::new();
        apply(&mut kept, &sorted);
        assert!(
            kept.in_order,
            "applied in book order, the book is kept between passes"
        );
        assert_eq!(kept.fills, 3);
        assert_eq!(
            kept.position(&Symbol::parse("AAA").expect("symbol")).0,
            Decimal::from(20)
        );
    }
}
