// The remote pictures of a call screen (widget and console): one tile per joined remote participant, kept while the
// call lasts so that playback never restarts, the customer's first (the big one). The screen makes a tile's elements
// (`make(remote)` → {root, video, note}) and words its notes (`notes(remote)` → texts such as "对方已静音").
export class RemoteTiles {
  tiles = new Map(); // user id → {root, video, note, tracks}
  volume = 1;

  /** `offClass`: the class a tile gets while that participant's camera is off; `blocked(video)`: sound needs a tap. */
  constructor(container, { make, notes, offClass, blocked }) {
    Object.assign(this, { container, make, notes, offClass, blocked });
  }

  render(remotes) {
    for (const [id, tile] of this.tiles)
      if (!remotes.some(r => r.user_id === id)) {
        tile.root.remove();
        this.tiles.delete(id);
      }
    for (const remote of remotes) {
      let tile = this.tiles.get(remote.user_id);
      if (!tile) {
        tile = this.make(remote);
        tile.root.dataset.kind = remote.kind ?? '';
        tile.video.volume = this.volume;
        this.tiles.set(remote.user_id, tile);
        if (remote.kind === 'customer') this.container.prepend(tile.root);
        else this.container.append(tile.root);
      }
      // Tracks arrive one by one: the element is given the stream again when it has more.
      const tracks = remote.stream?.getTracks().length ?? 0;
      if (remote.stream && (tile.video.srcObject !== remote.stream || tile.tracks !== tracks)) {
        tile.tracks = tracks;
        tile.video.srcObject = remote.stream;
        this.#play(tile.video);
      }
      const notes = this.notes(remote);
      tile.note.textContent = notes.join(' · ');
      tile.note.hidden = notes.length === 0;
      tile.root.classList.toggle(this.offClass, !remote.video);
    }
    this.container.dataset.count = String(remotes.length);
  }

  setVolume(volume) {
    this.volume = volume;
    for (const tile of this.tiles.values()) tile.video.volume = volume;
  }

  /** The customer's tile (else the first): what a snapshot is taken of. */
  main() {
    return [...this.tiles.values()].find(x => x.root.dataset.kind === 'customer') ?? [...this.tiles.values()][0] ?? null;
  }

  clear() {
    for (const tile of this.tiles.values()) tile.root.remove();
    this.tiles.clear();
  }

  // A page the browser has seen no tap on (a reload mid-call) may not play sound: play muted and let the screen offer a tap.
  // (A play() cut short by the next srcObject is an AbortError, not a refusal.)
  #play(video) {
    video.play().catch(e => {
      if (e?.name !== 'NotAllowedError' || video.muted) return;
      video.muted = true;
      video.play().catch(() => {});
      this.blocked?.(video);
    });
  }
}
