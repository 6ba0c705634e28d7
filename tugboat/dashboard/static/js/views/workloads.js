// Workloads as a tree: Deployment → ReplicaSet → Pod → containers, StatefulSet / DaemonSet → Pod,
// CronJob → Job → Pod, Services → the pods they select, PVC → PV. Ownership is by
// ownerReferences uid (what the garbage collector follows), selection by the Service selector.

import { ageTag, badge, esc, objLink, podStatus, restarts, throttledRender, tickAges } from "../ui.js";
import { disclosure, patchChildren, setOpen, slot } from "../dom.js";

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

const byName = (a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0);

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

// A pod's row depends only on the object (ages tick outside the html), and the watch hands over
// a new object on every change: its html is computed once per version.
const rowOf = new WeakMap();
export function podNode(p, open) {
  let html = rowOf.get(p);
  if (html === undefined) rowOf.set(p, (html = podRow(p)));
  return { key: p.metadata.uid, open: open.has(p.metadata.uid), html };
}

function podRow(p) {
  const st = podStatus(p);
  const uid = p.metadata.uid, name = p.metadata.name;
  return `<li class="pod" data-uid="${esc(uid)}" data-default="closed"><div class="row" data-pod="${esc(name)}">
    ${disclosure(`Containers of pod ${esc(name)}`)}<span class="kind">Pod</span> ${objLink("Pod", p)} ${badge(st)}
    <span class="restarts">${restarts(p)} restarts</span> <span class="muted">${esc(p.spec.nodeName || "unscheduled")} · ${ageTag(p.metadata.creationTimestamp)}</span>
    </div><ul class="sub">${containerItems(p)}</ul></li>`;
}

// A long pod list shows its first PAGE pods and a button for the rest; with the keyed updates of
// dom.js even "Show all" on 1 000 pods stays responsive, the page just keeps the default short.
export const PAGE = 50;
const NONE = { key: "none", html: '<li class="leaf muted">none</li>' };
export function pods_(list, key, open) {
  const all = open.has("all:" + key);
  const shown = all ? list : list.slice(0, PAGE);
  const nodes = shown.map((p) => podNode(p, open));
  if (!all && list.length > PAGE) {
    nodes.push({ key: "more", html: `<li class="leaf"><button type="button" data-show-all="${esc(key)}" data-key="all:${esc(key)}">Show all ${list.length} pods</button></li>` });
  }
  return nodes;
}

function group(kind, o, status, children, open, closedByDefault = false) {
  const uid = o.metadata.uid;
  const isOpen = closedByDefault ? open.has(uid) : !open.has("closed:" + uid);
  return { key: uid, open: isOpen, kids: children.length ? children : [NONE],
    html: `<li data-uid="${esc(uid)}" data-default="${closedByDefault ? "closed" : "open"}">
    <div class="row" data-obj="${esc(kind + "/" + o.metadata.name)}">${disclosure(`${kind} ${esc(o.metadata.name)}`)}<span class="kind">${kind}</span> ${objLink(kind, o)} ${status}</div>
    ${slot()}</li>` };
}

function replicasBadge(ready, want) {
  return `<span class="badge ${ready >= want ? "ok" : "warn"}" data-replicas="${ready}/${want}">${ready}/${want} ready</span>`;
}

// The whole tree as dom.js nodes: sections → groups → pods (containers are part of a pod's html).
export function buildTree(c, ns, open) {
  const L = (k) => c.col(k).list(ns).sort(byName);
  const pods = L("pods");
  const owned = byOwner([...pods, ...L("replicasets"), ...L("jobs")]);
  const kids = (o) => owned.get(o.metadata.uid) || [];
  const podList = (o) => pods_(kids(o).filter((x) => x.spec && x.spec.containers), o.metadata.uid, open);
  const out = [];
  const sec = (title, items) => out.push({ key: title, kids: items.length ? items : [NONE],
    html: `<section aria-label="${title}"><h3>${title}</h3>${slot("tree")}</section>` });
  sec("Deployments", L("deployments").map((d) => {
    const st = d.status || {};
    const rss = kids(d).map((rs) => group("ReplicaSet", rs, replicasBadge((rs.status || {}).readyReplicas || 0, rs.spec.replicas ?? 0)
        + ` <span class="muted">revision ${esc((rs.metadata.annotations || {})["deployment.kubernetes.io/revision"] || "?")}</span>`,
      podList(rs), open));
    return group("Deployment", d, replicasBadge(st.readyReplicas || 0, d.spec.replicas ?? 1), rss, open);
  }));
  sec("StatefulSets", L("statefulsets").map((s) => group("StatefulSet", s,
    replicasBadge((s.status || {}).readyReplicas || 0, s.spec.replicas ?? 1), podList(s), open)));
  sec("DaemonSets", L("daemonsets").map((s) => group("DaemonSet", s,
    replicasBadge((s.status || {}).numberReady || 0, (s.status || {}).desiredNumberScheduled || 0), podList(s), open)));
  const jobsByCron = byOwner(L("jobs"));
  const jobNode = (j) => {
    const st = j.status || {};
    const done = (st.conditions || []).find((x) => (x.type === "Complete" || x.type === "Failed") && x.status === "True");
    return group("Job", j, badge(done ? done.type : st.active ? "Running" : "Pending"), podList(j), open);
  };
  sec("CronJobs", L("cronjobs").map((cj) => group("CronJob", cj,
    `<span class="muted">${esc(cj.spec.schedule)}${cj.spec.suspend ? " (suspended)" : ""}</span>`,
    (jobsByCron.get(cj.metadata.uid) || []).map(jobNode), open)));
  sec("Jobs", L("jobs").filter((j) => !(j.metadata.ownerReferences || []).some((r) => r.kind === "CronJob")).map(jobNode));
  const bare = pods.filter((p) => !(p.metadata.ownerReferences || []).some((r) => r.controller));
  sec("Standalone pods", pods_(bare, "standalone:" + ns, open));
  sec("Services", L("services").map((s) => {
    const sel = s.spec.selector;
    const picked = pods.filter((p) => p.metadata.namespace === s.metadata.namespace && selects(sel, p.metadata.labels));
    return group("Service", s, `<span class="muted">${esc(s.spec.type)} ${esc(s.spec.clusterIP || "")}</span>`,
      pods_(picked, "svc:" + s.metadata.uid, open), open, true);
  }));
  const pvs = new Map(c.col("pvs").list().map((v) => [v.metadata.name, v]));
  sec("Volume claims", L("pvcs").map((pvc) => {
    const pv = pvs.get(pvc.spec.volumeName);
    const child = pv ? [{ key: "pv", html: `<li class="leaf"><span class="kind">PersistentVolume</span> ${objLink("PersistentVolume", pv)}
      ${badge((pv.status || {}).phase || "")} ${esc((pv.spec.capacity || {}).storage || "")}</li>` }] : [];
    return group("PersistentVolumeClaim", pvc, badge((pvc.status || {}).phase || "Pending"), child, open);
  }));
  return out;
}

export function mount(el, app) {
  const open = new Set(); // pods: uids opened; groups: "closed:"+uid when the user closed one
  el.innerHTML = `<h2>Workloads${app.ns ? ` in ${esc(app.ns)}` : ""}</h2><div id="wl-tree"></div>`;
  const tree = el.querySelector("#wl-tree");
  tree.addEventListener("click", (ev) => {
    const tw = ev.target.closest("button.tw");
    if (tw) {
      const li = tw.closest("li[data-uid]"), uid = li.dataset.uid;
      const isOpen = tw.getAttribute("aria-expanded") !== "true";
      setOpen(li, isOpen);
      if (li.dataset.default === "open") { if (isOpen) open.delete("closed:" + uid); else open.add("closed:" + uid); }
      else if (isOpen) open.add(uid); else open.delete(uid);
      return;
    }
    const b = ev.target.closest("button[data-show-all]");
    if (b) { open.add("all:" + b.dataset.showAll); draw(); }
  });
  const draw = () => {
    if (patchChildren(tree, buildTree(app.cluster, app.ns, open))) tickAges(tree);
    el.dataset.rendered = String(performance.now());
  };
  const render = throttledRender(draw);
  const unsub = WORKLOAD_KINDS.map((k) => app.cluster.col(k).subscribe(render));
  draw();
  const ticker = setInterval(() => tickAges(tree), 5000);
  return () => { unsub.forEach((u) => u()); clearInterval(ticker); };
}
