// Who the customer is (a visitor, or a customer by the store's identity token) and which conversation is on screen.
import { Outbox } from "./outbox.js";
import { ApiError } from "./api.js";
import { jwtSubject } from "./format.js";
import { api, embedded, lang, readJson, realtime, state, storagePrefix, storeKey, t, writeJson } from "./context.js";
import { ui } from "./layout.js";
import { handshakeWithHost, tokenFromFragment } from "./host.js";
import { addMessage, renderOutbox } from "./messages.js";
import { refreshRatings } from "./cards.js";
import { loadEntries } from "./entries.js";
import { markRead, refreshPresence, refreshQueue, refreshReceipts, renderStatus, renderTopics, scrollToEnd } from "./status.js";

ui.earlier.addEventListener("click", loadEarlier);

export async function start() {
  if (embedded) state.identityToken = await handshakeWithHost();
  else state.identityToken = tokenFromFragment();
  await boot();
}

// The composer is usable once the session and the outbox are loaded (and again after a change of customer).
export function setBooting(booting) {
  for (const control of [ui.input, ui.send, ui.attach, ui.mic, ui.locate, ui.callVoice, ui.callVideo]) control.disabled = booting;
}

export async function boot() {
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
  state.outbox = new Outbox(state.storage, `${storagePrefix}${state.me.id}:outbox`);
  await loadConversation();
  renderStatus();
  refreshPresence();
  renderOutbox();
  setBooting(false);
  realtime.start(api.token);
  loadEntries();
}

export async function signIn() {
  const saved = readJson("auth");
  if (state.identityToken) {
    const subject = jwtSubject(state.identityToken);
    if (!saved || saved.kind !== "customer" || saved.sub !== subject) {
      try {
        const answer = await api.post("/v1/auth/customer", { store_key: storeKey, identity_token: state.identityToken });
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
    state.storage.removeItem(storagePrefix + "auth");
    if (state.identityToken && auth.kind === "customer") {
      const answer = await api.post("/v1/auth/customer", { store_key: storeKey, identity_token: state.identityToken });
      writeJson("auth", { token: answer.access_token, kind: "customer", sub: jwtSubject(state.identityToken), user: answer.user });
    } else {
      await signInAsVisitor();
    }
    api.token = readJson("auth").token;
    state.me = await api.get("/v1/me");
  }
}

export async function signInAsVisitor() {
  const answer = await api.post("/v1/auth/visitor", { store_key: storeKey });
  writeJson("auth", { token: answer.access_token, kind: "visitor", user: answer.user });
}

// The customer's latest conversation with this store (resolved ones too: their rating card stays visible).
// None yet: it is opened with the first message, in the queue the customer picked.
export async function loadConversation() {
  const conversations = await api.get("/v1/conversations?limit=50");
  const latest = conversations.find((c) => c.kind === "service" && c.store_id === state.profile.id);
  if (latest) {
    await useConversation(latest);
  } else {
    state.queues = await api.get(`/v1/stores/by-key/${encodeURIComponent(storeKey)}/queues`).catch(() => []);
    renderTopics();
  }
}

export async function useConversation(conversation) {
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

export async function loadEarlier() {
  if (!state.conversation || !(state.oldestSeq > 1)) return;
  const height = ui.scroller.scrollHeight;
  const page = await api.get(`/v1/conversations/${state.conversation.id}/messages?before_seq=${state.oldestSeq}&limit=50`);
  for (const message of page) addMessage(message);
  if (page.length) state.oldestSeq = page[page.length - 1].seq;
  ui.earlier.hidden = !(state.oldestSeq > 1) || page.length === 0;
  ui.scroller.scrollTop = ui.scroller.scrollHeight - height;
}

export async function adoptConversation(id) {
  const conversation = await api.get(`/v1/conversations/${encodeURIComponent(id)}`).catch(() => null);
  if (conversation?.kind === "service" && conversation.store_id === state.profile.id && !state.conversation) await useConversation(conversation);
}

export async function ensureConversation() {
  if (state.conversation) return state.conversation;
  const body = { store_key: storeKey };
  if (state.chosenQueue) body.queue_id = state.chosenQueue;
  const conversation = await api.post("/v1/conversations", body);
  state.conversation = conversation;
  state.myReadSeq = conversation.read_seq ?? 0;
  ui.topics.hidden = true;
  return conversation;
}
