//! Alpaca API keys: read only from the environment, never printed.

use std::fmt;

use crate::broker::BrokerError;

/// The environment variable holding the key id.
pub const KEY_ID_VARIABLE: &str = "APCA_API_KEY_ID";
/// The environment variable holding the secret key.
pub const SECRET_VARIABLE: &str = "APCA_API_SECRET_KEY";

/// Alpaca's key pair. `Debug` shows the key id's first characters and hides the secret, so a
/// logged configuration or error can never leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    key_id: String,
    secret: String,
}

impl Credentials {
    /// Builds credentials from values; both must be non-empty.
    pub fn new(key_id: impl Into<String>, secret: impl Into<String>) -> Result<Self, BrokerError> {
        let (key_id, secret) = (key_id.into(), secret.into());
        if key_id.trim().is_empty() {
            return Err(missing(KEY_ID_VARIABLE));
        }
        if secret.trim().is_empty() {
            return Err(missing(SECRET_VARIABLE));
        }
        Ok(Self { key_id, secret })
    }

    /// Reads `APCA_API_KEY_ID` and `APCA_API_SECRET_KEY`. Keys never come from configuration
    /// files, which get copied, committed and shared.
    pub fn from_env() -> Result<Self, BrokerError> {
        let read = |name: &str| std::env::var(name).map_err(|_| missing(name));
        Self::new(read(KEY_ID_VARIABLE)?, read(SECRET_VARIABLE)?)
    }

    /// The key id (sent as `APCA-API-KEY-ID`).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The secret (sent as `APCA-API-SECRET-KEY`). Callers put it in a header and nowhere else.
    pub fn secret(&self) -> &str {
        &self.secret
    }
}

fn missing(variable: &str) -> BrokerError {
    BrokerError::Unauthorized(format!(
        "{variable} is not set: Alpaca keys are read only from the environment \
         ({KEY_ID_VARIABLE} and {SECRET_VARIABLE})"
    ))
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Four characters of the key id are enough to tell two accounts apart in a log.
        let shown: String = self.key_id.chars().take(4).collect();
        f.debug_struct("Credentials")
            .field("key_id", &format!("{shown}…"))
            .field("secret", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_contains_the_secret() {
        let credentials = Credentials::new("PKTESTKEY123", "s3cr3t-value").expect("valid");
        let shown = format!("{credentials:?}");
        assert!(!shown.contains("s3cr3t-value"), "{shown}");
        assert!(!shown.contains("PKTESTKEY123"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn an_empty_key_is_refused_naming_the_variable() {
        let error = Credentials::new("", "secret").expect_err("empty key id");
        assert!(error.to_string().contains(KEY_ID_VARIABLE), "{error}");
    }
}
