# Claim: responses are timed by the kernel's receive timestamp (SO_TIMESTAMPING), not by when the
# loop sees them, so batched waits lose no precision (docs/adr/0037-kernel-timestamps.md). Each
# request's own time, from its send to its last response byte (phout: send + latency + receive),
# is compared with the target's own timing of it: the delay the target waits before answering,
# counted from when it has read the request in full (docs/target.md, delay=). Three delays are
# mixed by tag, so every request has its own expected value. For every request the measured
# time is at least the target's less 1 % + 1 ms (the target reads its clock for each delayed
# request: until 2026-12 it used its batch's clock, and a batch of TLS handshakes on a loaded
# machine started a delay 1.6 ms before the request came - CI saw it; what is left is the
# conversion of kernel stamps between clocks), the median is within 1 % + 1 ms of it (the bound
# test_e2e_delay holds) and 90 % are within 5 ms (the target's own timer wakes late on a busy
# machine: that is real latency, and it is what the tail shows) - over plain HTTP/1.1, HTTPS,
# HTTP/2 over TLS, the closed model, and with waits batched to 20 ms (the loop sees responses up
# to 20 ms late: timed by the loop, half of them would be ~10 ms off). The fallback to the
# user-space clock is counted in the result (summary.timing.user_clock). Under sanitizers the
# target itself is slow (its TLS above all): the bounds there are plausibility only (x8, 100 ms).
source "$(dirname "$0")/lib.sh"

start_target --tls-self-signed --tls-self-signed-out "$WORK/ca.pem"
URL=$TARGET_URL
SURL="https://127.0.0.1:$TARGET_PORT"
uris=(--uri '/?delay=2ms d2000' --uri '/?delay=5ms d5000' --uri '/?delay=11ms d11000')

# check NAME RESULT.json PHOUT: per-request comparison with the target's delays
check() {
  local name=$1 out=$2 ph=$3
  expect_eq "$name: errors" "$(jqr "$out" .summary.errors)" 0
  expect_eq "$name: all 200" "$(jqr "$out" '.summary.status["200"] // 0')" "$(jqr "$out" .summary.completed)"
  expect_eq "$name: responses timed by the user-space clock" "$(jqr "$out" '.summary.timing.user_clock // 0')" 0
  local n
  n=$(wc -l <"$ph")
  expect_between "$name: phout lines" "$n" 100 100000
  # excess = (send + latency + receive) - the tag's delay, in us, for every request
  awk -F '\t' '{ d = substr($2, 2) + 0; print $5 + $6 + $7 - d }' "$ph" | sort -n >"$ph.excess"
  local min p50 p90 bound
  min=$(head -n1 "$ph.excess")
  p50=$(awk '{ v[NR] = $1 } END { print v[int(NR * 0.5) + 1] }' "$ph.excess")
  p90=$(awk '{ v[NR] = $1 } END { print v[int(NR * 0.9) + 1] }' "$ph.excess")
  bound=$((1000 + 110)) # 1 ms + 1 % of the largest delay (11 ms)
  # under sanitizers the target's own loop (TLS above all) is several ms late: plausibility only
  local mbound=$bound tail=5000
  ((SLOW == 1)) || mbound=$((bound * 8)) tail=100000
  expect_between "$name: fastest request minus the target's delay (us)" "$min" -$mbound 100000000
  expect_between "$name: median request minus the target's delay (us)" "$p50" -3 $mbound
  expect_between "$name: 90th percentile request minus the target's delay (us)" "$p90" -3 $tail
  # the three delays are told apart: each tag's fastest request is at least its delay
  for d in 2000 5000 11000; do
    local m
    m=$(awk -F '\t' -v t="d$d" '$2 == t { v = $5 + $6 + $7; if (min == "" || v < min) min = v } END { print min + 0 }' "$ph")
    expect_between "$name: tag d$d fastest (us)" "$m" $((d - mbound)) $((d + 100000))
  done
}

run_json "$WORK/h1.json" 60 -R 300 -d 2s -c 20 -t 1 --phout "$WORK/h1.phout" "${uris[@]}" "$URL"
check "http/1.1" "$WORK/h1.json" "$WORK/h1.phout"

run_json "$WORK/tls.json" 60 -R 300 -d 2s -c 20 -t 1 --cacert "$WORK/ca.pem" --phout "$WORK/tls.phout" "${uris[@]}" "$SURL"
check "https/1.1" "$WORK/tls.json" "$WORK/tls.phout"

run_json "$WORK/h2.json" 60 -R 300 -d 2s -c 2 -t 1 --http2 --cacert "$WORK/ca.pem" --phout "$WORK/h2.phout" "${uris[@]}" "$SURL"
check "http/2 over tls" "$WORK/h2.json" "$WORK/h2.phout"

# the closed model on both I/O loops (docs/adr/0040-io-uring.md)
run_json "$WORK/closed.json" 60 --io io_uring -d 2s -c 4 -t 1 --phout "$WORK/closed.phout" "${uris[@]}" "$URL"
check "closed model, io_uring" "$WORK/closed.json" "$WORK/closed.phout"
run_json "$WORK/closed-epoll.json" 60 --io epoll -d 2s -c 4 -t 1 --phout "$WORK/closed-epoll.phout" "${uris[@]}" "$URL"
check "closed model, epoll" "$WORK/closed-epoll.json" "$WORK/closed-epoll.phout"

# Waits batched to 20 ms: the loop sees a response up to 20 ms after it came, its time does not
# move. The send lag grows instead (it is the generator's, and measured: schedule lag).
run_json "$WORK/b20.json" 60 -R 300 -d 2s -c 40 -t 1 --send-tolerance 20ms --phout "$WORK/b20.phout" "${uris[@]}" "$URL"
check "--send-tolerance 20ms" "$WORK/b20.json" "$WORK/b20.phout"
expect_between "--send-tolerance 20ms: schedule lag max (us)" "$(jqr "$WORK/b20.json" .summary.max_schedule_lag_us)" 0 $((25000 * SLOW))

# The fallback: without kernel timestamps every response is counted as timed by the user clock.
run_json "$WORK/user.json" 60 -R 200 -d 1s -c 20 -t 1 --no-kernel-timestamps "$URL/?delay=1ms"
expect_eq "--no-kernel-timestamps: errors" "$(jqr "$WORK/user.json" .summary.errors)" 0
expect_eq "--no-kernel-timestamps: every response timed by the user clock" \
  "$(jqr "$WORK/user.json" '.summary.timing.user_clock // 0')" "$(jqr "$WORK/user.json" .summary.completed)"
run_json "$WORK/user2.json" 60 -R 200 -d 1s -c 2 -t 1 --http2 --cacert "$WORK/ca.pem" --no-kernel-timestamps "$SURL/?delay=1ms"
expect_eq "--no-kernel-timestamps, http/2: every response timed by the user clock" \
  "$(jqr "$WORK/user2.json" '.summary.timing.user_clock // 0')" "$(jqr "$WORK/user2.json" .summary.completed)"

# Batched waits never slow the load down (docs/measurement.md "Kernel timestamps"). With a
# 100-ms tolerance a batch that held each connection's next request would allow at most ~20
# requests in 2 s on one connection; the batch is bounded instead by an eighth of the service
# time (closed model) and waits are exact while a request waits for a connection (open model).
# The bounds below are what a batch of 100 ms would make impossible, not speeds.
run_json "$WORK/c1.json" 60 -d 2s -c 1 -t 1 --send-tolerance 100ms "$URL"
expect_between "closed -c 1, --send-tolerance 100ms: completed (a 100-ms batch: <= 21)" \
  "$(jqr "$WORK/c1.json" .summary.completed)" 100 100000000
run_json "$WORK/o1.json" 60 -R 100 -d 2s -c 1 -t 1 --send-tolerance 100ms "$URL"
# (sends due less than 100 ms apart still leave together, up to 100 ms late: the ones released
# in the last batch may find the connection busy at the end, so not all 200 need go)
expect_between "open -R 100 -c 1, --send-tolerance 100ms: sent (a 100-ms batch: <= 21)" \
  "$(jqr "$WORK/o1.json" .summary.sent)" 100 200
