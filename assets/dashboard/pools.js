// pools.js: each number pool's utilisation over time (leased numbers against its size, one
// sample a minute), the minutes it was exhausted (visitors shown the reserve number), busy
// numbers p95, numbers quarantined now and the estimated accuracy of its last 24 h of calls.

import { api, query } from './api.js';
import { el, fill, int, rate, time } from './ui.js';
import { lines } from './charts.js';

/** The usage API serves at most 31 days; a longer period shows its last 31. */
const MAX_DAYS = 31;

export async function render(view, ctx) {
  let from = ctx.from;
  const span = (Date.parse(ctx.to) - Date.parse(ctx.from)) / 86400000 + 1;
  if (span > MAX_DAYS) from = new Date(Date.parse(ctx.to) - (MAX_DAYS - 1) * 86400000).toISOString().slice(0, 10);
  const usage = await api(`/v1/pools/usage${query({ from, to: ctx.to, site: ctx.site })}`);
  if (!ctx.current()) return;
  const boxes = [];
  const cards = usage.pools.map((pool) => {
    const peak = pool.samples.reduce((m, s) => Math.max(m, s.leased), 0);
    const p95 = percentile(pool.samples.map((s) => s.leased), 95);
    const box = el('div', { class: 'chart-box' });
    boxes.push([box, pool]);
    return el('section', { class: 'pool', dataset: { pool: `${pool.site}/${pool.pool}` } },
      el('h2', {}, `${pool.site} / ${pool.pool}`),
      el('div', { class: 'cards' },
        stat('Numbers', int(pool.size)),
        stat('Peak leased', `${int(peak)} (${rate(pool.size ? peak / pool.size : null)})`),
        stat('Leased p95', int(p95)),
        stat('Exhaustion minutes', int(pool.exhaustion_minutes), pool.exhaustion_minutes ? 'bad' : 'good'),
        stat('Quarantined', int(pool.quarantined), pool.quarantined ? 'bad' : 'good'),
        stat('Estimated accuracy', rate(pool.estimated_accuracy),
          pool.estimated_accuracy === null ? '' : (pool.estimated_accuracy >= 0.98 ? 'good' : 'bad')),
        stat('Last sample', time(pool.samples.length ? pool.samples[pool.samples.length - 1].at : null))),
      box);
  });
  fill(view,
    el('h1', {}, 'Number pools'),
    el('p', { class: 'muted' }, `${from} – ${ctx.to}`, span > MAX_DAYS ? ` (the last ${MAX_DAYS} days)` : '',
      '. Exhaustion minutes: sampled minutes in which no number was free or a visitor was refused one.',
      ' Estimated accuracy: calls of the 24 h before the period\'s end attributed to the right visitor',
      ' (mean confidence; unheld and reserve-number calls count 0). To size a pool: calltrack pool advise --site ID.'),
    cards.length ? cards : el('p', { class: 'muted' }, 'No pool usage sampled in this period.'));
  for (const [box, pool] of boxes) {
    if (!pool.samples.length) { fill(box, el('p', { class: 'muted' }, 'No samples.')); continue; }
    const xs = pool.samples.map((s) => Date.parse(s.at) / 1000);
    lines(box, xs, [
      { label: 'Leased', values: pool.samples.map((s) => s.leased), fill: 'rgba(37,99,235,0.15)' },
      { label: 'Size', values: pool.samples.map(() => pool.size), color: '#64748b', dash: [6, 4] },
      { label: 'Exhausted', values: pool.samples.map((s) => (s.exhausted ? pool.size : null)), color: '#dc2626', step: true },
    ]);
  }
}

/** Nearest-rank percentile; null without values. */
function percentile(values, p) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(1, Math.ceil((p * sorted.length) / 100)) - 1];
}

function stat(title, value, tone) {
  return el('div', { class: `card ${tone || ''}` },
    el('div', { class: 'card-title' }, title), el('div', { class: 'card-value' }, value));
}
