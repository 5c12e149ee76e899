// Browser test of `mortar report` pages: Debian's chromium (headless, via playwright-core)
// opens reports made from real runs against `mortar target`, and checks what a person would
// see: every chart drawn with data, no console errors, nothing fetched from the network, the
// tables and (when present) verdicts and tags. Screenshots go to the artifact directory.
//
// Run by tests/integration/test_report.sh (ctest), or alone:  node --test tests/browser/
// Environment (all optional):
//   MORTAR           the mortar binary (default: build/mortar in the repository)
//   MT_RESULT_A/B    result JSON files to use (default: made here, 3 s runs against a target)
//   MT_RESULT_TRACE  a result of a run with --trace and --trace-url (default: made here)
//   MT_ARTIFACT_DIR  where screenshots go (default: test-artifacts/ beside the binary)
//   MT_CHROMIUM      the browser (default: /usr/bin/chromium)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const MORTAR = path.resolve(process.env.MORTAR || path.join(ROOT, 'build', 'mortar'));
const ARTIFACTS = path.resolve(process.env.MT_ARTIFACT_DIR || path.join(path.dirname(MORTAR), 'test-artifacts'));
const CHROMIUM = process.env.MT_CHROMIUM || '/usr/bin/chromium';
const SLOW = process.env.MT_SANITIZED ? 4 : 1;

let work, browser, target, targetUrl;
const files = {};

// `mortar target` on a free port; resolves to its URL once it prints "listening on".
function startTarget() {
  return new Promise((resolve, reject) => {
    const p = spawn(MORTAR, ['target', '--listen', '127.0.0.1:0', '-q'], { stdio: ['ignore', 'pipe', 'inherit'] });
    target = p;
    const timer = setTimeout(() => reject(new Error('target did not start')), 20000 * SLOW);
    p.on('error', reject);
    createInterface({ input: p.stdout }).once('line', (line) => {
      clearTimeout(timer);
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(line);
      if (m) resolve(`http://127.0.0.1:${m[1]}`);
      else reject(new Error(`unexpected target line: ${line}`));
    });
  });
}

function mortar(args, opts = {}) {
  return execFileSync(MORTAR, args, { encoding: 'utf8', timeout: 60000 * SLOW, stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}

// A result with verdicts and tags added (the shapes the report renders generically).
function withVerdictsAndTags(src, dst) {
  const r = JSON.parse(fs.readFileSync(src, 'utf8'));
  const s = r.summary;
  const tag = (share) => ({
    requests: Math.round(s.requests * share), due: Math.round(s.due * share), sent: Math.round(s.sent * share),
    completed: Math.round(s.completed * share), errors: Math.round(s.errors * share), errors_by_kind: s.errors_by_kind,
    dropped: 0, late: 0, bytes_in: 0, bytes_out: 0, status: s.status, latency_us: s.latency_us, service_us: s.service_us,
  });
  s.tags = { '': tag(0.2), api: tag(0.5), 'static<b>': tag(0.3) };
  r.verdicts = [
    { kind: 'threshold', spec: 'p99 < 500ms', passed: true, value_us: s.latency_us.p99 },
    { kind: 'autostop', spec: 'http(5xx, 10%, 2s)', passed: false, at_s: 2, reason: '<img src=x onerror=alert(1)>' },
    { kind: 'baseline', method: 'mann-whitney-u', alpha: 0.01, passed: false, regressed: true, regressions: ['p50_us'],
      message: 'p50_us +182.4% (p=0.0048)', seconds: { run: 6, base: 6 }, base_file: 'base<i>.json',
      metrics: [
        { name: 'p50_us', run: 6367, base: 2255, delta: 4112, delta_pct: 182.4, tolerance: 10, tolerance_kind: 'pct',
          exceeds_tolerance: true, p_value: 0.0048, significant: true, decision: 'regressed', regression: true },
        { name: 'rps', run: 200, base: 200, delta: 0, delta_pct: 0, tolerance: 5, tolerance_kind: 'pct',
          exceeds_tolerance: false, p_value: 1, significant: false, decision: 'unchanged', regression: false },
      ] },
  ];
  fs.writeFileSync(dst, JSON.stringify(r));
}

before(async () => {
  assert.ok(fs.existsSync(MORTAR), `${MORTAR} is missing: build first`);
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/deps.sh test (apt-get install chromium)`);
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'mortar-browser-'));
  fs.mkdirSync(ARTIFACTS, { recursive: true });

  files.a = process.env.MT_RESULT_A;
  files.b = process.env.MT_RESULT_B;
  if (!files.a || !files.b) {
    const url = (targetUrl = await startTarget());
    files.a = path.join(work, 'a.json');
    files.b = path.join(work, 'b.json');
    mortar(['run', '-q', '-R', '200', '-d', '3s', '--json', files.a, `${url}/?delay=exp:1ms`]);
    mortar(['run', '-q', '-c', '4', '-d', '3s', '--json', files.b, `${url}/?status=200:90,503:7,404:3&delay=exp:2ms&reset=1`]);
  }
  /* a traced run (docs/tracing.md): its exemplar table links through the template */
  files.tr = process.env.MT_RESULT_TRACE;
  if (!files.tr) {
    if (!targetUrl) targetUrl = await startTarget();
    files.tr = path.join(work, 'tr.json');
    mortar(['run', '-q', '-c', '4', '-d', '2s', '--trace', '--trace-url', 'https://tempo.internal/trace/{trace_id}',
      '--json', files.tr, `${targetUrl}/?status=200:80,500:20&delay=exp:1ms`]);
  }
  files.trReport = path.join(work, 'report-trace.html');
  mortar(['report', files.tr, '-o', files.trReport]);
  files.tv = path.join(work, 'tv.json');
  withVerdictsAndTags(files.b, files.tv);

  files.report = path.join(work, 'report.html');
  files.compare = path.join(work, 'compare.html');
  files.tvReport = path.join(work, 'report-tags.html');
  mortar(['report', files.a, '-o', files.report]);
  mortar(['report', files.a, '--compare', files.b, '-o', files.compare]);
  mortar(['report', files.tv, '-o', files.tvReport]);

  browser = await chromium.launchPersistentContext(path.join(work, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1440, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (target) target.kill('SIGTERM');
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

// Opens a report; returns the page and what went wrong on it (console errors, page errors,
// requests that left the file).
async function open(file) {
  const page = await browser.newPage();
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('request', (r) => { if (!r.url().startsWith('file:')) problems.push(`request: ${r.url()}`); });
  await page.goto(pathToFileURL(file).href);
  await page.waitForFunction(() => window.mortarReport && window.mortarReport.ready, null, { timeout: 30000 });
  return { page, problems };
}

test('a traced run: the slow and failed requests link to their traces', async () => {
  const { page, problems } = await open(files.trReport);
  const rows = await page.$$eval('#exemplars tbody tr', (trs) => trs.map((tr) => [tr.cells[0].textContent, tr.querySelector('a') && tr.querySelector('a').getAttribute('href')]));
  assert.ok(rows.some((r) => r[0] === 'slow') && rows.some((r) => r[0] === 'error'), `rows: ${JSON.stringify(rows)}`);
  for (const [, href] of rows) assert.match(href, /^https:\/\/tempo\.internal\/trace\/[0-9a-f]{32}$/);
  const doc = JSON.parse(fs.readFileSync(files.tr, 'utf8'));
  const slowest = doc.seconds.flatMap((x) => (x.exemplars && x.exemplars.slow) || []).sort((a, b) => b.latency_us - a.latency_us)[0];
  assert.equal(rows[0][1], `https://tempo.internal/trace/${slowest.trace_id}`, 'the first row is not the run\'s slowest request');
  assert.deepEqual(problems, []);
  await page.close();
});

// Every uPlot chart: its series with their non-null points, and how many pixels of the plot
// area are coloured (series are saturated colours; grid, axes and text are grey).
function chartInfo(page) {
  return page.evaluate(() => window.mortarReport.charts.map((c) => {
    if (!c.plot) return { id: c.id, html: true, text: c.html.textContent };
    const u = c.plot, ctx = u.ctx, b = u.bbox;
    const img = ctx.getImageData(Math.round(b.left), Math.round(b.top), Math.max(1, Math.round(b.width)), Math.max(1, Math.round(b.height))).data;
    let colored = 0, drawn = 0;
    for (let i = 0; i < img.length; i += 4) {
      if (img[i + 3] === 0) continue;
      drawn++;
      const mx = Math.max(img[i], img[i + 1], img[i + 2]), mn = Math.min(img[i], img[i + 1], img[i + 2]);
      if (mx - mn > 60 && img[i + 3] > 100) colored++;
    }
    return {
      id: c.id,
      series: u.series.slice(1).map((s, i) => ({ label: s.label, points: u.data[i + 1].filter((v) => v != null).length })),
      xs: u.data[0].length, drawn, colored,
    };
  }));
}

function checkCharts(info, ids) {
  assert.deepEqual(info.map((c) => c.id).sort(), [...ids].sort(), 'the charts on the page');
  for (const c of info) {
    if (c.html) continue;
    assert.ok(c.xs > 0, `${c.id}: no x values`);
    assert.ok(c.series.length > 0, `${c.id}: no series`);
    assert.ok(c.series.some((s) => s.points > 0), `${c.id}: every series is empty: ${JSON.stringify(c.series)}`);
    assert.ok(c.drawn > 0, `${c.id}: the canvas is blank`);
    assert.ok(c.colored > 50, `${c.id}: no series drawn in the plot area (${c.colored} coloured pixels)`);
  }
}

function checkBreakdown(info, rowsPerPhase) {
  const bd = info.find((c) => c.id === 'breakdown');
  for (const phase of ['connect', 'send', 'wait (TTFB)', 'receive']) assert.ok(bd.text.includes(phase), `breakdown: ${phase}`);
  assert.equal((bd.text.match(/p50 \d/g) || []).length, 4 * rowsPerPhase, 'breakdown: a value line per phase and run');
}

test('a report of one run draws every chart', { timeout: 120000 }, async () => {
  const { page, problems } = await open(files.report);
  const info = await chartInfo(page);
  checkCharts(info, ['rps', 'latency', 'service', 'status', 'distribution', 'connections', 'generator', 'breakdown']);
  checkBreakdown(info, 1);
  // the rate chart: planned and achieved over all 3 seconds
  const rps = info.find((c) => c.id === 'rps');
  for (const label of ['planned (due)', 'achieved (completed)'])
    assert.ok(rps.series.find((s) => s.label === label && s.points >= 2), `rps: ${label}`);
  // the distribution from the whole-run histogram
  const dist = info.find((c) => c.id === 'distribution');
  assert.ok(dist.series[0].points >= 10, 'distribution: points');
  // the tables
  const text = await page.textContent('body');
  for (const s of ['Key numbers', 'achieved rps', 'Latency (from due time)', 'Configuration', 'planned_requests', 'Responses and errors'])
    assert.ok(text.includes(s), `page text: ${s}`);
  assert.equal(await page.locator('#verdicts').count(), 0, 'no verdicts section without verdicts');
  assert.equal(await page.locator('#tags').count(), 0, 'no tags section without tags');
  // the log toggle redraws the distribution
  await page.click('#chart-distribution button.toggle');
  const again = await chartInfo(page);
  checkCharts(again, ['rps', 'latency', 'service', 'status', 'distribution', 'connections', 'generator', 'breakdown']);
  await page.click('#chart-distribution button.toggle');
  await page.screenshot({ path: path.join(ARTIFACTS, 'report.png'), fullPage: true });
  assert.deepEqual(problems, []);
  await page.close();
});

test('a comparison overlays both runs', { timeout: 120000 }, async () => {
  const { page, problems } = await open(files.compare);
  const info = await chartInfo(page);
  checkCharts(info, ['rps', 'latency', 'status', 'distribution', 'connections', 'breakdown']);
  checkBreakdown(info, 2);
  for (const c of info.filter((c) => !c.html)) {
    assert.ok(c.series.some((s) => s.label.startsWith('A') && s.points > 0), `${c.id}: A drawn`);
    assert.ok(c.series.some((s) => s.label.startsWith('B') && s.points > 0), `${c.id}: B drawn`);
  }
  // the table of differences: a row per number with A, B, the delta and the change
  const row = await page.locator('#numbers tr', { hasText: 'achieved rps' }).first().locator('td').allTextContents();
  assert.equal(row.length, 5, `achieved rps row: ${row}`);
  assert.match(row[4], /^(0%|[+−]\d+(\.\d)?%|new)$/, `change: ${row[4]}`);
  const text = await page.textContent('body');
  for (const s of ['A vs B', 'B − A', 'error rate', 'Configuration']) assert.ok(text.includes(s), `page text: ${s}`);
  await page.screenshot({ path: path.join(ARTIFACTS, 'report-compare.png'), fullPage: true });
  assert.deepEqual(problems, []);
  await page.close();
});

test('verdicts and tags are shown when present (closed model)', { timeout: 120000 }, async () => {
  const { page, problems } = await open(files.tvReport);
  const info = await chartInfo(page);
  checkCharts(info, ['rps', 'latency', 'status', 'distribution', 'connections', 'generator', 'breakdown']);
  const verdicts = await page.locator('#verdicts li').allTextContents();
  assert.equal(verdicts.length, 3);
  assert.match(verdicts[0], /PASS.*threshold.*p99 < 500ms/);
  assert.match(verdicts[1], /FAIL.*autostop.*http\(5xx, 10%, 2s\).*at_s: 2/);
  assert.match(verdicts[2], /REGRESSED.*baseline.*p50_us \+182\.4% \(p=0\.0048\)/);
  const rows = await page.locator('#verdicts .baseline-table tbody tr').allTextContents();
  assert.equal(rows.length, 2, 'one row per metric of the baseline verdict');
  assert.match(rows[0], /p50_us.*\+182\.4%.*0\.0048.*regressed/);
  assert.match(await page.textContent('#verdicts'), /2 of 3 failed/);
  // data is text, never markup
  assert.equal(await page.locator('img').count(), 0, 'no element made from the data');
  const tags = await page.locator('#tags tbody tr td.name').allTextContents();
  assert.deepEqual(tags.sort(), ['(untagged)', 'api', 'static<b>'].sort());
  await page.screenshot({ path: path.join(ARTIFACTS, 'report-tags.png'), fullPage: true });
  assert.deepEqual(problems, []);
  await page.close();
});
