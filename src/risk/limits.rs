//! The risk limits read from `config/risk.toml`, their validation and the comparison that tells a
//! reload which limits it loosens.
//!
//! Every numeric limit is required: a missing key is a parse error, so no check is silently
//! disabled. Money and percentages are decimals, written in TOML as strings or numbers.
//! Gross and net exposure are absolute amounts of account currency, because a desk states them that
//! way ("no more than 50k gross"); leverage is the multiple of equity, which covers the relative view.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::Symbol;

/// Which directions a symbol may be traded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Long positions only: a sell may only reduce a long.
    LongOnly,
    /// Short positions only: a buy may only cover a short.
    ShortOnly,
    /// Either direction.
    Both,
}

/// A token bucket's shape: how many orders may burst and how fast the allowance comes back.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// The most orders that may be sent at once after a quiet period.
    pub capacity: u32,
    /// Tokens returned per second.
    pub refill_per_second: Decimal,
}

/// Every limit the engine enforces (SPEC §6.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskLimits {
    /// The largest notional of one order, in account currency.
    pub max_order_notional: Decimal,
    /// The largest quantity of one order.
    pub max_order_quantity: Decimal,
    /// How far, in percent, a limit or stop price may be from the last price (the fat-finger check).
    pub price_band_percent: Decimal,
    /// Symbols that may be entered; empty allows every symbol.
    #[serde(default)]
    pub allowed_symbols: BTreeSet<Symbol>,
    /// Per-symbol direction restrictions; a symbol that is not listed may go either way.
    #[serde(default)]
    pub directions: BTreeMap<Symbol, Direction>,
    /// Symbols that may be sold short without the request's own shortable flag.
    #[serde(default)]
    pub shortable_symbols: BTreeSet<Symbol>,
    /// The largest notional of one position after the order.
    pub max_position_notional: Decimal,
    /// The largest position as a percentage of equity.
    pub max_position_percent_of_equity: Decimal,
    /// The largest sum of absolute position notionals, in account currency.
    pub max_gross_exposure: Decimal,
    /// The largest absolute sum of signed position notionals, in account currency.
    pub max_net_exposure: Decimal,
    /// The largest gross exposure as a multiple of equity.
    pub max_leverage: Decimal,
    /// The most symbols held at once.
    pub max_open_positions: u32,
    /// The most orders working at once.
    pub max_open_orders: u32,
    /// The order rate allowed to each strategy.
    pub strategy_rate: RateLimit,
    /// The order rate allowed to the whole account.
    pub account_rate: RateLimit,
    /// The most orders sent in one trading day.
    pub max_orders_per_day: u32,
    /// New entries are refused this many minutes before the close; exits still pass.
    pub no_new_entries_minutes_before_close: i64,
    /// The loss from the day's starting equity that switches trading to reducing-only.
    pub max_daily_loss: Decimal,
    /// The fall from peak equity, in percent, that halts trading until an operator resumes it.
    pub max_drawdown_percent: Decimal,
    /// How many losing trades in a row start a cooldown.
    pub max_consecutive_losses: u32,
    /// How long the cooldown refuses new entries.
    pub cooldown_minutes: i64,
}

/// A limit that cannot be used, named by its key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitsError {
    /// A limit that must be strictly positive is not.
    #[error("{key} must be above zero, got {value}")]
    NotPositive {
        /// The TOML key.
        key: &'static str,
        /// The configured value.
        value: String,
    },
    /// A limit that may be zero is negative.
    #[error("{key} must not be negative, got {value}")]
    Negative {
        /// The TOML key.
        key: &'static str,
        /// The configured value.
        value: String,
    },
    /// A percentage above 100 where that makes no sense.
    #[error("{key} must be at most 100, got {value}")]
    AboveHundred {
        /// The TOML key.
        key: &'static str,
        /// The configured value.
        value: String,
    },
}

fn positive(key: &'static str, value: Decimal) -> Result<(), LimitsError> {
    if value > Decimal::ZERO {
        Ok(())
    } else {
        Err(LimitsError::NotPositive {
            key,
            value: value.to_string(),
        })
    }
}

fn positive_count(key: &'static str, value: u32) -> Result<(), LimitsError> {
    positive(key, Decimal::from(value))
}

fn not_negative(key: &'static str, value: i64) -> Result<(), LimitsError> {
    if value >= 0 {
        Ok(())
    } else {
        Err(LimitsError::Negative {
            key,
            value: value.to_string(),
        })
    }
}

fn at_most_hundred(key: &'static str, value: Decimal) -> Result<(), LimitsError> {
    positive(key, value)?;
    if value <= Decimal::ONE_HUNDRED {
        Ok(())
    } else {
        Err(LimitsError::AboveHundred {
            key,
            value: value.to_string(),
        })
    }
}

impl RiskLimits {
    /// Checks every limit and returns the first unusable one, so a bad file fails before trading.
    pub fn validate(&self) -> Result<(), LimitsError> {
        positive("max_order_notional", self.max_order_notional)?;
        positive("max_order_quantity", self.max_order_quantity)?;
        positive("price_band_percent", self.price_band_percent)?;
        positive("max_position_notional", self.max_position_notional)?;
        at_most_hundred(
            "max_position_percent_of_equity",
            self.max_position_percent_of_equity,
        )?;
        positive("max_gross_exposure", self.max_gross_exposure)?;
        positive("max_net_exposure", self.max_net_exposure)?;
        positive("max_leverage", self.max_leverage)?;
        positive_count("max_open_positions", self.max_open_positions)?;
        positive_count("max_open_orders", self.max_open_orders)?;
        positive_count("strategy_rate.capacity", self.strategy_rate.capacity)?;
        positive(
            "strategy_rate.refill_per_second",
            self.strategy_rate.refill_per_second,
        )?;
        positive_count("account_rate.capacity", self.account_rate.capacity)?;
        positive(
            "account_rate.refill_per_second",
            self.account_rate.refill_per_second,
        )?;
        positive_count("max_orders_per_day", self.max_orders_per_day)?;
        not_negative(
            "no_new_entries_minutes_before_close",
            self.no_new_entries_minutes_before_close,
        )?;
        positive("max_daily_loss", self.max_daily_loss)?;
        at_most_hundred("max_drawdown_percent", self.max_drawdown_percent)?;
        positive_count("max_consecutive_losses", self.max_consecutive_losses)?;
        not_negative("cooldown_minutes", self.cooldown_minutes)
    }

    /// The keys whose value in `newer` allows more than `self` does, so a reload can log each
    /// loosening (tightening needs no attention: it can only refuse more).
    pub fn loosened_keys(&self, newer: &RiskLimits) -> Vec<String> {
        let mut keys = Vec::new();
        let mut larger = |key: &str, old: Decimal, new: Decimal| {
            if new > old {
                keys.push(key.to_owned());
            }
        };
        larger(
            "max_order_notional",
            self.max_order_notional,
            newer.max_order_notional,
        );
        larger(
            "max_order_quantity",
            self.max_order_quantity,
            newer.max_order_quantity,
        );
        larger(
            "price_band_percent",
            self.price_band_percent,
            newer.price_band_percent,
        );
        larger(
            "max_position_notional",
            self.max_position_notional,
            newer.max_position_notional,
        );
        larger(
            "max_position_percent_of_equity",
            self.max_position_percent_of_equity,
            newer.max_position_percent_of_equity,
        );
        larger(
            "max_gross_exposure",
            self.max_gross_exposure,
            newer.max_gross_exposure,
        );
        larger(
            "max_net_exposure",
            self.max_net_exposure,
            newer.max_net_exposure,
        );
        larger("max_leverage", self.max_leverage, newer.max_leverage);
        let counts = [
            (
                "max_open_positions",
                self.max_open_positions,
                newer.max_open_positions,
            ),
            (
                "max_open_orders",
                self.max_open_orders,
                newer.max_open_orders,
            ),
            (
                "strategy_rate.capacity",
                self.strategy_rate.capacity,
                newer.strategy_rate.capacity,
            ),
            (
                "account_rate.capacity",
                self.account_rate.capacity,
                newer.account_rate.capacity,
            ),
            (
                "max_orders_per_day",
                self.max_orders_per_day,
                newer.max_orders_per_day,
            ),
            (
                "max_consecutive_losses",
                self.max_consecutive_losses,
                newer.max_consecutive_losses,
            ),
        ];
        for (key, old, new) in counts {
            larger(key, Decimal::from(old), Decimal::from(new));
        }
        larger(
            "strategy_rate.refill_per_second",
            self.strategy_rate.refill_per_second,
            newer.strategy_rate.refill_per_second,
        );
        larger(
            "account_rate.refill_per_second",
            self.account_rate.refill_per_second,
            newer.account_rate.refill_per_second,
        );
        larger("max_daily_loss", self.max_daily_loss, newer.max_daily_loss);
        larger(
            "max_drawdown_percent",
            self.max_drawdown_percent,
            newer.max_drawdown_percent,
        );
        // For these two, a shorter time allows more.
        larger(
            "no_new_entries_minutes_before_close",
            Decimal::from(newer.no_new_entries_minutes_before_close),
            Decimal::from(self.no_new_entries_minutes_before_close),
        );
        larger(
            "cooldown_minutes",
            Decimal::from(newer.cooldown_minutes),
            Decimal::from(self.cooldown_minutes),
        );
        // An empty list allows everything, so emptying it or adding a symbol loosens.
        let symbols_loosened = !self.allowed_symbols.is_empty()
            && (newer.allowed_symbols.is_empty()
                || !newer.allowed_symbols.is_subset(&self.allowed_symbols));
        if symbols_loosened {
            keys.push("allowed_symbols".to_owned());
        }
        let direction_loosened = self.directions.iter().any(|(symbol, old)| {
            let new = newer
                .directions
                .get(symbol)
                .copied()
                .unwrap_or(Direction::Both);
            new != *old
        });
        if direction_loosened {
            keys.push("directions".to_owned());
        }
        if !newer.shortable_symbols.is_subset(&self.shortable_symbols) {
            keys.push("shortable_symbols".to_owned());
        }
        keys
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use figment::Figment;
    use figment::providers::{Format, Toml};

    /// The shipped file, parsed the way the host's configuration layer parses TOML.
    pub(crate) fn shipped_limits() -> RiskLimits {
        Figment::new()
            .merge(Toml::string(include_str!("../../config/risk.toml")))
            .extract()
            .expect("config/risk.toml parses")
    }

    fn parse(text: &str) -> Result<RiskLimits, String> {
        Figment::new()
            .merge(Toml::string(text))
            .extract()
            .map_err(|error| error.to_string())
    }

    #[test]
    fn the_shipped_risk_file_parses_and_validates() {
        let limits = shipped_limits();
        assert_eq!(limits.validate(), Ok(()));
        assert_eq!(limits.max_order_notional, Decimal::from(25_000));
    }

    #[test]
    fn an_unknown_key_is_refused() {
        let text = format!(
            "{}\nmax_order_notionl = 5\n",
            include_str!("../../config/risk.toml")
        );
        let error = parse(&text).expect_err("unknown key");
        assert!(error.contains("max_order_notionl"), "{error}");
    }

    #[test]
    fn decimals_may_be_written_as_strings_or_numbers() {
        let text = include_str!("../../config/risk.toml").replace(
            "max_order_notional = 25000",
            "max_order_notional = \"25000.50\"",
        );
        let limits = parse(&text).expect("parses");
        assert_eq!(limits.max_order_notional, Decimal::new(2_500_050, 2));
    }

    #[test]
    fn a_negative_notional_is_refused_naming_the_key_and_value() {
        let mut limits = shipped_limits();
        limits.max_order_notional = Decimal::from(-5);
        assert_eq!(
            limits.validate().expect_err("negative").to_string(),
            "max_order_notional must be above zero, got -5"
        );
    }

    #[test]
    fn a_drawdown_above_a_hundred_percent_is_refused() {
        let mut limits = shipped_limits();
        limits.max_drawdown_percent = Decimal::from(150);
        assert_eq!(
            limits.validate().expect_err("too large").to_string(),
            "max_drawdown_percent must be at most 100, got 150"
        );
    }

    #[test]
    fn a_zero_rate_capacity_is_refused_naming_the_nested_key() {
        let mut limits = shipped_limits();
        limits.account_rate.capacity = 0;
        assert_eq!(
            limits.validate().expect_err("zero").to_string(),
            "account_rate.capacity must be above zero, got 0"
        );
    }

    #[test]
    fn identical_limits_loosen_nothing() {
        let limits = shipped_limits();
        assert!(limits.loosened_keys(&limits.clone()).is_empty());
    }

    #[test]
    fn raising_maxima_and_shortening_times_are_reported_as_loosening() {
        let old = shipped_limits();
        let mut newer = old.clone();
        newer.max_order_notional += Decimal::ONE;
        newer.max_open_orders += 1;
        newer.no_new_entries_minutes_before_close -= 1;
        newer
            .shortable_symbols
            .insert(Symbol::parse("GME").expect("valid"));
        // Tightening is not reported.
        newer.max_leverage -= Decimal::ONE;
        assert_eq!(
            old.loosened_keys(&newer),
            vec![
                "max_order_notional",
                "max_open_orders",
                "no_new_entries_minutes_before_close",
                "shortable_symbols"
            ]
        );
    }

    #[test]
    fn emptying_the_allowed_symbols_or_dropping_a_direction_loosens() {
        let mut old = shipped_limits();
        old.allowed_symbols
            .insert(Symbol::parse("AAPL").expect("valid"));
        old.directions
            .insert(Symbol::parse("AAPL").expect("valid"), Direction::LongOnly);
        let mut newer = old.clone();
        newer.allowed_symbols.clear();
        newer.directions.clear();
        assert_eq!(
            old.loosened_keys(&newer),
            vec!["allowed_symbols", "directions"]
        );
    }
}
