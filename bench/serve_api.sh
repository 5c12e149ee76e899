#!/usr/bin/env bash
# API latency of mortar serve (issue 6's target: p99 < 50 ms with 100 concurrent clients
# reading run series). Starts the built-in target and `mortar serve` on loopback with a fresh
# data directory, makes a real 10 s run through the API, stretches it into a stored run of
# SECONDS seconds (default 300) with mortar-ui-seed (the run's stored rows repeated, through
# the store's own calls), then has `mortar run` itself (closed model, 100 connections,
# DURATION, default 15s) read the run's series and its summary. Prints a Markdown row per
# endpoint for docs/benchmarks.md.
#   bench/serve_api.sh [BUILD_DIR] [SECONDS] [DURATION] [STORE_URI]
# STORE_URI: the same on a PostgreSQL store (serve/token/seed get --store URI instead of
# --data; bench/pg_bench.sh starts a throwaway cluster for it).
# Run it on an idle machine; it is not part of the tests.
set -euo pipefail
BUILD=${1:-build}
SECS=${2:-300}
DUR=${3:-15s}
STORE=${4:-}
MORTAR=$(readlink -f "$BUILD/mortar")
SEED=$(readlink -f "$BUILD")/mortar-ui-seed
[[ -x $SEED ]] || cmake --build "$BUILD" --target mortar-ui-seed -j2 >/dev/null
work=$(mktemp -d)
tpid='' spid=''
where=(--data "$work/data")
[[ -z $STORE ]] || where=(--store "$STORE")
cleanup() {
  local p
  for p in $spid $tpid; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  [[ -z ${KEEP_DATA:-} || ! -d $work/data ]] || cp -a "$work/data/." "$KEEP_DATA/"
  rm -rf "$work"
}
trap cleanup EXIT
wait_line() { # a readiness line, polled (bounded: 20 s)
  local i
  for ((i = 0; i < 200; i++)); do grep -m1 -E "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}
"$MORTAR" target --listen 127.0.0.1:0 >"$work/t.out" 2>/dev/null &
tpid=$!
turl="http://$(wait_line "$work/t.out" 'listening on' | sed 's/listening on //')/"
tok=$("$MORTAR" token create --role admin "${where[@]}")
serve_start() {
  : >"$work/s.out"
  "$MORTAR" serve --listen 127.0.0.1:0 "${where[@]}" --log-level warn >"$work/s.out" 2>"$work/s.log" &
  spid=$!
  surl=$(wait_line "$work/s.out" '^mortar serve: listening' | sed 's/.* on //') ||
    { echo "bench/serve_api.sh: serve did not start: $(tail -3 "$work/s.log")" >&2; exit 1; }
}
serve_stop() { kill -TERM "$spid"; wait "$spid" 2>/dev/null || true; spid=''; }
api() { curl -fsS -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' "$@"; }

serve_start
src=$(api -d "{\"config\":{\"url\":\"$turl\",\"rate\":1000,\"duration\":\"10s\"}}" "$surl/api/v1/runs" | jq -r .id)
state=
for ((i = 0; i < 600; i++)); do
  state=$(api "$surl/api/v1/runs/$src" | jq -r .state)
  [[ $state == running || $state == queued ]] || break
  sleep 0.1
done
[[ $state == passed ]] || { echo "bench/serve_api.sh: the source run ended '$state'" >&2; exit 1; }
serve_stop
run=$("$SEED" "${where[@]}" --from "$src" --seconds "$SECS")
serve_start
bytes=$(api -o /dev/null -w '%{size_download}' "$surl/api/v1/runs/$run/series")
echo "bench/serve_api.sh: run $run, $SECS stored seconds, series $((bytes / 1024)) KiB; 100 clients for $DUR" >&2
for ep in series summary; do
  "$MORTAR" run -q -c 100 -t 2 -d "$DUR" -H "Authorization: Bearer $tok" --json "$work/$ep.json" \
    "$surl/api/v1/runs/$run/$ep" >/dev/null
  # failures: transport errors and any answer but 200
  jq -r --arg ep "$ep" --arg secs "$SECS" '.summary as $s |
    ($s.errors + $s.requests - ($s.status["200"] // 0)) as $bad |
    "| GET /runs/{id}/\($ep) | \($secs) | 100 | \($s.rps | floor) | \($s.latency_us.p50 / 1000) | \($s.latency_us.p99 / 1000) | \($bad) | **\(if $s.latency_us.p99 < 50000 and $bad == 0 then "PASS" else "MISS" end)** |"' "$work/$ep.json"
done
