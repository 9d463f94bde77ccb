//! The built-in paper broker (SPEC §6.1), the default: orders fill against the stored 1-minute
//! bars through the pure fill model in [`matching`], and the whole book (account, orders,
//! executions, positions) lives in the database, so a restart loses nothing.
//!
//! Every change to the book happens under one lock: a submission's checks read the same cash and
//! positions its fill changes, and two changes never interleave. Each execution is stored in one
//! transaction with the order, cash and position it changes ([`Store::paper_record_execution`]).
//! The daemon calls [`PaperBroker::on_bars`] after the feed stores each minute's bars and
//! [`PaperBroker::expire`] on its clock, so day orders expire at the close even without new bars.

mod book;
pub mod matching;

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use tokio::sync::{Mutex, broadcast};

use self::book::{Book, Request};
use self::matching::{Decision, FillModel, WorkingOrder};
use crate::broker::{
    Account, Asset, Broker, BrokerError, BrokerOrder, BrokerPosition, CalendarDay, Execution,
    MarketClock, NewOrder, Replacement,
};
use crate::clock::Clock;
use crate::config::PaperConfig;
use crate::domain::{
    Bar, ClientOrderId, Money, Order, OrderError, OrderSide, OrderStatus, OrderType, Position,
    Price, Quantity, Symbol, TimeInForce, Timeframe,
};
use crate::market::calendar::UsEquityCalendar;
use crate::store::{self, PaperExecutionRecord, PaperOrderRecord, Store};

/// A bar at most this old (by its start) counts as the market's current price on submission: the
/// feed stores each minute's bar a moment after it completes, so the latest is one to two
/// minutes old in normal running.
const RECENT_BAR: Duration = Duration::minutes(5);

/// How many order updates a slow subscriber may fall behind before it misses some.
const UPDATE_BUFFER: usize = 1024;

/// The paper broker. Cheap to share behind an `Arc`.
pub struct PaperBroker {
    store: Store,
    clock: Clock,
    calendar: UsEquityCalendar,
    model: FillModel,
    /// Symbols that may be sold short; empty allows every symbol.
    shortable: HashSet<Symbol>,
    /// Serialises every change to the book (held across database calls, hence tokio's mutex).
    book: Mutex<()>,
    updates: broadcast::Sender<BrokerOrder>,
}

fn unavailable(error: store::Error) -> BrokerError {
    BrokerError::Unavailable(format!("paper broker storage: {error}"))
}

/// An illegal status change is a bug in the paper broker; it is reported, never a panic.
fn bug(error: OrderError) -> BrokerError {
    BrokerError::Protocol(format!("paper broker: {error}"))
}

fn rejected(reason: impl Into<String>) -> BrokerError {
    BrokerError::Rejected {
        reason: reason.into(),
    }
}

fn to_broker_order(record: &PaperOrderRecord) -> BrokerOrder {
    BrokerOrder {
        broker_order_id: record.broker_order_id.clone(),
        client_order_id: record.client_order_id.clone(),
        symbol: record.symbol.clone(),
        side: record.side,
        quantity: record.quantity,
        order_type: record.order_type,
        time_in_force: record.time_in_force,
        status: record.status,
        filled_quantity: record.filled_quantity,
        average_fill_price: record.average_fill_price,
        submitted_at: record.submitted_at,
        updated_at: record.updated_at,
    }
}

fn to_execution(record: PaperExecutionRecord) -> Execution {
    Execution {
        execution_id: record.execution_id,
        broker_order_id: record.broker_order_id,
        symbol: record.symbol,
        side: record.side,
        quantity: record.quantity,
        price: record.price,
        commission: record.commission,
        time: record.time,
    }
}

fn working(record: &PaperOrderRecord) -> WorkingOrder {
    WorkingOrder {
        side: record.side,
        order_type: record.order_type,
        time_in_force: record.time_in_force,
        quantity: record.quantity,
        filled_quantity: record.filled_quantity,
        triggered: record.triggered,
    }
}

impl PaperBroker {
    /// Opens the paper broker on `store`: creates the account with `initial_cash` on a fresh
    /// database; on an existing one everything (cash, positions, working orders) carries on.
    pub async fn new(
        store: Store,
        clock: Clock,
        calendar: UsEquityCalendar,
        config: &PaperConfig,
    ) -> Result<Self, BrokerError> {
        let shortable = config
            .shortable
            .iter()
            .map(|text| {
                Symbol::parse(text)
                    .map_err(|error| rejected(format!("broker.paper.shortable: {error}")))
            })
            .collect::<Result<HashSet<_>, _>>()?;
        store
            .paper_open_account(Money::new(config.initial_cash), clock.now())
            .await
            .map_err(unavailable)?;
        let (updates, _) = broadcast::channel(UPDATE_BUFFER);
        Ok(Self {
            store,
            clock,
            calendar,
            model: FillModel::from_config(config),
            shortable,
            book: Mutex::new(()),
            updates,
        })
    }

    /// Order updates (new, fills, cancels, expiries, replacements) as they are stored.
    pub fn subscribe(&self) -> broadcast::Receiver<BrokerOrder> {
        self.updates.subscribe()
    }

    fn publish(&self, record: &PaperOrderRecord) {
        // No subscriber is not an error: the book in the database is the truth.
        let _ = self.updates.send(to_broker_order(record));
    }

    fn is_shortable(&self, symbol: &Symbol) -> bool {
        self.shortable.is_empty() || self.shortable.contains(symbol)
    }

    async fn last_bar(&self, symbol: &Symbol) -> Result<Option<Bar>, BrokerError> {
        let mut bars = self
            .store
            .last_bars(std::slice::from_ref(symbol), Timeframe::MINUTE)
            .await
            .map_err(unavailable)?;
        Ok(bars.remove(symbol))
    }

    /// Cash, positions, open orders and the last closes of every symbol they name.
    async fn load_book(&self) -> Result<LoadedBook, BrokerError> {
        let account = self
            .store
            .paper_account()
            .await
            .map_err(unavailable)?
            .ok_or_else(|| BrokerError::NotFound("the paper account".into()))?;
        let positions = self.store.paper_positions().await.map_err(unavailable)?;
        let open_orders = self.store.paper_open_orders().await.map_err(unavailable)?;
        let symbols: Vec<Symbol> = positions
            .iter()
            .map(|position| position.symbol.clone())
            .chain(open_orders.iter().map(|order| order.symbol.clone()))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let closes = self
            .store
            .last_bars(&symbols, Timeframe::MINUTE)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(|(symbol, bar)| (symbol, bar.close))
            .collect();
        Ok(LoadedBook {
            cash: account.cash,
            positions,
            open_orders,
            closes,
        })
    }

    /// Validates, stores and (when the market is open with a recent bar) matches a new order;
    /// with `replacing`, the order replaces that one in the same transaction.
    async fn accept(
        &self,
        new: &NewOrder,
        replacing: Option<PaperOrderRecord>,
    ) -> Result<BrokerOrder, BrokerError> {
        let now = self.clock.now();
        if self
            .store
            .paper_order_by_client_id(&new.client_order_id)
            .await
            .map_err(unavailable)?
            .is_some()
        {
            return Err(BrokerError::DuplicateClientOrderId(
                new.client_order_id.to_string(),
            ));
        }
        // The domain's own rules first (a zero quantity, an inverted stop-limit).
        Order::new(
            new.client_order_id.clone(),
            new.symbol.clone(),
            new.side,
            new.quantity,
            new.order_type,
            new.time_in_force,
            now,
        )
        .map_err(|error| rejected(error.to_string()))?;
        let last_bar = self.last_bar(&new.symbol).await?;
        if last_bar.is_none() {
            return Err(rejected(format!(
                "unknown symbol {}: no market data",
                new.symbol
            )));
        }
        let mut loaded = self.load_book().await?;
        if let Some(old) = &replacing {
            // The replaced order's reservations give way to its replacement.
            loaded
                .open_orders
                .retain(|order| order.broker_order_id != old.broker_order_id);
        }
        if let Some(bar) = &last_bar {
            loaded.closes.insert(new.symbol.clone(), bar.close);
        }
        let request = Request {
            symbol: &new.symbol,
            side: new.side,
            quantity: new.quantity,
            order_type: new.order_type,
            time_in_force: new.time_in_force,
        };
        book::check(&loaded.book(), &request, |symbol| self.is_shortable(symbol))
            .map_err(rejected)?;

        let number = self.store.paper_order_count().await.map_err(unavailable)? + 1;
        let expires_at = match new.time_in_force {
            TimeInForce::Gtc => None,
            // Day orders live until their session's close: today's while the market is open or
            // before the open, otherwise the next session's. IOC and FOK normally resolve at once;
            // the same deadline keeps one submitted while closed from waiting forever.
            TimeInForce::Day | TimeInForce::Ioc | TimeInForce::Fok => {
                Some(self.calendar.next_close(now))
            }
        };
        let mut record = PaperOrderRecord {
            broker_order_id: format!("paper-{number:08}"),
            client_order_id: new.client_order_id.clone(),
            symbol: new.symbol.clone(),
            side: new.side,
            quantity: new.quantity,
            order_type: new.order_type,
            time_in_force: new.time_in_force,
            status: OrderStatus::New,
            filled_quantity: Quantity::ZERO,
            average_fill_price: None,
            triggered: false,
            expires_at,
            last_bar_at: None,
            execution_count: 0,
            replaces: replacing.as_ref().map(|old| old.broker_order_id.clone()),
            submitted_at: now,
            updated_at: now,
        };
        let replaced = match replacing {
            Some(mut old) => {
                old.status = old.status.transition(OrderStatus::Replaced).map_err(bug)?;
                old.updated_at = now;
                Some(old)
            }
            None => None,
        };
        self.store
            .paper_insert_order(&record, replaced.as_ref())
            .await
            .map_err(unavailable)?;
        if let Some(old) = &replaced {
            self.publish(old);
        }
        self.publish(&record);

        if let Some(bar) = last_bar.filter(|bar| self.is_current(bar, now)) {
            let decision = matching::on_submit(&working(&record), &bar, &self.model);
            self.apply(&mut record, decision, None).await?;
        }
        Ok(to_broker_order(&record))
    }

    /// True when `bar` is the market's price now: the market is open and the bar started in this
    /// session no more than [`RECENT_BAR`] ago.
    fn is_current(&self, bar: &Bar, now: DateTime<Utc>) -> bool {
        self.calendar
            .session_at(now)
            .is_some_and(|session| bar.time >= session.open && now - bar.time <= RECENT_BAR)
    }

    /// Carries out one decision of the fill model: stores the execution (with cash and position),
    /// the trigger and any cancel, and publishes the order's new state.
    async fn apply(
        &self,
        record: &mut PaperOrderRecord,
        decision: Decision,
        bar_time: Option<DateTime<Utc>>,
    ) -> Result<Option<Execution>, BrokerError> {
        let now = self.clock.now();
        let changed = decision.triggered || decision.fill.is_some() || decision.cancel_rest;
        if !changed {
            return Ok(None);
        }
        record.triggered |= decision.triggered;
        if bar_time.is_some() {
            record.last_bar_at = bar_time;
        }
        record.updated_at = now;
        let mut execution = None;
        if let Some(fill) = decision.fill {
            let filled_before = record.filled_quantity.value();
            let filled = record.filled_quantity + fill.quantity;
            let next = if filled == record.quantity {
                OrderStatus::Filled
            } else {
                OrderStatus::PartiallyFilled
            };
            record.status = record.status.transition(next).map_err(bug)?;
            let cost_before = record
                .average_fill_price
                .map_or(Decimal::ZERO, |price| price.value() * filled_before);
            // Informational (cash moves by each fill's own price): 8 places, as a broker reports
            // it, rather than the 28 a decimal division leaves.
            let average = ((cost_before + fill.price.value() * fill.quantity.value())
                / filled.value())
            .round_dp(8)
            .normalize();
            record.average_fill_price = Some(
                Price::new(average).map_err(|error| BrokerError::Protocol(error.to_string()))?,
            );
            record.filled_quantity = filled;
            record.execution_count += 1;

            let account = self
                .store
                .paper_account()
                .await
                .map_err(unavailable)?
                .ok_or_else(|| BrokerError::NotFound("the paper account".into()))?;
            // A buy pays its notional and the commission; a sell receives its notional less it.
            let notional = Money::notional(fill.price, fill.quantity);
            let cash = match record.side {
                OrderSide::Buy => account.cash - notional - fill.commission,
                OrderSide::Sell => account.cash + notional - fill.commission,
            };
            let mut position = self
                .store
                .paper_positions()
                .await
                .map_err(unavailable)?
                .into_iter()
                .find(|position| position.symbol == record.symbol)
                .unwrap_or_else(|| Position::flat(record.symbol.clone()));
            position.apply_fill(record.side, fill.quantity, fill.price);
            let stored = PaperExecutionRecord {
                execution_id: format!("{}-{}", record.broker_order_id, record.execution_count),
                broker_order_id: record.broker_order_id.clone(),
                symbol: record.symbol.clone(),
                side: record.side,
                quantity: fill.quantity,
                price: fill.price,
                commission: fill.commission,
                time: now,
            };
            self.store
                .paper_record_execution(record, &stored, cash, &position)
                .await
                .map_err(unavailable)?;
            execution = Some(to_execution(stored));
        }
        if decision.cancel_rest && record.status.is_open() {
            record.status = record
                .status
                .transition(OrderStatus::Canceled)
                .map_err(bug)?;
            self.store
                .paper_update_order(record)
                .await
                .map_err(unavailable)?;
        } else if decision.fill.is_none() {
            // A trigger alone, or an IOC/FOK that ended with nothing filled (already stored above
            // when it is canceled).
            self.store
                .paper_update_order(record)
                .await
                .map_err(unavailable)?;
        }
        self.publish(record);
        Ok(execution)
    }

    /// Matches the working orders of the bars' symbols against `bars` (oldest first), stores every
    /// execution and status change, then expires what the clock says has expired. A bar applies
    /// to an order when it is inside a regular session, starts at or after the order's
    /// submission, is newer than the last bar that changed the order, and starts before the
    /// order's expiry; so handing the same bars in twice changes nothing.
    pub async fn on_bars(&self, bars: &[Bar]) -> Result<Vec<Execution>, BrokerError> {
        let _book = self.book.lock().await;
        let mut ordered: Vec<&Bar> = bars
            .iter()
            .filter(|bar| self.calendar.is_open(bar.time))
            .collect();
        ordered.sort_by_key(|bar| bar.time);
        let mut open = self.store.paper_open_orders().await.map_err(unavailable)?;
        let mut executions = Vec::new();
        for bar in ordered {
            for record in open.iter_mut() {
                let applies = record.status.is_open()
                    && record.symbol == bar.symbol
                    && bar.time >= record.submitted_at
                    && record.last_bar_at.is_none_or(|last| bar.time > last)
                    && record.expires_at.is_none_or(|expiry| bar.time < expiry);
                if !applies {
                    continue;
                }
                let decision = matching::on_bar(&working(record), bar, &self.model);
                if let Some(execution) = self.apply(record, decision, Some(bar.time)).await? {
                    executions.push(execution);
                }
            }
        }
        self.expire_locked(self.clock.now()).await?;
        Ok(executions)
    }

    /// Expires every day, IOC or FOK order whose session closed at or before `now` (early closes
    /// included); returns them. Partial fills stand.
    pub async fn expire(&self, now: DateTime<Utc>) -> Result<Vec<BrokerOrder>, BrokerError> {
        let _book = self.book.lock().await;
        self.expire_locked(now).await
    }

    async fn expire_locked(&self, now: DateTime<Utc>) -> Result<Vec<BrokerOrder>, BrokerError> {
        let mut expired = Vec::new();
        for mut record in self.store.paper_open_orders().await.map_err(unavailable)? {
            if record.expires_at.is_none_or(|expiry| expiry > now) {
                continue;
            }
            record.status = record
                .status
                .transition(OrderStatus::Expired)
                .map_err(bug)?;
            record.updated_at = self.clock.now();
            self.store
                .paper_update_order(&record)
                .await
                .map_err(unavailable)?;
            self.publish(&record);
            expired.push(to_broker_order(&record));
        }
        Ok(expired)
    }

    async fn find(&self, broker_order_id: &str) -> Result<PaperOrderRecord, BrokerError> {
        self.store
            .paper_order(broker_order_id)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| BrokerError::NotFound(format!("order {broker_order_id}")))
    }
}

/// The book as loaded for one valuation or check.
struct LoadedBook {
    cash: Money,
    positions: Vec<Position>,
    open_orders: Vec<PaperOrderRecord>,
    closes: HashMap<Symbol, Price>,
}

impl LoadedBook {
    fn book(&self) -> Book<'_> {
        Book {
            cash: self.cash,
            positions: &self.positions,
            open_orders: &self.open_orders,
            closes: &self.closes,
        }
    }
}

#[async_trait]
impl Broker for PaperBroker {
    fn name(&self) -> &'static str {
        "paper"
    }

    async fn clock(&self) -> Result<MarketClock, BrokerError> {
        let now = self.clock.now();
        Ok(MarketClock {
            timestamp: now,
            is_open: self.calendar.is_open(now),
            next_open: self.calendar.next_open(now),
            next_close: self.calendar.next_close(now),
        })
    }

    async fn calendar(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<CalendarDay>, BrokerError> {
        Ok(self
            .calendar
            .sessions_between(from, to)
            .map(|session| CalendarDay {
                date: session.date,
                open: session.open,
                close: session.close,
            })
            .collect())
    }

    async fn account(&self) -> Result<Account, BrokerError> {
        let loaded = self.load_book().await?;
        Ok(loaded.book().account())
    }

    async fn positions(&self) -> Result<Vec<BrokerPosition>, BrokerError> {
        let loaded = self.load_book().await?;
        Ok(loaded.book().broker_positions())
    }

    async fn asset(&self, symbol: &Symbol) -> Result<Asset, BrokerError> {
        let bars = self
            .store
            .count_bars(Some(symbol))
            .await
            .map_err(unavailable)?;
        Ok(Asset {
            symbol: symbol.clone(),
            tradable: bars > 0,
            shortable: self.is_shortable(symbol),
            fractionable: true,
        })
    }

    async fn submit(&self, order: &NewOrder) -> Result<BrokerOrder, BrokerError> {
        let _book = self.book.lock().await;
        self.accept(order, None).await
    }

    async fn order(&self, broker_order_id: &str) -> Result<BrokerOrder, BrokerError> {
        Ok(to_broker_order(&self.find(broker_order_id).await?))
    }

    async fn order_by_client_id(
        &self,
        client_order_id: &ClientOrderId,
    ) -> Result<Option<BrokerOrder>, BrokerError> {
        let record = self
            .store
            .paper_order_by_client_id(client_order_id)
            .await
            .map_err(unavailable)?;
        Ok(record.as_ref().map(to_broker_order))
    }

    async fn open_orders(&self) -> Result<Vec<BrokerOrder>, BrokerError> {
        let records = self.store.paper_open_orders().await.map_err(unavailable)?;
        Ok(records.iter().map(to_broker_order).collect())
    }

    async fn orders_since(&self, after: DateTime<Utc>) -> Result<Vec<BrokerOrder>, BrokerError> {
        let records = self
            .store
            .paper_orders_since(after)
            .await
            .map_err(unavailable)?;
        Ok(records.iter().map(to_broker_order).collect())
    }

    async fn cancel(&self, broker_order_id: &str) -> Result<(), BrokerError> {
        let _book = self.book.lock().await;
        let mut record = self.find(broker_order_id).await?;
        if record.status.is_terminal() {
            return Err(rejected("order is not cancelable"));
        }
        // Immediate: the paper market has no exchange to confirm with; partial fills stand.
        record.status = record
            .status
            .transition(OrderStatus::Canceled)
            .map_err(bug)?;
        record.updated_at = self.clock.now();
        self.store
            .paper_update_order(&record)
            .await
            .map_err(unavailable)?;
        self.publish(&record);
        Ok(())
    }

    async fn replace(
        &self,
        broker_order_id: &str,
        replacement: &Replacement,
    ) -> Result<BrokerOrder, BrokerError> {
        let _book = self.book.lock().await;
        let old = self.find(broker_order_id).await?;
        if old.status.is_terminal() {
            return Err(rejected("order is not replaceable"));
        }
        let order_type = replaced_type(old.order_type, replacement)?;
        let quantity = match replacement.quantity {
            Some(quantity) => quantity,
            None => old
                .quantity
                .checked_sub(old.filled_quantity)
                .unwrap_or(Quantity::ZERO),
        };
        // The replacement needs its own unique client id; an order is replaced at most once, so
        // naming it after the replaced order's broker id cannot collide with another replacement.
        let client_order_id = ClientOrderId::parse(&format!("replaces-{broker_order_id}"))
            .map_err(|error| BrokerError::Protocol(error.to_string()))?;
        let new = NewOrder {
            client_order_id,
            symbol: old.symbol.clone(),
            side: old.side,
            quantity,
            order_type,
            time_in_force: replacement.time_in_force.unwrap_or(old.time_in_force),
        };
        self.accept(&new, Some(old)).await
    }

    async fn executions_since(&self, after: DateTime<Utc>) -> Result<Vec<Execution>, BrokerError> {
        let records = self
            .store
            .paper_executions_since(after)
            .await
            .map_err(unavailable)?;
        Ok(records.into_iter().map(to_execution).collect())
    }
}

/// The order type with a replacement's prices; a price the type does not have is refused.
pub(crate) fn replaced_type(
    current: OrderType,
    replacement: &Replacement,
) -> Result<OrderType, BrokerError> {
    let limit = replacement.limit;
    let stop = replacement.stop;
    match current {
        OrderType::Market if limit.is_none() && stop.is_none() => Ok(OrderType::Market),
        OrderType::Limit { limit: current } if stop.is_none() => Ok(OrderType::Limit {
            limit: limit.unwrap_or(current),
        }),
        OrderType::Stop { stop: current } if limit.is_none() => Ok(OrderType::Stop {
            stop: stop.unwrap_or(current),
        }),
        OrderType::StopLimit {
            stop: current_stop,
            limit: current_limit,
        } => Ok(OrderType::StopLimit {
            stop: stop.unwrap_or(current_stop),
            limit: limit.unwrap_or(current_limit),
        }),
        _ => Err(rejected(
            "the replacement sets a price the order's type does not have",
        )),
    }
}
