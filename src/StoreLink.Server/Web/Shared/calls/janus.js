// A small client of Janus's HTTP API for a call in its VideoRoom (docs/protocol.md → Calls, "Joining the SFU"): one
// session, a publisher handle that joins with the call's pin and sends our camera and microphone, and one subscriber
// handle per other publisher. Janus answers requests with an ack and the result later on the session's long poll,
// which also tells of publishers arriving and leaving. Offers and answers carry all candidates (no trickle): on the
// networks Janus is reachable on, gathering takes milliseconds, and it keeps this client to one request per step.
//
// Every publisher's display is "<user id>/<device id>", so the engine maps a feed to the call's participant.

const POLL_EVENTS = 10;

export class JanusRoom {
  #url; #room; #pin; #display; #local; #ice = {};
  #session = null;
  #publisher = null; // {handle, pc}
  #feeds = new Map(); // feed id → {handle, pc, display, stream}
  #pending = new Map(); // transaction → resolve
  #handles = new Map(); // handle id → event callback
  #closed = false;

  /**
   * `sfu`: the call's `{url, room, pin}`; `display`: "user/device"; `local`: our MediaStream; `onChange()`: a remote
   * stream came or went.
   */
  constructor({ sfu, display, local, onChange }) {
    this.#url = sfu.url.replace(/\/+$/, '');
    this.#room = Number(sfu.room);
    this.#pin = sfu.pin;
    this.#display = display;
    this.#local = local;
    this.onChange = onChange ?? (() => {});
  }

  /** Every publisher we receive: its display ("user/device"), stream and connection. */
  get remotes() {
    return [...this.#feeds.values()].map(f => ({ display: f.display, stream: f.stream, connected: f.connected, pc: f.pc }));
  }

  /** Every peer connection (publisher first), for quality samples and camera switches. */
  get connections() {
    return [this.#publisher?.pc, ...[...this.#feeds.values()].map(f => f.pc)].filter(Boolean);
  }

  /** `ice`: the RTCConfiguration (STUN/TURN) for the connections to Janus. */
  async join(ice) {
    this.#ice = ice ?? {};
    if (this.#closed) return;
    this.#session = (await this.#post('', { janus: 'create' })).data.id;
    this.#poll();
    const handle = await this.#attach(event => this.#onPublisherEvent(event));
    const pc = new RTCPeerConnection(this.#ice);
    this.#publisher = { handle, pc };
    for (const track of this.#local?.getTracks() ?? []) pc.addTrack(track, this.#local);
    await pc.setLocalDescription();
    await gathered(pc);
    const joined = await this.#ask(handle, { request: 'joinandconfigure', ptype: 'publisher', room: this.#room, pin: this.#pin,
      display: this.#display, audio: true, video: true }, { type: 'offer', sdp: pc.localDescription.sdp });
    if (joined.jsep) await pc.setRemoteDescription(joined.jsep);
    for (const p of joined.plugindata?.data?.publishers ?? []) this.#subscribe(p);
  }

  /** Leaves the room and ends the session; the room itself is the server's to destroy. */
  async leave() {
    if (this.#closed) return;
    this.#closed = true;
    for (const f of this.#feeds.values()) f.pc.close();
    this.#publisher?.pc.close();
    this.#feeds.clear();
    const session = this.#session;
    if (session) await this.#post(`/${session}`, { janus: 'destroy' }).catch(() => {});
  }

  #onPublisherEvent(event) {
    const data = event.plugindata?.data ?? {};
    for (const p of data.publishers ?? []) this.#subscribe(p);
    const gone = data.unpublished ?? data.leaving;
    if (gone !== undefined && gone !== 'ok') this.#unsubscribe(gone);
  }

  async #subscribe(publisher) {
    if (this.#closed || this.#feeds.has(publisher.id) || publisher.display === this.#display) return;
    const feed = { display: publisher.display, stream: new MediaStream(), pc: new RTCPeerConnection(this.#ice), handle: null, connected: false };
    this.#feeds.set(publisher.id, feed);
    feed.pc.ontrack = ({ track }) => {
      feed.stream.addTrack(track);
      this.onChange();
    };
    feed.pc.onconnectionstatechange = () => {
      feed.connected ||= feed.pc.connectionState === 'connected';
      this.onChange();
    };
    try {
      feed.handle = await this.#attach(() => {});
      const offer = await this.#ask(feed.handle, { request: 'join', ptype: 'subscriber', room: this.#room, pin: this.#pin, streams: [{ feed: publisher.id }] });
      if (this.#closed || !offer.jsep) return;
      await feed.pc.setRemoteDescription(offer.jsep);
      await feed.pc.setLocalDescription();
      await gathered(feed.pc);
      await this.#ask(feed.handle, { request: 'start' }, { type: 'answer', sdp: feed.pc.localDescription.sdp });
    } catch (e) {
      console.warn('StoreLink call: no subscription to', publisher.display, e?.message ?? e);
    }
    this.onChange();
  }

  #unsubscribe(feedId) {
    const feed = this.#feeds.get(feedId);
    if (!feed) return;
    this.#feeds.delete(feedId);
    feed.pc.close();
    if (feed.handle) this.#post(`/${this.#session}/${feed.handle}`, { janus: 'detach' }).catch(() => {});
    this.onChange();
  }

  async #attach(onEvent) {
    const id = (await this.#post(`/${this.#session}`, { janus: 'attach', plugin: 'janus.plugin.videoroom' })).data.id;
    this.#handles.set(id, onEvent);
    return id;
  }

  /** A plugin request answered on the long poll: the event (with its `jsep`) whose transaction is ours. */
  async #ask(handle, body, jsep) {
    const transaction = crypto.randomUUID();
    const answered = new Promise(resolve => this.#pending.set(transaction, resolve));
    const ack = await this.#post(`/${this.#session}/${handle}`, { janus: 'message', body, ...(jsep ? { jsep } : {}) }, transaction);
    if (ack.janus !== 'ack') { this.#pending.delete(transaction); return ack; }
    const event = await answered;
    const error = event.plugindata?.data?.error;
    if (error) throw new Error(error);
    return event;
  }

  async #poll() {
    while (!this.#closed) {
      let events;
      try {
        events = [].concat(await (await fetch(`${this.#url}/${this.#session}?maxev=${POLL_EVENTS}&rid=${Date.now()}`)).json());
      } catch {
        if (!this.#closed) await new Promise(ok => setTimeout(ok, 1000));
        continue;
      }
      for (const event of events) {
        const waiting = event.transaction && this.#pending.get(event.transaction);
        if (waiting) {
          this.#pending.delete(event.transaction);
          waiting(event);
        } else if (event.janus === 'event') this.#handles.get(event.sender)?.(event);
      }
    }
  }

  async #post(path, message, transaction = crypto.randomUUID()) {
    const answer = await (await fetch(this.#url + path, { method: 'POST', body: JSON.stringify({ ...message, transaction }) })).json();
    if (answer.janus === 'error') throw new Error(answer.error?.reason ?? 'Janus error');
    return answer;
  }
}

function gathered(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise(ok => {
    const done = () => pc.iceGatheringState === 'complete' && ok();
    pc.addEventListener('icegatheringstatechange', done);
    // A STUN/TURN server that never answers should not stall the join: host candidates are enough on loopback and LANs.
    setTimeout(ok, 3000);
  });
}
