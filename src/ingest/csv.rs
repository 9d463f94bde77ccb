//! CSV import: parse a file, store its good bars, and record the run and every rejected row.

use std::path::Path;

use serde::Serialize;

use crate::clock::Clock;
use crate::market::csv::{CsvOptions, ParsedFile, RejectedRow, parse_file};
use crate::store::{
    AuditEntry, BarInsert, LoadRunStatus, LoadRunSummary, QualityIssue, Severity, Store,
};

/// What importing one file did.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    /// The file as given.
    pub file: String,
    /// The load run recorded for it.
    pub load_run_id: i64,
    /// Completed, or refused (strict mode and bad rows).
    pub status: LoadRunStatus,
    /// The symbols found.
    pub symbols: Vec<String>,
    /// The timeframe found or given.
    pub timeframe: String,
    /// Counts.
    pub summary: LoadRunSummary,
    /// Every rejected row, in file order.
    pub rejected: Vec<RejectedRow>,
    /// Empty cells of a wide file (no price for that symbol on that row), in file order.
    pub missing: Vec<RejectedRow>,
}

/// Why a file could not be imported at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file is unreadable or not a price file we understand (the message names the file).
    #[error("{source}")]
    File {
        /// The file.
        file: String,
        /// Why.
        source: crate::market::csv::CsvError,
    },
    /// Storing failed; nothing of the file was stored.
    #[error("{file}: {source}")]
    Store {
        /// The file.
        file: String,
        /// Why.
        source: crate::store::Error,
    },
}

/// Imports one file. Without `strict`, good rows are stored and bad ones reported; with it, any
/// bad row refuses the whole file and nothing is stored. Re-importing stores nothing new.
pub async fn import_file(
    store: &Store,
    clock: &Clock,
    path: &Path,
    options: &CsvOptions,
    strict: bool,
) -> Result<ImportReport, ImportError> {
    let file = path.display().to_string();
    let store_error = |source| ImportError::Store {
        file: file.clone(),
        source,
    };
    let run = store
        .start_load_run("csv", &file, clock.now())
        .await
        .map_err(store_error)?;
    let parsed = match parse_file(path, options) {
        Ok(parsed) => parsed,
        Err(source) => {
            let message = source.to_string();
            store
                .finish_load_run(
                    run,
                    LoadRunStatus::Failed,
                    &LoadRunSummary::default(),
                    Some(&message),
                    clock.now(),
                )
                .await
                .map_err(store_error)?;
            return Err(ImportError::File { file, source });
        }
    };
    let refused = strict && !parsed.rejected.is_empty();
    let written = if refused {
        BarInsert::default()
    } else {
        match store
            .insert_bars(&parsed.bars, &format!("csv:{file}"))
            .await
        {
            Ok(written) => written,
            Err(source) => {
                let message = source.to_string();
                let _ = store
                    .finish_load_run(
                        run,
                        LoadRunStatus::Failed,
                        &LoadRunSummary::default(),
                        Some(&message),
                        clock.now(),
                    )
                    .await;
                return Err(ImportError::Store { file, source });
            }
        }
    };
    let summary = summarise(&parsed, written);
    let (status, error) = if refused {
        let message = format!("refused in strict mode: {} bad rows", parsed.rejected.len());
        (LoadRunStatus::Refused, Some(message))
    } else {
        (LoadRunStatus::Completed, None)
    };
    store
        .record_quality_issues(&issues(&parsed, run, &file, clock))
        .await
        .map_err(store_error)?;
    store
        .finish_load_run(run, status, &summary, error.as_deref(), clock.now())
        .await
        .map_err(store_error)?;
    let entry = AuditEntry {
        at: clock.now(),
        actor: "cli".into(),
        action: "ingest.csv".into(),
        subject: Some(file.clone()),
        details: serde_json::to_value(&summary).unwrap_or_default(),
    };
    store.audit(&entry).await.map_err(store_error)?;
    Ok(ImportReport {
        file,
        load_run_id: run,
        status,
        symbols: parsed.symbols.iter().map(ToString::to_string).collect(),
        timeframe: parsed.timeframe.to_string(),
        summary,
        rejected: parsed.rejected,
        missing: parsed.missing,
    })
}

fn summarise(parsed: &ParsedFile, written: BarInsert) -> LoadRunSummary {
    LoadRunSummary {
        rows_read: parsed.rows_read,
        bars_inserted: written.inserted,
        bars_existing: written.existing,
        rows_rejected: u64::try_from(parsed.rejected.len()).unwrap_or(u64::MAX),
        first_bar: parsed.bars.iter().map(|bar| bar.time).min(),
        last_bar: parsed.bars.iter().map(|bar| bar.time).max(),
    }
}

fn issues(parsed: &ParsedFile, run: i64, file: &str, clock: &Clock) -> Vec<QualityIssue> {
    let detected_at = clock.now();
    let rejected = parsed
        .rejected
        .iter()
        .map(|row| (row, "rejected_row", Severity::Error));
    let missing = parsed
        .missing
        .iter()
        .map(|row| (row, "missing_price", Severity::Warning));
    rejected
        .chain(missing)
        .map(|(row, kind, severity)| QualityIssue {
            load_run_id: Some(run),
            detected_at,
            source: file.to_owned(),
            symbol: row.symbol.as_ref().map(ToString::to_string),
            timeframe: Some(parsed.timeframe.to_string()),
            time: None,
            line: Some(row.line),
            kind: kind.into(),
            severity,
            message: row.reason.clone(),
        })
        .collect()
}
