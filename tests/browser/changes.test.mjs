// Browser check of the test page's trend markers (docs/ui.md, docs/analysis.md "Change points"):
// a history with a step shows one change-point marker at the step's run, with its tooltip; a
// history whose config changed shows a config marker and no change point. Run by
// tests/integration/test_serve_changes.sh, which writes the histories and starts the server.
// Environment (unset MT_CHANGES_URL: skipped, so `node --test tests/browser/` runs the rest):
//   MT_CHANGES_URL    the server, e.g. http://127.0.0.1:41234
//   MT_CHANGES_TOKEN  a viewer token
//   MT_CHANGES_TESTS  JSON {"step": {"test_id", "runs"}, "cfg": {...}} (the driver's output)
//   MT_ARTIFACT_DIR   where the screenshot goes (default: build/test-artifacts)
//   MT_CHROMIUM       the browser (default: /usr/bin/chromium)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SERVE = process.env.MT_CHANGES_URL;
const TOKEN = process.env.MT_CHANGES_TOKEN;
const TESTS = SERVE ? JSON.parse(process.env.MT_CHANGES_TESTS || '{}') : {};
const ARTIFACTS = path.resolve(process.env.MT_ARTIFACT_DIR || path.join(ROOT, 'build', 'test-artifacts'));
const CHROMIUM = process.env.MT_CHROMIUM || '/usr/bin/chromium';
const SLOW = process.env.MT_SANITIZED ? 4 : 1;
const skip = SERVE ? false : 'MT_CHANGES_URL is not set (tests/integration/test_serve_changes.sh sets it)';

let context, page, profile;
const errors = [];
before(async () => {
  if (skip) return;
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  profile = fs.mkdtempSync(path.join(os.tmpdir(), 'mortar-changes-profile-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1366, height: 768 },
  });
  page = context.pages()[0] || (await context.newPage());
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(SERVE + '/');
  await page.evaluate((t) => localStorage.setItem('mortar.token', t), TOKEN);
});
after(async () => {
  if (context) await context.close();
  if (profile) fs.rmSync(profile, { recursive: true, force: true });
});

const ui = (fn, arg) => page.waitForFunction(fn, arg, { timeout: 30000 * SLOW, polling: 100 });
async function testPage(id) {
  await page.goto(SERVE + '/#/tests/' + encodeURIComponent(id));
  await ui(() => window.mortarUI && window.mortarUI.page === 'test' && window.mortarUI.changes && window.mortarUI.ready);
  return page.evaluate(() => [...document.querySelectorAll('#trend .cp-mark, #trend .cfg-mark')].map((e) => ({ cls: e.className, title: e.title, run: e.dataset.run, left: parseFloat(e.style.left) })));
}

test('a step: one change-point marker at its run, with before, after and confidence', { skip }, async () => {
  const marks = await testPage(TESTS.step.test_id);
  assert.equal(marks.length, 1, JSON.stringify(marks));
  assert.equal(marks[0].run, TESTS.step.runs[15]);
  assert.match(marks[0].cls, /cp-mark regression/);
  assert.match(marks[0].title, /p99 regression from run .*: .* → .* \(\+\d+(\.\d+)?\s?%\), confidence 99\.9\d*\s?%/);
  assert.ok(marks[0].left > 0, 'the marker is not over the chart: ' + JSON.stringify(marks));
  const list = await page.textContent('#trend-changes');
  assert.ok(list.includes(TESTS.step.runs[15].slice(-8)), 'the list: ' + list);
  await page.screenshot({ path: path.join(ARTIFACTS, 'serve-test-changes.png'), fullPage: true });
});

test('a config change: a config marker, no change point', { skip }, async () => {
  const marks = await testPage(TESTS.cfg.test_id);
  assert.equal(marks.length, 1, JSON.stringify(marks));
  assert.equal(marks[0].run, TESTS.cfg.runs[15]);
  assert.equal(marks[0].cls, 'cfg-mark');
  assert.match(marks[0].title, /config changed \(config v1 → v2\)/);
  assert.deepEqual(errors, []);
});
