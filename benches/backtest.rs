//! Backtest throughput: the pairs strategy over a million hourly bars (ten cointegrated pairs,
//! twenty symbols, about twenty-eight years of sessions), once with `strategies/pairs.rhai` and
//! once with the same cycle written in Rust below, through the same desk, risk engine and
//! backtest broker. Prints bars per second for each and their ratio.
//!
//! `cargo bench --bench backtest` (set BACKTEST_BARS to change the size, BACKTEST_ROUNDS to run
//! both cycles that many times, alternately, and keep each one's best).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{Duration, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;
use tradehost::backtest::{BacktestSettings, DeskLedger, History, NativeContext, NativeCycle};
use tradehost::domain::{Bar, Money, OrderSide, Price, Quantity, Symbol, Timeframe};
use tradehost::market::calendar::UsEquityCalendar;
use tradehost::script::host::overlay::{MarketView, TrackedModel};
use tradehost::store::{PairPerformanceRecord, SignalRecord, SpreadRecord};
use tradehost::strategy::PairsFile;
use tradehost::trading::LegRequest;

const PAIRS: usize = 10;

fn price(value: f64) -> Price {
    Price::new(Decimal::try_from(value).unwrap_or(Decimal::ONE).round_dp(4)).expect("price")
}

/// Ten pairs: A a random walk in logs, B = 0.3 + β·A + an Ornstein–Uhlenbeck spread.
fn history(bars_wanted: usize) -> History {
    let calendar = UsEquityCalendar;
    let sessions_needed = bars_wanted / (PAIRS * 2 * 7) + 1;
    let mut times = Vec::new();
    let mut date = NaiveDate::from_ymd_opt(1999, 1, 4).expect("date");
    while times.len() < sessions_needed * 7 {
        if let Some(session) = calendar.session(date) {
            for hour in 0..7 {
                let time = session.open + Duration::hours(hour);
                if time < session.close {
                    times.push(time);
                }
            }
        }
        date = date.succ_opt().expect("date");
    }
    let mut random = ChaCha8Rng::seed_from_u64(20240101);
    let mut bars: BTreeMap<Symbol, Vec<Bar>> = BTreeMap::new();
    for pair in 0..PAIRS {
        let beta = 0.6 + 0.08 * pair as f64;
        let (mut log_a, mut spread) = (4.0 + 0.1 * pair as f64, 0.0_f64);
        let a = Symbol::parse(&format!("A{pair:02}")).expect("symbol");
        let b = Symbol::parse(&format!("B{pair:02}")).expect("symbol");
        for time in &times {
            let shock_a: f64 = random.sample(StandardNormal);
            let shock_s: f64 = random.sample(StandardNormal);
            log_a += 0.002 * shock_a;
            spread += -0.05 * spread + 0.003 * shock_s;
            let close_a = log_a.exp();
            let close_b = (0.3 + beta * log_a + spread).exp();
            for (symbol, close) in [(&a, close_a), (&b, close_b)] {
                let value = price(close);
                let bar = Bar::new(
                    symbol.clone(),
                    Timeframe::HOUR,
                    *time,
                    value,
                    value,
                    value,
                    value,
                    Quantity::new(Decimal::from(1_000_000)).expect("volume"),
                )
                .expect("bar");
                bars.entry(symbol.clone()).or_default().push(bar);
            }
        }
    }
    History::from_bars(Timeframe::HOUR, bars)
}

fn pairs() -> PairsFile {
    let mut text = String::from(
        "[defaults]\ntimeframe = \"1Hour\"\nlookback = 500\nwindow = 60\nentry_z = 2.0\nexit_z = 0.5\nstop_z = 3.5\nmax_holding_hours = 120\nbase_notional = 5000\nmin_trades = 10\nkelly_multiplier = 0.5\nmax_fraction = 0.02\n",
    );
    for pair in 0..PAIRS {
        text.push_str(&format!(
            "\n[[pairs]]\nleg_a = \"A{pair:02}\"\nleg_b = \"B{pair:02}\"\n"
        ));
    }
    tradehost::strategy::pairs::parse_pairs(&text, "bench").expect("pairs")
}

/// The state the script keeps in `state::` per pair.
#[derive(Debug, Clone, Default)]
struct Trade {
    side: i8,
    quantity_a: f64,
    quantity_b: f64,
    entry_a: f64,
    entry_b: f64,
    entry_ms: i64,
}

impl Trade {
    fn position(&self) -> &'static str {
        match self.side {
            1 => "long_spread",
            -1 => "short_spread",
            _ => "flat",
        }
    }
}

/// The pair's standing and, apart from it, its last closed trades' P&L (what Kelly sizes from).
#[derive(Debug, Default)]
struct Standing {
    trades: i64,
    wins: i64,
    realised: f64,
    results: Vec<f64>,
}

/// What the native cycle keeps per pair: the script's `state::` keys and `pairs::model`'s model.
#[derive(Default)]
struct PairState {
    trade: Trade,
    standing: Standing,
    model: Option<TrackedModel>,
}

/// strategies/pairs.rhai, step for step, in Rust: the same model (`pairs::follow`, what
/// `pairs::model` runs in a backtest), the same desk calls (Kelly included) and the same rows.
#[derive(Default)]
struct NativePairs {
    pairs: Mutex<HashMap<String, PairState>>,
    script_hash: String,
}

/// A script float as the host turns it into a decimal (nine places, normalised).
fn decimal(value: f64) -> Decimal {
    Decimal::from_f64(value)
        .map(|decimal| decimal.round_dp(9).normalize())
        .unwrap_or_default()
}

impl NativeCycle for NativePairs {
    fn cycle(&self, context: &NativeContext<'_>) -> anyhow::Result<()> {
        let now = context.clock.now();
        let hours = |since: i64| (now.timestamp_millis() - since) as f64 / 3_600_000.0;
        let mut states = self.pairs.lock().expect("pair states");
        for pair in &context.pairs.pairs {
            let parameters = &pair.parameters;
            let state = states.entry(pair.name.clone()).or_default();
            // 1-2. The legs' bars -> hedge ratio, spread, z-score.
            let timeframe: Timeframe = parameters.timeframe.parse()?;
            let a = context
                .history
                .closes(&pair.leg_a, timeframe, now)
                .map_err(anyhow::Error::msg)?;
            let b = context
                .history
                .closes(&pair.leg_b, timeframe, now)
                .map_err(anyhow::Error::msg)?;
            let model = tradehost::script::host::pairs::follow(
                &mut state.model,
                &a,
                &b,
                parameters.lookback as usize,
                parameters.window as usize,
            )
            .map_err(anyhow::Error::msg)?;
            if !model.ready {
                continue;
            }
            let fit = model.fit;
            let z = fit.zscore;
            context.recorder.spread(SpreadRecord {
                strategy: "pairs".into(),
                pair: pair.name.clone(),
                time: now,
                hedge_ratio: fit.beta,
                intercept: fit.alpha,
                spread: fit.spread,
                zscore: (!z.is_nan()).then_some(z),
                script_hash: Some(self.script_hash.clone()),
                run_id: None,
            });
            let (price_a, price_b) = (model.price_a, model.price_b);
            let PairState {
                trade, standing, ..
            } = state;
            // 3. The signal.
            let held = if trade.side == 0 {
                0.0
            } else {
                hours(trade.entry_ms)
            };
            let (signal, mut reason) = if trade.side == 0 {
                if z > parameters.entry_z {
                    (
                        "enter_short_spread",
                        format!("z {z} above {}", parameters.entry_z),
                    )
                } else if z < -parameters.entry_z {
                    (
                        "enter_long_spread",
                        format!("z {z} below -{}", parameters.entry_z),
                    )
                } else {
                    ("hold", String::new())
                }
            } else if z.abs() > parameters.stop_z {
                (
                    "stop",
                    format!("|z| {} beyond the stop {}", z.abs(), parameters.stop_z),
                )
            } else if z.abs() < parameters.exit_z {
                (
                    "exit",
                    format!("|z| {} under {}", z.abs(), parameters.exit_z),
                )
            } else if held > parameters.max_holding_hours {
                (
                    "time_stop",
                    format!(
                        "held {held} h, longer than {} h",
                        parameters.max_holding_hours
                    ),
                )
            } else {
                ("hold", String::new())
            };
            let mut pair_trade_id = None;
            if signal.starts_with("enter") {
                // 4. Entry: size, then both legs through risk.
                let mut notional = parameters.base_notional;
                if standing.results.len() >= parameters.min_trades as usize {
                    let pnls: Vec<Money> = standing
                        .results
                        .iter()
                        .map(|pnl| Money::new(decimal(*pnl)))
                        .collect();
                    let size = context.handle.block_on(context.desk.kelly_size(
                        &pair.leg_b,
                        Price::new(decimal(price_b))?,
                        &pnls,
                        parameters.kelly_multiplier,
                        parameters.max_fraction,
                    ))?;
                    // As the script's `parse_float(size.quantity)`: the decimal's text.
                    notional = size.quantity.to_string().parse::<f64>()? * price_b;
                }
                let quantity_b = (notional / price_b).floor();
                let quantity_a = (notional * fit.beta.abs() / price_a).floor();
                if quantity_a < 1.0 || quantity_b < 1.0 {
                    reason += "; too small to trade";
                } else {
                    let long = signal == "enter_long_spread";
                    let outcome = context.handle.block_on(context.desk.submit_pair(
                        "pairs",
                        Some(&self.script_hash),
                        None,
                        [
                            leg(&pair.leg_b, long, quantity_b),
                            leg(&pair.leg_a, !long, quantity_a),
                        ],
                    ))?;
                    if outcome.accepted {
                        pair_trade_id = outcome.pair_trade_id;
                        *trade = Trade {
                            side: if long { 1 } else { -1 },
                            quantity_a,
                            quantity_b,
                            entry_a: price_a,
                            entry_b: price_b,
                            entry_ms: now.timestamp_millis(),
                        };
                    } else {
                        reason += &format!(
                            "; not opened: {}",
                            outcome
                                .reason
                                .as_deref()
                                .unwrap_or("a leg was not confirmed")
                        );
                    }
                }
            } else if signal != "hold" {
                // 5. Exit or stop: close both legs.
                let long = trade.side == 1;
                let outcome = context.handle.block_on(context.desk.submit_pair(
                    "pairs",
                    Some(&self.script_hash),
                    None,
                    [
                        leg(&pair.leg_b, !long, trade.quantity_b),
                        leg(&pair.leg_a, long, trade.quantity_a),
                    ],
                ))?;
                if outcome.accepted {
                    pair_trade_id = outcome.pair_trade_id;
                    let pnl = f64::from(trade.side)
                        * (trade.quantity_b * (price_b - trade.entry_b)
                            - trade.quantity_a * (price_a - trade.entry_a));
                    standing.trades += 1;
                    standing.wins += i64::from(pnl > 0.0);
                    standing.realised += pnl;
                    standing.results.push(pnl);
                    if standing.results.len() > 100 {
                        standing.results.remove(0);
                    }
                    *trade = Trade::default();
                    reason += &format!("; closed for {pnl}");
                } else {
                    reason += &format!(
                        "; not closed: {}",
                        outcome
                            .reason
                            .as_deref()
                            .unwrap_or("a leg was not confirmed")
                    );
                }
            }
            context.recorder.signal(SignalRecord {
                strategy: "pairs".into(),
                pair: pair.name.clone(),
                time: now,
                signal: signal.into(),
                zscore: (!z.is_nan()).then_some(z),
                hedge_ratio: Some(fit.beta),
                position: trade.position().into(),
                reason,
                pair_trade_id,
                script_hash: Some(self.script_hash.clone()),
                run_id: None,
            });
            // 6. The pair's standing.
            let unrealised = if trade.side == 0 {
                0.0
            } else {
                f64::from(trade.side)
                    * (trade.quantity_b * (price_b - trade.entry_b)
                        - trade.quantity_a * (price_a - trade.entry_a))
            };
            context.recorder.performance(PairPerformanceRecord {
                strategy: "pairs".into(),
                pair: pair.name.clone(),
                position: trade.position().into(),
                realised_pnl: format!("{:.2}", standing.realised),
                unrealised_pnl: format!("{unrealised:.2}"),
                trades: standing.trades,
                wins: standing.wins,
                current_z: (!z.is_nan()).then_some(z),
                holding_hours: (trade.side != 0).then(|| hours(trade.entry_ms)),
                details: serde_json::json!({
                    "hedge_ratio": fit.beta,
                    "intercept": fit.alpha,
                    "r_squared": fit.r_squared,
                    "entry_z": parameters.entry_z,
                    "exit_z": parameters.exit_z,
                    "stop_z": parameters.stop_z,
                }),
                script_hash: Some(self.script_hash.clone()),
                updated_at: now,
            });
        }
        Ok(())
    }
}

fn leg(symbol: &Symbol, buy: bool, quantity: f64) -> LegRequest {
    LegRequest {
        symbol: symbol.clone(),
        side: if buy { OrderSide::Buy } else { OrderSide::Sell },
        quantity: Quantity::new(decimal(quantity)).expect("quantity"),
    }
}

fn settings(native: bool) -> BacktestSettings {
    let repository = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut limits = tradehost::trading::limits_file::parse(
        tradehost::trading::limits_file::EMBEDDED,
        "embedded",
    )
    .expect("limits");
    // Ten pairs at 5,000 a leg: room for all of them at once.
    limits.max_gross_exposure = Decimal::from(10_000_000);
    limits.max_net_exposure = Decimal::from(10_000_000);
    limits.max_leverage = Decimal::from(10);
    limits.max_position_percent_of_equity = Decimal::from(100);
    let config: tradehost::config::Config =
        toml_defaults().expect("the embedded default configuration");
    BacktestSettings {
        strategy: repository.join("strategies/pairs.rhai"),
        native: native.then(|| {
            Arc::new(NativePairs {
                pairs: Mutex::default(),
                script_hash: tradehost::script::content_hash(
                    &std::fs::read_to_string(repository.join("strategies/pairs.rhai"))
                        .expect("the strategy script"),
                ),
            }) as Arc<dyn NativeCycle>
        }),
        pairs: pairs(),
        initial_cash: Decimal::from(1_000_000),
        limits,
        paper: config.broker.paper,
        trading: config.trading,
        script_limits: config.scripts.limits,
        desk_ledger: DeskLedger::default(),
    }
}

fn toml_defaults() -> anyhow::Result<tradehost::config::Config> {
    use figment::Figment;
    use figment::providers::{Format, Toml};
    Ok(Figment::new()
        .merge(Toml::string(tradehost::config::EMBEDDED_DEFAULTS))
        .extract()?)
}

fn main() -> anyhow::Result<()> {
    let wanted: usize = std::env::var("BACKTEST_BARS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(1_000_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let history = Arc::new(history(wanted));
    println!(
        "backtest bench: {} hourly bars, {} symbols, {} bar times",
        history.bar_count(),
        history.symbols.len(),
        history.timeline().len()
    );
    // This machine's speed drifts between runs (a shared VM): with BACKTEST_ROUNDS > 1 the two
    // cycles run alternately and each keeps its fastest round, so both meet the same conditions.
    let rounds: usize = std::env::var("BACKTEST_ROUNDS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(1)
        .max(1);
    let mut runs: Vec<(f64, tradehost::backtest::BacktestResult)> = Vec::new();
    for round in 0..rounds {
        for (index, (label, native)) in [
            ("Rhai script (strategies/pairs.rhai)", false),
            ("native Rust cycle", true),
        ]
        .into_iter()
        .enumerate()
        {
            let result =
                runtime.block_on(tradehost::backtest::run(settings(native), history.clone()))?;
            let speed = result.bars as f64 / result.elapsed.as_secs_f64();
            println!(
                "{label:<38} {:>10.0} bars/s  ({:.1} s, {} trades, {} orders, {} refused by risk, {} signals)",
                speed,
                result.elapsed.as_secs_f64(),
                result.metrics.trades,
                result.orders,
                result.refusals,
                result.signals
            );
            if round == 0 {
                if !result.refusals_by_rule.is_empty() {
                    println!("{:<38} refused by rule: {:?}", "", result.refusals_by_rule);
                }
                runs.push((speed, result));
            } else if speed > runs[index].0 {
                runs[index].0 = speed;
            }
        }
    }
    if rounds > 1 {
        println!(
            "best of {rounds} rounds: script {:.0} bars/s, native {:.0} bars/s",
            runs[0].0, runs[1].0
        );
    }
    let (script, native) = (&runs[0].1, &runs[1].1);
    // The ratio means something only if both did the same work: the same trades from the same
    // orders. A difference is a bug in one of the two cycles, never a figure to print.
    let entries = |result: &tradehost::backtest::BacktestResult| {
        result
            .trades
            .iter()
            .map(|trade| {
                (
                    trade.pair.clone(),
                    trade.entry_time,
                    trade.exit_time,
                    trade.direction.clone(),
                    trade.exit_reason.clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    if entries(script) != entries(native) || script.orders != native.orders {
        anyhow::bail!(
            "the script and the native cycle differ: {} trades and {} orders against {} trades and {} orders",
            script.trades.len(),
            script.orders,
            native.trades.len(),
            native.orders
        );
    }
    println!(
        "same trades: {} closed trades, {} orders in both runs",
        script.trades.len(),
        script.orders
    );
    println!(
        "script / native time ratio: {:.2}× (target ≤ 2×; target ≥ 200,000 bars/s)",
        runs[1].0 / runs[0].0
    );
    Ok(())
}
