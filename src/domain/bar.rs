//! OHLCV bars, checked for internal consistency when built.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Price, Quantity, Symbol, Timeframe};

/// Why a bar was refused. The messages are what a data-quality report shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BarError {
    /// High below low.
    #[error("high {high} is below low {low}")]
    HighBelowLow {
        /// The bar's high.
        high: Price,
        /// The bar's low.
        low: Price,
    },
    /// Open or close outside the high–low range.
    #[error("{field} {value} is outside the range low {low} .. high {high}")]
    OutsideRange {
        /// Which price: `open` or `close`.
        field: &'static str,
        /// Its value.
        value: Price,
        /// The bar's low.
        low: Price,
        /// The bar's high.
        high: Price,
    },
}

/// One bar of one symbol: prices over `[time, time + timeframe)`. `time` is the bar's start, UTC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bar {
    /// The instrument.
    pub symbol: Symbol,
    /// The bar's length.
    pub timeframe: Timeframe,
    /// The start of the bar, UTC.
    pub time: DateTime<Utc>,
    /// First trade price.
    pub open: Price,
    /// Highest trade price.
    pub high: Price,
    /// Lowest trade price.
    pub low: Price,
    /// Last trade price.
    pub close: Price,
    /// Traded volume; zero when the source has none (close-only data).
    pub volume: Quantity,
}

impl Bar {
    /// Builds a bar whose low ≤ open, close ≤ high.
    #[allow(clippy::too_many_arguments)] // A bar is exactly these eight fields.
    pub fn new(
        symbol: Symbol,
        timeframe: Timeframe,
        time: DateTime<Utc>,
        open: Price,
        high: Price,
        low: Price,
        close: Price,
        volume: Quantity,
    ) -> Result<Self, BarError> {
        if high < low {
            return Err(BarError::HighBelowLow { high, low });
        }
        for (field, value) in [("open", open), ("close", close)] {
            if value < low || value > high {
                return Err(BarError::OutsideRange {
                    field,
                    value,
                    low,
                    high,
                });
            }
        }
        Ok(Self {
            symbol,
            timeframe,
            time,
            open,
            high,
            low,
            close,
            volume,
        })
    }

    /// A bar from a close-only source: open, high and low equal the close, volume is zero.
    pub fn close_only(
        symbol: Symbol,
        timeframe: Timeframe,
        time: DateTime<Utc>,
        close: Price,
    ) -> Self {
        Self {
            symbol,
            timeframe,
            time,
            open: close,
            high: close,
            low: close,
            close,
            volume: Quantity::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(text: &str) -> Price {
        text.parse().expect("valid price")
    }

    fn bar(open: &str, high: &str, low: &str, close: &str) -> Result<Bar, BarError> {
        Bar::new(
            Symbol::parse("SPY").expect("valid"),
            Timeframe::DAY,
            DateTime::UNIX_EPOCH,
            price(open),
            price(high),
            price(low),
            price(close),
            Quantity::ZERO,
        )
    }

    #[test]
    fn consistent_bars_are_accepted() {
        assert!(bar("10", "11", "9", "10.5").is_ok());
        assert!(bar("10", "10", "10", "10").is_ok());
    }

    #[test]
    fn inconsistent_bars_are_refused_with_a_reason() {
        assert!(matches!(
            bar("10", "9", "11", "10"),
            Err(BarError::HighBelowLow { .. })
        ));
        let error = bar("12", "11", "9", "10").expect_err("open above high");
        assert_eq!(
            error.to_string(),
            "open 12 is outside the range low 9 .. high 11"
        );
        assert!(matches!(
            bar("10", "11", "9", "8"),
            Err(BarError::OutsideRange { field: "close", .. })
        ));
    }
}
