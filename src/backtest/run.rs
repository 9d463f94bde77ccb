//! One backtest: the loop over the history's bars. At each bar time the broker first matches
//! orders still working against the new bars, then the clock moves to the moment the bar is
//! complete and the strategy's `on_cycle(ctx)` runs with the bars up to it; what it ordered meets
//! a quote at that bar's close, as a market order meets the last price on the paper broker. No
//! order ever fills at a price from after its decision.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use super::History;
use super::recorder::BacktestRecorder;
use crate::analytics::{EquityPoint, Metrics, TradeRecord, ZPath, metrics};
use crate::broker::backtest::BacktestBroker;
use crate::broker::paper::matching::FillModel;
use crate::clock::Clock;
use crate::config::{PaperConfig, TradingConfig};
use crate::domain::{Money, Price, Timeframe};
use crate::market::calendar::UsEquityCalendar;
use crate::risk::RiskLimits;
use crate::script::host::Host;
use crate::script::host::overlay::{MarketView, Overlay};
use crate::script::{Limits, ScriptFolders, ScriptKind, ScriptRuntime};
use crate::store::Store;
use crate::strategy::PairsFile;
use crate::trading::Desk;
use crate::trading::ledger::{Ledger, MemoryLedger};

/// The same cycle written in Rust, for measuring what the script costs (benches/backtest.rs).
/// It gets what the script would: the history as of the clock, the desk, the recorder.
pub trait NativeCycle: Send + Sync {
    /// One cycle over `pairs` at the clock's time.
    fn cycle(&self, context: &NativeContext<'_>) -> anyhow::Result<()>;
}

/// What a native cycle reaches.
pub struct NativeContext<'a> {
    /// The history.
    pub history: &'a History,
    /// The clock (the decision time).
    pub clock: &'a Clock,
    /// The order desk.
    pub desk: &'a Desk,
    /// The async runtime, to block on the desk.
    pub handle: &'a tokio::runtime::Handle,
    /// Where pair-table rows go.
    pub recorder: &'a dyn crate::script::host::records::Recorder,
    /// The active pairs.
    pub pairs: &'a PairsFile,
}

/// What a backtest runs.
#[derive(Clone)]
pub struct BacktestSettings {
    /// The strategy script (its name and hash label the run even with a native cycle).
    pub strategy: PathBuf,
    /// Run this instead of the script (the benchmark's reference).
    pub native: Option<Arc<dyn NativeCycle>>,
    /// The pairs and their parameters (their timeframe must be the history's).
    pub pairs: PairsFile,
    /// Starting cash.
    pub initial_cash: Decimal,
    /// The risk limits, as live.
    pub limits: RiskLimits,
    /// The fill model (slippage, commission, participation).
    pub paper: PaperConfig,
    /// The desk's settings.
    pub trading: TradingConfig,
    /// The sandbox's limits.
    pub script_limits: Limits,
    /// Where the desk keeps its book.
    pub desk_ledger: DeskLedger,
}

/// Where a backtest's desk keeps its orders, fills and decisions. Both give the same run; memory
/// is the default because each database statement costs a round trip to a SQLite worker thread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DeskLedger {
    /// In memory ([`MemoryLedger`]).
    #[default]
    Memory,
    /// In the run's scratch database, as the daemon's desk keeps it in its own.
    ScratchDatabase,
}

/// What came out.
#[derive(Debug, Clone, Serialize)]
pub struct BacktestResult {
    /// The strategy's name.
    pub strategy: String,
    /// The script version's hash.
    pub script_hash: String,
    /// Closed trades.
    pub trades: Vec<TradeRecord>,
    /// Equity after each bar time.
    pub equity: Vec<EquityPoint>,
    /// Z-score paths for the charts.
    #[serde(skip)]
    pub z_paths: Vec<ZPath>,
    /// The metrics.
    pub metrics: Metrics,
    /// Bars processed: every bar of every symbol.
    pub bars: usize,
    /// Bar times (cycles).
    pub cycles: usize,
    /// Orders the desk wrote.
    pub orders: usize,
    /// Risk decisions that refused.
    pub refusals: usize,
    /// The refusals by the rule that refused (what stopped a backtest trading: a latched halt,
    /// the daily loss, a cooldown).
    pub refusals_by_rule: BTreeMap<String, usize>,
    /// Signals the strategy evaluated.
    pub signals: u64,
    /// Periods per year used to annualise.
    pub periods_per_year: f64,
    /// Wall time of the loop.
    #[serde(skip)]
    pub elapsed: Duration,
}

/// When the strategy decides on the bar that starts at `start`: when the bar is complete, but
/// never after the session's last minute (a daily bar is decided at 15:30 New York, inside the
/// session, as a trader at the close would).
fn decision_time(start: DateTime<Utc>, timeframe: Timeframe) -> DateTime<Utc> {
    let calendar = UsEquityCalendar;
    if timeframe.is_intraday() {
        let end = start + timeframe.nominal_duration();
        return match calendar.session_at(start) {
            Some(session) => end.min(session.close - chrono::Duration::minutes(1)),
            None => end,
        };
    }
    let date = start
        .with_timezone(&chrono_tz::America::New_York)
        .date_naive();
    match calendar.session(date) {
        Some(session) => session.close - chrono::Duration::minutes(30),
        None => start + chrono::Duration::hours(20),
    }
}

/// Runs the backtest. Blocks a thread for the loop (it is called on a blocking thread).
pub async fn run(
    settings: BacktestSettings,
    history: Arc<History>,
) -> anyhow::Result<BacktestResult> {
    let timeline = history.timeline();
    let (Some(first), Some(last)) = (timeline.first().copied(), timeline.last().copied()) else {
        anyhow::bail!("the history is empty");
    };
    for pair in &settings.pairs.pairs {
        if pair.parameters.timeframe.parse::<Timeframe>().ok() != Some(history.timeframe) {
            anyhow::bail!(
                "pair {} is set for {} bars but the history is {} (use --timeframe)",
                pair.name,
                pair.parameters.timeframe,
                history.timeframe
            );
        }
        for leg in [&pair.leg_a, &pair.leg_b] {
            if !history.symbols.contains_key(leg) {
                anyhow::bail!("the history has no bars of {leg} (pair {})", pair.name);
            }
        }
    }
    // A private database behind the script host (a strategy's data, state and pair tables come
    // from the overlay in memory; anything else it reaches lands here): the backtest never
    // touches the daemon's, and a crash loses nothing the run would not compute again, so it is
    // a scratch database (no syncing, the journal in memory).
    let folder = tempfile::tempdir().context("a folder for the backtest's database")?;
    let store = Store::open_scratch(&folder.path().join("backtest.db")).await?;
    let ledger: Arc<dyn Ledger> = match settings.desk_ledger {
        DeskLedger::Memory => Arc::new(MemoryLedger::new()),
        DeskLedger::ScratchDatabase => Arc::new(store.clone()),
    };
    let clock = Clock::manual(first);
    let broker = Arc::new(BacktestBroker::new(
        Money::new(settings.initial_cash),
        FillModel::from_config(&settings.paper),
        clock.clone(),
    ));
    let desk = Desk::open(
        ledger.clone(),
        broker.clone(),
        clock.clone(),
        settings.trading.clone(),
        settings.limits.clone(),
        None,
    )
    .await?;
    {
        let (history, clock) = (history.clone(), clock.clone());
        desk.set_price_source(Arc::new(move |symbol| {
            history
                .latest_price(symbol, clock.now())
                .and_then(|price| Decimal::try_from(price).ok())
                .and_then(|price| Price::new(price.round_dp(6)).ok())
        }));
    }
    let folders = ScriptFolders {
        scripts: folder.path().join("scripts"),
        strategies: settings
            .strategy
            .parent()
            .map_or_else(|| PathBuf::from("."), PathBuf::from),
    };
    let runtime = ScriptRuntime::new(
        folders,
        settings.script_limits.clone(),
        Host {
            store: store.clone(),
            clock: clock.clone(),
            runtime: tokio::runtime::Handle::current(),
        },
    )?;
    let script = runtime
        .compile_file(&settings.strategy, ScriptKind::Strategy)
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    runtime.set_desk(desk.clone());
    let recorder = Arc::new(BacktestRecorder::default());
    let overlay = Arc::new(Overlay::new(history.clone(), recorder.clone()));
    let context =
        crate::script::host::pair::cycle_context(&script.name, "backtest", &settings.pairs)
            .map_err(anyhow::Error::msg)?;
    let handle = tokio::runtime::Handle::current();
    let loop_history = history.clone();
    let (loop_broker, loop_desk, loop_clock) = (broker.clone(), desk.clone(), clock.clone());
    let (native, loop_recorder, loop_pairs) = (
        settings.native.clone(),
        recorder.clone(),
        settings.pairs.clone(),
    );
    let symbols: Vec<_> = history.symbols.keys().cloned().collect();
    let timeframe = history.timeframe;
    let (equity, elapsed) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let started = Instant::now();
        let mut equity = Vec::with_capacity(timeline.len());
        for time in &timeline {
            loop_clock.set(*time);
            let had_orders = loop_broker.has_working_orders();
            for symbol in &symbols {
                if let Some(bar) = loop_history.bar_at(symbol, *time) {
                    loop_broker.on_bar(bar);
                }
            }
            if had_orders {
                handle
                    .block_on(loop_desk.sync_orders())
                    .context("syncing the backtest's orders")?;
            }
            loop_clock.set(decision_time(*time, timeframe).max(*time));
            let decided_at = loop_clock.now();
            match &native {
                Some(native) => native
                    .cycle(&NativeContext {
                        history: &loop_history,
                        clock: &loop_clock,
                        desk: &loop_desk,
                        handle: &handle,
                        recorder: loop_recorder.as_ref(),
                        pairs: &loop_pairs,
                    })
                    .map_err(|error| anyhow::anyhow!("at {time}: {error}"))?,
                None => {
                    let _outcomes = runtime
                        .call_direct(&script, "on_cycle", context.clone(), overlay.clone())
                        .map_err(|error| anyhow::anyhow!("at {time}: {error}"))?;
                }
            }
            if loop_broker.has_working_orders() {
                // As the paper broker fills a market order at once at the last close, the
                // orders decided on this bar meet a quote at its close (with its volume), at
                // the decision time: the price the strategy saw, never a later one.
                for symbol in &symbols {
                    if let Some(bar) = loop_history.bar_at(symbol, *time) {
                        let quote = crate::domain::Bar {
                            time: decided_at,
                            open: bar.close,
                            high: bar.close,
                            low: bar.close,
                            ..bar.clone()
                        };
                        loop_broker.on_bar(&quote);
                    }
                }
                handle
                    .block_on(loop_desk.sync_orders())
                    .context("syncing the backtest's orders")?;
            }
            let equity_now = loop_broker.equity();
            equity.push(EquityPoint {
                time: *time,
                equity: rust_decimal::prelude::ToPrimitive::to_f64(&equity_now.value())
                    .unwrap_or(0.0),
                exposure: rust_decimal::prelude::ToPrimitive::to_f64(
                    &loop_broker.gross_exposure().value(),
                )
                .unwrap_or(0.0),
            });
        }
        handle.block_on(loop_desk.sync_orders())?;
        Ok((equity, started.elapsed()))
    })
    .await??;
    let mut trades = recorder.trades(last);
    // A closed trade's P&L is what its four legs' executions did to cash (fill prices, slippage
    // and commission), not the strategy's estimate from closes.
    let fills = crate::strategy::performance::by_order(
        ledger.fills_since(DateTime::<Utc>::UNIX_EPOCH).await?,
    );
    for (trade, (entry, exit)) in trades.iter_mut().zip(recorder.trade_ids()) {
        let (Some(entry), Some(exit)) = (entry, exit) else {
            continue;
        };
        let mut cash = 0.0;
        for id in [entry, exit] {
            cash += crate::strategy::performance::cash_of(ledger.as_ref(), &id, &fills).await?;
        }
        trade.pnl = cash;
    }
    let first_pair = settings.pairs.pairs.first();
    let z_paths = recorder.z_paths(
        first_pair.map_or(2.0, |pair| pair.parameters.entry_z),
        first_pair.map_or(0.5, |pair| pair.parameters.exit_z),
        first_pair.map_or(3.5, |pair| pair.parameters.stop_z),
    );
    let periods_per_year = crate::analytics::periods_per_year(&equity);
    let metrics = metrics(&equity, &trades, periods_per_year);
    // Counted by the ledger: a long run's decisions, each with its inputs, are not copied out.
    let orders = ledger
        .count_orders_since(DateTime::<Utc>::UNIX_EPOCH)
        .await? as usize;
    let refusals_by_rule: BTreeMap<String, usize> = ledger
        .refusals_by_rule()
        .await?
        .into_iter()
        .map(|(rule, count)| (rule, usize::try_from(count).unwrap_or(usize::MAX)))
        .collect();
    let refusals = refusals_by_rule.values().sum();
    Ok(BacktestResult {
        strategy: settings
            .strategy
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_default(),
        script_hash: crate::script::content_hash(&std::fs::read_to_string(&settings.strategy)?),
        trades,
        equity,
        z_paths,
        metrics,
        bars: history.bar_count(),
        cycles: history.timeline().len(),
        orders,
        refusals,
        refusals_by_rule,
        signals: recorder.signals(),
        periods_per_year,
        elapsed,
    })
}
