// Browser test of the web UI of `mortar serve` (docs/ui.md): Debian's chromium (headless, via
// playwright-core, a fresh profile) drives the real server as a person would: logs in with a
// token, creates a test (seeing the validation errors), starts a run against `mortar target`
// from the form, watches the live charts grow across SSE events, waits for the run to finish,
// sets it as the baseline, downloads and opens its HTML report, starts a second run from a
// pasted config, compares the two, and visits the tests, schedules and agents pages. It checks
// that there are no console errors (the server's strict CSP would report inline scripts or
// styles there) and saves screenshots into the artifact directory.
//
// Run by tests/integration/test_serve_ui.sh (ctest), which starts the target and the server.
// Environment:
//   MT_SERVE_URL     the server, e.g. http://127.0.0.1:41234 (unset: the test is skipped, so
//                    `node --test tests/browser/` still runs the report's test alone)
//   MT_SERVE_TOKEN   an admin token (mortar token create --role admin)
//   MT_TARGET_URL    a `mortar target` the runs are aimed at
//   MT_ARTIFACT_DIR  where screenshots go (default: build/test-artifacts)
//   MT_CHROMIUM      the browser (default: /usr/bin/chromium)
//   MT_SANITIZED     set under ASan/UBSan: everything may take longer
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SERVE = process.env.MT_SERVE_URL;
const TOKEN = process.env.MT_SERVE_TOKEN;
const VIEWER_TOKEN = process.env.MT_SERVE_VIEWER_TOKEN; /* optional: the role test */
const TARGET = process.env.MT_TARGET_URL;
const ARTIFACTS = path.resolve(process.env.MT_ARTIFACT_DIR || path.join(ROOT, 'build', 'test-artifacts'));
const CHROMIUM = process.env.MT_CHROMIUM || '/usr/bin/chromium';
const SLOW = process.env.MT_SANITIZED ? 4 : 1;
const FINAL = ['passed', 'failed', 'stopped', 'interrupted', 'error'];
const skip = SERVE ? false : 'MT_SERVE_URL is not set (tests/integration/test_serve_ui.sh sets it)';

let context, page, profile;
const consoleErrors = [];
/* Statuses the test provokes on purpose (a bad token, a config with an unknown key): chromium
 * logs "Failed to load resource: ... status of N" for them, which is not a page error. */
const provoked = new Set([401, 422]);

function watch(p) {
  p.on('console', (m) => {
    if (m.type() !== 'error') return;
    const st = /Failed to load resource: the server responded with a status of (\d+)/.exec(m.text());
    if (st && provoked.has(+st[1])) return;
    consoleErrors.push(`${p.url()}: ${m.text()}`);
  });
  p.on('pageerror', (e) => consoleErrors.push(`${p.url()}: uncaught ${e.message}`));
}
const shot = (p, name) => p.screenshot({ path: path.join(ARTIFACTS, name), fullPage: true });
const ui = (fn, arg, timeout) => page.waitForFunction(fn, arg, { timeout: (timeout || 30000) * SLOW, polling: 100 });
const routeReady = (name) => ui((n) => window.mortarUI && window.mortarUI.page === n, name);
async function go(hash) {
  await page.evaluate((h) => { location.hash = h; }, hash);
}
async function waitFinal(timeoutMs) {
  await ui((f) => { const b = document.querySelector('#run-state .badge'); return b && f.includes(b.dataset.state); }, FINAL, timeoutMs);
  /* the page re-renders from the stored seconds once the run is over */
  await ui(() => window.mortarUI.page === 'run' && !window.mortarUI.live && window.mortarUI.ready, null, 30000);
  return page.evaluate(() => document.querySelector('#run-state .badge').dataset.state);
}
const chartLengths = () => page.evaluate(() => Object.fromEntries(Object.entries(window.mortarUI.charts).map(([k, u]) => [k, u.data[0].length])));
const runIdOfPage = () => page.evaluate(() => decodeURIComponent(location.hash.split('/')[2]));

before(async () => {
  if (skip) return;
  assert.ok(TOKEN, 'MT_SERVE_TOKEN is not set');
  assert.ok(TARGET, 'MT_TARGET_URL is not set');
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/deps.sh test (apt-get install chromium)`);
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  profile = fs.mkdtempSync(path.join(os.tmpdir(), 'mortar-ui-profile-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1366, height: 768 },
    acceptDownloads: true,
  });
  context.pages().forEach(watch); /* the first tab exists already; later ones are watched here */
  context.on('page', watch);
  page = context.pages()[0] || (await context.newPage());
});

after(async () => {
  if (context) await context.close();
  if (profile) fs.rmSync(profile, { recursive: true, force: true });
});

const config = (dur) => ({ url: `${TARGET}/?delay=exp:1ms`, rate: 50, duration: dur, threshold: ['p(99)<10s'] });
const ids = {};

test('login: a bad token is refused with the problem shown, a good one is kept', { skip }, async () => {
  const res = await page.goto(SERVE + '/');
  assert.equal(res.status(), 200);
  await routeReady('login');
  const scripts = await page.evaluate(() => [...document.scripts].map((s) => s.src || 'INLINE'));
  assert.ok(scripts.every((s) => s.includes('/ui/')), `scripts not loaded from /ui/: ${scripts}`);
  await page.fill('#token', 'not-a-token');
  await page.click('#login');
  await page.waitForSelector('#login-msg .note, #login-msg .problem', { timeout: 20000 * SLOW });
  assert.match(await page.textContent('#login-msg'), /401/);
  assert.equal(await page.evaluate(() => localStorage.getItem('mortar.token')), null);
  await shot(page, 'serve-login.png');
  await page.fill('#token', TOKEN);
  await page.click('#login');
  await routeReady('runs');
  await page.waitForSelector('#runs tbody tr');
  assert.equal(await page.evaluate(() => localStorage.getItem('mortar.token')), TOKEN);
  await shot(page, 'serve-runs-empty.png');
});

test('the SSE parser: chunk boundaries anywhere, CRLF and CR, comments, multi-line data, ids', { skip }, async () => {
  const out = await page.evaluate(() => {
    const stream = ': comment\r\nevent: second\r\nid: 7\r\ndata: {"t":7}\r\n\r\n' +
      'data: a\ndata: b\n\n' + 'event: state\rdata: {"state":"passed"}\r\r' + 'data:x\n\n' + 'event: empty\n\n' + 'data: tail';
    const runs = [];
    for (const size of [1, 2, 3, 5, 7, 1000]) {
      const got = [];
      const p = window.mortarUI.sseParser((e) => got.push(e));
      for (let i = 0; i < stream.length; i += size) p.push(stream.slice(i, i + size));
      runs.push({ size, got, lastId: p.lastId() });
    }
    return runs;
  });
  for (const r of out) {
    assert.deepEqual(r.got, [
      { event: 'second', data: '{"t":7}', id: '7' },
      { event: 'message', data: 'a\nb', id: '7' },
      { event: 'state', data: '{"state":"passed"}', id: '7' },
      { event: 'message', data: 'x', id: '7' },
    ], `chunks of ${r.size}`);
    assert.equal(r.lastId, '7');
  }
});

test('tests page: JSON and validation errors are shown, then the test is created', { skip }, async () => {
  await go('#/tests/new');
  await routeReady('test-new');
  await page.fill('#test-name', 'ui-checkout');
  await page.fill('#test-description', 'made by the browser test');
  await page.fill('#test-config', '{"url": ');
  await page.click('#save-test');
  await page.waitForSelector('#test-msg .problem');
  assert.match(await page.textContent('#test-msg'), /config: not valid JSON/);
  await page.fill('#test-config', JSON.stringify({ ...config('6s'), frobnicate: 1 }, null, 2));
  await page.click('#save-test');
  await page.waitForSelector('#test-msg .problem', { timeout: 20000 * SLOW });
  const text = await page.textContent('#test-msg');
  assert.match(text, /422/, `no 422 problem shown: ${text}`);
  assert.match(text, /frobnicate/, `the problem does not name the key: ${text}`);
  assert.ok(await page.$('#test-config.invalid'), 'the config field is not marked invalid');
  await shot(page, 'serve-test-validation.png');
  await page.fill('#test-config', JSON.stringify(config('6s'), null, 2));
  await page.click('#save-test');
  await routeReady('test');
  ids.test = await page.evaluate(() => decodeURIComponent(location.hash.split('/')[2]));
  assert.ok(ids.test);
});

test('start a run from the form and watch the live charts move', { skip }, async () => {
  await go('#/runs/new?test=' + encodeURIComponent(ids.test));
  await routeReady('new');
  await page.waitForSelector(`#run-test option[value="${ids.test}"]`, { state: 'attached' });
  assert.equal(await page.$eval('#run-test', (s) => s.value), ids.test);
  await page.click('#start-run');
  await routeReady('run');
  ids.run1 = await runIdOfPage();
  /* live: the charts get points as seconds arrive over the event stream */
  await ui(() => window.mortarUI.live && window.mortarUI.charts.rps && window.mortarUI.charts.rps.data[0].length >= 1, null, 60000);
  const first = await page.evaluate(() => ({ events: window.mortarUI.sseEvents, n: window.mortarUI.charts.rps.data[0].length }));
  await ui((f) => window.mortarUI.sseEvents > f.events && window.mortarUI.charts.rps && window.mortarUI.charts.rps.data[0].length > f.n, first, 60000);
  const lens = await chartLengths();
  for (const name of ['rps', 'latency', 'status', 'errors', 'connections', 'generator']) {
    assert.ok(lens[name] > first.n, `live chart ${name} did not grow: ${JSON.stringify(lens)} after ${first.n}`);
  }
  assert.ok(await page.$('#live-status'), 'no live status');
  assert.ok(await page.$('#stop'), 'no stop button on a running run');
  /* the run's agents: the built-in one runs the whole run */
  await page.waitForSelector('#run-agents tr[data-agent="local"] .badge[data-state="running"]', { timeout: 30000 * SLOW });
  assert.match(await page.textContent('#run-agents tr[data-agent="local"]'), /the whole run/);
  await shot(page, 'serve-run-live.png');
  const state = await waitFinal(120000);
  assert.equal(state, 'passed');
});

test('finished run page: summary, breakdown, charts from the stored seconds', { skip }, async () => {
  const lens = await chartLengths();
  for (const name of ['rps', 'latency', 'status', 'errors', 'connections', 'generator']) assert.ok(lens[name] >= 5, `chart ${name}: ${lens[name]} points`);
  const requests = await page.textContent('[data-key="requests"] .v');
  assert.ok(Number(requests.replace(/,/g, '')) > 0, `no requests in the summary: ${requests}`);
  assert.ok(await page.$('#breakdown'), 'no latency breakdown');
  /* the phases of a request, from the agent's end message (not zeros) */
  const phases = await page.$$eval('#breakdown tr.phase td:first-child', (tds) => tds.map((t) => t.textContent));
  for (const p of ['connect', 'send', 'wait']) assert.ok(phases.includes(p), `no ${p} row in the breakdown: ${phases}`);
  const verdicts = await page.textContent('#verdicts');
  assert.match(verdicts, /p\(99\)<10s/, `the threshold verdict is not shown: ${verdicts}`);
  assert.match(verdicts, /pass/);
  /* every chart drew something in its plot area */
  const painted = await page.evaluate(() => Object.entries(window.mortarUI.charts).map(([k, u]) => {
    const cv = u.root.querySelector('canvas');
    const px = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;
    let n = 0;
    for (let i = 3; i < px.length; i += 4) if (px[i]) n++;
    return [k, n];
  }));
  for (const [k, n] of painted) assert.ok(n > 100, `chart ${k} has nothing drawn`);
  await page.waitForSelector('#run-agents tr[data-agent="local"] .badge[data-state="ended"]', { timeout: 20000 * SLOW });
  await page.click('#set-baseline');
  await page.waitForSelector('#baseline-set', { timeout: 20000 * SLOW });
  await shot(page, 'serve-run-finished.png');
});

test('the HTML report is fetched with the token and opens', { skip }, async () => {
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 60000 * SLOW }), page.click('#download-report')]);
  const file = path.join(ARTIFACTS, 'serve-report.html');
  await download.saveAs(file);
  const report = await context.newPage();
  await report.goto(pathToFileURL(file).href);
  await report.waitForFunction(() => window.mortarReport && window.mortarReport.ready, null, { timeout: 30000 * SLOW });
  const charts = await report.evaluate(() => window.mortarReport.charts.length);
  assert.ok(charts >= 4, `the report has ${charts} charts`);
  await shot(report, 'serve-report.png');
  await report.close();
});

test('a run from a pasted config, compared with the first', { skip }, async () => {
  await go('#/runs/new');
  await routeReady('new');
  await page.fill('#run-config', JSON.stringify(config('3s'), null, 2));
  assert.ok(await page.$eval('#mode-config', (r) => r.checked), 'pasting a config did not select it');
  await page.fill('#run-labels', '{"from": "browser-test"}');
  await page.click('#start-run');
  await routeReady('run');
  ids.run2 = await runIdOfPage();
  assert.notEqual(ids.run2, ids.run1);
  /* the run says who made it: the UI's token (test_serve_ui.sh names it ui-test) */
  await page.waitForSelector('#run-created-by', { timeout: 30000 * SLOW });
  assert.equal(await page.textContent('#run-created-by'), 'ui-test');
  await waitFinal(120000);
  await go(`#/runs/${encodeURIComponent(ids.run2)}/compare?with=${encodeURIComponent(ids.run1)}`);
  await routeReady('compare');
  await page.waitForSelector('#compare-table tbody tr', { timeout: 30000 * SLOW });
  const rows = await page.$$eval('#compare-table tbody tr', (trs) => trs.map((tr) => tr.dataset.metric));
  assert.ok(rows.length >= 2, `compare rows: ${rows}`);
  assert.ok(await page.$('#compare-verdict [data-regression]'), 'no regression flag');
  await ui(() => window.mortarUI.ready && window.mortarUI.charts['cmp-rps'] && window.mortarUI.charts['cmp-rps'].data[0].length >= 3, null, 30000);
  const series = await page.evaluate(() => window.mortarUI.charts['cmp-rps'].data.length);
  assert.equal(series, 3, 'the compare chart does not overlay two runs');
  await shot(page, 'serve-compare.png');
});

test('the stop button stops a running run', { skip }, async () => {
  await go('#/runs/new');
  await routeReady('new');
  await page.fill('#run-config', JSON.stringify(config('10m')));
  await page.click('#start-run');
  await routeReady('run');
  ids.run3 = await runIdOfPage();
  await ui(() => window.mortarUI.live && window.mortarUI.charts.rps && window.mortarUI.charts.rps.data[0].length >= 1, null, 60000);
  await page.click('#stop');
  assert.equal(await waitFinal(60000), 'stopped');
  assert.equal(await page.$('#stop'), null, 'a stopped run still has a stop button');
});

test('the run list filters, the test page shows the baseline and the trend', { skip }, async () => {
  await go('#/runs');
  await routeReady('runs');
  await page.waitForSelector(`#runs tr[data-run="${ids.run1}"]`);
  await page.waitForSelector(`#runs tr[data-run="${ids.run2}"]`);
  /* pagination: one run a page, newest first, Older then Newer */
  await go('#/runs?limit=1');
  await routeReady('runs');
  await page.waitForSelector(`#runs tr[data-run="${ids.run3}"]`);
  await page.click('#next-page');
  await page.waitForSelector(`#runs tr[data-run="${ids.run2}"]`, { timeout: 20000 * SLOW });
  await page.click('#next-page');
  await page.waitForSelector(`#runs tr[data-run="${ids.run1}"]`, { timeout: 20000 * SLOW });
  await page.click('#prev-page');
  await page.waitForSelector(`#runs tr[data-run="${ids.run2}"]`, { timeout: 20000 * SLOW });
  await page.click('#prev-page');
  await page.waitForSelector(`#runs tr[data-run="${ids.run3}"]`, { timeout: 20000 * SLOW });
  assert.equal(await page.$('#prev-page'), null, 'a Newer button on the first page');
  await go('#/runs');
  await routeReady('runs');
  await page.waitForSelector(`#runs tr[data-run="${ids.run1}"]`);
  await page.selectOption('#filter-test', ids.test);
  await page.waitForFunction(() => location.hash.includes('test='));
  await routeReady('runs');
  await page.waitForSelector(`#runs tr[data-run="${ids.run1}"]`);
  assert.equal(await page.$(`#runs tr[data-run="${ids.run2}"]`), null, 'the test filter kept an ad hoc run');
  await shot(page, 'serve-runs.png');
  await go('#/tests/' + encodeURIComponent(ids.test));
  await routeReady('test');
  await ui(() => window.mortarUI.charts.trend && window.mortarUI.charts.trend.data[0].length >= 1, null, 30000);
  const base = await page.textContent('body');
  assert.ok(base.includes(ids.run1.slice(-8)), 'the baseline run is not shown');
  await shot(page, 'serve-test.png');
});

test('a traced run: its slow and failed requests are listed and linked through trace_url', { skip }, async () => {
  await go('#/runs/new');
  await routeReady('new');
  const cfg = { url: `${TARGET}/?delay=exp:1ms&status=200:80,500:20`, rate: 50, duration: '3s', trace: 1,
    trace_url: 'https://tempo.internal/trace/{trace_id}' };
  await page.fill('#run-config', JSON.stringify(cfg, null, 2));
  await page.click('#start-run');
  await routeReady('run');
  ids.traced = await runIdOfPage();
  await waitFinal(120000);
  await go(`#/runs/${encodeURIComponent(ids.traced)}`);
  await routeReady('run');
  await page.waitForSelector('#exemplars tbody tr', { timeout: 30000 * SLOW });
  const links = await page.$$eval('#exemplars tbody a', (as) => as.map((a) => a.getAttribute('href')));
  assert.ok(links.length >= 2, `exemplar links: ${links}`);
  for (const l of links) assert.match(l, /^https:\/\/tempo\.internal\/trace\/[0-9a-f]{32}$/);
  const kinds = await page.$$eval('#exemplars tbody tr td:first-child', (tds) => tds.map((td) => td.textContent));
  assert.ok(kinds.includes('slow') && kinds.includes('error'), `exemplar kinds: ${kinds}`);
  assert.ok(kinds.filter((k) => k === 'slow').length <= 25, 'more than 25 slow requests listed');
  await shot(page, 'serve-exemplars.png');
});

test('schedules and agents pages', { skip }, async () => {
  await go('#/schedules');
  await routeReady('schedules');
  await page.waitForSelector(`#schedule-test option[value="${ids.test}"]`, { state: 'attached' });
  await page.fill('#schedule-cron', '0 3 * * *');
  await page.selectOption('#schedule-policy', 'skip');
  await page.uncheck('#schedule-enabled'); /* a disabled schedule never fires during the test */
  await page.click('#create-schedule');
  await page.waitForSelector('#schedules tr[data-schedule]', { timeout: 20000 * SLOW });
  assert.match(await page.textContent('#schedules'), /0 3 \* \* \*/);
  await shot(page, 'serve-schedules.png');
  const del = await page.$('#schedules tr[data-schedule] button.danger');
  await del.click();
  await del.click();
  await page.waitForSelector('#schedules tr[data-schedule]', { state: 'detached', timeout: 20000 * SLOW });
  await go('#/agents');
  await routeReady('agents');
  await page.waitForSelector('#agents tbody tr td .badge', { timeout: 20000 * SLOW });
  /* the earlier tests' runs are over; the agent says so with its next heartbeat (the page
   * refreshes every 5 s): seen in CI with PostgreSQL, 1 active run just after the last ended */
  await ui(() => {
    const tr = document.querySelector('#agents tr[data-agent="local"]');
    return tr && tr.children[3].textContent.trim() === '0';
  }, null, 30000);
  /* labels, capacity, version, active runs and state of the built-in agent */
  const row = await page.$eval('#agents tr[data-agent="local"]', (tr) => [...tr.children].map((td) => td.textContent.trim()));
  assert.equal(row[1], 'up');
  assert.match(row[2], /^\d+\.\d+/, `version: ${row[2]}`);
  assert.equal(row[3], '0');
  assert.equal(row[4], '1');
  assert.equal(row[5], 'zone=local');
  await shot(page, 'serve-agents.png');
  /* the selector filter: matching, matching none, and a bad selector's problem */
  await page.fill('#agent-selector', 'zone in (local,a)');
  await page.click('#agent-filter button[type=submit]');
  await ui(() => location.hash === '#/agents?selector=' + encodeURIComponent('zone in (local,a)') && document.querySelector('#agents tr[data-agent="local"]'), null, 20000);
  await page.fill('#agent-selector', 'zone=nowhere');
  await page.click('#agent-filter button[type=submit]');
  await ui(() => /No agent matches zone=nowhere/.test(document.querySelector('#agents tbody').textContent), null, 20000);
  await page.fill('#agent-selector', 'zone in a');
  await page.click('#agent-filter button[type=submit]');
  await page.waitForSelector('.problem', { timeout: 20000 * SLOW });
  assert.match(await page.textContent('.problem'), /column 9/);
});

test('a queued run says which agents it waits for, and is stopped while it waits', { skip }, async () => {
  await go('#/runs/new');
  await routeReady('new');
  await page.fill('#run-config', JSON.stringify({ ...config('1s'), agent_labels: 'zone=nowhere', placement_timeout: 0 }));
  await page.click('#start-run');
  await routeReady('run');
  await ui(() => /^waiting for 1 agent matching zone=nowhere: 0 free of 0 matching$/.test((document.querySelector('#run-reason') || {}).textContent || ''), null, 30000);
  assert.match(await page.textContent('#run-agents-none'), /not placed yet \(1 wanted, matching zone=nowhere\)/);
  await shot(page, 'serve-run-waiting.png');
  await page.click('#stop');
  /* it stored no seconds: no chart draws, so wait for the final page, not for the charts */
  await ui(() => window.mortarUI.page === 'run' && !window.mortarUI.live && /reason: stopped by API/.test((document.querySelector('#run-reason') || {}).textContent || ''), null, 60000);
  assert.equal(await page.$eval('#run-state .badge', (b) => b.dataset.state), 'stopped');
});

test('a viewer token sees no actions it may not use; an admin token sees them', { skip: skip || !VIEWER_TOKEN }, async () => {
  const visible = (sel) => page.evaluate((s) => { const e = document.querySelector(s); return !!e && e.offsetParent !== null; }, sel);
  /* a fresh page load: the role is asked once per load */
  await page.evaluate((t) => { localStorage.setItem('mortar.token', t); location.hash = '#/runs'; }, VIEWER_TOKEN);
  await page.reload();
  await routeReady('runs');
  await ui(() => document.body.dataset.role === 'viewer');
  assert.equal(await visible('.page-head a.needs-runner'), false, 'Start a run is hidden from a viewer');
  assert.equal(await visible('nav .needs-runner'), false);
  await shot(page, 'serve-viewer.png');
  await page.evaluate((t) => { localStorage.setItem('mortar.token', t); location.hash = '#/runs'; }, TOKEN);
  await page.reload();
  await routeReady('runs');
  await ui(() => document.body.dataset.role === 'admin');
  assert.equal(await visible('.page-head a.needs-runner'), true, 'Start a run is shown to an admin');
});

test('a token the server no longer accepts sends the browser back to the login page', { skip }, async () => {
  await page.evaluate(() => localStorage.setItem('mortar.token', 'revoked'));
  await go('#/runs?state=passed');
  await routeReady('login');
  await page.waitForSelector('#login-msg .note');
  assert.match(await page.textContent('#login-msg'), /401/);
  assert.equal(await page.evaluate(() => localStorage.getItem('mortar.token')), null);
});

test('no console errors on any page', { skip }, () => {
  assert.deepEqual(consoleErrors, []);
});
