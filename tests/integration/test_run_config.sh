# --config: mortar's own YAML/JSON (keys = long flags) and a Yandex.Tank load.yaml run as is;
# flags on the command line override the file; mistakes are named by file:line:col (exit 2).
source "$(dirname "$0")/lib.sh"
start_target

# a Tank load.yaml: address, rps schedule, uris with tags, headers, autostop
cat >"$WORK/load.yaml" <<YAML
phantom:
  address: 127.0.0.1:$TARGET_PORT
  load_profile:
    load_type: rps
    schedule: const(100, 2s)
  uris:
    - /?status=200 ok
    - /?status=404 missing
  headers:
    - "[X-Test: yes]"
autostop:
  autostop:
    - http(5xx,10%,1s)
console:
  enabled: true
YAML
out="$WORK/tank.json"
timeout $((30 * SLOW)) "$MORTAR" run -q --config "$WORK/load.yaml" --json "$out" >/dev/null 2>"$WORK/err" ||
  fail "Tank config run exited $?: $(cat "$WORK/err")"
expect_eq "tank: due" "$(jqr "$out" .summary.due)" 200
expect_eq "tank: tag ok" "$(jqr "$out" '.summary.tags.ok.status["200"]')" 100
expect_eq "tank: tag missing" "$(jqr "$out" '.summary.tags.missing.status["404"]')" 100
expect_eq "tank: autostop listed" "$(jqr "$out" '.verdicts[0].spec')" "http(5xx,10%,1s)"

# mortar's own format, YAML and JSON; -d on the command line wins over the file
cat >"$WORK/run.yaml" <<YAML
url: $TARGET_URL/?status=201
rate: 50
duration: 10s
connections: 4
header:
  - "X-A: 1"
threshold:
  - errors<1%
YAML
out="$WORK/own.json"
timeout $((30 * SLOW)) "$MORTAR" run -q --config "$WORK/run.yaml" -d 1s --json "$out" >/dev/null ||
  fail "YAML config run exited $?"
expect_eq "yaml: due (flag overrides duration)" "$(jqr "$out" .summary.due)" 50
expect_eq "yaml: 201s" "$(jqr "$out" '.summary.status["201"]')" 50
printf '{"url": "%s/?status=202", "rate": 20, "duration": "1s"}\n' "$TARGET_URL" >"$WORK/run.json"
timeout $((30 * SLOW)) "$MORTAR" run -q --config "$WORK/run.json" --json "$out" >/dev/null ||
  fail "JSON config run exited $?"
expect_eq "json: 202s" "$(jqr "$out" '.summary.status["202"]')" 20

# mistakes: unknown key with a suggestion, at its line and column
printf 'url: %s/\nrate: 10\nconections: 3\n' "$TARGET_URL" >"$WORK/bad.yaml"
set +e
"$MORTAR" run -q --config "$WORK/bad.yaml" >/dev/null 2>"$WORK/err"
rc=$?
set -e
expect_eq "bad config exit" "$rc" 2
grep -q "bad.yaml:3:1: unknown key 'conections' (did you mean 'connections'?)" "$WORK/err" ||
  fail "message: $(cat "$WORK/err")"
pass "bad config: $(cat "$WORK/err")"

# a bad value is named at its place in the file, not as a flag
printf 'url: %s/\nrate: 1e12\n' "$TARGET_URL" >"$WORK/range.yaml"
rc=0
"$MORTAR" run -q --config "$WORK/range.yaml" >/dev/null 2>"$WORK/err" || rc=$?
expect_eq "out-of-range value exit" "$rc" 2
grep -q "range.yaml:2:7: rate: must be more than 0 and at most 1000000000 (got 1e12)" "$WORK/err" ||
  fail "message: $(cat "$WORK/err")"
pass "bad value: $(head -n1 "$WORK/err")"

# the keys of runs started through mortar serve are refused by mortar run, saying so
printf 'url: %s/\nagents: 3\n' "$TARGET_URL" >"$WORK/agents.yaml"
rc=0
"$MORTAR" run -q --config "$WORK/agents.yaml" >/dev/null 2>"$WORK/err" || rc=$?
expect_eq "server-only key exit" "$rc" 2
grep -q "agents.yaml:2:9: agents: applies to runs started through mortar serve" "$WORK/err" ||
  fail "message: $(cat "$WORK/err")"
pass "server-only key: $(head -n1 "$WORK/err")"
