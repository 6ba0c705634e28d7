// Contexts (Lens-style cluster switching): the user adds API endpoints + tokens; they live in
// this browser's localStorage only, never on the server.

const KEY = "tugboat.contexts";
const CURRENT = "tugboat.current";

export function loadContexts() {
  try { return JSON.parse(localStorage.getItem(KEY) || "[]"); } catch { return []; }
}
export function saveContexts(list) { localStorage.setItem(KEY, JSON.stringify(list)); }
export function currentName() { return localStorage.getItem(CURRENT) || ""; }
export function setCurrent(name) { localStorage.setItem(CURRENT, name); }

export function current() {
  const all = loadContexts();
  return all.find((c) => c.name === currentName()) || all[0] || null;
}

export function upsert(ctx) {
  const all = loadContexts().filter((c) => c.name !== ctx.name);
  all.push(ctx);
  saveContexts(all);
  setCurrent(ctx.name);
}

export function remove(name) {
  saveContexts(loadContexts().filter((c) => c.name !== name));
  if (currentName() === name) localStorage.removeItem(CURRENT);
}
