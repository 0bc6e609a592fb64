import { el } from "/assets/shared/dom.js";
import { newClientMsgId } from "./outbox.js";
import { api, serverNow, state, storeKey, t } from "./context.js";
import { ui, toast } from "./layout.js";
import { ensureConversation } from "./session.js";
import { openBookingSheet } from "./booking.js";
import { openSheet, plainReason } from "./sheets.js";

// 报修 / 预约 beside the composer: the customer starts a work item or books a slot.
// The entries are the kinds of work item the store takes from customers (its profile) and, when it has a
// schedule with services, 预约. A store that offers neither shows none.
export async function loadEntries() {
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

export function entryButton(key, open) {
  const button = el("button", { class: "sl-entry", type: "button", "data-testid": `entry-${key}` }, t(`entry_${key}`));
  button.addEventListener("click", open);
  return button;
}

// 报修: the customer describes the problem in their words, with photos; the store's rules guess the category and
// assign it, and the item's cards come into this chat. One Idempotency-Key per text, so a retry after a lost
// answer does not make a second item.
export function openWorkSheet(kind) {
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
