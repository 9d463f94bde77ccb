//! Keeps a backtest's pair-table writes in memory and turns them into what the report needs:
//! closed trades (entry signal → exit signal, P&L from the strategy's realised figures) and each
//! pair's z-score path with its entries and exits.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};

use crate::analytics::{TradeRecord, ZPath};
use crate::script::host::records::Recorder;
use crate::store::{PairPerformanceRecord, SignalRecord, SpreadRecord};

/// A trade opened and not yet closed.
#[derive(Debug, Clone)]
struct Open {
    time: DateTime<Utc>,
    direction: String,
    z: f64,
    realised_before: f64,
    pair_trade_id: Option<String>,
}

#[derive(Debug, Default)]
struct Book {
    spreads: BTreeMap<String, (Vec<DateTime<Utc>>, Vec<f64>)>,
    entries: BTreeMap<String, Vec<(DateTime<Utc>, f64)>>,
    exits: BTreeMap<String, Vec<(DateTime<Utc>, f64)>>,
    open: BTreeMap<String, Open>,
    /// Exits waiting for the cycle's performance row, which carries the realised P&L.
    closing: BTreeMap<String, (DateTime<Utc>, f64, String, Option<String>)>,
    /// The entry and exit pair trades of each closed trade, in `trades` order.
    trade_ids: Vec<(Option<String>, Option<String>)>,
    realised: BTreeMap<String, f64>,
    trades: Vec<TradeRecord>,
    signals: u64,
}

/// The in-memory recorder of one backtest.
#[derive(Debug, Default)]
pub struct BacktestRecorder {
    book: Mutex<Book>,
}

impl BacktestRecorder {
    fn with<T>(&self, body: impl FnOnce(&mut Book) -> T) -> T {
        body(&mut self.book.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Closed trades, with trades still open at the end closed at `end` (reason `end`).
    pub fn trades(&self, end: DateTime<Utc>) -> Vec<TradeRecord> {
        self.with(|book| {
            let mut trades = book.trades.clone();
            for (pair, open) in &book.open {
                trades.push(TradeRecord {
                    pair: pair.clone(),
                    entry_time: open.time,
                    exit_time: end,
                    direction: open.direction.clone(),
                    pnl: book.realised.get(pair).copied().unwrap_or(0.0) - open.realised_before,
                    entry_z: open.z,
                    exit_z: book
                        .spreads
                        .get(pair)
                        .and_then(|(_, z)| z.last().copied())
                        .unwrap_or(f64::NAN),
                    exit_reason: "end".to_owned(),
                });
            }
            trades
        })
    }

    /// The pair trades (entry, exit) behind each closed trade, in the order of [`Self::trades`].
    pub fn trade_ids(&self) -> Vec<(Option<String>, Option<String>)> {
        self.with(|book| book.trade_ids.clone())
    }

    /// Each pair's z-score path with its entries and exits, for the charts.
    pub fn z_paths(&self, entry: f64, exit: f64, stop: f64) -> Vec<ZPath> {
        self.with(|book| {
            book.spreads
                .iter()
                .map(|(pair, (times, z))| ZPath {
                    pair: pair.clone(),
                    times: times.clone(),
                    z: z.clone(),
                    entries: book.entries.get(pair).cloned().unwrap_or_default(),
                    exits: book.exits.get(pair).cloned().unwrap_or_default(),
                    entry,
                    exit,
                    stop,
                })
                .collect()
        })
    }

    /// How many signals were evaluated.
    pub fn signals(&self) -> u64 {
        self.with(|book| book.signals)
    }
}

impl Recorder for BacktestRecorder {
    fn spread(&self, record: SpreadRecord) {
        self.with(|book| {
            let (times, z) = book.spreads.entry(record.pair).or_default();
            times.push(record.time);
            z.push(record.zscore.unwrap_or(f64::NAN));
        });
    }

    fn signal(&self, record: SignalRecord) {
        self.with(|book| {
            book.signals += 1;
            let z = record.zscore.unwrap_or(f64::NAN);
            match record.signal.as_str() {
                "enter_long_spread" | "enter_short_spread" if record.position != "flat" => {
                    let direction = record.signal.trim_start_matches("enter_").to_owned();
                    let realised_before = book.realised.get(&record.pair).copied().unwrap_or(0.0);
                    book.entries
                        .entry(record.pair.clone())
                        .or_default()
                        .push((record.time, z));
                    book.open.insert(
                        record.pair,
                        Open {
                            time: record.time,
                            direction,
                            z,
                            realised_before,
                            pair_trade_id: record.pair_trade_id,
                        },
                    );
                }
                "exit" | "stop" | "time_stop" if record.position == "flat" => {
                    book.exits
                        .entry(record.pair.clone())
                        .or_default()
                        .push((record.time, z));
                    book.closing.insert(
                        record.pair,
                        (record.time, z, record.signal, record.pair_trade_id),
                    );
                }
                _ => {}
            }
        });
    }

    fn performance(&self, record: PairPerformanceRecord) {
        self.with(|book| {
            let realised: f64 = record.realised_pnl.parse().unwrap_or(0.0);
            book.realised.insert(record.pair.clone(), realised);
            if let Some((time, z, reason, exit_id)) = book.closing.remove(&record.pair)
                && let Some(open) = book.open.remove(&record.pair)
            {
                book.trade_ids.push((open.pair_trade_id.clone(), exit_id));
                book.trades.push(TradeRecord {
                    pair: record.pair,
                    entry_time: open.time,
                    exit_time: time,
                    direction: open.direction,
                    pnl: realised - open.realised_before,
                    entry_z: open.z,
                    exit_z: z,
                    exit_reason: reason,
                });
            }
        });
    }
}
