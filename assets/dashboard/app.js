// app.js: the dashboard shell: sign-in, the hash router (#/page?from=&to=&site=…, so a view
// can be shared), the period form, and rendering one page at a time.

import { api, ApiError } from './api.js';
import { el, fill } from './ui.js';
import * as overview from './overview.js';
import * as sources from './sources.js';
import * as journal from './journal.js';
import * as missed from './missed.js';
import * as pools from './pools.js';

const PAGES = { overview, sources, journal, missed, pools };
const view = document.getElementById('view');
const top = document.getElementById('top');
const periodForm = document.getElementById('period');
let signedIn = false;
// The signed-in role (`admin` or `viewer`): recordings are for admins only.
let role = null;
let rendering = 0;

/** Today's date (UTC) minus `days`, as YYYY-MM-DD. */
function day(daysAgo) {
  const d = new Date(Date.now() - daysAgo * 86400000);
  return d.toISOString().slice(0, 10);
}

/** The page and its parameters from the location hash, with the period filled in. */
function currentView() {
  const hash = window.location.hash.replace(/^#\/?/, '');
  const [name, search] = hash.split('?');
  const params = new URLSearchParams(search || '');
  if (!params.get('to')) params.set('to', day(0));
  if (!params.get('from')) params.set('from', day(6));
  return { page: PAGES[name] ? name : 'overview', params };
}

/** Goes to `page` with `params` (others kept when `keep`), which re-renders via hashchange. */
function navigate(page, params, keep = true) {
  const current = currentView();
  const next = keep ? current.params : new URLSearchParams();
  if (!keep) {
    for (const key of ['from', 'to', 'site']) {
      if (current.params.get(key)) next.set(key, current.params.get(key));
    }
  }
  for (const [key, value] of Object.entries(params || {})) {
    if (value === null || value === undefined || value === '') next.delete(key);
    else next.set(key, value);
  }
  const hash = `#/${page}?${next.toString()}`;
  if (window.location.hash === hash) render();
  else window.location.hash = hash;
}

function showSignIn(message) {
  signedIn = false;
  top.hidden = true;
  const token = el('input', {
    type: 'password', name: 'token', id: 'token', autocomplete: 'current-password',
    required: true, placeholder: 'admin or viewer token',
  });
  const status = el('p', { class: 'error', role: 'alert' }, message || '');
  const form = el('form', { class: 'sign-in', id: 'sign-in' },
    el('h1', {}, 'calltrack'),
    el('p', { class: 'muted' }, 'Sign in with the admin token or a read-only viewer token.'),
    el('label', { for: 'token' }, 'Token'), token,
    el('button', { type: 'submit' }, 'Sign in'), status);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const who = await api('/v1/auth/login', { method: 'POST', body: { token: token.value } });
      token.value = '';
      signedIn = true;
      role = who.role;
      render();
    } catch (error) {
      fill(status, error.status === 401 ? 'That token is not valid.' : error.message);
    }
  });
  fill(view, form);
  document.body.dataset.ready = 'sign-in';
}

async function render() {
  const ticket = ++rendering;
  const { page, params } = currentView();
  if (!signedIn) {
    try {
      const who = await api('/v1/auth/session');
      signedIn = true;
      role = who.role;
      // A local-only install without an admin token has nothing to sign out of.
      document.getElementById('sign-out').hidden = who.via === 'open';
    } catch (error) {
      if (ticket === rendering) showSignIn('');
      return;
    }
  }
  top.hidden = false;
  syncHeader(page, params);
  delete document.body.dataset.ready;
  delete document.body.dataset.error;
  const ctx = {
    from: params.get('from'),
    to: params.get('to'),
    site: params.get('site') || '',
    params,
    navigate: (patch) => navigate(page, patch),
    go: (name, patch) => navigate(name, patch, false),
    current: () => ticket === rendering,
    role,
  };
  fill(view, el('p', { class: 'muted' }, 'Loading…'));
  try {
    await PAGES[page].render(view, ctx);
  } catch (error) {
    if (ticket !== rendering) return;
    if (error instanceof ApiError && error.status === 401) {
      showSignIn('Your sign-in has ended; sign in again.');
      return;
    }
    const problems = (error.problems || []).map((p) => el('li', {}, p));
    fill(view, el('div', { class: 'error-box', role: 'alert' },
      el('strong', {}, 'Could not load this page: '), error.message, el('ul', {}, problems)));
    document.body.dataset.error = error.code || 'error';
  }
  if (ticket === rendering) document.body.dataset.ready = page;
}

function syncHeader(page, params) {
  for (const link of document.querySelectorAll('#nav a')) {
    const keep = new URLSearchParams();
    for (const key of ['from', 'to', 'site']) if (params.get(key)) keep.set(key, params.get(key));
    link.href = `#/${link.dataset.page}?${keep.toString()}`;
    link.classList.toggle('active', link.dataset.page === page);
    if (link.dataset.page === page) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  periodForm.from.value = params.get('from');
  periodForm.to.value = params.get('to');
  periodForm.site.value = params.get('site') || '';
}

periodForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const { page } = currentView();
  navigate(page, {
    from: periodForm.from.value, to: periodForm.to.value, site: periodForm.site.value.trim(),
    cursor: '',
  });
});

for (const button of periodForm.querySelectorAll('[data-days]')) {
  button.addEventListener('click', () => {
    const days = Number(button.dataset.days);
    const { page } = currentView();
    navigate(page, { from: day(days - 1), to: day(0), cursor: '' });
  });
}

document.getElementById('sign-out').addEventListener('click', async () => {
  try {
    await api('/v1/auth/logout', { method: 'POST' });
  } finally {
    showSignIn('Signed out.');
  }
});

window.addEventListener('hashchange', render);
render();
