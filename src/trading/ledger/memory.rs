//! The ledger in memory: a backtest's desk keeps its book here, under one lock that is never held
//! across an await, with the indexes its hot paths read (open orders, a pair trade's legs, trades
//! by status, fills in book order) so no call scans the whole history.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::Ledger;
use crate::domain::{ClientOrderId, OrderStatus, Price, Symbol};
use crate::store::{
    AlertRecord, DecisionRecord, Error, FillRecord, MismatchRecord, NewDecision, OPEN_STATUSES,
    OrderProgress, OrderRecord, PairTradeRecord, PositionRecord, Result, RiskEventRecord,
    SnapshotRecord,
};

/// A ledger that lives as long as its value (a backtest's run). Answers as the database would.
#[derive(Default)]
pub struct MemoryLedger {
    book: Mutex<Book>,
}

/// A key that orders rows by time, then by their text id, as the database's `ORDER BY` does.
type TimeKey = (DateTime<Utc>, String);

#[derive(Default)]
struct Book {
    orders: Vec<OrderRecord>,
    by_client_id: HashMap<String, usize>,
    by_broker_id: HashMap<String, usize>,
    /// Open orders by (creation time, client order id).
    open: BTreeMap<TimeKey, usize>,
    /// How many orders were created at each time (the orders-per-day count).
    created: BTreeMap<DateTime<Utc>, u64>,
    /// Each pair trade's orders.
    legs: HashMap<String, Vec<usize>>,
    fills: BTreeMap<TimeKey, FillRecord>,
    fill_ids: HashSet<String>,
    decisions: Vec<DecisionRecord>,
    risk_state: Option<serde_json::Value>,
    risk_events: Vec<RiskEventRecord>,
    alerts: Vec<AlertRecord>,
    positions: BTreeMap<String, PositionRecord>,
    snapshots: BTreeMap<DateTime<Utc>, SnapshotRecord>,
    pair_trades: Vec<PairTradeRecord>,
    pair_index: HashMap<String, usize>,
    /// Pair trades by status, each set by (opening time, id).
    pairs_by_status: HashMap<String, BTreeSet<TimeKey>>,
    reconciliations: Vec<serde_json::Value>,
    mismatches: Vec<MismatchRecord>,
}

/// A time as the database keeps it: whole milliseconds.
fn millis(time: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(time.timestamp_millis()).unwrap_or(time)
}

fn is_open(status: OrderStatus) -> bool {
    OPEN_STATUSES.contains(&status.as_str())
}

/// The next id of a table whose ids count from one.
fn next_id(rows: usize) -> i64 {
    i64::try_from(rows).unwrap_or(i64::MAX - 1) + 1
}

impl MemoryLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, body: impl FnOnce(&mut Book) -> T) -> T {
        let mut book = self.book.lock().unwrap_or_else(PoisonError::into_inner);
        body(&mut book)
    }
}

impl Book {
    fn order_mut(&mut self, id: &ClientOrderId) -> Option<(usize, &mut OrderRecord)> {
        let index = *self.by_client_id.get(id.as_str())?;
        Some((index, &mut self.orders[index]))
    }

    fn sorted_orders(&self, indexes: impl Iterator<Item = usize>) -> Vec<OrderRecord> {
        let mut orders: Vec<&OrderRecord> = indexes.map(|index| &self.orders[index]).collect();
        orders.sort_by(|a, b| {
            (a.created_at, a.client_order_id.as_str())
                .cmp(&(b.created_at, b.client_order_id.as_str()))
        });
        orders.into_iter().cloned().collect()
    }

    fn set_pair_status(&mut self, index: usize, status: &str) {
        let trade = &mut self.pair_trades[index];
        let key = (trade.opened_at, trade.id.clone());
        if let Some(set) = self.pairs_by_status.get_mut(&trade.status) {
            set.remove(&key);
        }
        trade.status = status.to_owned();
        self.pairs_by_status
            .entry(status.to_owned())
            .or_default()
            .insert(key);
    }
}

#[async_trait]
impl Ledger for MemoryLedger {
    async fn insert_order(&self, order: &OrderRecord) -> Result<()> {
        self.with(|book| {
            let id = order.client_order_id.as_str();
            if book.by_client_id.contains_key(id) {
                return Err(Error::Duplicate {
                    table: "orders",
                    key: id.to_owned(),
                });
            }
            let record = OrderRecord {
                created_at: millis(order.created_at),
                submitted_at: order.submitted_at.map(millis),
                updated_at: millis(order.updated_at),
                ..order.clone()
            };
            let index = book.orders.len();
            book.by_client_id.insert(id.to_owned(), index);
            if let Some(broker_id) = &record.broker_order_id {
                book.by_broker_id.entry(broker_id.clone()).or_insert(index);
            }
            if is_open(record.status) {
                book.open.insert((record.created_at, id.to_owned()), index);
            }
            *book.created.entry(record.created_at).or_insert(0) += 1;
            if let Some(pair) = &record.pair_trade_id {
                book.legs.entry(pair.clone()).or_default().push(index);
            }
            book.orders.push(record);
            Ok(())
        })
    }

    async fn count_submit_attempt(&self, id: &ClientOrderId, at: DateTime<Utc>) -> Result<()> {
        self.with(|book| {
            if let Some((_, order)) = book.order_mut(id) {
                order.submit_attempts = order.submit_attempts.saturating_add(1);
                order.updated_at = millis(at);
            }
        });
        Ok(())
    }

    async fn update_order(
        &self,
        id: &ClientOrderId,
        progress: &OrderProgress,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.with(|book| {
            let Some((index, order)) = book.order_mut(id) else {
                return;
            };
            let was_open = is_open(order.status);
            if let Some(broker_id) = &progress.broker_order_id {
                order.broker_order_id = Some(broker_id.clone());
                order.submitted_at = order.submitted_at.or(Some(millis(at)));
            }
            order.status = progress.status;
            order.filled_quantity = progress.filled_quantity;
            order.average_fill_price = progress.average_fill_price;
            if progress.error.is_some() {
                order.error = progress.error.clone();
            }
            order.updated_at = millis(at);
            let key = (order.created_at, order.client_order_id.as_str().to_owned());
            let now_open = is_open(order.status);
            if let Some(broker_id) = &progress.broker_order_id {
                book.by_broker_id.entry(broker_id.clone()).or_insert(index);
            }
            match (was_open, now_open) {
                (true, false) => {
                    book.open.remove(&key);
                }
                (false, true) => {
                    book.open.insert(key, index);
                }
                _ => {}
            }
        });
        Ok(())
    }

    async fn order(&self, id: &ClientOrderId) -> Result<Option<OrderRecord>> {
        Ok(self.with(|book| {
            book.by_client_id
                .get(id.as_str())
                .map(|&index| book.orders[index].clone())
        }))
    }

    async fn order_by_broker_id(&self, broker_order_id: &str) -> Result<Option<OrderRecord>> {
        Ok(self.with(|book| {
            book.by_broker_id
                .get(broker_order_id)
                .map(|&index| book.orders[index].clone())
        }))
    }

    async fn open_orders(&self) -> Result<Vec<OrderRecord>> {
        Ok(self.with(|book| {
            book.open
                .values()
                .map(|&index| book.orders[index].clone())
                .collect()
        }))
    }

    async fn open_order_count(&self) -> Result<usize> {
        Ok(self.with(|book| book.open.len()))
    }

    async fn order_counts(&self, since: DateTime<Utc>) -> Result<(u64, u64)> {
        Ok(self.with(|book| {
            let recent = book.created.range(millis(since)..).map(|(_, n)| n).sum();
            (book.open.len() as u64, recent)
        }))
    }

    async fn orders_of_pair_trade(&self, pair_trade_id: &str) -> Result<Vec<OrderRecord>> {
        Ok(self.with(|book| match book.legs.get(pair_trade_id) {
            Some(legs) => book.sorted_orders(legs.iter().copied()),
            None => Vec::new(),
        }))
    }

    async fn recent_orders(&self, limit: u32) -> Result<Vec<OrderRecord>> {
        Ok(self.with(|book| {
            let mut orders = book.sorted_orders(0..book.orders.len());
            orders.reverse();
            orders.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            orders
        }))
    }

    async fn count_orders_since(&self, since: DateTime<Utc>) -> Result<u32> {
        Ok(self.with(|book| {
            let count: u64 = book.created.range(millis(since)..).map(|(_, n)| n).sum();
            u32::try_from(count).unwrap_or(u32::MAX)
        }))
    }

    async fn insert_fill(&self, fill: &FillRecord) -> Result<bool> {
        Ok(self.with(|book| {
            if !book.fill_ids.insert(fill.execution_id.clone()) {
                return false;
            }
            let record = FillRecord {
                time: millis(fill.time),
                ..fill.clone()
            };
            book.fills
                .insert((record.time, record.execution_id.clone()), record);
            true
        }))
    }

    async fn fill_count(&self) -> Result<u64> {
        Ok(self.with(|book| book.fills.len() as u64))
    }

    async fn fills_since(&self, since: DateTime<Utc>) -> Result<Vec<FillRecord>> {
        Ok(self.with(|book| {
            book.fills
                .range((millis(since), String::new())..)
                .map(|(_, fill)| fill.clone())
                .collect()
        }))
    }

    async fn insert_risk_decision(&self, decision: &NewDecision<'_>) -> Result<i64> {
        Ok(self.with(|book| {
            let id = next_id(book.decisions.len());
            book.decisions.push(DecisionRecord {
                id,
                time: millis(decision.time),
                strategy: decision.strategy.to_owned(),
                script_hash: decision.script_hash.map(str::to_owned),
                client_order_id: decision.client_order_id.map(str::to_owned),
                symbol: decision.symbol.to_owned(),
                side: decision.side.to_owned(),
                quantity: decision.quantity.clone(),
                approved_quantity: decision.approved_quantity.clone(),
                outcome: decision.outcome.to_owned(),
                rule: decision.rule.clone(),
                reason: decision.reason.clone(),
                inputs: decision.inputs.clone(),
            });
            id
        }))
    }

    async fn risk_decisions(&self, limit: u32) -> Result<Vec<DecisionRecord>> {
        Ok(self.with(|book| newest(&book.decisions, limit)))
    }

    async fn refusals_by_rule(&self) -> Result<BTreeMap<String, u64>> {
        Ok(self.with(|book| {
            let mut counts = BTreeMap::new();
            for decision in book.decisions.iter().filter(|d| d.outcome == "refused") {
                let rule = decision.rule.as_deref().unwrap_or("unnamed");
                *counts.entry(rule.to_owned()).or_insert(0) += 1;
            }
            counts
        }))
    }

    async fn risk_state(&self) -> Result<Option<serde_json::Value>> {
        Ok(self.with(|book| book.risk_state.clone()))
    }

    async fn save_risk_state(&self, state: &serde_json::Value, _at: DateTime<Utc>) -> Result<()> {
        self.with(|book| book.risk_state = Some(state.clone()));
        Ok(())
    }

    async fn insert_risk_event(
        &self,
        time: DateTime<Utc>,
        kind: &str,
        severity: &str,
        message: &str,
        details: &serde_json::Value,
    ) -> Result<i64> {
        Ok(self.with(|book| {
            let id = next_id(book.risk_events.len());
            book.risk_events.push(RiskEventRecord {
                id,
                time: millis(time),
                kind: kind.to_owned(),
                severity: severity.to_owned(),
                message: message.to_owned(),
                details: details.clone(),
                alerted_at: None,
            });
            id
        }))
    }

    async fn risk_events(&self, unalerted: bool, limit: u32) -> Result<Vec<RiskEventRecord>> {
        Ok(self.with(|book| {
            book.risk_events
                .iter()
                .rev()
                .filter(|event| !unalerted || event.alerted_at.is_none())
                .take(usize::try_from(limit).unwrap_or(usize::MAX))
                .cloned()
                .collect()
        }))
    }

    async fn mark_risk_event_alerted(&self, id: i64, at: DateTime<Utc>) -> Result<bool> {
        Ok(self.with(|book| {
            let event = usize::try_from(id - 1)
                .ok()
                .and_then(|index| book.risk_events.get_mut(index));
            match event {
                Some(event) if event.alerted_at.is_none() => {
                    event.alerted_at = Some(millis(at));
                    true
                }
                _ => false,
            }
        }))
    }

    async fn insert_alert(
        &self,
        time: DateTime<Utc>,
        source: &str,
        severity: &str,
        message: &str,
        details: &serde_json::Value,
    ) -> Result<i64> {
        Ok(self.with(|book| {
            let id = next_id(book.alerts.len());
            book.alerts.push(AlertRecord {
                id,
                time: millis(time),
                source: source.to_owned(),
                severity: severity.to_owned(),
                message: message.to_owned(),
                details: details.clone(),
            });
            id
        }))
    }

    async fn alerts(&self, limit: u32) -> Result<Vec<AlertRecord>> {
        Ok(self.with(|book| newest(&book.alerts, limit)))
    }

    async fn replace_positions(&self, positions: &[PositionRecord]) -> Result<()> {
        let mut replacement = BTreeMap::new();
        for position in positions {
            let record = PositionRecord {
                updated_at: millis(position.updated_at),
                ..position.clone()
            };
            // One row per symbol, as the table's key: a repeated symbol changes nothing.
            if replacement
                .insert(position.symbol.as_str().to_owned(), record)
                .is_some()
            {
                return Err(Error::Duplicate {
                    table: "positions",
                    key: position.symbol.as_str().to_owned(),
                });
            }
        }
        self.with(|book| book.positions = replacement);
        Ok(())
    }

    async fn positions(&self) -> Result<Vec<PositionRecord>> {
        Ok(self.with(|book| book.positions.values().cloned().collect()))
    }

    async fn insert_snapshot(&self, snapshot: &SnapshotRecord) -> Result<()> {
        let record = SnapshotRecord {
            time: millis(snapshot.time),
            ..snapshot.clone()
        };
        self.with(|book| book.snapshots.insert(record.time, record));
        Ok(())
    }

    async fn latest_snapshot(&self) -> Result<Option<SnapshotRecord>> {
        Ok(self.with(|book| book.snapshots.values().next_back().cloned()))
    }

    async fn last_minute_close(
        &self,
        _symbol: &Symbol,
        _at: DateTime<Utc>,
    ) -> Result<Option<Price>> {
        Ok(None)
    }

    async fn insert_pair_trade(&self, trade: &PairTradeRecord) -> Result<()> {
        self.with(|book| {
            if book.pair_index.contains_key(&trade.id) {
                return Err(Error::Duplicate {
                    table: "pair_trades",
                    key: trade.id.clone(),
                });
            }
            let record = PairTradeRecord {
                opened_at: millis(trade.opened_at),
                deadline: millis(trade.deadline),
                closed_at: trade.closed_at.map(millis),
                ..trade.clone()
            };
            book.pairs_by_status
                .entry(record.status.clone())
                .or_default()
                .insert((record.opened_at, record.id.clone()));
            book.pair_index
                .insert(record.id.clone(), book.pair_trades.len());
            book.pair_trades.push(record);
            Ok(())
        })
    }

    async fn update_pair_trade(
        &self,
        id: &str,
        status: &str,
        note: Option<&str>,
        closed_at: Option<DateTime<Utc>>,
    ) -> Result<()> {
        self.with(|book| {
            let Some(&index) = book.pair_index.get(id) else {
                return;
            };
            book.set_pair_status(index, status);
            let trade = &mut book.pair_trades[index];
            if let Some(note) = note {
                trade.note = Some(note.to_owned());
            }
            if let Some(closed_at) = closed_at {
                trade.closed_at = Some(millis(closed_at));
            }
        });
        Ok(())
    }

    async fn set_pair_trade_legs(&self, id: &str, leg_a: &str, leg_b: &str) -> Result<()> {
        self.with(|book| {
            if let Some(&index) = book.pair_index.get(id) {
                let trade = &mut book.pair_trades[index];
                trade.leg_a = leg_a.to_owned();
                trade.leg_b = leg_b.to_owned();
            }
        });
        Ok(())
    }

    async fn pair_trades_with_status(&self, statuses: &[&str]) -> Result<Vec<PairTradeRecord>> {
        Ok(self.with(|book| {
            let mut keys: Vec<&TimeKey> = statuses
                .iter()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .filter_map(|status| book.pairs_by_status.get(*status))
                .flatten()
                .collect();
            keys.sort();
            keys.into_iter()
                .filter_map(|(_, id)| book.pair_index.get(id))
                .map(|&index| book.pair_trades[index].clone())
                .collect()
        }))
    }

    async fn pair_trade(&self, id: &str) -> Result<Option<PairTradeRecord>> {
        Ok(self.with(|book| {
            book.pair_index
                .get(id)
                .map(|&index| book.pair_trades[index].clone())
        }))
    }

    async fn insert_reconciliation(
        &self,
        _time: DateTime<Utc>,
        _broker: &str,
        diff: &serde_json::Value,
        mismatches: &[MismatchRecord],
    ) -> Result<i64> {
        Ok(self.with(|book| {
            let id = next_id(book.reconciliations.len());
            book.reconciliations.push(diff.clone());
            for mismatch in mismatches {
                let mismatch_id = next_id(book.mismatches.len());
                book.mismatches.push(MismatchRecord {
                    id: mismatch_id,
                    reconciliation_id: id,
                    resolved_at: mismatch.resolved_at.map(millis),
                    ..mismatch.clone()
                });
            }
            id
        }))
    }

    async fn last_reconciliation(&self) -> Result<Option<(i64, serde_json::Value)>> {
        Ok(self.with(|book| {
            book.reconciliations
                .last()
                .map(|diff| (next_id(book.reconciliations.len() - 1), diff.clone()))
        }))
    }

    async fn unresolved_mismatches(&self) -> Result<Vec<MismatchRecord>> {
        Ok(self.with(|book| {
            book.mismatches
                .iter()
                .filter(|mismatch| mismatch.resolved_at.is_none())
                .cloned()
                .collect()
        }))
    }

    async fn blocked_symbols(&self) -> Result<Vec<String>> {
        Ok(self.with(|book| {
            book.mismatches
                .iter()
                .filter(|mismatch| mismatch.resolved_at.is_none() && mismatch.blocking)
                .map(|mismatch| {
                    mismatch
                        .symbol
                        .clone()
                        .unwrap_or_else(|| "(account)".to_owned())
                })
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()
        }))
    }

    async fn blocking_mismatch(&self, symbol: &str) -> Result<Option<MismatchRecord>> {
        Ok(self.with(|book| {
            let holds =
                |mismatch: &&MismatchRecord| mismatch.resolved_at.is_none() && mismatch.blocking;
            // The symbol's own mismatch first, then the account's (ids ascend in the list).
            book.mismatches
                .iter()
                .filter(holds)
                .find(|mismatch| mismatch.symbol.as_deref() == Some(symbol))
                .or_else(|| {
                    book.mismatches
                        .iter()
                        .filter(holds)
                        .find(|mismatch| mismatch.symbol.is_none())
                })
                .cloned()
        }))
    }

    async fn resolve_mismatches(
        &self,
        symbol: Option<&str>,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<u64> {
        Ok(self.with(|book| {
            let mut resolved = 0;
            for mismatch in &mut book.mismatches {
                if mismatch.resolved_at.is_none() && mismatch.symbol.as_deref() == symbol {
                    mismatch.resolved_at = Some(millis(at));
                    mismatch.resolved_by = Some(by.to_owned());
                    resolved += 1;
                }
            }
            resolved
        }))
    }
}

/// The last `limit` rows, newest first.
fn newest<T: Clone>(rows: &[T], limit: u32) -> Vec<T> {
    rows.iter()
        .rev()
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .cloned()
        .collect()
}
