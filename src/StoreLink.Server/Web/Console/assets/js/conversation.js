// One open service conversation: the customer's timeline with the internal notes interleaved by time, live
// (messages, receipts, typing, recall, who else is viewing), the header actions (transfer, pending, resolve),
// and the customer panel. The composer is composer.js.
import { api, t, $, el, fullTime, date, size, preview, toast, errorText, attachmentUrl } from './lib.js';
import { Composer } from './composer.js';
import { WorkDraft } from './workdraft.js';
import { callSummary } from '/assets/shared/calls/text.js';
import { callErrorText } from './calls.js';

const VIEWING_REFRESH_MS = 20000;
const VIEWING_FORGET_MS = 60000;
const TYPING_SHOW_MS = 5000;

export class ConversationView {
  constructor({ store, socket, me, state, calls, onChanged, onClose }) {
    Object.assign(this, { store, socket, me, state, calls, onChanged });
    this.conv = null;
    this.messages = new Map(); // id -> message (service and notes)
    this.customerReadSeq = 0;
    this.viewers = new Map(); // user id -> {name, at}
    this.typing = new Map(); // user id -> timeout
    this.composer = new Composer(this);
    this.work = new WorkDraft(this);
    $('#back-button').addEventListener('click', () => {
      this.leave();
      onClose();
    });
    $('#panel-button').addEventListener('click', () => document.getElementById('app').classList.toggle('panel-open'));
    $('#resolve-button').addEventListener('click', () => this.act('resolve', () => api('POST', `/v1/conversations/${this.conv.id}/resolve`)));
    $('#pending-button').addEventListener('click', () => this.act('pending', () => api('POST', `/v1/desk/conversations/${this.conv.id}/pending`)));
    $('#transfer-button').addEventListener('click', () => this.openTransfer());
    for (const button of document.querySelectorAll('#conv [data-call-media]'))
      button.addEventListener('click', () => this.calls.start(this.conv.id, button.dataset.callMedia).catch(error => toast(callErrorText(error), { error: true })));
    this.bindTransfer();
    // Follow the newest message while the agent is at the bottom, also when images load late and grow the list.
    this.stick = true;
    $('#timeline').addEventListener('scroll', () => (this.stick = this.nearBottom()));
    setInterval(() => {
      if (this.conv) this.socket.notify({ type: 'viewing', conversation_id: this.conv.id, active: true });
      this.renderViewers();
    }, VIEWING_REFRESH_MS);
    window.addEventListener('beforeunload', () => this.leave());
  }

  async open(id) {
    if (this.conv?.id !== id) this.leave();
    $('#no-conversation').hidden = true;
    $('#conv').hidden = false;
    try {
      this.conv = await api('GET', `/v1/conversations/${encodeURIComponent(id)}`);
    } catch (error) {
      this.conv = null;
      $('#conv').hidden = true;
      $('#no-conversation').hidden = false;
      toast(errorText(error), { error: true });
      return;
    }
    this.messages.clear();
    this.viewers.clear();
    this.renderHeader();
    $('#timeline').replaceChildren(el('li.loading', t('common.loading')));
    await this.resync();
    this.composer.reset();
    this.socket.notify({ type: 'viewing', conversation_id: id, active: true });
    this.loadPanel();
  }

  /** (Re)loads the latest messages of both threads and the receipts; also after a reconnect. */
  async resync() {
    if (!this.conv) return;
    const conv = this.conv;
    const latest = async (cid, lastSeq) => (await api('GET', `/v1/conversations/${cid}/messages?before_seq=${lastSeq + 1}&limit=100`)).reverse();
    const fresh = await api('GET', `/v1/conversations/${conv.id}`);
    const [service, notes, receipts] = await Promise.all([
      latest(conv.id, fresh.last_seq),
      conv.notes_id ? api('GET', `/v1/conversations/${conv.notes_id}`).then(n => latest(n.id, n.last_seq)) : [],
      api('GET', `/v1/conversations/${conv.id}/receipts`),
    ]);
    if (this.conv !== conv) return;
    Object.assign(this.conv, fresh);
    for (const m of [...service, ...notes]) this.messages.set(m.id, m);
    this.customerReadSeq = receipts.find(r => r.user_id === conv.customer_id)?.read_seq ?? 0;
    this.renderHeader();
    this.renderTimeline(true);
    this.markRead();
  }

  leave() {
    if (this.conv) this.socket.notify({ type: 'viewing', conversation_id: this.conv.id, active: false });
  }

  isMine(conversationId) {
    return this.conv && (conversationId === this.conv.id || conversationId === this.conv.notes_id);
  }

  onMessage(message) {
    if (!this.isMine(message.conversation_id)) return;
    this.add(message);
    if (message.sender.id !== this.me.id) this.clearTyping(message.sender.id);
    this.markRead();
  }

  /** A message of this conversation, from a push, an ok answer or a REST answer: shown once, whatever the order. */
  add(message) {
    if (message.client_msg_id) {
      const pending = document.querySelector(`[data-client="${CSS.escape(message.client_msg_id)}"]`);
      pending?.remove();
    }
    this.messages.set(message.id, message);
    this.renderTimeline(this.nearBottom() || message.sender.id === this.me.id);
  }

  onRecalled({ conversation_id: cid, message_id: id }) {
    if (!this.isMine(cid) || !this.messages.has(id)) return;
    this.messages.set(id, { ...this.messages.get(id), recalled: true, body: null });
    this.renderTimeline(false);
  }

  onReceipt(receipt) {
    if (!this.conv || receipt.conversation_id !== this.conv.id || receipt.user_id !== this.conv.customer_id) return;
    this.customerReadSeq = Math.max(this.customerReadSeq, receipt.read_seq);
    this.renderTimeline(false);
  }

  onConversation(conversation) {
    if (!this.conv || conversation.id !== this.conv.id) return;
    const stateChanged = conversation.state !== this.conv.state;
    Object.assign(this.conv, conversation);
    this.renderHeader();
    if (stateChanged) this.loadPanel();
  }

  onTyping({ conversation_id: cid, user_id: userId }) {
    if (!this.isMine(cid) || userId === this.me.id) return;
    clearTimeout(this.typing.get(userId)?.timer);
    const name = userId === this.conv.customer_id ? t('conv.customer_typing') : t('conv.colleague_typing', { name: this.state.staff.get(userId)?.name ?? '' });
    this.typing.set(userId, { name, timer: setTimeout(() => this.clearTyping(userId), TYPING_SHOW_MS) });
    this.renderTyping();
  }

  clearTyping(userId) {
    clearTimeout(this.typing.get(userId)?.timer);
    this.typing.delete(userId);
    this.renderTyping();
  }

  onViewing({ conversation_id: cid, user_id: userId, name, active }) {
    if (!this.conv || cid !== this.conv.id || userId === this.me.id) return;
    if (active) this.viewers.set(userId, { name, at: Date.now() });
    else this.viewers.delete(userId);
    this.renderViewers();
  }

  markRead() {
    if (!this.conv || document.hidden) return;
    for (const cid of [this.conv.id, this.conv.notes_id]) {
      const last = Math.max(0, ...[...this.messages.values()].filter(m => m.conversation_id === cid).map(m => m.seq));
      if (last > 0 && this.socket.ready) this.socket.request({ type: 'read', conversation_id: cid, seq: last }).catch(() => {});
    }
  }

  renderHeader() {
    const c = this.conv;
    const item = this.state.items.find(i => i.conversation.id === c.id);
    $('#conv-customer').textContent = item?.customer_name ?? this.customerName ?? t('conv.customer');
    const badge = $('#conv-state');
    badge.textContent = t('state.' + c.state);
    badge.className = 'badge state-' + c.state;
    const queue = this.state.queues.find(q => q.id === c.queue_id)?.name;
    const assignee = c.assignee_id ? this.state.staff.get(c.assignee_id)?.name ?? t('conv.someone') : t(c.waiting ? 'conv.waiting' : 'conv.unassigned');
    $('#conv-meta').textContent = [queue, assignee].filter(Boolean).join(' · ');
    $('#resolve-button').disabled = c.state === 'resolved';
    $('#pending-button').disabled = c.state !== 'open';
  }

  renderViewers() {
    const now = Date.now();
    for (const [id, v] of this.viewers) if (now - v.at > VIEWING_FORGET_MS) this.viewers.delete(id);
    const names = [...this.viewers.values()].map(v => v.name);
    $('#conv-viewers').textContent = names.length ? t('conv.viewing', { names: names.join('、') }) : '';
  }

  renderTyping() {
    $('#typing-line').textContent = [...this.typing.values()].map(v => v.name).join(' · ');
  }

  nearBottom() {
    const box = $('#timeline');
    return box.scrollHeight - box.scrollTop - box.clientHeight < 120;
  }

  renderTimeline(scroll) {
    const box = $('#timeline');
    const pending = [...box.querySelectorAll('[data-client]')];
    const sorted = [...this.messages.values()].sort((a, b) => a.created_at.localeCompare(b.created_at) || a.seq - b.seq);
    box.replaceChildren(...sorted.map(m => this.item(m)), ...pending);
    if (!sorted.length && !pending.length) box.append(el('li.empty', t('conv.no_messages')));
    if (scroll) {
      box.scrollTop = box.scrollHeight;
      this.stick = true;
    }
  }

  item(m) {
    const note = m.conversation_id === this.conv.notes_id;
    const side = m.sender.kind === 'customer' ? 'them' : m.sender.kind === 'system' || m.kind === 'system' ? 'system' : 'us';
    const read = !note && side === 'us' && m.seq <= this.customerReadSeq;
    return el(`li.msg.${side}` + (note ? '.note' : '') + (m.recalled ? '.recalled' : ''), { dataset: { id: m.id, seq: m.seq, kind: m.kind } },
      side === 'system' ? null : el('div.sender', note ? `${t('conv.note_by')} ${m.sender.name}` : m.sender.name),
      el('div.bubble', this.body(m)),
      el('div.meta', el('time', { datetime: m.created_at }, fullTime(m.created_at)),
        read ? el('span.read', t('conv.read')) : null,
        !m.recalled && side === 'us' && m.sender.id === this.me.id ? el('button.link.recall', { type: 'button', onclick: () => this.recall(m) }, t('conv.recall')) : null));
  }

  body(m) {
    if (m.recalled) return el('em', t('msg.recalled'));
    const b = m.body ?? {};
    switch (m.kind) {
      case 'text': case 'system': return this.textWithMentions(b);
      case 'image': {
        const img = el('img', { alt: b.name ?? t('msg.image') });
        img.addEventListener('load', () => {
          if (this.stick) $('#timeline').scrollTop = $('#timeline').scrollHeight;
        });
        attachmentUrl(b.attachment_id).then(url => (img.src = url), () => (img.alt = t('msg.unavailable')));
        img.addEventListener('click', () => attachmentUrl(b.attachment_id).then(url => window.open(url, '_blank')));
        return img;
      }
      case 'voice': {
        const audio = el('audio', { controls: true, preload: 'none' });
        attachmentUrl(b.attachment_id).then(url => (audio.src = url));
        return el('span.voice', audio, el('span', `${Math.round((b.duration_ms ?? 0) / 1000)}″`));
      }
      case 'video': {
        const video = el('video', { controls: true, preload: 'none' });
        attachmentUrl(b.attachment_id).then(url => (video.src = url));
        return video;
      }
      case 'file': {
        const link = el('a.file', { href: '#', onclick: async e => {
          e.preventDefault();
          const a = el('a', { href: await attachmentUrl(b.attachment_id), download: b.name ?? 'file' });
          a.click();
        } }, `📄 ${b.name ?? t('msg.file')} (${size(b.size ?? 0)})`);
        return link;
      }
      case 'call':
        return el('span.call-summary', { 'data-testid': 'call-summary' }, callSummary(b, (key, values) => t('call.' + key, values)));
      case 'location':
        return el('span', `📍 ${b.label ?? ''} ${Number(b.latitude).toFixed(5)}, ${Number(b.longitude).toFixed(5)}`);
      case 'card':
        return el('div.card', b.ref?.type === 'work_item' ? el('a.card-link', { href: `/console/work/${encodeURIComponent(b.ref.id)}` }, b.title ?? '') : el('strong', b.title ?? ''),
          el('dl', (b.fields ?? []).map(f => [el('dt', f.label), el('dd', f.value)])),
          (b.actions ?? []).length ? el('div.card-actions', b.actions.map(a => el('span.chip', a.label))) : null);
      default: return el('em', preview(m));
    }
  }

  textWithMentions(b) {
    const text = b.text ?? '';
    const names = (b.mentions ?? []).map(id => this.state.staff.get(id)?.name).filter(Boolean);
    if (!names.length) return el('span.text', text);
    const parts = text.split(new RegExp(`(@(?:${names.map(n => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')}))`));
    return el('span.text', parts.map(p => (p.startsWith('@') && names.includes(p.slice(1)) ? el('b.mention', p) : p)));
  }

  async recall(m) {
    try {
      const ok = await this.socket.request({ type: 'recall', message_id: m.id });
      this.messages.set(m.id, ok.message);
      this.renderTimeline(false);
    } catch (error) {
      toast(errorText(error), { error: true });
    }
  }

  async act(name, call) {
    try {
      const conversation = await call();
      this.onConversation(conversation);
      toast(t('toast.' + name));
      this.onChanged();
    } catch (error) {
      toast(errorText(error), { error: true });
    }
  }

  async loadPanel() {
    const panel = $('#customer-panel');
    panel.replaceChildren(el('p.loading', t('common.loading')));
    try {
      const data = await api('GET', `/v1/desk/conversations/${this.conv.id}/customer`);
      const c = data.customer;
      this.customerName = this.state.items.find(i => i.conversation.id === this.conv.id)?.customer_name ?? c.name ?? t('panel.visitor');
      if (!this.state.items.some(i => i.conversation.id === this.conv.id)) $('#conv-customer').textContent = this.customerName;
      panel.replaceChildren(
        el('button.icon.panel-close', { type: 'button', 'aria-label': t('common.close'), onclick: () => document.getElementById('app').classList.remove('panel-open') }, '×'),
        el('header.panel-head', el('span.avatar.big', this.customerName.slice(0, 1)),
          el('div', el('strong', this.customerName), c.vip_level > 0 ? el('span.vip', `VIP${c.vip_level}`) : null,
            el('div.muted', c.visitor ? t('panel.visitor') : c.external_id ?? ''))),
        el('dl.facts',
          el('dt', t('panel.phone')), el('dd', c.phone ?? '—'),
          el('dt', t('panel.since')), el('dd', date(c.created_at)),
          el('dt', t('panel.rating')), el('dd', data.average_rating ? `${data.average_rating.toFixed(1)} / 5` : '—'),
          Object.entries(c.attributes ?? {}).map(([k, v]) => [el('dt', k), el('dd', typeof v === 'string' ? v : JSON.stringify(v))])),
        el('h4', t('panel.purchases')),
        data.purchases.length
          ? el('ul.purchases', data.purchases.map(p => el('li', el('span', p.item), el('span.muted', `${p.currency} ${p.amount} · ${date(p.purchased_at)} · ${p.order_no}`))))
          : el('p.muted', t('panel.no_purchases')),
        el('h4', t('panel.history')),
        el('ul.history', data.conversations.map(h => el('li' + (h.id === this.conv.id ? '.current' : ''),
          el('a', { href: `/console?c=${encodeURIComponent(h.id)}`, onclick: e => {
            e.preventDefault();
            this.state.open(h.id);
          } }, el('span.badge.state-' + h.state, t('state.' + h.state)), ' ', date(h.created_at)),
          el('div.muted', preview(h.last_message))))));
      this.work.renderPanel();
    } catch (error) {
      panel.replaceChildren(el('p.error', errorText(error)));
    }
  }

  openTransfer() {
    const agents = $('#transfer-agent');
    const others = [...this.state.staff.values()].filter(s => s.id !== this.me.id && s.id !== this.conv.assignee_id);
    agents.replaceChildren(...others.map(s => {
      const online = this.state.presence.get(s.id) === 'online';
      return el('option', { value: s.id, disabled: !online }, `${s.name} — ${t('presence.' + (this.state.presence.get(s.id) ?? 'offline'))}`);
    }));
    const firstOnline = others.find(s => this.state.presence.get(s.id) === 'online');
    if (firstOnline) agents.value = firstOnline.id;
    $('#transfer-queue').replaceChildren(...this.state.queues.map(q => el('option', { value: q.id }, q.name)));
    $('#transfer-note').value = '';
    $('#transfer-error').hidden = true;
    $('#transfer-dialog').showModal();
  }

  bindTransfer() {
    const dialog = $('#transfer-dialog');
    $('#transfer-cancel').addEventListener('click', () => dialog.close());
    $('#transfer-form').addEventListener('submit', async e => {
      e.preventDefault();
      const target = new FormData(e.target).get('target');
      const body = { note: $('#transfer-note').value.trim() || null };
      if (target === 'agent') body.agent_id = $('#transfer-agent').value;
      else body.queue_id = $('#transfer-queue').value;
      try {
        const conversation = await api('POST', `/v1/desk/conversations/${this.conv.id}/transfer`, body);
        dialog.close();
        this.onConversation(conversation);
        toast(t('toast.transferred'));
        this.onChanged();
      } catch (error) {
        const box = $('#transfer-error');
        box.textContent = errorText(error);
        box.hidden = false;
      }
    });
  }
}
