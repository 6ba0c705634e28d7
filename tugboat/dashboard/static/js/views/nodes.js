// Nodes with their pods, and the node actions (cordon, uncordon, drain).

import { badge, esc, objLink, podStatus, renderInto } from "../ui.js";
import { nodeReady, nodeRows } from "./overview.js";
import { cordon, drain } from "../actions.js";

export function mount(el, app) {
  const nodes = app.cluster.col("nodes"), pods = app.cluster.col("pods");
  el.innerHTML = `<h2>Nodes</h2><p id="nd-msg" role="status"></p><div id="nd-list"></div>`;
  const list = el.querySelector("#nd-list"), msg = el.querySelector("#nd-msg");
  function render() {
    const ps = pods.list();
    renderInto(list, nodes.list().sort((a, b) => a.metadata.name.localeCompare(b.metadata.name)).map((n) => {
      const name = n.metadata.name;
      const mine = ps.filter((p) => p.spec.nodeName === name);
      return `<section class="card" aria-label="Node ${esc(name)}"><h3>${objLink("Node", n)} ${nodeReady(n).split(",").map(badge).join(" ")}</h3>
        <div class="actions">
          <button type="button" data-act="${n.spec.unschedulable ? "uncordon" : "cordon"}" data-node="${esc(name)}" data-key="c-${esc(name)}">${n.spec.unschedulable ? "Uncordon" : "Cordon"}</button>
          <button type="button" data-act="drain" data-node="${esc(name)}" data-key="d-${esc(name)}">Drain</button>
        </div>
        <table><tbody>${nodeRows([n], ps, new Map())}</tbody></table>
        <details><summary>${mine.length} pods</summary><ul>${mine.map((p) => `<li>${objLink("Pod", p, `${p.metadata.namespace}/${p.metadata.name}`)} ${badge(podStatus(p))}</li>`).join("")}</ul></details>
      </section>`;
    }).join("") || "<p>No nodes.</p>");
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
  const unsub = [nodes, pods].map((c) => c.subscribe(render));
  render();
  return () => unsub.forEach((u) => u());
}
