//! The template studio: a browser page at `/studio` where support leads edit, preview, save,
//! publish and roll back message templates through `/v1/templates`.
//!
//! The page is plain files under `studio/` (HTML, JavaScript, CSS and the vendored CodeMirror
//! 5 editor), compiled into the binary with `include_dir!`: nothing is built at serve time and
//! an installed binary needs no files beside it. `GET /studio` answers the page and
//! `GET /studio/assets/{*file}` any other file of the tree, with its content type, an `ETag`
//! (revalidated on every load with `Cache-Control: no-cache`) and [`CONTENT_SECURITY_POLICY`]:
//! the page runs no inline script, talks only to its own origin and cannot be framed. The API
//! key the page asks for stays in the tab's `sessionStorage` and is sent as a bearer token.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use include_dir::{Dir, include_dir};
use sha2::{Digest, Sha256};

use crate::web::problem::ApiError;

/// The studio's files, compiled in (`build.rs` reruns the build when one is added).
static FILES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/studio");

/// The page's file in [`FILES`].
const PAGE: &str = "index.html";

/// The policy every studio response carries. Scripts, styles, fonts and images come from this
/// origin only and no inline script runs; requests go to this origin only (`connect-src`);
/// nothing may frame the studio. Two allowances serve the email preview, an `<iframe sandbox>`
/// whose `srcdoc` is the rendered HTML and which inherits this policy: inline `style`
/// attributes (email HTML is styled that way) and `data:` images. The sandbox runs no script
/// in it whatever the HTML holds, and the page itself never builds markup from data.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; style-src-attr 'unsafe-inline'; img-src 'self' data:; font-src 'self'; \
     connect-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// The studio's routes, for any server state.
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/studio", get(page))
        .route("/studio/assets/{*file}", get(asset))
}

/// `GET /studio`: the page.
async fn page(headers: HeaderMap) -> Result<Response, ApiError> {
    serve(PAGE, &headers)
}

/// `GET /studio/assets/{*file}`: a script, stylesheet or vendored file of the page.
async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    serve(&file, &headers)
}

/// Answers `file` of [`FILES`] (404 for anything not there or of an unknown type), or 304
/// when the browser's copy is current.
fn serve(file: &str, headers: &HeaderMap) -> Result<Response, ApiError> {
    let missing = || ApiError::not_found("not_found", "no such studio file");
    if file
        .split('/')
        .any(|segment| segment.is_empty() || segment.starts_with('.'))
    {
        return Err(missing());
    }
    let content_type = content_type(file).ok_or_else(missing)?;
    let contents = FILES.get_file(file).ok_or_else(missing)?.contents();
    let etag = ETAGS.get(file).ok_or_else(missing)?;
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|tag| tag.trim() == etag.as_str()));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = contents.into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        response
    };
    let response_headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(etag) {
        response_headers.insert(header::ETAG, value);
    }
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::CACHE_CONTROL, "no-cache"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        response_headers.insert(name, HeaderValue::from_static(value));
    }
    Ok(response)
}

/// The `Content-Type` of a studio file by its name; `None` for a type the studio does not serve.
fn content_type(file: &str) -> Option<&'static str> {
    let name = file.rsplit('/').next().unwrap_or(file);
    if name == "LICENSE" {
        return Some("text/plain; charset=utf-8");
    }
    Some(match name.rsplit_once('.')?.1 {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "md" | "txt" => "text/plain; charset=utf-8",
        _ => return None,
    })
}

/// A strong `ETag` per file (a hash of its contents), computed on first use.
static ETAGS: LazyLock<HashMap<String, String>> = LazyLock::new(|| {
    let mut tags = HashMap::new();
    let mut stack = vec![&FILES];
    while let Some(dir) = stack.pop() {
        stack.extend(dir.dirs());
        for file in dir.files() {
            let Some(path) = file.path().to_str() else {
                continue;
            };
            let digest = Sha256::digest(file.contents());
            let tag = format!("\"{}\"", hex::encode(&digest[..12]));
            tags.insert(path.replace('\\', "/"), tag);
        }
    }
    tags
});

/// The file table, the path checks, revalidation and the headers.
#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// Each file is served with a type, and the page loads only files that are embedded.
    #[test]
    fn every_embedded_file_has_a_type_and_the_page_names_only_embedded_assets() {
        for path in ETAGS.keys() {
            assert!(content_type(path).is_some(), "{path} has no content type");
        }
        let page = FILES.get_file(PAGE).unwrap().contents_utf8().unwrap();
        let mut referenced = 0;
        for attribute in ["src=\"", "href=\""] {
            for rest in page.split(attribute).skip(1) {
                let target = rest.split('"').next().unwrap();
                if let Some(file) = target.strip_prefix("/studio/assets/") {
                    assert!(ETAGS.contains_key(file), "{target} is not embedded");
                    referenced += 1;
                }
            }
        }
        assert!(referenced >= 8, "the page loads its scripts and styles");
        assert!(!page.contains("<script>"), "no inline script");
        assert!(!page.contains(" style=\""), "no inline style");
    }

    /// `..`, hidden, empty and unknown paths and unknown types are 404.
    #[test]
    fn paths_outside_the_tree_and_unknown_types_are_refused() {
        let headers = HeaderMap::new();
        for bad in [
            "../Cargo.toml",
            "vendor/../studio.js",
            ".hidden",
            "",
            "a//b.js",
            "nope.js",
        ] {
            let error = serve(bad, &headers).expect_err(bad);
            assert_eq!(error.status, StatusCode::NOT_FOUND, "{bad}");
        }
        assert_eq!(content_type("x.exe"), None);
        assert_eq!(
            content_type("vendor/codemirror-5.65.21/LICENSE"),
            Some("text/plain; charset=utf-8")
        );
    }

    /// `If-None-Match` with the current tag is 304; both answers carry the policy.
    #[test]
    fn a_current_copy_gets_304_and_every_answer_carries_the_policy() {
        let first = serve("studio.js", &HeaderMap::new()).unwrap();
        assert_eq!(first.status(), StatusCode::OK);
        assert_eq!(
            first.headers()[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        let etag = first.headers()[header::ETAG].clone();
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, etag);
        let again = serve("studio.js", &headers).unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        for response in [first, again] {
            assert_eq!(
                response.headers()[header::CONTENT_SECURITY_POLICY],
                CONTENT_SECURITY_POLICY
            );
        }
        assert!(CONTENT_SECURITY_POLICY.contains("script-src 'self';"));
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-eval"));
    }
}
