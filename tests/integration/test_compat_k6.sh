# k6 compatibility (issue 15): http_req_failed counts responses outside the expected statuses
# (k6's default 200-399) as well as network failures; the expected set is configurable; the
# breakdown metric names work; checks and expected_response get a message, not a bare error.
source "$(dirname "$0")/lib.sh"
start_target

run() { # run EXPECTED_EXIT JSON ARGS...
  local want=$1 out=$2 rc
  shift 2
  set +e
  timeout $((60 * SLOW)) "$MORTAR" run -q --json "$out" "$@" >"$WORK/stdout" 2>"$WORK/stderr"
  rc=$?
  set -e
  [[ $rc -eq $want ]] || fail "mortar run $* exited $rc, want $want: $(tail -n3 "$WORK/stderr")"
  pass "exit $rc: $*"
}

# the issue's reproducer: a service answering 503 to everything fails the most common k6 gate
out="$WORK/503.json"
run 99 "$out" -R 50 -d 2s --threshold 'http_req_failed: rate<0.01' "$TARGET_URL/?status=503"
expect_eq "failed counter" "$(jqr "$out" .summary.failed)" "$(jqr "$out" .summary.completed)"
expect_eq "errors stay network-only" "$(jqr "$out" .summary.errors)" 0
expect_eq "verdict" "$(jqr "$out" '.verdicts[0].passed')" false
expect_eq "per-second failed adds up" "$(jq '[.seconds[].failed // 0] | add' "$out")" \
  "$(jqr "$out" .summary.failed)"
grep -q 'failed rate = 1 (100%)' "$WORK/stdout" || fail "summary does not show the failed rate"

# the shorthand and mortar's own name mean the same
run 99 "$out" -R 50 -d 1s --threshold 'http_req_failed<0.01' "$TARGET_URL/?status=503"
run 99 "$out" -R 50 -d 1s --threshold 'failed: count==0' "$TARGET_URL/?status=503"
# errors (no response) passes: it is documented as network-only
run 0 "$out" -R 50 -d 1s --threshold 'errors<1%' "$TARGET_URL/?status=503"

# k6's http.expectedStatuses: 503 expected -> passes; a healthy service passes by default
run 0 "$out" -R 50 -d 1s --expected-status '200-299,503' --threshold 'http_req_failed: rate<0.01' \
  "$TARGET_URL/?status=503"
expect_eq "nothing failed" "$(jqr "$out" '.summary.failed // 0')" 0
run 0 "$out" -R 50 -d 1s --threshold 'http_req_failed: rate<0.01' "$TARGET_URL/"
run 99 "$out" -R 50 -d 1s --expected-status 2xx --threshold 'http_req_failed: count==0' \
  "$TARGET_URL/?status=302"

# the same from a config file written as a k6 user would, and the canonical key
cat >"$WORK/k6.yaml" <<YAML
url: $TARGET_URL/?status=404
rate: 50
duration: 1s
expected_statuses: "200-399, 404"
threshold:
  - "http_req_failed: rate<0.01"
  - "http_req_waiting: p(95)<2s"
  - "http_req_connecting: max<2s"
  - "http_req_sending: avg<2s"
  - "http_req_receiving: med<2s"
YAML
run 0 "$out" --config "$WORK/k6.yaml"
expect_eq "all five verdicts pass" "$(jq '[.verdicts[] | select(.passed)] | length' "$out")" 5

# network failures are failures whatever the set
port=$(refused_port)
run 99 "$out" -R 20 -d 1s --expected-status 100-599 --threshold 'http_req_failed: count==0' \
  "http://127.0.0.1:$port/"
expect_eq "refused counted as failed" "$(jqr "$out" .summary.failed)" "$(jqr "$out" .summary.errors)"

# per tag: failed{tag:...} and the result's per-tag failed
printf '/?status=503 bad\n/ good\n' >"$WORK/ammo.txt"
run 99 "$out" -R 20 -d 1s --ammo "$WORK/ammo.txt" --threshold 'failed{tag:good}: count==0' \
  --threshold 'http_req_failed{tag:bad}: rate<0.5' "$TARGET_URL/"
expect_eq "good tag passes" "$(jqr "$out" '.verdicts[0].passed')" true
expect_eq "bad tag fails" "$(jqr "$out" '.verdicts[1].passed')" false
expect_eq "per-tag failed in the result" "$(jqr "$out" .summary.tags.bad.failed)" \
  "$(jqr "$out" .summary.tags.bad.completed)"

# k6 names mortar does not have: a message with the replacement, exit 2
run 2 "$out" -d 1s --threshold 'checks: rate>0.99' "$TARGET_URL/"
grep -q "unsupported k6 metric 'checks'.*http_req_failed" "$WORK/stderr" || fail "checks: $(cat "$WORK/stderr")"
run 2 "$out" -d 1s --threshold 'http_req_duration{expected_response:true}: p(95)<200' "$TARGET_URL/"
grep -q "expected_response is not supported" "$WORK/stderr" || fail "expected_response: $(cat "$WORK/stderr")"
run 2 "$out" -d 1s --expected-status '200-2' "$TARGET_URL/"
grep -q -- "--expected-status: col 5: bad status '2'" "$WORK/stderr" || fail "bad set: $(cat "$WORK/stderr")"
