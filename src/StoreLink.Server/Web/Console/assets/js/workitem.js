// One work item: state and the moves the caller's role may make (the server lists them in `transitions`), requests to
// the customer (a quote or extra work with photos and a price; a move into a state that waits for the customer's
// decision takes one), assignee, category, priority and due date, the fields, attachments, the timeline of every
// change, and the link back to the chat. Refreshed by the item's work_item pushes.
import { api, t, $, el, fullTime, toast, errorText, uuid } from './lib.js';
import { startShell } from './shell.js';
import {
  definition, stateOf, stateLabel, localized, decides, fieldLabel, fieldValue, PRIORITIES, priorityLabel, storeWorkers, upload, thumb,
  stateChip, dueChip, requestText, timelineText,
} from './work-lib.js';

const shell = await startShell();
const { socket } = shell;
const root = $('#work-item');
const id = root.dataset.id;
const view = { item: null, def: null, timeline: [], workers: [], names: new Map(), busy: false };

await reload();
if (view.item) {
  socket.addEventListener('work_item', e => { if (e.detail.work_item.id === id) reload(); });
  socket.addEventListener('ready', () => reload());
  bindRequestDialog();
}
socket.start();

async function reload() {
  try {
    const item = await api('GET', `/v1/work-items/${encodeURIComponent(id)}`);
    const [def, timeline] = await Promise.all([definition(item.template_id, item.template_version), api('GET', `/v1/work-items/${encodeURIComponent(id)}/timeline`)]);
    if (!view.workers.length) {
      view.workers = await storeWorkers(item.store_id);
      for (const worker of view.workers) view.names.set(worker.id, worker.name);
    }
    Object.assign(view, { item, def, timeline });
  } catch (error) {
    root.replaceChildren(el('p.error', errorText(error)), el('a', { href: '/console/work' }, t('work.back')));
    return;
  }
  render();
}

function render() {
  const { item, def } = view;
  document.title = `${item.number} · ${t('app.name')}`;
  root.replaceChildren(
    el('header.wi-head',
      el('a.back-link', { href: `/console/work?kind=${item.kind}` }, '‹ ', t('work.back')),
      el('h2', el('span.number', item.number), ' ', item.title),
      el('div.wi-status', stateChip(item), el('span.muted', t('work.customer_sees', { label: item.customer_state_label })),
        item.priority !== 'normal' ? el('span.prio.p-' + item.priority, priorityLabel(item.priority)) : null, dueChip(item)),
      item.conversation_id ? el('a.chat-link', { id: 'chat-link', href: `/console?c=${encodeURIComponent(item.conversation_id)}` }, t('work.open_chat')) : null),
    el('div.wi-grid',
      el('div.wi-main', moves(), requests(), timeline()),
      el('aside.wi-side', details(), fields(), attachments(), customerActions())));
}

function box(key, ...children) {
  return el('section.wi-box', { id: 'wi-' + key }, el('h3', t('work.section.' + key)), ...children);
}

// ---------- moves ----------
function moves() {
  const { item, def } = view;
  const targets = item.transitions ?? [];
  // A push redraws the page: a note being written stays.
  const note = el('textarea#move-note', { rows: 2, maxlength: 1000, placeholder: t('work.note_hint') }, $('#move-note')?.value ?? '');
  const buttons = targets.map(key => {
    const target = stateOf(def, key);
    return el('button' + (target?.terminal ? '' : '.primary'), { type: 'button', dataset: { to: key }, onclick: () => move(key, note.value.trim()) },
      '→ ', target?.label ?? key, decides(target) ? ` (${t('work.with_quote')})` : '');
  });
  return box('moves',
    targets.length ? [item.terminal ? el('p.muted', t('work.closed')) : null, note, el('div.moves', buttons)]
      : el('p.muted', t(item.terminal ? 'work.closed' : 'work.no_moves')),
    item.terminal ? null : el('div.form-actions.left', el('button#request-button', { type: 'button', onclick: () => openRequest(null) }, t('work.request.new'))));
}

async function move(to, note) {
  if (decides(stateOf(view.def, to))) return openRequest(to, note);
  if (await act(() => api('POST', `/v1/work-items/${encodeURIComponent(id)}/transition`, { to, note: note || null }, { idempotencyKey: uuid() }),
    t('work.moved', { state: stateLabel(view.def, to) })) && $('#move-note'))
    $('#move-note').value = '';
}

/** Does a change, says so and shows the item again; answers whether it was done. */
async function act(call, done) {
  if (view.busy) return false;
  view.busy = true;
  try {
    await call();
    toast(done);
    await reload();
    return true;
  } catch (error) {
    toast(errorText(error), { error: true });
    return false;
  } finally {
    view.busy = false;
  }
}

// ---------- requests ----------
function requests() {
  const list = view.item.requests ?? [];
  return box('requests',
    list.length ? el('ul.requests', list.map(r => el('li.request', { dataset: { status: r.status, id: r.id } },
      el('div', el('strong', requestText(r)), ' ', el('span.rstatus.s-' + r.status, t('work.request.' + r.status))),
      el('div.muted', fullTime(r.created_at), r.decided_at ? ` · ${t('work.request.decided', { at: fullTime(r.decided_at) })}` : ''),
      r.attachment_ids.length ? el('div.thumbs', r.attachment_ids.map(thumb)) : null)))
      : el('p.muted', t('work.request.none')));
}

let requestState = null; // {to, key} while the dialog is open

function openRequest(to, note = '') {
  const dialog = $('#request-dialog');
  requestState = { to, key: uuid() };
  $('#request-title').textContent = to ? t('work.request.move_title', { state: stateLabel(view.def, to) }) : t('work.request.new');
  $('#request-move').hidden = !to;
  $('#request-move').textContent = to ? t('work.request.move_help', { state: localized(stateOf(view.def, to)?.customer_label) }) : '';
  $('#request-note').closest('label').hidden = !to;
  $('#request-note').value = note;
  $('#request-what').value = '';
  $('#request-price').value = '';
  $('#request-photos').value = '';
  $('#request-thumbs').replaceChildren();
  $('#request-error').hidden = true;
  dialog.showModal();
}

function bindRequestDialog() {
  const dialog = $('#request-dialog');
  $('#request-cancel').addEventListener('click', () => dialog.close());
  $('#request-photos').addEventListener('change', e => {
    $('#request-thumbs').replaceChildren(...[...e.target.files].map(f => el('img.thumb', { src: URL.createObjectURL(f), alt: f.name })));
  });
  $('#request-form').addEventListener('submit', async e => {
    e.preventDefault();
    const submit = $('#request-submit');
    submit.disabled = true;
    try {
      const photos = await upload([...$('#request-photos').files]);
      const request = { title: $('#request-what').value.trim(), price: $('#request-price').value.trim().replace(/^¥/, ''), attachment_ids: photos };
      const path = `/v1/work-items/${encodeURIComponent(id)}`;
      if (requestState.to)
        await api('POST', `${path}/transition`, { to: requestState.to, note: $('#request-note').value.trim() || null, request }, { idempotencyKey: requestState.key });
      else
        await api('POST', `${path}/requests`, request, { idempotencyKey: requestState.key });
      dialog.close();
      toast(t('work.request.sent'));
      await reload();
      if ($('#move-note')) $('#move-note').value = '';
    } catch (error) {
      $('#request-error').textContent = errorText(error);
      $('#request-error').hidden = false;
    } finally {
      submit.disabled = false;
    }
  });
}

// ---------- the timeline ----------
function timeline() {
  return box('timeline', el('ol.wtimeline', view.timeline.slice().reverse().map(e => el('li', { dataset: { kind: e.kind, seq: e.seq } },
    el('div.when', el('time', { datetime: e.created_at }, fullTime(e.created_at)), ' · ', el('span.who', e.actor.name || t('work.actor.' + e.actor.kind))),
    el('div.what', timelineText(e, view.def, view.names))))));
}

// ---------- details ----------
function details() {
  const { item, def } = view;
  const patch = (body, done) => act(() => api('PATCH', `/v1/work-items/${encodeURIComponent(id)}`, body), done ?? t('manage.saved'));
  const assignee = el('select#assignee-select', { 'aria-label': t('work.assignee'), onchange: e =>
    patch(e.target.value ? { assignee_id: e.target.value } : { unassign: true }, t('work.assigned')) },
    el('option', { value: '' }, t('work.nobody')),
    view.workers.map(w => el('option', { value: w.id, selected: w.id === item.assignee_id }, `${w.name} · ${t('role.' + w.role)}`)));
  const category = el('select#category-select', { 'aria-label': t('work.filter.category'), onchange: e => patch({ category: e.target.value }) },
    item.category ? null : el('option', { value: '' }, '—'),
    (def.categories ?? []).map(c => el('option', { value: c.key, selected: c.key === item.category }, c.label)));
  const priority = el('select#priority-select', { 'aria-label': t('work.col.priority'), onchange: e => patch({ priority: e.target.value }) },
    PRIORITIES.map(p => el('option', { value: p, selected: p === item.priority }, priorityLabel(p))));
  const due = el('input#due-input', { type: 'datetime-local', value: item.due_at ? localInput(item.due_at) : '', onchange: e => {
    if (e.target.value) patch({ due_at: new Date(e.target.value).toISOString() });
  } });
  return box('details', el('dl.facts',
    el('dt', t('work.customer')), el('dd', item.customer_name),
    el('dt', t('work.template')), el('dd', el('a', { href: `/console/templates/${encodeURIComponent(item.template_id)}?version=${item.template_version}` },
      def.name, ' · ', t('work.version', { v: item.template_version }))),
    el('dt', t('work.assignee')), el('dd', assignee, item.team ? el('div.muted', t('work.team', { team: t('role.' + item.team) })) : null),
    el('dt', t('work.filter.category')), el('dd', category),
    el('dt', t('work.col.priority')), el('dd', priority),
    el('dt', t('work.col.due')), el('dd', due),
    item.external_ref ? [el('dt', t('work.external')), el('dd', `${item.external_ref.system} / ${item.external_ref.id}`)] : null,
    item.transcript ? [el('dt', t('work.transcript')), el('dd', t('work.transcript_range', { from: item.transcript.from_seq, to: item.transcript.to_seq }))] : null,
    el('dt', t('work.created')), el('dd', fullTime(item.created_at)),
    el('dt', t('work.col.updated')), el('dd', fullTime(item.updated_at))));
}

function localInput(iso) {
  const d = new Date(iso);
  const pad = n => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function fields() {
  const entries = Object.entries(view.item.fields ?? {});
  return box('fields', entries.length
    ? el('dl.facts', entries.map(([k, v]) => [el('dt', fieldLabel(k)), el('dd', { dataset: { field: k } }, fieldValue(v))]))
    : el('p.muted', t('work.no_fields')));
}

function attachments() {
  const ids = view.item.attachment_ids ?? [];
  return ids.length ? box('attachments', el('div.thumbs', ids.map(thumb))) : null;
}

function customerActions() {
  const actions = view.item.customer_actions ?? [];
  return box('customer', actions.length
    ? el('ul.plain', actions.map(a => el('li', el('span.chip', a.label), a.needs ? el('span.muted', ' ' + t('work.needs.' + a.needs)) : null)))
    : el('p.muted', t('work.customer_nothing')));
}
