//! Dependencies point one way: `http` composes the other modules, never the reverse. This
//! scans the source tree (no build needed) and fails when a module below `http` imports it,
//! or when the shared helper leaf (`web`) or the renderer (`render`) imports `http` or
//! `payments`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

/// Modules (directories or files under `src/`) that must not import `crate::http`.
const BELOW_HTTP: &[&str] = &[
    "payments",
    "templates",
    "channels",
    "store",
    "bus",
    "outbox",
    "ingest.rs",
    "web",
    "render.rs",
];

/// Leaves both `http` and `payments` import: they import neither.
const LEAVES: &[&str] = &["web", "render.rs"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file at `path` (a file, or a directory walked recursively).
fn rust_files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_owned()];
    }
    let mut files = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            files.extend(rust_files(&entry));
        } else if entry.extension().is_some_and(|ext| ext == "rs") {
            files.push(entry);
        }
    }
    files
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Whether `line` names the crate module `module`: `crate::module` (then `::`, `;`, `,`,
/// `}`, a space or the end, not a longer name like `crate::https`), or `module` inside a
/// `crate::{…}` group on that line.
fn mentions(line: &str, module: &str) -> bool {
    let path = format!("crate::{module}");
    let direct = line.match_indices(&path).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + path.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    });
    let grouped = line.match_indices("crate::{").any(|(at, _)| {
        let group = &line[at + "crate::{".len()..];
        let group = group.split('}').next().unwrap_or(group);
        group
            .split(|c: char| !is_ident(c))
            .any(|word| word == module)
    });
    direct || grouped
}

/// Every line under `roots` that names `module` (as `file:line: text`), and how many files
/// were scanned.
fn offenders(roots: &[&str], module: &str) -> (Vec<String>, usize) {
    let mut found = Vec::new();
    let mut scanned = 0;
    for root in roots {
        let path = src().join(root);
        assert!(path.exists(), "{} does not exist", path.display());
        for file in rust_files(&path) {
            scanned += 1;
            let text = std::fs::read_to_string(&file).unwrap();
            for (number, line) in text.lines().enumerate() {
                if mentions(line, module) {
                    found.push(format!(
                        "{}:{}: {}",
                        file.strip_prefix(src()).unwrap().display(),
                        number + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    (found, scanned)
}

#[test]
fn the_matcher_finds_every_form_of_import() {
    assert!(mentions("use crate::http::AppState;", "http"));
    assert!(mentions("use crate::http;", "http"));
    assert!(mentions(
        "    body = crate::http::problem::Problem)),",
        "http"
    ));
    assert!(mentions("use crate::{config, http::AppState};", "http"));
    assert!(mentions("use crate::{http};", "http"));
    assert!(!mentions("use crate::https::Thing;", "http"));
    assert!(!mentions("use axum::http::HeaderMap;", "http"));
    assert!(!mentions("use crate::web::problem::ApiError;", "http"));
    assert!(!mentions("use crate::{web, payments_x};", "payments"));
}

#[test]
fn no_module_below_http_imports_http() {
    let (found, scanned) = offenders(BELOW_HTTP, "http");
    assert!(scanned > 50, "only {scanned} files scanned");
    assert!(
        found.is_empty(),
        "these lines import crate::http from a module http composes (dependencies must point \
         one way; move the shared piece to crate::web, crate::render or the module itself):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_shared_leaves_import_neither_http_nor_payments() {
    for module in ["http", "payments"] {
        let (found, scanned) = offenders(LEAVES, module);
        assert!(scanned >= 4, "only {scanned} files scanned");
        assert!(
            found.is_empty(),
            "the leaf modules import crate::{module}:\n{}",
            found.join("\n")
        );
    }
}

/// Adapter crates the bridge may name only in its list of built-in factories
/// (`src/channels/builtin.rs`); the web chat's crate also in `src/http/webchat.rs`, which hosts
/// its socket. Everything else reaches channels through the factory registry, so a new kind
/// touches no bridge file.
const ADAPTERS: &[&str] = &[
    "omnibridge_whatsapp",
    "omnibridge_email",
    "omnibridge_telegram",
    "omnibridge_http_channel",
    "omnibridge_webchat",
];

#[test]
fn no_bridge_module_but_the_builtin_list_names_a_channel_kind() {
    let allowed = |file: &Path, adapter: &str| {
        file.ends_with("channels/builtin.rs")
            || (adapter == "omnibridge_webchat" && file.ends_with("http/webchat.rs"))
    };
    let mut offences = Vec::new();
    for file in rust_files(&src()) {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            for adapter in ADAPTERS {
                if line.contains(adapter) && !allowed(&file, adapter) {
                    offences.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
            // A `match` on a channel's kind by its name.
            let quoted_kind = [
                "\"whatsapp\" =>",
                "\"email\" =>",
                "\"telegram\" =>",
                "\"http\" =>",
            ];
            if quoted_kind.iter().any(|k| line.contains(k)) {
                offences.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        offences.is_empty(),
        "channel kinds named outside the factory registry:\n{}",
        offences.join("\n")
    );
}
