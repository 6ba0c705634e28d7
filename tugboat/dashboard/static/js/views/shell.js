// An interactive terminal into a container: exec over WebSocket (v5/v4.channel.k8s.io), a tty,
// resize messages on channel 4, xterm.js for the screen. The token goes in the bearer
// subprotocol because browsers cannot set headers on a WebSocket.

import { Terminal } from "../../vendor/xterm.mjs";
import { esc } from "../ui.js";

const enc = new TextEncoder();

export function frame(channel, bytes) {
  const b = new Uint8Array(bytes.length + 1);
  b[0] = channel;
  b.set(bytes, 1);
  return b;
}

export function mount(el, app, [ns, pod, container]) {
  el.innerHTML = `<h2>Shell: ${esc(ns)}/${esc(pod)} <span class="kind">${esc(container)}</span></h2>
    <form class="toolbar" id="sh-form"><label for="sh-cmd">Command</label>
      <input id="sh-cmd" value="/bin/sh" autocomplete="off"> <button type="submit">Connect</button>
      <span id="sh-state" role="status" class="muted"></span></form>
    <p id="sh-error" class="error" role="alert"></p>
    <div id="sh-term" class="term" aria-label="Terminal"></div>`;
  const state = el.querySelector("#sh-state"), err = el.querySelector("#sh-error");
  const term = new Terminal({ convertEol: true, cursorBlink: true, fontSize: 14, screenReaderMode: true });
  term.open(el.querySelector("#sh-term"));
  let ws = null;
  const dec = new TextDecoder();

  function sendResize() {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(frame(4, enc.encode(JSON.stringify({ Width: term.cols, Height: term.rows }))));
  }
  function fit() {
    const box = el.querySelector("#sh-term");
    const cell = term._core && term._core._renderService ? term._core._renderService.dimensions.css.cell : null;
    if (cell && cell.width && cell.height) {
      const cols = Math.max(20, Math.floor(box.clientWidth / cell.width));
      const rows = Math.max(5, Math.floor(Math.max(box.clientHeight, 300) / cell.height));
      if (cols !== term.cols || rows !== term.rows) term.resize(cols, rows);
    }
    sendResize();
  }

  function connect(cmd) {
    if (ws) ws.close();
    err.textContent = "";
    term.reset();
    const words = cmd.trim().split(/\s+/).filter(Boolean);
    const q = new URLSearchParams({ container, stdin: "true", stdout: "true", tty: "true" });
    for (const w of words) q.append("command", w);
    const { url, protocols } = app.api.wsExec(`/api/v1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(pod)}/exec?${q}`);
    ws = new WebSocket(url, protocols);
    ws.binaryType = "arraybuffer";
    state.textContent = "connecting…";
    ws.onopen = () => { state.textContent = `connected (${ws.protocol})`; fit(); term.focus(); };
    ws.onmessage = (ev) => {
      const data = new Uint8Array(ev.data);
      if (!data.length) return;
      const ch = data[0], body = data.subarray(1);
      if (ch === 1 || ch === 2) term.write(body);
      else if (ch === 3) {
        let st = {};
        try { st = JSON.parse(dec.decode(body)); } catch { /* not JSON */ }
        if (st.status && st.status !== "Success") err.textContent = st.message || "command failed";
      }
    };
    ws.onclose = (ev) => { state.textContent = `disconnected${ev.code && ev.code !== 1000 ? ` (code ${ev.code})` : ""}`; };
    ws.onerror = () => { err.textContent = "The connection failed: is the pod running, and may you exec into it?"; };
  }
  const onData = term.onData((d) => { if (ws && ws.readyState === WebSocket.OPEN) ws.send(frame(0, enc.encode(d))); });
  const onResize = () => fit();
  window.addEventListener("resize", onResize);
  el.querySelector("#sh-form").addEventListener("submit", (e) => { e.preventDefault(); connect(el.querySelector("#sh-cmd").value); });
  connect(el.querySelector("#sh-cmd").value);
  window.tugboatTerm = term; // lets tests read the screen
  return () => { if (ws) ws.close(); onData.dispose(); window.removeEventListener("resize", onResize); term.dispose(); };
}
