//! Backups and restores: `VACUUM INTO` a new file on SQLite (consistent while the daemon runs),
//! `pg_dump`/`pg_restore` in their custom format on PostgreSQL.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use super::{Backend, Error, Result, Store, create_parent_folder};
use crate::config::DatabaseLocation;

/// Runs a PostgreSQL client tool; its standard error becomes the error when it fails.
async fn run_tool(tool: &'static str, arguments: &[&OsStr]) -> Result<()> {
    let output = tokio::process::Command::new(tool)
        .args(arguments)
        .output()
        .await
        .map_err(|error| Error::Tool {
            tool,
            detail: format!("cannot run {tool}: {error}"),
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(Error::Tool {
            tool,
            detail: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

impl Store {
    /// Writes a consistent copy of the whole database to `path` (which must not exist yet).
    pub async fn backup_to(&self, path: &Path) -> Result<PathBuf> {
        create_parent_folder(path)?;
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
                let arguments = ["--format=custom", "--no-owner", "--file"].map(OsStr::new);
                run_tool(
                    "pg_dump",
                    &[&arguments[..], &[path.as_os_str(), OsStr::new(url)]].concat(),
                )
                .await?;
            }
        }
        Ok(path.to_path_buf())
    }
}

/// Restores a backup made by [`Store::backup_to`] into `location`: on SQLite the file replaces the
/// database (the daemon must be stopped); on PostgreSQL `pg_restore --clean` replaces the objects.
pub async fn restore(location: &DatabaseLocation, backup: &Path) -> Result<()> {
    if !backup.is_file() {
        return Err(Error::Tool {
            tool: "restore",
            detail: format!("{} is not a file", backup.display()),
        });
    }
    match location {
        DatabaseLocation::Sqlite(path) => {
            // Check that the backup is a database before replacing anything.
            let probe = Store::connect(&DatabaseLocation::Sqlite(backup.to_path_buf()), 1).await?;
            probe.ping().await?;
            probe.close().await;
            create_parent_folder(path)?;
            for suffix in ["-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
            std::fs::copy(backup, path).map_err(|source| Error::Folder {
                path: path.clone(),
                source,
            })?;
        }
        DatabaseLocation::Postgres(url) => {
            let arguments = ["--clean", "--if-exists", "--no-owner", "--dbname"].map(OsStr::new);
            run_tool(
                "pg_restore",
                &[&arguments[..], &[OsStr::new(url), backup.as_os_str()]].concat(),
            )
            .await?;
        }
    }
    Ok(())
}
