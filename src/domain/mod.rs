//! Pure trading vocabulary: money, symbols, bars, orders, fills and positions.
//!
//! Nothing here does I/O or knows about tokio, sqlx, Rhai or axum. Values are parsed at the edge
//! (`Symbol::parse`, `Price::new`, `Bar::new`), so code that holds one can rely on its invariants.

pub mod bar;
pub mod money;
pub mod order;
pub mod position;
pub mod resample;
pub mod run;
pub mod symbol;
pub mod timeframe;

pub use bar::{Bar, BarError};
pub use money::{Money, MoneyError, Price, Quantity};
pub use order::{
    ClientOrderId, Fill, Order, OrderError, OrderSide, OrderStatus, OrderType, TimeInForce,
};
pub use position::Position;
pub use resample::{ResampleError, resample};
pub use run::{RunState, RunStateError};
pub use symbol::{Symbol, SymbolError};
pub use timeframe::{Timeframe, TimeframeError, TimeframeUnit};
