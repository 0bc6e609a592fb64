// Calls in the widget (docs/calls.md): the voice and video buttons in the header, the ringing card in the chat, and
// the call screen (full screen on a phone): the store's video big, our own preview small, the controls, the clock, the
// "网络不稳定" banner and, when it ends, why. The engine (/assets/shared/calls/engine.js) does the calling.
import { el, icon } from "/assets/shared/dom.js";
import { CallEngine } from "/assets/shared/calls/engine.js";
import { callClock } from "/assets/shared/calls/text.js";
import { RemoteTiles } from "/assets/shared/calls/tiles.js";
import { api, realtime, state, t } from "./context.js";
import { ui, toast, Icons } from "./layout.js";
import { ensureConversation } from "./session.js";
import { plainReason } from "./sheets.js";
import { toHost } from "./host.js";

export const calls = new CallEngine({ socket: realtime, request: (method, path, body) => api.request(method, path, body), userId: () => state.me?.id });

const ENDED_SHOWN_MS = 6000;

ui.callVoice.addEventListener("click", () => startCall("voice"));
ui.callVideo.addEventListener("click", () => startCall("video"));
calls.addEventListener("change", render);
setInterval(renderClock, 1000);

async function startCall(media) {
  try {
    const conversation = await ensureConversation();
    await calls.start(conversation.id, media);
  } catch (e) {
    toast(callError(e));
  }
}

function callError(e) {
  if (e instanceof DOMException || e?.name === "NotAllowedError" || e?.name === "NotFoundError") return t("call_no_device", { reason: e.message || e.name });
  return t("call_failed", { reason: e?.code === "conflict" ? t("call_conflict") : plainReason(e) });
}

async function accept(media) {
  try {
    await calls.accept(media);
  } catch (e) {
    toast(callError(e));
  }
}

// --- the ringing card, in the chat ----------------------------------------------------------------------------

const card = {
  title: el("div", { class: "sl-call-card-title", "data-testid": "call-ringing-title" }),
  acceptVoice: el("button", { class: "sl-action", type: "button", "data-testid": "call-accept-voice" }, t("call_accept_voice")),
  acceptVideo: el("button", { class: "sl-primary", type: "button", "data-testid": "call-accept-video" }, t("call_accept_video")),
  decline: el("button", { class: "sl-action sl-danger", type: "button", "data-testid": "call-decline" }, t("call_decline")),
};
card.acceptVoice.addEventListener("click", () => accept("voice"));
card.acceptVideo.addEventListener("click", () => accept("video"));
card.decline.addEventListener("click", () => calls.decline());
ui.callCard.append(el("div", { class: "sl-card sl-call-card", "data-testid": "call-ringing" },
  el("div", { class: "sl-call-pulse" }, icon(Icons.phone, "sl-call-card-icon")), card.title,
  el("div", { class: "sl-actions" }, card.decline, card.acceptVoice, card.acceptVideo)));

// --- the call screen -------------------------------------------------------------------------------------------

const screen = {
  remotes: el("div", { class: "sl-call-remotes" }),
  local: el("video", { class: "sl-call-local", autoplay: true, muted: true, playsInline: true, "data-testid": "call-local-video" }),
  status: el("div", { class: "sl-call-status", "data-testid": "call-status" }),
  clock: el("div", { class: "sl-call-clock", "data-testid": "call-timer" }),
  network: el("div", { class: "sl-call-network", "data-testid": "call-network", role: "status", hidden: true }, t("call_reconnecting")),
  recording: el("div", { class: "sl-call-recording", "data-testid": "call-recording", role: "status", hidden: true }, t("call_recording")),
  ended: el("div", { class: "sl-call-ended", "data-testid": "call-ended", role: "status", hidden: true }),
  mute: control("call-mute", Icons.voice, t("call_mute"), () => calls.setMuted(!calls.muted)),
  camera: control("call-camera", Icons.video, t("call_camera_off"), () => calls.setCamera(calls.cameraOff).catch((e) => toast(callError(e)))),
  flip: control("call-switch", Icons.flip, t("call_switch_camera"), () => calls.switchCamera().catch((e) => toast(callError(e)))),
  hangup: control("call-hangup", Icons.phone, t("call_hangup"), () => calls.hangup(), "sl-call-hangup"),
  close: el("button", { class: "sl-action", type: "button", "data-testid": "call-close", hidden: true }, t("call_close")),
  volume: el("input", { type: "range", min: 0, max: 1, step: 0.05, value: 1, "aria-label": t("call_volume"), "data-testid": "call-volume" }),
};
screen.close.addEventListener("click", () => calls.dismiss());
const tiles = new RemoteTiles(screen.remotes, {
  make: (remote) => {
    const video = el("video", { class: "sl-call-remote-video", autoplay: true, playsInline: true, "data-testid": "call-remote-video" });
    const note = el("div", { class: "sl-call-remote-note", "data-testid": "call-remote-note" });
    return { root: el("div", { class: "sl-call-tile" }, video, el("div", { class: "sl-call-name" }, remote.name ?? ""), note), video, note };
  },
  notes: remoteNotes,
  offClass: "sl-camera-off",
  blocked: (video) => {
    const unmute = el("button", { class: "sl-call-unmute", type: "button" }, t("call_tap_sound"));
    unmute.addEventListener("click", () => {
      video.muted = false;
      unmute.remove();
    });
    video.parentElement?.append(unmute);
  },
});
screen.volume.addEventListener("input", () => tiles.setVolume(Number(screen.volume.value)));

function remoteNotes(remote) {
  const notes = [];
  if (calls.call.media === "video" && !remote.video) notes.push(t("call_remote_camera_off"));
  if (!remote.audio) notes.push(t("call_remote_muted"));
  return notes;
}
const controls = el("div", { class: "sl-call-controls" }, screen.mute, screen.camera, screen.flip, screen.hangup);
ui.callScreen.append(screen.remotes, screen.local,
  el("div", { class: "sl-call-top" }, screen.status, screen.clock, screen.recording), screen.network, screen.ended,
  el("div", { class: "sl-call-bottom" },
    el("label", { class: "sl-call-volume" }, el("span", {}, t("call_volume")), screen.volume), controls, screen.close));

function control(testid, path, label, onclick, extra = "") {
  const button = el("button", { class: `sl-call-btn ${extra}`, type: "button", "data-testid": testid, "aria-label": label, onclick },
    icon(path, "sl-call-btn-icon"), el("span", { class: "sl-call-btn-label" }, label));
  return button;
}

function setControl(button, label, on) {
  button.setAttribute("aria-label", label);
  button.querySelector(".sl-call-btn-label").textContent = label;
  button.classList.toggle("sl-off", on);
}

function render() {
  const { phase, call } = calls;
  const starter = call?.participants.find((p) => p.user_id === call.started_by);
  ui.callCard.hidden = phase !== "incoming";
  if (phase === "incoming") {
    card.title.textContent = t(call.media === "video" ? "call_incoming_video" : "call_incoming_voice", { name: starter?.name || state.profile?.name || "" });
    card.acceptVideo.hidden = call.media !== "video";
    ui.callCard.scrollIntoView({ block: "end" });
    // In a closed panel of widget.js nobody would see the card: the host page opens the panel (once per call).
    if (!state.visible && render.rang !== call.id) toHost({ type: "storelink:ringing" });
    render.rang = call.id;
  }
  const onScreen = ["outgoing", "connecting", "active", "ended"].includes(phase);
  ui.callScreen.hidden = !onScreen;
  for (const button of [ui.callVoice, ui.callVideo]) button.disabled = calls.busy;
  if (!onScreen) {
    tiles.clear();
    screen.local.srcObject = null;
    return;
  }

  const video = call?.media === "video";
  ui.callScreen.classList.toggle("sl-call-voice", !video);
  ui.callScreen.dataset.phase = phase;
  if (screen.local.srcObject !== calls.local) screen.local.srcObject = calls.local;
  screen.local.hidden = !calls.local?.getVideoTracks().length || calls.cameraOff;
  screen.status.textContent = phase === "outgoing" ? t("call_calling") : phase === "connecting" ? t("call_connecting") : phase === "ended" ? "" : t(video ? "call_video" : "call_voice");
  screen.network.hidden = phase === "ended" || !calls.reconnecting;
  screen.recording.hidden = !calls.recording;
  screen.ended.hidden = phase !== "ended";
  screen.ended.textContent = phase === "ended" ? t("call_result_" + calls.endReason) : "";
  setControl(screen.mute, calls.muted ? t("call_unmute") : t("call_mute"), calls.muted);
  setControl(screen.camera, calls.cameraOff || !calls.local?.getVideoTracks().length ? t("call_camera_on") : t("call_camera_off"), calls.cameraOff);
  screen.flip.hidden = !calls.local?.getVideoTracks().length;
  controls.hidden = phase === "ended";
  screen.mute.hidden = screen.camera.hidden = phase === "outgoing";
  screen.flip.hidden ||= phase === "outgoing";
  screen.hangup.querySelector(".sl-call-btn-label").textContent = phase === "outgoing" ? t("call_cancel") : t("call_hangup");
  screen.close.hidden = phase !== "ended";
  tiles.render(phase === "ended" ? [] : calls.remotes);
  renderClock();
  clearTimeout(render.dismiss);
  if (phase === "ended") render.dismiss = setTimeout(() => calls.dismiss(), ENDED_SHOWN_MS);
}

function renderClock() {
  screen.clock.textContent = calls.activeSince && calls.phase === "active" ? callClock(performance.now() - calls.activeSince) : "";
}
