// The widget's formatting: times in the store's time zone, the identity token's subject, the map link.
export function formatClock(iso, lang) {
  if (!iso) return "";
  return new Date(iso).toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit", hour12: false });
}

// "今天 09:00" / "明天 09:00" / "周一 09:00" in the store's time zone.
export function formatOpening(iso, timeZone, t, lang, nowIso) {
  const at = new Date(iso);
  const day = (d) => new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" }).format(d);
  const time = new Intl.DateTimeFormat(lang, { timeZone, hour: "2-digit", minute: "2-digit", hour12: false }).format(at);
  const now = nowIso ? Date.parse(nowIso) : Date.now();
  const today = day(new Date(now));
  const tomorrow = day(new Date(now + 86400000));
  if (day(at) === today) return `${t("today")} ${time}`;
  if (day(at) === tomorrow) return `${t("tomorrow")} ${time}`;
  const weekday = new Intl.DateTimeFormat("en-US", { timeZone, weekday: "short" }).format(at).toLowerCase();
  return `${t("weekday_" + weekday)} ${time}`;
}

// The subject of an identity token, read (not verified: the server does that) to notice a change of customer.
export function jwtSubject(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent(escape(atob(part + "===".slice((part.length + 3) % 4))));
    return JSON.parse(json).sub ?? null;
  } catch {
    return null;
  }
}

export function amapUrl(body) {
  const name = encodeURIComponent(body.label ?? "");
  return `https://uri.amap.com/marker?position=${body.longitude},${body.latitude}&coordinate=wgs84&name=${name}`;
}
