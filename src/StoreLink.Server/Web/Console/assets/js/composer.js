// The composer of a conversation: a reply to the customer or an internal note (with @mentions), emoji, images and
// files (picker, drag and drop, paste), voice notes recorded with MediaRecorder, and canned replies ("/" or ⚡).
// Sends go over the WebSocket when it is up (REST otherwise) with a client_msg_id, so a retry never duplicates.
import { api, t, $, $$, el, toast, errorText, uuid, debounce } from './lib.js';

const EMOJI = '😀 😁 😂 🙂 😊 😍 🤔 😅 😢 😭 😡 👍 👌 🙏 👏 💪 🎉 ❤️ 💔 ✅ ❌ ⚠️ 📦 🚚 🔧 📱 💻 🎧 👜 👟 ⏰ 📍 💰 🧾 🙋 🌹'.split(' ');
const TYPING_EVERY_MS = 3000;
const MAX_VOICE_MS = 10 * 60 * 1000;

export class Composer {
  constructor(view) {
    this.view = view;
    this.mode = 'reply';
    this.mentions = new Map(); // name -> staff id, for the note being written
    this.lastTyping = 0;
    this.form = $('#composer');
    this.text = $('#composer-text');
    this.bind();
  }

  get conv() {
    return this.view.conv;
  }

  reset() {
    this.text.value = '';
    this.mentions.clear();
    this.setMode('reply');
    this.closePopups();
  }

  setMode(mode) {
    this.mode = mode;
    this.form.dataset.mode = mode;
    for (const b of $$('.modes button', this.form)) b.classList.toggle('on', b.dataset.mode === mode);
    this.text.placeholder = t(mode === 'note' ? 'composer.note_placeholder' : 'composer.placeholder');
  }

  bind() {
    for (const b of $$('.modes button', this.form)) b.addEventListener('click', () => {
      this.setMode(b.dataset.mode);
      this.text.focus();
    });
    this.form.addEventListener('submit', e => {
      e.preventDefault();
      this.sendText();
    });
    this.text.addEventListener('keydown', e => {
      const popup = [$('#canned-popup'), $('#mention-popup')].find(p => !p.hidden);
      if (popup && ['ArrowDown', 'ArrowUp', 'Enter', 'Tab', 'Escape'].includes(e.key)) {
        e.preventDefault();
        this.navigatePopup(popup, e.key);
        return;
      }
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.sendText();
      }
    });
    const searchCanned = debounce(q => this.showCanned(q), 150);
    this.text.addEventListener('input', () => {
      const value = this.text.value;
      if (value.startsWith('/') && !value.includes('\n')) searchCanned(value.slice(1));
      else $('#canned-popup').hidden = true;
      this.checkMention();
      this.typingNow();
    });
    $('#canned-button').addEventListener('click', () => this.showCanned(''));
    $('#emoji-button').addEventListener('click', () => {
      const popup = $('#emoji-popup');
      if (!popup.childElementCount)
        popup.append(...EMOJI.map(e => el('button', { type: 'button', onclick: () => this.insert(e) }, e)));
      popup.hidden = !popup.hidden;
    });
    $('#attach-button').addEventListener('click', () => $('#file-input').click());
    $('#file-input').addEventListener('change', e => {
      this.sendFiles([...e.target.files]);
      e.target.value = '';
    });
    // Drag and drop anywhere on the conversation, paste of images and files into the text box.
    const pane = $('#conversation');
    pane.addEventListener('dragover', e => {
      if (!this.conv || !e.dataTransfer?.types.includes('Files')) return;
      e.preventDefault();
      pane.classList.add('dropping');
    });
    pane.addEventListener('dragleave', e => {
      if (e.target === pane || !pane.contains(e.relatedTarget)) pane.classList.remove('dropping');
    });
    pane.addEventListener('drop', e => {
      pane.classList.remove('dropping');
      if (!this.conv || !e.dataTransfer?.files.length) return;
      e.preventDefault();
      this.sendFiles([...e.dataTransfer.files]);
    });
    this.text.addEventListener('paste', e => {
      const files = [...(e.clipboardData?.files ?? [])];
      if (files.length) {
        e.preventDefault();
        this.sendFiles(files);
      }
    });
    $('#voice-button').addEventListener('click', () => (this.recorder ? this.stopVoice() : this.startVoice()));
    document.addEventListener('click', e => {
      if (!this.form.contains(e.target)) this.closePopups();
    });
  }

  closePopups() {
    for (const p of $$('.popup', this.form)) p.hidden = true;
  }

  insert(text) {
    const { selectionStart: start, selectionEnd: end, value } = this.text;
    this.text.value = value.slice(0, start) + text + value.slice(end);
    this.text.selectionStart = this.text.selectionEnd = start + text.length;
    this.text.focus();
  }

  typingNow() {
    const now = Date.now();
    if (!this.conv || now - this.lastTyping < TYPING_EVERY_MS) return;
    this.lastTyping = now;
    this.view.socket.notify({ type: 'typing', conversation_id: this.mode === 'note' ? this.conv.notes_id : this.conv.id });
  }

  async showCanned(q) {
    if (!this.conv) return;
    const popup = $('#canned-popup');
    try {
      const replies = await api('GET', `/v1/conversations/${this.conv.id}/canned-replies?q=${encodeURIComponent(q)}`);
      popup.replaceChildren(replies.length
        ? el('ul', replies.map((r, i) => el('li' + (i === 0 ? '.on' : ''), { dataset: { text: r.text }, onclick: () => this.useCanned(r.text) },
          el('b', '/' + r.shortcut), ' ', el('span', r.title), el('div.muted', r.text))))
        : el('p.muted', t('canned.none')));
      popup.hidden = false;
    } catch (error) {
      toast(errorText(error), { error: true });
    }
  }

  useCanned(text) {
    this.text.value = text;
    $('#canned-popup').hidden = true;
    this.text.focus();
  }

  /** "@" followed by letters at the caret, in a note: offer the store's staff. */
  checkMention() {
    const popup = $('#mention-popup');
    const before = this.text.value.slice(0, this.text.selectionStart);
    const match = this.mode === 'note' ? /@([^\s@]{0,20})$/.exec(before) : null;
    if (!match) {
      popup.hidden = true;
      return;
    }
    const q = match[1].toLowerCase();
    const staff = [...this.view.state.staff.values()].filter(s => s.id !== this.view.me.id && s.name.toLowerCase().includes(q)).slice(0, 8);
    popup.replaceChildren(el('ul', staff.map((s, i) => el('li' + (i === 0 ? '.on' : ''), { dataset: { id: s.id, name: s.name }, onclick: () => this.useMention(s, match[0].length) },
      el('b', '@' + s.name), ' ', el('span.muted', t('presence.' + (this.view.state.presence.get(s.id) ?? 'offline')))))));
    popup.hidden = staff.length === 0;
  }

  useMention(staff, typed) {
    const caret = this.text.selectionStart;
    const value = this.text.value;
    this.text.value = value.slice(0, caret - typed) + '@' + staff.name + ' ' + value.slice(caret);
    this.text.selectionStart = this.text.selectionEnd = caret - typed + staff.name.length + 2;
    this.mentions.set(staff.name, staff.id);
    $('#mention-popup').hidden = true;
    this.text.focus();
  }

  navigatePopup(popup, key) {
    const items = $$('li', popup);
    let index = items.findIndex(li => li.classList.contains('on'));
    if (key === 'Escape') {
      popup.hidden = true;
      return;
    }
    if (key === 'Enter' || key === 'Tab') {
      items[Math.max(0, index)]?.click();
      return;
    }
    index = (index + (key === 'ArrowDown' ? 1 : -1) + items.length) % items.length;
    items.forEach((li, i) => li.classList.toggle('on', i === index));
  }

  async sendText() {
    const text = this.text.value.trim();
    if (!text || !this.conv) return;
    const body = { text };
    if (this.mode === 'note') {
      const ids = [...this.mentions].filter(([name]) => text.includes('@' + name)).map(([, id]) => id);
      if (ids.length) body.mentions = ids;
    }
    this.text.value = '';
    this.mentions.clear();
    await this.send('text', body, text);
  }

  /** One message, shown as pending until the server has it; a failure keeps it with a retry button. */
  async send(kind, body, label, clientMsgId = uuid()) {
    const conv = this.conv;
    const conversationId = this.mode === 'note' ? conv.notes_id : conv.id;
    const pending = el('li.msg.us.pending' + (this.mode === 'note' ? '.note' : ''), { dataset: { client: clientMsgId } },
      el('div.bubble', label), el('div.meta', t('composer.sending')));
    $('#timeline').append(pending);
    pending.scrollIntoView({ block: 'end' });
    try {
      const frame = { conversation_id: conversationId, client_msg_id: clientMsgId, kind, body };
      const message = this.view.socket.ready
        ? (await this.view.socket.request({ type: 'send', ...frame })).message
        : await api('POST', `/v1/conversations/${conversationId}/messages`, frame);
      if (this.view.conv === conv) this.view.add(message);
      return message;
    } catch (error) {
      pending.classList.add('failed');
      pending.querySelector('.meta').replaceChildren(errorText(error), ' ',
        el('button.link', { type: 'button', onclick: () => {
          pending.remove();
          this.send(kind, body, label, clientMsgId);
        } }, t('composer.retry')));
      return null;
    }
  }

  async upload(file) {
    const form = new FormData();
    form.append('file', file, file.name);
    return api('POST', '/v1/attachments', form);
  }

  async sendFiles(files) {
    for (const file of files) {
      try {
        const attachment = await this.upload(file);
        const kind = attachment.content_type.startsWith('image/') ? 'image' : attachment.content_type.startsWith('video/') ? 'video' : 'file';
        await this.send(kind, { attachment_id: attachment.id }, `${t('msg.' + kind)} ${file.name}`);
      } catch (error) {
        toast(`${file.name}: ${errorText(error)}`, { error: true });
      }
    }
  }

  async startVoice() {
    if (!navigator.mediaDevices?.getUserMedia || typeof MediaRecorder === 'undefined') {
      toast(t('voice.unsupported'), { error: true });
      return;
    }
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      const type = ['audio/webm;codecs=opus', 'audio/ogg;codecs=opus', 'audio/mp4'].find(m => MediaRecorder.isTypeSupported(m)) ?? '';
      const recorder = new MediaRecorder(stream, type ? { mimeType: type } : undefined);
      const chunks = [];
      recorder.ondataavailable = e => e.data.size && chunks.push(e.data);
      recorder.onstop = () => {
        stream.getTracks().forEach(track => track.stop());
        const ms = Date.now() - this.voiceStarted;
        const mime = (recorder.mimeType || 'audio/webm').split(';')[0];
        this.sendVoice(new File(chunks, `voice.${mime.split('/')[1]}`, { type: mime }), Math.min(ms, MAX_VOICE_MS));
      };
      this.recorder = recorder;
      this.voiceStarted = Date.now();
      recorder.start();
      $('#voice-button').classList.add('recording');
      this.voiceTimer = setInterval(() => {
        const s = Math.floor((Date.now() - this.voiceStarted) / 1000);
        $('#voice-state').textContent = t('voice.recording', { s });
        if (s * 1000 >= MAX_VOICE_MS) this.stopVoice();
      }, 250);
    } catch (error) {
      toast(t('voice.denied') + ' ' + errorText(error), { error: true });
    }
  }

  stopVoice() {
    clearInterval(this.voiceTimer);
    $('#voice-button').classList.remove('recording');
    $('#voice-state').textContent = '';
    this.recorder?.stop();
    this.recorder = null;
  }

  async sendVoice(file, durationMs) {
    try {
      const attachment = await this.upload(file);
      await this.send('voice', { attachment_id: attachment.id, duration_ms: Math.max(1, durationMs) }, t('msg.voice'));
    } catch (error) {
      toast(errorText(error), { error: true });
    }
  }
}
