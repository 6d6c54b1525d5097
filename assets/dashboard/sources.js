// sources.js: sources and campaigns: a sortable table (the sort is kept in the URL) with
// calls, quality calls, cost, cost per quality call, revenue and ROI; below it, calls per
// keyword tag and source (a call with several tags is on several lines).

import { api, query } from './api.js';
import { el, fill, int, money, rate, label, table } from './ui.js';

const COLUMNS = [
  ['source', 'Source', 'key'],
  ['campaign', 'Campaign', 'key'],
  ['calls', 'Calls', 'int'],
  ['first_time_calls', 'First-time', 'int'],
  ['answer_rate', 'Answered', 'rate'],
  ['quality_calls', 'Quality', 'int'],
  ['leads', 'Leads', 'int'],
  ['cost', 'Cost', 'money'],
  ['cost_per_quality_call', 'Cost / quality call', 'money'],
  ['revenue', 'Revenue', 'money'],
  ['roi', 'ROI', 'rate'],
];

export async function render(view, ctx) {
  const [report, tags] = await Promise.all([
    api(`/v1/reports${query({ from: ctx.from, to: ctx.to, by: 'source,campaign', site: ctx.site })}`),
    api(`/v1/reports/tags${query({ from: ctx.from, to: ctx.to, by: 'source', site: ctx.site })}`),
  ]);
  if (!ctx.current()) return;
  const sort = ctx.params.get('sort') || '-calls';
  const field = sort.replace(/^-/, '');
  const down = sort.startsWith('-');
  const column = COLUMNS.find((c) => c[0] === field) || COLUMNS[2];
  const rows = [...(report.rows || [])].sort((a, b) => compare(a, b, column) * (down ? -1 : 1));
  const head = COLUMNS.map(([name, title, kind]) => {
    const active = name === column[0];
    const next = active && down ? name : `-${name}`;
    return el('th', { class: kind === 'key' ? '' : 'num', 'aria-sort': active ? (down ? 'descending' : 'ascending') : null },
      el('button', { type: 'button', class: 'sort', onclick: () => ctx.navigate({ sort: next }) },
        title, active ? (down ? ' ▼' : ' ▲') : ''));
  });
  const body = rows.map((row) => el('tr', { dataset: { source: label(row.key.source) } },
    COLUMNS.map((c) => cell(row, c, report.currency))));
  const totalRow = el('tr', { class: 'total' },
    el('td', { colspan: 2 }, 'Total'),
    COLUMNS.slice(2).map((c) => cell({ key: {}, figures: report.total || {} }, c, report.currency)));
  fill(view,
    el('h1', {}, 'Sources and campaigns'),
    el('p', { class: 'muted' }, `${report.from} – ${report.to}`, ctx.site ? ` · site ${ctx.site}` : '',
      ` · ${rows.length} rows · money in ${report.currency || '—'}`),
    rows.length
      ? table(head, [...body, totalRow], { id: 'sources-table', class: 'data sortable' })
      : el('p', { class: 'muted' }, 'No calls, leads or costs in this period.'),
    tagSection(tags));
}

function tagSection(tags) {
  if (!tags || !(tags.rows || []).length) return null;
  const head = ['Tag', 'Source', 'Calls', 'Target'].map((t, i) => el('th', { class: i > 1 ? 'num' : '' }, t));
  const body = tags.rows.map((row) => el('tr', {},
    el('td', {}, row.tag), el('td', {}, label(row.key.source)),
    el('td', { class: 'num' }, int(row.calls)), el('td', { class: 'num' }, int(row.target_calls))));
  return el('section', {},
    el('h2', {}, 'Calls per keyword tag'),
    el('p', { class: 'muted' }, `${int(tags.calls_with_tags)} of ${int(tags.calls)} calls said a tag`,
      ` (${int(tags.transcribed_calls)} transcribed); a call with several tags is on each tag's line`),
    table(head, body, { id: 'tags-table', class: 'data' }));
}

function sortValue(row, [name, , kind]) {
  if (kind === 'key') return label(row.key[name]).toLowerCase();
  const v = row.figures[name];
  return v === null || v === undefined ? -Infinity : Number(v);
}

function compare(a, b, column) {
  const x = sortValue(a, column);
  const y = sortValue(b, column);
  if (typeof x === 'string') return x.localeCompare(y);
  return x - y;
}

function cell(row, [name, , kind], currency) {
  if (kind === 'key') return el('td', {}, label(row.key[name]));
  const v = row.figures[name];
  const text = kind === 'money' ? money(v, null) : kind === 'rate' ? rate(v) : int(v);
  const roiClass = name === 'roi' && v !== null && v !== undefined ? (v >= 0 ? ' good' : ' bad') : '';
  return el('td', { class: `num${roiClass}` }, text);
}
