// From a conversation to a work item in one step: the dialog comes prefilled from
// GET /v1/conversations/{id}/work-item-draft (phones, order numbers, brand and model, the guessed category, a
// description from the customer's last messages, the transcript range, the customer's attachments), the agent
// corrects what needs it and POST /v1/work-items creates it (the category's rule assigns it unless someone is
// picked). The customer's work items are listed in the customer panel beside the chat, the new one marked.
import { api, t, $, el, toast, errorText, uuid } from './lib.js';
import { KINDS, PRIORITIES, priorityLabel, definition, storeWorkers, thumb, stateChip } from './work-lib.js';

export class WorkDraft {
  constructor(view) {
    this.view = view; // the ConversationView
    this.draft = null;
    this.created = null; // id of the item made here last, marked in the panel
    this.workers = null;
    $('#workitem-button').addEventListener('click', () => this.open());
    $('#workitem-cancel').addEventListener('click', () => $('#workitem-dialog').close());
    $('#workitem-kind').addEventListener('change', e => this.load(e.target.value));
    $('#workitem-form').addEventListener('submit', e => {
      e.preventDefault();
      this.submit();
    });
  }

  async open() {
    const conv = this.view.conv;
    if (!conv) return;
    this.key = uuid();
    this.workers ??= await storeWorkers(conv.store_id).catch(() => []);
    $('#workitem-assignee').replaceChildren(el('option', { value: '' }, t('work.draft.auto_assign')),
      ...this.workers.map(w => el('option', { value: w.id }, `${w.name} · ${t('role.' + w.role)}`)));
    $('#workitem-priority').replaceChildren(...PRIORITIES.map(p => el('option', { value: p, selected: p === 'normal' }, priorityLabel(p))));
    $('#workitem-kind').replaceChildren(...KINDS.map(k => el('option', { value: k }, t('work.kind.' + k))));
    const kind = this.view.store.customer_work_kinds?.[0] ?? 'ticket';
    $('#workitem-kind').value = kind;
    $('#workitem-error').hidden = true;
    $('#workitem-dialog').showModal();
    await this.load(kind);
  }

  /** Prefills the form from the draft of that kind (its template decides the categories). */
  async load(kind) {
    const form = $('#workitem-form');
    form.classList.add('loading');
    try {
      const draft = await api('GET', `/v1/conversations/${encodeURIComponent(this.view.conv.id)}/work-item-draft?kind=${kind}`);
      const def = await definition(draft.template_id);
      this.draft = draft;
      const f = draft.fields ?? {};
      $('#workitem-title').value = draft.title ?? '';
      $('#workitem-description').value = draft.description ?? '';
      $('#workitem-category').replaceChildren(el('option', { value: '' }, t('work.draft.no_category')),
        ...(def.categories ?? []).map(c => el('option', { value: c.key, selected: c.key === draft.category }, c.label)));
      $('#workitem-phones').value = (f.phones ?? []).join(', ');
      $('#workitem-orders').value = (f.order_numbers ?? []).join(', ');
      $('#workitem-brand').value = f.device_brand ?? '';
      $('#workitem-model').value = f.device_model ?? '';
      $('#workitem-transcript').textContent = draft.transcript_from
        ? t('work.draft.transcript', { from: draft.transcript_from, to: draft.transcript_to }) : t('work.draft.no_transcript');
      $('#workitem-attachments').replaceChildren(...(draft.attachment_ids ?? []).map(id =>
        el('label.attach', el('input', { type: 'checkbox', value: id, checked: true }), thumb(id))));
      $('#workitem-attachments-row').hidden = !(draft.attachment_ids ?? []).length;
    } catch (error) {
      $('#workitem-error').textContent = errorText(error);
      $('#workitem-error').hidden = false;
    } finally {
      form.classList.remove('loading');
    }
  }

  async submit() {
    if (!this.draft) return;
    const list = value => value.split(/[,，、\s]+/).map(s => s.trim()).filter(Boolean);
    const fields = { ...(this.draft.fields ?? {}) };
    for (const [key, value] of [['phones', list($('#workitem-phones').value)], ['order_numbers', list($('#workitem-orders').value)],
      ['device_brand', $('#workitem-brand').value.trim()], ['device_model', $('#workitem-model').value.trim()]]) {
      if (value.length) fields[key] = value;
      else delete fields[key];
    }
    const body = {
      ...this.draft, fields,
      title: $('#workitem-title').value.trim(),
      description: $('#workitem-description').value.trim() || null,
      category: $('#workitem-category').value || null,
      priority: $('#workitem-priority').value,
      assignee_id: $('#workitem-assignee').value || null,
      attachment_ids: [...document.querySelectorAll('#workitem-attachments input:checked')].map(i => i.value),
    };
    const submit = $('#workitem-submit');
    submit.disabled = true;
    try {
      const item = await api('POST', '/v1/work-items', body, { idempotencyKey: this.key });
      this.created = item.id;
      $('#workitem-dialog').close();
      toast(t('work.draft.created', { number: item.number, assignee: item.assignee_name ?? t('work.nobody') }));
      this.renderPanel();
    } catch (error) {
      $('#workitem-error').textContent = errorText(error);
      $('#workitem-error').hidden = false;
    } finally {
      submit.disabled = false;
    }
  }

  /** The customer's work items with this store, in the customer panel (the newest first). */
  async renderPanel() {
    const conv = this.view.conv;
    const panel = $('#customer-panel');
    if (!conv || !panel) return;
    let box = $('#panel-work');
    if (!box) panel.append(box = el('section#panel-work'));
    try {
      const items = await api('GET', `/v1/work-items?store_id=${encodeURIComponent(conv.store_id)}&customer_id=${encodeURIComponent(conv.customer_id)}&limit=20`);
      if (this.view.conv !== conv) return;
      box.replaceChildren(el('h4', t('work.panel.title')), items.length
        ? el('ul.panel-work', items.map(i => el('li' + (i.id === this.created ? '.new' : ''), { dataset: { id: i.id } },
          el('a', { href: `/console/work/${encodeURIComponent(i.id)}` }, el('span.number', i.number), ' ', i.title),
          el('div', stateChip(i), ' ', el('span.muted', i.assignee_name ?? t('work.nobody'))))))
        : el('p.muted', t('work.panel.none')));
    } catch (error) {
      box.replaceChildren(el('p.error', errorText(error)));
    }
  }

  /** A work_item push: the panel follows when it is this customer's. */
  onWorkItem(item) {
    if (this.view.conv && item.customer_id === this.view.conv.customer_id && item.store_id === this.view.conv.store_id) this.renderPanel();
  }
}
