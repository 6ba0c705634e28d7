// The shell of the single-page app: sign-in, context switch, namespace filter, hash routing.
// Views are modules exporting mount(el, app, params) → cleanup function.

import { Api, ApiError } from "./api.js";
import { Cluster } from "./cache.js";
import * as contexts from "./contexts.js";
import { esc, scrollFocus } from "./ui.js";
import * as overview from "./views/overview.js";
import * as workloads from "./views/workloads.js";
import * as nodes from "./views/nodes.js";
import * as logs from "./views/logs.js";

const $ = (id) => document.getElementById(id);
// The object page (js-yaml) and the shell (xterm.js, 340 kB) load when first opened, so a cold
// start parses only what the overview needs.
const ROUTES = { overview: () => overview, workloads: () => workloads, nodes: () => nodes, logs: () => logs,
  object: () => import("./views/detail.js"), shell: () => import("./views/shell.js") };
let routeSeq = 0;

export const app = {
  api: null, cluster: null, ns: "", user: "", unmount: null,
  navigate(hash) { location.hash = hash; },
};
window.tugboatApp = app; // for tests and the benchmark

async function whoami(api) {
  try {
    const r = await api.post("/apis/authentication.k8s.io/v1/selfsubjectreviews",
      { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" });
    return r.status.userInfo.username;
  } catch (e) {
    if (e instanceof ApiError && (e.status === 401)) throw e;
    try {
      await api.get("/api/v1/namespaces?limit=1"); // still proves the credentials work
    } catch (e2) {
      if (!(e2 instanceof ApiError) || e2.status !== 403) throw e2; // 403: known user, RBAC says no
    }
    return "";
  }
}

async function signIn(ctx) {
  const api = new Api(ctx);
  // the lists the overview needs start while whoami checks the credentials (one round trip less)
  const cluster = new Cluster(api, ctx.namespace || "");
  if (!location.hash || location.hash.startsWith("#/overview")) for (const k of ["pods", "nodes", "events"]) cluster.col(k);
  let user;
  try { user = await whoami(api); } catch (e) { cluster.close(); throw e; }
  if (app.cluster) app.cluster.close();
  app.api = api;
  app.cluster = cluster;
  app.ns = ctx.namespace || "";
  app.user = user;
  $("whoami").textContent = user ? `Signed in as ${user}` : "";
  $("signin").hidden = true;
  $("nav").hidden = false;
  $("ctxbar").hidden = false;
  fillContexts();
  watchNamespaces();
  route();
  $("main").focus({ preventScroll: true });
}

function fillContexts() {
  const cur = contexts.current();
  const opts = contexts.loadContexts().map((c) =>
    `<option value="${esc(c.name)}" ${cur && c.name === cur.name ? "selected" : ""}>${esc(c.name)}</option>`);
  opts.push('<option value="__add">Add a cluster…</option>');
  $("ctx-select").innerHTML = opts.join("");
}

function watchNamespaces() {
  const fill = (names, all) => {
    $("ns-select").innerHTML = (all ? '<option value="">All namespaces</option>' : "") + names.map((n) =>
      `<option ${n === app.ns ? "selected" : ""}>${esc(n)}</option>`).join("");
  };
  if (app.cluster.ns) { fill([app.cluster.ns], false); return; } // a one-namespace context
  const col = app.cluster.col("namespaces");
  col.subscribe(() => fill(col.list().map((n) => n.metadata.name).sort(), true));
}

function showSignIn(message = "") {
  routeSeq++; // a view still loading must not mount over the form
  if (app.unmount) { app.unmount(); app.unmount = null; }
  $("view").innerHTML = "";
  $("signin").hidden = false;
  $("nav").hidden = true;
  $("ctxbar").hidden = true;
  $("signin-error").textContent = message;
  $("si-token").focus();
}

async function route() {
  if (!app.api) return;
  if (app.unmount) { app.unmount(); app.unmount = null; }
  const seq = ++routeSeq;
  $("view").innerHTML = ""; // the old view is unmounted: no dead controls while the next one loads
  const parts = (location.hash.replace(/^#\/?/, "") || "overview").split("/").map(decodeURIComponent);
  const view = await (ROUTES[parts[0]] || ROUTES.overview)();
  if (seq !== routeSeq || !app.api) return; // the user moved on (or signed out) meanwhile
  const el = $("view");
  el.innerHTML = "";
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.getAttribute("href") === `#/${parts[0]}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  app.unmount = view.mount(el, app, parts.slice(1)) || null;
}

function init() {
  $("signin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    const ctx = { name: f.name.value.trim() || "local", server: f.server.value.trim(), namespace: f.namespace.value.trim(),
      token: f.cert.checked ? "" : f.token.value.trim() };
    $("signin-error").textContent = "";
    try {
      await signIn(ctx);
      contexts.upsert(ctx);
      fillContexts();
      f.token.value = "";
    } catch (e) {
      app.api = null;
      $("signin-error").textContent = e.status === 401 ? "Sign-in failed: the server did not accept these credentials."
        : `Sign-in failed: ${e.message}`;
    }
  });
  $("kc-file").addEventListener("change", async (ev) => {
    const file = ev.target.files && ev.target.files[0];
    if (file) $("kc-text").value = await file.text();
  });
  $("kubeconfig-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const out = $("kubeconfig-result");
    let parsed;
    try {
      const { load } = await import("../vendor/js-yaml.mjs");
      parsed = contexts.fromKubeconfig(load($("kc-text").value));
    } catch (e) { out.textContent = `Not a kubeconfig: ${e.message}`; return; }
    const skipped = parsed.skipped.map((s) => `${s.name} (${s.why})`).join(", ");
    if (!parsed.imported.length) { out.textContent = `No usable context${skipped ? `: skipped ${skipped}` : ""}.`; return; }
    for (const c of parsed.imported) contexts.upsert(c);
    contexts.setCurrent(parsed.current);
    $("kc-text").value = "";
    out.textContent = `Imported ${parsed.imported.map((c) => c.name).join(", ")}${skipped ? `; skipped ${skipped}` : ""}.`;
    try { await signIn(contexts.current()); fillContexts(); } catch (e) {
      showSignIn(`Could not use context ${parsed.current}: ${e.message}`);
    }
  });
  $("signout").addEventListener("click", () => {
    const cur = contexts.current();
    if (cur) contexts.remove(cur.name);
    if (app.cluster) app.cluster.close();
    app.api = null; app.cluster = null;
    showSignIn();
  });
  $("ctx-select").addEventListener("change", async (ev) => {
    if (ev.target.value === "__add") { showSignIn(); return; }
    contexts.setCurrent(ev.target.value);
    try { await signIn(contexts.current()); } catch (e) { showSignIn(`Could not use this context: ${e.message}`); }
  });
  $("ns-select").addEventListener("change", (ev) => { app.ns = ev.target.value; route(); });
  window.addEventListener("hashchange", route);
  window.addEventListener("resize", () => scrollFocus($("view")));
  const cur = contexts.current();
  if (cur) signIn(cur).catch((e) => showSignIn(`Please sign in again: ${e.message}`));
  else showSignIn();
}

init();
