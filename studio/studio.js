// The template studio: edit, preview, save, publish and roll back message templates through
// the bridge's /v1/templates API. Served by the bridge at /studio under a strict
// Content-Security-Policy: no inline script, no markup built from data (text nodes only),
// requests to this origin only. The API key lives in this tab's sessionStorage.
(function () {
  "use strict";

  /** sessionStorage slot of the API key. */
  var KEY_SLOT = "omnibridge.studio.api_key";
  /** Milliseconds of quiet typing before the preview is asked for. */
  var PREVIEW_DEBOUNCE_MS = 300;
  /** The parts the studio offers, in tab order, with their labels. */
  var KNOWN_PARTS = [
    ["", "Main"],
    ["subject", "Subject"],
    ["txt", "Text"],
    ["html", "HTML"]
  ];
  /** The preview channels, in tab order. */
  var CHANNELS = ["webchat", "whatsapp", "telegram", "email"];

  var state = {
    key: null,
    templates: [],
    /** The open template: {channel, locale, name, detail, docs: {part: Doc}, base: {part: text}}. */
    current: null,
    part: "",
    /** Lint problems of the editor's (unsaved) parts, from the latest preview or save. */
    problems: [],
    versions: [],
    previewSeq: 0,
    previewTimer: null,
    /** Whether the user edited the sample data (then it is sent with every preview). */
    dataTouched: false,
    settingData: false,
    /** Sample data per template, kept while the tab lives. */
    samples: {},
    dirty: false
  };

  var sourceEditor = null;
  var dataEditor = null;

  function $(id) {
    return document.getElementById(id);
  }

  /** Builds an element with attributes/properties and children (strings become text). */
  function el(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) {
        var value = attrs[name];
        if (value === null || value === undefined || value === false) return;
        if (name === "text") node.textContent = value;
        else if (name === "className") node.className = value;
        else node.setAttribute(name, value === true ? "" : String(value));
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function partLabel(part) {
    for (var i = 0; i < KNOWN_PARTS.length; i++) {
      if (KNOWN_PARTS[i][0] === part) return KNOWN_PARTS[i][1];
    }
    return part;
  }

  function partOrder(part) {
    for (var i = 0; i < KNOWN_PARTS.length; i++) {
      if (KNOWN_PARTS[i][0] === part) return i;
    }
    return KNOWN_PARTS.length;
  }

  function templatePath(t) {
    return "/v1/templates/" + [t.channel, t.locale, t.name].map(encodeURIComponent).join("/");
  }

  function templateId(t) {
    return t.channel + "/" + t.locale + "/" + t.name;
  }

  function formatTime(value) {
    if (!value) return "";
    var date = new Date(value);
    return isNaN(date.getTime()) ? String(value) : date.toLocaleString();
  }

  // ---------------------------------------------------------------- API

  /** An API answer that was not a success. */
  function ApiFailure(status, code, detail, body) {
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.body = body;
  }

  /** What to tell the user about an API failure. */
  function describe(error) {
    if (!(error instanceof ApiFailure)) return String(error && error.message ? error.message : error);
    if (error.status === 0) return error.detail;
    var what = error.detail || (error.body && error.body.title) || "the request failed";
    if (error.status === 404 && error.code === "not_found") {
      what = "this bridge does not offer it (yet)";
    } else if (error.status === 405) {
      what = "this bridge does not offer it (yet)";
    }
    return what + " (HTTP " + error.status + (error.code ? ", " + error.code : "") + ")";
  }

  /** Calls the API with the key; 401 and 403 insufficient_scope send the user back to the key form. */
  function api(method, path, body) {
    var headers = { Accept: "application/json, application/problem+json" };
    if (state.key) headers.Authorization = "Bearer " + state.key;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(path, {
      method: method,
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit"
    }).then(
      function (response) {
        return response.text().then(function (text) {
          var json = null;
          if (text) {
            try {
              json = JSON.parse(text);
            } catch (_) {
              json = null;
            }
          }
          if (response.ok) return json;
          var code = json && typeof json.code === "string" ? json.code : "";
          var detail = json && typeof json.detail === "string" ? json.detail : "";
          var failure = new ApiFailure(response.status, code, detail, json);
          if (response.status === 401) {
            signOut("The bridge refused this key (HTTP 401). Enter the key again.");
          } else if (response.status === 403 && code === "insufficient_scope") {
            signOut("This key lacks the templates scope (HTTP 403). Use a key that has it.");
          }
          throw failure;
        });
      },
      function (error) {
        throw new ApiFailure(0, "network", "The bridge could not be reached: " + error.message, null);
      }
    );
  }

  // ---------------------------------------------------------------- key

  function showKeyPanel(message) {
    $("key-panel").hidden = false;
    $("studio").hidden = true;
    $("forget-key").hidden = true;
    $("key-state").textContent = "No API key";
    $("key-error").textContent = message || "";
    $("api-key").value = "";
    $("api-key").focus();
  }

  function showStudio() {
    $("key-panel").hidden = true;
    $("studio").hidden = false;
    $("forget-key").hidden = false;
    $("key-state").textContent = "Key kept for this tab";
    $("key-error").textContent = "";
  }

  function signOut(message) {
    try {
      sessionStorage.removeItem(KEY_SLOT);
    } catch (_) {
      /* storage disabled: nothing kept */
    }
    state.key = null;
    state.dirty = false;
    showKeyPanel(message);
  }

  function signIn(key) {
    state.key = key;
    return loadTemplates().then(
      function () {
        try {
          sessionStorage.setItem(KEY_SLOT, key);
        } catch (_) {
          /* storage disabled: the key lasts as long as the page */
        }
        showStudio();
        openFromHash();
      },
      function (error) {
        if (state.key) {
          state.key = null;
          showKeyPanel("Could not list the templates: " + describe(error));
        }
      }
    );
  }

  // ---------------------------------------------------------------- list

  function loadTemplates() {
    return api("GET", "/v1/templates").then(function (body) {
      state.templates = (body && body.data) || [];
      fillFilter($("filter-channel"), "All channels", state.templates.map(function (t) { return t.channel; }));
      fillFilter($("filter-locale"), "All locales", state.templates.map(function (t) { return t.locale; }));
      renderList();
    });
  }

  function fillFilter(select, allLabel, values) {
    var chosen = select.value;
    var unique = values.filter(function (v, i) { return values.indexOf(v) === i; }).sort();
    clear(select);
    select.appendChild(el("option", { value: "", text: allLabel }));
    unique.forEach(function (value) {
      select.appendChild(el("option", { value: value, text: value }));
    });
    select.value = unique.indexOf(chosen) >= 0 ? chosen : "";
  }

  function renderList() {
    var query = $("template-search").value.trim().toLowerCase();
    var channel = $("filter-channel").value;
    var locale = $("filter-locale").value;
    var list = $("template-list");
    clear(list);
    var shown = state.templates.filter(function (t) {
      if (channel && t.channel !== channel) return false;
      if (locale && t.locale !== locale) return false;
      if (!query) return true;
      return query.split(/\s+/).every(function (word) {
        return (t.name + " " + t.channel + " " + t.locale).toLowerCase().indexOf(word) >= 0;
      });
    });
    shown.forEach(function (t) {
      var open = state.current && templateId(state.current) === templateId(t);
      var badge = t.source === "store" ? "live v" + t.published_version : "file";
      var draft = t.latest_version && t.latest_version !== t.published_version ? " · draft v" + t.latest_version : "";
      list.appendChild(
        el("li", null,
          el("button", {
            type: "button",
            className: "template-item" + (open ? " open" : ""),
            "data-testid": "template-item",
            "data-channel": t.channel,
            "data-locale": t.locale,
            "data-name": t.name,
            "aria-current": open ? "true" : null
          },
            el("span", { className: "name", text: t.name }),
            el("span", { className: "where", text: t.channel + " · " + t.locale }),
            el("span", { className: "badge " + t.source, text: badge + draft })
          )
        )
      );
    });
    $("list-count").textContent = shown.length + " of " + state.templates.length + " templates";
  }

  // ---------------------------------------------------------------- open

  function openFromHash() {
    var match = /^#t=([^/]+)\/([^/]+)\/([^/]+)$/.exec(location.hash);
    if (!match) return;
    openTemplate({
      channel: decodeURIComponent(match[1]),
      locale: decodeURIComponent(match[2]),
      name: decodeURIComponent(match[3])
    });
  }

  function openTemplate(t) {
    if (state.dirty && !window.confirm("Discard the unsaved changes to " + templateId(state.current) + "?")) {
      return Promise.resolve();
    }
    return api("GET", templatePath(t)).then(
      function (detail) {
        var key = { channel: detail.channel, locale: detail.locale, name: detail.name };
        var parts = detail.draft ? detail.draft.parts : detail.parts;
        var docs = {};
        Object.keys(parts || {}).forEach(function (part) {
          docs[part] = CodeMirror.Doc(parts[part], "handlebars");
        });
        if (!Object.keys(docs).length) docs[""] = CodeMirror.Doc("", "handlebars");
        state.current = { channel: key.channel, locale: key.locale, name: key.name, detail: detail, docs: docs, base: copy(parts) };
        state.problems = [];
        state.versions = [];
        state.dirty = false;
        history.replaceState(null, "", "#t=" + [key.channel, key.locale, key.name].map(encodeURIComponent).join("/"));
        $("empty-state").hidden = true;
        $("editor-area").hidden = false;
        $("template-title").textContent = key.name + " (" + key.channel + " · " + key.locale + ")";
        setStatus(detail.draft ? "Editing the unpublished draft v" + detail.draft.version + "." : "");
        var first = Object.keys(docs).sort(function (a, b) { return partOrder(a) - partOrder(b); })[0];
        renderParts();
        selectPart(first);
        var id = templateId(key);
        state.dataTouched = Object.prototype.hasOwnProperty.call(state.samples, id);
        setData(state.dataTouched ? state.samples[id] : "{}");
        sourceEditor.refresh();
        dataEditor.refresh();
        clearPreviews("Rendering…");
        renderMeta();
        renderProblems();
        renderList();
        loadVersions();
        schedulePreview(0);
      },
      function (error) {
        setStatus("Could not open " + templateId(t) + ": " + describe(error), true);
      }
    );
  }

  function copy(parts) {
    var out = {};
    Object.keys(parts || {}).forEach(function (k) { out[k] = parts[k]; });
    return out;
  }

  /** Reloads the open template's detail (after a save, publish or rollback). */
  function reloadDetail() {
    var cur = state.current;
    if (!cur) return Promise.resolve();
    return api("GET", templatePath(cur)).then(function (detail) {
      if (state.current !== cur) return;
      cur.detail = detail;
      renderMeta();
    });
  }

  function renderMeta() {
    var cur = state.current;
    if (!cur) return;
    var d = cur.detail;
    var bits = [];
    if (d.published) {
      bits.push("Live: v" + d.published.version + " (published by " + d.published.published_by + ", " + formatTime(d.published.published_at) + ")");
    } else {
      bits.push("Live: the shipped file (no published version)");
    }
    if (d.draft) bits.push("Draft: v" + d.draft.version + " by " + d.draft.author + " (not published)");
    $("template-meta").textContent = bits.join(" · ");
    updatePublish();
  }

  // ---------------------------------------------------------------- parts

  function sortedParts() {
    return Object.keys(state.current.docs).sort(function (a, b) {
      return partOrder(a) - partOrder(b) || (a < b ? -1 : a > b ? 1 : 0);
    });
  }

  function renderParts() {
    var tabs = $("part-tabs");
    clear(tabs);
    sortedParts().forEach(function (part) {
      var errors = state.problems.filter(function (p) { return p.part === part && p.severity === "error"; }).length;
      var selected = part === state.part;
      tabs.appendChild(
        el("button", {
          type: "button",
          role: "tab",
          id: "part-tab-" + (part || "main"),
          "data-part": part,
          "data-testid": "part-tab",
          "aria-selected": selected ? "true" : "false",
          "aria-controls": "source-editor",
          tabindex: selected ? "0" : "-1",
          className: errors ? "has-errors" : null,
          text: partLabel(part) + (errors ? " (" + errors + ")" : "")
        })
      );
    });
    var add = $("add-part");
    clear(add);
    add.appendChild(el("option", { value: "", text: "+ part" }));
    KNOWN_PARTS.forEach(function (known) {
      if (!Object.prototype.hasOwnProperty.call(state.current.docs, known[0])) {
        add.appendChild(el("option", { value: known[0] || "main", text: known[1] }));
      }
    });
    add.disabled = add.options.length <= 1;
  }

  function selectPart(part) {
    var cur = state.current;
    if (!cur || !Object.prototype.hasOwnProperty.call(cur.docs, part)) return;
    state.part = part;
    sourceEditor.swapDoc(cur.docs[part]);
    sourceEditor.setOption("screenReaderLabel", "Template source, part " + partLabel(part));
    renderParts();
    sourceEditor.performLint();
  }

  /** The editor's parts; emptied parts are left out (saving drops them). */
  function currentParts() {
    var out = {};
    var docs = state.current.docs;
    Object.keys(docs).forEach(function (part) {
      var text = docs[part].getValue();
      if (text.trim() !== "") out[part] = text;
    });
    return out;
  }

  function updateDirty() {
    var cur = state.current;
    if (!cur) return;
    var now = currentParts();
    var base = {};
    Object.keys(cur.base).forEach(function (k) {
      if (cur.base[k].trim() !== "") base[k] = cur.base[k];
    });
    state.dirty = JSON.stringify(sortObject(now)) !== JSON.stringify(sortObject(base));
    $("dirty").hidden = !state.dirty;
  }

  function sortObject(object) {
    var out = {};
    Object.keys(object).sort().forEach(function (k) { out[k] = object[k]; });
    return out;
  }

  // ---------------------------------------------------------------- sample data

  function setData(text) {
    state.settingData = true;
    dataEditor.setValue(text);
    state.settingData = false;
    dataEditor.performLint();
  }

  /** The sample data as an object, or `undefined` when it is not a JSON object. */
  function readData() {
    try {
      var value = JSON.parse(dataEditor.getValue() || "{}");
      return value && typeof value === "object" && !Array.isArray(value) ? value : undefined;
    } catch (_) {
      return undefined;
    }
  }

  function dataAnnotations(text, options, cm) {
    try {
      var value = JSON.parse(text || "{}");
      if (!value || typeof value !== "object" || Array.isArray(value)) {
        return [{ from: CodeMirror.Pos(0, 0), to: CodeMirror.Pos(0, 1), message: "The sample data must be a JSON object.", severity: "error" }];
      }
      return [];
    } catch (error) {
      var at = /position (\d+)/.exec(error.message);
      var pos = at ? cm.posFromIndex(Number(at[1])) : CodeMirror.Pos(cm.lastLine(), 0);
      return [{ from: pos, to: CodeMirror.Pos(pos.line, pos.ch + 1), message: error.message, severity: "error" }];
    }
  }

  // ---------------------------------------------------------------- lint problems

  function sourceAnnotations(text, options, cm) {
    var part = state.part;
    return state.problems
      .filter(function (p) { return p.part === part; })
      .map(function (p) {
        var line = Math.min(Math.max((p.line || 1) - 1, 0), cm.lastLine());
        var length = cm.getLine(line).length;
        var ch = Math.min(Math.max((p.column || 1) - 1, 0), length);
        var from = CodeMirror.Pos(line, p.column > 1 ? ch : 0);
        var to = CodeMirror.Pos(line, Math.max(length, from.ch + 1));
        return { from: from, to: to, message: p.message + " [" + p.code + "]", severity: p.severity === "error" ? "error" : "warning" };
      });
  }

  function setProblems(problems) {
    state.problems = Array.isArray(problems) ? problems : [];
    renderProblems();
    renderParts();
    sourceEditor.performLint();
    updatePublish();
  }

  function hasErrors() {
    return state.problems.some(function (p) { return p.severity === "error"; });
  }

  function renderProblems() {
    var list = $("problems");
    clear(list);
    if (!state.problems.length) {
      list.appendChild(el("li", { className: "none", text: "No problems found." }));
      return;
    }
    state.problems.forEach(function (p) {
      var item = el("li", { className: "problem " + p.severity, "data-testid": "problem" },
        el("button", { type: "button", className: "link" },
          el("span", { className: "severity", text: p.severity }),
          " " + partLabel(p.part) + " " + p.line + ":" + p.column + " — " + p.message
        )
      );
      item.firstChild.addEventListener("click", function () {
        selectPart(p.part);
        var pos = CodeMirror.Pos(Math.max(p.line - 1, 0), Math.max(p.column - 1, 0));
        sourceEditor.setCursor(pos);
        sourceEditor.focus();
      });
      list.appendChild(item);
    });
  }

  // ---------------------------------------------------------------- preview

  function schedulePreview(delay) {
    clearTimeout(state.previewTimer);
    state.previewTimer = setTimeout(runPreview, delay === undefined ? PREVIEW_DEBOUNCE_MS : delay);
  }

  function runPreview() {
    var cur = state.current;
    if (!cur) return;
    var seq = ++state.previewSeq;
    var parts = currentParts();
    if (!Object.keys(parts).length) {
      $("preview-state").textContent = "Nothing to preview: every part is empty.";
      return;
    }
    var body = { parts: parts };
    if (state.dataTouched) {
      var data = readData();
      if (data === undefined) {
        $("preview-state").textContent = "The sample data is not a JSON object; the preview waits for it.";
        return;
      }
      body.data = data;
    }
    $("preview-state").textContent = "Rendering…";
    api("POST", templatePath(cur) + "/preview", body).then(
      function (answer) {
        if (seq !== state.previewSeq || cur !== state.current) return;
        $("preview-error").hidden = true;
        $("preview-state").textContent = "Up to date";
        if (!state.dataTouched && answer && answer.sample_data && typeof answer.sample_data === "object") {
          var text = JSON.stringify(answer.sample_data, null, 2);
          if (dataEditor.getValue() !== text) setData(text);
        }
        renderPreviews((answer && answer.previews) || []);
        setProblems((answer && answer.problems) || []);
      },
      function (error) {
        if (seq !== state.previewSeq || cur !== state.current) return;
        $("preview-state").textContent = "Not updated";
        var box = $("preview-error");
        box.textContent = "Preview unavailable: " + describe(error);
        box.hidden = false;
        CHANNELS.forEach(function (channel) {
          var panel = $("preview-" + channel);
          if (panel.getAttribute("data-rendered") === "true") {
            panel.classList.add("stale");
          } else {
            clear(panel);
            panel.appendChild(el("p", { className: "muted", text: "No preview." }));
          }
        });
        if (error && error.body && Array.isArray(error.body.problems)) setProblems(error.body.problems);
      }
    );
  }

  function clearPreviews(text) {
    CHANNELS.forEach(function (channel) {
      var panel = $("preview-" + channel);
      clear(panel);
      panel.classList.remove("stale");
      panel.removeAttribute("data-rendered");
      panel.appendChild(el("p", { className: "muted", text: text }));
    });
    $("preview-error").hidden = true;
  }

  function renderPreviews(previews) {
    CHANNELS.forEach(function (channel) {
      var panel = $("preview-" + channel);
      clear(panel);
      panel.classList.remove("stale");
      panel.setAttribute("data-rendered", "true");
      var preview = previews.filter(function (p) { return p.channel === channel; })[0];
      if (!preview) {
        panel.appendChild(el("p", { className: "muted", text: "No preview for this channel." }));
        return;
      }
      if (preview.error) {
        panel.appendChild(el("p", { className: "error", "data-testid": "render-error", text: "Render error: " + preview.error }));
      }
      if (preview.whatsapp_outside_window) {
        panel.appendChild(
          el("p", { className: "note", "data-testid": "outside-window" },
            el("strong", { text: "Outside the 24-hour window: " }),
            preview.whatsapp_outside_window
          )
        );
      }
      if (channel === "email") {
        renderEmail(panel, preview.email);
      } else {
        var thread = el("div", { className: "thread", role: "list", "aria-label": "Messages" });
        (preview.messages || []).forEach(function (message) {
          thread.appendChild(renderBubble(message));
        });
        if (!thread.childNodes.length && !preview.error) {
          thread.appendChild(el("p", { className: "muted", text: "No message." }));
        }
        panel.appendChild(thread);
      }
    });
  }

  function renderBubble(message) {
    var bubble = el("div", { className: "bubble", role: "listitem", "data-testid": "bubble" },
      el("p", { className: "text", text: message.text || "" })
    );
    var buttons = Array.isArray(message.buttons) ? message.buttons : [];
    if (!buttons.length) return bubble;
    var as = message.buttons_as || "buttons";
    if (as === "numbered_text") {
      bubble.appendChild(
        el("p", { className: "numbered", "data-testid": "buttons-numbered",
          text: buttons.map(function (b, i) { return (i + 1) + ". " + b.label; }).join("\n") })
      );
    } else if (as === "list") {
      var rows = el("ul", { className: "list-rows", "aria-label": "List options" });
      buttons.forEach(function (b) {
        rows.appendChild(el("li", { text: b.label }));
      });
      bubble.appendChild(
        el("div", { className: "list-button", "data-testid": "buttons-list" },
          el("span", { className: "list-open", text: "☰ Options" }),
          rows
        )
      );
    } else {
      var row = el("ul", { className: "chat-buttons", "aria-label": "Buttons", "data-testid": "buttons" });
      buttons.forEach(function (b) {
        row.appendChild(el("li", null, el("span", { className: "chat-button", text: b.label })));
      });
      bubble.appendChild(row);
    }
    return bubble;
  }

  function renderEmail(panel, email) {
    if (!email) {
      panel.appendChild(el("p", { className: "muted", text: "This template renders no email." }));
      return;
    }
    panel.appendChild(
      el("dl", { className: "email-head" },
        el("dt", { text: "Subject" }),
        el("dd", { "data-testid": "email-subject", text: email.subject || "(none)" })
      )
    );
    if (email.html) {
      panel.appendChild(el("h4", { text: "HTML" }));
      var frame = el("iframe", {
        title: "Email HTML preview",
        sandbox: "",
        referrerpolicy: "no-referrer",
        className: "email-html",
        "data-testid": "email-html"
      });
      frame.srcdoc = email.html;
      panel.appendChild(frame);
    }
    panel.appendChild(el("h4", { text: "Plain text" }));
    panel.appendChild(el("pre", { className: "email-text", "data-testid": "email-text", text: email.text || "" }));
  }

  // ---------------------------------------------------------------- tabs

  function selectPreviewTab(channel) {
    CHANNELS.forEach(function (c) {
      var tab = $("tab-" + c);
      var on = c === channel;
      tab.setAttribute("aria-selected", on ? "true" : "false");
      tab.tabIndex = on ? 0 : -1;
      $("preview-" + c).hidden = !on;
    });
  }

  /** Arrow keys move between the tabs of a tablist (and select them). */
  function arrowKeys(list, choose) {
    list.addEventListener("keydown", function (event) {
      if (event.key !== "ArrowLeft" && event.key !== "ArrowRight" && event.key !== "Home" && event.key !== "End") return;
      var tabs = Array.prototype.slice.call(list.querySelectorAll("[role=tab]"));
      var at = tabs.indexOf(document.activeElement);
      if (at < 0) return;
      var next = event.key === "Home" ? 0 : event.key === "End" ? tabs.length - 1
        : (at + (event.key === "ArrowRight" ? 1 : -1) + tabs.length) % tabs.length;
      event.preventDefault();
      choose(tabs[next]);
      tabs[next].focus();
    });
  }

  // ---------------------------------------------------------------- save, publish, history

  function setStatus(text, isError) {
    var status = $("status");
    status.textContent = text;
    status.classList.toggle("error", !!isError);
  }

  function newestSaved() {
    var d = state.current && state.current.detail;
    if (!d) return null;
    if (d.draft) return d.draft.version;
    return d.published ? d.published.version : null;
  }

  function updatePublish() {
    var button = $("publish");
    var note = $("publish-note");
    var d = state.current && state.current.detail;
    if (!d) return;
    if (hasErrors()) {
      button.disabled = true;
      button.textContent = "Publish";
      note.textContent = "Fix the errors before publishing.";
    } else if (d.draft) {
      button.disabled = false;
      button.textContent = "Publish v" + d.draft.version;
      note.textContent = "Publishing makes saved v" + d.draft.version + " live" + (state.dirty ? " (not your unsaved changes: save them first)." : ".");
    } else {
      button.disabled = true;
      button.textContent = "Publish";
      note.textContent = d.published ? "v" + d.published.version + " is live; save a new version to publish." : "Save a version to publish it.";
    }
    var saved = newestSaved();
    $("test-send-note").textContent = saved
      ? "Sends saved v" + saved + " with the sample data."
      : "Sends the live template (the file) with the sample data.";
  }

  function openSaveDialog() {
    if (!state.current) return;
    if (!Object.keys(currentParts()).length) {
      setStatus("Nothing to save: every part is empty.", true);
      return;
    }
    $("version-message").value = "";
    $("save-dialog").showModal();
    $("version-message").focus();
  }

  function saveVersion(message) {
    var cur = state.current;
    var parts = currentParts();
    setStatus("Saving…");
    return api("POST", templatePath(cur) + "/versions", { parts: parts, message: message }).then(
      function (answer) {
        if (cur !== state.current) return;
        var version = answer && answer.version ? answer.version.version : "?";
        cur.base = copy(parts);
        updateDirty();
        setProblems((answer && answer.problems) || []);
        var warnings = state.problems.length;
        setStatus("Saved v" + version + (warnings ? " with " + warnings + " warning(s)." : ". Publish it to make it live."));
        return Promise.all([reloadDetail(), loadVersions(), loadTemplates()]);
      },
      function (error) {
        if (cur !== state.current) return;
        if (error.code === "lint_failed" && error.body && Array.isArray(error.body.problems)) {
          setProblems(error.body.problems);
          var count = error.body.problems.filter(function (p) { return p.severity === "error"; }).length;
          setStatus("Not saved: " + count + " error(s). See the problems below.", true);
        } else {
          setStatus("Not saved: " + describe(error), true);
        }
      }
    );
  }

  function makeLive(action, version) {
    var cur = state.current;
    var target = version === 0 ? "the file" : "v" + version;
    setStatus(action === "publish" ? "Publishing v" + version + "…" : "Rolling back to " + target + "…");
    return api("POST", templatePath(cur) + "/" + action, { version: version }).then(
      function () {
        if (cur !== state.current) return;
        setStatus(action === "publish" ? "Published v" + version + ": it is live." : "Rolled back: " + target + " is live.");
        return Promise.all([reloadDetail(), loadVersions(), loadTemplates()]);
      },
      function (error) {
        if (cur !== state.current) return;
        if (error.code === "lint_failed" && error.body && Array.isArray(error.body.problems)) {
          setStatus("v" + version + " no longer passes lint; nothing changed. " + error.body.problems.map(function (p) {
            return partLabel(p.part) + " " + p.line + ":" + p.column + " " + p.message;
          }).join("; "), true);
        } else {
          setStatus("Could not " + (action === "publish" ? "publish" : "roll back") + ": " + describe(error), true);
        }
      }
    );
  }

  function loadVersions() {
    var cur = state.current;
    if (!cur) return Promise.resolve();
    return api("GET", templatePath(cur) + "/versions").then(
      function (answer) {
        if (cur !== state.current) return;
        state.versions = (answer && answer.data) || [];
        renderHistory();
      },
      function (error) {
        if (cur !== state.current) return;
        var list = $("history-list");
        clear(list);
        list.appendChild(el("li", { className: "error", text: "Could not load the history: " + describe(error) }));
      }
    );
  }

  function renderHistory() {
    var list = $("history-list");
    clear(list);
    if (!state.versions.length) {
      list.appendChild(el("li", { className: "muted", text: "No saved version yet: the shipped file is live." }));
      return;
    }
    var live = null;
    state.versions.forEach(function (v) {
      if (v.published) live = v.version;
    });
    state.versions.forEach(function (v) {
      var head = el("div", { className: "version-head" },
        el("strong", { text: "v" + v.version }),
        v.published ? el("span", { className: "badge store", "data-testid": "live-badge", text: "live" }) : null,
        el("span", { className: "what", text: v.message || "(no message)" }),
        el("span", { className: "muted", text: "by " + v.author + ", " + formatTime(v.created_at) })
      );
      var actions = el("div", { className: "version-actions" });
      var load = el("button", { type: "button", "data-testid": "load-version", text: "Load into editor" });
      load.addEventListener("click", function () { loadVersionIntoEditor(v); });
      actions.appendChild(load);
      if (!v.published) {
        // Older than the live version: a rollback; newer (or nothing live yet): a publication.
        var back = live !== null && v.version < live;
        var make = el("button", {
          type: "button",
          className: back ? "rollback" : "publish-version",
          "data-testid": back ? "rollback" : "publish-version",
          "data-version": v.version,
          text: (back ? "Roll back to v" : "Publish v") + v.version
        });
        make.addEventListener("click", function () { makeLive(back ? "rollback" : "publish", v.version); });
        actions.appendChild(make);
      }
      var diffs = el("div", { className: "diffs" });
      Object.keys(v.diff || {}).sort(function (a, b) { return partOrder(a) - partOrder(b); }).forEach(function (part) {
        diffs.appendChild(el("h4", { text: partLabel(part) }));
        diffs.appendChild(renderDiff(v.diff[part]));
      });
      if (!diffs.childNodes.length) diffs.appendChild(el("p", { className: "muted", text: "No change to the previous version." }));
      list.appendChild(el("li", { className: "version", "data-testid": "version", "data-version": v.version, value: v.version }, head, diffs, actions));
    });
    // A stored version is live and the template has a reviewed file: offer to go back to it
    // (the versions stay stored).
    var detail = state.current && state.current.detail;
    var hasFile = detail && detail.file_parts && Object.keys(detail.file_parts).length > 0;
    if (live !== null && hasFile) {
      var toFile = el("button", { type: "button", className: "rollback", "data-testid": "rollback-to-file", text: "Back to the file" });
      toFile.addEventListener("click", function () { makeLive("rollback", 0); });
      list.appendChild(el("li", { className: "version", "data-testid": "file-version", value: 0 },
        el("div", { className: "version-head" }, el("strong", { text: "File" }),
          el("span", { className: "muted", text: "the reviewed default under templates/" })),
        el("div", { className: "version-actions" }, toFile)));
    }
  }

  function renderDiff(text) {
    var pre = el("pre", { className: "diff", "data-testid": "diff" });
    String(text || "").split("\n").forEach(function (line, i, all) {
      if (i === all.length - 1 && line === "") return;
      var kind = "ctx";
      if (line.indexOf("+++") === 0 || line.indexOf("---") === 0) kind = "file";
      else if (line.indexOf("@@") === 0) kind = "hunk";
      else if (line.charAt(0) === "+") kind = "add";
      else if (line.charAt(0) === "-") kind = "del";
      pre.appendChild(el("span", { className: "line " + kind, text: line + "\n" }));
    });
    return pre;
  }

  function loadVersionIntoEditor(v) {
    var cur = state.current;
    if (state.dirty && !window.confirm("Replace the unsaved changes with v" + v.version + "?")) return;
    Object.keys(cur.docs).forEach(function (part) {
      if (!Object.prototype.hasOwnProperty.call(v.parts, part)) cur.docs[part].setValue("");
    });
    Object.keys(v.parts).forEach(function (part) {
      if (cur.docs[part]) cur.docs[part].setValue(v.parts[part]);
      else cur.docs[part] = CodeMirror.Doc(v.parts[part], "handlebars");
    });
    renderParts();
    selectPart(Object.prototype.hasOwnProperty.call(v.parts, state.part) ? state.part : sortedParts()[0]);
    updateDirty();
    updatePublish();
    setStatus("Loaded v" + v.version + " into the editor; save it to make a new version from it.");
    schedulePreview(0);
  }

  function testSend() {
    var cur = state.current;
    var conversation = $("test-conversation").value.trim();
    if (!cur || !conversation) return;
    var body = { conversation_id: conversation };
    var data = readData();
    if (data !== undefined && state.dataTouched) body.data = data;
    else if (data !== undefined && Object.keys(data).length) body.data = data;
    var saved = newestSaved();
    if (saved) body.version = saved;
    setStatus("Sending a test…");
    api("POST", templatePath(cur) + "/test-send", body).then(
      function (answer) {
        setStatus("Test message queued: " + (answer && answer.outbound_id ? answer.outbound_id : "?") + " (" + (answer && answer.status ? answer.status : "queued") + ").");
      },
      function (error) {
        setStatus("Test send failed: " + describe(error), true);
      }
    );
  }

  // ---------------------------------------------------------------- start

  function start() {
    sourceEditor = CodeMirror($("source-editor"), {
      value: "",
      mode: "handlebars",
      lineNumbers: true,
      lineWrapping: true,
      gutters: ["CodeMirror-lint-markers", "CodeMirror-linenumbers"],
      lint: { getAnnotations: sourceAnnotations, lintOnChange: false },
      screenReaderLabel: "Template source"
    });
    dataEditor = CodeMirror($("data-editor"), {
      value: "{}",
      mode: null,
      lineNumbers: true,
      lineWrapping: true,
      gutters: ["CodeMirror-lint-markers", "CodeMirror-linenumbers"],
      lint: { getAnnotations: dataAnnotations, delay: 200 },
      screenReaderLabel: "Sample data as JSON"
    });
    sourceEditor.on("changes", function () {
      updateDirty();
      updatePublish();
      schedulePreview();
    });
    dataEditor.on("changes", function () {
      if (state.settingData || !state.current) return;
      state.dataTouched = true;
      state.samples[templateId(state.current)] = dataEditor.getValue();
      schedulePreview();
    });

    $("key-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var key = $("api-key").value.trim();
      if (!key) return;
      $("key-error").textContent = "Checking the key…";
      signIn(key);
    });
    $("forget-key").addEventListener("click", function () {
      if (state.dirty && !window.confirm("Forget the key and discard the unsaved changes?")) return;
      state.current = null;
      $("editor-area").hidden = true;
      $("empty-state").hidden = false;
      history.replaceState(null, "", location.pathname);
      signOut("The key is forgotten.");
    });
    ["template-search", "filter-channel", "filter-locale"].forEach(function (id) {
      $(id).addEventListener("input", renderList);
    });
    $("template-list").addEventListener("click", function (event) {
      var button = event.target.closest ? event.target.closest("button.template-item") : null;
      if (!button) return;
      openTemplate({
        channel: button.getAttribute("data-channel"),
        locale: button.getAttribute("data-locale"),
        name: button.getAttribute("data-name")
      });
    });
    $("part-tabs").addEventListener("click", function (event) {
      var tab = event.target.closest ? event.target.closest("[role=tab]") : null;
      if (tab) selectPart(tab.getAttribute("data-part"));
    });
    arrowKeys($("part-tabs"), function (tab) { selectPart(tab.getAttribute("data-part")); });
    $("add-part").addEventListener("change", function () {
      var value = $("add-part").value;
      if (!value || !state.current) return;
      var part = value === "main" ? "" : value;
      state.current.docs[part] = CodeMirror.Doc("", "handlebars");
      selectPart(part);
      sourceEditor.focus();
    });
    $("preview-tabs").addEventListener("click", function (event) {
      var tab = event.target.closest ? event.target.closest("[role=tab]") : null;
      if (tab) selectPreviewTab(tab.getAttribute("data-channel"));
    });
    arrowKeys($("preview-tabs"), function (tab) { selectPreviewTab(tab.getAttribute("data-channel")); });

    $("save-version").addEventListener("click", openSaveDialog);
    $("save-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var message = $("version-message").value.trim();
      if (!message) {
        $("version-message").focus();
        return;
      }
      $("save-dialog").close();
      saveVersion(message);
    });
    $("save-cancel").addEventListener("click", function () { $("save-dialog").close(); });
    $("publish").addEventListener("click", function () {
      var d = state.current && state.current.detail;
      if (!d || !d.draft || hasErrors()) return;
      makeLive("publish", d.draft.version);
    });
    $("show-history").addEventListener("click", function () {
      var section = $("history");
      section.hidden = !section.hidden;
      $("show-history").setAttribute("aria-expanded", section.hidden ? "false" : "true");
      if (!section.hidden) {
        loadVersions();
        section.scrollIntoView({ block: "start" });
      }
    });
    $("test-send-form").addEventListener("submit", function (event) {
      event.preventDefault();
      testSend();
    });
    window.addEventListener("beforeunload", function (event) {
      if (state.dirty) {
        event.preventDefault();
        event.returnValue = "";
      }
    });
    window.addEventListener("hashchange", function () {
      if (state.key) openFromHash();
    });

    var kept = null;
    try {
      kept = sessionStorage.getItem(KEY_SLOT);
    } catch (_) {
      kept = null;
    }
    if (kept) {
      signIn(kept);
    } else {
      showKeyPanel("");
    }
    document.documentElement.setAttribute("data-ready", "true");
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
