// Sheets over the chat (报修, 预约, 改约) and what they share: slots by local date, the server's refusals in plain words.
import { el } from "/assets/shared/dom.js";
import { ApiError } from "./api.js";
import { lang, t } from "./context.js";
import { ui } from "./layout.js";

// A sheet over the chat (at the bottom on a phone): a title, what the caller adds, and a foot with 关闭.
export function openSheet(title, testid) {
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
export function slotDays(slots, button) {
  const days = new Map();
  for (const slot of slots) days.set(slot.date, [...(days.get(slot.date) ?? []), slot]);
  return [...days].map(([date, list]) => el("div", { class: "sl-day" },
    el("div", { class: "sl-day-title" }, dayText(date)),
    el("div", { class: "sl-day-slots" }, ...list.map(button))));
}

export const serviceLabel = (service) => (lang === "en" && service?.label_en) || service?.label;

export function dayText(date) {
  const [year, month, day] = date.split("-").map(Number);
  const weekday = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"][new Date(Date.UTC(year, month - 1, day)).getUTCDay()];
  return t("apt_day", { month, day, weekday: t(`weekday_${weekday}`) });
}

export function slotText(slot) {
  return `${dayText(slot.date)} ${slot.time}`;
}

// The server writes its refusals in the customer's language (the one the widget stored with PUT /v1/me/language).
export function plainReason(e) {
  if (e instanceof ApiError && e.network) return t("error_network");
  return e?.message || t("error_generic");
}
