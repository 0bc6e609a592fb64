// The panel inside widget.js's iframe and its host page: they talk by postMessage only, each pinning the other's
// origin (docs/widget.md → Isolation). The standalone page takes the identity token from its fragment instead.
import { embedded, state, storagePrefix } from "./context.js";
import { ui } from "./layout.js";
import { localStore, HostStore } from "./storage.js";
import { boot } from "./session.js";
import { markRead } from "./status.js";

export function tokenFromFragment() {
  const hash = new URLSearchParams(location.hash.slice(1));
  const token = hash.get("identity_token");
  if (token) history.replaceState(null, "", location.pathname + location.search); // not left in the address bar
  return token;
}

// The host page's origin, learnt from its first storelink:init: from then on the panel posts only to it (the session
// and its access token travel in storelink:storage) and accepts messages only from it.
let hostOrigin = null;

export function toHost(message) {
  if (embedded && hostOrigin) window.parent.postMessage(message, hostOrigin);
}

export function fromHost(event) {
  return embedded && event.source === window.parent && hostOrigin !== null && event.origin === hostOrigin;
}

// Asks the host page (widget.js) for its settings; without an answer within 2 s the panel starts anonymously.
// The hello carries nothing, so it may go to any origin: the parent's origin is not known before it answers.
export function handshakeWithHost() {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), 2000);
    window.addEventListener("message", function onInit(event) {
      if (event.source !== window.parent || event.data?.type !== "storelink:init") return;
      // An opaque parent ("null": a sandboxed or file: page) cannot be addressed; the panel then keeps to itself.
      if (event.origin === "null") return;
      window.removeEventListener("message", onInit);
      clearTimeout(timer);
      hostOrigin = event.origin;
      setVisible(!!event.data.open);
      if (!localStore()) state.storage = new HostStore(event.data.storage, toHost);
      resolve(event.data.token || null);
    });
    window.parent.postMessage({ type: "storelink:hello" }, "*");
  });
}

ui.closeButton.addEventListener("click", () => toHost({ type: "storelink:close" }));

window.addEventListener("message", async (event) => {
  if (!fromHost(event)) return;
  const data = event.data || {};
  if (data.type === "storelink:visibility") setVisible(!!data.open);
  else if (data.type === "storelink:identify" && data.token) {
    state.identityToken = data.token;
    await boot();
  } else if (data.type === "storelink:logout") {
    state.storage.removeItem(storagePrefix + "auth");
    state.identityToken = null;
    await boot();
  }
});

export function setVisible(visible) {
  state.visible = visible;
  if (visible) markRead();
}

export function postUnread() {
  if (!embedded) return;
  let count = 0;
  for (const message of state.messages.values())
    if (message.sender?.id !== state.me?.id && message.seq > state.myReadSeq && message.kind !== "system") count++;
  if (count !== postUnread.last) {
    postUnread.last = count;
    toHost({ type: "storelink:unread", count });
  }
}
