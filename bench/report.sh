#!/usr/bin/env bash
# Time to render a `mortar report` page of a one-hour run (3,600 seconds) in headless chromium.
#
# Makes a short real run against `mortar target`, stretches it with jq into a synthetic
# 3,600-second result (its seconds repeated, t renumbered, the latency given a daily-ish wave
# and a few spikes; the per-second histograms kept, as in a real file), builds the page and the
# comparison page (that result against a copy of itself), and opens each ROUNDS times in a fresh
# page. Prints the result's and the page's sizes, `mortar report`'s time, and the time from
# navigation start until the page's script is done, every chart built
# (window.mortarReport.renderedMs), and until the load event, which comes after uPlot's first
# draw of every chart (it draws in a microtask right after the script); median and max.
#
# Usage: bench/report.sh path/to/mortar [ROUNDS]      (needs jq, node, npm ci done, chromium)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
mortar=${1:?usage: bench/report.sh path/to/mortar [ROUNDS]}
rounds=${2:-5}
mortar=$(cd "$(dirname "$mortar")" && pwd)/$(basename "$mortar")
chromium=${MT_CHROMIUM:-/usr/bin/chromium}
[[ -x $chromium ]] || { echo "bench/report.sh: $chromium is missing (apt-get install chromium)" >&2; exit 1; }
[[ -d $root/node_modules/playwright-core ]] || { echo "bench/report.sh: run npm ci (or configure) first" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/mortar-bench-report.XXXXXX")
tpid=
cleanup() {
  [[ -z $tpid ]] || { kill -TERM "$tpid" 2>/dev/null || true; wait "$tpid" 2>/dev/null || true; }
  rm -rf "$work"
}
trap cleanup EXIT

mkfifo "$work/fifo"
"$mortar" target --listen 127.0.0.1:0 -q >"$work/fifo" &
tpid=$!
exec {fd}<"$work/fifo"
read -r -t 20 -u "$fd" line || { echo "bench/report.sh: the target did not start" >&2; exit 1; }
[[ $line =~ listening\ on\ (127\.0\.0\.1:[0-9]+) ]] || { echo "unexpected: $line" >&2; exit 1; }
"$mortar" run -q -R 1000 -d 10s --json "$work/short.json" "http://${BASH_REMATCH[1]}/?status=200:99,503:1&delay=exp:1ms" >/dev/null

jq -c '
  .seconds as $s | ($s | length) as $n
  | .seconds = [range(3600) as $i | $s[$i % ($n - 1)]
      | .t = $i
      | (1 + 0.5 * (($i / 600 | floor) % 2) + (if $i % 900 == 450 then 20 else 0 end)) as $k
      | .latency_us |= map_values(. * $k | floor)
      | .service_us |= map_values(. * $k | floor)]
  | .config.duration_s = 3600 | .summary.duration_s = 3600 | .config.planned_requests = 3600000
' "$work/short.json" >"$work/hour.json"
cp "$work/hour.json" "$work/hour-b.json"

t0=$(date +%s.%N)
"$mortar" report "$work/hour.json" -o "$work/hour.html"
t1=$(date +%s.%N)
"$mortar" report "$work/hour.json" --compare "$work/hour-b.json" -o "$work/hour-cmp.html" >/dev/null
t2=$(date +%s.%N)

printf 'result: %s seconds, %s KiB; page %s KiB, comparison page %s KiB\n' \
  "$(jq '.seconds | length' "$work/hour.json")" "$(($(stat -c %s "$work/hour.json") / 1024))" \
  "$(($(stat -c %s "$work/hour.html") / 1024))" "$(($(stat -c %s "$work/hour-cmp.html") / 1024))"
awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf "mortar report: %.0f ms, with --compare: %.0f ms\n", (b - a) * 1000, (c - b) * 1000 }'

cd "$root"
ROUNDS=$rounds CHROMIUM=$chromium node --input-type=module - "$work/hour.html" "$work/hour-cmp.html" <<'EOF'
import { chromium } from 'playwright-core';
import { pathToFileURL } from 'node:url';
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM, headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
const stat = (v) => { v = [...v].sort((a, b) => a - b); return `median ${v[v.length >> 1].toFixed(0)} ms, max ${v[v.length - 1].toFixed(0)} ms`; };
for (const file of process.argv.slice(2)) {
  const drawn = [], load = [];
  for (let i = 0; i <= +process.env.ROUNDS; i++) {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await page.goto(pathToFileURL(file).href);
    await page.waitForFunction(() => window.mortarReport && window.mortarReport.ready);
    const t = await page.evaluate(() => ({ drawn: window.mortarReport.renderedMs,
      load: performance.getEntriesByType('navigation')[0].loadEventEnd, charts: window.mortarReport.charts.length }));
    if (i > 0) { drawn.push(t.drawn); load.push(t.load); } /* the first warms the browser up */
    await page.close();
  }
  console.log(`${file.endsWith('cmp.html') ? 'comparison' : 'one run   '}: script done (charts built) ${stat(drawn)}; load event (charts drawn) ${stat(load)}`);
}
await browser.close();
EOF
