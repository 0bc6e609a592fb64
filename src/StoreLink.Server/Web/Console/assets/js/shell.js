// The top bar of every signed-in page: who I am, which store, presence, connection state, the manager link; and calls.
import { api, t, token, $, el, toast, errorText, session } from './lib.js';
import { LiveSocket } from '/assets/shared/socket.js';
import { startCalls } from './calls.js';

const MANAGER_ROLES = ['manager', 'org_admin'];

export async function startShell() {
  const me = await api('GET', '/v1/me');
  const stores = await api('GET', '/v1/stores');
  const select = $('#store-select');
  const saved = localStorage.getItem('storelink.store');
  const serving = stores.filter(s => me.roles.some(r => r.role === 'org_admin' || r.store_id === s.id));
  for (const store of serving) select.append(el('option', { value: store.id }, store.name));
  const store = serving.find(s => s.id === saved) ?? serving[0] ?? null;
  if (store) select.value = store.id;
  select.hidden = serving.length < 2;

  const isManager = storeId => me.roles.some(r => r.role === 'org_admin' || (r.store_id === storeId && r.role === 'manager'));
  $('#manage-link').hidden = !store || !isManager(store.id);
  $('#integrations-link').hidden = !me.roles.some(r => r.role === 'org_admin');
  // /console/manage/… lights "manage", /console/integrations/… "integrations", /console/work/… and /console/templates/… "work", the inbox otherwise.
  const here = location.pathname.split('/')[2] || 'inbox';
  const section = here === 'templates' ? 'work' : ['manage', 'integrations', 'work'].includes(here) ? here : 'inbox';
  for (const link of document.querySelectorAll('[data-nav]')) link.classList.toggle('on', link.dataset.nav === section);

  const socket = new LiveSocket({ token });
  const connection = $('#connection-state');
  socket.addEventListener('state', e => {
    connection.dataset.state = e.detail;
    connection.textContent = t('conn.' + e.detail);
  });
  socket.addEventListener('ended', () => { if (!session.signingOut) location.assign('/console/login'); });

  // Presence: the server marks a connected agent online; the switch says online or away.
  const presenceSelect = $('#presence-select');
  const dot = $('#presence-dot');
  const showPresence = status => {
    presenceSelect.value = status === 'away' ? 'away' : 'online';
    dot.dataset.status = status;
  };
  socket.addEventListener('ready', async () => {
    const wanted = sessionStorage.getItem('storelink.presence');
    if (wanted === 'away') await socket.request({ type: 'presence', status: 'away' }).catch(() => {});
    const all = await api('GET', '/v1/presence');
    // A live connection is "online" unless the agent chose "away".
    showPresence(all.find(p => p.user_id === me.id)?.status === 'away' ? 'away' : 'online');
  });
  socket.addEventListener('presence', e => {
    if (e.detail.user_id === me.id) showPresence(e.detail.status);
  });
  presenceSelect.addEventListener('change', async () => {
    const status = presenceSelect.value;
    try {
      await socket.request({ type: 'presence', status });
      sessionStorage.setItem('storelink.presence', status);
      showPresence(status);
      toast(t(status === 'away' ? 'presence.now_away' : 'presence.now_online'));
    } catch (error) {
      toast(errorText(error), { error: true });
    }
  });

  // The language switch comes back to where the agent is now (the script changes the URL as conversations open).
  $('.topbar .lang')?.addEventListener('click', e => {
    const url = new URL(e.currentTarget.href);
    url.searchParams.set('return_url', location.pathname + location.search);
    e.currentTarget.href = url.toString();
  });
  select.addEventListener('change', () => {
    localStorage.setItem('storelink.store', select.value);
    location.assign(location.pathname);
  });
  // Calls ring on every page of the console while it is open.
  const calls = startCalls({ socket, me, store });
  window.storelinkConsole = { calls };
  return { me, store, stores: serving, socket, isManager, calls };
}

/** The staff who serve customers of a store (agents and managers), with their capacity. */
export async function storeStaff(storeId) {
  const staff = await api('GET', '/v1/staff');
  return staff.filter(s => !s.disabled && s.roles.some(r => r.store_id === storeId && (r.role === 'agent' || r.role === 'manager')));
}
