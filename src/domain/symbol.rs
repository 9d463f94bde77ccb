//! Instrument symbols, normalised to upper case at the edge.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Why a symbol was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SymbolError {
    /// Empty input.
    #[error("symbol is empty")]
    Empty,
    /// Longer than any exchange ticker we trade.
    #[error("symbol `{0}` is longer than {max} characters", max = Symbol::MAX_LEN)]
    TooLong(String),
    /// Characters outside letters, digits, `.`, `-` and `/`.
    #[error(
        "symbol `{0}` may contain only letters, digits, `.`, `-` and `/`, and must start with a letter"
    )]
    Invalid(String),
}

/// A ticker such as `AAPL`, `BRK.B` or `BTC/USD`: starts with a letter, then letters, digits, `.`,
/// `-` or `/`; at most 21 characters; always upper case. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Symbol(Arc<str>);

impl Symbol {
    /// The longest accepted symbol (OCC option symbols are 21 characters).
    pub const MAX_LEN: usize = 21;

    /// Trims, upper-cases and checks the characters.
    pub fn parse(text: &str) -> Result<Self, SymbolError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(SymbolError::Empty);
        }
        if trimmed.len() > Self::MAX_LEN {
            return Err(SymbolError::TooLong(trimmed.to_owned()));
        }
        let upper = trimmed.to_ascii_uppercase();
        let mut chars = upper.chars();
        let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_uppercase());
        let rest_allowed = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '/'));
        if starts_with_letter && rest_allowed {
            Ok(Self(upper.into()))
        } else {
            Err(SymbolError::Invalid(trimmed.to_owned()))
        }
    }

    /// The symbol's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Symbol {
    type Err = SymbolError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl TryFrom<String> for Symbol {
    type Error = SymbolError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<Symbol> for String {
    fn from(symbol: Symbol) -> Self {
        symbol.0.to_string()
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn symbols_are_upper_cased_and_trimmed() {
        assert_eq!(
            Symbol::parse(" brk.b ").map(|s| s.to_string()),
            Ok("BRK.B".to_owned())
        );
        assert!(Symbol::parse("BTC/USD").is_ok());
    }

    #[test]
    fn bad_symbols_are_refused_with_a_reason() {
        assert_eq!(Symbol::parse("  "), Err(SymbolError::Empty));
        assert!(matches!(
            Symbol::parse("1ABC"),
            Err(SymbolError::Invalid(_))
        ));
        assert!(matches!(
            Symbol::parse("AB C"),
            Err(SymbolError::Invalid(_))
        ));
        assert!(matches!(
            Symbol::parse("DROP;TABLE"),
            Err(SymbolError::Invalid(_))
        ));
        assert!(matches!(
            Symbol::parse(&"A".repeat(22)),
            Err(SymbolError::TooLong(_))
        ));
    }

    proptest! {
        #[test]
        fn parsing_round_trips(text in "[A-Za-z][A-Za-z0-9./-]{0,20}") {
            let symbol = Symbol::parse(&text).expect("generated symbols are valid");
            prop_assert_eq!(Symbol::parse(&symbol.to_string()), Ok(symbol.clone()));
            prop_assert_eq!(symbol.as_str(), text.to_ascii_uppercase());
        }

        #[test]
        fn parsing_never_panics(text in ".{0,40}") {
            let _ = Symbol::parse(&text);
        }
    }
}
