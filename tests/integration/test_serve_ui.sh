#!/usr/bin/env bash
# The web UI of `mortar serve` in a browser (docs/ui.md): starts `mortar target` and
# `mortar serve` on free loopback ports with a fresh data directory, makes an admin token, and
# runs tests/browser/serve.test.mjs (Node's test runner driving Debian's chromium through
# playwright-core), which logs in, starts runs from the UI, watches the live charts, and opens
# the report and the comparison. Screenshots go to test-artifacts/ beside the binary.
source "$(dirname "$0")/lib.sh"

SRC=${MT_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
ARTIFACTS="$(dirname "$MORTAR")/test-artifacts"

command -v node >/dev/null || fail "node is missing: scripts/deps.sh test"
[[ -x /usr/bin/chromium ]] || fail "/usr/bin/chromium is missing: scripts/deps.sh test (apt-get install chromium)"
[[ -d $SRC/node_modules/playwright-core ]] || fail "$SRC/node_modules/playwright-core is missing: configure runs npm ci"

start_target -q

# mortar serve on a free port; its "mortar serve: listening on http://HOST:PORT" line may come
# on stdout or stderr, so both go to one log that is polled (bounded) for it.
DATA="$WORK/data"
mkdir -p "$DATA"
"$MORTAR" serve --listen 127.0.0.1:0 --data "$DATA" >"$WORK/serve.log" 2>&1 &
SERVE_PID=$!
PIDS+=("$SERVE_PID")
SERVE_URL=
for ((i = 0; i < 200 * SLOW; i++)); do
  if line=$(grep -m1 -o 'mortar serve: listening on http://[^ "]*' "$WORK/serve.log"); then
    SERVE_URL=${line#mortar serve: listening on }
    break
  fi
  kill -0 "$SERVE_PID" 2>/dev/null || { cat "$WORK/serve.log" >&2; fail "mortar serve exited before listening"; }
  sleep 0.1
done
[[ -n $SERVE_URL ]] || { cat "$WORK/serve.log" >&2; fail "mortar serve did not print its listening line"; }
[[ $SERVE_URL =~ ^http://127\.0\.0\.1:[0-9]+$ ]] || fail "unexpected serve URL: $SERVE_URL"
pass "mortar serve on $SERVE_URL"

TOKEN=$(timeout $((30 * SLOW)) "$MORTAR" token create --role admin --name ui-test --data "$DATA") ||
  fail "mortar token create failed"
[[ -n $TOKEN && $TOKEN != *" "* ]] || fail "mortar token create printed '$TOKEN', want the token alone"
VIEWER=$(timeout $((30 * SLOW)) "$MORTAR" token create --role viewer --name ui-viewer --data "$DATA") ||
  fail "mortar token create --role viewer failed"

# the UI is served, with its assets, and the API wants the token
code=$(curl -s -o "$WORK/index.html" -w '%{http_code}' "$SERVE_URL/")
expect_eq "GET / status" "$code" 200
grep -q '<script src="/ui/app.js">' "$WORK/index.html" || fail "GET / is not the UI's page"
for a in app.js app.css uPlot.iife.min.js uPlot.min.css; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "$SERVE_URL/ui/$a")
  expect_eq "GET /ui/$a status" "$code" 200
done
code=$(curl -s -o /dev/null -w '%{http_code}' "$SERVE_URL/api/v1/runs")
expect_eq "GET /api/v1/runs without a token" "$code" 401

mkdir -p "$ARTIFACTS"
rc=0
MT_SERVE_URL="$SERVE_URL" MT_SERVE_TOKEN="$TOKEN" MT_SERVE_VIEWER_TOKEN="$VIEWER" MT_TARGET_URL="$TARGET_URL" MT_ARTIFACT_DIR="$ARTIFACTS" \
  timeout $((240 * SLOW)) node --test "$SRC/tests/browser/serve.test.mjs" || rc=$?
if [[ $rc -ne 0 ]]; then
  echo "--- mortar serve log (last 40 lines)" >&2
  tail -n 40 "$WORK/serve.log" >&2
  fail "browser test failed ($rc)"
fi
for png in serve-run-live.png serve-run-finished.png serve-report.png serve-compare.png serve-test.png; do
  [[ -s $ARTIFACTS/$png ]] || fail "no screenshot $ARTIFACTS/$png"
done
pass "browser test; screenshots in $ARTIFACTS"
