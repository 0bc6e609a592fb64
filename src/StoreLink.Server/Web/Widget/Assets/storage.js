// Where the widget keeps its session and outbox. Its own localStorage when the browser allows it; in a third-party
// iframe whose storage is blocked (Safari, Brave, Chromium with third-party cookies off), the host page's
// localStorage through widget.js (keys "storelink:…" only); else memory, which lasts as long as the page.
export function localStore() {
  try {
    localStorage.setItem("storelink:probe", "1");
    localStorage.removeItem("storelink:probe");
    return localStorage;
  } catch {
    return null;
  }
}

export class HostStore {
  constructor(snapshot, post) {
    this.map = new Map(Object.entries(snapshot ?? {}));
    this.post = post;
  }
  getItem(key) { return this.map.has(key) ? this.map.get(key) : null; }
  setItem(key, value) {
    this.map.set(key, String(value));
    this.post({ type: "storelink:storage", key, value: String(value) });
  }
  removeItem(key) {
    this.map.delete(key);
    this.post({ type: "storelink:storage", key, value: null });
  }
}

export class MemoryStore {
  constructor() { this.map = new Map(); }
  getItem(key) { return this.map.has(key) ? this.map.get(key) : null; }
  setItem(key, value) { this.map.set(key, String(value)); }
  removeItem(key) { this.map.delete(key); }
}
