//! Upkeep the flows ask for: database backups with retention, and Parquet archives of old bars.

use chrono::Utc;

use super::Orchestrator;

impl Orchestrator {
    /// Backs the database up into the backup folder as `tradehost-<time>.db` (or `.dump`) and
    /// deletes all but the newest `keep` of them.
    pub async fn backup_database(&self, keep: usize) -> Result<String, String> {
        let folder = self
            .settings
            .backup_dir
            .clone()
            .ok_or("no backup folder is configured")?;
        let store = &self.worker.store;
        let extension = match store.backend() {
            crate::store::BackendKind::Sqlite => "db",
            crate::store::BackendKind::Postgres => "dump",
        };
        // Named by wall time: two backups taken at the same simulated instant must not collide.
        let stamp = Utc::now().format("%Y%m%d-%H%M%S%.3f");
        let path = folder.join(format!("tradehost-{stamp}.{extension}"));
        store
            .backup_to(&path)
            .await
            .map_err(|error| error.to_string())?;
        let mut backups: Vec<std::path::PathBuf> = std::fs::read_dir(&folder)
            .map_err(|error| error.to_string())?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|candidate| {
                candidate
                    .file_name()
                    .and_then(|name| name.to_str())
                    .is_some_and(|name| {
                        name.starts_with("tradehost-") && name.ends_with(&format!(".{extension}"))
                    })
            })
            .collect();
        backups.sort();
        let excess = backups.len().saturating_sub(keep);
        for old in &backups[..excess] {
            std::fs::remove_file(old)
                .map_err(|error| format!("removing {}: {error}", old.display()))?;
        }
        Ok(path.display().to_string())
    }
}

impl Orchestrator {
    /// Archives the oldest month of bars older than the retention to a Parquet file, verified by
    /// reading it back, then deletes them (see `Store::archive_bars_before`).
    pub async fn archive_bars(&self, retention_days: u32) -> Result<serde_json::Value, String> {
        let folder = self
            .settings
            .archive_dir
            .clone()
            .ok_or("no archive folder is configured")?;
        std::fs::create_dir_all(&folder)
            .map_err(|error| format!("{}: {error}", folder.display()))?;
        let cutoff = self.worker.clock.now() - chrono::Duration::days(i64::from(retention_days));
        let store = &self.worker.store;
        let Some(oldest) = store
            .oldest_bar_time()
            .await
            .map_err(|error| error.to_string())?
            .filter(|oldest| *oldest < cutoff)
        else {
            return Ok(serde_json::json!({ "rows": 0, "file": null, "done": true }));
        };
        // A month per call keeps each transaction and file bounded; the flow loops until done.
        let until = cutoff.min(oldest + chrono::Duration::days(31));
        let mut path = folder.join(format!(
            "bars-{}-{}.parquet",
            oldest.format("%Y%m%d"),
            until.format("%Y%m%d")
        ));
        let mut attempt = 1;
        while path.exists() {
            attempt += 1;
            path = folder.join(format!(
                "bars-{}-{}-{attempt}.parquet",
                oldest.format("%Y%m%d"),
                until.format("%Y%m%d")
            ));
        }
        let file = path.clone();
        let rows = store
            .archive_bars_before(until, |bars| {
                let written = crate::analytics::archive::write_bars(&file, bars)
                    .map_err(|error| error.to_string())?;
                let read_back = crate::analytics::archive::row_count(&file)
                    .map_err(|error| error.to_string())?;
                if read_back != written {
                    let _ = std::fs::remove_file(&file);
                    return Err(format!(
                        "{} holds {read_back} rows, not {written}",
                        file.display()
                    ));
                }
                Ok(written)
            })
            .await
            .inspect_err(|_| {
                // The transaction rolled back, so the bars are still stored: drop the partial file.
                let _ = std::fs::remove_file(&path);
            })?;
        tracing::info!(rows, file = %path.display(), "archived bars");
        Ok(
            serde_json::json!({ "rows": rows, "file": path.display().to_string(), "done": until == cutoff }),
        )
    }
}
