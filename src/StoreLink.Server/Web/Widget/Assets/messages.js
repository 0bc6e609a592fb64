// The conversation on screen: messages by id in seq order, the outbox's pending bubbles after them, each kind's body.
import { el, icon, size } from "/assets/shared/dom.js";
import { getBlob } from "./outbox.js";
import { api, lang, localBlobs, state, t } from "./context.js";
import { ui, Icons } from "./layout.js";
import { formatClock, amapUrl } from "./format.js";
import { postUnread } from "./host.js";
import { flush } from "./composer.js";
import { renderCard } from "./cards.js";
import { hideTyping, renderQueue, scrollToEnd } from "./status.js";
import { callSummary } from "/assets/shared/calls/text.js";

// Adds or replaces a message; the same id twice is one bubble, and a message of ours replaces its pending bubble.
export function addMessage(message) {
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

export function renderOutbox() {
  for (const entry of state.outbox.list()) renderPending(entry);
}

export function renderPending(entry) {
  if (state.outbox && !state.outbox.has(entry.client_msg_id)) return;
  const message = { id: null, client_msg_id: entry.client_msg_id, kind: entry.kind, body: entry.body, sender: state.me,
    created_at: entry.created_at, pending: entry };
  const node = renderMessage(message);
  const existing = ui.list.querySelector(`[data-cmid="${CSS.escape(entry.client_msg_id)}"].sl-pending`);
  if (existing) existing.replaceWith(node);
  else ui.list.append(node);
  ui.empty.hidden = true;
}

export function renderMessage(message) {
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
  if (message.kind === "call") {
    // The server's summary of a call, worded here in the reader's language.
    node.classList.add("sl-system");
    node.append(el("div", { class: "sl-note sl-call-summary", "data-testid": "call-summary" }, icon(Icons.phone, "sl-call-summary-icon"),
      callSummary(message.body, (key, values) => t("call_" + key, values))));
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

export function receiptText(message) {
  if (message.pending) return message.pending.state === "failed" ? t("failed") : state.online ? t("sending") : t("waiting_network");
  return message.seq <= state.storeReadSeq ? t("read") : t("unread");
}

export function renderReadMarks() {
  for (const node of ui.list.querySelectorAll(".sl-mine[data-seq] .sl-receipt")) {
    const seq = Number(node.closest(".sl-msg").dataset.seq);
    node.textContent = seq <= state.storeReadSeq ? t("read") : t("unread");
    node.classList.toggle("sl-is-read", seq <= state.storeReadSeq);
  }
}

export function renderBody(message) {
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
        el("span", { class: "sl-file-name" }, name), el("span", { class: "sl-file-size" }, size(body.size ?? message.pending?.upload?.size)));
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
export function mediaSource(message, apply) {
  const local = message.pending && (localBlobs.get(message.client_msg_id));
  if (local) return apply(URL.createObjectURL(local));
  if (message.pending) {
    getBlob(message.client_msg_id).then((blob) => blob && apply(URL.createObjectURL(blob))).catch(() => {});
    return;
  }
  if (message.body?.attachment_id) api.attachmentBlobUrl(message.body.attachment_id).then(apply).catch(() => {});
}
