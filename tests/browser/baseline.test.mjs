// Browser check of the baseline verdict in the web UI (docs/analysis.md): the runs list shows a
// "regressed" badge on a run that regressed against its test's baseline and a "≈ baseline" badge
// on one that did not; the run page shows the verdict's table with each metric's decision.
// Screenshots go to the artifact directory.
//
// Run by tests/integration/test_serve_baseline.sh, which starts the server and makes the runs.
// Environment (unset MT_BASELINE_SERVE_URL: skipped, so `node --test tests/browser/` runs the
// other files alone):
//   MT_BASELINE_SERVE_URL  the server          MT_BASELINE_TOKEN  a token that may read runs
//   MT_BASELINE_REGRESSED  a run that regressed  MT_BASELINE_OK     a run compared that did not
//   MT_ARTIFACT_DIR, MT_CHROMIUM, MT_SANITIZED  as in serve.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SERVE = process.env.MT_BASELINE_SERVE_URL;
const TOKEN = process.env.MT_BASELINE_TOKEN;
const REGRESSED = process.env.MT_BASELINE_REGRESSED;
const OK = process.env.MT_BASELINE_OK;
const ARTIFACTS = path.resolve(process.env.MT_ARTIFACT_DIR || path.join(ROOT, 'build', 'test-artifacts'));
const CHROMIUM = process.env.MT_CHROMIUM || '/usr/bin/chromium';
const SLOW = process.env.MT_SANITIZED ? 4 : 1;
const skip = SERVE ? false : 'MT_BASELINE_SERVE_URL is not set (tests/integration/test_serve_baseline.sh sets it)';

let context, page, profile;
const errors = [];

before(async () => {
  if (skip) return;
  assert.ok(TOKEN && REGRESSED && OK, 'MT_BASELINE_TOKEN, MT_BASELINE_REGRESSED and MT_BASELINE_OK are needed');
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  profile = fs.mkdtempSync(path.join(os.tmpdir(), 'mortar-ui-baseline-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1366, height: 900 },
  });
  page = context.pages()[0] || (await context.newPage());
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push('uncaught ' + e.message));
});

after(async () => {
  if (context) await context.close();
  if (profile) fs.rmSync(profile, { recursive: true, force: true });
});

const ui = (fn, arg) => page.waitForFunction(fn, arg, { timeout: 30000 * SLOW, polling: 100 });
const routeReady = (name) => ui((n) => window.mortarUI && window.mortarUI.page === n, name);

test('the runs list badges the baseline verdict; the run page shows its table', { skip, timeout: 180000 * SLOW }, async () => {
  await page.goto(SERVE + '/');
  await routeReady('login');
  await page.fill('#token', TOKEN);
  await page.click('#login');
  await routeReady('runs');
  const bad = `#runs tr[data-run="${REGRESSED}"] .badge[data-baseline="regressed"]`;
  await page.waitForSelector(bad, { timeout: 30000 * SLOW });
  assert.match(await page.textContent(bad), /regressed/);
  assert.match(await page.getAttribute(bad, 'title'), /p50_us \+/);
  await page.waitForSelector(`#runs tr[data-run="${OK}"] .badge[data-baseline="ok"]`, { timeout: 30000 * SLOW });
  await page.screenshot({ path: path.join(ARTIFACTS, 'serve-runs-baseline.png'), fullPage: true });

  await page.evaluate((id) => { location.hash = '#/runs/' + encodeURIComponent(id); }, REGRESSED);
  await routeReady('run');
  await page.waitForSelector('#baseline-verdict #baseline-table tr[data-metric="p50_us"][data-decision="regressed"]', { timeout: 30000 * SLOW });
  const card = await page.textContent('#baseline-verdict');
  assert.match(card, /Against the baseline/);
  assert.match(card, /Mann-Whitney U/);
  const rows = await page.$$eval('#baseline-table tbody tr', (trs) => trs.map((tr) => tr.dataset.metric));
  assert.ok(rows.includes('rps') && rows.includes('error_rate'), `rows: ${rows}`);
  await page.screenshot({ path: path.join(ARTIFACTS, 'serve-run-baseline.png'), fullPage: true });
  assert.deepEqual(errors, []);
});
