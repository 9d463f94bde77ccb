//! Compiling and validating one script: syntax, imports, the required entry point, metadata.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rhai::{AST, Dynamic, Engine, EvalAltResult, Map, Scope};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::{ErrorKind, ScriptError};
use super::invoke::invoke;

/// What a script is, by the folder it lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScriptKind {
    /// A flow in `scripts/`: entry point `run(params)`.
    Flow,
    /// A strategy in `strategies/`: entry point `on_cycle(ctx)`.
    Strategy,
}

impl ScriptKind {
    /// The function every script of this kind must define, and its arity.
    pub fn entry_point(self) -> (&'static str, usize) {
        match self {
            Self::Flow => ("run", 1),
            Self::Strategy => ("on_cycle", 1),
        }
    }

    /// The kind's name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Flow => "flow",
            Self::Strategy => "strategy",
        }
    }
}

/// What `fn meta()` may return: a description and tags for every script, and keys that another
/// part of the host understands (a flow's schedule, retries…) in `extra`, which a
/// [`MetaValidator`] checks. Without a validator, any extra key is an error, so a typo is caught
/// at save time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScriptMeta {
    /// One line on what the script does.
    #[serde(default)]
    pub description: Option<String>,
    /// Labels for filtering.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Every other key, for the validator.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Checks the keys of `meta()` beyond description and tags (the orchestrator's deployment
/// settings); an error refuses the version like a syntax error would.
pub type MetaValidator = Arc<
    dyn Fn(ScriptKind, &serde_json::Map<String, serde_json::Value>) -> Result<(), String>
        + Send
        + Sync,
>;

/// A compiled, validated script version. Shared by reference: calls in flight keep the version
/// they started with even after a reload replaces it.
#[derive(Debug)]
pub struct CompiledScript {
    /// The name scripts and users call it by: the file stem.
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// Flow or strategy.
    pub kind: ScriptKind,
    /// SHA-256 of the source, hex.
    pub hash: String,
    /// The source text.
    pub source: Arc<str>,
    /// The compiled program, with its imports embedded.
    pub ast: Arc<AST>,
    /// Its metadata.
    pub meta: ScriptMeta,
}

/// Budget for evaluating `meta()`: metadata is a constant map, so anything slow is a mistake.
const META_BUDGET: std::time::Duration = std::time::Duration::from_millis(200);

/// The hex SHA-256 of a source text.
pub fn content_hash(source: &str) -> String {
    Sha256::digest(source.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The script's name: its file stem.
pub fn script_name(path: &Path) -> String {
    path.file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Compiles `source` (the contents of `path`) and validates it as a script of `kind`.
pub fn compile(
    engine: &Engine,
    path: &Path,
    kind: ScriptKind,
    source: &str,
    validator: Option<&MetaValidator>,
) -> Result<CompiledScript, ScriptError> {
    let label = path.display().to_string();
    // Self-contained: imports are resolved now, so a bad import fails the save, not a later run.
    let mut ast = engine
        .compile_into_self_contained(&Scope::new(), source)
        .map_err(|error| match &*error {
            EvalAltResult::ErrorInModule(module, inner, _) => {
                import_failure(&label, source, module, inner)
            }
            _ => ScriptError::from_eval(&label, &error, None),
        })?;
    ast.set_source(label.clone());
    let (entry, arity) = kind.entry_point();
    let has_entry = ast
        .iter_functions()
        .any(|function| function.name == entry && function.params.len() == arity);
    if !has_entry {
        return Err(ScriptError::new(
            &label,
            ErrorKind::Validation,
            format!(
                "a {} must define `fn {entry}({})`",
                kind.as_str(),
                if arity == 1 { "params" } else { "" }
            ),
        ));
    }
    let name = script_name(path);
    let hash = content_hash(source);
    let meta = read_meta(engine, &label, &name, &hash, &ast)?;
    let invalid_meta = |message: String| {
        ScriptError::new(&label, ErrorKind::Validation, format!("meta(): {message}"))
    };
    match validator {
        Some(validate) => validate(kind, &meta.extra).map_err(invalid_meta)?,
        None if !meta.extra.is_empty() => {
            let keys: Vec<&str> = meta.extra.keys().map(String::as_str).collect();
            return Err(invalid_meta(format!(
                "unknown keys {}; a {} takes description and tags",
                keys.join(", "),
                kind.as_str()
            )));
        }
        None => {}
    }
    Ok(CompiledScript {
        name,
        path: path.to_path_buf(),
        kind,
        hash,
        source: source.into(),
        ast: Arc::new(ast),
        meta,
    })
}

/// A failed `import`, pointed at its statement. Rhai resolves imports without a position, and
/// the module's own failure is positioned in the module's file, so without this a refused import
/// would carry no line and a broken library would show its line under the script's name.
fn import_failure(label: &str, source: &str, module: &str, inner: &EvalAltResult) -> ScriptError {
    let (kind, message) = match inner {
        // The resolver's refusal (outside the library folders, missing, unreadable) names the
        // import itself.
        EvalAltResult::ErrorRuntime(reason, position) if position.is_none() => {
            (ErrorKind::Validation, reason.to_string())
        }
        other => {
            let failure = ScriptError::from_eval(module, other, None);
            let kind = match failure.kind {
                ErrorKind::Runtime => ErrorKind::Validation,
                kind => kind,
            };
            let at = failure
                .line
                .map_or_else(String::new, |line| format!(", line {line}"));
            (kind, format!("import `{module}`{at}: {}", failure.message))
        }
    };
    let (line, column) = import_position(source, module).unzip();
    ScriptError {
        script: label.to_owned(),
        line,
        column,
        kind,
        message,
    }
}

/// The 1-based line and column of the first `import "module"` statement in `source`.
fn import_position(source: &str, module: &str) -> Option<(usize, usize)> {
    let quoted = [format!("\"{module}\""), format!("`{module}`")];
    source.lines().enumerate().find_map(|(index, line)| {
        let keyword = line.find("import")?;
        let rest = &line[keyword..];
        quoted
            .iter()
            .any(|quoted| rest.contains(quoted.as_str()))
            .then(|| (index + 1, line[..keyword].chars().count() + 1))
    })
}

fn read_meta(
    engine: &Engine,
    label: &str,
    name: &str,
    hash: &str,
    ast: &AST,
) -> Result<ScriptMeta, ScriptError> {
    let has_meta = ast
        .iter_functions()
        .any(|function| function.name == "meta" && function.params.is_empty());
    if !has_meta {
        return Ok(ScriptMeta::default());
    }
    let (value, _) = invoke(
        engine,
        label,
        name,
        hash,
        ast,
        "meta",
        Vec::new(),
        None,
        META_BUDGET,
        None,
        None,
        None,
        None,
    )
    // However `meta()` fails, the script is refused for its metadata, not for a run.
    .map_err(|failure| ScriptError {
        kind: ErrorKind::Validation,
        message: format!("meta(): {}", failure.message),
        ..failure
    })?;
    let invalid = |message: String| {
        ScriptError::new(label, ErrorKind::Validation, format!("meta(): {message}"))
    };
    let map: Map = value.try_cast::<Map>().ok_or_else(|| {
        invalid("must return an object map such as #{ description: \"…\" }".into())
    })?;
    rhai::serde::from_dynamic(&Dynamic::from_map(map)).map_err(|error| invalid(error.to_string()))
}
