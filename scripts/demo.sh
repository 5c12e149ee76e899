#!/usr/bin/env bash
# make demo: start the built-in target on a free loopback port, run a short open-model test
# against it (a ramp, then a constant rate), print the summary and where the results are.
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
