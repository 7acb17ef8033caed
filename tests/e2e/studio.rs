//! The template studio in a real browser: headless Chromium (through ChromeDriver) opens
//! `/studio` under its Content-Security-Policy, signs in with an API key, edits
//! `default/es/payment_request`, watches the channel previews follow the typing, is refused a
//! version that does not compile (problems listed and marked in the editor), saves, publishes,
//! rolls back from the history, and the API and a rendered message agree at each step.
//! Screenshots of the studio go under `target/tmp/studio-screenshots/`.

use std::path::PathBuf;
use std::time::Duration;

use fantoccini::Locator;
use fantoccini::elements::Element;
use serde_json::{Value, json};

use crate::browser::Browser;
use crate::helpers::{API_KEY, TestApp, spawn_app_with};
use crate::visitor::Visitor;

/// The support lead's key: the `templates` scope only.
const STUDIO_KEY: &str = "studio-templates-only-key";

const TEMPLATE: &str = "/v1/templates/default/es/payment_request";
/// What the test types at the start of the main part.
const EDIT: &str = "STUDIO-EDIT ";
/// How soon the previews must show an edit (the page waits ~300 ms of quiet, then asks).
const PREVIEW_WITHIN: Duration = Duration::from_secs(1);

/// Where the screenshots go: kept after the run, printed.
fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("studio-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(browser: &Browser, name: &str) {
    let png = browser.client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let path = screenshot_dir().join(name);
    std::fs::write(&path, png).unwrap();
    println!("studio screenshot: {}", path.display());
}

async fn find(browser: &Browser, css: &str) -> Element {
    browser
        .client
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
}

async fn click(browser: &Browser, css: &str) {
    find(browser, css).await.click().await.unwrap();
}

/// Polls `selector` for an element whose text contains `text` until `within` has passed.
async fn text_within(browser: &Browser, selector: &str, text: &str, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Ok(elements) = browser.client.find_all(Locator::Css(selector)).await {
            for element in elements {
                if element.text().await.is_ok_and(|t| t.contains(text)) {
                    return true;
                }
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The text of the first element matching `css`, read again when the page re-rendered it
/// between finding and reading (the lint list and previews follow the typing).
async fn text_of(browser: &Browser, css: &str) -> String {
    for _ in 0..20 {
        if let Ok(text) = find(browser, css).await.text().await {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{css} kept being replaced");
}

/// Types into the source editor (CodeMirror's input textarea) at its cursor.
async fn type_in_editor(browser: &Browser, keys: &str) {
    find(browser, "#source-editor .CodeMirror textarea")
        .await
        .send_keys(keys)
        .await
        .unwrap();
}

/// Saves a version through the dialog with `message`.
async fn save(browser: &Browser, message: &str) {
    click(browser, "#save-version").await;
    find(browser, "#version-message")
        .await
        .send_keys(message)
        .await
        .unwrap();
    click(browser, "#save-confirm").await;
}

async fn template(app: &TestApp) -> Value {
    let response = app.get(TEMPLATE).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Sends `payment_request` in Spanish to `conversation`; the text the channel got.
async fn rendered(app: &TestApp, conversation: &str) -> String {
    let before = app.channel.sent().len();
    let response = app
        .send_message(
            conversation,
            json!({"template": "payment_request", "locale": "es", "data": {
                "description": "Cena", "amount": 1250, "currency": "EUR",
                "pay_url": "https://pay.example/x"}}),
        )
        .await;
    assert_eq!(response.status(), 202, "{:?}", response.text().await);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let sent = app.channel.sent();
        if sent.len() > before {
            return sent[before].text.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "never sent");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Creates a Spanish payment intent on the visitor's web-chat conversation; the text of the
/// payment request the widget shows.
async fn intent_in_widget(app: &TestApp, visitor: &mut Visitor) -> String {
    let response = app
        .client
        .post(app.url("/v1/payment-intents"))
        .bearer_auth(API_KEY)
        .json(
            &json!({"conversation_id": visitor.conversation, "amount": 1250,
            "currency": "EUR", "description": "Cena", "locale": "es"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    let frame = visitor.next("message").await;
    frame["text"].as_str().unwrap_or_default().to_owned()
}

/// Whether the preview of `channel` shows `text` within [`PREVIEW_WITHIN`]; when not, why.
async fn preview_shows(browser: &Browser, channel: &str, text: &str) -> Result<(), String> {
    click(browser, &format!("#tab-{channel}")).await;
    let selector = format!("#preview-{channel} [data-testid=bubble]");
    if text_within(browser, &selector, text, PREVIEW_WITHIN).await {
        return Ok(());
    }
    let error = text_of(browser, "#preview-error").await;
    Err(format!(
        "the {channel} preview did not show {text:?} within {PREVIEW_WITHIN:?}; the page says: {error:?}"
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn studio_edits_previews_saves_publishes_and_rolls_back_in_chromium() {
    let app = spawn_app_with(|settings| {
        settings.api.keys.push(omnibridge::config::ApiKeyHash {
            name: "support-lead".into(),
            sha256: omnibridge::config::Sha256Hex::of(STUDIO_KEY.as_bytes()),
            scopes: omnibridge::config::Scope::Templates.into(),
            guardrails: None,
        });
    })
    .await;
    // A Spanish web-chat visitor: payment requests show in the widget.
    let mut visitor = Visitor::open(&app.base).await;
    visitor.say("hola").await;

    // The page and its assets: types, the policy, nothing outside the tree.
    let page = app.client.get(app.url("/studio")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    let directive = |name: &str| {
        csp.split(';')
            .map(str::trim)
            .find(|d| d.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no {name} in {csp}"))
            .to_owned()
    };
    assert_eq!(directive("default-src"), "default-src 'none'");
    assert_eq!(
        directive("script-src"),
        "script-src 'self'",
        "no inline script"
    );
    assert_eq!(directive("connect-src"), "connect-src 'self'");
    assert_eq!(directive("frame-ancestors"), "frame-ancestors 'none'");
    for (path, kind) in [
        ("/studio/assets/studio.js", "text/javascript; charset=utf-8"),
        ("/studio/assets/studio.css", "text/css; charset=utf-8"),
        (
            "/studio/assets/vendor/codemirror-5.65.21/lib/codemirror.js",
            "text/javascript; charset=utf-8",
        ),
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-type"], kind, "{path}");
        assert!(response.headers().contains_key("content-security-policy"));
    }
    for missing in [
        "/studio/assets/nope.js",
        "/studio/assets/vendor%2F..%2F..%2FCargo.toml",
    ] {
        let response = app.client.get(app.url(missing)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{missing}");
    }

    let conversation = app.conversation_from("studio-lead").await;
    let browser = Browser::start().await;
    browser.client.set_window_size(1440, 1000).await.unwrap();
    browser.client.goto(&app.url("/studio")).await.unwrap();

    // A wrong key is refused and asked for again; the right one opens the studio.
    find(&browser, "#api-key")
        .await
        .send_keys("not-the-key")
        .await
        .unwrap();
    click(&browser, "#key-submit").await;
    assert!(
        text_within(&browser, "#key-error", "401", Duration::from_secs(10)).await,
        "a refused key is reported: {:?}",
        text_of(&browser, "#key-error").await
    );
    find(&browser, "#api-key")
        .await
        .send_keys(STUDIO_KEY)
        .await
        .unwrap();
    click(&browser, "#key-submit").await;
    find(&browser, "[data-testid=template-item]").await;
    let kept = browser
        .client
        .execute(
            "return sessionStorage.getItem('omnibridge.studio.api_key')",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(kept, json!(STUDIO_KEY), "the key is kept for the tab");

    // Search narrows the list; open payment_request in Spanish.
    find(&browser, "#template-search")
        .await
        .send_keys("payment_request es")
        .await
        .unwrap();
    let items = browser
        .client
        .find_all(Locator::Css("[data-testid=template-item]"))
        .await
        .unwrap();
    assert!(!items.is_empty());
    for item in &items {
        assert_eq!(
            item.attr("data-name").await.unwrap().as_deref(),
            Some("payment_request")
        );
    }
    click(
        &browser,
        "[data-testid=template-item][data-channel=default][data-locale=es][data-name=payment_request]",
    )
    .await;
    assert!(
        text_within(
            &browser,
            "#source-editor .CodeMirror-code",
            "Paga de forma segura",
            Duration::from_secs(10)
        )
        .await,
        "the file's text is in the editor"
    );
    let ready = browser
        .client
        .execute("return document.documentElement.dataset.ready", vec![])
        .await
        .unwrap();
    assert_eq!(ready, json!("true"), "studio.js ran under the policy");
    let styled = browser
        .client
        .execute(
            "return getComputedStyle(document.querySelector('.top')).display + ' ' + \
             getComputedStyle(document.querySelector('.CodeMirror')).position",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        styled,
        json!("flex relative"),
        "studio.css and codemirror.css apply"
    );
    // From here on, anything the policy blocks is recorded.
    browser
        .client
        .execute(
            "window.__violations = [];\
             document.addEventListener('securitypolicyviolation', e =>\
               window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));",
            vec![],
        )
        .await
        .unwrap();

    // Typing shows in the previews within a second. Checked here, asserted at the end so the
    // rest of the flow runs even on a bridge without POST .../preview.
    type_in_editor(&browser, EDIT).await;
    let mut preview = preview_shows(&browser, "webchat", EDIT.trim()).await;
    if preview.is_ok() {
        preview = preview_shows(&browser, "whatsapp", EDIT.trim()).await;
    } else {
        // Without a preview the page says why instead of failing silently.
        assert!(
            text_within(
                &browser,
                "#preview-error",
                "Preview unavailable",
                Duration::from_secs(5)
            )
            .await,
            "a failed preview is explained"
        );
    }
    click(&browser, "#tab-webchat").await;
    assert!(find(&browser, "#dirty").await.is_displayed().await.unwrap());
    screenshot(&browser, "studio-editing.png").await;

    // An undeclared variable is refused: problems listed and marked, nothing to publish.
    type_in_editor(&browser, "{{nope}}").await;
    save(&browser, "broken on purpose").await;
    assert!(
        text_within(&browser, "#status", "Not saved", Duration::from_secs(10)).await,
        "{:?}",
        text_of(&browser, "#status").await
    );
    let problem = text_of(&browser, "[data-testid=problem]").await;
    assert!(
        problem.contains("ERROR") || problem.contains("error"),
        "{problem}"
    );
    // The gutter marks the line the problem names (`<severity> Main <line>:<column> — ...`).
    let line: usize = problem
        .split_whitespace()
        .nth(2)
        .and_then(|at| at.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a line in {problem:?}"));
    find(
        &browser,
        &format!(
            "#source-editor .CodeMirror-code > :nth-child({line}) .CodeMirror-lint-marker-error"
        ),
    )
    .await;
    assert!(!find(&browser, "#publish").await.is_enabled().await.unwrap());
    screenshot(&browser, "studio-lint-error.png").await;
    let stored: Value = app
        .get(&format!("{TEMPLATE}/versions"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stored["data"], json!([]), "nothing stored");

    // Fixed (the 12 characters removed), saved as v1, published: live through the API.
    type_in_editor(&browser, &"\u{E003}".repeat("{{nope}}".len())).await;
    save(&browser, "studio: new wording").await;
    assert!(
        text_within(&browser, "#status", "Saved v1", Duration::from_secs(10)).await,
        "{:?}",
        text_of(&browser, "#status").await
    );
    assert!(
        browser
            .client
            .find_all(Locator::Css("#source-editor .CodeMirror-lint-mark-error"))
            .await
            .unwrap()
            .is_empty(),
        "the marks go once it compiles"
    );
    let publish = find(&browser, "#publish").await;
    assert!(text_within(&browser, "#publish", "Publish v1", Duration::from_secs(10)).await);
    publish.click().await.unwrap();
    assert!(
        text_within(&browser, "#status", "Published v1", Duration::from_secs(10)).await,
        "{:?}",
        text_of(&browser, "#status").await
    );
    let live = template(&app).await;
    assert_eq!(live["source"], "store");
    assert_eq!(live["published"]["version"], 1);
    assert_eq!(live["published"]["published_by"], "support-lead");
    let main = live["parts"][""].as_str().unwrap();
    assert!(main.starts_with("STUDIO-EDIT {{description}}"), "{main}");
    assert!(
        rendered(&app, &conversation)
            .await
            .starts_with("STUDIO-EDIT Cena"),
        "the bridge renders the published version"
    );
    let shown = intent_in_widget(&app, &mut visitor).await;
    assert!(
        shown.starts_with("STUDIO-EDIT Cena"),
        "the widget shows: {shown}"
    );

    // A second version, published, then rolled back to v1 from the history.
    type_in_editor(&browser, "V2 ").await;
    save(&browser, "second wording").await;
    assert!(text_within(&browser, "#status", "Saved v2", Duration::from_secs(10)).await);
    assert!(text_within(&browser, "#publish", "Publish v2", Duration::from_secs(10)).await);
    click(&browser, "#publish").await;
    assert!(text_within(&browser, "#status", "Published v2", Duration::from_secs(10)).await);
    assert_eq!(template(&app).await["published"]["version"], 2);

    click(&browser, "#show-history").await;
    assert!(
        text_within(
            &browser,
            "[data-testid=version][data-version='2'] .diff .add",
            "+STUDIO-EDIT V2 {{description}}",
            Duration::from_secs(10)
        )
        .await,
        "the history shows v2's diff as + lines"
    );
    assert!(
        text_within(
            &browser,
            "[data-testid=version][data-version='2'] [data-testid=live-badge]",
            "live",
            Duration::from_secs(5)
        )
        .await
    );
    click(
        &browser,
        "[data-testid=version][data-version='1'] [data-testid=rollback]",
    )
    .await;
    assert!(
        text_within(
            &browser,
            "#status",
            "Rolled back: v1 is live",
            Duration::from_secs(10)
        )
        .await,
        "{:?}",
        text_of(&browser, "#status").await
    );
    let live = template(&app).await;
    assert_eq!(live["published"]["version"], 1);
    assert_eq!(live["draft"]["version"], 2);
    let text = rendered(&app, &conversation).await;
    assert!(text.starts_with("STUDIO-EDIT Cena"), "{text}");
    let shown = intent_in_widget(&app, &mut visitor).await;
    assert!(
        shown.starts_with("STUDIO-EDIT Cena") && !shown.contains("V2"),
        "after the rollback the widget shows the older text: {shown}"
    );
    assert!(
        text_within(
            &browser,
            "[data-testid=version][data-version='1'] [data-testid=live-badge]",
            "live",
            Duration::from_secs(10)
        )
        .await,
        "the history follows"
    );
    screenshot(&browser, "studio-history.png").await;

    // Back to the reviewed file: the versions stay, the widget shows the file's wording.
    click(&browser, "[data-testid=rollback-to-file]").await;
    assert!(
        text_within(
            &browser,
            "#status",
            "Rolled back: the file is live",
            Duration::from_secs(10)
        )
        .await,
        "{:?}",
        text_of(&browser, "#status").await
    );
    let live = template(&app).await;
    assert_eq!(live["source"], "file");
    assert_eq!(live["published"], Value::Null);
    let shown = intent_in_widget(&app, &mut visitor).await;
    assert!(
        !shown.contains("STUDIO-EDIT"),
        "the file's wording again: {shown}"
    );

    let violations = browser
        .client
        .execute("return window.__violations", vec![])
        .await
        .unwrap();
    assert_eq!(violations, json!([]), "nothing was blocked by the policy");

    // Readable on a phone: the panes stack.
    browser.client.set_window_size(390, 844).await.unwrap();
    browser
        .client
        .execute("window.scrollTo(0, 0)", vec![])
        .await
        .unwrap();
    let stacked = browser
        .client
        .execute(
            "const list = document.querySelector('.list-pane').getBoundingClientRect();\
             const work = document.querySelector('.work-pane').getBoundingClientRect();\
             return work.top >= list.bottom - 1 && work.width > 300;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(stacked, json!(true), "stacked panes under 800 px");
    screenshot(&browser, "studio-phone.png").await;

    // Forget the key: the form comes back and the tab keeps nothing.
    browser.client.set_window_size(1440, 1000).await.unwrap();
    click(&browser, "#forget-key").await;
    assert!(
        find(&browser, "#api-key")
            .await
            .is_displayed()
            .await
            .unwrap()
    );
    let kept = browser
        .client
        .execute("return sessionStorage.length", vec![])
        .await
        .unwrap();
    assert_eq!(kept, json!(0));

    browser.stop().await;
    app.stop().await;
    if let Err(why) = preview {
        panic!("{why} (everything else passed)");
    }
}
