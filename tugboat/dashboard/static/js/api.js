// The REST client the whole page uses: every call carries the signed-in user's credentials,
// errors surface the server's Status message, watches are fetch() streams of JSON lines.

export class ApiError extends Error {
  constructor(status, body) {
    const msg = (body && body.message) || `HTTP ${status}`;
    super(msg);
    this.status = status;
    this.reason = (body && body.reason) || "";
    this.body = body;
  }
}

export class Api {
  // ctx: {server: "https://host:port" or "" for this origin, token: "...", cert: bool}
  constructor(ctx) {
    this.base = (ctx.server || "").replace(/\/+$/, "");
    this.token = ctx.token || "";
    // a client certificate for another origin is only presented with credentials "include"
    // (the server must then answer Access-Control-Allow-Credentials, which --cors-allowed-origins does)
    this.credentials = this.token ? "same-origin" : "include";
  }

  headers(extra = {}) {
    const h = { Accept: "application/json", ...extra };
    if (this.token) h.Authorization = `Bearer ${this.token}`;
    return h;
  }

  url(path) { return this.base + path; }

  async request(method, path, body, contentType = "application/json") {
    const init = { method, headers: this.headers(), credentials: this.credentials };
    if (body !== undefined) {
      init.headers["Content-Type"] = contentType;
      init.body = typeof body === "string" ? body : JSON.stringify(body);
    }
    const resp = await this.fetch(path, init);
    const text = await resp.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = { message: text }; }
    if (!resp.ok) throw new ApiError(resp.status, data);
    return data;
  }

  // fetch() that says what a network-level failure most likely means: for another cluster's
  // server, that it does not allow this page's origin (CORS) or its certificate is not trusted.
  async fetch(path, init) {
    try {
      return await fetch(this.url(path), init);
    } catch (e) {
      if (e.name === "AbortError" || !this.base || new URL(this.base).origin === location.origin) throw e;
      throw new ApiError(0, { message: `cannot reach ${this.base}: start that server with `
        + `--cors-allowed-origins '${corsRegex(location.origin)}' and make sure this browser trusts its certificate` });
    }
  }

  get(path) { return this.request("GET", path); }
  del(path, opts = { propagationPolicy: "Background" }) { return this.request("DELETE", path, opts); }
  put(path, obj) { return this.request("PUT", path, obj); }
  post(path, obj) { return this.request("POST", path, obj); }
  mergePatch(path, patch) { return this.request("PATCH", path, patch, "application/merge-patch+json"); }
  jsonPatch(path, ops) { return this.request("PATCH", path, ops, "application/json-patch+json"); }

  // Stream a chunked response, calling onText for each decoded chunk; resolves when it ends.
  async stream(path, onText, signal) {
    const resp = await this.fetch(path, { headers: this.headers({ Accept: "*/*" }), signal, credentials: this.credentials });
    if (!resp.ok) {
      let body = null;
      try { body = await resp.json(); } catch { /* not a Status */ }
      throw new ApiError(resp.status, body);
    }
    const reader = resp.body.getReader();
    const dec = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      onText(dec.decode(value, { stream: true }));
    }
  }

  // A watch over a WebSocket, one event per message (a browser allows only 6 HTTP connections per
  // host and each chunked watch would hold one for its life). Resolves when the server closes.
  watch(path, resourceVersion, onEvent, signal) {
    const sep = path.includes("?") ? "&" : "?";
    const q = `${sep}watch=1&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(resourceVersion)}`;
    const { url, protocols } = this.ws(path + q, []);
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, protocols);
      let opened = false;
      const stop = () => ws.close(1000);
      if (signal) signal.addEventListener("abort", stop, { once: true });
      ws.onopen = () => { opened = true; };
      ws.onmessage = (ev) => { try { onEvent(JSON.parse(ev.data)); } catch (e) { console.error(e); } };
      ws.onclose = () => {
        if (signal) signal.removeEventListener("abort", stop);
        if (opened) resolve(); else reject(new ApiError(0, { message: "the watch connection was refused" }));
      };
    });
  }

  // A WebSocket URL and subprotocols: the token rides in a subprotocol, as upstream allows.
  ws(path, protocols) {
    const base = this.base || location.origin;
    const url = base.replace(/^http/, "ws") + path;
    const all = [...protocols];
    if (this.token) all.push("base64url.bearer.authorization.k8s.io." + b64url(this.token));
    return { url, protocols: all };
  }

  wsExec(path) { return this.ws(path, ["v5.channel.k8s.io", "v4.channel.k8s.io"]); }
}

export function b64url(s) {
  const bytes = new TextEncoder().encode(s);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// The --cors-allowed-origins value that admits exactly this origin (upstream matches a regex).
export function corsRegex(origin) {
  return "^" + origin.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") + "$";
}

// The REST path of a resource collection or object.
export function resPath(apiVersion, plural, ns, name, sub) {
  const root = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  let p = root + (ns ? `/namespaces/${encodeURIComponent(ns)}` : "") + `/${plural}`;
  if (name) p += `/${encodeURIComponent(name)}`;
  if (sub) p += `/${sub}`;
  return p;
}
