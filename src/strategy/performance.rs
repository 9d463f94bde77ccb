//! Live performance from the store: the equity curve (portfolio snapshots) and the closed pair
//! trades (entry and exit signals with their pair trades, P&L from the fills), in the shapes the
//! analytics module computes metrics, trade analysis and reports on.

use chrono::{DateTime, Utc};
use rust_decimal::prelude::ToPrimitive;

use crate::analytics::{EquityPoint, TradeRecord};
use std::collections::HashMap;

use crate::domain::{ClientOrderId, OrderSide};
use crate::store::{FillRecord, Store};

/// Equity after each snapshot since `since`.
pub async fn equity(store: &Store, since: DateTime<Utc>) -> crate::store::Result<Vec<EquityPoint>> {
    Ok(store
        .snapshots_since(since)
        .await?
        .into_iter()
        .map(|snapshot| EquityPoint {
            time: snapshot.time,
            equity: snapshot.equity.value().to_f64().unwrap_or(0.0),
            exposure: snapshot.gross_exposure.value().to_f64().unwrap_or(0.0),
        })
        .collect())
}

/// Executions by the order they filled, in their stored order: a trade's cash is then a look-up
/// per leg, not a pass over every fill.
pub(crate) type FillsByOrder = HashMap<ClientOrderId, Vec<FillRecord>>;

/// Groups executions by their order (those of no known order are left out).
pub(crate) fn by_order(fills: Vec<FillRecord>) -> FillsByOrder {
    let mut grouped = FillsByOrder::new();
    for fill in fills {
        if let Some(order) = fill.client_order_id.clone() {
            grouped.entry(order).or_default().push(fill);
        }
    }
    grouped
}

/// Cash the fills of a pair trade's legs moved: notional received less paid, less commission.
pub(crate) async fn cash_of(
    ledger: &dyn crate::trading::ledger::Ledger,
    pair_trade_id: &str,
    fills: &FillsByOrder,
) -> crate::store::Result<f64> {
    let mut cash = 0.0;
    for order in ledger.orders_of_pair_trade(pair_trade_id).await? {
        for fill in fills.get(&order.client_order_id).into_iter().flatten() {
            let notional = fill.quantity.value().to_f64().unwrap_or(0.0) * fill.price.to_f64();
            let sign = if fill.side == OrderSide::Buy {
                -1.0
            } else {
                1.0
            };
            cash += sign * notional - fill.commission.value().to_f64().unwrap_or(0.0);
        }
    }
    Ok(cash)
}

/// Pair trades closed since `since`: each entry signal matched with the next exit of its pair.
pub async fn trades(store: &Store, since: DateTime<Utc>) -> crate::store::Result<Vec<TradeRecord>> {
    let signals = store.trade_signals_since(since).await?;
    let fills = by_order(store.fills_since(since).await?);
    let mut open: std::collections::BTreeMap<String, crate::store::SignalRecord> =
        Default::default();
    let mut trades = Vec::new();
    for signal in signals {
        if signal.signal.starts_with("enter") && signal.position != "flat" {
            open.insert(signal.pair.clone(), signal);
        } else if signal.position == "flat"
            && let Some(entry) = open.remove(&signal.pair)
        {
            let (Some(entry_id), Some(exit_id)) = (&entry.pair_trade_id, &signal.pair_trade_id)
            else {
                continue;
            };
            let pnl =
                cash_of(store, entry_id, &fills).await? + cash_of(store, exit_id, &fills).await?;
            trades.push(TradeRecord {
                pair: signal.pair.clone(),
                entry_time: entry.time,
                exit_time: signal.time,
                direction: entry.signal.trim_start_matches("enter_").to_owned(),
                pnl,
                entry_z: entry.zscore.unwrap_or(f64::NAN),
                exit_z: signal.zscore.unwrap_or(f64::NAN),
                exit_reason: signal.signal.clone(),
            });
        }
    }
    Ok(trades)
}
