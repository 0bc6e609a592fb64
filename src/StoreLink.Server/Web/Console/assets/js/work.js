// A store's work items: a board with a column per state of the kind's template, or a list; filters by state,
// category, assignee and overdue (kept in the address, so a reload or a shared link shows the same). Pushed
// work_item frames refresh it.
import { api, t, $, $$, el, shortTime, debounce, toast, errorText } from './lib.js';
import { startShell } from './shell.js';
import { defaultTemplate, definition, stateChip, dueChip, priorityLabel, storeWorkers, categoryLabel } from './work-lib.js';

const shell = await startShell();
const { store, socket } = shell;
const body = $('#work-body');
const query = new URLSearchParams(location.search);
const state = {
  kind: query.get('kind'),
  view: query.get('view') ?? localStorage.getItem('storelink.work.view') ?? 'board',
  items: [],
  def: null,
  workers: [],
};

if (!store) {
  body.replaceChildren(el('p.empty', t('inbox.no_store')));
} else {
  // Without a kind in the address: the first the store takes from customers, else the newest item's, else tickets.
  state.kind ??= store.customer_work_kinds?.[0]
    ?? (await api('GET', `/v1/work-items?store_id=${store.id}&limit=1`).catch(() => []))[0]?.kind ?? 'ticket';
  state.workers = await storeWorkers(store.id);
  for (const worker of state.workers) $('#filter-assignee').append(el('option', { value: worker.id }, worker.name));
  bind();
  await load();
  const soon = debounce(refresh, 300);
  socket.addEventListener('work_item', e => { if (e.detail.work_item.store_id === store.id) soon(); });
  socket.addEventListener('ready', soon);
  socket.start();
}

function bind() {
  for (const button of $$('#kind-tabs [data-kind]'))
    button.addEventListener('click', () => {
      state.kind = button.dataset.kind;
      $('#filter-state').value = '';
      $('#filter-category').value = '';
      load();
    });
  for (const button of $$('.view-switch [data-view]'))
    button.addEventListener('click', () => {
      state.view = button.dataset.view;
      localStorage.setItem('storelink.work.view', state.view);
      render();
    });
  const form = $('#work-filters');
  for (const [name, value] of query) {
    const input = form.elements[name];
    if (input?.type === 'checkbox') input.checked = value === '1';
  }
  form.addEventListener('change', refresh);
  form.addEventListener('submit', e => e.preventDefault());
}

/** A kind was chosen: its template decides the columns and the filter choices. */
async function load() {
  for (const button of $$('#kind-tabs [data-kind]')) button.classList.toggle('on', button.dataset.kind === state.kind);
  const template = await defaultTemplate(state.kind);
  state.def = template ? await definition(template.id) : null;
  const stateSelect = $('#filter-state');
  const categorySelect = $('#filter-category');
  stateSelect.replaceChildren(el('option', { value: '' }, t('work.filter.any')),
    ...(state.def?.states ?? []).map(s => el('option', { value: s.key }, s.label)));
  categorySelect.replaceChildren(el('option', { value: '' }, t('work.filter.any')),
    ...(state.def?.categories ?? []).map(c => el('option', { value: c.key }, c.label)));
  for (const [name, select] of [['state', stateSelect], ['category', categorySelect], ['assignee', $('#filter-assignee')]])
    if (query.get(name) && [...select.options].some(o => o.value === query.get(name))) select.value = query.get(name);
  query.delete('state');
  query.delete('category');
  await refresh();
}

function filters() {
  const form = $('#work-filters');
  return {
    state: form.elements.state.value, category: form.elements.category.value, assignee: form.elements.assignee.value,
    overdue: form.elements.overdue.checked, closed: form.elements.closed.checked,
  };
}

async function refresh() {
  const f = filters();
  const params = new URLSearchParams({ store_id: store.id, kind: state.kind, limit: '500' });
  if (f.state) params.set('state', f.state);
  if (f.category) params.set('category', f.category);
  if (f.assignee) params.set('assignee_id', f.assignee);
  if (f.overdue) params.set('overdue', 'true');
  if (!f.closed && !f.state) params.set('open', 'true');
  // The address says what is shown.
  const shown = new URLSearchParams({ kind: state.kind });
  for (const [k, v] of Object.entries(f)) if (v) shown.set(k, v === true ? '1' : v);
  history.replaceState(null, '', `/console/work?${shown}`);
  try {
    state.items = await api('GET', `/v1/work-items?${params}`);
  } catch (error) {
    toast(errorText(error), { error: true });
    return;
  }
  render();
}

function render() {
  for (const button of $$('.view-switch [data-view]')) button.classList.toggle('on', button.dataset.view === state.view);
  $('#work').dataset.view = state.view;
  $('#work-count').textContent = t('work.count', { n: state.items.length });
  if (!state.items.length && state.view === 'list') {
    body.replaceChildren(el('p.empty', t('work.empty')));
    return;
  }
  body.replaceChildren(state.view === 'board' ? board() : list());
}

/** Columns in the template's order; terminal states only when closed items are asked for; items of other templates or versions whose state the default template lacks go into 其他. */
function board() {
  const f = filters();
  const columns = (state.def?.states ?? []).filter(s => !s.terminal || f.closed || f.state === s.key).filter(s => !f.state || s.key === f.state);
  const known = new Set(columns.map(c => c.key));
  const others = state.items.filter(i => !known.has(i.state));
  const column = (key, label, items, terminal) => el('section.column' + (terminal ? '.terminal' : ''), { dataset: { state: key } },
    el('header', el('span', label), el('b.count', items.length)),
    el('ol', items.map(i => el('li', card(i)))));
  return el('div.board', { id: 'board' },
    columns.map(s => column(s.key, s.label, state.items.filter(i => i.state === s.key), s.terminal)),
    others.length ? column('other', t('work.other_states'), others, false) : null);
}

function card(item) {
  return el('a.wcard' + (item.overdue ? '.overdue' : ''), { href: `/console/work/${encodeURIComponent(item.id)}`, dataset: { id: item.id, number: item.number } },
    el('div.wcard-top', el('span.number', item.number), item.priority !== 'normal' ? el('span.prio.p-' + item.priority, priorityLabel(item.priority)) : null),
    el('strong.wcard-title', item.title),
    el('div.wcard-meta', el('span', item.customer_name), item.category ? el('span.tag', item.category_label ?? categoryLabel(state.def, item.category)) : null),
    el('div.wcard-meta', el('span.assignee', item.assignee_name ?? (item.team ? t('role.' + item.team) : t('work.nobody'))), dueChip(item),
      el('time.muted', shortTime(item.updated_at))));
}

function list() {
  return el('table.grid.work-list', { id: 'work-list' },
    el('thead', el('tr', ['work.col.number', 'work.col.title', 'work.col.state', 'work.col.category', 'work.col.assignee', 'work.col.priority', 'work.col.due', 'work.col.updated']
      .map(k => el('th', t(k))))),
    el('tbody', state.items.map(item => el('tr' + (item.overdue ? '.overdue' : ''), { dataset: { id: item.id } },
      el('td', el('a', { href: `/console/work/${encodeURIComponent(item.id)}` }, item.number)),
      el('td', el('div', item.title), el('div.muted', item.customer_name)),
      el('td', stateChip(item)),
      el('td', item.category_label ?? ''),
      el('td', item.assignee_name ?? t('work.nobody')),
      el('td', priorityLabel(item.priority)),
      el('td', dueChip(item)),
      el('td.muted', shortTime(item.updated_at))))));
}
