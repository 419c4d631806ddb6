/*! Consent banner and SDK v1. Served by the consent service; no dependencies. docs/website.md */
(function () {
  "use strict";
  if (window.Consent && window.Consent.version) return; // the tag twice on one page

  var tag = document.currentScript;
  var data = function (name, fallback) {
    var value = tag && tag.getAttribute("data-" + name);
    return value == null || value === "" ? fallback : value;
  };
  var base = new URL(tag ? tag.src : location.href, location.href);
  var SERVICE = base.origin;
  var KEY = data("key", "");
  var PROPERTY = data("property", location.hostname);
  var COOKIE_DOMAIN = data("cookie-domain", "");
  var JURISDICTION = data("jurisdiction", "");
  var STORE = "consent_choices";
  var RECEIPT = "consent_receipt";
  var DAY = 864e5;
  // consent.css beside this file; with the tag's own integrity hash, the stylesheet is pinned too.
  var CSS_INTEGRITY = "sha384-Zkw0qD5P/R3vS4EmSFBvlEKdUb960GpgHWbqfZ3fbBqOFxzSyLYx6VaP2+hyxEZd";
  var lang = (document.documentElement.lang || navigator.language || "en").toLowerCase().indexOf("ja") === 0 ? "ja" : "en";
  var gpc = navigator.globalPrivacyControl === true;

  var TEXT = {
    en: {
      title: "Your privacy choices",
      intro: "We use cookies and similar technologies for the purposes below. Choose the ones you allow: rejecting is as easy as accepting, and you can change your mind at any time through \u201cPrivacy choices\u201d.",
      optOutIntro: "You may opt out of the sale or sharing of your personal information, and of the other uses below.",
      accept: "Accept all", reject: "Reject all", choose: "Choose purposes", save: "Save choices", ok: "OK",
      prefs: "Privacy preferences", dnss: "Do Not Sell or Share My Personal Information",
      gpc: "Opt-out preference signal honored", gpcOff: "Off: your browser sends an opt-out preference signal.",
      always: "Always active", allow: "Allow", object: "Object", close: "Close", policy: "Privacy policy",
      failed: "Your choice could not be saved. Please try again."
    },
    ja: {
      title: "\u30d7\u30e9\u30a4\u30d0\u30b7\u30fc\u306e\u9078\u629e",
      intro: "\u5f53\u793e\u306f\u4ee5\u4e0b\u306e\u76ee\u7684\u3067Cookie\u306a\u3069\u306e\u6280\u8853\u3092\u4f7f\u7528\u3057\u307e\u3059\u3002\u8a31\u53ef\u3059\u308b\u76ee\u7684\u3092\u304a\u9078\u3073\u304f\u3060\u3055\u3044\u3002\u62d2\u5426\u3082\u8a31\u53ef\u3068\u540c\u3058\u304f\u7c21\u5358\u306b\u3067\u304d\u3001\u300c\u30d7\u30e9\u30a4\u30d0\u30b7\u30fc\u306e\u9078\u629e\u300d\u304b\u3089\u3044\u3064\u3067\u3082\u5909\u66f4\u3067\u304d\u307e\u3059\u3002",
      optOutIntro: "\u500b\u4eba\u60c5\u5831\u306e\u8ca9\u58f2\u30fb\u5171\u6709\u3084\u4ee5\u4e0b\u306e\u305d\u306e\u4ed6\u306e\u5229\u7528\u306b\u3064\u3044\u3066\u3001\u30aa\u30d7\u30c8\u30a2\u30a6\u30c8\u3067\u304d\u307e\u3059\u3002",
      accept: "\u3059\u3079\u3066\u8a31\u53ef", reject: "\u3059\u3079\u3066\u62d2\u5426", choose: "\u76ee\u7684\u3092\u9078\u3076",
      save: "\u9078\u629e\u3092\u4fdd\u5b58", ok: "OK", prefs: "\u30d7\u30e9\u30a4\u30d0\u30b7\u30fc\u8a2d\u5b9a",
      dnss: "\u500b\u4eba\u60c5\u5831\u3092\u8ca9\u58f2\u30fb\u5171\u6709\u3057\u306a\u3044\u3067\u304f\u3060\u3055\u3044",
      gpc: "\u30aa\u30d7\u30c8\u30a2\u30a6\u30c8\u8a2d\u5b9a\u4fe1\u53f7\uff08GPC\uff09\u3092\u5c0a\u91cd\u3057\u307e\u3057\u305f",
      gpcOff: "\u30aa\u30d5\uff1a\u30d6\u30e9\u30a6\u30b6\u304c\u30aa\u30d7\u30c8\u30a2\u30a6\u30c8\u8a2d\u5b9a\u4fe1\u53f7\u3092\u9001\u4fe1\u3057\u3066\u3044\u307e\u3059\u3002",
      always: "\u5e38\u306b\u6709\u52b9", allow: "\u8a31\u53ef", object: "\u7570\u8b70\u3092\u7533\u3057\u7acb\u3066\u308b",
      close: "\u9589\u3058\u308b", policy: "\u30d7\u30e9\u30a4\u30d0\u30b7\u30fc\u30dd\u30ea\u30b7\u30fc",
      failed: "\u9078\u629e\u3092\u4fdd\u5b58\u3067\u304d\u307e\u305b\u3093\u3067\u3057\u305f\u3002\u3082\u3046\u4e00\u5ea6\u304a\u8a66\u3057\u304f\u3060\u3055\u3044\u3002"
    }
  }[lang];

  // --- storage: a first-party cookie (shared across subdomains with data-cookie-domain) and localStorage
  function readCookie(name) {
    var found = document.cookie.split("; ").filter(function (c) { return c.indexOf(name + "=") === 0; })[0];
    return found ? decodeURIComponent(found.slice(name.length + 1)) : null;
  }
  function local(name, value) {
    try {
      if (value === undefined) return localStorage.getItem(name);
      localStorage.setItem(name, value);
    } catch (e) { /* storage disabled: the cookie alone keeps the choices */ }
    return null;
  }
  function load() {
    try { return JSON.parse(readCookie(STORE) || local(STORE) || "null"); } catch (e) { return null; }
  }
  function save(state, days) {
    var text = JSON.stringify(state);
    document.cookie = STORE + "=" + encodeURIComponent(text) + "; Path=/; Max-Age=" + Math.round(days * 86400) +
      "; SameSite=Lax" + (COOKIE_DOMAIN ? "; Domain=" + COOKIE_DOMAIN : "") + (location.protocol === "https:" ? "; Secure" : "");
    local(STORE, text);
  }
  function deviceId() {
    var bytes = new Uint8Array(16); // 128 random bits, base64url: d_ and 22 characters
    crypto.getRandomValues(bytes);
    return "d_" + btoa(String.fromCharCode.apply(null, bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function uuid() {
    if (crypto.randomUUID) return crypto.randomUUID();
    return deviceId().slice(2);
  }

  // --- what is allowed, from the notices and the stored choices
  var notices = null;
  var state = load() || {};
  state.c = state.c && typeof state.c === "object" ? state.c : {};
  var allowedNow = {};
  var listeners = [];
  var lastReceipt = local(RECEIPT);

  function choosable(n) { return n.regime !== null; }
  function gpcOff(n) { return gpc && n.gpc_opt_out; }
  function isLI(n) { return n.legal_basis === "legitimate_interest"; }
  function valid(n, kept) {
    return kept && kept[1] >= n.min_notice_version &&
      (kept[0] !== "g" || !n.consent_lifetime_days || Date.now() - kept[2] < n.consent_lifetime_days * DAY);
  }
  function allowed(n) {
    if (!choosable(n)) return true;
    if (gpcOff(n)) return false;
    var kept = state.c[n.purpose];
    if (kept && kept[0] !== "g") return false;
    if (n.regime === "opt_out") return true;
    return valid(n, kept);
  }
  function mustAsk() {
    return notices.purposes.some(function (n) {
      return n.regime === "opt_in" && !gpcOff(n) && !valid(n, state.c[n.purpose]);
    });
  }
  function optOutMode() {
    return !notices.purposes.some(function (n) { return n.regime === "opt_in"; });
  }

  function refresh(action) {
    var before = allowedNow;
    allowedNow = {};
    notices.purposes.forEach(function (n) { allowedNow[n.purpose] = allowed(n); });
    notices.purposes.forEach(function (n) {
      if (before[n.purpose] && !allowedNow[n.purpose]) deleteCookies(n.cookies);
    });
    consentMode("update");
    activate();
    var detail = { purposes: Object.assign({}, allowedNow), action: action || null };
    listeners.forEach(function (fn) { try { fn(detail); } catch (e) { setTimeout(function () { throw e; }); } });
    document.dispatchEvent(new CustomEvent("consent:change", { detail: detail }));
  }

  // --- gated scripts: <script type="text/plain" data-purpose="analytics" src=...> run once, when allowed
  function activate() {
    if (!notices) return;
    var waiting = document.querySelectorAll('script[type="text/plain"][data-purpose]:not([data-consent-done])');
    Array.prototype.forEach.call(waiting, function (inert) {
      var needs = inert.getAttribute("data-purpose").split(/\s+/);
      if (!needs.every(function (p) { return allowedNow[p] === true; })) return;
      var live = document.createElement("script");
      Array.prototype.forEach.call(inert.attributes, function (a) {
        if (a.name !== "type" && a.name !== "data-purpose" && a.name !== "data-type") live.setAttribute(a.name, a.value);
      });
      if (inert.getAttribute("data-type")) live.type = inert.getAttribute("data-type");
      if (inert.nonce) live.nonce = inert.nonce;
      if (!inert.src) live.text = inert.text;
      live.async = false;
      inert.setAttribute("data-consent-done", "");
      inert.parentNode.insertBefore(live, inert.nextSibling);
    });
  }

  function deleteCookies(patterns) {
    var names = document.cookie.split("; ").map(function (c) { return c.split("=")[0]; });
    var host = location.hostname.split(".");
    var domains = [""];
    for (var i = 0; i < host.length - 1; i++) domains.push("; Domain=" + host.slice(i).join("."));
    if (COOKIE_DOMAIN) domains.push("; Domain=" + COOKIE_DOMAIN);
    (patterns || []).forEach(function (pattern) {
      var prefix = pattern.slice(-1) === "*" ? pattern.slice(0, -1) : null;
      names.forEach(function (name) {
        if (prefix === null ? name !== pattern : name.indexOf(prefix) !== 0) return;
        domains.forEach(function (d) {
          document.cookie = name + "=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT" + d;
        });
      });
    });
  }

  // --- Google Consent Mode v2: each signal granted when every purpose mapped to it is allowed
  var MODE = data("consent-mode", "");
  function gtag() { window.dataLayer = window.dataLayer || []; window.dataLayer.push(arguments); }
  function modeMap() {
    if (MODE && MODE !== "off") {
      try { return JSON.parse(MODE); } catch (e) { console.warn("consent.js: data-consent-mode is not JSON; using the default mapping"); }
    }
    var of = function (category) {
      return notices.purposes.filter(function (n) { return n.category === category; }).map(function (n) { return n.purpose; });
    };
    var ads = of("advertising");
    return { ad_storage: ads, analytics_storage: of("analytics"), ad_user_data: ads, ad_personalization: ads };
  }
  function consentMode(kind) {
    if (MODE === "off") return;
    var signals = { ad_storage: "denied", analytics_storage: "denied", ad_user_data: "denied", ad_personalization: "denied" };
    if (kind === "default") {
      signals.wait_for_update = 500;
    } else {
      var map = modeMap();
      Object.keys(map).forEach(function (signal) {
        var ids = [].concat(map[signal]);
        signals[signal] = ids.length && ids.every(function (p) { return allowedNow[p] === true; }) ? "granted" : "denied";
      });
    }
    gtag("consent", kind, signals);
  }

  // --- the service
  function call(method, path, body, idempotencyKey) {
    var headers = { Authorization: "Bearer " + KEY };
    if (body) headers["Content-Type"] = "application/json";
    if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
    return fetch(SERVICE + path, { method: method, headers: headers, body: body ? JSON.stringify(body) : undefined, credentials: "omit" })
      .then(function (response) {
        return response.json().then(function (json) {
          if (!response.ok) { var error = new Error(json.detail || response.status); error.status = response.status; throw error; }
          return json;
        });
      });
  }
  function fetchNotices() {
    var query = "?lang=" + lang + (JURISDICTION ? "&jurisdiction=" + encodeURIComponent(JURISDICTION) : "");
    return call("GET", "/v1/notices" + query).then(function (json) { notices = json; });
  }
  function post(action, decisions, key) {
    return call("POST", "/v1/consents", {
      subject: { device_id: state.d }, property: PROPERTY, jurisdiction: notices.jurisdiction, language: notices.language,
      action: action, decisions: decisions, client_at: new Date().toISOString()
    }, key);
  }

  // Record `wanted` ({purpose: true|false}) for one user action: purposes granted before and refused now are
  // withdrawn (a request of their own), the rest recorded under `action`.
  function record(action, wanted) {
    state.d = state.d || deviceId();
    var key = uuid();
    var chosen = [], withdrawn = [];
    notices.purposes.forEach(function (n) {
      if (!(n.purpose in wanted)) return;
      var d = { purpose: n.purpose, status: wanted[n.purpose] ? "granted" : "denied", notice_version: n.notice_version };
      var kept = state.c[n.purpose];
      (kept && kept[0] === "g" && !wanted[n.purpose] ? withdrawn : chosen).push(d);
    });
    var requests = [];
    if (withdrawn.length) requests.push(function () { return post("withdraw", withdrawn, key + "-withdraw"); });
    if (chosen.length) requests.push(function () { return post(action, chosen, key); });
    var done = requests.reduce(function (previous, next) {
      return previous.then(function () { return next().then(noteAnswer); });
    }, Promise.resolve());
    return done.then(function () { remember(wanted, withdrawn); refresh(action); });
  }
  function noteAnswer(answer) {
    lastReceipt = answer.receipt;
    local(RECEIPT, answer.receipt);
    Object.keys(answer.decisions).forEach(function (p) {
      if (answer.decisions[p].reason === "gpc_opt_out") state.c[p] = ["d", notices.purposes.filter(function (n) {
        return n.purpose === p; })[0].notice_version, Date.now()];
    });
  }
  function remember(wanted, withdrawn) {
    var now = Date.now();
    notices.purposes.forEach(function (n) {
      if (!(n.purpose in wanted)) return;
      var gone = withdrawn.some(function (d) { return d.purpose === n.purpose; });
      state.c[n.purpose] = [wanted[n.purpose] ? "g" : gone ? "w" : "d", n.notice_version, now];
    });
    state.t = now;
    state.j = notices.jurisdiction;
    var days = Math.max.apply(null, notices.purposes.map(function (n) { return n.consent_lifetime_days || 0; }).concat([395]));
    save(state, days);
  }
  function recordSignal() {
    // A GPC visit is recorded once without inventing choices; the service adds the opt-outs.
    if (!gpc || !notices.gpc_honoured || state.g) return Promise.resolve();
    state.d = state.d || deviceId();
    return post("reject_all", [], uuid()).then(function (answer) {
      noteAnswer(answer);
      state.g = 1;
      remember({}, []);
      refresh("gpc");
    }, function () { /* retried on the next page view */ });
  }

  // --- the banner and the preferences dialog
  function el(name, attributes, children) {
    var node = document.createElement(name);
    Object.keys(attributes || {}).forEach(function (a) {
      if (attributes[a] !== null && attributes[a] !== false) node.setAttribute(a, attributes[a] === true ? "" : attributes[a]);
    });
    (children || []).forEach(function (c) { if (c != null) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }
  function button(label, act) { return el("button", { type: "button", "class": "cs-btn", "data-consent-action": act }, [label]); }

  var root, banner, dialog, opener, status;

  function render() {
    if (root) root.remove();
    var optOut = optOutMode();
    var gpcLine = gpc && notices.gpc_honoured ? el("p", { "class": "cs-gpc", role: "status" }, [TEXT.gpc]) : null;
    var policy = notices.policy_url ? el("a", { href: notices.policy_url, "class": "cs-link" }, [TEXT.policy]) : null;
    banner = el("section", { "class": "cs-banner", role: "region", "aria-labelledby": "cs-banner-title", hidden: true }, [
      el("h2", { id: "cs-banner-title", "class": "cs-title" }, [optOut ? TEXT.dnss : TEXT.title]),
      el("p", { "class": "cs-text" }, [optOut ? TEXT.optOutIntro : TEXT.intro, " ", policy]),
      gpcLine,
      el("div", { "class": "cs-actions" }, optOut
        ? [el("button", { type: "button", "class": "cs-btn", "data-consent-action": "open" }, [TEXT.dnss]), button(TEXT.ok, "dismiss")]
        : [button(TEXT.accept, "accept_all"), button(TEXT.reject, "reject_all"), button(TEXT.choose, "open")])
    ]);
    status = el("p", { "class": "cs-error", role: "alert", hidden: true }, []);
    dialog = el("dialog", { "class": "cs-dialog", "aria-labelledby": "cs-dialog-title", "aria-describedby": "cs-dialog-intro" }, [
      el("div", { "class": "cs-dialog-head" }, [
        el("h2", { id: "cs-dialog-title", "class": "cs-title" }, [optOut ? TEXT.dnss : TEXT.prefs]),
        el("button", { type: "button", "class": "cs-close", "aria-label": TEXT.close, "data-consent-action": "close" }, ["\u00d7"])
      ]),
      el("p", { id: "cs-dialog-intro", "class": "cs-text" }, [optOut ? TEXT.optOutIntro : TEXT.intro, " ", policy && policy.cloneNode(true)]),
      gpcLine && gpcLine.cloneNode(true),
      el("ul", { "class": "cs-purposes" }, notices.purposes.map(purposeItem)),
      status,
      el("div", { "class": "cs-actions" }, [button(TEXT.reject, "reject_all"), button(TEXT.accept, "accept_all"), button(TEXT.save, "save_choices")])
    ]);
    root = el("div", { "class": "cs-root", lang: notices.language }, [banner, dialog]);
    root.addEventListener("click", onClick);
    dialog.addEventListener("keydown", trapFocus);
    dialog.addEventListener("close", restoreFocus);
    document.body.insertBefore(root, document.body.firstChild);
  }

  function purposeItem(n) {
    var id = "cs-p-" + n.purpose;
    var control;
    if (!choosable(n)) {
      control = el("span", { "class": "cs-always" }, [TEXT.always]);
    } else {
      var li = isLI(n) && n.regime !== "opt_in";
      var on = allowed(n);
      control = el("label", { "class": "cs-switch" }, [
        el("input", {
          type: "checkbox", role: "switch", "data-purpose": n.purpose, "data-object": li ? "" : null,
          checked: li ? !on : on, disabled: gpcOff(n), "aria-describedby": id + "-text", "aria-labelledby": id + "-title " + id + "-verb"
        }),
        el("span", { id: id + "-verb" }, [li ? TEXT.object : TEXT.allow])
      ]);
    }
    return el("li", { "class": "cs-purpose" }, [
      el("div", { "class": "cs-purpose-head" }, [el("h3", { id: id + "-title" }, [n.title]), control]),
      el("p", { id: id + "-text", "class": "cs-text" }, [n.text]),
      gpcOff(n) ? el("p", { "class": "cs-note" }, [TEXT.gpcOff]) : null
    ]);
  }

  function wantedFor(action) {
    var wanted = {};
    notices.purposes.forEach(function (n) {
      if (!choosable(n) || gpcOff(n)) return;
      if (action === "accept_all") wanted[n.purpose] = true;
      else if (action === "reject_all") { if (!isLI(n)) wanted[n.purpose] = false; }
      else {
        var box = dialog.querySelector('input[data-purpose="' + n.purpose + '"]');
        wanted[n.purpose] = box.hasAttribute("data-object") ? !box.checked : box.checked;
      }
    });
    return wanted;
  }

  function onClick(event) {
    var target = event.target.closest("[data-consent-action]");
    if (!target) return;
    var act = target.getAttribute("data-consent-action");
    if (act === "open") return open();
    if (act === "close") return dialog.close();
    if (act === "dismiss") { state.n = 1; remember({}, []); banner.hidden = true; return; }
    var buttons = root.querySelectorAll(".cs-btn");
    Array.prototype.forEach.call(buttons, function (b) { b.disabled = true; });
    record(act, wantedFor(act)).then(function () {
      banner.hidden = true;
      if (dialog.open) dialog.close();
    }, function (error) {
      if (error.status === 409) return fetchNotices().then(function () { render(); show(); open(); });
      status.textContent = TEXT.failed;
      status.hidden = false;
      if (!dialog.open) open();
    }).then(function () {
      Array.prototype.forEach.call(buttons, function (b) { b.disabled = false; });
    });
  }

  function focusable() {
    return Array.prototype.filter.call(dialog.querySelectorAll("button, input, a[href]"), function (e) { return !e.disabled; });
  }
  function trapFocus(event) {
    if (event.key !== "Tab") return;
    var items = focusable(), first = items[0], last = items[items.length - 1];
    if (event.shiftKey && document.activeElement === first) { last.focus(); event.preventDefault(); }
    else if (!event.shiftKey && document.activeElement === last) { first.focus(); event.preventDefault(); }
  }
  function restoreFocus() {
    var back = opener && opener.isConnected && !opener.closest("[hidden]") ? opener : null;
    opener = null;
    if (back) back.focus();
  }

  function open() {
    if (!notices) { pending = true; return; }
    if (dialog.open) return;
    notices.purposes.forEach(function (n) {
      var box = dialog.querySelector('input[data-purpose="' + n.purpose + '"]');
      if (box) box.checked = box.hasAttribute("data-object") ? !allowed(n) : allowed(n);
    });
    opener = document.activeElement;
    status.hidden = true;
    dialog.showModal();
    var first = dialog.querySelector("input:not([disabled])") || focusable()[0];
    if (first) first.focus();
  }
  function show() {
    banner.hidden = optOutMode() ? !!(state.n || state.t) : !mustAsk();
  }

  var pending = false;
  function start() {
    consentMode("default");
    var css = el("link", { rel: "stylesheet", href: new URL("consent.css", base).href, integrity: CSS_INTEGRITY, crossorigin: "anonymous" });
    document.head.appendChild(css);
    fetchNotices().then(function () {
      var ready = function () {
        render();
        show();
        refresh(null);
        recordSignal();
        if (pending) open();
      };
      if (document.body) ready(); else document.addEventListener("DOMContentLoaded", ready);
    }, function () { /* the service is unreachable: nothing gated runs */ });
    document.addEventListener("click", function (event) {
      var link = event.target.closest && event.target.closest("[data-consent-open]");
      if (link) { event.preventDefault(); open(); }
    });
    new MutationObserver(activate).observe(document.documentElement, { childList: true, subtree: true });
  }

  window.Consent = {
    version: 1,
    open: open,
    get: function (purpose) { return allowedNow[purpose] === true; },
    on: function (name, fn) { if (name === "change") listeners.push(fn); },
    receipt: function () { return lastReceipt; },
    deviceId: function () { return state.d || null; }
  };
  start();
})();
