// Picks the widget's language (data-lang / ?lang=, else the browser's; Chinese unless it asks for English) and
// formats its strings. Also imported cross-origin by widget.js for the launcher's label.
import zh from "./strings/zh-CN.js";
import en from "./strings/en.js";

const tables = { "zh-CN": zh, en };

export function pickLanguage(requested, browser = navigator.languages ?? [navigator.language]) {
  for (const tag of [requested, ...browser].filter(Boolean)) {
    const lower = String(tag).toLowerCase();
    if (lower.startsWith("zh")) return "zh-CN";
    if (lower.startsWith("en")) return "en";
  }
  return "zh-CN";
}

export function strings(lang) {
  const table = tables[lang] ?? zh;
  return (key, values = {}) => {
    const text = table[key] ?? zh[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (_, name) => (name in values ? String(values[name]) : `{${name}}`));
  };
}
