// Calls in the console (docs/calls.md), on every signed-in page: an incoming call rings (a tone made with WebAudio
// and a desktop notification) with accept and decline; the call view floats over the page — the customer's video big
// or in a small window — with the controls, "add colleague" (POST …/invite) and "snapshot" (a still of the customer's
// video → an attachment → POST …/snapshot). The engine (/assets/shared/calls/engine.js) does the calling.
import { api, t, el, toast, errorText } from './lib.js';
import { CallEngine } from '/assets/shared/calls/engine.js';
import { callClock } from '/assets/shared/calls/text.js';
import { RemoteTiles } from '/assets/shared/calls/tiles.js';

const ENDED_SHOWN_MS = 6000;
const NOTIFY_ASKED = 'storelink.notify_asked';

/** A refusal of the camera or microphone in words, else the API's error. */
export function callErrorText(error) {
  return error instanceof DOMException ? t('call.no_device', { reason: error.message || error.name }) : errorText(error);
}

export function startCalls({ socket, me, store }) {
  const calls = new CallEngine({ socket, request: api, userId: () => me.id });
  const view = new CallView(calls, store);
  calls.addEventListener('change', () => view.render());
  askForNotificationsOnce();
  return calls;
}

// Chrome asks only after a gesture of the page; once asked (granted or not), never again.
function askForNotificationsOnce() {
  if (!('Notification' in window) || Notification.permission !== 'default' || localStorage.getItem(NOTIFY_ASKED)) return;
  document.addEventListener('click', () => {
    localStorage.setItem(NOTIFY_ASKED, '1');
    Notification.requestPermission().catch(() => {});
  }, { once: true });
}

class CallView {
  big = true;

  constructor(calls, store) {
    Object.assign(this, { calls, store });
    const button = (testid, label, onclick, cls = '') => el('button' + cls, { type: 'button', 'data-testid': testid, onclick }, label);
    this.ring = {
      title: el('strong.call-ring-title', { 'data-testid': 'call-ringing-title' }),
      acceptVoice: button('call-accept-voice', t('call.accept_voice'), () => this.accept('voice')),
      acceptVideo: button('call-accept-video', t('call.accept_video'), () => this.accept('video'), '.primary'),
      decline: button('call-decline', t('call.decline'), () => calls.decline(), '.danger'),
    };
    this.ring.root = el('div.call-ring', { 'data-testid': 'call-ringing', role: 'alertdialog', hidden: true },
      this.ring.title, el('div.call-ring-actions', this.ring.decline, this.ring.acceptVoice, this.ring.acceptVideo));

    this.status = el('strong.call-status', { 'data-testid': 'call-status' });
    this.clock = el('span.call-clock', { 'data-testid': 'call-timer' });
    this.network = el('div.call-network', { 'data-testid': 'call-network', role: 'status', hidden: true }, t('call.reconnecting'));
    this.recording = el('span.call-recording', { 'data-testid': 'call-recording', role: 'status', hidden: true }, t('call.recording'));
    this.ended = el('div.call-ended', { 'data-testid': 'call-ended', role: 'status', hidden: true });
    this.remotes = el('div.call-remotes');
    this.local = el('video.call-local', { autoplay: true, muted: true, playsInline: true, 'data-testid': 'call-local-video' });
    this.mute = button('call-mute', t('call.mute'), () => calls.setMuted(!calls.muted));
    this.camera = button('call-camera', t('call.camera_off'), () => calls.setCamera(calls.cameraOff).catch(e => toast(callErrorText(e), { error: true })));
    this.flip = button('call-switch', t('call.switch_camera'), () => calls.switchCamera().catch(e => toast(callErrorText(e), { error: true })));
    this.size = button('call-size', t('call.small'), () => { this.big = !this.big; this.render(); });
    this.snapshotButton = button('call-snapshot', t('call.snapshot'), () => this.snapshot());
    this.inviteButton = button('call-invite', t('call.invite'), () => this.openInvite());
    this.recordButton = button('call-record', t('call.record_start'), () => this.toggleRecording());
    this.hangup = button('call-hangup', t('call.hangup'), () => calls.hangup(), '.danger');
    this.close = button('call-close', t('common.close'), () => calls.dismiss());
    this.volumeInput = el('input', { type: 'range', min: 0, max: 1, step: 0.05, value: 1, 'aria-label': t('call.volume'), 'data-testid': 'call-volume',
      oninput: e => this.tiles.setVolume(Number(e.target.value)) });
    this.tiles = new RemoteTiles(this.remotes, {
      make: remote => {
        const video = el('video.call-remote-video', { autoplay: true, playsInline: true, 'data-testid': 'call-remote-video' });
        const note = el('div.call-remote-note', { 'data-testid': 'call-remote-note' });
        return { root: el('div.call-tile', video, el('span.call-name', remote.name ?? ''), note), video, note };
      },
      notes: remote => [
        ...(this.calls.call.media === 'video' && !remote.video ? [t('call.remote_camera_off')] : []),
        ...(!remote.audio ? [t('call.remote_muted')] : []),
      ],
      offClass: 'camera-off',
    });
    this.invitePicker = el('select', { 'aria-label': t('call.invite'), 'data-testid': 'call-invite-select' });
    this.inviteBox = el('div.call-invite', { hidden: true }, this.invitePicker,
      button('call-invite-send', t('call.invite_send'), () => this.invite(), '.primary'));
    this.root = el('section.call-view', { 'data-testid': 'call-view', hidden: true },
      el('header.call-head', this.status, this.clock, this.recording, el('span.spacer'), this.size),
      el('div.call-stage', this.remotes, this.local, this.network, this.ended),
      this.inviteBox,
      el('footer.call-controls', this.mute, this.camera, this.flip, this.snapshotButton, this.inviteButton, this.recordButton,
        el('label.call-volume', t('call.volume'), this.volumeInput), this.hangup, this.close));
    document.body.append(this.ring.root, this.root);
    setInterval(() => this.renderClock(), 1000);
  }

  async accept(media) {
    try {
      await this.calls.accept(media);
    } catch (error) {
      toast(callErrorText(error), { error: true });
    }
  }

  render() {
    const { phase, call } = this.calls;
    this.renderRinging(phase === 'incoming' ? call : null);
    const onScreen = ['outgoing', 'connecting', 'active', 'ended'].includes(phase);
    this.root.hidden = !onScreen;
    for (const b of document.querySelectorAll('[data-call-media]')) b.disabled = this.calls.busy;
    if (!onScreen) {
      this.tiles.clear();
      this.local.srcObject = null;
      return;
    }
    const video = call?.media === 'video';
    this.root.classList.toggle('big', this.big);
    this.root.classList.toggle('voice', !video);
    this.root.dataset.phase = phase;
    this.size.textContent = this.big ? t('call.small') : t('call.big');
    if (this.local.srcObject !== this.calls.local) this.local.srcObject = this.calls.local;
    const hasCamera = !!this.calls.local?.getVideoTracks().length;
    this.local.hidden = !hasCamera || this.calls.cameraOff;
    this.status.textContent = phase === 'outgoing' ? t('call.calling') : phase === 'connecting' ? t('call.connecting') : phase === 'ended' ? '' : t(video ? 'call.video' : 'call.voice');
    this.network.hidden = phase === 'ended' || !this.calls.reconnecting;
    this.ended.hidden = phase !== 'ended';
    this.ended.textContent = phase === 'ended' ? t('call.result_' + this.calls.endReason) : '';
    this.mute.textContent = this.calls.muted ? t('call.unmute') : t('call.mute');
    this.mute.classList.toggle('on', this.calls.muted);
    this.camera.textContent = this.calls.cameraOff || !hasCamera ? t('call.camera_on') : t('call.camera_off');
    this.camera.classList.toggle('on', this.calls.cameraOff);
    const live = phase === 'connecting' || phase === 'active';
    this.mute.hidden = this.camera.hidden = !live;
    this.flip.hidden = !live || !hasCamera;
    this.snapshotButton.hidden = !live || !video;
    this.inviteButton.hidden = !live;
    this.recording.hidden = !this.calls.recording;
    this.renderRecordButton(live ? call : null);
    this.hangup.hidden = phase === 'ended';
    this.hangup.textContent = phase === 'outgoing' ? t('common.cancel') : t('call.hangup');
    this.close.hidden = phase !== 'ended';
    if (!live) this.inviteBox.hidden = true;
    this.tiles.render(phase === 'ended' ? [] : this.calls.remotes);
    this.renderClock();
    clearTimeout(this.dismissTimer);
    if (phase === 'ended') this.dismissTimer = setTimeout(() => this.calls.dismiss(), ENDED_SHOWN_MS);
  }

  // --- ringing -----------------------------------------------------------------------------------------------

  renderRinging(call) {
    const ringing = call?.id ?? null;
    this.ring.root.hidden = !ringing;
    if (ringing === this.ringingId) return;
    this.ringingId = ringing;
    this.notification?.close();
    this.stopTone();
    if (!ringing) return;
    const caller = call.participants.find(p => p.user_id === call.started_by)?.name ?? '';
    const title = t(call.media === 'video' ? 'call.incoming_video' : 'call.incoming_voice', { name: caller });
    this.ring.title.textContent = title;
    this.ring.acceptVideo.hidden = call.media !== 'video';
    this.startTone();
    if ('Notification' in window && Notification.permission === 'granted') {
      this.notification = new Notification(title, { body: t('call.notification_body'), tag: call.id, requireInteraction: true });
      this.notification.onclick = () => window.focus();
    }
  }

  // Two short beeps every two seconds, made here (no sound file); silent where the page has had no click yet.
  startTone() {
    try {
      this.audio ??= new AudioContext();
      this.audio.resume().catch(() => {});
    } catch {
      return;
    }
    const beep = () => {
      for (const at of [0, 0.35]) {
        const osc = this.audio.createOscillator(), gain = this.audio.createGain();
        osc.frequency.value = 880;
        gain.gain.setValueAtTime(0.0001, this.audio.currentTime + at);
        gain.gain.exponentialRampToValueAtTime(0.2, this.audio.currentTime + at + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, this.audio.currentTime + at + 0.25);
        osc.connect(gain).connect(this.audio.destination);
        osc.start(this.audio.currentTime + at);
        osc.stop(this.audio.currentTime + at + 0.3);
      }
    };
    beep();
    this.toneTimer = setInterval(beep, 2000);
  }

  stopTone() { clearInterval(this.toneTimer); }

  // --- the call ----------------------------------------------------------------------------------------------

  renderClock() {
    this.clock.textContent = this.calls.activeSince && this.calls.phase === 'active' ? callClock(performance.now() - this.calls.activeSince) : '';
  }

  // Colleagues of the store who may see the conversation (the server checks); those in the call already are left out.
  async openInvite() {
    if (!this.inviteBox.hidden) return (this.inviteBox.hidden = true);
    try {
      const staff = await api('GET', '/v1/staff');
      const inCall = new Set(this.calls.call.participants.filter(p => p.state === 'joined' || p.state === 'ringing').map(p => p.user_id));
      const storeId = this.calls.call.store_id ?? this.store?.id;
      const colleagues = staff.filter(s => !s.disabled && !inCall.has(s.id) && (!storeId || s.roles.some(r => r.store_id === storeId || r.role === 'org_admin')));
      this.invitePicker.replaceChildren(...colleagues.map(s => el('option', { value: s.id }, s.name)));
      this.inviteBox.hidden = false;
    } catch (error) {
      toast(errorText(error), { error: true });
    }
  }

  async invite() {
    const userId = this.invitePicker.value;
    if (!userId) return;
    try {
      await this.calls.invite(userId);
      this.inviteBox.hidden = true;
      toast(t('call.invited', { name: this.invitePicker.selectedOptions[0]?.textContent ?? '' }));
    } catch (error) {
      toast(errorText(error), { error: true });
    }
  }

  // A still of the customer's picture (else the first remote one) as a JPEG attachment, posted into the conversation.
  // The record button: only where the call's store allows recording (asked once per call); else it says it is unavailable.
  renderRecordButton(call) {
    this.recordButton.hidden = !call;
    if (!call) return;
    if (this.recordingAllowed?.callId !== call.id) {
      this.recordingAllowed = { callId: call.id, allowed: null };
      api('GET', '/v1/stores').then(stores => {
        this.recordingAllowed = { callId: call.id, allowed: !!stores.find(s => s.id === call.store_id)?.calls_recording };
        this.render();
      }).catch(() => {});
    }
    const allowed = this.recordingAllowed.allowed;
    this.recordButton.hidden = allowed === null;
    this.recordButton.disabled = allowed === false;
    this.recordButton.title = allowed === false ? t('call.record_unavailable_hint') : '';
    this.recordButton.textContent = allowed === false ? t('call.record_unavailable') : call.recording ? t('call.record_stop') : t('call.record_start');
    this.recordButton.classList.toggle('on', !!call.recording);
  }

  async toggleRecording() {
    try {
      await this.calls.setRecording(!this.calls.call?.recording);
    } catch (error) {
      toast(errorText(error), { error: true });
    }
  }

  async snapshot() {
    const video = this.tiles.main()?.video;
    if (!video?.videoWidth) return toast(t('call.snapshot_no_video'), { error: true });
    const canvas = el('canvas', { width: video.videoWidth, height: video.videoHeight });
    canvas.getContext('2d').drawImage(video, 0, 0);
    try {
      const blob = await new Promise(resolve => canvas.toBlob(resolve, 'image/jpeg', 0.9));
      const form = new FormData();
      form.append('file', blob, `snapshot-${new Date().toISOString().replace(/[:.]/g, '-')}.jpg`);
      const attachment = await api('POST', '/v1/attachments', form);
      await api('POST', `/v1/calls/${this.calls.call.id}/snapshot`, { attachment_id: attachment.id });
      toast(t('call.snapshot_done'));
    } catch (error) {
      toast(errorText(error), { error: true });
    }
  }
}
