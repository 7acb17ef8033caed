//! Where template files come from: the shipped `templates/` tree, embedded in the binary, so
//! an installed binary runs from any directory; `templates.dir`, when it exists, overrides
//! it file by file (same relative path) and may add files.
//!
//! Template files are the `.hbs` templates and partials and the `.schema.json` sidecars
//! declaring their variables ([`super::schema`]); other files are ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use include_dir::{Dir, include_dir};

use super::{TemplateError, is_template_file, template_files};

/// The shipped templates, compiled in.
static SHIPPED: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// The label embedded files are shown under in errors and [`super::Rendered::file`].
pub const EMBEDDED: &str = "<embedded>";

/// One template file (a `.hbs` or `.schema.json`) to load or check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateFile {
    /// Its path inside the tree, e.g. `default/en/message.hbs` (decides its key).
    pub relative: PathBuf,
    /// Where it came from, for messages: the file on disk, or `<embedded>/<relative>`.
    pub origin: PathBuf,
    /// Its text.
    pub source: String,
}

/// The shipped template files, sorted by relative path.
pub fn embedded() -> Vec<TemplateFile> {
    let mut out = Vec::new();
    let mut stack = vec![&SHIPPED];
    while let Some(dir) = stack.pop() {
        stack.extend(dir.dirs());
        for file in dir.files() {
            let relative = file.path().to_path_buf();
            if !is_template_file(&relative) {
                continue;
            }
            // The shipped files are UTF-8 (a test loads them all); a broken one is skipped
            // here and reported by the loader as unknown.
            if let Some(source) = file.contents_utf8() {
                out.push(TemplateFile {
                    origin: Path::new(EMBEDDED).join(&relative),
                    relative,
                    source: source.to_owned(),
                });
            }
        }
    }
    out.sort_by(|a, b| a.relative.cmp(&b.relative));
    out
}

/// Every template file under `dir`, read, sorted by relative path.
pub fn from_dir(dir: &Path) -> Result<Vec<TemplateFile>, TemplateError> {
    template_files(dir)?
        .into_iter()
        .map(|path| {
            let source = std::fs::read_to_string(&path).map_err(|source| TemplateError::Io {
                path: path.clone(),
                source,
            })?;
            Ok(TemplateFile {
                relative: path.strip_prefix(dir).unwrap_or(&path).to_path_buf(),
                origin: path,
                source,
            })
        })
        .collect()
}

/// The embedded files, each replaced by the file of the same relative path under `dir`, plus
/// `dir`'s other files. A `dir` that does not exist leaves the embedded set as it is.
pub fn merged(dir: &Path) -> Result<Vec<TemplateFile>, TemplateError> {
    let overrides = if dir.is_dir() {
        from_dir(dir)?
    } else {
        Vec::new()
    };
    tracing::info!(dir = %dir.display(), overrides = overrides.len(),
        "Templates: the embedded defaults, overridden by the files of templates.dir (when it exists).");
    Ok(overlay(embedded(), overrides))
}

/// `base` with each file replaced by the one of `over` at the same relative path, plus the
/// rest of `over`; sorted by relative path.
pub fn overlay(base: Vec<TemplateFile>, over: Vec<TemplateFile>) -> Vec<TemplateFile> {
    let mut files: BTreeMap<PathBuf, TemplateFile> = base
        .into_iter()
        .map(|file| (file.relative.clone(), file))
        .collect();
    for file in over {
        files.insert(file.relative.clone(), file);
    }
    files.into_values().collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::path::Path;

    use super::{EMBEDDED, embedded, merged};

    #[test]
    fn the_shipped_tree_is_embedded() {
        let files = embedded();
        let on_disk = super::from_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("templates"));
        assert_eq!(
            files.len(),
            on_disk.unwrap().len(),
            "every shipped file, as UTF-8"
        );
        assert!(crate::templates::check::check_files(&files).is_empty());
        crate::templates::TemplateEngine::load_files(files.clone()).unwrap();
        let request = files
            .iter()
            .find(|f| f.relative == Path::new("default/en/payment_request.hbs"))
            .unwrap();
        assert!(request.source.contains("{{pay_url}}"));
        assert!(request.origin.starts_with(EMBEDDED));
        assert!(files.iter().any(|f| f.relative.starts_with("email")));
    }

    #[test]
    fn a_dir_overrides_file_by_file_and_a_missing_dir_changes_nothing() {
        assert_eq!(
            merged(Path::new("/nonexistent/templates")).unwrap(),
            embedded()
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("default/en")).unwrap();
        std::fs::write(dir.path().join("default/en/message.hbs"), "mine: {{text}}").unwrap();
        std::fs::write(dir.path().join("default/en/extra.hbs"), "extra").unwrap();
        let files = merged(dir.path()).unwrap();
        assert_eq!(files.len(), embedded().len() + 1);
        let message = files
            .iter()
            .find(|f| f.relative == Path::new("default/en/message.hbs"))
            .unwrap();
        assert_eq!(message.source, "mine: {{text}}");
        assert_eq!(message.origin, dir.path().join("default/en/message.hbs"));
        let request = files
            .iter()
            .find(|f| f.relative == Path::new("default/en/payment_request.hbs"))
            .unwrap();
        assert!(
            request.origin.starts_with(EMBEDDED),
            "not overridden: embedded"
        );
    }
}
