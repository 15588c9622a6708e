/*! mindset.js 0.1.0: Segment-format calls to Mindset. docs/collect.md */
(function (w, d) {
  "use strict";
  const VERSION = "0.1.0";
  const nav = w.navigator;
  const tag = d.currentScript || d.querySelector("script[data-write-key]");
  const opt = (k) => tag && tag.getAttribute("data-" + k);
  const writeKey = opt("write-key");
  const host = (opt("host") || (tag && tag.src ? new URL(tag.src).origin : "")).replace(/\/$/, "");
  const dnt = nav.doNotTrack === "1" || w.doNotTrack === "1";

  // get, set, or (v null) remove
  const store = (s, k, v) => {
    try {
      if (v === undefined) return w[s].getItem("mindset." + k);
      v === null ? w[s].removeItem("mindset." + k) : w[s].setItem("mindset." + k, v);
    } catch (e) {}
    return null;
  };
  const local = (k, v) => store("localStorage", k, v);
  const c = w.crypto; // randomUUID needs https
  const uuid = () => c.randomUUID ? c.randomUUID() : "10000000-1000-4000-8000-100000000000"
    .replace(/[018]/g, (x) => (x ^ (c.getRandomValues(new Uint8Array(1))[0] & (15 >> (x / 4)))).toString(16));

  // a stored decision wins; "pending" holds calls in memory
  let consent = local("consent") || (opt("consent") === "pending" ? "pending" : "granted");
  const granted = () => consent === "granted";
  const done = () => Promise.resolve(true);
  let userId = granted() ? local("uid") : null;
  let aid = granted() ? local("aid") : null;
  let held = [];
  let queue = [];
  let timer;
  const on = () => !dnt && writeKey && host && consent !== "denied";
  const anonymousId = () => {
    if (!aid && granted()) local("aid", (aid = uuid()));
    return aid;
  };
  const setUser = (id) => {
    userId = String(id);
    if (granted()) local("uid", userId);
    return userId;
  };
  const pageProps = () => ({
    path: location.pathname, referrer: d.referrer, search: location.search, title: d.title, url: location.href,
  });

  function call(type, fields) {
    if (!on()) return;
    const m = Object.assign({ type, messageId: uuid(), timestamp: new Date().toISOString() }, fields);
    if (userId && !m.userId) m.userId = userId;
    m.context = {
      library: { name: "mindset.js", version: VERSION }, locale: nav.language, page: pageProps(), userAgent: nav.userAgent,
    };
    granted() ? enqueue(m) : held.push(m);
  }
  function enqueue(m) {
    m.anonymousId = anonymousId();
    if (m.type === "alias") m.previousId = m.previousId || m.anonymousId;
    let sid = store("sessionStorage", "sid");
    if (!sid) store("sessionStorage", "sid", (sid = uuid()));
    m.context.sessionId = sid;
    queue.push(m);
    clearTimeout(timer);
    timer = setTimeout(flush, queue.length < 20 ? 1000 : 0);
  }

  // sendBeacon with a string posts text/plain: no CORS preflight. false: retry
  function post(batch) {
    const sentAt = new Date().toISOString();
    batch.forEach((m) => (m.sentAt = sentAt));
    const body = JSON.stringify({ batch, sentAt, writeKey });
    const url = host + "/v1/batch";
    try {
      if (nav.sendBeacon(url, body)) return done();
    } catch (e) {}
    return fetch(url, { method: "POST", body, keepalive: true, headers: { "Content-Type": "text/plain" } })
      .then((r) => r.ok || (r.status !== 429 && r.status < 500 && !console.warn("mindset: refused", r.status)))
      .catch(() => false);
  }
  // beacons carry 64 KiB at most; the server refuses calls over 32 KB
  function batches(msgs) {
    const out = [];
    let size = 1e9;
    for (const m of msgs) {
      const n = JSON.stringify(m).length;
      if (n > 32000) console.warn("mindset: over 32 KB", m.event || m.type);
      else if ((size += n) < 59000) out[out.length - 1].push(m);
      else out.push([m]), (size = n);
    }
    return out;
  }
  // retry queue: 200 calls at most, backoff 1 s to 10 min
  const saved = () => {
    try {
      return JSON.parse(local("retry")) || { msgs: [] };
    } catch (e) {
      return { msgs: [] };
    }
  };
  function retry(failed, tries) {
    const msgs = saved().msgs.concat(failed).slice(-200);
    const wait = Math.min(1000 * 2 ** tries, 6e5) * (0.5 + Math.random() / 2);
    local("retry", JSON.stringify({ msgs, tries, next: Date.now() + wait }));
    setTimeout(flush, wait + 50);
    return false;
  }
  function flush() {
    clearTimeout(timer);
    if (!on() || !granted()) return done();
    const msgs = queue;
    queue = [];
    const r = saved();
    const tries = r.tries + 1 || 0;
    if (r.next <= Date.now()) local("retry", null), msgs.unshift(...r.msgs);
    return Promise.all(batches(msgs).map((b) => post(b).then((ok) => ok || retry(b, tries))))
      .then((oks) => oks.every(Boolean));
  }

  // data-mindset-product-id -> product_id, data-mindset-product-name -> name, data-mindset-cart-id -> cart_id
  function props(el) {
    const p = {};
    for (const a of el ? el.attributes : []) {
      const k = a.name.startsWith("data-mindset-") && a.name.slice(13).replace(/^product-(?!id$)/, "").replace(/-/g, "_");
      if (!k || /^(add_to_cart|remove_from_cart|search)$/.test(k)) continue;
      p[k] = /^(price|quantity)$/.test(k) && a.value && !isNaN(a.value) ? +a.value : a.value;
    }
    return p;
  }
  const PRODUCT = "[data-mindset-product-id]";
  const ADD = "[data-mindset-add-to-cart]";
  const REMOVE = "[data-mindset-remove-from-cart]";
  function onClick(e) {
    const b = e.target.closest && e.target.closest(ADD + "," + REMOVE);
    if (!b) return;
    const p = Object.assign({ quantity: 1 }, props(b.parentElement && b.parentElement.closest(PRODUCT)), props(b));
    api.track(b.matches(ADD) ? "Product Added" : "Product Removed", p);
  }
  function onSubmit(e) {
    const f = e.target;
    const q = f.querySelector && f.querySelector("input[type=search],input[name=q],input[name=s],input[type=text]");
    if (q && (f.hasAttribute("data-mindset-search") || q.type === "search") && q.value.trim()) {
      api.track("Products Searched", { query: q.value.trim() });
      flush(); // before the page navigates
    }
  }
  function onReady() {
    api.page();
    const el = d.querySelector(PRODUCT + ":not(" + ADD + "):not(" + REMOVE + ")");
    if (el) api.track("Product Viewed", Object.assign({ url: location.href }, props(el)));
  }

  const api = {
    track: (event, properties) => call("track", { event, properties: properties || {} }),
    page: (name, properties) => {
      if (name && typeof name === "object") (properties = name), (name = undefined);
      call("page", { name, properties: Object.assign(pageProps(), properties) });
    },
    identify: (id, traits) => {
      if (id && typeof id === "object") (traits = id), (id = null);
      if (id) setUser(id);
      call("identify", { traits: traits || {} });
    },
    alias: (id) => {
      const previousId = userId || aid;
      call("alias", { userId: setUser(id), previousId });
    },
    consent: (yes) => {
      if (dnt) return done();
      local("consent", (consent = yes ? "granted" : "denied"));
      if (yes) {
        if (userId) setUser(userId);
        held.splice(0).forEach(enqueue);
        return flush();
      }
      ["uid", "aid", "retry"].forEach((k) => local(k, null));
      held = [];
      queue = [];
      userId = aid = null;
      return done();
    },
    flush,
    anonymousId: () => (on() ? anonymousId() : null),
    push: (a) => api[a[0]] && api[a[0]](...a.slice(1)),
  };

  // calls queued before load: window.mindset = [["identify", "u-1"], ...]
  const early = Array.isArray(w.mindset) ? w.mindset : [];
  w.mindset = api;
  if (!writeKey) return console.warn("mindset: no data-write-key");
  if (dnt) return; // Do-Not-Track: nothing is stored or sent
  early.forEach(api.push);
  d.addEventListener("click", onClick, true);
  d.addEventListener("submit", onSubmit, true);
  d.addEventListener("visibilitychange", () => d.visibilityState === "hidden" && flush());
  w.addEventListener("pagehide", flush);
  d.readyState === "loading" ? d.addEventListener("DOMContentLoaded", onReady) : onReady();
  setTimeout(flush, 0); // and the retry queue
})(window, document);
