// Sending: what the customer writes (text, files, location) gets its client_msg_id at once and waits in the outbox;
// flush() sends the outbox in order whenever the socket is up (docs/widget.md → Offline and reconnecting).
import { ApiError } from "./api.js";
import { newClientMsgId, putBlob, getBlob } from "./outbox.js";
import { api, localBlobs, realtime, serverNow, state, t } from "./context.js";
import { ui, toast } from "./layout.js";
import { ensureConversation, useConversation } from "./session.js";
import { addMessage, renderPending } from "./messages.js";
import { scrollToEnd } from "./status.js";

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

export function autoGrow() {
  ui.input.style.height = "auto";
  ui.input.style.height = Math.min(ui.input.scrollHeight, 120) + "px";
}

export function sendText() {
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

export function kindOfFile(file) {
  if (file.type.startsWith("image/")) return "image";
  if (file.type.startsWith("video/")) return "video";
  return "file";
}

export async function enqueueFile(blob, kind, extra) {
  const clientMsgId = newClientMsgId();
  const name = blob.name || (kind === "voice" ? "voice.webm" : "file");
  // The bytes wait in IndexedDB until they are uploaded, so a reload while offline keeps them.
  await putBlob(clientMsgId, blob).catch(() => {});
  enqueue({ kind, body: { ...extra }, upload: { name, type: blob.type, size: blob.size } }, clientMsgId, blob);
}

export function enqueue(message, clientMsgId = newClientMsgId(), blob = null) {
  const entry = { client_msg_id: clientMsgId, kind: message.kind, body: message.body, upload: message.upload ?? null,
    state: "pending", created_at: serverNow() };
  state.outbox.add(entry);
  if (blob) localBlobs.set(clientMsgId, blob);
  renderPending(entry);
  scrollToEnd(true);
  flush();
}

// Sends the outbox in order, one at a time, while the socket is up. An entry leaves the outbox only when the server
// has it (ok, or found in history), so a drop at any point resends it with the same client_msg_id.
export async function flush() {
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

// The browser's position, sent as a location message.
ui.locate.addEventListener("click", () => {
  navigator.geolocation.getCurrentPosition(
    (position) => enqueue({ kind: "location", body: {
      latitude: Number(position.coords.latitude.toFixed(6)), longitude: Number(position.coords.longitude.toFixed(6)), label: t("location_label") } }),
    (error) => toast(t("location_failed", { reason: error.message })),
    { enableHighAccuracy: true, timeout: 15000 });
});
