// Shared helpers of the console's pages: strings, the REST client, formatting, toasts. DOM building is the module the
// widget uses too (/assets/shared/dom.js), re-exported here.
import { el, $ } from '/assets/shared/dom.js';
import { callSummary } from '/assets/shared/calls/text.js';

export { el, $, $$, size } from '/assets/shared/dom.js';

const strings = JSON.parse(document.getElementById('storelink-strings').textContent);
export const lang = document.body.dataset.lang || 'zh-CN';

/** The UI text of a key, with {name} placeholders filled in. */
export function t(key, values) {
  let text = strings[key] ?? key;
  if (values) for (const [k, v] of Object.entries(values)) text = text.replaceAll(`{${k}}`, String(v));
  return text;
}

export const token = document.querySelector('meta[name="storelink-token"]')?.content ?? '';

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.title || `HTTP ${status}`);
    this.status = status;
    this.code = problem?.code;
    this.errors = problem?.errors;
  }
}

/** A REST call with the session's token as bearer credential. A 401 means the session ended: back to the sign-in page. */
// Set when the agent signs out: the form's own answer leads to the sign-in page, and the revoked token's failing
// calls and closed socket must not race it there with a redirect of their own.
export const session = { signingOut: false };
// Set as the module loads, before any call of the page is in flight: a sign-out clicked while the page is still
// starting must not race the form's answer either.
document.querySelector('form.logout')?.addEventListener('submit', () => { session.signingOut = true; });

/** `options.idempotencyKey`: sent as Idempotency-Key, so a retried create is done once by the server. */
export async function api(method, path, body, options = {}) {
  // The server writes its own texts (refusals) in the console's language too.
  const init = { method, headers: { authorization: `Bearer ${token}`, 'accept-language': document.documentElement.lang } };
  if (options.idempotencyKey) init.headers['idempotency-key'] = options.idempotencyKey;
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 401) {
    if (!session.signingOut)
      location.assign('/console/login?return_url=' + encodeURIComponent(location.pathname + location.search));
    throw new ApiError(401, { code: 'unauthorized' });
  }
  const text = await response.text();
  const json = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, json);
  return json;
}

/** The message of an API error in the UI language (the stable code decides; the server's title follows it when it can). */
export function errorText(error) {
  if (error instanceof ApiError) {
    const known = strings['error.' + error.code];
    const fields = error.errors ? ' ' + Object.entries(error.errors).map(([k, v]) => `${k}: ${v.join(' ')}`).join('; ') : '';
    return (known ? `${known} (${error.message})` : error.message) + fields;
  }
  return String(error?.message ?? error);
}

const locale = lang === 'en' ? 'en-GB' : 'zh-CN';
const timeFormat = new Intl.DateTimeFormat(locale, { hour: '2-digit', minute: '2-digit' });
const dayFormat = new Intl.DateTimeFormat(locale, { month: 'short', day: 'numeric' });
const dateFormat = new Intl.DateTimeFormat(locale, { year: 'numeric', month: 'short', day: 'numeric' });

export function shortTime(iso) {
  const d = new Date(iso);
  return d.toDateString() === new Date().toDateString() ? timeFormat.format(d) : dayFormat.format(d);
}
export const fullTime = iso => `${dayFormat.format(new Date(iso))} ${timeFormat.format(new Date(iso))}`;
export const date = iso => dateFormat.format(new Date(iso));

/** 1h 05m / 4m 10s / 35s — a duration for SLA clocks. */
export function duration(seconds) {
  const s = Math.max(0, Math.round(Math.abs(seconds)));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  if (h) return t('time.hm', { h, m: String(m).padStart(2, '0') });
  if (m) return t('time.ms', { m, s: String(r).padStart(2, '0') });
  return t('time.s', { s: r });
}

/** A one-line preview of a message for the inbox and the panel. */
export function preview(message) {
  if (!message) return '';
  if (message.recalled) return t('msg.recalled');
  const b = message.body ?? {};
  switch (message.kind) {
    case 'text': case 'system': return b.text ?? '';
    case 'card': return `[${t('msg.card')}] ${b.title ?? ''}`;
    case 'location': return `[${t('msg.location')}] ${b.label ?? ''}`;
    case 'call': return callSummary(b, (key, values) => t('call.' + key, values));
    default: return `[${t('msg.' + message.kind)}] ${b.name ?? ''}`;
  }
}

export function toast(text, options = {}) {
  const box = $('#toasts') ?? document.body.appendChild(el('div#toasts.toasts'));
  const item = el('div.toast' + (options.error ? '.error' : ''), { role: 'status', onclick: options.onclick }, text);
  box.append(item);
  setTimeout(() => item.remove(), options.error ? 8000 : 5000);
}

export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

export const uuid = () => crypto.randomUUID?.() ?? `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;

/** Attachments need the bearer credential, so they are fetched and shown from blob URLs (cached per id). */
const blobs = new Map();
export function attachmentUrl(id) {
  if (!blobs.has(id))
    blobs.set(id, fetch(`/v1/attachments/${encodeURIComponent(id)}`, { headers: { authorization: `Bearer ${token}` } })
      .then(r => (r.ok ? r.blob() : Promise.reject(new Error(r.status))))
      .then(b => URL.createObjectURL(b)));
  return blobs.get(id);
}
