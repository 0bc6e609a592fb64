// Manager pages of the selected store: queues, agents' capacity, business hours and SLA targets, canned replies.
// Each form writes through the REST API; the server decides who may (a 403 is shown as it comes).
import { api, t, $, el, toast, errorText } from './lib.js';
import { startShell, storeStaff } from './shell.js';

const shell = await startShell();
const { store, socket } = shell;
socket.start();
const content = $('#manage-content');
const section = document.querySelector('.manage').dataset.section;
const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

async function save(button, call, done) {
  button.disabled = true;
  try {
    const result = await call();
    toast(t('manage.saved'));
    await done?.(result);
  } catch (error) {
    toast(errorText(error), { error: true });
  } finally {
    button.disabled = false;
  }
}

const field = (label, input) => el('label.field', el('span', label), input);

async function queues() {
  const [list, staff] = await Promise.all([api('GET', `/v1/stores/${store.id}/queues`), storeStaff(store.id)]);
  const form = queue => {
    const name = el('input', { name: 'name', value: queue?.name ?? '', maxlength: 50, required: true });
    const strategy = el('select', { name: 'strategy' },
      ['least_busy', 'round_robin'].map(s => el('option', { value: s, selected: queue?.strategy === s }, t('queue.' + s))));
    const keywords = el('input', { name: 'keywords', value: (queue?.keywords ?? []).join(', '), placeholder: t('queue.keywords_hint') });
    const isDefault = el('input', { type: 'checkbox', name: 'is_default', checked: queue?.is_default ?? false });
    const agents = staff.map(s => el('label.check', el('input', { type: 'checkbox', value: s.id, checked: queue?.agent_ids.includes(s.id) ?? false }), s.name));
    const submit = el('button.primary', { type: 'submit' }, queue ? t('common.save') : t('queue.create'));
    const body = () => ({
      name: name.value.trim(), strategy: strategy.value, is_default: isDefault.checked,
      keywords: keywords.value.split(/[,，\s]+/).filter(Boolean),
      agent_ids: agents.map(a => a.querySelector('input')).filter(i => i.checked).map(i => i.value),
    });
    return el('form.card-form', { dataset: { queue: queue?.id ?? 'new' }, onsubmit: e => {
      e.preventDefault();
      save(submit, () => (queue ? api('PATCH', `/v1/queues/${queue.id}`, body()) : api('POST', `/v1/stores/${store.id}/queues`, body())), render);
    } },
      el('h3', queue ? queue.name : t('queue.new')),
      el('div.row', field(t('queue.name'), name), field(t('queue.strategy'), strategy)),
      field(t('queue.keywords'), keywords),
      el('label.check', isDefault, t('queue.default')),
      el('fieldset', el('legend', t('queue.agents')), el('p.muted', t('queue.agents_hint')), agents),
      el('div.form-actions', submit,
        queue ? el('button.danger', { type: 'button', onclick: e => {
          if (confirm(t('queue.delete_confirm', { name: queue.name })))
            save(e.target, () => api('DELETE', `/v1/queues/${queue.id}`), render);
        } }, t('common.delete')) : null));
  };
  content.replaceChildren(...list.map(form), form(null));
}

async function agents() {
  const [staff, presence] = await Promise.all([storeStaff(store.id), api('GET', '/v1/presence')]);
  const status = new Map(presence.map(p => [p.user_id, p.status]));
  content.replaceChildren(el('table.grid',
    el('thead', el('tr', el('th', t('agents.name')), el('th', t('agents.roles')), el('th', t('agents.presence')), el('th', t('agents.capacity')), el('th'))),
    el('tbody', staff.map(s => {
      const capacity = el('input', { type: 'number', min: 0, max: 100, value: s.capacity, name: 'capacity', 'aria-label': t('agents.capacity') });
      const button = el('button.primary', { type: 'button', onclick: () => save(button, () => api('PUT', `/v1/staff/${s.id}/capacity`, { capacity: Number(capacity.value) })) }, t('common.save'));
      return el('tr', { dataset: { staff: s.id } }, el('td', s.name, el('div.muted', s.login)),
        el('td', s.roles.filter(r => r.store_id === store.id).map(r => t('role.' + r.role)).join('、')),
        el('td', el('span.dot', { dataset: { status: status.get(s.id) ?? 'offline' } }), ' ', t('presence.' + (status.get(s.id) ?? 'offline'))),
        el('td', capacity), el('td', button));
    }))));
}

async function hours() {
  const current = await api('GET', `/v1/stores/${store.id}`);
  const zone = el('input', { name: 'time_zone', value: current.time_zone });
  const days = DAYS.map(day => el('input', {
    name: day, 'aria-label': t('day.' + day),
    value: (current.business_hours[day] ?? []).map(r => `${r.open}-${r.close}`).join(', '), placeholder: t('hours.closed'),
  }));
  const first = el('input', { type: 'number', name: 'sla_first_response_minutes', min: 1, max: 10000, value: current.sla_first_response_minutes });
  const resolution = el('input', { type: 'number', name: 'sla_resolution_minutes', min: 1, max: 100000, value: current.sla_resolution_minutes });
  const kinds = ['ticket', 'order', 'care_job'].map(kind => el('label.check', el('input', {
    type: 'checkbox', name: 'customer_work_kinds', value: kind, checked: (current.customer_work_kinds ?? []).includes(kind),
  }), t('work.kind.' + kind)));
  const submit = el('button.primary', { type: 'submit' }, t('common.save'));
  content.replaceChildren(el('form.card-form', { onsubmit: e => {
    e.preventDefault();
    const business = {};
    for (const [i, day] of DAYS.entries()) {
      const ranges = days[i].value.split(/[,，]/).map(s => s.trim()).filter(Boolean).map(s => {
        const [open, close] = s.split(/\s*[-–~至]\s*/);
        return { open, close };
      });
      if (ranges.length) business[day] = ranges;
    }
    save(submit, () => api('PATCH', `/v1/stores/${store.id}`, {
      time_zone: zone.value.trim(), business_hours: business,
      sla_first_response_minutes: Number(first.value), sla_resolution_minutes: Number(resolution.value),
      customer_work_kinds: kinds.map(k => k.querySelector('input')).filter(i => i.checked).map(i => i.value),
    }), hours);
  } },
    field(t('hours.time_zone'), zone),
    el('div.days', DAYS.map((day, i) => field(t('day.' + day), days[i]))),
    el('p.muted', t('hours.format')),
    el('div.row', field(t('hours.sla_first'), first), field(t('hours.sla_resolution'), resolution)),
    el('fieldset', el('legend', t('work.customer_kinds')), el('p.muted', t('work.customer_kinds_help')), kinds),
    el('div.form-actions', submit)));
}

async function canned() {
  const list = await api('GET', `/v1/stores/${store.id}/canned-replies`);
  const form = reply => {
    const shortcut = el('input', { name: 'shortcut', value: reply?.shortcut ?? '', maxlength: 30, required: true });
    const title = el('input', { name: 'title', value: reply?.title ?? '', maxlength: 100, required: true });
    const body = el('textarea', { name: 'body', rows: 3, maxlength: 5000, required: true }, reply?.body ?? '');
    const submit = el('button.primary', { type: 'submit' }, reply ? t('common.save') : t('canned.create'));
    const data = () => ({ shortcut: shortcut.value.trim(), title: title.value.trim(), body: body.value });
    return el('form.card-form', { dataset: { canned: reply?.id ?? 'new' }, onsubmit: e => {
      e.preventDefault();
      save(submit, () => (reply ? api('PATCH', `/v1/canned-replies/${reply.id}`, data()) : api('POST', `/v1/stores/${store.id}/canned-replies`, data())), canned);
    } },
      el('h3', reply ? '/' + reply.shortcut : t('canned.new')),
      el('div.row', field(t('canned.shortcut'), shortcut), field(t('canned.title'), title)),
      field(t('canned.body'), body),
      el('p.muted', t('canned.variables')),
      el('div.form-actions', submit,
        reply ? el('button.danger', { type: 'button', onclick: e => save(e.target, () => api('DELETE', `/v1/canned-replies/${reply.id}`), canned) }, t('common.delete')) : null));
  };
  content.replaceChildren(...list.map(form), form(null));
}

async function render() {
  if (!store) {
    content.replaceChildren(el('p', t('inbox.no_store')));
    return;
  }
  if (!shell.isManager(store.id)) content.prepend(el('p.error', t('manage.not_manager')));
  try {
    await { queues, agents, hours, canned }[section]();
  } catch (error) {
    content.replaceChildren(el('p.error', errorText(error)));
  }
}

await render();
