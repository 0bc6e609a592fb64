// 预约 from the composer's entry and 改约 from an appointment card: both list the slots with places left.
import { el } from "/assets/shared/dom.js";
import { newClientMsgId } from "./outbox.js";
import { api, lang, state, storeKey, t } from "./context.js";
import { toast } from "./layout.js";
import { formatClock } from "./format.js";
import { ensureConversation } from "./session.js";
import { actionDone, actionIdFor } from "./cards.js";
import { dayText, openSheet, plainReason, serviceLabel, slotDays, slotText } from "./sheets.js";

// 改约: a sheet over the chat listing the slots of the appointment's service with places left, from today on
// (the server applies the store's notice and booking window), grouped by the store's local date.
export async function openSlotPicker(message, action) {
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

// 预约: a service (chosen at once when there is one), a slot with places left, an optional note, then 确认预约.
// The booking's idempotency_key is one per slot picked on this sheet: a double tap books once.
export function openBookingSheet() {
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
