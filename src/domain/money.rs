//! Exact decimal prices, quantities and cash amounts.
//!
//! All three wrap `rust_decimal::Decimal`: binary floating point cannot represent 0.10 exactly, and a
//! trading system that adds up cash must not drift. `f64` is for analytics and indicators only.

use std::fmt;
use std::ops::{Add, AddAssign, Mul, Neg, Sub, SubAssign};
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Why a decimal value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The text is not a decimal number (this also catches `NaN` and `inf`).
    #[error("`{0}` is not a decimal number")]
    NotANumber(String),
    /// Prices must be strictly positive.
    #[error("price must be positive, got {0}")]
    NonPositivePrice(Decimal),
    /// Quantities must not be negative.
    #[error("quantity must not be negative, got {0}")]
    NegativeQuantity(Decimal),
}

fn parse_decimal(text: &str) -> Result<Decimal, MoneyError> {
    let trimmed = text.trim();
    // `from_str_exact` refuses values that would lose digits; scientific notation is accepted as a
    // fallback because some CSV exporters write small volumes that way.
    Decimal::from_str_exact(trimmed)
        .or_else(|_| Decimal::from_scientific(trimmed))
        .map(|value| value.normalize())
        .map_err(|_| MoneyError::NotANumber(trimmed.to_owned()))
}

/// A strictly positive price per unit of an instrument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "Decimal", into = "Decimal")]
pub struct Price(Decimal);

impl Price {
    /// Accepts only values above zero.
    pub fn new(value: Decimal) -> Result<Self, MoneyError> {
        if value > Decimal::ZERO {
            Ok(Self(value.normalize()))
        } else {
            Err(MoneyError::NonPositivePrice(value))
        }
    }

    /// The underlying decimal.
    pub fn value(self) -> Decimal {
        self.0
    }

    /// A lossy conversion for analytics and indicators, never for cash.
    pub fn to_f64(self) -> f64 {
        rust_decimal::prelude::ToPrimitive::to_f64(&self.0).unwrap_or(f64::NAN)
    }
}

impl TryFrom<Decimal> for Price {
    type Error = MoneyError;
    fn try_from(value: Decimal) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<Price> for Decimal {
    fn from(price: Price) -> Self {
        price.0
    }
}

impl FromStr for Price {
    type Err = MoneyError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::new(parse_decimal(text)?)
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A non-negative amount of an instrument: shares (fractional allowed), contracts or volume.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(try_from = "Decimal", into = "Decimal")]
pub struct Quantity(Decimal);

impl Quantity {
    /// Nothing.
    pub const ZERO: Self = Self(Decimal::ZERO);

    /// Accepts zero and positive values.
    pub fn new(value: Decimal) -> Result<Self, MoneyError> {
        if value >= Decimal::ZERO {
            Ok(Self(value.normalize()))
        } else {
            Err(MoneyError::NegativeQuantity(value))
        }
    }

    /// The underlying decimal.
    pub fn value(self) -> Decimal {
        self.0
    }

    /// True for an empty quantity.
    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// The difference, or `None` when `other` is larger (a quantity cannot go negative).
    pub fn checked_sub(self, other: Self) -> Option<Self> {
        (self.0 >= other.0).then(|| Self((self.0 - other.0).normalize()))
    }
}

impl TryFrom<Decimal> for Quantity {
    type Error = MoneyError;
    fn try_from(value: Decimal) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<Quantity> for Decimal {
    fn from(quantity: Quantity) -> Self {
        quantity.0
    }
}

impl FromStr for Quantity {
    type Err = MoneyError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::new(parse_decimal(text)?)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Add for Quantity {
    type Output = Self;
    fn add(self, other: Self) -> Self {
        Self((self.0 + other.0).normalize())
    }
}

/// A signed amount of cash in the account currency (USD).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Money(Decimal);

impl Money {
    /// No money.
    pub const ZERO: Self = Self(Decimal::ZERO);

    /// Any decimal is a valid amount of cash; debts are negative.
    pub fn new(value: Decimal) -> Self {
        Self(value.normalize())
    }

    /// The underlying decimal.
    pub fn value(self) -> Decimal {
        self.0
    }

    /// The notional value of `quantity` units at `price`.
    pub fn notional(price: Price, quantity: Quantity) -> Self {
        Self::new(price.0 * quantity.0)
    }

    /// Rounds half away from zero to whole cents, as brokers report cash.
    pub fn round_to_cents(self) -> Self {
        Self(
            self.0
                .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero),
        )
    }
}

impl FromStr for Money {
    type Err = MoneyError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse_decimal(text).map(Self::new)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Add for Money {
    type Output = Self;
    fn add(self, other: Self) -> Self {
        Self::new(self.0 + other.0)
    }
}

impl AddAssign for Money {
    fn add_assign(&mut self, other: Self) {
        *self = *self + other;
    }
}

impl Sub for Money {
    type Output = Self;
    fn sub(self, other: Self) -> Self {
        Self::new(self.0 - other.0)
    }
}

impl SubAssign for Money {
    fn sub_assign(&mut self, other: Self) {
        *self = *self - other;
    }
}

impl Neg for Money {
    type Output = Self;
    fn neg(self) -> Self {
        Self(-self.0)
    }
}

impl Mul<Decimal> for Money {
    type Output = Self;
    fn mul(self, factor: Decimal) -> Self {
        Self::new(self.0 * factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decimal() -> impl Strategy<Value = Decimal> {
        // Up to 10^12 with up to 8 decimal places: the range of real prices and cash balances.
        (any::<i64>(), 0u32..=8)
            .prop_map(|(mantissa, scale)| Decimal::new(mantissa % 1_000_000_000_000_000_000, scale))
    }

    #[test]
    fn zero_and_negative_prices_are_refused() {
        assert!(Price::new(Decimal::ZERO).is_err());
        assert!("-1.5".parse::<Price>().is_err());
        assert!("NaN".parse::<Price>().is_err());
        assert!("inf".parse::<Price>().is_err());
        assert_eq!(
            "12.50".parse::<Price>().map(Price::value),
            Ok(Decimal::new(125, 1))
        );
    }

    #[test]
    fn a_tenth_plus_two_tenths_is_exactly_three_tenths() {
        let sum = "0.1".parse::<Money>().expect("valid") + "0.2".parse::<Money>().expect("valid");
        assert_eq!(sum, "0.3".parse::<Money>().expect("valid"));
    }

    #[test]
    fn cents_round_half_away_from_zero() {
        assert_eq!(
            Money::new(Decimal::new(1005, 3))
                .round_to_cents()
                .to_string(),
            "1.01"
        );
        assert_eq!(
            Money::new(Decimal::new(-1005, 3))
                .round_to_cents()
                .to_string(),
            "-1.01"
        );
    }

    proptest! {
        #[test]
        fn price_text_round_trips(value in decimal()) {
            prop_assume!(value > Decimal::ZERO);
            let price = Price::new(value).expect("positive");
            prop_assert_eq!(price.to_string().parse::<Price>(), Ok(price));
        }

        #[test]
        fn money_text_round_trips(value in decimal()) {
            let money = Money::new(value);
            prop_assert_eq!(money.to_string().parse::<Money>(), Ok(money));
        }

        #[test]
        fn money_addition_is_exact_and_reversible(a in decimal(), b in decimal()) {
            let (a, b) = (Money::new(a), Money::new(b));
            prop_assert_eq!(a + b - b, a);
            prop_assert_eq!(a + b, b + a);
            prop_assert_eq!(a - a, Money::ZERO);
            prop_assert_eq!(-(-a), a);
        }

        #[test]
        fn notional_is_price_times_quantity(price in 1i64..10_000_000, scale in 0u32..6, quantity in 0i64..1_000_000) {
            let price = Price::new(Decimal::new(price, scale)).expect("positive");
            let quantity = Quantity::new(Decimal::from(quantity)).expect("non-negative");
            let notional = Money::notional(price, quantity);
            prop_assert_eq!(notional.value(), price.value() * quantity.value());
            // Splitting a quantity splits the notional exactly.
            let half = Quantity::new(quantity.value() / Decimal::TWO).expect("non-negative");
            let rest = quantity.checked_sub(half).expect("half is not larger");
            prop_assert_eq!(Money::notional(price, half) + Money::notional(price, rest), notional);
        }

        #[test]
        fn quantity_never_goes_negative(a in 0i64..1_000_000, b in 0i64..1_000_000) {
            let (a, b) = (Quantity::new(Decimal::from(a)).expect("ok"), Quantity::new(Decimal::from(b)).expect("ok"));
            match a.checked_sub(b) {
                Some(difference) => prop_assert_eq!(difference + b, a),
                None => prop_assert!(b > a),
            }
        }
    }
}
