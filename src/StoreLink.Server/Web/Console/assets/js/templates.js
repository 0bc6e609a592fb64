// The template viewer: the organization's workflow templates, each version as it is — states with staff and customer
// labels (zh-CN / en), the card a state sends and the actions it offers the customer, urgency and reminders, the
// transitions with the roles that may make them, and the categories with their assignment rule. Read only: a
// template changes through PUT /v1/workflow-templates/{id} (docs/workflows.md).
import { api, t, $, el, date, toast, errorText } from './lib.js';
import { startShell } from './shell.js';
import { templates, definition, decides } from './work-lib.js';

const shell = await startShell();
shell.socket.start();
const root = $('#templates');
const nav = $('#template-nav');
const body = $('#template-body');

try {
  const list = await templates();
  // Without one in the address: the default template of the kind the store works with most visibly.
  const kind = shell.store?.customer_work_kinds?.[0] ?? 'ticket';
  const wanted = root.dataset.id || list.find(x => x.kind === kind && x.is_default)?.id || list.find(x => x.is_default)?.id || list[0]?.id;
  nav.replaceChildren(...['ticket', 'order', 'care_job'].map(kind => {
    const ofKind = list.filter(x => x.kind === kind);
    return ofKind.length ? el('div.template-group', el('h4', t('work.kind.' + kind)), ofKind.map(x =>
      el('a' + (x.id === wanted ? '.on' : ''), { href: `/console/templates/${encodeURIComponent(x.id)}`, dataset: { id: x.id } },
        el('span', x.name), x.is_default ? el('span.tag', t('tpl.default')) : null))) : null;
  }));
  const template = list.find(x => x.id === wanted);
  if (template) await show(template, Number(new URLSearchParams(location.search).get('version')) || template.version);
  else body.replaceChildren(el('p.empty', t('tpl.none')));
} catch (error) {
  body.replaceChildren(el('p.error', errorText(error)));
}

async function show(template, version) {
  let def;
  try {
    def = await definition(template.id, version);
  } catch (error) {
    toast(errorText(error), { error: true });
    return;
  }
  const versions = el('select#version-select', { 'aria-label': t('tpl.version'), onchange: e => {
    history.replaceState(null, '', `/console/templates/${encodeURIComponent(template.id)}?version=${e.target.value}`);
    show(template, Number(e.target.value));
  } }, Array.from({ length: template.version }, (_, i) => template.version - i).map(v =>
    el('option', { value: v, selected: v === version }, v === template.version ? t('tpl.version_current', { v }) : t('tpl.version_n', { v }))));
  const yes = value => (value ? t('tpl.yes') : '');
  const label = (texts, l) => texts?.[l] ?? '';
  const roles = list => (list ?? []).map(r => t('role.' + r)).join('、');
  body.replaceChildren(
    el('header.template-head', el('h2', def.name), el('span.tag', t('work.kind.' + def.kind)), template.preset ? el('span.muted', t('tpl.from_preset', { preset: template.preset })) : null,
      versions, el('span.muted', t('tpl.updated', { at: date(template.updated_at) }))),
    el('p.muted', t('tpl.help')),
    el('h3', t('tpl.states')),
    el('div.scroll-x', el('table.grid.tpl-states', { id: 'tpl-states' },
      el('thead', el('tr', ['tpl.key', 'tpl.label', 'tpl.customer_zh', 'tpl.customer_en', 'tpl.terminal', 'tpl.urgent', 'tpl.actions', 'tpl.reminder'].map(k => el('th', t(k))))),
      el('tbody', def.states.map(s => el('tr', { dataset: { state: s.key } },
        el('td', el('code', s.key), s.key === def.initial ? el('div.tag', t('tpl.initial')) : null),
        el('td', s.label),
        el('td', label(s.customer_label, 'zh-CN')),
        el('td', label(s.customer_label, 'en') || el('span.muted', t('tpl.missing_en'))),
        el('td', yes(s.terminal)),
        el('td', s.urgent ? el('span.urgent', t('tpl.urgent_yes')) : ''),
        el('td', (s.actions ?? []).map(a => el('div', el('span.chip', label(a.label, 'zh-CN')), ' ', label(a.label, 'en'),
          a.to ? ` → ${def.states.find(x => x.key === a.to)?.label ?? a.to}` : '', a.needs ? el('span.muted', ` (${t('work.needs.' + a.needs)})`) : null,
          a.urgent ? el('span.urgent', ' ' + t('tpl.urgent_yes')) : null)),
          decides(s) ? el('div.muted', t('tpl.decides', {
            approved: def.states.find(x => x.key === s.on_request_approved)?.label ?? '—', declined: def.states.find(x => x.key === s.on_request_declined)?.label ?? '—',
          })) : null),
        el('td', s.reminder ? t('tpl.reminder_after', { m: s.reminder.after_minutes, text: label(s.reminder.text, 'zh-CN') }) : '')))))),
    el('h3', t('tpl.transitions')),
    el('table.grid.tpl-transitions', { id: 'tpl-transitions' },
      el('thead', el('tr', ['tpl.from', 'tpl.to', 'tpl.roles'].map(k => el('th', t(k))))),
      el('tbody', (def.transitions ?? []).map(x => el('tr', { dataset: { from: x.from, to: x.to } },
        el('td', x.from === '*' ? t('tpl.any_state') : def.states.find(s => s.key === x.from)?.label ?? x.from),
        el('td', def.states.find(s => s.key === x.to)?.label ?? x.to),
        el('td', roles(x.roles)))))),
    el('p.muted', t('tpl.admins')),
    el('h3', t('tpl.cards')),
    el('p.muted', t('tpl.cards_help')),
    el('div.card-previews', { id: 'tpl-cards' }, def.states.map(s => preview(def, s))),
    el('h3', t('tpl.categories')),
    (def.categories ?? []).length ? el('table.grid.tpl-categories', { id: 'tpl-categories' },
      el('thead', el('tr', ['tpl.key', 'tpl.label', 'tpl.keywords', 'tpl.assign'].map(k => el('th', t(k))))),
      el('tbody', def.categories.map(c => el('tr', el('td', el('code', c.key)), el('td', c.label), el('td', (c.keywords ?? []).join('、')),
        el('td', c.assign_staff_id ? t('tpl.assign_person', { id: c.assign_staff_id }) : c.assign_role ? t('tpl.assign_role', { role: t('role.' + c.assign_role) }) : '—')))))
      : el('p.muted', t('tpl.no_categories')));
}

/** The card a customer gets on entering the state (what the Notifier posts), in both languages the template gives. */
function preview(def, s) {
  const lines = [[t('tpl.card.state'), s.customer_label?.['zh-CN']], [t('tpl.card.next'), s.next_step?.['zh-CN']]].filter(([, v]) => v);
  return el('div.card-preview', { dataset: { state: s.key } },
    el('div.card-title', `${def.name} T…`, s.urgent ? el('span.urgent', ' ' + t('tpl.urgent_yes')) : null),
    el('dl', lines.map(([k, v]) => [el('dt', k), el('dd', v)])),
    s.customer_label?.en ? el('div.muted', s.customer_label.en, s.next_step?.en ? ` — ${s.next_step.en}` : '') : null,
    decides(s) ? el('div.muted', t('tpl.card.with_request')) : null,
    (s.actions ?? []).length || decides(s)
      ? el('div.card-actions', decides(s) ? [el('span.chip', t('tpl.card.approve')), el('span.chip', t('tpl.card.decline'))] : null,
        (s.actions ?? []).map(a => el('span.chip', a.label?.['zh-CN'] ?? a.key)))
      : null);
}
