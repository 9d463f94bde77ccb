//! Scripts: what serves now, the last refused save of each (the reload error), stored versions,
//! and validation of a source without saving it.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody, Json, Path, Query, Reply};
use super::{ApiState, Page};
use crate::script::{ScriptError, ScriptKind};
use crate::store::ScriptVersionRecord;

/// A script's problem, with its position.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// What went wrong.
    pub message: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
}

impl From<&ScriptError> for Problem {
    fn from(error: &ScriptError) -> Self {
        Self {
            message: error.message.clone(),
            line: error.line,
            column: error.column,
        }
    }
}

/// A script as loaded now.
#[derive(Debug, Serialize, ToSchema)]
pub struct Script {
    /// Its name (the file stem).
    pub name: String,
    /// `flow` or `strategy`; none when no version ever loaded.
    pub kind: Option<String>,
    /// The file, relative to the project.
    pub path: String,
    /// The content hash of the version serving calls.
    pub hash: Option<String>,
    /// When the serving version was loaded.
    pub loaded_at: Option<DateTime<Utc>>,
    /// Why the latest save was refused (the serving version stays), when it was.
    pub reload_error: Option<Problem>,
}

/// `GET /api/v1/scripts`.
#[utoipa::path(
    get,
    path = "/api/v1/scripts",
    tag = "scripts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every script with its serving version and reload error", body = Vec<Script>),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
        (status = 503, description = "Scripts are not loaded here", body = ErrorBody),
    )
)]
pub async fn scripts(State(state): State<ApiState>) -> Reply<Vec<Script>> {
    let runtime = state.scripts()?;
    let registry = runtime.registry();
    // Paths relative to the project (the folder holding scripts/), never this machine's layout.
    let folders = registry.folders();
    let root = folders
        .scripts
        .parent()
        .unwrap_or(&folders.scripts)
        .to_path_buf();
    let relative = |path: &std::path::Path| {
        path.strip_prefix(&root)
            .unwrap_or(path)
            .display()
            .to_string()
    };
    let active = state.inner.store.script_versions(None, 1000).await?;
    let mut out: Vec<Script> = registry
        .scripts()
        .iter()
        .map(|script| Script {
            name: script.name.clone(),
            kind: Some(script.kind.as_str().to_owned()),
            path: relative(&script.path),
            hash: Some(script.hash.clone()),
            loaded_at: active
                .iter()
                .find(|version| version.name == script.name && version.hash == script.hash)
                .map(|version| version.loaded_at),
            reload_error: None,
        })
        .collect();
    for outcome in registry.outcomes() {
        let Some(error) = &outcome.error else {
            continue;
        };
        match out.iter_mut().find(|script| script.name == outcome.name) {
            Some(script) => script.reload_error = Some(error.into()),
            None => out.push(Script {
                name: outcome.name.clone(),
                kind: None,
                path: relative(&outcome.path),
                hash: None,
                loaded_at: None,
                reload_error: Some(error.into()),
            }),
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(out))
}

/// `GET /api/v1/scripts/{name}/versions`.
#[utoipa::path(
    get,
    path = "/api/v1/scripts/{name}/versions",
    tag = "scripts",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "The script's name"), Page),
    responses(
        (status = 200, description = "Its stored versions, newest first", body = Vec<ScriptVersionRecord>),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
        (status = 404, description = "No version of that name", body = ErrorBody),
    )
)]
pub async fn versions(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Query(page): Query<Page>,
) -> Reply<Vec<ScriptVersionRecord>> {
    let versions = state
        .inner
        .store
        .script_versions(Some(&name), page.limit()?)
        .await?;
    if versions.is_empty() {
        return Err(ApiError::not_found(format!("no script named `{name}`")));
    }
    Ok(Json(versions))
}

/// What to validate.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateRequest {
    /// The script's text.
    pub source: String,
    /// `flow` (entry point `run`) or `strategy` (entry point `on_cycle`).
    pub kind: ValidateKind,
}

/// The kind of script to validate as.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ValidateKind {
    /// A flow in `scripts/`.
    Flow,
    /// A strategy in `strategies/`.
    Strategy,
}

/// The verdict.
#[derive(Debug, Serialize, ToSchema)]
pub struct Validation {
    /// Whether it would load.
    pub valid: bool,
    /// Its content hash.
    pub hash: String,
    /// Why not, when it would not.
    pub error: Option<Problem>,
}

/// The largest source validated (the body limit may be larger).
const MAX_SOURCE: usize = 256 * 1024;

/// `POST /api/v1/scripts/validate`: compiles a source as a save would (syntax, imports, entry
/// point, metadata) without saving or running it.
#[utoipa::path(
    post,
    path = "/api/v1/scripts/validate",
    tag = "scripts",
    security(("bearer" = [])),
    request_body = ValidateRequest,
    responses(
        (status = 200, description = "The verdict", body = Validation),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
        (status = 403, description = "A read-only key", body = ErrorBody),
        (status = 413, description = "Too large", body = ErrorBody),
        (status = 422, description = "The body does not fit", body = ErrorBody),
    )
)]
pub async fn validate(
    State(state): State<ApiState>,
    Json(request): Json<ValidateRequest>,
) -> Reply<Validation> {
    if request.source.len() > MAX_SOURCE {
        return Err(ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            format!("a script may have at most {MAX_SOURCE} bytes"),
        ));
    }
    let runtime = state.scripts()?.clone();
    let kind = match request.kind {
        ValidateKind::Flow => ScriptKind::Flow,
        ValidateKind::Strategy => ScriptKind::Strategy,
    };
    let hash = crate::script::content_hash(&request.source);
    // Compiling runs `meta()` under a budget; off the async threads.
    let verdict = tokio::task::spawn_blocking(move || {
        let registry = runtime.registry();
        crate::script::compile(
            registry.engine(),
            std::path::Path::new("(validated)"),
            kind,
            &request.source,
            registry.validator(),
        )
        .map(|_| ())
    })
    .await
    .map_err(|error| ApiError::internal(&error))?;
    Ok(Json(Validation {
        valid: verdict.is_ok(),
        hash,
        error: verdict.err().as_ref().map(Problem::from),
    }))
}
