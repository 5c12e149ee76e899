# A 1 s stall of the target inside a 10 s run at 2000 rps must show in the percentiles.
# Requests due during the stall wait until it ends: a fraction (S - x)/D of all requests
# exceed x, so p99 = S - 0.01 D = 900 ms and p99.9 = S - 0.001 D = 990 ms. A closed-loop
# measurement (the service-time histogram) hides most of it.
source "$(dirname "$0")/lib.sh"
start_target --stall 3s:1s
out="$WORK/stall.json"
timeout $((120 * SLOW)) "$MORTAR" run -q -R 2000 -d 10s -c 200 -t 2 --json "$out" "$TARGET_URL/" \
  >/dev/null || fail "mortar run exited $?"
expect_eq errors "$(jqr "$out" .summary.errors)" 0
expect_eq dropped "$(jqr "$out" .summary.dropped)" 0
p99=$(jqr "$out" .summary.latency_us.p99)
p999=$(jqr "$out" .summary.latency_us.p999)
expect_between "p99 (us)" "$p99" 855000 945000
expect_between "p99.9 (us)" "$p999" 940000 1040000
# service time (from the actual send) sees only the requests that were on the wire
svc99=$(jqr "$out" .summary.service_us.p99)
[[ $svc99 -lt $p99 ]] || fail "service p99 $svc99 should be below due-time p99 $p99"
pass "stall visible: p99 ${p99}us, p99.9 ${p999}us, service p99 ${svc99}us"
