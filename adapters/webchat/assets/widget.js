/*! omnibridge web-chat widget. No dependencies, no build step.
 * Embed: <script src="/webchat/widget.js" data-ws="/webchat/ws"></script>
 * Renders inline into #omnibridge-chat when the page has it, else as a floating panel.
 * Protocol: see adapters/webchat/README.md. Untrusted text only ever goes through textContent.
 */
(function () {
  "use strict";
  if (window.OmnibridgeChat) return;

  var script = document.currentScript;
  var base = (script && script.src) || window.location.href;
  var wsPath = (script && script.getAttribute("data-ws")) || "/webchat/ws";
  var storeKey = "omnibridge.webchat:" + new URL(wsPath, base).href;

  var ws = null;
  var attempt = 0;
  var pingTimer = null;
  var retryTimer = null;
  var lastSeq = 0;
  var seen = {};
  var pending = [];
  var session = null;
  var conversationId = null;
  var els = {};

  function load() {
    try { return window.localStorage.getItem(storeKey); } catch (e) { return null; }
  }
  function save(token) {
    try {
      if (token) window.localStorage.setItem(storeKey, token);
      else window.localStorage.removeItem(storeKey);
    } catch (e) { /* storage disabled: the session lasts as long as the page */ }
  }

  function newId() {
    if (window.crypto && window.crypto.randomUUID) return "c-" + window.crypto.randomUUID();
    return "c-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 12);
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text != null) node.textContent = String(text);
    return node;
  }

  var css =
    "#ob-chat{font:14px/1.4 system-ui,sans-serif;display:flex;flex-direction:column;" +
    "border:1px solid #ccd;border-radius:8px;background:#fff;color:#222;height:420px;" +
    "box-sizing:border-box;overflow:hidden}" +
    "#ob-chat.ob-floating{position:fixed;right:16px;bottom:16px;width:320px;z-index:2147483000;" +
    "box-shadow:0 4px 16px rgba(0,0,0,.2)}" +
    "#ob-chat.ob-collapsed{height:auto}#ob-chat.ob-collapsed>:not(.ob-head){display:none}" +
    ".ob-head{display:flex;justify-content:space-between;align-items:center;padding:8px 12px;" +
    "background:#24346b;color:#fff;cursor:default;border:0;font:inherit;text-align:left}" +
    ".ob-dot{width:8px;height:8px;border-radius:50%;background:#c33}" +
    "#ob-chat[data-state=open] .ob-dot{background:#3c3}" +
    "#ob-chat[data-state=connecting] .ob-dot{background:#db3}" +
    "#ob-messages{flex:1;overflow-y:auto;padding:8px;display:flex;flex-direction:column;gap:6px}" +
    ".ob-msg{max-width:80%;padding:6px 10px;border-radius:10px;white-space:pre-wrap;" +
    "overflow-wrap:anywhere}" +
    ".ob-in{align-self:flex-start;background:#eef}.ob-out{align-self:flex-end;background:#24346b;" +
    "color:#fff}.ob-pending{opacity:.6}" +
    ".ob-buttons{display:flex;flex-wrap:wrap;gap:4px;margin-top:6px}" +
    ".ob-action{font:inherit;border:1px solid #24346b;background:#fff;color:#24346b;" +
    "border-radius:6px;padding:3px 8px;cursor:pointer}" +
    ".ob-form{display:flex;gap:6px;padding:8px;border-top:1px solid #ccd}" +
    "#ob-input{flex:1;resize:none;font:inherit;padding:6px;border:1px solid #ccd;border-radius:6px}" +
    "#ob-send{font:inherit;border:0;border-radius:6px;background:#24346b;color:#fff;padding:0 12px}";

  function render() {
    var host = document.getElementById("omnibridge-chat");
    var root = el("div", { id: "ob-chat", "data-state": "closed", role: "region",
      "aria-label": "Chat" });
    var head = el("div", { "class": "ob-head" });
    head.appendChild(el("span", {}, "Chat with us"));
    head.appendChild(el("span", { "class": "ob-dot", title: "connection" }));
    var list = el("div", { id: "ob-messages", "aria-live": "polite" });
    var form = el("div", { "class": "ob-form" });
    var input = el("textarea", { id: "ob-input", rows: "1", maxlength: "4096",
      placeholder: "Write a message…", "aria-label": "Message" });
    var send = el("button", { id: "ob-send", type: "button" }, "Send");
    form.appendChild(input);
    form.appendChild(send);
    root.appendChild(el("style", {}, css));
    root.appendChild(head);
    root.appendChild(list);
    root.appendChild(form);
    if (!host) {
      root.className = "ob-floating";
      head.style.cursor = "pointer";
      head.addEventListener("click", function () { root.classList.toggle("ob-collapsed"); });
    }
    (host || document.body).appendChild(root);
    send.addEventListener("click", submit);
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); submit(); }
    });
    els = { root: root, list: list, input: input };
  }

  function setState(state) { els.root.setAttribute("data-state", state); }

  function addBubble(dir, id, text) {
    var bubble = el("div", { "class": "ob-msg ob-" + dir, "data-id": id });
    bubble.appendChild(el("span", { "class": "ob-text" }, text));
    els.list.appendChild(bubble);
    els.list.scrollTop = els.list.scrollHeight;
    return bubble;
  }

  function safeUrl(url) {
    try {
      var u = new URL(url, window.location.href);
      return u.protocol === "https:" || u.protocol === "http:" ? u.href : null;
    } catch (e) { return null; }
  }

  function addButtons(bubble, buttons) {
    if (!buttons || !buttons.length) return;
    var row = el("div", { "class": "ob-buttons" });
    buttons.forEach(function (b) {
      var label = String(b.label || "");
      if (typeof b.payload === "string") {
        var pay = el("button", { type: "button", "class": "ob-action", "data-payload": b.payload },
          label);
        pay.addEventListener("click", function () { queue("action", b.payload, label); });
        row.appendChild(pay);
      } else if (typeof b.url === "string" && safeUrl(b.url)) {
        var link = el("button", { type: "button", "class": "ob-action ob-url",
          "data-url": safeUrl(b.url) }, label);
        link.addEventListener("click", function () {
          window.open(safeUrl(b.url), "_blank", "noopener,noreferrer");
        });
        row.appendChild(link);
      }
    });
    bubble.appendChild(row);
  }

  function transmit(frame) {
    if (ws && ws.readyState === WebSocket.OPEN && session) ws.send(JSON.stringify(frame));
  }

  function queue(type, value, label) {
    var id = newId();
    var frame = type === "message"
      ? { type: "message", text: value, client_msg_id: id }
      : { type: "action", payload: value, label: label, client_msg_id: id };
    pending.push(frame);
    addBubble("out", id, type === "message" ? value : label).classList.add("ob-pending");
    transmit(frame);
  }

  function submit() {
    var text = els.input.value;
    if (!text.trim()) return;
    els.input.value = "";
    queue("message", text);
  }

  function onFrame(frame) {
    switch (frame.type) {
      case "welcome":
        session = frame.session;
        conversationId = frame.conversation_id || null;
        save(frame.token);
        attempt = 0;
        setState("open");
        els.root.setAttribute("data-session", session);
        pending.forEach(transmit);
        window.dispatchEvent(new CustomEvent("omnibridge:welcome",
          { detail: { session: session, conversation_id: conversationId } }));
        break;
      case "message":
        var dupe = seen[frame.id] || (typeof frame.seq === "number" && seen["#" + frame.seq]);
        if (typeof frame.seq === "number") {
          seen["#" + frame.seq] = true;
          if (frame.seq > lastSeq) lastSeq = frame.seq;
        }
        if (dupe || typeof frame.id !== "string") break;
        seen[frame.id] = true;
        addButtons(addBubble("in", frame.id, frame.text || ""), frame.buttons);
        break;
      case "ack":
        pending = pending.filter(function (f) { return f.client_msg_id !== frame.client_msg_id; });
        Array.prototype.forEach.call(els.list.querySelectorAll(".ob-out.ob-pending"), function (b) {
          if (b.getAttribute("data-id") === frame.client_msg_id) b.classList.remove("ob-pending");
        });
        break;
      case "error":
        if (frame.code === "unauthorized") save(null);
        if (window.console) window.console.warn("omnibridge chat:", frame.code, frame.message);
        break;
      default:
        break;
    }
  }

  function connect() {
    clearTimeout(retryTimer);
    if (ws && ws.readyState <= WebSocket.OPEN) return;
    var url = new URL(wsPath, base);
    url.protocol = url.protocol === "https:" ? "wss:" : url.protocol === "http:" ? "ws:"
      : url.protocol;
    var token = load();
    if (token) url.searchParams.set("token", token);
    if (lastSeq > 0) url.searchParams.set("after", String(lastSeq));
    setState("connecting");
    session = null;
    var sock = new WebSocket(url.href);
    ws = sock;
    sock.onmessage = function (e) {
      var frame;
      try { frame = JSON.parse(e.data); } catch (err) { return; }
      if (frame && typeof frame === "object") onFrame(frame);
    };
    sock.onopen = function () {
      pingTimer = setInterval(function () { transmit({ type: "ping" }); }, 25000);
    };
    sock.onclose = function () {
      if (ws !== sock) return;
      clearInterval(pingTimer);
      ws = null;
      session = null;
      setState("closed");
      var delay = Math.min(30000, 500 * Math.pow(2, attempt)) * (0.75 + Math.random() / 2);
      attempt += 1;
      retryTimer = setTimeout(connect, delay);
    };
  }

  function start() {
    render();
    connect();
    window.addEventListener("online", function () { if (!ws) { attempt = 0; connect(); } });
  }

  window.OmnibridgeChat = {
    state: function () { return els.root ? els.root.getAttribute("data-state") : "closed"; },
    session: function () { return session; },
    conversationId: function () { return conversationId; },
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
