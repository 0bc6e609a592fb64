// Cards in the chat: the rating card (csat), work-item cards and appointment cards with their actions. Only the
// newest card of an item or appointment acts; a card of a type this page does not know shows no buttons.
import { el } from "/assets/shared/dom.js";
import { newClientMsgId } from "./outbox.js";
import { api, state, t } from "./context.js";
import { ui, toast } from "./layout.js";
import { addMessage, renderMessage } from "./messages.js";
import { plainReason } from "./sheets.js";
import { openSlotPicker } from "./booking.js";

export function renderCard(message) {
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

export function renderCsat(message) {
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
export function ratingFor(message) {
  return state.ratings.find((r) => r.card_id === message.id || Date.parse(r.created_at) >= Date.parse(message.created_at) &&
    !laterCsatCard(message, r));
}

export function laterCsatCard(message, rating) {
  for (const other of state.messages.values())
    if (other.kind === "card" && other.body?.ref?.type === "csat" && other.seq > message.seq && Date.parse(other.created_at) <= Date.parse(rating.created_at))
      return true;
  return false;
}

export async function refreshRatings() {
  if (![...state.messages.values()].some((m) => m.kind === "card" && m.body?.ref?.type === "csat")) return;
  state.ratings = await api.get(`/v1/conversations/${state.conversation.id}/csat`).catch(() => []);
  for (const message of state.messages.values())
    if (message.kind === "card" && message.body?.ref?.type === "csat") addMessage(message);
}

// The card is drawn again by id: the item's next card may have arrived (and redrawn this one) meanwhile.
export function actionDone(message, action) {
  state.actionsDone.set(message.id, action.label);
  ui.list.querySelector(`[data-id="${CSS.escape(message.id)}"]`)?.replaceWith(renderMessage(message));
}

// Only the newest card of a work item or appointment offers actions; older ones are its history.
export function supersededCard(message) {
  for (const other of state.messages.values())
    if (other.kind === "card" && other.body?.ref?.id === message.body?.ref?.id && other.seq > message.seq) return true;
  return false;
}

// What a card's buttons do, per ref.type; a card of another type shows its fields and no buttons.
const CardActions = {
  work_item: workItemAction,
  appointment: appointmentAction,
};

export function renderActions(message) {
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

export async function workItemAction(message, action, row, setBusy) {
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
export function actionIdFor(message, what) {
  const key = `${message.id}|${what}`;
  if (!state.actionIds.has(key)) state.actionIds.set(key, newClientMsgId());
  return state.actionIds.get(key);
}

export function appointmentAction(message, action, row, setBusy) {
  if (action.id === "cancel") confirmCancel(message, action, row, setBusy);
  else if (action.id === "reschedule") openSlotPicker(message, action);
  else toast(t("action_failed", { reason: t("apt_unknown_action") }));
}

// Cancelling asks once more in the card itself (no browser dialog: web views of apps often suppress them).
export function confirmCancel(message, action, row, setBusy) {
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
