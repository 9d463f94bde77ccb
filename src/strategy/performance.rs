//! Live performance from the store: the equity curve (portfolio snapshots) and the closed pair
//! trades (entry and exit signals with their pair trades, P&L from the fills), in the shapes the
//! analytics module computes metrics, trade analysis and reports on.

use chrono::{DateTime, Utc};
use rust_decimal::prelude::ToPrimitive;

use crate::analytics::{EquityPoint, TradeRecord};
use crate::domain::OrderSide;
use crate::store::Store;

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

/// Cash the fills of a pair trade's legs moved: notional received less paid, less commission.
pub(crate) async fn cash_of(
    ledger: &dyn crate::trading::ledger::Ledger,
    pair_trade_id: &str,
    fills: &[crate::store::FillRecord],
) -> crate::store::Result<f64> {
    let mut cash = 0.0;
    for order in ledger.orders_of_pair_trade(pair_trade_id).await? {
        for fill in fills
            .iter()
            .filter(|fill| fill.client_order_id.as_ref() == Some(&order.client_order_id))
        {
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
    let fills = store.fills_since(since).await?;
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
