//! The order desk: the one path from a script's trading decision to the broker (SPEC §6.2–6.3).
//!
//! Every order goes: reconciliation block → risk engine (decision stored) → outbox row
//! (`pending_new`, client order id) → broker → acknowledgement stored. A crash anywhere on that
//! path is repaired by [`Desk::recover`], which asks the broker by client order id before it sends
//! anything again, so an intent becomes exactly one broker order. Scripts reach the desk only
//! through the `orders`, `broker` and `risk` modules, which cannot change limits or the state.

mod control;
mod failpoint;
pub mod ledger;
pub mod limits_file;
mod manage;
mod portfolio;
mod reconcile;
pub mod runner;
mod sizing;
mod submit;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::Duration;

use crate::broker::Broker;
use crate::clock::Clock;
use crate::config::TradingConfig;
use crate::market::calendar::UsEquityCalendar;
use crate::risk::{RiskEngine, RiskLimits, RiskState};
use ledger::Ledger;

pub use control::{HaltReport, RiskStatus};
pub use manage::SyncSummary;
pub use portfolio::PortfolioSummary;
pub use reconcile::ReconciliationReport;
pub use sizing::{KellySize, Preview, Usage, price_from_f64};
pub use submit::{LegRequest, PairOutcome, TradeOutcome, TradeRequest};

/// Why a desk operation failed (a refusal by risk is not a failure: it is an outcome).
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    /// The broker failed in a way the desk could not work around.
    #[error(transparent)]
    Broker(#[from] crate::broker::BrokerError),
    /// The request itself is unusable.
    #[error("{0}")]
    Invalid(String),
}

/// The desk's result type.
pub type Result<T> = std::result::Result<T, DeskError>;

/// The order desk. Cheap to share: hold it in an `Arc`.
pub struct Desk {
    /// The book of record: the database, or memory in a backtest.
    ledger: Arc<dyn Ledger>,
    broker: Arc<dyn Broker>,
    clock: Clock,
    calendar: UsEquityCalendar,
    config: TradingConfig,
    risk_file: Option<PathBuf>,
    /// The engine; held only for a check or a state change, never across an await.
    engine: Mutex<RiskEngine>,
    /// One submission at a time: the portfolio a check sees must include the orders before it.
    submissions: tokio::sync::Mutex<()>,
    /// Where last prices come from when not from the store's minute bars (a backtest's history).
    prices: std::sync::OnceLock<PriceSource>,
    /// The position book of the stored fills, kept between syncs (rebuilt when the fills
    /// changed behind it); held across the store calls of one pass.
    fill_book: tokio::sync::Mutex<Option<manage::FillBook>>,
}

/// Last prices from somewhere other than the store (a backtest's history at its clock).
pub type PriceSource =
    Arc<dyn Fn(&crate::domain::Symbol) -> Option<crate::domain::Price> + Send + Sync>;

impl Desk {
    /// A desk over `broker`, with the limits given and the risk state stored in the database (a
    /// halt survives restarts); a fresh database starts active at the broker's equity.
    pub async fn open(
        ledger: Arc<dyn Ledger>,
        broker: Arc<dyn Broker>,
        clock: Clock,
        config: TradingConfig,
        limits: RiskLimits,
        risk_file: Option<PathBuf>,
    ) -> Result<Arc<Self>> {
        let now = clock.now();
        let calendar = UsEquityCalendar;
        let state = match ledger.risk_state().await? {
            Some(value) => serde_json::from_value::<RiskState>(value).map_err(|error| {
                DeskError::Invalid(format!("the stored risk state is unreadable: {error}"))
            })?,
            None => {
                let account = broker.account().await?;
                let state = RiskState::new(account.equity, crate::risk::trading_day(now));
                ledger
                    .save_risk_state(&serde_json::to_value(&state).unwrap_or_default(), now)
                    .await?;
                state
            }
        };
        Ok(Arc::new(Self {
            ledger,
            broker,
            clock,
            calendar,
            config,
            risk_file,
            engine: Mutex::new(RiskEngine::new(limits, state, now)),
            submissions: tokio::sync::Mutex::new(()),
            prices: std::sync::OnceLock::new(),
            fill_book: tokio::sync::Mutex::new(None),
        }))
    }

    /// Takes last prices from `source` instead of the store (once; a backtest does this).
    pub fn set_price_source(&self, source: PriceSource) {
        let _ = self.prices.set(source);
    }

    /// The broker behind the desk.
    pub fn broker(&self) -> &Arc<dyn Broker> {
        &self.broker
    }

    /// The book of record.
    pub fn ledger(&self) -> &dyn Ledger {
        self.ledger.as_ref()
    }

    /// The clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The limits in force.
    pub fn limits(&self) -> RiskLimits {
        self.with_engine(|engine| engine.limits().clone())
    }

    /// The risk state now.
    pub fn risk_state(&self) -> RiskState {
        self.with_engine(|engine| engine.state().clone())
    }

    fn with_engine<T>(&self, body: impl FnOnce(&mut RiskEngine) -> T) -> T {
        let mut engine = self.engine.lock().unwrap_or_else(PoisonError::into_inner);
        body(&mut engine)
    }

    fn pair_leg_timeout(&self) -> Duration {
        Duration::seconds(i64::try_from(self.config.pair_leg_timeout_seconds).unwrap_or(i64::MAX))
    }
}
