//! Native indicator speed: nanoseconds per input value for the functions scripts lean on, on one
//! long series (1,000,000 values) and on the size a pairs strategy uses each cycle (500 values,
//! repeated 10,000 times, where call overhead and allocation show).
//!
//! `cargo bench --bench indicators`. The Rhai-versus-native comparison reuses these cases.

use std::hint::black_box;
use std::time::{Duration, Instant};

use tradehost::indicators::{
    IndicatorError, Series, atr, bollinger, correlation, ema, half_life, macd, ols, rsi, sma, wma,
};

/// A reproducible random walk around 100 (xorshift: no dependency, same numbers everywhere).
fn walk(len: usize, seed: u64) -> Vec<f64> {
    let mut state = seed | 1;
    let mut price = 100.0;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let uniform = (state >> 11) as f64 / (1u64 << 53) as f64;
            price *= 1.0 + (uniform - 0.5) * 0.02;
            price
        })
        .collect()
}

/// One benchmark case: a name and a function of the input series that returns something to keep.
type Case = (&'static str, fn(&Inputs) -> Result<f64, IndicatorError>);

/// The inputs every case reads: two legs' closes and bars built around the first.
struct Inputs {
    close: Series,
    other: Series,
    high: Vec<f64>,
    low: Vec<f64>,
}

impl Inputs {
    fn new(len: usize) -> Self {
        let close = walk(len, 0x2545_F491_4F6C_DD1D);
        let other: Vec<f64> = walk(len, 0x9E37_79B9_7F4A_7C15)
            .iter()
            .zip(&close)
            .map(|(noise, price)| 0.5 * price + 0.1 * noise)
            .collect();
        let high = close.iter().map(|price| price * 1.01).collect();
        let low = close.iter().map(|price| price * 0.99).collect();
        Self {
            close: Series::new(close),
            other: Series::new(other),
            high,
            low,
        }
    }
}

const CASES: &[Case] = &[
    ("sma(20)", |inputs| {
        Ok(sma(inputs.close.values(), 20)?.len() as f64)
    }),
    ("ema(20)", |inputs| {
        Ok(ema(inputs.close.values(), 20)?.len() as f64)
    }),
    ("wma(20)", |inputs| {
        Ok(wma(inputs.close.values(), 20)?.len() as f64)
    }),
    ("rsi(14)", |inputs| {
        Ok(rsi(inputs.close.values(), 14)?.len() as f64)
    }),
    ("macd(12,26,9)", |inputs| {
        Ok(macd(inputs.close.values(), 12, 26, 9)?.histogram.len() as f64)
    }),
    ("bollinger(20,2,2)", |inputs| {
        Ok(bollinger(inputs.close.values(), 20, 2.0, 2.0)?.upper.len() as f64)
    }),
    ("atr(14)", |inputs| {
        let close = inputs.close.values();
        Ok(atr(&inputs.high, &inputs.low, close, 14)?.len() as f64)
    }),
    ("rolling_std(20)", |inputs| {
        Ok(inputs.close.rolling_std(20)?.len() as f64)
    }),
    ("zscore(20)", |inputs| {
        Ok(inputs.close.zscore(20)?.len() as f64)
    }),
    ("ols(x, y)", |inputs| {
        Ok(ols(inputs.close.values(), inputs.other.values())?.beta)
    }),
    ("correlation(x, y)", |inputs| {
        correlation(inputs.close.values(), inputs.other.values())
    }),
    ("half_life(spread)", |inputs| {
        half_life(inputs.other.values())
    }),
    ("spread ln, ols, zscore(60)", |inputs| {
        // The pairs strategy's cycle from SPEC §4.2: log prices, hedge ratio, spread z-score.
        let (a, b) = (inputs.close.ln(), inputs.other.ln());
        let fit = ols(a.values(), b.values())?;
        let spread = b.sub(&(&a * fit.beta))?;
        Ok(spread.zscore(60)?.last().unwrap_or(f64::NAN))
    }),
];

/// The best of `rounds` timings of `repetitions` calls, in nanoseconds per input value.
fn measure(case: &Case, inputs: &Inputs, repetitions: usize, rounds: usize) -> f64 {
    let mut best = Duration::MAX;
    for _ in 0..rounds {
        let started = Instant::now();
        for _ in 0..repetitions {
            black_box((case.1)(black_box(inputs)).expect("benchmark inputs are valid"));
        }
        best = best.min(started.elapsed());
    }
    let values = (inputs.close.len() * repetitions) as f64;
    best.as_nanos() as f64 / values
}

fn main() {
    let long = Inputs::new(1_000_000);
    let short = Inputs::new(500);
    println!(
        "{:<28} {:>18} {:>18}",
        "indicator", "1M values ns/value", "500×10k ns/value"
    );
    for case in CASES {
        let per_long = measure(case, &long, 1, 5);
        let per_short = measure(case, &short, 10_000, 3);
        println!("{:<28} {per_long:>18.2} {per_short:>18.2}", case.0);
    }
}
