// ui.js: building the DOM (text only: data never becomes HTML) and formatting figures.

/** An element with attributes (class, dataset, on* handlers, others as attributes) and children. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces a node's children. */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

const ints = new Intl.NumberFormat('en-US');

/** Whole numbers with thousands separators; a dash when undefined. */
export function int(v) {
  return v === null || v === undefined ? '—' : ints.format(v);
}

/** A decimal money string ("1500.50") with its currency, grouped; `whole` drops the
 * kopecks of amounts from 10,000 up (key figure cards). */
export function money(v, currency, whole = false) {
  if (v === null || v === undefined || v === '') return '—';
  const n = Number(v);
  const digits = whole && Math.abs(n) >= 10000 ? 0 : 2;
  const text = Number.isFinite(n)
    ? n.toLocaleString('en-US', {
      minimumFractionDigits: digits && !Number.isInteger(n) ? 2 : 0, maximumFractionDigits: digits,
    })
    : String(v);
  return currency ? `${text} ${currency}` : text;
}

/** A rate 0..1 as a percentage. */
export function rate(v) {
  if (v === null || v === undefined) return '—';
  return `${(v * 100).toFixed(Math.abs(v) < 0.1 ? 1 : 0)} %`;
}

/** Seconds as m:ss (or h:mm:ss). */
export function secs(v) {
  if (v === null || v === undefined) return '—';
  const s = Math.round(v);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${r}` : `${m}:${r}`;
}

/** An RFC 3339 time as "YYYY-MM-DD HH:MM" in UTC (the API's zone). */
export function time(iso) {
  if (!iso) return '—';
  return iso.replace('T', ' ').slice(0, 16);
}

/** The change of `cur` against `prev` as a ratio, or null when it has no meaning. */
export function change(cur, prev) {
  const a = Number(cur);
  const b = Number(prev);
  if (cur === null || prev === null || cur === undefined || prev === undefined) return null;
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return null;
  return (a - b) / Math.abs(b);
}

/** The key of a report row or a call's attribution field, "(none)" when empty. */
export function label(v) {
  return v === null || v === undefined || v === '' ? '(none)' : String(v);
}

/** A table in a horizontally scrolling wrapper (phones). */
export function table(head, rows, attrs = {}) {
  return el('div', { class: 'table-wrap' },
    el('table', attrs, el('thead', {}, el('tr', {}, head)), el('tbody', {}, rows)));
}

/** A yes/no/any select for filters. */
export function triState(name, value, labels = ['any', 'yes', 'no']) {
  return el('select', { name },
    el('option', { value: '', selected: !value }, labels[0]),
    el('option', { value: 'true', selected: value === 'true' }, labels[1]),
    el('option', { value: 'false', selected: value === 'false' }, labels[2]));
}
