// The console's live connection: the same WebSocket protocol as every client (docs/protocol.md).
// First frame auth with the session's token; requests carry a rid and resolve with the server's ok/error;
// after a drop it reconnects with back-off and asks its owner to sync. 4001 (token revoked) ends the session.

export class LiveSocket extends EventTarget {
  #ws = null;
  #pending = new Map();
  #rid = 0;
  #attempt = 0;
  #stopped = false;
  user = null;

  constructor(token) {
    super();
    this.token = token;
  }

  get open() {
    return this.#ws?.readyState === WebSocket.OPEN && this.user !== null;
  }

  connect() {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/ws`;
    const ws = new WebSocket(url);
    this.#ws = ws;
    this.#state('connecting');
    ws.onopen = () => ws.send(JSON.stringify({ type: 'auth', token: this.token }));
    ws.onmessage = event => this.#receive(JSON.parse(event.data));
    ws.onclose = event => this.#closed(ws, event.code);
  }

  /** A request frame; resolves with the ok frame, rejects with the error frame (code, message). */
  request(frame, timeoutMs = 15000) {
    if (!this.open) return Promise.reject(Object.assign(new Error('offline'), { code: 'unavailable' }));
    const rid = `r${++this.#rid}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(rid);
        reject(Object.assign(new Error('timeout'), { code: 'unavailable' }));
      }, timeoutMs);
      this.#pending.set(rid, { resolve, reject, timer });
      this.#ws.send(JSON.stringify({ ...frame, rid }));
    });
  }

  /** A frame nobody answers (typing, viewing). Dropped while offline. */
  notify(frame) {
    if (this.open) this.#ws.send(JSON.stringify(frame));
  }

  stop() {
    this.#stopped = true;
    this.#ws?.close(1000);
  }

  #receive(frame) {
    if (frame.type === 'ready') {
      this.user = frame.user;
      this.#attempt = 0;
      this.#state('online');
      this.dispatchEvent(new CustomEvent('ready', { detail: frame }));
      return;
    }
    if ((frame.type === 'ok' || frame.type === 'error') && frame.rid && this.#pending.has(frame.rid)) {
      const { resolve, reject, timer } = this.#pending.get(frame.rid);
      clearTimeout(timer);
      this.#pending.delete(frame.rid);
      if (frame.type === 'ok') resolve(frame);
      else reject(Object.assign(new Error(frame.message), { code: frame.code }));
      return;
    }
    this.dispatchEvent(new CustomEvent(frame.type, { detail: frame }));
  }

  #closed(ws, code) {
    if (ws !== this.#ws) return;
    this.user = null;
    for (const { reject, timer } of this.#pending.values()) {
      clearTimeout(timer);
      reject(Object.assign(new Error('closed'), { code: 'unavailable' }));
    }
    this.#pending.clear();
    if (this.#stopped) return;
    if (code === 4001 || code === 4008) {
      // The token was revoked (signed out elsewhere, password changed): the session is over.
      this.#state('ended');
      this.dispatchEvent(new CustomEvent('ended', { detail: { code } }));
      return;
    }
    this.#state('offline');
    const delay = Math.min(30000, 500 * 2 ** this.#attempt++) * (0.75 + Math.random() / 2);
    setTimeout(() => this.connect(), delay);
  }

  #state(state) {
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: state }));
  }
}
