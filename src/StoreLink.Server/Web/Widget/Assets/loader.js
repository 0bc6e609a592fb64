// StoreLink widget loader: <script src="https://chat.example.com/widget.js" data-store="demo-digital"></script>
// Adds a launcher button and a chat panel to the host page. The panel is an iframe of this server's /chat/{store}
// page, so the host page's CSS and scripts cannot reach into it, and its socket belongs to this server's origin (no
// CORS or Realtime:AllowedOrigins entry is needed). The launcher lives in a shadow root for the same reason. When the
// browser blocks storage in third-party iframes, the panel keeps its session in this page's localStorage instead.
(function () {
  "use strict";
  if (window.StoreLink && window.StoreLink.__loaded) return;
  var script = document.currentScript;
  if (!script) return;
  var server = new URL(script.src).origin;
  var store = script.dataset.store;
  if (!store) { console.error("StoreLink: the script tag needs data-store"); return; }
  var lang = script.dataset.lang || "";
  var position = script.dataset.position === "left" ? "left" : "right";
  var identityToken = script.dataset.identityToken || null;
  var pendingIdentify = identityToken ? { type: "storelink:identify", token: identityToken } : null;
  var frame = null, panel = null, badge = null, button = null, frameReady = false, isOpen = false;

  var host = document.createElement("div");
  host.setAttribute("data-storelink-widget", store);
  var root = host.attachShadow({ mode: "open" });
  var side = position + ":16px";
  root.innerHTML =
    "<style>" +
    ":host{all:initial}" +
    ".launcher{position:fixed;bottom:16px;" + side + ";z-index:2147483000;width:56px;height:56px;border-radius:50%;border:0;" +
    "background:#e4393c;color:#fff;box-shadow:0 4px 14px rgba(0,0,0,.25);cursor:pointer;display:flex;align-items:center;justify-content:center}" +
    ".launcher svg{width:28px;height:28px;fill:#fff}" +
    ".badge{position:absolute;top:-2px;right:-2px;min-width:20px;height:20px;border-radius:10px;background:#1677ff;color:#fff;" +
    "font:600 12px/20px system-ui,sans-serif;text-align:center;padding:0 5px;box-sizing:border-box}" +
    ".badge[hidden]{display:none}" +
    ".panel{position:fixed;bottom:84px;" + side + ";z-index:2147483001;width:380px;height:min(640px,calc(100vh - 100px));" +
    "border-radius:12px;overflow:hidden;box-shadow:0 8px 30px rgba(0,0,0,.3);background:#fff;display:none}" +
    ".panel.open{display:block}" +
    ".panel iframe{width:100%;height:100%;border:0;display:block}" +
    "@media (max-width:600px){.panel{inset:0;width:100%;height:100%;border-radius:0;bottom:0}" +
    ".panel.open + .launcher{display:none}}" +
    "</style>" +
    "<div class='panel' part='panel'></div>" +
    "<button class='launcher' part='launcher' type='button'>" +
    "<svg viewBox='0 0 24 24' aria-hidden='true'><path d='M12 3C6.5 3 2 6.8 2 11.5c0 2.4 1.2 4.6 3.1 6.1L4 21l4.2-2.1c1.2.4 2.5.6 3.8.6 5.5 0 10-3.8 10-8.5S17.5 3 12 3z'/></svg>" +
    "<span class='badge' hidden></span></button>";
  panel = root.querySelector(".panel");
  button = root.querySelector(".launcher");
  badge = root.querySelector(".badge");

  // The launcher's label comes from the widget's strings module (the same resource the panel uses).
  import(server + "/widget/i18n.js").then(function (i18n) {
    var t = i18n.strings(i18n.pickLanguage(lang));
    button.setAttribute("aria-label", t("launcher"));
    button.title = t("launcher");
  }).catch(function () { /* the label is cosmetic */ });

  var prefix = "storelink:" + store + ":";
  function hostStorage() {
    var snapshot = {};
    try {
      for (var i = 0; i < localStorage.length; i++) {
        var key = localStorage.key(i);
        if (key.indexOf(prefix) === 0) snapshot[key] = localStorage.getItem(key);
      }
    } catch (e) { /* no storage on the host page either */ }
    return snapshot;
  }

  function ensureFrame() {
    if (frame) return;
    frame = document.createElement("iframe");
    var src = server + "/chat/" + encodeURIComponent(store) + "?embed=1" + (lang ? "&lang=" + encodeURIComponent(lang) : "");
    frame.src = src;
    frame.title = "StoreLink";
    frame.allow = "microphone; camera; autoplay; geolocation; clipboard-write";
    panel.appendChild(frame);
  }

  function post(message) {
    if (frame && frameReady) frame.contentWindow.postMessage(message, server);
  }

  function open() {
    ensureFrame();
    isOpen = true;
    panel.classList.add("open");
    post({ type: "storelink:visibility", open: true });
  }

  function close() {
    isOpen = false;
    panel.classList.remove("open");
    post({ type: "storelink:visibility", open: false });
  }

  button.addEventListener("click", function () { isOpen ? close() : open(); });

  window.addEventListener("message", function (event) {
    if (!frame || event.source !== frame.contentWindow || event.origin !== server) return;
    var data = event.data || {};
    if (data.type === "storelink:hello") {
      frameReady = true;
      // The identity token travels by postMessage to this server's origin only, never in a URL.
      post({ type: "storelink:init", token: pendingIdentify ? pendingIdentify.token : null, open: isOpen, storage: hostStorage() });
      pendingIdentify = null;
    } else if (data.type === "storelink:unread") {
      var count = Number(data.count) || 0;
      badge.hidden = count === 0;
      badge.textContent = count > 99 ? "99+" : String(count);
    } else if (data.type === "storelink:close") {
      close();
    } else if (data.type === "storelink:ringing") {
      // A call rings for the customer: the panel opens on its ringing card.
      open();
    } else if (data.type === "storelink:storage" && typeof data.key === "string" && data.key.indexOf(prefix) === 0) {
      // The panel's own storage is blocked (third-party iframe): it keeps its session and outbox here.
      try {
        if (data.value === null) localStorage.removeItem(data.key);
        else localStorage.setItem(data.key, String(data.value));
      } catch (e) { /* blocked here too: the panel keeps them in memory */ }
    }
  });

  window.StoreLink = {
    __loaded: true,
    open: open,
    close: close,
    toggle: function () { isOpen ? close() : open(); },
    // A store-signed identity token (JWT) of the signed-in customer; the panel exchanges it at /v1/auth/customer.
    identify: function (token) {
      if (frameReady) post({ type: "storelink:identify", token: token });
      else pendingIdentify = { type: "storelink:identify", token: token };
    },
    // The host page signed its customer out: forget the widget's session on this browser.
    logout: function () {
      if (frameReady) post({ type: "storelink:logout" });
      pendingIdentify = null;
    },
  };

  function attach() {
    document.body.appendChild(host);
    // Load the panel in the background so unread counts work before the first click.
    ensureFrame();
    if (script.dataset.open === "true") open();
  }
  if (document.body) attach();
  else document.addEventListener("DOMContentLoaded", attach);
})();
