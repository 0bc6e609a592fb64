// The header and banners: open hours and whether someone is there, the queue position, the network, typing;
// receipts both ways (read marks on the customer's messages, read sent for what is on screen).
import { el } from "/assets/shared/dom.js";
import { api, lang, realtime, serverNow, state, storeKey, t } from "./context.js";
import { ui } from "./layout.js";
import { formatOpening } from "./format.js";
import { postUnread } from "./host.js";
import { renderReadMarks } from "./messages.js";

export function renderStatus() {
  const profile = state.profile;
  const hours = profile.open_now ? t("open_now")
    : profile.opens_at ? t("closed_until", { time: formatOpening(profile.opens_at, profile.time_zone, t, lang, serverNow()) }) : t("closed");
  ui.status.textContent = `${hours} · ${state.staffOnline ? t("online") : t("offline_staff")}`;
  ui.presenceDot.classList.toggle("sl-on", !!state.staffOnline);
}

export async function refreshPresence() {
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

export async function refreshQueue() {
  if (!state.conversation) return;
  const position = await api.get(`/v1/conversations/${state.conversation.id}/queue`).catch(() => null);
  state.queue = position && position.position > 0 ? position : null;
  renderQueue();
}

export function renderQueue() {
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

export async function refreshReceipts() {
  if (!state.conversation) return;
  const receipts = await api.get(`/v1/conversations/${state.conversation.id}/receipts`).catch(() => []);
  for (const receipt of receipts) {
    if (receipt.user_id === state.me.id) state.myReadSeq = Math.max(state.myReadSeq, receipt.read_seq);
    else state.storeReadSeq = Math.max(state.storeReadSeq, receipt.read_seq);
  }
  renderReadMarks();
}

// Tells the store what the customer has seen: only while the chat is on screen, only forward.
export function markRead() {
  if (!state.visible || !state.conversation) return;
  let seq = 0;
  for (const message of state.messages.values()) if (message.sender?.id !== state.me.id) seq = Math.max(seq, message.seq);
  if (seq <= state.myReadSeq) return postUnread();
  state.myReadSeq = seq;
  postUnread();
  if (realtime.ready) realtime.request({ type: "read", conversation_id: state.conversation.id, seq }).catch(() => {});
  else api.post(`/v1/conversations/${state.conversation.id}/read`, { seq }).catch(() => {});
}

export function renderNetwork() {
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

export function showTyping() {
  ui.typing.hidden = false;
  clearTimeout(showTyping.timer);
  showTyping.timer = setTimeout(hideTyping, 5000);
}

export function hideTyping() {
  ui.typing.hidden = true;
}

export function renderTopics() {
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

export function scrollToEnd(force = false) {
  const s = ui.scroller;
  if (force || s.scrollHeight - s.scrollTop - s.clientHeight < 160) requestAnimationFrame(() => (s.scrollTop = s.scrollHeight));
}
