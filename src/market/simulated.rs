//! The simulated market: a seeded, deterministic feed of realistic intraday bars with cointegrated pairs.
//!
//! Every symbol trades one-minute bars during NYSE regular sessions. A pair's first leg and every
//! independent symbol follow a geometric random walk; a pair's second leg is tied to its first by
//! `ln B = intercept + hedge_ratio · ln A + s`, where the spread `s` is an Ornstein–Uhlenbeck
//! process. The true parameters are public, so tests elsewhere can check what they estimate.
//!
//! The bar at minute `t` is a function of the seed, the universe, `t`, and the previous bar's time
//! and rounded closes only: the random numbers come from a generator keyed by the seed and `t`,
//! and the latent state (log prices, spreads) is recomputed from the stored closes. So a daemon
//! that stores its bars can restart from the last closes and continue exactly the same path.
//! (The path is bit-for-bit reproducible on one platform; `ln` and `exp` come from the platform's
//! maths library, so a different one could in rare cases move a price by a cent.)

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use chrono_tz::America::New_York;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::calendar::{Session, UsEquityCalendar};
use crate::domain::{Bar, Price, Quantity, Symbol, Timeframe};

/// Price steps simulated inside each minute; a bar's high and low are the extremes of this path.
const SUB_STEPS: usize = 8;
/// Minutes in a regular session: volatilities are quoted per session day and scaled by this.
const SESSION_MINUTES: f64 = 390.0;
/// Trading days per year, to turn an annual drift into a per-minute one.
const TRADING_DAYS_PER_YEAR: f64 = 252.0;
/// The share of a session day's variance that accrues per 24 hours the market is closed: an
/// overnight gap then has about a quarter of a day's volatility and a weekend gap about half.
const CLOSED_VARIANCE_PER_DAY: f64 = 0.1;
/// Mixed into every generator key, so a change of model can change the tag and not collide with
/// paths from an earlier one.
const KEY_TAG: &[u8; 16] = b"tradehost-sim-v1";

/// Why a simulated market could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimulatedError {
    /// A symbol is listed twice among the instruments.
    #[error("simulated symbol {0} is listed twice")]
    DuplicateSymbol(Symbol),
    /// A pair names a symbol that is not among the instruments.
    #[error("pair leg {0} is not a simulated instrument")]
    UnknownLeg(Symbol),
    /// A symbol is a leg of more than one pair (or both legs of one).
    #[error("simulated symbol {0} is a leg of more than one pair")]
    LegReused(Symbol),
    /// A parameter is out of range.
    #[error("{symbol}: {parameter} must be {expected}, got {value}")]
    InvalidParameter {
        /// The instrument or the pair's first leg.
        symbol: Symbol,
        /// The parameter's field name.
        parameter: &'static str,
        /// What it must be.
        expected: &'static str,
        /// The value given.
        value: f64,
    },
    /// Resuming needs the last close of every simulated symbol.
    #[error("no last close given for simulated symbol {0}")]
    MissingClose(Symbol),
}

/// One simulated symbol: its starting price, its volatility and drift, and its typical volume.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatedInstrument {
    /// The ticker.
    pub symbol: Symbol,
    /// The price of a fresh market (not of a resumed one).
    pub initial_price: Price,
    /// Standard deviation of the log return over one regular session, e.g. 0.015 for 1.5%.
    /// Unused for a pair's second leg, whose moves follow its first leg and the spread.
    pub daily_volatility: f64,
    /// Expected log return per year. Unused for a pair's second leg.
    pub annual_drift: f64,
    /// Typical shares traded in a regular session.
    pub average_daily_volume: u64,
}

/// A cointegrated pair and its true parameters: `ln B = intercept + hedge_ratio · ln A + s`,
/// where the spread `s` reverts to zero with the given half-life.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatedPair {
    /// The first leg, a random walk.
    pub leg_a: Symbol,
    /// The second leg, tied to the first.
    pub leg_b: Symbol,
    /// The slope of ln B on ln A.
    pub hedge_ratio: f64,
    /// The constant of ln B on ln A.
    pub intercept: f64,
    /// Minutes of trading for the spread to halve its distance to zero, on average.
    pub half_life_bars: f64,
    /// The long-run standard deviation of the spread, in log units (0.006 is about 0.6%).
    pub spread_deviation: f64,
}

/// The universe and seed of a simulated market.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatedConfig {
    /// Selects the path; the same seed and universe always give the same bars.
    pub seed: u64,
    /// Every simulated symbol, including both legs of each pair.
    pub instruments: Vec<SimulatedInstrument>,
    /// The cointegrated pairs among the instruments; a symbol is in at most one pair.
    pub pairs: Vec<SimulatedPair>,
}

impl Default for SimulatedConfig {
    /// Two pairs (SIMA/SIMB with hedge ratio 1, SIMC/SIMD with 0.75) and three independent
    /// symbols (SIMX, SIMY, SIMZ) from about 25 to 380 USD with 1.2% to 3% daily volatility.
    fn default() -> Self {
        let instrument =
            |symbol: &str, price: &str, volatility, drift, volume| SimulatedInstrument {
                symbol: Symbol::parse(symbol).expect("the default symbols are valid tickers"),
                initial_price: price
                    .parse()
                    .expect("the default prices are positive decimals"),
                daily_volatility: volatility,
                annual_drift: drift,
                average_daily_volume: volume,
            };
        let symbol =
            |text: &str| Symbol::parse(text).expect("the default symbols are valid tickers");
        Self {
            seed: 20_240_101,
            // The second legs' initial prices are exp(intercept + hedge_ratio · ln A) rounded, so
            // both spreads start at zero.
            instruments: vec![
                instrument("SIMA", "100.00", 0.015, 0.06, 2_000_000),
                instrument("SIMB", "105.13", 0.015, 0.06, 1_500_000),
                instrument("SIMC", "50.00", 0.020, 0.04, 3_000_000),
                instrument("SIMD", "80.15", 0.020, 0.04, 1_200_000),
                instrument("SIMX", "25.00", 0.030, 0.02, 5_000_000),
                instrument("SIMY", "180.00", 0.012, 0.08, 800_000),
                instrument("SIMZ", "380.00", 0.020, 0.05, 400_000),
            ],
            pairs: vec![
                SimulatedPair {
                    leg_a: symbol("SIMA"),
                    leg_b: symbol("SIMB"),
                    hedge_ratio: 1.0,
                    intercept: 0.05,
                    half_life_bars: 195.0,
                    spread_deviation: 0.006,
                },
                SimulatedPair {
                    leg_a: symbol("SIMC"),
                    leg_b: symbol("SIMD"),
                    hedge_ratio: 0.75,
                    intercept: 1.45,
                    half_life_bars: 390.0,
                    spread_deviation: 0.008,
                },
            ],
        }
    }
}

impl SimulatedConfig {
    /// Every simulated symbol, in configuration order.
    pub fn symbols(&self) -> Vec<Symbol> {
        self.instruments
            .iter()
            .map(|instrument| instrument.symbol.clone())
            .collect()
    }

    /// The cointegrated pairs with their true parameters.
    pub fn pairs(&self) -> &[SimulatedPair] {
        &self.pairs
    }
}

/// A random walk of one instrument's log price, per minute.
#[derive(Debug, Clone)]
struct Walk {
    instrument: usize,
    drift_per_minute: f64,
    volatility_per_minute: f64,
}

/// A pair's spread process, with the instruments' positions in the configuration.
#[derive(Debug, Clone)]
struct Spread {
    leg_a: usize,
    leg_b: usize,
    hedge_ratio: f64,
    intercept: f64,
    /// The mean-reversion rate per minute: `ln 2 / half-life`.
    reversion_per_minute: f64,
    deviation: f64,
}

impl Spread {
    /// The decay factor and shock size of the spread over `minutes` of trading time, exact for
    /// an Ornstein–Uhlenbeck process.
    fn transition(&self, minutes: f64) -> (f64, f64) {
        let decay = (-self.reversion_per_minute * minutes).exp();
        (decay, self.deviation * (1.0 - decay * decay).sqrt())
    }
}

/// A seeded, resumable generator of one-minute bars for the configured universe.
#[derive(Debug, Clone)]
pub struct SimulatedMarket {
    config: SimulatedConfig,
    calendar: UsEquityCalendar,
    walks: Vec<Walk>,
    spreads: Vec<Spread>,
    /// Instrument positions sorted by symbol, the order bars of one minute are returned in.
    output_order: Vec<usize>,
    /// The last close of each instrument, in cents, in configuration order.
    closes: Vec<i64>,
    last_bar_time: Option<DateTime<Utc>>,
    /// No bar starts before this: everything earlier has been generated.
    next_start: DateTime<Utc>,
    /// Scratch space for each instrument's log-price path within a minute, reused every minute.
    paths: Vec<[f64; SUB_STEPS + 1]>,
}

impl SimulatedMarket {
    /// A fresh market at the instruments' initial prices whose first bar is the first session
    /// minute at or after `start`. The first bar opens at the initial price, without a gap.
    pub fn new(config: SimulatedConfig, start: DateTime<Utc>) -> Result<Self, SimulatedError> {
        let closes = config
            .instruments
            .iter()
            .map(|instrument| price_to_cents(instrument.initial_price))
            .collect();
        Self::build(config, closes, None, start)
    }

    /// A market that continues after a bar at `last_bar_time` that closed at `last_closes`, as
    /// stored by an earlier run: it produces exactly the bars the earlier market would have.
    /// Closes of symbols outside the universe are ignored; closes are rounded to cents.
    pub fn resume(
        config: SimulatedConfig,
        last_closes: &HashMap<Symbol, Price>,
        last_bar_time: DateTime<Utc>,
    ) -> Result<Self, SimulatedError> {
        let closes = config
            .instruments
            .iter()
            .map(|instrument| {
                last_closes
                    .get(&instrument.symbol)
                    .map(|price| price_to_cents(*price))
                    .ok_or_else(|| SimulatedError::MissingClose(instrument.symbol.clone()))
            })
            .collect::<Result<_, _>>()?;
        let next_start = last_bar_time + Timeframe::MINUTE.nominal_duration();
        Self::build(config, closes, Some(last_bar_time), next_start)
    }

    fn build(
        config: SimulatedConfig,
        closes: Vec<i64>,
        last_bar_time: Option<DateTime<Utc>>,
        next_start: DateTime<Utc>,
    ) -> Result<Self, SimulatedError> {
        let (walks, spreads) = plan(&config)?;
        let mut output_order: Vec<usize> = (0..config.instruments.len()).collect();
        output_order.sort_by(|left, right| {
            config.instruments[*left]
                .symbol
                .cmp(&config.instruments[*right].symbol)
        });
        let paths = vec![[0.0; SUB_STEPS + 1]; config.instruments.len()];
        Ok(Self {
            config,
            calendar: UsEquityCalendar,
            walks,
            spreads,
            output_order,
            closes,
            last_bar_time,
            next_start,
            paths,
        })
    }

    /// The configuration this market runs.
    pub fn config(&self) -> &SimulatedConfig {
        &self.config
    }

    /// Every simulated symbol, in configuration order.
    pub fn symbols(&self) -> Vec<Symbol> {
        self.config.symbols()
    }

    /// The cointegrated pairs with their true parameters.
    pub fn pairs(&self) -> &[SimulatedPair] {
        self.config.pairs()
    }

    /// The close of every symbol's latest bar (the initial prices before the first bar).
    pub fn last_closes(&self) -> HashMap<Symbol, Price> {
        self.config
            .instruments
            .iter()
            .zip(&self.closes)
            .map(|(instrument, cents)| (instrument.symbol.clone(), cents_to_price(*cents)))
            .collect()
    }

    /// The start of the latest bar generated, if any.
    pub fn last_bar_time(&self) -> Option<DateTime<Utc>> {
        self.last_bar_time
    }

    /// Every one-minute bar of every symbol that starts in `[from, to)` during a regular session,
    /// ordered by time and then symbol. The market only moves forward: bars between the last
    /// one generated and `from` are generated too (so the path does not depend on how time is
    /// split into requests) but not returned, and bars before the last one are never returned
    /// again. Closed days are skipped a session at a time.
    pub fn bars_between(&mut self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Bar> {
        let mut bars = Vec::new();
        if to <= self.next_start {
            return bars;
        }
        let minute = Timeframe::MINUTE.nominal_duration();
        let mut day = self.next_start.with_timezone(&New_York).date_naive();
        loop {
            let session = self.calendar.first_session_from(day);
            if session.open >= to {
                break;
            }
            // Session minutes sit on the open's grid; start at the first one not yet generated.
            let seconds_into_session = (self.next_start - session.open).num_seconds().max(0);
            let minutes_done = (seconds_into_session + 59) / 60;
            let mut time = session.open + Duration::minutes(minutes_done);
            let end = session.close.min(to);
            while time < end {
                let output = (time >= from).then_some(&mut bars);
                self.step(time, &session, output);
                time += minute;
            }
            day = session
                .date
                .succ_opt()
                .expect("simulated dates stay far below chrono's maximum year");
        }
        self.next_start = self.next_start.max(to);
        bars
    }

    /// Advances every symbol by the minute starting at `time`, appending the bars to `output`
    /// when given. The draws happen in a fixed order: walks, then spreads, then volume and
    /// rounding in symbol order.
    fn step(&mut self, time: DateTime<Utc>, session: &Session, output: Option<&mut Vec<Bar>>) {
        let mut rng = minute_rng(self.config.seed, time);
        let closed_minutes = self.last_bar_time.map_or(0.0, |last| {
            let gap = time - last - Timeframe::MINUTE.nominal_duration();
            gap.num_seconds().max(0) as f64 / 60.0
        });
        // Time the market was closed counts as this many minutes of trading.
        let gap_minutes = closed_minutes * CLOSED_VARIANCE_PER_DAY * SESSION_MINUTES / 1440.0;
        let gapped = gap_minutes > 0.0;
        let sub_step = 1.0 / SUB_STEPS as f64;

        for walk in &self.walks {
            let gap_shock: f64 = rng.sample(StandardNormal);
            let mut log_price = cents_to_log_price(self.closes[walk.instrument]);
            if gapped {
                log_price += walk.drift_per_minute * gap_minutes
                    + walk.volatility_per_minute * gap_minutes.sqrt() * gap_shock;
            }
            let path = &mut self.paths[walk.instrument];
            path[0] = log_price;
            let step_volatility = walk.volatility_per_minute * sub_step.sqrt();
            for point in path.iter_mut().skip(1) {
                let shock: f64 = rng.sample(StandardNormal);
                log_price += walk.drift_per_minute * sub_step + step_volatility * shock;
                *point = log_price;
            }
        }

        for spread in &self.spreads {
            let gap_shock: f64 = rng.sample(StandardNormal);
            let mut value = cents_to_log_price(self.closes[spread.leg_b])
                - spread.hedge_ratio * cents_to_log_price(self.closes[spread.leg_a])
                - spread.intercept;
            if gapped {
                let (decay, shock_size) = spread.transition(gap_minutes);
                value = value * decay + shock_size * gap_shock;
            }
            let (decay, shock_size) = spread.transition(sub_step);
            let leg_a = self.paths[spread.leg_a];
            let leg_b = &mut self.paths[spread.leg_b];
            leg_b[0] = spread.intercept + spread.hedge_ratio * leg_a[0] + value;
            for (point, log_a) in leg_b.iter_mut().zip(leg_a).skip(1) {
                let shock: f64 = rng.sample(StandardNormal);
                value = value * decay + shock_size * shock;
                *point = spread.intercept + spread.hedge_ratio * log_a + value;
            }
        }

        let session_position =
            (time - session.open).num_minutes() as f64 / (session.minutes() - 1).max(1) as f64;
        let shape = intraday_volume_shape(session_position);
        let mut output = output;
        for &instrument in &self.output_order {
            // Drawn whether or not the bar is returned, so the draws never depend on the request.
            let volume_shock: f64 = rng.sample(StandardNormal);
            let rounding: f64 = rng.random();
            let path = &self.paths[instrument];
            // Within a session a bar opens at the previous close; after a gap, where the gap led.
            let open = if gapped {
                log_price_to_cents(path[0])
            } else {
                self.closes[instrument]
            };
            let (lowest, highest) = path
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), point| {
                    (low.min(*point), high.max(*point))
                });
            let close = log_price_to_cents_at_random(path[SUB_STEPS], rounding);
            let high = log_price_to_cents(highest).max(open).max(close);
            let low = log_price_to_cents(lowest).min(open).min(close);
            self.closes[instrument] = close;
            if let Some(bars) = output.as_deref_mut() {
                let settings = &self.config.instruments[instrument];
                let typical = settings.average_daily_volume as f64 / SESSION_MINUTES;
                // Lognormal noise with mean one: exp(σz − σ²/2) with σ = 0.5.
                let noise = (0.5 * volume_shock - 0.125).exp();
                let volume = (typical * shape * noise).round().max(1.0) as u64;
                let bar = Bar::new(
                    settings.symbol.clone(),
                    Timeframe::MINUTE,
                    time,
                    cents_to_price(open),
                    cents_to_price(high),
                    cents_to_price(low),
                    cents_to_price(close),
                    Quantity::new(Decimal::from(volume))
                        .expect("a count of shares is never negative"),
                )
                .expect("high and low are the extremes of the path including open and close");
                bars.push(bar);
            }
        }
        self.last_bar_time = Some(time);
    }
}

/// Checks the configuration and turns it into per-minute processes.
fn plan(config: &SimulatedConfig) -> Result<(Vec<Walk>, Vec<Spread>), SimulatedError> {
    let position_of = |symbol: &Symbol| {
        config
            .instruments
            .iter()
            .position(|instrument| instrument.symbol == *symbol)
            .ok_or_else(|| SimulatedError::UnknownLeg(symbol.clone()))
    };
    let mut seen = HashSet::new();
    for instrument in &config.instruments {
        if !seen.insert(&instrument.symbol) {
            return Err(SimulatedError::DuplicateSymbol(instrument.symbol.clone()));
        }
        check(
            &instrument.symbol,
            "daily_volatility",
            instrument.daily_volatility,
            "finite and not negative",
            |value| value >= 0.0,
        )?;
        check(
            &instrument.symbol,
            "annual_drift",
            instrument.annual_drift,
            "finite",
            |_| true,
        )?;
    }
    let mut legs = HashSet::new();
    let mut second_legs = HashSet::new();
    let mut spreads = Vec::new();
    for pair in &config.pairs {
        for leg in [&pair.leg_a, &pair.leg_b] {
            if !legs.insert(leg) {
                return Err(SimulatedError::LegReused(leg.clone()));
            }
        }
        check(
            &pair.leg_a,
            "hedge_ratio",
            pair.hedge_ratio,
            "finite",
            |_| true,
        )?;
        check(&pair.leg_a, "intercept", pair.intercept, "finite", |_| true)?;
        check(
            &pair.leg_a,
            "half_life_bars",
            pair.half_life_bars,
            "finite and positive",
            |value| value > 0.0,
        )?;
        check(
            &pair.leg_a,
            "spread_deviation",
            pair.spread_deviation,
            "finite and not negative",
            |value| value >= 0.0,
        )?;
        let leg_b = position_of(&pair.leg_b)?;
        second_legs.insert(leg_b);
        spreads.push(Spread {
            leg_a: position_of(&pair.leg_a)?,
            leg_b,
            hedge_ratio: pair.hedge_ratio,
            intercept: pair.intercept,
            reversion_per_minute: std::f64::consts::LN_2 / pair.half_life_bars,
            deviation: pair.spread_deviation,
        });
    }
    let walks = config
        .instruments
        .iter()
        .enumerate()
        .filter(|(position, _)| !second_legs.contains(position))
        .map(|(position, instrument)| Walk {
            instrument: position,
            drift_per_minute: instrument.annual_drift / (TRADING_DAYS_PER_YEAR * SESSION_MINUTES),
            // Independent minute returns add up their variances, so volatility scales with √time.
            volatility_per_minute: instrument.daily_volatility / SESSION_MINUTES.sqrt(),
        })
        .collect();
    Ok((walks, spreads))
}

fn check(
    symbol: &Symbol,
    parameter: &'static str,
    value: f64,
    expected: &'static str,
    valid: impl Fn(f64) -> bool,
) -> Result<(), SimulatedError> {
    if value.is_finite() && valid(value) {
        Ok(())
    } else {
        Err(SimulatedError::InvalidParameter {
            symbol: symbol.clone(),
            parameter,
            expected,
            value,
        })
    }
}

/// The generator for the minute starting at `time`. ChaCha is a keyed pseudo-random function, so
/// putting the seed and the timestamp side by side in the key gives independent streams for
/// every (seed, minute) without a hash, and without collisions.
fn minute_rng(seed: u64, time: DateTime<Utc>) -> ChaCha8Rng {
    let mut key = [0_u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&time.timestamp().to_le_bytes());
    key[16..].copy_from_slice(KEY_TAG);
    ChaCha8Rng::from_seed(key)
}

/// Relative trading activity at a position in the session (0 at the open, 1 at the last minute):
/// a U shape about three times as busy at the ends as at midday, averaging one.
fn intraday_volume_shape(position: f64) -> f64 {
    let distance_from_midday = 2.0 * position - 1.0;
    (0.4 + 2.0 * distance_from_midday * distance_from_midday) / (0.4 + 2.0 / 3.0)
}

fn price_to_cents(price: Price) -> i64 {
    (price.value() * Decimal::ONE_HUNDRED)
        .round()
        .to_i64()
        .unwrap_or(i64::MAX)
        .max(1)
}

fn cents_to_price(cents: i64) -> Price {
    Price::new(Decimal::new(cents.max(1), 2)).expect("at least one cent is a positive price")
}

fn cents_to_log_price(cents: i64) -> f64 {
    (cents as f64 / 100.0).ln()
}

/// Rounds to the nearest cent, never below one cent, so a price can never reach zero.
/// Rounds up with a probability equal to the fraction of a cent, so rounding has no bias. The
/// next minute starts from the rounded close; rounding to the nearest cent instead would erase
/// every move smaller than half a cent, freezing a low-priced symbol in place.
fn log_price_to_cents_at_random(log_price: f64, uniform: f64) -> i64 {
    let cents = log_price.exp() * 100.0;
    let whole = cents.floor();
    let rounded = if uniform < cents - whole {
        whole + 1.0
    } else {
        whole
    };
    // `as` saturates, so even an absurd path cannot wrap around.
    (rounded as i64).max(1)
}

fn log_price_to_cents(log_price: f64) -> i64 {
    // `as` saturates, so even an absurd path cannot wrap around.
    ((log_price.exp() * 100.0).round() as i64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone};

    fn new_york(text: &str) -> DateTime<Utc> {
        let local: chrono::NaiveDateTime = text.parse().expect("valid local test time");
        New_York
            .from_local_datetime(&local)
            .single()
            .expect("unambiguous local test time")
            .with_timezone(&Utc)
    }

    fn symbol(text: &str) -> Symbol {
        Symbol::parse(text).expect("valid test symbol")
    }

    fn config(seed: u64) -> SimulatedConfig {
        SimulatedConfig {
            seed,
            ..SimulatedConfig::default()
        }
    }

    fn fresh(seed: u64, start: &str) -> SimulatedMarket {
        SimulatedMarket::new(config(seed), new_york(start)).expect("the default universe is valid")
    }

    fn bars(seed: u64, from: &str, to: &str) -> Vec<Bar> {
        fresh(seed, from).bars_between(new_york(from), new_york(to))
    }

    fn log_closes(bars: &[Bar], wanted: &str) -> Vec<f64> {
        bars.iter()
            .filter(|bar| bar.symbol.as_str() == wanted)
            .map(|bar| bar.close.to_f64().ln())
            .collect()
    }

    /// Ordinary least squares of `y` on `x`: (intercept, slope).
    fn regression(x: &[f64], y: &[f64]) -> (f64, f64) {
        let count = x.len() as f64;
        let mean_x = x.iter().sum::<f64>() / count;
        let mean_y = y.iter().sum::<f64>() / count;
        let covariance: f64 = x
            .iter()
            .zip(y)
            .map(|(a, b)| (a - mean_x) * (b - mean_y))
            .sum();
        let variance: f64 = x.iter().map(|a| (a - mean_x).powi(2)).sum();
        let slope = covariance / variance;
        (mean_y - slope * mean_x, slope)
    }

    /// The half-life, in bars, of an AR(1) fitted to `series`: Δr = c + b·r₋₁ gives
    /// −ln 2 / ln(1 + b); infinite when the series does not revert.
    fn half_life(series: &[f64]) -> f64 {
        let lagged = &series[..series.len() - 1];
        let changes: Vec<f64> = series.windows(2).map(|pair| pair[1] - pair[0]).collect();
        let (_, slope) = regression(lagged, &changes);
        if slope >= 0.0 {
            f64::INFINITY
        } else {
            -std::f64::consts::LN_2 / (1.0 + slope).ln()
        }
    }

    /// The Dickey–Fuller t statistic of `series`: the t value of b in Δr = c + b·r₋₁. Applied to
    /// regression residuals it is the Engle–Granger test, whose critical values for two
    /// series are −3.34 at 5% and −3.90 at 1%.
    fn dickey_fuller(series: &[f64]) -> f64 {
        let lagged = &series[..series.len() - 1];
        let changes: Vec<f64> = series.windows(2).map(|pair| pair[1] - pair[0]).collect();
        let (intercept, slope) = regression(lagged, &changes);
        let count = lagged.len() as f64;
        let mean = lagged.iter().sum::<f64>() / count;
        let residual: f64 = lagged
            .iter()
            .zip(&changes)
            .map(|(x, y)| (y - intercept - slope * x).powi(2))
            .sum::<f64>()
            / (count - 2.0);
        let variance: f64 = lagged.iter().map(|x| (x - mean).powi(2)).sum();
        slope / (residual / variance).sqrt()
    }

    /// The residuals of ln B on ln A and the fitted hedge ratio.
    fn cointegration(bars: &[Bar], leg_a: &str, leg_b: &str) -> (f64, Vec<f64>) {
        let a = log_closes(bars, leg_a);
        let b = log_closes(bars, leg_b);
        let (intercept, slope) = regression(&a, &b);
        let residuals = a
            .iter()
            .zip(&b)
            .map(|(x, y)| y - intercept - slope * x)
            .collect();
        (slope, residuals)
    }

    #[test]
    fn the_same_seed_gives_identical_bars() {
        let first = bars(7, "2026-03-02T09:30:00", "2026-03-07T00:00:00");
        let second = bars(7, "2026-03-02T09:30:00", "2026-03-07T00:00:00");
        assert_eq!(first.len(), 5 * 390 * 7);
        assert_eq!(first, second);
    }

    #[test]
    fn different_seeds_give_different_bars() {
        let first = bars(7, "2026-03-02T09:30:00", "2026-03-03T00:00:00");
        let second = bars(8, "2026-03-02T09:30:00", "2026-03-03T00:00:00");
        assert_eq!(first.len(), second.len());
        let same_closes = first
            .iter()
            .zip(&second)
            .filter(|(left, right)| left.close == right.close)
            .count();
        assert!(same_closes < first.len() / 10, "{same_closes} equal closes");
    }

    #[test]
    fn one_request_equals_many_requests_across_restarts_from_stored_closes() {
        let start = "2026-03-02T09:30:00";
        // Mid-session, at a Friday close, on a Saturday, across the DST change and at an open.
        let splits = [
            "2026-03-03T11:17:00",
            "2026-03-06T16:00:00",
            "2026-03-07T12:00:00",
            "2026-03-10T09:30:00",
            "2026-03-12T00:00:00",
        ];
        let whole = bars(11, start, splits[4]);
        let mut market = fresh(11, start);
        let mut pieces = market.bars_between(new_york(start), new_york(splits[0]));
        for window in splits.windows(2) {
            let last_bar_time = market.last_bar_time().expect("bars were generated");
            market = SimulatedMarket::resume(config(11), &market.last_closes(), last_bar_time)
                .expect("every close is given");
            pieces.extend(market.bars_between(new_york(window[0]), new_york(window[1])));
        }
        assert_eq!(pieces.len(), whole.len());
        assert_eq!(pieces, whole);
    }

    #[test]
    fn bars_before_the_requested_window_are_generated_but_not_returned() {
        let whole = bars(3, "2026-03-02T09:30:00", "2026-03-04T16:00:00");
        let mut market = fresh(3, "2026-03-02T09:30:00");
        let tail = market.bars_between(
            new_york("2026-03-03T12:00:00"),
            new_york("2026-03-04T16:00:00"),
        );
        let expected: Vec<Bar> = whole
            .into_iter()
            .filter(|bar| bar.time >= new_york("2026-03-03T12:00:00"))
            .collect();
        assert_eq!(tail, expected);
        // The market only moves forward: asking for the past again returns nothing.
        assert!(
            market
                .bars_between(
                    new_york("2026-03-02T09:30:00"),
                    new_york("2026-03-03T09:30:00")
                )
                .is_empty()
        );
    }

    #[test]
    fn bars_fall_only_inside_regular_sessions_and_early_closes_end_at_one() {
        let calendar = UsEquityCalendar;
        let all = bars(5, "2026-11-20T00:00:00", "2026-12-02T00:00:00");
        let mut per_day: HashMap<(NaiveDate, Symbol), i64> = HashMap::new();
        for bar in &all {
            assert!(calendar.is_open(bar.time), "bar at {}", bar.time);
            assert_eq!(bar.timeframe, Timeframe::MINUTE);
            let date = bar.time.with_timezone(&New_York).date_naive();
            *per_day.entry((date, bar.symbol.clone())).or_default() += 1;
        }
        let sessions: Vec<Session> = calendar
            .sessions_between(
                NaiveDate::from_ymd_opt(2026, 11, 20).expect("valid"),
                NaiveDate::from_ymd_opt(2026, 12, 1).expect("valid"),
            )
            .collect();
        // Eight sessions: the weekends and Thanksgiving are skipped.
        assert_eq!(sessions.len(), 7);
        for session in &sessions {
            let expected = if session.early_close { 210 } else { 390 };
            for name in ["SIMA", "SIMB", "SIMC", "SIMD", "SIMX", "SIMY", "SIMZ"] {
                assert_eq!(per_day.get(&(session.date, symbol(name))), Some(&expected));
            }
        }
        assert_eq!(per_day.len(), sessions.len() * 7);
        let last_of_black_friday = all
            .iter()
            .filter(|bar| bar.time < new_york("2026-11-28T00:00:00"))
            .map(|bar| bar.time)
            .max();
        assert_eq!(last_of_black_friday, Some(new_york("2026-11-27T12:59:00")));
    }

    #[test]
    fn bars_are_ordered_by_time_then_symbol() {
        let all = bars(5, "2026-03-02T09:30:00", "2026-03-02T10:30:00");
        assert_eq!(all.len(), 60 * 7);
        assert!(
            all.windows(2)
                .all(|pair| (pair[0].time, &pair[0].symbol) < (pair[1].time, &pair[1].symbol))
        );
    }

    #[test]
    fn every_bar_is_consistent_and_opens_at_the_previous_close_within_a_session() {
        let all = bars(13, "2026-03-02T09:30:00", "2026-03-14T00:00:00");
        let mut previous: HashMap<Symbol, &Bar> = HashMap::new();
        let mut gaps = 0;
        for bar in &all {
            let rebuilt = Bar::new(
                bar.symbol.clone(),
                bar.timeframe,
                bar.time,
                bar.open,
                bar.high,
                bar.low,
                bar.close,
                bar.volume,
            );
            assert_eq!(rebuilt.as_ref(), Ok(bar));
            assert!(bar.volume.value() >= Decimal::ONE);
            assert_eq!(bar.close.value().scale().min(2), bar.close.value().scale());
            if let Some(before) = previous.get(&bar.symbol) {
                if bar.time - before.time == Duration::minutes(1) {
                    assert_eq!(bar.open, before.close);
                } else if bar.open != before.close {
                    gaps += 1;
                }
            }
            previous.insert(bar.symbol.clone(), bar);
        }
        // Nine overnight gaps for seven symbols; nearly all of them move the price.
        assert!(gaps > 50, "{gaps} gaps");
    }

    #[test]
    fn prices_stay_positive_over_a_simulated_year_even_for_a_collapsing_penny_stock() {
        let mut config = config(17);
        config.instruments.push(SimulatedInstrument {
            symbol: symbol("SIMP"),
            initial_price: "0.50".parse().expect("valid price"),
            daily_volatility: 0.15,
            annual_drift: -8.0,
            average_daily_volume: 10_000,
        });
        let mut market = SimulatedMarket::new(config, new_york("2025-01-01T00:00:00"))
            .expect("a valid universe");
        let year = market.bars_between(
            new_york("2025-01-01T00:00:00"),
            new_york("2026-01-01T00:00:00"),
        );
        assert_eq!(year.len(), 250 * 8 * 390 - 3 * 8 * 180);
        let floor: Price = "0.01".parse().expect("valid price");
        assert!(year.iter().all(|bar| bar.low >= floor));
        let penny_low = year
            .iter()
            .filter(|bar| bar.symbol.as_str() == "SIMP")
            .map(|bar| bar.low)
            .min();
        assert_eq!(penny_low, Some(floor));
        let closes = market.last_closes();
        for name in ["SIMA", "SIMB", "SIMC", "SIMD", "SIMX", "SIMY", "SIMZ"] {
            let close = closes[&symbol(name)].to_f64();
            assert!((5.0..2000.0).contains(&close), "{name} at {close}");
        }
    }

    /// A quarter of minute bars of the default universe, generated once for the statistical
    /// tests. They are statistical checks on one fixed seed: with 20 other seeds tried, the pair
    /// checks held for all and the independent check failed for one combination in three seeds,
    /// as a 5% test should now and then.
    fn quarter() -> &'static [Bar] {
        static QUARTER: std::sync::OnceLock<Vec<Bar>> = std::sync::OnceLock::new();
        QUARTER.get_or_init(|| {
            let seed = SimulatedConfig::default().seed;
            bars(seed, "2026-01-05T09:30:00", "2026-04-03T16:00:00")
        })
    }

    #[test]
    fn each_pair_has_its_true_hedge_ratio_and_a_mean_reverting_spread() {
        let all = quarter();
        for pair in SimulatedConfig::default().pairs() {
            let (slope, residuals) = cointegration(all, pair.leg_a.as_str(), pair.leg_b.as_str());
            assert!(
                (slope - pair.hedge_ratio).abs() < 0.1,
                "{}/{}: hedge ratio {slope}, true {}",
                pair.leg_a,
                pair.leg_b,
                pair.hedge_ratio
            );
            let estimated = half_life(&residuals);
            assert!(
                (pair.half_life_bars / 2.0..pair.half_life_bars * 2.0).contains(&estimated),
                "{}/{}: half-life {estimated}, true {}",
                pair.leg_a,
                pair.leg_b,
                pair.half_life_bars
            );
            let statistic = dickey_fuller(&residuals);
            assert!(
                statistic < -3.9,
                "{}/{}: Engle–Granger statistic {statistic}",
                pair.leg_a,
                pair.leg_b
            );
        }
    }

    #[test]
    fn independent_symbols_do_not_look_cointegrated() {
        let all = quarter();
        for (first, second) in [
            ("SIMX", "SIMY"),
            ("SIMY", "SIMZ"),
            ("SIMX", "SIMZ"),
            ("SIMA", "SIMZ"),
            ("SIMC", "SIMY"),
        ] {
            let (_, residuals) = cointegration(all, first, second);
            let statistic = dickey_fuller(&residuals);
            assert!(
                statistic > -3.34,
                "{first}/{second}: Engle–Granger statistic {statistic}"
            );
        }
    }

    #[test]
    fn minute_volatility_matches_the_configured_daily_volatility() {
        let all = bars(23, "2026-01-05T09:30:00", "2026-02-06T16:00:00");
        for instrument in &SimulatedConfig::default().instruments[4..] {
            let closes = log_closes(&all, instrument.symbol.as_str());
            // Returns within sessions only: every 390th return spans a night.
            let returns: Vec<f64> = closes
                .windows(2)
                .enumerate()
                .filter(|(index, _)| (index + 1) % 390 != 0)
                .map(|(_, pair)| pair[1] - pair[0])
                .collect();
            let mean = returns.iter().sum::<f64>() / returns.len() as f64;
            let variance =
                returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / returns.len() as f64;
            let daily = (variance * SESSION_MINUTES).sqrt();
            let ratio = daily / instrument.daily_volatility;
            assert!(
                (0.9..1.1).contains(&ratio),
                "{}: {daily}",
                instrument.symbol
            );
        }
    }

    #[test]
    fn volume_is_higher_near_the_open_and_close_than_at_midday() {
        let all = bars(29, "2026-03-02T09:30:00", "2026-03-14T00:00:00");
        let average_volume = |from: i64, to: i64| {
            let selected: Vec<f64> = all
                .iter()
                .filter(|bar| bar.symbol.as_str() == "SIMA")
                .filter(|bar| {
                    let open = UsEquityCalendar
                        .session_at(bar.time)
                        .expect("bars are inside sessions")
                        .open;
                    (from..to).contains(&(bar.time - open).num_minutes())
                })
                .map(|bar| bar.volume.value().to_f64().unwrap_or(0.0))
                .collect();
            selected.iter().sum::<f64>() / selected.len() as f64
        };
        let midday = average_volume(165, 225);
        assert!(average_volume(0, 30) > 2.0 * midday);
        assert!(average_volume(360, 390) > 2.0 * midday);
    }

    #[test]
    fn the_default_universe_starts_with_zero_spreads() {
        let config = SimulatedConfig::default();
        let price = |name: &str| {
            config
                .instruments
                .iter()
                .find(|instrument| instrument.symbol.as_str() == name)
                .expect("a default symbol")
                .initial_price
                .to_f64()
        };
        for pair in config.pairs() {
            let spread = price(pair.leg_b.as_str()).ln()
                - pair.hedge_ratio * price(pair.leg_a.as_str()).ln()
                - pair.intercept;
            assert!(spread.abs() < 0.001, "{}: {spread}", pair.leg_b);
        }
        assert_eq!(config.symbols().len(), 7);
    }

    #[test]
    fn resuming_without_every_close_is_refused() {
        let mut closes = fresh(1, "2026-03-02T09:30:00").last_closes();
        closes.remove(&symbol("SIMC"));
        let time = new_york("2026-03-02T10:00:00");
        assert_eq!(
            SimulatedMarket::resume(config(1), &closes, time).map(|_| ()),
            Err(SimulatedError::MissingClose(symbol("SIMC")))
        );
    }

    #[test]
    fn inconsistent_universes_are_refused_with_a_reason() {
        let start = Utc
            .with_ymd_and_hms(2026, 3, 2, 0, 0, 0)
            .single()
            .expect("valid");
        let refused = |config: SimulatedConfig| {
            SimulatedMarket::new(config, start).expect_err("an inconsistent universe")
        };
        let mut duplicate = config(1);
        duplicate.instruments.push(duplicate.instruments[0].clone());
        assert_eq!(
            refused(duplicate),
            SimulatedError::DuplicateSymbol(symbol("SIMA"))
        );
        let mut reused = config(1);
        reused.pairs[1].leg_a = symbol("SIMB");
        assert_eq!(refused(reused), SimulatedError::LegReused(symbol("SIMB")));
        let mut unknown = config(1);
        unknown.pairs[0].leg_b = symbol("NOPE");
        assert_eq!(refused(unknown), SimulatedError::UnknownLeg(symbol("NOPE")));
        let mut negative = config(1);
        negative.pairs[0].half_life_bars = -1.0;
        assert_eq!(
            refused(negative).to_string(),
            "SIMA: half_life_bars must be finite and positive, got -1"
        );
    }
}
