// missed.js: missed calls nobody has called back yet (`missed=true`, `called_back_at`
// null), oldest first, so the team can work down the list.

import { api, query } from './api.js';
import { el, fill, int, secs, time, label, table } from './ui.js';

/** Pages of missed calls read at most (100 calls each). */
const MAX_PAGES = 10;

export async function render(view, ctx) {
  const filters = { from: ctx.from, to: ctx.to, site: ctx.site, missed: 'true', sort: 'started_at', limit: 100 };
  const calls = [];
  let cursor = null;
  let pages = 0;
  do {
    const page = await api(`/v1/calls${query({ ...filters, cursor })}`);
    calls.push(...page.calls);
    cursor = page.next_cursor;
    pages += 1;
  } while (cursor && pages < MAX_PAGES);
  if (!ctx.current()) return;
  const open = calls.filter((c) => c.missed && !c.called_back_at);
  const head = ['Missed at', 'Caller', 'Number', 'Source / campaign', 'Waited', ''].map((h) => el('th', {}, h));
  const rows = open.map((c) => {
    const a = c.attribution || {};
    return el('tr', { dataset: { call: c.id } },
      el('td', {}, time(c.started_at)),
      el('td', {}, c.caller ? el('a', { href: `tel:+${c.caller.replace(/^\+/, '')}` }, c.caller) : '—'),
      el('td', {}, c.tracking_number),
      el('td', {}, label(a.source), a.campaign ? el('div', { class: 'muted small' }, a.campaign) : null),
      el('td', { class: 'num' }, secs(c.wait_secs)),
      el('td', {}, el('button', { type: 'button', class: 'link', onclick: () => ctx.go('journal', { call: c.id }) }, 'Details')));
  });
  fill(view,
    el('h1', {}, 'Missed calls to call back'),
    el('p', { class: 'muted', id: 'missed-count' },
      `${int(open.length)} of ${int(calls.length)} missed calls in this period are not called back yet`,
      cursor ? ` (the first ${int(calls.length)} read)` : '', '.'),
    open.length ? table(head, rows, { id: 'missed-table', class: 'data' })
      : el('p', { class: 'muted' }, 'Nothing to call back. Well done.'));
}
