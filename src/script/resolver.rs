//! Imports: only modules under the allowed library folders (`scripts/lib/`, `strategies/lib/`).
//!
//! Rhai's default file resolver accepts absolute paths and `..` and caches forever; this one takes
//! a relative module path of plain segments, refuses everything else, and never caches, so a saved
//! library is seen by the next compile.

use std::path::{Component, Path, PathBuf};

use rhai::module_resolvers::ModuleResolver;
use rhai::{Engine, EvalAltResult, Module, Position, Scope, Shared};

/// Resolves `import "name"` to `<root>/name.rhai` in the first allowed root that has it.
#[derive(Debug, Clone)]
pub struct SandboxResolver {
    roots: Vec<PathBuf>,
}

impl SandboxResolver {
    /// A resolver over the given library folders.
    pub fn new(roots: Vec<PathBuf>) -> Self {
        Self { roots }
    }

    /// Where `path` resolves, or why it may not be imported.
    pub fn locate(&self, path: &str) -> Result<PathBuf, String> {
        let relative = Path::new(path);
        let plain = !path.is_empty()
            && relative
                .components()
                .all(|component| matches!(component, Component::Normal(_)))
            && path
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '/' | '.'))
            && !path.contains("..");
        if !plain {
            return Err(format!(
                "import `{path}` is not allowed: imports name a module under scripts/lib or strategies/lib \
                 by a relative path such as \"pairs_math\" (no absolute paths, no `..`)"
            ));
        }
        let file = if path.ends_with(".rhai") {
            path.to_owned()
        } else {
            format!("{path}.rhai")
        };
        self.roots
            .iter()
            .map(|root| root.join(&file))
            .find(|candidate| candidate.is_file())
            .ok_or_else(|| format!("no module `{path}` in scripts/lib or strategies/lib"))
    }
}

impl ModuleResolver for SandboxResolver {
    fn resolve(
        &self,
        engine: &Engine,
        _source: Option<&str>,
        path: &str,
        position: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        let not_found = |message: String| {
            Box::new(EvalAltResult::ErrorInModule(
                path.into(),
                EvalAltResult::ErrorRuntime(message.into(), position).into(),
                position,
            ))
        };
        let file = self.locate(path).map_err(not_found)?;
        let source = std::fs::read_to_string(&file)
            .map_err(|error| not_found(format!("cannot read {}: {error}", file.display())))?;
        let mut ast = engine.compile(&source).map_err(|error| {
            Box::new(EvalAltResult::ErrorInModule(
                path.into(),
                error.into(),
                position,
            ))
        })?;
        ast.set_source(file.display().to_string());
        let module = Module::eval_ast_as_new(Scope::new(), &ast, engine).map_err(|error| {
            Box::new(EvalAltResult::ErrorInModule(path.into(), error, position))
        })?;
        Ok(module.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_from_the_library_folders_are_refused() {
        let resolver = SandboxResolver::new(vec![PathBuf::from("/project/scripts/lib")]);
        for path in [
            "/etc/passwd",
            "../secrets",
            "lib/../../x",
            "",
            "a\\b",
            "~/x",
        ] {
            let error = resolver.locate(path).expect_err(path);
            assert!(error.contains("not allowed"), "{path}: {error}");
        }
        assert!(
            resolver
                .locate("missing_module")
                .expect_err("absent")
                .contains("no module")
        );
    }
}
