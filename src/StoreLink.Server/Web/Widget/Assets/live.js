// What the live socket brings: after every ready (the socket has synced what was missed by then) the conversation,
// receipts and queue are read again and the outbox is sent; pushed frames update what is on screen.
import { api, embedded, realtime, state, storagePrefix, t } from "./context.js";
import { toast } from "./layout.js";
import { postUnread, setVisible } from "./host.js";
import { adoptConversation, boot } from "./session.js";
import { flush } from "./composer.js";
import { calls } from "./calls.js";
import { addMessage, renderReadMarks } from "./messages.js";
import { markRead, refreshPresence, refreshQueue, refreshReceipts, renderNetwork, renderQueue, scrollToEnd, showTyping } from "./status.js";

realtime.addEventListener("ready", async () => {
  state.online = true;
  renderNetwork();
  try {
    if (state.conversation) {
      const fresh = await api.get(`/v1/conversations/${state.conversation.id}`);
      Object.assign(state.conversation, fresh);
      await Promise.all([refreshReceipts(), refreshQueue()]);
      markRead();
      // A call that rings for us (or that this page was in before a reload) is picked up.
      calls.resume(state.conversation.id);
    }
  } catch (e) {
    console.warn("StoreLink: catch-up failed", e);
  }
  flush();
});

realtime.addEventListener("state", (event) => {
  if (event.detail !== "offline" && event.detail !== "ended") return;
  state.online = false;
  renderNetwork();
});

realtime.addEventListener("ended", async (event) => {
  if (event.detail.code !== 4001) {
    toast(t("error_session"));
    return;
  }
  // 4001: this token is dead. Sign in again (boot reconnects with the new token), never reuse it.
  state.storage.removeItem(storagePrefix + "auth");
  await boot().catch(() => toast(t("error_session")));
});

const on = (type, handle) => realtime.addEventListener(type, (event) => handle(event.detail));
const here = (frame) => frame.conversation_id === state.conversation?.id;

on("message", (frame) => {
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
});

on("message_recalled", (frame) => {
  const message = state.messages.get(frame.message_id);
  if (message) addMessage({ ...message, recalled: true, body: null });
});

on("receipt", (frame) => {
  if (!here(frame)) return;
  if (frame.user_id === state.me.id) {
    state.myReadSeq = Math.max(state.myReadSeq, frame.read_seq);
    postUnread();
  } else {
    state.storeReadSeq = Math.max(state.storeReadSeq, frame.read_seq);
    renderReadMarks();
  }
});

on("typing", (frame) => {
  if (here(frame) && frame.user_id !== state.me.id) showTyping();
});

on("queue_position", (frame) => {
  if (!here(frame)) return;
  state.queue = frame;
  renderQueue();
});

on("conversation", (frame) => {
  if (frame.conversation.id !== state.conversation?.id) return;
  const servedBy = state.conversation.assignee_id;
  Object.assign(state.conversation, frame.conversation);
  // Whether someone is there follows who serves this customer (see GET …/presence).
  if ((frame.conversation.assignee_id ?? null) !== (servedBy ?? null)) refreshPresence();
  if (frame.conversation.assignee_id || frame.conversation.state === "resolved") {
    state.queue = null;
    renderQueue();
  }
});

// The socket closes itself when the browser goes offline and comes back with it; the banner says which it is.
window.addEventListener("offline", () => {
  state.online = false;
  renderNetwork();
});
document.addEventListener("visibilitychange", () => {
  if (!embedded) setVisible(document.visibilityState === "visible");
});
