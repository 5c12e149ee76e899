# wrk/wrk2 compatibility (issue 15): -T, number suffixes (-c 1k, -R 1k, -d 1h checked through
# validation), -D fixed (others refused with a message), and the report's lines in wrk's format
# as scripts parse them (Thread Stats with +/- Stdev, 82.00us-style numbers, Socket errors,
# Requests/sec, Transfer/sec).
source "$(dirname "$0")/lib.sh"
start_target

run() { # run EXPECTED_EXIT ARGS...
  local want=$1 rc
  shift
  set +e
  timeout $((60 * SLOW)) "$MORTAR" run "$@" >"$WORK/stdout" 2>"$WORK/stderr"
  rc=$?
  set -e
  [[ $rc -eq $want ]] || fail "mortar run $* exited $rc, want $want: $(tail -n3 "$WORK/stderr")"
  pass "exit $rc: $*"
}
has() { grep -qE -- "$1" "$WORK/stdout" || fail "stdout lacks /$1/: $(cat "$WORK/stdout")"; pass "stdout has /$1/"; }

# a wrk2 command line as people write it
run 0 -t 2 -c 1k -d 1s -R 1k -D fixed -T 5s --latency --json "$WORK/out.json" "$TARGET_URL/?delay=1ms"
expect_eq "-R 1k: due" "$(jqr "$WORK/out.json" .summary.due)" 1000
expect_eq "-T 5s" "$(jqr "$WORK/out.json" .config.timeout_s)" 5
has '^  Thread Stats   Avg      Stdev     Max   \+/- Stdev$'
has '^    Latency +[0-9]+\.[0-9]{2}(us|ms|s) +[0-9]+\.[0-9]{2}(us|ms|s) +[0-9]+\.[0-9]{2}(us|ms|s) +[0-9]+\.[0-9]{2}%$'
has '^    Req/Sec +[0-9]+\.[0-9]{2}k? +[0-9]+\.[0-9]{2}k? +[0-9]+\.[0-9]{2}k? +[0-9]+\.[0-9]{2}%$'
has '^  Latency Distribution'
has '^     50% +[0-9]+\.[0-9]{2}(us|ms|s)$'
has '^     99% +[0-9]+\.[0-9]{2}(us|ms|s)$'
has '^  [0-9]+ requests in [0-9]+\.[0-9]{2}(ms|s), [0-9]+\.[0-9]{2}[KMG]?B read$'
has '^Requests/sec: +[0-9]+\.[0-9]{2}$'
has '^Transfer/sec: +[0-9]+\.[0-9]{2}[KMG]?B$'
has 'Detailed Percentile spectrum'
# mortar's extra: the generator's own CPU (docs/measurement.md)
has '^  Generator: [0-9]+\.[0-9]{2} s of CPU in 2 worker threads, [0-9]+\.[0-9] us per request; busiest thread [0-9]+% of a core$'

# errors: wrk's Socket errors line (refused = connect)
port=$(refused_port)
run 0 -c 2 -d 1s "http://127.0.0.1:$port/"
has '^  Socket errors: connect [1-9][0-9]*, read 0, write 0, timeout 0$'

# number suffixes and -d 1h through validation only (nothing is sent: the URL is missing)
run 2 -c 1k -t 2 -R 1M -d 1h -T 10s
grep -q "missing URL" "$WORK/stderr" || fail "suffixes were not accepted: $(cat "$WORK/stderr")"
run 2 -c 2M "$TARGET_URL/"
grep -q -- "-c: must be between 1 and 1000000 (got 2M)" "$WORK/stderr" || fail "2M: $(cat "$WORK/stderr")"
run 2 -D exp -R 10 "$TARGET_URL/"
grep -q "wrk2's exp/norm/zipf request-interval distributions are not supported" "$WORK/stderr" ||
  fail "-D exp: $(cat "$WORK/stderr")"
