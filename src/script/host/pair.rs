//! `Pair`: one active pair of `config/pairs.toml` as a strategy sees it in `ctx.pairs` — its name,
//! its legs and its parameters, read-only. A host object rather than an object map: a script
//! passes it from the cycle loop to its functions and to `pairs::model` on every bar, and a map
//! of a dozen fields would be copied at each step and its legs and timeframe parsed again at each
//! model call; this is one reference count and parsed once.

use std::sync::Arc;

use rhai::{Array, Dynamic, Engine, INT, ImmutableString, Map};

use crate::domain::Timeframe;
use crate::strategy::{PairConfig, PairsFile};

/// A pair as scripts hold it.
#[derive(Debug, Clone)]
pub struct Pair(Arc<Parsed>);

#[derive(Debug)]
struct Parsed {
    config: PairConfig,
    timeframe: Timeframe,
    /// The name as a script string, shared by every outcome that names the pair.
    name: ImmutableString,
}

impl Pair {
    /// The script's view of `config`, or why its timeframe is not one (`parse_pairs` has checked
    /// it already, so only a hand-built configuration fails).
    pub fn new(config: PairConfig) -> Result<Self, String> {
        let timeframe = config.parameters.timeframe.parse().map_err(
            |error: crate::domain::TimeframeError| format!("pair {}: {error}", config.name),
        )?;
        let name = config.name.as_str().into();
        Ok(Self(Arc::new(Parsed {
            config,
            timeframe,
            name,
        })))
    }

    /// The pair's configuration.
    pub fn config(&self) -> &PairConfig {
        &self.0.config
    }

    /// The pair's name as a script string (a reference count, not a copy).
    pub fn name(&self) -> ImmutableString {
        self.0.name.clone()
    }

    /// The bar length its model is fitted on.
    pub fn timeframe(&self) -> Timeframe {
        self.0.timeframe
    }
}

/// The argument of a strategy's `on_cycle`: `#{ strategy, mode, pairs }`, the pairs as [`Pair`]s.
pub fn cycle_context(strategy: &str, mode: &str, pairs: &PairsFile) -> Result<Dynamic, String> {
    let pairs = pairs
        .pairs
        .iter()
        .map(|config| Pair::new(config.clone()).map(Dynamic::from))
        .collect::<Result<Array, String>>()?;
    let mut context = Map::new();
    context.insert("strategy".into(), strategy.into());
    context.insert("mode".into(), mode.into());
    context.insert("pairs".into(), pairs.into());
    Ok(context.into())
}

fn integer(value: u32) -> INT {
    INT::from(value)
}

/// Registers the `Pair` type: a getter per field of the pair, `to_string` and `to_debug`.
pub fn register(engine: &mut Engine) {
    engine
        .register_type_with_name::<Pair>("Pair")
        .register_get("name", |pair: &mut Pair| pair.name())
        .register_get("leg_a", |pair: &mut Pair| pair.config().leg_a.to_string())
        .register_get("leg_b", |pair: &mut Pair| pair.config().leg_b.to_string())
        .register_get("timeframe", |pair: &mut Pair| {
            pair.config().parameters.timeframe.clone()
        })
        .register_get("lookback", |pair: &mut Pair| {
            integer(pair.config().parameters.lookback)
        })
        .register_get("window", |pair: &mut Pair| {
            integer(pair.config().parameters.window)
        })
        .register_get("entry_z", |pair: &mut Pair| {
            pair.config().parameters.entry_z
        })
        .register_get("exit_z", |pair: &mut Pair| pair.config().parameters.exit_z)
        .register_get("stop_z", |pair: &mut Pair| pair.config().parameters.stop_z)
        .register_get("max_holding_hours", |pair: &mut Pair| {
            pair.config().parameters.max_holding_hours
        })
        .register_get("base_notional", |pair: &mut Pair| {
            pair.config().parameters.base_notional
        })
        .register_get("min_trades", |pair: &mut Pair| {
            integer(pair.config().parameters.min_trades)
        })
        .register_get("kelly_multiplier", |pair: &mut Pair| {
            pair.config().parameters.kelly_multiplier
        })
        .register_get("max_fraction", |pair: &mut Pair| {
            pair.config().parameters.max_fraction
        })
        .register_fn("to_string", |pair: &mut Pair| {
            format!("Pair({})", pair.config().name)
        })
        .register_fn("to_debug", |pair: &mut Pair| format!("{:?}", pair.config()));
}
