//! The risk engine: every order request passes `RiskEngine::check` before it may reach a broker.
//!
//! The check is pure apart from the engine's own state (mode, peak equity, rate buckets): the
//! portfolio, the market and the time are passed in. Rules run in a fixed order. Rules that cannot
//! be satisfied by a smaller order (a halt, a closed market, a rate limit) refuse; rules that cap the
//! quantity each give the largest quantity they allow, and the smallest cap wins: below the request
//! the order is clipped to it, at zero it is refused. Orders that only reduce a position pass the
//! entry rules and every exposure limit, so the engine never traps a position it holds.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::{Decimal, RoundingStrategy};

use super::bucket::TokenBucket;
use super::inputs::{
    CheckInputs, Decision, MarketSnapshot, OrderRequest, Outcome, PortfolioSnapshot, RuleName,
};
use super::limits::{Direction, RiskLimits};
use super::rules::{Caps, exposure_caps, exposures, price_band, refused, side_name};
use super::state::{RiskState, TradingMode};
use crate::domain::{OrderSide, Quantity};

/// The limits, the state and the rate buckets of one account.
#[derive(Debug, Clone)]
pub struct RiskEngine {
    limits: RiskLimits,
    state: RiskState,
    strategy_buckets: HashMap<String, TokenBucket>,
    account_bucket: TokenBucket,
}

impl RiskEngine {
    /// An engine with validated `limits`, starting from `state`, with full rate buckets at `now`.
    pub fn new(limits: RiskLimits, state: RiskState, now: DateTime<Utc>) -> Self {
        let account_bucket = TokenBucket::new(limits.account_rate, now);
        Self {
            limits,
            state,
            strategy_buckets: HashMap::new(),
            account_bucket,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &RiskLimits {
        &self.limits
    }

    /// The state, for display and persistence.
    pub fn state(&self) -> &RiskState {
        &self.state
    }

    /// The state, for the kill switch, resume, new days and trade results.
    pub fn state_mut(&mut self) -> &mut RiskState {
        &mut self.state
    }

    /// Installs reloaded limits and returns the keys they loosen, for the host to log. Rate buckets
    /// start full in their new shape, since the old token counts belong to the old shape.
    pub fn replace_limits(&mut self, limits: RiskLimits, now: DateTime<Utc>) -> Vec<String> {
        let loosened = self.limits.loosened_keys(&limits);
        self.account_bucket = TokenBucket::new(limits.account_rate, now);
        self.strategy_buckets.clear();
        self.limits = limits;
        loosened
    }

    /// Decides whether `request` may be sent. Updates the mode from the portfolio's equity first,
    /// and takes rate-limit tokens only when the order passes (accepted or clipped).
    pub fn check(
        &mut self,
        request: &OrderRequest,
        portfolio: &PortfolioSnapshot,
        market: &MarketSnapshot,
        now: DateTime<Utc>,
    ) -> Decision {
        self.state
            .observe_equity(&self.limits, portfolio.equity, now);
        self.account_bucket.refill(now);
        if !self.strategy_buckets.contains_key(&request.strategy) {
            self.strategy_buckets.insert(
                request.strategy.clone(),
                TokenBucket::new(self.limits.strategy_rate, now),
            );
        }
        let strategy_bucket = self
            .strategy_buckets
            .get_mut(&request.strategy)
            .expect("the strategy's bucket was inserted above");
        strategy_bucket.refill(now);
        let strategy_tokens = strategy_bucket.tokens();

        let last_price = market.last_prices.get(&request.symbol).copied();
        let (gross_exposure, net_exposure) = exposures(portfolio, market);
        let inputs = CheckInputs {
            mode: self.state.mode.name().to_owned(),
            reduces_position: request.reduces_position(portfolio),
            last_price,
            expected_price: last_price.map(|last| request.expected_price(last)),
            position_before: portfolio.position_quantity(&request.symbol),
            equity: portfolio.equity,
            gross_exposure,
            net_exposure,
            open_positions: portfolio.open_positions(),
            open_orders: portfolio.open_orders,
            orders_today: portfolio.orders_today,
            strategy_tokens,
            account_tokens: self.account_bucket.tokens(),
            daily_pnl: self.state.daily_pnl(),
        };
        let outcome = self.evaluate(request, portfolio, market, &inputs, now);
        if !matches!(outcome, Outcome::Refused { .. }) {
            self.account_bucket.take();
            if let Some(bucket) = self.strategy_buckets.get_mut(&request.strategy) {
                bucket.take();
            }
        }
        Decision { outcome, inputs }
    }

    fn evaluate(
        &self,
        request: &OrderRequest,
        portfolio: &PortfolioSnapshot,
        market: &MarketSnapshot,
        inputs: &CheckInputs,
        now: DateTime<Utc>,
    ) -> Outcome {
        let limits = &self.limits;
        let symbol = &request.symbol;
        let reduces = inputs.reduces_position;
        if let TradingMode::Halted { reason, .. } = &self.state.mode
            && !(request.operator_flatten && reduces)
        {
            return refused(
                RuleName::Halted,
                format!("trading is halted ({reason}); only an operator's flatten may pass"),
            );
        }
        if request.operator_flatten && reduces {
            return Outcome::Accepted;
        }
        if !market.market_open {
            return refused(
                RuleName::MarketHours,
                "the market is closed; orders wait for the session".to_owned(),
            );
        }
        let Some(last) = inputs.last_price else {
            return refused(
                RuleName::NoMarketPrice,
                format!("there is no last price for {symbol} to check the order against"),
            );
        };
        if let Some(outcome) = price_band(request, last, limits.price_band_percent) {
            return outcome;
        }
        if portfolio.orders_today >= limits.max_orders_per_day {
            return refused(
                RuleName::OrdersPerDay,
                format!(
                    "{} orders were sent today; the limit is {}",
                    portfolio.orders_today, limits.max_orders_per_day
                ),
            );
        }
        if portfolio.open_orders >= limits.max_open_orders {
            return refused(
                RuleName::OpenOrders,
                format!(
                    "{} orders are working; the limit is {}",
                    portfolio.open_orders, limits.max_open_orders
                ),
            );
        }
        if inputs.strategy_tokens < 1.0 {
            return refused(
                RuleName::StrategyRate,
                format!(
                    "strategy `{}` has {:.2} order tokens; its bucket holds {} and refills {} per second",
                    request.strategy,
                    inputs.strategy_tokens,
                    limits.strategy_rate.capacity,
                    limits.strategy_rate.refill_per_second
                ),
            );
        }
        if inputs.account_tokens < 1.0 {
            return refused(
                RuleName::AccountRate,
                format!(
                    "the account has {:.2} order tokens; its bucket holds {} and refills {} per second",
                    inputs.account_tokens,
                    limits.account_rate.capacity,
                    limits.account_rate.refill_per_second
                ),
            );
        }

        let requested = request.quantity.value();
        let position = inputs.position_before;
        let sign = request.side.sign();
        // The quantity that only closes the position: anything up to it reduces, beyond it opens.
        let closing = if (position * sign).is_sign_negative() {
            position.abs()
        } else {
            Decimal::ZERO
        };
        let mut caps = Caps {
            quantity: requested,
            binding: None,
        };
        let entry_block = if let TradingMode::Reducing { reason, .. } = &self.state.mode {
            Some((
                RuleName::DailyLoss,
                format!("{reason}; only exits may pass"),
            ))
        } else if let Some(until) = self
            .state
            .cooldown_until
            .filter(|_| self.state.in_cooldown(now))
        {
            Some((
                RuleName::ConsecutiveLosses,
                format!(
                    "{} losing trades in a row started a cooldown until {until}; only exits may pass",
                    limits.max_consecutive_losses
                ),
            ))
        } else if let Some(minutes) = market
            .minutes_to_close
            .filter(|minutes| *minutes <= limits.no_new_entries_minutes_before_close)
        {
            Some((
                RuleName::EntryCutoff,
                format!(
                    "{minutes} minutes to the close; no new entries in the last {}",
                    limits.no_new_entries_minutes_before_close
                ),
            ))
        } else if !limits.allowed_symbols.is_empty() && !limits.allowed_symbols.contains(symbol) {
            Some((
                RuleName::SymbolNotAllowed,
                format!("{symbol} is not in the allowed symbols; only exits may pass"),
            ))
        } else {
            None
        };
        if let Some((rule, reason)) = entry_block {
            caps.apply(rule, closing, || reason);
        }
        let direction = limits.directions.get(symbol).copied();
        let opens_against = match (direction, request.side) {
            (Some(Direction::LongOnly), OrderSide::Sell) => Some("long-only"),
            (Some(Direction::ShortOnly), OrderSide::Buy) => Some("short-only"),
            _ => None,
        };
        if let Some(name) = opens_against {
            caps.apply(RuleName::Direction, closing, || {
                format!(
                    "{symbol} is {name}; a {} may only close the position of {position}",
                    side_name(request.side)
                )
            });
        }
        let shortable = request.shortable || limits.shortable_symbols.contains(symbol);
        if request.side == OrderSide::Sell && !shortable {
            caps.apply(RuleName::Shortability, closing, || {
                format!(
                    "{symbol} is not shortable; selling {requested} against a position of {position} would open or increase a short"
                )
            });
        }
        // The per-order caps stop an order too large by mistake. They never cut an order below
        // the position it closes: a position whose value grew past the cap since it was opened
        // must still be closable in one order (a pair's exit is whole or nothing, and a stop
        // that can only ever close part of a position is no stop).
        caps.apply(
            RuleName::OrderQuantity,
            limits.max_order_quantity.max(closing),
            || {
                format!(
                    "order quantity {requested} exceeds the limit of {}",
                    limits.max_order_quantity
                )
            },
        );
        let price = request.expected_price(last).value();
        caps.apply(
            RuleName::OrderNotional,
            (limits.max_order_notional / price).max(closing),
            || {
                format!(
                    "order notional {} at {price} exceeds the limit of {}",
                    requested * price,
                    limits.max_order_notional
                )
            },
        );
        if caps.quantity > closing {
            exposure_caps(
                &self.limits,
                &mut caps,
                request,
                portfolio,
                inputs,
                price,
                closing,
            );
        }

        let scale = requested.scale();
        let allowed = caps
            .quantity
            .round_dp_with_strategy(scale, RoundingStrategy::ToZero);
        match caps.binding {
            None => Outcome::Accepted,
            Some((rule, reason)) if allowed.is_zero() => refused(rule, reason),
            Some((rule, reason)) => match Quantity::new(allowed) {
                Ok(quantity) => Outcome::Clipped {
                    quantity,
                    rule,
                    reason: format!("{reason}; clipped from {requested} to {allowed}"),
                },
                Err(_) => refused(rule, reason),
            },
        }
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
