//! The rules' arithmetic behind `RiskEngine::check`: the running cap, the exposure caps, the
//! portfolio's exposures and the fat-finger price band. Pure functions of their arguments.

use rust_decimal::Decimal;

use super::inputs::{
    CheckInputs, MarketSnapshot, OrderRequest, Outcome, PortfolioSnapshot, RuleName,
};
use super::limits::RiskLimits;
use crate::domain::{Money, OrderSide, OrderType, Price};

/// The running smallest cap: the quantity that passes every rule seen so far and the rule that set it.
pub(super) struct Caps {
    pub(super) quantity: Decimal,
    pub(super) binding: Option<(RuleName, String)>,
}

impl Caps {
    /// Lowers the cap when `cap` is below it; the reason is only built for a rule that binds.
    pub(super) fn apply(&mut self, rule: RuleName, cap: Decimal, reason: impl FnOnce() -> String) {
        let cap = cap.max(Decimal::ZERO);
        if cap < self.quantity {
            self.quantity = cap;
            self.binding = Some((rule, reason()));
        }
    }
}

pub(super) fn refused(rule: RuleName, reason: String) -> Outcome {
    Outcome::Refused { rule, reason }
}

/// The caps that only apply to orders that open or grow a position. Each limit is turned into
/// a position size `room` in units at the order's price; the order may then move the position
/// up to `room` on its side of zero, and never less than what merely closes it.
pub(super) fn exposure_caps(
    limits: &RiskLimits,
    caps: &mut Caps,
    request: &OrderRequest,
    portfolio: &PortfolioSnapshot,
    inputs: &CheckInputs,
    price: Decimal,
    closing: Decimal,
) {
    let symbol = &request.symbol;
    let position = inputs.position_before;
    let requested = request.quantity.value();
    let sign = request.side.sign();
    let after = position + sign * requested;
    let equity = portfolio.equity.value();
    let cap_for_room = |room: Decimal| (room - sign * position).max(closing);

    if position.is_zero() && inputs.open_positions >= limits.max_open_positions as usize {
        caps.apply(RuleName::OpenPositions, Decimal::ZERO, || {
            format!(
                "{} positions are open; the limit is {}",
                inputs.open_positions, limits.max_open_positions
            )
        });
    }
    caps.apply(
        RuleName::PositionNotional,
        cap_for_room(limits.max_position_notional / price),
        || {
            format!(
                "position of {after} {symbol} at {price} would be {} notional; the limit is {}",
                (after * price).abs(),
                limits.max_position_notional
            )
        },
    );
    let percent_limit = equity * limits.max_position_percent_of_equity / Decimal::ONE_HUNDRED;
    caps.apply(
        RuleName::PositionEquityPercent,
        cap_for_room(percent_limit / price),
        || {
            format!(
                "position of {after} {symbol} at {price} would be {} notional, above {}% of equity {equity} ({percent_limit})",
                (after * price).abs(),
                limits.max_position_percent_of_equity
            )
        },
    );
    // Exposure of everything but this symbol, valued as in `exposures`.
    let held_price = inputs.last_price.map_or(price, Price::value);
    let gross_other = inputs.gross_exposure.value() - position.abs() * held_price;
    let net_other = inputs.net_exposure.value() - position * held_price;
    let gross_after = gross_other + after.abs() * price;
    caps.apply(
        RuleName::GrossExposure,
        cap_for_room((limits.max_gross_exposure - gross_other) / price),
        || {
            format!(
                "gross exposure would be {gross_after}; the limit is {}",
                limits.max_gross_exposure
            )
        },
    );
    // Net exposure only binds in the direction the order pushes it.
    let net_now = net_other + position * price;
    let net_cap = (limits.max_net_exposure - sign * net_now) / price;
    caps.apply(RuleName::NetExposure, net_cap.max(closing), || {
        format!(
            "net exposure would be {}; the limit is {}",
            net_other + after * price,
            limits.max_net_exposure
        )
    });
    let leverage_limit = limits.max_leverage * equity;
    caps.apply(
        RuleName::Leverage,
        cap_for_room((leverage_limit - gross_other) / price),
        || {
            let leverage = if equity > Decimal::ZERO {
                (gross_after / equity).round_dp(2).to_string()
            } else {
                "unbounded".to_owned()
            };
            format!(
                "leverage would be {leverage} (gross {gross_after} on equity {equity}); the limit is {}",
                limits.max_leverage
            )
        },
    );
}

pub(super) fn side_name(side: OrderSide) -> &'static str {
    match side {
        OrderSide::Buy => "buy",
        OrderSide::Sell => "sell",
    }
}

/// Gross and net exposure of the portfolio, each position at its last price (or its average price
/// when no last price is known).
pub(super) fn exposures(portfolio: &PortfolioSnapshot, market: &MarketSnapshot) -> (Money, Money) {
    let mut gross = Decimal::ZERO;
    let mut net = Decimal::ZERO;
    for (symbol, position) in &portfolio.positions {
        let price = market
            .last_prices
            .get(symbol)
            .copied()
            .unwrap_or(position.average_price)
            .value();
        gross += position.quantity.abs() * price;
        net += position.quantity * price;
    }
    (Money::new(gross), Money::new(net))
}

/// The fat-finger check: every price on the order must be within the band around the last price.
pub(super) fn price_band(
    request: &OrderRequest,
    last: Price,
    band_percent: Decimal,
) -> Option<Outcome> {
    let prices: [Option<(&str, Price)>; 2] = match request.order_type {
        OrderType::Market => [None, None],
        OrderType::Limit { limit } => [Some(("limit", limit)), None],
        OrderType::Stop { stop } => [Some(("stop", stop)), None],
        OrderType::StopLimit { stop, limit } => [Some(("stop", stop)), Some(("limit", limit))],
    };
    prices.into_iter().flatten().find_map(|(kind, price)| {
        let deviation =
            (price.value() - last.value()).abs() / last.value() * Decimal::ONE_HUNDRED;
        (deviation > band_percent).then(|| {
            refused(
                RuleName::PriceBand,
                format!(
                    "{kind} price {price} is {:.2}% from the last price {last}; the band is {band_percent}%",
                    deviation.round_dp(2)
                ),
            )
        })
    })
}
