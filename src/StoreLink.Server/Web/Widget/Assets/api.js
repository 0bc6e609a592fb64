// REST calls of the widget: same origin as the page, bearer token, problem documents turned into ApiError.
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
  // No answer at all (offline, server down) as opposed to an answer that refuses.
  get network() { return this.status === 0; }
}

export class Api {
  constructor(base = "") {
    this.base = base;
    this.token = null;
  }

  async request(method, path, body, extraHeaders = {}) {
    const headers = { ...extraHeaders };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let payload;
    if (body instanceof FormData) payload = body;
    else if (body !== undefined) {
      headers["content-type"] = "application/json";
      payload = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(this.base + path, { method, headers, body: payload });
    } catch (e) {
      throw new ApiError(0, "network", e.message);
    }
    const text = await response.text();
    const json = text ? safeJson(text) : null;
    if (!response.ok) throw new ApiError(response.status, json?.code, json?.title ?? json?.detail);
    return json;
  }

  get(path) { return this.request("GET", path); }
  post(path, body, headers) { return this.request("POST", path, body ?? {}, headers); }
  put(path, body) { return this.request("PUT", path, body ?? {}); }

  upload(blob, name) {
    const form = new FormData();
    form.append("file", blob, name);
    return this.request("POST", "/v1/attachments", form);
  }

  attachmentUrl(id) { return `${this.base}/v1/attachments/${encodeURIComponent(id)}`; }

  // Attachments need the bearer token, so media are fetched and shown as blob: URLs (cached per id).
  async attachmentBlobUrl(id) {
    this.blobs ??= new Map();
    if (!this.blobs.has(id)) {
      this.blobs.set(id, (async () => {
        const response = await fetch(this.attachmentUrl(id), { headers: { authorization: `Bearer ${this.token}` } });
        if (!response.ok) throw new ApiError(response.status, "attachment");
        return URL.createObjectURL(await response.blob());
      })());
    }
    try {
      return await this.blobs.get(id);
    } catch (e) {
      this.blobs.delete(id);
      throw e;
    }
  }
}

function safeJson(text) {
  try { return JSON.parse(text); } catch { return null; }
}
