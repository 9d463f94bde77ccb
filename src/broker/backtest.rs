//! The backtest broker (SPEC §6.1): simulated fills on historical bars with the paper broker's
//! order model, held in memory, deterministic, and driven bar by bar by the backtester.
//!
//! # Rules
//!
//! - **Fills** come from the paper fill model ([`matching::on_bar`]): slippage, commission,
//!   limit and stop prices, volume participation, IOC and FOK are exactly the paper broker's.
//! - **No look-ahead**: a submission never fills at once. The order waits for the next bar of its
//!   symbol handed to [`BacktestBroker::on_bar`], so a market order fills at that bar's open. A bar
//!   no newer than the symbol's last one is ignored (neither a price nor a chance to fill), so a
//!   repeated bar cannot fill an order twice.
//! - **Execution time** is the start of the bar that filled it. A market order trades at the open,
//!   which is the price at the bar's start; and since the backtester hands bars in time order, the
//!   stamp is never earlier than any clock time the host saw while deciding on the previous bar, so
//!   `executions_since(last poll)` cannot miss a fill. The stamp comes from the data, never from the
//!   clock, so two runs over the same bars give the same times.
//! - **Day orders** need no session calendar: the broker follows the exchange date (New York) of
//!   the newest bar it has seen, of any symbol. A day order belongs to the date of that newest bar
//!   when it arrives and expires, unfilled part only, when the first bar of a later date arrives,
//!   before that bar is matched. After a daily (or longer) bar the session it describes is over,
//!   so a day order submitted then belongs to the next date the broker sees instead.
//! - **Sessions** are the backtester's business: the bars it hands in are the sessions. The clock
//!   therefore always reads open; its next close is the end of the current New York date, when
//!   day orders can next expire. The calendar lists weekdays at regular hours (09:30–16:00 New
//!   York) without holidays, for callers that only want plausible dates.
//! - **Submission** checks only what the broker itself must: a unique client order id, a symbol
//!   that has a bar, and the domain's order rules. Buying power, shortability and every other
//!   limit belong to the risk engine, which runs unchanged in backtests (SPEC §6.3); every symbol
//!   with data is tradable, shortable and fractionable.
//! - **Valuation** marks positions at their symbol's last close: equity is cash plus signed market
//!   values; buying power is `2 × equity − gross market value`, never below zero.
//!
//! # Cost per bar
//!
//! Working orders are kept in a list per symbol, so a bar of a symbol without working orders costs
//! one map look-up and a price update, and allocates nothing (the returned `Vec` is empty and
//! unallocated). Day expiry walks the working orders once per new date.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::America::New_York;

use super::paper::matching::{self, FillModel, WorkingOrder};
use super::paper::replaced_type;
use super::{
    Account, Asset, Broker, BrokerError, BrokerOrder, BrokerPosition, CalendarDay, Execution,
    MarketClock, NewOrder, Replacement,
};
use crate::clock::Clock;
use crate::domain::{
    Bar, ClientOrderId, Money, Order, OrderError, OrderSide, OrderStatus, Position, Price, Symbol,
    TimeInForce,
};

/// Broker order ids are `bt-` and the order's sequence number, from 1.
const ID_PREFIX: &str = "bt-";

/// The backtest broker. One per backtest run; share it behind an `Arc`.
pub struct BacktestBroker {
    clock: Clock,
    model: FillModel,
    book: Mutex<Book>,
}

/// Everything the broker knows, changed under one lock.
struct Book {
    cash: Money,
    /// Every order, in submission order; an order's index is its sequence number − 1.
    orders: Vec<Entry>,
    by_client_id: HashMap<ClientOrderId, usize>,
    /// Per symbol, in symbol order so valuations and listings are the same in every run.
    markets: BTreeMap<Symbol, Market>,
    /// Oldest first.
    executions: Vec<Execution>,
    /// The exchange date of the newest bar seen.
    day: Option<Day>,
}

/// One symbol: its last bar, its position and its working orders.
struct Market {
    last_time: DateTime<Utc>,
    last_close: Price,
    /// Whether the last bar was shorter than a day (see the day-order rule).
    last_intraday: bool,
    position: Position,
    /// Indexes into `Book::orders` of the symbol's open orders, in submission order.
    working: Vec<usize>,
}

#[derive(Clone, Copy)]
struct Day {
    date: NaiveDate,
    /// The first instant of the next New York date.
    end: DateTime<Utc>,
}

/// One order and what the fill model needs to remember about it.
struct Entry {
    broker_order_id: String,
    order: Order,
    updated_at: DateTime<Utc>,
    triggered: bool,
    /// A day order's exchange date; `None` until the next date begins (submitted after a daily bar).
    session: Option<NaiveDate>,
    execution_count: u32,
}

impl Entry {
    fn working(&self) -> WorkingOrder {
        WorkingOrder {
            side: self.order.side,
            order_type: self.order.order_type,
            time_in_force: self.order.time_in_force,
            quantity: self.order.quantity,
            filled_quantity: self.order.filled_quantity,
            triggered: self.triggered,
        }
    }

    fn to_broker_order(&self) -> BrokerOrder {
        BrokerOrder {
            broker_order_id: self.broker_order_id.clone(),
            client_order_id: self.order.client_order_id.clone(),
            symbol: self.order.symbol.clone(),
            side: self.order.side,
            quantity: self.order.quantity,
            order_type: self.order.order_type,
            time_in_force: self.order.time_in_force,
            status: self.order.status,
            filled_quantity: self.order.filled_quantity,
            average_fill_price: self.order.average_fill_price,
            submitted_at: self.order.created_at,
            updated_at: self.updated_at,
        }
    }

    /// Moves to `status`; an illegal change is a bug here, logged rather than panicking the run.
    fn set_status(&mut self, status: OrderStatus, time: DateTime<Utc>) -> bool {
        match self.order.set_status(status) {
            Ok(()) => {
                self.updated_at = time;
                true
            }
            Err(error) => {
                tracing::error!(order = %self.broker_order_id, %error, "backtest broker bug");
                false
            }
        }
    }
}

fn rejected(reason: impl Into<String>) -> BrokerError {
    BrokerError::Rejected {
        reason: reason.into(),
    }
}

/// An illegal status change is a bug in this broker; it is reported, never a panic.
fn bug(error: OrderError) -> BrokerError {
    BrokerError::Protocol(format!("backtest broker: {error}"))
}

/// The New York date of `time`.
fn exchange_date(time: DateTime<Utc>) -> NaiveDate {
    time.with_timezone(&New_York).date_naive()
}

/// `time` of day on `date` in New York, as UTC; `None` only for a local time that does not exist.
fn new_york(date: NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
    New_York
        .from_local_datetime(&date.and_time(time))
        .earliest()
        .map(|local| local.with_timezone(&Utc))
}

impl Day {
    fn of(time: DateTime<Utc>) -> Self {
        let date = exchange_date(time);
        // Midnight always exists in New York (clocks change at 2 a.m.); should it not, ending
        // the day at `time` only makes the next bar work the date out again.
        let end = date
            .succ_opt()
            .and_then(|next| new_york(next, NaiveTime::MIN))
            .unwrap_or(time);
        Self { date, end }
    }
}

impl Book {
    /// Follows the exchange date to `time`'s; on a later date, expires the day orders of earlier
    /// dates and dates those submitted after a daily bar.
    fn advance_day(&mut self, time: DateTime<Utc>) {
        if self.day.is_some_and(|day| time < day.end) {
            return;
        }
        let next = Day::of(time);
        let previous = self.day.replace(next);
        if previous.is_none_or(|day| next.date <= day.date) {
            return;
        }
        let orders = &mut self.orders;
        for market in self.markets.values_mut() {
            market.working.retain(|&index| {
                let entry = &mut orders[index];
                if entry.order.time_in_force != TimeInForce::Day {
                    return true;
                }
                match entry.session {
                    None => {
                        entry.session = Some(next.date);
                        true
                    }
                    Some(date) if date < next.date => !entry.set_status(OrderStatus::Expired, time),
                    Some(_) => true,
                }
            });
        }
    }

    /// The index of the order with `broker_order_id`.
    fn find(&self, broker_order_id: &str) -> Result<usize, BrokerError> {
        let not_found = || BrokerError::NotFound(format!("order {broker_order_id}"));
        let number: usize = broker_order_id
            .strip_prefix(ID_PREFIX)
            .and_then(|digits| digits.parse().ok())
            .ok_or_else(not_found)?;
        let index = number.checked_sub(1).ok_or_else(not_found)?;
        match self.orders.get(index) {
            // `bt-1` parses like `bt-00000001`; only the exact id names the order.
            Some(entry) if entry.broker_order_id == broker_order_id => Ok(index),
            _ => Err(not_found()),
        }
    }

    /// Takes the order at `index` out of its symbol's working list.
    fn retire(&mut self, index: usize) {
        if let Some(market) = self.markets.get_mut(&self.orders[index].order.symbol) {
            market.working.retain(|&working| working != index);
        }
    }

    /// Open positions at their last close, in symbol order.
    fn positions(&self) -> Vec<BrokerPosition> {
        self.markets
            .iter()
            .filter(|(_, market)| !market.position.quantity.is_zero())
            .filter_map(|(symbol, market)| {
                let position = &market.position;
                Some(BrokerPosition {
                    symbol: symbol.clone(),
                    quantity: position.quantity,
                    average_entry_price: position.average_entry_price?,
                    current_price: Some(market.last_close),
                    market_value: position.market_value(market.last_close),
                    unrealised_pnl: position.unrealised_pnl(market.last_close),
                })
            })
            .collect()
    }

    /// Long and short market values (the short one negative or zero).
    fn market_values(&self) -> (Money, Money) {
        let mut long = Money::ZERO;
        let mut short = Money::ZERO;
        for market in self.markets.values() {
            let quantity = market.position.quantity;
            if quantity.is_zero() {
                continue;
            }
            let value = market.position.market_value(market.last_close);
            if quantity.is_sign_positive() {
                long += value;
            } else {
                short += value;
            }
        }
        (long, short)
    }

    fn account(&self) -> Account {
        let (long, short) = self.market_values();
        let equity = self.cash + long + short;
        let gross = long - short;
        Account {
            cash: self.cash,
            equity,
            buying_power: (equity * rust_decimal::Decimal::TWO - gross).max(Money::ZERO),
            long_market_value: long,
            short_market_value: short,
            trading_blocked: false,
        }
    }

    /// Accepts `new` at `now`; with `replacing`, that order ends `replaced` in the same step.
    fn accept(
        &mut self,
        new: &NewOrder,
        now: DateTime<Utc>,
        replacing: Option<usize>,
    ) -> Result<BrokerOrder, BrokerError> {
        if self.by_client_id.contains_key(&new.client_order_id) {
            return Err(BrokerError::DuplicateClientOrderId(
                new.client_order_id.to_string(),
            ));
        }
        // The domain's own rules (an inverted stop-limit) before anything changes.
        let mut order = Order::new(
            new.client_order_id.clone(),
            new.symbol.clone(),
            new.side,
            new.quantity,
            new.order_type,
            new.time_in_force,
            now,
        )
        .map_err(|error| rejected(error.to_string()))?;
        let Some(market) = self.markets.get(&new.symbol) else {
            return Err(rejected(format!(
                "unknown symbol {}: no market data",
                new.symbol
            )));
        };
        order.set_status(OrderStatus::Accepted).map_err(bug)?;
        let session = match (new.time_in_force, self.day) {
            (TimeInForce::Day, Some(day)) if market.last_intraday => Some(day.date),
            _ => None,
        };
        if let Some(old) = replacing {
            self.orders[old]
                .order
                .set_status(OrderStatus::Replaced)
                .map_err(bug)?;
            self.orders[old].updated_at = now;
            self.retire(old);
        }
        let index = self.orders.len();
        let broker_order_id = format!("{ID_PREFIX}{:08}", index + 1);
        order.broker_order_id = Some(broker_order_id.clone());
        let entry = Entry {
            broker_order_id,
            order,
            updated_at: now,
            triggered: false,
            session,
            execution_count: 0,
        };
        let reply = entry.to_broker_order();
        self.orders.push(entry);
        self.by_client_id.insert(new.client_order_id.clone(), index);
        if let Some(market) = self.markets.get_mut(&new.symbol) {
            market.working.push(index);
        }
        Ok(reply)
    }
}

impl BacktestBroker {
    /// An empty account holding `initial_cash`, filling with `model` (build it from the paper
    /// configuration with [`FillModel::from_config`]). `clock` stamps submissions, cancels and
    /// replacements; the backtester sets it as it walks through history.
    pub fn new(initial_cash: Money, model: FillModel, clock: Clock) -> Self {
        Self {
            clock,
            model,
            book: Mutex::new(Book {
                cash: initial_cash,
                orders: Vec::new(),
                by_client_id: HashMap::new(),
                markets: BTreeMap::new(),
                executions: Vec::new(),
                day: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Book> {
        // No code here panics while holding the lock, and a backtest that lost a thread to a
        // panic is better served by the book as it stands than by a second panic.
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands the broker the next bar of history (bars in time order): expires day orders when
    /// the exchange date moves on, records the bar's close as the symbol's price, then matches
    /// the symbol's working orders against it. Returns the executions, in submission order of
    /// their orders.
    pub fn on_bar(&self, bar: &Bar) -> Vec<Execution> {
        let mut guard = self.lock();
        let book = &mut *guard;
        book.advance_day(bar.time);
        let market = match book.markets.get_mut(&bar.symbol) {
            Some(market) if bar.time <= market.last_time => return Vec::new(),
            Some(market) => {
                market.last_time = bar.time;
                market.last_close = bar.close;
                market.last_intraday = bar.timeframe.is_intraday();
                market
            }
            None => book.markets.entry(bar.symbol.clone()).or_insert(Market {
                last_time: bar.time,
                last_close: bar.close,
                last_intraday: bar.timeframe.is_intraday(),
                position: Position::flat(bar.symbol.clone()),
                working: Vec::new(),
            }),
        };
        if market.working.is_empty() {
            return Vec::new();
        }
        let Market {
            working, position, ..
        } = market;
        let orders = &mut book.orders;
        let cash = &mut book.cash;
        let mut executions = Vec::new();
        working.retain(|&index| {
            let entry = &mut orders[index];
            let decision = matching::on_bar(&entry.working(), bar, &self.model);
            entry.triggered |= decision.triggered;
            if decision.triggered {
                entry.updated_at = bar.time;
            }
            if let Some(fill) = decision.fill {
                // The order first: if the state machine refused the fill, nothing else changes.
                match entry.order.apply_fill(fill.quantity, fill.price) {
                    Ok(()) => {
                        entry.execution_count += 1;
                        entry.updated_at = bar.time;
                        let notional = Money::notional(fill.price, fill.quantity);
                        // A buy pays its notional and the commission; a sell receives its
                        // notional less it.
                        *cash = match entry.order.side {
                            OrderSide::Buy => *cash - notional - fill.commission,
                            OrderSide::Sell => *cash + notional - fill.commission,
                        };
                        position.apply_fill(entry.order.side, fill.quantity, fill.price);
                        executions.push(Execution {
                            execution_id: format!(
                                "{}-{}",
                                entry.broker_order_id, entry.execution_count
                            ),
                            broker_order_id: entry.broker_order_id.clone(),
                            symbol: bar.symbol.clone(),
                            side: entry.order.side,
                            quantity: fill.quantity,
                            price: fill.price,
                            commission: fill.commission,
                            time: bar.time,
                        });
                    }
                    Err(error) => {
                        tracing::error!(order = %entry.broker_order_id, %error, "backtest broker bug");
                    }
                }
            }
            if decision.cancel_rest && entry.order.status.is_open() {
                entry.set_status(OrderStatus::Canceled, bar.time);
            }
            entry.order.status.is_open()
        });
        for execution in &executions {
            // Bars arrive in time order, so this appends; the search keeps the list sorted even
            // if a caller interleaves symbols slightly out of order.
            let at = book
                .executions
                .partition_point(|earlier| earlier.time <= execution.time);
            book.executions.insert(at, execution.clone());
        }
        executions
    }

    /// Cash plus the signed market value of every position at its last close.
    pub fn equity(&self) -> Money {
        let book = self.lock();
        let (long, short) = book.market_values();
        book.cash + long + short
    }

    /// The sum of the absolute market values of all positions.
    pub fn gross_exposure(&self) -> Money {
        let (long, short) = self.lock().market_values();
        long - short
    }

    /// Profit and loss locked in by closing fills so far, before commissions.
    pub fn realised_pnl(&self) -> Money {
        self.lock()
            .markets
            .values()
            .fold(Money::ZERO, |total, market| {
                total + market.position.realised_pnl
            })
    }

    /// True while any order can still fill.
    pub fn has_working_orders(&self) -> bool {
        self.lock()
            .markets
            .values()
            .any(|market| !market.working.is_empty())
    }
}

#[async_trait]
impl Broker for BacktestBroker {
    fn name(&self) -> &'static str {
        "backtest"
    }

    async fn clock(&self) -> Result<MarketClock, BrokerError> {
        let now = self.clock.now();
        Ok(MarketClock {
            timestamp: now,
            is_open: true,
            next_open: now,
            next_close: Day::of(now).end,
        })
    }

    async fn calendar(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<CalendarDay>, BrokerError> {
        let open = NaiveTime::from_hms_opt(9, 30, 0);
        let close = NaiveTime::from_hms_opt(16, 0, 0);
        Ok(from
            .iter_days()
            .take_while(|date| *date <= to)
            .filter(|date| !matches!(date.weekday(), Weekday::Sat | Weekday::Sun))
            .filter_map(|date| {
                Some(CalendarDay {
                    date,
                    open: new_york(date, open?)?,
                    close: new_york(date, close?)?,
                })
            })
            .collect())
    }

    async fn account(&self) -> Result<Account, BrokerError> {
        Ok(self.lock().account())
    }

    async fn positions(&self) -> Result<Vec<BrokerPosition>, BrokerError> {
        Ok(self.lock().positions())
    }

    async fn asset(&self, symbol: &Symbol) -> Result<Asset, BrokerError> {
        if !self.lock().markets.contains_key(symbol) {
            return Err(BrokerError::NotFound(format!("asset {symbol}: no bar yet")));
        }
        Ok(Asset {
            symbol: symbol.clone(),
            tradable: true,
            shortable: true,
            fractionable: true,
        })
    }

    async fn submit(&self, order: &NewOrder) -> Result<BrokerOrder, BrokerError> {
        let now = self.clock.now();
        self.lock().accept(order, now, None)
    }

    async fn order(&self, broker_order_id: &str) -> Result<BrokerOrder, BrokerError> {
        let book = self.lock();
        let index = book.find(broker_order_id)?;
        Ok(book.orders[index].to_broker_order())
    }

    async fn order_by_client_id(
        &self,
        client_order_id: &ClientOrderId,
    ) -> Result<Option<BrokerOrder>, BrokerError> {
        let book = self.lock();
        Ok(book
            .by_client_id
            .get(client_order_id)
            .map(|&index| book.orders[index].to_broker_order()))
    }

    async fn open_orders(&self) -> Result<Vec<BrokerOrder>, BrokerError> {
        Ok(self
            .lock()
            .orders
            .iter()
            .filter(|entry| entry.order.status.is_open())
            .map(Entry::to_broker_order)
            .collect())
    }

    async fn orders_since(&self, after: DateTime<Utc>) -> Result<Vec<BrokerOrder>, BrokerError> {
        Ok(self
            .lock()
            .orders
            .iter()
            .filter(|entry| entry.order.created_at >= after)
            .map(Entry::to_broker_order)
            .collect())
    }

    async fn cancel(&self, broker_order_id: &str) -> Result<(), BrokerError> {
        let now = self.clock.now();
        let mut book = self.lock();
        let index = book.find(broker_order_id)?;
        let entry = &mut book.orders[index];
        let status = entry.order.status;
        if status.is_terminal() {
            return Err(rejected(format!("order is not cancelable: it is {status}")));
        }
        // Immediate: there is no exchange to confirm with; partial fills stand.
        entry.order.set_status(OrderStatus::Canceled).map_err(bug)?;
        entry.updated_at = now;
        book.retire(index);
        Ok(())
    }

    async fn replace(
        &self,
        broker_order_id: &str,
        replacement: &Replacement,
    ) -> Result<BrokerOrder, BrokerError> {
        let now = self.clock.now();
        let mut book = self.lock();
        let index = book.find(broker_order_id)?;
        let old = &book.orders[index].order;
        if old.status.is_terminal() {
            return Err(rejected(format!(
                "order is not replaceable: it is {}",
                old.status
            )));
        }
        let order_type = replaced_type(old.order_type, replacement)?;
        // Without a new quantity the replacement carries on with what is left to fill.
        let quantity = replacement.quantity.unwrap_or_else(|| old.remaining());
        // An order is replaced at most once, so naming the replacement after the replaced
        // order's broker id gives it a client id no other replacement can take.
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
        book.accept(&new, now, Some(index))
    }

    async fn executions_since(&self, after: DateTime<Utc>) -> Result<Vec<Execution>, BrokerError> {
        let book = self.lock();
        let from = book
            .executions
            .partition_point(|execution| execution.time < after);
        Ok(book.executions[from..].to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{OrderType, Quantity, Timeframe};
    use rust_decimal::Decimal;

    fn d(text: &str) -> Decimal {
        text.parse().expect("decimal")
    }

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().expect("RFC 3339 time")
    }

    fn broker() -> BacktestBroker {
        let model = FillModel {
            commission_per_share: d("0.005"),
            commission_minimum: d("1"),
            slippage_bps: d("2"),
            participation_rate: d("0.1"),
        };
        let clock = Clock::manual(utc("2024-01-10T14:30:00Z"));
        BacktestBroker::new(Money::new(d("100000")), model, clock)
    }

    fn bar(time: &str, price: &str) -> Bar {
        let price: Price = price.parse().expect("price");
        Bar::new(
            Symbol::parse("SPY").expect("symbol"),
            Timeframe::MINUTE,
            utc(time),
            price,
            price,
            price,
            price,
            "1000000".parse().expect("volume"),
        )
        .expect("bar")
    }

    fn market_buy(client: &str, quantity: &str) -> NewOrder {
        NewOrder {
            client_order_id: ClientOrderId::parse(client).expect("client id"),
            symbol: Symbol::parse("SPY").expect("symbol"),
            side: OrderSide::Buy,
            quantity: quantity.parse::<Quantity>().expect("quantity"),
            order_type: OrderType::Market,
            time_in_force: TimeInForce::Gtc,
        }
    }

    #[test]
    fn a_bar_without_working_orders_returns_an_unallocated_list() {
        let broker = broker();
        broker.on_bar(&bar("2024-01-10T14:30:00Z", "100"));
        let executions = broker.on_bar(&bar("2024-01-10T14:31:00Z", "101"));
        assert!(executions.is_empty());
        assert_eq!(executions.capacity(), 0);
    }

    #[tokio::test]
    async fn only_the_exact_broker_id_names_an_order() {
        let broker = broker();
        broker.on_bar(&bar("2024-01-10T14:30:00Z", "100"));
        let order = broker.submit(&market_buy("a", "1")).await.expect("submit");
        assert_eq!(order.broker_order_id, "bt-00000001");
        assert!(broker.order("bt-00000001").await.is_ok());
        for other in [
            "bt-1",
            "bt-00000000",
            "bt-00000002",
            "paper-00000001",
            "bt-",
        ] {
            assert!(
                matches!(broker.order(other).await, Err(BrokerError::NotFound(_))),
                "{other}"
            );
        }
    }

    #[tokio::test]
    async fn a_repeated_bar_neither_moves_the_price_nor_fills_again() {
        let broker = broker();
        broker.on_bar(&bar("2024-01-10T14:30:00Z", "100"));
        broker.submit(&market_buy("a", "10")).await.expect("submit");
        assert!(broker.on_bar(&bar("2024-01-10T14:30:00Z", "90")).is_empty());
        assert_eq!(broker.gross_exposure(), Money::ZERO);
        let fills = broker.on_bar(&bar("2024-01-10T14:31:00Z", "100"));
        assert_eq!(fills.len(), 1);
        assert!(
            broker
                .on_bar(&bar("2024-01-10T14:31:00Z", "100"))
                .is_empty()
        );
        assert_eq!(broker.gross_exposure().value(), d("1000"));
    }

    #[test]
    fn the_exchange_day_ends_at_new_york_midnight_in_winter_and_summer() {
        let winter = Day::of(utc("2024-01-10T04:59:00Z"));
        assert_eq!(
            winter.date,
            NaiveDate::from_ymd_opt(2024, 1, 9).expect("date")
        );
        assert_eq!(winter.end, utc("2024-01-10T05:00:00Z"));
        let summer = Day::of(utc("2024-07-10T14:30:00Z"));
        assert_eq!(
            summer.date,
            NaiveDate::from_ymd_opt(2024, 7, 10).expect("date")
        );
        assert_eq!(summer.end, utc("2024-07-11T04:00:00Z"));
    }

    #[tokio::test]
    async fn the_clock_is_always_open_and_closes_at_the_end_of_the_new_york_date() {
        let clock = broker().clock().await.expect("clock");
        assert!(clock.is_open);
        assert_eq!(clock.next_open, utc("2024-01-10T14:30:00Z"));
        assert_eq!(clock.next_close, utc("2024-01-11T05:00:00Z"));
    }

    #[tokio::test]
    async fn the_calendar_lists_weekdays_at_regular_hours() {
        let from = NaiveDate::from_ymd_opt(2024, 3, 8).expect("date");
        let to = NaiveDate::from_ymd_opt(2024, 3, 11).expect("date");
        let days = broker().calendar(from, to).await.expect("calendar");
        // Friday before the switch to daylight time, then Monday after it.
        assert_eq!(days.len(), 2);
        assert_eq!(days[0].open, utc("2024-03-08T14:30:00Z"));
        assert_eq!(days[0].close, utc("2024-03-08T21:00:00Z"));
        assert_eq!(days[1].open, utc("2024-03-11T13:30:00Z"));
    }
}
