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

// A kubeconfig the user supplies (as Lens takes one): each of its contexts whose user has a
// bearer `token` becomes a dashboard context. Client-certificate users are listed as skipped —
// a page cannot present a certificate from a file; the browser's own certificate store can
// (the "client certificate" sign-in). `doc` is the parsed YAML.
export function fromKubeconfig(doc) {
  const byName = (list) => new Map((Array.isArray(list) ? list : []).map((e) => [e && e.name, e || {}]));
  const clusters = byName(doc && doc.clusters), users = byName(doc && doc.users);
  const imported = [], skipped = [];
  for (const c of (doc && Array.isArray(doc.contexts)) ? doc.contexts : []) {
    const name = c && c.name, ctx = (c && c.context) || {};
    const cluster = (clusters.get(ctx.cluster) || {}).cluster || {};
    const user = (users.get(ctx.user) || {}).user || {};
    if (!name || !cluster.server) { skipped.push({ name: name || "?", why: "no cluster server" }); continue; }
    if (!user.token) { skipped.push({ name, why: "its user has no bearer token" }); continue; }
    imported.push({ name, server: cluster.server, namespace: ctx.namespace || "", token: user.token });
  }
  const wanted = doc && doc["current-context"];
  const current = imported.find((c) => c.name === wanted) ? wanted : (imported[0] || {}).name || "";
  return { imported, skipped, current };
}
