// Drives assets/widget.js in node against a minimal fake DOM and a fake WebSocket.
// Run: node tests/widget_behaviour.js (tests/channel.rs runs it when node is installed).
"use strict";
const assert = require("assert");
const fs = require("fs");
const path = require("path");
const vm = require("vm");

class Element {
  constructor(tag) {
    this.tagName = tag.toUpperCase();
    this.attrs = {};
    this.children = [];
    this.listeners = {};
    this.style = {};
    this.text = "";
    this.scrollTop = 0;
    this.scrollHeight = 0;
    this.value = "";
  }
  setAttribute(k, v) { this.attrs[k] = String(v); }
  getAttribute(k) { return k in this.attrs ? this.attrs[k] : null; }
  get id() { return this.getAttribute("id"); }
  get className() { return this.getAttribute("class") || ""; }
  set className(v) { this.setAttribute("class", v); }
  get classList() {
    const el = this;
    const list = () => el.className.split(/\s+/).filter(Boolean);
    const set = (l) => el.setAttribute("class", l.join(" "));
    return {
      add: (c) => { if (!list().includes(c)) set(list().concat([c])); },
      remove: (c) => set(list().filter((x) => x !== c)),
      toggle: (c) => (list().includes(c) ? set(list().filter((x) => x !== c)) : set(list().concat([c]))),
      contains: (c) => list().includes(c),
    };
  }
  set textContent(v) { this.children = []; this.text = String(v); }
  get textContent() { return this.text + this.children.map((c) => c.textContent).join(""); }
  set innerHTML(v) { throw new Error("innerHTML used"); }
  appendChild(c) { this.children.push(c); c.parent = this; return c; }
  addEventListener(t, f) { (this.listeners[t] = this.listeners[t] || []).push(f); }
  fire(t, ev) { (this.listeners[t] || []).forEach((f) => f(ev || { preventDefault() {} })); }
  click() { this.fire("click"); }
  all() { return this.children.flatMap((c) => [c].concat(c.all())); }
  matches(sel) {
    const m = sel.match(/^([a-z]*)((?:\.[\w-]+)*)(?:\[([\w-]+)="([^"]*)"\])?$/);
    if (!m) throw new Error("unsupported selector " + sel);
    if (m[1] && this.tagName !== m[1].toUpperCase()) return false;
    const classes = m[2].split(".").filter(Boolean);
    if (!classes.every((c) => this.classList.contains(c))) return false;
    return !m[3] || this.getAttribute(m[3]) === m[4];
  }
  querySelectorAll(sel) { return this.all().filter((e) => e.matches(sel)); }
}

const body = new Element("body");
const storage = {};
const timers = [];
const sockets = [];
const events = [];
class FakeSocket {
  constructor(url) { this.url = url; this.readyState = 0; this.sent = []; sockets.push(this); }
  send(data) { this.sent.push(JSON.parse(data)); }
  open() { this.readyState = 1; this.onopen && this.onopen(); }
  receive(frame) { this.onmessage({ data: JSON.stringify(frame) }); }
  close() { this.readyState = 3; this.onclose && this.onclose(); }
}
FakeSocket.OPEN = 1;

const windowListeners = {};
const win = {
  location: { href: "https://shop.example/page" },
  localStorage: {
    getItem: (k) => (k in storage ? storage[k] : null),
    setItem: (k, v) => { storage[k] = String(v); },
    removeItem: (k) => { delete storage[k]; },
  },
  addEventListener: (t, f) => { (windowListeners[t] = windowListeners[t] || []).push(f); },
  dispatchEvent: (e) => { events.push(e); (windowListeners[e.type] || []).forEach((f) => f(e)); },
  crypto: globalThis.crypto,
  console: { warn() {} },
  open: () => {},
};
const document = {
  body,
  readyState: "complete",
  currentScript: { src: "https://chat.example/webchat/widget.js",
    getAttribute: (k) => (k === "data-ws" ? "/webchat/ws" : null) },
  createElement: (t) => new Element(t),
  getElementById: (id) => body.all().find((e) => e.id === id) || null,
  addEventListener: () => {},
};
const context = {
  window: win, document, WebSocket: FakeSocket, URL, JSON, Math, Date, Object, Array, String,
  CustomEvent: class { constructor(type, init) { this.type = type; this.detail = init.detail; } },
  setTimeout: (f, ms) => { timers.push({ f, ms }); return timers.length; },
  clearTimeout: () => {}, setInterval: () => 1, clearInterval: () => {},
};
win.window = win;
const inline = new Element("div");
inline.setAttribute("id", "omnibridge-chat");
body.appendChild(inline);

vm.runInNewContext(fs.readFileSync(path.join(__dirname, "../assets/widget.js"), "utf8"), context);

const $ = (id) => document.getElementById(id);
const root = $("ob-chat");
assert.ok(root, "renders #ob-chat");
assert.strictEqual(root.parent, inline, "renders inline into #omnibridge-chat");
assert.strictEqual(root.getAttribute("data-state"), "connecting");
let ws = sockets[0];
assert.strictEqual(ws.url, "wss://chat.example/webchat/ws", "relative data-ws resolves to wss");

// Typed before the connection is up: queued, shown as pending.
$("ob-input").value = "hello <b>there</b>\nline two";
$("ob-send").click();
const out = root.querySelectorAll(".ob-msg.ob-out");
assert.strictEqual(out.length, 1);
assert.ok(out[0].classList.contains("ob-pending"));
const clientId = out[0].getAttribute("data-id");
assert.match(clientId, /^c-/);

ws.open();
assert.strictEqual(ws.sent.length, 0, "nothing goes out before welcome");
ws.receive({ type: "welcome", session: "s_1", token: "tok-1", conversation_id: "cv_1" });
assert.strictEqual(root.getAttribute("data-state"), "open");
assert.deepStrictEqual(ws.sent, [{ type: "message", text: "hello <b>there</b>\nline two",
  client_msg_id: clientId }]);
assert.strictEqual(events[0].detail.conversation_id, "cv_1");
assert.ok(Object.values(storage).includes("tok-1"), "token kept in localStorage");

ws.receive({ type: "message", id: "ob_1", text: "<img src=x onerror=alert(1)>\nhi", seq: 7,
  buttons: [{ label: "Yes", payload: "yes" }, { label: "Docs", url: "https://docs.example" },
    { label: "Evil", url: "javascript:alert(1)" }] });
ws.receive({ type: "message", id: "ob_1", text: "dupe", seq: 7 });
const incoming = root.querySelectorAll(".ob-msg.ob-in");
assert.strictEqual(incoming.length, 1, "de-duplicated by id");
assert.strictEqual(incoming[0].getAttribute("data-id"), "ob_1");
assert.ok(incoming[0].textContent.startsWith("<img src=x onerror=alert(1)>\nhi"));
assert.strictEqual(root.querySelectorAll("button.ob-action").length, 2, "javascript: url dropped");
root.querySelectorAll('button.ob-action[data-payload="yes"]')[0].click();
const action = ws.sent[ws.sent.length - 1];
assert.strictEqual(action.type, "action");
assert.strictEqual(action.payload, "yes");
assert.strictEqual(action.label, "Yes");

ws.receive({ type: "ack", client_msg_id: clientId });
assert.ok(!out[0].classList.contains("ob-pending"), "acked message no longer pending");

// Reconnect: token and last seq in the query, the unacked action re-sent after welcome.
ws.close();
assert.strictEqual(root.getAttribute("data-state"), "closed");
timers.pop().f();
ws = sockets[1];
assert.strictEqual(ws.url, "wss://chat.example/webchat/ws?token=tok-1&after=7");
ws.open();
ws.receive({ type: "welcome", session: "s_1", token: "tok-2" });
assert.deepStrictEqual(ws.sent.map((f) => f.client_msg_id), [action.client_msg_id]);
ws.receive({ type: "message", id: "ob_1", text: "replayed", seq: 7 });
ws.receive({ type: "message", id: "ob_2", text: "live, no seq" });
assert.strictEqual(root.querySelectorAll(".ob-msg.ob-in").length, 2);
ws.receive({ type: "error", code: "unauthorized", message: "bad token" });
assert.ok(!Object.values(storage).includes("tok-2"), "a refused token is forgotten");
console.log("widget behaviour: ok");
