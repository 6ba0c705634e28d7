// Live log tail of one container: pods/log?follow=true streamed with fetch(); previous instance,
// search (filters the shown lines), and a line cap so a chatty container cannot eat the tab.

import { ApiError } from "../api.js";
import { esc } from "../ui.js";

const MAX_LINES = 5000;

export function mount(el, app, [ns, pod, container]) {
  el.innerHTML = `<h2>Logs: ${esc(ns)}/${esc(pod)} <span class="kind">${esc(container)}</span></h2>
    <form class="toolbar" id="lg-form">
      <label class="check"><input type="checkbox" id="lg-follow" checked> Follow</label>
      <label class="check"><input type="checkbox" id="lg-prev"> Previous instance</label>
      <label for="lg-search">Search</label><input id="lg-search" type="search" autocomplete="off">
      <span id="lg-count" class="muted" aria-live="polite"></span>
    </form>
    <p id="lg-error" class="error" role="alert"></p>
    <pre id="lg-out" class="logs" role="log" tabindex="0" aria-label="Log output"></pre>`;
  const out = el.querySelector("#lg-out"), err = el.querySelector("#lg-error");
  const follow = el.querySelector("#lg-follow"), prev = el.querySelector("#lg-prev"), search = el.querySelector("#lg-search");
  let lines = [], partial = "", abort = null, scheduled = false;

  function render() {
    scheduled = false;
    const q = search.value.toLowerCase();
    const shown = q ? lines.filter((l) => l.toLowerCase().includes(q)) : lines;
    const atEnd = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
    out.textContent = shown.join("\n") + (shown.length ? "\n" : "");
    el.querySelector("#lg-count").textContent = q ? `${shown.length} of ${lines.length} lines match` : `${lines.length} lines`;
    if (atEnd && follow.checked) out.scrollTop = out.scrollHeight;
  }
  const schedule = () => { if (!scheduled) { scheduled = true; requestAnimationFrame(render); } };

  async function start() {
    if (abort) abort.abort();
    abort = new AbortController();
    const mine = abort;
    lines = []; partial = ""; err.textContent = "";
    schedule();
    const params = new URLSearchParams({ container, tailLines: "1000" });
    if (follow.checked && !prev.checked) params.set("follow", "true");
    if (prev.checked) params.set("previous", "true");
    const path = `/api/v1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(pod)}/log?${params}`;
    try {
      await app.api.stream(path, (text) => {
        const parts = (partial + text).split("\n");
        partial = parts.pop();
        lines.push(...parts);
        if (lines.length > MAX_LINES) lines = lines.slice(lines.length - MAX_LINES);
        schedule();
      }, abort.signal);
      if (partial) { lines.push(partial); partial = ""; schedule(); }
    } catch (e) {
      if (e.name === "AbortError") return;
      err.textContent = e.message;
      // a dropped connection (not a Status from the server) while following: pick up again
      if (!(e instanceof ApiError) && follow.checked && !prev.checked && abort === mine) {
        setTimeout(() => { if (abort === mine) start(); }, 1000);
      }
    }
  }
  follow.addEventListener("change", start);
  prev.addEventListener("change", start);
  search.addEventListener("input", schedule);
  el.querySelector("#lg-form").addEventListener("submit", (e) => e.preventDefault());
  start();
  return () => { if (abort) abort.abort(); };
}
