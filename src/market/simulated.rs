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

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::America::New_York;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::calendar::{Session, UsEquityCalendar};
use crate::domain::{Bar, Price, Quantity, Symbol, Timeframe};

#[cfg(test)]
mod statistics;
mod universe;

use universe::{SESSION_MINUTES, Spread, Walk, plan};
pub use universe::{SimulatedConfig, SimulatedError, SimulatedInstrument, SimulatedPair};

/// Price steps simulated inside each minute; a bar's high and low are the extremes of this path.
const SUB_STEPS: usize = 8;
/// The share of a session day's variance that accrues per 24 hours the market is closed: an
/// overnight gap then has about a quarter of a day's volatility and a weekend gap about half.
const CLOSED_VARIANCE_PER_DAY: f64 = 0.1;
/// Mixed into every generator key, so a change of model can change the tag and not collide with
/// paths from an earlier one.
const KEY_TAG: &[u8; 16] = b"tradehost-sim-v1";

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
    // `as` saturates, so even an absurd path cannot wrap around; the floor keeps prices positive.
    (rounded as i64).max(1)
}

/// Rounds to the nearest cent, never below one cent, so a price can never reach zero.
fn log_price_to_cents(log_price: f64) -> i64 {
    // `as` saturates, so even an absurd path cannot wrap around.
    ((log_price.exp() * 100.0).round() as i64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone};

    pub(super) fn new_york(text: &str) -> DateTime<Utc> {
        let local: chrono::NaiveDateTime = text.parse().expect("valid local test time");
        New_York
            .from_local_datetime(&local)
            .single()
            .expect("unambiguous local test time")
            .with_timezone(&Utc)
    }

    pub(super) fn symbol(text: &str) -> Symbol {
        Symbol::parse(text).expect("valid test symbol")
    }

    pub(super) fn config(seed: u64) -> SimulatedConfig {
        SimulatedConfig {
            seed,
            ..SimulatedConfig::default()
        }
    }

    pub(super) fn fresh(seed: u64, start: &str) -> SimulatedMarket {
        SimulatedMarket::new(config(seed), new_york(start)).expect("the default universe is valid")
    }

    pub(super) fn bars(seed: u64, from: &str, to: &str) -> Vec<Bar> {
        fresh(seed, from).bars_between(new_york(from), new_york(to))
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
        // Seven sessions: the weekends and Thanksgiving are skipped.
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
}
