// The live connection of the console and the widget: the WebSocket protocol (docs/protocol.md) in one place.
// auth → ready; a request carries a rid and resolves with the server's ok (rejects with its error code); every pushed
// frame is dispatched as an event named by its type. After a drop it reconnects with back-off and, once ready, syncs
// the positions its owner holds (missed messages arrive as "message" events) before it announces "ready".
// Close codes: 4001 (token revoked or expired) and 4008 (abuse) end it — never reconnect with the same token;
// 4009 (too slow), 4010 (going away) and a lost network reconnect and sync. It pings every heartbeat_seconds, so a
// socket that died without a close (a phone changing networks) is noticed and replaced.
export class LiveSocket extends EventTarget {
  #pending = new Map();
  #rid = 0;
  #attempt = 0;
  #timer = null;
  #heartbeat = null;
  #stopped = true;
  #ready = false;
  socket = null; // the open WebSocket, null while there is none
  user = null;
  state = 'offline'; // connecting | online | offline | ended

  /** `positions()`: the last seq held per conversation id, sent as sync after every ready (null: nothing to sync). */
  constructor({ token = null, positions = null, url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/ws` } = {}) {
    super();
    this.token = token;
    this.positions = positions;
    this.url = url;
    // A browser often learns late that a socket is dead (Chromium keeps it open in offline emulation): close it at
    // once when offline, and connect at once when the network or the page comes back.
    window.addEventListener('offline', () => this.suspend());
    window.addEventListener('online', () => this.resume());
    document.addEventListener('visibilitychange', () => document.visibilityState === 'visible' && this.resume());
  }

  get ready() { return this.#ready; }

  start(token = this.token) {
    this.token = token;
    this.#stopped = false;
    this.#attempt = 0;
    this.#connect();
  }

  stop() {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#drop('stopped');
  }

  /** The browser went offline: close now rather than wait for the heartbeat to notice; `online` resumes. */
  suspend() {
    clearTimeout(this.#timer);
    this.#drop('offline');
  }

  /** Back online (or the page shown again): connect at once, with the back-off reset. */
  resume() {
    if (this.#stopped) return;
    this.#attempt = 0;
    clearTimeout(this.#timer);
    this.#connect();
  }

  /** A request frame; resolves with the ok frame, rejects with the error's code, `timeout` or `disconnected`. */
  request(frame, timeoutMs = 15000) {
    if (!this.#ready) return Promise.reject(failure('not connected', 'disconnected'));
    const rid = `r${++this.#rid}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.#pending.delete(rid)) reject(failure('timeout', 'timeout'));
      }, timeoutMs);
      this.#pending.set(rid, {
        resolve: v => { clearTimeout(timer); resolve(v); },
        reject: e => { clearTimeout(timer); reject(e); },
      });
      this.socket.send(JSON.stringify({ ...frame, rid }));
    });
  }

  /** A frame nobody answers (typing, viewing); dropped while not connected. */
  notify(frame) {
    if (this.#ready) this.socket.send(JSON.stringify(frame));
  }

  emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }

  #connect() {
    if (this.#stopped || this.socket) return;
    let socket;
    try {
      socket = new WebSocket(this.url);
    } catch {
      this.#reconnectLater();
      return;
    }
    this.socket = socket;
    this.#setState('connecting');
    socket.onopen = () => socket.send(JSON.stringify({ type: 'auth', token: this.token }));
    socket.onmessage = event => this.#receive(socket, event.data);
    socket.onclose = event => this.#closed(socket, event.code);
    socket.onerror = () => { /* onclose follows */ };
  }

  #receive(socket, data) {
    let frame;
    try { frame = JSON.parse(data); } catch { return; }
    if (socket !== this.socket) return;
    if (frame.type === 'ready') {
      this.#onReady(socket, frame);
      return;
    }
    if ((frame.type === 'ok' || frame.type === 'error') && frame.rid && this.#pending.has(frame.rid)) {
      const { resolve, reject } = this.#pending.get(frame.rid);
      this.#pending.delete(frame.rid);
      if (frame.type === 'ok') resolve(frame);
      else reject(failure(frame.message || frame.code, frame.code));
      return;
    }
    this.emit(frame.type, frame);
  }

  async #onReady(socket, frame) {
    this.user = frame.user;
    this.#attempt = 0;
    this.#ready = true;
    this.#beat(socket, (frame.heartbeat_seconds || 30) * 1000);
    const positions = this.positions?.();
    if (positions && Object.keys(positions).length)
      await this.request({ type: 'sync', positions }).catch(e => console.warn('StoreLink: sync failed', e.code));
    if (socket !== this.socket) return;
    this.#setState('online');
    this.emit('ready', frame);
  }

  // An unanswered ping means the socket is dead though the browser has not said so: drop it and connect anew.
  #beat(socket, everyMs) {
    clearInterval(this.#heartbeat);
    this.#heartbeat = setInterval(() => {
      if (socket !== this.socket) return;
      this.request({ type: 'ping' }, everyMs).catch(e => {
        if (e.code !== 'timeout' || socket !== this.socket) return;
        this.#drop('heartbeat');
        this.#reconnectLater();
      });
    }, everyMs);
  }

  #closed(socket, code) {
    if (socket !== this.socket) return;
    this.#reset('disconnected');
    if (code === 4001 || code === 4008) {
      this.#stopped = true;
      this.#setState('ended');
      this.emit('ended', { code });
      return;
    }
    this.#setState('offline');
    this.#reconnectLater();
  }

  #reconnectLater() {
    if (this.#stopped || !navigator.onLine) return; // the online event resumes
    // 0.5 s, 1 s, 2 s … up to 30 s, with jitter so a server restart is not hit by every client at once.
    const delay = Math.min(30000, 500 * 2 ** this.#attempt++) * (0.75 + Math.random() / 2);
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#connect(), delay);
  }

  #drop(reason) {
    const socket = this.socket;
    this.#reset(reason);
    if (!socket) return;
    socket.onclose = null;
    try { socket.close(1000, reason); } catch { /* already closing */ }
    this.#setState('offline');
  }

  #reset(reason) {
    this.socket = null;
    this.user = null;
    this.#ready = false;
    clearInterval(this.#heartbeat);
    for (const { reject } of this.#pending.values()) reject(failure(reason, 'disconnected'));
    this.#pending.clear();
  }

  #setState(state) {
    this.state = state;
    this.emit('state', state);
  }
}

const failure = (message, code) => Object.assign(new Error(message), { code });
