// The page's elements, built once (the parts fill them in and add their listeners), and its toast.
import { el, icon } from "/assets/shared/dom.js";
import { embedded, t } from "./context.js";

export const Icons = {
  attach: "M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5H9v9a3 3 0 0 0 6 0V5a4.5 4.5 0 0 0-9 0v11.5a6 6 0 0 0 12 0v-10z",
  voice: "M12 15a3 3 0 0 0 3-3V6a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.9V21h2v-2.1a7 7 0 0 0 6-6.9h-2z",
  pin: "M12 2a7 7 0 0 0-7 7c0 5.2 7 13 7 13s7-7.8 7-13a7 7 0 0 0-7-7zm0 9.5A2.5 2.5 0 1 1 12 6.5a2.5 2.5 0 0 1 0 5z",
  phone: "M6.6 10.8a15.1 15.1 0 0 0 6.6 6.6l2.2-2.2c.3-.3.7-.4 1-.2 1.1.4 2.3.6 3.6.6.6 0 1 .4 1 1V20c0 .6-.4 1-1 1A17 17 0 0 1 3 4c0-.6.4-1 1-1h3.5c.6 0 1 .4 1 1 0 1.3.2 2.5.6 3.6.1.3 0 .7-.2 1l-2.3 2.2z",
  video: "M17 10.5V7a1 1 0 0 0-1-1H4a1 1 0 0 0-1 1v10a1 1 0 0 0 1 1h12a1 1 0 0 0 1-1v-3.5l4 4v-11l-4 4z",
  flip: "M20 5h-3.2L15 3H9L7.2 5H4a2 2 0 0 0-2 2v12a2 2 0 0 0 2 2h16a2 2 0 0 0 2-2V7a2 2 0 0 0-2-2zm-5 11.5V14H9v2.5L5.5 13 9 9.5V12h6V9.5l3.5 3.5-3.5 3.5z",
  file: "M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8l-6-6zm0 1.5L18.5 8H14V3.5zM8 12h8v1.5H8V12zm0 3.5h8V17H8v-1.5z",
};

export const ui = buildLayout();
document.body.append(ui.root);

function buildLayout() {
  const root = el("div", { class: "sl-app" });
  const title = el("div", { class: "sl-title" }, document.body.dataset.storeName || t("title"));
  const status = el("div", { class: "sl-status", "data-testid": "store-status" });
  const presenceDot = el("span", { class: "sl-dot" });
  const closeButton = el("button", { class: "sl-icon sl-close", type: "button", "aria-label": t("close"), title: t("close") }, "×");
  closeButton.hidden = !embedded;
  // 语音通话 / 视频通话 with the store (calls.js).
  const callVoice = iconButton("call-voice", t("call_start_voice"), Icons.phone);
  const callVideo = iconButton("call-video", t("call_start_video"), Icons.video);
  const header = el("header", { class: "sl-header" },
    el("div", { class: "sl-heading" }, title, el("div", { class: "sl-sub" }, presenceDot, status)), callVoice, callVideo, closeButton);

  const network = el("div", { class: "sl-banner sl-network", "data-testid": "network-banner", hidden: true });
  const queue = el("div", { class: "sl-banner sl-queue", "data-testid": "queue-banner", hidden: true });
  const earlier = el("button", { class: "sl-earlier", type: "button", hidden: true }, t("load_earlier"));
  const empty = el("div", { class: "sl-empty" }, t("empty"));
  const list = el("div", { class: "sl-list", "data-testid": "messages" });
  // An incoming call rings in the chat, after the last message; the call screen covers the page while it lasts.
  const callCard = el("div", { class: "sl-call-card-row", hidden: true });
  const callScreen = el("section", { class: "sl-call-screen", "data-testid": "call-screen", hidden: true });
  const scroller = el("main", { class: "sl-scroll" }, earlier, empty, list, callCard);
  const typing = el("div", { class: "sl-typing", "data-testid": "typing", hidden: true }, t("typing"));
  const topics = el("div", { class: "sl-topics", hidden: true });

  const input = el("textarea", { class: "sl-input", rows: 1, placeholder: t("placeholder"), "aria-label": t("placeholder"), "data-testid": "composer" });
  const send = el("button", { class: "sl-send", type: "button", "data-testid": "send" }, t("send"));
  const file = el("input", { type: "file", hidden: true, "data-testid": "file-input" });
  const attach = iconButton("attach", t("attach"), Icons.attach);
  const mic = iconButton("voice", t("voice_start"), Icons.voice);
  const locate = iconButton("location", t("location"), Icons.pin);
  // 报修 / 预约: what the store takes from customers (its profile and appointment services), filled in at boot.
  const entries = el("div", { class: "sl-entries", "data-testid": "entries" });
  const tools = el("div", { class: "sl-tools" }, attach, mic, locate, entries);
  const composer = el("div", { class: "sl-composer" }, tools, el("div", { class: "sl-row" }, input, send), file);

  const recordTime = el("span", { class: "sl-rec-time", "data-testid": "recording" });
  const recordCancel = el("button", { class: "sl-rec-cancel", type: "button" }, t("voice_cancel"));
  const recordStop = el("button", { class: "sl-rec-stop", type: "button", "data-testid": "voice-stop" }, t("voice_stop"));
  const recorder = el("div", { class: "sl-recorder", hidden: true }, el("span", { class: "sl-rec-dot" }), recordTime, recordCancel, recordStop);
  const toast = el("div", { class: "sl-toast", role: "status", hidden: true });
  const footer = el("footer", { class: "sl-footer" }, topics, recorder, composer);

  root.append(header, network, queue, scroller, typing, footer, callScreen, toast);
  return { root, callVoice, callVideo, callCard, callScreen, title, status, presenceDot, closeButton, network, queue, earlier, empty, list, scroller, typing, topics, input, send, file, attach, mic, entries,
    locate, recorder, recordTime, recordCancel, recordStop, toast };
}

function iconButton(name, label, path) {
  return el("button", { class: `sl-icon sl-${name}`, type: "button", "aria-label": label, title: label, "data-testid": name },
    icon(path).firstChild);
}

export function toast(text) {
  ui.toast.textContent = text;
  ui.toast.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (ui.toast.hidden = true), 4000);
}
