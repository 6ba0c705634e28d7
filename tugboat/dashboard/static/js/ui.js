// Small DOM helpers shared by the views: escaping (every API string goes through esc),
// status colours, ages, quantities, and a render loop that coalesces changes per frame.

export function esc(v) {
  return String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

export function age(ts) {
  if (!ts) return "";
  const s = Math.max(0, (Date.now() - Date.parse(ts)) / 1000);
  if (s < 120) return `${Math.floor(s)}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

// An age that keeps ticking without changing the row's html (dom.js keeps rows whose html is
// unchanged; an age in seconds inside it would replace every young pod's row every second).
export function ageTag(ts) { return `<time data-age datetime="${esc(ts || "")}"></time>`; }
export function tickAges(root) {
  for (const t of root.querySelectorAll("time[data-age]")) {
    const a = age(t.getAttribute("datetime"));
    if (t.textContent !== a) t.textContent = a;
  }
}

// Pod status the way kubectl's STATUS column shows it (waiting/terminated reason wins).
export function podStatus(p) {
  if (p.metadata.deletionTimestamp) return "Terminating";
  const st = p.status || {};
  for (const c of st.containerStatuses || []) {
    const s = c.state || {};
    if (s.waiting && s.waiting.reason) return s.waiting.reason;
    if (s.terminated && s.terminated.reason && st.phase !== "Succeeded") return s.terminated.reason;
  }
  return st.reason || st.phase || "Pending";
}

export function restarts(p) {
  return ((p.status || {}).containerStatuses || []).reduce((n, c) => n + (c.restartCount || 0), 0);
}

const GOOD = new Set(["Running", "Succeeded", "Completed", "Ready", "True", "Bound", "Available", "Complete"]);
const WARN = new Set(["Pending", "ContainerCreating", "Terminating", "Unknown", "Progressing", "SchedulingDisabled"]);
export function tone(status) {
  if (GOOD.has(status)) return "ok";
  if (WARN.has(status)) return "warn";
  return "bad";
}
export function badge(status) {
  return `<span class="badge ${tone(status)}">${esc(status)}</span>`;
}

// Quantities: CPU in cores, memory in bytes.
const SUFFIX = { n: 1e-9, u: 1e-6, m: 1e-3, "": 1, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15,
  Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, Pi: 1024 ** 5 };
export function qty(s) {
  if (s === undefined || s === null || s === "") return 0;
  const m = /^([0-9.]+(?:e[0-9]+)?)([a-zA-Z]*)$/.exec(String(s));
  if (!m) return 0;
  return parseFloat(m[1]) * (SUFFIX[m[2]] ?? 1);
}
export function fmtCpu(cores) { return cores < 1 ? `${Math.round(cores * 1000)}m` : `${+cores.toFixed(2)}`; }
export function fmtMem(bytes) {
  const u = ["B", "Ki", "Mi", "Gi", "Ti"];
  let i = 0;
  while (bytes >= 1024 && i < u.length - 1) { bytes /= 1024; i++; }
  return `${+bytes.toFixed(1)}${u[i]}`;
}
export function pct(a, b) { return b > 0 ? Math.round((a / b) * 100) : 0; }
export function meter(label, used, total, fmt) {
  const p = Math.min(100, pct(used, total));
  return `<div class="meter" role="meter" aria-label="${esc(label)}" aria-valuemin="0" aria-valuemax="100" aria-valuenow="${p}">
    <span style="width:${p}%" class="${p > 90 ? "bad" : p > 70 ? "warn" : "ok"}"></span></div>
    <small>${esc(fmt(used))} / ${esc(fmt(total))} (${p}%)</small>`;
}

// Re-render at most once per frame, keep the focused element (by data-key) focused.
export function renderInto(el, html) {
  const active = document.activeElement;
  const key = active && el.contains(active) ? active.getAttribute("data-key") : null;
  el.innerHTML = html;
  if (key) {
    const again = el.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (again) again.focus();
  }
}

export function announce(msg) {
  const live = document.getElementById("live");
  if (live) live.textContent = msg;
}

// kind -> [apiVersion, plural, namespaced]
export const KIND_INFO = {
  Pod: ["v1", "pods", true], Node: ["v1", "nodes", false], Service: ["v1", "services", true],
  PersistentVolumeClaim: ["v1", "persistentvolumeclaims", true], PersistentVolume: ["v1", "persistentvolumes", false],
  Namespace: ["v1", "namespaces", false], Event: ["v1", "events", true], ConfigMap: ["v1", "configmaps", true],
  Deployment: ["apps/v1", "deployments", true], ReplicaSet: ["apps/v1", "replicasets", true],
  StatefulSet: ["apps/v1", "statefulsets", true], DaemonSet: ["apps/v1", "daemonsets", true],
  Job: ["batch/v1", "jobs", true], CronJob: ["batch/v1", "cronjobs", true],
};

export function objHref(kind, ns, name) {
  return `#/object/${encodeURIComponent(kind)}/${encodeURIComponent(ns || "-")}/${encodeURIComponent(name)}`;
}

export function objLink(kind, o, label) {
  const m = o.metadata;
  return `<a href="${objHref(kind, m.namespace, m.name)}" data-key="${esc(kind + "/" + (m.namespace || "") + "/" + m.name)}">${esc(label ?? m.name)}</a>`;
}

// A render function that adapts to its own cost: a render that took d ms is not repeated within
// 4·d ms, so a 1 000-pod tree under 200 changes/s leaves most of each second to the user.
export function throttledRender(fn) {
  let last = 0, cost = 0, timer = null, frame = false;
  const run = () => {
    timer = null; frame = false;
    const t0 = performance.now();
    fn();
    last = performance.now();
    cost = last - t0;
  };
  return () => {
    if (timer || frame) return;
    const wait = last + 4 * cost - performance.now();
    if (wait > 0) timer = setTimeout(run, wait);
    else { frame = true; requestAnimationFrame(run); }
  };
}

// A box that scrolls sideways (a wide table on a phone) must be reachable by keyboard; one that
// fits needs no extra tab stop. Views call this after rendering; app.js on resize.
export function scrollFocus(root = document) {
  for (const el of root.querySelectorAll(".scroll")) {
    if (el.scrollWidth > el.clientWidth + 1) el.setAttribute("tabindex", "0");
    else el.removeAttribute("tabindex");
  }
}
