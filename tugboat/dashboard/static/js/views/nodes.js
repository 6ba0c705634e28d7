// Nodes with their pods, and the node actions (cordon, uncordon, drain). Keyed updates (dom.js):
// a node's card and each pod row are replaced only when they change, so a cluster of 1 000 pods
// under churn costs a few rows per frame and a focused button keeps its focus.

import { badge, esc, objLink, podStatus, scrollFocus, throttledRender } from "../ui.js";
import { nodeReady, nodeRows, requestsByNode } from "./overview.js";
import { patchChildren, slot } from "../dom.js";
import { cordon, drain } from "../actions.js";

const byName = (a, b) => a.metadata.name.localeCompare(b.metadata.name);

export function nodeCards(nodes, pods) {
  const alloc = requestsByNode(pods);
  const byNode = new Map();
  for (const p of pods) {
    const n = p.spec.nodeName;
    if (!n) continue;
    let l = byNode.get(n);
    if (!l) byNode.set(n, (l = []));
    l.push(p);
  }
  return nodes.sort(byName).map((n) => {
    const name = n.metadata.name, mine = byNode.get(name) || [];
    const act = n.spec.unschedulable ? "uncordon" : "cordon";
    return { key: name, kids: mine.map((p) => ({ key: p.metadata.uid,
      html: `<li>${objLink("Pod", p, `${p.metadata.namespace}/${p.metadata.name}`)} ${badge(podStatus(p))}</li>` })),
    html: `<section class="card" aria-label="Node ${esc(name)}"><h3>${objLink("Node", n)} ${nodeReady(n).split(",").map(badge).join(" ")}</h3>
        <div class="actions">
          <button type="button" data-act="${act}" data-node="${esc(name)}" data-key="c-${esc(name)}">${act === "cordon" ? "Cordon" : "Uncordon"}</button>
          <button type="button" data-act="drain" data-node="${esc(name)}" data-key="d-${esc(name)}">Drain</button>
        </div>
        <div class="scroll" role="region" aria-label="Capacity of ${esc(name)}"><table><caption class="sr-only">Capacity of ${esc(name)}</caption><thead><tr><th scope="col">Node</th><th scope="col">Status</th>
        <th scope="col">CPU requested</th><th scope="col">Memory requested</th><th scope="col">CPU used</th>
        <th scope="col">Memory used</th><th scope="col">Pods</th></tr></thead><tbody>${nodeRows([n], [], new Map(), alloc)}</tbody></table></div>
        <details><summary>${mine.length} pods</summary>${slot("")}</details>
      </section>` };
  });
}

export function mount(el, app) {
  const nodes = app.cluster.col("nodes"), pods = app.cluster.col("pods");
  el.innerHTML = `<h2>Nodes</h2><p id="nd-msg" role="status"></p><div id="nd-list"></div>`;
  const list = el.querySelector("#nd-list"), msg = el.querySelector("#nd-msg");
  function render() {
    const cards = nodeCards(nodes.list(), pods.list());
    patchChildren(list, cards.length ? cards : [{ key: "", html: "<p>No nodes.</p>" }]);
    scrollFocus(list);
  }
  list.addEventListener("click", async (ev) => {
    const b = ev.target.closest("button[data-act]");
    if (!b) return;
    const node = b.dataset.node;
    try {
      if (b.dataset.act === "drain") {
        if (!confirm(`Drain ${node}? Its pods are evicted (DaemonSet pods stay).`)) return;
        msg.textContent = await drain(app.api, node, pods.list());
      } else {
        await cordon(app.api, node, b.dataset.act === "cordon");
        msg.textContent = `node/${node} ${b.dataset.act}ed`;
      }
    } catch (e) { msg.textContent = `Error: ${e.message}`; }
  });
  const later = throttledRender(render);
  const unsub = [nodes, pods].map((c) => c.subscribe(later));
  render();
  return () => unsub.forEach((u) => u());
}
