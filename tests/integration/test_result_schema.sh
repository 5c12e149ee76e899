# The result JSON is documented by docs/result-schema.json and config files by
# docs/config-schema.json: what mortar writes (every optional part: open and closed models,
# tags and verdicts, refused connections) validates against them.
source "$(dirname "$0")/lib.sh"
ROOT=${MT_SOURCE_DIR:?}
command -v node >/dev/null || fail "node is needed (scripts/deps.sh installs it)"
[[ -d $ROOT/node_modules/ajv ]] || fail "node_modules/ajv missing (the build runs npm ci)"
start_target

printf '[Host: example.org]\n/?status=200 ok\n/?status=503 bad\n' >"$WORK/a.ammo"
timeout $((30 * SLOW)) "$MORTAR" run -q -c 4 -t 2 -d 1s --json "$WORK/closed.json" "$TARGET_URL/" \
  >/dev/null || fail "closed run exited $?"
set +e
timeout $((30 * SLOW)) "$MORTAR" run -q --schedule 'line(10, 200, 2s)' -c 8 --ammo "$WORK/a.ammo" \
  --autostop 'http(5xx,90%,5s)' --threshold 'p(99)<1s' --threshold 'errors<1%' \
  --json "$WORK/open.json" "$TARGET_URL/" >/dev/null
set -e
port=$(refused_port)
timeout $((30 * SLOW)) "$MORTAR" run -q -R 20 -d 1s --json "$WORK/refused.json" \
  "http://127.0.0.1:$port/" >/dev/null || fail "refused run exited $?"
jq -e '.summary.tags and .verdicts and .seconds[0].tags' "$WORK/open.json" >/dev/null ||
  fail "the open run lacks tags or verdicts"
node "$ROOT/tests/schema/validate.mjs" "$ROOT/docs/result-schema.json" \
  "$WORK/closed.json" "$WORK/open.json" "$WORK/refused.json" || fail "result JSON does not match the schema"

# config examples in mortar's own format
cat >"$WORK/c1.json" <<JSON
{"url": "$TARGET_URL/", "rate": 100, "duration": "10s", "connections": 10,
 "header": ["X-A: 1"], "autostop": ["quantile(95,100ms,10s)"], "threshold": ["p(99)<200ms"]}
JSON
node "$ROOT/tests/schema/validate.mjs" "$ROOT/docs/config-schema.json" "$WORK/c1.json" ||
  fail "config example does not match the schema"
