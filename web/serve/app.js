/* mortar serve web UI (docs/ui.md, docs/adr/0014-web-ui.md): one page, plain JavaScript, uPlot
 * for the charts. Hash routes (#/runs, #/runs/ID, ...); every API call carries the token from
 * localStorage as "Authorization: Bearer"; a 401 goes back to the login page. Loaded from
 * /ui/app.js under a strict Content-Security-Policy: no inline script, no inline handlers, no
 * HTML built from strings (all text goes in with textContent). window.mortarUI exposes the
 * charts and counters to the browser tests and bench/ui.sh. */
(function () {
  'use strict';

  const API = '/api/v1';
  const TOKEN_KEY = 'mortar.token';
  const FINAL = ['passed', 'failed', 'stopped', 'interrupted', 'error'];
  const STATES = ['queued', 'running'].concat(FINAL);
  const app = document.getElementById('app');
  const top = document.getElementById('top');

  /* What the tests and the bench read: the current page, its charts (uPlot instances by name),
   * SSE counters, and when the charts first drew with all the data they had. */
  const UI = (window.mortarUI = {
    page: '', charts: {}, marks: {}, sseEvents: 0, seconds: 0, live: false, state: null,
    ready: false, drawnMs: null, navStart: 0,
  });

  /* ---- DOM helpers ------------------------------------------------------------------------ */
  function h(tag, attrs) {
    const e = document.createElement(tag);
    if (attrs) {
      for (const k of Object.keys(attrs)) {
        const v = attrs[k];
        if (v == null || v === false) continue;
        if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
        else if (k === 'class') e.className = v;
        else if (k === 'value') e.value = v;
        else if (k === 'checked') e.checked = !!v;
        else if (v === true) e.setAttribute(k, '');
        else e.setAttribute(k, String(v));
      }
    }
    for (let i = 2; i < arguments.length; i++) add(e, arguments[i]);
    return e;
  }
  function add(e, kid) {
    if (kid == null || kid === false) return;
    if (Array.isArray(kid)) kid.forEach((k) => add(e, k));
    else if (kid instanceof Node) e.appendChild(kid);
    else e.appendChild(document.createTextNode(String(kid)));
  }
  function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); return e; }
  /* a table's header row; "#name" is a right-aligned (numeric) column */
  function headRow(names) {
    return h('tr', null, names.map((x) => (x[0] === '#' ? h('th', { class: 'num' }, x.slice(1)) : h('th', null, x))));
  }
  function link(href, text, cls) { return h('a', { href: href, class: cls }, text); }

  /* ---- formatting ------------------------------------------------------------------------- */
  function trim3(v) {
    const a = Math.abs(v);
    return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2);
  }
  function fmtUs(us) {
    if (us == null || !isFinite(us)) return '–';
    const a = Math.abs(us);
    if (a < 1000) return Math.round(us) + ' µs';
    if (a < 1e6) return trim3(us / 1000) + ' ms';
    return trim3(us / 1e6) + ' s';
  }
  function fmtNum(v, digits) {
    if (v == null || !isFinite(v)) return '–';
    return Number(v).toLocaleString('en-US', { maximumFractionDigits: digits == null ? 2 : digits });
  }
  function fmtShort(v) {
    if (v == null || !isFinite(v)) return '–';
    const a = Math.abs(v);
    if (a >= 1e9) return trim3(v / 1e9) + 'G';
    if (a >= 1e6) return trim3(v / 1e6) + 'M';
    if (a >= 1e4) return trim3(v / 1e3) + 'k';
    return Number.isInteger(v) ? String(v) : trim3(v);
  }
  const fmtPct = MortarFmt.pct; /* web/shared/fmt.js: takes a fraction */
  const cnt = MortarFmt.counter;
  function fmtDur(s) {
    if (s == null || !isFinite(s)) return '–';
    s = Math.round(s);
    const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
    if (hh) return hh + 'h ' + String(mm).padStart(2, '0') + 'm';
    if (mm) return mm + 'm ' + String(ss).padStart(2, '0') + 's';
    return ss + 's';
  }
  function fmtT(t, span) {
    if (t == null) return '';
    t = Math.round(t);
    span = Math.max(span || 0, t);
    const hh = Math.floor(t / 3600), mm = Math.floor((t % 3600) / 60), ss = t % 60;
    if (span >= 3600) return hh + ':' + String(mm).padStart(2, '0') + ':' + String(ss).padStart(2, '0');
    if (span >= 60) return mm + ':' + String(ss).padStart(2, '0');
    return ss + 's';
  }
  function fmtTime(iso) {
    if (!iso) return '–';
    const d = new Date(iso);
    if (isNaN(d)) return String(iso);
    const p = (n) => String(n).padStart(2, '0');
    return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + ' ' + p(d.getHours()) + ':' +
      p(d.getMinutes()) + ':' + p(d.getSeconds());
  }
  function shortId(id) { return id ? String(id).slice(-8) : '–'; }
  /* " by NAME" (the API token that created the run) or " by schedule ID"; nothing when unknown */
  function createdBy(run) {
    const b = run.created_by;
    if (!b || typeof b !== 'object') return '';
    if (b.schedule_id) return [' by schedule ', link('#/schedules', shortId(b.schedule_id))];
    if (b.token_id) return [' by ', h('span', { class: 'mono', id: 'run-created-by', title: 'token ' + b.token_id + ' (' + (b.role || '') + ')' }, b.token_name ? String(b.token_name) : 'token ' + shortId(b.token_id))];
    return '';
  }
  function runDuration(r) {
    if (r.summary && r.summary.duration_s != null) return r.summary.duration_s;
    if (r.started_at) {
      const end = r.ended_at ? Date.parse(r.ended_at) : Date.now();
      return (end - Date.parse(r.started_at)) / 1000;
    }
    return null;
  }
  function stateBadge(state) {
    return h('span', { class: 'badge state-' + state, 'data-state': state }, state || '?');
  }
  /* The run's baseline verdict (docs/analysis.md), or null. */
  function baselineOf(v) {
    return Array.isArray(v) ? v.find((x) => x && x.kind === 'baseline') || null : null;
  }
  /* "regressed" / "≈ baseline" badge of a baseline verdict (runs list, run page) */
  function baselineBadge(b) {
    if (!b) return null;
    return h('span', { class: 'badge baseline ' + (b.regressed ? 'bad' : 'ok'), 'data-baseline': b.regressed ? 'regressed' : 'ok', title: b.message || '' },
      b.regressed ? '▲ regressed' : '≈ baseline');
  }
  function verdictsCell(v) {
    if (!Array.isArray(v) || !v.length) return h('span', { class: 'dim' }, '–');
    const rest = v.filter((x) => !x || x.kind !== 'baseline');
    const ok = rest.filter((x) => x.passed).length, bad = rest.length - ok;
    return h('span', { class: 'verdicts', title: v.map((x) => (x.passed ? '✓ ' : '✗ ') + (x.kind || '') + ' ' + (x.spec || x.message || '')).join('\n') },
      ok ? h('span', { class: 'badge ok' }, '✓ ' + ok) : null, bad ? h('span', { class: 'badge bad' }, '✗ ' + bad) : null,
      baselineBadge(baselineOf(v)));
  }
  /* The baseline verdict's table: one row per metric, its change, tolerance, p-value, decision. */
  function baselineTable(b, id) {
    const f = (name) => metricFmt(name);
    return h('table', { class: 'list', id },
      h('thead', null, h('tr', null, ['metric', 'run', 'base', 'delta %', 'tolerance', 'p', 'decision'].map((x) => h('th', { class: x !== 'metric' && x !== 'decision' ? 'num' : null }, x)))),
      h('tbody', null, (b.metrics || []).map((m) => h('tr', { class: m.decision === 'regressed' ? 'bad-row' : null, 'data-metric': m.name, 'data-decision': m.decision },
        h('td', null, m.name), h('td', { class: 'num' }, f(m.name)(m.run)), h('td', { class: 'num' }, f(m.name)(m.base)),
        h('td', { class: 'num' }, m.delta_pct == null ? '–' : (m.delta_pct > 0 ? '+' : '') + fmtNum(m.delta_pct, 1) + '%'),
        h('td', { class: 'num dim' }, m.tolerance_kind === 'abs' ? '±' + fmtPct(m.tolerance) : '±' + fmtNum(m.tolerance, 2) + '%'),
        h('td', { class: 'num', title: 'Mann-Whitney U on the per-second values; significant below alpha ' + b.alpha }, m.p_value == null ? '–' : m.p_value < 0.0001 ? '<0.0001' : fmtNum(m.p_value, 4)),
        h('td', null, h('span', { class: 'badge ' + (m.decision === 'regressed' ? 'bad' : m.decision === 'improved' ? 'ok' : '') }, String(m.decision).replace('_', ' ')))))));
  }

  /* ---- auth and API ----------------------------------------------------------------------- */
  let loginNote = '';
  function token() { try { return localStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return ''; } }
  function setToken(t) { try { if (t) localStorage.setItem(TOKEN_KEY, t); else localStorage.removeItem(TOKEN_KEY); } catch (e) { /* private mode */ } }
  /* The token's role: elements marked needs-runner / needs-admin are hidden (app.css) from
   * tokens that may not use them; the API would answer 403 anyway. */
  let myRole = null;
  function applyRole(role) {
    myRole = role;
    document.body.classList.toggle('role-viewer', role === 'viewer');
    document.body.classList.toggle('role-runner', role === 'runner');
    document.body.dataset.role = role || '';
  }
  function logout(note) {
    applyRole(null);
    setToken('');
    loginNote = note || '';
    if (location.hash !== '#/login') location.hash = '#/login';
    else route();
  }
  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    const x = Array.from(b, (n) => n.toString(16).padStart(2, '0')).join('');
    return x.slice(0, 8) + '-' + x.slice(8, 12) + '-' + x.slice(12, 16) + '-' + x.slice(16, 20) + '-' + x.slice(20);
  }

  /* Idempotency keys: one random part per form, plus a hash of the body, so a double submit
   * replays the first answer and an edited form is a new request (FNV-1a, 32 bits, hex). */
  function fnv(str) {
    let x = 0x811c9dc5;
    for (let i = 0; i < str.length; i++) { x ^= str.charCodeAt(i); x = Math.imul(x, 0x01000193) >>> 0; }
    return x.toString(16).padStart(8, '0');
  }

  /* An RFC 9457 problem (or what we could make of a non-problem error body). */
  class ApiError extends Error {
    constructor(status, problem, silent) {
      super((problem && (problem.detail || problem.title)) || 'HTTP ' + status);
      this.status = status;
      this.problem = problem || {};
      this.silent = !!silent; /* already handled (401: back to the login page) */
    }
  }
  async function readProblem(res) {
    let text = '';
    try { text = await res.text(); } catch (e) { /* body lost */ }
    let p = null;
    try { p = JSON.parse(text); } catch (e) { /* not JSON */ }
    if (!p || typeof p !== 'object') p = { title: res.statusText || 'HTTP error', detail: text.slice(0, 500) || null };
    if (p.status == null) p.status = res.status;
    return p;
  }
  function authHeaders(extra) {
    const hd = { Authorization: 'Bearer ' + token() };
    return Object.assign(hd, extra || {});
  }
  async function fetchApi(method, path, body, opts) {
    opts = opts || {};
    const hd = authHeaders({ Accept: opts.accept || 'application/json' });
    if (body !== undefined) hd['Content-Type'] = 'application/json';
    if (method === 'POST') hd['Idempotency-Key'] = opts.key || uuid();
    let res;
    try {
      res = await fetch(API + path, { method: method, headers: hd, body: body === undefined ? undefined : JSON.stringify(body), signal: opts.signal, cache: 'no-store' });
    } catch (e) {
      if (e && e.name === 'AbortError') throw e;
      throw new ApiError(0, { title: 'Cannot reach the server', detail: String((e && e.message) || e) });
    }
    if (res.status === 401) {
      const p = await readProblem(res);
      logout('The server did not accept the token (401' + (p.detail ? ': ' + p.detail : '') + '). Paste a valid token.');
      throw new ApiError(401, p, true);
    }
    if (!res.ok) throw new ApiError(res.status, await readProblem(res));
    return res;
  }
  async function api(method, path, body, opts) {
    const res = await fetchApi(method, path, body, opts);
    if (res.status === 204) return null;
    const text = await res.text();
    if (!text) return null;
    try { return JSON.parse(text); } catch (e) {
      throw new ApiError(res.status, { title: 'The server sent something that is not JSON', detail: text.slice(0, 300) });
    }
  }
  const get = (p, o) => api('GET', p, undefined, o);

  /* Shows an error where it happened; problem details in full (title, status, detail, the
   * per-field errors), never swallowed. Abort errors (we left the page) and handled 401s are
   * not errors for the user. */
  function problemBox(err) {
    if (!err || err.name === 'AbortError' || err.silent) return null;
    const p = err instanceof ApiError ? err.problem : { title: 'Error', detail: String((err && err.message) || err) };
    const st = err instanceof ApiError && err.status ? err.status : p.status;
    const box = h('div', { class: 'problem', role: 'alert' },
      h('div', { class: 'problem-title' }, (st ? st + ' ' : '') + (p.title || 'Error')),
      p.detail ? h('div', { class: 'problem-detail' }, String(p.detail)) : null);
    if (Array.isArray(p.errors) && p.errors.length) {
      box.appendChild(h('ul', { class: 'problem-errors' }, p.errors.map((x) =>
        h('li', null, x.pointer ? h('code', null, x.pointer) : null, x.pointer ? ': ' : '', String(x.detail || x.message || JSON.stringify(x))))));
    }
    if (p.type && !/about:blank/.test(p.type)) box.appendChild(h('div', { class: 'problem-type dim' }, p.type));
    if (p.instance) box.appendChild(h('div', { class: 'problem-type dim' }, p.instance));
    return box;
  }
  function showError(where, err) {
    const box = problemBox(err);
    if (!box) return;
    if (where) { clear(where); where.appendChild(box); } else app.insertBefore(box, app.firstChild);
  }

  /* ---- routing ---------------------------------------------------------------------------- */
  let ctx = null;
  const routes = [
    [/^\/login$/, pageLogin, 'login'],
    [/^\/runs$/, pageRuns, 'runs'],
    [/^\/runs\/new$/, pageNewRun, 'new'],
    [/^\/runs\/([^/]+)$/, pageRun, 'run'],
    [/^\/runs\/([^/]+)\/compare$/, pageCompare, 'compare'],
    [/^\/tests$/, pageTests, 'tests'],
    [/^\/tests\/new$/, pageTestEdit, 'test-new'],
    [/^\/tests\/([^/]+)$/, pageTest, 'test'],
    [/^\/schedules$/, pageSchedules, 'schedules'],
    [/^\/agents$/, pageAgents, 'agents'],
  ];
  function route() {
    if (ctx) ctx.leave();
    const raw = location.hash.replace(/^#/, '') || '/runs';
    const qi = raw.indexOf('?');
    const path = qi < 0 ? raw : raw.slice(0, qi);
    const query = new URLSearchParams(qi < 0 ? '' : raw.slice(qi + 1));
    const ac = new AbortController();
    const cleanups = [];
    ctx = {
      signal: ac.signal,
      query: query,
      alive: true,
      onLeave: (f) => cleanups.push(f),
      leave() { this.alive = false; ac.abort(); cleanups.forEach((f) => { try { f(); } catch (e) { /* ignore */ } }); },
    };
    UI.charts = {}; UI.sseEvents = 0; UI.seconds = 0; UI.live = false; UI.ready = false; UI.drawnMs = null; UI.state = null;
    UI.navStart = performance.now();
    clear(app);
    if (!token() && path !== '/login') { location.hash = '#/login'; return; }
    if (token() && !myRole && path !== '/login')
      get('/whoami').then((w) => { if (w && w.role) applyRole(w.role); UI.traceUrl = (w && w.trace_url) || null; }).catch(() => { /* shown by the page's own calls */ });
    let found = null, m = null;
    for (const r of routes) { m = r[0].exec(path); if (m) { found = r; break; } }
    if (!found) { location.hash = '#/runs'; return; }
    UI.page = found[2];
    renderNav(found[2]);
    const c = ctx;
    Promise.resolve().then(() => found[1](c, m.slice(1).map(decodeURIComponent))).catch((e) => { if (c.alive) showError(null, e); });
  }
  function go(hash) { if (location.hash === hash) route(); else location.hash = hash; }
  window.addEventListener('hashchange', route);

  function renderNav(page) {
    clear(top);
    if (page === 'login') { top.appendChild(h('div', { class: 'nav' }, h('span', { class: 'logo' }, 'mortar'))); return; }
    const item = (href, text, names) => h('a', { href: href, class: names.indexOf(page) >= 0 ? 'active' : null }, text);
    top.appendChild(h('nav', { class: 'nav' },
      h('span', { class: 'logo' }, 'mortar'),
      item('#/runs', 'Runs', ['runs', 'run', 'compare']),
      h('span', { class: 'needs-runner' }, item('#/runs/new', 'Start a run', ['new'])),
      item('#/tests', 'Tests', ['tests', 'test', 'test-new']),
      item('#/schedules', 'Schedules', ['schedules']),
      item('#/agents', 'Agents', ['agents']),
      h('span', { class: 'grow' }),
      h('span', { class: 'dim host' }, location.host),
      h('button', { class: 'link', id: 'logout', onclick: () => logout('Logged out.') }, 'Log out')));
  }

  /* ---- login ------------------------------------------------------------------------------ */
  function pageLogin(c) {
    const input = h('input', { type: 'password', id: 'token', autocomplete: 'off', spellcheck: 'false', placeholder: 'mortar token', size: 48 });
    const msg = h('div', { id: 'login-msg' });
    if (loginNote) msg.appendChild(h('div', { class: 'note' }, loginNote));
    const form = h('form', { class: 'card login', id: 'login-form' },
      h('h1', null, 'Log in to mortar'),
      h('p', { class: 'dim' }, 'Paste an API token (made with ', h('code', null, 'mortar token create --role viewer|runner|admin'),
        '). It is kept in this browser\'s localStorage and sent as a bearer token with every call.'),
      h('label', { for: 'token' }, 'Token'), input,
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', id: 'login' }, 'Log in')),
      msg);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const t = input.value.trim();
      clear(msg);
      if (!t) { msg.appendChild(h('div', { class: 'problem' }, 'Paste a token first.')); return; }
      setToken(t);
      loginNote = '';
      try {
        await get('/runs?limit=1', { signal: c.signal });
        go('#/runs');
      } catch (e) {
        if (e.silent) return; /* 401: logout() re-rendered this page with the message */
        setToken('');
        showError(msg, e);
      }
    });
    app.appendChild(form);
    input.focus();
  }

  /* ---- tests cache (names for lists) ------------------------------------------------------- */
  async function loadTests(c) {
    const items = [];
    let cursor = null;
    for (let i = 0; i < 20; i++) {
      const r = await get('/tests?limit=500' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''), { signal: c.signal });
      const list = Array.isArray(r) ? r : (r && r.items) || [];
      items.push.apply(items, list);
      cursor = r && r.next_cursor;
      if (!cursor) break;
    }
    return items;
  }
  function testNames(tests) { const m = {}; tests.forEach((t) => { m[t.id] = t.name; }); return m; }

  /* ---- runs list -------------------------------------------------------------------------- */
  async function pageRuns(c) {
    const q = c.query;
    const state = q.get('state') || '', test = q.get('test') || '', cursor = q.get('cursor') || '';
    const prev = q.get('prev') ? q.get('prev').split(',') : [];
    const stateSel = h('select', { id: 'filter-state' }, h('option', { value: '' }, 'any state'), STATES.map((s) => h('option', { value: s }, s)));
    stateSel.value = state;
    const testSel = h('select', { id: 'filter-test' }, h('option', { value: '' }, 'any test'));
    const err = h('div');
    const testsErr = h('div'); /* the test filter's own error stays when the rows refresh */
    const body = h('tbody');
    const pager = h('div', { class: 'pager' });
    const apply = (extra) => {
      const p = new URLSearchParams();
      if (stateSel.value) p.set('state', stateSel.value);
      if (testSel.value) p.set('test', testSel.value);
      if (q.get('limit')) p.set('limit', q.get('limit'));
      if (extra) Object.keys(extra).forEach((k) => { if (extra[k]) p.set(k, extra[k]); });
      go('#/runs' + (p.toString() ? '?' + p : ''));
    };
    stateSel.addEventListener('change', () => apply());
    testSel.addEventListener('change', () => apply());
    app.appendChild(h('div', { class: 'page-head' }, h('h1', null, 'Runs'), h('span', { class: 'grow' }),
      h('label', null, 'State ', stateSel), h('label', null, 'Test ', testSel),
      h('button', { onclick: () => route() }, 'Refresh'), link('#/runs/new', 'Start a run', 'button primary needs-runner')));
    app.appendChild(testsErr);
    app.appendChild(err);
    app.appendChild(h('div', { class: 'card' }, h('table', { class: 'list', id: 'runs' },
      h('thead', null, headRow(['Run', 'State', 'Verdicts', 'Test', 'Started', '#Duration', '#rps', '#p99'])), body), pager));

    let names = {};
    try {
      const tests = await loadTests(c);
      names = testNames(tests);
      tests.forEach((t) => testSel.appendChild(h('option', { value: t.id }, t.name)));
      testSel.value = test;
    } catch (e) { showError(testsErr, e); }
    const limit = Math.min(500, Math.max(1, parseInt(q.get('limit'), 10) || 25));
    const p = new URLSearchParams({ limit: String(limit) });
    if (state) p.set('state', state);
    if (test) p.set('test_id', test);
    if (cursor) p.set('cursor', cursor);
    /* fills the table; called again every 3 s while a run on the page is queued or running
     * (only the rows change, so the filters keep their focus and the page its scroll) */
    async function load() {
      let r;
      try { r = await get('/runs?' + p, { signal: c.signal }); } catch (e) { showError(err, e); return; }
      if (!c.alive) return;
      clear(err); clear(body); clear(pager);
      const items = (r && r.items) || [];
      if (!items.length) body.appendChild(h('tr', null, h('td', { colspan: 8, class: 'dim empty' }, 'No runs' + (state || test ? ' match the filters.' : ' yet.'))));
      for (const run of items) {
        const s = run.summary || {};
        const lat = s.latency_us || {};
        const tr = h('tr', { class: 'clickable', 'data-run': run.id },
          h('td', null, link('#/runs/' + encodeURIComponent(run.id), shortId(run.id), 'mono')),
          h('td', null, stateBadge(run.state)),
          h('td', null, verdictsCell(run.verdicts)),
          h('td', null, run.test_id ? link('#/tests/' + encodeURIComponent(run.test_id), names[run.test_id] || shortId(run.test_id)) : h('span', { class: 'dim' }, 'ad hoc')),
          h('td', null, fmtTime(run.started_at || run.created_at)),
          h('td', { class: 'num' }, fmtDur(runDuration(run))),
          h('td', { class: 'num' }, fmtNum(s.rps, 1)),
          h('td', { class: 'num' }, fmtUs(lat.p99)));
        tr.addEventListener('click', (ev) => { if (!ev.target.closest('a')) go('#/runs/' + encodeURIComponent(run.id)); });
        body.appendChild(tr);
      }
      if (prev.length) {
        const back = prev.slice(0, -1);
        pager.appendChild(h('button', { id: 'prev-page', onclick: () => apply({ cursor: prev[prev.length - 1] === '-' ? '' : prev[prev.length - 1], prev: back.join(',') }) }, '← Newer'));
      }
      if (r && r.next_cursor) {
        pager.appendChild(h('button', { id: 'next-page', onclick: () => apply({ cursor: r.next_cursor, prev: prev.concat([cursor || '-']).join(',') }) }, 'Older →'));
      }
      if (items.some((x) => x.state === 'queued' || x.state === 'running')) {
        const tm = setTimeout(() => { if (c.alive) load(); }, 3000);
        c.onLeave(() => clearTimeout(tm));
      }
    }
    await load();
  }

  /* ---- per-second columns and charts -------------------------------------------------------- */
  /* Columns of the per-second series items (the result JSON's "seconds" entries), as uPlot
   * takes them. Rates are per second of span (the last second may be partial). */
  function newCols() {
    return { t: [], due: [], done: [], err: [], p50: [], p90: [], p99: [], max: [], open: [], backlog: [], gen: [], genMax: [], status: {}, kinds: {}, lastT: -1 };
  }
  const pos = (v) => (v > 0 ? v : null); /* a log scale has no 0: no data that second is a gap */
  function pushSecond(cols, s) {
    if (!s || typeof s.t !== 'number' || s.t <= cols.lastT) return false;
    cols.lastT = s.t;
    const span = s.span_s > 0 ? s.span_s : 1;
    const n = cols.t.length;
    const lat = s.latency_us || {};
    cols.t.push(s.t);
    cols.due.push(cnt(s, 'due', true) / span);
    cols.done.push(cnt(s, 'completed', true) / span);
    cols.err.push(cnt(s, 'errors', true) / span);
    cols.p50.push(pos(lat.p50)); cols.p90.push(pos(lat.p90)); cols.p99.push(pos(lat.p99)); cols.max.push(pos(lat.max));
    cols.open.push(s.open_connections || 0);
    cols.backlog.push(s.backlog || 0);
    /* the generator's own CPU, % of one core (absent in imports and older runs: 0) */
    cols.gen.push(cnt(s, 'gen_cpu', true) / 1e4 / span);
    cols.genMax.push(cnt(s, 'gen_cpu_max', true) / 1e4 / span);
    /* a column per status code and error kind seen so far, zero-filled before it appeared */
    const st = s.status || {};
    for (const code in st) if (!cols.status[code]) cols.status[code] = new Array(n).fill(0);
    for (const code in cols.status) cols.status[code].push((st[code] || 0) / span);
    const ek = s.errors_by_kind || {};
    for (const k in ek) if (ek[k] > 0 && !cols.kinds[k]) cols.kinds[k] = new Array(n).fill(0);
    for (const k in cols.kinds) cols.kinds[k].push((ek[k] || 0) / span);
    return true;
  }

  const COL = { planned: '#64748b', ok: '#2563eb', err: '#dc2626', p50: '#2563eb', p90: '#0d9488', p99: '#d97706', max: '#6b7280', open: '#7c3aed', backlog: '#d97706', a: '#2563eb', b: '#ea580c' };
  const STATUS_COL = { 1: '#64748b', 2: '#16a34a', 3: '#0891b2', 4: '#d97706', 5: '#dc2626', o: '#7c3aed' };
  const KIND_COL = ['#9333ea', '#be123c', '#854d0e', '#0f766e', '#4338ca', '#a21caf', '#b91c1c'];
  function statusColor(code, i) {
    const base = STATUS_COL[code[0]] || STATUS_COL.o;
    return i ? shade(base, i) : base;
  }
  function shade(hex, i) { /* lighter variants for a second code of the same class */
    const n = parseInt(hex.slice(1), 16), f = Math.min(0.6, 0.25 * i);
    const ch = (s) => Math.round(((n >> s) & 255) + (255 - ((n >> s) & 255)) * f);
    return 'rgb(' + ch(16) + ',' + ch(8) + ',' + ch(0) + ')';
  }

  /* The charts of a run (live or finished), built from cols. Each def: name, title, log?, fmt,
   * series() -> [[label, color, array, dash?]]. */
  const RUN_CHARTS = [
    { name: 'rps', title: 'Requests per second: planned (due) vs achieved (completed)', fmt: fmtShort,
      series: (c) => [['planned (due)', COL.planned, c.due, [6, 4]], ['achieved (completed)', COL.ok, c.done], ['errors', COL.err, c.err]] },
    { name: 'latency', title: 'Latency (from due time)', log: true, fmt: fmtUs,
      series: (c) => [['p50', COL.p50, c.p50], ['p90', COL.p90, c.p90], ['p99', COL.p99, c.p99], ['max', COL.max, c.max, [4, 3]]] },
    { name: 'status', title: 'Responses by status code (per second)', fmt: fmtShort,
      series: (c) => {
        const codes = Object.keys(c.status).sort();
        const seen = {};
        return codes.length ? codes.map((code) => { const k = code[0]; seen[k] = (seen[k] || 0) + 1; return [code, statusColor(code, seen[k] - 1), c.status[code]]; })
          : [['no responses', COL.planned, c.t.map(() => 0)]];
      } },
    { name: 'errors', title: 'Errors by kind (per second)', fmt: fmtShort,
      series: (c) => {
        const ks = Object.keys(c.kinds).sort();
        return ks.length ? ks.map((k, i) => [k, KIND_COL[i % KIND_COL.length], c.kinds[k]]) : [['errors', COL.err, c.err]];
      } },
    { name: 'connections', title: 'Open connections and backlog', fmt: fmtShort, int: true,
      series: (c) => [['open connections', COL.open, c.open], ['backlog (due, unsent)', COL.backlog, c.backlog]] },
    { name: 'generator', title: 'Generator CPU (% of one core): all worker threads, the busiest one', fmt: fmtShort,
      series: (c) => [['all worker threads', COL.ok, c.gen], ['busiest thread', COL.backlog, c.genMax]] },
  ];

  /* whole seconds on the time axis: 1s, 2s, 5s ... 1h */
  const INT_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7];
  const T_INCRS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400];
  function logRange(u, min, max) {
    if (min == null || max == null) return [1, 10];
    return uPlot.rangeLog(Math.max(1, min), Math.max(min * 10, max), 10, true);
  }
  /* a mortar duration ("500ms", "10s", "2m", "1h", "90") in seconds, or null */
  function parseDur(v) {
    if (typeof v === 'number') return v > 0 ? v : null;
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(String(v || ''));
    if (!m) return null;
    const k = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }[m[2] || 's'];
    return +m[1] * k || null;
  }
  function chartOpts(def, seriesList, width, xs, onDraw, xMax) {
    return {
      width: width, height: 210,
      legend: { live: true },
      cursor: { sync: { key: 'mortar-ui' }, drag: { x: true, y: false } },
      scales: { x: xMax ? { time: false, range: (u, min, max) => [0, Math.max(xMax, max || 0)] } : { time: false }, y: def.log ? { distr: 3, range: logRange } : { range: (u, min, max) => [0, max > 0 ? max * 1.08 : 1] } },
      axes: [
        { values: (u, vals) => vals.map((v) => (xs ? xs(v) : fmtT(v, u.scales.x.max))), size: 30, incrs: T_INCRS },
        Object.assign({ values: (u, vals) => vals.map((v) => def.fmt(v)), size: 74 }, def.int ? { incrs: INT_INCRS } : {}),
      ],
      series: [{ label: 't', value: (u, v) => (v == null ? '–' : xs ? xs(v) : fmtT(v, u.scales.x.max)) }].concat(seriesList.map((s) => ({
        label: s[0], stroke: s[1], width: 1.5, dash: s[3], spanGaps: false, points: { show: false },
        value: (u, v) => (v == null ? '–' : def.fmt(v)),
      }))),
      hooks: { draw: [onDraw] },
    };
  }

  /* A grid of charts; update() redraws them from the current columns (rebuilding a chart when
   * its set of series changed, e.g. a new status code appeared). */
  function chartGrid(container, defs, cols, opts) {
    opts = opts || {};
    const grid = h('div', { class: 'charts' });
    container.appendChild(grid);
    const slots = defs.map((d) => {
      const body = h('div', { class: 'chart-body', 'data-chart': d.name });
      grid.appendChild(h('section', { class: 'card chart' }, h('h3', null, d.title), body));
      return { def: d, body: body, u: null, key: '' };
    });
    let drawnOnce = false;
    function onDraw(u) {
      u._mtDraws = (u._mtDraws || 0) + 1;
      if (!drawnOnce && cols.t.length && slots.every((s) => s.u && s.u._mtDraws && s.u.data[0].length === cols.t.length)) {
        drawnOnce = true;
        UI.drawnMs = performance.now() - UI.navStart;
        UI.ready = true;
      }
    }
    function width(s) { return Math.max(300, Math.floor(s.body.clientWidth || (grid.clientWidth / 2 - 30) || 560)); }
    function update() {
      for (const s of slots) {
        const list = s.def.series(cols);
        const key = list.map((x) => x[0]).join('|');
        const data = [cols.t].concat(list.map((x) => x[2]));
        if (!s.u || key !== s.key) {
          if (s.u) s.u.destroy();
          clear(s.body);
          s.u = new uPlot(chartOpts(s.def, list, width(s), opts.xs, onDraw, opts.xMax), data, s.body);
          s.key = key;
          UI.charts[s.def.name] = s.u;
        } else {
          s.u.setData(data);
        }
      }
    }
    const ro = new ResizeObserver(() => { for (const s of slots) if (s.u) { const w = width(s); if (Math.abs(w - s.u.width) > 4) s.u.setSize({ width: w, height: 210 }); } });
    ro.observe(grid);
    const destroy = () => { ro.disconnect(); slots.forEach((s) => s.u && s.u.destroy()); };
    return { update: update, destroy: destroy };
  }

  /* ---- SSE over fetch() --------------------------------------------------------------------- */
  /* An EventSource-compatible parser (WHATWG HTML "server-sent events"): push text chunks; calls
   * onEvent({event, data, id}) for each dispatched event. */
  function sseParser(onEvent) {
    let buf = '', data = [], event = '', id = null, sawCR = false;
    function line(l) {
      if (l === '') {
        if (data.length) onEvent({ event: event || 'message', data: data.join('\n'), id: id });
        data = []; event = '';
        return;
      }
      if (l[0] === ':') return;
      const i = l.indexOf(':');
      const field = i < 0 ? l : l.slice(0, i);
      let value = i < 0 ? '' : l.slice(i + 1);
      if (value[0] === ' ') value = value.slice(1);
      if (field === 'data') data.push(value);
      else if (field === 'event') event = value;
      else if (field === 'id') { if (value.indexOf('\0') < 0) id = value; }
    }
    return {
      push(chunk) {
        if (sawCR && chunk[0] === '\n') chunk = chunk.slice(1);
        sawCR = false;
        buf += chunk;
        let start = 0;
        for (let i = 0; i < buf.length; i++) {
          const ch = buf[i];
          if (ch === '\n' || ch === '\r') {
            line(buf.slice(start, i));
            if (ch === '\r') { if (i + 1 < buf.length) { if (buf[i + 1] === '\n') i++; } else sawCR = true; }
            start = i + 1;
          }
        }
        buf = buf.slice(start);
      },
      lastId: () => id,
    };
  }

  /* Reads GET /runs/{id}/live until the final state (or the page is left), reconnecting with
   * Last-Event-ID after a dropped connection. handlers: second(item), state(run), status(text). */
  async function streamLive(c, runId, handlers) {
    let lastId = null, tries = 0, final = false;
    while (c.alive && !final) {
      const hd = authHeaders({ Accept: 'text/event-stream' });
      if (lastId != null) hd['Last-Event-ID'] = lastId;
      let res;
      try {
        res = await fetch(API + '/runs/' + encodeURIComponent(runId) + '/live', { headers: hd, signal: c.signal, cache: 'no-store' });
      } catch (e) {
        if (!c.alive) return;
        handlers.status('reconnecting (' + ((e && e.message) || e) + ')');
        await sleep(c, Math.min(10000, 1000 * 2 ** tries++));
        continue;
      }
      if (res.status === 401) { logout('The server did not accept the token (401). Paste a valid token.'); return; }
      if (!res.ok) throw new ApiError(res.status, await readProblem(res));
      handlers.status('live');
      tries = 0;
      const parser = sseParser((ev) => {
        UI.sseEvents++;
        let d;
        try { d = JSON.parse(ev.data); } catch (e) { handlers.status('bad event from the server: ' + ev.data.slice(0, 80)); return; }
        if (ev.event === 'second') handlers.second(d);
        else if (ev.event === 'state') { handlers.state(d); if (FINAL.indexOf(d.state) >= 0) final = true; }
      });
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      c.onLeave(() => reader.cancel().catch(() => {}));
      try {
        for (;;) {
          const r = await reader.read();
          if (r.done) break;
          parser.push(r.value);
          handlers.flush();
        }
      } catch (e) {
        if (!c.alive) return;
      }
      lastId = parser.lastId() != null ? parser.lastId() : lastId;
      if (final || !c.alive) break;
      /* ended without a final state: ask for the run before reconnecting */
      try {
        const run = await get('/runs/' + encodeURIComponent(runId), { signal: c.signal });
        if (FINAL.indexOf(run.state) >= 0) { handlers.state(run); final = true; break; }
      } catch (e) { if (!c.alive || e.silent) return; }
      handlers.status('reconnecting');
      await sleep(c, Math.min(10000, 1000 * 2 ** tries++));
    }
  }
  function sleep(c, ms) {
    return new Promise((res) => { const t = setTimeout(res, ms); c.onLeave(() => { clearTimeout(t); res(); }); });
  }

  /* ---- run page ----------------------------------------------------------------------------- */
  async function pageRun(c, params) {
    const id = params[0];
    /* the stored seconds are asked for at once, beside the run (most runs one opens are
     * finished); a live run drops that request and streams instead */
    const serAc = new AbortController();
    c.onLeave(() => serAc.abort());
    const serP = get('/runs/' + encodeURIComponent(id) + '/series', { signal: serAc.signal });
    serP.catch(() => {}); /* handled where it is awaited */
    const mark = (k) => { UI.marks[k] = performance.now() - UI.navStart; };
    UI.marks = {};
    let run;
    try { run = await get('/runs/' + encodeURIComponent(id), { signal: c.signal }); } catch (e) { serAc.abort(); throw e; }
    mark('run');
    UI.state = run.state;
    const head = h('div', { class: 'page-head' });
    const msg = h('div', { id: 'run-msg' });
    app.appendChild(head);
    app.appendChild(msg);
    let test = null;
    if (run.test_id) {
      try { test = await get('/tests/' + encodeURIComponent(run.test_id), { signal: c.signal }); } catch (e) {
        if (e.status === 404) msg.appendChild(h('div', { class: 'note' }, 'The test of this run (' + run.test_id + ') has been deleted.'));
        else showError(msg, e);
      }
    }
    const badge = h('span', { id: 'run-state' }, stateBadge(run.state));
    const liveNote = h('span', { class: 'dim', id: 'live-status' });
    const actions = h('span', { class: 'actions' });
    function renderActions(r) {
      clear(actions);
      if (r.state === 'queued' || r.state === 'running') {
        actions.appendChild(h('button', { class: 'danger needs-runner', id: 'stop', onclick: async (ev) => {
          ev.target.disabled = true;
          try { const nr = await api('POST', '/runs/' + encodeURIComponent(id) + '/stop', {}, { signal: c.signal }); setBadge(nr); } catch (e) { ev.target.disabled = false; showError(msg, e); }
        } }, 'Stop'));
      } else {
        actions.appendChild(h('button', { id: 'download-report', onclick: () => downloadReport(c, id, msg) }, 'Download HTML report'));
        actions.appendChild(link('#/runs/' + encodeURIComponent(id) + '/compare?with=' + (test && test.baseline_run_id && test.baseline_run_id !== id ? 'baseline' : ''), 'Compare…', 'button'));
        if (test && FINAL.indexOf(r.state) >= 0 && test.baseline_run_id !== id) {
          actions.appendChild(h('button', { class: 'needs-runner', id: 'set-baseline', onclick: async (ev) => {
            ev.target.disabled = true;
            try {
              test = await api('PUT', '/tests/' + encodeURIComponent(test.id) + '/baseline', { run_id: id }, { signal: c.signal });
              clear(msg); msg.appendChild(h('div', { class: 'note', id: 'baseline-set' }, 'This run is now the baseline of ' + test.name + '.'));
              renderActions(r);
            } catch (e) { ev.target.disabled = false; showError(msg, e); }
          } }, 'Set as baseline'));
        } else if (test && test.baseline_run_id === id) {
          actions.appendChild(h('span', { class: 'badge ok' }, 'baseline'));
        }
      }
    }
    /* the reason: why it ended, or while queued what it waits for (placement) */
    const reasonBox = h('div', { id: 'run-reason' });
    function renderReason(r) {
      clear(reasonBox);
      if (r.reason) reasonBox.appendChild(h('span', { class: r.state === 'passed' ? 'dim' : r.state === 'queued' ? 'waiting' : 'reason' }, (r.state === 'queued' ? '' : 'reason: ') + r.reason));
    }
    renderReason(run);
    const agentsBox = h('div', { id: 'run-agents-box' });
    renderRunAgents(agentsBox, run);
    function setBadge(r) {
      clear(badge); badge.appendChild(stateBadge(r.state)); UI.state = r.state; renderActions(r);
      renderReason(r); renderRunAgents(agentsBox, r);
    }
    const cfg = run.config || {};
    head.appendChild(h('div', null,
      h('h1', null, 'Run ', h('span', { class: 'mono' }, shortId(run.id)), ' ', badge, ' ', liveNote),
      h('div', { class: 'meta' },
        test ? ['test ', link('#/tests/' + encodeURIComponent(test.id), test.name), ' v' + (run.test_version || test.version), ' · '] : 'ad hoc config · ',
        cfg.url ? h('span', { class: 'mono' }, String(cfg.url)) : null,
        ' · created ', fmtTime(run.created_at), createdBy(run),
        run.started_at ? ' · started ' + fmtTime(run.started_at) : '',
        run.agent ? ' · agent ' + run.agent : '',
        run.source ? [' · imported from ', h('span', { class: 'mono' }, run.source.tool + ' ' + run.source.file),
          ' (' + run.source.records + ' records' + (run.source.malformed ? ', ' + run.source.malformed + ' malformed lines skipped' : '') +
          (run.source.late ? ', ' + run.source.late + ' late' : '') + ')'] : '',
        reasonBox)));
    head.appendChild(h('span', { class: 'grow' }));
    head.appendChild(actions);
    renderActions(run);

    const summaryBox = h('div', { id: 'summary' });
    app.appendChild(summaryBox);
    const cols = newCols();
    const chartsBox = h('div', { id: 'charts' });
    app.appendChild(chartsBox);
    const live = run.state === 'queued' || run.state === 'running';
    /* live: the time axis spans the planned duration, so the charts show how far the run is */
    const planned = live ? parseDur((run.config || {}).duration) : null;
    const grid = chartGrid(chartsBox, RUN_CHARTS, cols, { xMax: planned ? Math.ceil(planned) - 1 : null });
    c.onLeave(grid.destroy);
    app.appendChild(agentsBox);
    app.appendChild(h('details', { class: 'card config' }, h('summary', null, 'Config'), h('pre', null, JSON.stringify(run.config, null, 2))));

    if (run.state === 'queued' || run.state === 'running') {
      serAc.abort();
      UI.live = true;
      /* running totals of the seconds seen so far, next to the charts */
      const tot = { done: 0, err: 0 };
      const lv = {};
      const cards = h('div', { class: 'cards', id: 'live-cards' }, [['t', 'elapsed'], ['done', 'completed'], ['rps', 'achieved rps (last second)'],
        ['p99', 'p99 (last second)'], ['err', 'errors'], ['open', 'open connections']].map((x) => { lv[x[0]] = h('div', { class: 'v' }, '–'); return h('div', { class: 'kv' }, h('div', { class: 'k' }, x[1]), lv[x[0]]); }));
      summaryBox.appendChild(cards);
      const redraw = () => {
        grid.update();
        const n = cols.t.length - 1;
        if (n < 0) return;
        lv.t.textContent = fmtDur(cols.t[n] + 1) + (planned ? ' of ' + fmtDur(planned) : ''); lv.done.textContent = fmtNum(tot.done, 0); lv.rps.textContent = fmtNum(cols.done[n], 1);
        lv.p99.textContent = fmtUs(cols.p99[n]); lv.err.textContent = fmtNum(tot.err, 0); lv.open.textContent = fmtNum(cols.open[n], 0);
      };
      let dirty = false, pending = null;
      const flush = () => {
        if (!dirty || pending) return;
        pending = requestAnimationFrame(() => { pending = null; dirty = false; redraw(); });
      };
      c.onLeave(() => pending && cancelAnimationFrame(pending));
      await streamLive(c, id, {
        second: (s) => { if (pushSecond(cols, s)) { UI.seconds = cols.t.length; tot.done += cnt(s, 'completed', true); tot.err += cnt(s, 'errors', true); dirty = true; } },
        state: (r) => { setBadge(r); },
        status: (t) => { liveNote.textContent = t === 'live' ? '● live' : t; },
        flush: flush,
      }).catch((e) => { if (c.alive) showError(msg, e); });
      if (!c.alive) return;
      liveNote.textContent = '';
      if (pending) cancelAnimationFrame(pending);
      if (dirty) redraw();
      if (FINAL.indexOf(UI.state) >= 0) { route(); } /* finished: show the full page */
      return;
    }
    /* finished (or any state we do not stream): the stored seconds */
    renderSummary(summaryBox, run);
    try {
      const ser = await serP;
      mark('series');
      for (const s of (ser && ser.items) || []) pushSecond(cols, s);
      renderExemplars(summaryBox, run, (ser && ser.items) || []);
      UI.seconds = cols.t.length;
      mark('columns');
      if (!cols.t.length) chartsBox.insertBefore(h('div', { class: 'note' }, 'This run stored no seconds.'), chartsBox.firstChild);
      grid.update();
      mark('charts');
    } catch (e) { showError(msg, e); }
  }

  /* ---- traced requests (--trace, docs/tracing.md): the slowest and failed ones, linked ---- */
  function renderExemplars(box, run, items) {
    const rows = { slow: [], errors: [] };
    for (const s of items) {
      const ex = s && s.exemplars;
      if (!ex) continue;
      for (const k of ['slow', 'errors']) for (const e of ex[k] || []) rows[k].push(Object.assign({ t: s.t }, e));
    }
    if (!rows.slow.length && !rows.errors.length) return;
    /* the run's own template, else the server's (serve --trace-url, from /whoami) */
    const own = run.config && typeof run.config.trace_url === 'string' ? run.config.trace_url : UI.traceUrl;
    const tmpl = typeof own === 'string' && /^https?:\/\//.test(own) ? own : null;
    const idCell = (id) => (tmpl ? h('a', { href: tmpl.split('{trace_id}').join(encodeURIComponent(id)), target: '_blank', rel: 'noopener', class: 'mono' }, id) : h('span', { class: 'mono' }, id));
    const body = [];
    for (const k of ['slow', 'errors']) {
      rows[k].sort((a, b) => b.latency_us - a.latency_us);
      for (const e of rows[k].slice(0, 25))
        body.push(h('tr', { class: k === 'errors' ? 'bad-row' : null }, h('td', null, k === 'slow' ? 'slow' : 'error'), h('td', { class: 'num' }, fmtNum(e.t, 0)),
          h('td', { class: 'num' }, fmtUs(e.latency_us)), h('td', null, e.error ? String(e.error) : e.status != null ? 'HTTP ' + e.status : '–'),
          h('td', null, e.tag ? String(e.tag) : ''), h('td', null, idCell(String(e.trace_id)))));
    }
    box.appendChild(h('section', { class: 'card', id: 'exemplars' }, h('h3', null, 'Slow and failed requests'),
      h('table', { class: 'list' }, h('thead', null, headRow(['', '#Second', '#Latency', 'Status', 'Tag', 'Trace'])), h('tbody', null, body)),
      h('div', { class: 'dim small' }, 'the slowest and failed sampled requests of the run (at most 25 of each), linked to their traces' + (tmpl ? '' : ' (no trace_url in the run\'s config and no serve --trace-url: ids only)'))));
  }

  /* ---- a run's agents (docs/placement.md) ---- */
  function fmtShare(sh) {
    if (!sh || typeof sh !== 'object') return '–';
    const parts = [];
    if (Array.isArray(sh.residues) && sh.period) {
      parts.push(sh.of === 1 && sh.period === 1 ? 'the whole run' : sh.residues.length + ' of every ' + sh.period + ' requests');
    }
    if (sh.connections != null) parts.push(fmtNum(sh.connections, 0) + ' connections');
    if (sh.threads != null) parts.push(fmtNum(sh.threads, 0) + ' threads');
    return parts.length ? parts.join(', ') : '–';
  }
  function fmtSignedUs(us) {
    if (us == null || !isFinite(us)) return '–';
    return (us > 0 ? '+' : us < 0 ? '−' : '') + fmtUs(Math.abs(us));
  }
  const AGENT_PART_CLASS = { running: 'state-running', ready: 'state-queued', preparing: 'state-queued', ended: 'ok', lost: 'bad', refused: 'bad' };
  function renderRunAgents(box, run) {
    clear(box);
    const ag = Array.isArray(run.agents) ? run.agents : [];
    const wanted = (run.config && run.config.agents) || 1;
    if (!ag.length) {
      if (run.state === 'queued' && (wanted > 1 || (run.config && run.config.agent_labels))) {
        box.appendChild(h('div', { class: 'card dim', id: 'run-agents-none' }, 'Agents: not placed yet (' + wanted + ' wanted' + (run.config.agent_labels ? ', matching ' + run.config.agent_labels : '') + ').'));
      }
      return;
    }
    const body = h('tbody');
    for (const a of ag) {
      body.appendChild(h('tr', { 'data-agent': a.name },
        h('td', { class: 'num' }, fmtNum(a.index, 0)),
        h('td', null, a.name),
        h('td', null, h('span', { class: 'badge ' + (AGENT_PART_CLASS[a.state] || ''), 'data-state': a.state }, a.state)),
        h('td', null, fmtShare(a.share)),
        h('td', { class: 'num' }, fmtSignedUs(a.clock_offset_us)),
        h('td', { class: 'num' }, fmtSignedUs(a.start_skew_us)),
        h('td', { class: 'num' }, a.last_second == null ? '–' : fmtNum(a.last_second, 0)),
        h('td', { class: a.state === 'lost' || a.state === 'refused' ? 'reason' : 'dim' }, a.reason || '')));
    }
    box.appendChild(h('div', { class: 'card' }, h('h2', null, 'Agents'),
      h('table', { class: 'list', id: 'run-agents' },
        h('thead', null, headRow(['##', 'Agent', 'State', 'Share', '#Clock offset', '#Start skew', '#Last second', 'Reason'])), body)));
  }

  function kv(label, value, id) { return h('div', { class: 'kv', 'data-key': id || null }, h('div', { class: 'k' }, label), h('div', { class: 'v' }, value)); }
  function renderSummary(box, run) {
    const s = run.summary;
    if (!s) { box.appendChild(h('div', { class: 'note' }, 'No summary: the run stored no results' + (run.reason ? ' (' + run.reason + ')' : '') + '.')); return; }
    const lat = s.latency_us || {}, svc = s.service_us || {}, bd = s.breakdown_us || {};
    const req = s.requests != null ? s.requests : cnt(s, 'completed');
    const errRate = req ? cnt(s, 'errors') / req : null;
    box.appendChild(h('div', { class: 'cards' },
      kv('requests', fmtNum(req, 0), 'requests'), kv('achieved rps', fmtNum(s.rps, 1), 'rps'),
      kv('duration', fmtDur(s.duration_s), 'duration'), kv('errors', fmtNum(cnt(s, 'errors'), 0) + (errRate != null ? ' (' + fmtPct(errRate) + ')' : ''), 'errors'),
      kv('p50', fmtUs(lat.p50), 'p50'), kv('p99', fmtUs(lat.p99), 'p99'), kv('max', fmtUs(lat.max), 'max')));
    const verdicts = run.verdicts || s.verdicts;
    const base = baselineOf(verdicts);
    if (base)
      box.appendChild(h('section', { class: 'card', id: 'baseline-verdict' },
        h('h3', null, 'Against the baseline ', baselineBadge(base), ' ',
          base.base_run ? link('#/runs/' + encodeURIComponent(base.base_run), shortId(base.base_run), 'mono') : null),
        h('div', { class: 'dim small' }, base.message + ' — a metric regressed when it is worse than its tolerance and the change is significant (Mann-Whitney U on ' +
          (base.seconds ? base.seconds.run + ' vs ' + base.seconds.base : '') + ' seconds, alpha ' + base.alpha + ')'),
        baselineTable(base, 'baseline-table')));
    const hasVerdicts = Array.isArray(verdicts) && verdicts.length > 0;
    const row = h('div', { class: hasVerdicts ? 'row3' : 'row3 two' });
    box.appendChild(row);
    if (hasVerdicts) {
      row.appendChild(h('section', { class: 'card', id: 'verdicts' }, h('h3', null, 'Verdicts'), h('table', { class: 'list' },
        h('thead', null, h('tr', null, ['', 'kind', 'criterion', 'detail'].map((x) => h('th', null, x)))),
        h('tbody', null, verdicts.map((v) => {
          /* the verdict's own message when it has one; every other field on hover */
          const extra = Object.keys(v).filter((k) => ['kind', 'spec', 'passed', 'message'].indexOf(k) < 0).map((k) => k + '=' + (typeof v[k] === 'object' ? JSON.stringify(v[k]) : v[k])).join(', ');
          /* a baseline verdict fails the run only with fail_on_regression: say what it found */
          const word = v.kind === 'baseline' && !v.failed_run ? (v.regressed ? 'regressed' : 'unchanged') : v.passed ? 'pass' : 'fail';
          return h('tr', null, h('td', null, h('span', { class: 'badge ' + (v.passed || word === 'unchanged' ? 'ok' : 'bad') }, word)),
            h('td', null, String(v.kind || '')), h('td', { class: 'mono' }, String(v.spec || '')),
            h('td', { class: 'dim', title: extra }, v.message != null ? String(v.message) : extra));
        })))));
    }
    const qs = ['p50', 'p90', 'p95', 'p99', 'p999', 'max'];
    row.appendChild(h('section', { class: 'card', id: 'breakdown' }, h('h3', null, 'Latency breakdown'), h('table', { class: 'list' },
      h('thead', null, h('tr', null, h('th', null, ''), qs.map((q) => h('th', { class: 'num' }, q === 'p999' ? 'p99.9' : q)))),
      h('tbody', null,
        h('tr', null, h('td', { title: 'from the due time (open model) or the send (closed model)' }, 'latency'), qs.map((q) => h('td', { class: 'num' }, fmtUs(lat[q])))),
        h('tr', null, h('td', { title: 'from the actual send' }, 'service'), qs.map((q) => h('td', { class: 'num' }, fmtUs(svc[q])))),
        /* the phases of a request (the agents' whole-run histograms, merged): connect and tls
         * per new connection, wait = time to the first response byte */
        ['connect', 'tls', 'send', 'wait', 'receive'].filter((k) => bd[k] && Object.keys(bd[k]).some((q) => bd[k][q] > 0)).map((k) =>
          h('tr', { class: 'phase' }, h('td', { title: 'timing breakdown: ' + k + (k === 'wait' ? ' (time to first byte)' : '') }, k), qs.map((q) => h('td', { class: 'num' }, fmtUs(bd[k][q]))))))),
      h('div', { class: 'dim small' }, 'latency from the due time, service from the actual send; then the phases of a request')));
    const st = s.status || {}, ek = s.errors_by_kind || {};
    const total = req || 1;
    row.appendChild(h('section', { class: 'card', id: 'codes' }, h('h3', null, 'Status codes and errors'), h('table', { class: 'list' },
      h('tbody', null,
        Object.keys(st).sort().map((k) => h('tr', null, h('td', null, 'HTTP ' + k), h('td', { class: 'num' }, fmtNum(st[k], 0)), h('td', { class: 'num dim' }, fmtPct(st[k] / total)))),
        Object.keys(ek).filter((k) => ek[k] > 0).sort().map((k) => h('tr', { class: 'bad-row' }, h('td', null, 'error: ' + k), h('td', { class: 'num' }, fmtNum(ek[k], 0)), h('td', { class: 'num dim' }, fmtPct(ek[k] / total))))))));
    if (s.tags && Object.keys(s.tags).length) {
      box.appendChild(h('section', { class: 'card', id: 'tags' }, h('h3', null, 'By tag'), h('table', { class: 'list' },
        h('thead', null, h('tr', null, ['tag', 'requests', 'errors', 'p50', 'p99', 'max'].map((x) => h('th', null, x)))),
        h('tbody', null, Object.keys(s.tags).sort().map((k) => {
          const t = s.tags[k], tl = t.latency_us || {};
          return h('tr', null, h('td', null, k === '' ? '(untagged)' : k), h('td', { class: 'num' }, fmtNum(t.requests != null ? t.requests : t.completed, 0)),
            h('td', { class: 'num' }, fmtNum(t.errors, 0)), h('td', { class: 'num' }, fmtUs(tl.p50)), h('td', { class: 'num' }, fmtUs(tl.p99)), h('td', { class: 'num' }, fmtUs(tl.max)));
        })))));
    }
    /* every counter the summary has, from the one table (web/shared/fmt.js) */
    const counters = MortarFmt.COUNTERS.filter((c) => MortarFmt.find(s, c[0]) !== undefined);
    box.appendChild(h('section', { class: 'card', id: 'counters' }, h('h3', null, 'Counters'), h('table', { class: 'list' },
      h('tbody', null, counters.map((c) => h('tr', { 'data-key': c[0] }, h('td', null, c[3]), h('td', { class: 'num' }, fmtNum(MortarFmt.find(s, c[0]), 0))))))));
  }

  /* The HTML report (GET /runs/{id}/report, with the token) saved as a file: the report is a
   * self-contained page with inline scripts, which this UI's CSP would block inside a blob: or
   * srcdoc frame (those inherit the policy), so it is opened as a file of its own. */
  async function downloadReport(c, id, msg) {
    try {
      const res = await fetchApi('GET', '/runs/' + encodeURIComponent(id) + '/report', undefined, { signal: c.signal, accept: 'text/html' });
      const blob = await res.blob();
      const url = URL.createObjectURL(new Blob([blob], { type: 'text/html' }));
      const a = h('a', { href: url, download: 'mortar-report-' + id + '.html' });
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    } catch (e) { showError(msg, e); }
  }

  /* ---- compare ------------------------------------------------------------------------------ */
  function metricFmt(name) {
    if (/_us$/.test(name)) return fmtUs;
    if (/rate$/.test(name)) return fmtPct;
    return (v) => fmtNum(v, 2);
  }
  async function pageCompare(c, params) {
    const id = params[0];
    const withArg = c.query.has('with') ? c.query.get('with') : 'baseline';
    const msg = h('div', { id: 'compare-msg' });
    const sel = h('select', { id: 'compare-with' }, h('option', { value: 'baseline' }, 'the test\'s baseline'));
    const other = h('input', { id: 'compare-other', placeholder: 'or a run id', size: 38, spellcheck: 'false' });
    app.appendChild(h('div', { class: 'page-head' },
      h('h1', null, 'Compare run ', link('#/runs/' + encodeURIComponent(id), shortId(id), 'mono')),
      h('span', { class: 'grow' }),
      h('label', null, 'with ', sel), other,
      h('button', { id: 'compare-go', onclick: () => go('#/runs/' + encodeURIComponent(id) + '/compare?with=' + encodeURIComponent(other.value.trim() || sel.value)) }, 'Compare')));
    app.appendChild(msg);
    sel.addEventListener('change', () => { other.value = ''; go('#/runs/' + encodeURIComponent(id) + '/compare?with=' + encodeURIComponent(sel.value)); });
    let run;
    try { run = await get('/runs/' + encodeURIComponent(id), { signal: c.signal }); } catch (e) { showError(msg, e); return; }
    try {
      const p = new URLSearchParams({ limit: '50' });
      if (run.test_id) p.set('test', run.test_id);
      const r = await get('/runs?' + p, { signal: c.signal });
      for (const x of (r && r.items) || []) if (x.id !== id && FINAL.indexOf(x.state) >= 0) sel.appendChild(h('option', { value: x.id }, shortId(x.id) + ' · ' + x.state + ' · ' + fmtTime(x.started_at || x.created_at)));
    } catch (e) { showError(msg, e); }
    if ([].some.call(sel.options, (o) => o.value === withArg)) sel.value = withArg; else other.value = withArg;
    if (!withArg) { msg.appendChild(h('div', { class: 'note' }, 'Pick a run to compare with (this run\'s test has no baseline).')); return; }
    let cmp;
    try { cmp = await get('/runs/' + encodeURIComponent(id) + '/compare?with=' + encodeURIComponent(withArg), { signal: c.signal }); } catch (e) { showError(msg, e); return; }
    const baseId = cmp.base && typeof cmp.base === 'object' ? cmp.base.id : cmp.base_id || cmp.base || (withArg !== 'baseline' ? withArg : null);
    const runId = cmp.run && typeof cmp.run === 'object' ? cmp.run.id : id;
    app.appendChild(h('div', { class: 'card verdict-line', id: 'compare-verdict' },
      cmp.regression ? h('span', { class: 'badge bad big', 'data-regression': 'true' }, 'regression') : h('span', { class: 'badge ok big', 'data-regression': 'false' }, 'no regression'),
      ' run ', link('#/runs/' + encodeURIComponent(runId), shortId(runId), 'mono run-a-txt'),
      ' (A) against ', baseId ? link('#/runs/' + encodeURIComponent(baseId), shortId(baseId), 'mono run-b-txt') : 'base', ' (B)',
      withArg === 'baseline' ? ' — the test\'s baseline' : ''));
    const metrics = cmp.metrics || [];
    app.appendChild(h('section', { class: 'card' }, h('table', { class: 'list', id: 'compare-table' },
      h('thead', null, h('tr', null, ['metric', 'run (A)', 'base (B)', 'delta', 'delta %', 'tolerance', 'p', ''].map((x) => h('th', { class: x && x !== 'metric' ? 'num' : null }, x)))),
      h('tbody', null, metrics.map((m) => {
        const f = metricFmt(m.name);
        return h('tr', { class: m.regression ? 'bad-row' : null, 'data-metric': m.name },
          h('td', null, m.name), h('td', { class: 'num' }, f(m.run)), h('td', { class: 'num' }, f(m.base)),
          h('td', { class: 'num' }, m.delta == null ? '–' : (m.delta > 0 ? '+' : '') + f(m.delta)),
          h('td', { class: 'num' }, m.delta_pct == null ? '–' : (m.delta_pct > 0 ? '+' : '') + fmtNum(m.delta_pct, 1) + '%'),
          h('td', { class: 'num dim' }, m.tolerance == null ? '–' : /rate$/.test(m.name) ? '±' + fmtPct(m.tolerance) : '±' + fmtNum(m.tolerance, 2) + '%'),
          h('td', { class: 'num', title: 'Mann-Whitney U on the per-second values (docs/analysis.md)' }, m.p_value == null ? '–' : m.p_value < 0.0001 ? '<0.0001' : fmtNum(m.p_value, 4)),
          h('td', { title: m.decision || '' }, m.regression ? h('span', { class: 'badge bad' }, 'regression') : h('span', { class: 'badge ok' }, m.decision && m.decision !== 'unchanged' ? String(m.decision).replace('_', ' ') : 'ok')));
      })))));
    if (!baseId) return;
    /* overlaid charts: A and B from their own start (t = 0) */
    let sa, sb;
    try {
      [sa, sb] = await Promise.all([get('/runs/' + encodeURIComponent(runId) + '/series', { signal: c.signal }), get('/runs/' + encodeURIComponent(baseId) + '/series', { signal: c.signal })]);
    } catch (e) { showError(msg, e); return; }
    const ca = newCols(), cb = newCols();
    ((sa && sa.items) || []).forEach((s) => pushSecond(ca, s));
    ((sb && sb.items) || []).forEach((s) => pushSecond(cb, s));
    const joined = uPlot.join([[ca.t, ca.done, ca.p50, ca.p99], [cb.t, cb.done, cb.p50, cb.p99]]);
    const J = { t: joined[0], aDone: joined[1], aP50: joined[2], aP99: joined[3], bDone: joined[4], bP50: joined[5], bP99: joined[6] };
    const defs = [
      { name: 'cmp-rps', title: 'Achieved requests per second', fmt: fmtShort, series: (j) => [['A ' + shortId(runId), COL.a, j.aDone], ['B ' + shortId(baseId), COL.b, j.bDone]] },
      { name: 'cmp-latency', title: 'Latency p50 and p99', log: true, fmt: fmtUs,
        series: (j) => [['A p99', COL.a, j.aP99], ['B p99', COL.b, j.bP99], ['A p50', COL.a, j.aP50, [4, 4]], ['B p50', COL.b, j.bP50, [4, 4]]] },
    ];
    const box = h('div', { id: 'compare-charts' });
    app.appendChild(box);
    const grid = chartGrid(box, defs, J);
    c.onLeave(grid.destroy);
    UI.seconds = J.t.length;
    grid.update();
  }

  /* ---- start a run -------------------------------------------------------------------------- */
  const SAMPLE_CONFIG = '{\n  "url": "http://127.0.0.1:8080/",\n  "rate": 100,\n  "duration": "10s"\n}';
  function parseJsonField(text, what, allowEmpty) {
    const t = text.trim();
    if (!t) { if (allowEmpty) return undefined; throw new Error(what + ': empty; want a JSON object'); }
    let v;
    try { v = JSON.parse(t); } catch (e) { throw new Error(what + ': not valid JSON: ' + e.message); }
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error(what + ': want a JSON object ({...})');
    return v;
  }
  async function pageNewRun(c) {
    const msg = h('div', { id: 'new-run-msg' });
    const testSel = h('select', { id: 'run-test' });
    const cfg = h('textarea', { id: 'run-config', rows: 10, cols: 70, spellcheck: 'false', placeholder: SAMPLE_CONFIG });
    const labels = h('input', { id: 'run-labels', placeholder: '{"branch": "main"}  (optional)', size: 50, spellcheck: 'false' });
    const modeTest = h('input', { type: 'radio', name: 'mode', id: 'mode-test', value: 'test', checked: true });
    const modeCfg = h('input', { type: 'radio', name: 'mode', id: 'mode-config', value: 'config' });
    const form = h('form', { class: 'card form', id: 'new-run' },
      h('h1', null, 'Start a run'),
      h('div', { class: 'field' }, h('label', null, modeTest, ' a test: '), testSel),
      h('div', { class: 'field' }, h('label', null, modeCfg, ' or a config (JSON, the keys of ', h('code', null, 'mortar run --config'), '):')), cfg,
      h('div', { class: 'field' }, h('label', { for: 'run-labels' }, 'Labels '), labels),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary needs-runner', id: 'start-run' }, 'Start')), msg);
    cfg.addEventListener('input', () => { if (cfg.value.trim()) modeCfg.checked = true; });
    testSel.addEventListener('change', () => { modeTest.checked = true; });
    app.appendChild(form);
    let tests = [];
    try { tests = await loadTests(c); } catch (e) { showError(msg, e); }
    if (!tests.length) { testSel.appendChild(h('option', { value: '' }, '(no tests yet)')); modeCfg.checked = true; }
    tests.forEach((t) => testSel.appendChild(h('option', { value: t.id }, t.name)));
    if (c.query.get('test')) testSel.value = c.query.get('test');
    const key = uuid(); /* one key per form: a double submit starts one run */
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clear(msg);
      const body = {};
      try {
        if (modeCfg.checked) body.config = parseJsonField(cfg.value, 'config');
        else if (testSel.value) body.test_id = testSel.value;
        else throw new Error('Pick a test or paste a config.');
        const l = parseJsonField(labels.value, 'labels', true);
        if (l) body.labels = l;
      } catch (e) { msg.appendChild(h('div', { class: 'problem', role: 'alert' }, e.message)); return; }
      const btn = document.getElementById('start-run');
      btn.disabled = true;
      try {
        const run = await api('POST', '/runs', body, { signal: c.signal, key: key + ':' + fnv(JSON.stringify(body)) });
        go('#/runs/' + encodeURIComponent(run.id));
      } catch (e) { btn.disabled = false; showError(msg, e); }
    });
  }

  /* ---- tests -------------------------------------------------------------------------------- */
  async function pageTests(c) {
    const msg = h('div');
    const body = h('tbody');
    app.appendChild(h('div', { class: 'page-head' }, h('h1', null, 'Tests'), h('span', { class: 'grow' }), link('#/tests/new', 'New test', 'button primary')));
    app.appendChild(msg);
    app.appendChild(h('div', { class: 'card' }, h('table', { class: 'list', id: 'tests' },
      h('thead', null, headRow(['Name', 'Description', '#Version', 'Target', 'Baseline', 'Updated', ''])), body)));
    let tests;
    try { tests = await loadTests(c); } catch (e) { showError(msg, e); return; }
    if (!tests.length) body.appendChild(h('tr', null, h('td', { colspan: 7, class: 'dim empty' }, 'No tests yet: create one.')));
    for (const t of tests) {
      body.appendChild(h('tr', { 'data-test': t.id },
        h('td', null, link('#/tests/' + encodeURIComponent(t.id), t.name)),
        h('td', { class: 'dim' }, t.description || ''),
        h('td', { class: 'num' }, 'v' + t.version),
        h('td', { class: 'mono' }, (t.config && t.config.url) || ''),
        h('td', null, t.baseline_run_id ? link('#/runs/' + encodeURIComponent(t.baseline_run_id), shortId(t.baseline_run_id), 'mono') : h('span', { class: 'dim' }, 'none')),
        h('td', null, fmtTime(t.updated_at)),
        h('td', null, link('#/runs/new?test=' + encodeURIComponent(t.id), 'Run', 'button small'))));
    }
  }

  /* The create/edit form; test null for a new one. */
  function testForm(c, test, onSaved) {
    const msg = h('div', { class: 'form-msg', id: 'test-msg' });
    const name = h('input', { id: 'test-name', value: test ? test.name : '', size: 40, required: true });
    const desc = h('input', { id: 'test-description', value: test ? test.description || '' : '', size: 60 });
    const cfg = h('textarea', { id: 'test-config', rows: 12, cols: 70, spellcheck: 'false', placeholder: SAMPLE_CONFIG });
    cfg.value = test ? JSON.stringify(test.config, null, 2) : '';
    const tol = h('textarea', { id: 'test-tolerances', rows: 3, cols: 70, spellcheck: 'false', placeholder: '{"p99_pct": 10, "rps_pct": 5, "error_rate_abs": 0.01}' });
    tol.value = test && test.tolerances && Object.keys(test.tolerances).length ? JSON.stringify(test.tolerances) : '';
    const form = h('form', { class: 'card form', id: 'test-form' },
      h('h2', null, test ? 'Edit (saving makes version ' + (test.version + 1) + ')' : 'New test'),
      h('div', { class: 'field' }, h('label', { for: 'test-name' }, 'Name'), name),
      h('div', { class: 'field' }, h('label', { for: 'test-description' }, 'Description'), desc),
      h('label', { for: 'test-config' }, 'Config (JSON, the keys of ', h('code', null, 'mortar run --config'), ', docs/config.md)'), cfg,
      h('label', { for: 'test-tolerances' }, 'Regression tolerances (JSON, optional)'), tol,
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary needs-runner', id: 'save-test' }, test ? 'Save' : 'Create')), msg);
    const key = uuid();
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clear(msg);
      [cfg, tol].forEach((x) => x.classList.remove('invalid'));
      const body = { name: name.value.trim(), description: desc.value };
      try { body.config = parseJsonField(cfg.value, 'config'); } catch (e) { cfg.classList.add('invalid'); msg.appendChild(h('div', { class: 'problem', role: 'alert' }, e.message)); return; }
      try { const t = parseJsonField(tol.value, 'tolerances', true); if (t) body.tolerances = t; } catch (e) { tol.classList.add('invalid'); msg.appendChild(h('div', { class: 'problem', role: 'alert' }, e.message)); return; }
      try {
        const saved = test ? await api('PUT', '/tests/' + encodeURIComponent(test.id), body, { signal: c.signal })
          : await api('POST', '/tests', body, { signal: c.signal, key: key + ':' + fnv(JSON.stringify(body)) });
        onSaved(saved);
      } catch (e) {
        if (e.problem && Array.isArray(e.problem.errors)) e.problem.errors.forEach((x) => { if (/^\/config/.test(x.pointer || '')) cfg.classList.add('invalid'); if (/^\/tolerances/.test(x.pointer || '')) tol.classList.add('invalid'); });
        showError(msg, e);
      }
    });
    return form;
  }
  function pageTestEdit(c) {
    app.appendChild(testForm(c, null, (t) => go('#/tests/' + encodeURIComponent(t.id))));
  }
  async function pageTest(c, params) {
    const id = params[0];
    const msg = h('div', { id: 'test-page-msg' });
    const test = await get('/tests/' + encodeURIComponent(id), { signal: c.signal });
    const del = h('button', { class: 'danger needs-admin', id: 'delete-test' }, 'Delete');
    del.addEventListener('click', async () => {
      if (!del.classList.contains('armed')) { del.classList.add('armed'); del.textContent = 'Really delete? (runs are kept)'; return; }
      try { await api('DELETE', '/tests/' + encodeURIComponent(id), undefined, { signal: c.signal }); go('#/tests'); } catch (e) { showError(msg, e); }
    });
    app.appendChild(h('div', { class: 'page-head' },
      h('div', null, h('h1', null, test.name, ' ', h('span', { class: 'dim' }, 'v' + test.version)), h('div', { class: 'meta' }, test.description || '')),
      h('span', { class: 'grow' }),
      link('#/runs/new?test=' + encodeURIComponent(id), 'Start a run', 'button primary needs-runner'), del));
    app.appendChild(msg);
    const row = h('div', { class: 'row2' });
    app.appendChild(row);
    /* baseline + trend */
    const side = h('div');
    row.appendChild(side);
    const baseSel = h('select', { id: 'baseline-run' }, h('option', { value: '' }, '(pick a finished run)'));
    const baseMsg = h('div');
    side.appendChild(h('section', { class: 'card' }, h('h3', null, 'Baseline'),
      h('p', null, test.baseline_run_id ? ['Current: ', link('#/runs/' + encodeURIComponent(test.baseline_run_id), shortId(test.baseline_run_id), 'mono')] : h('span', { class: 'dim' }, 'No baseline yet.')),
      h('div', { class: 'field' }, baseSel, ' ', h('button', { class: 'needs-runner', id: 'set-test-baseline', onclick: async () => {
        clear(baseMsg);
        if (!baseSel.value) return;
        try { await api('PUT', '/tests/' + encodeURIComponent(id) + '/baseline', { run_id: baseSel.value }, { signal: c.signal }); route(); } catch (e) { showError(baseMsg, e); }
      } }, 'Set baseline')), baseMsg));
    const trendBox = h('div', { id: 'trend' });
    const changesBox = h('div', { id: 'trend-changes' });
    side.appendChild(h('section', { class: 'card' }, h('h3', null, 'Trend: p99 and rps of finished runs'), trendBox, changesBox));
    const runsBody = h('tbody');
    side.appendChild(h('section', { class: 'card' }, h('h3', null, 'Recent runs'), h('table', { class: 'list' },
      h('thead', null, headRow(['Run', 'State', 'Started', '#rps', '#p99', ''])), runsBody)));
    row.appendChild(testForm(c, test, () => route()));

    try {
      const r = await get('/runs?test_id=' + encodeURIComponent(id) + '&limit=25', { signal: c.signal });
      for (const x of (r && r.items) || []) {
        if (FINAL.indexOf(x.state) >= 0) baseSel.appendChild(h('option', { value: x.id }, shortId(x.id) + ' · ' + x.state + ' · ' + fmtTime(x.started_at || x.created_at)));
        const s = x.summary || {};
        runsBody.appendChild(h('tr', null, h('td', null, link('#/runs/' + encodeURIComponent(x.id), shortId(x.id), 'mono')), h('td', null, stateBadge(x.state)),
          h('td', null, fmtTime(x.started_at || x.created_at)), h('td', { class: 'num' }, fmtNum(s.rps, 1)), h('td', { class: 'num' }, fmtUs((s.latency_us || {}).p99)),
          h('td', null, x.id === test.baseline_run_id ? h('span', { class: 'badge ok' }, 'baseline') : FINAL.indexOf(x.state) >= 0 && test.baseline_run_id ? link('#/runs/' + encodeURIComponent(x.id) + '/compare?with=baseline', 'vs baseline') : '')));
      }
    } catch (e) { showError(msg, e); }
    try {
      const tr = await get('/tests/' + encodeURIComponent(id) + '/trend?limit=100', { signal: c.signal });
      const items = (tr && tr.items) || [];
      if (!items.length) { trendBox.appendChild(h('div', { class: 'dim' }, 'No finished runs yet.')); return; }
      /* change points of p99 and config changes (docs/analysis.md): markers at their runs */
      let ch = null;
      try { ch = await get('/tests/' + encodeURIComponent(id) + '/changes?metric=p99&limit=100', { signal: c.signal }); } catch (e) { showError(changesBox, e); }
      const marks = trendMarks(items, ch);
      UI.changes = marks;
      trendChanges(changesBox, marks);
      const xs = items.map((_, i) => i);
      const data = [xs, items.map((x) => pos(x.p99_us)), items.map((x) => x.rps)];
      const lbl = (v) => { const it = items[Math.round(v)]; return it ? fmtTime(it.created_at).slice(5, 16) : ''; };
      const u = new uPlot({
        width: Math.max(300, trendBox.clientWidth || 560), height: 200,
        scales: { x: { time: false, range: (u, min, max) => [min - 0.5, max + 0.5] }, y: { distr: 3, range: logRange }, rps: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
        axes: [{ values: (u, v) => v.map((x) => (Number.isInteger(x) ? lbl(x) : '')), size: 30 }, { values: (u, v) => v.map(fmtUs), size: 74 },
          { scale: 'rps', side: 1, values: (u, v) => v.map(fmtShort), size: 50, grid: { show: false } }],
        series: [{ label: 'run', value: (u, v) => (v == null ? '–' : lbl(v)) },
          { label: 'p99', stroke: COL.p99, width: 1.5, points: { show: true, size: 5 }, value: (u, v) => fmtUs(v) },
          { label: 'rps', stroke: COL.ok, width: 1.5, scale: 'rps', points: { show: true, size: 5 }, value: (u, v) => fmtNum(v, 1) }],
        hooks: { draw: [(u) => { placeMarks(u, marks); UI.ready = true; }] },
      }, data, trendBox);
      UI.charts.trend = u;
      c.onLeave(() => u.destroy());
    } catch (e) { showError(trendBox, e); }
  }

  /* The trend's markers: [{x (index in the trend's items), kind 'change'|'config', title, cls}]
   * from GET /tests/{id}/changes (runs of both lists are matched by id). */
  function trendMarks(items, ch) {
    const at = {};
    items.forEach((it, i) => { at[it.run_id] = i; });
    const out = [];
    for (const p of (ch && ch.changes) || []) {
      if (at[p.run_id] == null) continue;
      const rel = p.relative_change != null ? ' (' + (p.relative_change >= 0 ? '+' : '') + fmtPct(p.relative_change) + ')' : '';
      out.push({ x: at[p.run_id], kind: 'change', run: p.run_id, cls: 'cp-mark ' + p.direction,
        title: 'p99 ' + p.direction + ' from run ' + shortId(p.run_id) + ': ' + fmtUs(p.before.median) + ' → ' + fmtUs(p.after.median) + rel +
          ', confidence ' + fmtPct(p.confidence) + (p.provisional ? ' (provisional)' : '') });
    }
    for (const cc of (ch && ch.config_changes) || []) {
      if (at[cc.run_id] == null) continue;
      out.push({ x: at[cc.run_id], kind: 'config', run: cc.run_id, cls: 'cfg-mark',
        title: 'the test\'s config changed (config v' + cc.from + ' → v' + cc.to + ') at run ' + shortId(cc.run_id) + ': a change of the test, not of the service' });
    }
    return out;
  }
  /* Vertical markers over the chart, each with its tooltip (title); redrawn with the chart. */
  function placeMarks(u, marks) {
    for (const el of u.over.querySelectorAll('.cp-mark, .cfg-mark')) el.remove();
    for (const m of marks) {
      const left = u.valToPos(m.x - 0.5, 'x');
      const el = h('div', { class: m.cls, title: m.title, 'data-run': m.run });
      el.style.left = Math.round(left - 3) + 'px'; /* CSSOM: the CSP forbids style attributes */
      u.over.appendChild(el);
    }
  }
  function trendChanges(box, marks) {
    clear(box);
    if (!marks.length) { box.appendChild(h('div', { class: 'dim small' }, 'No change point in p99 (E-divisive means, see docs/analysis.md).')); return; }
    box.appendChild(h('ul', { class: 'changes' }, marks.map((m) => h('li', { class: m.kind === 'change' ? m.cls.replace('cp-mark', 'cp-item') : 'cfg-item' },
      link('#/runs/' + encodeURIComponent(m.run), shortId(m.run), 'mono'), ' ', m.title))));
  }

  /* ---- schedules ---------------------------------------------------------------------------- */
  async function pageSchedules(c) {
    const msg = h('div', { id: 'schedules-msg' });
    const body = h('tbody');
    const testSel = h('select', { id: 'schedule-test' });
    const cron = h('input', { id: 'schedule-cron', placeholder: '*/15 * * * *', size: 20, spellcheck: 'false' });
    const policy = h('select', { id: 'schedule-policy' }, h('option', { value: 'skip' }, 'skip (if the previous run is still going)'), h('option', { value: 'queue' }, 'queue'));
    const enabled = h('input', { type: 'checkbox', id: 'schedule-enabled', checked: true });
    const formMsg = h('div');
    const form = h('form', { class: 'card form inline-form', id: 'schedule-form' }, h('h3', null, 'New schedule'),
      h('label', null, 'Test ', testSel), h('label', null, 'Cron (UTC, 5 fields) ', cron), h('label', null, 'Policy ', policy),
      h('label', null, enabled, ' enabled'), h('button', { type: 'submit', class: 'primary needs-runner', id: 'create-schedule' }, 'Create'), formMsg);
    app.appendChild(h('div', { class: 'page-head' }, h('h1', null, 'Schedules')));
    app.appendChild(msg);
    app.appendChild(h('div', { class: 'card' }, h('table', { class: 'list', id: 'schedules' },
      h('thead', null, h('tr', null, ['Test', 'Cron', 'Policy', 'Enabled', 'Next fire', 'Last fire', ''].map((x) => h('th', null, x)))), body)));
    app.appendChild(form);
    let tests = [];
    try { tests = await loadTests(c); } catch (e) { showError(msg, e); }
    const names = testNames(tests);
    tests.forEach((t) => testSel.appendChild(h('option', { value: t.id }, t.name)));
    const key = uuid();
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clear(formMsg);
      const b = { test_id: testSel.value, cron: cron.value.trim(), policy: policy.value, enabled: enabled.checked };
      try { await api('POST', '/schedules', b, { signal: c.signal, key: key + ':' + fnv(JSON.stringify(b)) }); route(); } catch (e) { showError(formMsg, e); }
    });
    let r;
    try { r = await get('/schedules?limit=500', { signal: c.signal }); } catch (e) { showError(msg, e); return; }
    const items = Array.isArray(r) ? r : (r && r.items) || [];
    if (!items.length) body.appendChild(h('tr', null, h('td', { colspan: 7, class: 'dim empty' }, 'No schedules.')));
    for (const s of items) {
      const del = h('button', { class: 'danger small needs-runner' }, 'Delete');
      del.addEventListener('click', async () => {
        if (!del.classList.contains('armed')) { del.classList.add('armed'); del.textContent = 'Really?'; return; }
        try { await api('DELETE', '/schedules/' + encodeURIComponent(s.id), undefined, { signal: c.signal }); route(); } catch (e) { showError(msg, e); }
      });
      const toggle = h('button', { class: 'small needs-runner', onclick: async () => {
        try { await api('PATCH', '/schedules/' + encodeURIComponent(s.id), { enabled: !s.enabled }, { signal: c.signal }); route(); } catch (e) { showError(msg, e); }
      } }, s.enabled ? 'Disable' : 'Enable');
      body.appendChild(h('tr', { 'data-schedule': s.id },
        h('td', null, link('#/tests/' + encodeURIComponent(s.test_id), names[s.test_id] || shortId(s.test_id))),
        h('td', { class: 'mono' }, s.cron), h('td', null, s.policy),
        h('td', null, s.enabled ? h('span', { class: 'badge ok' }, 'yes') : h('span', { class: 'badge' }, 'no')),
        h('td', null, fmtTime(s.next_fire_at)), h('td', null, fmtTime(s.last_fire_at)), h('td', null, toggle, ' ', del)));
    }
  }

  /* ---- agents ------------------------------------------------------------------------------- */
  async function pageAgents(c) {
    const msg = h('div');
    const body = h('tbody');
    /* a label selector narrows the list: the agents an agent_labels would choose from */
    const selector = c.query.get('selector') || '';
    const selInput = h('input', { id: 'agent-selector', type: 'text', placeholder: 'label selector, e.g. zone in (a,b),tier!=spot', value: selector, size: 40 });
    const applySel = (ev) => { ev.preventDefault(); const v = selInput.value.trim(); go(v ? '#/agents?selector=' + encodeURIComponent(v) : '#/agents'); };
    app.appendChild(h('div', { class: 'page-head' }, h('h1', null, 'Agents'), h('span', { class: 'grow' }),
      h('form', { class: 'inline-form', id: 'agent-filter', onsubmit: applySel }, selInput, ' ', h('button', { type: 'submit' }, 'Filter')),
      ' ', h('button', { onclick: () => route() }, 'Refresh')));
    app.appendChild(msg);
    app.appendChild(h('div', { class: 'card' }, h('table', { class: 'list', id: 'agents' },
      h('thead', null, headRow(['Name', 'State', 'Version', '#Active runs', '#Capacity', 'Labels', 'Runs', 'Last heartbeat'])), body)));
    let r;
    try { r = await get('/agents' + (selector ? '?selector=' + encodeURIComponent(selector) : ''), { signal: c.signal }); } catch (e) { showError(msg, e); return; }
    const items = Array.isArray(r) ? r : (r && r.items) || [];
    if (!items.length) body.appendChild(h('tr', null, h('td', { colspan: 8, class: 'dim empty' }, selector ? 'No agent matches ' + selector + '.' : 'No agents.')));
    const stateClass = { up: 'ok', down: 'bad', draining: 'state-stopped', stopped: '' };
    for (const a of items) {
      const runs = Array.isArray(a.runs) ? a.runs : [];
      const labels = a.labels && typeof a.labels === 'object' ? Object.keys(a.labels).sort().map((k) => h('span', { class: 'label mono' }, k + '=' + a.labels[k])) : [];
      body.appendChild(h('tr', { 'data-agent': a.name }, h('td', null, a.name),
        h('td', null, h('span', { class: 'badge ' + (stateClass[a.state] != null ? stateClass[a.state] : 'bad'), 'data-state': a.state }, a.state)),
        h('td', { class: 'mono' }, a.version || '–'),
        h('td', { class: 'num' }, fmtNum(Math.max(a.active_runs || 0, runs.length), 0)), h('td', { class: 'num' }, fmtNum(a.capacity, 0)),
        h('td', { class: 'labels' }, labels.length ? labels : h('span', { class: 'dim' }, '–')),
        h('td', { class: 'mono' }, runs.length ? runs.map((id, i) => [i ? ' ' : '', link('#/runs/' + encodeURIComponent(id), shortId(id))]) : h('span', { class: 'dim' }, '–')),
        h('td', null, fmtTime(a.last_heartbeat))));
    }
    const tm = setTimeout(() => { if (c.alive) route(); }, 5000);
    c.onLeave(() => clearTimeout(tm));
  }

  UI.sseParser = sseParser; /* for the browser test of the parser */
  route();
})();
