# Imports (issue 16, docs/import.md): fixtures written here in every format mortar imports
# (Tank phout with errno codes, JMeter CSV without a header and with one of its own order,
# JMeter XML with sub-samples, k6 JSON with tags; all out of start order) are imported into a
# test of a real `mortar serve`; the run's counts, status codes, error kinds and per-tag counts
# equal those computed from the fixture by python3, and its percentiles are the exact ones to
# the histogram's precision (1%). Thresholds judge the imported run; malformed lines are
# skipped and counted, or fatal with --strict (exit 2, file:line); bad requests are problems.
# Every response is checked against docs/openapi.json.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"

DATA=$WORK/data
FX=$WORK/fx
mkdir -p "$FX"
python3 "$MT_SOURCE_DIR/tests/integration/import_fixtures.py" "$FX" || fail "fixtures"
TOK=$("$MORTAR" token create --role runner --name tank-importer --data "$DATA")
VIEW=$("$MORTAR" token create --role viewer --data "$DATA")
start_serve "$DATA"
SERVER=http://127.0.0.1:$SERVE_PORT

expect_api "a test to import into" 201 POST /tests "$TOK" \
  '{"name":"checkout","config":{"url":"http://127.0.0.1:9/","rate":10,"duration":"5s","threshold":["p(99)<10s"]}}'
expect_api "a test whose threshold the imports fail" 201 POST /tests "$TOK" \
  '{"name":"strict-slo","config":{"url":"http://127.0.0.1:9/","rate":10,"duration":"5s","threshold":["p(99)<100ms"]}}'

# import FILE EXPECT [flags]: mortar import into "checkout", then the run checked against EXPECT
check_import() {
  local file=$1 exp=$2 fmt=$3 rc=0
  shift 3
  MORTAR_TOKEN=$TOK timeout $((60 * SLOW)) "$MORTAR" import "$FX/$file" --server "$SERVER" \
    --test checkout --json "$@" >"$WORK/imp.json" 2>"$WORK/imp.err" || rc=$?
  expect_eq "mortar import $file exits" "$rc" 0
  local run
  run=$(jq -r .run.id "$WORK/imp.json")
  expect_jq "$file: the run passed, its source says $fmt and the file" "$WORK/imp.json" \
    '.run.state == "passed" and .run.source.tool == $f and .run.source.file == $n and .run.source.malformed == 0 and .run.source.late == 0 and .import.records == .run.source.records' \
    --arg f "$fmt" --arg n "$file"
  expect_jq "$file: made by the importing token" "$WORK/imp.json" \
    '.run.created_by.token_name == "tank-importer" and .run.created_by.role == "runner"'
  expect_api "$file: its result" 200 GET "/runs/$run/result" "$VIEW"
  cp "$OUT" "$WORK/result.json"
  expect_jq "$file: counts, status codes, error kinds as computed from the fixture" "$WORK/result.json" \
    '.summary as $s | $e[0] as $e | $s.sent == $e.sent and $s.completed == $e.completed and
     $s.errors == $e.errors and ($s.status | with_entries(select(.value > 0))) == $e.status and
     ($s.errors_by_kind | with_entries(select(.value > 0))) == $e.errors_by_kind' \
    --slurpfile e "$FX/$exp.expect.json"
  expect_jq "$file: requests per tag as computed from the fixture" "$WORK/result.json" \
    '(.summary.tags | map_values(.sent)) == $e[0].tags' --slurpfile e "$FX/$exp.expect.json"
  expect_jq "$file: p50, p90, p99, max are the exact ones to the histogram's 1%" "$WORK/result.json" \
    '.summary.latency_us as $l | $e[0] as $e | all(["p50","p90","p99","max"][];
       $l[.] >= $e[.] and $l[.] <= $e[.] * 1.01 + 1)' --slurpfile e "$FX/$exp.expect.json"
  expect_jq "$file: the seconds sum to the run" "$WORK/result.json" \
    '([.seconds[].sent] | add) == .summary.sent and (.seconds | length) >= 6'
}

check_import tank.log tank phout
TANK_RUN=$(jq -r .run.id "$WORK/imp.json")
expect_api "the Tank run's summary" 200 GET "/runs/$TANK_RUN/summary" "$VIEW"
expect_jq "its timing breakdown is the file's (connect, send, wait, receive: not zeros)" "$OUT" \
  '.breakdown_us as $b | $b.connect.max > 0 and $b.send.max > 0 and $b.wait.max > 0 and $b.wait.max >= $b.wait.p50'
TEST_ID=$(jq -r .run.test_id "$WORK/imp.json")
expect_jq "the run's times are the data's: started at second 0 of the file" "$WORK/imp.json" \
  '.run.started_at == "2023-11-14T22:13:20.000Z" and .run.agent == "import"'
expect_api "an imported run's HTML report" 200 GET "/runs/$TANK_RUN/report" "$VIEW"
grep -q "$TANK_RUN" "$OUT" || fail "the report does not name the run"
expect_api "the imported run as the test's baseline" 200 PUT "/tests/$TEST_ID/baseline" "$TOK" \
  "{\"run_id\":\"$TANK_RUN\"}"
check_import jmeter.jtl jmeter jtl-csv
check_import jmeter_hdr.csv jmeter_hdr jtl-csv --format jtl-csv
check_import jmeter.xml jmeter_xml jtl-xml
check_import k6.json k6 k6
expect_jq "a later import gets a baseline verdict against the imported baseline" "$WORK/imp.json" \
  "[.run.verdicts[] | select(.kind == \"baseline\" and .base_run == \"$TANK_RUN\")] | length == 1"
expect_api "compare with the baseline" 200 GET "/runs/$(jq -r .run.id "$WORK/imp.json")/compare" "$VIEW"
expect_api "the trend" 200 GET "/tests/$TEST_ID/trend" "$VIEW"
expect_jq "the trend holds the imported runs" "$OUT" '[.items[]] | length >= 5'

# the test's thresholds judge the imported run: failed, exit 1
rc=0
MORTAR_TOKEN=$TOK "$MORTAR" import "$FX/tank.log" --server "$SERVER" --test strict-slo >"$WORK/slo.out" 2>&1 || rc=$?
expect_eq "an import that fails the test's threshold exits" "$rc" 1
grep -q 'failed (threshold p(99)<100ms' "$WORK/slo.out" || fail "no failed threshold: $(cat "$WORK/slo.out")"
pass "the run is failed by the test's threshold, evaluated after the fact"
expect_api "the imported runs are listed with the test's" 200 GET "/runs?test_id=$(jq -r .run.test_id "$WORK/imp.json")" "$VIEW"
expect_jq "five imported runs of checkout" "$OUT" '[.items[] | select(.source != null)] | length == 5'

# malformed lines: skipped and counted (lenient), or fatal with --strict
echo "$TOK" >"$WORK/token"
rc=0
"$MORTAR" import "$FX/bad.log" --server "$SERVER" --test checkout --token-file "$WORK/token" --json \
  >"$WORK/bad.json" 2>"$WORK/bad.err" || rc=$?
expect_eq "a file with 2 malformed lines imports (lenient), exit" "$rc" 0
expect_jq "lenient: 6 records, 2 malformed with file:line" "$WORK/bad.json" \
  '.import.records == 6 and .import.malformed == 2 and (.import.malformed_examples[0] | startswith("bad.log:3: column 3 (interval_real)")) and (.import.malformed_examples[1] | startswith("bad.log:6:"))'
grep -q 'skipped: bad.log:6:' "$WORK/bad.err" || fail "the skipped lines are not shown: $(cat "$WORK/bad.err")"
pass "the skipped lines are shown on stderr"
rc=0
"$MORTAR" import "$FX/bad.log" --server "$SERVER" --test checkout --token-file "$WORK/token" --strict \
  >"$WORK/strict.out" 2>"$WORK/strict.err" || rc=$?
expect_eq "--strict: the first malformed line fails the import, exit" "$rc" 2
grep -q 'bad.log:3: column 3 (interval_real): not an integer' "$WORK/strict.err" ||
  fail "--strict: no file:line: $(cat "$WORK/strict.err")"
pass "--strict names the file and the line"
rc=0
"$MORTAR" import "$FX/bad.log" --dry-run --strict >/dev/null 2>"$WORK/dry.err" || rc=$?
expect_eq "--dry-run --strict exits" "$rc" 2

# the API: problems before the body is read, and a body not of any format
echo "hello world" >"$WORK/nothing.txt"
API_CTYPE=application/octet-stream expect_problem "a body of no known format" 422 unprocessable \
  POST "/runs/import?test=checkout" "$TOK" "@$WORK/nothing.txt"
API_CTYPE=application/octet-stream expect_problem "a viewer may not import" 403 forbidden \
  POST "/runs/import?test=checkout" "$VIEW" "@$FX/bad.log"
API_CTYPE=application/octet-stream expect_problem "an unknown test" 404 not-found \
  POST "/runs/import?test=nope" "$TOK" "@$FX/bad.log"
API_CTYPE=application/octet-stream expect_problem "an unknown format" 400 bad-request \
  POST "/runs/import?test=checkout&format=csvx" "$TOK" "@$FX/bad.log"
API_CTYPE=application/octet-stream expect_api "the API imports a streamed body" 201 \
  POST "/runs/import?test=checkout&format=phout&file=t.log" "$TOK" "@$FX/tank.log"
expect_jq "201: the Run and the import's counts" "$OUT" '.run.state == "passed" and .import.records == 3000 and .run.source.file == "t.log"'

# the CLI's usage errors
rc=0
"$MORTAR" import "$FX/tank.log" --server "$SERVER" >/dev/null 2>"$WORK/u.err" || rc=$?
expect_eq "no --test: exit" "$rc" 2
rc=0
"$MORTAR" import "$FX/tank.log" --dry-run --format bogus >/dev/null 2>"$WORK/u.err" || rc=$?
expect_eq "a bad --format: exit" "$rc" 2
grep -q -- "--format: 'bogus'" "$WORK/u.err" || fail "no message naming --format: $(cat "$WORK/u.err")"
rc=0
MORTAR_TOKEN=$TOK "$MORTAR" import "$FX/tank.log" --server "http://127.0.0.1:$(refused_port)" --test checkout \
  >/dev/null 2>"$WORK/u.err" || rc=$?
expect_eq "a server that cannot be reached: exit" "$rc" 3

check_openapi
