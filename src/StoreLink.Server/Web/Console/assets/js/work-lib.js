// What the work-item pages share: templates (cached per version), labels of states, fields and priorities, the staff
// who may hold an item, photo uploads, and the wording of timeline entries.
import { api, t, lang, el, fullTime, attachmentUrl } from './lib.js';

export const KINDS = ['ticket', 'order', 'care_job'];
export const PRIORITIES = ['low', 'normal', 'high', 'urgent'];
const WORKER_ROLES = ['agent', 'technician', 'manager'];

let templateList = null;
const definitions = new Map();

/** The organization's templates (id, kind, name, version, is_default), once per page. */
export async function templates() {
  templateList ??= api('GET', '/v1/workflow-templates');
  return templateList;
}

/** The default template of a kind. */
export async function defaultTemplate(kind) {
  const list = await templates();
  return list.find(x => x.kind === kind && x.is_default) ?? list.find(x => x.kind === kind) ?? null;
}

/** A template's definition at a version (an item keeps the version it started with). */
export function definition(templateId, version) {
  const key = `${templateId}@${version ?? ''}`;
  if (!definitions.has(key))
    definitions.set(key, api('GET', `/v1/workflow-templates/${encodeURIComponent(templateId)}${version ? `?version=${version}` : ''}`).then(x => x.definition));
  return definitions.get(key);
}

export const stateOf = (def, key) => def?.states?.find(s => s.key === key) ?? null;
export const stateLabel = (def, key) => stateOf(def, key)?.label ?? key;
export const categoryLabel = (def, key) => def?.categories?.find(c => c.key === key)?.label ?? key;

/** A customer-facing text in the page's language ({"zh-CN","en"}), Chinese when there is no English. */
export const localized = texts => (texts ? texts[lang] ?? texts['zh-CN'] ?? '' : '');

/** A state that waits for the customer's decision on a request (the quote): moving there takes one. */
export const decides = state => !!(state?.on_request_approved || state?.on_request_declined);

export const fieldLabel = key => {
  const label = t('work.field.' + key);
  return label === 'work.field.' + key ? key : label;
};

export function fieldValue(value) {
  if (Array.isArray(value)) return value.join('、');
  if (value && typeof value === 'object') return JSON.stringify(value);
  return String(value ?? '');
}

export const priorityLabel = p => t('work.priority.' + p);

/** Staff who may hold an item of the store: its agents, technicians and managers. */
export async function storeWorkers(storeId) {
  const staff = await api('GET', '/v1/staff');
  return staff.filter(s => !s.disabled && s.roles.some(r => r.store_id === storeId && WORKER_ROLES.includes(r.role)))
    .map(s => ({ ...s, role: s.roles.find(r => r.store_id === storeId && WORKER_ROLES.includes(r.role)).role }));
}

/** Uploads photos the caller picked; answers their attachment ids in order. */
export async function upload(files) {
  const ids = [];
  for (const file of files) {
    const form = new FormData();
    form.append('file', file, file.name);
    ids.push((await api('POST', '/v1/attachments', form)).id);
  }
  return ids;
}

export function thumb(id) {
  const img = el('img.thumb', { alt: t('msg.image') });
  attachmentUrl(id).then(url => (img.src = url), () => (img.alt = t('msg.unavailable')));
  img.addEventListener('click', () => attachmentUrl(id).then(url => window.open(url, '_blank')));
  return img;
}

export const stateChip = item => el('span.wstate' + (item.terminal ? '.done' : ''), { dataset: { state: item.state } }, item.state_label);

export function dueChip(item) {
  if (!item.due_at) return null;
  return el('span.due' + (item.overdue ? '.overdue' : ''), item.overdue ? t('work.overdue_since', { at: fullTime(item.due_at) }) : t('work.due', { at: fullTime(item.due_at) }));
}

const money = r => `${r.currency === 'CNY' ? '¥' : r.currency + ' '}${r.price}`;
export const requestText = r => `${r.title} ${money(r)}`;

/** One timeline entry in words: who did what (the when is shown beside it). */
export function timelineText(event, def, names) {
  const d = event.data ?? {};
  const staff = id => (id ? names.get(id) ?? t('conv.someone') : t('work.nobody'));
  switch (event.kind) {
    case 'created':
      return t('work.event.created', { state: stateLabel(def, d.state), assignee: d.assignee_id ? staff(d.assignee_id) : t('work.nobody') });
    case 'state_changed':
      return [t('work.event.moved', { from: stateLabel(def, d.from), to: stateLabel(def, d.to) }),
        d.request ? t('work.event.with_request', { request: requestText(d.request) }) : null, note(d)].filter(Boolean).join('');
    case 'assigned':
      return 'assignee_id' in d ? t('work.event.assigned', { name: staff(d.assignee_id) }) : t('work.event.team', { team: t('role.' + d.team) });
    case 'updated':
      return t('work.event.updated', { what: Object.keys(d).map(k => (k === 'fields' ? Object.keys(d.fields).map(fieldLabel).join('、') : t('work.edit.' + k))).join('、') });
    case 'request_created':
      return t('work.event.request', { request: requestText(d.request) });
    case 'customer_action': {
      const what = d.request_id ? t(d.action?.startsWith('approve') ? 'work.event.approved' : 'work.event.declined', { request: `${d.title} ¥${d.price}` })
        : t('work.event.action', { action: actionLabel(def, d.from, d.action) });
      return [what, d.to && d.to !== d.from ? t('work.event.now', { state: stateLabel(def, d.to) }) : null,
        d.address ? t('work.event.address', { address: d.address }) : null, note(d)].filter(Boolean).join('');
    }
    case 'migrated':
      return t('work.event.migrated', { from: d.from_version, to: d.to_version });
    case 'command_delayed':
    case 'command_refused':
    case 'command_failed':
    case 'command_unanswered':
    case 'command_unapplied':
      return t('work.event.' + event.kind, { action: d.action ?? '', system: d.system ?? t('work.actor.api_client'), reason: d.reason || t('work.event.no_reason') });
    default:
      return event.kind;
  }
}

const note = d => (d.note ? t('work.event.note', { note: d.note }) : null);
const actionLabel = (def, stateKey, key) => localized(stateOf(def, stateKey)?.actions?.find(a => a.key === key)?.label) || key;
