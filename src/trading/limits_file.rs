//! Reads `config/risk.toml` into validated [`RiskLimits`]; the embedded default when the project
//! has none. The same function serves start (a bad file refuses to start) and hot reload (a bad
//! file keeps the limits in force).

use std::path::Path;

use figment::Figment;
use figment::providers::{Format, Toml};

use crate::risk::RiskLimits;

/// The limits shipped with the binary.
pub const EMBEDDED: &str = include_str!("../../config/risk.toml");

/// Parses and validates limits from TOML text; the error names the key and the problem.
pub fn parse(text: &str, origin: &str) -> Result<RiskLimits, String> {
    let limits: RiskLimits = Figment::new()
        .merge(Toml::string(text))
        .extract()
        .map_err(|error| format!("{origin}: {error}"))?;
    limits
        .validate()
        .map_err(|error| format!("{origin}: {error}"))?;
    Ok(limits)
}

/// Reads `path`, or the embedded limits when it does not exist.
pub fn load(path: &Path) -> Result<RiskLimits, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text, &path.display().to_string()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            parse(EMBEDDED, "embedded config/risk.toml")
        }
        Err(error) => Err(format!("{}: {error}", path.display())),
    }
}
