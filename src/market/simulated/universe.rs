//! The simulated universe: symbols, pairs and their true parameters, checked and turned into processes.

use std::collections::HashSet;

use crate::domain::{Price, Symbol};

/// Minutes in a regular session: volatilities are quoted per session day and scaled by this.
pub(super) const SESSION_MINUTES: f64 = 390.0;
/// Trading days per year, to turn an annual drift into a per-minute one.
const TRADING_DAYS_PER_YEAR: f64 = 252.0;

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
                instrument("SIMD", "80.16", 0.020, 0.04, 1_200_000),
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
pub(super) struct Walk {
    pub(super) instrument: usize,
    pub(super) drift_per_minute: f64,
    pub(super) volatility_per_minute: f64,
}

/// A pair's spread process, with the instruments' positions in the configuration.
#[derive(Debug, Clone)]
pub(super) struct Spread {
    pub(super) leg_a: usize,
    pub(super) leg_b: usize,
    pub(super) hedge_ratio: f64,
    pub(super) intercept: f64,
    /// The mean-reversion rate per minute: `ln 2 / half-life`.
    reversion_per_minute: f64,
    deviation: f64,
}

impl Spread {
    /// The decay factor and shock size of the spread over `minutes` of trading time, exact for
    /// an Ornstein–Uhlenbeck process.
    pub(super) fn transition(&self, minutes: f64) -> (f64, f64) {
        let decay = (-self.reversion_per_minute * minutes).exp();
        (decay, self.deviation * (1.0 - decay * decay).sqrt())
    }
}

/// Checks the configuration and turns it into per-minute processes.
pub(super) fn plan(config: &SimulatedConfig) -> Result<(Vec<Walk>, Vec<Spread>), SimulatedError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn symbol(text: &str) -> Symbol {
        Symbol::parse(text).expect("valid test symbol")
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
            assert!(spread.abs() < 0.0001, "{}: {spread}", pair.leg_b);
        }
        assert_eq!(config.symbols().len(), 7);
        assert!(plan(&config).is_ok());
    }

    #[test]
    fn second_legs_follow_their_pair_and_everything_else_walks() {
        let (walks, spreads) = plan(&SimulatedConfig::default()).expect("a valid universe");
        let walking: Vec<usize> = walks.iter().map(|walk| walk.instrument).collect();
        assert_eq!(walking, vec![0, 2, 4, 5, 6]);
        let legs: Vec<(usize, usize)> = spreads
            .iter()
            .map(|spread| (spread.leg_a, spread.leg_b))
            .collect();
        assert_eq!(legs, vec![(0, 1), (2, 3)]);
    }

    #[test]
    fn inconsistent_universes_are_refused_with_a_reason() {
        let refused = |config: SimulatedConfig| {
            plan(&config)
                .map(|_| ())
                .expect_err("an inconsistent universe")
        };
        let mut duplicate = SimulatedConfig::default();
        duplicate.instruments.push(duplicate.instruments[0].clone());
        assert_eq!(
            refused(duplicate),
            SimulatedError::DuplicateSymbol(symbol("SIMA"))
        );
        let mut reused = SimulatedConfig::default();
        reused.pairs[1].leg_a = symbol("SIMB");
        assert_eq!(refused(reused), SimulatedError::LegReused(symbol("SIMB")));
        let mut unknown = SimulatedConfig::default();
        unknown.pairs[0].leg_b = symbol("NOPE");
        assert_eq!(refused(unknown), SimulatedError::UnknownLeg(symbol("NOPE")));
        let mut negative = SimulatedConfig::default();
        negative.pairs[0].half_life_bars = -1.0;
        assert_eq!(
            refused(negative).to_string(),
            "SIMA: half_life_bars must be finite and positive, got -1"
        );
        let mut wild = SimulatedConfig::default();
        wild.instruments[4].daily_volatility = f64::NAN;
        assert!(matches!(
            refused(wild),
            SimulatedError::InvalidParameter {
                parameter: "daily_volatility",
                ..
            }
        ));
    }
}
