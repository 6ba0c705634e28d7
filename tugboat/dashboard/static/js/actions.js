// Object actions, each the same API calls kubectl makes: scale (the scale subresource),
// rollout restart (the restartedAt template annotation), rollout undo (the previous
// ReplicaSet's template), delete (background propagation), cordon and drain (evictions).

import { resPath } from "./api.js";
import { KIND_INFO } from "./ui.js";

export function objPath(kind, ns, name, sub) {
  const [v, plural, namespaced] = KIND_INFO[kind];
  return resPath(v, plural, namespaced ? ns : "", name, sub);
}

export function scale(api, kind, ns, name, replicas) {
  return api.mergePatch(objPath(kind, ns, name, "scale"), { spec: { replicas } });
}

export function restart(api, kind, ns, name) {
  const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  return api.mergePatch(objPath(kind, ns, name),
    { spec: { template: { metadata: { annotations: { "kubectl.kubernetes.io/restartedAt": now } } } } });
}

const REV = "deployment.kubernetes.io/revision";

// `kubectl rollout undo deployment/x`: the ReplicaSet with the highest revision below the current.
export async function rollback(api, ns, name) {
  const d = await api.get(objPath("Deployment", ns, name));
  const rsList = await api.get(objPath("ReplicaSet", ns, "") + "?limit=500");
  const mine = rsList.items.filter((rs) => (rs.metadata.ownerReferences || []).some((r) => r.uid === d.metadata.uid));
  const cur = parseInt((d.metadata.annotations || {})[REV] || "0", 10);
  const prev = mine.map((rs) => [parseInt((rs.metadata.annotations || {})[REV] || "0", 10), rs])
    .filter(([rev]) => rev > 0 && rev < cur).sort((a, b) => b[0] - a[0])[0];
  if (!prev) throw new Error(`no rollout history found for deployment "${name}"`);
  const template = JSON.parse(JSON.stringify(prev[1].spec.template));
  if (template.metadata && template.metadata.labels) delete template.metadata.labels["pod-template-hash"];
  await api.jsonPatch(objPath("Deployment", ns, name), [
    { op: "test", path: "/metadata/resourceVersion", value: d.metadata.resourceVersion },
    { op: "replace", path: "/spec/template", value: template },
  ]);
  return `deployment.apps/${name} rolled back to revision ${prev[0]}`;
}

export function remove(api, kind, ns, name) {
  return api.del(objPath(kind, ns, name), { kind: "DeleteOptions", apiVersion: "v1", propagationPolicy: "Background" });
}

export function cordon(api, node, on) {
  return api.mergePatch(objPath("Node", "", node), { spec: { unschedulable: on ? true : null } });
}

// `kubectl drain --ignore-daemonsets --delete-emptydir-data`: cordon, then evict every other pod.
export async function drain(api, node, pods) {
  await cordon(api, node, true);
  const victims = pods.filter((p) => p.spec.nodeName === node && !p.metadata.deletionTimestamp
    && !(p.metadata.ownerReferences || []).some((r) => r.kind === "DaemonSet")
    && !(p.metadata.annotations || {})["kubernetes.io/config.mirror"]
    && !["Succeeded", "Failed"].includes((p.status || {}).phase));
  const failed = [];
  for (const p of victims) {
    const { namespace: ns, name } = p.metadata;
    try {
      await api.post(objPath("Pod", ns, name, "eviction"),
        { apiVersion: "policy/v1", kind: "Eviction", metadata: { name, namespace: ns } });
    } catch (e) { failed.push(`${ns}/${name}: ${e.message}`); }
  }
  return failed.length ? `node/${node} cordoned; could not evict: ${failed.join("; ")}`
    : `node/${node} drained (${victims.length} pods evicted)`;
}
