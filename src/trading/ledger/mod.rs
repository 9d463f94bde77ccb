//! The desk's book of record behind one trait: the outbox, fills, risk decisions, the risk state
//! and events, alerts, positions and snapshots, pair trades and reconciliations.
//!
//! The daemon's desk keeps it in the database ([`Store`] implements [`Ledger`] by its own
//! queries); a backtest's desk keeps it in memory ([`MemoryLedger`]), because every database
//! statement costs a round trip to a SQLite worker thread and a backtest issues tens of
//! thousands of them for a book nobody else reads. The two answer every call alike — the same
//! rows in the same order, times to the millisecond as the database keeps them — and one test
//! suite (`tests/ledger.rs`) holds both to it.

mod memory;

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use memory::MemoryLedger;

use crate::domain::{ClientOrderId, Price, Symbol, Timeframe};
use crate::store::{
    AlertRecord, BarQuery, DecisionRecord, FillRecord, MismatchRecord, NewDecision, OrderProgress,
    OrderRecord, PairTradeRecord, PositionRecord, Result, RiskEventRecord, SnapshotRecord, Store,
};

/// What the order desk reads and writes. Methods mirror the [`Store`]'s of the same names; their
/// documentation there is the contract.
#[async_trait]
pub trait Ledger: Send + Sync {
    // The outbox.

    /// Writes an intent; fails if the client order id exists.
    async fn insert_order(&self, order: &OrderRecord) -> Result<()>;
    /// Counts one more send of an intent to the broker.
    async fn count_submit_attempt(&self, id: &ClientOrderId, at: DateTime<Utc>) -> Result<()>;
    /// Writes what the broker said about an order.
    async fn update_order(
        &self,
        id: &ClientOrderId,
        progress: &OrderProgress,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// One order by client order id.
    async fn order(&self, id: &ClientOrderId) -> Result<Option<OrderRecord>>;
    /// One order by the broker's id.
    async fn order_by_broker_id(&self, broker_order_id: &str) -> Result<Option<OrderRecord>>;
    /// Orders that may still change at the broker, oldest first.
    async fn open_orders(&self) -> Result<Vec<OrderRecord>>;
    /// How many orders may still change at the broker.
    async fn open_order_count(&self) -> Result<usize>;
    /// How many orders are open and how many were created at or after `since`.
    async fn order_counts(&self, since: DateTime<Utc>) -> Result<(u64, u64)>;
    /// Orders of a pair trade, oldest first.
    async fn orders_of_pair_trade(&self, pair_trade_id: &str) -> Result<Vec<OrderRecord>>;
    /// The newest orders, newest first.
    async fn recent_orders(&self, limit: u32) -> Result<Vec<OrderRecord>>;
    /// How many orders were created at or after `since`.
    async fn count_orders_since(&self, since: DateTime<Utc>) -> Result<u32>;

    // Executions.

    /// Stores an execution once; returns whether it was new.
    async fn insert_fill(&self, fill: &FillRecord) -> Result<bool>;
    /// How many executions are stored.
    async fn fill_count(&self) -> Result<u64>;
    /// Executions at or after `since`, in (time, execution id) order.
    async fn fills_since(&self, since: DateTime<Utc>) -> Result<Vec<FillRecord>>;

    // Risk.

    /// Records a decision; returns its id.
    async fn insert_risk_decision(&self, decision: &NewDecision<'_>) -> Result<i64>;
    /// The newest decisions, newest first.
    async fn risk_decisions(&self, limit: u32) -> Result<Vec<DecisionRecord>>;
    /// How many decisions each rule refused (`unnamed` for a refusal without one), by rule.
    async fn refusals_by_rule(&self) -> Result<BTreeMap<String, u64>>;
    /// The engine's saved state.
    async fn risk_state(&self) -> Result<Option<serde_json::Value>>;
    /// Saves the engine's state.
    async fn save_risk_state(&self, state: &serde_json::Value, at: DateTime<Utc>) -> Result<()>;
    /// Records a risk event; returns its id.
    async fn insert_risk_event(
        &self,
        time: DateTime<Utc>,
        kind: &str,
        severity: &str,
        message: &str,
        details: &serde_json::Value,
    ) -> Result<i64>;
    /// The newest risk events (only those not yet alerted when `unalerted`), newest first.
    async fn risk_events(&self, unalerted: bool, limit: u32) -> Result<Vec<RiskEventRecord>>;
    /// Marks an event alerted; false when it already was (another pass got there first).
    async fn mark_risk_event_alerted(&self, id: i64, at: DateTime<Utc>) -> Result<bool>;
    /// Records an alert; returns its id.
    async fn insert_alert(
        &self,
        time: DateTime<Utc>,
        source: &str,
        severity: &str,
        message: &str,
        details: &serde_json::Value,
    ) -> Result<i64>;
    /// The newest alerts, newest first.
    async fn alerts(&self, limit: u32) -> Result<Vec<AlertRecord>>;

    // The portfolio.

    /// Replaces the stored positions.
    async fn replace_positions(&self, positions: &[PositionRecord]) -> Result<()>;
    /// The stored positions, by symbol.
    async fn positions(&self) -> Result<Vec<PositionRecord>>;
    /// Stores an equity snapshot (one per time: a second one replaces the first).
    async fn insert_snapshot(&self, snapshot: &SnapshotRecord) -> Result<()>;
    /// The newest snapshot.
    async fn latest_snapshot(&self) -> Result<Option<SnapshotRecord>>;
    /// The close of the newest one-minute bar of `symbol` at or before `at` (a ledger in memory
    /// holds no bars: its desk takes prices from its own source).
    async fn last_minute_close(&self, symbol: &Symbol, at: DateTime<Utc>) -> Result<Option<Price>>;

    // Pair trades.

    /// Writes a pair trade; fails if the id exists.
    async fn insert_pair_trade(&self, trade: &PairTradeRecord) -> Result<()>;
    /// Sets a pair trade's status (and its note and close time when given).
    async fn update_pair_trade(
        &self,
        id: &str,
        status: &str,
        note: Option<&str>,
        closed_at: Option<DateTime<Utc>>,
    ) -> Result<()>;
    /// Sets a pair trade's legs.
    async fn set_pair_trade_legs(&self, id: &str, leg_a: &str, leg_b: &str) -> Result<()>;
    /// Pair trades in any of `statuses`, oldest first.
    async fn pair_trades_with_status(&self, statuses: &[&str]) -> Result<Vec<PairTradeRecord>>;
    /// One pair trade.
    async fn pair_trade(&self, id: &str) -> Result<Option<PairTradeRecord>>;

    // Reconciliations.

    /// Records a reconciliation and its mismatches; returns its id.
    async fn insert_reconciliation(
        &self,
        time: DateTime<Utc>,
        broker: &str,
        diff: &serde_json::Value,
        mismatches: &[MismatchRecord],
    ) -> Result<i64>;
    /// The newest reconciliation's id and diff.
    async fn last_reconciliation(&self) -> Result<Option<(i64, serde_json::Value)>>;
    /// Mismatches not resolved yet, oldest first.
    async fn unresolved_mismatches(&self) -> Result<Vec<MismatchRecord>>;
    /// The symbols (or `(account)`) an unresolved blocking mismatch holds, sorted.
    async fn blocked_symbols(&self) -> Result<Vec<String>>;
    /// The unresolved blocking mismatch that holds `symbol` (its own before the account's).
    async fn blocking_mismatch(&self, symbol: &str) -> Result<Option<MismatchRecord>>;
    /// Resolves the unresolved mismatches of `symbol` (of the account when `None`).
    async fn resolve_mismatches(
        &self,
        symbol: Option<&str>,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<u64>;
}

#[async_trait]
impl Ledger for Store {
    async fn insert_order(&self, order: &OrderRecord) -> Result<()> {
        Store::insert_order(self, order).await
    }
    async fn count_submit_attempt(&self, id: &ClientOrderId, at: DateTime<Utc>) -> Result<()> {
        Store::count_submit_attempt(self, id, at).await
    }
    async fn update_order(
        &self,
        id: &ClientOrderId,
        progress: &OrderProgress,
        at: DateTime<Utc>,
    ) -> Result<()> {
        Store::update_order(self, id, progress, at).await
    }
    async fn order(&self, id: &ClientOrderId) -> Result<Option<OrderRecord>> {
        Store::order(self, id).await
    }
    async fn order_by_broker_id(&self, broker_order_id: &str) -> Result<Option<OrderRecord>> {
        Store::order_by_broker_id(self, broker_order_id).await
    }
    async fn open_orders(&self) -> Result<Vec<OrderRecord>> {
        Store::open_orders(self).await
    }
    async fn open_order_count(&self) -> Result<usize> {
        Store::open_order_count(self).await
    }
    async fn order_counts(&self, since: DateTime<Utc>) -> Result<(u64, u64)> {
        Store::order_counts(self, since).await
    }
    async fn orders_of_pair_trade(&self, pair_trade_id: &str) -> Result<Vec<OrderRecord>> {
        Store::orders_of_pair_trade(self, pair_trade_id).await
    }
    async fn recent_orders(&self, limit: u32) -> Result<Vec<OrderRecord>> {
        Store::recent_orders(self, limit).await
    }
    async fn count_orders_since(&self, since: DateTime<Utc>) -> Result<u32> {
        Store::count_orders_since(self, since).await
    }
    async fn insert_fill(&self, fill: &FillRecord) -> Result<bool> {
        Store::insert_fill(self, fill).await
    }
    async fn fill_count(&self) -> Result<u64> {
        Store::fill_count(self).await
    }
    async fn fills_since(&self, since: DateTime<Utc>) -> Result<Vec<FillRecord>> {
        Store::fills_since(self, since).await
    }
    async fn insert_risk_decision(&self, decision: &NewDecision<'_>) -> Result<i64> {
        Store::insert_risk_decision(self, decision).await
    }
    async fn risk_decisions(&self, limit: u32) -> Result<Vec<DecisionRecord>> {
        Store::risk_decisions(self, limit).await
    }
    async fn refusals_by_rule(&self) -> Result<BTreeMap<String, u64>> {
        Store::refusals_by_rule(self).await
    }
    async fn risk_state(&self) -> Result<Option<serde_json::Value>> {
        Store::risk_state(self).await
    }
    async fn save_risk_state(&self, state: &serde_json::Value, at: DateTime<Utc>) -> Result<()> {
        Store::save_risk_state(self, state, at).await
    }
    async fn insert_risk_event(
        &self,
        time: DateTime<Utc>,
        kind: &str,
        severity: &str,
        message: &str,
        details: &serde_json::Value,
    ) -> Result<i64> {
        Store::insert_risk_event(self, time, kind, severity, message, details).await
    }
    async fn risk_events(&self, unalerted: bool, limit: u32) -> Result<Vec<RiskEventRecord>> {
        Store::risk_events(self, unalerted, limit).await
    }
    async fn mark_risk_event_alerted(&self, id: i64, at: DateTime<Utc>) -> Result<bool> {
        Store::mark_risk_event_alerted(self, id, at).await
    }
    async fn insert_alert(
        &self,
        time: DateTime<Utc>,
        source: &str,
        severity: &str,
        message: &str,
        details: &serde_json::Value,
    ) -> Result<i64> {
        Store::insert_alert(self, time, source, severity, message, details).await
    }
    async fn alerts(&self, limit: u32) -> Result<Vec<AlertRecord>> {
        Store::alerts(self, limit).await
    }
    async fn replace_positions(&self, positions: &[PositionRecord]) -> Result<()> {
        Store::replace_positions(self, positions).await
    }
    async fn positions(&self) -> Result<Vec<PositionRecord>> {
        Store::positions(self).await
    }
    async fn insert_snapshot(&self, snapshot: &SnapshotRecord) -> Result<()> {
        Store::insert_snapshot(self, snapshot).await
    }
    async fn latest_snapshot(&self) -> Result<Option<SnapshotRecord>> {
        Store::latest_snapshot(self).await
    }
    async fn last_minute_close(&self, symbol: &Symbol, at: DateTime<Utc>) -> Result<Option<Price>> {
        let query = BarQuery {
            to: Some(at),
            limit: Some(1),
            ..BarQuery::all(symbol.clone(), Timeframe::MINUTE)
        };
        Ok(self.bars(&query).await?.last().map(|bar| bar.close))
    }
    async fn insert_pair_trade(&self, trade: &PairTradeRecord) -> Result<()> {
        Store::insert_pair_trade(self, trade).await
    }
    async fn update_pair_trade(
        &self,
        id: &str,
        status: &str,
        note: Option<&str>,
        closed_at: Option<DateTime<Utc>>,
    ) -> Result<()> {
        Store::update_pair_trade(self, id, status, note, closed_at).await
    }
    async fn set_pair_trade_legs(&self, id: &str, leg_a: &str, leg_b: &str) -> Result<()> {
        Store::set_pair_trade_legs(self, id, leg_a, leg_b).await
    }
    async fn pair_trades_with_status(&self, statuses: &[&str]) -> Result<Vec<PairTradeRecord>> {
        Store::pair_trades_with_status(self, statuses).await
    }
    async fn pair_trade(&self, id: &str) -> Result<Option<PairTradeRecord>> {
        Store::pair_trade(self, id).await
    }
    async fn insert_reconciliation(
        &self,
        time: DateTime<Utc>,
        broker: &str,
        diff: &serde_json::Value,
        mismatches: &[MismatchRecord],
    ) -> Result<i64> {
        Store::insert_reconciliation(self, time, broker, diff, mismatches).await
    }
    async fn last_reconciliation(&self) -> Result<Option<(i64, serde_json::Value)>> {
        Store::last_reconciliation(self).await
    }
    async fn unresolved_mismatches(&self) -> Result<Vec<MismatchRecord>> {
        Store::unresolved_mismatches(self).await
    }
    async fn blocked_symbols(&self) -> Result<Vec<String>> {
        Store::blocked_symbols(self).await
    }
    async fn blocking_mismatch(&self, symbol: &str) -> Result<Option<MismatchRecord>> {
        Store::blocking_mismatch(self, symbol).await
    }
    async fn resolve_mismatches(
        &self,
        symbol: Option<&str>,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<u64> {
        Store::resolve_mismatches(self, symbol, by, at).await
    }
}
