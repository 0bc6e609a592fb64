// The inbox page: views (mine / unassigned / all / each queue) with live counts, the list with SLA clocks,
// and the open conversation (conversation.js). Everything is refreshed from pushes on the WebSocket.
import { api, t, $, $$, el, shortTime, duration, preview, debounce, toast, errorText } from './lib.js';
import { startShell, storeStaff } from './shell.js';
import { ConversationView } from './conversation.js';

const shell = await startShell();
const { store, socket, me, calls } = shell;
const app = $('#app');

const state = {
  view: sessionStorage.getItem('storelink.view') ?? 'mine',
  queueId: sessionStorage.getItem('storelink.queue') ?? null,
  filter: 'active',
  items: [],
  queues: [],
  staff: new Map(),
  presence: new Map(),
};

if (!store) {
  $('#inbox-list').replaceChildren(el('li.empty', t('inbox.no_store')));
} else {
  state.queues = await api('GET', `/v1/stores/${store.id}/queues`);
  for (const s of await storeStaff(store.id)) state.staff.set(s.id, s);
  for (const p of await api('GET', '/v1/presence')) state.presence.set(p.user_id, p.status);

  const conversation = new ConversationView({ store, socket, me, state, calls, onChanged: () => refresh(), onClose: () => showPane('list') });
  renderQueueViews();
  bindViews();
  await refresh();

  const refreshSoon = debounce(refresh, 250);
  socket.addEventListener('message', e => {
    conversation.onMessage(e.detail.message);
    refreshSoon();
  });
  socket.addEventListener('conversation', e => {
    conversation.onConversation(e.detail.conversation);
    refreshSoon();
  });
  socket.addEventListener('message_recalled', e => {
    conversation.onRecalled(e.detail);
    refreshSoon();
  });
  socket.addEventListener('receipt', e => conversation.onReceipt(e.detail));
  socket.addEventListener('typing', e => conversation.onTyping(e.detail));
  socket.addEventListener('viewing', e => conversation.onViewing(e.detail));
  socket.addEventListener('presence', e => state.presence.set(e.detail.user_id, e.detail.status));
  socket.addEventListener('mention', e => {
    const { message, parent_id: parentId } = e.detail;
    toast(t('toast.mention', { name: message.sender.name, text: preview(message) }), { onclick: () => open(parentId) });
  });
  socket.addEventListener('csat', e => toast(t('toast.csat', { rating: e.detail.rating.rating })));
  socket.addEventListener('work_item', e => conversation.work.onWorkItem(e.detail.work_item));
  // After a reconnect: whatever happened while offline is fetched again (inbox, counts, the open conversation).
  socket.addEventListener('ready', () => {
    refreshSoon();
    conversation.resync();
  });
  socket.start();

  // SLA clocks tick without a server round trip.
  setInterval(renderList, 15000);

  const wanted = new URLSearchParams(location.search).get('c');
  if (wanted) open(wanted, false);
  window.addEventListener('popstate', () => {
    const id = new URLSearchParams(location.search).get('c');
    if (id) open(id, false);
    else showPane('list');
  });

  async function open(id, push = true) {
    if (push) history.pushState(null, '', `/console?c=${encodeURIComponent(id)}`);
    showPane('conversation');
    await conversation.open(id);
    renderList();
  }
  state.open = open;
}

function showPane(pane) {
  app.dataset.pane = pane;
  if (pane === 'list' && new URLSearchParams(location.search).has('c')) history.pushState(null, '', '/console');
}

function renderQueueViews() {
  const box = $('#queue-views');
  $('#queue-heading').hidden = state.queues.length === 0;
  box.replaceChildren(...state.queues.map(q =>
    el('button', { type: 'button', dataset: { view: 'queue', queue: q.id } }, el('span', q.name), el('b.count', { dataset: { count: 'queue:' + q.id } }, '·'))));
  // On a phone the views are a row of tabs above the list.
  $('#view-tabs').replaceChildren(...$$('#views button').map(b => {
    const copy = b.cloneNode(true);
    copy.classList.add('tab');
    return copy;
  }));
}

function bindViews() {
  for (const button of $$('[data-view]'))
    button.addEventListener('click', () => {
      state.view = button.dataset.view;
      state.queueId = button.dataset.queue ?? null;
      sessionStorage.setItem('storelink.view', state.view);
      if (state.queueId) sessionStorage.setItem('storelink.queue', state.queueId);
      refresh();
    });
  $('#state-filter').addEventListener('change', e => {
    state.filter = e.target.value;
    refresh();
  });
}

async function refresh() {
  if (!store) return;
  if (state.view === 'queue' && !state.queues.some(q => q.id === state.queueId)) state.view = 'mine';
  const query = new URLSearchParams({ store_id: store.id, view: state.view, state: state.filter });
  if (state.view === 'queue') query.set('queue_id', state.queueId);
  try {
    const [items, counts] = await Promise.all([api('GET', `/v1/desk/inbox?${query}`), api('GET', `/v1/desk/counts?store_id=${store.id}`)]);
    state.items = items;
    state.fetchedAt = Date.now();
    for (const node of $$('[data-count]')) {
      const key = node.dataset.count;
      node.textContent = key.startsWith('queue:') ? counts.queues[key.slice(6)] ?? 0 : counts[key] ?? 0;
    }
    document.title = `(${counts.mine}) ${t('nav.inbox')} · ${t('app.name')}`;
  } catch (error) {
    toast(errorText(error), { error: true });
  }
  for (const button of $$('[data-view]'))
    button.classList.toggle('on', button.dataset.view === state.view && (state.view !== 'queue' || button.dataset.queue === state.queueId));
  const queue = state.queues.find(q => q.id === state.queueId);
  $('#inbox-title').textContent = state.view === 'queue' ? queue?.name ?? '' : t('view.' + state.view);
  renderList();
}

function renderList() {
  const list = $('#inbox-list');
  const current = new URLSearchParams(location.search).get('c');
  list.replaceChildren(...state.items.map(item => inboxItem(item, current)));
  $('#inbox-empty').hidden = state.items.length > 0;
}

function inboxItem(item, current) {
  const c = item.conversation;
  const assignee = c.assignee_id ? state.staff.get(c.assignee_id)?.name ?? t('conv.someone') : null;
  const queue = state.queues.find(q => q.id === c.queue_id)?.name;
  return el('li.inbox-item' + (c.id === current ? '.on' : '') + (c.unread ? '.unread' : ''), { dataset: { id: c.id } },
    el('button', { type: 'button', onclick: () => state.open(c.id) },
      el('span.avatar', item.customer_name.slice(0, 1)),
      el('span.line1',
        el('strong.name', item.customer_name),
        item.vip_level > 0 ? el('span.vip', `VIP${item.vip_level}`) : null,
        el('time', item.last_message ? shortTime(item.last_message.created_at) : '')),
      el('span.line2', el('span.preview', item.last_message ? preview(item.last_message) : t('inbox.no_messages')),
        c.unread ? el('b.unread-count', c.unread) : null),
      el('span.line3',
        el('span.badge.state-' + c.state, t('state.' + c.state)),
        queue ? el('span.tag', queue) : null,
        el('span.tag' + (assignee ? '' : '.waiting'), assignee ?? t(c.waiting ? 'conv.waiting' : 'conv.unassigned')),
        slaChip(item.sla, c.state))));
}

/**
 * The SLA clock of a line: business time left to the first answer (or to resolution once answered), red when breached.
 * Counted from the server's business seconds at the last fetch, so the browser's clock and closed hours do not skew it.
 */
function slaChip(sla, convState) {
  if (!sla || convState === 'resolved') return null;
  const since = (Date.now() - state.fetchedAt) / 1000;
  const first = !sla.first_response_at;
  const left = first
    ? store.sla_first_response_minutes * 60 - sla.first_response_business_seconds - since
    : store.sla_resolution_minutes * 60 - sla.resolution_business_seconds - since;
  const breached = (first ? sla.first_response_breached : sla.resolution_breached) || left < 0;
  const kind = first ? 'first' : 'resolve';
  return el('span.sla' + (breached ? '.breached' : left < 120 ? '.soon' : ''), { title: t(`sla.${kind}_title`) },
    t(`sla.${kind}_${breached ? 'over' : 'left'}`, { d: duration(left) }));
}
