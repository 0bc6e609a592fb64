// Voice notes: MediaRecorder while the recorder bar shows, sent like a file with its duration.
import { t } from "./context.js";
import { ui, toast } from "./layout.js";
import { enqueueFile } from "./composer.js";

let recording = null;
ui.mic.addEventListener("click", startRecording);
ui.recordCancel.addEventListener("click", () => stopRecording(false));
ui.recordStop.addEventListener("click", () => stopRecording(true));

export async function startRecording() {
  if (recording) return;
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (e) {
    toast(t("mic_failed", { reason: e.message || e.name }));
    return;
  }
  const type = ["audio/webm;codecs=opus", "audio/webm", "audio/ogg;codecs=opus", "audio/mp4"].find((m) => MediaRecorder.isTypeSupported(m));
  const recorder = new MediaRecorder(stream, type ? { mimeType: type } : undefined);
  const chunks = [];
  recorder.ondataavailable = (event) => event.data.size && chunks.push(event.data);
  recording = { recorder, stream, chunks, started: performance.now(), send: false };
  recorder.onstop = async () => {
    const { send, started } = recording;
    const duration = Math.round(performance.now() - started);
    stream.getTracks().forEach((track) => track.stop());
    clearInterval(recording.timer);
    recording = null;
    ui.recorder.hidden = true;
    ui.root.classList.remove("sl-recording");
    if (!send || chunks.length === 0) return;
    const mime = (recorder.mimeType || "audio/webm").split(";")[0];
    const blob = new File(chunks, `voice.${mime.split("/")[1]}`, { type: mime });
    await enqueueFile(blob, "voice", { duration_ms: Math.max(duration, 1) });
  };
  recorder.start(250);
  ui.recorder.hidden = false;
  ui.root.classList.add("sl-recording");
  const tick = () => (ui.recordTime.textContent = t("recording", { seconds: Math.floor((performance.now() - recording.started) / 1000) }));
  tick();
  recording.timer = setInterval(tick, 500);
}

export function stopRecording(send) {
  if (!recording) return;
  recording.send = send;
  recording.recorder.stop();
}
