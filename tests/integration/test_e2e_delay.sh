# Claim (c): a server-side delay is measured as itself. With `delay=50ms` on every response the
# median latency (open model: from the due time), the median service time (from the send) and
# the median wait (TTFB) are all within 1% + 1 ms of 50 ms, and nothing is faster than the delay
# (up to the histogram's bucket width, 1/128 of the value). Random delays keep their shape:
# uniform 40..60 ms has its median at 50 ms, exp:20ms at 20 ms x ln 2.
source "$(dirname "$0")/lib.sh"
start_target

# 200/s, 50 ms each: about 10 requests in flight at a time, 40 connections allowed.
out="$WORK/fixed.json"
run_json "$out" 60 -R 200 -d 3s -c 40 -t 2 "$TARGET_URL/?delay=50ms"
expect_eq "fixed: errors" "$(jqr "$out" .summary.errors)" 0
expect_eq "fixed: dropped" "$(jqr "$out" .summary.dropped)" 0
expect_eq "fixed: all 200" "$(jqr "$out" '.summary.status["200"] // 0')" "$(jqr "$out" .summary.completed)"
expect_between "fixed: completed" "$(jqr "$out" .summary.completed)" 550 600
tol=$((50000 / 100 + 1000)) # 1% + 1 ms, in us
expect_near "fixed: latency p50 (us, from due time)" "$(jqr "$out" .summary.latency_us.p50)" 50000 $tol
expect_near "fixed: service p50 (us, from send)" "$(jqr "$out" .summary.service_us.p50)" 50000 $tol
expect_near "fixed: wait (TTFB) p50 (us)" "$(jqr "$out" .summary.breakdown_us.wait.p50)" 50000 $tol
# min is the lowest value of its bucket: at most 1/128 below the true value
expect_between "fixed: latency min (us)" "$(jqr "$out" .summary.latency_us.min)" 49609 50000000
expect_between "fixed: service min (us)" "$(jqr "$out" .summary.service_us.min)" 49609 50000000
# the other parts of a request are small next to the delay
expect_between "fixed: receive p50 (us)" "$(jqr "$out" .summary.breakdown_us.receive.p50)" 0 1000

# Uniform 40..60 ms: median 50 ms (sampling sd of the median of ~590 values is 0.4 ms), nothing
# below 40 ms.
out="$WORK/uniform.json"
run_json "$out" 60 -R 200 -d 3s -c 40 -t 2 "$TARGET_URL/?delay=40ms..60ms"
expect_eq "uniform: errors" "$(jqr "$out" .summary.errors)" 0
expect_eq "uniform: all 200" "$(jqr "$out" '.summary.status["200"] // 0')" "$(jqr "$out" .summary.completed)"
expect_near "uniform: latency p50 (us)" "$(jqr "$out" .summary.latency_us.p50)" 50000 2500
expect_between "uniform: service min (us)" "$(jqr "$out" .summary.service_us.min)" 39687 50000000
# p90 of uniform 40..60 ms is 58 ms (sampling sd 0.25 ms)
expect_near "uniform: service p90 (us)" "$(jqr "$out" .summary.service_us.p90)" 58000 2500

# Exponential, mean 20 ms: median 20 ms x ln 2 = 13.86 ms (sampling sd about 0.8 ms; 5 sd).
out="$WORK/exp.json"
run_json "$out" 60 -R 200 -d 3s -c 60 -t 2 "$TARGET_URL/?delay=exp:20ms"
expect_eq "exp: errors" "$(jqr "$out" .summary.errors)" 0
expect_eq "exp: all 200" "$(jqr "$out" '.summary.status["200"] // 0')" "$(jqr "$out" .summary.completed)"
expect_near "exp: service p50 (us)" "$(jqr "$out" .summary.service_us.p50)" 13863 4100
expect_near "exp: service mean (us)" "$(jqr "$out" .summary.service_us.mean)" 20000 4100
