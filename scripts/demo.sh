#!/usr/bin/env bash
# make demo: start the built-in target on a free loopback port, run a short open-model test
# against it (a ramp, then a constant rate), print the summary and where the results are.
# Then the control plane: start `mortar serve` and another target in the background (they keep
# running after the demo ends; it prints how to stop them), create an admin token and a demo
# test through the API, start one run of it, and print the UI's URL and the token.
# MT_DEMO_SERVE=0 skips that part.
set -euo pipefail
MORTAR=$(readlink -f "${1:-build/mortar}")
OUT=${MT_DEMO_OUT:-demo-out}
mkdir -p "$OUT"
OUT=$(readlink -f "$OUT")
tmp=$(mktemp -d)
target_pid=
cleanup() {
  [[ -n $target_pid ]] && kill -TERM "$target_pid" 2>/dev/null && wait "$target_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

mkfifo "$tmp/fifo"
"$MORTAR" target --listen 127.0.0.1:0 --threads 1 >"$tmp/fifo" 2>"$OUT/target.log" &
target_pid=$!
exec {fd}<"$tmp/fifo"
read -r -t 20 -u "$fd" line || { echo "demo: the target did not start (see $OUT/target.log)" >&2; exit 1; }
url="http://${line#listening on }/"
echo "demo: built-in target $line"
echo "demo: mortar run --schedule 'line(100, 5000, 4s) const(5000, 4s)' -c 100 --json $OUT/result.json --html $OUT/report.html $url"
echo
"$MORTAR" run --schedule 'line(100, 5000, 4s) const(5000, 4s)' -c 100 -t 1 \
  --json "$OUT/result.json" --html "$OUT/report.html" "$url"
echo
echo "demo: the report, with charts (open it in a browser): $OUT/report.html"
echo "demo: the result JSON (schema docs/result-schema.json): $OUT/result.json"
echo "demo: the demo's target has stopped. To try your own runs:"
echo "        $MORTAR target --listen 127.0.0.1:8080 &"
echo "        $MORTAR run -R 1000 -d 10s http://127.0.0.1:8080/          (open model, 1000 requests/s)"
echo "        $MORTAR run -c 50 -d 10s http://127.0.0.1:8080/            (closed model, like wrk)"
echo "      flags: $MORTAR run --help, docs/cli.md"

# ---- the control plane ------------------------------------------------------------------------
[[ ${MT_DEMO_SERVE:-1} == 0 ]] && exit 0
# wait_line FILE REGEX: the first line of FILE matching REGEX, within 20 s (a process's
# readiness line; the processes here outlive the script, so no pipe is kept to them)
wait_line() {
  local i
  for ((i = 0; i < 200; i++)); do
    grep -m1 -E "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
data="$OUT/serve-data"
echo
# a previous demo's serve and target (same data directory) are stopped first
if [[ -s $OUT/serve.pids ]]; then
  read -r -a old <"$OUT/serve.pids" || true
  for p in "${old[@]}"; do
    if [[ $(cat "/proc/$p/comm" 2>/dev/null) == mortar ]]; then kill "$p" 2>/dev/null || true; fi
  done
  for p in "${old[@]}"; do
    for ((i = 0; i < 100; i++)); do [[ -e /proc/$p ]] || break; sleep 0.05; done
  done
  rm -f "$OUT/serve.pids"
fi
echo "demo: starting the control plane (mortar serve) with data in $data"
setsid "$MORTAR" target --listen 127.0.0.1:0 --threads 1 >"$OUT/serve-target.out" 2>"$OUT/serve-target.log" </dev/null &
starget_pid=$!
tline=$(wait_line "$OUT/serve-target.out" 'listening on') ||
  { echo "demo: the second target did not start (see $OUT/serve-target.log)" >&2; exit 1; }
turl="http://${tline#listening on }/"
token=$("$MORTAR" token create --role admin --name demo --data "$data")
# the documented address (127.0.0.1:8400) when it is free, else any free port
listen=127.0.0.1:8400
(exec 3<>/dev/tcp/127.0.0.1/8400) 2>/dev/null && listen=127.0.0.1:0
setsid "$MORTAR" serve --listen "$listen" --data "$data" >"$OUT/serve.out" 2>"$OUT/serve.log" </dev/null &
serve_pid=$!
sline=$(wait_line "$OUT/serve.out" '^mortar serve: listening on ') ||
  { echo "demo: mortar serve did not start (see $OUT/serve.log)" >&2; kill "$starget_pid"; exit 1; }
surl=${sline#mortar serve: listening on }
echo "$serve_pid $starget_pid" >"$OUT/serve.pids"
api() { curl -sS --fail-with-body --max-time 10 -H "Authorization: Bearer $token" -H 'Content-Type: application/json' "$@"; }
test_json=$(api -d "{\"name\":\"demo\",\"description\":\"make demo: a ramp to 2000 requests/s\",\"config\":{\"url\":\"$turl\",\"schedule\":\"line(100, 2000, 20s) const(2000, 40s)\",\"connections\":50}}" "$surl/api/v1/tests") ||
  { echo "demo: creating the demo test failed: $test_json" >&2; exit 1; }
test_id=$(jq -r .id <<<"$test_json")
run_json=$(api -d "{\"test\":\"$test_id\"}" "$surl/api/v1/runs") ||
  { echo "demo: starting the demo run failed: $run_json" >&2; exit 1; }
run_id=$(jq -r .id <<<"$run_json")
echo "demo: mortar serve is running at $surl  (pid $serve_pid; logs: $OUT/serve.log)"
echo "demo: its target at $turl (pid $starget_pid)"
echo "demo: admin token: $token"
echo "demo: the demo test's run (1 minute): $surl/api/v1/runs/$run_id"
echo "        open $surl/ in a browser and log in with the token; or"
echo "        curl -H 'Authorization: Bearer $token' $surl/api/v1/runs/$run_id/summary"
echo "demo: both keep running in the background. Stop them with:"
echo "        kill $serve_pid $starget_pid        (pids also in $OUT/serve.pids)"
