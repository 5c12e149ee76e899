#!/usr/bin/env bash
# Time for the web UI of `mortar serve` to draw the run page of a one-hour run (3,600 stored
# seconds) in headless chromium. Target: under one second (issue 6, part 8).
#
# Starts `mortar target` and `mortar serve` on a fresh data directory, makes an admin token,
# runs a short real run (10 s at 1,000 rps) through the API, stops the server, stretches that
# run into a 3,600-second stored run with mortar-ui-seed (bench/ui_seed.c: the short run's
# stored rows, histograms included, repeated with t renumbered, through the store's own calls),
# starts the server again and opens #/runs/ID ROUNDS times, each in a fresh browser context
# with the token in localStorage. Prints the size of GET /series and, median and max, the time
# from navigation start until every chart has drawn all 3,600 seconds (window.mortarUI.drawnMs
# is counted from the route's start; navStart + drawnMs is from navigation start: page, assets,
# the API calls, parsing and the first complete draw).
#
# Usage: bench/ui.sh path/to/mortar [ROUNDS]        (needs curl, jq, node, npm ci done, chromium)
# MT_UI_BENCH_RATE: the source run's rate (default 1000; only for a quick check of the script).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
mortar=${1:?usage: bench/ui.sh path/to/mortar [ROUNDS]}
rounds=${2:-5}
mortar=$(cd "$(dirname "$mortar")" && pwd)/$(basename "$mortar")
build=$(dirname "$mortar")
seed=$build/mortar-ui-seed
chromium=${MT_CHROMIUM:-/usr/bin/chromium}
[[ -x $chromium ]] || { echo "bench/ui.sh: $chromium is missing (apt-get install chromium)" >&2; exit 1; }
[[ -d $root/node_modules/playwright-core ]] || { echo "bench/ui.sh: run npm ci (or configure) first" >&2; exit 1; }
[[ -x $seed ]] || cmake --build "$build" --target mortar-ui-seed -j2 >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/mortar-bench-ui.XXXXXX")
tpid= spid=
cleanup() {
  local p
  for p in $spid $tpid; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

mkfifo "$work/fifo"
"$mortar" target --listen 127.0.0.1:0 -q >"$work/fifo" &
tpid=$!
exec {fd}<"$work/fifo"
read -r -t 20 -u "$fd" line || { echo "bench/ui.sh: the target did not start" >&2; exit 1; }
[[ $line =~ listening\ on\ (127\.0\.0\.1:[0-9]+) ]] || { echo "unexpected: $line" >&2; exit 1; }
target="http://${BASH_REMATCH[1]}"

data=$work/data
mkdir -p "$data"
serve_start() { # sets spid, url
  : >"$work/serve.log"
  "$mortar" serve --listen 127.0.0.1:0 --data "$data" >"$work/serve.log" 2>&1 &
  spid=$!
  url=
  for ((i = 0; i < 300; i++)); do
    if line=$(grep -m1 -o 'mortar serve: listening on http://[^ "]*' "$work/serve.log"); then
      url=${line#mortar serve: listening on }
      return
    fi
    kill -0 "$spid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$work/serve.log" >&2
  echo "bench/ui.sh: mortar serve did not start" >&2
  exit 1
}
serve_stop() { kill -TERM "$spid"; wait "$spid" 2>/dev/null || true; spid=; }

serve_start
token=$("$mortar" token create --role admin --name bench-ui --data "$data")
api() { curl -fsS -H "Authorization: Bearer $token" -H 'Content-Type: application/json' "$@"; }
src=$(api -X POST "$url/api/v1/runs" \
  -d "{\"config\":{\"url\":\"$target/?status=200:99,503:1&delay=exp:1ms\",\"rate\":${MT_UI_BENCH_RATE:-1000},\"duration\":\"10s\"}}" | jq -r .id)
state=
for ((i = 0; i < 600; i++)); do
  state=$(api "$url/api/v1/runs/$src" | jq -r .state)
  [[ $state == queued || $state == running ]] || break
  sleep 0.1
done
[[ $state == passed || $state == failed ]] || { echo "bench/ui.sh: the source run ended '$state'" >&2; exit 1; }
serve_stop

run=$("$seed" --data "$data" --from "$src" --seconds 3600)
serve_start
read -r bytes secs < <(api -o /dev/null -w '%{size_download} %{time_total}\n' "$url/api/v1/runs/$run/series")
printf 'run %s: %s stored seconds; GET /series %s KiB in %.0f ms (curl)\n' "$run" \
  "$(api "$url/api/v1/runs/$run" | jq .seconds)" "$((bytes / 1024))" "$(awk -v s="$secs" 'BEGIN { print s * 1000 }')"

cd "$root"
ROUNDS=$rounds CHROMIUM=$chromium URL=$url TOKEN=$token RUN=$run node --input-type=module - <<'EOF2'
import { chromium } from 'playwright-core';
const { URL: url, TOKEN: token, RUN: run, CHROMIUM: exe, ROUNDS: rounds } = process.env;
const browser = await chromium.launch({ executablePath: exe, headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
const stat = (v) => { v = [...v].sort((a, b) => a - b); return `median ${v[v.length >> 1].toFixed(0)} ms, max ${v[v.length - 1].toFixed(0)} ms`; };
const nav = [], route = [], marks = [];
for (let i = 0; i <= +rounds; i++) {
  const ctx = await browser.newContext({ viewport: { width: 1366, height: 768 } });
  await ctx.addInitScript((t) => localStorage.setItem('mortar.token', t), token);
  const page = await ctx.newPage();
  await page.goto(`${url}/#/runs/${run}`);
  await page.waitForFunction(() => window.mortarUI && window.mortarUI.page === 'run' && window.mortarUI.ready, null, { timeout: 60000 });
  const t = await page.evaluate(() => ({ route: window.mortarUI.drawnMs, nav: window.mortarUI.navStart + window.mortarUI.drawnMs,
    n: Object.values(window.mortarUI.charts).map((u) => u.data[0].length), marks: Object.assign({}, window.mortarUI.marks,
      ...performance.getEntriesByType('resource').filter((e) => /\/series$/.test(e.name)).map((e) => ({
        seriesRequest: e.requestStart - window.mortarUI.navStart, seriesFirstByte: e.responseStart - window.mortarUI.navStart,
        seriesLastByte: e.responseEnd - window.mortarUI.navStart }))) }));
  if (t.n.some((n) => n !== 3600)) throw new Error(`charts drew ${t.n} points, want 3600 each`);
  if (i > 0) { nav.push(t.nav); route.push(t.route); marks.push(t.marks); } /* the first warms the browser up */
  await ctx.close();
}
const m = (k) => stat(marks.map((x) => x[k]));
console.log(`  steps from the route's start: run answered ${m('run')}, GET /series sent ${m('seriesRequest')}, first byte ${m('seriesFirstByte')}, last byte ${m('seriesLastByte')}`);
console.log(`  steps from the route's start: run + series parsed ${m('series')}, columns built ${m('columns')}, charts built ${m('charts')}`);
console.log(`run page, 3,600 s: first complete draw from navigation start ${stat(nav)}; from the route's start (API calls + draw) ${stat(route)}; target < 1000 ms`);
await browser.close();
EOF2
