// The organization's integrations (org admins): webhook subscriptions and their deliveries, connectors to the store's
// systems with their inbound log and commands, API keys. Everything goes through the REST API, which decides who may.
import { api, t, $, el, toast, errorText, fullTime } from './lib.js';
import { startShell } from './shell.js';

const shell = await startShell();
shell.socket.start();
const content = $('#manage-content');
const section = document.querySelector('.integrations').dataset.section;

const EVENTS = ['message.created', 'conversation.assigned', 'conversation.resolved', 'work_item.created', 'work_item.state_changed',
  'customer_action.taken', 'csat.given'];
const PERMISSIONS = ['customers:read', 'customers:write', 'stores:read', 'work_items:read', 'work_items:write', 'conversations:read',
  'messages:write', 'connectors:manage', 'webhooks:manage'];
const KINDS = ['order', 'ticket', 'care_job'];

/** Runs a call from a button: disabled meanwhile, a toast for the outcome, then `done` (usually a re-render). */
async function act(button, call, done, message = t('manage.saved')) {
  if (button) button.disabled = true;
  try {
    const result = await call();
    if (message) toast(message);
    await done?.(result);
  } catch (error) {
    toast(errorText(error), { error: true });
  } finally {
    if (button) button.disabled = false;
  }
}

const field = (label, input) => el('label.field', el('span', label), input);
const when = iso => (iso ? fullTime(iso) : '—');
const button = (label, onclick, cls = '') => el('button' + cls, { type: 'button', onclick }, label);

/** A secret shown once, with a copy button. */
function secretBox(label, secret) {
  return el('div.secret', { role: 'status' }, el('p', label), el('code', secret),
    button(t('integrations.copy'), () => navigator.clipboard?.writeText(secret).then(() => toast(t('integrations.copied')))));
}

/** "A = b" lines (also "A: b", "A → b") to an object, and back. */
function parseMap(text) {
  const map = {};
  for (const line of text.split('\n').map(l => l.trim()).filter(Boolean)) {
    const [key, ...rest] = line.split(/\s*(?:=|:|→|->)\s*/);
    if (key && rest.length) map[key] = rest.join('');
  }
  return map;
}
const formatMap = map => Object.entries(map ?? {}).map(([k, v]) => `${k} = ${v}`).join('\n');

// Webhooks ------------------------------------------------------------------------------------------------------------

async function webhooks() {
  const list = await api('GET', '/v1/webhooks');
  content.replaceChildren(...list.map(subscriptionCard), newSubscriptionForm());
}

function subscriptionCard(s) {
  const extra = el('div.extra');
  const events = s.events.length ? s.events.map(e => t('integrations.event.' + e)).join('、') : t('integrations.all_events');
  return el('div.card-form', { dataset: { webhook: s.id } },
    el('h3', s.url),
    el('p.muted', [s.description, events, t(s.active ? 'integrations.active' : 'integrations.paused')].filter(Boolean).join(' · ')),
    el('div.form-actions',
      button(t('integrations.deliveries'), () => deliveries(s, extra)),
      button(t(s.active ? 'integrations.pause' : 'integrations.resume'), e => act(e.target, () => api('PATCH', `/v1/webhooks/${s.id}`, { active: !s.active }), webhooks)),
      button(t('integrations.ping'), e => act(e.target, () => api('POST', `/v1/webhooks/${s.id}/ping`), () => deliveries(s, extra), t('integrations.ping_sent'))),
      button(t('integrations.show_secret'), e => act(e.target, () => api('GET', `/v1/webhooks/${s.id}/secret`),
        r => extra.replaceChildren(secretBox(t('integrations.secret'), r.secret)), null)),
      button(t('integrations.rotate'), e => confirm(t('integrations.rotate_confirm')) && act(e.target, () => api('POST', `/v1/webhooks/${s.id}/secret/rotate`),
        r => extra.replaceChildren(secretBox(t('integrations.secret_new'), r.secret)))),
      button(t('common.delete'), e => confirm(t('integrations.delete_confirm', { name: s.url })) && act(e.target, () => api('DELETE', `/v1/webhooks/${s.id}`), webhooks), '.danger')),
    extra);
}

function newSubscriptionForm() {
  const url = el('input', { name: 'url', type: 'url', required: true, placeholder: 'https://erp.example.com/storelink' });
  const description = el('input', { name: 'description', maxlength: 200 });
  const boxes = EVENTS.map(e => el('label.check', el('input', { type: 'checkbox', value: e }), t('integrations.event.' + e)));
  const submit = el('button.primary', { type: 'submit' }, t('integrations.subscribe'));
  const result = el('div');
  return el('form.card-form', { dataset: { webhook: 'new' }, onsubmit: e => {
    e.preventDefault();
    const events = boxes.map(b => b.querySelector('input')).filter(i => i.checked).map(i => i.value);
    act(submit, () => api('POST', '/v1/webhooks', { url: url.value.trim(), description: description.value.trim() || null, events }), async created => {
      await webhooks();
      content.prepend(secretBox(t('integrations.secret_once'), created.secret));
    });
  } },
    el('h3', t('integrations.new_webhook')),
    el('div.row', field(t('integrations.url'), url), field(t('integrations.description'), description)),
    el('fieldset', el('legend', t('integrations.events')), el('p.muted', t('integrations.events_hint')), boxes),
    el('div.form-actions', submit), result);
}

async function deliveries(s, box, status = '') {
  const filter = el('select', { 'aria-label': t('integrations.status'), onchange: () => deliveries(s, box, filter.value) },
    ['', 'pending', 'failed', 'succeeded', 'dead'].map(v => el('option', { value: v, selected: v === status }, t('integrations.delivery.' + (v || 'all')))));
  const list = await api('GET', `/v1/webhooks/${s.id}/deliveries?limit=50${status ? '&status=' + status : ''}`).catch(error => {
    toast(errorText(error), { error: true });
    return [];
  });
  const rows = list.map(d => {
    const details = el('tr.details', { hidden: true }, el('td', { colSpan: 7 }));
    // A pending delivery that has been tried already is "failed, waiting for its retry" (the API's ?status=failed).
    const shown = d.status === 'pending' && d.attempts > 0 ? 'failed' : d.status;
    return [el('tr', { dataset: { delivery: d.event_id, status: shown } },
      el('td', when(d.created_at)), el('td', t('integrations.event.' + d.event_type)), el('td', el('span.badge', { dataset: { status: shown } }, t('integrations.delivery.' + shown))),
      el('td', d.attempts), el('td', d.last_status_code ?? d.last_error ?? '—'), el('td', when(d.next_attempt_at)),
      el('td', button(t('integrations.details'), async () => {
        details.hidden = !details.hidden;
        if (details.hidden) return;
        const one = await api('GET', `/v1/webhooks/${s.id}/deliveries/${d.event_id}`);
        details.firstChild.replaceChildren(
          el('table.grid.log', el('tbody', (one.attempt_log ?? []).map(a => el('tr',
            el('td', when(a.attempted_at)), el('td', `${a.duration_ms} ms`), el('td', a.status_code ?? a.error ?? ''), el('td', t(a.succeeded ? 'integrations.ok' : 'integrations.failed')))))),
          el('pre.payload', JSON.stringify(one.payload, null, 2)));
      }), button(t('integrations.redeliver'), e => act(e.target, () => api('POST', `/v1/webhooks/${s.id}/deliveries/${d.event_id}/redeliver`),
        () => deliveries(s, box, status), t('integrations.redelivered'))))),
    details];
  });
  box.replaceChildren(el('div.row', el('h4', t('integrations.deliveries')), filter),
    list.length ? el('table.grid.deliveries', el('thead', el('tr', ['created', 'event', 'status', 'attempts', 'last', 'next', ''].map(h => el('th', h ? t('integrations.col.' + h) : '')))),
      el('tbody', rows)) : el('p.muted', t('integrations.none')));
}

// Connectors ----------------------------------------------------------------------------------------------------------

async function connectors() {
  const [list, templates, stores] = await Promise.all([api('GET', '/v1/connectors'), api('GET', '/v1/workflow-templates'), api('GET', '/v1/stores')]);
  const context = { templates, stores };
  content.replaceChildren(...list.map(c => connectorCard(c, context)), connectorForm(null, context));
}

function connectorCard(c, context) {
  const extra = el('div.extra');
  const store = context.stores.find(s => s.id === c.store_id)?.name ?? '—';
  const template = context.templates.find(x => x.id === c.template_id)?.name ?? c.template_id;
  return el('div.card-form', { dataset: { connector: c.id } },
    el('h3', `${c.name} (${c.key})`),
    el('dl.facts',
      el('dt', t('integrations.base_url')), el('dd', c.base_url),
      el('dt', t('integrations.kind')), el('dd', t('integrations.kind.' + c.kind), ' · ', template, ' · ', store),
      el('dt', t('integrations.mode')), el('dd', t('integrations.mode.' + c.mode), c.mode === 'polling' ? ` · ${c.poll_interval_seconds} s · ${t('integrations.cursor')} ${c.cursor ?? '—'}` : ''),
      c.last_poll_error ? [el('dt', t('integrations.last_poll_error')), el('dd.error', c.last_poll_error)] : null,
      el('dt', t('integrations.features')), el('dd', [c.commands && t('integrations.commands'), c.profile_lookup && t('integrations.profile_lookup')].filter(Boolean).join('、') || '—'),
      el('dt', t('integrations.state')), el('dd', t(c.active ? 'integrations.active' : 'integrations.paused'))),
    el('div.form-actions',
      button(t('integrations.inbound_log'), () => connectorEvents(c, extra)),
      button(t('integrations.command_log'), () => connectorCommands(c, extra)),
      button(t('integrations.edit'), () => extra.replaceChildren(connectorForm(c, context))),
      button(t(c.active ? 'integrations.pause' : 'integrations.resume'), e => act(e.target, () => api('PATCH', `/v1/connectors/${c.id}`, { active: !c.active }), connectors)),
      button(t('integrations.show_secret'), e => act(e.target, () => api('GET', `/v1/connectors/${c.id}/secret`),
        r => extra.replaceChildren(secretBox(t('integrations.secret'), r.secret)), null)),
      button(t('integrations.rotate'), e => confirm(t('integrations.rotate_confirm')) && act(e.target, () => api('POST', `/v1/connectors/${c.id}/secret/rotate`),
        r => extra.replaceChildren(secretBox(t('integrations.secret_new'), r.secret)))),
      button(t('common.delete'), e => confirm(t('integrations.delete_confirm', { name: c.name })) && act(e.target, () => api('DELETE', `/v1/connectors/${c.id}`), connectors), '.danger')),
    extra);
}

function connectorForm(c, { templates, stores }) {
  const key = el('input', { name: 'key', value: c?.key ?? '', pattern: '[a-z0-9_\\-]{1,40}', required: true, disabled: !!c });
  const name = el('input', { name: 'name', value: c?.name ?? '', maxlength: 100, required: true });
  const baseUrl = el('input', { name: 'base_url', type: 'url', value: c?.base_url ?? '', required: true, placeholder: 'https://erp.example.com/storelink/' });
  const kind = el('select', { name: 'kind' }, KINDS.map(k => el('option', { value: k, selected: (c?.kind ?? 'order') === k }, t('integrations.kind.' + k))));
  const template = el('select', { name: 'template_id' });
  const fillTemplates = () => template.replaceChildren(...templates.filter(x => x.kind === kind.value)
    .map(x => el('option', { value: x.id, selected: x.id === c?.template_id }, x.name)));
  kind.addEventListener('change', fillTemplates);
  fillTemplates();
  const store = el('select', { name: 'store_id' }, el('option', { value: '' }, t('integrations.no_store')),
    stores.map(s => el('option', { value: s.id, selected: s.id === c?.store_id }, s.name)));
  const mode = el('select', { name: 'mode' }, ['webhook', 'polling'].map(m => el('option', { value: m, selected: (c?.mode ?? 'webhook') === m }, t('integrations.mode.' + m))));
  const interval = el('input', { name: 'poll_interval_seconds', type: 'number', min: 5, max: 3600, value: c?.poll_interval_seconds ?? 60 });
  const statusMap = el('textarea', { name: 'status_map', rows: 5, placeholder: 'PAID = paid\nSHIPPED = shipped' }, formatMap(c?.status_map));
  const fieldMap = el('textarea', { name: 'field_map', rows: 3, placeholder: 'receiver_address = address' }, formatMap(c?.field_map));
  const commands = el('input', { type: 'checkbox', name: 'commands', checked: c?.commands ?? false });
  const profile = el('input', { type: 'checkbox', name: 'profile_lookup', checked: c?.profile_lookup ?? false });
  const submit = el('button.primary', { type: 'submit' }, c ? t('common.save') : t('integrations.create_connector'));
  return el('form.card-form', { dataset: { connector: c?.id ?? 'new' }, onsubmit: e => {
    e.preventDefault();
    const body = {
      name: name.value.trim(), base_url: baseUrl.value.trim(), kind: kind.value, template_id: template.value, store_id: store.value || null,
      mode: mode.value, poll_interval_seconds: mode.value === 'polling' ? Number(interval.value) : null,
      status_map: parseMap(statusMap.value), field_map: parseMap(fieldMap.value), commands: commands.checked, profile_lookup: profile.checked,
    };
    if (!c) body.key = key.value.trim();
    act(submit, () => (c ? api('PATCH', `/v1/connectors/${c.id}`, body) : api('POST', '/v1/connectors', body)), async created => {
      await connectors();
      if (!c) content.prepend(secretBox(t('integrations.secret_once'), created.secret));
    });
  } },
    el('h3', c ? t('integrations.edit_connector') : t('integrations.new_connector')),
    el('div.row', field(t('integrations.key'), key), field(t('integrations.name'), name)),
    field(t('integrations.base_url'), baseUrl),
    el('div.row', field(t('integrations.kind'), kind), field(t('integrations.template'), template), field(t('integrations.store'), store)),
    el('div.row', field(t('integrations.mode'), mode), field(t('integrations.poll_interval'), interval)),
    el('div.row', field(t('integrations.status_map'), statusMap), field(t('integrations.field_map'), fieldMap)),
    el('p.muted', t('integrations.map_hint')),
    el('label.check', commands, t('integrations.commands_hint')),
    el('label.check', profile, t('integrations.profile_hint')),
    el('div.form-actions', submit));
}

async function connectorEvents(c, box) {
  const list = await api('GET', `/v1/connectors/${c.id}/events?limit=50`);
  box.replaceChildren(el('h4', t('integrations.inbound_log')), list.length ? el('table.grid.log',
    el('thead', el('tr', ['received', 'event', 'type', 'object', 'status', 'reason'].map(h => el('th', t('integrations.col.' + h))))),
    el('tbody', list.map(e => el('tr', { dataset: { event: e.event_id ?? e.id, status: e.status } },
      el('td', when(e.received_at)), el('td', e.event_id ?? '—', el('div.muted', t('integrations.source.' + e.source))), el('td', e.type ?? '—'),
      el('td', e.external_id ?? '—', e.version != null ? ` v${e.version}` : ''),
      el('td', el('span.badge', { dataset: { status: e.status } }, t('integrations.outcome.' + e.status)), e.http_status ? ` ${e.http_status}` : ''), el('td', e.reason ?? ''))))) : el('p.muted', t('integrations.none')));
}

async function connectorCommands(c, box) {
  const list = await api('GET', `/v1/connectors/${c.id}/commands?limit=50`);
  box.replaceChildren(el('h4', t('integrations.command_log')), list.length ? el('table.grid.log',
    el('thead', el('tr', ['created', 'type', 'status', 'attempts', 'message', 'next'].map(h => el('th', t('integrations.col.' + h))))),
    el('tbody', list.map(m => el('tr', { dataset: { command: m.id, status: m.status }, title: (m.attempt_log ?? []).map(a => `${when(a.attempted_at)} ${a.status_code ?? a.error ?? ''}`).join('\n') },
      el('td', when(m.created_at)), el('td', m.type, el('div.muted', m.work_item_id)), el('td', el('span.badge', { dataset: { status: m.status } }, t('integrations.outcome.' + m.status))),
      el('td', m.attempts), el('td', m.message ?? ''), el('td', when(m.next_attempt_at)))))) : el('p.muted', t('integrations.none')));
}

// API keys ------------------------------------------------------------------------------------------------------------

async function keys() {
  const [list, stores] = await Promise.all([api('GET', '/v1/api-clients'), api('GET', '/v1/stores')]);
  const storeName = id => stores.find(s => s.id === id)?.name ?? t('integrations.all_stores');
  const name = el('input', { name: 'name', maxlength: 100, required: true });
  const store = el('select', { name: 'store_id' }, el('option', { value: '' }, t('integrations.all_stores')), stores.map(s => el('option', { value: s.id }, s.name)));
  const boxes = PERMISSIONS.map(p => el('label.check', el('input', { type: 'checkbox', value: p }), `${t('integrations.permission.' + p)} (${p})`));
  const submit = el('button.primary', { type: 'submit' }, t('integrations.create_key'));
  content.replaceChildren(
    list.length ? el('table.grid.keys', el('thead', el('tr', ['name', 'scope', 'permissions', 'prefix', 'last_used', ''].map(h => el('th', h ? t('integrations.col.' + h) : '')))),
      el('tbody', list.map(k => el('tr', { dataset: { key: k.id } },
        el('td', k.name), el('td', storeName(k.store_id)), el('td', k.permissions.map(p => t('integrations.permission.' + p)).join('、')), el('td', el('code', k.key_prefix + '…')),
        el('td', when(k.last_used_at)),
        el('td', k.revoked_at ? t('integrations.revoked') : button(t('integrations.revoke'), e => confirm(t('integrations.revoke_confirm', { name: k.name }))
          && act(e.target, () => api('DELETE', `/v1/api-clients/${k.id}`), keys), '.danger')))))) : el('p.muted', t('integrations.none')),
    el('form.card-form', { dataset: { key: 'new' }, onsubmit: e => {
      e.preventDefault();
      const permissions = boxes.map(b => b.querySelector('input')).filter(i => i.checked).map(i => i.value);
      act(submit, () => api('POST', '/v1/api-clients', { name: name.value.trim(), store_id: store.value || null, permissions }), async created => {
        await keys();
        content.prepend(secretBox(t('integrations.key_once'), created.key));
      });
    } },
      el('h3', t('integrations.new_key')),
      el('div.row', field(t('integrations.name'), name), field(t('integrations.scope'), store)),
      el('fieldset', el('legend', t('integrations.permissions')), boxes),
      el('div.form-actions', submit)));
}

async function render() {
  if (!shell.me.roles.some(r => r.role === 'org_admin')) {
    content.replaceChildren(el('p.error', t('integrations.not_admin')));
    return;
  }
  try {
    await { webhooks, connectors, keys }[section]();
  } catch (error) {
    content.replaceChildren(el('p.error', errorText(error)));
  }
}

await render();
