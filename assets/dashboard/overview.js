// overview.js: the period's key figures with the change against the previous period, calls
// per day stacked by source, and the funnel calls → answered → quality → revenue.

import { api, query } from './api.js';
import { el, fill, int, money, rate, change, label } from './ui.js';
import { stackedBars } from './charts.js';

/** Key figures: title, field, kind, and whether a rise is good. */
const FIGURES = [
  ['Calls', 'calls', 'int', true],
  ['First-time calls', 'first_time_calls', 'int', true],
  ['Answer rate', 'answer_rate', 'rate', true],
  ['Quality calls', 'quality_calls', 'int', true],
  ['Missed, not called back', 'missed_not_called_back', 'int', false],
  ['Leads', 'leads', 'int', true],
  ['Cost', 'cost', 'money', false],
  ['Cost per quality call', 'cost_per_quality_call', 'money', false],
  ['Revenue', 'revenue', 'money', true],
  ['ROI', 'roi', 'rate', true],
];

/** Sources beyond this many are summed as "other" in the chart. */
const TOP_SOURCES = 6;

export async function render(view, ctx) {
  const report = await api(`/v1/reports${query({
    from: ctx.from, to: ctx.to, by: 'day,source', site: ctx.site,
  })}`);
  if (!ctx.current()) return;
  const chartBox = el('div', { class: 'chart-box', id: 'calls-chart' });
  fill(view,
    el('h1', {}, 'Overview'),
    el('p', { class: 'muted' }, `${report.from} – ${report.to}`, ctx.site ? ` · site ${ctx.site}` : '',
      ', compared with the same number of days before'),
    el('section', { class: 'cards', id: 'figures' },
      FIGURES.map((f) => card(f, report.total, report.previous_total, report.currency))),
    el('section', {}, el('h2', {}, 'Calls per day by source'), chartBox),
    el('section', {}, el('h2', {}, 'Funnel'), funnel(report.total, report.currency)));
  const { days, series } = perDay(report, ctx.from, ctx.to);
  if (series.length) stackedBars(chartBox, days, series);
  else fill(chartBox, el('p', { class: 'muted' }, 'No calls in this period.'));
}

function value(kind, v, currency) {
  if (kind === 'money') return money(v, currency, true);
  if (kind === 'rate') return rate(v);
  return int(v);
}

function card([title, field, kind, riseIsGood], total, previous, currency) {
  const cur = total ? total[field] : null;
  const prev = previous ? previous[field] : null;
  const delta = change(cur, prev);
  let note = el('span', { class: 'delta muted' }, 'no previous figure');
  if (delta !== null) {
    const good = delta === 0 ? 'flat' : (delta > 0) === riseIsGood ? 'good' : 'bad';
    const arrow = delta > 0 ? '▲' : delta < 0 ? '▼' : '■';
    const pct = Math.abs(delta * 100);
    note = el('span', { class: `delta ${good}` }, `${arrow} ${pct.toFixed(pct < 10 ? 1 : 0)} %`);
  }
  return el('div', { class: 'card', dataset: { figure: field } },
    el('div', { class: 'card-title' }, title),
    el('div', { class: 'card-value' }, value(kind, cur, currency)),
    note,
    el('div', { class: 'card-prev muted' }, 'before: ', value(kind, prev, currency)));
}

/** Every day of the period and, per source (the biggest first), its calls on each day. */
function perDay(report, from, to) {
  const days = [];
  for (let t = Date.parse(`${report.from || from}T00:00:00Z`);
    t <= Date.parse(`${report.to || to}T00:00:00Z`) && days.length < 400; t += 86400000) {
    days.push(new Date(t).toISOString().slice(0, 10));
  }
  const index = new Map(days.map((d, i) => [d, i]));
  const bySource = new Map();
  for (const row of report.rows || []) {
    const source = label(row.key.source);
    const i = index.get(String(row.key.day || '').slice(0, 10));
    if (i === undefined) continue;
    if (!bySource.has(source)) bySource.set(source, days.map(() => 0));
    bySource.get(source)[i] += row.figures.calls || 0;
  }
  const ranked = [...bySource.entries()]
    .map(([name, values]) => ({ label: name, values, sum: values.reduce((a, b) => a + b, 0) }))
    .sort((a, b) => b.sum - a.sum || a.label.localeCompare(b.label));
  const series = ranked.slice(0, TOP_SOURCES);
  const rest = ranked.slice(TOP_SOURCES);
  if (rest.length) {
    series.push({
      label: 'other',
      values: days.map((_, i) => rest.reduce((a, s) => a + s.values[i], 0)),
    });
  }
  return { days, series };
}

function funnel(total, currency) {
  const calls = (total && total.calls) || 0;
  const steps = [
    ['Calls', calls],
    ['Answered', total ? total.answered : 0],
    ['Quality', total ? total.quality_calls : 0],
  ];
  const rows = steps.map(([name, n]) => {
    const share = calls ? n / calls : 0;
    const bar = el('div', { class: 'funnel-bar' });
    bar.style.width = `${Math.max(2, share * 100)}%`;
    return el('div', { class: 'funnel-step', dataset: { step: name.toLowerCase() } },
      el('span', { class: 'funnel-name' }, name),
      el('div', { class: 'funnel-track' }, bar),
      el('span', { class: 'funnel-value' }, int(n), calls ? ` (${rate(share)})` : ''));
  });
  const revenue = el('div', { class: 'funnel-step revenue', dataset: { step: 'revenue' } },
    el('span', { class: 'funnel-name' }, 'Revenue'),
    el('div', { class: 'funnel-track' }),
    el('span', { class: 'funnel-value' }, money(total ? total.revenue : null, currency)));
  return el('div', { class: 'funnel', id: 'funnel' }, rows, revenue);
}
