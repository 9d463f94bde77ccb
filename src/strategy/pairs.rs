//! `config/pairs.toml`: the active pairs and their parameters, validated, with the errors naming
//! the pair and the key.

use std::path::Path;

use figment::Figment;
use figment::providers::{Format, Toml};
use serde::{Deserialize, Serialize};

use crate::domain::{Symbol, Timeframe};

/// The pairs shipped with the binary, used when the project has no `config/pairs.toml`.
pub const EMBEDDED: &str = include_str!("../../config/pairs.toml");

/// Parameters every pair has; `[defaults]` gives them, a pair may override any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairParameters {
    /// Bar length of the fit.
    pub timeframe: String,
    /// Bars the hedge ratio is fitted on.
    pub lookback: u32,
    /// Bars in the rolling z-score.
    pub window: u32,
    /// |z| that opens a trade.
    pub entry_z: f64,
    /// |z| under which a trade closes.
    pub exit_z: f64,
    /// |z| beyond which a trade is stopped out.
    pub stop_z: f64,
    /// The time stop.
    pub max_holding_hours: f64,
    /// Leg B notional per trade before Kelly sizing has enough history.
    pub base_notional: f64,
    /// Closed trades needed before Kelly sizing.
    pub min_trades: u32,
    /// Fraction of full Kelly.
    pub kelly_multiplier: f64,
    /// Largest fraction of equity per trade.
    pub max_fraction: f64,
}

/// Optional overrides of one pair.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PairEntry {
    leg_a: String,
    leg_b: String,
    #[serde(default)]
    enabled: Option<bool>,
    timeframe: Option<String>,
    lookback: Option<u32>,
    window: Option<u32>,
    entry_z: Option<f64>,
    exit_z: Option<f64>,
    stop_z: Option<f64>,
    max_holding_hours: Option<f64>,
    base_notional: Option<f64>,
    min_trades: Option<u32>,
    kelly_multiplier: Option<f64>,
    max_fraction: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    defaults: PairParameters,
    #[serde(default)]
    pairs: Vec<PairEntry>,
}

/// One active pair with its effective parameters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairConfig {
    /// `LEGA/LEGB`.
    pub name: String,
    /// The independent leg (x of the fit).
    pub leg_a: Symbol,
    /// The dependent leg (y of the fit).
    pub leg_b: Symbol,
    /// Its parameters.
    #[serde(flatten)]
    pub parameters: PairParameters,
}

/// The whole file, validated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairsFile {
    /// The enabled pairs, in file order.
    pub pairs: Vec<PairConfig>,
}

fn check(name: &str, parameters: &PairParameters) -> Result<(), String> {
    let fail = |key: &str, why: &str| Err(format!("pair {name}: {key} {why}"));
    if parameters.timeframe.parse::<Timeframe>().is_err() {
        return fail("timeframe", "must be like 1Min, 1Hour or 1Day");
    }
    if parameters.window < 2 {
        return fail("window", "must be at least 2");
    }
    if parameters.lookback < parameters.window + 2 {
        return fail("lookback", "must exceed window by at least 2");
    }
    if !(parameters.entry_z > 0.0 && parameters.exit_z >= 0.0) {
        return fail("entry_z/exit_z", "must be positive");
    }
    if parameters.exit_z >= parameters.entry_z {
        return fail("exit_z", "must be below entry_z");
    }
    if parameters.stop_z <= parameters.entry_z {
        return fail("stop_z", "must be above entry_z");
    }
    if !(parameters.max_holding_hours > 0.0 && parameters.base_notional > 0.0) {
        return fail("max_holding_hours/base_notional", "must be above zero");
    }
    if !(parameters.kelly_multiplier > 0.0 && parameters.kelly_multiplier <= 1.0) {
        return fail("kelly_multiplier", "must be in (0, 1]");
    }
    if !(parameters.max_fraction > 0.0 && parameters.max_fraction <= 1.0) {
        return fail("max_fraction", "must be in (0, 1]");
    }
    Ok(())
}

/// Parses and validates pairs from TOML text; errors name the origin, the pair and the key.
pub fn parse_pairs(text: &str, origin: &str) -> Result<PairsFile, String> {
    let raw: RawFile = Figment::new()
        .merge(Toml::string(text))
        .extract()
        .map_err(|error| format!("{origin}: {error}"))?;
    let mut pairs = Vec::new();
    for entry in raw.pairs {
        let leg_a =
            Symbol::parse(&entry.leg_a).map_err(|error| format!("{origin}: leg_a: {error}"))?;
        let leg_b =
            Symbol::parse(&entry.leg_b).map_err(|error| format!("{origin}: leg_b: {error}"))?;
        let name = format!("{leg_a}/{leg_b}");
        if leg_a == leg_b {
            return Err(format!("{origin}: pair {name}: the legs must differ"));
        }
        if entry.enabled == Some(false) {
            continue;
        }
        let base = raw.defaults.clone();
        let parameters = PairParameters {
            timeframe: entry.timeframe.unwrap_or(base.timeframe),
            lookback: entry.lookback.unwrap_or(base.lookback),
            window: entry.window.unwrap_or(base.window),
            entry_z: entry.entry_z.unwrap_or(base.entry_z),
            exit_z: entry.exit_z.unwrap_or(base.exit_z),
            stop_z: entry.stop_z.unwrap_or(base.stop_z),
            max_holding_hours: entry.max_holding_hours.unwrap_or(base.max_holding_hours),
            base_notional: entry.base_notional.unwrap_or(base.base_notional),
            min_trades: entry.min_trades.unwrap_or(base.min_trades),
            kelly_multiplier: entry.kelly_multiplier.unwrap_or(base.kelly_multiplier),
            max_fraction: entry.max_fraction.unwrap_or(base.max_fraction),
        };
        check(&name, &parameters).map_err(|message| format!("{origin}: {message}"))?;
        if pairs.iter().any(|pair: &PairConfig| pair.name == name) {
            return Err(format!("{origin}: pair {name} is listed twice"));
        }
        pairs.push(PairConfig {
            name,
            leg_a,
            leg_b,
            parameters,
        });
    }
    Ok(PairsFile { pairs })
}

/// Reads `path`, or the embedded pairs when it does not exist.
pub fn load_pairs(path: &Path) -> Result<PairsFile, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_pairs(&text, &path.display().to_string()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            parse_pairs(EMBEDDED, "embedded config/pairs.toml")
        }
        Err(error) => Err(format!("{}: {error}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_pairs_parse_with_defaults_applied() {
        let file = parse_pairs(EMBEDDED, "embedded").expect("shipped pairs");
        let names: Vec<&str> = file.pairs.iter().map(|pair| pair.name.as_str()).collect();
        assert_eq!(names, ["SIMA/SIMB", "SIMC/SIMD"]);
        assert_eq!(file.pairs[0].parameters.lookback, 500);
    }

    #[test]
    fn bad_pairs_are_refused_with_the_pair_and_key_named() {
        let cases = [
            ("exit_z = 3.0", "exit_z"),
            ("stop_z = 1.0", "stop_z"),
            ("window = 1", "window"),
            ("kelly_multiplier = 2.0", "kelly_multiplier"),
            ("colour = 3", "colour"),
        ];
        for (line, key) in cases {
            let text =
                EMBEDDED.replace("leg_b = \"SIMB\"\n", &format!("leg_b = \"SIMB\"\n{line}\n"));
            let error = parse_pairs(&text, "pairs.toml").expect_err(line);
            assert!(error.contains(key), "{line}: {error}");
        }
        let same = EMBEDDED.replace("leg_b = \"SIMB\"", "leg_b = \"SIMA\"");
        assert!(
            parse_pairs(&same, "p")
                .expect_err("same legs")
                .contains("differ")
        );
    }
}
