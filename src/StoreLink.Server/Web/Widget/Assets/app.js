// The customer chat: the standalone page /chat/{store_key} and, with ?embed=1, the panel of widget.js.
// Guarantees it keeps (docs/widget.md): a message gets its client_msg_id when written and is kept in the outbox until
// acknowledged, so every message is sent exactly once across drops and reloads; what is shown is de-duplicated by
// message id and client_msg_id; after every reconnect the client syncs from the last seq it holds.
import { Api, ApiError } from "./api.js";
import { Realtime } from "./realtime.js";
import { Outbox, newClientMsgId, putBlob, getBlob } from "./outbox.js";
import { pickLanguage, strings } from "./i18n.js";
import { localStore, HostStore, MemoryStore } from "./storage.js";
import { el, icon, Icons, formatClock, formatOpening, jwtSubject, amapUrl } from "./dom.js";

const params = new URLSearchParams(location.search);
const storeKey = document.body.dataset.store;
const embedded = params.get("embed") === "1" && window.parent !== window;
const lang = pickLanguage(params.get("lang"));
const t = strings(lang);
document.documentElement.lang = lang;

const api = new Api();
const realtime = new Realtime(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/ws`);
const storagePrefix = `storelink:${storeKey}:`;
let storage = localStore() ?? new MemoryStore();

const state = {
  profile: null,
  me: null,
  conversation: null, // {id, state, assignee_id, read_seq, last_seq}
  messages: new Map(), // message id → message
  outbox: null,
  storeReadSeq: 0, // the highest read_seq of anyone but the customer
  myReadSeq: 0,
  queue: null,
  queues: [],
  chosenQueue: null,
  visible: !embedded,
  online: false,
  flushing: false,
  ratings: [],
  oldestSeq: null,
  actionsDone: new Map(), // card message id → the action taken from it on this page
  actionIds: new Map(), // card message id and change → the action_id sent for it (idempotent taps)
};

// ---------- layout ----------
const ui = buildLayout();
document.body.append(ui.root);

function buildLayout() {
  const root = el("div", { class: "sl-app" });
  const title = el("div", { class: "sl-title" }, document.body.dataset.storeName || t("title"));
  const status = el("div", { class: "sl-status", "data-testid": "store-status" });
  const presenceDot = el("span", { class: "sl-dot" });
  const closeButton = el("button", { class: "sl-icon sl-close", type: "button", "aria-label": t("close"), title: t("close") }, "×");
  closeButton.hidden = !embedded;
  closeButton.addEventListener("click", () => toHost({ type: "storelink:close" }));
  const header = el("header", { class: "sl-header" },
    el("div", { class: "sl-heading" }, title, el("div", { class: "sl-sub" }, presenceDot, status)), closeButton);

  const network = el("div", { class: "sl-banner sl-network", "data-testid": "network-banner", hidden: true });
  const queue = el("div", { class: "sl-banner sl-queue", "data-testid": "queue-banner", hidden: true });
  const earlier = el("button", { class: "sl-earlier", type: "button", hidden: true }, t("load_earlier"));
  earlier.addEventListener("click", loadEarlier);
  const empty = el("div", { class: "sl-empty" }, t("empty"));
  const list = el("div", { class: "sl-list", "data-testid": "messages" });
  const scroller = el("main", { class: "sl-scroll" }, earlier, empty, list);
  const typing = el("div", { class: "sl-typing", "data-testid": "typing", hidden: true }, t("typing"));
  const topics = el("div", { class: "sl-topics", hidden: true });

  const input = el("textarea", { class: "sl-input", rows: 1, placeholder: t("placeholder"), "aria-label": t("placeholder"), "data-testid": "composer" });
  const send = el("button", { class: "sl-send", type: "button", "data-testid": "send" }, t("send"));
  const file = el("input", { type: "file", hidden: true, "data-testid": "file-input" });
  const attach = iconButton("attach", t("attach"), "M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5H9v9a3 3 0 0 0 6 0V5a4.5 4.5 0 0 0-9 0v11.5a6 6 0 0 0 12 0v-10z");
  const mic = iconButton("voice", t("voice_start"), "M12 15a3 3 0 0 0 3-3V6a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.9V21h2v-2.1a7 7 0 0 0 6-6.9h-2z");
  const locate = iconButton("location", t("location"), "M12 2a7 7 0 0 0-7 7c0 5.2 7 13 7 13s7-7.8 7-13a7 7 0 0 0-7-7zm0 9.5A2.5 2.5 0 1 1 12 6.5a2.5 2.5 0 0 1 0 5z");
  // 报修 / 预约: what the store takes from customers (its profile and appointment services), filled in at boot.
  const entries = el("div", { class: "sl-entries", "data-testid": "entries" });
  const tools = el("div", { class: "sl-tools" }, attach, mic, locate, entries);
  const composer = el("div", { class: "sl-composer" }, tools, el("div", { class: "sl-row" }, input, send), file);

  const recordTime = el("span", { class: "sl-rec-time", "data-testid": "recording" });
  const recordCancel = el("button", { class: "sl-rec-cancel", type: "button" }, t("voice_cancel"));
  const recordStop = el("button", { class: "sl-rec-stop", type: "button", "data-testid": "voice-stop" }, t("voice_stop"));
  const recorder = el("div", { class: "sl-recorder", hidden: true }, el("span", { class: "sl-rec-dot" }), recordTime, recordCancel, recordStop);
  const toast = el("div", { class: "sl-toast", role: "status", hidden: true });
  const footer = el("footer", { class: "sl-footer" }, topics, recorder, composer);

  root.append(header, network, queue, scroller, typing, footer, toast);
  return { root, title, status, presenceDot, network, queue, earlier, empty, list, scroller, typing, topics, input, send, file, attach, mic, entries,
    locate, recorder, recordTime, recordCancel, recordStop, toast };
}

function iconButton(name, label, path) {
  const button = el("button", { class: `sl-icon sl-${name}`, type: "button", "aria-label": label, title: label, "data-testid": name });
  button.innerHTML = `<svg viewBox="0 0 24 24" aria-hidden="true"><path d="${path}"/></svg>`;
  return button;
}

function toast(text) {
  ui.toast.textContent = text;
  ui.toast.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (ui.toast.hidden = true), 4000);
}

// ---------- start ----------
let identityToken = null;
start();

async function start() {
  if (embedded) identityToken = await handshakeWithHost();
  else identityToken = tokenFromFragment();
  await boot();
}

function tokenFromFragment() {
  const hash = new URLSearchParams(location.hash.slice(1));
  const token = hash.get("identity_token");
  if (token) history.replaceState(null, "", location.pathname + location.search); // not left in the address bar
  return token;
}

// The host page's origin, learnt from its first storelink:init: from then on the panel posts only to it (the session
// and its access token travel in storelink:storage) and accepts messages only from it.
let hostOrigin = null;

function toHost(message) {
  if (embedded && hostOrigin) window.parent.postMessage(message, hostOrigin);
}

function fromHost(event) {
  return embedded && event.source === window.parent && hostOrigin !== null && event.origin === hostOrigin;
}

// Asks the host page (widget.js) for its settings; without an answer within 2 s the panel starts anonymously.
// The hello carries nothing, so it may go to any origin: the parent's origin is not known before it answers.
function handshakeWithHost() {
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
      if (!localStore()) storage = new HostStore(event.data.storage, toHost);
      resolve(event.data.token || null);
    });
    window.parent.postMessage({ type: "storelink:hello" }, "*");
  });
}

window.addEventListener("message", async (event) => {
  if (!fromHost(event)) return;
  const data = event.data || {};
  if (data.type === "storelink:visibility") setVisible(!!data.open);
  else if (data.type === "storelink:identify" && data.token) {
    identityToken = data.token;
    await boot();
  } else if (data.type === "storelink:logout") {
    storage.removeItem(storagePrefix + "auth");
    identityToken = null;
    await boot();
  }
});

// The composer is usable once the session and the outbox are loaded (and again after a change of customer).
function setBooting(booting) {
  for (const control of [ui.input, ui.send, ui.attach, ui.mic, ui.locate]) control.disabled = booting;
}

async function boot() {
  setBooting(true);
  realtime.stop();
  state.messages.clear();
  state.conversation = null;
  state.storeReadSeq = 0;
  state.oldestSeq = null;
  ui.list.replaceChildren();
  try {
    state.profile = await api.get(`/v1/stores/by-key/${encodeURIComponent(storeKey)}/profile`);
    state.profileAt = performance.now();
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      ui.empty.textContent = t("store_missing");
      ui.root.classList.add("sl-disabled");
      return;
    }
    throw e;
  }
  ui.title.textContent = state.profile.name;
  document.title = state.profile.name;
  await signIn();
  // What the server writes to this customer (the out-of-hours reply, who serves them, the rating card) follows it.
  await api.put("/v1/me/language", { language: lang }).catch(() => {});
  state.outbox = new Outbox(storage, `${storagePrefix}${state.me.id}:outbox`);
  await loadConversation();
  renderStatus();
  refreshPresence();
  renderOutbox();
  setBooting(false);
  realtime.start(api.token);
  loadEntries();
}

async function signIn() {
  const saved = readJson("auth");
  if (identityToken) {
    const subject = jwtSubject(identityToken);
    if (!saved || saved.kind !== "customer" || saved.sub !== subject) {
      try {
        const answer = await api.post("/v1/auth/customer", { store_key: storeKey, identity_token: identityToken });
        writeJson("auth", { token: answer.access_token, kind: "customer", sub: subject, user: answer.user });
      } catch (e) {
        // An expired or foreign identity token: stay who we were (or become a visitor) rather than show nothing.
        console.warn("StoreLink: identity token refused", e.code);
        if (!saved) await signInAsVisitor();
      }
    }
  } else if (!saved) {
    await signInAsVisitor();
  }
  const auth = readJson("auth");
  api.token = auth.token;
  try {
    state.me = await api.get("/v1/me");
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 401) throw e;
    // The token was revoked or expired: a customer signs in again with its identity token, a visitor starts anew.
    storage.removeItem(storagePrefix + "auth");
    if (identityToken && auth.kind === "customer") {
      const answer = await api.post("/v1/auth/customer", { store_key: storeKey, identity_token: identityToken });
      writeJson("auth", { token: answer.access_token, kind: "customer", sub: jwtSubject(identityToken), user: answer.user });
    } else {
      await signInAsVisitor();
    }
    api.token = readJson("auth").token;
    state.me = await api.get("/v1/me");
  }
}

async function signInAsVisitor() {
  const answer = await api.post("/v1/auth/visitor", { store_key: storeKey });
  writeJson("auth", { token: answer.access_token, kind: "visitor", user: answer.user });
}

// The customer's latest conversation with this store (resolved ones too: their rating card stays visible).
// None yet: it is opened with the first message, in the queue the customer picked.
async function loadConversation() {
  const conversations = await api.get("/v1/conversations?limit=50");
  const latest = conversations.find((c) => c.kind === "service" && c.store_id === state.profile.id);
  if (latest) {
    await useConversation(latest);
  } else {
    state.queues = await api.get(`/v1/stores/by-key/${encodeURIComponent(storeKey)}/queues`).catch(() => []);
    renderTopics();
  }
}

async function useConversation(conversation) {
  state.conversation = conversation;
  state.myReadSeq = conversation.read_seq ?? 0;
  ui.topics.hidden = true;
  const page = await api.get(`/v1/conversations/${conversation.id}/messages?before_seq=${conversation.last_seq + 1}&limit=50`);
  for (const message of page.reverse()) addMessage(message);
  state.oldestSeq = page.length ? page[0].seq : null;
  ui.earlier.hidden = !(state.oldestSeq > 1);
  await Promise.all([refreshReceipts(), refreshQueue(), refreshRatings()]);
  scrollToEnd(true);
  markRead();
}

async function loadEarlier() {
  if (!state.conversation || !(state.oldestSeq > 1)) return;
  const height = ui.scroller.scrollHeight;
  const page = await api.get(`/v1/conversations/${state.conversation.id}/messages?before_seq=${state.oldestSeq}&limit=50`);
  for (const message of page) addMessage(message);
  if (page.length) state.oldestSeq = page[page.length - 1].seq;
  ui.earlier.hidden = !(state.oldestSeq > 1) || page.length === 0;
  ui.scroller.scrollTop = ui.scroller.scrollHeight - height;
}

async function adoptConversation(id) {
  const conversation = await api.get(`/v1/conversations/${encodeURIComponent(id)}`).catch(() => null);
  if (conversation?.kind === "service" && conversation.store_id === state.profile.id && !state.conversation) await useConversation(conversation);
}

async function ensureConversation() {
  if (state.conversation) return state.conversation;
  const body = { store_key: storeKey };
  if (state.chosenQueue) body.queue_id = state.chosenQueue;
  const conversation = await api.post("/v1/conversations", body);
  state.conversation = conversation;
  state.myReadSeq = conversation.read_seq ?? 0;
  ui.topics.hidden = true;
  return conversation;
}

// ---------- realtime ----------
realtime.addEventListener("ready", async () => {
  state.online = true;
  renderNetwork();
  try {
    if (state.conversation) {
      // Everything missed while away arrives as message frames before the ok.
      await realtime.request({ type: "sync", positions: { [state.conversation.id]: lastSeq() } });
      const fresh = await api.get(`/v1/conversations/${state.conversation.id}`);
      Object.assign(state.conversation, fresh);
      await Promise.all([refreshReceipts(), refreshQueue()]);
      markRead();
    }
  } catch (e) {
    console.warn("StoreLink: catch-up failed", e);
  }
  flush();
});

realtime.addEventListener("state", (event) => {
  if (event.detail.state !== "closed") return;
  state.online = false;
  renderNetwork();
});

realtime.addEventListener("unauthorized", async () => {
  // 4001: this token is dead. Sign in again (boot reconnects with the new token), never reuse it.
  storage.removeItem(storagePrefix + "auth");
  await boot().catch(() => toast(t("error_session")));
});

realtime.addEventListener("terminal", () => toast(t("error_session")));

realtime.addEventListener("frame", (event) => {
  const frame = event.detail;
  switch (frame.type) {
    case "message":
      if (frame.message.conversation_id !== state.conversation?.id) {
        // The customer's first conversation with the store was opened elsewhere (another tab or device): show it.
        if (!state.conversation) adoptConversation(frame.message.conversation_id);
        return;
      }
      addMessage(frame.message);
      scrollToEnd();
      markRead();
      // Someone answered while the header said nobody is there: ask again rather than contradict the chat.
      if (frame.message.sender?.kind === "staff" && !state.staffOnline) refreshPresence();
      break;
    case "message_recalled": {
      const message = state.messages.get(frame.message_id);
      if (message) addMessage({ ...message, recalled: true, body: null });
      break;
    }
    case "receipt":
      if (frame.conversation_id !== state.conversation?.id) return;
      if (frame.user_id === state.me.id) {
        state.myReadSeq = Math.max(state.myReadSeq, frame.read_seq);
        postUnread();
      } else {
        state.storeReadSeq = Math.max(state.storeReadSeq, frame.read_seq);
        renderReadMarks();
      }
      break;
    case "typing":
      if (frame.conversation_id === state.conversation?.id && frame.user_id !== state.me.id) showTyping();
      break;
    case "queue_position":
      if (frame.conversation_id === state.conversation?.id) {
        state.queue = frame;
        renderQueue();
      }
      break;
    case "conversation":
      if (frame.conversation.id === state.conversation?.id) {
        const servedBy = state.conversation.assignee_id;
        Object.assign(state.conversation, frame.conversation);
        // Whether someone is there follows who serves this customer (see GET …/presence).
        if ((frame.conversation.assignee_id ?? null) !== (servedBy ?? null)) refreshPresence();
        if (frame.conversation.assignee_id || frame.conversation.state === "resolved") {
          state.queue = null;
          renderQueue();
        }
      }
      break;
  }
});

window.addEventListener("offline", () => {
  realtime.suspend();
  state.online = false;
  renderNetwork();
});
window.addEventListener("online", () => realtime.resume());
document.addEventListener("visibilitychange", () => {
  if (!embedded) setVisible(document.visibilityState === "visible");
  if (document.visibilityState === "visible") realtime.resume();
});

function setVisible(visible) {
  state.visible = visible;
  if (visible) markRead();
}

// ---------- sending ----------
ui.send.addEventListener("click", sendText);
ui.input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    sendText();
  }
});
ui.input.addEventListener("input", () => {
  autoGrow();
  // Typing frames at most every 3 s (the server ignores more than 5 per second anyway).
  const now = Date.now();
  if (state.conversation && ui.input.value && now - (sendText.lastTyping ?? 0) > 3000) {
    sendText.lastTyping = now;
    realtime.notify({ type: "typing", conversation_id: state.conversation.id });
  }
});

function autoGrow() {
  ui.input.style.height = "auto";
  ui.input.style.height = Math.min(ui.input.scrollHeight, 120) + "px";
}

function sendText() {
  const text = ui.input.value.trim();
  if (!text) return;
  ui.input.value = "";
  autoGrow();
  enqueue({ kind: "text", body: { text } });
}

ui.attach.addEventListener("click", () => ui.file.click());
ui.file.addEventListener("change", async () => {
  for (const file of ui.file.files) await enqueueFile(file, kindOfFile(file), {});
  ui.file.value = "";
});

function kindOfFile(file) {
  if (file.type.startsWith("image/")) return "image";
  if (file.type.startsWith("video/")) return "video";
  return "file";
}

async function enqueueFile(blob, kind, extra) {
  const clientMsgId = newClientMsgId();
  const name = blob.name || (kind === "voice" ? "voice.webm" : "file");
  // The bytes wait in IndexedDB until they are uploaded, so a reload while offline keeps them.
  await putBlob(clientMsgId, blob).catch(() => {});
  enqueue({ kind, body: { ...extra }, upload: { name, type: blob.type, size: blob.size } }, clientMsgId, blob);
}

function enqueue(message, clientMsgId = newClientMsgId(), blob = null) {
  const entry = { client_msg_id: clientMsgId, kind: message.kind, body: message.body, upload: message.upload ?? null,
    state: "pending", created_at: serverNow() };
  state.outbox.add(entry);
  if (blob) localBlobs.set(clientMsgId, blob);
  renderPending(entry);
  scrollToEnd(true);
  flush();
}

const localBlobs = new Map();

// Sends the outbox in order, one at a time, while the socket is up. An entry leaves the outbox only when the server
// has it (ok, or found in history), so a drop at any point resends it with the same client_msg_id.
async function flush() {
  if (state.flushing) return;
  state.flushing = true;
  try {
    for (let entry = state.outbox.next(); entry && realtime.ready; entry = state.outbox.next()) {
      try {
        const conversation = await ensureConversation();
        if (entry.upload && !entry.body.attachment_id) {
          const blob = localBlobs.get(entry.client_msg_id) ?? (await getBlob(entry.client_msg_id));
          if (!blob) throw new ApiError(400, "invalid_request", "the file is gone");
          const attachment = await api.upload(blob, entry.upload.name);
          entry.body.attachment_id = attachment.id;
          state.outbox.update(entry);
        }
        const ok = await realtime.request({ type: "send", conversation_id: conversation.id, client_msg_id: entry.client_msg_id,
          kind: entry.kind, body: entry.body });
        state.outbox.remove(entry.client_msg_id);
        addMessage(ok.message);
        scrollToEnd(true);
      } catch (e) {
        if (e.code === "disconnected" || e.code === "timeout" || e.network || e.code === "rate_limited" || e.code === "unavailable") break;
        if (e.code === "conflict" && state.conversation) {
          // Another conversation with the store is open (e.g. from another device): send there instead.
          state.conversation = null;
          await ensureConversation().then((c) => useConversation(c)).catch(() => {});
          continue;
        }
        entry.state = "failed";
        entry.error = e.code || "error";
        state.outbox.update(entry);
        renderPending(entry);
        toast(e.code === "too_large" ? t("error_too_large") : t("error_generic"));
      }
    }
  } finally {
    state.flushing = false;
  }
}

// ---------- voice notes ----------
let recording = null;
ui.mic.addEventListener("click", startRecording);
ui.recordCancel.addEventListener("click", () => stopRecording(false));
ui.recordStop.addEventListener("click", () => stopRecording(true));

async function startRecording() {
  if (recording) return;
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (e) {
    toast(t("mic_failed", { reason: e.message || e.name }));
    return;
  }
  const type = ["audio/webm;codecs=opus", "audio/webm", "audio/ogg;codecs=opus", "audio/mp4"].find((m) => MediaRecorder.isTypeSupported(m));
  const recorder = new MediaRecorder(stream, type ? { mimeType: type } : undefined);
  const chunks = [];
  recorder.ondataavailable = (event) => event.data.size && chunks.push(event.data);
  recording = { recorder, stream, chunks, started: performance.now(), send: false };
  recorder.onstop = async () => {
    const { send, started } = recording;
    const duration = Math.round(performance.now() - started);
    stream.getTracks().forEach((track) => track.stop());
    clearInterval(recording.timer);
    recording = null;
    ui.recorder.hidden = true;
    ui.root.classList.remove("sl-recording");
    if (!send || chunks.length === 0) return;
    const mime = (recorder.mimeType || "audio/webm").split(";")[0];
    const blob = new File(chunks, `voice.${mime.split("/")[1]}`, { type: mime });
    await enqueueFile(blob, "voice", { duration_ms: Math.max(duration, 1) });
  };
  recorder.start(250);
  ui.recorder.hidden = false;
  ui.root.classList.add("sl-recording");
  const tick = () => (ui.recordTime.textContent = t("recording", { seconds: Math.floor((performance.now() - recording.started) / 1000) }));
  tick();
  recording.timer = setInterval(tick, 500);
}

function stopRecording(send) {
  if (!recording) return;
  recording.send = send;
  recording.recorder.stop();
}

// ---------- location ----------
ui.locate.addEventListener("click", () => {
  navigator.geolocation.getCurrentPosition(
    (position) => enqueue({ kind: "location", body: {
      latitude: Number(position.coords.latitude.toFixed(6)), longitude: Number(position.coords.longitude.toFixed(6)), label: t("location_label") } }),
    (error) => toast(t("location_failed", { reason: error.message })),
    { enableHighAccuracy: true, timeout: 15000 });
});

// ---------- rendering ----------
function lastSeq() {
  let max = 0;
  for (const message of state.messages.values()) max = Math.max(max, message.seq);
  return max;
}

// Adds or replaces a message; the same id twice is one bubble, and a message of ours replaces its pending bubble.
function addMessage(message) {
  const known = state.messages.has(message.id);
  state.messages.set(message.id, message);
  if (message.sender?.id === state.me.id && message.client_msg_id) {
    state.outbox?.remove(message.client_msg_id);
    ui.list.querySelector(`[data-cmid="${CSS.escape(message.client_msg_id)}"].sl-pending`)?.remove();
  }
  const node = renderMessage(message);
  const existing = ui.list.querySelector(`[data-id="${CSS.escape(message.id)}"]`);
  if (existing) existing.replaceWith(node);
  else {
    // In seq order; pending bubbles stay after every stored message.
    const after = [...ui.list.children].find((child) => child.classList.contains("sl-pending") || Number(child.dataset.seq) > message.seq);
    ui.list.insertBefore(node, after ?? null);
  }
  if (!known && message.kind === "card" && message.body?.ref?.type === "work_item") {
    for (const other of state.messages.values())
      if (other !== message && other.kind === "card" && other.body?.ref?.id === message.body.ref.id && other.seq < message.seq)
        ui.list.querySelector(`[data-id="${CSS.escape(other.id)}"]`)?.replaceWith(renderMessage(other));
  }
  if (!known) {
    ui.empty.hidden = true;
    if (message.sender?.kind === "staff") {
      state.queue = null;
      renderQueue();
      hideTyping();
    }
  }
  postUnread();
}

function renderOutbox() {
  for (const entry of state.outbox.list()) renderPending(entry);
}

function renderPending(entry) {
  if (state.outbox && !state.outbox.has(entry.client_msg_id)) return;
  const message = { id: null, client_msg_id: entry.client_msg_id, kind: entry.kind, body: entry.body, sender: state.me,
    created_at: entry.created_at, pending: entry };
  const node = renderMessage(message);
  const existing = ui.list.querySelector(`[data-cmid="${CSS.escape(entry.client_msg_id)}"].sl-pending`);
  if (existing) existing.replaceWith(node);
  else ui.list.append(node);
  ui.empty.hidden = true;
}

function renderMessage(message) {
  const mine = message.sender?.id === state.me.id;
  const system = message.kind === "system" || message.sender?.kind === "system" && message.kind !== "card";
  const attrs = { class: "sl-msg", "data-cmid": message.client_msg_id ?? "", "data-kind": message.kind };
  if (message.id) {
    attrs["data-id"] = message.id;
    attrs["data-seq"] = message.seq;
  }
  const node = el("div", attrs);
  if (message.recalled) {
    node.classList.add("sl-system", "sl-recalled");
    node.append(el("div", { class: "sl-note" }, mine ? t("recalled_me") : t("recalled_other")));
    return node;
  }
  if (system) {
    node.classList.add("sl-system");
    node.append(el("div", { class: "sl-note" }, message.body?.text ?? ""));
    return node;
  }
  if (message.kind === "card") {
    node.classList.add("sl-card-row");
    node.append(renderCard(message));
    return node;
  }
  node.classList.add(mine ? "sl-mine" : "sl-theirs");
  if (message.pending) node.classList.add("sl-pending");
  if (!mine && message.sender?.name) node.append(el("div", { class: "sl-sender" }, message.sender.name));
  node.append(el("div", { class: "sl-bubble" }, renderBody(message)));
  const meta = el("div", { class: "sl-meta" }, el("time", { datetime: message.created_at }, formatClock(message.created_at, lang)));
  if (mine) meta.append(el("span", { class: "sl-receipt", "data-testid": "receipt" }, receiptText(message)));
  if (message.pending?.state === "failed") {
    const retry = el("button", { class: "sl-retry", type: "button" }, t("retry"));
    retry.addEventListener("click", () => {
      message.pending.state = "pending";
      state.outbox.update(message.pending);
      renderPending(message.pending);
      flush();
    });
    meta.append(retry);
  }
  node.append(meta);
  return node;
}

function receiptText(message) {
  if (message.pending) return message.pending.state === "failed" ? t("failed") : state.online ? t("sending") : t("waiting_network");
  return message.seq <= state.storeReadSeq ? t("read") : t("unread");
}

function renderReadMarks() {
  for (const node of ui.list.querySelectorAll(".sl-mine[data-seq] .sl-receipt")) {
    const seq = Number(node.closest(".sl-msg").dataset.seq);
    node.textContent = seq <= state.storeReadSeq ? t("read") : t("unread");
    node.classList.toggle("sl-is-read", seq <= state.storeReadSeq);
  }
}

function renderBody(message) {
  const body = message.body ?? {};
  switch (message.kind) {
    case "text":
      return el("div", { class: "sl-text" }, body.text ?? "");
    case "image": {
      const img = el("img", { class: "sl-image", alt: t("image"), loading: "lazy" });
      mediaSource(message, (url) => {
        img.src = url;
        img.addEventListener("load", () => scrollToEnd(), { once: true });
      });
      img.addEventListener("click", () => img.src && window.open(img.src, "_blank"));
      return img;
    }
    case "video": {
      const video = el("video", { class: "sl-video", controls: true, preload: "metadata" });
      mediaSource(message, (url) => (video.src = url));
      return video;
    }
    case "voice": {
      const seconds = Math.max(1, Math.round((body.duration_ms ?? 0) / 1000));
      const button = el("button", { class: "sl-voice", type: "button", style: `width:${Math.min(70 + seconds * 6, 200)}px` },
        el("span", { class: "sl-voice-icon" }, "▶"), t("voice_note", { seconds }));
      let audio = null;
      mediaSource(message, (url) => (audio = new Audio(url)));
      button.addEventListener("click", () => {
        if (!audio) return;
        if (audio.paused) { audio.currentTime = 0; audio.play(); button.classList.add("sl-playing"); }
        else { audio.pause(); button.classList.remove("sl-playing"); }
        audio.onended = () => button.classList.remove("sl-playing");
      });
      return button;
    }
    case "file": {
      const name = body.name ?? message.pending?.upload?.name ?? t("file");
      const link = el("a", { class: "sl-file", href: "#" }, icon(Icons.file, "sl-file-icon"),
        el("span", { class: "sl-file-name" }, name), el("span", { class: "sl-file-size" }, formatSize(body.size ?? message.pending?.upload?.size)));
      link.addEventListener("click", async (event) => {
        event.preventDefault();
        if (!body.attachment_id) return;
        const url = await api.attachmentBlobUrl(body.attachment_id);
        Object.assign(document.createElement("a"), { href: url, download: name }).click();
      });
      return link;
    }
    case "location": {
      const link = el("a", { class: "sl-location", href: amapUrl(body), target: "_blank", rel: "noopener" },
        icon(Icons.pin, "sl-pin"),
        el("span", {}, el("strong", {}, body.label || t("location_label")), el("br"),
          el("small", {}, `${Number(body.latitude).toFixed(5)}, ${Number(body.longitude).toFixed(5)}`)));
      return link;
    }
    default:
      return el("div", { class: "sl-text" }, body.text ?? `[${message.kind}]`);
  }
}

// A pending attachment shows its local bytes; a stored one is fetched with the token.
function mediaSource(message, apply) {
  const local = message.pending && (localBlobs.get(message.client_msg_id));
  if (local) return apply(URL.createObjectURL(local));
  if (message.pending) {
    getBlob(message.client_msg_id).then((blob) => blob && apply(URL.createObjectURL(blob))).catch(() => {});
    return;
  }
  if (message.body?.attachment_id) api.attachmentBlobUrl(message.body.attachment_id).then(apply).catch(() => {});
}

function formatSize(bytes) {
  if (!bytes) return "";
  if (bytes < 1024) return `${bytes} B`;
  return bytes < 1024 * 1024 ? `${Math.ceil(bytes / 1024)} KB` : `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

// ---------- cards ----------
function renderCard(message) {
  const body = message.body ?? {};
  const card = el("div", { class: "sl-card", "data-testid": `card-${body.ref?.type ?? "generic"}` });
  card.append(el("div", { class: "sl-card-title" }, body.title ?? ""));
  const fields = (body.fields ?? []).map((f) => el("div", { class: "sl-field" }, el("span", { class: "sl-label" }, f.label), el("span", { class: "sl-value" }, f.value)));
  if (fields.length) card.append(el("div", { class: "sl-fields" }, ...fields));
  if (body.ref?.type === "csat") card.append(renderCsat(message));
  else if (state.actionsDone.has(message.id)) card.append(el("div", { class: "sl-action-done" }, `${t("action_done")} · ${state.actionsDone.get(message.id)}`));
  else if ((body.actions ?? []).length && CardActions[body.ref?.type] && !supersededCard(message)) card.append(renderActions(message));
  return card;
}

function renderCsat(message) {
  const box = el("div", { class: "sl-csat" });
  const rating = ratingFor(message);
  if (rating) {
    box.append(el("div", { class: "sl-csat-done", "data-testid": "csat-done" }, t("csat_thanks"), " ", t("csat_your_rating", { rating: rating.rating })));
    return box;
  }
  let chosen = 0;
  const stars = [1, 2, 3, 4, 5].map((n) => {
    const star = el("button", { class: "sl-star", type: "button", "aria-label": t("csat_star", { n }), "data-testid": `csat-${n}` }, "★");
    star.addEventListener("click", () => {
      chosen = n;
      stars.forEach((s, i) => s.classList.toggle("sl-on", i < n));
      submit.disabled = false;
    });
    return star;
  });
  const comment = el("textarea", { class: "sl-csat-comment", rows: 2, maxlength: 500, placeholder: t("csat_comment"), "data-testid": "csat-comment" });
  const submit = el("button", { class: "sl-primary", type: "button", disabled: true, "data-testid": "csat-submit" }, t("csat_submit"));
  submit.addEventListener("click", async () => {
    submit.disabled = true;
    try {
      const saved = await api.post(`/v1/conversations/${message.body.ref.id}/csat`, { rating: chosen, comment: comment.value.trim() || undefined });
      state.ratings.unshift({ ...saved, card_id: message.id });
      box.replaceWith(renderCsat(message));
    } catch (e) {
      submit.disabled = false;
      toast(t("action_failed", { reason: e.message }));
    }
  });
  box.append(el("div", { class: "sl-stars" }, ...stars), comment, submit);
  return box;
}

// The rating that answers this card: given after the card was posted (a card per resolution).
function ratingFor(message) {
  return state.ratings.find((r) => r.card_id === message.id || Date.parse(r.created_at) >= Date.parse(message.created_at) &&
    !laterCsatCard(message, r));
}

function laterCsatCard(message, rating) {
  for (const other of state.messages.values())
    if (other.kind === "card" && other.body?.ref?.type === "csat" && other.seq > message.seq && Date.parse(other.created_at) <= Date.parse(rating.created_at))
      return true;
  return false;
}

async function refreshRatings() {
  if (![...state.messages.values()].some((m) => m.kind === "card" && m.body?.ref?.type === "csat")) return;
  state.ratings = await api.get(`/v1/conversations/${state.conversation.id}/csat`).catch(() => []);
  for (const message of state.messages.values())
    if (message.kind === "card" && message.body?.ref?.type === "csat") addMessage(message);
}

// The card is drawn again by id: the item's next card may have arrived (and redrawn this one) meanwhile.
function actionDone(message, action) {
  state.actionsDone.set(message.id, action.label);
  ui.list.querySelector(`[data-id="${CSS.escape(message.id)}"]`)?.replaceWith(renderMessage(message));
}

// Only the newest card of a work item or appointment offers actions; older ones are its history.
function supersededCard(message) {
  for (const other of state.messages.values())
    if (other.kind === "card" && other.body?.ref?.id === message.body?.ref?.id && other.seq > message.seq) return true;
  return false;
}

// What a card's buttons do, per ref.type; a card of another type shows its fields and no buttons.
const CardActions = {
  work_item: workItemAction,
  appointment: appointmentAction,
};

function renderActions(message) {
  const body = message.body;
  const row = el("div", { class: "sl-actions" });
  const setBusy = (busy) => row.querySelectorAll("button").forEach((b) => (b.disabled = busy));
  for (const action of body.actions) {
    const button = el("button", { class: "sl-action", type: "button", "data-action": action.id }, action.label);
    button.addEventListener("click", () => CardActions[body.ref.type](message, action, row, setBusy));
    row.append(button);
  }
  return row;
}

async function workItemAction(message, action, row, setBusy) {
  const body = message.body;
  setBusy(true);
  const request = { action: action.id };
  try {
    await api.post(`/v1/work-items/${encodeURIComponent(body.ref.id)}/actions`, request);
    actionDone(message, action);
  } catch (e) {
    if (e.code === "invalid_request" && /address/i.test(e.message)) {
      // Actions such as 修改收货地址 need the new address.
      const address = window.prompt(t("address_prompt"));
      if (address) {
        try {
          await api.post(`/v1/work-items/${encodeURIComponent(body.ref.id)}/actions`, { ...request, address });
          actionDone(message, action);
          return;
        } catch (inner) {
          e = inner;
        }
      }
    }
    setBusy(false);
    toast(t("action_failed", { reason: plainReason(e) }));
  }
}

// The action_id of a change asked from this card: the same for every tap on it (a double tap, a retry after a lost
// answer), so the server does it once; another card of the appointment, or another target slot, is another change.
function actionIdFor(message, what) {
  const key = `${message.id}|${what}`;
  if (!state.actionIds.has(key)) state.actionIds.set(key, newClientMsgId());
  return state.actionIds.get(key);
}

function appointmentAction(message, action, row, setBusy) {
  if (action.id === "cancel") confirmCancel(message, action, row, setBusy);
  else if (action.id === "reschedule") openSlotPicker(message, action);
  else toast(t("action_failed", { reason: t("apt_unknown_action") }));
}

// Cancelling asks once more in the card itself (no browser dialog: web views of apps often suppress them).
function confirmCancel(message, action, row, setBusy) {
  const question = el("div", { class: "sl-confirm", "data-testid": "apt-cancel-confirm" });
  const yes = el("button", { class: "sl-primary", type: "button", "data-testid": "apt-cancel-yes" }, t("apt_cancel_yes"));
  const no = el("button", { class: "sl-action", type: "button" }, t("apt_cancel_no"));
  question.append(el("div", { class: "sl-confirm-text" }, t("apt_cancel_question")), el("div", { class: "sl-actions" }, yes, no));
  row.hidden = true;
  row.after(question);
  no.addEventListener("click", () => {
    question.remove();
    row.hidden = false;
  });
  yes.addEventListener("click", async () => {
    yes.disabled = no.disabled = true;
    setBusy(true);
    try {
      await api.post(`/v1/appointments/${encodeURIComponent(message.body.ref.id)}/cancel`, { action_id: actionIdFor(message, "cancel") });
      actionDone(message, action);
    } catch (e) {
      question.remove();
      row.hidden = false;
      setBusy(false);
      toast(t("action_failed", { reason: plainReason(e) }));
    }
  });
}

// A sheet over the chat (at the bottom on a phone): a title, what the caller adds, and a foot with 关闭.
function openSheet(title, testid) {
  document.querySelector(".sl-sheet-backdrop")?.remove();
  const close = el("button", { class: "sl-action", type: "button", "data-testid": `${testid}-close` }, t("apt_picker_close"));
  const foot = el("div", { class: "sl-sheet-foot" }, close);
  const sheet = el("div", { class: "sl-sheet", role: "dialog", "aria-modal": "true", "aria-label": title, "data-testid": testid },
    el("div", { class: "sl-sheet-title" }, title), foot);
  const backdrop = el("div", { class: "sl-sheet-backdrop" }, sheet);
  const dismiss = () => backdrop.remove();
  close.addEventListener("click", dismiss);
  backdrop.addEventListener("click", (event) => event.target === backdrop && dismiss());
  ui.root.append(backdrop);
  return { add: (...nodes) => nodes.forEach((node) => sheet.insertBefore(node, foot)), foot, dismiss };
}

// Slots grouped by the store's local date, a button each.
function slotDays(slots, button) {
  const days = new Map();
  for (const slot of slots) days.set(slot.date, [...(days.get(slot.date) ?? []), slot]);
  return [...days].map(([date, list]) => el("div", { class: "sl-day" },
    el("div", { class: "sl-day-title" }, dayText(date)),
    el("div", { class: "sl-day-slots" }, ...list.map(button))));
}

const serviceLabel = (service) => (lang === "en" && service?.label_en) || service?.label;

// 改约: a sheet over the chat listing the slots of the appointment's service with places left, from today on
// (the server applies the store's notice and booking window), grouped by the store's local date.
async function openSlotPicker(message, action) {
  const list = el("div", { class: "sl-slots", "data-testid": "apt-slots" }, el("div", { class: "sl-sheet-note" }, t("apt_loading")));
  const current = el("div", { class: "sl-sheet-note" });
  const { add, dismiss } = openSheet(t("apt_picker_title"), "apt-picker");
  add(current, list);

  const id = encodeURIComponent(message.body.ref.id);
  let appointment;
  const load = async () => {
    try {
      appointment ??= await api.get(`/v1/appointments/${id}`);
      if (appointment.status !== "booked" || !(appointment.actions ?? []).includes("reschedule")) {
        list.replaceChildren(el("div", { class: "sl-sheet-note" }, t("apt_cannot_move")));
        return;
      }
      const answer = await api.get(`/v1/appointment-slots?store_key=${encodeURIComponent(storeKey)}&service=${encodeURIComponent(appointment.service)}`);
      const label = serviceLabel(answer.services?.find((s) => s.key === appointment.service)) || appointment.service_label;
      const from = answer.slots?.find((s) => Date.parse(s.starts_at) === Date.parse(appointment.starts_at));
      current.textContent = t("apt_current", { service: label, time: from ? slotText(from) : formatClock(appointment.starts_at, lang) });
      const open = (answer.slots ?? []).filter((s) => s.remaining > 0 && Date.parse(s.starts_at) !== Date.parse(appointment.starts_at));
      if (!open.length) {
        list.replaceChildren(el("div", { class: "sl-sheet-note", "data-testid": "apt-no-slots" }, t("apt_no_slots")));
        return;
      }
      list.replaceChildren(...slotDays(open, slotButton));
    } catch (e) {
      list.replaceChildren(el("div", { class: "sl-sheet-note" }, t("action_failed", { reason: plainReason(e) })));
    }
  };
  const slotButton = (slot) => {
    const button = el("button", { class: "sl-slot", type: "button", "data-testid": "apt-slot", "data-starts-at": slot.starts_at,
      title: t("apt_places_left", { count: slot.remaining }) }, slot.time);
    button.addEventListener("click", async () => {
      list.querySelectorAll("button").forEach((b) => (b.disabled = true));
      button.classList.add("sl-chosen");
      try {
        await api.post(`/v1/appointments/${id}/move`, { starts_at: slot.starts_at, action_id: actionIdFor(message, `move ${slot.starts_at}`) });
        dismiss();
        actionDone(message, action);
        toast(t("apt_moved", { time: `${dayText(slot.date)} ${slot.time}` }));
      } catch (e) {
        // The server's refusal says what to do (约满 → choose another; too close → contact the store).
        toast(e.status === 409 ? plainReason(e) : t("action_failed", { reason: plainReason(e) }));
        // The slot may have filled meanwhile: show what is left to pick from.
        if (e.status === 409) appointment = null;
        await load();
      }
    });
    return button;
  };
  await load();
}

// ---------- 报修 / 预约: the customer starts a work item or books a slot ----------
// The entries are the kinds of work item the store takes from customers (its profile) and, when it has a
// schedule with services, 预约. A store that offers neither shows none.
async function loadEntries() {
  const buttons = (state.profile.customer_work_kinds ?? []).map((kind) => entryButton(kind, () => openWorkSheet(kind)));
  try {
    const today = new Intl.DateTimeFormat("en-CA", { timeZone: state.profile.time_zone, year: "numeric", month: "2-digit", day: "2-digit" })
      .format(new Date(serverNow()));
    state.services = (await api.get(`/v1/appointment-slots?store_key=${encodeURIComponent(storeKey)}&from=${today}&to=${today}`)).services ?? [];
  } catch {
    state.services = [];
  }
  if (state.services.length) buttons.push(entryButton("booking", openBookingSheet));
  ui.entries.replaceChildren(...buttons);
}

function entryButton(key, open) {
  const button = el("button", { class: "sl-entry", type: "button", "data-testid": `entry-${key}` }, t(`entry_${key}`));
  button.addEventListener("click", open);
  return button;
}

// 报修: the customer describes the problem in their words, with photos; the store's rules guess the category and
// assign it, and the item's cards come into this chat. One Idempotency-Key per text, so a retry after a lost
// answer does not make a second item.
function openWorkSheet(kind) {
  const { add, foot, dismiss } = openSheet(t(`entry_${kind}_title`), "work-sheet");
  const description = el("textarea", { class: "sl-field-input", rows: 4, maxlength: 2000, placeholder: t(`entry_${kind}_hint`), "data-testid": "work-description" });
  const phone = el("input", { class: "sl-field-input", type: "tel", maxlength: 20, placeholder: t("work_phone"), "data-testid": "work-phone" });
  const file = el("input", { type: "file", accept: "image/*", multiple: true, hidden: true, "data-testid": "work-photos" });
  const addPhoto = el("button", { class: "sl-action", type: "button" }, t("work_add_photo"));
  const thumbs = el("div", { class: "sl-thumbs" });
  const error = el("div", { class: "sl-sheet-error", role: "alert", hidden: true });
  const submit = el("button", { class: "sl-primary", type: "button", "data-testid": "work-submit" }, t("work_submit"));
  const photos = [];
  const uploaded = new Map(); // File → attachment id, so a retry does not upload again
  let key = newClientMsgId();
  description.addEventListener("input", () => (key = newClientMsgId()));
  addPhoto.addEventListener("click", () => file.click());
  file.addEventListener("change", () => {
    for (const photo of file.files) if (photos.length < 9) photos.push(photo);
    file.value = "";
    renderThumbs();
  });
  const renderThumbs = () => thumbs.replaceChildren(...photos.map((photo, i) => {
    const remove = el("button", { class: "sl-thumb-remove", type: "button", "aria-label": t("work_photo_remove") }, "×");
    remove.addEventListener("click", () => {
      photos.splice(i, 1);
      key = newClientMsgId();
      renderThumbs();
    });
    return el("span", { class: "sl-thumb" }, el("img", { src: URL.createObjectURL(photo), alt: photo.name }), remove);
  }));
  add(description, el("div", { class: "sl-photo-row" }, addPhoto, el("span", { class: "sl-sheet-note" }, t("work_photos_max"))), thumbs, phone, error, file);
  foot.append(submit);
  description.focus();
  submit.addEventListener("click", async () => {
    if (!description.value.trim()) {
      error.textContent = t("work_need_description");
      error.hidden = false;
      return;
    }
    submit.disabled = true;
    error.hidden = true;
    try {
      const conversation = await ensureConversation();
      for (const photo of photos) if (!uploaded.has(photo)) uploaded.set(photo, (await api.upload(photo, photo.name || "photo.jpg")).id);
      const body = { store_key: storeKey, kind, description: description.value.trim(), conversation_id: conversation.id,
        attachment_ids: photos.map((photo) => uploaded.get(photo)) };
      if (phone.value.trim()) body.fields = { phone: phone.value.trim() };
      const item = await api.post("/v1/work-items", body, { "idempotency-key": key });
      dismiss();
      toast(t("work_done", { number: item.number }));
    } catch (e) {
      error.textContent = plainReason(e);
      error.hidden = false;
      submit.disabled = false;
    }
  });
}

// 预约: a service (chosen at once when there is one), a slot with places left, an optional note, then 确认预约.
// The booking's idempotency_key is one per slot picked on this sheet: a double tap books once.
function openBookingSheet() {
  const { add, dismiss } = openSheet(t("booking_title"), "booking-sheet");
  const services = el("div", { class: "sl-services", "data-testid": "booking-services" });
  const list = el("div", { class: "sl-slots", "data-testid": "booking-slots" });
  const confirm = el("div", { class: "sl-booking-confirm", hidden: true });
  add(el("div", { class: "sl-sheet-note" }, t("booking_choose_service")), services, list, confirm);
  const keys = new Map();
  let chosen = null;
  const chips = state.services.map((service) => {
    const chip = el("button", { class: "sl-chip", type: "button", "data-service": service.key }, serviceLabel(service));
    chip.addEventListener("click", () => {
      chosen = service;
      chips.forEach((c) => c.classList.toggle("sl-on", c === chip));
      load();
    });
    return chip;
  });
  services.replaceChildren(...chips);
  const load = async () => {
    confirm.hidden = true;
    list.replaceChildren(el("div", { class: "sl-sheet-note" }, t("apt_loading")));
    try {
      const answer = await api.get(`/v1/appointment-slots?store_key=${encodeURIComponent(storeKey)}&service=${encodeURIComponent(chosen.key)}`);
      const open = (answer.slots ?? []).filter((s) => s.remaining > 0);
      list.replaceChildren(...(open.length ? slotDays(open, slotButton)
        : [el("div", { class: "sl-sheet-note", "data-testid": "booking-no-slots" }, t("apt_no_slots"))]));
    } catch (e) {
      list.replaceChildren(el("div", { class: "sl-sheet-note" }, t("action_failed", { reason: plainReason(e) })));
    }
  };
  const slotButton = (slot) => {
    const button = el("button", { class: "sl-slot", type: "button", "data-testid": "booking-slot", "data-starts-at": slot.starts_at,
      title: t("apt_places_left", { count: slot.remaining }) }, slot.time);
    button.addEventListener("click", () => {
      list.querySelectorAll(".sl-slot").forEach((b) => b.classList.toggle("sl-chosen", b === button));
      showConfirm(slot);
    });
    return button;
  };
  const showConfirm = (slot) => {
    const note = el("input", { class: "sl-field-input", maxlength: 500, placeholder: t("booking_note"), "data-testid": "booking-note" });
    const book = el("button", { class: "sl-primary", type: "button", "data-testid": "booking-submit" }, t("booking_confirm"));
    const time = slotText(slot);
    book.addEventListener("click", async () => {
      book.disabled = true;
      const key = `${chosen.key} ${slot.starts_at}`;
      if (!keys.has(key)) keys.set(key, newClientMsgId());
      try {
        const conversation = await ensureConversation();
        await api.post("/v1/appointments", { store_key: storeKey, service: chosen.key, starts_at: slot.starts_at, note: note.value.trim() || undefined,
          conversation_id: conversation.id, idempotency_key: keys.get(key) });
        dismiss();
        toast(t("booking_done", { time }));
      } catch (e) {
        book.disabled = false;
        toast(e.status === 409 ? plainReason(e) : t("action_failed", { reason: plainReason(e) }));
        if (e.status === 409) await load(); // taken meanwhile: pick another
      }
    });
    confirm.replaceChildren(el("div", { class: "sl-confirm-text", "data-testid": "booking-chosen" }, t("booking_confirm_text", { service: serviceLabel(chosen), time })), note, book);
    confirm.hidden = false;
  };
  if (state.services.length === 1) chips[0].click();
}

function dayText(date) {
  const [year, month, day] = date.split("-").map(Number);
  const weekday = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"][new Date(Date.UTC(year, month - 1, day)).getUTCDay()];
  return t("apt_day", { month, day, weekday: t(`weekday_${weekday}`) });
}

function slotText(slot) {
  return `${dayText(slot.date)} ${slot.time}`;
}

// The server writes its refusals in the customer's language (the one the widget stored with PUT /v1/me/language).
function plainReason(e) {
  if (e instanceof ApiError && e.network) return t("error_network");
  return e?.message || t("error_generic");
}

// ---------- status, queue, receipts ----------
// The server's clock as of now: its time at the last profile fetch plus what passed on this device since.
function serverNow() {
  return new Date(Date.parse(state.profile.now) + (performance.now() - state.profileAt)).toISOString();
}

function renderStatus() {
  const profile = state.profile;
  const hours = profile.open_now ? t("open_now")
    : profile.opens_at ? t("closed_until", { time: formatOpening(profile.opens_at, profile.time_zone, t, lang, serverNow()) }) : t("closed");
  ui.status.textContent = `${hours} · ${state.staffOnline ? t("online") : t("offline_staff")}`;
  ui.presenceDot.classList.toggle("sl-on", !!state.staffOnline);
}

async function refreshPresence() {
  try {
    const [presence, profile] = await Promise.all([
      api.get(`/v1/stores/by-key/${encodeURIComponent(storeKey)}/presence`),
      api.get(`/v1/stores/by-key/${encodeURIComponent(storeKey)}/profile`),
    ]);
    state.staffOnline = presence.online;
    state.profile = profile;
    state.profileAt = performance.now();
    renderStatus();
  } catch {
    /* offline: keep what we showed */
  }
  clearTimeout(refreshPresence.timer);
  refreshPresence.timer = setTimeout(refreshPresence, 60000);
}

async function refreshQueue() {
  if (!state.conversation) return;
  const position = await api.get(`/v1/conversations/${state.conversation.id}/queue`).catch(() => null);
  state.queue = position && position.position > 0 ? position : null;
  renderQueue();
}

function renderQueue() {
  const queue = state.queue;
  if (!queue || !(queue.position > 0)) {
    ui.queue.hidden = true;
    return;
  }
  const lines = [queue.position === 1 ? t("queue_next") : t("queue_position", { ahead: queue.position - 1, position: queue.position })];
  if (queue.opens_at) lines.push(t("queue_opens", { time: formatOpening(queue.opens_at, state.profile.time_zone, t, lang, serverNow()) }));
  else if (queue.estimated_wait_seconds != null) lines.push(t("queue_wait", { minutes: Math.max(1, Math.round(queue.estimated_wait_seconds / 60)) }));
  ui.queue.replaceChildren(...lines.map((line) => el("div", {}, line)));
  ui.queue.hidden = false;
}

async function refreshReceipts() {
  if (!state.conversation) return;
  const receipts = await api.get(`/v1/conversations/${state.conversation.id}/receipts`).catch(() => []);
  for (const receipt of receipts) {
    if (receipt.user_id === state.me.id) state.myReadSeq = Math.max(state.myReadSeq, receipt.read_seq);
    else state.storeReadSeq = Math.max(state.storeReadSeq, receipt.read_seq);
  }
  renderReadMarks();
}

// Tells the store what the customer has seen: only while the chat is on screen, only forward.
function markRead() {
  if (!state.visible || !state.conversation) return;
  let seq = 0;
  for (const message of state.messages.values()) if (message.sender?.id !== state.me.id) seq = Math.max(seq, message.seq);
  if (seq <= state.myReadSeq) return postUnread();
  state.myReadSeq = seq;
  postUnread();
  if (realtime.ready) realtime.request({ type: "read", conversation_id: state.conversation.id, seq }).catch(() => {});
  else api.post(`/v1/conversations/${state.conversation.id}/read`, { seq }).catch(() => {});
}

function postUnread() {
  if (!embedded) return;
  let count = 0;
  for (const message of state.messages.values())
    if (message.sender?.id !== state.me?.id && message.seq > state.myReadSeq && message.kind !== "system") count++;
  if (count !== postUnread.last) {
    postUnread.last = count;
    toHost({ type: "storelink:unread", count });
  }
}

function renderNetwork() {
  clearTimeout(renderNetwork.timer);
  const update = () => {
    const offline = !navigator.onLine;
    ui.network.hidden = state.online;
    ui.network.textContent = offline ? t("net_offline") : t("net_connecting");
    ui.network.classList.toggle("sl-offline", offline);
    for (const node of ui.list.querySelectorAll(".sl-pending .sl-receipt")) {
      const entry = state.outbox.list().find((e) => e.client_msg_id === node.closest(".sl-msg").dataset.cmid);
      if (entry) node.textContent = entry.state === "failed" ? t("failed") : state.online ? t("sending") : t("waiting_network");
    }
  };
  // "Connecting" only after a moment, so a quick reconnect does not flash a banner; "offline" at once.
  if (state.online || !navigator.onLine) update();
  else renderNetwork.timer = setTimeout(update, 1500);
}

function showTyping() {
  ui.typing.hidden = false;
  clearTimeout(showTyping.timer);
  showTyping.timer = setTimeout(hideTyping, 5000);
}

function hideTyping() {
  ui.typing.hidden = true;
}

function renderTopics() {
  if (!state.queues.length) return;
  const chips = state.queues.map((queue) => {
    const chip = el("button", { class: "sl-chip", type: "button", "data-queue": queue.id }, queue.name);
    chip.addEventListener("click", () => {
      state.chosenQueue = state.chosenQueue === queue.id ? null : queue.id;
      chips.forEach((c) => c.classList.toggle("sl-on", c.dataset.queue === state.chosenQueue));
      ui.input.focus();
    });
    return chip;
  });
  ui.topics.replaceChildren(el("span", { class: "sl-topics-label" }, t("choose_topic")), ...chips);
  ui.topics.hidden = false;
}

function scrollToEnd(force = false) {
  const s = ui.scroller;
  if (force || s.scrollHeight - s.scrollTop - s.clientHeight < 160) requestAnimationFrame(() => (s.scrollTop = s.scrollHeight));
}

function readJson(name) {
  try { return JSON.parse(storage.getItem(storagePrefix + name)); } catch { return null; }
}

function writeJson(name, value) {
  storage.setItem(storagePrefix + name, JSON.stringify(value));
}

// For tests and the host page's console: what the widget holds.
window.storelinkWidget = { state, realtime };
