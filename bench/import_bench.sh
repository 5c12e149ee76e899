#!/usr/bin/env bash
# Import speed and memory (docs/benchmarks.md section 15, docs/import.md): generates a big Tank
# phout and a big JMeter CSV (default columns, no header), both out of start order as the tools
# write them, then measures records per second on one core and the peak RSS of
#   1. the parser and the per-second rows alone: `mortar import FILE --dry-run` (taskset 1 core)
#   2. the whole path: `mortar import FILE --server` into a real `mortar serve` on 127.0.0.1
#      (the server's parse, aggregation and SQLite store; serve pinned to one core).
# Usage: bench/import_bench.sh [BUILD_DIR] [RECORDS]   (defaults: build, 10000000)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
N=${2:-10000000}
MORTAR=$BUILD/mortar
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mortar-import-bench.XXXXXX")
SERVE_PID=
cleanup() { [[ -n $SERVE_PID ]] && kill "$SERVE_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (scripts/deps.sh bench)" >&2; exit 2; }

# N records at 20,000 requests/s with latencies of 1..200 ms, written in end order (so out of
# start order, as Tank and JMeter write them)
echo "generating $N phout and $N JTL lines in $WORK ..." >&2
awk -v n="$N" 'BEGIN { srand(16); t0 = 1700000000000000; c = 0
  for (i = 0; i < n; i++) {
    l = 1000 + int(rand() * 199000); s = t0 + int(i * 50) - l   # i * 50: the end
    net = (rand() < 0.01) ? 111 : 0; code = net ? 0 : ((rand() < 0.05) ? 500 : 200)
    tag = (i % 3 == 0) ? "home" : ((i % 3 == 1) ? "cart" : "search")
    printf "%d.%03d\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", s / 1000000, (s / 1000) % 1000, tag, l, 100, 50, l / 2, l / 2 - 150, l, 120, 512, net, code
  } }' >"$WORK/phout.log"
awk -v n="$N" 'BEGIN { srand(17); t0 = 1700000000000
  for (i = 0; i < n; i++) {
    l = 1 + int(rand() * 199); s = t0 + int(i / 20) - l   # i / 20: the end
    ok = (rand() < 0.05) ? "false" : "true"; code = (ok == "true") ? 200 : 500
    tag = (i % 3 == 0) ? "home" : ((i % 3 == 1) ? "cart" : "search")
    printf "%d,%d,%s,%d,OK,Thread Group 1-%d,text,%s,,1234,321,50,50,http://127.0.0.1/x,%d,0,%d\n", s, l, tag, code, i % 50 + 1, ok, l / 2, (l > 4 ? 3 : 0)
  } }' >"$WORK/jmeter.jtl"
ls -l "$WORK"/phout.log "$WORK"/jmeter.jtl >&2

measure() { # measure LABEL FILE CMD...: prints one table row
  local label=$1 file=$2 t0 t1 rss secs
  shift 2
  /usr/bin/time -f '%M %e' -o "$WORK/time" "$@" >"$WORK/out" 2>"$WORK/err" || { cat "$WORK/err" >&2; exit 1; }
  read -r rss secs <"$WORK/time"
  printf '| %s | %s | %d | %.2f | %.0f | %d |\n' "$label" "$(basename "$file")" "$N" "$secs" \
    "$(echo "$N / $secs" | bc -l)" $((rss / 1024))
}

echo "| path | file | records | seconds | records/s | peak RSS (MiB) |"
echo "|---|---|---|---|---|---|"
for f in "$WORK/phout.log" "$WORK/jmeter.jtl"; do
  measure "parse + per-second rows (--dry-run, 1 core)" "$f" taskset -c 0 "$MORTAR" import "$f" --dry-run
done

# the whole path into a real server (its peak RSS is serve's, read from /proc at the end)
DATA=$WORK/data
TOK=$("$MORTAR" token create --role runner --data "$DATA")
taskset -c 1 "$MORTAR" serve --listen 127.0.0.1:0 --data "$DATA" >"$WORK/serve.out" 2>"$WORK/serve.log" &
SERVE_PID=$!
for ((i = 0; i < 100; i++)); do grep -q 'listening on' "$WORK/serve.out" && break; sleep 0.1; done
URL=$(sed -n 's/^mortar serve: listening on //p' "$WORK/serve.out")
curl -sf -X POST -H "Authorization: Bearer $TOK" -H 'Content-Type: application/json' \
  --data '{"name":"bench","config":{"url":"http://127.0.0.1:9/","rate":1,"duration":"1s"}}' \
  "$URL/api/v1/tests" >/dev/null
for f in "$WORK/phout.log" "$WORK/jmeter.jtl"; do
  start=$(date +%s.%N)
  MORTAR_TOKEN=$TOK taskset -c 0 "$MORTAR" import "$f" --server "$URL" --test bench >"$WORK/imp.out"
  end=$(date +%s.%N)
  secs=$(echo "$end - $start" | bc -l)
  rss=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$SERVE_PID/status")
  printf '| whole path into serve (serve on 1 core) | %s | %d | %.2f | %.0f | %d (serve) |\n' \
    "$(basename "$f")" "$N" "$secs" "$(echo "$N / $secs" | bc -l)" "$rss"
  grep -q "$N records" "$WORK/imp.out" || { echo "import: $(cat "$WORK/imp.out")" >&2; exit 1; }
done
