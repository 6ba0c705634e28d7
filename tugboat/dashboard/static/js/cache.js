// Live collections: list once, then watch from the list's resourceVersion; re-list on 410 Gone
// or when the stream ends. Subscribers are told at most once per animation frame, so 200 pod
// changes a second cost a handful of renders, not 200.

import { resPath } from "./api.js";

export class Collection {
  constructor(api, apiVersion, plural, ns = "") {
    this.api = api;
    this.path = resPath(apiVersion, plural, ns);
    this.items = new Map(); // "ns/name" -> object
    this.listeners = new Set();
    this.synced = false;
    this.error = null;
    this.version = 0; // bumps on every change (views memoise on it)
    this.abort = new AbortController();
    this.pending = false;
    this.run();
  }

  static key(o) { return `${o.metadata.namespace || ""}/${o.metadata.name}`; }

  subscribe(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); }

  notify() {
    this.version++;
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      for (const fn of this.listeners) fn(this);
    });
  }

  async run() {
    let delay = 500;
    while (!this.abort.signal.aborted) {
      try {
        const list = await this.api.get(this.path);
        this.items = new Map(list.items.map((o) => [Collection.key(o), o]));
        this.synced = true;
        this.error = null;
        this.notify();
        let rv = list.metadata.resourceVersion;
        let gone = false;
        while (!gone && !this.abort.signal.aborted) {
          await this.api.watch(this.path, rv, (ev) => {
            if (ev.type === "BOOKMARK") { rv = ev.object.metadata.resourceVersion; return; }
            if (ev.type === "ERROR") { gone = true; return; }
            rv = ev.object.metadata.resourceVersion;
            const k = Collection.key(ev.object);
            if (ev.type === "DELETED") this.items.delete(k); else this.items.set(k, ev.object);
            this.notify();
          }, this.abort.signal);
        }
        delay = 500;
      } catch (e) {
        if (this.abort.signal.aborted) return;
        this.error = e;
        this.notify();
        if (e.status === 401 || e.status === 403 || e.status === 404) delay = 10000;
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 10000);
      }
    }
  }

  close() { this.abort.abort(); this.listeners.clear(); }

  list(ns = "") {
    const out = [];
    for (const o of this.items.values()) if (!ns || o.metadata.namespace === ns) out.push(o);
    return out;
  }
}

// One Collection per kind for the signed-in context, opened on first use.
export const KINDS = {
  pods: ["v1", "pods"], nodes: ["v1", "nodes"], events: ["v1", "events"], namespaces: ["v1", "namespaces"],
  services: ["v1", "services"], pvcs: ["v1", "persistentvolumeclaims"], pvs: ["v1", "persistentvolumes"],
  deployments: ["apps/v1", "deployments"], replicasets: ["apps/v1", "replicasets"],
  statefulsets: ["apps/v1", "statefulsets"], daemonsets: ["apps/v1", "daemonsets"],
  jobs: ["batch/v1", "jobs"], cronjobs: ["batch/v1", "cronjobs"],
};

const CLUSTER_SCOPED = new Set(["nodes", "namespaces", "pvs"]);

// `ns`: the context's namespace, for users whose RBAC grants one namespace (a RoleBinding):
// namespaced kinds are then listed and watched in it instead of across the cluster.
export class Cluster {
  constructor(api, ns = "") { this.api = api; this.ns = ns; this.cols = new Map(); }
  col(kind) {
    let c = this.cols.get(kind);
    if (!c) {
      const [v, plural] = KINDS[kind];
      c = new Collection(this.api, v, plural, CLUSTER_SCOPED.has(kind) ? "" : this.ns);
      this.cols.set(kind, c);
    }
    return c;
  }
  close() { for (const c of this.cols.values()) c.close(); this.cols.clear(); }
}
