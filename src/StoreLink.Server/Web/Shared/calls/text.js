// How a call reads on screen, for the widget and the console alike; the words come from the screen's own string table.
/** The `call` summary message as one sentence; `text(key, values)` reads the screen's own string table. */
export function callSummary(body, text) {
  const media = text(body?.media === 'video' ? 'video' : 'voice');
  if (body?.result === 'completed') return text('summary_completed', { media, duration: callDuration(body.duration_ms, text) });
  return text('summary_other', { media, result: text('result_' + (body?.result ?? 'failed')) });
}

/** 2分15秒 / 2 min 15 s, from the screen's duration_h / duration_m / duration_s strings. */
export function callDuration(ms, text) {
  const total = Math.max(0, Math.round((ms ?? 0) / 1000));
  const h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
  if (h) return text('duration_h', { h, m });
  if (m) return text('duration_m', { m, s });
  return text('duration_s', { s });
}

/** 02:15 — the running call's clock. */
export function callClock(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const pad = n => String(n).padStart(2, '0');
  const h = Math.floor(total / 3600);
  return (h ? `${h}:` : '') + `${pad(Math.floor((total % 3600) / 60))}:${pad(total % 60)}`;
}
