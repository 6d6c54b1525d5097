// journal.js: the call journal: filters (kept in the URL), a page of calls with "older
// calls" paging, and one call's visit (landing page, UTM, keyword, click ids), timing,
// routing trail, its recording or voicemail (a player per recorded call in the list and the detail) and,
// for admins, its transcript (turns by party, keyword tags, talk and silence) and the call
// scorer's label toggle (target / not target) beside the scorer's verdict.

import { api, query } from './api.js';
import { el, fill, int, money, secs, time, label, table, triState } from './ui.js';

const FILTERS = ['source', 'medium', 'campaign', 'caller', 'tracking_number'];
const DISPOSITIONS = ['answered', 'no_answer', 'busy', 'failed', 'cancelled', 'rejected', 'interrupted', 'voicemail'];
const PAGE = 50;

export async function render(view, ctx) {
  const p = ctx.params;
  const filters = { from: ctx.from, to: ctx.to, site: ctx.site, sort: '-started_at', limit: PAGE };
  for (const key of [...FILTERS, 'disposition', 'quality', 'first_time', 'missed']) {
    if (p.get(key)) filters[key] = p.get(key);
  }
  const [page, detail] = await Promise.all([
    api(`/v1/calls${query({ ...filters, cursor: p.get('cursor') })}`),
    p.get('call') ? api(`/v1/calls/${encodeURIComponent(p.get('call'))}`) : null,
  ]);
  if (!ctx.current()) return;
  const list = el('tbody', {}, page.calls.map((call) => row(call, ctx)));
  const more = el('p', {});
  const showMore = (cursor) => {
    fill(more, cursor ? el('button', {
      type: 'button', id: 'older',
      onclick: async () => {
        const next = await api(`/v1/calls${query({ ...filters, cursor })}`);
        list.append(...next.calls.map((call) => row(call, ctx)));
        showMore(next.next_cursor);
      },
    }, 'Older calls') : el('span', { class: 'muted' }, 'No older calls.'));
  };
  showMore(page.next_cursor);
  fill(view,
    el('h1', {}, 'Calls'),
    filterForm(ctx),
    detail ? callDetail(detail, ctx) : null,
    page.calls.length
      ? el('div', { class: 'table-wrap' }, el('table', { class: 'data', id: 'calls-table' },
        el('thead', {}, el('tr', {}, ['Started', 'Caller', 'Number', 'Source / campaign',
          'Outcome', 'Wait', 'Talk', 'Recording', ''].map((h) => el('th', {}, h)))), list))
      : el('p', { class: 'muted' }, 'No calls match.'),
    more);
}

function filterForm(ctx) {
  const p = ctx.params;
  const form = el('form', { class: 'filters', id: 'call-filters' },
    FILTERS.map((key) => el('label', {}, key.replace('_', ' '),
      el('input', { type: 'text', name: key, value: p.get(key) || '', size: 10 }))),
    el('label', {}, 'outcome', el('select', { name: 'disposition' },
      el('option', { value: '' }, 'any'),
      DISPOSITIONS.map((d) => el('option', { value: d, selected: p.get('disposition') === d },
        d.replace('_', ' '))))),
    el('label', {}, 'quality', triState('quality', p.get('quality'))),
    el('label', {}, 'first-time', triState('first_time', p.get('first_time'))),
    el('label', {}, 'missed', triState('missed', p.get('missed'))),
    el('button', { type: 'submit' }, 'Filter'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const patch = { cursor: '', call: '' };
    for (const [key, value] of new FormData(form)) patch[key] = String(value).trim();
    ctx.navigate(patch);
  });
  return form;
}

function badges(call) {
  return [
    call.first_time_caller ? el('span', { class: 'badge new' }, 'first-time') : null,
    call.quality ? el('span', { class: 'badge quality' }, 'quality') : null,
    call.missed ? el('span', { class: 'badge missed' }, call.called_back_at ? 'missed, called back' : 'missed') : null,
  ];
}

function row(call, ctx) {
  const a = call.attribution || {};
  return el('tr', { dataset: { call: call.id } },
    el('td', {}, time(call.started_at)),
    el('td', {}, call.caller || '—'),
    el('td', {}, call.tracking_number, el('div', { class: 'muted small' }, call.number_kind || '')),
    el('td', {}, label(a.source), a.campaign ? el('div', { class: 'muted small' }, a.campaign) : null),
    el('td', {}, (call.disposition || '').replace('_', ' '), ' ', badges(call)),
    el('td', { class: 'num' }, secs(call.wait_secs)),
    el('td', { class: 'num' }, secs(call.talk_secs)),
    el('td', { class: 'recording-cell' }, player(call, ctx, true)),
    el('td', {}, el('button', { type: 'button', class: 'link', onclick: () => ctx.navigate({ call: call.id }) }, 'Details')));
}

// Why a call has no recording, in words (`recording.reason` from the calls API).
const NO_RECORDING = {
  not_answered: 'not answered', not_relayed: 'media not relayed', srtp: 'encrypted (SRTP)',
  no_media: 'no audio', disk_full: 'disk full', write_failed: 'write failed',
  interrupted: 'interrupted by a restart', retention: 'removed: past retention',
  disk_budget: 'removed: disk budget',
};

// A player whose source failed to load is replaced by the server's reason (the file is
// missing, or on a node that did not answer), or a plain one when it gave none.
async function explain(audio) {
  let why = 'the recording could not be loaded';
  try {
    const answer = await fetch(audio.src, { headers: { Range: 'bytes=0-0' } });
    const body = await answer.json();
    if (body && body.error && body.error.message) why = body.error.message;
  } catch (_) { /* not JSON: the plain reason */ }
  audio.replaceWith(el('span', { class: 'muted small recording-status recording-error',
    dataset: { call: audio.dataset.call } }, why));
}

// The call's recording: an <audio> player for a WAV (seeking uses HTTP Range), a download
// link for a pcap (other codecs: open it in Wireshark), else where the recording stands.
function player(call, ctx, compact) {
  const rec = call.recording || { status: 'not_requested' };
  if (call.recording_url && ctx.role !== 'admin') {
    return el('span', { class: 'muted small recording-status' }, 'recorded (admins listen)');
  }
  if (call.recording_url && rec.format === 'pcap') {
    return el('a', { class: 'recording-pcap', href: call.recording_url, download: `${call.id}.pcap` }, 'pcap');
  }
  if (call.recording_url) {
    return el('audio', { class: 'recording', controls: true, preload: 'none', src: call.recording_url,
      dataset: { call: call.id }, onerror: (e) => explain(e.target) });
  }
  if (rec.status === 'not_requested') return compact ? '' : el('p', { class: 'muted' }, 'Not recorded.');
  const why = rec.status === 'pending' ? 'being written' : (NO_RECORDING[rec.reason] || rec.status);
  return el('span', { class: 'muted small recording-status' }, why);
}

function pairs(list) {
  return el('dl', { class: 'pairs' }, list
    .filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
}

const LABELS = [['target', 'Target'], ['not_target', 'Not target'], [null, 'Clear']];

// The scorer's verdict, and the label a person gives (admins: a toggle, saved at once).
function labelBox(call, ctx) {
  const box = el('div', { id: 'label-box' });
  const show = (c) => {
    const verdict = c.target_probability === null || c.target_probability === undefined
      ? 'not scored'
      : `${c.target ? 'target' : 'not target'} (${c.target_probability.toFixed(2)})`;
    const current = c.label ? c.label.replace('_', ' ') : 'none';
    const status = el('p', { class: 'small', id: 'label-status' },
      `Label: ${current}`, c.label_by ? el('span', { class: 'muted' }, ` · ${c.label_by}`) : null,
      ` · scorer: ${verdict}`);
    const buttons = ctx.role === 'admin'
      ? el('p', { class: 'label-toggle' }, LABELS.map(([value, text]) => el('button', {
        type: 'button',
        class: c.label === value ? 'active' : '',
        'data-label': value || 'none',
        onclick: async () => {
          try {
            const body = { label: value };
            show(await api(`/v1/calls/${encodeURIComponent(c.id)}`, { method: 'PATCH', body }));
          } catch (e) {
            fill(box, status, el('p', { class: 'error' }, e.message));
          }
        },
      }, text)))
      : null;
    fill(box, status, buttons);
  };
  show(call);
  return box;
}

// The call's transcript, fetched once the detail is shown (admins only, like the recording).
function transcriptBox(call, ctx) {
  const box = el('div', { id: 'transcript' }, el('p', { class: 'muted small' }, '…'));
  if (ctx.role !== 'admin') {
    fill(box, el('p', { class: 'muted small' }, 'Transcripts are for admins.'));
    return box;
  }
  api(`/v1/calls/${encodeURIComponent(call.id)}/transcript`).then(
    (t) => fill(box, transcriptView(t)),
    (e) => fill(box, el('p', { class: 'muted small' },
      e.status === 404 ? 'No transcript (the call has no recording to transcribe).' : e.message)),
  );
  return box;
}

// Consecutive words of one party make a turn: "Caller 0:03 what is the price".
function turns(words) {
  const out = [];
  for (const w of words || []) {
    const last = out[out.length - 1];
    if (last && last.channel === w.channel) last.words.push(w.word);
    else out.push({ channel: w.channel, at: w.start_ms, words: [w.word] });
  }
  return out;
}

function clock(ms) {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function transcriptView(t) {
  if (t.status !== 'done') {
    return el('p', { class: 'muted small' }, t.status === 'queued'
      ? `Waiting to be transcribed${t.error ? ` (last attempt: ${t.error})` : ''}.`
      : `Not transcribed: ${t.error || 'unknown reason'}.`);
  }
  const lines = turns(t.words);
  const body = lines.length
    ? el('ol', { class: 'turns' }, lines.map((l) => el('li', { class: `turn ${l.channel}` },
      el('span', { class: 'muted' }, `${l.channel === 'caller' ? 'Caller' : 'Agent'} ${clock(l.at)} `),
      l.words.join(' '))))
    : el('div', {}, el('p', {}, el('b', {}, 'Caller: '), t.caller || '—'),
      el('p', {}, el('b', {}, 'Agent: '), t.agent || '—'));
  const f = t.facts || {};
  return el('div', {},
    (t.tags || []).length ? el('p', { class: 'tags' }, t.tags.map((tag) => el('span', { class: 'tag' }, tag))) : null,
    body,
    pairs([
      ['Caller talked', f.caller_talk_ms != null ? secs(Math.round(f.caller_talk_ms / 1000)) : null],
      ['Agent talked', f.agent_talk_ms != null ? secs(Math.round(f.agent_talk_ms / 1000)) : null],
      ['Silence', f.silence_ms != null ? secs(Math.round(f.silence_ms / 1000)) : null],
      ['Interruptions', f.interruptions],
      ['Agent first spoke', f.agent_first_speech_ms != null ? clock(f.agent_first_speech_ms) : null],
      ['Phones said', (f.caller_phones || []).join(', ')],
      ['E-mails said', (f.caller_emails || []).join(', ')],
    ]));
}

function callDetail(call, ctx) {
  const a = call.attribution || {};
  const deal = call.deal;
  const recording = el('div', { id: 'recording' }, player(call, ctx, false));
  const trail = (call.trail || []).map((s) => el('li', {},
    el('span', { class: 'muted' }, time(s.at).slice(11)), ' ', s.step,
    s.target ? ` → ${s.target}` : '', s.outcome ? `: ${s.outcome}` : '',
    s.sip_status ? ` (${s.sip_status})` : ''));
  return el('section', { class: 'detail', id: 'call-detail' },
    el('div', { class: 'detail-head' },
      el('h2', {}, `Call from ${call.caller || 'unknown'} to ${call.tracking_number}`),
      el('button', { type: 'button', class: 'link', onclick: () => ctx.navigate({ call: '' }) }, 'Close')),
    el('div', { class: 'detail-grid' },
      el('div', {}, el('h3', {}, 'Visit'), pairs([
        ['Landing page', a.landing_page], ['Referrer', a.referrer],
        ['Source', a.source], ['Medium', a.medium], ['Campaign', a.campaign],
        ['Keyword', a.term], ['Content', a.content],
        ['gclid', a.gclid], ['yclid', a.yclid], ['GA client id', a.ga_client_id],
        ['GA session id', a.ga_session_id], ['Metrica client id', a.ym_client_id],
        ['Region', a.region], ['Device', a.device], ['Session', a.session_id],
      ])),
      el('div', {}, el('h3', {}, 'Timing'), pairs([
        ['Started', time(call.started_at)], ['Answered', call.answered_at ? time(call.answered_at) : 'not answered'],
        ['Ended', time(call.ended_at)], ['Waited', secs(call.wait_secs)], ['Talked', secs(call.talk_secs)],
        ['Voicemail', call.voicemail_secs == null ? null : secs(call.voicemail_secs)],
        ['Outcome', `${call.disposition}${call.sip_status ? ` (${call.sip_status})` : ''}`],
        ['Hung up by', call.hangup_side], ['Answered at', call.answered_target], ['Scheme', call.scheme],
        ['Called back', call.called_back_at ? time(call.called_back_at) : null],
        ['Tags', (call.tags || []).join(', ')], ['Note', call.note],
        ['Deal', deal ? `${money(deal.amount, deal.currency)} (${deal.status})` : null],
      ])),
      el('div', {}, el('h3', {}, 'Routing'), trail.length
        ? el('ol', { class: 'trail', id: 'trail' }, trail)
        : el('p', { class: 'muted' }, 'No routing steps recorded.'),
      el('h3', {}, 'Recording'), recording,
      el('h3', {}, 'Transcript'), transcriptBox(call, ctx),
      el('h3', {}, 'Target call?'), labelBox(call, ctx))),
    el('p', { class: 'muted small' }, `id ${call.id} · ${int(call.talk_secs)} s talk`));
}
