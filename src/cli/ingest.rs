//! `tradehost ingest csv`: imports files and prints what happened to each, row by row.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::clock::Clock;
use crate::config::Settings;
use crate::domain::{Symbol, Timeframe};
use crate::ingest::csv::{ImportReport, import_file};
use crate::market::csv::{CsvOptions, DateFormat};
use crate::store::{LoadRunStatus, Store};

/// Arguments of `tradehost ingest csv`.
#[derive(Debug, Args)]
pub struct CsvArguments {
    /// The files to import.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The symbol of a single-instrument file [default: from the file name, e.g. orcl-1995.csv → ORCL].
    #[arg(long)]
    symbol: Option<Symbol>,
    /// The bar length, e.g. 1Day, 5Min [default: inferred from the gaps between rows].
    #[arg(long)]
    timeframe: Option<Timeframe>,
    /// How dates are written: ymd (2024-01-31), mdy (1/31/2024), dmy (31/01/2024), or a chrono
    /// pattern such as %d.%m.%Y [default: ymd or mdy, detected].
    #[arg(long)]
    date_format: Option<DateFormat>,
    /// The time zone of dates and times without an offset; a daily bar starts at midnight there.
    #[arg(long, default_value = "America/New_York")]
    timezone: chrono_tz::Tz,
    /// Refuse a whole file if any row is bad, instead of storing the good rows.
    #[arg(long)]
    strict: bool,
    /// Print the reports as JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Imports each file in turn. Exit status 0 when every file was imported (bad rows included, as
/// they are reported), 1 when any file failed or was refused.
pub async fn csv(settings: &Settings, arguments: &CsvArguments) -> anyhow::Result<ExitCode> {
    let store = Store::open(&settings.database, settings.config.database.max_connections)
        .await
        .with_context(|| format!("opening the database at {}", settings.database))?;
    let clock = Clock::real();
    let options = CsvOptions {
        symbol: arguments.symbol.clone(),
        timeframe: arguments.timeframe,
        date_format: arguments.date_format.clone(),
        timezone: arguments.timezone,
    };
    let mut all_imported = true;
    for file in &arguments.files {
        match import_file(&store, &clock, file, &options, arguments.strict).await {
            Ok(report) => {
                all_imported &= report.status == LoadRunStatus::Completed;
                if arguments.json {
                    println!("{}", serde_json::to_string(&report)?);
                } else {
                    print_report(&report);
                }
            }
            Err(error) => {
                all_imported = false;
                eprintln!("error: {error}");
            }
        }
    }
    store.close().await;
    Ok(if all_imported {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_report(report: &ImportReport) {
    for row in &report.rejected {
        match &row.symbol {
            Some(symbol) => eprintln!("{}:{}: {symbol}: {}", report.file, row.line, row.reason),
            None => eprintln!("{}:{}: {}", report.file, row.line, row.reason),
        }
    }
    if !report.missing.is_empty() {
        let mut per_symbol = std::collections::BTreeMap::<String, usize>::new();
        for cell in &report.missing {
            let symbol = cell
                .symbol
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            *per_symbol.entry(symbol).or_default() += 1;
        }
        let counts: Vec<String> = per_symbol
            .iter()
            .map(|(symbol, count)| format!("{symbol} {count}"))
            .collect();
        let first = report.missing[0].line;
        eprintln!(
            "{}: {} empty cells, no bar stored for them ({}; first on line {first}); kept as data-quality warnings",
            report.file,
            report.missing.len(),
            counts.join(", ")
        );
    }
    let summary = &report.summary;
    let span = match (summary.first_bar, summary.last_bar) {
        (Some(first), Some(last)) => format!(
            ", {} .. {}",
            first.format("%Y-%m-%d %H:%M"),
            last.format("%Y-%m-%d %H:%M")
        ),
        _ => String::new(),
    };
    let verdict = match report.status {
        LoadRunStatus::Refused => "REFUSED (strict): nothing stored",
        _ => "imported",
    };
    println!(
        "{}: {verdict} {} ({}){span}: {} rows read, {} bars new, {} already stored, {} rows rejected (load run {})",
        report.file,
        report.symbols.join(", "),
        report.timeframe,
        summary.rows_read,
        summary.bars_inserted,
        summary.bars_existing,
        summary.rows_rejected,
        report.load_run_id,
    );
}
