//! The CLI's client of a running daemon's API: finds the daemon on `server.bind`, authenticates
//! with the admin key from the environment or the daemon's `data/api-key`, and turns the API's
//! JSON errors into the CLI's.

use std::time::Duration;

use anyhow::Context;
use serde_json::Value;

use crate::api::auth::{ADMIN_KEY_VARIABLE, KEY_FILE, read_key_file};
use crate::config::Settings;

/// A connection to a running daemon.
pub struct DaemonClient {
    base: String,
    key: String,
    http: reqwest::Client,
}

impl DaemonClient {
    /// The client of the daemon configured in `settings`, if one is listening there.
    pub async fn connect(settings: &Settings) -> anyhow::Result<Option<Self>> {
        let address = settings.config.server.bind;
        let listening = tokio::time::timeout(
            Duration::from_millis(300),
            tokio::net::TcpStream::connect(address),
        )
        .await
        .is_ok_and(|connected| connected.is_ok());
        if !listening {
            return Ok(None);
        }
        Ok(Some(Self {
            base: format!("http://{address}"),
            key: admin_key(settings)?,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .context("building the HTTP client")?,
        }))
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let response = request
            .bearer_auth(&self.key)
            .send()
            .await
            .context("asking the daemon")?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .context("reading the daemon's answer")?;
        if !status.is_success() {
            anyhow::bail!(
                "the daemon refused ({status}): {}",
                body.get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("no reason given")
            );
        }
        Ok(body)
    }
}

/// The admin key: `TRADEHOST_ADMIN_KEY` (its first key), else the daemon's generated key file.
fn admin_key(settings: &Settings) -> anyhow::Result<String> {
    if let Ok(value) = std::env::var(ADMIN_KEY_VARIABLE)
        && let Some(first) = value.split(',').map(str::trim).find(|k| !k.is_empty())
    {
        return Ok(first.to_owned());
    }
    let path = settings.data_dir().join(KEY_FILE);
    read_key_file(&path)
        .map_err(anyhow::Error::msg)?
        .with_context(|| {
            format!(
                "a daemon is running but there is no API key: set {ADMIN_KEY_VARIABLE} or run the CLI where it can read {}",
                path.display()
            )
        })
}
