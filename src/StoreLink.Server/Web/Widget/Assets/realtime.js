// The widget's WebSocket: auth → ready, requests answered by rid, pushes as events, reconnect with backoff.
// Close codes (docs/protocol.md): 4001 token no longer valid (never reconnect with it), 4008 terminal,
// anything else (4009 too slow, 4010 going away, network loss) reconnects and the app syncs.
export class Realtime extends EventTarget {
  constructor(url) {
    super();
    this.url = url;
    this.socket = null;
    this.token = null;
    this.pending = new Map();
    this.rid = 0;
    this.attempt = 0;
    this.timer = null;
    this.stopped = true;
    this.ready = false;
  }

  start(token) {
    this.token = token;
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.drop("stopped");
  }

  // The browser went offline: close now rather than wait for a heartbeat to notice.
  suspend() {
    clearTimeout(this.timer);
    this.drop("offline");
  }

  // Back online (or the user asked): connect at once, resetting the backoff.
  resume() {
    if (this.stopped) return;
    this.attempt = 0;
    clearTimeout(this.timer);
    if (!this.socket) this.connect();
  }

  connect() {
    if (this.stopped || this.socket) return;
    let socket;
    try {
      socket = new WebSocket(this.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    this.emit("state", { state: "connecting" });
    socket.onopen = () => socket.send(JSON.stringify({ type: "auth", token: this.token }));
    socket.onmessage = (event) => this.onFrame(socket, event.data);
    socket.onclose = (event) => this.onClose(socket, event.code);
    socket.onerror = () => { /* onclose follows */ };
  }

  onFrame(socket, data) {
    let frame;
    try { frame = JSON.parse(data); } catch { return; }
    if (socket !== this.socket) return;
    if (frame.type === "ready") {
      this.ready = true;
      this.attempt = 0;
      this.emit("ready", frame);
      return;
    }
    if ((frame.type === "ok" || frame.type === "error") && frame.rid && this.pending.has(frame.rid)) {
      const { resolve, reject } = this.pending.get(frame.rid);
      this.pending.delete(frame.rid);
      if (frame.type === "ok") resolve(frame);
      else reject(Object.assign(new Error(frame.message || frame.code), { code: frame.code }));
      return;
    }
    this.emit("frame", frame);
  }

  onClose(socket, code) {
    if (socket !== this.socket) return;
    this.socket = null;
    this.ready = false;
    this.failPending("disconnected");
    this.emit("state", { state: "closed", code });
    if (code === 4001) { this.emit("unauthorized", { code }); return; }
    if (code === 4008) { this.stopped = true; this.emit("terminal", { code }); return; }
    this.scheduleReconnect();
  }

  scheduleReconnect() {
    if (this.stopped || !navigator.onLine) return; // the online event resumes
    // 0.5 s, 1 s, 2 s … up to 30 s, with jitter so a server restart is not hit by every widget at once.
    const delay = Math.min(30000, 500 * 2 ** this.attempt) * (0.75 + Math.random() * 0.5);
    this.attempt++;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  drop(reason) {
    const socket = this.socket;
    this.socket = null;
    this.ready = false;
    this.failPending(reason);
    if (socket) {
      socket.onclose = null;
      try { socket.close(1000, reason); } catch { /* already closing */ }
      this.emit("state", { state: "closed", code: 1000 });
    }
  }

  failPending(reason) {
    for (const { reject } of this.pending.values()) reject(Object.assign(new Error(reason), { code: "disconnected" }));
    this.pending.clear();
  }

  // A request frame; resolves with the ok frame, rejects with the error (its code) or a lost connection.
  request(frame, timeoutMs = 15000) {
    if (!this.ready) return Promise.reject(Object.assign(new Error("not connected"), { code: "disconnected" }));
    const rid = `r${++this.rid}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.pending.delete(rid)) reject(Object.assign(new Error("timeout"), { code: "timeout" }));
      }, timeoutMs);
      this.pending.set(rid, {
        resolve: (v) => { clearTimeout(timer); resolve(v); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
      this.socket.send(JSON.stringify({ ...frame, rid }));
    });
  }

  // A frame without an answer (typing); dropped when not connected.
  notify(frame) {
    if (this.ready) this.socket.send(JSON.stringify(frame));
  }

  emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }
}
