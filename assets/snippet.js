/*! calltrack snippet: shows each visitor a tracked phone number in place of the site's default one.
 * Install: <script src="https://calltrack.example/v1/snippet.js" data-site="demo" data-number="74950000000" async></script>
 * ES2017, no dependencies. API: window.calltrack = { ready, number(), code(), session(), swap(root), refresh(), lead(data) }.
 * Overflow code: when the site's pools are exhausted the reserve number may come with a code; it is written
 * into elements marked data-calltrack-code, or else beside each swapped number as
 * <span class="calltrack-code">your code: 417</span> (label from the script's data-code-label).
 * Leads: calltrack.lead({name, phone, email, message, fields}) returns a Promise of {id, first_time};
 * forms marked <form data-calltrack-form> are sent as leads on submit (never blocking the submit). */
(function () {
  'use strict';
  if (window.calltrack) return;
  var script = document.currentScript || document.querySelector('script[data-site][src*="/v1/snippet.js"]');
  if (!script) return;
  var site = script.getAttribute('data-site');
  var defaultNumber = canonical(digits(script.getAttribute('data-number') || ''));
  var base = new URL('.', script.src); // ".../v1/"
  var NOSWAP = '[data-calltrack-noswap]';
  var codeLabel = script.getAttribute('data-code-label') || 'your code: ';
  var SKIP = { SCRIPT: 1, STYLE: 1, NOSCRIPT: 1, TEMPLATE: 1, TEXTAREA: 1, INPUT: 1, SELECT: 1, OPTION: 1 };
  // A run of digits with the separators phone numbers are written with.
  var RUN = /\+?\d[\d\s\u00a0().\u2010-\u2013-]*\d/g;

  var session = null;    // the last session response
  var placed = [];       // numbers this snippet has written into the page
  var timer = null;      // heartbeat timer
  var lastBeat = 0;      // Date.now() of the last heartbeat or creation
  var released = false;  // pagehide sent the release beacon
  var observer = null;
  var swapped = [];      // text nodes the last swap wrote a number into (for the overflow code)

  function digits(s) { return String(s).replace(/\D/g, ''); }
  /** Russian trunk prefix: 8XXXXXXXXXX is +7XXXXXXXXXX. */
  function canonical(d) { return d.length === 11 && d[0] === '8' ? '7' + d.slice(1) : d; }
  function api(path) { return new URL(path, base).href; }

  // ---- matching and formatting -------------------------------------------------------------

  /** The digits to write for `number` where `found` (digits as on the page) matched `target`. */
  function replacementDigits(found, target, number) {
    if (found === target) return number;
    var ru = number.length === 11 && number[0] === '7';
    if (found.length === 11 && found[0] === '8' && ru) return '8' + number.slice(1);
    if (found.length === 10 && ru) return number.slice(1);
    return null;
  }

  /** Whether digits found on the page are `target` in some common writing. */
  function matches(found, target) {
    if (found === target) return true;
    if (target.length !== 11 || target[0] !== '7') return false;
    return (found.length === 11 && found[0] === '8' && found.slice(1) === target.slice(1)) ||
      (found.length === 10 && found === target.slice(1));
  }

  /** Writes `repl` digits into `text`'s digit positions, keeping its punctuation. */
  function fill(text, repl) {
    var i = 0;
    return text.replace(/\d/g, function () { return repl[i++]; });
  }

  /** `text` with every target number replaced by `number`, or null when nothing matched. */
  function swapText(text, targets, number, display) {
    var changed = false;
    var out = text.replace(RUN, function (run) {
      var tokens = [];
      var re = /\d+/g;
      var m;
      while ((m = re.exec(run))) tokens.push({ start: m.index, end: m.index + m[0].length, d: m[0] });
      for (var i = 0; i < tokens.length; i++) {
        var acc = '';
        for (var j = i; j < tokens.length && acc.length < 13; j++) {
          acc += tokens[j].d;
          for (var t = 0; t < targets.length; t++) {
            if (!matches(acc, targets[t])) continue;
            var start = tokens[i].start;
            var repl = replacementDigits(acc, targets[t], number);
            var written = display;
            if (repl && repl.length === acc.length) written = fill(run.slice(start, tokens[j].end), repl);
            else if (run[start - 1] === '+') start -= 1; // display brings its own '+'
            changed = true;
            return run.slice(0, start) + written +
              swapTail(run.slice(tokens[j].end), targets, number, display);
          }
        }
      }
      return run;
    });
    return changed ? out : null;
  }

  function swapTail(rest, targets, number, display) {
    var swapped = swapText(rest, targets, number, display);
    return swapped === null ? rest : swapped;
  }

  // ---- DOM ---------------------------------------------------------------------------------

  function blocked(node) {
    var el = node.nodeType === 1 ? node : node.parentElement;
    if (!el) return true;
    if (el.closest(NOSWAP) || el.closest('script,style,noscript,template,textarea')) return true;
    return el.isContentEditable;
  }

  function filter(node) {
    if (node.nodeType === 3) return NodeFilter.FILTER_ACCEPT;
    if (SKIP[node.tagName] || node.hasAttribute('data-calltrack-noswap') || node.isContentEditable) {
      return NodeFilter.FILTER_REJECT;
    }
    return node.tagName === 'A' ? NodeFilter.FILTER_ACCEPT : NodeFilter.FILTER_SKIP;
  }

  /** Numbers to look for and the one to write, for the current session. */
  function plan() {
    if (!session) return null;
    var number = session.number;
    var targets = [defaultNumber].concat(placed).filter(function (n, i, all) {
      return n && n !== number && all.indexOf(n) === i;
    });
    return targets.length ? { targets: targets, number: number, display: session.display } : null;
  }

  function swapNode(node, p) {
    if (node.nodeType === 3) {
      var text = swapText(node.nodeValue, p.targets, p.number, p.display);
      if (text !== null) { node.nodeValue = text; swapped.push(node); }
      return;
    }
    var href = node.getAttribute('href');
    if (href && /^tel:/i.test(href)) {
      var tel = swapText(href.slice(4), p.targets, p.number, '+' + p.number);
      if (tel !== null) node.setAttribute('href', href.slice(0, 4) + tel);
    }
  }

  /** Replaces the default (or a previously shown) number everywhere under `root`. */
  function swap(root) {
    var p = plan();
    root = root || document.body;
    if (!p || !root || blocked(root)) return;
    if (root.nodeType === 3) { swapNode(root, p); return; }
    if (root.nodeType !== 1) return;
    if (filter(root) === NodeFilter.FILTER_ACCEPT) swapNode(root, p);
    var walker = document.createTreeWalker(root, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT, { acceptNode: filter });
    for (var node = walker.nextNode(); node; node = walker.nextNode()) swapNode(node, p);
    showCode();
  }

  // ---- the overflow code -------------------------------------------------------------------

  /** Writes the session's overflow code into [data-calltrack-code] elements, or beside each
   *  number this snippet wrote; removes it when the session has none. */
  function showCode() {
    var code = session && session.code ? String(session.code) : '';
    var marked = document.querySelectorAll('[data-calltrack-code]');
    Array.prototype.forEach.call(marked, function (el) {
      el.textContent = code ? codeLabel + code : '';
      el.hidden = !code;
    });
    if (!code) {
      Array.prototype.forEach.call(document.querySelectorAll('span.calltrack-code[data-calltrack-auto]'), function (el) {
        el.remove();
      });
    } else if (!marked.length) {
      swapped.forEach(function (node) { besideNumber(node, codeLabel + code); });
    }
    swapped = [];
  }

  function besideNumber(node, text) {
    var next = node.nextSibling;
    if (!node.parentNode) return;
    if (next && next.nodeType === 1 && next.hasAttribute('data-calltrack-auto')) { next.textContent = text; return; }
    var span = document.createElement('span');
    span.className = 'calltrack-code';
    span.setAttribute('data-calltrack-auto', '');
    span.setAttribute('data-calltrack-noswap', '');
    span.textContent = text;
    node.parentNode.insertBefore(span, next);
  }

  /** Single-page apps: swap whatever is added or rewritten later. */
  function observe() {
    if (observer || !window.MutationObserver) return;
    observer = new MutationObserver(function (records) {
      records.forEach(function (r) {
        if (r.type === 'characterData') swap(r.target);
        else if (r.type === 'attributes') swap(r.target);
        else r.addedNodes.forEach(function (n) { swap(n); });
      });
      observer.takeRecords(); // our own edits
    });
    observer.observe(document.documentElement, {
      childList: true, subtree: true, characterData: true, attributes: true, attributeFilter: ['href']
    });
  }

  // ---- identity ----------------------------------------------------------------------------

  function cookie(name) {
    var m = document.cookie.match(new RegExp('(?:^|;\\s*)' + name.replace(/[.$]/g, '\\$&') + '=([^;]*)'));
    return m ? decodeURIComponent(m[1]) : null;
  }

  function visitorId() {
    var key = 'calltrack_vid';
    var id = null;
    try { id = window.localStorage.getItem(key); } catch (e) { /* storage blocked */ }
    id = id || cookie(key);
    if (!id) {
      var bytes = new Uint8Array(16);
      window.crypto.getRandomValues(bytes);
      id = Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join('');
    }
    try { window.localStorage.setItem(key, id); } catch (e) {
      document.cookie = key + '=' + id + '; path=/; max-age=31536000; SameSite=Lax';
    }
    return id;
  }

  /** GA4 client id from `_ga` ("GA1.1.<random>.<time>"). */
  function gaClientId() {
    var v = cookie('_ga');
    var parts = v ? v.split('.') : [];
    return parts.length >= 4 ? parts.slice(-2).join('.') : null;
  }

  /** GA4 session id from `_ga_<stream>` ("GS1.1.<sid>.…" or "GS2.1.s<sid>$o1…"). */
  function gaSessionId() {
    var m = document.cookie.match(/(?:^|;\s*)_ga_[A-Z0-9]+=GS\d\.\d\.s?(\d+)/);
    return m ? m[1] : null;
  }

  // ---- the session -------------------------------------------------------------------------

  async function create() {
    var body = {
      visitor_id: visitorId(),
      page_url: location.href,
      referrer: document.referrer || null,
      ga_client_id: gaClientId(),
      ga_session_id: gaSessionId(),
      ym_client_id: cookie('_ym_uid')
    };
    var response = await fetch(api('sites/' + encodeURIComponent(site) + '/sessions'), {
      method: 'POST', mode: 'cors', credentials: 'omit',
      headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body)
    });
    if (response.status !== 201) throw new Error('calltrack: session ' + response.status);
    return response.json();
  }

  function adopt(next) {
    session = next;
    lastBeat = Date.now();
    swap(document.body);
    showCode();
    if (placed.indexOf(next.number) < 0) placed.push(next.number);
    observe();
    schedule();
    return next;
  }

  async function start() {
    released = false;
    try {
      return adopt(await create());
    } catch (e) {
      return null;
    }
  }

  /** A lease or an overflow code: kept alive by heartbeats, released when the page is left. */
  function dynamic() { return session && (session.kind === 'dynamic' || !!session.code) && !released; }

  function schedule() {
    clearTimeout(timer);
    timer = null;
    if (!dynamic() || document.visibilityState === 'hidden') return;
    var every = Math.max(1, session.heartbeat_secs || 30) * 1000;
    timer = setTimeout(beat, Math.max(0, lastBeat + every - Date.now()));
  }

  async function beat() {
    timer = null;
    if (!dynamic()) return;
    try {
      var url = api('sessions/' + encodeURIComponent(session.session_id) + '/heartbeat');
      var response = await fetch(url, { method: 'POST', mode: 'cors', credentials: 'omit' });
      if (response.status === 404) { await start(); return; }
      if (response.ok) { adopt(await response.json()); return; }
    } catch (e) { /* offline: try again next time */ }
    lastBeat = Date.now();
    schedule();
  }

  function release() {
    if (!dynamic()) return;
    released = true;
    clearTimeout(timer);
    var url = api('sessions/' + encodeURIComponent(session.session_id) + '/release');
    if (!(navigator.sendBeacon && navigator.sendBeacon(url))) {
      fetch(url, { method: 'POST', mode: 'cors', credentials: 'omit', keepalive: true }).catch(function () {});
    }
  }

  // ---- leads -------------------------------------------------------------------------------

  /** Form field names (lower case) that fill a lead's own fields; the rest go to `fields`. */
  var ALIASES = {
    name: 'name', fio: 'name', full_name: 'name', fullname: 'name', first_name: 'name', your_name: 'name',
    phone: 'phone', tel: 'phone', telephone: 'phone', mobile: 'phone', phone_number: 'phone',
    email: 'email', 'e-mail': 'email', mail: 'email',
    message: 'message', comment: 'message', comments: 'message', text: 'message', question: 'message'
  };
  /** Never sent: secrets and what the server would refuse anyway. */
  var SKIP_TYPES = { password: 1, file: 1, hidden: 1, submit: 1, button: 1, reset: 1, image: 1 };
  var SECRET = /pass|card|cvv|cvc|csrf|token|secret/i;
  var MAX_FIELDS = 50;
  var MAX_TEXT = 4000;
  var lastLead = { text: '', at: 0 };

  function clip(v) { return String(v == null ? '' : v).trim().slice(0, MAX_TEXT); }

  /** The lead body from what the caller gave: known keys kept, phone and email sanity-checked
   * (a value the server would refuse moves to `fields`, so the rest of the lead still counts). */
  function leadBody(data) {
    data = data || {};
    var body = { fields: {} };
    ['name', 'phone', 'email', 'message'].forEach(function (k) { if (clip(data[k])) body[k] = clip(data[k]); });
    var extra = data.fields || {};
    Object.keys(extra).slice(0, MAX_FIELDS).forEach(function (k) {
      if (clip(extra[k]) && clip(k)) body.fields[clip(k).slice(0, 64)] = clip(extra[k]);
    });
    if (body.phone && !/^[\d\s+().-]+$/.test(body.phone)) { body.fields.phone = body.phone; delete body.phone; }
    if (body.email && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(body.email)) { body.fields.email = body.email; delete body.email; }
    if (!Object.keys(body.fields).length) delete body.fields;
    return body;
  }

  function leadUrl() { return api('sessions/' + encodeURIComponent(session.session_id) + '/leads'); }

  /** `calltrack.lead({...})`: resolves with `{id, first_time}` (`first_time` is null when the
   * server accepted the lead while its store was unreachable: 202, written later), rejects with
   * the status and the server's JSON error (`error.status`, `error.body`). */
  async function lead(data) {
    if (!session) await ready;
    if (!session) throw new Error('calltrack: no session');
    var response = await fetch(leadUrl(), {
      method: 'POST', mode: 'cors', credentials: 'omit', keepalive: true,
      headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(leadBody(data))
    });
    var answer = await response.json().catch(function () { return null; });
    if (response.status !== 201 && response.status !== 202) {
      var error = new Error('calltrack: lead ' + response.status);
      error.status = response.status;
      error.body = answer;
      throw error;
    }
    return answer;
  }

  /** What a marked form holds: named, enabled, filled inputs, secrets and hidden ones left out. */
  function formData(form) {
    var data = { fields: {} };
    var count = 0;
    Array.prototype.forEach.call(form.elements, function (el) {
      var name = el.name;
      var type = String(el.type || '').toLowerCase();
      if (!name || el.disabled || SKIP_TYPES[type] || SECRET.test(name)) return;
      if (el.closest('[data-calltrack-ignore]')) return;
      if ((type === 'checkbox' || type === 'radio') && !el.checked) return;
      var value = el.tagName === 'SELECT' && el.multiple
        ? Array.prototype.map.call(el.selectedOptions, function (o) { return o.value; }).join(', ')
        : el.value;
      value = clip(value);
      if (!value) return;
      var key = el.getAttribute('data-calltrack-field') || ALIASES[name.toLowerCase()] ||
        (type === 'tel' ? 'phone' : type === 'email' ? 'email' : null);
      if (key && !data[key]) { data[key] = value; return; }
      if (count >= MAX_FIELDS) return;
      count += data.fields[name] ? 0 : 1;
      data.fields[name] = data.fields[name] ? data.fields[name] + ', ' + value : value;
    });
    return data;
  }

  /** Sends a lead while the page may be navigating away: a beacon (JSON as text/plain, which
   * needs no preflight), else a keepalive fetch. Fire and forget. */
  function beaconLead(body) {
    if (!session) return;
    var url = leadUrl();
    var text = JSON.stringify(body);
    var now = Date.now();
    if (text === lastLead.text && now - lastLead.at < 3000) return; // a double submit
    lastLead = { text: text, at: now };
    if (navigator.sendBeacon && navigator.sendBeacon(url, text)) return;
    fetch(url, {
      method: 'POST', mode: 'cors', credentials: 'omit', keepalive: true,
      headers: { 'Content-Type': 'text/plain;charset=UTF-8' }, body: text
    }).catch(function () {});
  }

  /** Capture phase, before the site's own handlers; never cancels or delays the submit. */
  function onSubmit(event) {
    try {
      var form = event.target;
      if (!form || form.tagName !== 'FORM' || !form.closest('[data-calltrack-form]')) return;
      var body = leadBody(formData(form));
      if (!body.phone && !body.email) return;
      if (session) beaconLead(body);
      else ready.then(function () { beaconLead(body); });
    } catch (e) { /* the site's form matters more than our lead */ }
  }

  document.addEventListener('submit', onSubmit, true);
  document.addEventListener('visibilitychange', schedule);
  window.addEventListener('pagehide', release);
  window.addEventListener('pageshow', function (e) { if (e.persisted && released) start(); });

  var domReady = new Promise(function (resolve) {
    if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', resolve);
    else resolve();
  });
  var ready = domReady.then(start);

  window.calltrack = {
    ready: ready,
    number: function () { return session ? session.number : defaultNumber; },
    code: function () { return session && session.code ? session.code : null; },
    session: function () { return session ? Object.assign({}, session) : null; },
    swap: function (root) { swap(root); },
    refresh: start,
    lead: lead
  };
})();
