//! Tests of the engine, the fallback chain, the money helper and `check_dir`.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::check::check_dir;
use super::*;

fn write(dir: &Path, relative: &str, body: &str) {
    let path = dir.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
}

/// A tree with one template per step of the chain, each saying where it lives.
fn chain_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for key in [
        "webchat/pt-BR",
        "webchat/pt",
        "default/pt-BR",
        "default/pt",
        "default/en",
    ] {
        write(dir.path(), &format!("{key}/step.hbs"), key);
    }
    dir
}

#[test]
fn fallback_chain_each_step() {
    let dir = chain_tree();
    let render = |engine: &TemplateEngine| {
        engine
            .render("webchat", "pt-BR", "step", &json!({}))
            .unwrap()
            .text
    };
    let order = [
        "webchat/pt-BR",
        "webchat/pt",
        "default/pt-BR",
        "default/pt",
        "default/en",
    ];
    for (i, expected) in order.iter().enumerate() {
        let engine = TemplateEngine::load(dir.path()).unwrap();
        assert_eq!(render(&engine), *expected, "step {i}");
        std::fs::remove_file(dir.path().join(format!("{expected}/step.hbs"))).unwrap();
    }
    let engine = TemplateEngine::load(dir.path()).unwrap();
    let err = engine
        .render("webchat", "pt-BR", "step", &json!({}))
        .unwrap_err();
    match &err {
        TemplateError::UnknownTemplate { name, tried } => {
            assert_eq!(name, "step");
            assert_eq!(tried.len(), 5);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        err.to_string()
            .contains("webchat/pt-BR/step, webchat/pt/step"),
        "{err}"
    );
}

#[test]
fn rendered_names_the_file_and_locale() {
    let dir = chain_tree();
    let engine = TemplateEngine::load(dir.path()).unwrap();
    let r = engine
        .render("telegram", "de-AT", "step", &json!(null))
        .unwrap();
    assert_eq!(r.template, "default/en/step");
    assert_eq!(r.file, dir.path().join("default/en/step.hbs"));
    assert_eq!(r.locale, "en");
    assert!(!r.html);
    let engine = engine.with_default_locale("pt");
    let r = engine
        .render("telegram", "de-AT", "step", &json!({}))
        .unwrap();
    assert_eq!(r.template, "default/pt/step");
}

#[test]
fn strict_mode_missing_variable_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "default/en/hello.hbs",
        "Hello\n{{customer.name}}!",
    );
    let engine = TemplateEngine::load(dir.path()).unwrap();
    let err = engine
        .render("webchat", "en", "hello", &json!({"customer": {}}))
        .unwrap_err();
    match err {
        TemplateError::MissingVariable {
            template, variable, ..
        } => {
            assert_eq!(template, "default/en/hello");
            assert!(variable.contains("name"), "{variable}");
        }
        other => panic!("unexpected {other:?}"),
    }
    let ok = engine.render(
        "webchat",
        "en",
        "hello",
        &json!({"customer": {"name": "Ana"}}),
    );
    assert_eq!(ok.unwrap().text, "Hello\nAna!");
    let err = engine
        .render("webchat", "en", "hello", &json!([1]))
        .unwrap_err();
    assert!(matches!(err, TemplateError::InvalidData));
}

#[test]
fn escaping_is_decided_by_extension() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "default/en/note.hbs", "{{text}}");
    write(
        dir.path(),
        "email/en/note.html.hbs",
        "<p>{{text}}</p>{{> sig}}",
    );
    write(dir.path(), "partials/sig.hbs", "<i>{{text}}</i>");
    let engine = TemplateEngine::load(dir.path()).unwrap();
    let data = json!({"text": "<b>Tom & Jerry</b>"});
    let plain = engine.render("webchat", "en", "note", &data).unwrap();
    assert_eq!(plain.text, "<b>Tom & Jerry</b>");
    let html = engine.render("email", "en", "note.html", &data).unwrap();
    assert!(html.html);
    assert_eq!(
        html.text,
        "<p>&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;</p><i>&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;</i>"
    );
}

#[test]
fn money_helper_uses_the_template_locale() {
    let dir = tempfile::tempdir().unwrap();
    let body = "{{money total currency}}|{{money total currency locale=\"en\"}}";
    write(dir.path(), "default/en/pay.hbs", body);
    write(dir.path(), "default/de/pay.hbs", body);
    let engine = TemplateEngine::load(dir.path()).unwrap();
    let data = json!({"total": 123456, "currency": "EUR"});
    let de = engine.render("webchat", "de-AT", "pay", &data).unwrap();
    assert_eq!(de.text, "1.234,56 €|€1,234.56");
    let en = engine.render(
        "webchat",
        "fr",
        "pay",
        &json!({"total": -1200, "currency": "USD"}),
    );
    assert_eq!(en.unwrap().text, "-$12.00|-$12.00");
    let jpy = engine.render(
        "webchat",
        "en",
        "pay",
        &json!({"total": 1200, "currency": "JPY"}),
    );
    assert_eq!(jpy.unwrap().text, "¥1,200|¥1,200");
    let kwd = engine.render(
        "webchat",
        "en",
        "pay",
        &json!({"total": 1500, "currency": "KWD"}),
    );
    assert_eq!(kwd.unwrap().text, "KWD 1.500|KWD 1.500");
}

#[test]
fn money_helper_rejects_unknown_currency_and_floats() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "default/en/pay.hbs", "{{money total currency}}");
    let engine = TemplateEngine::load(dir.path()).unwrap();
    let err = engine.render("x", "en", "pay", &json!({"total": 1, "currency": "XYZ"}));
    let err = err.unwrap_err();
    assert!(matches!(err, TemplateError::Render { .. }), "{err:?}");
    assert!(err.to_string().contains("unknown currency"), "{err}");
    let err = engine.render("x", "en", "pay", &json!({"total": 1.5, "currency": "USD"}));
    assert!(err.unwrap_err().to_string().contains("integer"));
}

#[test]
fn load_fails_on_syntax_and_placement() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "default/en/bad.hbs",
        "one\ntwo\n{{#if x}}three\n",
    );
    let err = TemplateEngine::load(dir.path()).unwrap_err();
    assert!(matches!(err, TemplateError::Syntax { .. }), "{err:?}");
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "default/message.hbs", "x");
    let err = TemplateEngine::load(dir.path()).unwrap_err();
    assert!(matches!(err, TemplateError::Misplaced { .. }), "{err:?}");
}

#[test]
fn check_reports_syntax_error_with_line() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "default/en/broken.hbs",
        "line one\nline two\nline {{three =}} four\nfive\n",
    );
    write(dir.path(), "default/en/fine.hbs", "{{text}}");
    let problems = check_dir(dir.path());
    assert_eq!(problems.len(), 1, "{problems:?}");
    let p = &problems[0];
    assert_eq!(p.file, dir.path().join("default/en/broken.hbs"));
    assert_eq!(p.line, Some(3));
    let shown = p.to_string();
    assert!(
        shown.starts_with(&format!("{}:3:", p.file.display())),
        "{shown}"
    );
}

#[test]
fn check_reports_unknown_helpers_with_line() {
    let dir = tempfile::tempdir().unwrap();
    let body = "Hi\n{{shout name}}\n{{#each items}}\n  {{money this.a \"USD\"}} {{whisper x}}\n\
                {{/each}}\n{{#loud}}x{{/loud}} {{len (upper name)}} {{name}}";
    write(dir.path(), "webchat/en/greet.hbs", body);
    let problems = check_dir(dir.path());
    let found: Vec<(String, Option<usize>)> = problems
        .iter()
        .map(|p| (p.message.clone(), p.line))
        .collect();
    assert_eq!(
        found,
        [
            ("unknown helper \"shout\"".to_owned(), Some(2)),
            ("unknown helper \"whisper\"".to_owned(), Some(4)),
            ("unknown helper \"loud\"".to_owned(), Some(6)),
            ("unknown helper \"upper\"".to_owned(), Some(6)),
        ]
    );
    assert!(
        problems[0].to_string().contains("greet.hbs:2:"),
        "{}",
        problems[0]
    );
}

#[test]
fn check_reports_misplaced_files() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "default/message.hbs", "{{text}}");
    write(dir.path(), "README.md", "not a template");
    let problems = check_dir(dir.path());
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].message.contains("misplaced"), "{}", problems[0]);
}

fn repo_templates() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("templates")
}

#[test]
fn repo_templates_are_clean_and_render() {
    assert_eq!(check_dir(&repo_templates()), []);
    let engine = TemplateEngine::load(&repo_templates()).unwrap();
    let data = json!({"text": "hola"});
    for locale in ["en", "es", "es-MX", "de"] {
        for name in ["message", "welcome"] {
            let r = engine.render("webchat", locale, name, &data).unwrap();
            assert!(!r.text.trim().is_empty(), "{locale}/{name}");
        }
    }
    let r = engine.render("webchat", "es-MX", "message", &data).unwrap();
    assert_eq!(
        (r.template.as_str(), r.text.as_str()),
        ("default/es/message", "hola\n")
    );
}

#[test]
fn engine_is_shareable_across_tasks() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<TemplateEngine>();
    assert_send_sync::<crate::config::Settings>();
}
