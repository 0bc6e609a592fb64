// Messages the customer wrote that the server has not acknowledged yet. Each gets its client_msg_id when it is
// written and keeps it until the server's ok (or the same message in history) removes it, so resending after a drop
// or a reload can never create a second message. Entries live in the widget's storage (storage.js; per store and user); the bytes of an
// attachment not yet uploaded live in IndexedDB under the same id.
export class Outbox {
  constructor(storage, key) {
    this.storage = storage;
    this.key = key;
    this.entries = load(storage, key);
  }

  list() { return [...this.entries]; }

  has(clientMsgId) { return this.entries.some((e) => e.client_msg_id === clientMsgId); }

  add(entry) {
    this.entries.push(entry);
    this.save();
  }

  update(entry) {
    const index = this.entries.findIndex((e) => e.client_msg_id === entry.client_msg_id);
    if (index >= 0) this.entries[index] = entry;
    this.save();
  }

  remove(clientMsgId) {
    const before = this.entries.length;
    this.entries = this.entries.filter((e) => e.client_msg_id !== clientMsgId);
    if (this.entries.length !== before) {
      this.save();
      deleteBlob(clientMsgId).catch(() => {});
      return true;
    }
    return false;
  }

  // The next entry to send, in the order they were written; a failed one blocks nothing behind it.
  next() { return this.entries.find((e) => e.state !== "failed"); }

  save() {
    try { this.storage.setItem(this.key, JSON.stringify(this.entries)); } catch { /* storage full: memory only */ }
  }
}

function load(storage, key) {
  try { return JSON.parse(storage.getItem(key) || "[]"); } catch { return []; }
}

export function newClientMsgId() {
  // crypto.randomUUID exists only in secure contexts; getRandomValues everywhere.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return "w_" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

let dbPromise;
function db() {
  dbPromise ??= new Promise((resolve, reject) => {
    const request = indexedDB.open("storelink-widget", 1);
    request.onupgradeneeded = () => request.result.createObjectStore("blobs");
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  return dbPromise;
}

async function run(mode, action) {
  const database = await db();
  return new Promise((resolve, reject) => {
    const tx = database.transaction("blobs", mode);
    const request = action(tx.objectStore("blobs"));
    tx.oncomplete = () => resolve(request?.result);
    tx.onerror = () => reject(tx.error);
  });
}

export const putBlob = (id, blob) => run("readwrite", (s) => s.put(blob, id));
export const getBlob = (id) => run("readonly", (s) => s.get(id));
export const deleteBlob = (id) => run("readwrite", (s) => s.delete(id));
