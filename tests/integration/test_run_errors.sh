# Bad input is a usage error (exit 2, message naming what and where); a refusing or slow
# target is not: the run finishes, counts the errors by kind and writes its JSON.
source "$(dirname "$0")/lib.sh"

expect_usage() { # expect_usage PATTERN ARGS...
  local pat=$1; shift
  set +e
  "$MORTAR" run "$@" >"$WORK/u.out" 2>"$WORK/u.err"
  local rc=$?
  set -e
  [[ $rc -eq 2 ]] || fail "mortar run $* exited $rc, want 2"
  grep -q -- "$pat" "$WORK/u.err" || fail "mortar run $*: stderr lacks '$pat': $(cat "$WORK/u.err")"
  pass "usage error: $pat"
}
expect_usage "unknown step 'lin'" --schedule 'const(1, 1s) lin(1, 2, 3s)' http://127.0.0.1:1/
expect_usage "col 14" --schedule 'const(1, 1s) lin(1, 2, 3s)' http://127.0.0.1:1/
expect_usage "10x" -d 10x http://127.0.0.1:1/
expect_usage "-H" -H 'NoColon' http://127.0.0.1:1/
expect_usage "URL" 'htp://127.0.0.1/'
expect_usage "URL" -R 10
expect_usage "-c" -c 0 http://127.0.0.1:1/

# refused: every due request fails as "refused", exit 0, JSON written
port=$(refused_port)
out="$WORK/refused.json"
timeout $((30 * SLOW)) "$MORTAR" run -q --schedule 'const(100, 1s)' -d 1.5s -c 4 -t 1 --json "$out" "http://127.0.0.1:$port/" \
  >/dev/null || fail "refused run exited $?"
expect_eq "refused due" "$(jqr "$out" .summary.due)" 100
expect_eq "refused errors" "$(jqr "$out" .summary.errors_by_kind.refused)" 100
expect_eq "refused completed" "$(jqr "$out" .summary.requests)" 0

# timeout: the target delays 2 s, the generator gives up after 200 ms. Requests due at
# 0, 50, ..., 950 ms; the 16 due before 800 ms time out inside the run, the last 4 in the run's
# grace after the end (docs/measurement.md "The end of the run"): all 20 are timeouts.
start_target
out="$WORK/timeout.json"
timeout $((30 * SLOW)) "$MORTAR" run -q -R 20 -d 1s -c 50 -t 1 --timeout 200ms --json "$out" \
  "$TARGET_URL/?delay=2s" >/dev/null || fail "timeout run exited $?"
expect_eq "timeouts" "$(jqr "$out" .summary.errors_by_kind.timeout)" 20
expect_eq "none abandoned" "$(jqr "$out" '.summary.abandoned // 0')" 0
expect_eq "sent" "$(jqr "$out" .summary.sent)" 20
expect_eq "timeout completed" "$(jqr "$out" .summary.requests)" 0
