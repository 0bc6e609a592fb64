// What every part of the chat page shares: the page's parameters and language, the REST client, the live socket and
// the state the parts read and change. It imports no other part of the page, so it is evaluated before all of them.
import { Api } from "./api.js";
import { LiveSocket } from "/assets/shared/socket.js";
import { pickLanguage, strings } from "./i18n.js";
import { localStore, MemoryStore } from "./storage.js";

const params = new URLSearchParams(location.search);
export const storeKey = document.body.dataset.store;
export const embedded = params.get("embed") === "1" && window.parent !== window;
export const lang = pickLanguage(params.get("lang"));
export const t = strings(lang);
document.documentElement.lang = lang;

export const api = new Api();
// After every ready the socket syncs from the last seq on screen: what was missed arrives as message frames.
export const realtime = new LiveSocket({ positions: () => (state.conversation ? { [state.conversation.id]: lastSeq() } : null) });
export const storagePrefix = `storelink:${storeKey}:`;
// File and voice-note bytes written on this page, by client_msg_id, until they are uploaded.
export const localBlobs = new Map();

export const state = {
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
  // Where the session and the outbox are kept (storage.js): the host page's storage when this frame's is blocked.
  storage: localStore() ?? new MemoryStore(),
  identityToken: null, // the signed-in customer's, from the host page or the page's fragment; null for a visitor
};

// The server's clock as of now: its time at the last profile fetch plus what passed on this device since.
export function serverNow() {
  return new Date(Date.parse(state.profile.now) + (performance.now() - state.profileAt)).toISOString();
}

export function lastSeq() {
  let max = 0;
  for (const message of state.messages.values()) max = Math.max(max, message.seq);
  return max;
}

export function readJson(name) {
  try { return JSON.parse(state.storage.getItem(storagePrefix + name)); } catch { return null; }
}

export function writeJson(name, value) {
  state.storage.setItem(storagePrefix + name, JSON.stringify(value));
}
