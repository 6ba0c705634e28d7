// One object: its YAML (view, edit, apply by PUT — the server validates and its Status message
// is shown), conditions, owner and dependents, events, and the actions its kind supports.
// The object itself is watched (fieldSelector metadata.name) so the page stays live.

import { dump, load } from "../../vendor/js-yaml.mjs";
import { ApiError } from "../api.js";
import { cordon, drain, objPath, remove, restart, rollback, scale } from "../actions.js";
import { KIND_INFO, age, badge, esc, objHref, objLink, renderInto, announce, scrollFocus } from "../ui.js";
import { evTime } from "./overview.js";

const SCALABLE = new Set(["Deployment", "StatefulSet", "ReplicaSet"]);
const RESTARTABLE = new Set(["Deployment", "StatefulSet", "DaemonSet"]);

export function yamlOf(obj) {
  const o = { ...obj, metadata: { ...obj.metadata } };
  delete o.metadata.managedFields;
  return dump(o, { noRefs: true, lineWidth: 120 });
}

// What a user edits: everything but status and the server-maintained metadata.
export function userFields(o) {
  const { resourceVersion, managedFields, generation, ...meta } = o.metadata;
  void resourceVersion; void managedFields; void generation;
  return JSON.stringify({ ...o, status: undefined, metadata: meta });
}

function actionsHtml(kind, o) {
  const b = [];
  if (SCALABLE.has(kind)) {
    b.push(`<label for="act-replicas">Replicas</label><input id="act-replicas" type="number" min="0" value="${esc(o.spec.replicas ?? 1)}" size="4">
      <button type="button" data-act="scale">Scale</button>`);
  }
  if (RESTARTABLE.has(kind)) b.push('<button type="button" data-act="restart">Restart rollout</button>');
  if (kind === "Deployment") b.push('<button type="button" data-act="rollback">Roll back</button>');
  if (kind === "Node") {
    b.push(`<button type="button" data-act="${o.spec.unschedulable ? "uncordon" : "cordon"}">${o.spec.unschedulable ? "Uncordon" : "Cordon"}</button>`);
    b.push('<button type="button" data-act="drain">Drain</button>');
  }
  if (kind === "Pod") {
    for (const c of o.spec.containers || []) {
      const q = [o.metadata.namespace, o.metadata.name, c.name].map(encodeURIComponent).join("/");
      b.push(`<a class="button" href="#/logs/${q}">Logs: ${esc(c.name)}</a> <a class="button" href="#/shell/${q}">Shell: ${esc(c.name)}</a>`);
    }
  }
  b.push('<button type="button" class="danger" data-act="delete">Delete</button>');
  return b.join(" ");
}

function relationsHtml(app, o) {
  const owners = (o.metadata.ownerReferences || []).map((r) => KIND_INFO[r.kind]
    ? `<li><a href="${objHref(r.kind, o.metadata.namespace, r.name)}">${esc(r.kind)}/${esc(r.name)}</a></li>`
    : `<li>${esc(r.kind)}/${esc(r.name)}</li>`).join("");
  const deps = [];
  for (const [kind, col] of [["ReplicaSet", "replicasets"], ["Pod", "pods"], ["Job", "jobs"]]) {
    for (const d of app.cluster.col(col).list(o.metadata.namespace)) {
      if ((d.metadata.ownerReferences || []).some((r) => r.uid === o.metadata.uid)) deps.push(`<li>${esc(kind)}/${objLink(kind, d)}</li>`);
    }
  }
  return `<h4>Owner</h4><ul>${owners || "<li>none</li>"}</ul><h4>Dependents</h4><ul id="dt-deps">${deps.join("") || "<li>none</li>"}</ul>`;
}

function conditionsHtml(o) {
  const cs = (o.status || {}).conditions || [];
  if (!cs.length) return "<p>No conditions.</p>";
  return `<table><thead><tr><th scope="col">Type</th><th scope="col">Status</th><th scope="col">Reason</th><th scope="col">Message</th><th scope="col">Age</th></tr></thead><tbody>
    ${cs.map((c) => `<tr><td>${esc(c.type)}</td><td>${badge(c.status)}</td><td>${esc(c.reason)}</td><td>${esc(c.message)}</td><td>${esc(age(c.lastTransitionTime))}</td></tr>`).join("")}</tbody></table>`;
}

export function mount(el, app, [kind, ns0, name]) {
  const ns = ns0 === "-" ? "" : ns0;
  if (!KIND_INFO[kind]) { el.innerHTML = `<p class="error">Unknown kind ${esc(kind)}</p>`; return null; }
  const path = objPath(kind, ns, name);
  const abort = new AbortController();
  let obj = null, dirty = false, base = null; // base: the object the editor's text came from
  let actsHtml = "";
  let gone = false; // the watch saw it deleted: that news outlives any later action message
  el.innerHTML = `<h2><span class="kind">${esc(kind)}</span> ${esc(ns ? ns + "/" : "")}${esc(name)}</h2>
    <p id="dt-msg" role="status"></p>
    <div class="grid2">
      <section aria-labelledby="dt-h-act" class="card"><h3 id="dt-h-act">Actions</h3><div id="dt-actions" class="actions"></div></section>
      <section aria-labelledby="dt-h-rel" class="card"><h3 id="dt-h-rel">Relations</h3><div id="dt-rel"></div></section>
    </div>
    <section aria-labelledby="dt-h-cond"><h3 id="dt-h-cond">Conditions</h3><div id="dt-cond" class="scroll" role="region" aria-labelledby="dt-h-cond"></div></section>
    <section aria-labelledby="dt-h-yaml"><h3 id="dt-h-yaml">YAML</h3>
      <label for="dt-yaml" class="sr-only">YAML of ${esc(kind)} ${esc(name)}</label>
      <textarea id="dt-yaml" spellcheck="false" rows="24"></textarea>
      <div class="actions"><button type="button" id="dt-apply">Apply</button> <button type="button" id="dt-reset">Discard changes</button></div>
      <p id="dt-yaml-error" class="error" role="alert"></p><p id="dt-yaml-ok" role="status"></p></section>
    <section aria-labelledby="dt-h-ev"><h3 id="dt-h-ev">Events</h3><ul id="dt-events" class="events"></ul></section>`;
  const $ = (s) => el.querySelector(s);
  const msg = $("#dt-msg"), ta = $("#dt-yaml"), yerr = $("#dt-yaml-error"), yok = $("#dt-yaml-ok");
  ta.addEventListener("input", () => { dirty = true; });

  function render() {
    if (!obj || abort.signal.aborted) return; // a GET that resolves after the user left
    // redraw the actions only when they change and the user is not using them: a status update
    // from a controller must not reset the replica count being typed
    const acts = $("#dt-actions"), html = actionsHtml(kind, obj);
    if (html !== actsHtml && !acts.contains(document.activeElement)) { acts.innerHTML = html; actsHtml = html; }
    renderInto($("#dt-rel"), relationsHtml(app, obj));
    renderInto($("#dt-cond"), conditionsHtml(obj));
    scrollFocus(el);
    if (!dirty) { ta.value = yamlOf(obj); base = obj; }
    const evs = app.cluster.col("events").list(ns).filter((e) => e.involvedObject.uid === obj.metadata.uid
      || (e.involvedObject.kind === kind && e.involvedObject.name === name))
      .sort((a, b) => evTime(b).localeCompare(evTime(a)));
    renderInto($("#dt-events"), evs.map((e) => `<li>${badge(e.type === "Warning" ? e.reason : "Normal")} ${e.type === "Warning" ? "" : esc(e.reason)}
      <span class="muted">${esc(age(evTime(e)))}${e.count > 1 ? ` (x${e.count})` : ""}</span> ${esc(e.message)}</li>`).join("") || "<li>No events.</li>");
  }

  async function follow() {
    const coll = path.slice(0, path.lastIndexOf("/")) + `?fieldSelector=${encodeURIComponent("metadata.name=" + name)}`;
    while (!abort.signal.aborted) {
      try {
        obj = await app.api.get(path);
        render();
        await app.api.watch(coll, obj.metadata.resourceVersion, (ev) => {
          if (ev.type === "MODIFIED" || ev.type === "ADDED") { obj = ev.object; render(); }
          if (ev.type === "DELETED") { gone = true; msg.textContent = `${kind} ${name} was deleted.`; announce(msg.textContent); }
        }, abort.signal);
      } catch (e) {
        if (abort.signal.aborted) return;
        msg.textContent = e.status === 404 ? `${kind} ${name} not found.` : `Error: ${e.message}`;
        await new Promise((r) => setTimeout(r, 3000));
      }
    }
  }

  $("#dt-apply").addEventListener("click", async () => {
    yerr.textContent = ""; yok.textContent = "";
    let edited;
    try { edited = load(ta.value); } catch (e) { yerr.textContent = `YAML syntax error: ${e.message}`; return; }
    if (edited && edited.metadata && base && obj && edited.metadata.resourceVersion === base.metadata.resourceVersion
        && userFields(obj) === userFields(base)) {
      edited.metadata.resourceVersion = obj.metadata.resourceVersion; // only status moved meanwhile: no conflict
    }
    try {
      try {
        obj = await app.api.put(path, edited);
      } catch (e) {
        // 409: someone wrote since the editor was filled. If only status / server fields moved
        // (a controller reporting progress), the user's edit is still on top of the latest: retry once.
        if (!(e instanceof ApiError) || e.status !== 409 || !base) throw e;
        const latest = await app.api.get(path);
        if (userFields(latest) !== userFields(base)) throw e;
        edited.metadata.resourceVersion = latest.metadata.resourceVersion;
        obj = await app.api.put(path, edited);
      }
      dirty = false;
      yok.textContent = `${kind} ${name} updated (resourceVersion ${obj.metadata.resourceVersion}).`;
      render();
    } catch (e) {
      yerr.textContent = e instanceof ApiError ? `${e.message}` : `Error: ${e.message}`;
    }
  });
  $("#dt-reset").addEventListener("click", () => { dirty = false; yerr.textContent = ""; render(); });

  $("#dt-actions").addEventListener("click", async (ev) => {
    const b = ev.target.closest("button[data-act]");
    if (!b) return;
    const act = b.dataset.act;
    try {
      if (act === "scale") { const n = parseInt($("#act-replicas").value, 10); await scale(app.api, kind, ns, name, n); msg.textContent = `${kind} ${name} scaled to ${n}`; }
      if (act === "restart") { await restart(app.api, kind, ns, name); msg.textContent = `${kind} ${name} restarted`; }
      if (act === "rollback") msg.textContent = await rollback(app.api, ns, name);
      if (act === "cordon" || act === "uncordon") { await cordon(app.api, name, act === "cordon"); msg.textContent = `node/${name} ${act}ed`; }
      if (act === "drain") msg.textContent = await drain(app.api, name, app.cluster.col("pods").list());
      if (act === "delete") {
        if (!confirm(`Delete ${kind} ${name}?`)) return;
        await remove(app.api, kind, ns, name);
        msg.textContent = gone ? `${kind} ${name} was deleted.` : `${kind} ${name} deleted`;
      }
      announce(msg.textContent);
    } catch (e) { msg.textContent = `Error: ${e.message}`; }
  });

  const unsub = ["events", "pods", "replicasets", "jobs"].map((k) => app.cluster.col(k).subscribe(render));
  follow();
  return () => { abort.abort(); unsub.forEach((u) => u()); };
}
