// One quality sample of a call (POST /v1/calls/{id}/stats) from the getStats() of its connections: the worst round
// trip and jitter, loss and received bitrate over all of them, the received resolution and frame rate, and whether
// the selected candidate pair is relayed by TURN. `frames`: media has begun to flow (a decoded video frame, or sound
// where no video is coming: a voice call, or every camera said off).
export async function qualitySample(connections, previous, media, cameras) {
  const sample = {};
  const rtt = [], jitter = [];
  let lost = 0, received = 0, bytes = 0, video = false, audio = false, relay = false;
  for (const pc of connections) {
    const report = await pc.getStats();
    for (const s of report.values()) {
      if (s.type === 'transport' && s.selectedCandidatePairId) {
        const pair = report.get(s.selectedCandidatePairId);
        if (pair?.currentRoundTripTime != null) rtt.push(pair.currentRoundTripTime * 1000);
        if (report.get(pair?.localCandidateId)?.candidateType === 'relay') relay = true;
      }
      if (s.type !== 'inbound-rtp') continue;
      lost += s.packetsLost ?? 0;
      received += s.packetsReceived ?? 0;
      bytes += s.bytesReceived ?? 0;
      if (s.jitter != null) jitter.push(s.jitter * 1000);
      if (s.kind === 'video') {
        if (s.framesDecoded > 0) video = true;
        if (s.frameWidth) Object.assign(sample, { width: s.frameWidth, height: s.frameHeight, fps: Math.round(s.framesPerSecond ?? 0) });
      } else if (s.packetsReceived > 0) {
        audio = true;
      }
    }
  }
  const now = performance.now();
  if (rtt.length) sample.rtt_ms = Math.round(Math.max(...rtt));
  if (jitter.length) sample.jitter_ms = Math.round(Math.max(...jitter));
  if (received + lost > 0) sample.loss_percent = Math.round(1000 * lost / (received + lost)) / 10;
  if (previous && now > previous.at) sample.bitrate_kbps = Math.max(0, Math.round((bytes - previous.bytes) * 8 / (now - previous.at)));
  sample.relay = relay;
  const frames = video || audio && (media === 'voice' || cameras.length > 0 && cameras.every(m => !m.video));
  return { sample, bytes, frames };
}
