//! Logging: readable text or JSON lines on stderr, optionally also to daily-rotated files.

use std::path::Path;

use anyhow::Context;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, fmt};

use crate::config::{LogConfig, LogFormat};

/// Keeps the file writer's background thread alive; dropping it flushes what is buffered, so hold
/// it until the process ends.
#[must_use = "dropping the guard stops file logging"]
pub struct LogGuard {
    _file: Option<WorkerGuard>,
}

/// Installs the global subscriber. `RUST_LOG`, when set, overrides the configured level.
pub fn init(config: &LogConfig, directory: Option<&Path>) -> anyhow::Result<LogGuard> {
    let filter = || {
        EnvFilter::try_from_default_env()
            .or_else(|_| EnvFilter::try_new(&config.level))
            .unwrap_or_else(|_| EnvFilter::new("info"))
    };
    let mut layers = vec![
        formatted(config.format, std::io::stderr, true)
            .with_filter(filter())
            .boxed(),
    ];
    let guard = match directory {
        Some(directory) => {
            std::fs::create_dir_all(directory)
                .with_context(|| format!("creating the log folder {}", directory.display()))?;
            let appender = RollingFileAppender::builder()
                .rotation(Rotation::DAILY)
                .filename_prefix("tradehost")
                .filename_suffix("log")
                .max_log_files(config.retention_days)
                .build(directory)
                .with_context(|| format!("opening a log file in {}", directory.display()))?;
            let (writer, guard) = tracing_appender::non_blocking(appender);
            layers.push(
                formatted(config.format, writer, false)
                    .with_filter(filter())
                    .boxed(),
            );
            Some(guard)
        }
        None => None,
    };
    // One Vec of boxed layers, because a registry layered with a text layer is a different type
    // from a bare registry and the file layer must stack on either.
    tracing_subscriber::registry()
        .with(layers)
        .try_init()
        .context("installing the log subscriber")?;
    Ok(LogGuard { _file: guard })
}

type BoxedLayer = Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync>;

fn formatted<W>(format: LogFormat, writer: W, colours: bool) -> BoxedLayer
where
    W: for<'writer> fmt::MakeWriter<'writer> + Send + Sync + 'static,
{
    match format {
        LogFormat::Text => fmt::layer().with_writer(writer).with_ansi(colours).boxed(),
        LogFormat::Json => fmt::layer().json().with_writer(writer).boxed(),
    }
}
