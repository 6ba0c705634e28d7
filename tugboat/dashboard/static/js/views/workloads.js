// Workloads as a tree: Deployment → ReplicaSet → Pod → containers, StatefulSet / DaemonSet → Pod,
// CronJob → Job → Pod, Services → the pods they select, PVC → PV. Ownership is by
// ownerReferences uid (what the garbage collector follows), selection by the Service selector.

import { badge, esc, objLink, podStatus, renderInto, restarts, age, throttledRender } from "../ui.js";

const WORKLOAD_KINDS = ["deployments", "replicasets", "statefulsets", "daemonsets", "jobs", "cronjobs", "pods",
  "services", "pvcs", "pvs"];

export function byOwner(objs) {
  const m = new Map();
  for (const o of objs) {
    for (const ref of o.metadata.ownerReferences || []) {
      if (!ref.controller) continue;
      let l = m.get(ref.uid);
      if (!l) m.set(ref.uid, (l = []));
      l.push(o);
    }
  }
  return m;
}

export function selects(selector, labels) {
  if (!selector || !Object.keys(selector).length) return false;
  labels = labels || {};
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

const byName = (a, b) => a.metadata.name.localeCompare(b.metadata.name);

function containerItems(p) {
  const statuses = new Map(((p.status || {}).containerStatuses || []).map((c) => [c.name, c]));
  const ns = p.metadata.namespace, name = p.metadata.name;
  return (p.spec.containers || []).map((c) => {
    const s = statuses.get(c.name) || {};
    const state = s.state ? Object.keys(s.state)[0] : "waiting";
    const st = state === "running" ? (s.ready ? "Ready" : "Running") : ((s.state || {})[state] || {}).reason || state;
    const q = `${encodeURIComponent(ns)}/${encodeURIComponent(name)}/${encodeURIComponent(c.name)}`;
    return `<li class="leaf" data-container="${esc(c.name)}"><span class="kind">container</span> ${esc(c.name)}
      ${badge(st)} <span class="muted">${esc(c.image)}</span> <span class="restarts">${s.restartCount || 0} restarts</span>
      <a href="#/logs/${q}">Logs</a> <a href="#/shell/${q}">Shell</a></li>`;
  }).join("");
}

export function podNode(p, open) {
  const st = podStatus(p);
  const uid = p.metadata.uid;
  return `<li><details data-uid="${esc(uid)}" ${open.has(uid) ? "open" : ""}><summary data-pod="${esc(p.metadata.name)}">
    <span class="kind">Pod</span> ${objLink("Pod", p)} ${badge(st)}
    <span class="restarts">${restarts(p)} restarts</span> <span class="muted">${esc(p.spec.nodeName || "unscheduled")} · ${esc(age(p.metadata.creationTimestamp))}</span>
    </summary><ul>${containerItems(p)}</ul></details></li>`;
}

// A long pod list shows its first PAGE pods and a button for the rest: re-rendering 1 000 rows on
// every change would keep the page busy; the user asks for the long list when they want it.
export const PAGE = 50;
export function pods_(list, key, open) {
  const all = open.has("all:" + key);
  const shown = all ? list : list.slice(0, PAGE);
  let html = shown.map((p) => podNode(p, open)).join("");
  if (!all && list.length > PAGE) {
    html += `<li class="leaf"><button type="button" data-show-all="${esc(key)}" data-key="all:${esc(key)}">Show all ${list.length} pods</button></li>`;
  }
  return html;
}

function group(kind, o, status, children, open, closedByDefault = false) {
  const uid = o.metadata.uid;
  const isOpen = closedByDefault ? open.has(uid) : !open.has("closed:" + uid);
  return `<li><details data-uid="${esc(uid)}" data-default="${closedByDefault ? "closed" : "open"}" ${isOpen ? "open" : ""}>
    <summary data-obj="${esc(kind + "/" + o.metadata.name)}"><span class="kind">${kind}</span> ${objLink(kind, o)} ${status}</summary>
    <ul>${children || '<li class="leaf muted">none</li>'}</ul></details></li>`;
}

function replicasBadge(ready, want) {
  return `<span class="badge ${ready >= want ? "ok" : "warn"}" data-replicas="${ready}/${want}">${ready}/${want} ready</span>`;
}

export function buildTree(c, ns, open) {
  const L = (k) => c.col(k).list(ns).sort(byName);
  const pods = L("pods");
  const owned = byOwner([...pods, ...L("replicasets"), ...L("jobs")]);
  const kids = (o) => owned.get(o.metadata.uid) || [];
  const podList = (o) => pods_(kids(o).filter((x) => x.spec && x.spec.containers), o.metadata.uid, open);
  const out = [];
  const sec = (title, items) => out.push(`<section aria-label="${title}"><h3>${title}</h3><ul class="tree" role="list">${items || '<li class="muted">none</li>'}</ul></section>`);
  sec("Deployments", L("deployments").map((d) => {
    const st = d.status || {};
    const rss = kids(d).map((rs) => group("ReplicaSet", rs, replicasBadge((rs.status || {}).readyReplicas || 0, rs.spec.replicas ?? 0)
        + ` <span class="muted">revision ${esc((rs.metadata.annotations || {})["deployment.kubernetes.io/revision"] || "?")}</span>`,
      podList(rs), open)).join("");
    return group("Deployment", d, replicasBadge(st.readyReplicas || 0, d.spec.replicas ?? 1), rss, open);
  }).join(""));
  sec("StatefulSets", L("statefulsets").map((s) => group("StatefulSet", s,
    replicasBadge((s.status || {}).readyReplicas || 0, s.spec.replicas ?? 1), podList(s), open)).join(""));
  sec("DaemonSets", L("daemonsets").map((s) => group("DaemonSet", s,
    replicasBadge((s.status || {}).numberReady || 0, (s.status || {}).desiredNumberScheduled || 0), podList(s), open)).join(""));
  const jobsByCron = byOwner(L("jobs"));
  const jobNode = (j) => {
    const st = j.status || {};
    const done = (st.conditions || []).find((x) => (x.type === "Complete" || x.type === "Failed") && x.status === "True");
    return group("Job", j, badge(done ? done.type : st.active ? "Running" : "Pending"), podList(j), open);
  };
  sec("CronJobs", L("cronjobs").map((cj) => group("CronJob", cj,
    `<span class="muted">${esc(cj.spec.schedule)}${cj.spec.suspend ? " (suspended)" : ""}</span>`,
    (jobsByCron.get(cj.metadata.uid) || []).map(jobNode).join(""), open)).join(""));
  sec("Jobs", L("jobs").filter((j) => !(j.metadata.ownerReferences || []).some((r) => r.kind === "CronJob")).map(jobNode).join(""));
  const bare = pods.filter((p) => !(p.metadata.ownerReferences || []).some((r) => r.controller));
  sec("Standalone pods", pods_(bare, "standalone:" + ns, open));
  sec("Services", L("services").map((s) => {
    const sel = s.spec.selector;
    const picked = pods.filter((p) => p.metadata.namespace === s.metadata.namespace && selects(sel, p.metadata.labels));
    return group("Service", s, `<span class="muted">${esc(s.spec.type)} ${esc(s.spec.clusterIP || "")}</span>`,
      pods_(picked, "svc:" + s.metadata.uid, open), open, true);
  }).join(""));
  const pvs = new Map(c.col("pvs").list().map((v) => [v.metadata.name, v]));
  sec("Volume claims", L("pvcs").map((pvc) => {
    const pv = pvs.get(pvc.spec.volumeName);
    const child = pv ? `<li class="leaf"><span class="kind">PersistentVolume</span> ${objLink("PersistentVolume", pv)}
      ${badge((pv.status || {}).phase || "")} ${esc((pv.spec.capacity || {}).storage || "")}</li>` : "";
    return group("PersistentVolumeClaim", pvc, badge((pvc.status || {}).phase || "Pending"), child, open);
  }).join(""));
  return out.join("");
}

export function mount(el, app) {
  const open = new Set(); // pods: uids opened; groups: "closed:"+uid when the user closed one
  el.innerHTML = `<h2>Workloads${app.ns ? ` in ${esc(app.ns)}` : ""}</h2><div id="wl-tree"></div>`;
  const tree = el.querySelector("#wl-tree");
  tree.addEventListener("toggle", (ev) => {
    const d = ev.target, uid = d.dataset.uid;
    if (!uid) return;
    if (d.dataset.default === "open") { if (d.open) open.delete("closed:" + uid); else open.add("closed:" + uid); }
    else if (d.open) open.add(uid); else open.delete(uid);
  }, true);
  tree.addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-show-all]");
    if (b) { open.add("all:" + b.dataset.showAll); draw(); }
  });
  const draw = () => { renderInto(tree, buildTree(app.cluster, app.ns, open)); el.dataset.rendered = String(performance.now()); };
  const render = throttledRender(draw);
  const unsub = WORKLOAD_KINDS.map((k) => app.cluster.col(k).subscribe(render));
  draw();
  return () => unsub.forEach((u) => u());
}
