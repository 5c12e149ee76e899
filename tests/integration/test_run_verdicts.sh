# Autostop (Tank criteria, exit 21..30) and thresholds (k6 style, exit 99) end to end:
# a tripped criterion stops the run early and is written to the JSON; bad ones are usage errors.
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

# every response takes 50 ms: p95 above 20 ms for 2 consecutive seconds trips at second 1
out="$WORK/q.json"
run 21 "$out" -R 100 -d 10s -c 20 --autostop 'quantile(95,20ms,2s)' "$TARGET_URL/?delay=50ms"
expect_eq "tripped at" "$(jqr "$out" '.verdicts[0].second')" 1
expect_eq "passed" "$(jqr "$out" '.verdicts[0].passed')" false
expect_eq "exit_code in JSON" "$(jqr "$out" .exit_code)" 21
expect_between "stopped early (s)" "$(jqr "$out" .summary.duration_s)" 1.9 3
grep -q 'TRIPPED' "$WORK/stdout" || fail "summary does not show the trip"

# 5xx above 10 % for 1 s: http criterion, exit 22
out="$WORK/h.json"
run 22 "$out" -R 100 -d 10s -c 10 --autostop 'http(5xx,10%,1s)' "$TARGET_URL/?status=503"
expect_eq "http trip code" "$(jqr "$out" '.verdicts[0].exit_code')" 22

# thresholds: one passes, one fails -> 99, both listed
out="$WORK/t.json"
run 99 "$out" --schedule 'const(50, 2s)' -d 2.5s -c 10 --threshold 'errors<1%' --threshold 'p(50)<1ms' \
  "$TARGET_URL/?delay=5ms"
expect_eq "threshold 1 passed" "$(jqr "$out" '.verdicts[0].passed')" true
expect_eq "threshold 2 passed" "$(jqr "$out" '.verdicts[1].passed')" false
expect_eq "full run" "$(jqr "$out" .summary.sent)" 100

# abortOnFail stops the run at the first failing second
out="$WORK/a.json"
run 99 "$out" -R 50 -d 20s -c 10 --threshold 'p(50)<1ms;abortOnFail' "$TARGET_URL/?delay=5ms"
expect_eq "aborted" "$(jqr "$out" '.verdicts[0].aborted')" true
expect_between "aborted early (s)" "$(jqr "$out" .summary.duration_s)" 0.9 3

# all pass -> 0
out="$WORK/ok.json"
run 0 "$out" -R 50 -d 1s --autostop 'net(xx,1,1s)' --threshold 'p(99)<1s' "$TARGET_URL/"

# bad criterion / threshold: exit 2 naming the column
set +e
"$MORTAR" run -q --autostop 'quantile(95,100ms,10s) tme(1s,2s)' "$TARGET_URL/" 2>"$WORK/err" >/dev/null
rc=$?
set -e
expect_eq "bad autostop exit" "$rc" 2
grep -q "col 24" "$WORK/err" || fail "no column in: $(cat "$WORK/err")"
set +e
"$MORTAR" run -q --threshold 'p(99)<<200ms' "$TARGET_URL/" 2>"$WORK/err" >/dev/null
rc=$?
set -e
expect_eq "bad threshold exit" "$rc" 2
grep -q -- "--threshold: col" "$WORK/err" || fail "no column in: $(cat "$WORK/err")"
