//! `tradehost check`: compile and validate scripts as the daemon would on save, and report each
//! problem as `file:line:column: message`.

use std::path::{Path, PathBuf};

use rhai::Engine;

use super::compile::{MetaValidator, ScriptKind, compile};
use super::error::{ErrorKind, ScriptError};
use super::registry::{FileRole, ScriptFolders, is_script_file};

/// What a check found.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// Files checked.
    pub checked: Vec<PathBuf>,
    /// Problems, in file order.
    pub errors: Vec<ScriptError>,
}

/// Checks each path: a file, or every script file in a folder (and its `lib/`).
pub fn check_paths(
    engine: &Engine,
    folders: &ScriptFolders,
    validator: Option<&MetaValidator>,
    paths: &[PathBuf],
) -> CheckReport {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            collect(path, &mut files);
        } else {
            files.push(path.clone());
        }
    }
    files.sort();
    files.dedup();
    let mut report = CheckReport::default();
    for file in files {
        if let Err(error) = check_file(engine, folders, validator, &file) {
            report.errors.push(error);
        }
        report.checked.push(file);
    }
    report
}

fn collect(folder: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    for path in entries.filter_map(Result::ok).map(|entry| entry.path()) {
        if path.is_dir() && path.file_name().is_some_and(|name| name == "lib") {
            collect(&path, files);
        } else if is_script_file(&path) && path.is_file() {
            files.push(path);
        }
    }
}

fn check_file(
    engine: &Engine,
    folders: &ScriptFolders,
    validator: Option<&MetaValidator>,
    path: &Path,
) -> Result<(), ScriptError> {
    let label = path.display().to_string();
    let source = std::fs::read_to_string(path).map_err(|error| {
        ScriptError::new(&label, ErrorKind::Io, format!("cannot read: {error}"))
    })?;
    let absolute = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let role = folders.classify(&absolute).unwrap_or_else(|| {
        // A file outside the project folders: judge it by the entry point it defines.
        if source.contains("fn on_cycle") {
            FileRole::Script(ScriptKind::Strategy)
        } else {
            FileRole::Script(ScriptKind::Flow)
        }
    });
    match role {
        FileRole::Script(kind) => compile(engine, path, kind, &source, validator).map(|_| ()),
        FileRole::Library => engine
            .compile(&source)
            .map(|_| ())
            .map_err(|error| ScriptError::from_parse(&label, &error)),
    }
}
