//! Backups and restores: `VACUUM INTO` a new file on SQLite (consistent while the daemon runs),
//! `pg_dump`/`pg_restore` in their custom format on PostgreSQL.

use std::path::{Path, PathBuf};

use super::{Backend, Error, Result, Store};

/// Why a backup or restore failed beyond the database itself.
fn tool_failed(tool: &'static str, detail: String) -> Error {
    Error::Tool { tool, detail }
}

impl Store {
    /// Writes a consistent copy of the whole database to `path` (which must not exist yet).
    pub async fn backup_to(&self, path: &Path) -> Result<PathBuf> {
        if let Some(folder) = path
            .parent()
            .filter(|folder| !folder.as_os_str().is_empty())
        {
            std::fs::create_dir_all(folder).map_err(|source| Error::Folder {
                path: folder.to_path_buf(),
                source,
            })?;
        }
        match &self.backend {
            Backend::Sqlite(pool) => {
                sqlx::query("VACUUM INTO $1")
                    .bind(path.display().to_string())
                    .execute(pool)
                    .await?;
            }
            Backend::Postgres(_) => {
                let url = self
                    .postgres_url
                    .as_ref()
                    .map(|url| url.0.as_str())
                    .unwrap_or_default();
                let output = tokio::process::Command::new("pg_dump")
                    .args(["--format=custom", "--no-owner", "--file"])
                    .arg(path)
                    .arg(url)
                    .output()
                    .await
                    .map_err(|error| {
                        tool_failed("pg_dump", format!("cannot run pg_dump: {error}"))
                    })?;
                if !output.status.success() {
                    return Err(tool_failed(
                        "pg_dump",
                        String::from_utf8_lossy(&output.stderr).trim().to_owned(),
                    ));
                }
            }
        }
        Ok(path.to_path_buf())
    }
}

/// Restores a backup made by [`Store::backup_to`] into `location`: on SQLite the file replaces the
/// database (the daemon must be stopped); on PostgreSQL `pg_restore --clean` replaces the objects.
pub async fn restore(location: &crate::config::DatabaseLocation, backup: &Path) -> Result<()> {
    if !backup.is_file() {
        return Err(tool_failed(
            "restore",
            format!("{} is not a file", backup.display()),
        ));
    }
    match location {
        crate::config::DatabaseLocation::Sqlite(path) => {
            // Check that the backup is a database of ours before replacing anything.
            let probe = Store::connect(
                &crate::config::DatabaseLocation::Sqlite(backup.to_path_buf()),
                1,
            )
            .await?;
            probe.ping().await?;
            probe.close().await;
            if let Some(folder) = path
                .parent()
                .filter(|folder| !folder.as_os_str().is_empty())
            {
                std::fs::create_dir_all(folder).map_err(|source| Error::Folder {
                    path: folder.to_path_buf(),
                    source,
                })?;
            }
            for suffix in ["-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
            std::fs::copy(backup, path).map_err(|source| Error::Folder {
                path: path.clone(),
                source,
            })?;
        }
        crate::config::DatabaseLocation::Postgres(url) => {
            let output = tokio::process::Command::new("pg_restore")
                .args(["--clean", "--if-exists", "--no-owner", "--dbname"])
                .arg(url)
                .arg(backup)
                .output()
                .await
                .map_err(|error| {
                    tool_failed("pg_restore", format!("cannot run pg_restore: {error}"))
                })?;
            if !output.status.success() {
                return Err(tool_failed(
                    "pg_restore",
                    String::from_utf8_lossy(&output.stderr).trim().to_owned(),
                ));
            }
        }
    }
    Ok(())
}
