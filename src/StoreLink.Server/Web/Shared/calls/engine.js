// Voice and video calls in the browser (docs/protocol.md → Calls), the engine under the widget's and the console's
// call screens: the call's record as the server pushes it, the camera and microphone, one RTCPeerConnection per remote
// participant (two: peer to peer; up to four: a mesh), signalling through the live socket's call_signal frames, the
// quality samples, and recovery from a bad network. It holds no text: the screens word what it reports.
//
// Negotiation is "perfect negotiation": either side may offer at any time (first offer, camera added, ICE restart);
// when two offers cross, the polite side (the larger user/device key) yields. The participant who joined later makes
// the first offer to those already joined, so a ringing caller never offers to someone who has not answered.
// A peer whose page lost its state (a reload) sends `restart`: the other side starts that peer's connection afresh.
// A call in `sfu` mode (three or more through Janus, or recorded) has no connections between peers: each device joins
// the call's Janus room (./janus.js); when the pushed call switches to `sfu`, the peer connections close.
import { JanusRoom } from './janus.js';
import { qualitySample } from './stats.js';

const DEVICE_KEY = 'storelink.call_device';
const STATS_EVERY_MS = 3000;
const RECOVER_MS = 10000; // ICE disconnected this long after a restart: the call is lost
const CONNECT_MS = 30000; // a new connection that never carried media this long: failed

/** This page's device id: one per tab, kept across reloads and socket reconnects (sessionStorage). */
export function callDeviceId() {
  let id = null;
  try { id = sessionStorage.getItem(DEVICE_KEY); } catch { /* storage blocked: one id per page load */ }
  if (!id) {
    id = 'dev_' + (crypto.randomUUID?.() ?? `${Date.now().toString(36)}${Math.random().toString(36).slice(2)}`).replaceAll('-', '');
    try { sessionStorage.setItem(DEVICE_KEY, id); } catch { /* see above */ }
  }
  return id;
}

/**
 * `phase`: idle | incoming (this device rings) | outgoing (our call rings) | connecting (joined, no media yet) |
 * active (media flows with someone) | ended (`endReason` says why, until `dismiss()`). Every change is one `change`
 * event; the screens draw from the getters.
 */
export class CallEngine extends EventTarget {
  call = null;
  phase = 'idle';
  endReason = null;
  local = null; // our MediaStream
  muted = false;
  cameraOff = false;
  facing = 'user';
  activeSince = null; // performance.now() when media first flowed
  peers = new Map(); // "user/device" → peer
  #remoteMedia = new Map(); // user id → {audio, video} from their media signals
  #ice = null;
  #sfu = null; // the JanusRoom while the call is in sfu mode
  #statsTimer = null;
  #firstFrames = false;
  #lastStats = new Map();

  /** `request(method, path, body)`: the page's REST client (rejects with `.status`/`.code`); `userId()`: who we are. */
  constructor({ socket, request, userId }) {
    super();
    Object.assign(this, { socket, request, userId });
    this.deviceId = callDeviceId();
    socket.addEventListener('call', e => this.#onCall(e.detail.call));
    socket.addEventListener('call_signal', e => this.#onSignal(e.detail));
    socket.addEventListener('ready', () => this.#onReady());
  }

  get me() { return this.call?.participants.find(p => p.user_id === this.userId()) ?? null; }
  get reconnecting() { return [...this.peers.values()].some(p => p.recovering); }
  get recording() { return !!this.call?.recording && this.busy; }
  /** The call's Janus room while the call is in sfu mode (./janus.js), else null. */
  get room() { return this.#sfu; }

  /** One connection per remote device we receive from, `{key, pc}` ("user/device"): peers, or Janus subscriptions. */
  get remoteConnections() {
    return this.#sfu ? this.#sfu.remotes.map(r => ({ key: r.display, pc: r.pc })) : [...this.peers.values()].map(p => ({ key: p.key, pc: p.pc }));
  }
  get busy() { return this.phase !== 'idle' && this.phase !== 'ended'; }

  /** The remote participants who joined, each with its stream and what it last said about its microphone and camera. */
  get remotes() {
    return (this.call?.participants ?? []).filter(p => p.user_id !== this.userId() && p.state === 'joined').map(p => {
      const peer = this.#peerOf(p.user_id);
      return { ...p, stream: peer?.stream ?? null, connected: !!peer?.everConnected, ...(this.#remoteMedia.get(p.user_id) ?? { audio: true, video: true }) };
    });
  }

  /** Starts a call from a conversation: camera and microphone first (a refusal rings nobody), then the call. */
  async start(conversationId, media) {
    if (this.busy) throw Object.assign(new Error('busy'), { code: 'conflict' });
    this.#reset();
    await this.#openMedia(media);
    try {
      const call = await this.request('POST', `/v1/conversations/${encodeURIComponent(conversationId)}/calls`, { media, device_id: this.deviceId });
      this.#onCall(call, true);
    } catch (e) {
      this.#stopMedia();
      this.#set('idle');
      throw e;
    }
  }

  async accept(media = this.call?.media ?? 'voice') {
    if (this.phase !== 'incoming') return;
    const id = this.call.id;
    await this.#openMedia(media);
    try {
      const call = await this.request('POST', `/v1/calls/${id}/accept`, { device_id: this.deviceId });
      this.#onCall(call, true);
    } catch (e) {
      this.#stopMedia();
      this.#finish(this.call?.end_reason ?? 'failed');
      throw e;
    }
  }

  async decline() {
    if (this.phase !== 'incoming') return;
    const id = this.call.id;
    this.#reset();
    this.#set('idle');
    await this.request('POST', `/v1/calls/${id}/decline`).catch(() => {});
  }

  /** Leaves the call (`reason`: lost or failed when the network decided, else none). */
  async hangup(reason) {
    if (!this.call || this.phase === 'ended' || this.phase === 'idle') return;
    const call = this.call;
    const outgoing = this.phase === 'outgoing';
    this.#finish(reason ?? (outgoing ? 'cancelled' : 'completed'));
    try {
      const answer = await this.request('POST', `/v1/calls/${call.id}/hangup`, reason ? { reason } : {});
      if (answer?.state === 'ended' && answer.end_reason && this.call?.id === call.id) {
        this.call = answer;
        this.endReason = answer.end_reason;
        this.#emit();
      }
    } catch { /* the server ends it as lost when we stop reporting */ }
  }

  /** Forgets an ended call (the screen closed its "call ended" state). */
  dismiss() {
    if (this.phase !== 'ended') return;
    this.#reset();
    this.#set('idle');
  }

  /** A page that (re)opens a conversation picks up its call: ringing here, or joined by this very device before a reload. */
  async resume(conversationId) {
    if (this.busy) return;
    const [call] = await this.request('GET', `/v1/conversations/${encodeURIComponent(conversationId)}/calls?limit=1`).catch(() => []);
    if (!call || call.state === 'ended' || this.busy) return;
    const me = call.participants.find(p => p.user_id === this.userId());
    if (me?.state === 'ringing') return this.#onCall(call);
    if (me?.state !== 'joined' || me.device_id !== this.deviceId) return;
    await this.#openMedia(call.media).catch(() => {});
    this.call = call;
    this.#set(call.state === 'active' ? 'connecting' : 'outgoing');
    if (call.mode === 'sfu') this.#joinSfu(call);
    else for (const p of call.participants) if (p.user_id !== this.userId() && p.state === 'joined' && p.device_id) this.#send(p.user_id, p.device_id, { type: 'restart' });
    this.#startStats();
  }

  setMuted(muted) {
    this.muted = muted;
    for (const track of this.local?.getAudioTracks() ?? []) track.enabled = !muted;
    this.#announceMedia();
    this.#emit();
  }

  /** Camera off sends black frames and tells the others; on again after a voice-only answer adds a camera track. */
  async setCamera(on) {
    let track = this.local?.getVideoTracks()[0];
    if (on && !track) {
      const stream = await navigator.mediaDevices.getUserMedia({ video: this.#videoConstraints() });
      track = stream.getVideoTracks()[0];
      this.local.addTrack(track);
      for (const peer of this.peers.values()) peer.pc.addTrack(track, this.local);
    }
    this.cameraOff = !on;
    if (track) track.enabled = on;
    this.#announceMedia();
    this.#emit();
  }

  /** Front ↔ back camera: a new track replaces the old one in every connection, without renegotiating. */
  async switchCamera() {
    const old = this.local?.getVideoTracks()[0];
    if (!old) return;
    this.facing = this.facing === 'user' ? 'environment' : 'user';
    const stream = await navigator.mediaDevices.getUserMedia({ video: this.#videoConstraints() });
    const track = stream.getVideoTracks()[0];
    track.enabled = !this.cameraOff;
    for (const pc of this.#connections())
      await pc.getSenders().find(s => s.track === old)?.replaceTrack(track);
    this.local.removeTrack(old);
    old.stop();
    this.local.addTrack(track);
    this.#emit();
  }

  /** Turns the call's recording on or off (staff; the server tells the customer first, or answers 409). */
  async setRecording(on) {
    this.#onCall(await this.request('POST', `/v1/calls/${this.call.id}/recording`, { on }));
  }

  /** Rings a colleague into the running call (staff). */
  invite(userId) {
    return this.request('POST', `/v1/calls/${this.call.id}/invite`, { user_id: userId });
  }

  // --- the call's record ---------------------------------------------------------------------------------------

  #onCall(call, ours = false) {
    if (!call) return;
    const mine = call.participants.find(p => p.user_id === this.userId());
    if (this.call?.id !== call.id) {
      // Another call while this one runs: the server rings it busy; an ended one that is not ours is history.
      if (this.busy || call.state === 'ended' && !ours) return;
      const ringsHere = mine?.state === 'ringing';
      const startedHere = mine?.state === 'joined' && mine.device_id === this.deviceId;
      if (!ringsHere && !startedHere && !ours) return;
      this.#reset(true); // the camera and microphone that start() or accept() just opened stay
    }
    this.call = call;
    if (call.state === 'ended') return this.#finish(call.end_reason);
    if (mine?.state === 'joined' && mine.device_id && mine.device_id !== this.deviceId) {
      // Answered on another device of ours: stop ringing here.
      this.#reset();
      return this.#set('idle');
    }
    if (mine && ['left', 'declined', 'missed', 'busy'].includes(mine.state)) return this.#finish(this.endReason ?? 'completed');
    if (mine?.state === 'ringing') return this.#set('incoming');
    if (mine?.state !== 'joined') return;
    this.#startStats();
    // Connections follow who is joined: a newcomer gets our offer if we joined after them; one who left is closed.
    const joined = call.participants.filter(p => p.user_id !== this.userId() && p.state === 'joined' && p.device_id);
    if (call.mode === 'sfu') this.#joinSfu(call);
    else {
      for (const p of joined)
        if (!this.peers.has(key(p.user_id, p.device_id)) && joinedBefore(p, mine)) this.#peer(p.user_id, p.device_id, true);
      for (const peer of [...this.peers.values()])
        if (!joined.some(p => key(p.user_id, p.device_id) === peer.key)) this.#closePeer(peer);
    }
    this.#set(joined.length === 0 ? (call.state === 'ringing' ? 'outgoing' : 'connecting') : this.activeSince ? 'active' : 'connecting');
  }

  async #onReady() {
    if (!this.call || !this.busy) return;
    // Frames pushed while the socket was away are lost: read the call again, then repair each connection.
    const call = await this.request('GET', `/v1/calls/${this.call.id}`).catch(() => null);
    if (call) this.#onCall(call);
    for (const peer of this.peers.values()) {
      if (peer.pc.signalingState === 'have-local-offer') this.#send(peer.userId, peer.deviceId, { type: 'offer', sdp: peer.pc.localDescription.sdp });
      else if (peer.pc.connectionState !== 'connected') peer.pc.restartIce();
    }
    this.#announceMedia();
  }

  #finish(reason) {
    if (this.phase === 'ended') return;
    for (const peer of [...this.peers.values()]) this.#closePeer(peer);
    this.#leaveSfu();
    this.#stopMedia();
    clearInterval(this.#statsTimer);
    this.#statsTimer = null;
    this.endReason = reason ?? 'completed';
    this.#set('ended');
  }

  #reset(keepMedia = false) {
    for (const peer of [...this.peers.values()]) this.#closePeer(peer);
    this.#leaveSfu();
    if (!keepMedia) this.#stopMedia();
    clearInterval(this.#statsTimer);
    this.#statsTimer = null;
    this.call = null;
    this.endReason = null;
    this.activeSince = null;
    this.muted = false;
    this.cameraOff = false;
    this.#firstFrames = false;
    this.#remoteMedia.clear();
    this.#lastStats.clear();
  }

  #set(phase) {
    this.phase = phase;
    this.#emit();
  }

  #emit() { this.dispatchEvent(new CustomEvent('change')); }

  // --- media ---------------------------------------------------------------------------------------------------

  #videoConstraints() { return { facingMode: this.facing, width: { ideal: 1280 }, height: { ideal: 720 } }; }

  async #openMedia(media) {
    if (this.local) return;
    this.local = await navigator.mediaDevices.getUserMedia({ audio: true, video: media === 'video' ? this.#videoConstraints() : false });
    this.#emit();
  }

  #stopMedia() {
    for (const track of this.local?.getTracks() ?? []) track.stop();
    this.local = null;
  }

  #announceMedia() {
    // Through Janus there are no peers: the media signal goes to every device joined in the call.
    const to = this.#sfu ? (this.call?.participants ?? []).filter(p => p.user_id !== this.userId() && p.state === 'joined' && p.device_id)
      .map(p => ({ userId: p.user_id, deviceId: p.device_id })) : [...this.peers.values()];
    for (const peer of to) this.#send(peer.userId, peer.deviceId, this.#mediaSignal());
  }

  #mediaSignal() {
    return { type: 'media', audio: !this.muted, video: !this.cameraOff && !!this.local?.getVideoTracks().length };
  }

  // --- connections ---------------------------------------------------------------------------------------------

  async #iceConfig() {
    if (this.#ice && Date.parse(this.#ice.expires_at) - Date.now() > 60000) return this.#ice;
    // Before the operator configures STUN/TURN (or on a server without the route) peers on one network still connect.
    this.#ice = await this.request('GET', '/v1/calls/ice-servers')
      .catch(() => ({ ice_servers: [], ice_transport_policy: 'all', expires_at: new Date(Date.now() + 3600000).toISOString() }));
    return this.#ice;
  }

  #peerOf(userId) {
    for (const peer of this.peers.values()) if (peer.userId === userId) return peer;
    const feed = this.#sfu?.remotes.find(r => r.display?.startsWith(userId + '/'));
    return feed ? { stream: feed.stream, everConnected: feed.connected } : null;
  }

  #connections() {
    return [...[...this.peers.values()].map(p => p.pc), ...(this.#sfu?.connections ?? [])];
  }

  // --- the Janus room (sfu mode) ---------------------------------------------------------------------------------

  /** Joins the call's room once (peer connections close: the media now goes through Janus). */
  async #joinSfu(call) {
    if (this.#sfu || !call.sfu) return;
    for (const peer of [...this.peers.values()]) this.#closePeer(peer);
    const room = this.#sfu = new JanusRoom({ sfu: call.sfu, display: key(this.userId(), this.deviceId), local: this.local, onChange: () => this.#emit() });
    try {
      const ice = await this.#iceConfig();
      await room.join({ iceServers: ice.ice_servers, iceTransportPolicy: ice.ice_transport_policy ?? 'all' });
      this.#announceMedia();
    } catch (e) {
      console.warn('StoreLink call: the media server did not take us', e?.message ?? e);
      if (this.#sfu === room) this.hangup('failed');
    }
    this.#emit();
  }

  #leaveSfu() {
    this.#sfu?.leave().catch(() => {});
    this.#sfu = null;
  }

  // Created synchronously (signals that follow an offer queue behind it); the ICE servers are set before any offer.
  #peer(userId, deviceId, offer) {
    const pc = new RTCPeerConnection();
    const peer = {
      key: key(userId, deviceId), userId, deviceId, pc, stream: new MediaStream(),
      polite: key(this.userId(), this.deviceId) > key(userId, deviceId),
      makingOffer: false, ignoreOffer: false, everConnected: false, recovering: false, timer: null,
      queue: this.#iceConfig().then(ice => pc.setConfiguration({ iceServers: ice.ice_servers, iceTransportPolicy: ice.ice_transport_policy ?? 'all' }))
        .catch(e => console.warn('StoreLink call: ICE servers not usable', e?.message ?? e)),
    };
    this.peers.set(peer.key, peer);
    pc.ontrack = ({ track }) => {
      if (!peer.stream.getTracks().includes(track)) peer.stream.addTrack(track);
      track.addEventListener('ended', () => peer.stream.removeTrack(track));
      this.#emit();
    };
    pc.onicecandidate = ({ candidate }) => {
      if (candidate) this.#send(userId, deviceId, { type: 'candidate', candidate: candidate.candidate, sdp_mid: candidate.sdpMid, sdp_mline_index: candidate.sdpMLineIndex });
    };
    pc.onnegotiationneeded = () => this.#enqueue(peer, async () => {
      if (pc.signalingState !== 'stable') return; // fires again once stable, if still needed
      try {
        peer.makingOffer = true;
        await pc.setLocalDescription();
        if (pc.localDescription.type === 'offer') this.#send(userId, deviceId, { type: 'offer', sdp: pc.localDescription.sdp });
      } finally {
        peer.makingOffer = false;
      }
    });
    pc.onconnectionstatechange = () => this.#watch(peer);
    peer.timer = setTimeout(() => !peer.everConnected && this.#giveUp(peer), CONNECT_MS);
    if (offer) this.#enqueue(peer, () => this.#addTracks(peer));
    this.#emit();
    return peer;
  }

  #addTracks(peer) {
    const sending = peer.pc.getSenders().map(s => s.track);
    for (const track of this.local?.getTracks() ?? []) if (!sending.includes(track)) peer.pc.addTrack(track, this.local);
  }

  #enqueue(peer, work) {
    peer.queue = peer.queue.then(work).catch(e => console.warn('StoreLink call:', e?.message ?? e));
    return peer.queue;
  }

  #closePeer(peer) {
    if (!peer) return;
    clearTimeout(peer.timer);
    peer.pc.onconnectionstatechange = peer.pc.onnegotiationneeded = peer.pc.onicecandidate = peer.pc.ontrack = null;
    peer.pc.close();
    this.peers.delete(peer.key);
    this.#emit();
  }

  #onSignal(frame) {
    if (!this.call || frame.call_id !== this.call.id || frame.to_device !== this.deviceId || this.phase === 'ended') return;
    const signal = frame.signal ?? {};
    // Through Janus only what a participant says about its microphone and camera still travels between peers.
    if (this.#sfu && signal.type !== 'media') return;
    let peer = this.peers.get(key(frame.from, frame.from_device));
    if (signal.type === 'media') {
      this.#remoteMedia.set(frame.from, { audio: signal.audio !== false, video: signal.video !== false });
      return this.#emit();
    }
    if (signal.type === 'restart') {
      this.#closePeer(peer);
      this.#peer(frame.from, frame.from_device, true);
      return;
    }
    if (!peer) {
      if (signal.type !== 'offer') return;
      peer = this.#peer(frame.from, frame.from_device, false);
    }
    this.#enqueue(peer, () => this.#negotiate(peer, signal));
  }

  async #negotiate(peer, signal) {
    const pc = peer.pc;
    if (signal.type === 'candidate') {
      try {
        await pc.addIceCandidate({ candidate: signal.candidate, sdpMid: signal.sdp_mid, sdpMLineIndex: signal.sdp_mline_index });
      } catch (e) {
        if (!peer.ignoreOffer) throw e;
      }
      return;
    }
    if (signal.type !== 'offer' && signal.type !== 'answer') return;
    const collision = signal.type === 'offer' && (peer.makingOffer || pc.signalingState !== 'stable');
    peer.ignoreOffer = !peer.polite && collision;
    if (peer.ignoreOffer) return;
    if (signal.type === 'answer' && pc.signalingState !== 'have-local-offer') return; // a late copy of one already applied
    try {
      await pc.setRemoteDescription({ type: signal.type, sdp: signal.sdp });
    } catch (e) {
      // An offer that cannot apply to this connection (the other page reloaded): start afresh and answer it there.
      if (signal.type !== 'offer') throw e;
      this.#closePeer(peer);
      const fresh = this.#peer(peer.userId, peer.deviceId, false);
      return this.#enqueue(fresh, () => this.#negotiate(fresh, signal));
    }
    if (signal.type === 'offer') {
      this.#addTracks(peer);
      await pc.setLocalDescription();
      this.#send(peer.userId, peer.deviceId, { type: 'answer', sdp: pc.localDescription.sdp });
    }
  }

  #watch(peer) {
    const state = peer.pc.connectionState;
    if (state === 'connected') {
      clearTimeout(peer.timer);
      peer.recovering = false;
      if (!peer.everConnected) this.#send(peer.userId, peer.deviceId, this.#mediaSignal());
      peer.everConnected = true;
    } else if ((state === 'disconnected' || state === 'failed') && !peer.recovering) {
      // Try an ICE restart (a new offer through perfect negotiation); give up when it has not worked in time.
      peer.recovering = true;
      peer.pc.restartIce();
      clearTimeout(peer.timer);
      peer.timer = setTimeout(() => peer.recovering && this.#giveUp(peer), RECOVER_MS);
    }
    this.#emit();
  }

  // One connection is beyond repair: in a mesh the others go on; alone, the call ends.
  #giveUp(peer) {
    const reason = peer.everConnected ? 'lost' : 'failed';
    this.#closePeer(peer);
    if (this.peers.size === 0 && this.busy) this.hangup(reason);
  }

  #send(to, toDevice, signal) {
    if (!this.call) return;
    this.socket.request({ type: 'call_signal', call_id: this.call.id, to, to_device: toDevice, signal })
      .catch(e => console.warn('StoreLink call: signal not sent', e.code));
  }

  // --- quality -------------------------------------------------------------------------------------------------

  // Every 3 s while joined (it also tells the server we are still here); faster until the first frames arrive.
  #startStats() {
    if (this.#statsTimer) return;
    let tick = 0;
    this.#statsTimer = setInterval(() => {
      tick++;
      if ((this.#firstFrames || this.peers.size === 0) && tick % (STATS_EVERY_MS / 500) !== 0) return;
      this.#sample().catch(() => {});
    }, 500);
  }

  async #sample() {
    const call = this.call;
    if (!call || this.phase === 'ended') return;
    const previous = this.#lastStats.get(call.id);
    const { sample, bytes, frames } = await qualitySample(this.#connections(), previous, call.media, [...this.#remoteMedia.values()]);
    this.#lastStats.set(call.id, { at: performance.now(), bytes });
    sample.device_id = this.deviceId;
    if (frames && !this.#firstFrames) {
      this.#firstFrames = true;
      sample.connected = true;
      this.activeSince ??= performance.now();
      if (this.phase === 'connecting') this.#set('active');
    }
    await this.request('POST', `/v1/calls/${call.id}/stats`, sample);
  }
}

const key = (userId, deviceId) => `${userId}/${deviceId}`;

// Whether `other` joined before `me` (and so waits for our offer); equal times by user id, so one side offers.
function joinedBefore(other, me) {
  const a = Date.parse(other.joined_at ?? 0), b = Date.parse(me.joined_at ?? 0);
  return a !== b ? a < b : key(other.user_id, other.device_id) < key(me.user_id, me.device_id);
}
