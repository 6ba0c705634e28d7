// Cluster overview: nodes (status, capacity, requests allocated, live usage from metrics.k8s.io),
// pods by phase, recent warning events. Counting is O(pods) per frame, never per change.

import { badge, esc, fmtCpu, fmtMem, meter, objLink, qty, renderInto, age, scrollFocus, throttledRender } from "../ui.js";
import { patchChildren } from "../dom.js";

const byName = (a, b) => a.metadata.name.localeCompare(b.metadata.name);

export function nodeReady(n) {
  const c = ((n.status || {}).conditions || []).find((x) => x.type === "Ready");
  const ready = c && c.status === "True" ? "Ready" : "NotReady";
  return n.spec && n.spec.unschedulable ? `${ready},SchedulingDisabled` : ready;
}

export function requestsByNode(pods) {
  const out = new Map();
  for (const p of pods) {
    const node = p.spec.nodeName;
    const phase = (p.status || {}).phase;
    if (!node || phase === "Succeeded" || phase === "Failed") continue;
    const r = out.get(node) || { cpu: 0, mem: 0, pods: 0 };
    for (const c of p.spec.containers || []) {
      const req = (c.resources || {}).requests || {};
      r.cpu += qty(req.cpu); r.mem += qty(req.memory);
    }
    r.pods++;
    out.set(node, r);
  }
  return out;
}

// One <tr> per node as dom.js nodes (key: node name); `alloc` may be passed in when already counted.
export function nodeRowNodes(nodes, pods, usage, alloc = requestsByNode(pods)) {
  return nodes.map((n) => ({ key: n.metadata.name, html: nodeRow(n, alloc, usage) }));
}

export function nodeRows(nodes, pods, usage, alloc = requestsByNode(pods)) {
  return nodes.map((n) => nodeRow(n, alloc, usage)).join("");
}

function nodeRow(n, alloc, usage) {
  const a = (n.status || {}).allocatable || (n.status || {}).capacity || {};
  const r = alloc.get(n.metadata.name) || { cpu: 0, mem: 0, pods: 0 };
  const u = usage.get(n.metadata.name);
  const st = nodeReady(n);
  return `<tr><th scope="row">${objLink("Node", n)}</th>
    <td>${st.split(",").map(badge).join(" ")}</td>
    <td>${meter(`CPU requested on ${n.metadata.name}`, r.cpu, qty(a.cpu), fmtCpu)}</td>
    <td>${meter(`memory requested on ${n.metadata.name}`, r.mem, qty(a.memory), fmtMem)}</td>
    <td>${u ? meter(`CPU used on ${n.metadata.name}`, qty(u.cpu), qty(a.cpu), fmtCpu) : '<span class="muted">no metrics</span>'}</td>
    <td>${u ? meter(`memory used on ${n.metadata.name}`, qty(u.memory), qty(a.memory), fmtMem) : '<span class="muted">no metrics</span>'}</td>
    <td>${r.pods} / ${esc(a.pods || "?")}</td></tr>`;
}

export function mount(el, app) {
  const c = app.cluster;
  const pods = c.col("pods"), nodes = c.col("nodes"), events = c.col("events");
  let usage = new Map();
  el.innerHTML = `<h2>Cluster overview</h2>
    <section aria-labelledby="ov-pods"><h3 id="ov-pods">Pods by phase</h3><div id="ov-phase" class="tiles"></div></section>
    <section aria-labelledby="ov-nodes"><h3 id="ov-nodes">Nodes</h3>
      <div class="scroll" role="region" aria-labelledby="ov-nodes"><table><caption class="sr-only">Nodes with capacity, requests and usage</caption>
      <thead><tr><th scope="col">Node</th><th scope="col">Status</th><th scope="col">CPU requested</th>
      <th scope="col">Memory requested</th><th scope="col">CPU used</th><th scope="col">Memory used</th>
      <th scope="col">Pods</th></tr></thead><tbody id="ov-node-rows"></tbody></table></div></section>
    <section aria-labelledby="ov-ev"><h3 id="ov-ev">Recent warning events</h3><ul id="ov-events" class="events"></ul></section>`;
  const phaseEl = el.querySelector("#ov-phase"), rowsEl = el.querySelector("#ov-node-rows");
  const evEl = el.querySelector("#ov-events");

  function render() {
    const ps = pods.list(app.ns);
    const counts = {};
    for (const p of ps) { const s = (p.status || {}).phase || "Pending"; counts[s] = (counts[s] || 0) + 1; }
    const phases = ["Running", "Pending", "Succeeded", "Failed", "Unknown"];
    renderInto(phaseEl, phases.map((ph) => `<div class="tile ${badgeTone(ph)}" data-phase="${ph}">
      <span class="num">${counts[ph] || 0}</span><span>${ph}</span></div>`).join("")
      + `<div class="tile" data-phase="total"><span class="num">${ps.length}</span><span>Total</span></div>`);
    const rows = nodeRowNodes(nodes.list().sort(byName), pods.list(), usage);
    patchChildren(rowsEl, rows.length ? rows : [{ key: "", html: '<tr><td colspan="7">No nodes.</td></tr>' }]);
    const warn = events.list(app.ns).filter((e) => e.type === "Warning")
      .sort((a, b) => evTime(b).localeCompare(evTime(a))).slice(0, 20);
    renderInto(evEl, warn.map((e) => `<li><span class="badge bad">${esc(e.reason)}</span>
      <span class="muted">${esc(age(evTime(e)))}</span> ${esc(e.involvedObject.kind)}/${esc(e.involvedObject.name)}:
      ${esc(e.message)}</li>`).join("") || "<li>No warnings.</li>");
    scrollFocus(el);
    el.dataset.rendered = String(performance.now());
  }
  async function loadMetrics() {
    try {
      const m = await app.api.get("/apis/metrics.k8s.io/v1beta1/nodes");
      usage = new Map(m.items.map((x) => [x.metadata.name, x.usage]));
      render();
    } catch { /* no metrics API: the columns say so */ }
  }
  const later = throttledRender(render); // three collections, one render per frame at most
  const unsub = [pods, nodes, events].map((col) => col.subscribe(later));
  render();
  loadMetrics();
  // metrics.k8s.io has no watch: refresh usage on a slow timer (the only timer-driven data)
  const timer = setInterval(loadMetrics, 15000);
  return () => { unsub.forEach((u) => u()); clearInterval(timer); };
}

function badgeTone(ph) { return ph === "Running" || ph === "Succeeded" ? "ok" : ph === "Pending" ? "warn" : ph === "Unknown" ? "" : "bad"; }
export function evTime(e) { return e.lastTimestamp || e.eventTime || e.metadata.creationTimestamp || ""; }
