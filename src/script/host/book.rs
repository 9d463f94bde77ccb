//! `pairs::book(pair)`: a pair's book — the trade it holds (side, leg quantities, entry prices,
//! z and time) and its standing (closed trades, wins, realised P&L and the last closed trades'
//! P&L that Kelly sizes from). The script decides when to open and close; the book does the
//! arithmetic of a pair position, as `pairs::model` does the fit's.
//!
//! The book persists in the script's state under `book:<pair>`: in the database live (so an open
//! trade survives a restart or a reload), in the overlay in a backtest. Only `open` and `close`
//! write; reading it each cycle costs one state read. Where no book is stored yet, a trade and
//! standing that the earlier script kept under `trade:`, `standing:` and `results:` are read from
//! those keys, so upgrading a running daemon never forgets an open trade.

use std::collections::VecDeque;
use std::sync::Arc;

use rhai::{Array, Dynamic, Engine, INT, Module, NativeCallContext};
use serde::{Deserialize, Serialize};

use super::pair::Pair;
use super::pairs::PairView;
use super::{error, host, located};

type Result<T> = std::result::Result<T, Box<rhai::EvalAltResult>>;

/// How many closed trades' P&L a book keeps for sizing.
const RESULTS_KEPT: usize = 100;

/// Which way a pair trade is held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// No trade.
    #[default]
    Flat,
    /// Long B, short A: the spread is expected to rise.
    LongSpread,
    /// Short B, long A.
    ShortSpread,
}

impl Side {
    /// The name scripts and the pair tables use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Flat => "flat",
            Self::LongSpread => "long_spread",
            Self::ShortSpread => "short_spread",
        }
    }

    /// +1 long the spread, −1 short, 0 flat: the sign of the P&L of a rising B.
    fn direction(self) -> f64 {
        match self {
            Self::Flat => 0.0,
            Self::LongSpread => 1.0,
            Self::ShortSpread => -1.0,
        }
    }
}

/// A pair's trade and standing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BookState {
    /// The pair's name (the state key).
    pub pair: String,
    /// The trade held.
    pub side: Side,
    /// Leg A's quantity in the trade.
    pub quantity_a: f64,
    /// Leg B's quantity in the trade.
    pub quantity_b: f64,
    /// Leg A's price at entry.
    pub entry_a: f64,
    /// Leg B's price at entry.
    pub entry_b: f64,
    /// The z-score at entry.
    pub entry_z: f64,
    /// When the trade opened (Unix milliseconds).
    pub entry_ms: i64,
    /// The entry's pair trade.
    pub pair_trade_id: Option<String>,
    /// Closed trades.
    pub trades: i64,
    /// Closed trades with a positive P&L.
    pub wins: i64,
    /// The closed trades' P&L summed.
    pub realised: f64,
    /// The last closed trades' P&L, oldest first.
    pub results: VecDeque<f64>,
}

impl BookState {
    /// The trade's P&L at these prices (0 when flat), from the closes the strategy saw: the
    /// strategy's estimate; the fills decide the account's.
    pub fn pnl_at(&self, price_a: f64, price_b: f64) -> f64 {
        if self.side == Side::Flat {
            return 0.0;
        }
        self.side.direction()
            * (self.quantity_b * (price_b - self.entry_b)
                - self.quantity_a * (price_a - self.entry_a))
    }

    /// Hours the trade has been held at `now_ms` (0 when flat).
    pub fn held_hours(&self, now_ms: i64) -> f64 {
        if self.side == Side::Flat {
            return 0.0;
        }
        (now_ms - self.entry_ms) as f64 / 3_600_000.0
    }

    /// Opens a trade; refused while one is held (a script that forgets to close first would
    /// otherwise lose track of a position that is still at the broker).
    pub fn open(
        &mut self,
        side: Side,
        quantities: (f64, f64),
        prices: (f64, f64),
        z: f64,
        now_ms: i64,
        pair_trade_id: Option<String>,
    ) -> std::result::Result<(), String> {
        if self.side != Side::Flat {
            return Err(format!(
                "the book of {} already holds a {} trade; close it first",
                self.pair,
                self.side.as_str()
            ));
        }
        if side == Side::Flat {
            return Err("a trade opens long_spread or short_spread".to_owned());
        }
        let (quantity_a, quantity_b) = quantities;
        if !(quantity_a > 0.0 && quantity_b > 0.0) {
            return Err(format!(
                "a trade's quantities must be above zero, got {quantity_a} and {quantity_b}"
            ));
        }
        *self = Self {
            side,
            quantity_a,
            quantity_b,
            entry_a: prices.0,
            entry_b: prices.1,
            entry_z: z,
            entry_ms: now_ms,
            pair_trade_id,
            pair: std::mem::take(&mut self.pair),
            results: std::mem::take(&mut self.results),
            ..*self
        };
        Ok(())
    }

    /// Closes the trade at these prices: its P&L joins the standing, and the book is flat.
    pub fn close(&mut self, price_a: f64, price_b: f64) -> std::result::Result<f64, String> {
        if self.side == Side::Flat {
            return Err(format!("the book of {} holds no trade to close", self.pair));
        }
        let pnl = self.pnl_at(price_a, price_b);
        self.trades += 1;
        self.wins += i64::from(pnl > 0.0);
        self.realised += pnl;
        self.results.push_back(pnl);
        while self.results.len() > RESULTS_KEPT {
            self.results.pop_front();
        }
        *self = Self {
            pair: std::mem::take(&mut self.pair),
            trades: self.trades,
            wins: self.wins,
            realised: self.realised,
            results: std::mem::take(&mut self.results),
            ..Self::default()
        };
        Ok(pnl)
    }
}

/// A pair's book as scripts hold it: shared until it changes, so handing it to the host each
/// cycle (the standing's row) costs a reference count, not a copy of its hundred results.
#[derive(Debug, Clone, PartialEq)]
pub struct PairBook(Arc<BookState>);

impl PairBook {
    /// A book holding `state`.
    pub fn new(state: BookState) -> Self {
        Self(Arc::new(state))
    }

    fn state_mut(&mut self) -> &mut BookState {
        Arc::make_mut(&mut self.0)
    }
}

impl std::ops::Deref for PairBook {
    type Target = BookState;

    fn deref(&self) -> &BookState {
        &self.0
    }
}

fn key(pair: &str) -> String {
    format!("book:{pair}")
}

/// A number from a legacy state map.
fn legacy_number(map: &serde_json::Value, field: &str) -> f64 {
    map.get(field)
        .and_then(serde_json::Value::as_f64)
        .unwrap_or(0.0)
}

/// A book from the earlier script's `trade:`, `standing:` and `results:` keys, if any is set.
fn legacy(
    pair: &str,
    read: impl Fn(&str) -> Result<Option<serde_json::Value>>,
) -> Result<Option<BookState>> {
    let trade = read(&format!("trade:{pair}"))?;
    let standing = read(&format!("standing:{pair}"))?;
    let results = read(&format!("results:{pair}"))?;
    if trade.is_none() && standing.is_none() && results.is_none() {
        return Ok(None);
    }
    let trade = trade.unwrap_or_default();
    let standing = standing.unwrap_or_default();
    let side = match trade.get("side").and_then(serde_json::Value::as_str) {
        Some("long_spread") => Side::LongSpread,
        Some("short_spread") => Side::ShortSpread,
        _ => Side::Flat,
    };
    let results = results
        .or_else(|| standing.get("results").cloned())
        .and_then(|value| value.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(serde_json::Value::as_f64)
        .collect();
    Ok(Some(BookState {
        pair: pair.to_owned(),
        side,
        quantity_a: legacy_number(&trade, "quantity_a"),
        quantity_b: legacy_number(&trade, "quantity_b"),
        entry_a: legacy_number(&trade, "entry_a"),
        entry_b: legacy_number(&trade, "entry_b"),
        entry_z: legacy_number(&trade, "entry_z"),
        entry_ms: legacy_number(&trade, "entry_ms") as i64,
        pair_trade_id: trade
            .get("pair_trade_id")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned),
        trades: legacy_number(&standing, "trades") as i64,
        wins: legacy_number(&standing, "wins") as i64,
        realised: legacy_number(&standing, "realised"),
        results,
    }))
}

/// The book of `pair`: from the overlay in a backtest, the database otherwise.
fn load(pair: &Pair) -> Result<PairBook> {
    let (invocation, host) = host()?;
    let name = &pair.config().name;
    let fresh = || BookState {
        pair: name.clone(),
        ..BookState::default()
    };
    if let Some(overlay) = &invocation.overlay {
        let state = overlay
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        return Ok(state
            .get(&key(name))
            .and_then(|value| value.read_lock::<PairBook>().map(|book| book.clone()))
            .unwrap_or_else(|| PairBook::new(fresh())));
    }
    if let Some(value) = super::state::stored(&invocation, &host, &key(name))? {
        return serde_json::from_value(value)
            .map(PairBook::new)
            .map_err(|failure| {
                error(format!(
                    "pairs::book: the stored book of {name} is not a book: {failure}"
                ))
            });
    }
    let state =
        legacy(name, |key| super::state::stored(&invocation, &host, key))?.unwrap_or_else(fresh);
    Ok(PairBook::new(state))
}

/// Writes `book` where [`load`] reads it.
fn save(book: &PairBook) -> Result<()> {
    let (invocation, host) = host()?;
    let value = Dynamic::from(book.clone());
    super::state::put(&invocation, &host, &key(&book.pair), value, |_| {
        serde_json::to_string(&**book).map_err(|failure| error(format!("pairs::book: {failure}")))
    })
}

fn now_ms() -> Result<i64> {
    Ok(host()?.1.clock.now().timestamp_millis())
}

fn side_named(text: &str) -> Result<Side> {
    match text {
        "long_spread" => Ok(Side::LongSpread),
        "short_spread" => Ok(Side::ShortSpread),
        other => Err(error(format!(
            "a trade opens `long_spread` or `short_spread`, got `{other}`"
        ))),
    }
}

/// A ready model's last prices, or why the book cannot use it.
fn prices(model: &PairView) -> Result<(f64, f64)> {
    if !model.ready {
        return Err(error(format!(
            "the model is not ready ({}); a trade needs its prices",
            model.reason
        )));
    }
    Ok((model.price_a, model.price_b))
}

/// Registers the `PairBook` type and adds `book` to the `pairs` module.
pub fn register(engine: &mut Engine, module: &mut Module) {
    engine
        .register_type_with_name::<PairBook>("PairBook")
        .register_get("pair", |book: &mut PairBook| book.pair.clone())
        .register_get("side", |book: &mut PairBook| {
            rhai::ImmutableString::from(book.side.as_str())
        })
        .register_get("flat", |book: &mut PairBook| book.side == Side::Flat)
        .register_get("quantity_a", |book: &mut PairBook| book.quantity_a)
        .register_get("quantity_b", |book: &mut PairBook| book.quantity_b)
        .register_get("entry_a", |book: &mut PairBook| book.entry_a)
        .register_get("entry_b", |book: &mut PairBook| book.entry_b)
        .register_get("entry_z", |book: &mut PairBook| book.entry_z)
        .register_get("entry_ms", |book: &mut PairBook| book.entry_ms as INT)
        .register_get("pair_trade_id", |book: &mut PairBook| {
            book.pair_trade_id
                .clone()
                .map_or(Dynamic::UNIT, Dynamic::from)
        })
        .register_get("trades", |book: &mut PairBook| book.trades as INT)
        .register_get("wins", |book: &mut PairBook| book.wins as INT)
        .register_get("realised", |book: &mut PairBook| book.realised)
        .register_get("results", |book: &mut PairBook| {
            book.results
                .iter()
                .copied()
                .map(Dynamic::from)
                .collect::<Array>()
        })
        .register_fn(
            "held_hours",
            |context: NativeCallContext, book: &mut PairBook| {
                located(&context, || Ok(book.held_hours(now_ms()?)))
            },
        )
        .register_fn(
            "unrealised",
            |book: &mut PairBook, model: PairView| -> f64 {
                if model.ready {
                    book.pnl_at(model.price_a, model.price_b)
                } else {
                    0.0
                }
            },
        )
        .register_fn(
            "open",
            |context: NativeCallContext,
             book: &mut PairBook,
             side: &str,
             quantity_a: f64,
             quantity_b: f64,
             model: PairView,
             pair_trade_id: Dynamic| {
                located(&context, || {
                    let id = (!pair_trade_id.is_unit()).then(|| pair_trade_id.to_string());
                    book.state_mut()
                        .open(
                            side_named(side)?,
                            (quantity_a, quantity_b),
                            prices(&model)?,
                            model.fit.zscore,
                            now_ms()?,
                            id,
                        )
                        .map_err(error)?;
                    save(book)
                })
            },
        )
        .register_fn(
            "close",
            |context: NativeCallContext, book: &mut PairBook, model: PairView| {
                located(&context, || {
                    let (price_a, price_b) = prices(&model)?;
                    let pnl = book.state_mut().close(price_a, price_b).map_err(error)?;
                    save(book)?;
                    Ok(pnl)
                })
            },
        )
        .register_fn("to_string", |book: &mut PairBook| {
            format!(
                "PairBook({}: {}, {} trades, realised {:.2})",
                book.pair,
                book.side.as_str(),
                book.trades,
                book.realised
            )
        });
    module.set_native_fn("book", |context: NativeCallContext, pair: &mut Pair| {
        located(&context, || load(pair))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book() -> BookState {
        BookState {
            pair: "A/B".into(),
            ..BookState::default()
        }
    }

    #[test]
    fn a_long_spread_earns_when_b_rises_against_a() {
        let mut book = book();
        book.open(
            Side::LongSpread,
            (30.0, 50.0),
            (20.0, 10.0),
            -2.1,
            0,
            Some("p1".into()),
        )
        .expect("open");
        // B +1 on 50 long = +50; A +0.5 on 30 short = −15.
        assert_eq!(book.pnl_at(20.5, 11.0), 35.0);
        assert_eq!(book.held_hours(5_400_000), 1.5);
        assert_eq!(book.close(20.5, 11.0), Ok(35.0));
        assert_eq!((book.side, book.trades, book.wins), (Side::Flat, 1, 1));
        assert_eq!(book.realised, 35.0);
        assert_eq!(book.results, [35.0]);
        assert_eq!(
            (book.quantity_a, book.pair_trade_id.as_deref()),
            (0.0, None)
        );
    }

    #[test]
    fn a_short_spread_loses_when_b_rises_and_the_standing_counts_it() {
        let mut book = book();
        book.open(Side::ShortSpread, (30.0, 50.0), (20.0, 10.0), 2.4, 0, None)
            .expect("open");
        assert_eq!(book.close(20.0, 10.5), Ok(-25.0));
        assert_eq!((book.trades, book.wins, book.realised), (1, 0, -25.0));
    }

    #[test]
    fn a_book_refuses_a_second_open_and_a_close_when_flat() {
        let mut book = book();
        assert!(
            book.close(1.0, 1.0)
                .expect_err("nothing to close")
                .contains("no trade")
        );
        book.open(Side::LongSpread, (1.0, 1.0), (1.0, 1.0), 0.0, 0, None)
            .expect("open");
        let refused = book
            .open(Side::ShortSpread, (1.0, 1.0), (1.0, 1.0), 0.0, 0, None)
            .expect_err("a trade is held");
        assert!(refused.contains("already holds a long_spread"), "{refused}");
        assert!(
            book.clone()
                .open(Side::Flat, (1.0, 1.0), (1.0, 1.0), 0.0, 0, None)
                .is_err()
        );
        let mut flat = super::tests::book();
        assert!(
            flat.open(Side::LongSpread, (0.0, 1.0), (1.0, 1.0), 0.0, 0, None)
                .expect_err("no quantity")
                .contains("above zero")
        );
    }

    #[test]
    fn only_the_last_hundred_results_are_kept() {
        let mut book = book();
        for trade in 0..105 {
            book.open(Side::LongSpread, (1.0, 1.0), (1.0, 1.0), 0.0, 0, None)
                .expect("open");
            book.close(1.0, 1.0 + f64::from(trade)).expect("close");
        }
        assert_eq!(book.results.len(), RESULTS_KEPT);
        assert_eq!(book.results.front(), Some(&5.0));
        assert_eq!((book.trades, book.wins), (105, 104));
    }

    #[test]
    fn the_earlier_scripts_state_keys_make_the_same_book() {
        let state = serde_json::json!({
            "trade:A/B": { "side": "short_spread", "quantity_a": 12.0, "quantity_b": 7.0,
                           "entry_a": 101.5, "entry_b": 55.25, "entry_z": 2.3,
                           "entry_ms": 1_700_000_000_000_i64, "pair_trade_id": "pt-9" },
            "standing:A/B": { "trades": 4, "wins": 3, "realised": 120.5 },
            "results:A/B": [10.0, -5.0, 80.0, 35.5],
        });
        let read = |key: &str| Ok(state.get(key).cloned());
        let book = legacy("A/B", read).expect("read").expect("a book");
        assert_eq!(book.side, Side::ShortSpread);
        assert_eq!((book.quantity_a, book.quantity_b), (12.0, 7.0));
        assert_eq!(
            (book.entry_a, book.entry_b, book.entry_z),
            (101.5, 55.25, 2.3)
        );
        assert_eq!(book.entry_ms, 1_700_000_000_000);
        assert_eq!(book.pair_trade_id.as_deref(), Some("pt-9"));
        assert_eq!((book.trades, book.wins, book.realised), (4, 3, 120.5));
        assert_eq!(book.results, [10.0, -5.0, 80.0, 35.5]);
        let nothing = |_: &str| Ok(None);
        assert_eq!(legacy("A/B", nothing).expect("read"), None);
    }
}
