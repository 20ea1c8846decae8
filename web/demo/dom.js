// DOM helpers. User text only ever reaches the page as text nodes or
// textContent: nothing here parses HTML.

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

// h('li', {class: 'x', dir: 'auto', onclick: fn, dataset: {id}}, 'text', child, ...)
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  setProps(el, props);
  append(el, children);
  return el;
}

function setProps(el, props) {
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// Replaces an element's children.
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function show(el, on = true) {
  el.hidden = !on;
  return el;
}

// Icons: small inline SVGs built with DOM calls (no emoji, so they render
// the same on every system, with or without an emoji font).
const SVG = 'http://www.w3.org/2000/svg';
const ICONS = {
  eye: [['path', { d: 'M1 12s4-7 11-7 11 7 11 7-4 7-11 7S1 12 1 12z', fill: 'none', stroke: 'currentColor', 'stroke-width': 2 }],
    ['circle', { cx: 12, cy: 12, r: 3.2, fill: 'currentColor' }]],
  video: [['rect', { x: 2, y: 6, width: 13, height: 12, rx: 2, fill: 'currentColor' }],
    ['path', { d: 'M16 10l6-3v10l-6-3z', fill: 'currentColor' }]],
  mic: [['rect', { x: 9, y: 2, width: 6, height: 12, rx: 3, fill: 'currentColor' }],
    ['path', { d: 'M5 11a7 7 0 0 0 14 0M12 18v4', fill: 'none', stroke: 'currentColor', 'stroke-width': 2 }]],
  users: [['circle', { cx: 9, cy: 8, r: 4, fill: 'currentColor' }],
    ['path', { d: 'M1 21c0-4 4-7 8-7s8 3 8 7z', fill: 'currentColor' }],
    ['circle', { cx: 18, cy: 7, r: 3, fill: 'currentColor', opacity: 0.6 }]],
  coin: [['circle', { cx: 12, cy: 12, r: 10, fill: '#f5b700' }],
    ['circle', { cx: 12, cy: 12, r: 6.5, fill: 'none', stroke: '#a86f00', 'stroke-width': 2 }]],
  lock: [['rect', { x: 4, y: 10, width: 16, height: 12, rx: 2, fill: 'currentColor' }],
    ['path', { d: 'M8 10V7a4 4 0 0 1 8 0v3', fill: 'none', stroke: 'currentColor', 'stroke-width': 2 }]],
  // Gifts
  rose: [['path', { d: 'M12 13v9', stroke: '#2e9d4a', 'stroke-width': 2, fill: 'none' }],
    ['path', { d: 'M12 18c-3-1-5-3-5-5 3 0 5 2 5 5zM12 17c3-1 5-3 5-5-3 0-5 2-5 5z', fill: '#2e9d4a' }],
    ['path', { d: 'M6 6c0-3 3-4 6-4s6 1 6 4c0 4-3 7-6 7S6 10 6 6z', fill: '#e2264d' }],
    ['path', { d: 'M9 5c1-1.5 5-1.5 6 0-1 2-5 2-6 0z', fill: '#a8103a' }]],
  heart: [['path', { d: 'M12 21S2 14.5 2 8.5A5 5 0 0 1 12 6a5 5 0 0 1 10 2.5C22 14.5 12 21 12 21z', fill: '#ff4f79' }]],
  star: [['path', { d: 'M12 2l3 6.5 7 .8-5.2 4.8 1.5 7L12 17.6 5.7 21l1.5-7L2 9.3l7-.8z', fill: '#ffc93c' }]],
  crown: [['path', { d: 'M2 8l5 4 5-7 5 7 5-4-2 11H4z', fill: '#f5b700' }], ['rect', { x: 4, y: 19, width: 16, height: 2.5, fill: '#d49a00' }]],
  diamond: [['path', { d: 'M6 3h12l4 6-10 12L2 9z', fill: '#5ad1ff' }], ['path', { d: 'M2 9h20M9 3l3 18 3-18', stroke: '#2a8fc0', 'stroke-width': 1, fill: 'none' }]],
  rocket: [['path', { d: 'M12 2c4 3 5 8 4 13H8C7 10 8 5 12 2z', fill: '#d9e2ec' }], ['circle', { cx: 12, cy: 9, r: 2, fill: '#3b82f6' }],
    ['path', { d: 'M8 15l-3 4 4-1zM16 15l3 4-4-1zM10 16h4l-2 6z', fill: '#ff7a1a' }]],
  coffee: [['path', { d: 'M4 10h13v2a6.5 6.5 0 0 1-13 0z', fill: '#e9d8b4' }], ['ellipse', { cx: 10.5, cy: 10, rx: 6.5, ry: 1.5, fill: '#7a4a21' }],
    ['path', { d: 'M17 11.5h1.5a2 2 0 0 1 0 4H16', fill: 'none', stroke: '#e9d8b4', 'stroke-width': 1.5 }],
    ['path', { d: 'M8 7c0-1.5 1.5-1.5 1.5-3M12 7c0-1.5 1.5-1.5 1.5-3', fill: 'none', stroke: '#cbd5e1', 'stroke-width': 1.2, 'stroke-linecap': 'round' }],
    ['rect', { x: 5, y: 19.5, width: 12, height: 1.6, rx: 0.8, fill: '#c08a3e' }]],
  dates: [['ellipse', { cx: 12, cy: 18, rx: 10, ry: 3, fill: '#d9c7a5' }],
    ['ellipse', { cx: 8, cy: 13, rx: 2.6, ry: 4, fill: '#7b3f12', transform: 'rotate(-25 8 13)' }],
    ['ellipse', { cx: 12.5, cy: 12, rx: 2.6, ry: 4, fill: '#8e4a17' }],
    ['ellipse', { cx: 16.5, cy: 13.5, rx: 2.6, ry: 4, fill: '#6e3510', transform: 'rotate(25 16.5 13.5)' }]],
  lantern: [['path', { d: 'M12 1v3', stroke: '#d4a017', 'stroke-width': 1.5 }], ['path', { d: 'M8 4h8l-1 3H9z', fill: '#d4a017' }],
    ['path', { d: 'M8 7h8l2 6-2 6H8l-2-6z', fill: '#ffd166', stroke: '#b7791f', 'stroke-width': 1 }],
    ['path', { d: 'M12 7v12M7 13h10', stroke: '#b7791f', 'stroke-width': 0.8 }], ['path', { d: 'M9 19h6l-1 3h-4z', fill: '#d4a017' }]],
  oud: [['rect', { x: 10, y: 2, width: 4, height: 3, rx: 1, fill: '#b08d57' }], ['rect', { x: 11, y: 5, width: 2, height: 2.5, fill: '#d9c7a5' }],
    ['path', { d: 'M7 10a5 2.5 0 0 1 10 0v9a3 3 0 0 1-3 3h-4a3 3 0 0 1-3-3z', fill: '#7c3aed' }],
    ['path', { d: 'M9 13h6', stroke: '#e9d5ff', 'stroke-width': 1 }],
    ['path', { d: 'M16 4c2 0 3-1 4-2M17 6.5c2 0 3 0 4-1', stroke: '#cbd5e1', fill: 'none', 'stroke-width': 1, 'stroke-linecap': 'round' }]],
  camel: [['path', { d: 'M3 21v-6c0-2 1-3 2-3h1c1-3 3-4 5-4s3 2 4 4h1c1 0 1.5-3 2.5-5h2.5l.5 2h-1.5l-1 4c-.3 1.3-.8 2-1.5 2.5V21h-1.5v-5h-7v5H8v-5c-1 0-2-.5-2.5-1.5V21z', fill: '#c8934b' }]],
  falcon: [['path', { d: 'M2 10c4-1 7 0 9 2 1-4 4-7 9-8-2 2-3 4-3 6l4 1-4 1c-1 3-4 5-8 5l-3 4v-5C4 15 3 13 2 10z', fill: '#8b6b4a' }],
    ['circle', { cx: 17.2, cy: 10.2, r: 0.8, fill: '#111' }]],
  car: [['path', { d: 'M2 15l2-5c.5-1 1.3-1.6 2.4-1.6h8.4c1 0 1.9.5 2.5 1.3L20 13h1.5c.8 0 1.5.7 1.5 1.5V17H2z', fill: '#ef4444' }],
    ['path', { d: 'M7 10h4v3H5.8zM12.5 10h2.5l2 3h-4.5z', fill: '#bfdbfe' }],
    ['circle', { cx: 6.5, cy: 17, r: 2.2, fill: '#111' }], ['circle', { cx: 17.5, cy: 17, r: 2.2, fill: '#111' }],
    ['circle', { cx: 6.5, cy: 17, r: 0.9, fill: '#9ca3af' }], ['circle', { cx: 17.5, cy: 17, r: 0.9, fill: '#9ca3af' }]],
  palace: [['rect', { x: 3, y: 12, width: 18, height: 9, fill: '#f5e6c8' }], ['path', { d: 'M8 12a4 4 0 0 1 8 0z', fill: '#f5b700' }],
    ['path', { d: 'M12 5.5v2.5', stroke: '#f5b700', 'stroke-width': 1.2 }],
    ['rect', { x: 2, y: 8, width: 2.5, height: 13, fill: '#e9d8b4' }], ['rect', { x: 19.5, y: 8, width: 2.5, height: 13, fill: '#e9d8b4' }],
    ['path', { d: 'M2 8l1.25-2.5L4.5 8zM19.5 8l1.25-2.5L22 8z', fill: '#f5b700' }], ['path', { d: 'M10 21v-4a2 2 0 0 1 4 0v4z', fill: '#8b5cf6' }]],
  gift: [['rect', { x: 3, y: 9, width: 18, height: 12, rx: 1.5, fill: '#8b5cf6' }], ['rect', { x: 2, y: 6, width: 20, height: 4, rx: 1, fill: '#a78bfa' }],
    ['rect', { x: 11, y: 6, width: 2, height: 15, fill: '#fde047' }], ['path', { d: 'M12 6c-2-4-6-4-6-1s6 1 6 1 6 2 6-1-4-3-6 1z', fill: '#fde047' }]],
};

export function icon(name, cls = 'icon') {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', cls);
  svg.setAttribute('aria-hidden', 'true');
  for (const [tag, attrs] of ICONS[name] || ICONS.gift) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    svg.append(el);
  }
  return svg;
}

// The icon of a gift, from its id, animation or name ("gift_rose" → rose).
export function giftIcon(gift, cls) {
  const hay = `${gift?.id || ''} ${gift?.animation || ''} ${gift?.name || ''}`.toLowerCase();
  const name = ['rose', 'heart', 'coffee', 'dates', 'lantern', 'oud', 'camel', 'falcon', 'crown', 'palace', 'car', 'star', 'diamond', 'rocket']
    .find((n) => hay.includes(n)) || 'gift';
  return icon(name, cls);
}

// A random id for idempotency keys and request ids; crypto.randomUUID is
// missing outside secure contexts (a phone on a LAN address), getRandomValues is not.
export function randomId() {
  if (globalThis.crypto?.randomUUID) {
    try { return crypto.randomUUID(); } catch { /* insecure context */ }
  }
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}
