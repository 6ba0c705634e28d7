// Keyed DOM updates for long live lists and trees. A view describes what it wants as nodes
// { key, html, kids?, open? }: `html` is ONE element (an <li>, a <tr>, a <section>) and, when the
// node has kids, contains one slot(…) list, where its children go. patchChildren() keeps
// every element whose key and html are unchanged, replaces only those whose html changed (moving
// the old children container across, so a Deployment whose badge changes keeps its 1 000 pod
// rows), creates the new ones in one parse and removes the gone: 200 pod changes a second touch a
// handful of elements per frame instead of re-parsing the whole tree, and focus, scroll position
// and <details> the user opened survive because their elements do.

export const slot = (cls = "sub", attrs = "") => `<ul class="${cls}" ${attrs} data-kids></ul>`;
const SLOT_RE = /(<ul [^>]*data-kids>)(<\/ul>)/;

const HTML = Symbol("html"), KEY = Symbol("key"), KIDS = Symbol("kids");

// The HTML of nodes as one string (first render without a DOM, tests under node).
export function toHtml(nodes) {
  let out = "";
  for (const n of nodes) {
    out += n.kids ? n.html.replace(SLOT_RE, (_, a, b) => a + toHtml(n.kids) + b) : n.html;
  }
  return out;
}

function parseMany(parent, htmls) {
  // parse in the parent's own element so <tr> and <li> land where the parser allows them
  const t = document.createElement("template");
  const tag = parent.tagName.toLowerCase();
  if (tag === "tbody" || tag === "thead" || tag === "table") {
    t.innerHTML = `<table><tbody>${htmls.join("")}</tbody></table>`;
    return [...t.content.querySelector("tbody").children];
  }
  t.innerHTML = htmls.join("");
  return [...t.content.children];
}

function adopt(el, node) {
  el[HTML] = node.html;
  el[KEY] = node.key;
  el[KIDS] = node.kids ? el.querySelector("[data-kids]") : null;
  if (node.open !== undefined) setOpen(el, node.open);
}

// Disclosure rows (no <details>: a <summary> may not hold the row's link): the element's first
// [aria-expanded] button says the state, its direct child `.sub` is what shows or hides. The state
// lives in the DOM, not in `html`, so a row the user opened stays open while its data changes.
export function setOpen(el, open) {
  const b = el.querySelector("[aria-expanded]");
  if (b) b.setAttribute("aria-expanded", String(open));
  const sub = el.querySelector(":scope > .sub");
  if (sub) sub.hidden = !open;
}

export function disclosure(label) {
  return `<button type="button" class="tw" aria-expanded="false" aria-label="${label}"></button>`;
}

// Make parent's element children match `nodes` (in order); returns the number of elements created.
export function patchChildren(parent, nodes) {
  const old = new Map();
  for (const c of parent.children) if (c[KEY] !== undefined) old.set(c[KEY], c);
  const fresh = [];
  for (const n of nodes) {
    const el = old.get(n.key);
    if (!el || el[HTML] !== n.html) fresh.push(n);
  }
  let created = fresh.length;
  const made = new Map();
  if (fresh.length) {
    const els = parseMany(parent, fresh.map((n) => n.html));
    fresh.forEach((n, i) => made.set(n, els[i]));
  }
  let next = parent.firstChild;
  for (const n of nodes) {
    let el = old.get(n.key);
    const neu = made.get(n);
    if (neu) {
      adopt(neu, n);
      if (el) {
        old.delete(n.key);
        if (el[KIDS] && neu[KIDS]) {
          neu[KIDS].replaceWith(el[KIDS]);
          neu[KIDS] = el[KIDS];
          if (n.open !== undefined) setOpen(neu, n.open);
        }
        if (el.contains(document.activeElement)) refocus(el, neu);
        if (el === next) next = el.nextSibling;
        el.remove();
      }
      el = neu;
    } else {
      old.delete(n.key);
    }
    if (el === next) next = el.nextSibling;
    else parent.insertBefore(el, next);
    if (n.kids) created += patchChildren(el[KIDS], n.kids);
  }
  while (next) { const after = next.nextSibling; next.remove(); next = after; }
  return created;
}

// The replacement of a focused element gets the focus back on its counterpart (same data-key).
function refocus(oldEl, newEl) {
  const k = document.activeElement.getAttribute("data-key");
  if (!k) return;
  queueMicrotask(() => {
    const again = newEl.querySelector(`[data-key="${CSS.escape(k)}"]`);
    if (again && newEl.isConnected) again.focus({ preventScroll: true });
  });
}
